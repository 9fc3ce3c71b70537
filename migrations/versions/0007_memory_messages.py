"""Memory's semantic recall index: memory_messages (ours; Mastra keeps these
vectors in a separate vector store).

One row per embedded message: its thread and resource (the search scopes),
the vector's dimension, the unit-length vector as float32 bytes, and the
message's created_at.

Revision ID: 0007_memory_messages
Revises: 0006_snapshot_indexes_utc_repair
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mastra_storage.migrate import create_index_if_missing, create_table_if_missing
from mastra_storage.orm.types import column_types

revision: str = "0007_memory_messages"
down_revision: str | Sequence[str] | None = "0006_snapshot_indexes_utc_repair"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "memory_messages"


def upgrade() -> None:
    types = column_types(op.get_bind().dialect)
    timestamp = types.timestamp
    create_table_if_missing(
        TABLE,
        sa.Column("message_id", types.id, nullable=False),
        sa.Column("thread_id", types.id, nullable=False),
        sa.Column("resource_id", types.id, nullable=True),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("vector", types.blob, nullable=False),
        sa.Column("created_at", timestamp, nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=f"{TABLE}_pkey"),
    )
    create_index_if_missing(f"{TABLE}_thread_id_idx", TABLE, ["thread_id"])
    create_index_if_missing(f"{TABLE}_resource_id_idx", TABLE, ["resource_id"])
    create_index_if_missing(f"{TABLE}_dimension_idx", TABLE, ["dimension"])


def downgrade() -> None:
    op.drop_table(TABLE)
