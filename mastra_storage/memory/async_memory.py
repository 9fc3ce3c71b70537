"""`AsyncMemory`: `Memory` with coroutines. Its methods are generated from
`Memory`'s (`_async_methods.py`, by scripts/generate_async.py); only what
differs in kind is written here: the default storage, `async with`, and
running the embedder off the event loop."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import StorageError
from ._async_methods import AsyncMemoryMethods
from .embedders import Vectors, unit_vectors
from .memory import _embedding_failed
from .options import MemoryOptions

if TYPE_CHECKING:
    from ..async_storage import AsyncMastraStorage


class AsyncMemory(AsyncMemoryMethods):
    """`Memory` with coroutines, on an async storage (`AsyncDefaultStorage()`
    when none is given). The embedder's `embed` runs in a worker thread (or
    is awaited, if it is a coroutine function)."""

    def __init__(
        self,
        storage: AsyncMastraStorage | None = None,
        *,
        options: Mapping[str, Any] | MemoryOptions | None = None,
        embedder: Any = None,
    ) -> None:
        super().__init__(options, embedder)
        self._owns_storage = storage is None
        if storage is None:
            from ..async_storage import AsyncDefaultStorage

            storage = AsyncDefaultStorage()
        self.storage = storage

    async def __aenter__(self) -> AsyncMemory:
        """`async with AsyncMemory(...) as memory:` gives the Memory itself
        (our extension)."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Leaving the `async with` block awaits `close()`."""
        await self.close()

    async def _embed(self, texts: list[str]) -> Vectors:
        try:
            if inspect.iscoroutinefunction(self.embedder.embed):
                raw = await self.embedder.embed(list(texts))
            else:
                raw = await asyncio.to_thread(self.embedder.embed, list(texts))
        except StorageError:
            raise
        except Exception as error:
            raise _embedding_failed(error) from error
        return unit_vectors(self.embedder, texts, raw)


__all__ = ["AsyncMemory"]
