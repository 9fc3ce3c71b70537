"""Async PostgreSQL's single statements, awaited on one held connection.

Through SQLAlchemy's asyncio adapter a call runs in a greenlet
(`greenlet_spawn`) and checks a connection out of the pool and back in. On
a 2-core VM that machinery costs ~90 µs a call (greenlet switches around
the driver's waits, the checkout, the checkin), as much as a point read
itself: the async classes ran point reads at ~0.65x the sync ones.

A read that sends one statement (`operations.is_single_statement`, its
statement `direct.prepare`d), or a point write (`operations.point_write`:
one row's upsert, returning nothing), needs none of it. `HeldConnection`
runs such a call in two passes, both on the event loop's thread, without a
greenlet:

1. The operation runs with a `_Recorder` as its executor, which raises its
   statement (`_Statement`) instead of sending it: the validation of the
   arguments and the statement's bound values are the operation's own.
2. The statement is awaited on psycopg's `AsyncConnection` of one pooled
   connection the storage keeps checked out between calls
   (`dialects.postgres_alone_async`: autocommit, one round trip; a write
   is committed by it).
3. The operation runs again, given the rows: it builds its result as always
   (it must send the same statement; a second one is a bug, raised). A
   write's second pass computes its values again, unsent: so only writes
   whose result is none of them (`point_write` says so).

The held connection goes back to the pool once unused for `HELD_IDLE_S`,
held for `HELD_MAX_S` in all (so the pool's `pool_recycle` and
`pool_pre_ping` apply at its next checkout; a timer checks, not a task:
nothing of ours is left pending in a loop closed by hand), when its event
loop ends (`asyncio.run`'s `shutdown_asyncgens` closes an async generator
of ours), at the end of a call that finds the pool full, when another call
finds the pool exhausted, on any error, and on `close()`. A call that finds
it unused or held longer than that (its loop was stopped meanwhile: a sync
wrapper's `run_until_complete`) gives it back and checks one out, with
the pool's checks. A loop stopped between calls, or closed without
`asyncio.run`'s clean-up, leaves it checked out until the storage's next
call or `close()`. One call at a time uses it; calls gathered meanwhile take
the usual way. Only where the storage made its engine and no caller's pool
hook (a `checkout` listener, say) expects a checkout per call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Engine
from sqlalchemy.util.concurrency import greenlet_spawn

from .dialects import NOT_SENT, TRANSACTION_IDLE, abandon_statement, postgres_alone_async
from .direct import (
    Declined,
    DirectResult,
    Plan,
    _invalidate_generation,
    _wrapped,
    bind_values,
    plan_for,
    processed,
)
from .engines import pool_full
from .storage import COMMIT_REACHED

T = TypeVar("T")

logger = logging.getLogger(__name__)

HELD_IDLE_S = 0.02
"""Seconds the held connection stays checked out unused before it goes back
to the pool."""

HELD_MAX_S = 1.0
"""Seconds a connection is held in all before it goes back to the pool (at
its next idle moment), so the pool's own checks (`pool_recycle`,
`pool_pre_ping`) see it again."""

MAX_DECLINED = 256
"""The most call shapes remembered as not run directly (then forgotten)."""

_INHERITED: list[Any] = []
"""Held connections a forked child inherited: kept referenced, never closed
nor given back (the socket is the parent's; psycopg itself sends nothing
from a child, SQLAlchemy's clean-up of a connection it finds dropped might)."""


class _Statement(BaseException):
    """The operation's one statement, raised out of its first pass by
    `_Recorder` (a BaseException: no `except Exception` in the operation
    stops it)."""

    def __init__(self, statement: Any, plan: Plan, values: Any) -> None:
        super().__init__()
        self.statement = statement
        self.plan = plan
        self.values = values


_SPENT: list[tuple[Any, ...]] = []


class _Recorder:
    """The executor a read is given by `HeldConnection`: in the first pass its
    statement is raised (`_Statement`) rather than sent; in the second the
    rows read are returned for it. A statement that cannot run directly
    (not `prepare`d, a list of rows) raises `Declined` in the first pass."""

    __slots__ = ("dialect", "engine", "rows", "schema_map", "statement")

    def __init__(self, dialect: Any, schema_map: Any, engine: Engine) -> None:
        self.dialect = dialect
        self.schema_map = schema_map
        self.engine = engine  # as `DirectExecutor.engine`
        self.statement: Any = None
        self.rows: list[tuple[Any, ...]] | None = None

    def execute(self, statement: Any, parameters: Mapping[str, Any] | None = None) -> DirectResult:
        rows = self.rows
        if rows is None:
            if isinstance(parameters, list):
                raise Declined("a list of rows is not run directly")
            params = parameters or {}
            plan = plan_for(self.dialect, statement, params, self.schema_map)
            if plan is None:
                raise Declined(f"not run directly: {statement}")
            raise _Statement(statement, plan, bind_values(plan, params))
        if rows is _SPENT or not self._same(statement, parameters or {}):
            raise AssertionError(
                "a single-statement call sent a second statement, or another one than "
                "its first pass: it is not single-statement (operations.single_statement)"
            )
        self.rows = _SPENT
        return DirectResult(rows)

    def _same(self, statement: Any, params: Mapping[str, Any]) -> bool:
        """Whether the second pass's statement is the first's: the same
        object, or one of the same SQL (a statement cache, a repository's
        `lru_cache`, may have made it anew meanwhile: other calls ran)."""
        sent: _Statement = self.statement
        if statement is sent.statement:
            return True
        plan = plan_for(self.dialect, statement, params, self.schema_map)
        return plan is not None and plan.sql == sent.plan.sql


class HeldConnection:
    """Single-statement reads and point writes of an async PostgreSQL
    storage on one pooled connection it holds between calls (see the
    module's docstring).

    `engine`: the sync face of the storage's statement engine (its own, no
    caller's hooks); `usual_read` / `usual_write`: how a call goes otherwise
    (checkout, greenlet), taken when the held connection is in use (or held
    by another event loop that still runs), when the operation's statement
    cannot run directly, and after the storage's close."""

    def __init__(
        self,
        engine: Engine,
        usual_read: Callable[[Any, Callable[..., Any], dict[str, Any]], Awaitable[Any]],
        usual_write: Callable[[Any, Callable[..., Any], dict[str, Any]], Awaitable[Any]],
    ) -> None:
        self._engine = engine
        self._dialect = engine.dialect
        self._schema_map = engine.get_execution_options().get("schema_translate_map")
        self._usual_read = usual_read
        self._usual_write = usual_write
        # One call at a time takes it (whatever its thread or event loop).
        self._in_use = threading.Lock()
        self._fairy: Any = None  # the held connection (the pool's wrapper)
        self._pool: Any = None  # the pool it came from
        self._pid = 0  # the process that checked it out
        self._switched = False  # put in autocommit by `_take`
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._taken_at = 0.0
        self._used_at = 0.0
        # Calls whose statement is not run directly (`Declined`), by their
        # operation and the arguments given (a page with a `metadata`
        # filter, say): the first pass is not tried again for them.
        self._declined: set[tuple[Any, ...]] = set()
        self._timer: asyncio.TimerHandle | None = None  # the idle check
        self._guard: AsyncGenerator[None, None] | None = None  # the loop's end
        self._cleanups: set[asyncio.Future[Any]] = set()

    @property
    def idle(self) -> bool:
        """Whether a connection is held and no read uses it."""
        return self._fairy is not None and not self._in_use.locked()

    async def read(self, engine: Any, operation: Callable[..., T], kwargs: dict[str, Any]) -> T:
        """`operation` (a single-statement read) with `kwargs`: on the held
        connection, or the usual way (`engine`: the async engine for it).
        Errors as the usual way's: a driver error as `DBAPIError`, a lost
        connection marked `connection_invalidated` (the caller's retry)."""
        return await self._run(engine, operation, kwargs, False)

    async def write(self, engine: Any, operation: Callable[..., T], kwargs: dict[str, Any]) -> T:
        """`operation` (a `point_write` whose one statement this call sends)
        with `kwargs`: as `read`, its statement its own commit, so a driver
        error says it may have come from the commit (`COMMIT_REACHED`, as
        `storage.direct_write`: a lost connection is `ConnectionLostError`
        with `written=None`, or `False` when nothing was sent)."""
        return await self._run(engine, operation, kwargs, True)

    async def _run(
        self, engine: Any, operation: Callable[..., T], kwargs: dict[str, Any], write: bool
    ) -> T:
        usual = self._usual_write if write else self._usual_read
        shape = (operation, *(name for name, value in kwargs.items() if value is not None))
        if self._closed or shape in self._declined or not self._in_use.acquire(False):
            return cast(T, await usual(engine, operation, kwargs))
        # Holding `_in_use` from here to the rows (released before any
        # usual way: it does not use the held connection).
        try:
            # An iterator given (thread ids from a generator, say) would be
            # spent by the first pass: both see its values, listed once.
            if any(isinstance(value, Iterator) for value in kwargs.values()):
                kwargs = {
                    name: list(value) if isinstance(value, Iterator) else value
                    for name, value in kwargs.items()
                }
            loop = asyncio.get_running_loop()
            held_by = self._loop if self._fairy is not None else None
            elsewhere = held_by is not None and held_by is not loop and held_by.is_running()
            statement = None
            if not elsewhere:
                recorder = _Recorder(self._dialect, self._schema_map, engine.sync_engine)
                try:
                    return operation(recorder, **kwargs)  # sent nothing (no key given, say)
                except _Statement as sent:
                    statement = sent
                except Declined:
                    if len(self._declined) >= MAX_DECLINED:
                        self._declined.clear()
                    self._declined.add(shape)
            if statement is not None:
                try:
                    fairy = await self._take(loop)
                    rows = await self._send(fairy, statement, write)
                finally:
                    self._used_at = time.monotonic()
                if self._closed or pool_full(self._engine.pool):
                    # Closed, or a call may wait for a pooled connection.
                    await self._give_back_held()
        finally:
            self._in_use.release()
        if statement is None:  # another loop's, or the statement not run directly
            return cast(T, await usual(engine, operation, kwargs))
        recorder.statement, recorder.rows = statement, rows
        return operation(recorder, **kwargs)

    async def _take(self, loop: asyncio.AbstractEventLoop) -> Any:
        """The held connection, checked out now if none is (or the one held
        is a stopped event loop's, or its pool's since disposed)."""
        fairy = self._fairy
        if fairy is not None:
            now = time.monotonic()
            if (
                self._loop is not loop
                or self._pool is not self._engine.pool
                # Unused or held longer than the idle check allows: its loop
                # did not run it (stopped between `run_until_complete`
                # calls, say). Back to the pool, and a checkout (with the
                # pool's `pool_pre_ping` and `pool_recycle`) instead.
                or now - self._used_at >= HELD_IDLE_S
                or now - self._taken_at >= HELD_MAX_S
            ):
                await self._give_back_held()
                fairy = None
        if fairy is None:
            fairy = await greenlet_spawn(self._engine.raw_connection)
            driver = fairy.driver_connection
            # In autocommit while held (no switch per statement); out of it
            # before the pool has it again (`_return`). Client side only.
            idle = driver.pgconn.transaction_status == TRANSACTION_IDLE
            self._switched = not driver.autocommit and idle
            if self._switched:
                try:
                    # Client side only, but psycopg may yield to the loop here
                    # (after 5 ms without), where a cancellation can land.
                    await driver.set_autocommit(True)
                except BaseException:
                    self._drop_later(fairy)
                    raise
            self._fairy, self._pool, self._pid, self._loop = (
                fairy,
                self._engine.pool,
                os.getpid(),
                loop,
            )
            self._taken_at = time.monotonic()
            guard = self._guard_loop_end(fairy)
            await guard.__anext__()  # now one of the loop's async generators
            self._guard = guard
            self._timer = loop.call_later(HELD_IDLE_S, self._check)
        return fairy

    async def _send(self, fairy: Any, sent: _Statement, write: bool) -> list[tuple[Any, ...]]:
        """The statement's rows (processed as SQLAlchemy would), on `fairy`.
        After any error the connection is held no more: given back, or
        dropped when lost or left mid-statement."""
        plan, dialect = sent.plan, self._dialect
        try:
            rows = await postgres_alone_async(
                fairy.driver_connection, plan.sql, sent.values, plan.result_processors is not None
            )
        except Exception as error:
            self._let_go()
            if not isinstance(error, dialect.loaded_dbapi.Error):
                # Not the driver's: the statement may still run on the server.
                await _quietly(abandon_statement, dialect, fairy)
                raise
            lost = dialect.is_disconnect(error, fairy.dbapi_connection, None)
            if lost:
                await _quietly(_invalidate_generation, self._engine, fairy, error)
            else:
                await self._return(fairy)
            wrapped = _wrapped(dialect, plan, sent.values, error, lost)
            if write:  # unless found closed before anything was sent
                setattr(wrapped, COMMIT_REACHED, not getattr(error, NOT_SENT, False))
            raise wrapped from error
        except BaseException:
            # Cancelled mid-statement: its state is unknown; as SQLAlchemy
            # does, it is not given back (cancelled on the server, dropped),
            # in a task of its own (this one is cancelled).
            self._let_go()
            self._clean_up(asyncio.ensure_future(_quietly(abandon_statement, dialect, fairy)))
            raise
        return processed(plan, rows)

    def _check(self) -> None:
        """The idle check (a timer, not a task: nothing is left pending when
        a loop is closed without `asyncio.run`'s clean-up): once unused for
        `HELD_IDLE_S`, or held for `HELD_MAX_S`, at a moment no call uses it,
        the connection goes back to the pool (in a task of its own, which
        `give_back` and `close` wait for); else it is checked again later."""
        self._timer = None
        fairy, loop = self._fairy, self._loop
        if fairy is None or loop is None:
            return
        now = time.monotonic()
        if self._in_use.locked() or (
            now - self._used_at < HELD_IDLE_S and now - self._taken_at < HELD_MAX_S
        ):
            self._timer = loop.call_later(HELD_IDLE_S, self._check)
            return
        self._clean_up(loop.create_task(self._return_idle(fairy)))

    async def _return_idle(self, fairy: Any) -> None:
        if not await self._give_back_unused(fairy) and self._timer is None:
            # A call took it meanwhile: checked again later.
            self._timer = asyncio.get_running_loop().call_later(HELD_IDLE_S, self._check)

    async def _guard_loop_end(self, fairy: Any) -> AsyncGenerator[None, None]:
        """Started once per connection held: the event loop closes it when it
        ends (`asyncio.run`: `shutdown_asyncgens`, after cancelling the
        tasks), which gives the connection back (else: nothing to do)."""
        try:
            yield
        finally:
            await self._give_back_unused(fairy)

    def _clean_up(self, task: asyncio.Future[Any]) -> None:
        """Keep `task` (a give-back, a drop) until it is done."""
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def _give_back_unused(self, fairy: Any) -> bool:
        """`fairy` back to the pool if it is still held and no call uses it;
        whether it is no longer held."""
        if self._fairy is not fairy:
            return True
        if not self._in_use.acquire(False):
            return False
        try:
            if self._fairy is fairy:
                await self._give_back_held()
            return True
        finally:
            self._in_use.release()

    def _let_go(self) -> None:
        """Hold the connection no more (the caller gives it back or drops
        it): its idle check stopped, its loop-end guard let go (the loop
        closes it, which then finds nothing to give back)."""
        self._fairy = None
        self._guard = None
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    async def _give_back_held(self) -> None:
        """The held connection (if any) back to the pool; in a forked child,
        the parent's only forgotten."""
        fairy = self._fairy
        self._let_go()
        if fairy is None:
            return
        if self._pid != os.getpid():
            _INHERITED.append(fairy)
            return
        await self._return(fairy)

    async def _return(self, fairy: Any) -> None:
        """`fairy` back to the pool, out of the autocommit `_take` set (one
        that refuses, a broken connection, is dropped)."""
        if self._switched:
            try:
                await fairy.driver_connection.set_autocommit(False)
            except BaseException as error:
                self._drop_later(fairy)  # cancelled too: dropped, not lost
                if isinstance(error, Exception):
                    return
                raise
        await _quietly(fairy.close)

    def _drop_later(self, fairy: Any) -> None:
        """`fairy` invalidated (closed, its pool slot freed) in a task of its
        own: the caller may be a cancelled task."""
        self._clean_up(asyncio.ensure_future(_quietly(fairy.invalidate)))

    async def give_back(self) -> None:
        """The held connection back to the pool now (unless a read uses it:
        then at the end of that read, after `close()`), and the clean-ups
        under way in this event loop done."""
        await self._give_back_unused(self._fairy)
        loop = asyncio.get_running_loop()
        pending = [task for task in self._cleanups if task.get_loop() is loop]
        if pending:
            await asyncio.wait(pending)

    async def close(self) -> None:
        """No more holding: the held connection back to the pool (by the
        read using it, if one does); later reads take the usual way."""
        self._closed = True
        await self.give_back()


async def _quietly(function: Callable[..., Any], *args: Any) -> None:
    """`function(*args)` in a greenlet: the clean-up of a connection, whose
    failure is logged, not raised (the error being handled goes on)."""
    try:
        await greenlet_spawn(function, *args)
    except Exception:
        logger.warning("cleaning up a held connection failed", exc_info=True)
