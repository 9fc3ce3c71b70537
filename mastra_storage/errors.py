"""The library's errors. Every database failure surfaces as a `StorageError`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exc as sa_exc

from .deadlines import is_deadline


class StorageError(Exception):
    """Base of every error this library raises."""


class NotFoundError(StorageError, LookupError):
    """A thread, resource or run that the operation needs does not exist."""


class ValidationError(StorageError, ValueError):
    """Bad input. Says which field and why; nothing was written."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ConflictError(StorageError):
    """An id that must be new already exists (`create_thread`, `clone_thread`);
    nothing was written."""


class LockNotAcquiredError(StorageError):
    """A workflow run lock is held by another holder."""


class FencingTokenError(StorageError):
    """A write carried a fencing token older than the current lock holder's."""


class MigrationRequiredError(StorageError):
    """The database schema is behind the code: says its revision and head."""

    def __init__(self, message: str, *, current: str | None, head: str | None) -> None:
        super().__init__(message)
        self.current = current
        self.head = head


class MissingDependencyError(StorageError, ImportError):
    """A backend needs a package that is not installed; the message names the
    extra that brings it (`pip install 'mastra-storage[postgres]'`)."""


class SchemaTooNewError(StorageError):
    """The database schema is ahead of the code (a newer release migrated it):
    names both revisions. Never migrated by this code."""

    def __init__(self, message: str, *, current: str | None, head: str | None) -> None:
        super().__init__(message)
        self.current = current
        self.head = head


class StorageClosedError(StorageError):
    """The storage was closed (`close()`): make a new one."""


class IntegrityError(StorageError):
    """The database refused a write that breaks a constraint."""


class OperationalError(StorageError):
    """The database could not run the operation (unreachable, locked, timed out)."""


class StorageTimeoutError(OperationalError, TimeoutError):
    """A wait passed its bound: a row, advisory or SQLite lock (`lock_timeout_ms`),
    a pool checkout (`pool_timeout_s`), a connect (`connect_timeout_s`), or a
    statement (`statement_timeout_s`: the server's bound, or no answer at all
    from a frozen server within it plus a grace). The transaction was rolled
    back: nothing of the call was written (save when the commit itself got no
    answer: the message then says the write may or may not have been saved)."""


class ConnectionLostError(OperationalError):
    """The connection to the database dropped during the call. `written` says
    what is known: False when the transaction never reached its commit
    (nothing was written), None when the commit itself was cut off."""

    def __init__(self, message: str, *, written: bool | None) -> None:
        super().__init__(message)
        self.written = written


# SQLSTATEs of a bound passing on the server: lock_not_available (lock_timeout,
# NOWAIT) and query_canceled (statement_timeout, a cancel request).
_TIMEOUT_SQLSTATES = frozenset({"55P03", "57014"})
_TIMEOUT_TEXTS = (
    "database is locked",
    "connection timeout expired",
    "timeout expired",
    "lock wait timeout exceeded",  # MySQL/MariaDB 1205: innodb_lock_wait_timeout
    "max_statement_time exceeded",  # MariaDB 1969
    "maximum statement execution time exceeded",  # MySQL 3024
)


# A deadlock's victim (its whole transaction rolled back): MySQL/MariaDB error
# 1213, PostgreSQL deadlock_detected.
_DEADLOCK_ERRNOS = frozenset({1213})
_DEADLOCK_SQLSTATES = frozenset({"40P01"})


def is_deadlock(error: BaseException) -> bool:
    """Whether a driver error says the database broke a deadlock by rolling
    this transaction back (safe to run the whole transaction again)."""
    orig = getattr(error, "orig", None) or error
    if getattr(orig, "sqlstate", None) in _DEADLOCK_SQLSTATES:
        return True
    args: tuple[Any, ...] = getattr(orig, "args", ())
    return bool(args) and args[0] in _DEADLOCK_ERRNOS


def is_timeout(error: BaseException) -> bool:
    """Whether a driver error (or SQLAlchemy's pool timeout) is a passed bound."""
    if isinstance(error, sa_exc.TimeoutError):
        return True
    orig = getattr(error, "orig", None) or error
    if is_deadline(orig):
        return True
    if getattr(orig, "sqlstate", None) in _TIMEOUT_SQLSTATES:
        return True
    text = str(orig).lower()
    return any(needle in text for needle in _TIMEOUT_TEXTS)


MAX_SUMMARY = 300
"""Characters of a database's own message kept in ours."""


def safe_summary(error: BaseException) -> str:
    """What a database error says, without the SQL text or parameter values
    SQLAlchemy adds (`[SQL: ...]`, `[parameters: ...]`) or PostgreSQL's DETAIL
    lines (which quote row values): the error class and the primary message."""
    orig = getattr(error, "orig", None) or error
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if primary is None:
        primary = str(orig)
        for marker in ("[SQL:", "[parameters:", "DETAIL:", "(Background on this error"):
            primary = primary.split(marker, 1)[0]
    primary = " ".join(primary.split())
    if len(primary) > MAX_SUMMARY:
        primary = primary[:MAX_SUMMARY] + "..."
    state = getattr(orig, "sqlstate", None)
    name = type(orig).__name__ + (f" {state}" if state else "")
    return f"{name}: {primary}" if primary else name


def translate_errors() -> ErrorTranslation:
    """Map SQLAlchemy's errors onto ours at one boundary, keeping the cause:
    `with translate_errors(): ...`.

    Messages are built from the error class and a safe summary: never the SQL
    text or the parameter values (the cause, chained, still has them)."""
    return _TRANSLATION


class ErrorTranslation:
    """`translate_errors`'s context manager: a plain class (no generator per
    use, as `contextlib.contextmanager` makes: it wraps every call), holding
    no state, so one instance serves every caller, nested or concurrent."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        if error is None:
            return
        ours = translated(error)
        if ours is not None:
            raise ours from error


_TRANSLATION = ErrorTranslation()


def translated(error: BaseException) -> BaseException | None:
    """Our error for a SQLAlchemy error (None: `error` is raised as it is)."""
    if isinstance(error, StorageError) or not isinstance(error, sa_exc.SQLAlchemyError):
        return None
    if isinstance(error, sa_exc.TimeoutError):
        return StorageTimeoutError(
            f"{error}: every connection of the pool is in use; raise pool_size / "
            "max_overflow (connections a storage may open) or pool_timeout_s"
        )
    if isinstance(error, sa_exc.IntegrityError):
        return IntegrityError(safe_summary(error))
    if isinstance(error, sa_exc.DBAPIError):
        message = safe_summary(error)
        if "unsupported startup parameter" in message:
            message += (
                " (behind a transaction-pooling proxy such as PgBouncer, pass "
                "prepared_statements=False or ?prepared_statements=false in the URL)"
            )
        if is_timeout(error):
            return StorageTimeoutError(message)
        if isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            return OperationalError(message)
        return StorageError(message)
    if isinstance(error, sa_exc.StatementError):
        # Raised while binding a parameter, before the database saw anything.
        if isinstance(error.orig, StorageError):
            return error.orig
        return ValidationError(
            f"a value could not be stored ({type(error.orig).__name__}): "
            "give JSON values, text and aware datetimes",
        )
    return StorageError(safe_summary(error))
