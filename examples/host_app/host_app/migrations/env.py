"""The host's Alembic environment (its own version table, `alembic_version`)."""

from __future__ import annotations

from alembic import context
from host_app.models import target_metadata
from sqlalchemy import create_engine

import mastra_storage.orm


def run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata(context.config.attributes.get("mode", "separate")),
        # Our tables, indexes and version table are not the host's business.
        include_object=mastra_storage.orm.include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        run(conn)
    engine.dispose()
