"""Session-level database locks behind the "advisory" run-lock backend: a run's
key, and the SQL that takes, gives back and looks for it, per kind of lock.

- PostgreSQL advisory locks (`Features.session_locks == "pg_advisory"`): the
  key is a stable signed 64-bit hash; `pg_locks` shows who holds it.
- MySQL/MariaDB named locks (`"named"`, `GET_LOCK`): the key is a name of at
  most 64 characters, the same hash in hexadecimal behind a readable prefix.
  Named locks are server-wide (not per database), which is why the hashed
  name includes the database.

Either key is a hash of a namespaced name: this library, the schema (MySQL:
the database) holding our tables, so two of them never contend, the workflow
name and the run id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, String, and_, bindparam, column, exists, func, select, table
from sqlalchemy.sql import ColumnElement, Select

from ..dialects import NAMED_LOCKS, PG_ADVISORY_LOCKS, Features

NAMESPACE = "mastra_storage.workflow_run_lock"

NAMED_LOCK_PREFIX = "mastra_storage:"
"""Every run lock's name on MySQL starts so (in `performance_schema.metadata_locks`)."""
NAMED_LOCK_MAX = 64
"""MySQL's limit on a `GET_LOCK` name (longer names are an error on MySQL 5.7+)."""

_pg_locks = table(
    "pg_locks",
    column("locktype"),
    column("database"),
    column("classid"),
    column("objid"),
    column("objsubid"),
    column("pid"),
    column("granted"),
    schema="pg_catalog",
)
_pg_database = table("pg_database", column("oid"), column("datname"), schema="pg_catalog")


def _digest(schema: str, workflow_name: str, run_id: str) -> bytes:
    name = json.dumps([NAMESPACE, schema, workflow_name, run_id], ensure_ascii=False)
    return hashlib.sha256(name.encode("utf-8")).digest()


def advisory_key(schema: str, workflow_name: str, run_id: str) -> int:
    """The signed 64-bit `pg_advisory_lock` key of one workflow run."""
    return int.from_bytes(_digest(schema, workflow_name, run_id)[:8], "big", signed=True)


def named_lock_name(database: str, workflow_name: str, run_id: str) -> str:
    """The `GET_LOCK` name of one workflow run in MySQL database `database`:
    `mastra_storage:` and 48 hex digits (192 bits of SHA-256), 63 characters."""
    hex_digits = _digest(database, workflow_name, run_id).hex()
    return NAMED_LOCK_PREFIX + hex_digits[: NAMED_LOCK_MAX - len(NAMED_LOCK_PREFIX) - 1]


def key_halves(key: int) -> tuple[int, int]:
    """`pg_locks` shows a bigint key as (classid, objid): its high and low 32 bits."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


def advisory_lock_held(*, by_this_session: bool = False) -> ColumnElement[bool]:
    """EXISTS: some session of this database (or this very session) holds the
    advisory lock whose key halves are bound as `p_key_high` and `p_key_low`."""
    this_database = (
        select(_pg_database.c.oid)
        .where(_pg_database.c.datname == func.current_database())
        .scalar_subquery()
    )
    conditions = [
        _pg_locks.c.locktype == "advisory",
        _pg_locks.c.database == this_database,
        _pg_locks.c.classid == bindparam("p_key_high", type_=BigInteger()),
        _pg_locks.c.objid == bindparam("p_key_low", type_=BigInteger()),
        _pg_locks.c.objsubid == 1,  # 1: one bigint key (2 would be two int4 keys)
        _pg_locks.c.granted.is_(True),
    ]
    if by_this_session:
        conditions.append(_pg_locks.c.pid == func.pg_backend_pid())
    return exists().where(and_(*conditions))


def named_lock_held(*, by_this_session: bool = False) -> ColumnElement[bool]:
    """Some session of the server (or this very session) holds the named lock
    bound as `p_lock_name`. `IS_USED_LOCK` answers the holder's connection id."""
    holder = func.is_used_lock(bindparam("p_lock_name", type_=String()), type_=BigInteger())
    return holder == func.connection_id() if by_this_session else holder.is_not(None)


RunLockKey = int | str
"""An advisory key (PostgreSQL) or a lock name (MySQL); 0 where there are none."""


def key_params(key: RunLockKey) -> dict[str, Any]:
    """The bound values that name `key` in the statements below."""
    if isinstance(key, str):
        return {"p_key": 0, "p_key_high": 0, "p_key_low": 0, "p_lock_name": key}
    high, low = key_halves(key)
    return {"p_key": key, "p_key_high": high, "p_key_low": low, "p_lock_name": ""}


@dataclass(frozen=True)
class SessionLocks:
    """One kind of session-level lock: how a run's key is made, and the
    statements (bound by `key_params`) that use it. Every statement is
    non-blocking: taking a held lock answers at once."""

    kind: str
    try_lock: Select[Any]
    """One value: true (or 1) when this session now holds the lock, false (0)
    when another session does, NULL when the server failed to say."""
    unlock: Select[Any]
    unlock_all: str
    """Plain SQL giving back every lock of this kind the session holds (run by
    the pool's reset hook on the raw DBAPI connection)."""
    current_schema: Select[Any]
    """The schema (MySQL: database) that goes into the key."""
    key: Callable[[str, str, str], RunLockKey]
    """(schema, workflow_name, run_id) -> the run's key."""
    held: Callable[..., ColumnElement[bool]]
    """`held(by_this_session=False)`: a condition, true while some session
    (or this one) holds the lock named by the bound key."""


_PG = SessionLocks(
    kind=PG_ADVISORY_LOCKS,
    try_lock=select(func.pg_try_advisory_lock(bindparam("p_key", type_=BigInteger()))),
    unlock=select(func.pg_advisory_unlock(bindparam("p_key", type_=BigInteger()))),
    unlock_all="SELECT pg_advisory_unlock_all()",
    current_schema=select(func.current_schema()),
    key=advisory_key,
    held=advisory_lock_held,
)
_NAMED = SessionLocks(
    kind=NAMED_LOCKS,
    # Timeout 0: never waits.
    try_lock=select(func.get_lock(bindparam("p_lock_name", type_=String()), 0)),
    unlock=select(func.release_lock(bindparam("p_lock_name", type_=String()))),
    # MySQL 5.7+, MariaDB 10.5+; on older servers the statement fails and the
    # pool closes the connection instead, which frees its locks just the same.
    unlock_all="SELECT RELEASE_ALL_LOCKS()",
    current_schema=select(func.database()),
    key=named_lock_name,
    held=named_lock_held,
)


def session_locks(feats: Features) -> SessionLocks | None:
    """The session-level locks of this database, or None (SQLite)."""
    return {PG_ADVISORY_LOCKS: _PG, NAMED_LOCKS: _NAMED}.get(feats.session_locks or "")
