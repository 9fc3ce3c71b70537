"""Raw baselines for a workflow run lock taken and released.

They do the work of the library's lock backends (`mastra_storage/locks/`,
read when this was written), statement for statement:

- PostgreSQL ("advisory"), on a dedicated autocommit connection:
  `pg_try_advisory_lock(key)`; the lock-row claim (an UPDATE ... RETURNING
  the new fencing token, or an INSERT ... ON CONFLICT DO NOTHING for a run
  without a row); on release, `pg_advisory_unlock(key)`.
- MySQL/MariaDB ("advisory" on named locks), on a dedicated autocommit
  connection: `GET_LOCK(name, 0)`; the same claim, its new token set through
  `LAST_INSERT_ID(fencing_token + 1)` and read from the OK packet (no
  RETURNING there), or for a run without a row an INSERT of a free row and the
  claim again; on release, `RELEASE_LOCK(name)`.
- SQLite ("lease"): the same claim in one `BEGIN IMMEDIATE` transaction, with
  the lease's expiry condition; on release, the row's holder and expiry
  cleared in another.

The workload re-locks a set of runs that were locked before (their rows
exist), the steady state of a worker resuming runs.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from .backends import Database
from .clients import RawMySQL, RawSqlite

LockCycle = Callable[[str, str], object]
_HOLDER = f"bench-raw@{uuid.uuid4().hex[:12]}"
_TABLE = "mastra_workflow_run_locks"
_TTL_MS = 1_800_000


def _advisory_key(schema: str, workflow_name: str, run_id: str) -> int:
    name = json.dumps(
        ["mastra_storage.workflow_run_lock", schema, workflow_name, run_id], ensure_ascii=False
    )
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


def _named_lock(database: str, workflow_name: str, run_id: str) -> str:
    name = json.dumps(
        ["mastra_storage.workflow_run_lock", database, workflow_name, run_id], ensure_ascii=False
    )
    return "mastra_storage:" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:48]


def raw_lock_cycle(database: Database) -> tuple[LockCycle, str]:
    """The raw acquire + release for this database, and what it is compared with."""
    if isinstance(database.raw, RawSqlite):
        return _sqlite_lease(database.raw.conn), "lease backend"
    if isinstance(database.raw, RawMySQL):
        import pymysql

        conn = pymysql.connect(**database.raw.connect_args, charset="utf8mb4", autocommit=True)
        database.cleanup.append(conn.close)
        return _mysql_named(conn, database.schema or ""), "advisory backend: named locks"
    conn = psycopg.connect(
        database.raw.conninfo, options=f"-csearch_path={database.raw.schema}", autocommit=True
    )
    database.cleanup.append(conn.close)
    return _postgres_advisory(conn, database.raw.schema), "advisory backend"


def _postgres_advisory(conn: psycopg.Connection[Any], schema: str) -> LockCycle:
    now = "timezone('UTC', statement_timestamp())"
    later = f"{now} + %(ttl)s * interval '1 millisecond'"
    claim = (
        f"UPDATE {_TABLE} SET holder = %(holder)s, backend = 'advisory', "
        f"fencing_token = fencing_token + 1, acquired_at = {now}, expires_at = {later} "
        "WHERE workflow_name = %(workflow)s AND run_id = %(run)s AND (backend = 'advisory' "
        f"OR NOT (holder IS NOT NULL AND expires_at > {now})) RETURNING fencing_token"
    )
    first_row = (
        f"INSERT INTO {_TABLE} (workflow_name, run_id, holder, backend, fencing_token, "
        f"acquired_at, expires_at) VALUES (%(workflow)s, %(run)s, %(holder)s, 'advisory', 1, "
        f"{now}, {later}) ON CONFLICT (workflow_name, run_id) DO NOTHING RETURNING fencing_token"
    )

    def cycle(workflow_name: str, run_id: str) -> object:
        key = _advisory_key(schema, workflow_name, run_id)
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if row is None or not row[0]:
            raise RuntimeError("advisory lock not acquired")
        values = {"holder": _HOLDER, "workflow": workflow_name, "run": run_id, "ttl": _TTL_MS}
        token = conn.execute(claim, values).fetchone() or conn.execute(first_row, values).fetchone()
        if token is None:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            raise RuntimeError("lock row not taken")
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return token[0]

    return cycle


def _mysql_named(conn: Any, schema: str) -> LockCycle:
    now = "UTC_TIMESTAMP(3)"
    later = f"{now} + INTERVAL %(ttl)s * 1000 MICROSECOND"
    claim = (
        f"UPDATE {_TABLE} SET holder = %(holder)s, backend = 'advisory', "
        f"fencing_token = LAST_INSERT_ID(fencing_token + 1), acquired_at = {now}, "
        f"expires_at = {later} WHERE workflow_name = %(workflow)s AND run_id = %(run)s "
        f"AND (backend = 'advisory' OR NOT (holder IS NOT NULL AND expires_at > {now}))"
    )
    free_row = (
        f"INSERT INTO {_TABLE} (workflow_name, run_id, holder, backend, fencing_token) "
        "VALUES (%(workflow)s, %(run)s, NULL, 'advisory', 0) "
        "ON DUPLICATE KEY UPDATE fencing_token = fencing_token"
    )
    cur = conn.cursor()

    def cycle(workflow_name: str, run_id: str) -> object:
        name = _named_lock(schema, workflow_name, run_id)
        cur.execute("SELECT GET_LOCK(%s, 0)", (name,))
        if cur.fetchone()[0] != 1:
            raise RuntimeError("named lock not acquired")
        values = {"holder": _HOLDER, "workflow": workflow_name, "run": run_id, "ttl": _TTL_MS}
        if cur.execute(claim, values) != 1:
            cur.execute(free_row, values)
            if cur.execute(claim, values) != 1:
                cur.execute("SELECT RELEASE_LOCK(%s)", (name,))
                cur.fetchall()
                raise RuntimeError("lock row not taken")
        token = cur.lastrowid
        cur.execute("SELECT RELEASE_LOCK(%s)", (name,))
        cur.fetchall()
        return token

    return cycle


def _sqlite_lease(conn: sqlite3.Connection) -> LockCycle:
    now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    later = "strftime('%Y-%m-%dT%H:%M:%fZ', julianday('now') + :ttl / 86400000.0)"
    claim = (
        f"UPDATE {_TABLE} SET holder = :holder, backend = 'lease', "
        f"fencing_token = fencing_token + 1, acquired_at = {now}, expires_at = {later} "
        "WHERE workflow_name = :workflow AND run_id = :run "
        f"AND NOT (holder IS NOT NULL AND expires_at > {now}) RETURNING fencing_token"
    )
    first_row = (
        f"INSERT INTO {_TABLE} (workflow_name, run_id, holder, backend, fencing_token, "
        f"acquired_at, expires_at) VALUES (:workflow, :run, :holder, 'lease', 1, {now}, "
        f"{later}) ON CONFLICT (workflow_name, run_id) DO NOTHING RETURNING fencing_token"
    )
    clear = (
        f"UPDATE {_TABLE} SET holder = NULL, expires_at = NULL WHERE workflow_name = :workflow "
        "AND run_id = :run AND holder = :holder AND fencing_token = :token"
    )

    def transaction(sql: str, values: dict[str, Any], *more: str) -> Any:
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(sql, values).fetchone()
            for other in more:
                if row is not None:
                    break
                row = conn.execute(other, values).fetchone()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return row

    def cycle(workflow_name: str, run_id: str) -> object:
        values = {"holder": _HOLDER, "workflow": workflow_name, "run": run_id, "ttl": _TTL_MS}
        token = transaction(claim, values, first_row)
        if token is None:
            raise RuntimeError("lease not taken")
        transaction(clear, {**values, "token": token[0]})
        return token[0]

    return cycle
