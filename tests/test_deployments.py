"""Real deployments: forked workers, bounded waits, held locks against the data
pool, dropped connections (issue #9, items 3, 6, 7, 9).

Every wait in these tests is bounded: a call runs in a thread joined with a
timeout, a child process is waited for with a deadline and killed past it,
so a regression shows as a failure, never as a hung suite.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from conftest import BACKENDS, Backend, BlockingStorage
from sqlalchemy import create_engine, text
from support import in_child, make_thread, message, wait_for_children

from mastra_storage import (
    AsyncDefaultStorage,
    AsyncMySQLStorage,
    AsyncPostgresStorage,
    DefaultStorage,
    MastraStorage,
    MySQLStorage,
    PostgresStorage,
    StorageError,
    StorageTimeoutError,
)
from mastra_storage.errors import ConnectionLostError

WF = "wf"
SERVER_BACKENDS = [name for name in BACKENDS if name != "sqlite-memory"]
"""Backends with more than one connection to one database (not in-memory SQLite)."""
PG_BACKENDS = ["postgresql", "async-postgresql"]
SESSION_LOCK_BACKENDS = [name for name in BACKENDS if name.endswith(("postgresql", "mysql"))]
"""Backends whose advisory run locks hold connections (PostgreSQL, MySQL)."""
SYNC_SERVER_BACKENDS = [name for name in SERVER_BACKENDS if not name.startswith("async-")]
DROPPABLE_BACKENDS = SESSION_LOCK_BACKENDS
"""Backends whose server can end the storage's connections."""
HANG = 60.0
"""Seconds after which a call or a child counts as hung (far past any bound)."""


def bounded(call: Callable[[], Any], seconds: float = HANG) -> Any:
    """Run `call` in a thread; fail if it has not returned after `seconds`.
    Returns its result, or the exception it raised."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:
            outcome["value"] = error

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"call still waiting after {seconds} s: an unbounded wait"
    return outcome["value"]


def sqlite_path(backend: Backend) -> str:
    return backend.url.removeprefix("file:")


@contextmanager
def row_locked(backend: Backend, table: str, **where: str) -> Iterator[None]:
    """Another transaction holds the row's lock (PostgreSQL, MySQL: FOR
    UPDATE) or, on SQLite, the database write lock, until the block ends."""
    if backend.is_postgres or backend.is_mysql:
        engine = create_engine(backend.url)
        conn = engine.connect()
        try:
            if backend.is_postgres:
                conn.execute(text(f'SET search_path TO "{backend.schema}"'))
            condition = " AND ".join(f"{column} = :{column}" for column in where)
            rows = conn.execute(
                text(f"SELECT 1 FROM {table} WHERE {condition} FOR UPDATE"), where
            ).all()
            assert rows, f"no row in {table} to lock"
            yield
        finally:
            conn.rollback()
            conn.close()
            engine.dispose()
    else:
        blocker = sqlite3.connect(sqlite_path(backend), isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            yield
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()


# -- 3. fork --------------------------------------------------------------------------


def save_fifty(storage: Any, child: int) -> None:
    """What a forked worker does: 50 saves, one message each. An async storage
    is driven by a loop of the child's own (as a forked worker process runs)."""
    if isinstance(storage, BlockingStorage):
        inner = storage.storage

        async def save_all() -> None:
            for i in range(50):
                await inner.save_messages(messages=[message(f"c{child}-{i}", "t")])

        asyncio.run(save_all())
        return
    for i in range(50):
        storage.save_messages(messages=[message(f"c{child}-{i}", "t")])


@pytest.mark.parametrize("backend", SERVER_BACKENDS, indirect=True)
def test_forked_workers_each_use_their_own_connections(backend: Backend) -> None:
    """Issue #9 case 3: one call, then three forked children save 50 messages
    each while the parent saves 10: all 160 are stored, nobody hangs."""
    storage: Any = backend.make()
    storage.init()
    make_thread(storage, "t")
    assert storage.get_thread_by_id(thread_id="t") is not None  # the pool has a connection
    pids = []
    for child in range(3):
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                save_fifty(storage, child)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    try:
        for i in range(10):
            storage.save_messages(messages=[message(f"p-{i}", "t")])
    finally:
        codes = wait_for_children(pids)
    assert codes == [0, 0, 0]
    listed = storage.list_messages(thread_id="t", per_page=None)
    assert listed.total == 160
    assert storage.get_thread_by_id(thread_id="t") is not None  # the parent still works


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_forked_child_of_an_in_memory_storage_is_told_it_cannot_use_it(
    asynchronous: bool,
) -> None:
    """In-memory SQLite lives in the memory of the process that opened it. A
    child forked after the parent used it would get a new, empty database
    (it used to fail with "no such table", or write where no one reads): each
    call in the child raises OperationalError saying to share a file or a
    server. A storage the parent never used serves the child its own database."""
    if asynchronous:
        used: Any = AsyncDefaultStorage(url="file::memory:")
        unused: Any = AsyncDefaultStorage(url="file::memory:")
        thread = asyncio.run(used.create_thread(resource_id="r"))

        def use(storage: Any) -> Any:
            async def calls() -> None:
                created = await storage.create_thread(resource_id="c")
                assert await storage.get_thread_by_id(thread_id=created.id) is not None

            return lambda: asyncio.run(calls())
    else:
        used = DefaultStorage(url="file::memory:")
        unused = DefaultStorage(url="file::memory:")
        thread = used.create_thread(resource_id="r")

        def use(storage: Any) -> Any:
            def calls() -> None:
                created = storage.create_thread(resource_id="c")
                assert storage.get_thread_by_id(thread_id=created.id) is not None

            return calls

    said = in_child(use(used))
    assert said.startswith("OperationalError: ") and "file:PATH" in said, said
    assert in_child(use(unused)) == "ok"
    if asynchronous:  # the parent's database is intact

        async def check_and_close() -> None:
            assert await used.get_thread_by_id(thread_id=thread.id) is not None
            await used.close()
            await unused.close()

        asyncio.run(check_and_close())
    else:
        assert used.get_thread_by_id(thread_id=thread.id) is not None
        used.close()
        unused.close()


@pytest.mark.parametrize(
    ("backend", "lock_backend"),
    [("postgresql", "advisory"), ("postgresql", "lease"), ("sqlite-file", "lease")],
    indirect=["backend"],
)
def test_a_forked_child_neither_frees_nor_takes_the_parents_run_lock(
    backend: Backend, lock_backend: str
) -> None:
    """The parent holds a run lock; a child forked from it (the same storage
    object) collects its garbage, then tries the run: the lock is still the
    parent's. (The child's garbage collection used to finalize the parent's
    advisory-lock connection, sending `pg_advisory_unlock_all()` on the
    parent's socket: the child then took the run, two holders at once.)"""
    storage: Any = backend.make(lock_backend=lock_backend)
    other: Any = backend.make(lock_backend=lock_backend)
    try:
        assert storage.try_acquire_workflow_run_lock(workflow_name=WF, run_id="r")

        def in_the_child() -> None:
            gc.collect()
            taken = storage.try_acquire_workflow_run_lock(workflow_name=WF, run_id="r")
            renewed = storage.renew_workflow_run_lock(workflow_name=WF, run_id="r")
            storage.release_workflow_run_lock(workflow_name=WF, run_id="r")
            assert (taken, renewed) == (False, False), (taken, renewed)

        assert in_child(in_the_child) == "ok"
        assert not other.try_acquire_workflow_run_lock(workflow_name=WF, run_id="r")
        assert storage.renew_workflow_run_lock(workflow_name=WF, run_id="r")
        lock = storage.get_workflow_run_lock(workflow_name=WF, run_id="r")
        assert lock is not None and lock.holder == storage.lock_holder
    finally:
        storage.close()
        other.close()


EXIT_CLASSES = {
    "sqlite-file": "DefaultStorage",
    "postgresql": "PostgresStorage",
    "mysql": "MySQLStorage",
}


@pytest.mark.parametrize("backend", SYNC_SERVER_BACKENDS, indirect=True)
def test_a_process_exiting_with_its_storage_open_warns_about_nothing(backend: Backend) -> None:
    """A script that never closes its storage: at the interpreter's exit the
    connections its pool holds are closed, so none warns (psycopg's "deleted
    while still open", Python 3.13's sqlite3 "unclosed database"). The child
    runs with `-W error`: any warning ends up on its stderr."""
    options: dict[str, str] = {"url": backend.url}
    if backend.schema is not None:
        options["schema"] = backend.schema
    name = EXIT_CLASSES[backend.name]
    script = (
        f"from mastra_storage import {name}\n"
        f"s = {name}(**{options!r})\n"
        "s.init()\n"
        "s.save_thread(thread={'id': 't1', 'resource_id': 'r1', 'title': 't'})\n"
        "assert s.get_thread_by_id(thread_id='t1') is not None\n"
        "assert s.list_threads(resource_id='r1').total == 1\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, timeout=HANG
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize("backend", SYNC_SERVER_BACKENDS, indirect=True)
def test_a_forked_child_exiting_warns_about_nothing(backend: Backend) -> None:
    """A worker forked from a process whose storage has connections, which
    exits normally: the parent's connections it inherited are neither used,
    closed nor collected there (psycopg warned "deleted while still open" for
    each), and the parent's storage goes on. A fresh tester's find."""
    options: dict[str, str] = {"url": backend.url}
    if backend.schema is not None:
        options["schema"] = backend.schema
    name = EXIT_CLASSES[backend.name]
    script = (
        "import os, sys\n"
        f"from mastra_storage import {name}\n"
        f"s = {name}(**{options!r})\n"
        "s.init()\n"
        "s.save_thread(thread={'id': 't1', 'resource_id': 'r1', 'title': 't'})\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    assert s.get_thread_by_id(thread_id='t1') is not None\n"
        "    sys.exit(0)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "assert os.waitstatus_to_exitcode(status) == 0\n"
        "assert s.get_thread_by_id(thread_id='t1') is not None\n"
        "s.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-W", "ignore::DeprecationWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


# -- 6. bounded waits ---------------------------------------------------------------


def timed_out(result: Any) -> bool:
    return isinstance(result, StorageTimeoutError) and isinstance(result, StorageError)


@pytest.mark.parametrize("backend", SERVER_BACKENDS, indirect=True)
def test_a_held_row_lock_times_every_waiting_write_out(backend: Backend) -> None:
    """Issue #9 case 6: with another transaction holding the row, each write
    that needs it raises StorageTimeoutError after lock_timeout_ms, writes
    nothing, and works again once the row is free."""
    storage: Any = backend.make(lock_timeout_ms=300)
    storage.init()
    make_thread(storage, "t")
    storage.persist_workflow_snapshot(workflow_name=WF, run_id="r", snapshot={"context": {}})
    # A lock row to block (taken and released once), and a token for the fenced write.
    held = storage.workflow_run_lock(workflow_name=WF, run_id="r", heartbeat=False)
    token = held.__enter__().fencing_token
    assert storage.try_acquire_workflow_run_lock(workflow_name=WF, run_id="other")
    storage.release_workflow_run_lock(workflow_name=WF, run_id="other")

    cases: list[tuple[str, dict[str, str], Callable[[], Any]]] = [
        ("mastra_threads", {"id": "t"}, lambda: storage.update_thread(id="t", title="new")),
        (
            "mastra_threads",
            {"id": "t"},
            lambda: storage.save_messages(messages=[message("m1", "t")]),
        ),
        (
            "mastra_workflow_snapshot",
            {"workflow_name": WF, "run_id": "r"},
            lambda: storage.update_workflow_results(
                workflow_name=WF, run_id="r", step_id="s", result={"status": "success"}
            ),
        ),
        (
            "mastra_workflow_run_locks",
            {"workflow_name": WF, "run_id": "other"},
            lambda: storage.try_acquire_workflow_run_lock(workflow_name=WF, run_id="other"),
        ),
        (
            "mastra_workflow_run_locks",
            {"workflow_name": WF, "run_id": "r"},
            lambda: storage.persist_workflow_snapshot(
                workflow_name=WF, run_id="r", snapshot={"fenced": True}, fencing_token=token
            ),
        ),
    ]
    for table, where, call in cases:
        with row_locked(backend, table, **where):
            result = bounded(call)
        assert timed_out(result), f"{table}: expected StorageTimeoutError, got {result!r}"
    assert storage.get_thread_by_id(thread_id="t").title == ""
    assert storage.list_messages(thread_id="t").total == 0
    assert storage.load_workflow_snapshot(workflow_name=WF, run_id="r") == {"context": {}}
    assert storage.get_workflow_run_lock(workflow_name=WF, run_id="other") is None
    # Free again: every call goes through.
    for _table, _where, call in cases:
        assert not isinstance(bounded(call), BaseException)
    assert storage.get_thread_by_id(thread_id="t").title == "new"
    held.__exit__(None, None, None)


@pytest.mark.parametrize("backend", SERVER_BACKENDS, indirect=True)
def test_an_async_call_waiting_for_a_lock_honours_cancellation(backend: Backend) -> None:
    """Issue #9 case 6: `asyncio.wait_for(storage.update_thread(...), 2)` on a
    locked database returns when wait_for gives up, not when the lock bound
    (10 s by default) passes."""
    sync: Any = backend.make()
    sync.init()
    make_thread(sync, "t")
    async_storage = (
        AsyncPostgresStorage(url=backend.url, schema=backend.schema)
        if backend.is_postgres
        else AsyncMySQLStorage(url=backend.url)
        if backend.is_mysql
        else AsyncDefaultStorage(url=backend.url)
    )

    async def attempt() -> tuple[BaseException | None, float]:
        started = time.monotonic()
        try:
            await asyncio.wait_for(async_storage.update_thread(id="t", title="late"), 0.5)
        except BaseException as error:
            return error, time.monotonic() - started
        return None, time.monotonic() - started

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(async_storage.init())
        with row_locked(backend, "mastra_threads", id="t"):
            error, elapsed = bounded(lambda: loop.run_until_complete(attempt()))
        assert type(error) is TimeoutError, f"not cancelled by wait_for: {error!r}"
        assert elapsed < 5, f"cancellation took {elapsed:.1f} s (the lock bound is 10 s)"
        assert sync.get_thread_by_id(thread_id="t").title == ""
        # The storage is fine afterwards.
        updated = loop.run_until_complete(async_storage.update_thread(id="t", title="ok"))
        assert updated.title == "ok"
    finally:
        loop.run_until_complete(async_storage.close())
        loop.close()


@pytest.mark.parametrize("backend", SERVER_BACKENDS, indirect=True)
def test_an_exhausted_pool_fails_fast_saying_what_to_size(backend: Backend) -> None:
    storage: Any = backend.make(pool_size=1, max_overflow=0, pool_timeout_s=0.3)
    storage.init()
    make_thread(storage, "t")
    inner = getattr(storage, "storage", storage)
    worker = getattr(inner, "_worker", None)
    if worker is not None:
        # Async SQLite file: its calls run on the worker's sync engine, made
        # with the same pool options.
        conn = worker.engine.connect()
        release: Callable[[], Any] = conn.close
    elif backend.asynchronous:
        conn = storage._loop.run_until_complete(inner.engine.connect())
        release = lambda: storage._loop.run_until_complete(conn.close())  # noqa: E731
    else:
        conn = inner.engine.connect()
        release = conn.close
    try:
        # Neither a point read nor a short page: the async SQLite storage
        # reads those on its own connections, on the event loop's thread
        # (they need no pooled one here).
        result = bounded(lambda: storage.list_messages(thread_id="t", per_page=None))
    finally:
        release()
    assert timed_out(result), result
    assert "pool_size" in str(result)
    assert storage.get_thread_by_id(thread_id="t") is not None


def test_the_bounds_are_checked() -> None:
    for field, value in [
        ("lock_timeout_ms", 0),
        ("connect_timeout_s", -1),
        ("pool_timeout_s", float("inf")),
        ("lock_timeout_ms", True),
        ("statement_timeout_s", 0),
    ]:
        with pytest.raises(StorageError, match=field):
            PostgresStorage(url="postgresql://nobody@127.0.0.1:1/x", **{field: value})


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_sqlite_file_locked_before_its_switch_to_wal_waits_at_most_the_bound(
    tmp_path: Any, asynchronous: bool
) -> None:
    """A SQLite file still in rollback-journal mode (another program made it)
    whose lock another process holds: the first call's switch to WAL waits for
    the lock at most `lock_timeout_ms`, then `StorageTimeoutError`, as every
    other wait for the SQLite write lock. (It used to retry for 30 s whatever
    the bound: here it would still be waiting when the blocker lets go after
    15 s, and succeed.)"""
    path = tmp_path / "theirs.db"
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("CREATE TABLE theirs (a)")
    blocker.execute("BEGIN EXCLUSIVE")
    let_go = threading.Timer(15, lambda: blocker.execute("ROLLBACK"))
    let_go.start()
    url = f"file:{path}"
    try:
        if asynchronous:
            storage: Any = AsyncDefaultStorage(url=url, lock_timeout_ms=1000)
            result = bounded(lambda: asyncio.run(storage.init()))
        else:
            storage = DefaultStorage(url=url, lock_timeout_ms=1000)
            result = bounded(storage.init)
    finally:
        let_go.cancel()
        let_go.join()
        with suppress(sqlite3.OperationalError):  # not in a transaction: let go already
            blocker.execute("ROLLBACK")
        blocker.close()
    assert timed_out(result), result

    async def again() -> None:  # the lock gone, a new call migrates
        retry = AsyncDefaultStorage(url=url)
        await retry.init()
        await retry.close()

    if asynchronous:
        asyncio.run(again())
    else:
        storage.init()
        storage.close()


def test_connecting_to_a_silent_server_is_bounded() -> None:
    """A server that accepts TCP connections but never answers (a frozen
    PostgreSQL, a dead proxy) fails after connect_timeout_s."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        storage = PostgresStorage(
            url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/x", connect_timeout_s=2
        )
        result = bounded(storage.init, 30)
        assert timed_out(result), result
        storage.close()
    finally:
        listener.close()


# -- 7. held run locks do not starve the data path -------------------------------------


@pytest.mark.parametrize("backend", SESSION_LOCK_BACKENDS, indirect=True)
def test_held_advisory_locks_leave_the_data_pool_alone(backend: Backend) -> None:
    """Issue #9 case 7: with 15 run locks held (advisory, each on a connection
    of its own), data calls still get connections at once."""
    storage: Any = backend.make(pool_timeout_s=2)
    storage.init()
    assert storage.lock_backend == "advisory"
    make_thread(storage, "t")
    for i in range(15):
        assert storage.try_acquire_workflow_run_lock(workflow_name=WF, run_id=f"run-{i}")
    for i in range(20):
        result = bounded(lambda i=i: storage.save_messages(messages=[message(f"m{i}", "t")]))
        assert not isinstance(result, BaseException), result
    assert storage.list_messages(thread_id="t", per_page=None).total == 20
    for i in range(15):
        storage.release_workflow_run_lock(workflow_name=WF, run_id=f"run-{i}")


@pytest.mark.parametrize("backend", SYNC_SERVER_BACKENDS, indirect=True)
def test_sixteen_threads_on_the_default_pool_succeed_or_fail_fast(backend: Backend) -> None:
    """Issue #9 case 7: more threads than pooled connections: every call
    succeeds or raises StorageTimeoutError; none waits without bound."""
    storage: MastraStorage = backend.make()
    storage.init()
    make_thread(storage, "t")  # type: ignore[arg-type]
    failures: list[BaseException] = []
    saved: list[str] = []

    def worker(n: int) -> None:
        for i in range(10):
            try:
                storage.save_messages(messages=[message(f"w{n}-{i}", "t")])
                saved.append(f"w{n}-{i}")
                storage.list_messages(thread_id="t", per_page=5)
            except StorageTimeoutError as error:
                failures.append(error)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG)
        assert not thread.is_alive(), "a worker is still waiting"
    assert len(saved) + len(failures) == 160
    assert storage.list_messages(thread_id="t", per_page=None).total == len(saved)


# -- 9. dropped connections ---------------------------------------------------------------


def tagged(backend: Backend, name: str) -> dict[str, Any]:
    """Connection arguments that let `terminate_backends` find the storage's
    connections (PostgreSQL: `application_name`; MySQL: every connection to
    the test's database is the storage's, so none are needed)."""
    return {} if backend.is_mysql else {"connect_args": {"application_name": name}}


def terminate_backends(backend: Backend, application_name: str) -> int:
    """End the storage's connections on the server, as a restart does."""
    engine = create_engine(backend.url)
    try:
        with engine.connect() as conn:
            if backend.is_mysql:
                ids = conn.execute(
                    text(
                        "SELECT id FROM information_schema.processlist "
                        "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
                    )
                ).scalars()
                killed = 0
                for connection_id in list(ids):
                    conn.execute(text(f"KILL CONNECTION {int(connection_id)}"))
                    killed += 1
                return killed
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name"
                    ),
                    {"name": application_name},
                ).all()
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", DROPPABLE_BACKENDS, indirect=True)
def test_a_read_after_the_server_dropped_the_connection_is_retried(backend: Backend) -> None:
    """Issue #9 case 9: the server ends the storage's connections (as a
    restart does); the next read works, transparently."""
    name = f"mst-{uuid.uuid4().hex[:10]}"
    storage: Any = backend.make(**tagged(backend, name))
    storage.init()
    make_thread(storage, "t")
    assert storage.get_thread_by_id(thread_id="t") is not None
    assert terminate_backends(backend, name) >= 1
    assert storage.get_thread_by_id(thread_id="t") is not None
    assert terminate_backends(backend, name) >= 1
    assert storage.list_messages(thread_id="t").total == 0


@pytest.mark.parametrize("backend", DROPPABLE_BACKENDS, indirect=True)
def test_a_write_on_a_dropped_connection_says_nothing_was_written(backend: Backend) -> None:
    name = f"mst-{uuid.uuid4().hex[:10]}"
    storage: Any = backend.make(**tagged(backend, name))
    storage.init()
    make_thread(storage, "t")
    assert terminate_backends(backend, name) >= 1
    with pytest.raises(ConnectionLostError, match="nothing was written") as caught:
        storage.save_messages(messages=[message("m1", "t")])
    assert caught.value.written is False
    assert caught.value.__cause__ is not None
    assert storage.list_messages(thread_id="t").total == 0
    storage.save_messages(messages=[message("m1", "t")])  # and the next one works
    assert storage.list_messages(thread_id="t").total == 1


# -- 6. a frozen server -----------------------------------------------------------------


def backend_pids(backend: Backend, application_name: str) -> list[int]:
    engine = create_engine(backend.url)
    try:
        with engine.connect() as conn:
            return [
                int(pid)
                for (pid,) in conn.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": application_name},
                )
            ]
    finally:
        engine.dispose()


@contextmanager
def frozen(pids: list[int]) -> Iterator[None]:
    """The server processes serving these connections stopped (SIGSTOP), as
    a hung server whose kernel still acknowledges TCP; always resumed."""
    stopped = []
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        yield
    finally:
        for pid in stopped:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@pytest.mark.parametrize("backend", PG_BACKENDS, indirect=True)
@pytest.mark.parametrize("call", ["read", "write"])
def test_a_call_to_a_frozen_server_times_out_and_the_next_works(
    backend: Backend, call: str
) -> None:
    """Issue #9 case 6: the PostgreSQL backend serving the storage stops
    (SIGSTOP) with a query in flight: the call raises StorageTimeoutError
    after statement_timeout_s plus grace (2 s + 1 s here; the default would
    be 33 s), neither hanging nor retrying, and once the server runs again
    the next call works."""
    name = f"mst-{uuid.uuid4().hex[:10]}"
    storage: Any = backend.make(statement_timeout_s=2, connect_args={"application_name": name})
    storage.init()
    make_thread(storage, "t")
    pids = backend_pids(backend, name)
    assert pids
    attempt: Callable[[], Any] = (
        (lambda: storage.get_thread_by_id(thread_id="t"))
        if call == "read"
        else (lambda: storage.save_messages(messages=[message("m1", "t")]))
    )
    with frozen(pids):
        result = bounded(attempt, 20)
    assert isinstance(result, StorageTimeoutError), result
    assert "no answer from the database server" in str(result)
    assert storage.get_thread_by_id(thread_id="t") is not None
    written = storage.list_messages(thread_id="t").total
    if "may or may not have been saved" in str(result):
        # The write was one statement in autocommit (PostgreSQL's
        # save_messages), sent before the server froze: it may run when the
        # server does again, and the error says so.
        assert call == "write" and written in (0, 1)
    else:
        assert written == 0  # nothing was written
    storage.save_messages(messages=[message("m1", "t")])  # an upsert by id: safe again
    assert storage.list_messages(thread_id="t").total == 1


@pytest.fixture(scope="module")
def private_mariadb() -> Iterator[tuple[str, int]]:
    """A MariaDB server of this test's own (a fresh datadir, a free port),
    so that freezing it stops no one else's; its URL and pid. Stopped at the
    end. Fails with CI=true, skips elsewhere, when it cannot be started."""
    from conftest import IN_CI

    def give_up(why: str) -> None:
        if IN_CI:
            pytest.fail(f"cannot start a private MariaDB ({why}); CI=true requires it")
        pytest.skip(f"cannot start a private MariaDB ({why})")

    install, server = shutil.which("mariadb-install-db"), shutil.which("mariadbd")
    server = server or (os.path.exists("/usr/sbin/mariadbd") and "/usr/sbin/mariadbd") or None
    if install is None or server is None:
        give_up("mariadb-install-db / mariadbd not installed")
    assert install is not None and server is not None
    home = tempfile.mkdtemp(prefix="mst-maria-")
    datadir = os.path.join(home, "data")
    process: subprocess.Popen[bytes] | None = None
    try:
        done = subprocess.run(
            [install, "--no-defaults", f"--datadir={datadir}", "--skip-test-db"],
            capture_output=True,
            timeout=120,
        )
        if done.returncode != 0:
            give_up(f"mariadb-install-db: {done.stderr.decode()[-500:]}")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        user = ["--user=root"] if os.geteuid() == 0 else []
        log = open(os.path.join(home, "server.log"), "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [
                server,
                "--no-defaults",
                f"--datadir={datadir}",
                f"--socket={os.path.join(home, 'sock')}",
                f"--pid-file={os.path.join(home, 'pid')}",
                "--bind-address=127.0.0.1",
                f"--port={port}",
                "--skip-grant-tables",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
                *user,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"mysql+pymysql://root@127.0.0.1:{port}/mst"
        engine = create_engine(f"mysql+pymysql://root@127.0.0.1:{port}/")
        try:
            for _ in range(300):  # at most 60 s
                if process.poll() is not None:
                    give_up(f"mariadbd exited {process.returncode}")
                try:
                    with engine.connect() as conn:
                        conn.exec_driver_sql("CREATE DATABASE IF NOT EXISTS mst")
                    break
                except Exception:
                    time.sleep(0.2)
            else:
                give_up("no answer on its port within 60 s")
        finally:
            engine.dispose()
        yield url, process.pid
    finally:
        if process is not None:
            with suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGCONT)
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("call", ["read", "write"])
def test_a_call_to_a_frozen_mariadb_times_out_and_the_next_works(
    private_mariadb: tuple[str, int], asynchronous: bool, call: str
) -> None:
    """Issue #9 case 6 on MySQL/MariaDB: the server stops (SIGSTOP, a private
    instance) with a query in flight; its own max_statement_time cannot end
    anything, so the driver's read timeout (statement_timeout_s plus grace:
    2 s + 1 s here) does: StorageTimeoutError, no retry, and once the server
    runs again the next call works, on a new connection."""
    url, pid = private_mariadb
    loop = asyncio.new_event_loop() if asynchronous else None
    storage: Any = (
        BlockingStorage(AsyncMySQLStorage(url=url, statement_timeout_s=2), None, loop)  # type: ignore[arg-type]
        if asynchronous
        else MySQLStorage(url=url, statement_timeout_s=2)
    )
    try:
        storage.init()
        thread = f"t-{uuid.uuid4().hex[:8]}"
        make_thread(storage, thread)
        attempt: Callable[[], Any] = (
            (lambda: storage.get_thread_by_id(thread_id=thread))
            if call == "read"
            else (lambda: storage.save_messages(messages=[message("m1", thread)]))
        )
        with frozen([pid]):
            result = bounded(attempt, 20)
        assert isinstance(result, StorageTimeoutError), repr(result)
        assert storage.get_thread_by_id(thread_id=thread) is not None
        assert storage.list_messages(thread_id=thread).total == 0  # nothing was written
        storage.save_messages(messages=[message("m1", thread)])
        assert storage.list_messages(thread_id=thread).total == 1
    finally:
        storage.close()
        if loop is not None:
            loop.close()


@pytest.mark.parametrize("backend", PG_BACKENDS, indirect=True)
def test_a_slow_statement_is_ended_by_the_server_and_the_connection_kept(
    backend: Backend,
) -> None:
    """A live server ends a statement past statement_timeout_s itself (the
    client's deadline, later, never fires): StorageTimeoutError, and the same
    connection serves the next call."""
    name = f"mst-{uuid.uuid4().hex[:10]}"
    storage: Any = backend.make(statement_timeout_s=1, connect_args={"application_name": name})
    storage.init()
    make_thread(storage, "t")
    before = set(backend_pids(backend, name))
    with (
        pytest.raises(StorageTimeoutError, match="statement timeout"),
        storage.session_scope(write=False) as session,
    ):
        session.execute(text("SELECT pg_sleep(5)"))
    assert storage.get_thread_by_id(thread_id="t") is not None
    assert set(backend_pids(backend, name)) == before  # no connection was dropped


@pytest.mark.parametrize("backend", [name for name in BACKENDS if name == "mysql"], indirect=True)
def test_a_slow_statement_is_ended_by_mariadb_and_the_connection_kept(backend: Backend) -> None:
    """MariaDB's `max_statement_time` (from statement_timeout_s) ends a
    statement that runs longer: StorageTimeoutError, and the same connection
    serves the next call. `init()`'s migrations are exempt."""
    storage: Any = backend.make(statement_timeout_s=1, pool_size=1, max_overflow=0)
    storage.init()
    make_thread(storage, "t")
    with storage.engine.connect() as conn:
        before = conn.execute(text("SELECT CONNECTION_ID(), @@max_statement_time")).one()
    assert before[1] == 1
    with (
        pytest.raises(StorageTimeoutError, match="max_statement_time"),
        storage.session_scope(write=False) as session,
    ):
        session.execute(text("SELECT SLEEP(5)"))
    assert storage.get_thread_by_id(thread_id="t") is not None
    with storage.engine.connect() as conn:
        after = conn.execute(text("SELECT CONNECTION_ID(), @@max_statement_time")).one()
    assert tuple(after) == tuple(before)  # the connection was kept, its bound too
