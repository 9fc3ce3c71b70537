"""Every difference between database backends lives here.

Repositories ask for a capability (`Features`) or call a helper (`upsert`,
`lock_rows`); they never test the dialect name themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, Text, bindparam, event, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.dml import Insert

from .errors import ValidationError

SUPPORTED = ("sqlite", "postgresql")

BEGIN_OPTION = "mastra_storage_begin"
"""Execution option naming the SQLite BEGIN mode (`"IMMEDIATE"` for writers)."""


@dataclass(frozen=True)
class Features:
    name: str
    timestamp_twins: bool
    """The `"<col>Z"` timestamptz columns exist and must be written."""
    row_locks: bool
    """`SELECT ... FOR UPDATE` locks rows (otherwise a write lock is taken first)."""
    advisory_locks: bool
    max_bind_params: int
    """How many bound parameters one statement may carry."""


@lru_cache(maxsize=8)
def _features(name: str) -> Features:
    if name == "postgresql":
        return Features(
            name, timestamp_twins=True, row_locks=True, advisory_locks=True, max_bind_params=32_000
        )
    if name == "sqlite":
        return Features(
            name, timestamp_twins=False, row_locks=False, advisory_locks=False, max_bind_params=900
        )
    raise ValidationError(
        f"unsupported database dialect {name!r}: mastra-storage supports {', '.join(SUPPORTED)}",
        field="url",
    )


def features(bind: Session | Connection | Engine | Dialect) -> Features:
    if isinstance(bind, Session):
        bind = bind.get_bind()
    dialect = bind if isinstance(bind, Dialect) else bind.dialect
    return _features(dialect.name)


def upsert(
    feats: Features,
    table: Table,
    *,
    keys: Sequence[str],
    update_columns: Sequence[str],
    set_extra: dict[str, Any] | None = None,
) -> Insert:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET each of `update_columns` to
    the new value (plus `set_extra` expressions), the same on both backends."""
    module: Any = postgresql if feats.name == "postgresql" else sqlite
    stmt = module.insert(table)
    set_: dict[str, Any] = {name: stmt.excluded[name] for name in update_columns}
    if set_extra:
        set_.update(
            {
                name: value(stmt.excluded) if callable(value) else value
                for name, value in set_extra.items()
            }
        )
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=set_)  # type: ignore[no-any-return]


def json_contains(
    feats: Features, column: Any, expected: dict[str, Any]
) -> list[ColumnElement[bool]]:
    """Conditions keeping rows whose JSON object in `column` has each key of
    `expected` with an equal value (top level)."""
    from .orm.types import JSONValue, dumps

    if feats.name == "postgresql":
        return [column.op("@>")(bindparam(None, expected, type_=JSONValue()))]
    conditions: list[ColumnElement[bool]] = []
    for key, value in expected.items():
        if '"' in key or "\\" in key:
            raise ValidationError(
                f"metadata filter key {key!r}: double quotes and backslashes are not "
                "supported in keys on SQLite",
                field="metadata",
            )
        # `->` gives the JSON text of the value, compared with ours (compact).
        path = bindparam(None, f'$."{key}"', type_=Text())
        conditions.append(column.op("->", return_type=Text())(path) == dumps(value))
    return conditions


def lock_rows(session: Session, table: Table, where: ColumnElement[bool]) -> None:
    """Serialise writers of the rows matching `where` until the transaction ends.

    PostgreSQL callers add `.with_for_update()` to their SELECT instead; on
    SQLite a no-op UPDATE takes the database write lock before anything is
    read, so a read-modify-write cannot interleave with another writer.
    """
    if features(session).row_locks:
        return
    first = (list(table.primary_key.columns) or list(table.columns))[0]
    session.execute(update(table).where(where).values({first.key: first}))


def configure_sqlite(engine: Engine, *, wal: bool) -> None:
    """SQLAlchemy's recipe for correct SQLite transactions, plus pragmas.

    The driver's own implicit BEGIN is switched off and we emit BEGIN ourselves:
    plain BEGIN for readers, BEGIN IMMEDIATE for writers (execution option
    `mastra_storage_begin`), so a writer waits for the write lock up front
    (honouring busy_timeout) instead of failing when it upgrades a read lock.
    """
    if event.contains(engine, "begin", _sqlite_begin):
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        if wal:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    event.listen(engine, "begin", _sqlite_begin)


def _sqlite_begin(conn: Connection) -> None:
    dbapi_connection: Any = conn.connection.dbapi_connection
    if dbapi_connection.isolation_level is not None:
        # A caller's engine without our connect hook: take over BEGIN here too.
        dbapi_connection.isolation_level = None
    mode = conn.get_execution_options().get(BEGIN_OPTION, "")
    conn.exec_driver_sql(f"BEGIN {mode}" if mode in ("IMMEDIATE", "EXCLUSIVE") else "BEGIN")
