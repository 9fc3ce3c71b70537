"""Message embeddings: `memory_messages` (ours), the index of `Memory`'s
semantic recall. Vectors are stored as little-endian float32 bytes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, delete, func, select, tuple_, update

from ..dialects import BINARY_RESULTS_OPTION, Executor, connection_of, features, upsert
from ..domain import MastraDBMessage
from ..orm import MemoryMessageRow, MessageRow
from ._common import AnySelect, chunks

TABLE = cast(Table, MemoryMessageRow.__table__)
_C = TABLE.c
_M = cast(Table, MessageRow.__table__).c


@dataclass(frozen=True)
class VectorRow:
    """One message's embedding, as stored."""

    message_id: str
    thread_id: str
    resource_id: str | None
    dimension: int
    vector: bytes
    created_at: datetime


@lru_cache(maxsize=4)
def _scope_statement(column: str) -> AnySelect:
    # Binary rows on PostgreSQL: the vectors as bytes, not hex text (4x faster).
    return (
        select(_C.message_id, _C.vector)
        .where(_C[column] == bindparam("scope"))
        .execution_options(**{BINARY_RESULTS_OPTION: True})
    )


@lru_cache(maxsize=8)
def _unindexed_statement(thread: bool, after: bool) -> AnySelect:
    """Messages of `:resource_id` (and `:thread_id`) without an embedding, in
    thread order from the cursor (`:at`, `:id`), `:limit` of them."""
    stmt = (
        select(_M.id, _M.thread_id, _M.content, _M.role, _M.type, _M.createdAt, _M.resourceId)
        .outerjoin(TABLE, _C.message_id == _M.id)
        .where(_M.resourceId == bindparam("resource_id"), _C.message_id.is_(None))
    )
    if thread:
        stmt = stmt.where(_M.thread_id == bindparam("thread_id"))
    if after:
        cursor = tuple_(_M.createdAt, _M.id)
        stmt = stmt.where(
            cursor > tuple_(bindparam("at", type_=_M.createdAt.type), bindparam("id"))
        )
    return stmt.order_by(_M.createdAt, _M.id).limit(bindparam("limit", type_=Integer()))


class VectorRepository:
    """Reads and writes message embeddings in the caller's session; never commits."""

    def __init__(self, session: Executor) -> None:
        self.session = session
        self.features = features(session)

    def upsert(self, rows: Sequence[VectorRow]) -> None:
        """Insert or replace each message's embedding."""
        if not rows:
            return
        stmt = upsert(
            self.features,
            TABLE,
            keys=["message_id"],
            update_columns=["thread_id", "resource_id", "dimension", "vector", "created_at"],
        )
        values = [
            {
                "message_id": row.message_id,
                "thread_id": row.thread_id,
                "resource_id": row.resource_id,
                "dimension": row.dimension,
                "vector": row.vector,
                "created_at": row.created_at,
            }
            for row in rows
        ]
        self.session.execute(stmt, values)

    def stored_dimensions(self) -> tuple[int, int] | None:
        """The smallest and largest dimension stored (two index probes), or
        None when the index is empty."""
        # Two scalar subqueries: each is one index probe on both backends (a
        # single SELECT of MIN and MAX together scans the index on SQLite).
        low, high = self.session.execute(
            select(
                select(func.min(_C.dimension)).scalar_subquery(),
                select(func.max(_C.dimension)).scalar_subquery(),
            )
        ).one()
        return None if low is None else (int(low), int(high))

    def stream(
        self, *, thread_id: str | None, resource_id: str | None, chunk: int
    ) -> Iterator[Sequence[Any]]:
        """Every (message_id, vector) of one scope (a thread, or else
        a resource), `chunk` rows at a time: a server-side cursor on
        PostgreSQL, SQLite's own row-at-a-time cursor, so memory holds one chunk."""
        column, scope = (
            ("thread_id", thread_id)
            if thread_id is not None
            else (
                "resource_id",
                resource_id,
            )
        )
        stmt = _scope_statement(column).execution_options(yield_per=chunk)
        result = self.session.execute(stmt, {"scope": scope})
        try:
            yield from result.partitions(chunk)
        finally:
            result.close()

    def unindexed(
        self,
        *,
        resource_id: str,
        thread_id: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Sequence[Any]]:
        """Up to `limit` message rows (repository column order) of the resource
        (or one of its threads) that have no embedding, after the cursor."""
        params: dict[str, Any] = {"resource_id": resource_id, "limit": limit}
        if thread_id is not None:
            params["thread_id"] = thread_id
        if after is not None:
            params["at"], params["id"] = after
        stmt = _unindexed_statement(thread_id is not None, after is not None)
        return list(self.session.execute(stmt, params).all())

    def count_unindexed(self, *, resource_id: str | None, thread_id: str | None) -> int:
        """Messages of the resource (or one of its threads; or, with neither,
        of every resource) that have no embedding."""
        scope = _M.resourceId.is_not(None) if resource_id is None else _M.resourceId == resource_id
        stmt = (
            select(func.count())
            .select_from(cast(Table, MessageRow.__table__))
            .outerjoin(TABLE, _C.message_id == _M.id)
            .where(scope, _C.message_id.is_(None))
        )
        if thread_id is not None:
            stmt = stmt.where(_M.thread_id == thread_id)
        return int(self.session.execute(stmt).scalar_one())

    def unindexed_resources(self, *, after: str | None, limit: int) -> list[str]:
        """Up to `limit` resource ids, in order after `after`, that have
        messages without an embedding."""
        stmt = (
            select(_M.resourceId)
            .distinct()
            .select_from(cast(Table, MessageRow.__table__))
            .outerjoin(TABLE, _C.message_id == _M.id)
            .where(_M.resourceId.is_not(None), _C.message_id.is_(None))
        )
        if after is not None:
            stmt = stmt.where(_M.resourceId > after)
        stmt = stmt.order_by(_M.resourceId).limit(limit)
        return [str(value) for value in self.session.execute(stmt).scalars()]

    def follow(self, messages: Sequence[MastraDBMessage], *, stale: Iterable[str]) -> None:
        """After messages were updated: their embeddings take their (new)
        thread and resource; those of `stale` ids (text replaced) go."""
        self.delete_for_messages(stale)
        rows = [
            {"b_id": m.id, "b_thread_id": m.thread_id, "b_resource_id": m.resource_id}
            for m in messages
        ]
        if rows:
            stmt = (
                update(TABLE)
                .where(_C.message_id == bindparam("b_id"))
                .values(thread_id=bindparam("b_thread_id"), resource_id=bindparam("b_resource_id"))
            )
            connection_of(self.session).execute(stmt, rows)

    def copy(self, id_map: Mapping[str, str], thread_id: str, resource_id: str | None) -> None:
        """Give copied messages (old id -> new id) the embeddings of their
        originals, in `thread_id` and `resource_id`."""
        ids = sorted(id_map)
        stmt = select(_C.message_id, _C.dimension, _C.vector, _C.created_at)
        for chunk in chunks(ids, self.features.max_bind_params):
            rows = self.session.execute(stmt.where(_C.message_id.in_(chunk))).all()
            self.upsert(
                [
                    VectorRow(id_map[old], thread_id, resource_id, dimension, vector, created_at)
                    for old, dimension, vector, created_at in rows
                ]
            )

    def move_thread(self, thread_id: str, resource_id: str) -> None:
        """The thread's embeddings now belong to `resource_id`."""
        stmt = update(TABLE).where(_C.thread_id == thread_id).values(resource_id=resource_id)
        self.session.execute(stmt)

    def delete_for_messages(self, message_ids: Iterable[str]) -> int:
        """The embeddings of these messages; returns how many there were."""
        ids = sorted(set(message_ids))
        deleted = 0
        for chunk in chunks(ids, self.features.max_bind_params):
            result = self.session.execute(delete(TABLE).where(_C.message_id.in_(chunk)))
            deleted += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return deleted

    def delete_for_thread(self, thread_id: str) -> None:
        self.session.execute(delete(TABLE).where(_C.thread_id == thread_id))

    def delete_for_resource(self, resource_id: str, limit: int | None = None) -> int:
        """The embeddings of the resource's messages (at most `limit` of them,
        for batched erasure); returns how many were deleted."""
        where = _C.resource_id == resource_id
        if limit is not None:
            # In message-id order, so batches are deterministic (and walk the key).
            some = (
                select(_C.message_id)
                .where(where)
                .order_by(_C.message_id)
                .limit(limit)
                .scalar_subquery()
            )
            where = _C.message_id.in_(some)
        result = self.session.execute(delete(TABLE).where(where))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def delete_all(self) -> int:
        result = self.session.execute(delete(TABLE))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
