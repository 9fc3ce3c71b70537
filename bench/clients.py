"""The two sides of every comparison: the library, and a raw baseline per driver.

Each raw baseline is what a careful developer would hand-write on the plain
driver to do the same work as the library call, on the same tables (created
by the library's migrations) and in the same value formats:

- one transaction per call, as the library promises: on SQLite `BEGIN
  IMMEDIATE ... COMMIT` for writes and `BEGIN ... COMMIT` for reads of more
  than one statement (a single SELECT is its own transaction already); on
  PostgreSQL the driver's default, a transaction opened by the first
  statement and committed at the end;
- SQLite: ISO `...Z` text timestamps, JSON text; PostgreSQL: `timestamp`
  columns holding UTC plus their `"<col>Z"` timestamptz twins, `jsonb`;
- message content written as JSON text and parsed back with `json.loads`,
  timestamps read back as aware datetimes: the values a caller can use, but
  as plain dicts, with no validation.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

import psycopg
from psycopg.types.json import Jsonb

from mastra_storage import MastraStorage

from .data import dumps, iso

UTC = timezone.utc
MESSAGE_COLUMNS = 'id, thread_id, content, role, type, "createdAt", "resourceId"'
THREAD_COLUMNS = 'id, "resourceId", title, metadata, "createdAt", "updatedAt"'


def now_ms() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


class Client(Protocol):
    """What each workload calls; the library and each raw baseline implement it."""

    def save_messages(self, batch: Sequence[dict[str, Any]]) -> object: ...
    def list_page(self, thread_id: str, page: int) -> object: ...
    def last_messages(self, thread_id: str, n: int) -> object: ...
    def context_window(
        self, thread_id: str, message_id: str, before: int, after: int
    ) -> object: ...
    def get_thread(self, thread_id: str) -> object: ...
    def persist_snapshot(self, workflow: str, run_id: str, snapshot: dict[str, Any]) -> object: ...
    def load_snapshot(self, workflow: str, run_id: str) -> object: ...
    def update_results(self, workflow: str, run_id: str, step: str, result: Any) -> object: ...
    def lock_cycle(self, workflow: str, run_id: str) -> object: ...
    def close(self) -> None: ...


# -- the library ----------------------------------------------------------------------


class LibraryClient:
    """Every call through the public API of a `MastraStorage`."""

    def __init__(self, storage: MastraStorage) -> None:
        self.storage = storage

    @property
    def has_locks(self) -> bool:
        return hasattr(self.storage, "try_acquire_workflow_run_lock") and hasattr(
            self.storage, "release_workflow_run_lock"
        )

    def save_messages(self, batch: Sequence[dict[str, Any]]) -> object:
        return self.storage.save_messages(messages=batch)

    def list_page(self, thread_id: str, page: int) -> object:
        return self.storage.list_messages(thread_id=thread_id, page=page, per_page=40)

    def last_messages(self, thread_id: str, n: int) -> object:
        return self.storage.list_messages(
            thread_id=thread_id, per_page=n, direction="DESC", count_total=False
        )

    def context_window(self, thread_id: str, message_id: str, before: int, after: int) -> object:
        return self.storage.list_messages(
            thread_id=thread_id,
            per_page=0,
            count_total=False,
            include=[
                {
                    "id": message_id,
                    "with_previous_messages": before,
                    "with_next_messages": after,
                }
            ],
        )

    def get_thread(self, thread_id: str) -> object:
        return self.storage.get_thread_by_id(thread_id=thread_id)

    def persist_snapshot(self, workflow: str, run_id: str, snapshot: dict[str, Any]) -> object:
        self.storage.persist_workflow_snapshot(
            workflow_name=workflow, run_id=run_id, snapshot=snapshot
        )
        return None

    def load_snapshot(self, workflow: str, run_id: str) -> object:
        return self.storage.load_workflow_snapshot(workflow_name=workflow, run_id=run_id)

    def update_results(self, workflow: str, run_id: str, step: str, result: Any) -> object:
        return self.storage.update_workflow_results(
            workflow_name=workflow, run_id=run_id, step_id=step, result=result
        )

    def lock_cycle(self, workflow: str, run_id: str) -> object:
        storage: Any = self.storage
        if not storage.try_acquire_workflow_run_lock(workflow_name=workflow, run_id=run_id):
            raise RuntimeError(f"lock on {workflow}/{run_id} not acquired")
        storage.release_workflow_run_lock(workflow_name=workflow, run_id=run_id)
        return None

    def close(self) -> None:
        self.storage.close()


# -- raw sqlite3 --------------------------------------------------------------------------


def _sqlite_time(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


def _sqlite_message(row: Sequence[Any]) -> dict[str, Any]:
    return {
        "id": row[0],
        "thread_id": row[1],
        "content": json.loads(row[2]),
        "role": row[3],
        "type": row[4],
        "created_at": _sqlite_time(row[5]),
        "resource_id": row[6],
    }


class RawSqlite:
    """Hand-written SQL on `sqlite3`, with the library's pragmas (WAL,
    synchronous=NORMAL, busy_timeout) and `BEGIN IMMEDIATE` for writes."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA busy_timeout = 30000")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.held_locks: set[tuple[str, str]] = set()

    def _transaction(self, work: Callable[[sqlite3.Connection], Any], *, write: bool) -> Any:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            result = work(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def save_messages(self, batch: Sequence[dict[str, Any]]) -> object:
        thread_ids = sorted({m["thread_id"] for m in batch})
        marks = ",".join("?" * len(thread_ids))

        def work(conn: sqlite3.Connection) -> None:
            rows = conn.execute(
                f'SELECT id, "resourceId" FROM mastra_threads WHERE id IN ({marks})', thread_ids
            ).fetchall()
            resource = dict(rows)
            if len(resource) != len(thread_ids):
                raise LookupError("thread not found")
            conn.executemany(
                f"INSERT INTO mastra_messages ({MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET thread_id = excluded.thread_id, "
                "content = excluded.content, role = excluded.role, type = excluded.type, "
                '"resourceId" = excluded."resourceId"',
                [
                    (
                        m["id"],
                        m["thread_id"],
                        dumps(m["content"]),
                        m["role"],
                        "v2",
                        iso(m["created_at"]),
                        resource[m["thread_id"]],
                    )
                    for m in batch
                ],
            )
            conn.execute(
                f'UPDATE mastra_threads SET "updatedAt" = ? WHERE id IN ({marks})',
                [iso(now_ms()), *thread_ids],
            )

        return self._transaction(work, write=True)

    def list_page(self, thread_id: str, page: int) -> object:
        def work(conn: sqlite3.Connection) -> tuple[list[dict[str, Any]], int, bool]:
            (total,) = conn.execute(
                "SELECT count(*) FROM mastra_messages WHERE thread_id = ?", (thread_id,)
            ).fetchone()
            rows = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM mastra_messages WHERE thread_id = ? "
                'ORDER BY "createdAt", id LIMIT 41 OFFSET ?',
                (thread_id, page * 40),
            ).fetchall()
            return [_sqlite_message(r) for r in rows[:40]], total, len(rows) > 40

        return self._transaction(work, write=False)

    def last_messages(self, thread_id: str, n: int) -> object:
        rows = self.conn.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM mastra_messages WHERE thread_id = ? "
            'ORDER BY "createdAt" DESC, id DESC LIMIT ?',
            (thread_id, n + 1),
        ).fetchall()
        return [_sqlite_message(r) for r in rows[:n]], len(rows) > n

    def context_window(self, thread_id: str, message_id: str, before: int, after: int) -> object:
        # The target's own thread is read from its row, as the library does.
        def work(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            target = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM mastra_messages WHERE id = ?", (message_id,)
            ).fetchone()
            if target is None:
                return []
            key = (target[1], target[5], target[0])
            older = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM mastra_messages "
                'WHERE thread_id = ? AND ("createdAt", id) < (?, ?) '
                'ORDER BY "createdAt" DESC, id DESC LIMIT ?',
                (*key, before),
            ).fetchall()
            newer = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM mastra_messages "
                'WHERE thread_id = ? AND ("createdAt", id) > (?, ?) '
                'ORDER BY "createdAt", id LIMIT ?',
                (*key, after),
            ).fetchall()
            return [_sqlite_message(r) for r in [*reversed(older), target, *newer]]

        return self._transaction(work, write=False)

    def get_thread(self, thread_id: str) -> object:
        row = self.conn.execute(
            f"SELECT {THREAD_COLUMNS} FROM mastra_threads WHERE id = ?", (thread_id,)
        ).fetchone()
        if row is None:
            return None
        return {
            "id": row[0],
            "resource_id": row[1],
            "title": row[2],
            "metadata": None if row[3] is None else json.loads(row[3]),
            "created_at": _sqlite_time(row[4]),
            "updated_at": _sqlite_time(row[5]),
        }

    def persist_snapshot(self, workflow: str, run_id: str, snapshot: dict[str, Any]) -> object:
        now = iso(now_ms())
        text = dumps(snapshot)

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO mastra_workflow_snapshot "
                '(workflow_name, run_id, "resourceId", snapshot, "createdAt", "updatedAt") '
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (workflow_name, run_id) DO UPDATE SET "
                'snapshot = excluded.snapshot, "updatedAt" = excluded."updatedAt", '
                '"resourceId" = coalesce(excluded."resourceId", '
                'mastra_workflow_snapshot."resourceId")',
                (workflow, run_id, None, text, now, now),
            )

        return self._transaction(work, write=True)

    def load_snapshot(self, workflow: str, run_id: str) -> object:
        row = self.conn.execute(
            "SELECT snapshot FROM mastra_workflow_snapshot WHERE workflow_name = ? AND run_id = ?",
            (workflow, run_id),
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def update_results(self, workflow: str, run_id: str, step: str, result: Any) -> object:
        def work(conn: sqlite3.Connection) -> dict[str, Any]:
            row = conn.execute(
                "SELECT snapshot FROM mastra_workflow_snapshot "
                "WHERE workflow_name = ? AND run_id = ?",
                (workflow, run_id),
            ).fetchone()
            if row is None:
                return {}
            snapshot = json.loads(row[0])
            context = dict(snapshot.get("context") or {})
            context[step] = result
            snapshot["context"] = context
            conn.execute(
                'UPDATE mastra_workflow_snapshot SET snapshot = ?, "updatedAt" = ? '
                "WHERE workflow_name = ? AND run_id = ?",
                (dumps(snapshot), iso(now_ms()), workflow, run_id),
            )
            return context

        return self._transaction(work, write=True)

    def lock_cycle(self, workflow: str, run_id: str) -> object:
        raise NotImplementedError("set per lock backend by bench.locks")

    def close(self) -> None:
        self.conn.close()


# -- raw psycopg --------------------------------------------------------------------------


def _pg_message(row: Sequence[Any]) -> dict[str, Any]:
    return {
        "id": row[0],
        "thread_id": row[1],
        "content": json.loads(row[2]),
        "role": row[3],
        "type": row[4],
        "created_at": row[5].replace(tzinfo=UTC),
        "resource_id": row[6],
    }


class RawPostgres:
    """Hand-written SQL on `psycopg` (one connection, the driver's default
    transactions: opened by the first statement, committed at the end)."""

    def __init__(self, conninfo: str, schema: str) -> None:
        self.conninfo = conninfo
        self.schema = schema
        self.conn = psycopg.connect(conninfo, options=f"-csearch_path={schema}")

    def _transaction(self, work: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        conn = self.conn
        try:
            result = work(conn)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        return result

    def save_messages(self, batch: Sequence[dict[str, Any]]) -> object:
        thread_ids = sorted({m["thread_id"] for m in batch})
        now = now_ms()

        def work(conn: psycopg.Connection[Any]) -> None:
            with conn.cursor() as cur:
                cur.execute(
                    'SELECT id, "resourceId" FROM mastra_threads WHERE id = ANY(%s)', (thread_ids,)
                )
                resource = dict(cur.fetchall())
                if len(resource) != len(thread_ids):
                    raise LookupError("thread not found")
                cur.executemany(
                    f'INSERT INTO mastra_messages ({MESSAGE_COLUMNS}, "createdAtZ") '
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (id) DO UPDATE SET thread_id = excluded.thread_id, "
                    "content = excluded.content, role = excluded.role, type = excluded.type, "
                    '"resourceId" = excluded."resourceId"',
                    [
                        (
                            m["id"],
                            m["thread_id"],
                            dumps(m["content"]),
                            m["role"],
                            "v2",
                            m["created_at"].astimezone(UTC).replace(tzinfo=None),
                            resource[m["thread_id"]],
                            m["created_at"],
                        )
                        for m in batch
                    ],
                )
                cur.execute(
                    'UPDATE mastra_threads SET "updatedAt" = %s, "updatedAtZ" = %s '
                    "WHERE id = ANY(%s)",
                    (now.replace(tzinfo=None), now, thread_ids),
                )

        return self._transaction(work)

    def list_page(self, thread_id: str, page: int) -> object:
        def work(conn: psycopg.Connection[Any]) -> tuple[list[dict[str, Any]], int, bool]:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM mastra_messages WHERE thread_id = %s", (thread_id,)
                )
                (total,) = cur.fetchone()  # type: ignore[misc]
                cur.execute(
                    f"SELECT {MESSAGE_COLUMNS} FROM mastra_messages WHERE thread_id = %s "
                    'ORDER BY "createdAt", id LIMIT 41 OFFSET %s',
                    (thread_id, page * 40),
                )
                rows = cur.fetchall()
            return [_pg_message(r) for r in rows[:40]], total, len(rows) > 40

        return self._transaction(work)

    def last_messages(self, thread_id: str, n: int) -> object:
        def work(conn: psycopg.Connection[Any]) -> tuple[list[dict[str, Any]], bool]:
            rows = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM mastra_messages WHERE thread_id = %s "
                'ORDER BY "createdAt" DESC, id DESC LIMIT %s',
                (thread_id, n + 1),
            ).fetchall()
            return [_pg_message(r) for r in rows[:n]], len(rows) > n

        return self._transaction(work)

    def context_window(self, thread_id: str, message_id: str, before: int, after: int) -> object:
        # The target's own thread is read from its row, as the library does.
        def work(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
            with conn.cursor() as cur:
                cur.execute(
                    f"SELECT {MESSAGE_COLUMNS} FROM mastra_messages WHERE id = %s", (message_id,)
                )
                target = cur.fetchone()
                if target is None:
                    return []
                key = (target[1], target[5], target[0])
                cur.execute(
                    f"SELECT {MESSAGE_COLUMNS} FROM mastra_messages "
                    'WHERE thread_id = %s AND ("createdAt", id) < (%s, %s) '
                    'ORDER BY "createdAt" DESC, id DESC LIMIT %s',
                    (*key, before),
                )
                older = cur.fetchall()
                cur.execute(
                    f"SELECT {MESSAGE_COLUMNS} FROM mastra_messages "
                    'WHERE thread_id = %s AND ("createdAt", id) > (%s, %s) '
                    'ORDER BY "createdAt", id LIMIT %s',
                    (*key, after),
                )
                newer = cur.fetchall()
            return [_pg_message(r) for r in [*reversed(older), target, *newer]]

        return self._transaction(work)

    def get_thread(self, thread_id: str) -> object:
        def work(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
            row = conn.execute(
                f"SELECT {THREAD_COLUMNS} FROM mastra_threads WHERE id = %s", (thread_id,)
            ).fetchone()
            if row is None:
                return None
            return {
                "id": row[0],
                "resource_id": row[1],
                "title": row[2],
                "metadata": row[3],
                "created_at": row[4].replace(tzinfo=UTC),
                "updated_at": row[5].replace(tzinfo=UTC),
            }

        return self._transaction(work)

    def persist_snapshot(self, workflow: str, run_id: str, snapshot: dict[str, Any]) -> object:
        now = now_ms()
        naive = now.replace(tzinfo=None)

        def work(conn: psycopg.Connection[Any]) -> None:
            conn.execute(
                "INSERT INTO mastra_workflow_snapshot (workflow_name, run_id, "
                '"resourceId", snapshot, "createdAt", "updatedAt", "createdAtZ", "updatedAtZ") '
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (workflow_name, run_id) DO UPDATE SET "
                'snapshot = excluded.snapshot, "updatedAt" = excluded."updatedAt", '
                '"updatedAtZ" = excluded."updatedAtZ", '
                '"resourceId" = coalesce(excluded."resourceId", '
                'mastra_workflow_snapshot."resourceId")',
                (workflow, run_id, None, Jsonb(snapshot, dumps), naive, naive, now, now),
            )

        return self._transaction(work)

    def load_snapshot(self, workflow: str, run_id: str) -> object:
        def work(conn: psycopg.Connection[Any]) -> Any:
            row = conn.execute(
                "SELECT snapshot FROM mastra_workflow_snapshot "
                "WHERE workflow_name = %s AND run_id = %s",
                (workflow, run_id),
            ).fetchone()
            return None if row is None else row[0]

        return self._transaction(work)

    def update_results(self, workflow: str, run_id: str, step: str, result: Any) -> object:
        now = now_ms()

        def work(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            row = conn.execute(
                "SELECT snapshot FROM mastra_workflow_snapshot "
                "WHERE workflow_name = %s AND run_id = %s FOR UPDATE",
                (workflow, run_id),
            ).fetchone()
            if row is None:
                return {}
            snapshot = row[0]
            context = dict(snapshot.get("context") or {})
            context[step] = result
            snapshot["context"] = context
            conn.execute(
                'UPDATE mastra_workflow_snapshot SET snapshot = %s, "updatedAt" = %s, '
                '"updatedAtZ" = %s WHERE workflow_name = %s AND run_id = %s',
                (Jsonb(snapshot, dumps), now.replace(tzinfo=None), now, workflow, run_id),
            )
            return context

        return self._transaction(work)

    def lock_cycle(self, workflow: str, run_id: str) -> object:
        raise NotImplementedError("set per lock backend by bench.locks")

    def close(self) -> None:
        self.conn.close()


# -- raw PyMySQL --------------------------------------------------------------------------

THREAD_INDEX_HINT = "FORCE INDEX (mastra_messages_thread_id_createdat_id_idx)"
MYSQL_MESSAGE_COLUMNS = "id, thread_id, content, role, type, `createdAt`, `resourceId`"
MYSQL_THREAD_COLUMNS = "id, `resourceId`, title, metadata, `createdAt`, `updatedAt`"


def _mysql_time(value: datetime) -> datetime:
    """`DATETIME(3)` holds UTC: the driver's naive value, made aware."""
    return value.replace(tzinfo=UTC)


def _mysql_naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _mysql_message(row: Sequence[Any]) -> dict[str, Any]:
    return {
        "id": row[0],
        "thread_id": row[1],
        "content": json.loads(row[2]),
        "role": row[3],
        "type": row[4],
        "created_at": _mysql_time(row[5]),
        "resource_id": row[6],
    }


class RawMySQL:
    """Hand-written SQL on `pymysql` (one connection, utf8mb4, autocommit off:
    each call one transaction, committed at the end), as a careful developer
    writes it for InnoDB: `ON DUPLICATE KEY UPDATE` upserts, multi-row
    `executemany` inserts, `SELECT ... FOR UPDATE`, and cursor conditions
    spelled out (`a < x OR (a = x AND b < y)`) so the index range is used."""

    def __init__(self, connect: dict[str, Any]) -> None:
        import pymysql

        self.connect_args = connect
        self.conn = pymysql.connect(**connect, charset="utf8mb4", autocommit=False)

    def _transaction(self, work: Callable[[Any], Any]) -> Any:
        try:
            with self.conn.cursor() as cur:
                result = work(cur)
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()
        return result

    def save_messages(self, batch: Sequence[dict[str, Any]]) -> object:
        thread_ids = sorted({m["thread_id"] for m in batch})
        marks = ", ".join(["%s"] * len(thread_ids))
        now = _mysql_naive(now_ms())

        def work(cur: Any) -> None:
            cur.execute(
                f"SELECT id, `resourceId` FROM mastra_threads WHERE id IN ({marks})", thread_ids
            )
            resource = dict(cur.fetchall())
            if len(resource) != len(thread_ids):
                raise LookupError("thread not found")
            cur.executemany(  # PyMySQL sends one multi-row INSERT
                f"INSERT INTO mastra_messages ({MYSQL_MESSAGE_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON DUPLICATE KEY UPDATE thread_id = VALUES(thread_id), "
                "content = VALUES(content), role = VALUES(role), type = VALUES(type), "
                "`resourceId` = VALUES(`resourceId`)",
                [
                    (
                        m["id"],
                        m["thread_id"],
                        dumps(m["content"]),
                        m["role"],
                        "v2",
                        _mysql_naive(m["created_at"]),
                        resource[m["thread_id"]],
                    )
                    for m in batch
                ],
            )
            cur.execute(
                f"UPDATE mastra_threads SET `updatedAt` = %s WHERE id IN ({marks})",
                [now, *thread_ids],
            )

        return self._transaction(work)

    def list_page(self, thread_id: str, page: int) -> object:
        def work(cur: Any) -> tuple[list[dict[str, Any]], int, bool]:
            cur.execute("SELECT count(*) FROM mastra_messages WHERE thread_id = %s", (thread_id,))
            (total,) = cur.fetchone()
            cur.execute(
                f"SELECT {MYSQL_MESSAGE_COLUMNS} FROM mastra_messages WHERE thread_id = %s "
                "ORDER BY `createdAt`, id LIMIT 41 OFFSET %s",
                (thread_id, page * 40),
            )
            rows = cur.fetchall()
            return [_mysql_message(r) for r in rows[:40]], total, len(rows) > 40

        return self._transaction(work)

    def last_messages(self, thread_id: str, n: int) -> object:
        def work(cur: Any) -> tuple[list[dict[str, Any]], bool]:
            cur.execute(
                f"SELECT {MYSQL_MESSAGE_COLUMNS} FROM mastra_messages WHERE thread_id = %s "
                "ORDER BY `createdAt` DESC, id DESC LIMIT %s",
                (thread_id, n + 1),
            )
            rows = cur.fetchall()
            return [_mysql_message(r) for r in rows[:n]], len(rows) > n

        return self._transaction(work)

    def context_window(self, thread_id: str, message_id: str, before: int, after: int) -> object:
        # The target's own thread is read from its row, as the library does.
        def work(cur: Any) -> list[dict[str, Any]]:
            cur.execute(
                f"SELECT {MYSQL_MESSAGE_COLUMNS} FROM mastra_messages WHERE id = %s", (message_id,)
            )
            target = cur.fetchone()
            if target is None:
                return []
            thread, at, key = target[1], target[5], target[0]
            # FORCE INDEX: MariaDB 10.11 otherwise may take the thread prefix
            # alone and scan backwards from the thread's end to the cursor.
            cur.execute(
                f"SELECT {MYSQL_MESSAGE_COLUMNS} FROM mastra_messages {THREAD_INDEX_HINT} "
                "WHERE thread_id = %s "
                "AND (`createdAt` < %s OR (`createdAt` = %s AND id < %s)) "
                "ORDER BY `createdAt` DESC, id DESC LIMIT %s",
                (thread, at, at, key, before),
            )
            older = cur.fetchall()
            cur.execute(
                f"SELECT {MYSQL_MESSAGE_COLUMNS} FROM mastra_messages {THREAD_INDEX_HINT} "
                "WHERE thread_id = %s "
                "AND (`createdAt` > %s OR (`createdAt` = %s AND id > %s)) "
                "ORDER BY `createdAt`, id LIMIT %s",
                (thread, at, at, key, after),
            )
            newer = cur.fetchall()
            return [_mysql_message(r) for r in [*reversed(older), target, *newer]]

        return self._transaction(work)

    def get_thread(self, thread_id: str) -> object:
        def work(cur: Any) -> dict[str, Any] | None:
            cur.execute(
                f"SELECT {MYSQL_THREAD_COLUMNS} FROM mastra_threads WHERE id = %s", (thread_id,)
            )
            row = cur.fetchone()
            if row is None:
                return None
            return {
                "id": row[0],
                "resource_id": row[1],
                "title": row[2],
                "metadata": None if row[3] is None else json.loads(row[3]),
                "created_at": _mysql_time(row[4]),
                "updated_at": _mysql_time(row[5]),
            }

        return self._transaction(work)

    def persist_snapshot(self, workflow: str, run_id: str, snapshot: dict[str, Any]) -> object:
        now = _mysql_naive(now_ms())

        def work(cur: Any) -> None:
            cur.execute(
                "INSERT INTO mastra_workflow_snapshot (workflow_name, run_id, `resourceId`, "
                "snapshot, `createdAt`, `updatedAt`) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON DUPLICATE KEY UPDATE snapshot = VALUES(snapshot), "
                "`updatedAt` = VALUES(`updatedAt`), "
                "`resourceId` = COALESCE(VALUES(`resourceId`), `resourceId`)",
                (workflow, run_id, None, dumps(snapshot), now, now),
            )

        return self._transaction(work)

    def load_snapshot(self, workflow: str, run_id: str) -> object:
        def work(cur: Any) -> Any:
            cur.execute(
                "SELECT snapshot FROM mastra_workflow_snapshot "
                "WHERE workflow_name = %s AND run_id = %s",
                (workflow, run_id),
            )
            row = cur.fetchone()
            return None if row is None else json.loads(row[0])

        return self._transaction(work)

    def update_results(self, workflow: str, run_id: str, step: str, result: Any) -> object:
        now = _mysql_naive(now_ms())

        def work(cur: Any) -> dict[str, Any]:
            cur.execute(
                "SELECT snapshot FROM mastra_workflow_snapshot "
                "WHERE workflow_name = %s AND run_id = %s FOR UPDATE",
                (workflow, run_id),
            )
            row = cur.fetchone()
            if row is None:
                return {}
            snapshot = json.loads(row[0])
            context = dict(snapshot.get("context") or {})
            context[step] = result
            snapshot["context"] = context
            cur.execute(
                "UPDATE mastra_workflow_snapshot SET snapshot = %s, `updatedAt` = %s "
                "WHERE workflow_name = %s AND run_id = %s",
                (dumps(snapshot), now, workflow, run_id),
            )
            return context

        return self._transaction(work)

    def lock_cycle(self, workflow: str, run_id: str) -> object:
        raise NotImplementedError("set per lock backend by bench.locks")

    def close(self) -> None:
        self.conn.close()
