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
from sqlalchemy.dialects import postgresql

revision: str = "0001_memory_tables"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("mastra_storage",)  # for hosts: mastra_storage@head
depends_on: str | Sequence[str] | None = None


def _types() -> tuple[bool, sa.types.TypeEngine, sa.types.TypeEngine]:  # type: ignore[type-arg]
    """(is PostgreSQL, timestamp type, JSON type) as Mastra declares them."""
    if op.get_bind().dialect.name == "postgresql":
        return True, sa.DateTime(timezone=False), postgresql.JSONB()
    return False, sa.Text(), sa.Text()


def _twins(pg: bool, *names: str) -> list[sa.Column]:  # type: ignore[type-arg]
    if not pg:
        return []
    return [
        sa.Column(f"{name}Z", sa.DateTime(timezone=True), server_default=sa.func.now())
        for name in names
    ]


def _create(name: str, *items: sa.schema.SchemaItem) -> None:
    if not sa.inspect(op.get_bind()).has_table(name):
        op.create_table(name, *items)


def upgrade() -> None:
    pg, timestamp, json_type = _types()
    _create(
        "mastra_threads",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("resourceId", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("metadata", json_type, nullable=True),
        sa.Column("createdAt", timestamp, nullable=False),
        sa.Column("updatedAt", timestamp, nullable=False),
        *_twins(pg, "createdAt", "updatedAt"),
        sa.PrimaryKeyConstraint("id", name="mastra_threads_pkey"),
    )
    _create(
        "mastra_messages",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("thread_id", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("createdAt", timestamp, nullable=False),
        sa.Column("resourceId", sa.Text(), nullable=True),
        *_twins(pg, "createdAt"),
        sa.PrimaryKeyConstraint("id", name="mastra_messages_pkey"),
    )
    _create(
        "mastra_resources",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("workingMemory", sa.Text(), nullable=True),
        sa.Column("metadata", json_type, nullable=True),
        sa.Column("createdAt", timestamp, nullable=False),
        sa.Column("updatedAt", timestamp, nullable=False),
        *_twins(pg, "createdAt", "updatedAt"),
        sa.PrimaryKeyConstraint("id", name="mastra_resources_pkey"),
    )
    op.create_index(
        "mastra_threads_resourceid_createdat_idx",
        "mastra_threads",
        ["resourceId", "createdAt"],
        if_not_exists=True,
    )
    op.create_index(
        "mastra_threads_resourceid_updatedat_idx",
        "mastra_threads",
        ["resourceId", "updatedAt"],
        if_not_exists=True,
    )
    op.create_index(
        "mastra_messages_thread_id_createdat_id_idx",
        "mastra_messages",
        ["thread_id", "createdAt", "id"],
        if_not_exists=True,
    )
    op.create_index(
        "mastra_messages_resourceid_createdat_id_idx",
        "mastra_messages",
        ["resourceId", "createdAt", "id"],
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("mastra_resources")
    op.drop_table("mastra_messages")
    op.drop_table("mastra_threads")
