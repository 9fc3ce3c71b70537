"""`Memory`: the layer an agent calls every turn, on top of a storage
(Mastra's `@mastra/memory` `Memory`, in Python).

Its methods run operation functions (history.py, working_memory.py and the
ones below) through the storage's `_run`, so each call is one transaction of
the storage, or runs in the caller's with `session=`. Embedding happens before
that transaction opens: a slow model never holds a database lock, and a
failing embedder leaves nothing written.

`Memory` is the one source of the orchestration: `AsyncMemory`'s methods
(_async_methods.py) are generated from it by scripts/generate_async.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import operations
from ..dialects import Executor
from ..domain import MastraDBMessage, MastraDBMessageInput, StorageThread, ThreadPage, parse
from ..errors import StorageError, ValidationError
from ..repositories import MessageRepository, VectorRepository
from ..repositories.messages import to_message
from ..storage import DefaultStorage, MastraStorage
from . import working_memory as wm
from .embedders import EmbeddingError, Vectors, check_embedder, unit_vectors
from .history import MemoryContext, recall
from .options import MemoryOptions, resolve_options
from .vectors import prepare_index, text_of, write_vectors

Progress = Callable[[int, int], Any]
"""`progress(done, total)`: messages looked at so far, and how many there were."""


# -- operations (run through the storage's `_run`) ------------------------------------


def save_indexed(
    session: Executor,
    *,
    messages: list[MastraDBMessageInput],
    vectors: dict[str, bytes],
    dimension: int,
) -> list[MastraDBMessage]:
    """Save the messages and their vectors in one transaction."""
    if vectors:
        prepare_index(session, dimension)
    saved = operations.save_messages(session, messages=messages)
    write_vectors(session, saved, vectors, dimension)
    return saved


def unindexed_batch(
    session: Executor,
    *,
    resource_id: str,
    thread_id: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[MastraDBMessage]:
    rows = VectorRepository(session).unindexed(
        resource_id=resource_id, thread_id=thread_id, after=after, limit=limit
    )
    return [to_message(row) for row in rows]


def count_unindexed(session: Executor, *, resource_id: str | None, thread_id: str | None) -> int:
    """Messages without a vector: of the resource (or one of its threads), or
    with `resource_id=None`, of every resource."""
    return VectorRepository(session).count_unindexed(resource_id=resource_id, thread_id=thread_id)


def unindexed_resources(session: Executor, *, after: str | None, limit: int) -> list[str]:
    """Up to `limit` resource ids after `after` (in order) that have messages
    without a vector: the resources `index_messages` has work in."""
    return VectorRepository(session).unindexed_resources(after=after, limit=limit)


def stored_dimensions(session: Executor) -> tuple[int, int] | None:
    """The smallest and largest vector dimension in the index (None: empty)."""
    return VectorRepository(session).stored_dimensions()


def write_batch(
    session: Executor,
    *,
    message_ids: list[str],
    vectors: dict[str, bytes],
    texts: dict[str, str],
    dimension: int,
) -> None:
    """Index messages read and embedded earlier (`texts`: the text each vector
    was made from), under their row locks: only those still there with that
    text. One deleted since is left out (no vector without its message); one
    whose text changed since is left to the call that changed it, which
    embeds the new text (a vector of the old text would otherwise replace the
    new one's, and stay, as the message then has a vector)."""
    prepare_index(session, dimension)
    current = MessageRepository(session).get_many(message_ids, for_update=True)
    unchanged = [m for m in current if m.id in vectors and text_of(m) == texts.get(m.id)]
    write_vectors(session, unchanged, vectors, dimension)


def clear_index(session: Executor) -> int:
    return VectorRepository(session).delete_all()


# -- what the sync and async classes share ----------------------------------------------


@dataclass(frozen=True)
class _Batch:
    """Messages to save, and which of them have text to embed."""

    messages: list[MastraDBMessageInput]
    ids: list[str]
    texts: list[str]


def _batch(messages: Sequence[Any], *, hide: bool = False) -> _Batch:
    """`hide`: as Mastra saves them, without working memory blocks and
    `updateWorkingMemory` calls (a message left empty is not saved)."""
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence):
        raise ValidationError("messages must be a list of messages", field="messages")
    parsed = [parse(MastraDBMessageInput, m, what=f"messages[{i}]") for i, m in enumerate(messages)]
    if hide:
        parsed = [m for m in map(wm.hide_working_memory, parsed) if m is not None]
    latest = {m.id: m for m in parsed}  # a repeated id: the last one wins
    ids, texts = [], []
    for message in latest.values():
        text = text_of(message)
        if text is not None:
            ids.append(message.id)
            texts.append(text)
    return _Batch(parsed, ids, texts)


def _vectors(ids: list[str], matrix: Vectors) -> dict[str, bytes]:
    return {message_id: matrix[row].tobytes() for row, message_id in enumerate(ids)}


def _query(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("query must be a string", field="query")
    return value if value.strip() else None


def _cursor(message: MastraDBMessage) -> tuple[datetime, str]:
    """Where the next `unindexed_batch` starts: after this (read) message."""
    return (message.created_at, message.id)


def _batch_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError("batch_size must be an integer >= 1", field="batch_size")
    return value


class _MemoryBase:
    """Options and embedder handling of `Memory` and `AsyncMemory`."""

    def __init__(self, options: Any, embedder: Any) -> None:
        self.options = resolve_options(MemoryOptions(), options)
        if embedder is not None:
            check_embedder(embedder)
        self.embedder = embedder
        if self.options.semantic_recall is not None and embedder is None:
            raise ValidationError("semantic_recall needs an embedder", field="embedder")

    def _options(self, options: Any) -> MemoryOptions:
        resolved = resolve_options(self.options, options)
        if resolved.semantic_recall is not None and self.embedder is None:
            raise ValidationError("semantic_recall needs an embedder", field="embedder")
        return resolved

    def working_memory_tool(self) -> dict[str, Any]:
        """Mastra's `updateWorkingMemory` tool (what `Memory.getTools` gives an
        agent) as a JSON Schema function definition: hand it to a model; pass
        the `memory` argument it calls with to `update_working_memory`."""
        return wm.tool_definition()

    def working_memory_instructions(
        self, working_memory: str | None, *, options: Mapping[str, Any] | None = None
    ) -> str:
        """System-prompt text for the working memory tool (Mastra:
        `Memory.getSystemMessage`), with the template of `options` (per-call
        overrides; default the Memory's) and the current note
        `working_memory` (`MemoryContext.working_memory`; None: none yet)."""
        return wm.instructions(self._options(options).working_memory.template, working_memory)


def _embedding_failed(error: Exception) -> EmbeddingError:
    return EmbeddingError(f"embedder failed: {type(error).__name__}: {error}")


# -- sync -------------------------------------------------------------------------------


class Memory(_MemoryBase):
    """Conversation memory on a storage: history, working memory, semantic recall.

    `storage`: any `MastraStorage` (default: `DefaultStorage()`, the SQLite
    file `mastra.db`, closed by `close()`). `options`: Mastra's
    (`last_messages`, `semantic_recall`, `working_memory`; see
    `MemoryOptions`). `embedder`: an `Embedder`, required when semantic recall
    is on. Bad options: `ValidationError` naming the option."""

    def __init__(
        self,
        storage: MastraStorage | None = None,
        *,
        options: Mapping[str, Any] | MemoryOptions | None = None,
        embedder: Any = None,
    ) -> None:
        super().__init__(options, embedder)
        self._owns_storage = storage is None
        self.storage = storage if storage is not None else DefaultStorage()

    def close(self) -> None:
        """Close the storage if this Memory made it (a storage given to the
        constructor is left open). Our extension: Mastra's `Memory` has no
        `close`. Idempotent."""
        if self._owns_storage:
            self.storage.close()

    def __enter__(self) -> Memory:
        """`with Memory(...) as memory:` gives the Memory itself (our extension)."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Leaving the `with` block calls `close()`."""
        self.close()

    def _embed(self, texts: list[str]) -> Vectors:
        try:
            raw = self.embedder.embed(list(texts))
        except StorageError:
            raise
        except Exception as error:
            raise _embedding_failed(error) from error
        return unit_vectors(self.embedder, texts, raw)

    # threads

    def create_thread(
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
        return self.storage.create_thread(
            resource_id=resource_id,
            title=title,
            metadata=metadata,
            thread_id=thread_id,
            session=session,
        )

    def get_thread_by_id(
        self, *, thread_id: str, resource_id: str | None = None, session: Any = None
    ) -> StorageThread | None:
        """The thread `thread_id`, or None (also when `resource_id` is given
        and differs) (Mastra: `Memory.getThreadById`), as
        `MastraStorage.get_thread_by_id`."""
        return self.storage.get_thread_by_id(
            thread_id=thread_id, resource_id=resource_id, session=session
        )

    def list_threads(
        self, *, resource_id: str, page: int = 0, per_page: int | None = 100, session: Any = None
    ) -> ThreadPage:
        """A page of the threads of `resource_id`, newest first (Mastra:
        `Memory.listThreadsByResourceId`): `page` from 0, `per_page` (default
        100; None: all). Returns a `ThreadPage`. Raises `ValidationError`."""
        return self.storage.list_threads_by_resource_id(
            resource_id=resource_id, page=page, per_page=per_page, session=session
        )

    def delete_thread(self, *, thread_id: str, session: Any = None) -> None:
        """Delete thread `thread_id`, its messages and their vectors, in one
        transaction (Mastra: `Memory.deleteThread`). An unknown id does
        nothing."""
        self.storage.delete_thread(thread_id=thread_id, session=session)

    # messages

    def save_messages(
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
            return self.storage.save_messages(messages=batch.messages, session=session)
        matrix = self._embed(batch.texts) if batch.texts else None
        vectors = {} if matrix is None else _vectors(batch.ids, matrix)
        return self.storage._run(
            save_indexed,
            session,
            write=True,
            messages=batch.messages,
            vectors=vectors,
            dimension=self.embedder.dimension,
        )

    def update_messages(
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
        updated = self.storage.update_messages(messages=messages, session=session)
        if resolved.semantic_recall is not None and updated:
            batch = _batch(updated)
            if batch.texts:
                self.storage._run(
                    write_batch,
                    session,
                    write=True,
                    message_ids=batch.ids,
                    vectors=_vectors(batch.ids, self._embed(batch.texts)),
                    texts=dict(zip(batch.ids, batch.texts, strict=True)),
                    dimension=self.embedder.dimension,
                )
        return updated

    def delete_messages(self, *, message_ids: Sequence[str], session: Any = None) -> None:
        """Delete the messages whose ids are in `message_ids`, and their
        vectors (Mastra: `Memory.deleteMessages`); unknown ids are skipped."""
        self.storage.delete_messages(message_ids=message_ids, session=session)

    # recall

    def recall(
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
            vector = self._embed([text])[0]
        return self.storage._run(
            recall,
            session,
            write=False,
            thread_id=thread_id,
            resource_id=resource_id,
            options=resolved,
            query=vector,
        )

    # working memory

    def get_working_memory(
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
        return self.storage._run(
            wm.get,
            session,
            write=False,
            thread_id=thread_id,
            resource_id=resource_id,
            options=self._options(options).working_memory,
        )

    def update_working_memory(
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
        self.storage._run(
            wm.update,
            session,
            write=True,
            thread_id=thread_id,
            resource_id=resource_id,
            working_memory=working_memory,
            options=self._options(options).working_memory,
        )

    # the index

    def index_messages(
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
        total = self.storage._run(count_unindexed, None, write=False, **scope)
        done = indexed = 0
        after: tuple[datetime, str] | None = None
        while True:
            found = self.storage._run(
                unindexed_batch, None, write=False, after=after, limit=size, **scope
            )
            if not found:
                break
            after = _cursor(found[-1])
            batch = _batch(found)
            if batch.texts:
                vectors = _vectors(batch.ids, self._embed(batch.texts))
                self.storage._run(
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

    def clear_index(self) -> int:
        """Delete every vector (say, before re-indexing with another model);
        the messages stay. Returns how many were deleted. Our extension
        (Mastra has no such call)."""
        return self.storage._run(clear_index, None, write=True)


__all__ = ["Memory", "MemoryContext"]
