"""Turning a URL into a configured Engine: Mastra-style `file:` URLs, SQLite
pragmas and transaction mode, PostgreSQL's driver and schema."""

from __future__ import annotations

import importlib.util
import os
import re
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from .dialects import configure_sqlite
from .errors import MissingDependencyError, ValidationError
from .orm.types import dumps

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

DEFAULT_URL = "file:mastra.db"
"""Where `DefaultStorage()` keeps its data when neither `url=` nor the
environment says otherwise: `mastra.db` in the working directory."""
URL_VARIABLE = "MASTRA_STORAGE_URL"
SCHEMA_VARIABLE = "MASTRA_STORAGE_SCHEMA"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def url_from_env() -> str:
    """`MASTRA_STORAGE_URL` when it is set and not blank, else `DEFAULT_URL`."""
    return os.environ.get(URL_VARIABLE, "").strip() or DEFAULT_URL


def schema_from_env() -> str | None:
    """`MASTRA_STORAGE_SCHEMA` when it is set and not blank, else None."""
    return os.environ.get(SCHEMA_VARIABLE, "").strip() or None


def normalize_url(url: str | URL) -> URL:
    """Accept SQLAlchemy URLs and Mastra's `file:PATH` / `file::memory:`."""
    if isinstance(url, URL):
        parsed = url
    else:
        text = url.strip()
        if not text:
            raise ValidationError("url must not be empty", field="url")
        if text in ("file::memory:", ":memory:"):
            return make_url("sqlite://")
        if text.startswith("file:"):
            path = text[len("file:") :].split("?", 1)[0]
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
    return parsed


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def engine_arguments(
    url: str | URL, *, schema: str | None = None, asynchronous: bool = False, **kwargs: Any
) -> tuple[URL, dict[str, Any]]:
    """The URL and `create_engine` arguments this library needs, for a sync or
    an async engine: the driver, the pool of an in-memory SQLite database, the
    PostgreSQL schema (as the connections' search_path)."""
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if asynchronous and parsed.get_driver_name() in ("pysqlite", "sqlite"):
            parsed = parsed.set(drivername="sqlite+aiosqlite")
        if is_memory_sqlite(parsed):
            # One shared connection: each new connection would be a new database.
            kwargs.setdefault("poolclass", StaticPool)
        connect_args = kwargs.setdefault("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", 30)
    elif backend == "postgresql":
        if schema is not None:
            check_identifier(schema, field="schema")
            connect_args = kwargs.setdefault("connect_args", {})
            given = connect_args.get("options")
            connect_args["options"] = " ".join(filter(None, [given, f"-csearch_path={schema}"]))
        kwargs.setdefault("json_serializer", dumps)
    return parsed, kwargs


# The driver modules each of our drivers needs, and the extra that installs them.
_DRIVER_MODULES: dict[str, tuple[tuple[str, ...], str]] = {
    "psycopg": (("psycopg",), "postgres"),
    "aiosqlite": (("aiosqlite", "greenlet"), "async"),
}


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


def create_engine_for_url(url: str | URL, *, schema: str | None = None, **kwargs: Any) -> Engine:
    """A sync Engine set up the way this library needs it. Raises
    `MissingDependencyError` when the URL's driver is not installed."""
    parsed, arguments = engine_arguments(url, schema=schema, **kwargs)
    require_driver(parsed)
    engine = create_engine(parsed, **arguments)
    prepare_engine(engine)
    return engine


def create_async_engine_for_url(
    url: str | URL, *, schema: str | None = None, **kwargs: Any
) -> AsyncEngine:
    """An AsyncEngine (aiosqlite; psycopg's async mode) set up likewise (the
    `async` extra; `postgres` too for PostgreSQL)."""
    parsed, arguments = engine_arguments(url, schema=schema, asynchronous=True, **kwargs)
    require_driver(parsed, asynchronous=True)
    from ._asyncio import create_async_engine

    engine = create_async_engine(parsed, **arguments)
    prepare_engine(engine.sync_engine)
    return engine


def prepare_engine(engine: Engine) -> None:
    """Hooks an engine needs, ours or a caller's (SQLite's transaction recipe)."""
    if engine.dialect.name == "sqlite":
        memory = is_memory_sqlite(engine.url)
        if not memory and not event.contains(engine, "connect", _switch_to_wal):
            # First of the connect hooks: the WAL pragma after it finds WAL on.
            event.listen(engine, "connect", _switch_to_wal, insert=True)
        configure_sqlite(engine, wal=not memory)


WAL_SWITCH_TIMEOUT = 30.0
"""Seconds to keep retrying a SQLite file's switch to WAL (as busy_timeout)."""


def _switch_to_wal(dbapi_connection: Any, _record: Any) -> None:
    """Put a SQLite file in WAL mode, retrying while it is locked.

    The switch needs the file's exclusive lock, and when several processes open
    a fresh file together SQLite answers "database is locked" at once instead
    of waiting out busy_timeout (it would deadlock), so concurrent first
    `init()` calls failed. Once the file is in WAL mode this is a no-op.
    """
    deadline = time.monotonic() + WAL_SWITCH_TIMEOUT
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


def check_identifier(name: str, *, field: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValidationError(
            f"{field} must be a plain SQL identifier (letters, digits, _), got {name!r}",
            field=field,
        )
    return name
