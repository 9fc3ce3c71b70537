"""The async facade: `AsyncMastraStorage`, `AsyncDefaultStorage`, `AsyncPostgresStorage`,
`AsyncMySQLStorage`.

Same methods and semantics as the sync classes, as coroutines, over an
`AsyncEngine` (aiosqlite; psycopg's async mode). The data methods are
generated from the sync facade (`_async_methods.py`); each awaits `_run`,
which runs the sync facade's own `transaction` (checkout, transaction, the
very same `operations` function, commit) in one greenlet on the engine's
sync face, or the operation in the caller's `AsyncSession.run_sync`; on a
SQLite file of the storage's own, that same `transaction` in a worker thread
(`sqlite_worker`). Only the lifecycle below is written for async.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any, TypeVar, cast

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from . import direct, operations
from ._async_methods import AsyncDataMethods
from ._asyncio import AsyncEngine, AsyncSession, async_sessionmaker, greenlet_spawn
from .dialects import BEGIN_OPTION, NO_BEGIN, connection_of, features
from .domain import Direction, MastraDBMessage, RunLock
from .engines import (
    ConnectionSettings,
    create_async_engine_for_url,
    create_engine_for_url,
    is_memory_sqlite,
    own_engine,
    pool_full,
    pool_hooks,
    prepare_engine,
    schema_on,
    snapshot_engine,
    storage_settings,
    sync_driver_url,
    url_from_env,
    with_caller_schema,
    with_storage_isolation,
)
from .errors import StorageClosedError, ValidationError, is_timeout, translate_errors
from .held_connection import HeldConnection
from .kept_connection import KeptConnection, may_keep
from .locks import (
    DEFAULT_TTL_MS,
    LOCK_BACKENDS,
    MEMORY,
    HeldRunLock,
    RunLockService,
    choose_lock_backend,
    new_holder_id,
)
from .sqlite_worker import SQLiteWorker
from .storage import (
    DEADLOCK_RETRIES,
    LOCK_POOL,
    MySQLOptions,
    PostgresOptions,
    deadlock_retry_delay,
    direct_transaction,
    direct_write,
    migrate_on,
    raise_unless_retryable,
    transaction,
)

T = TypeVar("T")
logger = logging.getLogger(__name__)

_INLINE_WAL = "mastra_storage_inline_wal"
"""Key in a pooled inline connection's `info`: whether it is in WAL mode
(asked at its first inline write, which then turned its auto-checkpoint off)."""


CONNECTION_SOURCES = frozenset({"creator", "async_creator"})
"""Engine options that give connections of the caller's making, which the
sync engine of `SQLiteWorker` could not make: with one, no worker."""

INLINE_SLICE_S = 0.002
"""Seconds of point reads on the event loop's thread (async SQLite) in one
turn of the loop, after which the next read lets the loop run the other
ready tasks first: however many reads are gathered, no task waits much
longer than this for them. Point writes share the same slice."""

INLINE_READ_BUDGET_S = INLINE_SLICE_S
"""Seconds a read's statement may run on the event loop's thread (async
SQLite), counted from its connection's checkout: SQLite checks the time
every `PROGRESS_STEPS` of its virtual machine's steps (a progress handler)
and, past them, stops the statement; the read then runs in a worker thread
instead. Binds the `operations.short_read` pages, whose statement takes
longer the larger their thread is (its COUNT, its OFFSET)."""

PROGRESS_STEPS = 1_000
"""SQLite virtual-machine steps between two checks of the inline budget
(about 5-20 µs of a page's work; a step reading a large value takes
longer). Checking every 250 steps cost a page ~7% more, every 100 ~20%."""

LONG_READ_SKIPS = 8
"""A short read that went over its budget, or took more than twice it on
the loop's thread in all (its messages built too: large ones take long),
makes the next this many reads of the same operation and key (its thread,
say) go straight to the worker thread, before one is tried on the loop's
thread again; twice as many each time that one is long again (up to
`MAX_LONG_READ_SKIPS`), back to none once one is not. A read held up once
(a pause of the VM, a garbage collection) costs a few trips; a thread
that stays large costs a try on the loop once in up to 1,024 reads."""

MAX_LONG_READ_SKIPS = 1_024
"""The most reads `LONG_READ_SKIPS` doubles to."""

LONG_READS_KEPT = 1_024
"""How many (operation, key) pairs of over-budget reads are remembered
(the oldest forgotten first)."""

WAL_PAGES_PER_CHECKPOINT = 1_000
"""About how many pages the point writes on the event loop's thread (async
SQLite) add to the WAL before a PASSIVE checkpoint runs in a worker thread
(`_checkpoint_wal`): SQLite's own automatic checkpoint threshold, which the
sync facade's commits keep. The inline connections never checkpoint by
themselves (`PRAGMA wal_autocheckpoint = 0`): SQLite's automatic
checkpoint runs in the committing connection and writes the pages back and
syncs the file, milliseconds the loop must not wait. A PASSIVE checkpoint
takes no lock a writer or reader waits for; the inline writes wait for it
(off the loop), so that it copies every page and the next write starts the
WAL over: inline writes alone keep the WAL at about this many pages."""

INLINE_WRITES_PER_CHECKPOINT = 10
"""Point writes on the loop's thread before the first checkpoint. Each
checkpoint sets the number until the next from the pages it found
(`WAL_PAGES_PER_CHECKPOINT` over the pages per write: ~300 for a 2.5 KB
snapshot, 1 for a snapshot of a megabyte), from 1 to
`WAL_PAGES_PER_CHECKPOINT`."""

INLINE_WRITE_MAX_CHARS = 256 * 1024
"""A point write whose values hold more text than this (a large snapshot)
goes through aiosqlite, off the loop: writing megabytes takes the loop
tens of milliseconds."""


class AsyncMastraStorage(AsyncDataMethods, ABC):
    """Mastra's storage interface (`MastraStorage` of `@mastra/core/storage`)
    as coroutines: every method of `MastraStorage`, same names, arguments,
    defaults, results and errors, awaited (`await storage.list_threads()`).

    Pass `session=` (an `AsyncSession`) to run a call inside your
    transaction (it may flush, it never commits); without one, each call is
    its own transaction, all of it or nothing. Bad input raises
    `ValidationError` naming the field, with nothing written; database
    failures raise `StorageError` subclasses with the cause chained.

    Args:
        name: a label for this instance (Mastra's `name`); part of its
            run-lock holder id.
        url: a SQLAlchemy URL (async driver: `sqlite+aiosqlite`,
            `postgresql+psycopg`; a sync driver name is mapped to it), or
            Mastra's `file:PATH` / `file::memory:`.
        engine: an existing `AsyncEngine` to use instead of `url` (not
            both); it is left open by `close()`.
        lock_backend: `"advisory"`, `"lease"` or `"memory"` to override the
            run-lock backend chosen for the database.
        lock_engine: a sync `Engine` on the same database for the run locks
            (default: one the storage creates from this URL, disposed by
            `close()`); the lock service runs in worker threads.
        connect_timeout_s: seconds to wait for a new connection (default 10).
        lock_timeout_ms: milliseconds to wait for a row, table, advisory or
            SQLite write lock (default 10 000).
        pool_timeout_s: seconds to wait for a free pooled connection
            (default 5).
        prepared_statements: False (or `?prepared_statements=false` in the
            URL) for a transaction-pooling proxy such as PgBouncer.
        statement_timeout_s: PostgreSQL: seconds one statement may run
            (default 30); a frozen server is given up on after this plus a
            grace, as in `MastraStorage` (`StorageTimeoutError`).
        **engine_options: passed to `create_async_engine` when the storage
            makes its engine.

    Raises:
        ValidationError: both `url` and `engine`, a sync `Engine` as
            `engine`, a malformed URL, an unknown lock backend.
        MissingDependencyError: the async driver is not installed (the
            message names the extra).

    Every wait is bounded as in `MastraStorage` (`StorageTimeoutError`), and
    every call honours cancellation: a call cancelled (say by
    `asyncio.wait_for`) while waiting for a SQLite write lock returns at once.
    Proxy mode, fork safety and reconnection as `MastraStorage`.

    SQLite file, engine made by the storage: the point reads
    (`get_thread_by_id`, `get_resource_by_id`, `load_workflow_snapshot`,
    `get_workflow_run_by_id`, `get_score_by_id`) run on the event loop's
    thread on a connection of the storage's own that never waits (see
    `_read_inline`); one that would wait goes through aiosqlite. So does
    the point write `persist_workflow_snapshot` without a fencing token, one
    upsert committed by itself, in WAL mode only (see `_write_inline`): one
    that finds the write lock taken, or meets a write of this storage under
    way through aiosqlite, goes through aiosqlite; the WAL is checkpointed
    in a worker thread every `WAL_PAGES_PER_CHECKPOINT` pages or so. So
    do the short page reads (`operations.short_read`: one thread's page of
    at most `SHORT_READ_ROWS` messages, without `include` nor `metadata`;
    `AsyncMemory.recall` without semantic recall), their statement
    stopped by SQLite after `INLINE_READ_BUDGET_S` on the loop and the page
    then read in the worker thread (`_read_inline`).
    Point reads, short pages and point writes run on the loop
    `INLINE_SLICE_S` at a time, then let the other ready tasks run. The
    storage's other calls run whole in a worker thread
    (`sqlite_worker.SQLiteWorker`): one trip a call, not one per statement
    through aiosqlite; same bounds, cancellation as above."""

    def __init__(
        self,
        *,
        name: str = "mastra-storage",
        url: str | URL | None = None,
        engine: AsyncEngine | None = None,
        lock_backend: str | None = None,
        lock_engine: Engine | None = None,
        connect_timeout_s: float = 10.0,
        lock_timeout_ms: int = 10_000,
        pool_timeout_s: float = 5.0,
        prepared_statements: bool = True,
        statement_timeout_s: float = 30.0,
        **engine_options: Any,
    ) -> None:
        self.name = name
        self._closed = False
        self._closing: asyncio.Task[None] | None = None
        self._released = False  # `close()`'s release done
        schema = getattr(self, "schema", None) or engine_options.get("schema")
        self._schema: str | None = schema
        url, self.settings = storage_settings(
            url,
            connect_timeout_s=connect_timeout_s,
            lock_timeout_ms=lock_timeout_ms,
            pool_timeout_s=pool_timeout_s,
            prepared_statements=prepared_statements,
            statement_timeout_s=statement_timeout_s,
        )
        if engine is not None and url is not None:
            raise ValidationError("give url or engine, not both", field="engine")
        if engine is not None and not isinstance(engine, AsyncEngine):
            raise ValidationError(
                f"engine must be a SQLAlchemy AsyncEngine (create_async_engine), got "
                f"{type(engine).__name__}: a sync Engine goes to DefaultStorage / PostgresStorage",
                field="engine",
            )
        self._owns_engine = engine is None
        options = dict(engine_options)
        if engine is None:
            engine = self._create_engine(url, settings=self.settings, **engine_options)
            own_engine(engine.sync_engine)
        else:
            engine = with_storage_isolation(
                with_caller_schema(engine, engine_options.pop("schema", schema))
            )
        self.engine = engine
        self.features = features(self.engine.sync_engine)
        prepare_engine(self.engine.sync_engine)
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        # A single-statement read is a transaction by itself: no BEGIN / COMMIT.
        self._statement_engine = self.engine.execution_options(**{BEGIN_OPTION: NO_BEGIN})
        self._write_engine = self.engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        self._snapshot_engine = snapshot_engine(self.engine)
        self._writer = async_sessionmaker(self._write_engine, expire_on_commit=False)
        self._direct = self.features.direct_statements_async and direct.allowed(
            self._statement_engine.sync_engine
        )
        self._inline = self._create_inline_engine() if self._owns_engine else None
        # Its direct statements share one pooled connection between calls
        # (`kept_connection`): the loop's thread lends it to one call at a time.
        self._inline_kept = (
            KeptConnection(self._inline, on_lend=_lend_budget)
            if self._inline is not None and may_keep(self._inline)
            else None
        )
        # PostgreSQL (psycopg), the storage's own engine: single-statement
        # reads and point writes awaited on one held connection, no greenlet
        # (`held_connection`).
        self._held = (
            HeldConnection(self._statement_engine.sync_engine, _direct_transaction, _direct_write)
            if self._owns_engine
            and self._direct
            and self.engine.dialect.name == "postgresql"
            and self.engine.dialect.driver == "psycopg"
            else None
        )
        self._own_pool_hooks = pool_hooks(self.engine.sync_engine.pool)
        # Where the inline engine is (a SQLite file, the storage's own engine),
        # the other calls run whole in a worker thread: one trip each.
        self._worker = (
            SQLiteWorker(sync_url(self.engine.url), self.settings, options)
            if self._inline is not None and not CONNECTION_SOURCES.intersection(options)
            else None
        )
        self._writes_in_flight = 0  # through aiosqlite: they hold SQLite's write lock
        self._since_checkpoint = 0
        self._checkpoint_every = INLINE_WRITES_PER_CHECKPOINT
        self._checkpoint: asyncio.Future[int] | None = None
        self._inline_turn: tuple[asyncio.AbstractEventLoop, float] | None = None
        self._inline_queue: deque[asyncio.Future[None]] = deque()
        # (operation, key) of short reads found long: (reads left to skip, skips).
        self._long_reads: dict[tuple[Callable[..., Any], Hashable], tuple[int, int]] = {}
        self._active: dict[asyncio.AbstractEventLoop, int] = {}
        self._drained: dict[asyncio.AbstractEventLoop, asyncio.Future[None]] = {}
        self._initialized = False
        self._init_lock = asyncio.Lock()
        self._run_locks, self._lock_engine = self._create_lock_service(lock_backend, lock_engine)

    def _create_inline_engine(self) -> Engine | None:
        """SQLite file: a sync engine on the same file for point reads run on
        the event loop's own thread (see `_read_inline`), which waits for
        nothing: a busy wait of 1 ms, no wait for a pooled connection."""
        sync = self.engine.sync_engine
        if sync.dialect.name != "sqlite" or not direct.allowed(sync) or is_memory_sqlite(sync.url):
            return None
        settings = replace(self.settings, lock_timeout_ms=1, pool_timeout_s=0.001)
        inline = create_engine_for_url(sync_url(sync.url), settings=settings)
        event.listen(inline, "connect", _watch_budget)
        event.listen(inline, "checkout", _start_budget)
        return own_engine(inline)

    @abstractmethod
    def _create_engine(
        self, url: str | URL | None, *, settings: ConnectionSettings, **options: Any
    ) -> AsyncEngine:
        """The engine this storage creates (and disposes in `close`)."""

    def _prepare_database(self, conn: Connection) -> None:
        """Anything the database needs before its first migration."""

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosedError(
                f"{type(self).__name__} {self.name!r} is closed: create a new storage to go on"
            )

    async def init(self) -> None:
        """Bring the schema to head (Mastra: `init`), awaited. Idempotent (at
        head it does not start Alembic); safe when several processes call it
        at once (they take turns); also done by the first call without
        `session=`. Raises `StorageError` when a migration step fails
        (nothing of it kept), `SchemaTooNewError` when a newer release has
        migrated the database, `StorageClosedError` after `close()`."""
        self._check_open()
        loop = asyncio.get_running_loop()
        self._enter(loop)
        try:
            async with self._init_lock:
                self._check_open()  # closed while this waited for another init
                with translate_errors():
                    async with self.engine.connect() as conn:
                        await conn.run_sync(migrate_on, self._prepare_database)
                self._initialized = True
        finally:
            self._leave(loop)

    async def close(self) -> None:
        """Release the run locks this storage holds, then dispose the engines
        it created (a caller's `engine` / `lock_engine` is left alone). Also
        on leaving `async with storage:`. Our extension (Mastra's storages
        have no `close`), as `MastraStorage.close`. Any later call, and any
        call of this event loop not yet started (waiting for its turn on the
        loop, say), raises `StorageClosedError`; the calls of this event
        loop under way are waited for first (each within its bounds).
        Idempotent (a second `close()` while one is under way returns when
        that one is done); a `close()` cancelled (`asyncio.wait_for`) leaves
        the release going on, which a second `close()` waits for."""
        loop = asyncio.get_running_loop()
        if self._closed:
            closing = self._closing
            if closing is not None and not closing.done():
                if closing.get_loop() is loop:
                    await asyncio.shield(closing)  # a close under way: returns when it is done
                    return
                if closing.get_loop().is_running():
                    return  # another loop's close under way
            if self._released:
                return
            # A release cut short (its event loop shut down or stopped under
            # it): once more, here.
        self._closed = True
        closing = self._closing = loop.create_task(self._release_everything(loop))
        closing.add_done_callback(self._release_ended)
        await asyncio.shield(closing)

    def _release_ended(self, closing: asyncio.Task[None]) -> None:
        """`close()`'s release task done. Cancelled before it could release
        (its event loop ended, say, before the task even started): the run
        locks at least are released here and now, synchronously (a lock left
        held would keep every other worker from the run); the connections
        and threads wait for a later `close()`."""
        _retrieved(closing)
        if not self._released:
            try:
                self._run_locks.close()
            except Exception:
                logger.warning("releasing the run locks on close failed", exc_info=True)

    def _enter(self, loop: asyncio.AbstractEventLoop) -> None:
        """A call of `loop` under way (`close()` waits for them)."""
        self._active[loop] = self._active.get(loop, 0) + 1

    def _leave(self, loop: asyncio.AbstractEventLoop) -> None:
        left = self._active[loop] - 1
        if left:
            self._active[loop] = left
            return
        del self._active[loop]
        drained = self._drained.pop(loop, None)
        if drained is not None and not drained.done():
            drained.set_result(None)

    async def _release_everything(self, loop: asyncio.AbstractEventLoop) -> None:
        interrupted = False
        if self._active.get(loop):
            drained = self._drained[loop] = loop.create_future()
            try:
                await drained  # this loop's calls under way ended
            except asyncio.CancelledError:
                # The loop shutting down (`asyncio.run` ending cancels every
                # task, the calls too): release all the same, then say so.
                interrupted = True
        await asyncio.to_thread(self._run_locks.close)
        if self._lock_engine is not None:
            self._lock_engine.dispose()
        running = self._checkpoint
        if running is not None and not running.done() and running.get_loop() is loop:
            await asyncio.wait([running])  # its connection back to the pool first
        if self._inline_kept is not None:
            self._inline_kept.close()
        if self._inline is not None:
            self._inline.dispose()
        if self._worker is not None:
            await self._worker.close()
        if self._held is not None:
            await self._held.close()
        if self._owns_engine:
            await self.engine.dispose()
        self._released = True
        if interrupted:
            raise asyncio.CancelledError()

    async def __aenter__(self: T) -> T:
        """`async with AsyncDefaultStorage(...) as storage:` gives the storage
        itself (our extension; Mastra's storages have no context manager)."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Leaving the `async with` block awaits `close()` (also on an error,
        which then propagates)."""
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.engine.url!r})"

    @asynccontextmanager
    async def session_scope(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """An `AsyncSession` in a new transaction, committed on success,
        rolled back on error (our extension, as `MastraStorage.session_scope`):
        `async with storage.session_scope() as session: ...`, then pass
        `session=session` to the data methods. `write=True` (default) takes
        SQLite's write lock at BEGIN, so the transaction cannot fail later
        for a lock upgrade; `write=False` for reads only. Raises
        `StorageClosedError` after `close()`; database errors as
        `StorageError` subclasses."""
        self._check_open()
        if not self._initialized:
            await self.init()
        maker = self._writer if write else self._reader
        with translate_errors():
            async with maker.begin() as session:
                yield session

    async def _run(
        self,
        operation: Callable[..., T],
        session: AsyncSession | None,
        *,
        write: bool,
        **kwargs: Any,
    ) -> T:
        if self._closed:
            self._check_open()
        if session is not None:
            with translate_errors():
                return await session.run_sync(_call_in_schema, self._schema, operation, kwargs)
        loop = asyncio.get_running_loop()
        plan = self._inline_plan(operation, write, kwargs) if self._initialized else None
        if plan is not None and self._inline_turn_open(loop, write):
            # On the loop's thread now, nothing awaited: no call of this loop
            # can close the storage meanwhile (`_enter` is for calls that wait).
            if plan is _POINT_READ_PLAN:
                done, answer = self._read_inline(operation, kwargs)
            else:
                done, answer = self._run_inline(plan, operation, kwargs)
            if done:
                return answer  # type: ignore[no-any-return]
            plan = None  # it would have had to wait: the worker's way
        self._enter(loop)
        try:
            return await self._run_own(operation, write, kwargs, plan)
        finally:
            self._leave(loop)

    async def _run_own(
        self, operation: Callable[..., T], write: bool, kwargs: Any, plan: _InlinePlan | None
    ) -> T:
        """`_run` without `session=`: a call of the storage's own connections,
        counted under way (`_enter`); closed meanwhile, one that has not
        started raises `StorageClosedError` (after each of its waits).
        `plan`: how it runs on the loop's thread (`_inline_plan`), once its
        turn comes; None: not there (then `_inline_plan` is asked again
        only when the storage was not initialized yet)."""
        if not self._initialized:
            await self.init()
            self._check_open()
            plan = self._inline_plan(operation, write, kwargs)
        if plan is not None:
            if write:
                checkpoint = self._checkpoint
                if (
                    checkpoint is not None
                    and not checkpoint.done()
                    and checkpoint.get_loop() is asyncio.get_running_loop()
                ):
                    # Pages written meanwhile would keep the WAL from starting over.
                    await asyncio.wait([checkpoint])
            await self._share_the_loop()
            self._check_open()
            done, answer = self._run_inline(plan, operation, kwargs)
            if done:
                return cast(T, answer)
        single = operations.is_single_statement(operation, kwargs, self.features)
        own_connections = self._inline is not None and self._pool_unhooked()
        engine = (
            self._write_engine
            if write
            else self._statement_engine
            if single
            else self._snapshot_engine
        )
        run: Callable[..., Awaitable[T]] = _transaction
        if self._worker is not None and own_connections and direct.unobserved(engine.sync_engine):
            run = self._worker.runner(write=write, single=single)
        elif single and self._direct and direct.unobserved(engine.sync_engine):
            run = _direct_write if write else _direct_transaction
        held = self._held
        if held is not None:
            by_held = run is _direct_transaction or (
                run is _direct_write and operations.is_point_write(operation)
            )
            if by_held and self._pool_unhooked():
                run = held.read if run is _direct_transaction else held.write
            elif held.idle and pool_full(engine.sync_engine.pool):
                await held.give_back()  # this call may need it
                self._check_open()
        self._writes_in_flight += int(write)
        try:
            with translate_errors():
                for attempt in range(DEADLOCK_RETRIES + 1):
                    try:
                        return await run(engine, operation, kwargs)
                    except DBAPIError as error:
                        delay = deadlock_retry_delay(error, attempt)
                        if delay is None:
                            raise_unless_retryable(error, write=write)
                            # A read whose connection the server had dropped: once more.
                            self._check_open()
                            return await _transaction(engine, operation, kwargs)
                    await asyncio.sleep(delay)
                    self._check_open()
                raise AssertionError("unreachable: the last attempt returns or raises")
        finally:
            self._writes_in_flight -= int(write)

    def _inline_plan(
        self, operation: Callable[..., Any], write: bool, kwargs: Any
    ) -> _InlinePlan | None:
        """Whether this call of an initialized storage runs on the event
        loop's thread (async SQLite): a point read, a short read not long
        lately (`_may_read_inline`), or a point write with no write of this
        storage under way (it would wait 1 ms for their lock); on the
        storage's own connections, unobserved. None: not there."""
        if self._inline is None or not self._pool_unhooked():
            # A caller's pool hook on `storage.engine` (a `connect` listener,
            # say) applies to aiosqlite's connections only: then every call goes there.
            return None
        if write:
            if (
                operations.is_point_write(operation)
                and not self._writes_in_flight
                and operations.is_single_statement(operation, kwargs, self.features)
                and direct.unobserved(self._write_engine.sync_engine)
            ):
                return _POINT_WRITE_PLAN
            return None
        if operations.is_point_read(operation):
            short = None
        else:
            short = operations.short_read_key(operation, kwargs)
            if not self._may_read_inline(operation, short):
                return None
        if not direct.unobserved(self._statement_engine.sync_engine):
            return None
        return _POINT_READ_PLAN if short is None else _InlinePlan(short)

    def _inline_turn_open(self, loop: asyncio.AbstractEventLoop, write: bool) -> bool:
        """Whether a call planned for the loop's thread may run there at once,
        with nothing awaited: this turn of `loop` has not used up its slice
        (`_share_the_loop`) and, for a write, no checkpoint of this loop is
        under way. A turn not started yet starts here."""
        if write:
            checkpoint = self._checkpoint
            if checkpoint is not None and not checkpoint.done():
                return False
        turn = self._inline_turn
        if turn is None or turn[0] is not loop:
            self._start_inline_turn(loop)
            return True
        return not self._inline_queue and time.monotonic() - turn[1] < INLINE_SLICE_S

    def _run_inline(
        self, plan: _InlinePlan, operation: Callable[..., Any], kwargs: Any
    ) -> tuple[bool, Any]:
        """The call on the loop's thread, as `plan` says: (True, its result),
        or (False, None) when it would have had to wait (`_read_inline`,
        `_write_inline`)."""
        if plan is _POINT_WRITE_PLAN:
            written, answer = self._write_inline(operation, kwargs)
            if written:
                self._checkpoint_now_and_then()
            return written, answer
        short = plan.short
        if short is None:
            return self._read_inline(operation, kwargs)
        started = time.perf_counter()
        found, answer = self._read_inline(operation, kwargs)
        took = time.perf_counter() - started
        self._note_read(operation, short, answer is _OVER_BUDGET or took > 2 * INLINE_READ_BUDGET_S)
        return found, (answer if found else None)

    def _pool_unhooked(self) -> bool:
        """Whether `storage.engine`'s pool has only the listeners it was made
        with (no caller's `connect`, `checkout`, ... hook)."""
        return pool_hooks(self.engine.sync_engine.pool) == self._own_pool_hooks

    async def _share_the_loop(self) -> None:
        """Before a point read on the loop's thread: once such reads have run
        back to back for `INLINE_SLICE_S` in one turn of the event loop (say
        hundreds of them gathered), the next ones wait in line, one let go
        per later turn, so the loop runs every other ready task in between."""
        loop = asyncio.get_running_loop()
        turn = self._inline_turn
        if turn is None or turn[0] is not loop:
            self._start_inline_turn(loop)
            return
        if not self._inline_queue and time.monotonic() - turn[1] < INLINE_SLICE_S:
            return
        waiter: asyncio.Future[None] = loop.create_future()
        self._inline_queue.append(waiter)
        try:
            await waiter  # a later turn's `_end_inline_turn` lets this one go
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # Let go, then cancelled before it ran: its turn passes on
                # (else the ones behind it would wait for another call).
                self._start_inline_turn(loop)
            raise
        self._start_inline_turn(loop)

    def _start_inline_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        started = self._inline_turn = (loop, time.monotonic())
        # Runs in the loop's next turn, after the tasks ready in this one.
        loop.call_soon(self._end_inline_turn, started)

    def _end_inline_turn(self, started: tuple[asyncio.AbstractEventLoop, float]) -> None:
        if self._inline_turn is not started:
            return
        self._inline_turn = None
        while self._inline_queue:
            waiter = self._inline_queue.popleft()
            if not waiter.done():  # not cancelled meanwhile
                waiter.set_result(None)
                return

    def _may_read_inline(self, operation: Callable[..., Any], short: Hashable | None) -> bool:
        """Whether a short read (`operations.short_read`) of this key may run
        on the loop's thread: unless one of the same operation and key was
        long lately (`LONG_READ_SKIPS`)."""
        if short is None:
            return False
        key = (operation, short)
        found = self._long_reads.get(key)
        if found is None:
            return True
        left, skips = found
        if left <= 0:
            return True  # tried again (kept: long again, it skips twice as many)
        self._long_reads[key] = (left - 1, skips)
        return False

    def _note_read(self, operation: Callable[..., Any], short: Hashable, long: bool) -> None:
        """A short read of this key ran on the loop (or tried to): `long` or not."""
        long_reads = self._long_reads
        if not long:
            if long_reads:
                long_reads.pop((operation, short), None)
            return
        found = long_reads.pop((operation, short), None)
        skips = LONG_READ_SKIPS if found is None else min(2 * found[1], MAX_LONG_READ_SKIPS)
        long_reads[(operation, short)] = (skips, skips)
        if len(long_reads) > LONG_READS_KEPT:
            del long_reads[next(iter(long_reads))]  # the oldest

    def _read_inline(self, operation: Callable[..., T], kwargs: dict[str, Any]) -> tuple[bool, Any]:
        """A point read (`operations.point_read`: one indexed row, no lock)
        or a short read (`operations.short_read`: one statement, at most
        `SHORT_READ_ROWS` rows, no lock) of a SQLite file, run directly on
        the event loop's thread: (True, its result); or (False, None) when it
        would have had to wait (the file busy, say a writer's commit without
        WAL, or no pooled connection free) or its connection was lost, and
        (False, `_OVER_BUDGET`) when SQLite stopped its statement after
        `INLINE_READ_BUDGET_S`: then the caller goes the worker's (or
        aiosqlite's) way, which waits within the bounds and honours
        cancellation.

        Why: through aiosqlite each driver call is a trip to its thread and
        back (~100 µs on a 2-core VM, 4 per statement in SQLAlchemy's
        adapter), where the whole read takes ~30 µs of CPU; the rows' values
        are processed on the loop's thread either way. The read never waits:
        a busy wait of 1 ms at most, no wait for a pooled connection; in WAL
        mode (ours) a reader never waits for a writer."""
        assert self._inline is not None
        budget = _INLINE_BUDGET
        budget.armed, budget.deadline, budget.spent = True, None, False
        with translate_errors():
            try:
                return True, direct_transaction(
                    self._inline, operation, kwargs, None, self._inline_kept
                )
            except PoolTimeoutError:
                return False, None
            except DBAPIError as error:
                if budget.spent:
                    return False, _OVER_BUDGET
                if error.connection_invalidated or is_timeout(error):
                    return False, None
                raise
            finally:
                budget.armed = False

    def _checkpoint_now_and_then(self) -> None:
        """After a point write on the loop's thread: once about
        `WAL_PAGES_PER_CHECKPOINT` pages were written since the last one
        (counted in writes, `_checkpoint_every`), unless one still runs, a
        PASSIVE checkpoint in a worker thread, which the next point writes
        await. Its failure is ignored: the next one tries again."""
        self._since_checkpoint += 1
        if self._since_checkpoint < self._checkpoint_every:
            return
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        assert self._inline is not None
        writes, self._since_checkpoint = self._since_checkpoint, 0
        checkpoint = asyncio.ensure_future(asyncio.to_thread(_checkpoint_wal, self._inline))
        checkpoint.add_done_callback(lambda done: self._checkpointed(writes, done))
        self._checkpoint = checkpoint

    def _checkpointed(self, writes: int, checkpoint: asyncio.Future[int]) -> None:
        """A checkpoint over: the writes until the next one set from the
        pages per write this one found in the WAL."""
        if checkpoint.cancelled() or checkpoint.exception() is not None:
            return  # retrieved: a checkpoint that failed is tried again later
        pages = checkpoint.result()
        if pages > 0:
            every = writes * WAL_PAGES_PER_CHECKPOINT // pages
            # A write adds at least one page; a large one (a snapshot of
            # megabytes) hundreds: then a checkpoint after every write.
            self._checkpoint_every = min(WAL_PAGES_PER_CHECKPOINT, max(1, every))

    def _write_inline(
        self, operation: Callable[..., T], kwargs: dict[str, Any]
    ) -> tuple[bool, T | None]:
        """A point write (`operations.point_write`: one statement writing one
        row by its key, its own commit) to a SQLite file in WAL mode, run
        directly on the event loop's thread: (True, its result); or (False,
        None) when it certainly wrote nothing and would have had to wait:
        the write lock taken (SQLite's "database is locked" after the 1 ms
        busy wait, or a stale snapshot: both before anything is written), no
        pooled connection free, or a connection not in WAL mode (whose
        commit may wait for readers). Then the caller goes the aiosqlite way,
        which waits within the bounds and honours cancellation.

        Any other error is raised as the sync facade's direct write raises
        it: a connection lost on the way gives `ConnectionLostError` with
        `written=None` (the statement is its commit), never a second try.

        In WAL mode a commit appends to the WAL and waits for nothing (no
        sync with `synchronous = NORMAL`); the one slow part, the automatic
        checkpoint, is off on these connections (`_inline_wal_ready`) and
        done in a worker thread instead (`_checkpoint_now_and_then`)."""
        assert self._inline is not None
        with translate_errors():
            try:
                # `accept` given: only the statement run directly, never a BEGIN.
                answer = direct_write(
                    self._inline, operation, kwargs, _inline_wal_ready, self._inline_kept
                )
            except (direct.Declined, PoolTimeoutError):
                return False, None
            except DBAPIError as error:
                if is_timeout(error) and not error.connection_invalidated:
                    return False, None
                raise_unless_retryable(error, write=True)
                raise
            return True, answer

    def iter_messages(
        self,
        *,
        thread_id: str,
        resource_id: str | None = None,
        batch_size: int = 500,
        direction: Direction = "ASC",
    ) -> AsyncIterator[MastraDBMessage]:
        """Every message of thread `thread_id`, in bounded memory, for `async
        for` (no Mastra counterpart; our extension, as
        `MastraStorage.iter_messages`). Each batch is one awaited keyset read
        in its own transaction; memory holds one batch.

        Args:
            thread_id: the thread.
            resource_id: only this resource's messages (None: all).
            batch_size: messages read per query, 1 to 10,000 (default 500).
            direction: `"ASC"` (default: oldest first) or `"DESC"`.

        Returns:
            An async iterator of `MastraDBMessage`s in (created_at, id) order.

        Raises:
            ValidationError: bad arguments, raised on the call (before iterating).
        """
        operations.check_batch(thread_id, resource_id, batch_size, direction)
        return self._walk_messages(thread_id, resource_id, batch_size, direction)

    def iter_messages_by_resource_id(
        self, *, resource_id: str, batch_size: int = 500, direction: Direction = "ASC"
    ) -> AsyncIterator[MastraDBMessage]:
        """Every message of resource `resource_id`, across its threads, for
        `async for` (no Mastra counterpart; our extension, as
        `MastraStorage.iter_messages_by_resource_id`): `batch_size` messages
        per awaited keyset read (1 to 10,000, default 500), in `direction`
        (`"ASC"` default, or `"DESC"`) of (created_at, id). Raises
        `ValidationError` for bad arguments, on the call."""
        operations.check_batch(None, resource_id, batch_size, direction, by_resource=True)
        return self._walk_messages(None, resource_id, batch_size, direction)

    async def _walk_messages(
        self, thread_id: str | None, resource_id: str | None, batch_size: int, direction: str
    ) -> AsyncIterator[MastraDBMessage]:
        after: tuple[datetime, str] | None = None
        while True:
            batch = await self._run(
                operations.message_batch,
                None,
                write=False,
                thread_id=thread_id,
                resource_id=resource_id,
                after=after,
                batch_size=batch_size,
                direction=direction,
            )
            for message in batch:
                yield message
            if len(batch) < batch_size:
                return
            last = batch[-1]
            after = (last.created_at, last.id)

    # -- workflow run locks -------------------------------------------------------
    # The lock service is the sync one (its heartbeat is a thread, its advisory
    # locks hold dedicated connections); calls run in a worker thread so the
    # event loop never blocks. Lease and advisory locks use a sync engine on the
    # same database (`lock_engine=`, by default made from this engine's URL).

    def _create_lock_service(
        self, requested: str | None, lock_engine: Engine | None
    ) -> tuple[RunLockService, Engine | None]:
        backend = choose_lock_backend(self.engine.sync_engine, requested)
        owned: Engine | None = None
        if backend == MEMORY:
            engine = self.engine.sync_engine  # never queried: the table is in this process
        elif lock_engine is not None:
            engine = with_caller_schema(lock_engine, self._schema)
        else:
            engine = owned = own_engine(
                create_engine_for_url(
                    sync_url(self.engine.url),
                    schema=self._schema,
                    settings=self.settings,
                    **LOCK_POOL,
                )
            )
        service = LOCK_BACKENDS[backend](
            engine=engine, holder=new_holder_id(self.name), prepare=lambda: None
        )
        return service, owned

    @property
    def lock_backend(self) -> str:
        """Which run lock backend this storage uses: "advisory", "lease" or
        "memory" (our extension)."""
        return self._run_locks.backend

    @property
    def lock_holder(self) -> str:
        """This instance's holder id, as `RunLock.holder` shows it (our extension)."""
        return self._run_locks.holder

    async def supports_concurrent_updates(self) -> bool:
        """True: the workflow result and state updates are atomic across
        processes (Mastra: `supportsConcurrentUpdates`). A coroutine, as every
        method of the async classes."""
        return operations.supports_concurrent_updates()

    async def _in_lock_thread(
        self,
        function: Callable[..., T],
        *args: Any,
        undo: Callable[[T], object] | None = None,
    ) -> T:
        """`function(*args)` of the run-lock service in a worker thread, as a
        call under way (`close()` waits for it, then releases its lock).
        Cancelled, the call stays under way until its thread ends, and what
        it took is given back then (`undo(result)`, in a thread): its caller
        never learnt it holds it."""
        self._check_open()
        loop = asyncio.get_running_loop()
        self._enter(loop)
        handed_over = False
        try:
            if not self._initialized:
                await self.init()
                self._check_open()
            context = contextvars.copy_context()
            future = loop.run_in_executor(None, partial(context.run, function, *args))
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                handed_over = True
                future.add_done_callback(partial(self._lock_call_ended, loop, undo))
                raise
        finally:
            if not handed_over:
                self._leave(loop)

    def _lock_call_ended(
        self,
        loop: asyncio.AbstractEventLoop,
        undo: Callable[[Any], object] | None,
        done: asyncio.Future[Any],
    ) -> None:
        """A lock call whose caller was cancelled has ended in its thread:
        what it took is given back, then it is no longer under way."""
        if done.cancelled() or done.exception() is not None or undo is None:
            self._leave(loop)
            return
        result = done.result()
        try:
            undoing = loop.run_in_executor(None, undo, result)
        except RuntimeError:  # the loop is closing: here, then
            _undo_quietly(undo, result)
            self._leave(loop)
            return
        undoing.add_done_callback(partial(self._undone, loop))

    def _undone(self, loop: asyncio.AbstractEventLoop, undoing: asyncio.Future[Any]) -> None:
        if not undoing.cancelled() and undoing.exception() is not None:
            logger.warning(
                "giving back a run lock whose caller was cancelled failed",
                exc_info=undoing.exception(),
            )
        self._leave(loop)

    async def try_acquire_workflow_run_lock(
        self, *, workflow_name: str, run_id: str, ttl_ms: int = DEFAULT_TTL_MS
    ) -> bool:
        """Take the lock of run `run_id` of workflow `workflow_name` for
        `ttl_ms` milliseconds (default 30 minutes) unless another holder has
        it (Mastra: `tryAcquireWorkflowRunLock`); True when taken. Not
        reentrant: False when this instance already holds it. Runs in a
        worker thread. Raises `ValidationError` for empty names or a TTL
        outside 1 ms to 366 days."""
        locks = self._run_locks

        def give_back(taken: bool) -> None:
            if taken:
                locks.release(workflow_name, run_id)

        return await self._in_lock_thread(
            locks.try_acquire, workflow_name, run_id, ttl_ms, undo=give_back
        )

    async def renew_workflow_run_lock(
        self, *, workflow_name: str, run_id: str, ttl_ms: int = DEFAULT_TTL_MS
    ) -> bool:
        """Extend this instance's lock of run `run_id` of workflow
        `workflow_name` to now + `ttl_ms` milliseconds (default 30 minutes)
        (Mastra: `renewWorkflowRunLock`); False, and nothing changed, when it
        does not hold it (any more). Raises `ValidationError` as
        `try_acquire_workflow_run_lock`."""
        return await self._in_lock_thread(self._run_locks.renew, workflow_name, run_id, ttl_ms)

    async def get_workflow_run_lock(self, *, workflow_name: str, run_id: str) -> RunLock | None:
        """The current holder (`RunLock`) of the lock of run `run_id` of
        workflow `workflow_name`, or None when the lock is free (Mastra:
        `getWorkflowRunLock`). Raises `ValidationError` for an empty name or id."""
        return await self._in_lock_thread(self._run_locks.get, workflow_name, run_id)

    async def list_workflow_run_locks(
        self, *, workflow_name: str | None = None, limit: int = 100
    ) -> list[RunLock]:
        """The run locks held now, by any holder (our extension; Mastra has no
        such call): those of `workflow_name` only when given, at most `limit`
        (1 to 10,000; default 100), ordered by workflow name and run id.
        Raises `ValidationError` for a blank `workflow_name` or a `limit` out
        of range."""
        return await self._in_lock_thread(self._run_locks.list_held, workflow_name, limit)

    async def release_workflow_run_lock(self, *, workflow_name: str, run_id: str) -> None:
        """Release the lock of run `run_id` of workflow `workflow_name` if
        this instance holds it; otherwise do nothing (Mastra:
        `releaseWorkflowRunLock`). Raises `ValidationError` for an empty name or id."""
        await self._in_lock_thread(self._run_locks.release, workflow_name, run_id)

    @asynccontextmanager
    async def workflow_run_lock(
        self,
        *,
        workflow_name: str,
        run_id: str,
        ttl_ms: int = DEFAULT_TTL_MS,
        heartbeat: bool = True,
    ) -> AsyncIterator[HeldRunLock]:
        """Hold the lock of run `run_id` of workflow `workflow_name` for the
        body of an `async with`: `LockNotAcquiredError` when held elsewhere,
        renewed in the background every `ttl_ms / 3` (`ttl_ms` in
        milliseconds, default 30 minutes) when `heartbeat` (default True),
        released on exit. Yields a `HeldRunLock`: pass its `fencing_token` to
        the writes. Our extension over Mastra's lock calls, as
        `MastraStorage.workflow_run_lock`."""
        locks = self._run_locks
        handle, beat = await self._in_lock_thread(
            locks.open_hold,
            workflow_name,
            run_id,
            ttl_ms,
            heartbeat,
            undo=lambda opened: locks.close_hold(*opened),
        )
        if self._closed:  # closed while it was taken: `close()` releases it
            await asyncio.to_thread(self._run_locks.close_hold, handle, beat)
            self._check_open()
        try:
            yield handle
        finally:
            await asyncio.to_thread(self._run_locks.close_hold, handle, beat)


def sync_url(url: URL) -> URL:
    """The same database as `url` through a sync driver (`sqlite`,
    `postgresql+psycopg`, `mysql+pymysql`), for the lock service's engine."""
    return sync_driver_url(url)


async def _transaction(
    engine: AsyncEngine, operation: Callable[..., T], kwargs: dict[str, Any]
) -> T:
    """`storage.transaction` itself (the same checkout, transaction, commit and
    error marking), on the async engine's sync face inside one greenlet: a
    call switches to the event loop only where the driver waits, instead of
    once per step of `async with engine.begin()` and `run_sync`."""
    return await greenlet_spawn(transaction, engine.sync_engine, operation, kwargs)


async def _direct_transaction(
    engine: AsyncEngine, operation: Callable[..., T], kwargs: dict[str, Any]
) -> T:
    """`storage.direct_transaction` on the async engine's sync face, in one greenlet."""
    return await greenlet_spawn(direct_transaction, engine.sync_engine, operation, kwargs)


async def _direct_write(
    engine: AsyncEngine, operation: Callable[..., T], kwargs: dict[str, Any]
) -> T:
    """`storage.direct_write` on the async engine's sync face, in one greenlet."""
    return await greenlet_spawn(direct_write, engine.sync_engine, operation, kwargs)


def _retrieved(task: asyncio.Future[Any]) -> None:
    """A task or future done that its caller may no longer await: its error
    retrieved (a caller still there gets it too)."""
    if not task.cancelled():
        task.exception()


def _undo_quietly(undo: Callable[[Any], object], result: Any) -> None:
    try:
        undo(result)
    except Exception:
        logger.warning("giving back a run lock whose caller was cancelled failed", exc_info=True)


def _inline_wal_ready(fairy: Any, values: Any) -> bool:
    """Whether a pooled inline connection (`fairy`: the pool's wrapper) may
    write these bound `values` on the loop's thread: in WAL mode, which our
    connect hook asks for and which a file locked at connect may have
    refused, and at most `INLINE_WRITE_MAX_CHARS` of text. The journal mode
    is asked once per connection, at its first write, which also turns its
    automatic checkpoint off. While the connection is open in WAL mode, the
    file cannot leave it (switching back needs every other connection
    closed)."""
    given = values.values() if isinstance(values, dict) else values
    if sum(len(value) for value in given if isinstance(value, str)) > INLINE_WRITE_MAX_CHARS:
        return False
    info = fairy.info
    wal: bool | None = info.get(_INLINE_WAL)
    if wal is None:
        cursor = fairy.dbapi_connection.cursor()
        try:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            wal = str(mode).lower() == "wal"
            if wal:
                cursor.execute("PRAGMA wal_autocheckpoint = 0")
        finally:
            cursor.close()
        info[_INLINE_WAL] = wal
    return wal


class _Budget(threading.local):
    """The inline read under way on this thread (`armed`): its clock starts
    when its connection is checked out (`deadline` then set: opening a new
    connection does not count), and SQLite stops its statement once
    `time.perf_counter()` passes `deadline`, which `spent` then says."""

    armed: bool = False
    deadline: float | None = None
    spent: bool = False


_INLINE_BUDGET = _Budget()
_OVER_BUDGET = object()


class _InlinePlan:
    """How a call runs on the event loop's thread (`_inline_plan`): a read,
    with its `short` key (`operations.short_read_key`; None: a point read),
    or a point write (`_POINT_WRITE_PLAN`)."""

    __slots__ = ("short",)

    def __init__(self, short: Hashable | None) -> None:
        self.short = short


_POINT_READ_PLAN = _InlinePlan(None)
_POINT_WRITE_PLAN = _InlinePlan(None)
"""`_read_inline`'s answer for a read SQLite stopped past its budget."""


def _over_budget() -> bool:
    """SQLite's progress handler on the inline connections: True stops the
    statement (SQLITE_INTERRUPT) once the read's budget is spent."""
    budget = _INLINE_BUDGET
    deadline = budget.deadline
    if not budget.armed or deadline is None or time.perf_counter() < deadline:
        return False
    budget.spent = True
    return True


def _start_budget(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pool `checkout` hook of the inline engine: an inline read's clock starts."""
    _lend_budget()


def _lend_budget() -> None:
    """An inline read's clock starts: its connection checked out, or lent
    again by the storage's `KeptConnection`."""
    budget = _INLINE_BUDGET
    if budget.armed:
        budget.deadline = time.perf_counter() + INLINE_READ_BUDGET_S


def _watch_budget(dbapi_connection: Any, _record: Any) -> None:
    """Pool `connect` hook of the inline engine: `_over_budget` checked every
    `PROGRESS_STEPS` steps of each statement (outside an inline read, on a
    worker thread's checkpoint say, it never stops one)."""
    dbapi_connection.set_progress_handler(_over_budget, PROGRESS_STEPS)


def _checkpoint_wal(engine: Engine) -> int:
    """`PRAGMA wal_checkpoint(PASSIVE)` on a pooled connection of `engine`
    (the inline one: 1 ms pool wait), in a worker thread: the WAL's
    committed pages copied into the file, waiting for no reader or writer
    and blocking none; the first write after a full copy starts the WAL
    over. Returns how many pages the WAL held."""
    raw: Any = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        _busy, pages, _copied = cursor.fetchone()
        cursor.close()
    finally:
        raw.close()
    return int(pages)


def _call_in_schema(
    session: Any, schema: str | None, operation: Callable[..., T], kwargs: dict[str, Any]
) -> T:
    if schema is None:
        return operation(session, **kwargs)
    with schema_on(connection_of(session), schema):
        return operation(session, **kwargs)


class AsyncDefaultStorage(AsyncMastraStorage):
    """SQLite through aiosqlite by default: with no `url=` nor `engine=`, the
    URL in `MASTRA_STORAGE_URL`, else `file:mastra.db`. Accepts any supported
    URL or Mastra-style `file:PATH` / `file::memory:`, or an existing
    `AsyncEngine` (Mastra: `LibSQLStore`). Arguments as `AsyncMastraStorage`."""

    def _create_engine(
        self, url: str | URL | None, *, settings: ConnectionSettings, **options: Any
    ) -> AsyncEngine:
        return create_async_engine_for_url(
            url_from_env() if url is None else url, settings=settings, **options
        )


class AsyncPostgresStorage(PostgresOptions, AsyncMastraStorage):
    """PostgreSQL through psycopg 3's async mode (Mastra: `PostgresStore`;
    the `postgres` and `async` extras). `url` or `engine` is required;
    `schema=` keeps the tables in that schema (created by `init()` when
    missing), on every connection the storage and its locks use. Other
    arguments as `AsyncMastraStorage`. Raises `ValidationError` for a URL
    that is not PostgreSQL or a schema that is not a plain identifier."""

    def __init__(
        self,
        *,
        name: str = "mastra-storage",
        url: str | URL | None = None,
        schema: str | None = None,
        engine: AsyncEngine | None = None,
        lock_backend: str | None = None,
        lock_engine: Engine | None = None,
        **options: Any,
    ) -> None:
        self._take_schema(schema, url, engine)
        super().__init__(
            name=name,
            url=url,
            engine=engine,
            lock_backend=lock_backend,
            lock_engine=lock_engine,
            **options,
        )
        self._require_postgres(self.engine.dialect.name)

    def _create_engine(
        self, url: str | URL | None, *, settings: ConnectionSettings, **options: Any
    ) -> AsyncEngine:
        assert url is not None
        return create_async_engine_for_url(url, schema=self.schema, settings=settings, **options)


class AsyncMySQLStorage(MySQLOptions, AsyncMastraStorage):
    """MySQL / MariaDB through asyncmy (the `mysql` extra, with `async`);
    `mysql://`, `mariadb://` and `+pymysql` URLs are taken as asyncmy.
    Connections and tables as `MySQLStorage`."""

    def __init__(
        self,
        *,
        name: str = "mastra-storage",
        url: str | URL | None = None,
        engine: AsyncEngine | None = None,
        lock_backend: str | None = None,
        lock_engine: Engine | None = None,
        **options: Any,
    ) -> None:
        self._need_source(url, engine)
        super().__init__(
            name=name,
            url=url,
            engine=engine,
            lock_backend=lock_backend,
            lock_engine=lock_engine,
            **options,
        )
        self._require_mysql(self.engine.dialect.name)

    def _create_engine(
        self, url: str | URL | None, *, settings: ConnectionSettings, **options: Any
    ) -> AsyncEngine:
        assert url is not None
        return create_async_engine_for_url(url, settings=settings, **options)
