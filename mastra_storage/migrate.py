"""Programmatic Alembic: upgrade, downgrade, current, check.

The history ships inside the package, so an installed library migrates its
own schema with no source checkout. Its version table is
`mastra_storage_alembic_version`, so a host's own Alembic history in the same
database is untouched.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, column, func, inspect, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy import table as table_clause
from sqlalchemy.engine import Connection, Engine

from .dialects import BEGIN_OPTION, LOCK_TIMEOUT_OPTION, configure_sqlite
from .engines import check_identifier, quote_schema, schema_of
from .errors import (
    MigrationRequiredError,
    SchemaTooNewError,
    StorageTimeoutError,
    translate_errors,
)
from .orm.base import VERSION_TABLE

_PACKAGE_DIR = Path(__file__).resolve().parent
# Installed wheel: mastra_storage/_migrations. Source checkout: ./migrations.
_CANDIDATES = (_PACKAGE_DIR / "_migrations", _PACKAGE_DIR.parent / "migrations")

# Several processes migrating one PostgreSQL database take turns on this key.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"mastra_storage:migrate").digest()[:8], "big", signed=True
)

T = TypeVar("T")

logger = logging.getLogger("mastra_storage.migrate")

StepCallback = Callable[[str], None]
"""Called with a revision id after each migration step is applied."""

_programmatic = contextvars.ContextVar("mastra_storage_programmatic_alembic", default=False)


class _QuietAlembic(logging.Filter):
    """Alembic logs "Context impl ..." and "Running upgrade ..." at INFO on every
    run. Inside our own programmatic runs (`init()`, `migrate.upgrade`) those
    lines are dropped unless the user asked for them, by giving the `alembic`
    logger a level of its own (`logging.getLogger("alembic").setLevel("INFO")`).
    Our own `mastra_storage.migrate` logger says what was migrated, at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not _programmatic.get():
            return True
        names = ("alembic", "alembic.runtime", record.name)
        return any(logging.NOTSET < logging.getLogger(name).level <= logging.INFO for name in names)


_QUIET = _QuietAlembic()
for _name in ("alembic.runtime.migration", "alembic.runtime.plugins"):
    logging.getLogger(_name).addFilter(_QUIET)


def script_location() -> Path:
    """The folder holding `env.py` and `versions/`."""
    for candidate in _CANDIDATES:
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("mastra_storage migrations not found (broken install?)")


def versions_location() -> Path:
    """Our `versions/` folder, for a host that adds it to its version_locations."""
    return script_location() / "versions"


def alembic_config(
    connection: Connection | None = None, *, on_step: StepCallback | None = None
) -> Config:
    """An Alembic `Config` built in code (no `alembic.ini`): our script location,
    and, for programmatic runs, the connection to run on and a step callback."""
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    if on_step is not None:
        config.attributes["on_step"] = on_step
    return config


def script_directory() -> ScriptDirectory:
    """Our Alembic history (revisions, heads) as Alembic's `ScriptDirectory`."""
    return ScriptDirectory.from_config(alembic_config())


def head() -> str | None:
    """The newest revision of the history this code ships."""
    return script_directory().get_current_head()


@dataclass(frozen=True)
class Revision:
    """One revision of the history: its id, the one before it, what it does."""

    revision: str
    down_revision: str | None
    doc: str


def history() -> list[Revision]:
    """Every revision, newest first."""
    return [
        Revision(
            revision=script.revision,
            down_revision=script.down_revision,  # type: ignore[arg-type]
            doc=(script.doc or "").strip(),
        )
        for script in script_directory().walk_revisions()
    ]


def steps(at: str | None, target: str, *, up: bool) -> list[str] | None:
    """The revisions an upgrade (`up`) or downgrade from `at` to `target` would
    apply, in order; None when that cannot be told ahead (relative targets)."""
    script = script_directory()
    try:
        if up:
            upper, lower = target, at or "base"
            if at is not None and target == "head" and at == script.get_current_head():
                return []
        else:
            if at is None:
                return []
            upper, lower = at, target
        walked = [rev.revision for rev in script.iterate_revisions(upper, lower)]
    except Exception:  # relative (`+1`, `-1`) or unknown revisions: let Alembic say
        return None
    return list(reversed(walked)) if up else walked


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
            with migration_turn(bind):
                serialize_migrations(bind)
                yield bind
            return
        previous = bind.get_execution_options().get(BEGIN_OPTION)
        bind.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        try:
            with migration_turn(bind), bind.begin():
                serialize_migrations(bind)
                yield bind
        finally:
            bind.execution_options(**{BEGIN_OPTION: previous})
        return
    with bind.connect() as conn:
        conn = conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        with migration_turn(conn), conn.begin():
            serialize_migrations(conn)
            yield conn


def serialize_migrations(conn: Connection) -> None:
    """Make concurrent migrators take turns (SQLite: the BEGIN IMMEDIATE write
    lock taken when the transaction began does it; MySQL: `migration_turn`).
    With `schema=`, the transaction's search_path is that schema too (`SET
    LOCAL`, quoted), so what a migration inspects or runs as text finds our
    tables there."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        schema = schema_of(conn)
        if schema is not None:
            conn.execute(select(func.set_config("search_path", quote_schema(schema), True)))


MYSQL_MIGRATION_LOCK = "CONCAT('mastra_storage_migrate:', LEFT(SHA2(DATABASE(), 256), 32))"
"""The MySQL named lock the migrators of one database take turns on (named
locks are server-wide; a name is at most 64 characters)."""


@contextmanager
def migration_turn(conn: Connection) -> Iterator[None]:
    """MySQL/MariaDB: hold the database's migration named lock while the block
    runs, around its transaction (taken before BEGIN, released after COMMIT).

    DDL commits on its own there, so no transaction can hold the turn as on
    PostgreSQL: `GET_LOCK` on the migrating connection (re-entrant, so a
    nested block takes it again), freed by the server if the connection
    dies. Sent on the driver's cursor, outside SQLAlchemy's transaction
    bookkeeping. The wait is bounded by the connection's `lock_timeout_ms`:
    `StorageTimeoutError` after it. A no-op on other databases."""
    if conn.dialect.name != "mysql":
        yield
        return
    timeout_s = conn.get_execution_options().get(LOCK_TIMEOUT_OPTION, 10_000) / 1000
    got = _driver_scalar(conn, f"SELECT GET_LOCK({MYSQL_MIGRATION_LOCK}, %s)", (timeout_s,))
    if got != 1:
        raise StorageTimeoutError(
            f"another process has been migrating this database for over {timeout_s:g} s "
            "(MySQL named lock); try again, or raise lock_timeout_ms"
        )
    try:
        yield
    finally:
        if not conn.invalidated and not conn.closed:
            _driver_scalar(conn, f"SELECT RELEASE_LOCK({MYSQL_MIGRATION_LOCK})", ())


def _driver_scalar(conn: Connection, statement: str, parameters: tuple[Any, ...]) -> Any:
    """One value of `statement`, run on the driver's own cursor (SQLAlchemy
    neither begins a transaction for it nor counts it in one); the driver's
    error as SQLAlchemy's `DBAPIError`."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement, parameters)
        row = cursor.fetchone()
        return None if row is None else row[0]
    except conn.dialect.loaded_dbapi.Error as error:
        raise sa_exc.DBAPIError.instance(
            statement, parameters, error, conn.dialect.loaded_dbapi.Error
        ) from error
    finally:
        cursor.close()


# -- what the migrations share: each step safe to run again ----------------------------
# MySQL commits every DDL statement on its own: a step cut off half-way leaves
# what it did so far, and the next run repeats the step. So every step skips
# what exists already (tables, indexes) instead of failing on it.


def create_table_if_missing(name: str, *items: Any) -> None:
    """`op.create_table` unless the table exists (a Mastra-made table is
    adopted; a step cut off on MySQL is re-run), with the dialect's table
    options (`orm.types.ColumnTypes.table_options`: utf8mb4, binary collation)."""
    from alembic import op

    from .orm.types import column_types

    bind = op.get_bind()
    if not inspect(bind).has_table(name):
        options: dict[str, Any] = column_types(bind.dialect).table_options
        op.create_table(name, *items, **options)


def create_index_if_missing(name: str, table: str, columns: Sequence[str]) -> None:
    """`op.create_index` unless an index of that name exists on the table
    (`CREATE INDEX IF NOT EXISTS`; MySQL has no such clause: looked up first)."""
    from alembic import op

    bind = op.get_bind()
    if bind.dialect.name != "mysql":
        op.create_index(name, table, list(columns), if_not_exists=True)
    elif name not in {index["name"] for index in inspect(bind).get_indexes(table)}:
        op.create_index(name, table, list(columns))


# Only the indexes of the one table (the subquery, kept apart by OFFSET 0, is
# planned and run before the outer filter): `pg_indexes` would compute
# pg_get_indexdef for indexes of every schema, and one that another session
# drops meanwhile (another tenant's schema torn down) fails the whole query
# with "could not open relation with OID".
_PG_INDEX_LIKE = text(
    "SELECT 1 FROM (SELECT indexrelid FROM pg_catalog.pg_index"
    " WHERE indrelid = to_regclass(format('%I.%I', current_schema(), CAST(:table AS text)))"
    " OFFSET 0) AS ours"
    " WHERE pg_catalog.pg_get_indexdef(indexrelid) LIKE :pattern LIMIT 1"
)


def postgres_index_like(conn: Connection, table: str, fragment: str) -> bool:
    """Whether `table` of the connection's current schema (PostgreSQL) has an
    index whose definition (`pg_get_indexdef`) holds the text `fragment`: an
    index Mastra made under another name (migration 0006 adopts those). Reads
    the definitions of that table's indexes only, so DDL of other schemas
    running meanwhile cannot fail it. False when the table does not exist."""
    found = conn.execute(_PG_INDEX_LIKE, {"table": table, "pattern": f"%{fragment}%"})
    return found.first() is not None


def ensure_schema(conn: Connection, schema: str) -> None:
    """Create a PostgreSQL schema when it is missing. Call it on a
    `migration_connection`, so concurrent callers take turns instead of racing."""
    quoted = conn.dialect.identifier_preparer.quote_identifier(
        check_identifier(schema, field="schema")
    )
    conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))


def upgrade(
    bind: Engine | Connection, revision: str = "head", *, on_step: StepCallback | None = None
) -> None:
    """Bring the schema up to `revision` (default `"head"`). Idempotent: at head
    already, Alembic is not even started. `bind` is an Engine or a Connection (a
    Connection in a transaction is migrated inside it). `on_step(revision_id)`
    is called after each revision is applied (a progress bar, say).

    Raises `StorageError` (the database's error chained) when a step fails;
    nothing of the failed run is kept.
    """
    with translate_errors(), migration_connection(bind) as conn:
        at, where = _state(conn)
        _refuse_unknown(at)
        if revision == "head" and at is not None and at == head():
            return
        if where == HOST:
            raise MigrationRequiredError(
                f"database schema is at revision {at}, the code needs {head()}; our "
                "revisions are in the host's alembic_version (one history with a branch): "
                "migrate with the host's Alembic (alembic upgrade heads)",
                current=at,
                head=head(),
            )
        logger.info("migrating %s from %s to %s", _where(conn), at or "<empty>", revision)
        _alembic(lambda: command.upgrade(alembic_config(conn, on_step=on_step), revision))


def downgrade(
    bind: Engine | Connection, revision: str, *, on_step: StepCallback | None = None
) -> None:
    """Take the schema down to `revision` (`"base"` removes every table, rows
    included). `bind` and `on_step` as in `upgrade`."""
    with translate_errors(), migration_connection(bind) as conn:
        at = current(conn)
        _refuse_unknown(at)
        logger.info("migrating %s from %s down to %s", _where(conn), at, revision)
        _alembic(lambda: command.downgrade(alembic_config(conn, on_step=on_step), revision))


def _alembic(action: Callable[[], T]) -> T:
    token = _programmatic.set(True)
    try:
        return action()
    finally:
        _programmatic.reset(token)


def _where(conn: Connection) -> str:
    return conn.engine.url.render_as_string(hide_password=True)


OWN, HOST, NONE = "own", "host", "none"
"""Where a database keeps our revision: our version table, the host's
`alembic_version` (our versions as a branch of its history), or nowhere."""
HOST_VERSION_TABLE = "alembic_version"


@lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    """Every revision id of the history this code ships."""
    return frozenset(script.revision for script in script_directory().walk_revisions())


def _state(conn: Connection) -> tuple[str | None, str]:
    schema = schema_of(conn)
    own = _alembic(
        lambda: MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "version_table_schema": schema}
        ).get_current_revision()
    )
    if own is not None:
        return own, OWN
    if inspect(conn).has_table(HOST_VERSION_TABLE, schema=schema):
        versions = table_clause(HOST_VERSION_TABLE, column("version_num"), schema=schema)
        ours = sorted(
            row[0]
            for row in conn.execute(select(versions.c.version_num))
            if row[0] in known_revisions()
        )
        if ours:
            return ours[-1], HOST
    return None, NONE


def _refuse_unknown(at: str | None) -> None:
    if at is not None and at not in known_revisions():
        latest = head()
        raise SchemaTooNewError(
            f"database schema is at revision {at}, which this release of mastra-storage "
            f"does not know (its newest is {latest}): a newer release migrated it. "
            "Deploy that release; this one never migrates it",
            current=at,
            head=latest,
        )


def at_head(conn: Connection) -> bool:
    """Whether the database is at head, read without taking the migration
    lock (nor, on SQLite, the write lock): in a transaction of its own on
    `conn` (one not in a transaction), ended before this returns. Raises
    `SchemaTooNewError` at a revision this code does not know."""
    if conn.in_transaction():
        raise RuntimeError("at_head needs a connection outside a transaction")
    try:
        at, _where = _state(conn)
    finally:
        conn.rollback()
    _refuse_unknown(at)
    return at is not None and at == head()


def current(bind: Engine | Connection) -> str | None:
    """The database's revision, or None when it has none of our schema. Read
    from our version table, or, when our versions are a branch of a host's
    history, from the host's `alembic_version`."""
    with translate_errors():
        if isinstance(bind, Connection):
            return _state(bind)[0]
        with bind.connect() as conn:
            return _state(conn)[0]


def check(bind: Engine | Connection) -> None:
    """Raise `MigrationRequiredError` unless the database is at head, and
    `SchemaTooNewError` when it is at a revision this code does not know."""
    at, latest = current(bind), head()
    _refuse_unknown(at)
    if at != latest:
        raise MigrationRequiredError(
            f"database schema is at revision {at or '<none>'}, the code needs {latest}: "
            "run storage.init() or mastra_storage.migrate.upgrade(engine)",
            current=at,
            head=latest,
        )


TWINNED_TABLES = (
    "mastra_threads",
    "mastra_messages",
    "mastra_resources",
    "mastra_workflow_snapshot",
    "mastra_evals",
    "mastra_scorers",
)
"""Mastra's tables whose timestamps have `"<col>Z"` twins on PostgreSQL and
that `repair_local_timestamps` repairs by default."""

# Time zone offsets are whole quarter hours within UTC-12..UTC+14.
_MAX_OFFSET_S = 14 * 3600
_OFFSET_STEP_S = 900


def repair_local_timestamps(
    bind: Engine | Connection, tables: Sequence[str] = TWINNED_TABLES
) -> int:
    """Repair rows whose plain timestamp Mastra wrote in its host's local time
    (PostgreSQL; older `@mastra/pg` on a non-UTC host): where the `"<col>Z"`
    timestamptz twin (the true instant, which Mastra itself reads) and the
    plain `timestamp` column differ by a time zone offset (a non-zero whole
    number of quarter hours, at most 14 h), the plain column is set to the
    twin's instant in UTC. Other differences are left alone (a twin that
    `ALTER TABLE ... DEFAULT now()` filled is not the row's instant).

    Returns how many values were changed; 0 on other databases (no twins).
    Idempotent and safe to run at any time, also while services write: the
    migration `0006` runs it once; run it again (or on a schedule) while old
    Mastra services on non-UTC hosts still write. One transaction; with a
    Connection already in a transaction, inside that one.
    """
    if bind.dialect.name != "postgresql":
        return 0

    def repair(conn: Connection) -> int:
        inspector = inspect(conn)
        quote = conn.dialect.identifier_preparer.quote
        changed = 0
        for table in tables:
            if not inspector.has_table(table):
                continue
            columns = {column["name"] for column in inspector.get_columns(table)}
            for name in sorted(columns):
                if f"{name}Z" not in columns:
                    continue
                plain, twin = quote(name), quote(f"{name}Z")
                true_instant = f"({twin} AT TIME ZONE 'UTC')"
                shift = f"extract(epoch FROM {true_instant} - {plain})::numeric"
                result = conn.execute(
                    text(
                        f"UPDATE {quote(table)} SET {plain} = {true_instant} "
                        f"WHERE {twin} IS NOT NULL AND {plain} <> {true_instant} "
                        f"AND abs({shift}) <= :max_offset AND mod({shift}, :step) = 0"
                    ),
                    {"max_offset": _MAX_OFFSET_S, "step": _OFFSET_STEP_S},
                )
                changed += result.rowcount
        return changed

    with translate_errors():
        if isinstance(bind, Connection):
            if bind.in_transaction():
                return repair(bind)
            with bind.begin():
                return repair(bind)
        with bind.begin() as conn:
            return repair(conn)


def configure_context(context: Any, connection: Connection, **extra: Any) -> None:
    """The options every run of our history uses (env.py calls this)."""
    from .orm import EXPRESSION_INDEXES, POSTGRESQL_ONLY, metadata

    dialect = connection.dialect.name

    def include_object(
        object_: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table":
            return name in metadata.tables
        if type_ == "column" and not reflected:
            return not (object_.info.get(POSTGRESQL_ONLY) and dialect != "postgresql")
        if type_ == "index" and reflected:
            # Expression indexes (ours from migration 0006, or Mastra's under
            # its own names): the models declare none, autogenerate leaves them.
            expressions = getattr(object_, "expressions", ())
            return name not in EXPRESSION_INDEXES and all(
                isinstance(e, Column) for e in expressions
            )
        return True

    config = getattr(context, "config", None)
    on_step = None if config is None else config.attributes.get("on_step")
    if on_step is not None and "on_version_apply" not in extra:

        def applied(*, step: Any, **_: Any) -> None:
            on_step(step.up_revision_id)  # the revision applied, or the one undone

        extra["on_version_apply"] = applied

    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        version_table_schema=schema_of(connection),
        render_as_batch=dialect == "sqlite",
        include_object=include_object,
        compare_type=True,
        compare_server_default=True,
        **extra,
    )
