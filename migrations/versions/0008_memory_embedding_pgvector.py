"""Semantic recall through pgvector, where the extension exists: an
`embedding` column (pgvector's `vector`, any dimension) on memory_messages,
filled from the stored vectors, and an HNSW index (cosine distance) for each
dimension stored. Elsewhere (SQLite, PostgreSQL without the extension in the
database) nothing changes and the search stays exact.

Install the extension (`CREATE EXTENSION vector`, once per database, by a
role allowed to) before this migration runs; installed later, downgrade to
0007 and upgrade again.

Revision ID: 0008_memory_embedding_pgvector
Revises: 0007_memory_messages
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from alembic import op

from mastra_storage.repositories.vectors import EMBEDDING, hnsw_index_ddl

revision: str = "0008_memory_embedding_pgvector"
down_revision: str | Sequence[str] | None = "0007_memory_messages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "memory_messages"
BATCH = 1000


def _vector_schema(bind: sa.Connection) -> str | None:
    """The schema pgvector's types live in (quoted as SQL), None without it."""
    return bind.execute(
        sa.text(
            "SELECT e.extnamespace::regnamespace::text FROM pg_extension e "
            "WHERE e.extname = 'vector'"
        )
    ).scalar()


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    vector_schema = _vector_schema(bind)
    if vector_schema is None:
        return
    op.execute(f"ALTER TABLE {TABLE} ADD COLUMN {EMBEDDING} {vector_schema}.vector")
    # Fill it from the stored float32 bytes, in batches of message ids.
    fill = sa.text(
        f"UPDATE {TABLE} SET {EMBEDDING} = "
        f"CAST(CAST(:value AS DOUBLE PRECISION[]) AS {vector_schema}.vector) "
        "WHERE message_id = :id"
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.text(
                f"SELECT message_id, vector FROM {TABLE} WHERE message_id > :after "
                "ORDER BY message_id LIMIT :limit"
            ),
            {"after": after, "limit": BATCH},
        ).all()
        if not rows:
            break
        bind.execute(
            fill,
            [
                {"id": message_id, "value": np.frombuffer(vector, dtype="<f4").tolist()}
                for message_id, vector in rows
            ],
        )
        after = rows[-1][0]
    dimensions = bind.execute(sa.text(f"SELECT DISTINCT dimension FROM {TABLE}")).scalars()
    for dimension in list(dimensions):
        op.execute(hnsw_index_ddl(TABLE, vector_schema, int(dimension)))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # The HNSW indexes go with the column.
    op.execute(f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS {EMBEDDING}")
