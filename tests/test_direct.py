"""Single-statement calls on SQLite run their prebuilt statement directly on
the pooled DBAPI connection (`mastra_storage.direct`): the same results,
errors and bounds as through SQLAlchemy, nothing watched is bypassed."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import SingletonThreadPool, StaticPool
from support import PAST, POINT_READS, SNAPSHOT, snapshot_row_locked
from support import fill_single_statement_data as fill

from mastra_storage import (
    AsyncDefaultStorage,
    AsyncPostgresStorage,
    DefaultStorage,
    MastraStorage,
    PostgresStorage,
    async_storage,
    direct,
    operations,
)
from mastra_storage.engines import create_async_engine_for_url
from mastra_storage.errors import (
    ConnectionLostError,
    StorageError,
    StorageTimeoutError,
)
from mastra_storage.held_connection import HeldConnection
from mastra_storage.memory import AsyncMemory, Memory
from mastra_storage.sqlite_worker import SQLiteWorker

# Every call that runs directly on SQLite, as a user makes it.
CALLS: dict[str, Callable[[MastraStorage], Any]] = {
    "get_thread_by_id": lambda s: s.get_thread_by_id(thread_id="t1"),
    "get_thread_by_id (other resource)": lambda s: s.get_thread_by_id(
        thread_id="t1", resource_id="r2"
    ),
    "get_resource_by_id": lambda s: s.get_resource_by_id(resource_id="r1"),
    "load_workflow_snapshot": lambda s: s.load_workflow_snapshot(workflow_name="wf", run_id="run"),
    "get_workflow_run_by_id": lambda s: s.get_workflow_run_by_id(run_id="run"),
    "get_workflow_run_by_id (in workflow)": lambda s: s.get_workflow_run_by_id(
        run_id="run", workflow_name="wf"
    ),
    "get_score_by_id": lambda s: s.get_score_by_id(id="score"),
    "Memory.recall": lambda s: Memory(s).recall(thread_id="t1", resource_id="r1"),
    "Memory.recall (working memory)": lambda s: Memory(
        s, options={"last_messages": 3, "working_memory": {"enabled": True}}
    ).recall(thread_id="t1", resource_id="r1"),
    "Memory.recall (thread's working memory)": lambda s: Memory(
        s, options={"working_memory": {"enabled": True, "scope": "thread"}}
    ).recall(thread_id="t1", resource_id="r1"),
    "iter_messages": lambda s: list(s.iter_messages(thread_id="t1", batch_size=7)),
    "iter_messages (DESC)": lambda s: list(
        s.iter_messages(thread_id="t1", batch_size=7, direction="DESC")
    ),
    "persist_workflow_snapshot": lambda s: s.persist_workflow_snapshot(
        workflow_name="wf", run_id="run2", snapshot=SNAPSHOT
    ),
}


SAVE_MESSAGES: Callable[[Any], Any] = lambda s: s.save_messages(  # noqa: E731
    messages=[
        {"id": "one", "thread_id": "t1", "role": "user", "content": "hi", "created_at": PAST},
        {"id": "two", "thread_id": "t1", "role": "assistant", "content": "hi", "created_at": PAST},
    ]
)
"""PostgreSQL's `save_messages` of messages with `created_at` is one statement
too (`Features.writable_ctes`)."""

PG_CALLS = {**CALLS, "save_messages": SAVE_MESSAGES}


@pytest.fixture
def sqlite_storage(tmp_path: Path) -> Iterator[DefaultStorage]:
    # One pooled connection: the one the trace below watches.
    with DefaultStorage(url=f"file:{tmp_path / 'db.sqlite'}", pool_size=1, max_overflow=0) as s:
        s.init()
        fill(s)
        yield s


@contextmanager
def traced(storage: DefaultStorage) -> Iterator[list[str]]:
    """The SQL SQLite itself runs on the storage's one pooled connection."""
    sent: list[str] = []
    raw: Any = storage.engine.raw_connection()
    try:
        raw.driver_connection.set_trace_callback(sent.append)
    finally:
        raw.close()
    try:
        yield sent
    finally:
        raw = storage.engine.raw_connection()
        try:
            raw.driver_connection.set_trace_callback(None)
        finally:
            raw.close()


def kill_pooled_connection(storage: DefaultStorage) -> None:
    """Close the connection the next direct call gets while it waits (as a
    server restart or a killed backend would): the one the storage keeps
    between calls (`kept_connection`), else the one pooled; neither the
    storage nor the pool knows."""
    kept = storage._kept._fairy if storage._kept is not None else None
    if kept is not None:
        kept.driver_connection.close()
        return
    raw: Any = storage.engine.raw_connection()
    driver = raw.driver_connection
    raw.close()
    driver.close()


@contextmanager
def direct_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The statements `DirectExecutor` ran itself."""
    ran: list[str] = []
    original = direct.DirectExecutor._run

    def spy(self: direct.DirectExecutor, plan: direct.Plan, params: Any) -> Any:
        ran.append(plan.sql)
        return original(self, plan, params)

    monkeypatch.setattr(direct.DirectExecutor, "_run", spy)
    yield ran


@contextmanager
def observed(storage: DefaultStorage) -> Iterator[list[str]]:
    """A caller's statement listener (tracing): every statement goes through it."""
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(storage.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(storage.engine, "before_cursor_execute", listen)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_single_statement_call_runs_directly_without_begin_or_commit(
    sqlite_storage: DefaultStorage, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    with direct_runs(monkeypatch) as ran, traced(sqlite_storage) as sent:
        CALLS[name](sqlite_storage)
    batches = 3 if name.startswith("iter_messages") else 1  # 16 messages, 7 a batch
    assert len(ran) == batches
    assert len(sent) == batches, sent
    assert not [sql for sql in sent if sql.split()[0] in ("BEGIN", "COMMIT", "ROLLBACK")]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_direct_results_equal_those_through_sqlalchemy(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, name: str, backend: str
) -> None:
    storage: MastraStorage = request.getfixturevalue(
        "sqlite_storage" if backend == "sqlite" else "pg_storage"
    )
    # A score's numeric columns are processed by psycopg's type code of the
    # column, which only SQLAlchemy's result has: that read goes through it.
    through_sqlalchemy = backend == "postgresql" and name == "get_score_by_id"
    results = []
    for watched in (False, True):
        with direct_runs(monkeypatch) as ran:
            if watched:
                with observed(storage) as seen:
                    result = CALLS[name](storage)
                assert seen, "a watched engine's statements all go through its listener"
                assert not ran
            else:
                result = CALLS[name](storage)
                assert bool(ran) != through_sqlalchemy
        after = storage.load_workflow_snapshot(workflow_name="wf", run_id="run2")
        results.append((result, after))
    assert results[0] == results[1]
    if name == "persist_workflow_snapshot":
        assert results[0][1] == SNAPSHOT
    else:
        assert results[0][0] not in (None, []) or name.endswith("(other resource)")


def test_an_echoing_engine_logs_every_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with DefaultStorage(url=f"file:{tmp_path / 'db.sqlite'}", echo=True) as storage:
        storage.init()
        fill(storage)
        with (
            caplog.at_level(logging.INFO, logger="sqlalchemy.engine"),
            direct_runs(monkeypatch) as ran,
        ):
            assert storage.get_thread_by_id(thread_id="t1") is not None
        assert not ran
        assert any("FROM mastra_threads" in record.getMessage() for record in caplog.records)


def test_a_connection_closed_under_a_direct_read_is_replaced(
    sqlite_storage: DefaultStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read on a connection that died runs once more on a new one; the dead
    one does not go back to the pool."""
    kill_pooled_connection(sqlite_storage)
    with direct_runs(monkeypatch) as ran:
        thread = sqlite_storage.get_thread_by_id(thread_id="t1")
        assert thread is not None and thread.metadata == {"a": 1}
        assert sqlite_storage.get_thread_by_id(thread_id="t1") == thread
    assert len(ran) == 2  # the failed attempt, then the next call (the retry is SQLAlchemy's)


def test_a_direct_write_on_a_closed_connection_says_it_may_be_lost(
    sqlite_storage: DefaultStorage,
) -> None:
    """The write is its own commit: an error on its way says what is known."""
    kill_pooled_connection(sqlite_storage)
    with pytest.raises(ConnectionLostError) as caught:
        sqlite_storage.persist_workflow_snapshot(workflow_name="wf", run_id="r9", snapshot={})
    assert caught.value.written is None
    sqlite_storage.persist_workflow_snapshot(workflow_name="wf", run_id="r9", snapshot={"ok": 1})
    assert sqlite_storage.load_workflow_snapshot(workflow_name="wf", run_id="r9") == {"ok": 1}


def test_a_direct_write_waits_for_the_write_lock_within_its_bound(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with DefaultStorage(url=f"file:{path}", lock_timeout_ms=300) as storage:
        storage.init()
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StorageTimeoutError):
                storage.persist_workflow_snapshot(workflow_name="wf", run_id="r", snapshot={})
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert storage.load_workflow_snapshot(workflow_name="wf", run_id="r") is None
        storage.persist_workflow_snapshot(workflow_name="wf", run_id="r", snapshot={"a": 1})
        assert storage.load_workflow_snapshot(workflow_name="wf", run_id="r") == {"a": 1}


def test_a_direct_read_of_a_missing_table_raises_the_typed_error(
    sqlite_storage: DefaultStorage,
) -> None:
    with sqlite_storage.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE mastra_threads")
    with pytest.raises(StorageError):
        sqlite_storage.get_thread_by_id(thread_id="t1")


def test_threads_sharing_a_storage_read_and_write_directly(
    sqlite_storage: DefaultStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(40):
                run_id = f"w{worker}-{i}"
                sqlite_storage.persist_workflow_snapshot(
                    workflow_name="wf", run_id=run_id, snapshot={"i": i}
                )
                assert sqlite_storage.load_workflow_snapshot(workflow_name="wf", run_id=run_id) == {
                    "i": i
                }
                assert sqlite_storage.get_thread_by_id(thread_id="t1") is not None
        except BaseException as error:
            errors.append(error)

    with direct_runs(monkeypatch) as ran:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors, errors
    assert len(ran) == 4 * 40 * 3


def test_a_callers_engine_connected_before_us_still_commits_a_direct_write(
    tmp_path: Path,
) -> None:
    """A plain SQLAlchemy engine whose pooled connection predates the storage
    has the driver's own transaction handling on (it would BEGIN before the
    upsert and leave it to the pool to roll back): the write still lands."""
    path = tmp_path / "host.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as one, engine.connect() as two:  # the pool keeps both
        one.exec_driver_sql("SELECT 1")
        two.exec_driver_sql("SELECT 1")
    storage = DefaultStorage(engine=engine)
    storage.init()  # on one of them
    for n in range(2):  # on each in turn
        storage.persist_workflow_snapshot(workflow_name="wf", run_id=f"r{n}", snapshot={"a": n})
    other = sqlite3.connect(path)
    try:
        stored = other.execute(
            "SELECT snapshot FROM mastra_workflow_snapshot ORDER BY run_id"
        ).fetchall()
    finally:
        other.close()
    assert [json.loads(row[0]) for row in stored] == [{"a": 0}, {"a": 1}]
    storage.close()
    engine.dispose()


# -- PostgreSQL: the statement alone, in autocommit ---------------------------------


@pytest.fixture
def pg_storage(postgres_url: str, pg_schemas: Any) -> Iterator[PostgresStorage]:
    # One pooled connection: the one the tests below look at.
    with PostgresStorage(
        url=postgres_url, schema=pg_schemas.new("direct"), pool_size=1, max_overflow=0
    ) as s:
        s.init()
        fill(s)
        yield s


@contextmanager
def psycopg_executes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, bool, int]]]:
    """Each statement psycopg's cursors run: (SQL, whether the connection was
    in autocommit, its transaction status before it)."""
    import psycopg

    sent: list[tuple[str, bool, int]] = []
    original = psycopg.Cursor.execute

    def spy(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        conn = self.connection
        sent.append((str(query), conn.autocommit, int(conn.info.transaction_status)))
        return original(self, query, params, **kw)

    monkeypatch.setattr(psycopg.Cursor, "execute", spy)
    yield sent


@pytest.mark.parametrize("name", sorted(PG_CALLS))
def test_a_postgres_single_statement_call_runs_directly_in_autocommit(
    pg_storage: PostgresStorage, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """One round trip: the statement alone, in autocommit (psycopg sends no
    BEGIN then, and no COMMIT after); the pooled connection is back out of
    autocommit, with no transaction open, when the call returns."""
    with direct_runs(monkeypatch) as ran, psycopg_executes(monkeypatch) as sent:
        PG_CALLS[name](pg_storage)
    batches = 3 if name.startswith("iter_messages") else 1  # 16 messages, 7 a batch
    # A score's numeric columns are processed by psycopg's type code of the
    # column, which only SQLAlchemy's result has: that read goes through it
    # (in autocommit as well, by the dialect's hook).
    assert len(ran) == (0 if name == "get_score_by_id" else batches)
    assert [(autocommit, status) for _, autocommit, status in sent] == [(True, 0)] * batches
    with pg_storage.engine.connect() as conn:  # the one pooled connection
        driver: Any = conn.connection.driver_connection
        assert driver.autocommit is False
        assert driver.info.transaction_status == 0  # idle


ASYNC_CALLS: dict[str, Callable[[Any], Any]] = {
    **POINT_READS,
    "persist_workflow_snapshot": lambda s: s.persist_workflow_snapshot(
        workflow_name="wf", run_id="run2", snapshot=SNAPSHOT
    ),
    "save_messages": SAVE_MESSAGES,
}


@pytest.mark.parametrize("name", sorted(ASYNC_CALLS))
def test_an_async_postgres_single_statement_call_runs_directly_in_autocommit(
    postgres_url: str, pg_schemas: Any, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """As the sync facade: the statement alone, in autocommit, one round
    trip, in one greenlet; the result equals the sync storage's."""
    import psycopg

    schema = pg_schemas.new("direct_async")
    with PostgresStorage(url=postgres_url, schema=schema) as sync_storage:
        sync_storage.init()
        fill(sync_storage)
        expected = ASYNC_CALLS[name](sync_storage)
    sent: list[tuple[bool, int]] = []
    original = psycopg.AsyncCursor.execute

    async def spy(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        conn = self.connection
        sent.append((conn.autocommit, int(conn.info.transaction_status)))
        return await original(self, query, params, **kw)

    held: list[str] = []
    send = HeldConnection._send

    async def held_spy(self: HeldConnection, fairy: Any, statement: Any, write: bool) -> Any:
        held.append(statement.plan.sql)
        return await send(self, fairy, statement, write)

    async def check() -> Any:
        storage = AsyncPostgresStorage(url=postgres_url, schema=schema, pool_size=1, max_overflow=0)
        try:
            await storage.init()
            with direct_runs(monkeypatch) as ran:
                monkeypatch.setattr(psycopg.AsyncCursor, "execute", spy)
                monkeypatch.setattr(HeldConnection, "_send", held_spy)
                result = await ASYNC_CALLS[name](storage)
                monkeypatch.setattr(psycopg.AsyncCursor, "execute", original)
            # The one pooled connection (a read's held one is given back:
            # the pool is exhausted), as the pool has it again.
            await storage.save_thread(thread={"id": "t9", "resource_id": "r1", "title": "t"})
            async with storage.engine.connect() as conn:
                raw: Any = await conn.get_raw_connection()
                assert raw.driver_connection.autocommit is False
                assert raw.driver_connection.info.transaction_status == 0
            return result, ran
        finally:
            await storage.close()

    result, ran = asyncio.run(check())
    assert result == expected
    assert sent == [(True, 0)]
    # Reads and the snapshot's upsert: on the held connection, without
    # DirectExecutor (see held_connection), but a score's read (see above),
    # which goes through SQLAlchemy.
    if name == "get_score_by_id":
        assert (len(held), len(ran)) == (0, 0)
    else:
        assert (len(held), len(ran)) == ((0, 1) if name == "save_messages" else (1, 0))


def _greenlet_switches() -> Any:
    """Counts greenlet switches while active (`greenlet.settrace`)."""
    import greenlet

    switches: list[str] = []

    @contextmanager
    def counting() -> Iterator[list[str]]:
        previous = greenlet.settrace(lambda event, _args: switches.append(event))
        try:
            yield switches
        finally:
            greenlet.settrace(previous)

    return counting()


@pytest.mark.parametrize("name", sorted(ASYNC_CALLS))
def test_an_async_postgres_direct_call_awaits_the_driver_once(
    postgres_url: str, pg_schemas: Any, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The async direct path leaves its greenlet once: one coroutine does the
    autocommit switch, the statement, the fetch and the switch back (not one
    await through SQLAlchemy's adapter per step), and the pool takes the
    idle connection back without awaiting psycopg's (no-op) rollback. So a
    call is 4 greenlet switches: into its greenlet, out to await the driver,
    back in, out at its end (it was 12: 5 awaits)."""
    import psycopg

    schema = pg_schemas.new("direct_once")
    with PostgresStorage(url=postgres_url, schema=schema) as sync_storage:
        sync_storage.init()
        fill(sync_storage)
    rollbacks: list[int] = []
    original = psycopg.AsyncConnection.rollback

    async def spy(self: Any) -> None:
        rollbacks.append(int(self.info.transaction_status))
        await original(self)

    async def check() -> list[str]:
        # Two pooled connections: a call leaves the held one held (with one,
        # the pool is full at its end: given back for the calls waiting).
        storage = AsyncPostgresStorage(url=postgres_url, schema=schema, pool_size=2, max_overflow=0)
        try:
            await storage.init()
            await ASYNC_CALLS[name](storage)  # plans made, statement prepared
            monkeypatch.setattr(psycopg.AsyncConnection, "rollback", spy)
            with direct_runs(monkeypatch) as ran, _greenlet_switches() as switches:
                await ASYNC_CALLS[name](storage)
            assert len(ran) == (1 if name == "save_messages" else 0)
            return switches
        finally:
            await storage.close()

    switches = asyncio.run(check())
    if name == "save_messages":
        assert len(switches) == 4, switches
    elif name != "get_score_by_id":  # through SQLAlchemy (see above): more
        # On the connection the first call left held: no greenlet at all.
        assert switches == []
    assert rollbacks == []


def test_the_pool_still_rolls_back_a_postgres_connection_in_a_transaction(
    postgres_url: str, pg_schemas: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rollback skipped for an idle connection is still sent for one
    that comes back to the pool with a transaction open (or broken), sync
    and async."""
    import psycopg

    sync_rollbacks: list[int] = []
    async_rollbacks: list[int] = []
    sync_original = psycopg.Connection.rollback
    async_original = psycopg.AsyncConnection.rollback

    def sync_spy(self: Any) -> None:
        sync_rollbacks.append(int(self.info.transaction_status))
        sync_original(self)

    async def async_spy(self: Any) -> None:
        async_rollbacks.append(int(self.info.transaction_status))
        await async_original(self)

    monkeypatch.setattr(psycopg.Connection, "rollback", sync_spy)
    monkeypatch.setattr(psycopg.AsyncConnection, "rollback", async_spy)
    schema = pg_schemas.new("direct_reset")
    with PostgresStorage(url=postgres_url, schema=schema, pool_size=1, max_overflow=0) as storage:
        storage.init()
        sync_rollbacks.clear()
        raw: Any = storage.engine.raw_connection()
        raw.cursor().execute("SELECT 1")  # a transaction begun
        raw.close()
        assert sync_rollbacks == [2]  # INTRANS: rolled back
        raw = storage.engine.raw_connection()
        assert raw.driver_connection.info.transaction_status == 0
        raw.close()
        assert sync_rollbacks == [2]  # idle: nothing to roll back

    async def check() -> None:
        storage = AsyncPostgresStorage(url=postgres_url, schema=schema, pool_size=1, max_overflow=0)
        try:
            await storage.init()
            async_rollbacks.clear()
            async with storage.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
            assert async_rollbacks == [2]
            async with storage.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                assert raw.driver_connection.info.transaction_status == 0  # type: ignore[union-attr]
            assert async_rollbacks == [2]
        finally:
            await storage.close()

    asyncio.run(check())


@pytest.mark.parametrize("setup", ["autocommit", "connect-hook"])
def test_an_async_postgres_direct_call_on_a_connection_not_idle_runs_as_the_sync_one(
    postgres_url: str, pg_schemas: Any, monkeypatch: pytest.MonkeyPatch, setup: str
) -> None:
    """The async twin of the two sync cases: a caller's engine in autocommit
    (the storage's calls at READ COMMITTED, through SQLAlchemy), and a
    `connect` hook that left a transaction open (the statement in it, then
    committed; the hook's setting kept)."""
    from mastra_storage.engines import create_async_engine_for_url

    schema = pg_schemas.new("direct_async_as_is")

    async def check() -> None:
        options: dict[str, Any] = {"pool_size": 1, "max_overflow": 0}
        storage_schema: str | None = schema
        if setup == "autocommit":
            # As the sync test: the schema made first, named by search_path.
            options["isolation_level"] = "AUTOCOMMIT"
            options["connect_args"] = {"options": f"-csearch_path={schema}"}
            storage_schema = None
        engine = create_async_engine_for_url(postgres_url, **options)
        if setup == "autocommit":
            async with engine.connect() as conn:
                await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        if setup == "connect-hook":

            def on_connect(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("SET TIME ZONE 'Asia/Tokyo'")
                cursor.close()

            event.listen(engine.sync_engine, "connect", on_connect)
        storage = AsyncPostgresStorage(engine=engine, schema=storage_schema)
        try:
            await storage.init()
            await engine.dispose()  # the next call gets a new connection
            with direct_runs(monkeypatch) as ran:
                await storage.persist_workflow_snapshot(
                    workflow_name="wf", run_id="r", snapshot={"a": 1}
                )
                async with engine.connect() as conn:
                    raw: Any = await conn.get_raw_connection()
                    driver = raw.driver_connection
                    assert driver.info.transaction_status == 0
                    assert driver.autocommit is (setup == "autocommit")
                    if setup == "connect-hook":
                        zone = await conn.exec_driver_sql("SHOW TIME ZONE")
                        assert zone.scalar() == "Asia/Tokyo"
                await engine.dispose()
                loaded = await storage.load_workflow_snapshot(workflow_name="wf", run_id="r")
                assert loaded == {"a": 1}
            assert len(ran) == (0 if setup == "autocommit" else 2)
        finally:
            await storage.close()
            await engine.dispose()

    asyncio.run(check())


def _terminate_pooled_backend(storage: PostgresStorage) -> None:
    """End the server side of the one pooled connection (a server restart or
    an idle-session kill), while the pool holds it."""
    with storage.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    killer = create_engine(storage.engine.url)
    try:
        with killer.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)}, 5000)")
    finally:
        killer.dispose()


def test_a_postgres_direct_read_on_a_dropped_connection_runs_again(
    pg_storage: PostgresStorage,
) -> None:
    _terminate_pooled_backend(pg_storage)
    thread = pg_storage.get_thread_by_id(thread_id="t1")
    assert thread is not None and thread.metadata == {"a": 1}


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_postgres_direct_reads_after_the_server_dropped_every_pooled_connection(
    postgres_url: str, pg_schemas: Any, asynchronous: bool
) -> None:
    """A server restart or an idle-session kill ends every pooled connection.
    The first direct read to meet one drops, as SQLAlchemy's own path does,
    every connection made before it (not just that one), so its one retry
    gets a new connection, not the next dead one."""
    schema = pg_schemas.new("dropall")
    with PostgresStorage(url=postgres_url, schema=schema) as filler:
        filler.init()
        fill(filler)

    def kill(pids: list[int]) -> None:
        killer = create_engine(postgres_url)
        try:
            with killer.connect() as conn:
                for pid in pids:
                    conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)}, 5000)")
        finally:
            killer.dispose()

    if not asynchronous:
        with PostgresStorage(
            url=postgres_url, schema=schema, pool_size=3, max_overflow=0
        ) as storage:
            storage.init()
            held = [storage.engine.connect() for _ in range(3)]
            pids = [c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for c in held]
            for conn in held:
                conn.close()
            kill(pids)
            for _ in range(3):
                thread = storage.get_thread_by_id(thread_id="t1")
                assert thread is not None and thread.metadata == {"a": 1}
        return

    async def check() -> None:
        async with AsyncPostgresStorage(
            url=postgres_url, schema=schema, pool_size=3, max_overflow=0
        ) as storage:
            await storage.init()
            held = [await storage.engine.connect() for _ in range(3)]
            pids = [(await c.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one() for c in held]
            for conn in held:
                await conn.close()
            await asyncio.to_thread(kill, pids)
            for _ in range(3):
                thread = await storage.get_thread_by_id(thread_id="t1")
                assert thread is not None and thread.metadata == {"a": 1}

    asyncio.run(check())


def test_a_postgres_direct_write_on_a_connection_closed_meanwhile_wrote_nothing(
    pg_storage: PostgresStorage,
) -> None:
    """The server ended the pooled connection while it waited in the pool:
    found before the upsert is sent, so the error says nothing was written
    (as a transaction's failed BEGIN did)."""
    _terminate_pooled_backend(pg_storage)
    with pytest.raises(ConnectionLostError) as caught:
        pg_storage.persist_workflow_snapshot(workflow_name="wf", run_id="r9", snapshot={})
    assert caught.value.written is False
    assert pg_storage.load_workflow_snapshot(workflow_name="wf", run_id="r9") is None
    pg_storage.persist_workflow_snapshot(workflow_name="wf", run_id="r9", snapshot={"ok": 1})
    assert pg_storage.load_workflow_snapshot(workflow_name="wf", run_id="r9") == {"ok": 1}


def test_a_postgres_direct_write_whose_connection_drops_on_the_way_may_be_lost(
    postgres_url: str, pg_schemas: Any
) -> None:
    """The upsert was sent (it waits for a row lock) when its backend is
    ended: whether it committed is not known, and the error says so."""
    schema = pg_schemas.new("direct_drop")
    with PostgresStorage(url=postgres_url, schema=schema) as storage:
        storage.persist_workflow_snapshot(workflow_name="wf", run_id="r", snapshot={"a": 0})
        outcome: list[BaseException] = []

        def write() -> None:
            try:
                storage.persist_workflow_snapshot(workflow_name="wf", run_id="r", snapshot={"a": 1})
            except BaseException as error:
                outcome.append(error)

        with snapshot_row_locked(postgres_url, schema, "r") as conn:
            writer = threading.Thread(target=write)
            writer.start()
            pid = None
            deadline = time.monotonic() + 10
            while pid is None and time.monotonic() < deadline:
                pid = conn.exec_driver_sql(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE 'INSERT INTO %%mastra_workflow_snapshot%%'"
                ).scalar()
                time.sleep(0.02)
            assert pid is not None
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            writer.join(timeout=30)
        assert len(outcome) == 1 and isinstance(outcome[0], ConnectionLostError), outcome
        assert outcome[0].written is None
        assert storage.load_workflow_snapshot(workflow_name="wf", run_id="r") == {"a": 0}


class _Interrupted(Exception):
    """What a caller's signal handler raises (an alarm-style timeout)."""


def test_a_postgres_direct_write_interrupted_by_a_signal_handler_is_cancelled(
    postgres_url: str, pg_schemas: Any
) -> None:
    """The caller's own exception stops the wait for a row lock: the upsert,
    which would commit by itself once the lock is free, is cancelled on the
    server, so nothing is written after the caller was told it failed."""
    schema = pg_schemas.new("direct_signal")

    def interrupt(signum: int, frame: Any) -> None:
        raise _Interrupted("alarm")

    with PostgresStorage(url=postgres_url, schema=schema) as storage:
        storage.persist_workflow_snapshot(workflow_name="wf", run_id="r", snapshot={"a": 0})
        previous = signal.signal(signal.SIGALRM, interrupt)
        try:
            with snapshot_row_locked(postgres_url, schema, "r"):
                signal.setitimer(signal.ITIMER_REAL, 0.5)
                with pytest.raises(_Interrupted):
                    storage.persist_workflow_snapshot(
                        workflow_name="wf", run_id="r", snapshot={"a": 1}
                    )
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        time.sleep(0.5)  # the lock is free: an upsert still running would land now
        assert storage.load_workflow_snapshot(workflow_name="wf", run_id="r") == {"a": 0}
        storage.persist_workflow_snapshot(workflow_name="wf", run_id="r", snapshot={"a": 2})
        assert storage.load_workflow_snapshot(workflow_name="wf", run_id="r") == {"a": 2}


def test_postgres_plans_follow_the_schema_named_not_the_mapping_object(
    pg_storage: PostgresStorage,
) -> None:
    """Storages sharing one caller engine, each with its `schema=`: a plan
    is found by the schema the mapping names. (Found by id() of the
    mapping, a storage made after another was gone could get the other's
    mapping's id, and its plan, and read and write the other's tables.)"""
    from mastra_storage.repositories.threads import _BY_ID

    dialect = pg_storage.engine.dialect
    reused = False
    for n in range(50):
        first = {None: f"tenant_a{n}"}
        first_id = id(first)
        plan = direct.plan_for(dialect, _BY_ID, {"id": "t"}, first)
        assert plan is not None and f"tenant_a{n}" in plan.sql
        del first
        second = {None: f"tenant_b{n}"}
        reused = reused or id(second) == first_id
        plan = direct.plan_for(dialect, _BY_ID, {"id": "t"}, second)
        assert plan is not None and f"tenant_b{n}" in plan.sql, plan.sql
    assert reused, "the mapping's id was never reused: the case above did not happen"


def test_the_plans_kept_are_bounded(
    pg_storage: PostgresStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storage per tenant (per schema) adds plans; they do not pile up."""
    from mastra_storage.repositories.threads import _BY_ID

    monkeypatch.setattr(direct, "MAX_PLANS", 50)
    dialect = pg_storage.engine.dialect
    for n in range(500):
        assert direct.plan_for(dialect, _BY_ID, {"id": "t"}, {None: f"tenant{n}"}) is not None
    assert len(direct._PLANS[dialect]) <= 50


def test_a_callers_connect_hook_leaving_a_transaction_open_is_run_in_it(
    postgres_url: str, pg_schemas: Any
) -> None:
    """A caller's `connect` hook that runs SQL on the new connection (psycopg
    opens a transaction for it): the first direct call on that connection
    runs in that transaction and commits it, as SQLAlchemy's own path does
    (the hook's setting kept); nothing is left open."""
    schema = pg_schemas.new("direct_hook")
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET TIME ZONE 'Asia/Tokyo'")
        cursor.close()

    event.listen(engine, "connect", on_connect)
    try:
        with PostgresStorage(engine=engine, schema=schema) as storage:
            storage.init()
            engine.pool.dispose()  # the next call gets a new connection, fresh from the hook
            storage.persist_workflow_snapshot(workflow_name="wf", run_id="r", snapshot={"a": 1})
            with engine.connect() as conn:
                driver: Any = conn.connection.driver_connection
                assert driver.info.transaction_status == 0
                assert conn.exec_driver_sql("SHOW TIME ZONE").scalar() == "Asia/Tokyo"
            engine.pool.dispose()
            assert storage.load_workflow_snapshot(workflow_name="wf", run_id="r") == {"a": 1}
            assert storage.get_thread_by_id(thread_id="none") is None
    finally:
        engine.dispose()


def test_a_postgres_direct_write_waits_for_a_row_lock_within_its_bound(
    postgres_url: str, pg_schemas: Any
) -> None:
    """The connection's lock_timeout holds in autocommit too: the upsert
    waits for another transaction's row lock at most lock_timeout_ms, then
    raises the typed error, nothing written; after the lock goes, it lands."""
    schema = pg_schemas.new("direct_lock")
    with PostgresStorage(url=postgres_url, schema=schema, lock_timeout_ms=300) as storage:
        storage.persist_workflow_snapshot(workflow_name="wf", run_id="r", snapshot={"a": 0})
        holder = create_engine(postgres_url)
        try:
            with holder.connect() as conn, conn.begin():
                conn.exec_driver_sql(
                    f'SELECT 1 FROM "{schema}".mastra_workflow_snapshot '
                    "WHERE run_id = 'r' FOR UPDATE"
                )
                started = time.monotonic()
                with pytest.raises(StorageTimeoutError):
                    storage.persist_workflow_snapshot(
                        workflow_name="wf", run_id="r", snapshot={"a": 1}
                    )
                assert time.monotonic() - started < 5
        finally:
            holder.dispose()
        assert storage.load_workflow_snapshot(workflow_name="wf", run_id="r") == {"a": 0}
        storage.persist_workflow_snapshot(workflow_name="wf", run_id="r", snapshot={"a": 2})
        assert storage.load_workflow_snapshot(workflow_name="wf", run_id="r") == {"a": 2}


def test_an_autocommit_postgres_engine_gets_the_storages_transactions(
    postgres_url: str, pg_schemas: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller's engine in autocommit: the storage's calls run at READ
    COMMITTED on it (`engines.with_storage_isolation`, whose per-connection
    setting is an engine listener: not the direct path), and the caller's
    connections stay in autocommit."""
    schema = pg_schemas.new("direct_ac")
    engine = create_engine(
        postgres_url,
        isolation_level="AUTOCOMMIT",
        connect_args={"options": f"-csearch_path={schema}"},
    )
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        with PostgresStorage(engine=engine) as storage:
            storage.init()
            with direct_runs(monkeypatch) as ran:
                storage.persist_workflow_snapshot(workflow_name="wf", run_id="r", snapshot={"a": 1})
                assert storage.load_workflow_snapshot(workflow_name="wf", run_id="r") == {"a": 1}
            assert not ran
            with engine.connect() as conn:
                assert conn.connection.driver_connection.autocommit is True
    finally:
        engine.dispose()


# -- async SQLite: point reads on the event loop's thread ---------------------------


def test_the_point_reads_are_the_ones_checked_here() -> None:
    marked = {
        name
        for name in operations.__all__
        if callable(getattr(operations, name))
        and operations.is_point_read(getattr(operations, name))
    }
    assert marked == set(POINT_READS)


def run_filled_async(path: Path, check: Callable[[AsyncDefaultStorage], Awaitable[None]]) -> None:
    """Runs `check` in a new event loop on an async storage of the SQLite
    file `path`, filled by the sync storage first; closed afterwards, also
    when `check` fails."""
    with DefaultStorage(url=f"file:{path}") as sync_storage:
        sync_storage.init()
        fill(sync_storage)

    async def main() -> None:
        async with AsyncDefaultStorage(url=f"file:{path}") as storage:
            await check(storage)

    asyncio.run(main())


@pytest.mark.parametrize("name", sorted(POINT_READS))
def test_an_async_point_read_runs_on_the_loop_and_equals_the_aiosqlite_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    async def check(storage: AsyncDefaultStorage) -> None:
        with direct_runs(monkeypatch) as ran:
            inline = await POINT_READS[name](storage)
        assert len(ran) == 1
        seen: list[str] = []

        def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            seen.append(statement)

        # A caller's listener on the storage's engine: the read goes through it.
        event.listen(storage.engine.sync_engine, "before_cursor_execute", listen)
        with direct_runs(monkeypatch) as ran:
            through_aiosqlite = await POINT_READS[name](storage)
        assert not ran and len(seen) == 1
        assert inline == through_aiosqlite and inline is not None

    run_filled_async(tmp_path / "db.sqlite", check)


@pytest.mark.parametrize(
    "refusal",
    [
        sqlite3.OperationalError("database is locked"),
        sqlite3.ProgrammingError("Cannot operate on a closed database."),
    ],
    ids=["busy", "closed"],
)
def test_an_async_point_read_that_would_wait_goes_the_aiosqlite_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: Exception
) -> None:
    """A point read on the loop's thread never waits: when SQLite says the
    file is busy (or the connection is gone), the same read goes through
    aiosqlite, which waits within the bounds off the loop."""
    original = direct.DirectExecutor._run
    refused: list[str] = []

    def refuse_once(self: direct.DirectExecutor, plan: direct.Plan, params: Any) -> Any:
        if not refused:
            refused.append(plan.sql)
            lost = isinstance(refusal, sqlite3.ProgrammingError)
            raise sa_exc.DBAPIError.instance(
                plan.sql, params, refusal, sqlite3.Error, connection_invalidated=lost
            )
        return original(self, plan, params)

    async def check(storage: AsyncDefaultStorage) -> None:
        expected = await storage.get_thread_by_id(thread_id="t1")
        monkeypatch.setattr(direct.DirectExecutor, "_run", refuse_once)
        assert await storage.get_thread_by_id(thread_id="t1") == expected
        assert len(refused) == 1

    run_filled_async(tmp_path / "db.sqlite", check)


def test_an_async_point_read_error_that_is_no_wait_is_raised(tmp_path: Path) -> None:
    async def check(storage: AsyncDefaultStorage) -> None:
        await storage.init()
        async with storage.engine.begin() as conn:
            await conn.exec_driver_sql("DROP TABLE mastra_threads")
        with pytest.raises(StorageError, match="no such table"):
            await storage.get_thread_by_id(thread_id="t1")

    run_filled_async(tmp_path / "db.sqlite", check)


def test_no_inline_reads_or_writes_for_memory_or_a_callers_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def check() -> None:
        memory = AsyncDefaultStorage(url="file::memory:")
        engine = create_async_engine_for_url(f"file:{tmp_path / 'db.sqlite'}")
        callers = AsyncDefaultStorage(engine=engine)
        try:
            assert memory._inline is None and callers._inline is None
            with direct_runs(monkeypatch) as ran:
                for storage in (memory, callers):
                    assert await storage.get_thread_by_id(thread_id="none") is None
                    await storage.persist_workflow_snapshot(
                        workflow_name="wf", run_id="r", snapshot={"a": 1}
                    )
                    found = await storage.load_workflow_snapshot(workflow_name="wf", run_id="r")
                    assert found == {"a": 1}
            assert not ran
        finally:
            await memory.close()
            await callers.close()
            await engine.dispose()

    asyncio.run(check())


# -- what keeps a call off the direct path --------------------------------------------


def test_an_engine_logging_through_the_logging_module_gets_every_statement(
    sqlite_storage: DefaultStorage,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SQLAlchemy's documented equivalent of `echo=True`: the logger at INFO."""
    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"), direct_runs(monkeypatch) as ran:
        assert sqlite_storage.get_thread_by_id(thread_id="t1") is not None
        sqlite_storage.persist_workflow_snapshot(workflow_name="wf", run_id="logged", snapshot={})
    assert not ran
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "FROM mastra_threads" in logged and "INSERT INTO mastra_workflow_snapshot" in logged


def test_a_callers_do_execute_hook_sees_every_statement(
    sqlite_storage: DefaultStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def hook(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        seen.append(statement)
        return False  # the dialect executes it

    event.listen(sqlite_storage.engine, "do_execute", hook)
    try:
        with direct_runs(monkeypatch) as ran:
            sqlite_storage.get_thread_by_id(thread_id="t1")
            sqlite_storage.persist_workflow_snapshot(
                workflow_name="wf", run_id="hooked", snapshot={}
            )
    finally:
        event.remove(sqlite_storage.engine, "do_execute", hook)
    assert not ran and len(seen) == 2


@pytest.mark.parametrize(
    ("target", "name"),
    [
        ("engine", "do_execute"),
        ("engine", "do_execute_no_params"),
        ("engine", "do_executemany"),
        ("engine", "handle_error"),
        ("dialect class", "do_execute"),
        ("dialect class", "handle_error"),
    ],
)
def test_a_hook_added_after_direct_calls_turns_them_off_until_removed(
    sqlite_storage: DefaultStorage, monkeypatch: pytest.MonkeyPatch, target: str, name: str
) -> None:
    """`unobserved` is checked on every call: a dialect hook (the engine's own,
    or one on the dialect's class, shared by every engine of it) added after
    many direct calls takes every later call off the direct path, and its
    removal puts them back."""
    on: Any = sqlite_storage.engine if target == "engine" else type(sqlite_storage.engine.dialect)

    def hook(*args: Any) -> None:
        return None  # do_execute*: the dialect executes the statement

    def calls() -> None:
        assert sqlite_storage.get_thread_by_id(thread_id="t1") is not None
        sqlite_storage.persist_workflow_snapshot(workflow_name="wf", run_id="late", snapshot={})

    with direct_runs(monkeypatch) as ran:
        for _ in range(50):
            calls()
        assert len(ran) == 100
        event.listen(on, name, hook)
        try:
            calls()
            assert len(ran) == 100
        finally:
            event.remove(on, name, hook)
        calls()
        assert len(ran) == 102


@pytest.mark.parametrize("pool", [StaticPool, SingletonThreadPool])
def test_a_pool_lending_one_shared_connection_is_not_run_directly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pool: Any
) -> None:
    """Such a pool hands the storage the connection its host may have a
    transaction open on: no statement of ours goes to it as if it were free."""
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}", poolclass=pool)
    storage = DefaultStorage(engine=engine)
    storage.init()
    with direct_runs(monkeypatch) as ran:
        storage.persist_workflow_snapshot(workflow_name="wf", run_id="r", snapshot={"a": 1})
        assert storage.load_workflow_snapshot(workflow_name="wf", run_id="r") == {"a": 1}
    assert not ran
    storage.close()
    engine.dispose()


def test_a_database_that_cannot_be_opened_raises_the_typed_error(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    with DefaultStorage(url=f"file:{folder / 'db.sqlite'}") as storage:
        storage.init()
        storage.engine.dispose()  # no pooled connection left
        shutil.rmtree(folder)
        with pytest.raises(StorageError, match="unable to open"):
            storage.get_thread_by_id(thread_id="t1")
        with pytest.raises(StorageError, match="unable to open"):
            storage.persist_workflow_snapshot(workflow_name="wf", run_id="r", snapshot={})


def test_an_async_point_read_that_cannot_open_its_connection_raises_the_typed_error(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()

    async def check(storage: AsyncDefaultStorage) -> None:
        await storage.init()
        await storage.engine.dispose()
        assert storage._inline is not None
        storage._inline.dispose()
        shutil.rmtree(folder)
        with pytest.raises(StorageError, match="unable to open"):
            await storage.get_thread_by_id(thread_id="t1")

    run_filled_async(folder / "db.sqlite", check)


def test_gathered_async_point_reads_let_the_other_tasks_run(tmp_path: Path) -> None:
    """Hundreds of point reads gathered at once run on the loop's thread a
    slice at a time: a task ready meanwhile runs before they have all ended."""

    async def check(storage: AsyncDefaultStorage) -> None:
        await storage.update_thread(id="t1", metadata={"big": "x" * 100_000})
        done = 0
        seen: list[int] = []

        async def read() -> None:
            nonlocal done
            await storage.get_thread_by_id(thread_id="t1")
            done += 1

        async def other() -> None:
            while done < 300:
                seen.append(done)
                await asyncio.sleep(0)

        await asyncio.gather(other(), *(read() for _ in range(300)))
        assert done == 300
        assert [n for n in seen if 0 < n < 300], "the other task ran between the reads"

    run_filled_async(tmp_path / "db.sqlite", check)


# -- point writes on the event loop's thread (async SQLite) ---------------------------

BIG = {"steps": "x" * 2_500}
"""A snapshot of ~2.5 KB: about ten WAL pages a write."""


OFF_LOOP = "off the loop"


@contextmanager
def inline_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, bool]]]:
    """(SQL, True) of each statement `DirectExecutor` ran itself on the
    calling thread (the event loop's), and (OFF_LOOP, False) for each call the
    async storages ran elsewhere: in a worker thread (`SQLiteWorker.run`) or
    through aiosqlite."""
    ran: list[tuple[str, bool]] = []
    original = direct.DirectExecutor._run
    through_aiosqlite = async_storage._transaction
    in_worker = SQLiteWorker.run
    caller = threading.get_ident()

    def spy(self: direct.DirectExecutor, plan: direct.Plan, params: Any) -> Any:
        if threading.get_ident() == caller:
            ran.append((plan.sql, True))
        return original(self, plan, params)

    async def spy_transaction(engine: Any, operation: Any, kwargs: Any) -> Any:
        ran.append((OFF_LOOP, False))
        return await through_aiosqlite(engine, operation, kwargs)

    async def spy_worker(self: SQLiteWorker, *args: Any, **kwargs: Any) -> Any:
        ran.append((OFF_LOOP, False))
        return await in_worker(self, *args, **kwargs)

    monkeypatch.setattr(direct.DirectExecutor, "_run", spy)
    monkeypatch.setattr(async_storage, "_transaction", spy_transaction)
    monkeypatch.setattr(SQLiteWorker, "run", spy_worker)
    yield ran


def _inserts(ran: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    return [step for step in ran if step[0].startswith("INSERT INTO mastra_workflow_snapshot")]


def test_an_async_snapshot_write_runs_on_the_loop_and_is_seen_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unfenced `persist_workflow_snapshot` is one upsert run on the event
    loop's thread (no aiosqlite trip), committed when the await returns: a
    sync storage on the file reads it right after. A fenced one is a
    transaction (the lock row checked first), through aiosqlite."""
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        await storage.init()
        with DefaultStorage(url=f"file:{path}") as other:
            with inline_writes(monkeypatch) as ran:
                for version in range(3):
                    await storage.persist_workflow_snapshot(
                        workflow_name="wf", run_id="new", snapshot={"v": version}
                    )
                    seen = other.load_workflow_snapshot(workflow_name="wf", run_id="new")
                    assert seen == {"v": version}
            assert [step for _sql, step in _inserts(ran)] == [True] * 3
            assert (OFF_LOOP, False) not in ran
            async with storage.workflow_run_lock(workflow_name="wf", run_id="new") as held:
                with inline_writes(monkeypatch) as ran:
                    await storage.persist_workflow_snapshot(
                        workflow_name="wf",
                        run_id="new",
                        snapshot={"v": "fenced"},
                        fencing_token=held.fencing_token,
                    )
                assert ran == [(OFF_LOOP, False)]
            seen = other.load_workflow_snapshot(workflow_name="wf", run_id="new")
            assert seen == {"v": "fenced"}

    run_filled_async(path, check)


def test_an_async_snapshot_write_meeting_the_write_lock_goes_the_aiosqlite_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection holds the write lock: the write on the loop's
    thread gives up after SQLite's 1 ms busy wait (nothing written: the lock
    comes first) and the same write goes through aiosqlite, which waits for
    the lock off the loop and succeeds once it is released."""
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        await storage.init()
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, holder.execute, "ROLLBACK")
        started = loop.time()
        with inline_writes(monkeypatch) as ran:
            await storage.persist_workflow_snapshot(
                workflow_name="wf", run_id="locked", snapshot={"a": 1}
            )
        waited = loop.time() - started
        holder.close()
        assert 0.25 < waited < 5
        assert [step for _sql, step in _inserts(ran)] == [True]  # tried on the loop once
        assert ran[-1] == (OFF_LOOP, False)
        with DefaultStorage(url=f"file:{path}") as other:
            assert other.load_workflow_snapshot(workflow_name="wf", run_id="locked") == {"a": 1}
        # The lock free again: the next write runs on the loop.
        with inline_writes(monkeypatch) as ran:
            await storage.persist_workflow_snapshot(
                workflow_name="wf", run_id="locked", snapshot={"a": 2}
            )
        assert _inserts(ran) == ran and ran[0][1]
        assert await storage.load_workflow_snapshot(workflow_name="wf", run_id="locked") == {"a": 2}

    run_filled_async(path, check)


def test_an_async_snapshot_write_meeting_a_write_of_its_storage_under_way_goes_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a write of the same storage runs off the loop (in a worker
    thread: it holds, or is about to take, SQLite's write lock), a point
    write goes off the loop too, without a try on the loop's thread that
    would wait 1 ms for that lock and fail."""
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        await storage.init()
        release = asyncio.Event()
        real = SQLiteWorker.run

        async def slow_run(self: SQLiteWorker, *args: Any, **kwargs: Any) -> Any:
            await release.wait()
            return await real(self, *args, **kwargs)

        monkeypatch.setattr(SQLiteWorker, "run", slow_run)
        under_way = asyncio.create_task(
            storage.update_thread(id="t1", title="renamed", metadata={})
        )
        await asyncio.sleep(0.01)
        with inline_writes(monkeypatch) as ran:  # its spy wraps slow_run
            point = asyncio.create_task(
                storage.persist_workflow_snapshot(
                    workflow_name="wf", run_id="after", snapshot={"a": 1}
                )
            )
            await asyncio.sleep(0.01)
            release.set()
            await asyncio.gather(under_way, point)
        assert not _inserts(ran) and ran == [(OFF_LOOP, False)]
        assert await storage.load_workflow_snapshot(workflow_name="wf", run_id="after") == {"a": 1}
        # Nothing under way: on the loop again.
        with inline_writes(monkeypatch) as ran:
            await storage.persist_workflow_snapshot(
                workflow_name="wf", run_id="after", snapshot={"a": 2}
            )
        assert [step for _sql, step in _inserts(ran)] == [True]

    run_filled_async(path, check)


def test_an_async_snapshot_write_waiting_for_the_lock_can_be_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        await storage.init()
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            with inline_writes(monkeypatch) as ran, pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(
                    storage.persist_workflow_snapshot(
                        workflow_name="wf", run_id="cancelled", snapshot={"a": 1}
                    ),
                    0.2,
                )
            assert loop.time() - started < 2  # the lock bound is 10 s
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert [step for _sql, step in _inserts(ran)] == [True]
        assert ran[-1] == (OFF_LOOP, False)
        assert await storage.load_workflow_snapshot(workflow_name="wf", run_id="cancelled") is None

    run_filled_async(path, check)


def test_an_async_snapshot_write_on_a_lost_connection_says_it_may_be_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's "Cannot operate on a closed database." on the loop's thread
    is a lost connection: as the sync direct write (the statement is its own
    commit), `ConnectionLostError(written=None)`, not tried again through
    aiosqlite; the next write gets a new connection."""
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        await storage.persist_workflow_snapshot(workflow_name="wf", run_id="r9", snapshot={})
        assert storage._inline is not None and storage._inline_kept is not None
        # The connection the next write gets: the one kept since the first.
        kept: Any = storage._inline_kept._fairy
        kept.driver_connection.close()
        with inline_writes(monkeypatch) as ran, pytest.raises(ConnectionLostError) as caught:
            await storage.persist_workflow_snapshot(
                workflow_name="wf", run_id="r9", snapshot={"lost": 1}
            )
        assert caught.value.written is None
        assert "closed database" in str(caught.value.__cause__)
        assert [step for _sql, step in ran] == [True]  # no second try
        await storage.persist_workflow_snapshot(workflow_name="wf", run_id="r9", snapshot={"ok": 1})
        assert await storage.load_workflow_snapshot(workflow_name="wf", run_id="r9") == {"ok": 1}

    run_filled_async(path, check)


def test_no_async_snapshot_write_on_the_loop_outside_wal_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An inline connection that is not in WAL mode (the switch refused: the
    file locked when it connected) writes nothing on the loop's thread: its
    commit could wait for readers. The write goes through aiosqlite."""
    path = tmp_path / "db.sqlite"
    sent: list[str] = []

    def rollback_journal(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA journal_mode = DELETE")  # we are its only connection
        dbapi_connection.set_trace_callback(sent.append)

    async def check(storage: AsyncDefaultStorage) -> None:
        await storage.init()
        await storage.engine.dispose()
        assert storage._inline is not None
        event.listen(storage._inline, "connect", rollback_journal)
        with inline_writes(monkeypatch) as ran:
            await storage.persist_workflow_snapshot(
                workflow_name="wf", run_id="delete", snapshot={"a": 1}
            )
        assert ran[-1] == (OFF_LOOP, False)
        assert not [sql for sql in sent if "INSERT" in sql]
        assert await storage.load_workflow_snapshot(workflow_name="wf", run_id="delete") == {"a": 1}

    run_filled_async(path, check)


def test_inline_snapshot_writes_alone_keep_the_wal_bounded(tmp_path: Path) -> None:
    """The inline connections never checkpoint (`wal_autocheckpoint = 0`:
    the loop never waits for one); every `WAL_PAGES_PER_CHECKPOINT` pages
    or so a PASSIVE checkpoint runs in a worker thread, which the writes
    wait for (off the loop). 3,000 writes of 2.5 KB (~30,000 WAL pages if
    never checkpointed, ~120 MB) leave a WAL of a few MB, as the sync
    storage's (SQLite's automatic checkpoint at 1,000 pages: ~4 MB)."""
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        for number in range(3_000):
            await storage.persist_workflow_snapshot(
                workflow_name="wf", run_id=f"run-{number % 500}", snapshot=BIG
            )
        assert storage._inline_kept is not None
        # The connection the last writes used: kept between them (`kept_connection`).
        kept: Any = storage._inline_kept._fairy
        autocheckpoint = kept.dbapi_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        assert autocheckpoint == 0
        assert Path(f"{path}-wal").stat().st_size < 6_000_000

    run_filled_async(path, check)


def test_gathered_async_snapshot_writes_let_the_other_tasks_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 writes gathered at once run on the loop's thread a slice at a
    time (`INLINE_SLICE_S`), then one per turn of the loop: with the slice
    made 0, every write after a turn's first waits for a later turn, so
    another task counting the loop's turns sees the writes end in ~300
    different turns (without the slice the burst ran in a handful)."""
    monkeypatch.setattr(async_storage, "INLINE_SLICE_S", 0.0)

    async def check(storage: AsyncDefaultStorage) -> None:
        await storage.init()
        finished = False
        turn = 0
        ended_in: list[int] = []  # the turn each write ended in

        async def count_turns() -> None:
            nonlocal turn
            while not finished:
                turn += 1
                await asyncio.sleep(0)

        async def write(number: int) -> None:
            await storage.persist_workflow_snapshot(
                workflow_name="wf", run_id=f"burst-{number}", snapshot=BIG
            )
            ended_in.append(turn)

        counting = asyncio.create_task(count_turns())
        await asyncio.sleep(0)
        with inline_writes(monkeypatch) as ran:
            await asyncio.gather(*(write(number) for number in range(300)))
        finished = True
        await counting
        assert len([step for _sql, step in _inserts(ran) if step]) >= 290
        assert len(set(ended_in)) >= 250, len(set(ended_in))
        runs = await storage.list_workflow_runs(workflow_name="wf", per_page=1)
        assert runs.total >= 300

    run_filled_async(tmp_path / "db.sqlite", check)


@pytest.mark.parametrize("kind", ["write", "read"])
def test_a_point_call_let_go_then_cancelled_passes_its_turn_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Point calls waiting in line: the one let go is cancelled before it
    runs; the ones behind it still go (they waited for another call to come
    before: forever, in a quiet program)."""
    monkeypatch.setattr(async_storage, "INLINE_SLICE_S", 0.0)

    async def check(storage: AsyncDefaultStorage) -> None:
        await storage.init()

        def call(number: int) -> Any:
            if kind == "write":
                return storage.persist_workflow_snapshot(
                    workflow_name="wf", run_id=f"c{number}", snapshot={"n": number}
                )
            return storage.load_workflow_snapshot(workflow_name="wf", run_id="run")

        first, second, third = (asyncio.ensure_future(call(n)) for n in range(3))
        await asyncio.sleep(0)  # the first runs; the others wait in line
        await asyncio.sleep(0)  # the turn ends: the second is let go...
        second.cancel()  # ...and cancelled before it runs
        await asyncio.wait([first, second, third], timeout=5)
        assert first.done() and second.cancelled()
        assert third.done() and third.exception() is None

    run_filled_async(tmp_path / "db.sqlite", check)


def test_a_large_async_snapshot_write_goes_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `INLINE_WRITE_MAX_CHARS` of text the upsert goes through aiosqlite
    (writing megabytes would hold the loop); a small one stays on it."""
    large = {"blob": "x" * (async_storage.INLINE_WRITE_MAX_CHARS + 1)}

    async def check(storage: AsyncDefaultStorage) -> None:
        await storage.init()
        with inline_writes(monkeypatch) as ran:
            await storage.persist_workflow_snapshot(
                workflow_name="wf", run_id="large", snapshot=large
            )
        assert ran[-1] == (OFF_LOOP, False)  # declined on the loop, before sending
        with inline_writes(monkeypatch) as ran:
            await storage.persist_workflow_snapshot(
                workflow_name="wf", run_id="small", snapshot={"a": 1}
            )
        assert [step for step in _inserts(ran) if step[1]] and (OFF_LOOP, False) not in ran
        loaded = await storage.load_workflow_snapshot(workflow_name="wf", run_id="large")
        assert loaded == large

    run_filled_async(tmp_path / "db.sqlite", check)


def test_large_async_snapshot_writes_keep_the_wal_bounded(tmp_path: Path) -> None:
    """Writes of ~200 KB (under the inline limit, ~50 pages each): the first
    checkpoint comes after `INLINE_WRITES_PER_CHECKPOINT` writes, the next
    ones after as many writes as the pages found allow, so the WAL stays
    at a few MB (2.5 MB here; 5.8 MB with a first checkpoint after 100)."""
    path = tmp_path / "db.sqlite"
    snapshot = {"blob": "y" * 200_000}

    async def check(storage: AsyncDefaultStorage) -> None:
        for number in range(200):
            await storage.persist_workflow_snapshot(
                workflow_name="wf", run_id=f"big-{number % 20}", snapshot=snapshot
            )
        assert Path(f"{path}-wal").stat().st_size < 4_000_000

    run_filled_async(path, check)


# -- short page reads on the event loop's thread (async SQLite) -----------------------

SHORT_PAGES: dict[str, Callable[[Any], Any]] = {
    "page": lambda s: s.list_messages(thread_id="t1", page=1, per_page=5),
    "last 3": lambda s: s.list_messages(thread_id="t1", per_page=3, direction="DESC"),
    "count only": lambda s: s.list_messages(thread_id="t1", per_page=0),
    "past the end": lambda s: s.list_messages(thread_id="t1", page=9, per_page=100),
    "by resource": lambda s: s.list_messages_by_resource_id(resource_id="r1", page=2, per_page=4),
}
"""Page reads the async SQLite storage runs on the loop's thread (`short_read`)."""

RECALLS: dict[str, tuple[dict[str, Any], bool]] = {
    "history": ({}, True),
    "100 messages, working memory": (
        {"last_messages": 100, "working_memory": {"enabled": True}},
        True,
    ),
    "101 messages": ({"last_messages": 101}, False),
}
"""`AsyncMemory.recall` options, and whether it runs on the loop's thread."""

LONG_PAGES: dict[str, Callable[[Any], Any]] = {
    "101 a page": lambda s: s.list_messages(thread_id="t1", per_page=101),
    "all": lambda s: s.list_messages(thread_id="t1", per_page=None),
    "windows": lambda s: s.list_messages(
        thread_id="t1", per_page=2, include=[{"id": "m09", "with_previous_messages": 1}]
    ),
    "two threads": lambda s: s.list_messages(thread_id=["t1", "t2"], per_page=5),
    "metadata": lambda s: s.list_messages(thread_id="t1", metadata={"k": 1}),
}
"""Page reads it runs in its worker thread: more rows, more statements, or
a metadata filter (a Python function per message on SQLite)."""


def _page_of(path: Path, read: Callable[[Any], Any]) -> Any:
    with DefaultStorage(url=f"file:{path}") as sync_storage:
        return read(sync_storage)


@pytest.mark.parametrize(
    ("name", "on_loop"),
    [(name, True) for name in sorted(SHORT_PAGES)] + [(name, False) for name in sorted(LONG_PAGES)],
)
def test_an_async_short_page_runs_on_the_loop_and_others_off_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, on_loop: bool
) -> None:
    """A short page: one statement on the loop's thread, no trip to a worker
    thread; the others in the worker thread. Either way, the sync result."""
    path = tmp_path / "db.sqlite"
    read = SHORT_PAGES[name] if on_loop else LONG_PAGES[name]

    async def check(storage: AsyncDefaultStorage) -> None:
        expected = _page_of(path, read)
        with inline_writes(monkeypatch) as ran:
            found = await read(storage)
        assert ran == ([(ran[0][0], True)] if on_loop else [(OFF_LOOP, False)])
        assert found == expected
        assert found.messages or name not in ("page", "101 a page", "all", "two threads")

    run_filled_async(path, check)


@pytest.mark.parametrize("name", sorted(RECALLS))
def test_an_async_memory_recall_of_up_to_100_messages_runs_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Without semantic recall, `recall` is one statement: up to
    `SHORT_READ_ROWS` messages it runs on the loop's thread, as a page."""
    path = tmp_path / "db.sqlite"
    options, on_loop = RECALLS[name]

    async def check(storage: AsyncDefaultStorage) -> None:
        with DefaultStorage(url=f"file:{path}") as sync_storage:
            expected = Memory(sync_storage, options=options).recall(
                thread_id="t1", resource_id="r1"
            )
        with inline_writes(monkeypatch) as ran:
            found = await AsyncMemory(storage, options=options).recall(
                thread_id="t1", resource_id="r1"
            )
        assert ran == ([(ran[0][0], True)] if on_loop else [(OFF_LOOP, False)])
        assert found == expected and found.messages

    run_filled_async(path, check)


def _stop_every_inline_statement(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any inline statement over its budget: SQLite checks after each step,
    and the budget is 0 s (stopped at its second check). For storages made
    afterwards (the check is installed when a connection opens)."""
    monkeypatch.setattr(async_storage, "PROGRESS_STEPS", 1)
    monkeypatch.setattr(async_storage, "INLINE_READ_BUDGET_S", 0.0)


def test_an_async_page_over_its_budget_is_stopped_and_read_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite stops the page's statement on the loop's thread once it has run
    `INLINE_READ_BUDGET_S`; the page is read in the worker thread instead,
    and so are the next `LONG_READ_SKIPS` pages of that thread, without a
    try on the loop; then the loop's thread is tried again: stopped again,
    twice as many pages skip it; within the budget, none. Other threads'
    pages, and point writes on the loop, are not concerned."""
    path = tmp_path / "db.sqlite"
    _stop_every_inline_statement(monkeypatch)
    monkeypatch.setattr(async_storage, "LONG_READ_SKIPS", 3)
    page = SHORT_PAGES["page"]

    async def check(storage: AsyncDefaultStorage) -> None:
        expected = _page_of(path, page)
        tried = [(True, True), (OFF_LOOP, False)]
        with inline_writes(monkeypatch) as ran:
            assert await page(storage) == expected
        assert [(sql if sql == OFF_LOOP else True, on) for sql, on in ran] == tried
        for _ in range(3):
            with inline_writes(monkeypatch) as ran:
                assert await page(storage) == expected
            assert ran == [(OFF_LOOP, False)]
        with inline_writes(monkeypatch) as ran:
            assert await page(storage) == expected
        assert [(sql if sql == OFF_LOOP else True, on) for sql, on in ran] == tried
        # The same thread by resource, and another thread: tried on the loop.
        for other in (SHORT_PAGES["by resource"], lambda s: s.list_messages(thread_id="t2")):
            with inline_writes(monkeypatch) as ran:
                await other(storage)
            assert ran[0][1] is True
        with inline_writes(monkeypatch) as ran:
            await storage.persist_workflow_snapshot(workflow_name="wf", run_id="w", snapshot=BIG)
        assert [step for step in _inserts(ran) if step[1]] and (OFF_LOOP, False) not in ran
        # Within the budget again: on the loop once t1's new skips (twice
        # as many) are used up, and from then on.
        monkeypatch.setattr(async_storage, "INLINE_READ_BUDGET_S", 60.0)
        for _ in range(6):
            with inline_writes(monkeypatch) as ran:
                assert await page(storage) == expected
            assert ran == [(OFF_LOOP, False)]
        for _ in range(2):
            with inline_writes(monkeypatch) as ran:
                assert await page(storage) == expected
            assert [on_loop for _sql, on_loop in ran] == [True]

    with DefaultStorage(url=f"file:{path}") as sync_storage:
        sync_storage.init()
        sync_storage.save_thread(thread={"id": "t2", "resource_id": "r2", "title": "t"})
    run_filled_async(path, check)


def test_an_async_page_long_on_the_loop_in_all_sends_the_next_ones_off_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short read whose statement SQLite did not stop (too few steps: one
    reading large messages, say) but that took more than twice the budget on
    the loop's thread in all (its messages built too) is remembered as an
    over-budget one: the next pages of that thread go to the worker thread."""
    path = tmp_path / "db.sqlite"
    monkeypatch.setattr(async_storage, "PROGRESS_STEPS", 10**9)  # never checked
    monkeypatch.setattr(async_storage, "INLINE_READ_BUDGET_S", 1e-6)
    page = SHORT_PAGES["page"]

    async def check(storage: AsyncDefaultStorage) -> None:
        expected = _page_of(path, page)
        with inline_writes(monkeypatch) as ran:
            assert await page(storage) == expected
        assert [on_loop for _sql, on_loop in ran] == [True]
        with inline_writes(monkeypatch) as ran:
            assert await page(storage) == expected
        assert ran == [(OFF_LOOP, False)]

    run_filled_async(path, check)


def test_the_threads_over_budget_remembered_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most `LONG_READS_KEPT` (operation, thread) pairs are remembered: the
    oldest is forgotten, and its next page tried on the loop again."""
    path = tmp_path / "db.sqlite"
    _stop_every_inline_statement(monkeypatch)
    monkeypatch.setattr(async_storage, "LONG_READS_KEPT", 2)

    async def check(storage: AsyncDefaultStorage) -> None:
        for thread in ("t1", "t2", "t3"):
            await storage.list_messages(thread_id=thread)
        assert len(storage._long_reads) == 2
        for thread, tried_on_loop in (("t3", False), ("t2", False), ("t1", True)):
            with inline_writes(monkeypatch) as ran:
                await storage.list_messages(thread_id=thread)
            assert ran[0][1] is tried_on_loop, thread

    with DefaultStorage(url=f"file:{path}") as sync_storage:
        sync_storage.init()
        for thread in ("t2", "t3"):
            sync_storage.save_thread(thread={"id": thread, "resource_id": "r2", "title": "t"})
    run_filled_async(path, check)
