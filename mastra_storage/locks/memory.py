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

from sqlalchemy.pool import Pool

from ..clock import utc_now
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

    def live_outside_database(self) -> Callable[[str, str], bool] | None:
        return lambda workflow_name, run_id: self._get((workflow_name, run_id)) is not None

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
