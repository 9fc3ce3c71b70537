"""PostgreSQL advisory lock keys and how to see them in `pg_locks`.

A run's key is a stable 64-bit hash of a namespaced name: this library, the
schema holding our tables (so two schemas in one database never contend), the
workflow name and the run id.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import BigInteger, and_, bindparam, column, exists, func, select, table
from sqlalchemy.sql import ColumnElement

NAMESPACE = "mastra_storage.workflow_run_lock"

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


def advisory_key(schema: str, workflow_name: str, run_id: str) -> int:
    """The signed 64-bit `pg_advisory_lock` key of one workflow run."""
    name = json.dumps([NAMESPACE, schema, workflow_name, run_id], ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


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
