"""The library's errors. Every database failure surfaces as a `StorageError`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc


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
    """The database schema is behind (or ahead of) the code."""

    def __init__(self, message: str, *, current: str | None, head: str | None) -> None:
        super().__init__(message)
        self.current = current
        self.head = head


class MissingDependencyError(StorageError, ImportError):
    """A backend needs a package that is not installed; the message names the
    extra that brings it (`pip install 'mastra-storage[postgres]'`)."""


class IntegrityError(StorageError):
    """The database refused a write that breaks a constraint."""


class OperationalError(StorageError):
    """The database could not run the operation (unreachable, locked, timed out)."""


@contextmanager
def translate_errors() -> Iterator[None]:
    """Map SQLAlchemy's errors onto ours at one boundary, keeping the cause."""
    try:
        yield
    except StorageError:
        raise
    except sa_exc.IntegrityError as error:
        raise IntegrityError(str(error.orig or error)) from error
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as error:
        raise OperationalError(str(getattr(error, "orig", None) or error)) from error
    except sa_exc.DBAPIError as error:
        raise StorageError(str(error.orig or error)) from error
    except sa_exc.SQLAlchemyError as error:
        raise StorageError(str(error)) from error
