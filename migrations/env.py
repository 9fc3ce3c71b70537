"""Alembic environment of mastra-storage.

Run programmatically (`mastra_storage.migrate`, `storage.init()`): the
connection arrives in `config.attributes["connection"]`, already in a
transaction holding the migration lock. Run from the command line
(`alembic upgrade head` at the repo root): the URL comes from `-x url=...` or
`MASTRA_STORAGE_URL`.
"""

from __future__ import annotations

import os

from alembic import context

from mastra_storage.engines import create_engine_for_url
from mastra_storage.migrate import configure_context, migration_connection


def run(connection) -> None:  # type: ignore[no-untyped-def]
    configure_context(context, connection)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "MASTRA_STORAGE_URL"
    )
    if not url:
        raise SystemExit("set MASTRA_STORAGE_URL or pass -x url=... to alembic")
    engine = create_engine_for_url(url)
    try:
        with migration_connection(engine) as conn:
            run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("mastra-storage migrations run online only")
main()
