"""SQLite's direct statements on the connection a storage keeps between calls
(`mastra_storage.kept_connection`): the connection goes back to the pool
when it should, and no error, thread, transaction, fork, close or exit
leaves it in a wrong state, waits on it, or warns about it.

SQLite only: PostgreSQL's sync calls check a connection out per call, and
its async ones hold one their own way (test_held_connection.py)."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from support import in_child

from mastra_storage import AsyncDefaultStorage, DefaultStorage, kept_connection
from mastra_storage.errors import StorageError

SNAPSHOT = {"status": "running", "value": {}, "context": {}, "activePaths": [], "runId": "r"}


def checked_out(engine: Any) -> int:
    return int(engine.pool.checkedout())


def wait_until(condition: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return bool(condition())


@pytest.fixture
def storage(tmp_path: Path) -> Any:
    with DefaultStorage(url=f"sqlite:///{tmp_path / 'kept.db'}") as opened:
        opened.init()
        opened.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "one"})
        yield opened


def test_direct_calls_share_one_connection_given_back_once_unused(storage: Any) -> None:
    assert storage._kept is not None
    first = storage.get_thread_by_id(thread_id="t1")
    storage.persist_workflow_snapshot(workflow_name="wf", run_id="r", snapshot=SNAPSHOT)
    assert storage.load_workflow_snapshot(workflow_name="wf", run_id="r") == SNAPSHOT
    assert storage.get_thread_by_id(thread_id="t1") == first
    assert checked_out(storage.engine) == 1  # kept between the calls
    assert wait_until(lambda: checked_out(storage.engine) == 0)  # unused: given back
    assert storage.get_thread_by_id(thread_id="t1") == first  # kept again


def test_a_write_through_the_kept_connection_is_committed_for_other_connections(
    storage: Any, tmp_path: Path
) -> None:
    storage.get_thread_by_id(thread_id="t1")
    storage.persist_workflow_snapshot(workflow_name="wf", run_id="r", snapshot=SNAPSHOT)
    assert checked_out(storage.engine) == 1
    with DefaultStorage(url=f"sqlite:///{tmp_path / 'kept.db'}") as other:
        assert other.load_workflow_snapshot(workflow_name="wf", run_id="r") == SNAPSHOT
        # A writer elsewhere is not kept waiting by the kept (idle) connection.
        other.persist_workflow_snapshot(workflow_name="wf", run_id="r2", snapshot=SNAPSHOT)
        with other.session_scope() as session:
            session.execute(text("UPDATE mastra_threads SET title = 'two'"))
    assert storage.get_thread_by_id(thread_id="t1").title == "two"  # no stale snapshot


def test_a_callers_pool_hook_sees_a_checkout_per_call(storage: Any) -> None:
    storage.get_thread_by_id(thread_id="t1")
    seen: list[int] = []
    event.listen(storage.engine.pool, "checkout", lambda *_: seen.append(1))
    for _ in range(3):
        storage.get_thread_by_id(thread_id="t1")
    assert len(seen) == 3


def test_a_transaction_of_the_storage_does_not_wait_for_the_kept_connection(
    tmp_path: Path,
) -> None:
    # Two connections in all: one in a caller's transaction, one kept.
    with DefaultStorage(
        url=f"sqlite:///{tmp_path / 'two.db'}", pool_size=2, max_overflow=0, pool_timeout_s=2
    ) as storage:
        storage.init()
        storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "one"})
        storage.get_thread_by_id(thread_id="t1")
        assert checked_out(storage.engine) == 1
        with storage.engine.connect() as held:
            held.execute(text("SELECT 1"))
            started = time.monotonic()
            # A transaction of ours (several statements): the kept one goes back first.
            storage.save_messages(
                messages=[
                    {
                        "id": "m1",
                        "thread_id": "t1",
                        "resource_id": "r1",
                        "role": "user",
                        "content": {"format": 2, "parts": [{"type": "text", "text": "hi"}]},
                    }
                ]
            )
            assert time.monotonic() - started < 1.0
        assert [m.id for m in storage.list_messages(thread_id="t1").messages] == ["m1"]


def test_a_full_pool_gets_the_kept_connection_back_within_the_idle_bound(
    tmp_path: Path,
) -> None:
    with DefaultStorage(
        url=f"sqlite:///{tmp_path / 'two.db'}", pool_size=2, max_overflow=0, pool_timeout_s=5
    ) as storage:
        storage.init()
        storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "one"})
        storage.get_thread_by_id(thread_id="t1")
        # A caller's own use of the engine, past the storage: two connections.
        started = time.monotonic()
        with storage.engine.connect() as one, storage.engine.connect() as two:
            one.execute(text("SELECT 1"))
            two.execute(text("SELECT 1"))
        assert time.monotonic() - started < 1.0


def test_an_error_gives_the_connection_back_and_the_next_call_works(storage: Any) -> None:
    storage.get_thread_by_id(thread_id="t1")
    kept = storage._kept._fairy
    assert kept is not None
    with storage.engine.begin() as conn:
        conn.execute(text("ALTER TABLE mastra_threads RENAME TO threads_away"))
    with pytest.raises(StorageError):
        storage.get_thread_by_id(thread_id="t1")
    assert storage._kept._fairy is None
    with storage.engine.begin() as conn:
        conn.execute(text("ALTER TABLE threads_away RENAME TO mastra_threads"))
    assert storage.get_thread_by_id(thread_id="t1") is not None


def test_a_connection_left_in_a_transaction_is_not_kept(storage: Any) -> None:
    kept = storage._kept
    assert kept.acquire()
    fairy = kept.connection()
    fairy.dbapi_connection.execute("BEGIN")
    kept.release(True)
    assert kept._fairy is None
    assert checked_out(storage.engine) == 0  # the pool rolled it back


def test_threads_sharing_a_storage_read_and_write_correctly(storage: Any) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for k in range(150):
                run_id = f"run-{n}-{k}"
                storage.persist_workflow_snapshot(
                    workflow_name="wf", run_id=run_id, snapshot={**SNAPSHOT, "runId": run_id}
                )
                loaded = storage.load_workflow_snapshot(workflow_name="wf", run_id=run_id)
                assert loaded is not None and loaded["runId"] == run_id
                assert storage.get_thread_by_id(thread_id="t1") is not None
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    runs = storage.list_workflow_runs(workflow_name="wf", per_page=None)
    assert runs.total == 8 * 150
    assert wait_until(lambda: checked_out(storage.engine) == 0)


def test_close_gives_the_connection_back_and_keeps_none(tmp_path: Path) -> None:
    storage = DefaultStorage(url=f"sqlite:///{tmp_path / 'c.db'}")
    storage.init()
    storage.get_thread_by_id(thread_id="t1")
    kept = storage._kept
    assert kept._fairy is not None
    storage.close()
    assert kept._fairy is None
    assert not kept.acquire()


def test_a_storage_dropped_without_close_warns_about_nothing(tmp_path: Path) -> None:
    storage = DefaultStorage(url=f"sqlite:///{tmp_path / 'g.db'}")
    storage.init()
    storage.get_thread_by_id(thread_id="t1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del storage
        gc.collect()


def test_exiting_right_after_a_call_warns_about_nothing(tmp_path: Path) -> None:
    script = (
        "from mastra_storage import DefaultStorage\n"
        f"s = DefaultStorage(url='sqlite:///{tmp_path / 'x.db'}')\n"
        "s.init()\n"
        "s.save_thread(thread={'id': 't1', 'resource_id': 'r1', 'title': 't'})\n"
        "assert s.get_thread_by_id(thread_id='t1') is not None\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_a_forked_child_uses_a_connection_of_its_own(storage: Any) -> None:
    storage.get_thread_by_id(thread_id="t1")
    parents = storage._kept._fairy.dbapi_connection

    def child() -> None:
        assert storage.get_thread_by_id(thread_id="t1") is not None
        storage.persist_workflow_snapshot(workflow_name="wf", run_id="child", snapshot=SNAPSHOT)
        assert storage._kept._fairy.dbapi_connection is not parents

    assert in_child(child) == "ok"
    assert storage.load_workflow_snapshot(workflow_name="wf", run_id="child") == SNAPSHOT
    assert storage._kept._fairy is None or storage._kept._fairy.dbapi_connection is parents


def test_a_memory_database_keeps_no_connection() -> None:
    with DefaultStorage(url="sqlite://") as storage:
        storage.init()
        assert storage._kept is None
        storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "one"})
        assert storage.get_thread_by_id(thread_id="t1") is not None


def test_async_point_calls_share_the_loops_kept_connection(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with DefaultStorage(url=url) as filler:
        filler.init()
        filler.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "one"})

    async def main() -> None:
        storage = AsyncDefaultStorage(url=url)
        try:
            await storage.init()
            assert storage._inline_kept is not None
            await storage.persist_workflow_snapshot(
                workflow_name="wf", run_id="r", snapshot=SNAPSHOT
            )
            for _ in range(5):
                assert await storage.get_thread_by_id(thread_id="t1") is not None
            assert await storage.load_workflow_snapshot(workflow_name="wf", run_id="r") == (
                SNAPSHOT
            )
            assert checked_out(storage._inline) == 1
            deadline = time.monotonic() + 5
            while checked_out(storage._inline) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert checked_out(storage._inline) == 0
        finally:
            await storage.close()
        assert storage._inline_kept._fairy is None

    asyncio.run(main())


def test_the_reaper_thread_sleeps_while_nothing_is_kept(storage: Any) -> None:
    storage.get_thread_by_id(thread_id="t1")
    assert wait_until(lambda: checked_out(storage.engine) == 0)
    assert wait_until(lambda: not kept_connection._REAPER._wake.is_set())


def test_a_session_scope_does_not_wait_for_the_kept_connection(tmp_path: Path) -> None:
    with DefaultStorage(
        url=f"sqlite:///{tmp_path / 'two.db'}", pool_size=2, max_overflow=0, pool_timeout_s=0.01
    ) as storage:
        storage.init()
        storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "one"})
        storage.get_thread_by_id(thread_id="t1")
        with storage.engine.connect() as held:
            held.execute(text("SELECT 1"))
            # Both connections out (one kept, one here): the scope gets the kept one.
            with storage.session_scope() as session:
                session.execute(text("UPDATE mastra_threads SET title = 'two'"))
        assert storage.get_thread_by_id(thread_id="t1").title == "two"


def test_close_in_the_middle_of_a_call_returns_and_the_call_gives_it_back(
    storage: Any,
) -> None:
    """A signal handler's `close()` runs on the thread of the call that has
    the kept connection: it must not wait for that call (it would wait for
    itself); the call's end gives the connection back."""
    storage.get_thread_by_id(thread_id="t1")
    kept = storage._kept
    assert kept.acquire()  # a call under way has it
    fairy = kept.connection()
    done = threading.Event()
    closer = threading.Thread(target=lambda: (kept.close(), done.set()))
    closer.start()
    assert done.wait(2), "close() waited for the call under way"
    assert kept._fairy is fairy  # still the call's
    kept.release(True)
    assert kept._fairy is None
    assert checked_out(storage.engine) == 0


def test_close_from_a_signal_handler_during_calls_returns(tmp_path: Path) -> None:
    script = f"""
import signal, sys
from mastra_storage import DefaultStorage
from mastra_storage.errors import StorageClosedError
s = DefaultStorage(url='sqlite:///{tmp_path / "sig.db"}')
s.init()
s.save_thread(thread={{'id': 't1', 'resource_id': 'r1', 'title': 't'}})
signal.signal(signal.SIGALRM, lambda *_: s.close())
signal.setitimer(signal.ITIMER_REAL, 0.2)
try:
    while True:
        s.get_thread_by_id(thread_id='t1')
except StorageClosedError:
    print('closed')
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "closed"


def test_an_executor_never_entered_leaves_the_kept_connection_free(storage: Any) -> None:
    """Interrupted between its making and its `with` (KeyboardInterrupt): the
    kept connection is not taken until a statement runs."""
    from mastra_storage import direct

    direct.DirectExecutor(storage._statement_engine, None, storage._kept)
    assert storage._kept.acquire()
    storage._kept.release(True)
    assert storage.get_thread_by_id(thread_id="t1") is not None


def test_after_engine_dispose_calls_use_the_new_pool(tmp_path: Path) -> None:
    """Restoring the file from a backup, then `engine.dispose()`: no call is
    served by the connection kept from the old pool (the old file)."""
    live, backup = tmp_path / "live.db", tmp_path / "backup.db"
    with DefaultStorage(url=f"sqlite:///{backup}") as filler:
        filler.init()
        filler.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "from backup"})
    with DefaultStorage(url=f"sqlite:///{live}") as storage:
        storage.init()
        storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "live"})
        assert storage.get_thread_by_id(thread_id="t1").title == "live"
        storage.engine.dispose()  # no connection open on the file but the kept one
        for suffix in ("-wal", "-shm"):
            Path(f"{live}{suffix}").unlink(missing_ok=True)
        Path(f"{live}.tmp").write_bytes(backup.read_bytes())
        Path(f"{live}.tmp").replace(live)
        storage.engine.dispose()
        assert storage.get_thread_by_id(thread_id="t1").title == "from backup"
        storage.persist_workflow_snapshot(workflow_name="wf", run_id="after", snapshot=SNAPSHOT)
    with DefaultStorage(url=f"sqlite:///{live}") as check:
        assert check.load_workflow_snapshot(workflow_name="wf", run_id="after") == SNAPSHOT


def test_a_hook_raising_while_the_reaper_gives_back_stops_nothing(tmp_path: Path) -> None:
    first = DefaultStorage(url=f"sqlite:///{tmp_path / 'a.db'}")
    second = DefaultStorage(url=f"sqlite:///{tmp_path / 'b.db'}")
    try:
        for storage in (first, second):
            storage.init()
            storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "one"})
        first.get_thread_by_id(thread_id="t1")  # kept
        raised: list[str] = []

        def flaky(*_: Any) -> None:
            if not raised:
                raised.append(threading.current_thread().name)
                raise RuntimeError("metrics backend down")

        event.listen(first.engine.pool, "checkin", flaky)
        assert wait_until(lambda: bool(raised))
        event.remove(first.engine.pool, "checkin", flaky)
        second.get_thread_by_id(thread_id="t1")
        assert checked_out(second.engine) == 1
        assert wait_until(lambda: checked_out(second.engine) == 0)  # the reaper goes on
    finally:
        first.close()
        second.close()


def test_run_locks_and_init_never_wait_for_the_kept_connection(tmp_path: Path) -> None:
    """The kept connection has a slot of its own: with the pool's connections
    all in a caller's hands but it, the run locks and `init()` get one."""
    with DefaultStorage(
        url=f"sqlite:///{tmp_path / 'l.db'}", pool_size=2, max_overflow=0, pool_timeout_s=0.01
    ) as storage:
        storage.init()
        storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "one"})
        storage.get_thread_by_id(thread_id="t1")  # kept
        with storage.engine.connect() as one:
            one.execute(text("SELECT 1"))
            assert storage.try_acquire_workflow_run_lock(workflow_name="wf", run_id="r")
            assert storage.get_workflow_run_lock(workflow_name="wf", run_id="r") is not None
            storage.init()
        assert checked_out(storage.engine) <= 1
