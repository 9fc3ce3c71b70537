"""Evaluation results: mastra_evals, with a surrogate key Mastra ignores.

Revision ID: 0003_evals
Revises: 0002_workflow_snapshots
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mastra_storage.migrate import create_index_if_missing, create_table_if_missing
from mastra_storage.orm.types import column_types

revision: str = "0003_evals"
down_revision: str | Sequence[str] | None = "0002_workflow_snapshots"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "mastra_evals"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    pg, types = dialect == "postgresql", column_types(op.get_bind().dialect)
    timestamp, json_type, text, ident = types.timestamp, types.json, types.text, types.id
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(TABLE):
        create_table_if_missing(
            TABLE,
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                primary_key=True,
                autoincrement=True,
            ),
            sa.Column("input", text, nullable=False),
            sa.Column("output", text, nullable=False),
            sa.Column("result", json_type, nullable=False),
            sa.Column("agent_name", ident, nullable=False),
            sa.Column("metric_name", text, nullable=False),
            sa.Column("instructions", text, nullable=False),
            sa.Column("test_info", json_type, nullable=True),
            sa.Column("global_run_id", ident, nullable=False),
            sa.Column("run_id", ident, nullable=False),
            sa.Column("created_at", timestamp, nullable=False),
            sa.Column("createdAt", timestamp, nullable=True),
            *(
                [
                    sa.Column(
                        "created_atZ", sa.DateTime(timezone=True), server_default=sa.func.now()
                    ),
                    sa.Column(
                        "createdAtZ", sa.DateTime(timezone=True), server_default=sa.func.now()
                    ),
                ]
                if pg
                else []
            ),
            sa.PrimaryKeyConstraint("id", name="mastra_evals_pkey"),
        )
    elif "id" not in {column["name"] for column in inspector.get_columns(TABLE)}:
        # A table Mastra created has no key; give it ours (existing rows numbered).
        if pg:
            op.add_column(TABLE, sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False))
            op.create_primary_key("mastra_evals_pkey", TABLE, ["id"])
        else:
            # SQLite cannot add a primary key in place: the table is rebuilt, its
            # rows copied over and numbered by the INTEGER PRIMARY KEY (rowid).
            with op.batch_alter_table(TABLE, recreate="always") as batch:
                batch.add_column(
                    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
                    insert_before="input",
                )
    create_index_if_missing(
        "mastra_evals_agent_name_created_at_idx", TABLE, ["agent_name", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_table(TABLE)
