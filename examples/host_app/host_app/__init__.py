"""A small host application: its own model, engine, session and Alembic
history, sharing one database with mastra-storage."""
