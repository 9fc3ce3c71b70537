"""SQLite's direct statements on one pooled connection kept between calls.

A call run as one statement (`direct.DirectExecutor`: a point read, a
single-statement read or write in autocommit) checks a connection out of the
pool and back in. On a 2-core VM that is ~17 µs of SQLAlchemy's pool
machinery a call (the pool's wrapper and its weakref, the queue's locks, the
reset on return): a third of a point read (issue #13). Between two such
statements a SQLite connection in autocommit holds nothing: no lock, no
snapshot, no transaction.

`KeptConnection` keeps the connection of the last direct call checked out
for the next one, lent to one call at a time (a call finding it lent takes
the pool's way, as before). It has a slot of its own: the pool may open one
connection more than `pool_size + max_overflow` (`add_slot`), so nothing
else ever waits for the kept one. It goes back to the pool:

- once unused for `KEPT_IDLE_S` (a daemon thread, `_Reaper`, checks every
  `KEPT_IDLE_S` while any is kept, and sleeps otherwise);
- at a call's end when the pool is full, or before a transaction of the
  storage when the pool is full (`give_back_if_idle`);
- when held for `KEPT_MAX_S` in all (so `pool_recycle` and `pool_pre_ping`
  see it again), when the engine's pool was replaced (`engine.dispose()`),
  when another thread calls (a connection is lent to the thread that
  checked it out, so a driver made with `check_same_thread` keeps
  working), on any error of its call, with a transaction left open, on the
  storage's `close()` (at once, or at the end of the call that has it:
  `close()` never waits), at the interpreter's exit and when the storage is
  collected.

A forked child never uses its parent's: right after the fork it forgets it
(SQLite's rule: no connection carried across a fork; a call of another
thread that had it never ends there) and checks out its own. Only on engines
the storage made, with a `QueuePool` of two connections or more, and no
caller's pool hook expecting a checkout per call (the facades check).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine

from .engines import pool_capacity

logger = logging.getLogger(__name__)

KEPT_IDLE_S = 0.02
"""Seconds the kept connection stays checked out unused before it goes back
to the pool."""

KEPT_MAX_S = 1.0
"""Seconds a connection is kept in all before it goes back to the pool (at
the end of the call that finds it so), so the pool's own checks
(`pool_recycle`, `pool_pre_ping`) see it again."""

_INHERITED: list[Any] = []
"""Kept connections a forked child inherited: referenced, never used nor
closed (the file handles are the parent's)."""


def may_keep(engine: Engine) -> bool:
    """Whether `engine`'s direct statements may keep a connection: SQLite (a
    file: `:memory:` pools one connection), a `QueuePool` of at least two."""
    if engine.dialect.name != "sqlite":
        return False
    capacity = pool_capacity(engine.pool)
    return capacity is not None and capacity >= 2


def add_slot(engine: Engine) -> None:
    """One more connection `engine`'s pool may open (in overflow), for the
    one kept: what else checks out has the pool's own `pool_size +
    max_overflow` as before, and never waits for the kept one. (A
    `recreate`d pool, after `dispose()`, keeps it.)"""
    pool: Any = engine.pool
    pool._max_overflow += 1


class KeptConnection:
    """The pooled connection (the pool's wrapper, a "fairy") a storage's
    direct statements on `engine` share between calls (`engine`: one
    `may_keep` says yes to; its pool gets a slot for it, `add_slot`). `on_lend` (optional)
    runs each time the kept connection is lent again (what a pool `checkout`
    hook would do for a fresh checkout)."""

    def __init__(self, engine: Engine, on_lend: Callable[[], None] | None = None) -> None:
        add_slot(engine)
        self.engine = engine
        self._on_lend = on_lend
        self._lock = threading.Lock()
        self._fairy: Any = None
        self._pool: Any = None  # the fairy's: `engine.dispose()` swaps the engine's
        self._thread = 0
        self._since = 0.0
        self.used = 0.0
        self._closed = False
        self.watched = False  # by `_REAPER`; changed under this one's lock and the reaper's
        _ALL.add(self)

    def acquire(self) -> bool:
        """Take the right to lend the kept connection (or to keep the one a
        call checks out) for one call, without waiting: False when another
        call has it, or after `close()`. `connection()` then, and
        `release()` at the call's end, always."""
        if not self._lock.acquire(blocking=False):
            return False
        if self._closed:
            self._lock.release()
            return False
        return True

    def connection(self) -> Any:
        """The kept connection, or one checked out of the pool (raising what a
        checkout raises), for the call that `acquire`d."""
        fairy = self._fairy
        if fairy is not None:
            if (
                self._thread != threading.get_ident()
                or self._pool is not self.engine.pool
                or time.monotonic() - self._since > KEPT_MAX_S
            ):
                self._fairy = None
                fairy.close()
            else:
                if self._on_lend is not None:
                    self._on_lend()
                return fairy
        self._pool = self.engine.pool
        fairy = self.engine.raw_connection()
        self._fairy = fairy
        self._thread = threading.get_ident()
        self._since = time.monotonic()
        return fairy

    def release(self, ok: bool) -> None:
        """The call's end: keep its connection when `ok` (no error), idle (no
        transaction open) and the pool not full; else give it back."""
        try:
            fairy = self._fairy
            if fairy is None:
                return
            if (
                ok
                and not self._closed
                and fairy.is_valid
                and not fairy.dbapi_connection.in_transaction
            ):
                pool: Any = self.engine.pool
                capacity = pool_capacity(pool)
                if capacity is not None and pool.checkedout() < capacity:
                    self.used = time.monotonic()
                    if not self.watched:
                        _REAPER.watch(self)
                    return
            self._fairy = None
            fairy.close()
        finally:
            self._lock.release()

    def give_back_if_idle(self) -> None:
        """Give the kept connection back to the pool unless a call has it
        (then that call's end decides)."""
        if self._fairy is None or not self._lock.acquire(blocking=False):
            return
        try:
            self._give_back()
        finally:
            self._lock.release()

    def give_back_if_unused(self, now: float) -> bool:
        """`_Reaper`'s check: give it back when unused for `KEPT_IDLE_S`;
        whether one is still kept (then it stays watched)."""
        if not self._lock.acquire(blocking=False):
            return True  # a call has it: its end decides
        try:
            if self._fairy is not None and now - self.used >= KEPT_IDLE_S:
                self._give_back()
            if self._fairy is None:
                self.watched = False  # the next call keeping one asks to be watched
                return False
            return True
        finally:
            self._lock.release()

    def close(self) -> None:
        """Keep none from now on: the kept connection back to the pool now,
        or at the end of the call that has it. Never waits (a signal
        handler may call it in the middle of that call, on its thread)."""
        self._closed = True
        if self._lock.acquire(blocking=False):
            try:
                self._give_back()
            finally:
                self._lock.release()

    def _give_back(self) -> None:
        fairy, self._fairy = self._fairy, None
        if fairy is not None:
            fairy.close()

    def _forget_after_fork(self) -> None:
        """In a forked child, before anything else runs: the parent's
        connection forgotten (never used nor closed here), the lock new (a
        thread of the parent may have held it: it never ends here)."""
        if self._fairy is not None:
            _INHERITED.append(self._fairy)
        self._fairy = None
        self._lock = threading.Lock()
        self.watched = False

    def __del__(self) -> None:
        # A storage dropped without `close()`: back to the pool now, rather
        # than SQLAlchemy's warning when the garbage collector finds it.
        fairy = self._fairy
        if fairy is not None:
            self._fairy = None
            with contextlib.suppress(Exception):  # at collection: nothing to tell
                fairy.close()


class _Reaper:
    """One daemon thread per process giving kept connections back once
    unused for `KEPT_IDLE_S`: it checks every `KEPT_IDLE_S` while any is
    kept, and waits (in bounded slices) while none is."""

    def __init__(self) -> None:
        self._kept: weakref.WeakSet[KeptConnection] = weakref.WeakSet()
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._started = False

    def watch(self, kept: KeptConnection) -> None:
        """Check `kept` from now on (called holding its lock)."""
        with self._guard:
            if not self._started:  # the first, or the first in a forked child
                self._started = True
                threading.Thread(
                    target=self._run, name="mastra-storage-kept-connections", daemon=True
                ).start()
            self._kept.add(kept)
            kept.watched = True
            self._wake.set()

    def _run(self) -> None:
        wake = self._wake
        while True:
            if not wake.wait(60.0):
                continue
            time.sleep(KEPT_IDLE_S)
            with self._guard:
                watched = list(self._kept)
            now = time.monotonic()
            done = [kept for kept in watched if not _checked(kept, now)]
            with self._guard:
                for kept in done:
                    if not kept.watched:  # else kept again meanwhile
                        self._kept.discard(kept)
                if not self._kept:
                    wake.clear()

    def forget_after_fork(self) -> None:
        """In a forked child: no thread yet (the parent's is not there)."""
        self._kept = weakref.WeakSet()
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._started = False

    def give_back_all(self) -> None:
        """At the interpreter's exit: every kept connection back to its pool."""
        with self._guard:
            watched = list(self._kept)
        for kept in watched:
            with contextlib.suppress(Exception):  # at exit: nothing to tell
                kept.give_back_if_idle()


def _checked(kept: KeptConnection, now: float) -> bool:
    """`kept.give_back_if_unused(now)`, an error logged (a caller's pool
    hook raising, say: the connection is the pool's then): the reaper
    goes on for every storage."""
    try:
        return kept.give_back_if_unused(now)
    except Exception:
        logger.warning("giving a kept connection back to its pool failed", exc_info=True)
        return kept._fairy is not None


_ALL: weakref.WeakSet[KeptConnection] = weakref.WeakSet()
_REAPER = _Reaper()


def _after_fork_in_child() -> None:
    _REAPER.forget_after_fork()
    for kept in list(_ALL):
        kept._forget_after_fork()


atexit.register(_REAPER.give_back_all)
os.register_at_fork(after_in_child=_after_fork_in_child)
