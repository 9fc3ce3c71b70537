"""Message embeddings: `memory_messages` (ours), the index of `Memory`'s
semantic recall. Vectors are stored as little-endian float32 bytes; where
pgvector exists, also in the `embedding` column its migration added, which an
HNSW index per dimension searches (cosine distance, `<=>`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

import numpy as np
from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    Table,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy import (
    cast as sql_cast,
)

from ..dialects import (
    BINARY_RESULTS_OPTION,
    Executor,
    Features,
    connection_of,
    features,
    id_chunks,
    ids_parameter,
    in_ids,
    keyset_past,
    upsert,
)
from ..domain import MastraDBMessage
from ..engines import quote_schema, schema_of
from ..orm import MemoryMessageRow, MessageRow
from ..orm.types import PgVector
from ._common import AnySelect

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


EMBEDDING = "embedding"
"""The pgvector column of `memory_messages` (only where the extension exists)."""

_INDEX_LOCK = 0x6D6D
"""First key of the transaction advisory lock that serialises creating an
HNSW index (the second is the index name's hash)."""


def hnsw_index_name(dimension: int) -> str:
    return f"memory_messages_embedding_{int(dimension)}_hnsw"


def hnsw_index_ddl(table: str, vector_schema: str, dimension: int) -> str:
    """CREATE INDEX for the vectors of one dimension: HNSW over cosine
    distance, on the column cast to `vector(dimension)`, partial on
    `dimension` (the column holds any dimension; an index needs one).
    `table` and `vector_schema` are quoted SQL names."""
    d = int(dimension)
    return (
        f"CREATE INDEX IF NOT EXISTS {hnsw_index_name(d)} ON {table} USING hnsw "
        f"(({EMBEDDING}::{vector_schema}.vector({d})) {vector_schema}.vector_cosine_ops) "
        f"WHERE dimension = {d}"
    )


@lru_cache(maxsize=4)
def _embedding_table(vector_schema: str) -> Table:
    """`memory_messages` with its pgvector column, for the statements that use it."""
    columns = [column._copy() for column in TABLE.columns]
    return Table(TABLE.name, MetaData(), *columns, Column(EMBEDDING, PgVector(vector_schema)))


@lru_cache(maxsize=16)
def _nearest_statement(vector_schema: str, dimension: int, column: str) -> AnySelect:
    """The `:limit` vectors of `dimension` in one scope (`:scope`) nearest to
    `:query` by cosine distance, nearest first: ordered by the expression the
    HNSW index of that dimension is built on, so it can serve the order."""
    table = _embedding_table(vector_schema)
    of_dimension = PgVector(vector_schema, dimension)
    distance = sql_cast(table.c[EMBEDDING], of_dimension).op(
        f"OPERATOR({vector_schema}.<=>)", return_type=Float()
    )(bindparam("query", type_=of_dimension))
    return (
        select(table.c.message_id, distance)
        # a literal, so the partial index's predicate matches in a generic plan
        .where(table.c.dimension == literal_column(str(int(dimension))))
        .where(table.c[column] == bindparam("scope"))
        .order_by(distance)
        .limit(bindparam("limit", type_=Integer()))
    )


_VECTOR_TYPE_SCHEMA = text(
    "SELECT t.typnamespace::regnamespace::text FROM pg_attribute a "
    "JOIN pg_type t ON t.oid = a.atttypid "
    "WHERE a.attrelid = to_regclass(:memory_messages) AND a.attname = 'embedding' "
    "AND NOT a.attisdropped AND t.typname = 'vector'"
)


@lru_cache(maxsize=4)
def _scope_statement(column: str) -> AnySelect:
    # Binary rows on PostgreSQL: the vectors as bytes, not hex text (4x faster).
    return (
        select(_C.message_id, _C.vector)
        .where(_C[column] == bindparam("scope"))
        .execution_options(**{BINARY_RESULTS_OPTION: True})
    )


@lru_cache(maxsize=8)
def _unindexed_statement(feats: Features, thread: bool, after: bool) -> AnySelect:
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
        here: tuple[Any, ...] = (bindparam("at", type_=_M.createdAt.type), bindparam("id"))
        stmt = stmt.where(keyset_past(feats, (_M.createdAt, _M.id), here, after=True))
    return stmt.order_by(_M.createdAt, _M.id).limit(bindparam("limit", type_=Integer()))


class VectorRepository:
    """Reads and writes message embeddings in the caller's session; never commits."""

    def __init__(self, session: Executor) -> None:
        self.session = session
        self.features = features(session)
        self._pgvector: str | bool | None = False  # False: not looked up yet

    def _table_name(self, name: str) -> str:
        """`name` as SQL, in the schema our statements are mapped to."""
        schema = schema_of(connection_of(self.session))
        return name if schema is None else f"{quote_schema(schema)}.{name}"

    @property
    def pgvector(self) -> str | None:
        """The schema of pgvector's `vector` type (quoted as SQL) when
        `memory_messages` has the `embedding` column, else None; looked up
        once per repository (one operation)."""
        if self._pgvector is False:
            self._pgvector = None
            if self.features.vector_extension:
                self._pgvector = self.session.execute(
                    _VECTOR_TYPE_SCHEMA, {"memory_messages": self._table_name(TABLE.name)}
                ).scalar()
        return self._pgvector  # type: ignore[return-value]

    def ensure_hnsw_index(self, dimension: int) -> None:
        """With pgvector: make sure the HNSW index of `dimension` exists
        (created on the first write of that dimension, under a transaction
        advisory lock so concurrent first writers create it once). Call it
        before anything else in the transaction writes `memory_messages`."""
        vector_schema = self.pgvector
        if vector_schema is None:
            return
        index = self._table_name(hnsw_index_name(dimension))
        if self.session.execute(select(func.to_regclass(index))).scalar() is not None:
            return
        self.session.execute(select(func.pg_advisory_xact_lock(_INDEX_LOCK, func.hashtext(index))))
        ddl = hnsw_index_ddl(self._table_name(TABLE.name), vector_schema, dimension)
        self.session.execute(text(ddl))

    def nearest(
        self,
        *,
        query: Sequence[float],
        dimension: int,
        thread_id: str | None,
        resource_id: str | None,
        limit: int,
    ) -> list[tuple[float, str]]:
        """With pgvector: up to `limit` (cosine similarity, message id) of the
        scope (a thread, or else a resource), best first, through the HNSW
        index when the planner takes it (approximate, and filtered to the
        scope after the index scan: fewer than `limit` may come back)."""
        assert self.pgvector is not None
        column, scope = (
            ("thread_id", thread_id) if thread_id is not None else ("resource_id", resource_id)
        )
        stmt = _nearest_statement(self.pgvector, int(dimension), column)
        rows = self.session.execute(
            stmt, {"query": list(query), "scope": scope, "limit": limit}
        ).all()
        return [(1.0 - float(distance), str(message_id)) for message_id, distance in rows]

    def upsert(self, rows: Sequence[VectorRow]) -> None:
        """Insert or replace each message's embedding."""
        if not rows:
            return
        columns = ["thread_id", "resource_id", "dimension", "vector", "created_at"]
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
        table = TABLE
        if self.pgvector is not None:  # the same vector in pgvector's column
            table = _embedding_table(self.pgvector)
            columns.append(EMBEDDING)
            for value, row in zip(values, rows, strict=True):
                value[EMBEDDING] = np.frombuffer(row.vector, dtype="<f4").tolist()
        stmt = upsert(self.features, table, keys=["message_id"], update_columns=columns)
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
        stmt = _unindexed_statement(self.features, thread_id is not None, after is not None)
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
        stmt = stmt.where(in_ids(self.features, _C.message_id, "ids"))
        key = ids_parameter(self.features, "ids")
        for chunk in id_chunks(self.features, ids, self.features.max_bind_params):
            rows = self.session.execute(stmt, {key: chunk}).all()
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
        stmt = delete(TABLE).where(in_ids(self.features, _C.message_id, "ids"))
        key = ids_parameter(self.features, "ids")
        for chunk in id_chunks(self.features, ids, self.features.max_bind_params):
            result = self.session.execute(stmt, {key: chunk})
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
            # A derived table around the LIMIT: MySQL takes no LIMIT in an
            # IN (subquery), nor a subquery on the table a DELETE deletes from,
            # but a derived table it materializes first; the others take it too.
            some = (
                select(_C.message_id)
                .where(where)
                .order_by(_C.message_id)
                .limit(limit)
                .subquery("some_messages")
            )
            where = _C.message_id.in_(select(some.c.message_id))
        result = self.session.execute(delete(TABLE).where(where))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def delete_all(self) -> int:
        result = self.session.execute(delete(TABLE))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
