"""Workflow snapshots: mastra_workflow_snapshot.

Revision ID: 0002_workflow_snapshots
Revises: 0001_memory_tables
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mastra_storage.migrate import create_index_if_missing, create_table_if_missing
from mastra_storage.orm.types import column_types

revision: str = "0002_workflow_snapshots"
down_revision: str | Sequence[str] | None = "0001_memory_tables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "mastra_workflow_snapshot"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    pg, types = dialect == "postgresql", column_types(op.get_bind().dialect)
    timestamp = types.timestamp
    twins = (
        [
            sa.Column("createdAtZ", sa.DateTime(timezone=True), server_default=sa.func.now()),
            sa.Column("updatedAtZ", sa.DateTime(timezone=True), server_default=sa.func.now()),
        ]
        if pg
        else []
    )
    create_table_if_missing(
        TABLE,
        sa.Column("workflow_name", types.id, nullable=False),
        sa.Column("run_id", types.id, nullable=False),
        sa.Column("resourceId", types.id, nullable=True),
        sa.Column("snapshot", types.json, nullable=False),
        sa.Column("createdAt", timestamp, nullable=False),
        sa.Column("updatedAt", timestamp, nullable=False),
        *twins,
        sa.UniqueConstraint(
            "workflow_name", "run_id", name="mastra_workflow_snapshot_workflow_name_run_id_key"
        ),
    )
    create_index_if_missing(
        "mastra_workflow_snapshot_name_createdat_idx", TABLE, ["workflow_name", "createdAt"]
    )
    create_index_if_missing("mastra_workflow_snapshot_run_id_idx", TABLE, ["run_id"])
    create_index_if_missing(
        "mastra_workflow_snapshot_resourceid_createdat_idx", TABLE, ["resourceId", "createdAt"]
    )


def downgrade() -> None:
    op.drop_table(TABLE)
