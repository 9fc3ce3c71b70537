"""The "advisory" backend: session-level database locks on dedicated connections.

PostgreSQL: advisory locks (`pg_try_advisory_lock(key)`, a 64-bit hash of
the run). MySQL/MariaDB: named locks (`GET_LOCK(name, 0)`, the same hash as a
name of 63 characters). Both are held by a database session and end with it.

The lock is taken on a connection checked out for this one lock and kept (in
autocommit, so it never sits idle in a transaction) until release. The server
ends the lock with the connection, so a holder whose process dies or whose
connection drops loses it at once. The lock row beside it carries holder,
expiry (renewed, but not enforced: the lock lasts as long as its connection)
and fencing token; an advisory row counts as held only while its session
lock is, so release just unlocks.

Nothing leaks into the pool: release unlocks before the connection goes back,
and a pool `reset` hook gives back every session lock (`pg_advisory_unlock_all()`,
`RELEASE_ALL_LOCKS()`) of any connection that took one here; if that fails
the pool closes the connection, which frees its locks too. A held lock keeps
one pooled connection checked out: size the pool for the locks a process
holds at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from ..errors import OperationalError
from . import rows
from .base import Hold, logger
from .keys import SessionLocks, key_params, session_locks
from .lease import RowLockService, milliseconds
from .rows import ADVISORY, RunKey

HOLDS_ADVISORY_LOCKS = "mastra_storage.holds_advisory_locks"
"""Key in a pooled connection's `info`: it took a session lock here (the
value: the SQL that gives back all of them)."""


def unlock_all_on_reset(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
    """Pool `reset` hook: a connection that took a session lock gives every
    one back before it rejoins the pool. An error here makes the pool close
    the connection instead, which frees its locks as well."""
    info = getattr(connection_record, "info", None)
    unlock_all = info.pop(HOLDS_ADVISORY_LOCKS, None) if info else None
    if not unlock_all or reset_state.terminate_only:
        return
    dbapi_connection.rollback()
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(unlock_all)
    finally:
        cursor.close()
    dbapi_connection.rollback()


def install_unlock_on_reset(engine: Engine) -> None:
    if not event.contains(engine, "reset", unlock_all_on_reset):
        event.listen(engine, "reset", unlock_all_on_reset)


def discard(connection: Connection) -> None:
    """Close the connection itself (not back to the pool): the server frees its locks."""
    try:
        connection.invalidate()
    finally:
        connection.close()


def session_locks_of(engine: Engine, feats: Any) -> SessionLocks:
    locks = session_locks(feats)
    if locks is None:  # choose_lock_backend refuses this first
        raise OperationalError(f"{engine.dialect.name} has no session-level locks")
    return locks


class AdvisoryLockService(RowLockService):
    backend = ADVISORY

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.locks = session_locks_of(self.engine, self.features)
        install_unlock_on_reset(self.engine)

    def _acquire(self, run: RunKey, ttl: timedelta) -> Hold | None:
        key = self.key_of(run)
        self._prepare()
        connection = self.engine.connect()
        try:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            # Marked before locking, so every way back to the pool unlocks.
            connection.connection.info[HOLDS_ADVISORY_LOCKS] = self.locks.unlock_all
            taken = connection.scalar(self.locks.try_lock, key_params(key))
            if taken is None:
                raise OperationalError(
                    f"the database could not say whether it locked run {run[1]!r} of {run[0]!r}"
                )
            if not taken:
                connection.connection.info.pop(HOLDS_ADVISORY_LOCKS, None)
                connection.close()
                return None
            values = rows.params(
                run, key=key, holder=self.holder, backend=ADVISORY, ttl_ms=milliseconds(ttl)
            )
            token = rows.take(connection, self.statements.take_for_advisory, values)
            if token is None:  # a live lease holder (lock_backend="lease" elsewhere) has it
                self._unlock(connection, key)
                connection.close()
                return None
        except BaseException:
            discard(connection)
            raise
        return Hold(token=token, connection=connection, key=key)

    def _unlock(self, connection: Connection, key: int | str) -> None:
        """Give the lock back. Once the server says it did, the connection
        holds none (one lock per connection), so the pool's reset hook is
        spared its round trips; otherwise the hook unlocks everything."""
        if connection.scalar(self.locks.unlock, key_params(key)) == 1:
            connection.connection.info.pop(HOLDS_ADVISORY_LOCKS, None)

    def _renew(self, run: RunKey, hold: Hold, ttl: timedelta) -> bool:
        with hold.mutex:
            if hold.released or hold.connection is None:
                return False
            values = rows.params(
                run, key=hold.key, holder=self.holder, token=hold.token, ttl_ms=milliseconds(ttl)
            )
            try:
                return rows.changed_one(hold.connection, self.statements.renew_advisory, values)
            except DBAPIError as error:
                if error.connection_invalidated or hold.connection.invalidated:
                    return False  # the connection, and with it the lock, is gone
                raise

    def _release(self, run: RunKey, hold: Hold) -> None:
        # The row needs no clearing: an advisory row is live only while its
        # session lock is held (and the fencing token stays anyway).
        self._let_go(hold, lost=False)

    def _drop(self, run: RunKey, hold: Hold) -> None:
        self._let_go(hold, lost=True)

    def _let_go(self, hold: Hold, *, lost: bool) -> None:
        """Unlock and give back the hold's connection (once). A lost hold's
        errors are only logged: its lock is gone with its connection anyway."""
        with hold.mutex:
            if hold.released or hold.connection is None:
                return
            hold.released = True
            connection = hold.connection
            try:
                if not connection.invalidated:
                    self._unlock(connection, hold.key)
                connection.close()
            except DBAPIError as error:
                if lost:
                    logger.debug("closing the connection of a lost run lock", exc_info=True)
                    return
                discard(connection)  # closing it frees the lock in any case
                if not error.connection_invalidated:
                    raise
                discard(connection)
