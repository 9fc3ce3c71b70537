"""Programmatic Alembic: upgrade, downgrade, current, check.

The history ships inside the package, so an installed library migrates its
own schema with no source checkout. Its version table is
`mastra_storage_alembic_version`, so a host's own Alembic history in the same
database is untouched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from .dialects import BEGIN_OPTION, configure_sqlite
from .engines import check_identifier
from .errors import MigrationRequiredError, translate_errors
from .orm.base import VERSION_TABLE

_PACKAGE_DIR = Path(__file__).resolve().parent
# Installed wheel: mastra_storage/_migrations. Source checkout: ./migrations.
_CANDIDATES = (_PACKAGE_DIR / "_migrations", _PACKAGE_DIR.parent / "migrations")

# Several processes migrating one PostgreSQL database take turns on this key.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"mastra_storage:migrate").digest()[:8], "big", signed=True
)

T = TypeVar("T")


def script_location() -> Path:
    """The folder holding `env.py` and `versions/`."""
    for candidate in _CANDIDATES:
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("mastra_storage migrations not found (broken install?)")


def versions_location() -> Path:
    """Our `versions/` folder, for a host that adds it to its version_locations."""
    return script_location() / "versions"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@contextmanager
def migration_connection(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection in a transaction that holds the migration lock.

    An Engine gets a new connection and transaction, committed at the end.
    A Connection already in a transaction is used inside it, as it is; one
    that is not gets its own transaction, committed at the end.
    """
    if bind.dialect.name == "sqlite":
        # A caller's plain engine would let pysqlite run DDL outside any
        # transaction (no atomic migration, no write lock to take turns on).
        configure_sqlite(bind.engine, wal=False)
    if isinstance(bind, Connection):
        if bind.in_transaction():
            serialize_migrations(bind)
            yield bind
            return
        previous = bind.get_execution_options().get(BEGIN_OPTION)
        bind.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        try:
            with bind.begin():
                serialize_migrations(bind)
                yield bind
        finally:
            bind.execution_options(**{BEGIN_OPTION: previous})
        return
    with bind.connect() as conn:
        conn = conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        with conn.begin():
            serialize_migrations(conn)
            yield conn


def serialize_migrations(conn: Connection) -> None:
    """Make concurrent migrators take turns (SQLite: the BEGIN IMMEDIATE write
    lock taken when the transaction began does it)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


def ensure_schema(conn: Connection, schema: str) -> None:
    """Create a PostgreSQL schema when it is missing. Call it on a
    `migration_connection`, so concurrent callers take turns instead of racing."""
    quoted = conn.dialect.identifier_preparer.quote_identifier(
        check_identifier(schema, field="schema")
    )
    conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))


def _run(bind: Engine | Connection, action: Callable[[Config], T]) -> T:
    with translate_errors(), migration_connection(bind) as conn:
        return action(alembic_config(conn))


def upgrade(bind: Engine | Connection, revision: str = "head") -> None:
    """Bring the schema up to `revision` (default: head). Idempotent."""
    _run(bind, lambda config: command.upgrade(config, revision))


def downgrade(bind: Engine | Connection, revision: str) -> None:
    """Take the schema down to `revision` (`"base"` removes every table)."""
    _run(bind, lambda config: command.downgrade(config, revision))


def current(bind: Engine | Connection) -> str | None:
    """The database's revision, or None when it has none of our schema."""

    def read(conn: Connection) -> str | None:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()

    with translate_errors():
        if isinstance(bind, Connection):
            return read(bind)
        with bind.connect() as conn:
            return read(conn)


def check(bind: Engine | Connection) -> None:
    """Raise `MigrationRequiredError` unless the database is at head."""
    at, latest = current(bind), head()
    if at != latest:
        raise MigrationRequiredError(
            f"database schema is at revision {at or '<none>'}, the code needs {latest}: "
            "run storage.init() or mastra_storage.migrate.upgrade(engine)",
            current=at,
            head=latest,
        )


def configure_context(context: Any, connection: Connection, **extra: Any) -> None:
    """The options every run of our history uses (env.py calls this)."""
    from .orm import POSTGRESQL_ONLY, metadata

    dialect = connection.dialect.name

    def include_object(
        object_: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table":
            return name in metadata.tables
        if type_ == "column" and not reflected:
            return not (object_.info.get(POSTGRESQL_ONLY) and dialect != "postgresql")
        return True

    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=dialect == "sqlite",
        include_object=include_object,
        compare_type=True,
        compare_server_default=True,
        **extra,
    )
