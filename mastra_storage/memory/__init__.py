"""The Memory layer (Mastra's `@mastra/memory`): conversation history,
working memory and semantic recall on top of a storage."""

from .async_memory import AsyncMemory
from .embedders import (
    Embedder,
    EmbeddingError,
    HashingEmbedder,
    SentenceTransformerEmbedder,
)
from .history import MemoryContext
from .memory import Memory
from .options import (
    DEFAULT_WORKING_MEMORY_TEMPLATE,
    MemoryOptions,
    SemanticRecallOptions,
    WorkingMemoryOptions,
)

__all__ = [
    "DEFAULT_WORKING_MEMORY_TEMPLATE",
    "AsyncMemory",
    "Embedder",
    "EmbeddingError",
    "HashingEmbedder",
    "Memory",
    "MemoryContext",
    "MemoryOptions",
    "SemanticRecallOptions",
    "SentenceTransformerEmbedder",
    "WorkingMemoryOptions",
]
