"""Lease backend: a lock row taken and renewed by compare-and-set, with an
expiry in database time.

Works wherever the database is shared (processes, machines, a PostgreSQL
behind a transaction-pooling proxy): each step is one statement in its own
short transaction, and no state lives in a connection. A holder that dies
keeps the lock until its lease runs out; one that pauses longer than its
lease loses it, and its later writes are refused by fencing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Connection

from ..dialects import single_statement_options
from ..domain import RunLock
from ..engines import schema_of
from . import rows
from .base import Hold, RunLockService
from .keys import RunLockKey, SessionLocks, session_locks
from .rows import LEASE, RunKey


def milliseconds(ttl: timedelta) -> int:
    return int(ttl.total_seconds() * 1000)


class RowLockService(RunLockService):
    """What the backends that keep a lock row share: its statements, reading
    it, and the session lock key an advisory row's liveness depends on."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.statements = rows.statements(self.features)
        self._schema: str | None = None
        self._schema_mutex = threading.Lock()
        self._statements = self.engine.execution_options(
            **single_statement_options(self.features, self.engine)
        )

    @contextmanager
    def _statement(self) -> Iterator[Connection]:
        """A connection for one compare-and-set statement, its own transaction."""
        self._prepare()
        with self._statements.begin() as connection:
            yield connection

    def key_of(self, run: RunKey) -> RunLockKey:
        """The run's session lock key (0 where there are no session locks)."""
        locks = session_locks(self.features)
        if locks is None:
            return 0
        return locks.key(self._schema_name(locks), *run)

    def _schema_name(self, locks: SessionLocks) -> str:
        with self._schema_mutex:
            if self._schema is None:
                self._schema = schema_of(self.engine)  # `schema=`: our tables' schema
            if self._schema is None:
                self._prepare()
                with self.engine.connect() as connection:
                    self._schema = connection.scalar(locks.current_schema) or ""
            return self._schema

    def _get(self, run: RunKey) -> RunLock | None:
        values = rows.params(run, key=self.key_of(run))
        self._prepare()
        with self.engine.connect() as connection:
            return rows.read(connection, values)

    def _list(self, workflow_name: str | None, limit: int) -> list[RunLock]:
        self._prepare()
        with self.engine.connect() as connection:
            runs = rows.held_runs(connection, workflow_name, limit)
            found = (rows.read(connection, rows.params(run, key=self.key_of(run))) for run in runs)
            return [lock for lock in found if lock is not None]


class LeaseLockService(RowLockService):
    backend = LEASE

    def _acquire(self, run: RunKey, ttl: timedelta) -> Hold | None:
        values = rows.params(
            run,
            key=self.key_of(run),
            holder=self.holder,
            backend=LEASE,
            ttl_ms=milliseconds(ttl),
        )
        with self._statement() as connection:
            token = rows.take(connection, self.statements.take_for_lease, values)
        return None if token is None else Hold(token=token)

    def _renew(self, run: RunKey, hold: Hold, ttl: timedelta) -> bool:
        values = rows.params(run, holder=self.holder, token=hold.token, ttl_ms=milliseconds(ttl))
        with self._statement() as connection:
            return rows.changed_one(connection, self.statements.renew, values)

    def _release(self, run: RunKey, hold: Hold) -> None:
        values = rows.params(run, holder=self.holder, token=hold.token)
        with self._statement() as connection:
            connection.execute(self.statements.clear, values)
