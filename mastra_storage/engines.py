"""Turning a URL into a configured Engine: Mastra-style `file:` URLs, SQLite
pragmas and transaction mode, PostgreSQL's driver and schema."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from .dialects import configure_sqlite
from .errors import ValidationError
from .orm.types import dumps

DEFAULT_URL = "file:mastra.db"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


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


def create_engine_for_url(url: str | URL, *, schema: str | None = None, **kwargs: Any) -> Engine:
    """An Engine set up the way this library needs it."""
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        memory = is_memory_sqlite(parsed)
        if memory:
            # One shared connection: each new connection would be a new database.
            kwargs.setdefault("poolclass", StaticPool)
        connect_args = kwargs.setdefault("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", 30)
        engine = create_engine(parsed, **kwargs)
        configure_sqlite(engine, wal=not memory)
        return engine
    if backend == "postgresql":
        if schema is not None:
            check_identifier(schema, field="schema")
            connect_args = kwargs.setdefault("connect_args", {})
            connect_args["options"] = f"-csearch_path={schema}"
        kwargs.setdefault("json_serializer", dumps)
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, **kwargs)
    return create_engine(parsed, **kwargs)


def check_identifier(name: str, *, field: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValidationError(
            f"{field} must be a plain SQL identifier (letters, digits, _), got {name!r}",
            field=field,
        )
    return name
