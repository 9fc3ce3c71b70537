"""Workflow snapshots: mastra_workflow_snapshot.

Revision ID: 0002_workflow_snapshots
Revises: 0001_memory_tables
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_workflow_snapshots"
down_revision: str | Sequence[str] | None = "0001_memory_tables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "mastra_workflow_snapshot"


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    timestamp = sa.DateTime(timezone=False) if pg else sa.Text()
    twins = (
        [
            sa.Column("createdAtZ", sa.DateTime(timezone=True), server_default=sa.func.now()),
            sa.Column("updatedAtZ", sa.DateTime(timezone=True), server_default=sa.func.now()),
        ]
        if pg
        else []
    )
    if not sa.inspect(op.get_bind()).has_table(TABLE):
        op.create_table(
            TABLE,
            sa.Column("workflow_name", sa.Text(), nullable=False),
            sa.Column("run_id", sa.Text(), nullable=False),
            sa.Column("resourceId", sa.Text(), nullable=True),
            sa.Column("snapshot", postgresql.JSONB() if pg else sa.Text(), nullable=False),
            sa.Column("createdAt", timestamp, nullable=False),
            sa.Column("updatedAt", timestamp, nullable=False),
            *twins,
            sa.UniqueConstraint(
                "workflow_name", "run_id", name="mastra_workflow_snapshot_workflow_name_run_id_key"
            ),
        )
    op.create_index(
        "mastra_workflow_snapshot_name_createdat_idx",
        TABLE,
        ["workflow_name", "createdAt"],
        if_not_exists=True,
    )
    op.create_index("mastra_workflow_snapshot_run_id_idx", TABLE, ["run_id"], if_not_exists=True)
    op.create_index(
        "mastra_workflow_snapshot_resourceid_createdat_idx",
        TABLE,
        ["resourceId", "createdAt"],
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table(TABLE)
