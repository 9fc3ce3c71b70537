"""A client-side deadline on every answer awaited from PostgreSQL.

PostgreSQL's own `statement_timeout` ends a slow statement, but a server that
does not run at all (SIGSTOP, a hung host whose kernel still acknowledges
TCP) never sends that error, and libpq has no read timeout: the caller would
wait forever, sync or async (psycopg's cancellation waits for the frozen
server too). So each psycopg connection our engines open gets its `wait`
(the one place psycopg blocks for the server: every execute, fetch, commit
and rollback) wrapped: the wait is registered with a deadline, and one
watchdog thread for the whole process shuts down the socket of a wait that
outlives it. The blocked wait then sees the connection closed, psycopg marks
it broken (the pool discards it), and the call raises `StorageTimeoutError`.

Cheap on the hot path: arming is a dict insert and disarming a dict pop, no
thread or timer per statement; the watchdog wakes a few times per deadline
period, whatever the load.
"""

from __future__ import annotations

import inspect
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

GRACE_FRACTION = 0.1
GRACE_MIN_S = 1.0
"""The client-side deadline is `statement_timeout_s` plus a grace of 10% of
it, at least 1 s, so that a server that is alive always answers first (with
its own `statement_timeout` error, keeping the connection)."""


def deadline_s(statement_timeout_s: float) -> float:
    """Seconds a round trip may wait for the server before the watchdog
    closes the connection: `statement_timeout_s` plus the grace."""
    return statement_timeout_s + max(GRACE_MIN_S, statement_timeout_s * GRACE_FRACTION)


MARKER = "mastra_storage_deadline_passed"

# id(psycopg connection) -> [deadline (monotonic), socket fd, fired]
_ACTIVE: dict[int, list[Any]] = {}
_STATE: dict[str, Any] = {"thread": None, "tick": 1.0}
_START = threading.Lock()


def _watch() -> None:
    while True:
        time.sleep(_STATE["tick"])
        now = time.monotonic()
        for entry in list(_ACTIVE.values()):
            if not entry[2] and entry[0] <= now:
                entry[2] = True
                _shut(entry[1])


def _shut(fd: int) -> None:
    """Shut the connection's socket down (not close: the fd stays psycopg's),
    which wakes the wait blocked on it with an end of file."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


def _ensure_watchdog(bound_s: float) -> None:
    # The watchdog looks every quarter of the smallest grace in use, so a
    # deadline is acted on within 1.25 x the grace after it passes.
    tick = max(0.05, (deadline_s(bound_s) - bound_s) / 4)
    with _START:
        _STATE["tick"] = min(_STATE["tick"], tick)
        thread = _STATE["thread"]
        if thread is None or not thread.is_alive():
            thread = threading.Thread(target=_watch, name="mastra-storage-deadlines", daemon=True)
            thread.start()
            _STATE["thread"] = thread


def _after_fork_in_child() -> None:
    _ACTIVE.clear()
    _STATE["thread"] = None  # a thread does not survive fork: start anew on use


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _passed(conn: Any, error: BaseException | None) -> Exception:
    """The error a wait cut short by the watchdog raises: the driver's own
    OperationalError class (so SQLAlchemy sees a dropped connection) marked
    as a passed deadline."""
    seconds = getattr(conn, "_mastra_deadline_s", 0.0)
    base: type[Exception] = type(error) if isinstance(error, Exception) else RuntimeError
    new = base(
        f"no answer from the database server within {seconds:g} s "
        "(statement_timeout_s plus grace): the connection was closed"
    )
    setattr(new, MARKER, True)
    return new


_DRIVER_READ_TIMEOUTS = ("(timed out)", "(read timeout)")
"""How PyMySQL and asyncmy word a passed `read_timeout` (error 2013, the
connection closed): the MySQL dialect's deadline, enforced by the driver."""


def is_deadline(error: BaseException) -> bool:
    """Whether a (driver or SQLAlchemy) error is a deadline the watchdog (or,
    on MySQL, the driver's read timeout) enforced."""
    orig = getattr(error, "orig", None) or error
    if getattr(orig, MARKER, False):
        return True
    args: tuple[Any, ...] = getattr(orig, "args", ())
    return (
        len(args) >= 2
        and args[0] == 2013
        and isinstance(args[1], str)
        and args[1].endswith(_DRIVER_READ_TIMEOUTS)
    )


def bound_connection(dbapi_connection: Any, statement_timeout_s: float) -> None:
    """Wrap a psycopg (sync or async) connection's `wait` with the deadline."""
    conn = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    if conn is None or getattr(conn, "_mastra_deadline_s", None) is not None:
        return
    _ensure_watchdog(statement_timeout_s)
    limit = deadline_s(statement_timeout_s)
    conn._mastra_deadline_s = limit
    fd = conn.pgconn.socket
    key = id(conn)
    original: Callable[..., Any] = conn.wait

    def arm() -> list[Any]:
        entry = [time.monotonic() + conn._mastra_deadline_s, fd, False]
        _ACTIVE[key] = entry
        return entry

    if inspect.iscoroutinefunction(original):

        async def wait_async(*args: Any, **kwargs: Any) -> Any:
            if conn._mastra_deadline_s is None:
                return await original(*args, **kwargs)
            entry = arm()
            try:
                return await original(*args, **kwargs)
            except Exception as error:
                if entry[2]:
                    raise _passed(conn, error) from error
                raise
            finally:
                _ACTIVE.pop(key, None)

        conn.wait = wait_async
    else:

        def wait(*args: Any, **kwargs: Any) -> Any:
            if conn._mastra_deadline_s is None:
                return original(*args, **kwargs)
            entry = arm()
            try:
                return original(*args, **kwargs)
            except Exception as error:
                if entry[2]:
                    raise _passed(conn, error) from error
                raise
            finally:
                _ACTIVE.pop(key, None)

        conn.wait = wait


@contextmanager
def unbounded_reads(dbapi_connection: Any) -> Iterator[None]:
    """No read timeout on this PyMySQL or asyncmy connection for a while
    (`init()`'s migrations). Both drivers read `_read_timeout` afresh before
    each wait for the server, and offer no public setter."""
    conn = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    previous = getattr(conn, "_read_timeout", None)
    if previous is None:
        yield
        return
    conn._read_timeout = None
    try:
        yield
    finally:
        conn._read_timeout = previous


@contextmanager
def unbounded(dbapi_connection: Any) -> Iterator[None]:
    """No deadline on this connection for a while (the migrations of
    `init()`, whose DDL on a large table may rightly take long)."""
    conn = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    previous = getattr(conn, "_mastra_deadline_s", None)
    if previous is None:
        yield
        return
    conn._mastra_deadline_s = None
    try:
        yield
    finally:
        conn._mastra_deadline_s = previous
