"""Workflow snapshot status and thread id indexes (Mastra 1.x); repair of
timestamps Mastra wrote in a non-UTC host's local time (PostgreSQL).

PostgreSQL gets Mastra's own expression indexes, with Mastra's names and
expressions (`@mastra/pg` 1.27 creates the same ones; one that Mastra already
made, under its schema-prefixed name, is adopted instead of duplicated):
`(workflow_name, (snapshot ->> 'status'), "createdAt" DESC)` and the thread id
embedded in the snapshot (`getSnapshotMemoryInfo`'s two layouts). SQLite gets
the status index on `json_extract(snapshot, '$.status')`. MySQL/MariaDB get
neither (MariaDB indexes no expression): a status filter reads the runs of the
workflow through `(workflow_name, createdAt)`.

The repair (`mastra_storage.migrate.repair_local_timestamps`) sets a plain
`timestamp` column to its `"<col>Z"` twin's instant where the two differ by a
time zone offset; it is not undone by the downgrade (the repaired values are
the true ones).

Revision ID: 0006_snapshot_indexes_utc_repair
Revises: 0005_scores
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from mastra_storage.migrate import postgres_index_like, repair_local_timestamps

revision: str = "0006_snapshot_indexes_utc_repair"
down_revision: str | Sequence[str] | None = "0005_scores"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "mastra_workflow_snapshot"
STATUS_INDEX = "mastra_workflow_snapshot_name_status_createdat_idx"
THREAD_INDEX = "mastra_workflow_snapshot_threadid_idx"

# Mastra's expressions, character for character: the queries use the same
# text (mastra_storage.dialects), so the planner matches them to the index.
PG_STATUS = "(workflow_name, (snapshot ->> 'status'), \"createdAt\" DESC)"
PG_THREAD_ID = (
    'COALESCE(jsonb_path_query_first(snapshot, \'$.context.* ? (@.status == "suspended")'
    ".suspendPayload.__streamState.messageList.memoryInfo.threadId') #>> '{}', "
    "snapshot #>> '{context,input,messageListState,memoryInfo,threadId}')"
)
SQLITE_STATUS = "(workflow_name, json_extract(snapshot, '$.status'), \"createdAt\" DESC)"


def _pg_index_like(fragment: str) -> bool:
    """Whether the snapshot table already has an index whose definition holds
    `fragment` (one Mastra created under a schema-prefixed name)."""
    return postgres_index_like(op.get_bind(), TABLE, fragment)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "mysql":
        return
    if bind.dialect.name == "postgresql":
        repair_local_timestamps(bind)
        if not _pg_index_like("->> 'status'::text"):
            op.execute(f'CREATE INDEX IF NOT EXISTS "{STATUS_INDEX}" ON {TABLE} {PG_STATUS}')
        if not _pg_index_like("jsonb_path_query_first"):
            op.execute(f'CREATE INDEX IF NOT EXISTS "{THREAD_INDEX}" ON {TABLE} (({PG_THREAD_ID}))')
    else:
        op.execute(f'CREATE INDEX IF NOT EXISTS "{STATUS_INDEX}" ON {TABLE} {SQLITE_STATUS}')


def downgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        return
    op.execute(f'DROP INDEX IF EXISTS "{THREAD_INDEX}"')
    op.execute(f'DROP INDEX IF EXISTS "{STATUS_INDEX}"')
