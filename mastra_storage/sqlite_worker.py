"""Async SQLite calls run whole in a worker thread (`SQLiteWorker`).

Through aiosqlite every statement is a trip from the event loop's thread to
aiosqlite's and back: two thread wake-ups. A save of messages is five such
trips (BEGIN IMMEDIATE, the threads' lock, the upsert, their touch,
COMMIT). Where a wake-up crosses CPUs it costs 100-300 µs on a small VM
(issue #13: a loop of `await conn.execute_fetchall("select 1")` took
~200-350 µs a trip on the 2-core bench VM, ~35 µs with the process pinned
to one core), more than the save's own work per trip. Here the sync facade's own `transaction`
(or direct statement) runs on a sync engine of the same file in a worker
thread: one trip a call, whatever its statements.

What it keeps of the aiosqlite way: every wait bounded (a thread, as a
pooled connection, up to `pool_timeout_s`; then the write lock, waited for
in the thread in slices of at most `ASYNC_SQLITE_BUSY_SLICE_S`, up to the
storage's `lock_timeout_ms`); a cancelled call returns at once and writes
nothing unless its commit had begun (not yet started: never run; waiting
for the lock: stops at the end of the slice; running: its SQLite statement
is interrupted and its transaction rolled back); the same errors,
translated by the caller; the caller's context variables. Reads and
writes have threads of their own, so reads never wait behind writers
waiting for the lock.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from . import direct
from .dialects import BEGIN_OPTION, LOCK_WAIT_OPTION, NO_BEGIN, features
from .engines import (
    ASYNC_SQLITE_BUSY_SLICE_S,
    ConnectionSettings,
    create_engine_for_url,
    own_engine,
    pool_capacity,
)
from .errors import StorageClosedError, StorageTimeoutError

T = TypeVar("T")

MAX_WORKER_THREADS = 64
"""The most threads for reads, and for writes, of one storage. Otherwise it
has as many of each as its pool may open connections (`pool_size` +
`max_overflow`: 15 by default), made as calls need them. A call finding
them all busy waits for one at most `pool_timeout_s`, as for a pooled
connection."""


def worker_threads(pool: Any) -> int:
    """Threads for reads (and as many for writes) on an engine with `pool`:
    the connections it may open, at most `MAX_WORKER_THREADS`."""
    capacity = pool_capacity(pool)
    if capacity is None:
        return MAX_WORKER_THREADS
    return max(1, min(MAX_WORKER_THREADS, capacity))


class Abandoned(Exception):
    """Raised inside a worker call whose caller was cancelled: its
    transaction is rolled back (never seen by anyone)."""


class _Call:
    """One operation run in a worker thread. `cancel()` (from the loop's
    thread) makes it stop waiting for the lock and roll back instead of
    committing, and interrupts the SQLite statement it is running
    (`sqlite3.Connection.interrupt`)."""

    __slots__ = ("_cancelled", "_driver", "_guard", "_operation", "_started", "deadline")

    def __init__(self, operation: Callable[..., Any]) -> None:
        self._operation = operation
        self._guard = threading.Lock()
        self._driver: Any = None
        self._cancelled = False
        self._started = False
        self.deadline = 0.0

    def start(self) -> bool:
        """In the worker thread, before anything else: whether the call is
        still wanted (not cancelled, nor given up while it waited for a thread)."""
        with self._guard:
            self._started = not self._cancelled
            return self._started

    def give_up_unstarted(self) -> bool:
        """From the loop's thread: cancel the call if no thread has started
        it yet (then it never runs); whether it was so given up."""
        with self._guard:
            if self._started:
                return False
            self._cancelled = True
            return True

    def __call__(self, conn: Any, **kwargs: Any) -> Any:
        try:
            if type(conn) is Connection:  # checked out already (`transaction`)
                self.checked_out(conn.connection.driver_connection)
            if self._cancelled:
                raise Abandoned()
            result = self._operation(conn, **kwargs)
        except StopIteration as error:
            # A future cannot carry it (asyncio refuses it): as in a generator.
            raise RuntimeError(f"the operation raised StopIteration: {error!r}") from error
        finally:
            with self._guard:
                self._driver = None
        if self._cancelled:
            raise Abandoned()  # before the commit: the transaction is rolled back
        return result

    def checked_out(self, driver: Any) -> None:
        """`driver` (sqlite3's connection) runs this call's statements; a
        `DirectExecutor` checks it out inside the operation (`_on_checkout`)."""
        with self._guard:
            self._driver = driver
            if self._cancelled:
                driver.interrupt()

    def keep_waiting(self) -> bool:
        """Between two slices of a wait for the write lock: go on?"""
        return not self._cancelled and time.monotonic() < self.deadline

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._guard:
            self._cancelled = True
            if self._driver is not None:
                self._driver.interrupt()  # its running statement stops: rolled back


class _Current(threading.local):
    call: _Call | None = None


_current = _Current()


def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    call = _current.call
    if call is not None:
        call.checked_out(dbapi_connection)


def _keep_waiting() -> bool:
    call = _current.call
    return call is None or call.keep_waiting()


def _locked(error: DBAPIError) -> bool:
    return "locked" in str(error.orig)


class SQLiteWorker:
    """The async facade's calls on a SQLite file whose engine the storage
    made: each one in a worker thread, on a sync engine of the same file
    (pool options as the async one's; the write lock waited for in slices,
    each a point where a cancellation stops the wait). Made and closed by
    `AsyncMastraStorage`."""

    def __init__(self, url: URL, settings: ConnectionSettings, options: dict[str, Any]) -> None:
        self._lock_timeout_s = settings.lock_timeout_ms / 1000
        self._pool_timeout_s = settings.pool_timeout_s
        arguments = dict(options)
        connect_args = dict(arguments.pop("connect_args", None) or {})
        # The busy wait of one slice; `dialects.begin_sqlite` waits slice after
        # slice up to lock_timeout_ms, asking `_keep_waiting` in between.
        connect_args.setdefault("timeout", min(self._lock_timeout_s, ASYNC_SQLITE_BUSY_SLICE_S))
        self.engine = own_engine(
            create_engine_for_url(url, settings=settings, connect_args=connect_args, **arguments)
        )
        event.listen(self.engine.pool, "checkout", _on_checkout)
        waiting = self.engine.execution_options(**{LOCK_WAIT_OPTION: _keep_waiting})
        self._statement_engine = waiting.execution_options(**{BEGIN_OPTION: NO_BEGIN})
        self._write_engine = waiting.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        self._read_engine = waiting
        self._direct = features(self.engine).direct_statements and direct.allowed(self.engine)
        self._threads: dict[bool, ThreadPoolExecutor] = {}
        self.threads = worker_threads(self.engine.pool)
        # Calls given to the read (False) and write (True) threads and not
        # ended: past `self.threads`, a new one waits for a thread.
        self._calls = {False: 0, True: 0}
        self._count_guard = threading.Lock()
        self._write_turn = threading.Lock()  # see `_take_turn`
        self._pid = os.getpid()
        self._running: set[asyncio.Future[Any]] = set()
        self._closed = False

    def _pool(self, write: bool) -> ThreadPoolExecutor:
        """The read or write threads, made at the first call (again in a
        forked child, which has none of its parent's)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._threads = {}
            self._running = set()  # the parent's: they never finish here
            self._calls = {False: 0, True: 0}
            self._count_guard = threading.Lock()
            self._write_turn = threading.Lock()  # a parent's thread may hold it
        executor = self._threads.get(write)
        if executor is None:
            executor = self._threads[write] = ThreadPoolExecutor(
                self.threads,
                thread_name_prefix=f"mastra-storage-sqlite-{'write' if write else 'read'}",
            )
        return executor

    def runner(self, *, write: bool, single: bool) -> Callable[..., Awaitable[Any]]:
        """`run` as the async facade's other ways of running a call are
        called: `(engine, operation, kwargs)`, the engine unused."""
        return partial(self._run_as, write, single)

    async def _run_as(
        self, write: bool, single: bool, _engine: Any, operation: Callable[..., T], kwargs: Any
    ) -> T:
        return await self.run(operation, kwargs, write=write, single=single)

    async def run(
        self,
        operation: Callable[..., T],
        kwargs: dict[str, Any],
        *,
        write: bool,
        single: bool,
    ) -> T:
        """`operation(conn, **kwargs)` as the sync facade runs it (a
        transaction of its own, or its direct statement), in a worker
        thread, in the caller's context. Raises what that raises
        (`DBAPIError` untranslated: SQLite's "database is locked" after
        `lock_timeout_ms`; SQLAlchemy's pool `TimeoutError` when no thread
        took the call within `pool_timeout_s`)."""
        from .storage import direct_transaction, direct_write, transaction

        run: Callable[..., T] = transaction
        engine: Engine
        if write:
            engine = self._write_engine
            if self._direct and single:
                run = direct_write
        elif single:
            engine = self._statement_engine
            if self._direct:
                run = direct_transaction
        else:
            engine = self._read_engine
        if self._closed:
            raise StorageClosedError("the storage is closed")
        call = _Call(operation)
        context = contextvars.copy_context()
        executor = self._pool(write)
        with self._count_guard:
            self._calls[write] += 1
            queued = self._calls[write] > self.threads
        future = asyncio.get_running_loop().run_in_executor(
            executor, context.run, self._job, run, engine, call, kwargs, write
        )
        self._running.add(future)
        future.add_done_callback(self._finished)
        try:
            if queued:
                # Every thread busy: one is waited for as a pooled connection.
                await asyncio.wait([future], timeout=self._pool_timeout_s)
                if not future.done() and call.give_up_unstarted():
                    raise PoolTimeoutError(
                        f"no worker thread of the storage was free within "
                        f"{self._pool_timeout_s} s ({self.threads} for "
                        f"{'writes' if write else 'reads'}: pool_size + max_overflow)"
                    )
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            call.cancel()
            raise

    def _job(
        self,
        run: Callable[..., T],
        engine: Engine,
        call: _Call,
        kwargs: dict[str, Any],
        write: bool,
    ) -> T:
        """In a worker thread: `run(engine, call, kwargs)`, again while a
        direct write finds the lock taken, until the lock bound; nothing
        when the call was cancelled or given up before a thread took it."""
        try:
            if not call.start():
                raise Abandoned()
            call.deadline = time.monotonic() + self._lock_timeout_s
            if not write:
                return self._run_call(run, engine, call, kwargs)
            turn = self._write_turn
            self._take_turn(turn, call)
            try:
                return self._run_call(run, engine, call, kwargs)
            finally:
                turn.release()
        finally:
            with self._count_guard:
                self._calls[write] -= 1

    def _take_turn(self, turn: threading.Lock, call: _Call) -> None:
        """A write's turn among this storage's writes: one at a time holds a
        pooled connection to wait for SQLite's write lock (which lets one
        writer in at a time anyway), so the others leave the pool's
        connections to the reads. Waited for in slices, as the lock: within
        the call's lock deadline (`StorageTimeoutError`), cancellation
        (`Abandoned`) at the end of a slice."""
        while True:
            left = call.deadline - time.monotonic()
            if turn.acquire(timeout=max(0.0, min(ASYNC_SQLITE_BUSY_SLICE_S, left))):
                return
            if call.cancelled:
                raise Abandoned()
            if not call.keep_waiting():
                raise StorageTimeoutError(
                    f"the SQLite write lock was not free within lock_timeout_ms "
                    f"({round(self._lock_timeout_s * 1000)} ms): writes of this storage "
                    "ahead of this one held it or waited for it"
                )

    def _run_call(
        self, run: Callable[..., T], engine: Engine, call: _Call, kwargs: dict[str, Any]
    ) -> T:
        _current.call = call
        try:
            while True:
                try:
                    return run(engine, call, kwargs)
                except DBAPIError as error:
                    # A statement alone (a direct write) waited one slice for
                    # the lock and wrote nothing: once more, within the bound.
                    if not _locked(error) or not call.keep_waiting():
                        raise
        finally:
            _current.call = None

    def _finished(self, future: asyncio.Future[Any]) -> None:
        self._running.discard(future)
        if not future.cancelled():
            future.exception()  # retrieved: a cancelled caller's is nobody's

    async def close(self) -> None:
        """Wait for the calls under way (each bounded), then dispose the
        engine and let the threads go; a call after this raises
        `StorageClosedError`."""
        self._closed = True
        loop = asyncio.get_running_loop()
        if self._pid == os.getpid():
            # Those of this loop: another loop's (closed, say) may never finish.
            while mine := [f for f in self._running if f.get_loop() is loop and not f.done()]:
                await asyncio.wait(mine)
        self._running.clear()
        threads, self._threads = self._threads, {}
        for executor in threads.values():
            executor.shutdown(wait=False)
        self.engine.dispose()
