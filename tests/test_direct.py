"""Single-statement calls on SQLite run their prebuilt statement directly on
the pooled DBAPI connection (`mastra_storage.direct`): the same results,
errors and bounds as through SQLAlchemy, nothing watched is bypassed."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import SingletonThreadPool, StaticPool
from support import SNAPSHOT
from support import fill_single_statement_data as fill

from mastra_storage import AsyncDefaultStorage, DefaultStorage, MastraStorage, direct, operations
from mastra_storage.engines import create_async_engine_for_url
from mastra_storage.errors import ConnectionLostError, StorageError, StorageTimeoutError

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
    "iter_messages": lambda s: list(s.iter_messages(thread_id="t1", batch_size=7)),
    "iter_messages (DESC)": lambda s: list(
        s.iter_messages(thread_id="t1", batch_size=7, direction="DESC")
    ),
    "persist_workflow_snapshot": lambda s: s.persist_workflow_snapshot(
        workflow_name="wf", run_id="run2", snapshot=SNAPSHOT
    ),
}


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
    """Close the one pooled connection while it waits in the pool (as a
    server restart or a killed backend would): the pool does not know."""
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


@pytest.mark.parametrize("name", sorted(CALLS))
def test_direct_results_equal_those_through_sqlalchemy(
    sqlite_storage: DefaultStorage, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    results = []
    for watched in (False, True):
        with direct_runs(monkeypatch) as ran:
            if watched:
                with observed(sqlite_storage) as seen:
                    result = CALLS[name](sqlite_storage)
                assert seen, "a watched engine's statements all go through its listener"
                assert not ran
            else:
                result = CALLS[name](sqlite_storage)
                assert ran
        after = sqlite_storage.load_workflow_snapshot(workflow_name="wf", run_id="run2")
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


# -- async SQLite: point reads on the event loop's thread ---------------------------

POINT_READS: dict[str, Callable[[Any], Any]] = {
    "get_thread_by_id": lambda s: s.get_thread_by_id(thread_id="t1"),
    "get_resource_by_id": lambda s: s.get_resource_by_id(resource_id="r1"),
    "load_workflow_snapshot": lambda s: s.load_workflow_snapshot(workflow_name="wf", run_id="run"),
    "get_workflow_run_by_id": lambda s: s.get_workflow_run_by_id(run_id="run"),
    "get_score_by_id": lambda s: s.get_score_by_id(id="score"),
}


def test_the_point_reads_are_the_ones_checked_here() -> None:
    marked = {
        name
        for name in operations.__all__
        if callable(getattr(operations, name))
        and operations.is_point_read(getattr(operations, name))
    }
    assert marked == set(POINT_READS)


def _filled_async(path: Path, **options: Any) -> AsyncDefaultStorage:
    with DefaultStorage(url=f"file:{path}") as sync_storage:
        sync_storage.init()
        fill(sync_storage)
    return AsyncDefaultStorage(url=f"file:{path}", **options)


@pytest.mark.parametrize("name", sorted(POINT_READS))
def test_an_async_point_read_runs_on_the_loop_and_equals_the_aiosqlite_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    async def check() -> None:
        storage = _filled_async(tmp_path / "db.sqlite")
        try:
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
        finally:
            await storage.close()

    asyncio.run(check())


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

    async def check() -> None:
        storage = _filled_async(tmp_path / "db.sqlite")
        try:
            expected = await storage.get_thread_by_id(thread_id="t1")
            monkeypatch.setattr(direct.DirectExecutor, "_run", refuse_once)
            assert await storage.get_thread_by_id(thread_id="t1") == expected
            assert len(refused) == 1
        finally:
            await storage.close()

    asyncio.run(check())


def test_an_async_point_read_error_that_is_no_wait_is_raised(tmp_path: Path) -> None:
    async def check() -> None:
        storage = _filled_async(tmp_path / "db.sqlite")
        try:
            await storage.init()
            async with storage.engine.begin() as conn:
                await conn.exec_driver_sql("DROP TABLE mastra_threads")
            with pytest.raises(StorageError, match="no such table"):
                await storage.get_thread_by_id(thread_id="t1")
        finally:
            await storage.close()

    asyncio.run(check())


def test_no_inline_reads_for_memory_or_a_callers_engine(tmp_path: Path) -> None:
    async def check() -> None:
        memory = AsyncDefaultStorage(url="file::memory:")
        engine = create_async_engine_for_url(f"file:{tmp_path / 'db.sqlite'}")
        callers = AsyncDefaultStorage(engine=engine)
        try:
            assert memory._inline is None and callers._inline is None
            assert await memory.get_thread_by_id(thread_id="none") is None
            assert await callers.get_thread_by_id(thread_id="none") is None
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

    async def check() -> None:
        storage = _filled_async(folder / "db.sqlite")
        try:
            await storage.init()
            await storage.engine.dispose()
            assert storage._inline is not None
            storage._inline.dispose()
            shutil.rmtree(folder)
            with pytest.raises(StorageError, match="unable to open"):
                await storage.get_thread_by_id(thread_id="t1")
        finally:
            await storage.close()

    asyncio.run(check())


def test_gathered_async_point_reads_let_the_other_tasks_run(tmp_path: Path) -> None:
    """Hundreds of point reads gathered at once run on the loop's thread a
    slice at a time: a task ready meanwhile runs before they have all ended."""

    async def check() -> None:
        storage = _filled_async(tmp_path / "db.sqlite")
        try:
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
        finally:
            await storage.close()

    asyncio.run(check())
