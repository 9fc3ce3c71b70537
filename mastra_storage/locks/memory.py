"""In-memory backend: a process-local table of holders, for in-memory SQLite.

An in-memory SQLite database exists in one process only, so its locks live
there too: one table per database (per connection pool), shared by every
storage on it, guarded by a mutex, with expiry on the monotonic clock. It
touches no database connection, so it also works while the database's single
connection is busy. The fencing counter lives in the same table, and
`check_fencing` reads it from there.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.pool import Pool

from ..clock import utc_now
from ..dialects import Executor, connection_of
from ..domain import RunLock
from .base import Hold, RunLockService
from .rows import MEMORY, RunKey


@dataclass
class _Entry:
    token: int = 0
    holder: str | None = None
    deadline: float = 0.0
    """`time.monotonic()` when the lock runs out."""
    expires_at: datetime | None = None

    def live(self, now: float) -> bool:
        return self.holder is not None and now < self.deadline


class ProcessLockTable:
    """The run locks of one in-memory database, for this process."""

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.entries: dict[RunKey, _Entry] = {}

    def newest_token(self, run: RunKey) -> int | None:
        with self.mutex:
            entry = self.entries.get(run)
            return None if entry is None else entry.token


_tables: weakref.WeakKeyDictionary[Pool, ProcessLockTable] = weakref.WeakKeyDictionary()
_tables_mutex = threading.Lock()


def process_lock_table(pool: Pool, *, create: bool = True) -> ProcessLockTable | None:
    """The lock table of the database behind `pool` (made on first use)."""
    with _tables_mutex:
        table = _tables.get(pool)
        if table is None and create:
            table = _tables[pool] = ProcessLockTable()
        return table


PRUNING = "mastra_storage:prune"
"""The holder of a run's lock while a prune transaction deletes the run."""
PRUNING_HOLDS = "mastra_storage.pruning_holds"
"""Key in a pooled connection's `info`: the runs prune holds until it comes back."""
PRUNING_BOUND_S = 3600.0
"""A backstop: a prune's hold ends by then even if its connection never came back."""


def _end_pruning_holds(_dbapi_connection: Any, record: Any) -> None:
    """Pool `checkin` hook: the transaction that held these runs is over."""
    info = getattr(record, "info", None)
    for table, runs in (info.pop(PRUNING_HOLDS, None) or []) if info is not None else []:
        with table.mutex:
            for run in runs:
                entry = table.entries.get(run)
                if entry is not None and entry.holder == PRUNING:
                    if entry.token == 0:  # never locked by anyone: forget it
                        del table.entries[run]
                    else:
                        entry.holder, entry.deadline, entry.expires_at = None, 0.0, None


class MemoryLockService(RunLockService):
    backend = MEMORY

    @property
    def _table(self) -> ProcessLockTable:
        table = process_lock_table(self.engine.pool)
        assert table is not None
        return table

    def _acquire(self, run: RunKey, ttl: timedelta) -> Hold | None:
        table = self._table
        with table.mutex:
            entry = table.entries.setdefault(run, _Entry())
            if entry.live(time.monotonic()):
                return None
            entry.token += 1
            entry.holder = self.holder
            self._extend(entry, ttl)
            return Hold(token=entry.token)

    def _renew(self, run: RunKey, hold: Hold, ttl: timedelta) -> bool:
        table = self._table
        with table.mutex:
            entry = table.entries.get(run)
            if entry is None or entry.holder != self.holder or entry.token != hold.token:
                return False
            self._extend(entry, ttl)
            return True

    def _release(self, run: RunKey, hold: Hold) -> None:
        table = self._table
        with table.mutex:
            entry = table.entries.get(run)
            if entry is not None and entry.holder == self.holder and entry.token == hold.token:
                entry.holder, entry.deadline, entry.expires_at = None, 0.0, None

    def _get(self, run: RunKey) -> RunLock | None:
        table = self._table
        with table.mutex:
            entry = table.entries.get(run)
            if entry is None or not entry.live(time.monotonic()):
                return None
            assert entry.holder is not None
            return RunLock(
                workflow_name=run[0],
                run_id=run[1],
                holder=entry.holder,
                expires_at=entry.expires_at,
                backend=MEMORY,
                fencing_token=entry.token,
            )

    def live_outside_database(
        self,
    ) -> Callable[[Executor, list[RunKey], bool], set[RunKey]] | None:
        return self._live_or_held_for_delete

    def _live_or_held_for_delete(
        self, executor: Executor, runs: list[RunKey], hold: bool
    ) -> set[RunKey]:
        """The runs whose lock is live; with `hold`, the others are held by
        prune (holder `PRUNING`) until the executor's connection goes back to
        the pool, after its transaction: an acquisition meanwhile is refused,
        as one losing to a holder (the analogue of the database backends'
        locked rows)."""
        table = self._table
        live: set[RunKey] = set()
        held: list[RunKey] = []
        with table.mutex:
            now = time.monotonic()
            for run in runs:
                entry = table.entries.get(run)
                if entry is not None and entry.live(now):
                    live.add(run)
                elif hold:
                    entry = table.entries.setdefault(run, _Entry())
                    entry.holder, entry.expires_at = PRUNING, None
                    entry.deadline = now + PRUNING_BOUND_S
                    held.append(run)
        if held:
            connection = connection_of(executor)
            pool = connection.engine.pool
            if not event.contains(pool, "checkin", _end_pruning_holds):
                event.listen(pool, "checkin", _end_pruning_holds)
            connection.connection.info.setdefault(PRUNING_HOLDS, []).append((table, held))
        return live

    def _list(self, workflow_name: str | None, limit: int) -> list[RunLock]:
        table = self._table
        with table.mutex:
            runs = sorted(
                run
                for run, entry in table.entries.items()
                if entry.live(time.monotonic()) and workflow_name in (None, run[0])
            )[:limit]
        found = (self._get(run) for run in runs)
        return [lock for lock in found if lock is not None]

    @staticmethod
    def _extend(entry: _Entry, ttl: timedelta) -> None:
        entry.deadline = time.monotonic() + ttl.total_seconds()
        entry.expires_at = utc_now() + ttl
