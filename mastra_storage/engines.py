"""Turning a URL into a configured Engine: Mastra-style `file:` URLs, SQLite
pragmas and transaction mode, PostgreSQL's driver and schema."""

from __future__ import annotations

import atexit
import dataclasses
import importlib.util
import math
import os
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, ExceptionContext, make_url
from sqlalchemy.pool import AsyncAdaptedQueuePool, Pool, QueuePool

from .deadlines import bound_connection, deadline_s
from .dialects import (
    LOCK_TIMEOUT_OPTION,
    PROXY_OPTION,
    STATEMENT_TIMEOUT_OPTION,
    configure_mysql,
    configure_postgres,
    configure_postgres_binary_results,
    configure_sqlite,
    features,
    hooked,
)
from .errors import MissingDependencyError, OperationalError, ValidationError
from .orm.types import dumps
from .values import has_surrogate, summary

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

DEFAULT_URL = "file:mastra.db"
"""Where `DefaultStorage()` keeps its data when neither `url=` nor the
environment says otherwise: `mastra.db` in the working directory."""
URL_VARIABLE = "MASTRA_STORAGE_URL"
SCHEMA_VARIABLE = "MASTRA_STORAGE_SCHEMA"
E = TypeVar("E", "Engine", "AsyncEngine")


def url_from_env() -> str:
    """`MASTRA_STORAGE_URL` when it is set and not blank, else `DEFAULT_URL`."""
    return os.environ.get(URL_VARIABLE, "").strip() or DEFAULT_URL


def schema_from_env() -> str | None:
    """`MASTRA_STORAGE_SCHEMA` when it is set and not blank, else None."""
    return os.environ.get(SCHEMA_VARIABLE, "").strip() or None


@dataclass(frozen=True)
class ConnectionSettings:
    """The bounds (and the proxy switch) of the engines a storage creates.

    - `connect_timeout_s` (10): opening a connection (PostgreSQL `connect_timeout`).
    - `lock_timeout_ms` (10 000): waiting for a row or table lock (PostgreSQL
      `lock_timeout`) or for the SQLite write lock (its busy wait).
    - `pool_timeout_s` (5): waiting for a free pooled connection.
    - `statement_timeout_s` (30): PostgreSQL, one statement or round trip:
      the server's `statement_timeout` ends a statement that runs longer
      (the connection stays usable; on MariaDB `max_statement_time` does);
      a server that does not answer at all (frozen: SIGSTOP, a hung host) is
      given up on by the client after
      `statement_timeout_s` plus a grace (10%, at least 1 s; see
      `mastra_storage.deadlines`; on MySQL the driver's `read_timeout`),
      closing that connection. The migrations of
      `init()` are exempt (DDL on a large table may rightly take long).
    - `prepared_statements` (True): False for a transaction-pooling proxy
      (PgBouncer, pool_mode=transaction): psycopg prepares nothing, and the
      schema and lock bound are set per transaction, not per connection.

    Passing a bound raises `StorageTimeoutError`.
    """

    connect_timeout_s: float = 10.0
    lock_timeout_ms: int = 10_000
    pool_timeout_s: float = 5.0
    prepared_statements: bool = True
    statement_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        for name in (
            "connect_timeout_s",
            "lock_timeout_ms",
            "pool_timeout_s",
            "statement_timeout_s",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValidationError(
                    f"{name} must be a positive number, got {summary(value)}", field=name
                )
            if not math.isfinite(value):
                raise ValidationError(f"{name} must be finite, got {summary(value)}", field=name)
        if not isinstance(self.prepared_statements, bool):
            raise ValidationError(
                "prepared_statements must be True or False, got "
                f"{summary(self.prepared_statements)}",
                field="prepared_statements",
            )


DEFAULT_SETTINGS = ConnectionSettings()

ASYNC_SQLITE_BUSY_SLICE_S = 0.1
"""An async SQLite connection waits for the write lock in slices this long,
so a cancelled call gets the event loop back at the next slice."""

_URL_FLAGS = {"prepared_statements": ("true", "1", "yes", "on")}


def normalize_url(url: str | URL) -> URL:
    """Accept SQLAlchemy URLs and Mastra's `file:PATH` / `file::memory:`."""
    if isinstance(url, URL):
        parsed = url
    else:
        if not isinstance(url, str):
            raise ValidationError(
                f"url must be a database URL (str or sqlalchemy URL), got {type(url).__name__}",
                field="url",
            )
        text = url.strip()
        if not text:
            raise ValidationError("url must not be empty", field="url")
        if text in ("file::memory:", ":memory:"):
            return make_url("sqlite://")
        if text.startswith("file:"):
            path, _, query = text[len("file:") :].partition("?")
            if query:
                # Dropping it would open another database than meant (for
                # `file:db?mode=memory`, a file named `db` in the working
                # directory).
                raise ValidationError(
                    f"query parameters in a file: URL are not supported ({url!r}): "
                    "give SQLAlchemy's form, sqlite:///PATH?...",
                    field="url",
                )
            if path.startswith("//"):
                path = path[2:]
            if not path:
                raise ValidationError(f"no file path in url {url!r}", field="url")
            return URL.create("sqlite", database=path)
        try:
            parsed = make_url(text)
        except Exception as error:
            raise ValidationError(f"not a database URL: {url!r}", field="url") from error
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.get_backend_name() in ("mysql", "mariadb"):
        # MariaDB is served by SQLAlchemy's mysql dialect (which tells the two
        # apart on connect): `mariadb://` is the same as `mysql://`.
        driver = parsed.get_driver_name() if "+" in parsed.drivername else "pymysql"
        parsed = parsed.set(drivername=f"mysql+{driver}")
    return parsed


MYSQL_DRIVERS = {"sync": "pymysql", "async": "asyncmy"}
"""The drivers of `mysql://` and `mariadb://` URLs (the `mysql` extra)."""


def sync_driver_url(url: URL) -> URL:
    """The same database through our sync driver (SQLite's, psycopg, PyMySQL)."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite")
    if backend in ("mysql", "mariadb"):
        return url.set(drivername=f"mysql+{MYSQL_DRIVERS['sync']}")
    return url.set(drivername="postgresql+psycopg")


def _names_async_driver(url: URL) -> bool:
    try:
        return bool(url.get_dialect().is_async)
    except Exception:  # an unknown dialect: create_engine says so
        return False


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def storage_settings(
    url: str | URL | None,
    *,
    connect_timeout_s: float,
    lock_timeout_ms: int,
    pool_timeout_s: float,
    prepared_statements: bool,
    statement_timeout_s: float = DEFAULT_SETTINGS.statement_timeout_s,
) -> tuple[str | URL | None, ConnectionSettings]:
    """A storage constructor's bounds, checked, with our own URL flags taken
    out of `url` (sync and async storages share this)."""
    settings = ConnectionSettings(
        connect_timeout_s=connect_timeout_s,
        lock_timeout_ms=lock_timeout_ms,
        pool_timeout_s=pool_timeout_s,
        prepared_statements=prepared_statements,
        statement_timeout_s=statement_timeout_s,
    )
    if url is None:
        return None, settings
    # `?prepared_statements=false` is ours, not the driver's
    return url_settings(normalize_url(url), settings)


def url_settings(url: URL, settings: ConnectionSettings) -> tuple[URL, ConnectionSettings]:
    """Take our own flags out of the URL's query (`?prepared_statements=false`):
    the driver would refuse them."""
    flags = {name: url.query[name] for name in _URL_FLAGS if name in url.query}
    if not flags:
        return url, settings
    url = url.difference_update_query(list(flags))
    value = flags["prepared_statements"]
    value = value[-1] if isinstance(value, tuple) else value
    if settings.prepared_statements:  # the constructor's False wins over the URL
        settings = dataclasses.replace(
            settings, prepared_statements=value.lower() in _URL_FLAGS["prepared_statements"]
        )
    return url, settings


def engine_arguments(
    url: str | URL,
    *,
    schema: str | None = None,
    asynchronous: bool = False,
    settings: ConnectionSettings = DEFAULT_SETTINGS,
    **kwargs: Any,
) -> tuple[URL, ConnectionSettings, dict[str, Any]]:
    """The URL, settings and `create_engine` arguments this library needs, for
    a sync or an async engine: the driver, the pool, the bounds of every wait,
    the PostgreSQL schema (as the connections' search_path)."""
    parsed, settings = url_settings(normalize_url(url), settings)
    if not asynchronous and _names_async_driver(parsed):
        # An async application's URL (mysql+asyncmy, postgresql+psycopg_async,
        # sqlite+aiosqlite) given to a sync storage or the command line: the
        # same database through our sync driver.
        parsed = sync_driver_url(parsed)
    backend = parsed.get_backend_name()
    if schema is not None:
        check_identifier(schema, field="schema")
        if backend != "postgresql":
            raise ValidationError(
                f"schema= needs a PostgreSQL database, not {backend!r}", field="schema"
            )
    connect_args = kwargs.setdefault("connect_args", {})
    options = kwargs.setdefault("execution_options", {})
    options.setdefault(LOCK_TIMEOUT_OPTION, settings.lock_timeout_ms)
    options.setdefault(STATEMENT_TIMEOUT_OPTION, statement_timeout_ms(settings))
    if backend == "sqlite":
        if asynchronous and parsed.get_driver_name() in ("pysqlite", "sqlite"):
            parsed = parsed.set(drivername="sqlite+aiosqlite")
        if is_memory_sqlite(parsed):
            if "poolclass" not in kwargs:
                # One connection (each new one would be a new, empty database),
                # lent to one caller at a time: threads, or an event loop's
                # tasks, sharing the storage take turns instead of interleaving
                # transactions on it, each waiting at most `pool_timeout`.
                pool: type[Pool] = AsyncAdaptedQueuePool if asynchronous else QueuePool
                kwargs["poolclass"] = pool
                kwargs.setdefault("pool_size", 1)
                kwargs.setdefault("max_overflow", 0)
                kwargs.setdefault("pool_timeout", settings.pool_timeout_s)
        else:
            kwargs.setdefault("pool_timeout", settings.pool_timeout_s)
        connect_args.setdefault("check_same_thread", False)
        # The busy wait; async connections wait in slices (see `dialects._sqlite_begin`).
        busy = settings.lock_timeout_ms / 1000
        connect_args.setdefault(
            "timeout", min(busy, ASYNC_SQLITE_BUSY_SLICE_S) if asynchronous else busy
        )
    elif backend == "postgresql":
        kwargs.setdefault("pool_timeout", settings.pool_timeout_s)
        # libpq counts whole seconds, at least 2.
        connect_args.setdefault("connect_timeout", max(2, math.ceil(settings.connect_timeout_s)))
        # Notice a peer that vanished (host down, cable cut) within about a minute.
        connect_args.setdefault("keepalives", 1)
        connect_args.setdefault("keepalives_idle", 30)
        connect_args.setdefault("keepalives_interval", 10)
        connect_args.setdefault("keepalives_count", 3)
        if settings.prepared_statements:
            # Per connection, in the startup packet: no round trip per transaction.
            startup = [
                f"-c lock_timeout={int(settings.lock_timeout_ms)}",
                f"-c statement_timeout={statement_timeout_ms(settings)}",
            ]
            if schema is not None:
                startup.append(startup_option(f"-csearch_path={quote_schema(schema)}"))
            given = connect_args.get("options")
            connect_args["options"] = " ".join(filter(None, [given, *startup]))
        else:
            # A transaction-pooling proxy: no statement may be prepared (the next
            # transaction runs on another server connection), no startup
            # `options`; schema and lock bound travel with each transaction.
            connect_args["prepare_threshold"] = None
            options[PROXY_OPTION] = schema or ""
        kwargs.setdefault("json_serializer", dumps)
    elif backend == "mysql":
        if asynchronous and parsed.get_driver_name() in ("pymysql", "mysqldb", "aiomysql"):
            parsed = parsed.set(drivername=f"mysql+{MYSQL_DRIVERS['async']}")
        kwargs.setdefault("pool_timeout", settings.pool_timeout_s)
        # Replaced before the server's wait_timeout (8 h) closes them idle; one
        # dropped anyway (a restart) is handled as on PostgreSQL: a read runs
        # once more, a write raises ConnectionLostError.
        kwargs.setdefault("pool_recycle", 3600)
        # As PostgreSQL's default: each statement sees what committed before it,
        # and InnoDB takes no gap locks on plain reads and writes.
        kwargs.setdefault("isolation_level", "READ COMMITTED")
        connect_args.setdefault("charset", "utf8mb4")
        connect_args.setdefault("connect_timeout", max(1, math.ceil(settings.connect_timeout_s)))
        connect_args.setdefault("init_command", mysql_session_setup(settings))
        # A frozen server cannot enforce its max_statement_time: the driver's
        # own read timeout bounds every answer awaited (statement_timeout_s plus
        # the grace of `mastra_storage.deadlines`, so a live server's error comes
        # first); passing it closes that connection (StorageTimeoutError).
        # PyMySQL bounds blocking sends too; asyncmy's are buffered.
        answer_s = deadline_s(settings.statement_timeout_s)
        connect_args.setdefault("read_timeout", answer_s)
        if parsed.get_driver_name() == "pymysql":
            connect_args.setdefault("write_timeout", answer_s)
        kwargs.setdefault("json_serializer", dumps)
    return parsed, settings, kwargs


MYSQL_SQL_MODE = (
    "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION"
)
"""Each MySQL session's sql_mode: a value that does not fit is an error, never
silently cut or zeroed."""


def mysql_session_setup(settings: ConnectionSettings) -> str:
    """The statement each new MySQL/MariaDB connection runs first: UTC session
    time zone (`NOW()`, `CURRENT_TIMESTAMP` in UTC), strict mode, the row
    lock bound in whole seconds (`innodb_lock_wait_timeout`, at least 1), and
    on MariaDB the statement bound (`max_statement_time`, in a `/*M! */`
    comment, which only MariaDB runs)."""
    seconds = max(1, math.ceil(settings.lock_timeout_ms / 1000))
    statement_s = statement_timeout_ms(settings) / 1000
    return (
        f"SET time_zone = '+00:00', sql_mode = '{MYSQL_SQL_MODE}', "
        f"innodb_lock_wait_timeout = {seconds} "
        f"/*M!, max_statement_time = {statement_s:g} */"
    )


def statement_timeout_ms(settings: ConnectionSettings) -> int:
    """PostgreSQL's `statement_timeout` for these settings, in milliseconds."""
    return max(1, int(settings.statement_timeout_s * 1000))


def bound_answers(engine: Engine, settings: ConnectionSettings) -> None:
    """On PostgreSQL, give each new connection of this (our) engine the
    client-side deadline of `mastra_storage.deadlines`."""
    if engine.dialect.name != "postgresql":
        return
    bound = settings.statement_timeout_s

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        bound_connection(dbapi_connection, bound)

    event.listen(engine, "connect", on_connect)


# The driver modules each of our drivers needs, and the extra that installs them.
_DRIVER_MODULES: dict[str, tuple[tuple[str, ...], str]] = {
    "psycopg": (("psycopg",), "postgres"),
    "aiosqlite": (("aiosqlite", "greenlet"), "async"),
    "pymysql": (("pymysql",), "mysql"),
    "asyncmy": (("asyncmy",), "mysql"),
}


def pool_capacity(pool: Any) -> int | None:
    """The most connections `pool` may have checked out at once (`pool_size`
    + `max_overflow`), or None when it sets no bound (an unbounded overflow,
    a pool that is not a `QueuePool`)."""
    overflow = getattr(pool, "_max_overflow", -1)
    if not isinstance(pool, QueuePool) or overflow < 0:
        return None
    return int(pool.size() + overflow)


def pool_full(pool: Any) -> bool:
    """Whether every connection `pool` may open is checked out (a checkout
    would wait up to `pool_timeout_s`)."""
    capacity = pool_capacity(pool)
    return capacity is not None and pool.checkedout() >= capacity


def pool_hooks(pool: Any) -> int:
    """How many listeners `pool` has for the events a caller's hook would use
    (`connect`, `checkout`, `checkin`, ...: a pool keeps them after a
    `dispose` too); asked on every call, so a plain count (listeners are
    added, not swapped). A storage compares it with the count it made the
    pool with: a connection it keeps between calls (`kept_connection`,
    `held_connection`) skips the `checkout` and `checkin` a hook expects."""
    d: Any = pool.dispatch
    return (
        len(d.connect) + len(d.first_connect) + len(d.checkout)
        + len(d.checkin) + len(d.reset) + len(d.close)
    )  # fmt: skip


def require_driver(url: URL, *, asynchronous: bool = False) -> None:
    """Raise `MissingDependencyError`, naming the extra to install, when the
    URL's driver (or, for async engines, greenlet) is not installed. A
    SQLite-only sync user needs neither psycopg nor aiosqlite."""
    needed: list[tuple[str, str]] = []
    modules, extra = _DRIVER_MODULES.get(url.get_driver_name(), ((), ""))
    needed += [(module, extra) for module in modules]
    if asynchronous:
        needed.append(("greenlet", "async"))
    for module, extra in needed:
        if importlib.util.find_spec(module) is None:
            what = f"{url.get_backend_name()} through {url.get_driver_name()}"
            raise MissingDependencyError(
                f"{what} needs the {module!r} package: pip install 'mastra-storage[{extra}]'",
                name=module,
            )


def create_engine_for_url(
    url: str | URL,
    *,
    schema: str | None = None,
    settings: ConnectionSettings = DEFAULT_SETTINGS,
    **kwargs: Any,
) -> Engine:
    """A sync Engine set up the way this library needs it. Raises
    `MissingDependencyError` when the URL's driver is not installed."""
    parsed, settings, arguments = engine_arguments(url, schema=schema, settings=settings, **kwargs)
    with _driver_errors(parsed):
        require_driver(parsed)
        engine = create_engine(parsed, **arguments)
    prepare_engine(engine)
    bound_answers(engine, settings)
    return with_schema(engine, schema)


def create_async_engine_for_url(
    url: str | URL,
    *,
    schema: str | None = None,
    settings: ConnectionSettings = DEFAULT_SETTINGS,
    **kwargs: Any,
) -> AsyncEngine:
    """An AsyncEngine (aiosqlite; psycopg's async mode) set up likewise (the
    `async` extra; `postgres` too for PostgreSQL)."""
    parsed, settings, arguments = engine_arguments(
        url, schema=schema, asynchronous=True, settings=settings, **kwargs
    )
    from ._asyncio import create_async_engine

    with _driver_errors(parsed):
        require_driver(parsed, asynchronous=True)
        engine = create_async_engine(parsed, **arguments)
    prepare_engine(engine.sync_engine)
    bound_answers(engine.sync_engine, settings)
    return with_schema(engine, schema)


@contextmanager
def _driver_errors(url: URL) -> Iterator[None]:
    """A URL whose dialect or driver is not installed is a `ValidationError`."""
    try:
        yield
    except MissingDependencyError:
        raise  # a known driver not installed: names the extra to install
    except (ImportError, sa_exc.NoSuchModuleError, sa_exc.ArgumentError) as error:
        raise ValidationError(
            f"cannot use url {url.render_as_string(hide_password=True)!r}: "
            f"{type(error).__name__}: {error}. Install its driver, or name one that is "
            "installed (postgresql+psycopg://..., mysql+pymysql://..., sqlite:///..., file:PATH)",
            field="url",
        ) from error


# -- schemas ---------------------------------------------------------------------------

SCHEMA_MAP = "schema_translate_map"


def with_schema(engine: E, schema: str | None) -> E:
    """`engine` (ours or a caller's, sync or async) whose statements name our
    tables in `schema`: SQLAlchemy's `schema_translate_map`, so every
    statement, DDL included, says `"schema".table` whatever the connection's
    search_path (a caller's engine, a pooled connection, a proxy). The caller's
    engine itself is not changed: this is a new Engine sharing its pool."""
    if schema is None:
        return engine
    if schema_of(engine) == schema:
        return engine
    return engine.execution_options(**{SCHEMA_MAP: {None: schema}})


def with_caller_schema(engine: E, schema: str | None) -> E:
    """A caller's engine given with `schema=`: checked, then `with_schema`."""
    if schema is None:
        return engine
    check_identifier(schema, field="schema")
    if engine.dialect.name != "postgresql":
        raise ValidationError(
            f"schema= needs a PostgreSQL database, not {engine.dialect.name!r}", field="schema"
        )
    return with_schema(engine, schema)


STORAGE_ISOLATION = "READ COMMITTED"
"""The isolation level of the storage's own transactions on PostgreSQL and
MySQL/MariaDB (PostgreSQL's default; what the library's MySQL engines set)."""


def snapshot_engine(engine: E) -> E:
    """`engine` for the storage's own reads of several statements: at
    `Features.snapshot_isolation` where the backend has one (SQLAlchemy's
    `isolation_level` execution option: set on a connection while it is
    lent, reset when it is returned), else `engine` itself."""
    dialect = engine.dialect if isinstance(engine, Engine) else engine.sync_engine.dialect
    level = features(dialect).snapshot_isolation
    return engine if level is None else engine.execution_options(isolation_level=level)


def with_storage_isolation(engine: E) -> E:
    """A caller's PostgreSQL or MySQL engine made with another isolation level
    (`isolation_level="AUTOCOMMIT"`, `"REPEATABLE READ"`, `"SERIALIZABLE"`,
    at `create_engine` or by `execution_options`): the storage's own calls run
    on it at READ COMMITTED (`execution_options`: per connection while the
    storage uses it; the caller's other users of the engine keep their
    level). A storage call is one transaction whose row locks (`FOR UPDATE`,
    `FOR KEY SHARE`) keep concurrent read-modify-writes from losing each
    other's updates: in autocommit every statement would commit by itself
    (and its locks go with it), and at REPEATABLE READ or SERIALIZABLE
    concurrent updates of one row fail with serialization errors. An engine
    left at the server's default is used as it is."""
    if engine.dialect.name not in ("postgresql", "mysql"):
        return engine
    level = engine.get_execution_options().get("isolation_level") or getattr(
        engine.dialect, "_on_connect_isolation_level", None
    )
    if level is None or str(level).upper() == STORAGE_ISOLATION:
        return engine
    return engine.execution_options(isolation_level=STORAGE_ISOLATION)


def schema_of(bind: Any) -> str | None:
    """The schema `with_schema` gave this Engine or Connection (None: the default)."""
    options = bind.get_execution_options() if hasattr(bind, "get_execution_options") else {}
    mapping = options.get(SCHEMA_MAP) or {}
    schema: str | None = mapping.get(None)
    return schema


@contextmanager
def schema_on(connection: Connection, schema: str | None) -> Iterator[Connection]:
    """Our tables in `schema` on a caller's connection (`session=`), for the
    duration of one call; the connection's own mapping is put back after."""
    if schema is None or schema_of(connection) == schema:
        yield connection
        return
    previous = connection.get_execution_options().get(SCHEMA_MAP)
    connection.execution_options(**{SCHEMA_MAP: {None: schema}})
    try:
        yield connection
    finally:
        connection.execution_options(**{SCHEMA_MAP: previous})


def quote_schema(schema: str) -> str:
    """`schema` as a PostgreSQL quoted identifier: `"TenantA"`, `"my-tenant"`."""
    return '"' + schema.replace('"', '""') + '"'


def startup_option(option: str) -> str:
    """One `-c name=value` for libpq's `options`: spaces and backslashes escaped."""
    return option.replace("\\", "\\\\").replace(" ", "\\ ")


def prepare_engine(engine: Engine) -> None:
    """Hooks an engine needs, ours or a caller's (SQLite's transaction recipe,
    the proxy mode of PostgreSQL, MySQL's statement size check)."""
    if engine.dialect.name == "sqlite":
        memory = is_memory_sqlite(engine.url)
        if not memory and engine not in _WAL_SWITCHES:
            # First of the connect hooks: the WAL pragma after it finds WAL on.
            switch = _wal_switch(engine.get_execution_options().get(LOCK_TIMEOUT_OPTION, 10_000))
            _WAL_SWITCHES[engine] = switch
            event.listen(engine, "connect", switch, insert=True)
        if memory and not hooked(engine, "handle_error", _keep_memory_database):
            event.listen(engine, "handle_error", _keep_memory_database)
        configure_sqlite(engine, wal=not memory)
    elif engine.dialect.name == "postgresql":
        configure_postgres(engine)
        configure_postgres_binary_results(engine)
    elif engine.dialect.name == "mysql":
        configure_mysql(engine)


def _keep_memory_database(context: ExceptionContext) -> None:
    """Never invalidate the connection of an in-memory SQLite database.

    SQLAlchemy invalidates (closes) a connection whose call was interrupted
    by an exit exception (an asyncio cancellation, `asyncio.wait_for` running
    out, KeyboardInterrupt), its state being unknown. For in-memory SQLite
    that connection *is* the database: closing it dropped every table and
    row, and the next call met a new, empty database ("no such table"). The
    interrupted statement finishes on that connection (aiosqlite's thread, or
    before the interrupt is seen in sync code), and the transaction's
    rollback, queued after it, leaves the connection clean for the next call.
    """
    context.is_disconnect = False


# -- engines this library owns: fork safety, closed at exit -------------------------

_OWNED_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def own_engine(engine: Engine) -> Engine:
    """Register an engine this library creates (a storage's, its lock pool's,
    its SQLite worker's): safe across `os.fork()`, closed at the interpreter's exit.

    Fork: a forked child inherits the parent's pooled connections: the same
    sockets, which two processes must never talk on at once. In the child each
    such engine drops its pool without closing those connections (SQLAlchemy's
    `dispose(close=False)` recipe), so the child opens its own and the parent's
    stay intact. Works for gunicorn --preload, Celery prefork,
    multiprocessing's fork start method.

    Exit: a storage never closed leaves its pool's connections open until the
    interpreter tears them down, each then warning `ResourceWarning`
    (psycopg's "deleted while still open"; from Python 3.13 sqlite3's
    "unclosed database"). At exit each sync engine still registered closes
    the connections its pool holds (`engine.dispose()`), after the kept
    connections went back to it (`kept_connection`, whose exit hook, imported
    after this module, runs first). An async driver's connections need their
    event loop, gone by then: `await storage.close()` closes them.
    """
    _OWNED_ENGINES.add(engine)
    return engine


def _dispose_at_exit() -> None:
    for engine in list(_OWNED_ENGINES):
        if engine.dialect.is_async:
            continue
        try:
            engine.dispose()
        except Exception:  # at exit: one pool's failure must not stop the others
            continue


_INHERITED_POOLS: list[Pool] = []
"""In a forked child: the pools its owned engines had in the parent, kept
referenced so that the parent's connections in them are never collected
here (psycopg warns "deleted while still open" for each; nothing is closed
or sent either way)."""


def _after_fork_in_child() -> None:
    for engine in list(_OWNED_ENGINES):
        opened = is_memory_sqlite(engine.url) and _has_connections(engine.pool)
        _INHERITED_POOLS.append(engine.pool)
        engine.dispose(close=False)
        if opened and not event.contains(engine, "connect", _refuse_memory_database_in_child):
            event.listen(engine, "connect", _refuse_memory_database_in_child, insert=True)


def _has_connections(pool: Pool) -> bool:
    counts = getattr(pool, "checkedin", None), getattr(pool, "checkedout", None)
    if counts[0] is None or counts[1] is None:
        return True
    return bool(counts[0]() or counts[1]())


def _refuse_memory_database_in_child(_dbapi_connection: Any, _record: Any) -> None:
    """An in-memory SQLite database lives in the memory of the process that
    opened it: a forked child would get a new, empty database (no tables),
    its writes seen by no one. Every call of the child says so instead. (A
    storage the parent never used has no database yet: the child opens its own.)"""
    raise OperationalError(
        "an in-memory SQLite database (file::memory:) belongs to the process that "
        "created the storage; a forked child cannot use it: share a SQLite file "
        "(file:PATH) or a server between processes"
    )


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_dispose_at_exit)


_WAL_SWITCHES: weakref.WeakKeyDictionary[Engine, Callable[[Any, Any], None]] = (
    weakref.WeakKeyDictionary()
)
"""The connect hook `prepare_engine` put on each SQLite file engine."""


def _wal_switch(lock_timeout_ms: float) -> Callable[[Any, Any], None]:
    """A connect hook putting a SQLite file in WAL mode, retrying while the
    file is locked for at most `lock_timeout_ms` (the engine's busy wait).

    The switch needs the file's exclusive lock, and when several processes open
    a fresh file together SQLite answers "database is locked" at once instead
    of waiting out busy_timeout (it would deadlock), so concurrent first
    `init()` calls failed. Once the file is in WAL mode this is a no-op. Past
    the bound the driver's "database is locked" error is raised (the call's
    `StorageTimeoutError`), as for any other wait for the write lock.
    """
    bound = lock_timeout_ms / 1000

    def switch_to_wal(dbapi_connection: Any, _record: Any) -> None:
        deadline = time.monotonic() + bound
        cursor = dbapi_connection.cursor()
        try:
            while True:
                try:
                    cursor.execute("PRAGMA journal_mode = WAL")
                    return
                except Exception as error:  # the driver's OperationalError
                    if "locked" not in str(error) or time.monotonic() >= deadline:
                        raise
                    time.sleep(0.02)
        finally:
            cursor.close()

    return switch_to_wal


MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL's NAMEDATALEN - 1: a longer name would be silently truncated."""


def check_identifier(name: object, *, field: str) -> str:
    """Any name PostgreSQL accepts as a quoted identifier (mixed case, hyphens,
    spaces, quotes): non-empty text without NUL, at most 63 bytes of UTF-8."""
    if not isinstance(name, str) or not name:
        raise ValidationError(f"{field} must be a non-empty string", field=field)
    if "\x00" in name or has_surrogate(name):
        raise ValidationError(f"{field} must not contain NUL or a lone surrogate", field=field)
    if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise ValidationError(
            f"{field} is longer than PostgreSQL's {MAX_IDENTIFIER_BYTES} bytes", field=field
        )
    return name
