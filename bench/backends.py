"""The databases a run uses: a SQLite file in a temporary directory, a
PostgreSQL schema of its own and a MySQL/MariaDB database of its own, each
brought to head by the library's migrations, with raw bulk loaders for the
setup (which is not measured)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from mastra_storage import DefaultStorage, MastraStorage, MySQLStorage, PostgresStorage

from .clients import RawMySQL, RawPostgres, RawSqlite
from .data import BASE_TIME, bulk_message_rows, iso

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
MYSQL_CHUNK = 1_000
"""Rows per multi-row INSERT when bulk-loading MySQL."""


def pg_url_from_env() -> str:
    return os.environ.get(
        "MASTRA_STORAGE_BENCH_PG_URL",
        os.environ.get("MASTRA_STORAGE_TEST_PG_URL", DEFAULT_PG_URL),
    )


def mysql_url_from_env() -> str:
    return os.environ.get(
        "MASTRA_STORAGE_BENCH_MYSQL_URL",
        os.environ.get("MASTRA_STORAGE_TEST_MYSQL_URL", DEFAULT_MYSQL_URL),
    )


def pymysql_args(url: str, database: str | None = None) -> dict[str, Any]:
    """The SQLAlchemy URL as `pymysql.connect` keyword arguments."""
    parsed = make_url(url)
    args: dict[str, Any] = {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 3306,
        "user": parsed.username or "root",
        "password": parsed.password or "",
        "connect_timeout": 5,
    }
    if database or parsed.database:
        args["database"] = database or parsed.database
    return args


def mysql_problem(url: str) -> str | None:
    """None when MySQL/MariaDB answers, else why not."""
    try:
        import pymysql

        conn = pymysql.connect(**pymysql_args(url))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        finally:
            conn.close()
    except Exception as error:  # any failure means: not reachable (or no driver)
        return f"{type(error).__name__}: {error}".splitlines()[0]
    return None


def libpq_conninfo(url: str) -> str:
    """The SQLAlchemy URL as a libpq URL for plain psycopg."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def postgres_problem(url: str) -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        with psycopg.connect(libpq_conninfo(url), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as error:  # any failure means: not reachable
        return f"{type(error).__name__}: {error}".splitlines()[0]
    return None


@dataclass
class Database:
    """One benchmark database: the library's storage on it, a raw client on it,
    and raw bulk loaders."""

    backend: str  # "sqlite" | "postgresql" | "mysql"
    storage: MastraStorage
    raw: RawSqlite | RawPostgres | RawMySQL
    cleanup: list[Any] = field(default_factory=list)
    url: str = ""
    """Where it is: the library's URL (`file:PATH` for SQLite)."""
    schema: str | None = None
    """PostgreSQL: the schema of this run (MySQL: the database)."""

    def insert_threads(self, threads: Iterable[tuple[str, str]]) -> None:
        """(thread id, resource id) rows, created and updated at BASE_TIME."""
        rows = list(threads)
        if isinstance(self.raw, RawMySQL):
            naive = BASE_TIME.replace(tzinfo=None)
            self._mysql_insert(
                "INSERT INTO mastra_threads (id, `resourceId`, title, metadata, `createdAt`, "
                "`updatedAt`) VALUES (%s, %s, %s, %s, %s, %s)",
                [(t, r, "bench", '{"channel":"bench"}', naive, naive) for t, r in rows],
            )
        elif isinstance(self.raw, RawSqlite):
            stamp = iso(BASE_TIME)
            with _sqlite_transaction(self.raw.conn) as conn:
                conn.executemany(
                    'INSERT INTO mastra_threads (id, "resourceId", title, metadata, '
                    '"createdAt", "updatedAt") VALUES (?, ?, ?, ?, ?, ?)',
                    [(t, r, "bench", '{"channel":"bench"}', stamp, stamp) for t, r in rows],
                )
        else:
            naive = BASE_TIME.replace(tzinfo=None)
            with self.raw.conn.cursor() as cur:
                cur.executemany(
                    'INSERT INTO mastra_threads (id, "resourceId", title, metadata, "createdAt", '
                    '"updatedAt", "createdAtZ", "updatedAtZ") '
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (t, r, "bench", '{"channel":"bench"}', naive, naive, BASE_TIME, BASE_TIME)
                        for t, r in rows
                    ],
                )
            self.raw.conn.commit()

    def load_messages(self, thread_id: str, resource_id: str, first: int, last: int) -> float:
        """Bulk-load messages `first`..`last - 1` of a thread (1 ms apart from
        BASE_TIME); returns the seconds it took (ANALYZE included on PostgreSQL)."""
        start = time.perf_counter()
        rows = bulk_message_rows(thread_id, resource_id, first, last, seed=17)
        if isinstance(self.raw, RawMySQL):
            self._mysql_insert(
                "INSERT INTO mastra_messages (id, thread_id, content, role, type, `createdAt`, "
                "`resourceId`) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    (i, t, c, r, ty, at.replace(tzinfo=None), res)
                    for i, t, c, r, ty, at, res in rows
                ),
            )
            with self.raw.conn.cursor() as cur:
                cur.execute("ANALYZE TABLE mastra_messages")
                cur.fetchall()
        elif isinstance(self.raw, RawSqlite):
            with _sqlite_transaction(self.raw.conn) as conn:
                conn.executemany(
                    'INSERT INTO mastra_messages (id, thread_id, content, role, type, "createdAt", '
                    '"resourceId") VALUES (?, ?, ?, ?, ?, ?, ?)',
                    ((i, t, c, r, ty, iso(at), res) for i, t, c, r, ty, at, res in rows),
                )
            self.raw.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            pg = self.raw.conn
            with (
                pg.cursor() as cur,
                cur.copy(
                    'COPY mastra_messages (id, thread_id, content, role, type, "createdAt", '
                    '"resourceId", "createdAtZ") FROM STDIN'
                ) as copy,
            ):
                for i, t, c, r, ty, at, res in rows:
                    copy.write_row((i, t, c, r, ty, at.replace(tzinfo=None), res, at))
            pg.commit()
            pg.autocommit = True
            try:
                pg.execute("ANALYZE mastra_messages")
            finally:
                pg.autocommit = False
        return time.perf_counter() - start

    def _mysql_insert(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        """Multi-row INSERTs of MYSQL_CHUNK rows, committed at the end."""
        assert isinstance(self.raw, RawMySQL)
        conn = self.raw.conn
        chunk: list[tuple[Any, ...]] = []
        with conn.cursor() as cur:
            for row in rows:
                chunk.append(row)
                if len(chunk) == MYSQL_CHUNK:
                    cur.executemany(sql, chunk)
                    chunk = []
            if chunk:
                cur.executemany(sql, chunk)
        conn.commit()

    def close(self) -> None:
        self.raw.close()
        self.storage.close()
        for undo in reversed(self.cleanup):
            undo()


@contextmanager
def _sqlite_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def sqlite_database(label: str) -> Iterator[Database]:
    """A fresh SQLite file in a temporary directory, removed afterwards."""
    directory = tempfile.mkdtemp(prefix=f"mastra-bench-{label}-")
    path = os.path.join(directory, "bench.db")
    storage = DefaultStorage(name=f"bench-{label}", url=f"file:{path}")
    storage.init()
    database = Database("sqlite", storage, RawSqlite(path), url=f"file:{path}")
    database.cleanup.append(lambda: shutil.rmtree(directory, ignore_errors=True))
    try:
        yield database
    finally:
        database.close()


@contextmanager
def postgres_database(url: str, label: str) -> Iterator[Database]:
    """A fresh schema `bench_<label>_<random>` in the given database, dropped afterwards."""
    schema = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    storage = PostgresStorage(name=f"bench-{label}", url=url, schema=schema)
    storage.init()
    conninfo = libpq_conninfo(url)
    database = Database(
        "postgresql", storage, RawPostgres(conninfo, schema), url=url, schema=schema
    )

    def drop() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    database.cleanup.append(drop)
    try:
        yield database
    finally:
        database.close()


@contextmanager
def mysql_database(url: str, label: str) -> Iterator[Database]:
    """A fresh database `bench_<label>_<random>` (utf8mb4) on the server of
    `url`, dropped afterwards."""
    import pymysql

    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"

    def admin(sql: str) -> None:
        conn = pymysql.connect(**pymysql_args(url))
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        library_url = make_url(url).set(database=name).render_as_string(hide_password=False)
        storage = MySQLStorage(name=f"bench-{label}", url=library_url)
        storage.init()
        raw = RawMySQL(pymysql_args(url, name))
    except BaseException:
        admin(f"DROP DATABASE IF EXISTS `{name}`")
        raise
    database = Database("mysql", storage, raw, url=library_url, schema=name)
    database.cleanup.append(lambda: admin(f"DROP DATABASE IF EXISTS `{name}`"))
    try:
        yield database
    finally:
        database.close()


@contextmanager
def open_database(backend: str, url: str, label: str) -> Iterator[Database]:
    """`url`: the server of PostgreSQL or MySQL (unused for SQLite)."""
    if backend == "sqlite":
        with sqlite_database(label) as database:
            yield database
    elif backend == "mysql":
        with mysql_database(url, label) as database:
            yield database
    else:
        with postgres_database(url, label) as database:
            yield database


def message_id(thread_id: str, n: int) -> str:
    """The id `bulk_message_rows` gives message number `n` of a thread."""
    return f"{thread_id}-{n:08d}"
