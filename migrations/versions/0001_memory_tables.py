"""Memory tables: mastra_threads, mastra_messages, mastra_resources.

Tables that a Mastra (TypeScript) service already created are adopted as they
are; only our indexes are added to them.

Revision ID: 0001_memory_tables
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mastra_storage.migrate import create_index_if_missing, create_table_if_missing
from mastra_storage.orm.types import column_types

revision: str = "0001_memory_tables"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("mastra_storage",)  # for hosts: mastra_storage@head
depends_on: str | Sequence[str] | None = None


def _twins(pg: bool, *names: str) -> list[sa.Column]:  # type: ignore[type-arg]
    if not pg:
        return []
    return [
        sa.Column(f"{name}Z", sa.DateTime(timezone=True), server_default=sa.func.now())
        for name in names
    ]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    pg, types = dialect == "postgresql", column_types(op.get_bind().dialect)
    ident, text, json_type, timestamp = types.id, types.text, types.json, types.timestamp
    create_table_if_missing(
        "mastra_threads",
        sa.Column("id", ident, nullable=False),
        sa.Column("resourceId", ident, nullable=False),
        sa.Column("title", text, nullable=False),
        sa.Column("metadata", json_type, nullable=True),
        sa.Column("createdAt", timestamp, nullable=False),
        sa.Column("updatedAt", timestamp, nullable=False),
        *_twins(pg, "createdAt", "updatedAt"),
        sa.PrimaryKeyConstraint("id", name="mastra_threads_pkey"),
    )
    create_table_if_missing(
        "mastra_messages",
        sa.Column("id", ident, nullable=False),
        sa.Column("thread_id", ident, nullable=False),
        sa.Column("content", text, nullable=False),
        sa.Column("role", text, nullable=False),
        sa.Column("type", text, nullable=False),
        sa.Column("createdAt", timestamp, nullable=False),
        sa.Column("resourceId", ident, nullable=True),
        *_twins(pg, "createdAt"),
        sa.PrimaryKeyConstraint("id", name="mastra_messages_pkey"),
    )
    create_table_if_missing(
        "mastra_resources",
        sa.Column("id", ident, nullable=False),
        sa.Column("workingMemory", text, nullable=True),
        sa.Column("metadata", json_type, nullable=True),
        sa.Column("createdAt", timestamp, nullable=False),
        sa.Column("updatedAt", timestamp, nullable=False),
        *_twins(pg, "createdAt", "updatedAt"),
        sa.PrimaryKeyConstraint("id", name="mastra_resources_pkey"),
    )
    create_index_if_missing(
        "mastra_threads_resourceid_createdat_idx",
        "mastra_threads",
        ["resourceId", "createdAt"],
    )
    create_index_if_missing(
        "mastra_threads_resourceid_updatedat_idx",
        "mastra_threads",
        ["resourceId", "updatedAt"],
    )
    create_index_if_missing(
        "mastra_messages_thread_id_createdat_id_idx",
        "mastra_messages",
        ["thread_id", "createdAt", "id"],
    )
    create_index_if_missing(
        "mastra_messages_resourceid_createdat_id_idx",
        "mastra_messages",
        ["resourceId", "createdAt", "id"],
    )


def downgrade() -> None:
    op.drop_table("mastra_resources")
    op.drop_table("mastra_messages")
    op.drop_table("mastra_threads")
