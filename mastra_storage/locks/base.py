"""The lock service interface, and what every backend shares: input checks,
the record of what this storage instance holds, the context manager and its
heartbeat.

A backend implements `_acquire`, `_renew`, `_release`, `_get` (and `_drop`
when losing a lock leaves something to clean up). Each storage instance has
one service, and is one holder: its holder id is unique to the instance.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar

from sqlalchemy.engine import Connection, Engine

from ..dialects import Executor, Features, features
from ..domain import RunLock
from ..errors import (
    LockNotAcquiredError,
    StorageClosedError,
    StorageError,
    ValidationError,
    translate_errors,
)
from ..values import check_id, summary
from .rows import RunKey

logger = logging.getLogger("mastra_storage.locks")

DEFAULT_TTL_MS = 1_800_000
"""30 minutes, as Mastra's run locks."""
MAX_TTL_MS = 366 * 24 * 60 * 60 * 1000
MAX_LIST = 10_000
"""The most locks one `list` call returns."""


def new_holder_id(name: str) -> str:
    """A holder id unique to one storage instance, readable in `RunLock.holder`."""
    return f"{name}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def run_key(workflow_name: object, run_id: object) -> RunKey:
    return check_id(workflow_name, "workflow_name"), check_id(run_id, "run_id")


def ttl_of(ttl_ms: object) -> timedelta:
    if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or not 0 < ttl_ms <= MAX_TTL_MS:
        raise ValidationError(
            f"ttl_ms must be a whole number of milliseconds from 1 to {MAX_TTL_MS}, "
            f"got {summary(ttl_ms)}",
            field="ttl_ms",
        )
    return timedelta(milliseconds=ttl_ms)


@dataclass(eq=False)
class Hold:
    """One acquisition this instance made and has not released."""

    token: int
    connection: Connection | None = None
    """Advisory backend: the dedicated connection holding the lock."""
    key: int | str = 0
    """Advisory backend: the session lock's key (PostgreSQL) or name (MySQL)."""
    mutex: threading.Lock = field(default_factory=threading.Lock)
    """Serialises use of `connection` (heartbeat thread against release)."""
    released: bool = False


class HeldRunLock:
    """What `workflow_run_lock(...)` yields while the body runs.

    Pass `fencing_token` to the writes the body makes
    (`persist_workflow_snapshot(..., fencing_token=lock.fencing_token)`): once
    another holder has taken the run, they are refused. `lost` turns True when
    the heartbeat finds the lock gone.
    """

    def __init__(self, *, workflow_name: str, run_id: str, holder: str, backend: str, token: int):
        self.workflow_name = workflow_name
        self.run_id = run_id
        self.holder = holder
        self.backend = backend
        self.fencing_token = token
        self._lost = threading.Event()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def __repr__(self) -> str:
        return (
            f"HeldRunLock(workflow_name={self.workflow_name!r}, run_id={self.run_id!r}, "
            f"backend={self.backend!r}, fencing_token={self.fencing_token}, lost={self.lost})"
        )


class RunLockService(ABC):
    """At most one holder per (workflow_name, run_id) across everything that
    shares the lock backend's scope; this instance is one holder."""

    backend: ClassVar[str]

    def __init__(
        self,
        *,
        engine: Engine,
        holder: str,
        prepare: Callable[[], None],
    ) -> None:
        self.engine = engine
        self.holder = holder
        self.features: Features = features(engine)
        self._prepare = prepare  # brings the schema to head before the first use
        self._held: dict[RunKey, Hold] = {}
        self._beats: set[_Heartbeat] = set()  # running, stopped by `close`
        self._mutex = threading.Lock()
        self._closed = False
        _SERVICES.add(self)

    def _forget_after_fork(self) -> None:
        """In a forked child: the parent's locks are the parent's. Forget them
        without touching their connections (the parent still talks on them).

        The holds are kept referenced for the child's lifetime: were they
        garbage-collected, the pool would finalize their connections in the
        child, sending its reset (`pg_advisory_unlock_all()`, ROLLBACK) on the
        parent's socket, which freed the parent's advisory locks while the
        parent still believed it held them (and let the child take them)."""
        _INHERITED_HOLDS.extend(self._held.values())
        self._held = {}
        self._beats = set()  # the parent's threads: not in the child
        self._mutex = threading.Lock()

    # -- the interface ----------------------------------------------------------------

    def try_acquire(self, workflow_name: str, run_id: str, ttl_ms: int = DEFAULT_TTL_MS) -> bool:
        """Take the run's lock if nobody holds it. Not reentrant: False when this
        instance already holds it."""
        run, ttl = run_key(workflow_name, run_id), ttl_of(ttl_ms)
        with self._mutex:
            if self._closed:
                raise StorageClosedError("this storage is closed")
            if run in self._held:
                return False
        with translate_errors():
            hold = self._acquire(run, ttl)
        if hold is None:
            return False
        with self._mutex:
            closed = self._closed
            if not closed:
                self._held[run] = hold
        if closed:
            # Closed while this acquired it: `close` released what it saw,
            # not this one; given back at once.
            with translate_errors():
                self._release(run, hold)
            raise StorageClosedError("this storage is closed")
        return True

    def renew(self, workflow_name: str, run_id: str, ttl_ms: int = DEFAULT_TTL_MS) -> bool:
        """Push the expiry to now + `ttl_ms`. False (and nothing changed) when this
        instance does not hold the lock, or has just found out it lost it."""
        run, ttl = run_key(workflow_name, run_id), ttl_of(ttl_ms)
        return self._renew_hold(run, None, ttl)

    def release(self, workflow_name: str, run_id: str) -> None:
        """Give the lock back if this instance holds it; otherwise do nothing."""
        self._release_hold(run_key(workflow_name, run_id), None)

    def get(self, workflow_name: str, run_id: str) -> RunLock | None:
        """The run's current holder, or None when the lock is free."""
        run = run_key(workflow_name, run_id)
        with translate_errors():
            return self._get(run)

    def live_outside_database(
        self,
    ) -> Callable[[Executor, list[RunKey], bool], set[RunKey]] | None:
        """For lock state the database cannot show (the in-memory backend), a
        check `(executor, runs, hold) -> the live runs`, which with `hold` also
        keeps the others from being locked until the executor's transaction
        ends (prune deletes them); None when the lock rows tell."""
        return None

    def list_held(self, workflow_name: str | None = None, limit: int = 100) -> list[RunLock]:
        """The live locks held by anyone (of `workflow_name` only, when given),
        at most `limit` (1 to 10,000), ordered by workflow name and run id."""
        if workflow_name is not None and (
            not isinstance(workflow_name, str) or not workflow_name.strip()
        ):
            raise ValidationError("workflow_name must be a non-empty string", field="workflow_name")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise ValidationError(
                f"limit must be a whole number from 1 to {MAX_LIST}, got {summary(limit)}",
                field="limit",
            )
        with translate_errors():
            return self._list(workflow_name, limit)

    def fencing_token(self, workflow_name: str, run_id: str) -> int | None:
        """The fencing token of this instance's acquisition of the run, if any."""
        hold = self._held.get(run_key(workflow_name, run_id))
        return None if hold is None else hold.token

    @contextmanager
    def hold(
        self,
        workflow_name: str,
        run_id: str,
        ttl_ms: int = DEFAULT_TTL_MS,
        heartbeat: bool = True,
    ) -> Iterator[HeldRunLock]:
        """Hold the run's lock while the body runs: `LockNotAcquiredError` when
        it is held elsewhere; renewed every ttl/3 in a background thread when
        `heartbeat`; released on exit, whatever the exit."""
        handle, beat = self.open_hold(workflow_name, run_id, ttl_ms, heartbeat)
        try:
            yield handle
        finally:
            self.close_hold(handle, beat)

    def open_hold(
        self, workflow_name: str, run_id: str, ttl_ms: int, heartbeat: bool
    ) -> tuple[HeldRunLock, _Heartbeat | None]:
        """The first half of `hold` (the async facade awaits it in a thread)."""
        run, ttl = run_key(workflow_name, run_id), ttl_of(ttl_ms)
        if not self.try_acquire(workflow_name, run_id, ttl_ms):
            raise LockNotAcquiredError(
                f"workflow run {run_id!r} of {workflow_name!r} is locked by another holder"
            )
        with self._mutex:
            hold = self._held.get(run)
            if hold is None:
                # Released meanwhile: by `close`, or by another thread's `release`.
                if self._closed:
                    raise StorageClosedError("this storage is closed")
                raise LockNotAcquiredError(
                    f"workflow run {run_id!r} of {workflow_name!r} was released as it was taken"
                )
            handle = HeldRunLock(
                workflow_name=workflow_name,
                run_id=run_id,
                holder=self.holder,
                backend=self.backend,
                token=hold.token,
            )
            beat = _Heartbeat(self, run, handle.fencing_token, ttl, handle) if heartbeat else None
            if beat is not None:
                self._beats.add(beat)
        return handle, beat

    def close_hold(self, handle: HeldRunLock, beat: _Heartbeat | None) -> None:
        """The second half of `hold`: stop the heartbeat, release."""
        if beat is not None:
            beat.stop()
            with self._mutex:
                self._beats.discard(beat)
        self._release_hold((handle.workflow_name, handle.run_id), handle.fencing_token)

    def close(self) -> None:
        """Stop the heartbeats and release everything this instance holds;
        later acquisitions raise `StorageClosedError`."""
        with self._mutex:
            self._closed = True
            runs = list(self._held)
            beats, self._beats = self._beats, set()
        for beat in beats:
            beat.stop()
        for run in runs:
            try:
                self._release_hold(run, None)
            except StorageError:
                logger.warning("releasing run lock %r on close failed", run, exc_info=True)

    # -- shared mechanics ---------------------------------------------------------

    def _take_hold(self, run: RunKey, token: int | None) -> Hold | None:
        """Remove and return this instance's hold on `run` (with `token`, if given)."""
        with self._mutex:
            hold = self._held.get(run)
            if hold is None or (token is not None and hold.token != token):
                return None
            del self._held[run]
            return hold

    def _renew_hold(self, run: RunKey, token: int | None, ttl: timedelta) -> bool:
        hold = self._held.get(run)
        if hold is None or (token is not None and hold.token != token):
            return False
        with translate_errors():
            renewed = self._renew(run, hold, ttl)
        if not renewed and self._take_hold(run, hold.token) is not None:
            with translate_errors():
                self._drop(run, hold)
        return renewed

    def _release_hold(self, run: RunKey, token: int | None) -> None:
        hold = self._take_hold(run, token)
        if hold is not None:
            with translate_errors():
                self._release(run, hold)

    # -- what each backend does ---------------------------------------------------

    @abstractmethod
    def _acquire(self, run: RunKey, ttl: timedelta) -> Hold | None:
        """Take the lock: a new hold with its fencing token, or None when taken."""

    @abstractmethod
    def _renew(self, run: RunKey, hold: Hold, ttl: timedelta) -> bool:
        """Extend `hold`; False when it turns out to be lost."""

    @abstractmethod
    def _release(self, run: RunKey, hold: Hold) -> None:
        """Give back `hold` (already removed from this instance's record)."""

    @abstractmethod
    def _get(self, run: RunKey) -> RunLock | None:
        """The run's live holder, if any."""

    @abstractmethod
    def _list(self, workflow_name: str | None, limit: int) -> list[RunLock]:
        """Up to `limit` live locks, by workflow name and run id."""

    def _drop(self, run: RunKey, hold: Hold) -> None:  # noqa: B027 (optional hook)
        """Clean up after `hold` was found lost (e.g. return its connection)."""


_SERVICES: weakref.WeakSet[RunLockService] = weakref.WeakSet()
_INHERITED_HOLDS: list[Hold] = []
"""In a forked child, the parent's holds: never used, never finalized."""


def _after_fork_in_child() -> None:
    for service in list(_SERVICES):
        service._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Heartbeat:
    """Renews a held lock every ttl/3 until stopped, or until a renewal finds the
    lock lost (then `HeldRunLock.lost` turns True)."""

    def __init__(
        self,
        service: RunLockService,
        run: RunKey,
        token: int,
        ttl: timedelta,
        handle: HeldRunLock,
    ) -> None:
        self._service, self._run, self._token, self._ttl = service, run, token, ttl
        self._handle = handle
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"mastra-run-lock-heartbeat:{run[1]}", daemon=True
        )
        self._thread.start()

    def _beat(self) -> None:
        interval = self._ttl.total_seconds() / 3
        while not self._stopped.wait(interval):
            try:
                renewed = self._service._renew_hold(self._run, self._token, self._ttl)
            except StorageError:
                # The database may be back before the lease runs out: keep trying.
                logger.warning("renewing run lock %r failed", self._run, exc_info=True)
                continue
            if not renewed:
                if not self._stopped.is_set():
                    self._handle._lost.set()
                    logger.warning("run lock %r was lost while held", self._run)
                return

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
