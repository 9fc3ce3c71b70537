"""mastra-storage: durable memory for AI agents, Mastra's storage layer in Python."""

from typing import TYPE_CHECKING, Any

from .config import async_from_url, async_storage_from_env, from_url, storage_from_env
from .domain import (
    DateRange,
    EvalPage,
    EvalRow,
    MastraDBMessage,
    MastraDBMessageInput,
    MessageContent,
    MessagePage,
    PruneReport,
    RunLock,
    ScorePage,
    ScoreRow,
    StorageResource,
    StorageThread,
    ThreadPage,
    WorkflowRun,
    WorkflowRuns,
)
from .errors import (
    ConflictError,
    FencingTokenError,
    LockNotAcquiredError,
    MigrationRequiredError,
    NotFoundError,
    SchemaTooNewError,
    StorageClosedError,
    StorageError,
    StorageTimeoutError,
    ValidationError,
)
from .memory import (
    AsyncMemory,
    Embedder,
    EmbeddingError,
    HashingEmbedder,
    Memory,
    MemoryContext,
    SentenceTransformerEmbedder,
)
from .storage import DefaultStorage, MastraStorage, MySQLStorage, PostgresStorage

if TYPE_CHECKING:
    from .async_storage import (
        AsyncDefaultStorage,
        AsyncMastraStorage,
        AsyncMySQLStorage,
        AsyncPostgresStorage,
    )

_ASYNC = (
    "AsyncDefaultStorage",
    "AsyncMastraStorage",
    "AsyncMySQLStorage",
    "AsyncPostgresStorage",
)


def __getattr__(name: str) -> Any:
    """The async classes load on first use: they need the `async` extra
    (greenlet, aiosqlite), which a SQLite-only sync user does not install."""
    if name in _ASYNC:
        from . import async_storage

        return getattr(async_storage, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "AsyncDefaultStorage",
    "AsyncMastraStorage",
    "AsyncMemory",
    "AsyncMySQLStorage",
    "AsyncPostgresStorage",
    "ConflictError",
    "DateRange",
    "DefaultStorage",
    "Embedder",
    "EmbeddingError",
    "EvalPage",
    "EvalRow",
    "FencingTokenError",
    "HashingEmbedder",
    "LockNotAcquiredError",
    "MastraDBMessage",
    "MastraDBMessageInput",
    "MastraStorage",
    "Memory",
    "MemoryContext",
    "MessageContent",
    "MessagePage",
    "MigrationRequiredError",
    "MySQLStorage",
    "NotFoundError",
    "PostgresStorage",
    "PruneReport",
    "RunLock",
    "SchemaTooNewError",
    "ScorePage",
    "ScoreRow",
    "SentenceTransformerEmbedder",
    "StorageClosedError",
    "StorageError",
    "StorageResource",
    "StorageThread",
    "StorageTimeoutError",
    "ThreadPage",
    "ValidationError",
    "WorkflowRun",
    "WorkflowRuns",
    "__version__",
    "async_from_url",
    "async_storage_from_env",
    "from_url",
    "storage_from_env",
]
