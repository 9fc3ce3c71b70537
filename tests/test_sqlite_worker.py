"""The async SQLite storage's calls run whole in a worker thread
(`mastra_storage.sqlite_worker`): one trip from the event loop a call,
not one per statement through aiosqlite; cancellation, lock bounds, errors
and `close()` as through aiosqlite."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event
from support import write_locked

from mastra_storage import AsyncDefaultStorage
from mastra_storage.errors import (
    NotFoundError,
    StorageClosedError,
    StorageTimeoutError,
    ValidationError,
)
from mastra_storage.sqlite_worker import SQLiteWorker, _Call

BASE = datetime(2026, 1, 1, tzinfo=UTC)

FORKS_THREADED = pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded:DeprecationWarning"
)
"""Forking a process with threads running is what these tests check we survive
(Python 3.12+ warns about it)."""

SLOW_INSERT = (
    "CREATE TRIGGER slow BEFORE INSERT ON mastra_messages WHEN NEW.id = 'm0003' BEGIN "
    "SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 200000000) SELECT x FROM c); END"
)
"""A trigger that holds the insert of message m0003 for a minute or more."""


def batch(count: int, *, first: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "id": f"m{i:04d}",
            "thread_id": "t1",
            "role": "user",
            "content": f"message {i}",
            "created_at": BASE + timedelta(milliseconds=i),
        }
        for i in range(first, first + count)
    ]


def run(
    path: Path, check: Callable[[AsyncDefaultStorage], Awaitable[None]], **options: Any
) -> None:
    """`check` on an async storage of the SQLite file `path` (a thread t1
    saved first), in a new event loop; closed afterwards."""

    async def main() -> None:
        async with AsyncDefaultStorage(url=f"file:{path}", **options) as storage:
            await storage.init()
            await storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"})
            await check(storage)

    asyncio.run(main())


def stored_ids(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM mastra_messages ORDER BY id")]


def test_a_save_is_one_trip_to_a_worker_thread_and_none_to_aiosqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save (five statements) and a page run each as one call in a worker
    thread: none of their statements goes through aiosqlite, the loop's
    thread runs none of them, and what they return is what is stored."""
    path = tmp_path / "db.sqlite"
    trips: list[str] = []
    threads: list[int] = []
    original_trip = aiosqlite.Connection._execute
    original_call = _Call.__call__

    async def counted_trip(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await original_trip(self, fn, *args, **kwargs)

    def recorded_call(self: _Call, conn: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return original_call(self, conn, **kwargs)

    async def check(storage: AsyncDefaultStorage) -> None:
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted_trip)
        monkeypatch.setattr(_Call, "__call__", recorded_call)
        saved = await storage.save_messages(messages=batch(150))
        page = await storage.list_messages(thread_id="t1", per_page=200)
        assert trips == []
        assert len(threads) == 2
        assert threading.get_ident() not in threads
        assert page.messages == saved
        assert page.total == 150

    run(path, check)
    assert stored_ids(path) == [f"m{i:04d}" for i in range(150)]


def test_errors_of_a_call_in_the_worker_are_the_sync_storages(tmp_path: Path) -> None:
    """Bad input and a missing thread raise as the sync storage does, with
    nothing written, and the storage goes on."""
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        with pytest.raises(ValidationError):
            await storage.save_messages(messages=[*batch(2), {"id": "x", "role": "user"}])
        with pytest.raises(NotFoundError):
            await storage.save_messages(messages=[dict(batch(1)[0], thread_id="missing")])
        with pytest.raises(NotFoundError):
            await storage.update_thread(id="missing", title="x", metadata={})
        assert (await storage.list_messages(thread_id="t1")).total == 0
        await storage.save_messages(messages=batch(3))

    run(path, check)
    assert stored_ids(path) == ["m0000", "m0001", "m0002"]


def test_a_call_waiting_for_the_write_lock_is_cancelled_at_once_and_never_writes(
    tmp_path: Path,
) -> None:
    """`asyncio.wait_for` gives up on a save and an update waiting for the
    write lock another connection holds: TimeoutError within a slice of the
    wait, not the 10 s bound; once the lock is free, neither is written."""
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        loop = asyncio.get_running_loop()
        with write_locked(path):
            for call in (
                storage.save_messages(messages=batch(5)),
                storage.update_thread(id="t1", title="late", metadata={}),
            ):
                started = loop.time()
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(call, 0.25)
                assert loop.time() - started < 1.5
        await asyncio.sleep(0.5)  # a worker still waiting would have its turn now
        assert (await storage.list_messages(thread_id="t1")).total == 0
        thread = await storage.get_thread_by_id(thread_id="t1")
        assert thread is not None and thread.title == "t"
        await storage.save_messages(messages=batch(2))

    run(path, check)
    assert stored_ids(path) == ["m0000", "m0001"]


def test_a_call_finding_the_write_lock_taken_past_its_bound_raises_a_timeout(
    tmp_path: Path,
) -> None:
    """The write lock held longer than `lock_timeout_ms`: StorageTimeoutError
    after about that bound (waited for in slices), nothing written."""
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        started = time.monotonic()
        with write_locked(path), pytest.raises(StorageTimeoutError):
            await storage.save_messages(messages=batch(5))
        assert 0.35 <= time.monotonic() - started < 3
        assert (await storage.list_messages(thread_id="t1")).total == 0

    run(path, check, lock_timeout_ms=400)


def test_a_save_cancelled_mid_statement_is_interrupted_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """Cancelled while its INSERT runs (a trigger holds it for a minute): the
    statement is interrupted and the transaction rolled back, so the write
    lock is free at once for another connection, and nothing is written."""
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute(SLOW_INSERT)
            conn.commit()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(storage.save_messages(messages=batch(5)), 0.3)
        # Without the interrupt the trigger would hold the write lock on.
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as conn:
            conn.execute("DROP TRIGGER slow")
            conn.commit()
        assert (await storage.list_messages(thread_id="t1")).total == 0
        await storage.save_messages(messages=batch(5))

    run(path, check)
    assert stored_ids(path) == [f"m{i:04d}" for i in range(5)]


async def saving(
    path: Path, *, count: int, size: int
) -> tuple[AsyncDefaultStorage, list[asyncio.Task[Any]]]:
    """An async storage of `path` (thread t1 saved) with `count` saves of
    `size` messages each started, under way in its worker threads."""
    storage = AsyncDefaultStorage(url=f"file:{path}")
    await storage.init()
    await storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"})
    saves = [
        asyncio.create_task(storage.save_messages(messages=batch(size, first=size * k)))
        for k in range(count)
    ]
    await asyncio.sleep(0)
    return storage, saves


def test_close_waits_for_the_calls_under_way(tmp_path: Path) -> None:
    """`close()` while saves run in worker threads: each save returns its
    messages or raises `StorageClosedError` (never half-written), and after
    `close()` nothing of the storage runs."""
    path = tmp_path / "db.sqlite"
    outcomes: list[Any] = []

    async def main() -> None:
        storage, saves = await saving(path, count=6, size=200)
        await storage.close()
        assert storage._worker is not None and not storage._worker._running
        outcomes.extend(await asyncio.gather(*saves, return_exceptions=True))

    asyncio.run(main())
    stored = set(stored_ids(path))
    for k, outcome in enumerate(outcomes):
        ids = {f"m{i:04d}" for i in range(200 * k, 200 * k + 200)}
        if isinstance(outcome, BaseException):
            assert type(outcome).__name__ == "StorageClosedError", outcome
            assert not ids & stored
        else:
            assert {m.id for m in outcome} == ids <= stored


def test_a_listener_on_the_storages_engine_sees_the_calls(tmp_path: Path) -> None:
    """A caller's statement listener on `storage.engine`: the calls go
    through that engine (aiosqlite), so the listener sees them."""
    path = tmp_path / "db.sqlite"
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split()[0])

    async def check(storage: AsyncDefaultStorage) -> None:
        event.listen(storage.engine.sync_engine, "before_cursor_execute", listen)
        await storage.save_messages(messages=batch(3))
        assert "INSERT" in seen
        assert (await storage.list_messages(thread_id="t1")).total == 3

    run(path, check)


@FORKS_THREADED
def test_a_forked_child_gets_threads_of_its_own(tmp_path: Path) -> None:
    """After `os.fork()` the child's calls run in new worker threads (the
    parent's are not in the child)."""
    import os

    path = tmp_path / "db.sqlite"
    storage = AsyncDefaultStorage(url=f"file:{path}")

    async def first() -> None:
        await storage.init()
        await storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"})
        await storage.save_messages(messages=batch(1))

    asyncio.run(first())
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:

            async def child() -> None:
                await asyncio.wait_for(storage.save_messages(messages=batch(1, first=1)), 10)

            asyncio.run(child())
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    asyncio.run(storage.close())
    assert stored_ids(path) == ["m0000", "m0001"]


def test_the_worker_is_used_only_where_it_can_be(tmp_path: Path) -> None:
    """A SQLite file whose engine the storage made has one; in-memory SQLite
    and a caller's engine do not (their calls go through aiosqlite)."""
    from mastra_storage.engines import create_async_engine_for_url

    async def main() -> None:
        async with AsyncDefaultStorage(url=f"file:{tmp_path / 'a.sqlite'}") as own:
            assert isinstance(own._worker, SQLiteWorker)
        async with AsyncDefaultStorage(url="file::memory:") as memory:
            assert memory._worker is None
        engine = create_async_engine_for_url(f"sqlite+aiosqlite:///{tmp_path / 'b.sqlite'}")
        async with AsyncDefaultStorage(engine=engine) as callers:
            assert callers._worker is None
        await engine.dispose()

    asyncio.run(main())


def test_close_on_another_loop_returns_after_calls_cancelled_on_the_first(
    tmp_path: Path,
) -> None:
    """Calls cancelled on one event loop (closed since), the storage closed
    from another: `close()` returns; it does not wait for the first loop's
    calls, which can no longer report back to it."""
    path = tmp_path / "db.sqlite"
    storage = AsyncDefaultStorage(url=f"file:{path}")

    async def first() -> None:
        await storage.init()
        await storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"})
        with write_locked(path), pytest.raises(TimeoutError):
            await asyncio.wait_for(storage.save_messages(messages=batch(3)), 0.05)

    asyncio.run(first())

    async def second() -> None:
        await asyncio.wait_for(storage.close(), 5)

    asyncio.run(second())
    assert stored_ids(path) == []


def test_a_caller_made_connection_source_keeps_the_aiosqlite_way(tmp_path: Path) -> None:
    """`async_creator=` (connections of the caller's making, which a sync
    engine could not make): no worker; the calls work through aiosqlite."""
    path = tmp_path / "db.sqlite"
    made: list[Any] = []

    async def connect() -> Any:
        connection = await aiosqlite.connect(path)
        made.append(connection)
        return connection

    async def main() -> None:
        async with AsyncDefaultStorage(url=f"file:{path}", async_creator=connect) as storage:
            assert storage._worker is None
            await storage.init()
            await storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"})
            await storage.save_messages(messages=batch(2))
            assert (await storage.list_messages(thread_id="t1")).total == 2

    asyncio.run(main())
    assert made
    assert stored_ids(path) == ["m0000", "m0001"]


def test_a_stop_iteration_in_a_callers_callback_is_a_runtime_error(tmp_path: Path) -> None:
    """`update_thread_metadata`'s `update` raising StopIteration (a `next()`
    on an empty iterator): RuntimeError, as aiosqlite's way gives (a future
    cannot carry StopIteration: the call never returned), nothing written."""
    path = tmp_path / "db.sqlite"

    def update(metadata: dict[str, Any]) -> dict[str, Any]:
        return {**metadata, "first": next(iter(metadata.get("tags", [])))}

    async def check(storage: AsyncDefaultStorage) -> None:
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(storage.update_thread_metadata(id="t1", update=update), 10)
        thread = await storage.get_thread_by_id(thread_id="t1")
        assert thread is not None and thread.metadata in (None, {})

    run(path, check)


def test_the_callers_context_variables_reach_the_call(tmp_path: Path) -> None:
    """A callback run by the call (`update_thread_metadata`'s `update`) sees
    the caller's context variables, as on the loop's thread."""
    path = tmp_path / "db.sqlite"
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

    async def check(storage: AsyncDefaultStorage) -> None:
        request_id.set("req-42")
        thread = await storage.update_thread_metadata(
            id="t1", update=lambda metadata: {**metadata, "request": request_id.get()}
        )
        assert thread.metadata == {"request": "req-42"}

    run(path, check)


def test_a_callers_pool_hook_on_the_engine_applies_to_every_call(tmp_path: Path) -> None:
    """A `connect` listener added to `storage.engine` (registering a SQL
    function a trigger calls): from then on every call, saves and point
    reads too, runs on connections it made (aiosqlite's)."""
    path = tmp_path / "db.sqlite"
    audited: list[str] = []

    def hook(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.create_function("audit", 1, audited.append)

    async def check(storage: AsyncDefaultStorage) -> None:
        event.listen(storage.engine.sync_engine, "connect", hook)
        await storage.engine.dispose()
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute(
                "CREATE TRIGGER audited AFTER INSERT ON mastra_messages "
                "BEGIN SELECT audit(NEW.id); END"
            )
        await storage.save_messages(messages=batch(2))
        await storage.persist_workflow_snapshot(workflow_name="wf", run_id="r", snapshot={})
        assert await storage.get_thread_by_id(thread_id="t1") is not None
        assert audited == ["m0000", "m0001"]

    run(path, check)


def test_a_second_close_returns_when_the_first_is_done(tmp_path: Path) -> None:
    """`gather(close(), close())` while saves run: neither returns before
    the saves are over and the connections are back."""
    path = tmp_path / "db.sqlite"

    async def main() -> None:
        storage, saves = await saving(path, count=4, size=300)
        order: list[str] = []

        async def close(name: str) -> None:
            await storage.close()
            order.append(name)
            assert all(save.done() for save in saves), f"close {name} returned first"

        await asyncio.gather(close("a"), close("b"))
        await asyncio.gather(*saves, return_exceptions=True)
        assert sorted(order) == ["a", "b"]

    asyncio.run(main())


def test_many_calls_waiting_for_the_lock_stay_within_the_bounds_and_reads_go_on(
    tmp_path: Path,
) -> None:
    """300 saves gathered while another connection holds the write lock
    (lock_timeout_ms=300, pool_timeout_s=1): each raises StorageTimeoutError
    within about pool_timeout_s + lock_timeout_ms (a thread waited for as a
    pooled connection, then the lock); a page read meanwhile needs no lock
    and does not wait behind them."""
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        loop = asyncio.get_running_loop()
        with write_locked(path):
            started = loop.time()
            saves = [
                asyncio.ensure_future(storage.save_messages(messages=batch(1, first=k)))
                for k in range(300)
            ]
            await asyncio.sleep(0.05)
            read_started = loop.time()
            page = await storage.list_messages(thread_id="t1")
            read_took = loop.time() - read_started
            outcomes = await asyncio.gather(*saves, return_exceptions=True)
            took = loop.time() - started
        assert page.total == 0
        assert read_took < 1.0
        assert all(isinstance(o, StorageTimeoutError) for o in outcomes), outcomes[:3]
        assert took < 1.0 + 0.3 + 1.5, took
        assert stored_ids(path) == []

    run(path, check, lock_timeout_ms=300, pool_timeout_s=1.0)


def test_a_lock_bound_below_a_slice_is_kept(tmp_path: Path) -> None:
    """lock_timeout_ms=20: ten saves finding the lock taken raise
    StorageTimeoutError after about 20 ms each, not a 100 ms slice each."""
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        started = time.monotonic()
        with write_locked(path):
            for k in range(10):
                with pytest.raises(StorageTimeoutError):
                    await storage.save_messages(messages=batch(1, first=k))
        assert time.monotonic() - started < 0.8

    run(path, check, lock_timeout_ms=20)


@FORKS_THREADED
def test_a_child_forked_while_a_call_runs_closes(tmp_path: Path) -> None:
    """`os.fork()` while the parent's loop (in another thread) has a call
    under way: in the child, `close()` returns (it does not wait for the
    parent's calls, which never finish there) and new calls work."""
    import os

    path = tmp_path / "db.sqlite"
    storage = AsyncDefaultStorage(url=f"file:{path}")
    asyncio.run(storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"}))
    stop = threading.Event()

    def reads() -> None:
        async def loop() -> None:
            while not stop.is_set():
                await storage.list_messages(thread_id="t1", per_page=10)

        asyncio.run(loop())

    reader = threading.Thread(target=reads)
    reader.start()
    time.sleep(0.2)
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:

            async def child() -> None:
                await asyncio.wait_for(storage.close(), 5)

            asyncio.run(child())
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    stop.set()
    reader.join(10)
    asyncio.run(storage.close())
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_call_waits_for_a_busy_worker_thread_at_most_pool_timeout_s(tmp_path: Path) -> None:
    """Both write threads (pool_size=2) wait for the lock (lock_timeout_ms 6 s):
    a third save waits for a thread at most pool_timeout_s (0.3 s), not for
    as long as the calls ahead of it wait for the lock, and writes nothing;
    the two ahead save once the lock is free."""
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        assert storage._worker is not None and storage._worker.threads == 2
        loop = asyncio.get_running_loop()
        with write_locked(path):
            ahead = [
                asyncio.ensure_future(storage.save_messages(messages=batch(1, first=k)))
                for k in range(2)
            ]
            await asyncio.sleep(0.1)
            started = loop.time()
            with pytest.raises(StorageTimeoutError, match="no worker thread"):
                await storage.save_messages(messages=batch(1, first=2))
            waited = loop.time() - started
        await asyncio.gather(*ahead)
        assert 0.25 < waited < 2.0, waited
        assert stored_ids(path) == ["m0000", "m0001"]

    run(path, check, pool_size=2, max_overflow=0, pool_timeout_s=0.3, lock_timeout_ms=6_000)


def test_the_worker_threads_follow_the_pool_size(tmp_path: Path) -> None:
    """pool_size=12: twelve saves at once all get a thread (they wait for the
    lock, not for a thread: pool_timeout_s=0.1 would fail them) and save once
    the lock is free, as twelve threads of the sync storage would."""
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        with write_locked(path):
            saves = [
                asyncio.ensure_future(storage.save_messages(messages=batch(1, first=k)))
                for k in range(12)
            ]
            await asyncio.sleep(0.5)
        await asyncio.gather(*saves)
        assert len(stored_ids(path)) == 12

    run(path, check, pool_size=12, max_overflow=0, pool_timeout_s=0.1, lock_timeout_ms=5_000)


def test_a_tiny_pool_timeout_fails_no_call_while_a_thread_is_free(tmp_path: Path) -> None:
    """pool_timeout_s=1e-6: with threads free (the first call making its
    thread, too), no call waits for one, so none fails for want of one."""
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        for k in range(50):
            await storage.save_messages(messages=batch(1, first=k))
            assert (await storage.list_messages(thread_id="t1", per_page=None)).total == k + 1

    run(path, check, pool_timeout_s=1e-6)


def open_files(path: Path) -> list[str]:
    """This process's open files of the database `path` (and its -wal, -shm)."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith(str(path)):
                found.append(target)
    return found


LINUX_FDS = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc/self/fd (Linux)"
)


@LINUX_FDS
def test_a_cancelled_close_still_releases_everything(tmp_path: Path) -> None:
    """`close()` cancelled (by `wait_for`) while it waits for a save that waits
    for the write lock: the release goes on; a second `close()` returns once
    it is done, and no connection to the file is left open."""
    path = tmp_path / "db.sqlite"

    async def main() -> None:
        storage = AsyncDefaultStorage(url=f"file:{path}", lock_timeout_ms=5_000)
        await storage.init()
        await storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"})
        assert await storage.list_messages(thread_id="t1") is not None
        with write_locked(path):
            save = asyncio.ensure_future(storage.save_messages(messages=batch(1)))
            await asyncio.sleep(0.1)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(storage.close(), 0.3)
            assert not save.done()
        await storage.close()
        assert save.done() and len(save.result()) == 1
        assert open_files(path) == []
        with pytest.raises(StorageClosedError):
            await storage.get_thread_by_id(thread_id="t1")

    asyncio.run(main())


@LINUX_FDS
def test_close_ends_the_calls_not_yet_started_and_waits_for_the_others(
    tmp_path: Path,
) -> None:
    """2,000 point reads, pages and saves gathered, then `close()`: those not
    yet started (point reads waiting for their turn on the loop) raise
    StorageClosedError, those under way end before `close()` returns; none
    runs after it, and no connection to the file is left open."""
    path = tmp_path / "db.sqlite"
    closed = False
    after_close: list[str] = []

    async def call(storage: AsyncDefaultStorage, k: int) -> str:
        try:
            if k % 10 == 0:
                await storage.save_messages(messages=batch(1, first=k))
            elif k % 10 == 1:
                await storage.list_messages(thread_id="t1", per_page=None)
            else:
                await storage.get_thread_by_id(thread_id="t1")
        except StorageClosedError:
            return "closed"
        if closed:
            after_close.append(str(k))
        return "ran"

    async def main() -> None:
        nonlocal closed
        storage = AsyncDefaultStorage(url=f"file:{path}")
        await storage.init()
        await storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"})
        calls = [asyncio.ensure_future(call(storage, k)) for k in range(2_000)]
        await asyncio.sleep(0)
        await storage.close()
        closed = True
        outcomes = await asyncio.gather(*calls)
        assert after_close == []
        assert "closed" in outcomes and "ran" in outcomes
        assert open_files(path) == []

    asyncio.run(main())


@LINUX_FDS
def test_close_waits_for_a_first_calls_init(tmp_path: Path) -> None:
    """The first call's `init` waits for the write lock when `close()` comes:
    `close()` waits for it, the call raises StorageClosedError (its operation
    never started), and nothing is left open."""
    path = tmp_path / "db.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE other (x)")

    async def main() -> None:
        storage = AsyncDefaultStorage(url=f"file:{path}", lock_timeout_ms=5_000)
        with write_locked(path):
            first = asyncio.ensure_future(storage.get_thread_by_id(thread_id="t1"))
            await asyncio.sleep(0.2)
            closing = asyncio.ensure_future(storage.close())
            await asyncio.sleep(0.2)
            assert not closing.done()
        await closing
        with pytest.raises(StorageClosedError):
            await first
        assert open_files(path) == []

    asyncio.run(main())


def test_reads_never_wait_behind_writes_waiting_for_the_lock(tmp_path: Path) -> None:
    """Twenty writes wait for the write lock another connection holds (the
    pool: 15 connections): they take turns before taking a connection, so a
    read meanwhile finds one at once; all twenty write once the lock is free."""
    path = tmp_path / "db.sqlite"

    async def check(storage: AsyncDefaultStorage) -> None:
        loop = asyncio.get_running_loop()
        with write_locked(path):
            writes = [
                asyncio.ensure_future(
                    storage.update_resource(resource_id=f"r{k}", working_memory=f"# {k}")
                )
                for k in range(20)
            ]
            await asyncio.sleep(0.2)
            started = loop.time()
            threads = await storage.list_threads()
            took = loop.time() - started
            assert not any(write.done() for write in writes)
        await asyncio.gather(*writes)
        assert threads.total == 1 and took < 0.9, took
        for k in range(20):
            found = await storage.get_resource_by_id(resource_id=f"r{k}")
            assert found is not None and found.working_memory == f"# {k}"

    run(path, check, pool_timeout_s=1.0, lock_timeout_ms=10_000)


@LINUX_FDS
def test_a_close_cut_short_by_the_loops_end_still_releases_everything(tmp_path: Path) -> None:
    """`close()` given up by `wait_for` while a save waits for the write lock,
    then `asyncio.run` ends (cancelling every task, the release too): the
    release goes on all the same; no connection to the file is left open."""
    path = tmp_path / "db.sqlite"
    held = contextlib.ExitStack()

    async def main() -> None:
        storage = AsyncDefaultStorage(url=f"file:{path}", lock_timeout_ms=5_000)
        await storage.init()
        await storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"})
        held.enter_context(write_locked(path))  # until after asyncio.run
        save = asyncio.ensure_future(storage.save_messages(messages=batch(1)))
        await asyncio.sleep(0.1)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(storage.close(), 0.2)
        assert not save.done()

    with held:
        asyncio.run(main())
    assert open_files(path) == []
    assert stored_ids(path) == []
