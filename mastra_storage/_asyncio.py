"""SQLAlchemy's asyncio names, or an error naming the extra that brings them.

`sqlalchemy.ext.asyncio` needs greenlet, which only the `async` extra
installs: a SQLite-only, sync user imports none of this.
"""

from __future__ import annotations

import importlib.util

from .errors import MissingDependencyError

# Checked every time this module is imported: after one failed import,
# SQLAlchemy's asyncio module imports without complaint and fails later.
if importlib.util.find_spec("greenlet") is None:
    raise MissingDependencyError(
        "the async classes need greenlet and aiosqlite: pip install 'mastra-storage[async]'",
        name="greenlet",
    )

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import greenlet_spawn

__all__ = [
    "AsyncEngine",
    "AsyncSession",
    "async_sessionmaker",
    "create_async_engine",
    "greenlet_spawn",
]
