"""customer_threads: links customers to mastra-storage threads

Only in the "branch" setup: it depends on mastra-storage's revision that
creates `mastra_threads`, so Alembic runs that one first.

Revision ID: h002_customer_threads
Revises: h001_customers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "h002_customer_threads"
down_revision = "h001_customers"
branch_labels = None
depends_on = "0001_memory_tables"


def upgrade() -> None:
    op.create_table(
        "customer_threads",
        sa.Column("customer_id", sa.Integer(), primary_key=True),
        sa.Column("thread_id", sa.String(64), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("customer_threads")
