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

What it keeps of the aiosqlite way: every wait bounded (the write lock is
waited for in slices of `ASYNC_SQLITE_BUSY_SLICE_S`, each a point where a
cancellation returns at once, up to the storage's `lock_timeout_ms`; a
pooled connection up to `pool_timeout_s`); a cancelled call writes
nothing unless its commit had begun (a call cancelled before its thread
ran it is never run; one cancelled while it runs is rolled back before its
commit); the same errors, translated by the caller.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError

from . import direct
from .dialects import BEGIN_OPTION, NO_BEGIN, features
from .engines import (
    ASYNC_SQLITE_BUSY_SLICE_S,
    ConnectionSettings,
    create_engine_for_url,
    forget_connections_after_fork,
)
from .errors import StorageClosedError

T = TypeVar("T")

WORKER_THREADS = 8
"""Threads of a storage's worker pool: calls beyond them wait in its queue
(each call is bounded by its lock and pool waits)."""


class Abandoned(Exception):
    """Raised inside a worker call whose caller was cancelled: its
    transaction is rolled back (never seen by anyone)."""


class _Call:
    """One operation run in a worker thread; `cancel()` (from the loop's
    thread) makes it roll back instead of committing, and interrupts the
    SQLite statement it is running (`sqlite3.Connection.interrupt`)."""

    __slots__ = ("_cancelled", "_driver", "_guard", "_operation")

    def __init__(self, operation: Callable[..., Any]) -> None:
        self._operation = operation
        self._guard = threading.Lock()
        self._driver: Any = None
        self._cancelled = False

    def __call__(self, conn: Any, **kwargs: Any) -> Any:
        _current.call = self
        try:
            if type(conn) is Connection:  # checked out already (`transaction`)
                self.checked_out(conn.connection.driver_connection)
            if self._cancelled:
                raise Abandoned()
            result = self._operation(conn, **kwargs)
        finally:
            _current.call = None
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


def _locked(error: DBAPIError) -> bool:
    return "locked" in str(error.orig)


class SQLiteWorker:
    """The async facade's calls on a SQLite file whose engine the storage
    made: each one in a worker thread, on a sync engine of the same file
    (pool and settings as the async one's; the write lock waited for in
    slices). Made and closed by `AsyncMastraStorage`."""

    def __init__(self, url: URL, settings: ConnectionSettings, options: dict[str, Any]) -> None:
        slice_ms = int(ASYNC_SQLITE_BUSY_SLICE_S * 1000)
        self._bound_s = settings.lock_timeout_ms / 1000
        self.engine = forget_connections_after_fork(
            create_engine_for_url(
                url, settings=replace(settings, lock_timeout_ms=slice_ms), **options
            )
        )
        event.listen(self.engine.pool, "checkout", _on_checkout)
        self._statement_engine = self.engine.execution_options(**{BEGIN_OPTION: NO_BEGIN})
        self._write_engine = self.engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        self._direct = features(self.engine).direct_statements and direct.allowed(self.engine)
        self._executor: ThreadPoolExecutor | None = None
        self._pid = os.getpid()
        self._running: set[asyncio.Future[Any]] = set()
        self._closed = False

    def _pool(self) -> ThreadPoolExecutor:
        """The threads, made at the first call (again in a forked child,
        which has none of its parent's)."""
        if self._executor is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._executor = ThreadPoolExecutor(
                WORKER_THREADS, thread_name_prefix="mastra-storage-sqlite"
            )
        return self._executor

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
        thread. Raises what that raises (`DBAPIError` untranslated); a write
        lock still taken after the storage's `lock_timeout_ms` raises
        SQLite's "database is locked"."""
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
            engine = self.engine
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        while True:
            if self._closed:
                raise StorageClosedError("the storage was closed while this call waited")
            call = _Call(operation)
            future = loop.run_in_executor(self._pool(), run, engine, call, kwargs)
            self._running.add(future)
            future.add_done_callback(self._finished)
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                call.cancel()
                raise
            except DBAPIError as error:
                # The write lock was taken for a whole slice: nothing was
                # written (SQLite refuses at BEGIN IMMEDIATE); once more,
                # until the storage's bound.
                if not _locked(error) or time.monotonic() - started >= self._bound_s:
                    raise

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
        # Those of this loop: another loop's (closed, say) may never finish.
        while mine := [f for f in self._running if f.get_loop() is loop and not f.done()]:
            await asyncio.wait(mine)
        self._running.clear()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)
        self.engine.dispose()
