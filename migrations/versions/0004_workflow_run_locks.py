"""Workflow run locks: mastra_workflow_run_locks (ours; Mastra has no such table).

One row per run that was ever locked: holder, expiry, the backend that took it,
and the fencing counter, which release never resets.

Revision ID: 0004_workflow_run_locks
Revises: 0003_evals
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mastra_storage.migrate import create_table_if_missing
from mastra_storage.orm.types import column_types

revision: str = "0004_workflow_run_locks"
down_revision: str | Sequence[str] | None = "0003_evals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "mastra_workflow_run_locks"


def upgrade() -> None:
    types = column_types(op.get_bind().dialect)
    timestamp = types.timestamp
    create_table_if_missing(
        TABLE,
        sa.Column("workflow_name", types.id, nullable=False),
        sa.Column("run_id", types.id, nullable=False),
        sa.Column("holder", types.text, nullable=True),
        sa.Column("backend", types.text, nullable=False),
        sa.Column("fencing_token", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", timestamp, nullable=True),
        sa.Column("expires_at", timestamp, nullable=True),
        sa.PrimaryKeyConstraint("workflow_name", "run_id", name=f"{TABLE}_pkey"),
    )


def downgrade() -> None:
    op.drop_table(TABLE)
