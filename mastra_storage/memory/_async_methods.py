"""`AsyncMemory`'s methods: GENERATED from memory.py (`Memory`) by
scripts/generate_async.py. Do not edit; change `Memory` and regenerate.

Each method is `Memory`'s with `await` on the async storage's methods and on
the embedder (`_embed`), so the orchestration exists once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import operations
from ..domain import MastraDBMessage, MastraDBMessageInput, StorageThread, ThreadPage
from ..errors import ValidationError
from . import working_memory as wm
from .embedders import Vectors
from .history import MemoryContext, recall
from .memory import (
    Progress,
    _batch,
    _batch_size,
    _cursor,
    _MemoryBase,
    _query,
    _vectors,
    clear_index,
    count_unindexed,
    save_indexed,
    unindexed_batch,
    write_batch,
)

if TYPE_CHECKING:
    from ..async_storage import AsyncMastraStorage


class AsyncMemoryMethods(_MemoryBase, ABC):
    """Every public method of `Memory`, as coroutines."""

    storage: AsyncMastraStorage
    _owns_storage: bool

    @abstractmethod
    async def _embed(self, texts: list[str]) -> Vectors:
        """The embedder's unit vectors for `texts` (`EmbeddingError` when it fails)."""

    async def close(self) -> None:
        """Close the storage if this Memory made it (a storage given to the
        constructor is left open). Our extension: Mastra's `Memory` has no
        `close`. Idempotent."""
        if self._owns_storage:
            await self.storage.close()

    async def create_thread(
        self,
        *,
        resource_id: str,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        thread_id: str | None = None,
        session: Any = None,
    ) -> StorageThread:
        """A new thread of `resource_id` (Mastra: `Memory.createThread`), as
        `MastraStorage.create_thread`: `title` (default `""`), `metadata`
        (default None), `thread_id` (default a new UUID; taken:
        `ConflictError`). Bad input: `ValidationError`."""
        return await self.storage.create_thread(
            resource_id=resource_id,
            title=title,
            metadata=metadata,
            thread_id=thread_id,
            session=session,
        )

    async def get_thread_by_id(
        self, *, thread_id: str, resource_id: str | None = None, session: Any = None
    ) -> StorageThread | None:
        """The thread `thread_id`, or None (also when `resource_id` is given
        and differs) (Mastra: `Memory.getThreadById`), as
        `MastraStorage.get_thread_by_id`."""
        return await self.storage.get_thread_by_id(
            thread_id=thread_id, resource_id=resource_id, session=session
        )

    async def list_threads(
        self, *, resource_id: str, page: int = 0, per_page: int | None = 100, session: Any = None
    ) -> ThreadPage:
        """A page of the threads of `resource_id`, newest first (Mastra:
        `Memory.listThreadsByResourceId`): `page` from 0, `per_page` (default
        100; None: all). Returns a `ThreadPage`. Raises `ValidationError`."""
        return await self.storage.list_threads_by_resource_id(
            resource_id=resource_id, page=page, per_page=per_page, session=session
        )

    async def delete_thread(self, *, thread_id: str, session: Any = None) -> None:
        """Delete thread `thread_id`, its messages and their vectors, in one
        transaction (Mastra: `Memory.deleteThread`). An unknown id does
        nothing."""
        await self.storage.delete_thread(thread_id=thread_id, session=session)

    async def save_messages(
        self,
        *,
        messages: Sequence[MastraDBMessageInput | Mapping[str, Any]],
        options: Mapping[str, Any] | None = None,
        session: Any = None,
    ) -> list[MastraDBMessage]:
        """Save `messages` (Mastra: `Memory.saveMessages`), as
        `MastraStorage.save_messages`, after removing what Mastra removes:
        `<working_memory>...</working_memory>` blocks in the text (trimmed
        where one went) and `updateWorkingMemory` tool invocations; a message
        left with no parts and no text is not saved (nor returned). `options`
        overrides the Memory's for this call. With semantic recall on, each
        message with text is embedded first and its vector saved in the same
        transaction. An embedder that fails (`EmbeddingError`) or answers
        wrongly (`ValidationError`), or a dimension other than the index's
        (`ValidationError` naming both): nothing is saved."""
        resolved = self._options(options)
        batch = _batch(messages, hide=True)
        if resolved.semantic_recall is None:
            return await self.storage.save_messages(messages=batch.messages, session=session)
        matrix = await self._embed(batch.texts) if batch.texts else None
        vectors = {} if matrix is None else _vectors(batch.ids, matrix)
        return await self.storage._run(
            save_indexed,
            session,
            write=True,
            messages=batch.messages,
            vectors=vectors,
            dimension=self.embedder.dimension,
        )

    async def update_messages(
        self,
        *,
        messages: Sequence[Mapping[str, Any]],
        options: Mapping[str, Any] | None = None,
        session: Any = None,
    ) -> list[MastraDBMessage]:
        """Change stored messages (Mastra: `Memory.updateMessages`), as
        `MastraStorage.update_messages`; `options` overrides the Memory's for
        this call (whose vectors follow a moved
        message, and are dropped when its text is replaced); with semantic
        recall on, the updated messages are then embedded again, in a second
        transaction (or in `session`). Should that fail, the update stands
        and `index_messages` indexes them later."""
        resolved = self._options(options)
        updated = await self.storage.update_messages(messages=messages, session=session)
        if resolved.semantic_recall is not None and updated:
            batch = _batch(updated)
            if batch.texts:
                await self.storage._run(
                    write_batch,
                    session,
                    write=True,
                    message_ids=batch.ids,
                    vectors=_vectors(batch.ids, await self._embed(batch.texts)),
                    texts=dict(zip(batch.ids, batch.texts, strict=True)),
                    dimension=self.embedder.dimension,
                )
        return updated

    async def delete_messages(self, *, message_ids: Sequence[str], session: Any = None) -> None:
        """Delete the messages whose ids are in `message_ids`, and their
        vectors (Mastra: `Memory.deleteMessages`); unknown ids are skipped."""
        await self.storage.delete_messages(message_ids=message_ids, session=session)

    async def recall(
        self,
        *,
        thread_id: str,
        resource_id: str,
        query: str | None = None,
        options: Mapping[str, Any] | None = None,
        session: Any = None,
    ) -> MemoryContext:
        """What an agent's next turn needs (Mastra: `Memory.recall`): the last
        `last_messages` messages of thread `thread_id` (oldest first) and its
        working memory; with semantic recall on and a `query`, also the
        `top_k` most similar messages of the scope with their neighbours.
        `resource_id` must own the thread; `options` overrides the Memory's
        for this call. Returns a `MemoryContext`.

        Unknown thread: `NotFoundError`; a thread of another resource:
        `ValidationError`. Nothing of another resource is ever returned."""
        operations.require_text(thread_id, "thread_id")
        operations.require_text(resource_id, "resource_id")
        resolved = self._options(options)
        text = _query(query)
        vector = None
        if resolved.semantic_recall is not None and text is not None:
            vector = (await self._embed([text]))[0]
        return await self.storage._run(
            recall,
            session,
            write=False,
            thread_id=thread_id,
            resource_id=resource_id,
            options=resolved,
            query=vector,
        )

    async def get_working_memory(
        self,
        *,
        resource_id: str,
        thread_id: str | None = None,
        options: Mapping[str, Any] | None = None,
        session: Any = None,
    ) -> str | None:
        """The working memory of `resource_id` (Mastra:
        `Memory.getWorkingMemory`): the stored note, the template when none is
        stored yet, None when working memory is off. Thread scope needs
        `thread_id`; `options` overrides the Memory's for this call."""
        return await self.storage._run(
            wm.get,
            session,
            write=False,
            thread_id=thread_id,
            resource_id=resource_id,
            options=self._options(options).working_memory,
        )

    async def update_working_memory(
        self,
        *,
        resource_id: str,
        working_memory: str,
        thread_id: str | None = None,
        options: Mapping[str, Any] | None = None,
        session: Any = None,
    ) -> None:
        """Replace the working memory note of `resource_id` with
        `working_memory` (Mastra: `Memory.updateWorkingMemory`; thread scope
        needs `thread_id`; `options` overrides the Memory's). Stored where
        Mastra keeps it: resource scope in `mastra_resources.workingMemory`,
        thread scope in the thread's `metadata["workingMemory"]`. Working
        memory off: `ValidationError`."""
        await self.storage._run(
            wm.update,
            session,
            write=True,
            thread_id=thread_id,
            resource_id=resource_id,
            working_memory=working_memory,
            options=self._options(options).working_memory,
        )

    async def index_messages(
        self,
        *,
        resource_id: str,
        thread_id: str | None = None,
        batch_size: int = 100,
        progress: Progress | None = None,
    ) -> int:
        """Embed the messages of `resource_id` (or of thread `thread_id`) that have no vector
        yet, `batch_size` at a time, each batch its own transaction (saved
        before semantic recall was on, or by a Mastra TypeScript service);
        our extension (Mastra has no such call; the `memory reindex` command
        runs it).
        Calls `progress(done, total)` after each batch. Returns how many
        messages were indexed."""
        operations.require_text(resource_id, "resource_id")
        operations.optional_text(thread_id, "thread_id")
        size = _batch_size(batch_size)
        if self.embedder is None:
            raise ValidationError("index_messages needs an embedder", field="embedder")
        scope = {"resource_id": resource_id, "thread_id": thread_id}
        total = await self.storage._run(count_unindexed, None, write=False, **scope)
        done = indexed = 0
        after: tuple[datetime, str] | None = None
        while True:
            found = await self.storage._run(
                unindexed_batch, None, write=False, after=after, limit=size, **scope
            )
            if not found:
                break
            after = _cursor(found[-1])
            batch = _batch(found)
            if batch.texts:
                vectors = _vectors(batch.ids, await self._embed(batch.texts))
                await self.storage._run(
                    write_batch,
                    None,
                    write=True,
                    message_ids=batch.ids,
                    vectors=vectors,
                    texts=dict(zip(batch.ids, batch.texts, strict=True)),
                    dimension=self.embedder.dimension,
                )
                indexed += len(batch.ids)
            done += len(found)
            if progress is not None:
                progress(done, max(total, done))
        return indexed

    async def clear_index(self) -> int:
        """Delete every vector (say, before re-indexing with another model);
        the messages stay. Returns how many were deleted. Our extension
        (Mastra has no such call)."""
        return await self.storage._run(clear_index, None, write=True)
