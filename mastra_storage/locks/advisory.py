"""PostgreSQL backend: session-level advisory locks on dedicated connections.

`pg_try_advisory_lock(key)` is taken on a connection checked out for this one
lock and kept (in autocommit, so it never sits idle in a transaction) until
release. PostgreSQL ends the lock with the connection, so a holder whose
process dies or whose connection drops loses it at once. The lock row beside
it carries holder, expiry (renewed, but not enforced: the lock lasts as long
as its connection) and fencing token; an advisory row counts as held only
while its advisory lock is, so release just unlocks.

Nothing leaks into the pool: release unlocks before the connection goes back,
and a pool `reset` hook runs `pg_advisory_unlock_all()` on any connection
that took an advisory lock here; if that fails the pool closes the
connection, which frees its locks too. A held lock keeps one pooled
connection checked out: size the pool for the locks a process holds at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from . import rows
from .base import Hold, logger
from .lease import RowLockService, milliseconds
from .rows import ADVISORY, RunKey

HOLDS_ADVISORY_LOCKS = "mastra_storage.holds_advisory_locks"
"""Key in a pooled connection's `info`: it took an advisory lock here."""


def unlock_all_on_reset(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
    """Pool `reset` hook: a connection that took an advisory lock gives every
    one back before it rejoins the pool. An error here makes the pool close
    the connection instead, which frees its locks as well."""
    info = getattr(connection_record, "info", None)
    if not info or not info.pop(HOLDS_ADVISORY_LOCKS, False) or reset_state.terminate_only:
        return
    dbapi_connection.rollback()
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT pg_advisory_unlock_all()")
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


class AdvisoryLockService(RowLockService):
    backend = ADVISORY

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        install_unlock_on_reset(self.engine)

    def _acquire(self, run: RunKey, ttl: timedelta) -> Hold | None:
        key = self.key_of(run)
        self._prepare()
        connection = self.engine.connect()
        try:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            # Marked before locking, so every way back to the pool unlocks.
            connection.connection.info[HOLDS_ADVISORY_LOCKS] = True
            if not connection.scalar(select(func.pg_try_advisory_lock(key))):
                connection.connection.info.pop(HOLDS_ADVISORY_LOCKS, None)
                connection.close()
                return None
            values = rows.params(
                run, key=key, holder=self.holder, backend=ADVISORY, ttl_ms=milliseconds(ttl)
            )
            token = rows.take(connection, self.statements.take_for_advisory, values)
            if token is None:  # a live lease holder (lock_backend="lease" elsewhere) has it
                connection.scalar(select(func.pg_advisory_unlock(key)))
                connection.close()
                return None
        except BaseException:
            discard(connection)
            raise
        return Hold(token=token, connection=connection, key=key)

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
        # advisory lock is held (and the fencing token stays anyway).
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
                    connection.scalar(select(func.pg_advisory_unlock(hold.key)))
                connection.close()
            except DBAPIError as error:
                if lost:
                    logger.debug("closing the connection of a lost run lock", exc_info=True)
                    return
                discard(connection)  # closing it frees the lock in any case
                if not error.connection_invalidated:
                    raise
                discard(connection)
