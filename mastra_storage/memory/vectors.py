"""Semantic recall's index: which text of a message is embedded, the
dimension guard, and cosine search over `memory_messages`.

Where pgvector exists (its migration added the `embedding` column), the
database searches: an HNSW index per dimension, cosine distance `<=>`.
Everywhere else, and whenever the index scan brings back fewer than `top_k`
matches of the scope, the search is exact: it streams the scope's vectors in
chunks of `SEARCH_CHUNK` rows, scores each chunk with one matrix product and
keeps only the best `top_k` seen so far, so memory stays flat however many
vectors the scope holds.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

from ..dialects import Executor
from ..domain import MastraDBMessage, MastraDBMessageInput
from ..errors import ValidationError
from ..operations import DependentRows, register_dependent_rows
from ..repositories import VectorRepository, VectorRow
from .embedders import Vectors

SEARCH_CHUNK = 2048
"""Rows scored per step of a search: 2048 x 384 float32 is 3 MiB."""


def text_of(message: MastraDBMessageInput) -> str | None:
    """What Mastra embeds of a message: `content.content` when it is text,
    else its text parts joined by spaces; None when there is no text."""
    content = message.content
    if isinstance(content.content, str) and content.content.strip():
        return content.content
    joined = " ".join(
        str(part.get("text", ""))
        for part in content.parts
        if isinstance(part, dict) and part.get("type") == "text"
    ).strip()
    return joined or None


def check_dimension(
    session: Executor, dimension: int, repository: VectorRepository | None = None
) -> None:
    """Refuse vectors whose dimension differs from the index's."""
    stored = (repository or VectorRepository(session)).stored_dimensions()
    if stored is None:
        return
    for existing in stored:
        if existing != dimension:
            raise ValidationError(
                f"the semantic recall index (memory_messages) holds {existing}-dimension "
                f"vectors, but the embedder gives {dimension}-dimension vectors: use the "
                "embedder that built the index, or empty it (Memory.clear_index()) and "
                "rebuild it with Memory.index_messages()",
                field="embedder.dimension",
            )


def write_vectors(
    session: Executor,
    messages: Sequence[MastraDBMessage],
    vectors: dict[str, bytes],
    dimension: int,
) -> None:
    """Store the vectors of these (saved) messages; a message without one (no
    text) loses any vector it had, so the index never holds stale text."""
    repository = VectorRepository(session)
    check_dimension(session, dimension, repository)
    rows = [
        VectorRow(
            message_id=message.id,
            thread_id=message.thread_id,
            resource_id=message.resource_id,
            dimension=dimension,
            vector=vectors[message.id],
            created_at=message.created_at,
        )
        for message in messages
        if message.id in vectors
    ]
    stale = [message.id for message in messages if message.id not in vectors]
    if stale:
        repository.delete_for_messages(stale)
    repository.upsert(rows)


def search(
    session: Executor,
    *,
    query: Vectors,
    thread_id: str | None,
    resource_id: str | None,
    top_k: int,
    threshold: float | None,
    chunk: int = SEARCH_CHUNK,
    exact: bool = False,
) -> list[tuple[float, str]]:
    """The `top_k` (similarity, message id) pairs of the scope, best first,
    without those under `threshold`; `query` is one unit vector. With
    pgvector (and not `exact`), through its index; else, or when the index
    scan finds fewer than `top_k` in the scope, exactly: every vector of the
    scope is scored."""
    dimension = int(query.shape[0])
    repository = VectorRepository(session)
    check_dimension(session, dimension, repository)
    if not exact and repository.pgvector is not None:
        found = repository.nearest(
            query=query.astype(float).tolist(),
            dimension=dimension,
            thread_id=thread_id,
            resource_id=resource_id,
            limit=top_k,
        )
        if len(found) == top_k:
            return [match for match in found if threshold is None or match[0] >= threshold]
    best: list[tuple[float, str]] = []  # a min-heap: the weakest kept match on top
    for part in VectorRepository(session).stream(
        thread_id=thread_id, resource_id=resource_id, chunk=chunk
    ):
        blob = b"".join(row[1] for row in part)
        if len(blob) != len(part) * dimension * 4:  # written meanwhile by another model
            check_dimension(session, dimension)
            raise ValidationError("vectors of another dimension in the index", field="embedder")
        matrix = np.frombuffer(blob, dtype="<f4").reshape(len(part), dimension)
        # einsum, not `@`: a matrix-vector product this small is faster on one
        # core than through BLAS's thread pool, which stalls on a busy server.
        scores = np.einsum("ij,j->i", matrix, query)
        keep = min(top_k, len(part))
        candidates = (
            np.argpartition(-scores, keep - 1)[:keep] if keep < len(part) else range(len(part))
        )
        for index in candidates:
            score = float(scores[index])
            if threshold is not None and score < threshold:
                continue
            item = (score, str(part[index][0]))
            if len(best) < top_k:
                heapq.heappush(best, item)
            elif item > best[0]:
                heapq.heapreplace(best, item)
    return sorted(best, reverse=True)


def prepare_index(session: Executor, dimension: int) -> None:
    """Before a write of `dimension` vectors, first in its transaction: with
    pgvector, the HNSW index of that dimension (see
    `VectorRepository.ensure_hnsw_index`)."""
    VectorRepository(session).ensure_hnsw_index(dimension)


__all__ = [
    "SEARCH_CHUNK",
    "check_dimension",
    "prepare_index",
    "search",
    "text_of",
    "write_vectors",
]


def _vectors_of_messages(session: Executor, message_ids: Sequence[str]) -> int:
    return VectorRepository(session).delete_for_messages(message_ids)


def _vectors_of_resource(session: Executor, resource_id: str, limit: int) -> int:
    return VectorRepository(session).delete_for_resource(resource_id, limit)


# `prune` and `delete_resource` remove the vectors with their messages (counted
# as "vectors" in their report).
register_dependent_rows(
    DependentRows(
        name="vectors", of_messages=_vectors_of_messages, of_resource=_vectors_of_resource
    )
)
