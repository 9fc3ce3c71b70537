"""Async PostgreSQL's single-statement reads on the connection the storage
holds between calls (`mastra_storage.held_connection`): the connection goes back
to the pool when it should, and no error, cancellation, lost connection,
event loop change or fork leaves it in a wrong state or loses a read.

PostgreSQL only: the held connection is psycopg's (SQLite's async reads run
on the loop's thread their own way, see test_sqlite_worker.py)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from support import fill_single_statement_data, in_child, snapshot_row_locked

from mastra_storage import AsyncPostgresStorage, PostgresStorage, held_connection
from mastra_storage.errors import ConnectionLostError, StorageTimeoutError, ValidationError


@pytest.fixture
def schema(postgres_url: str, pg_schemas: Any) -> str:
    name: str = pg_schemas.new("held")
    with PostgresStorage(url=postgres_url, schema=name) as filler:
        filler.init()
        fill_single_statement_data(filler)
    return name


def held_pid(storage: AsyncPostgresStorage) -> int | None:
    """The server process of the connection the storage holds (None: none)."""
    fairy = storage._held._fairy if storage._held is not None else None
    return None if fairy is None else int(fairy.driver_connection.info.backend_pid)


def checked_out(storage: AsyncPostgresStorage) -> int:
    return int(storage.engine.sync_engine.pool.checkedout())  # type: ignore[attr-defined]


def server_pids(url: str) -> set[int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT pid FROM pg_stat_activity").all()
        return {int(row[0]) for row in rows}
    finally:
        engine.dispose()


@pytest.fixture
def table_locked(postgres_url: str, schema: str) -> Iterator[threading.Event]:
    """A sync transaction holding ACCESS EXCLUSIVE on the threads table (so
    any read of it waits on the server) until the event is set."""
    release = threading.Event()
    locked = threading.Event()
    engine = create_engine(postgres_url)

    def hold() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'LOCK TABLE "{schema}".mastra_threads IN ACCESS EXCLUSIVE MODE')
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    try:
        yield release
    finally:
        release.set()
        holder.join(30)
        engine.dispose()


def test_a_read_is_held_then_given_back_once_idle(
    postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(held_connection, "HELD_IDLE_S", 0.05)

    async def check() -> None:
        async with AsyncPostgresStorage(url=postgres_url, schema=schema) as storage:
            await storage.init()
            thread = await storage.get_thread_by_id(thread_id="t1")
            assert thread is not None and thread.metadata == {"a": 1}
            pid = held_pid(storage)
            assert pid is not None and checked_out(storage) == 1
            # The next reads take the same connection.
            for _ in range(3):
                assert await storage.get_resource_by_id(resource_id="r1") is not None
                assert held_pid(storage) == pid
            await asyncio.sleep(0.3)
            assert held_pid(storage) is None
            assert checked_out(storage) == 0

    asyncio.run(check())


def test_a_call_using_it_when_the_idle_check_comes_does_not_keep_it_for_good(
    postgres_url: str, schema: str, table_locked: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read waiting on the server (a locked table) across several idle
    checks: once it ends, the connection still goes back after the idle
    time (the check skipped while in use, not given up)."""
    monkeypatch.setattr(held_connection, "HELD_IDLE_S", 0.05)

    async def check() -> None:
        async with AsyncPostgresStorage(url=postgres_url, schema=schema) as storage:
            await storage.init()
            assert await storage.get_resource_by_id(resource_id="r1") is not None
            pid = held_pid(storage)
            loop = asyncio.get_running_loop()
            loop.call_later(0.4, table_locked.set)
            thread = await storage.get_thread_by_id(thread_id="t1")  # waits for the lock
            assert thread is not None and held_pid(storage) == pid
            await asyncio.sleep(0.4)
            assert held_pid(storage) is None and checked_out(storage) == 0

    asyncio.run(check())


def test_a_connection_held_long_goes_back_at_its_next_idle_moment(
    postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Busy all along, it still goes back to the pool after `HELD_MAX_S`
    (where the pool's recycle and pre-ping checks apply again)."""
    monkeypatch.setattr(held_connection, "HELD_IDLE_S", 0.02)
    monkeypatch.setattr(held_connection, "HELD_MAX_S", 0.1)
    taken: set[float] = set()

    async def check() -> None:
        async with AsyncPostgresStorage(url=postgres_url, schema=schema) as storage:
            await storage.init()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 0.5
            while loop.time() < deadline:
                await storage.get_thread_by_id(thread_id="t1")
                taken.add(storage._held._taken_at)  # type: ignore[union-attr]
                await asyncio.sleep(0.005)

    asyncio.run(check())
    assert len(taken) >= 3  # checked out again about every HELD_MAX_S


def test_other_calls_take_the_held_connection_when_the_pool_is_exhausted(
    postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pooled connections: one held by a read, the other checked out by
    the caller. A write (and a read that goes the usual way) get the held
    one at once, not after `pool_timeout_s`."""
    monkeypatch.setattr(held_connection, "HELD_IDLE_S", 60.0)

    async def check() -> None:
        async with AsyncPostgresStorage(
            url=postgres_url, schema=schema, pool_size=2, max_overflow=0, pool_timeout_s=0.5
        ) as storage:
            await storage.init()
            assert await storage.get_thread_by_id(thread_id="t1") is not None
            assert held_pid(storage) is not None
            async with storage.engine.connect() as mine:
                await storage.save_thread(thread={"id": "t2", "resource_id": "r1", "title": "x"})
                threads = await storage.list_threads(per_page=10)  # not single-statement
                assert {t.id for t in threads.threads} == {"t1", "t2"}
                await mine.exec_driver_sql("SELECT 1")

    asyncio.run(check())


def test_a_call_waiting_for_the_pool_gets_it_when_a_held_read_ends(
    postgres_url: str, schema: str, table_locked: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One pooled connection, a held read on it waiting on the server, a
    write waiting for the pool: when the read ends, the connection goes
    back at once (the pool is full), not at the idle check."""
    monkeypatch.setattr(held_connection, "HELD_IDLE_S", 60.0)

    async def check() -> None:
        async with AsyncPostgresStorage(
            url=postgres_url, schema=schema, pool_size=1, max_overflow=0, pool_timeout_s=3
        ) as storage:
            await storage.init()
            read = asyncio.ensure_future(storage.get_thread_by_id(thread_id="t1"))
            await asyncio.sleep(0.2)  # the read waits for the table
            write = asyncio.ensure_future(
                storage.persist_workflow_snapshot(workflow_name="wf", run_id="w", snapshot={})
            )
            await asyncio.sleep(0.2)  # the write waits for the pool
            table_locked.set()
            assert (await read) is not None
            await write
            assert await storage.load_workflow_snapshot(workflow_name="wf", run_id="w") == {}

    asyncio.run(check())


def test_gathered_reads_share_it_or_go_the_usual_way(postgres_url: str, schema: str) -> None:
    async def check() -> None:
        async with AsyncPostgresStorage(
            url=postgres_url, schema=schema, pool_size=2, max_overflow=0
        ) as storage:
            await storage.init()
            found = await asyncio.gather(
                *(storage.get_thread_by_id(thread_id="t1") for _ in range(30)),
                *(
                    storage.load_workflow_snapshot(workflow_name="wf", run_id="run")
                    for _ in range(30)
                ),
                *(storage.get_thread_by_id(thread_id="missing") for _ in range(5)),
            )
            assert all(t is not None and t.id == "t1" for t in found[:30])
            assert all(s is not None for s in found[30:60])
            assert found[60:] == [None] * 5
            assert checked_out(storage) <= 1

    asyncio.run(check())


def test_bad_input_raises_and_sends_nothing(postgres_url: str, schema: str) -> None:
    async def check() -> None:
        async with AsyncPostgresStorage(url=postgres_url, schema=schema) as storage:
            await storage.init()
            with pytest.raises(ValidationError):
                await storage.get_thread_by_id(thread_id="")
            with pytest.raises(ValidationError):
                await storage.load_workflow_snapshot(workflow_name="wf", run_id=None)  # type: ignore[arg-type]
            assert held_pid(storage) is None and checked_out(storage) == 0

    asyncio.run(check())


def test_a_read_cancelled_mid_statement_drops_the_connection(
    postgres_url: str, schema: str, table_locked: threading.Event
) -> None:
    """Cancelled while the server runs it (waiting for a lock): the server is
    told to cancel it, the connection is dropped, not held nor pooled, and
    the next read gets a new one."""

    async def check() -> None:
        async with AsyncPostgresStorage(url=postgres_url, schema=schema) as storage:
            await storage.init()
            assert await storage.load_workflow_snapshot(workflow_name="wf", run_id="run")
            pid = held_pid(storage)
            assert pid is not None
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(storage.get_thread_by_id(thread_id="t1"), 0.3)
            for _ in range(50):  # the drop runs in a task of its own
                await asyncio.sleep(0.02)
                if checked_out(storage) == 0:
                    break
            assert held_pid(storage) is None and checked_out(storage) == 0
            assert pid not in server_pids(postgres_url)
            table_locked.set()
            thread = await storage.get_thread_by_id(thread_id="t1")
            assert thread is not None and thread.metadata == {"a": 1}
            assert held_pid(storage) not in (None, pid)

    asyncio.run(check())


def test_a_server_timeout_raises_and_the_connection_is_given_back(
    postgres_url: str, schema: str, table_locked: threading.Event
) -> None:
    async def check() -> None:
        async with AsyncPostgresStorage(
            url=postgres_url, schema=schema, statement_timeout_s=0.3
        ) as storage:
            await storage.init()
            assert await storage.load_workflow_snapshot(workflow_name="wf", run_id="run")
            pid = held_pid(storage)
            with pytest.raises(StorageTimeoutError):
                await storage.get_thread_by_id(thread_id="t1")
            assert held_pid(storage) is None and checked_out(storage) == 0
            assert pid in server_pids(postgres_url)  # back in the pool, alive
            table_locked.set()
            assert await storage.get_thread_by_id(thread_id="t1") is not None

    asyncio.run(check())


def test_a_held_connection_the_server_ended_is_replaced_and_the_read_runs_again(
    postgres_url: str, schema: str
) -> None:
    async def check() -> None:
        async with AsyncPostgresStorage(url=postgres_url, schema=schema) as storage:
            await storage.init()
            assert await storage.get_thread_by_id(thread_id="t1") is not None
            pid = held_pid(storage)
            killer = create_engine(postgres_url)
            with killer.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid or 0)}, 5000)")
            killer.dispose()
            thread = await storage.get_thread_by_id(thread_id="t1")
            assert thread is not None and thread.metadata == {"a": 1}
            assert checked_out(storage) <= 1

    asyncio.run(check())


def test_close_gives_the_held_connection_back_and_closes_it(
    postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(held_connection, "HELD_IDLE_S", 60.0)

    async def check() -> int | None:
        storage = AsyncPostgresStorage(url=postgres_url, schema=schema)
        await storage.init()
        assert await storage.get_thread_by_id(thread_id="t1") is not None
        pid = held_pid(storage)
        # At once: not after the idle period (60 s here).
        await asyncio.wait_for(storage.close(), 10)
        assert held_pid(storage) is None
        return pid

    pid = asyncio.run(check())
    assert pid is not None and pid not in server_pids(postgres_url)


def test_a_caller_pool_hook_sees_every_read_check_out(postgres_url: str, schema: str) -> None:
    """A `checkout` listener (a per-call tenant setting, say) expects one
    checkout per call: with one, reads are not held."""
    seen: list[int] = []

    async def check() -> None:
        async with AsyncPostgresStorage(url=postgres_url, schema=schema) as storage:
            await storage.init()
            event.listen(storage.engine.sync_engine.pool, "checkout", lambda *a: seen.append(1))
            for _ in range(4):
                assert await storage.get_thread_by_id(thread_id="t1") is not None
            assert held_pid(storage) is None

    asyncio.run(check())
    assert len(seen) == 4


def test_the_end_of_its_event_loop_gives_it_back(
    postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`asyncio.run` ending with a connection held (a storage not closed
    yet): it is back in the pool (else SQLAlchemy's garbage collection of
    a checked-out connection warns), and the next loop's reads take one."""
    monkeypatch.setattr(held_connection, "HELD_IDLE_S", 60.0)
    storage = AsyncPostgresStorage(url=postgres_url, schema=schema)

    async def read() -> int | None:
        assert await storage.get_thread_by_id(thread_id="t1") is not None
        return held_pid(storage)

    try:
        for _ in range(2):
            assert asyncio.run(read()) is not None
            assert held_pid(storage) is None and checked_out(storage) == 0
    finally:
        asyncio.run(storage.close())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork")
def test_a_forked_child_reads_on_its_own_connection_and_leaves_the_parents(
    postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gunicorn --preload style: the parent read (its connection back in its
    pool when its loop ended), then forks. The child reads on a connection
    of its own, never the parent's (the socket is shared), and the
    parent's stays usable."""
    monkeypatch.setattr(held_connection, "HELD_IDLE_S", 60.0)
    storage = AsyncPostgresStorage(url=postgres_url, schema=schema)

    async def read() -> int | None:
        thread = await storage.get_thread_by_id(thread_id="t1")
        assert thread is not None and thread.metadata == {"a": 1}
        return held_pid(storage)

    def in_the_child() -> None:
        if asyncio.run(read()) == parent_pid:
            raise AssertionError("the child read on the parent's connection")
        asyncio.run(storage.close())

    try:
        parent_pid = asyncio.run(read())
        assert in_child(in_the_child) == "ok"
        assert asyncio.run(read()) == parent_pid  # alive, given back, taken again
    finally:
        asyncio.run(storage.close())


def test_a_snapshot_write_on_the_held_connection_is_committed_when_it_returns(
    postgres_url: str, schema: str
) -> None:
    """Written through the held connection, read by another connection."""

    async def check() -> None:
        async with AsyncPostgresStorage(url=postgres_url, schema=schema) as storage:
            await storage.init()
            for k in range(5):
                await storage.persist_workflow_snapshot(
                    workflow_name="wf", run_id="w", snapshot={"k": k}
                )
                assert held_pid(storage) is not None
                with PostgresStorage(url=postgres_url, schema=schema) as other:
                    assert other.load_workflow_snapshot(workflow_name="wf", run_id="w") == {"k": k}
            run = await storage.get_workflow_run_by_id(run_id="w", workflow_name="wf")
            assert run is not None and run.created_at < run.updated_at

    asyncio.run(check())


def test_a_snapshot_write_on_a_held_connection_the_server_ended_wrote_nothing(
    postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found closed before the upsert is sent: `written=False`, as the sync
    class says; the next write lands."""
    monkeypatch.setattr(held_connection, "HELD_IDLE_S", 60.0)

    async def check() -> None:
        async with AsyncPostgresStorage(url=postgres_url, schema=schema) as storage:
            await storage.init()
            assert await storage.get_thread_by_id(thread_id="t1") is not None
            killer = create_engine(postgres_url)
            with killer.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_terminate_backend({held_pid(storage)}, 5000)")
            killer.dispose()
            with pytest.raises(ConnectionLostError) as caught:
                await storage.persist_workflow_snapshot(
                    workflow_name="wf", run_id="r9", snapshot={"a": 1}
                )
            assert caught.value.written is False
            assert await storage.load_workflow_snapshot(workflow_name="wf", run_id="r9") is None
            await storage.persist_workflow_snapshot(
                workflow_name="wf", run_id="r9", snapshot={"ok": 1}
            )
            found = await storage.load_workflow_snapshot(workflow_name="wf", run_id="r9")
            assert found == {"ok": 1}

    asyncio.run(check())


def test_a_snapshot_write_whose_held_connection_drops_on_the_way_may_be_lost(
    postgres_url: str, schema: str
) -> None:
    """Sent (waiting for a row lock) when its backend is ended: whether it
    committed is not known, and the error says so (`written=None`)."""

    async def check() -> None:
        async with AsyncPostgresStorage(url=postgres_url, schema=schema) as storage:
            await storage.init()
            await storage.persist_workflow_snapshot(
                workflow_name="wf", run_id="r", snapshot={"a": 0}
            )
            with snapshot_row_locked(postgres_url, schema, "r") as conn:
                write = asyncio.ensure_future(
                    storage.persist_workflow_snapshot(
                        workflow_name="wf", run_id="r", snapshot={"a": 1}
                    )
                )
                pid = None
                for _ in range(500):
                    await asyncio.sleep(0.02)
                    pid = conn.exec_driver_sql(
                        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE 'INSERT INTO %%mastra_workflow_snapshot%%'"
                    ).scalar()
                    if pid is not None:
                        break
                assert pid == held_pid(storage)
                conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
                with pytest.raises(ConnectionLostError) as caught:
                    await write
            assert caught.value.written is None
            found = await storage.load_workflow_snapshot(workflow_name="wf", run_id="r")
            assert found == {"a": 0}

    asyncio.run(check())


def test_a_cancelled_snapshot_write_is_cancelled_on_the_server(
    postgres_url: str, schema: str
) -> None:
    """Cancelled (`wait_for`) while it waits for a row lock: the upsert, which
    would commit by itself once the lock is free, is cancelled on the
    server, so nothing is written after the caller was told it failed."""

    async def check() -> None:
        async with AsyncPostgresStorage(url=postgres_url, schema=schema) as storage:
            await storage.init()
            await storage.persist_workflow_snapshot(
                workflow_name="wf", run_id="r", snapshot={"a": 0}
            )
            assert held_pid(storage) is not None
            with snapshot_row_locked(postgres_url, schema, "r"):
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(
                        storage.persist_workflow_snapshot(
                            workflow_name="wf", run_id="r", snapshot={"a": 1}
                        ),
                        0.3,
                    )
                await asyncio.sleep(0.3)  # the drop (the server's cancel) in its task
            await asyncio.sleep(0.5)  # the lock is free: an upsert still running lands now
            found = await storage.load_workflow_snapshot(workflow_name="wf", run_id="r")
            assert found == {"a": 0}
            await storage.persist_workflow_snapshot(
                workflow_name="wf", run_id="r", snapshot={"a": 2}
            )
            found = await storage.load_workflow_snapshot(workflow_name="wf", run_id="r")
            assert found == {"a": 2}

    asyncio.run(check())


def _page_shapes() -> Iterator[dict[str, Any]]:
    """`list_messages` arguments of many shapes (each its own statement)."""
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    for thread_id, resource_id, since, until, direction, paged in itertools.product(
        ["t1", ["t1", "x"]],
        [None, "r1"],
        [None, ">", ">="],
        [None, "<", "<="],
        ["ASC", "DESC"],
        [True, False],
    ):
        date_range: dict[str, Any] = {}
        if since:
            date_range.update(start=start, start_exclusive=since == ">")
        if until:
            date_range.update(end=end, end_exclusive=until == "<")
        arguments: dict[str, Any] = {
            "thread_id": thread_id,
            "resource_id": resource_id,
            "date_range": date_range or None,
            "direction": direction,
        }
        arguments.update({"per_page": 5, "include_total": False} if paged else {"per_page": None})
        yield arguments


def test_gathered_pages_of_many_shapes_read_what_the_sync_class_reads(
    postgres_url: str, schema: str
) -> None:
    """Between a read's two passes other calls run: they may make its
    statement anew (a repository's statement cache evicting it), which the
    second pass must take as the same statement, not fail on."""
    shapes = list(_page_shapes())

    async def check() -> list[Any]:
        async with AsyncPostgresStorage(
            url=postgres_url, schema=schema, pool_size=10, max_overflow=0, pool_timeout_s=60
        ) as storage:
            await storage.init()
            return await asyncio.gather(*(storage.list_messages(**kw) for kw in shapes))

    pages = asyncio.run(check())
    with PostgresStorage(url=postgres_url, schema=schema) as sync:
        for arguments, page in zip(shapes, pages, strict=True):
            expected = sync.list_messages(**arguments)
            assert [m.id for m in page.messages] == [m.id for m in expected.messages], arguments


def test_an_iterator_argument_is_read_once_for_both_passes(postgres_url: str, schema: str) -> None:
    """Thread ids given as a generator: the first pass must not leave the
    second an empty one."""

    async def check() -> list[str]:
        async with AsyncPostgresStorage(url=postgres_url, schema=schema) as storage:
            await storage.init()
            page = await storage.list_messages(thread_id=(t for t in ["t1"]), per_page=40)
            assert held_pid(storage) is not None
            return [m.id for m in page.messages]

    with PostgresStorage(url=postgres_url, schema=schema) as sync:
        expected = [m.id for m in sync.list_messages(thread_id=["t1"], per_page=40).messages]
    assert len(expected) == 16
    assert asyncio.run(check()) == expected


def test_a_call_not_run_directly_leaves_other_calls_of_its_operation_held(
    postgres_url: str, schema: str
) -> None:
    """A page with a `metadata` filter goes SQLAlchemy's way; plain pages of
    the same operation still take the held connection."""

    async def check() -> None:
        async with AsyncPostgresStorage(url=postgres_url, schema=schema) as storage:
            await storage.init()
            page = await storage.list_messages(thread_id="t1", per_page=5, metadata={"a": 1})
            assert page.messages == [] and held_pid(storage) is None
            page = await storage.list_messages(thread_id="t1", per_page=5)
            assert len(page.messages) == 5 and held_pid(storage) is not None

    asyncio.run(check())


def test_close_right_after_a_busy_loop_leaves_no_connection_open(
    postgres_url: str, schema: str
) -> None:
    """The loop blocked past the idle time, then `close()`: the idle
    give-back starting then is waited for, and the pool disposed after it
    (it went back to the disposed pool, and stayed open)."""

    async def check() -> int | None:
        storage = AsyncPostgresStorage(url=postgres_url, schema=schema)
        await storage.init()
        assert await storage.get_thread_by_id(thread_id="t1") is not None
        pid = held_pid(storage)
        time.sleep(0.05)  # the loop busy elsewhere (held_connection.HELD_IDLE_S: 20 ms)
        await storage.close()
        return pid

    pid = asyncio.run(check())
    assert pid is not None and pid not in server_pids(postgres_url)


def test_a_loop_closed_without_asyncio_runs_clean_up_leaves_nothing_pending(
    postgres_url: str, schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    """`run_until_complete` then `loop.close()` (a sync wrapper's way): no
    task of ours left pending ("Task was destroyed but it is pending!"); the
    held connection goes back at the storage's next call or `close()`."""
    storage = AsyncPostgresStorage(url=postgres_url, schema=schema)
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(storage.get_thread_by_id(thread_id="t1")) is not None
        assert held_pid(storage) is not None
        assert asyncio.all_tasks(loop) == set()
    finally:
        loop.close()
    del loop
    gc.collect()
    assert "pending" not in caplog.text
    asyncio.run(storage.close())
    assert checked_out(storage) == 0


@pytest.mark.parametrize("where", ["_take", "_return"])
def test_a_cancellation_inside_the_autocommit_switch_loses_no_connection(
    postgres_url: str,
    schema: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    where: str,
) -> None:
    """psycopg's `set_autocommit` may yield to the loop (after 5 ms without),
    where a cancellation can land: in a call's checkout (`_take`), or in the
    idle give-back (`_return`: as when `asyncio.run` ends under it). The
    connection is dropped, not left checked out for the garbage collector."""
    import traceback

    import psycopg.waiting

    original = psycopg.waiting.sleep

    async def cancelling_sleep(seconds: float) -> None:
        if where in [frame.name for frame in traceback.extract_stack(limit=10)]:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
        await original(seconds)

    monkeypatch.setattr(psycopg.waiting, "sleep", cancelling_sleep)
    monkeypatch.setattr(held_connection, "HELD_IDLE_S", 0.02)
    storage = AsyncPostgresStorage(url=postgres_url, schema=schema)

    async def check() -> None:
        await storage.init()
        with contextlib.suppress(asyncio.CancelledError):
            await storage.get_thread_by_id(thread_id="t1")
        await asyncio.sleep(0.2)  # the idle give-back
        assert checked_out(storage) == 0

    try:
        asyncio.run(check())
        gc.collect()
    finally:
        asyncio.run(storage.close())
    assert "garbage collector" not in caplog.text


def test_a_loop_stopped_between_calls_takes_a_checked_connection_again(
    postgres_url: str, schema: str
) -> None:
    """`run_until_complete` on a loop kept between calls (a sync wrapper):
    the loop is stopped in between, so the idle check cannot run. A call
    finding its held connection idle past the idle time gives it back and
    checks one out, so `pool_pre_ping` applies: a connection the server
    ended meanwhile does not fail a write."""
    storage = AsyncPostgresStorage(url=postgres_url, schema=schema, pool_pre_ping=True)
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(storage.get_thread_by_id(thread_id="t1")) is not None
        pid = held_pid(storage)
        killer = create_engine(postgres_url)
        with killer.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid or 0)}, 5000)")
        killer.dispose()
        time.sleep(0.05)  # past held_connection.HELD_IDLE_S (20 ms)
        loop.run_until_complete(
            storage.persist_workflow_snapshot(workflow_name="wf", run_id="s", snapshot={"a": 1})
        )
        found = loop.run_until_complete(
            storage.load_workflow_snapshot(workflow_name="wf", run_id="s")
        )
        assert found == {"a": 1}
        loop.run_until_complete(storage.close())
    finally:
        loop.close()
