"""Scores: Mastra 1.x mastra_scorers, with the indexes our list calls use.

A table that a Mastra (TypeScript) service already created is adopted as it
is: columns that older Mastra versions lacked are added (nullable, as Mastra's
own `alterTable` adds them), then our indexes.

Revision ID: 0005_scores
Revises: 0004_workflow_run_locks
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mastra_storage.migrate import create_index_if_missing, create_table_if_missing
from mastra_storage.orm.types import column_types

revision: str = "0005_scores"
down_revision: str | Sequence[str] | None = "0004_workflow_run_locks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "mastra_scorers"
TEXT, JSON, ID = "text", "json", "id"
# Mastra's SCORERS_SCHEMA, in its column order: (name, kind, NOT NULL here).
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("scorerId", ID, True),
    ("traceId", ID, False),
    ("spanId", ID, False),
    ("runId", ID, True),
    ("scorer", JSON, True),
    ("preprocessStepResult", JSON, False),
    ("extractStepResult", JSON, False),
    ("analyzeStepResult", JSON, False),
    ("score", "float", True),
    ("reason", TEXT, False),
    ("metadata", JSON, False),
    ("preprocessPrompt", TEXT, False),
    ("extractPrompt", TEXT, False),
    ("generateScorePrompt", TEXT, False),
    ("generateReasonPrompt", TEXT, False),
    ("analyzePrompt", TEXT, False),
    ("reasonPrompt", TEXT, False),
    ("input", JSON, False),
    ("output", JSON, False),
    ("additionalContext", JSON, False),
    ("requestContext", JSON, False),
    ("entityType", ID, False),
    ("entity", JSON, False),
    ("entityId", ID, False),
    ("source", TEXT, True),
    ("resourceId", ID, False),
    ("threadId", ID, False),
    ("organizationId", TEXT, False),
    ("projectId", TEXT, False),
    ("batchId", TEXT, False),
    ("datasetId", TEXT, False),
    ("datasetItemId", TEXT, False),
)
INDEXES = {
    "mastra_scorers_scorerid_createdat_id_idx": ["scorerId", "createdAt", "id"],
    "mastra_scorers_runid_createdat_id_idx": ["runId", "createdAt", "id"],
    "mastra_scorers_entityid_entitytype_createdat_id_idx": [
        "entityId",
        "entityType",
        "createdAt",
        "id",
    ],
    "mastra_scorers_traceid_spanid_createdat_id_idx": ["traceId", "spanId", "createdAt", "id"],
    "mastra_scorers_resourceid_idx": ["resourceId"],
    "mastra_scorers_updatedat_idx": ["updatedAt"],
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    pg, kinds = dialect == "postgresql", column_types(op.get_bind().dialect)
    types: dict[str, sa.types.TypeEngine] = {  # type: ignore[type-arg]
        TEXT: kinds.text,
        ID: kinds.id,
        JSON: kinds.json,
        "float": kinds.float,
    }
    timestamp = kinds.timestamp
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(TABLE):
        create_table_if_missing(
            TABLE,
            sa.Column("id", kinds.id, nullable=False),
            *(
                sa.Column(name, types[kind], nullable=not required)
                for name, kind, required in COLUMNS
            ),
            sa.Column("createdAt", timestamp, nullable=False),
            sa.Column("updatedAt", timestamp, nullable=False),
            *(
                [
                    sa.Column(
                        "createdAtZ", sa.DateTime(timezone=True), server_default=sa.func.now()
                    ),
                    sa.Column(
                        "updatedAtZ", sa.DateTime(timezone=True), server_default=sa.func.now()
                    ),
                ]
                if pg
                else []
            ),
            sa.PrimaryKeyConstraint("id", name="mastra_scorers_pkey"),
        )
    else:
        # Mastra's table from an older version: add what it lacks, as Mastra does.
        present = {column["name"] for column in inspector.get_columns(TABLE)}
        for name, kind, _ in COLUMNS:
            if name not in present:
                op.add_column(TABLE, sa.Column(name, types[kind], nullable=True))
    for name, columns in INDEXES.items():
        create_index_if_missing(name, TABLE, columns)


def downgrade() -> None:
    op.drop_table(TABLE)
