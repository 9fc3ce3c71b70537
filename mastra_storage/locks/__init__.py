"""Workflow run locks: one interface (`RunLockService`), a backend per situation.

- ``"advisory"`` (PostgreSQL and MySQL/MariaDB, the default there):
  session-level locks held on dedicated connections, plus a lock row; a
  crashed holder's lock is freed as soon as its connection closes. PostgreSQL
  advisory locks, or MySQL named locks (`GET_LOCK`): the one name for both,
  since they promise the same (`Features.session_locks` tells which).
- ``"lease"`` (a SQLite file, or PostgreSQL/MySQL behind a proxy that shares
  server connections between clients): a lock row taken and renewed by
  compare-and-set with an expiry.
- ``"memory"`` (in-memory SQLite, the default there): a process-local table.

Every acquisition gets a fencing token; `check_fencing` refuses writes made
under an older one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from ..dialects import features
from ..engines import is_memory_sqlite
from ..errors import ValidationError
from ..values import summary
from .advisory import AdvisoryLockService
from .base import (
    DEFAULT_TTL_MS,
    HeldRunLock,
    RunLockService,
    new_holder_id,
)
from .fencing import check_fencing
from .keys import advisory_key
from .lease import LeaseLockService
from .memory import MemoryLockService
from .rows import ADVISORY, LEASE, MEMORY

LOCK_BACKENDS: dict[str, type[RunLockService]] = {
    ADVISORY: AdvisoryLockService,
    LEASE: LeaseLockService,
    MEMORY: MemoryLockService,
}


def choose_lock_backend(engine: Engine, requested: str | None = None) -> str:
    """The backend for `engine`: `requested` when given (and possible), else
    advisory locks where the database has them, the process-local table for
    in-memory SQLite, leases elsewhere."""
    feats = features(engine)
    if requested is None:
        if feats.session_locks:
            return ADVISORY
        return MEMORY if is_memory_sqlite(engine.url) else LEASE
    if requested not in LOCK_BACKENDS:
        raise ValidationError(
            f"lock_backend must be one of {', '.join(map(repr, LOCK_BACKENDS))}, "
            f"got {summary(requested)}",
            field="lock_backend",
        )
    if requested == ADVISORY and not feats.session_locks:
        raise ValidationError(
            f"lock_backend='advisory' needs PostgreSQL or MySQL/MariaDB, not {feats.name}",
            field="lock_backend",
        )
    return requested


def create_lock_service(
    engine: Engine, requested: str | None = None, **kwargs: Any
) -> RunLockService:
    """The lock service of one storage instance (`kwargs`: holder, prepare)."""
    return LOCK_BACKENDS[choose_lock_backend(engine, requested)](engine=engine, **kwargs)


__all__ = [
    "ADVISORY",
    "DEFAULT_TTL_MS",
    "LEASE",
    "LOCK_BACKENDS",
    "MEMORY",
    "AdvisoryLockService",
    "HeldRunLock",
    "LeaseLockService",
    "MemoryLockService",
    "RunLockService",
    "advisory_key",
    "check_fencing",
    "choose_lock_backend",
    "create_lock_service",
    "new_holder_id",
]
