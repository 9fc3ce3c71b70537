"""Alembic environment of mastra-storage.

Run programmatically (`mastra_storage.migrate`, `storage.init()`): the
connection arrives in `config.attributes["connection"]`, already in a
transaction holding the migration lock.

Run from the command line (`alembic upgrade head` at the repo root): the URL
comes from `-x url=...` or `MASTRA_STORAGE_URL` (Mastra-style `file:PATH`
works too), and on PostgreSQL the schema from `-x schema=...` or
`MASTRA_STORAGE_SCHEMA` (created when missing, as `PostgresStorage(schema=...)`
does). `-x` wins over the environment.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context

from mastra_storage.engines import create_engine_for_url, normalize_url
from mastra_storage.migrate import configure_context, ensure_schema, migration_connection


def run(connection) -> None:  # type: ignore[no-untyped-def]
    configure_context(context, connection)
    with context.begin_transaction():
        context.run_migrations()


def setting(name: str, variable: str) -> str | None:
    value = context.get_x_argument(as_dictionary=True).get(name) or os.environ.get(variable)
    return value or None


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    if context.config.config_file_name is not None:
        fileConfig(context.config.config_file_name, disable_existing_loggers=False)
    url = setting("url", "MASTRA_STORAGE_URL")
    if not url:
        raise SystemExit("set MASTRA_STORAGE_URL or pass -x url=... to alembic")
    schema = setting("schema", "MASTRA_STORAGE_SCHEMA")
    if schema is not None and normalize_url(url).get_backend_name() != "postgresql":
        raise SystemExit("a schema (-x schema=... / MASTRA_STORAGE_SCHEMA) needs a PostgreSQL URL")
    engine = create_engine_for_url(url, schema=schema)
    try:
        with migration_connection(engine) as conn:
            if schema is not None:
                ensure_schema(conn, schema)
            run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("mastra-storage migrations run online only")
main()
