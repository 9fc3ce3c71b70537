"""Workflow run snapshots: `mastra_workflow_snapshot`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from ..dialects import features, upsert
from ..domain import WorkflowRun
from ..orm import WorkflowSnapshotRow
from ._common import twin_pairs, twin_updates, with_twins

TABLE = cast(Table, WorkflowSnapshotRow.__table__)
PAIRS = twin_pairs(TABLE)
COLUMNS = (
    WorkflowSnapshotRow.workflow_name,
    WorkflowSnapshotRow.run_id,
    WorkflowSnapshotRow.resource_id,
    WorkflowSnapshotRow.snapshot,
    WorkflowSnapshotRow.created_at,
    WorkflowSnapshotRow.updated_at,
)


def to_run(row: Sequence[Any]) -> WorkflowRun:
    workflow_name, run_id, resource_id, snapshot, created_at, updated_at = row
    return WorkflowRun.model_construct(
        workflow_name=workflow_name,
        run_id=run_id,
        resource_id=resource_id,
        snapshot=snapshot,
        created_at=created_at,
        updated_at=updated_at,
    )


class WorkflowRepository:
    """Reads and writes workflow snapshots in the caller's session; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.features = features(session)

    def persist(
        self,
        *,
        workflow_name: str,
        run_id: str,
        snapshot: dict[str, Any],
        resource_id: str | None,
        now: datetime,
    ) -> None:
        """Upsert on (workflow_name, run_id): `created_at` stays as first saved,
        `updated_at` becomes `now`; a None `resource_id` keeps the stored one."""
        values = with_twins(
            self.features,
            PAIRS,
            {
                "workflow_name": workflow_name,
                "run_id": run_id,
                "resourceId": resource_id,
                "snapshot": snapshot,
                "createdAt": now,
                "updatedAt": now,
            },
        )
        stmt = upsert(
            self.features,
            TABLE,
            keys=["workflow_name", "run_id"],
            update_columns=twin_updates(self.features, PAIRS, ["snapshot", "updatedAt"]),
            set_extra={
                "resourceId": lambda excluded: func.coalesce(
                    excluded["resourceId"], WorkflowSnapshotRow.resource_id
                )
            },
        )
        self.session.execute(stmt.values(values))

    def load(self, workflow_name: str, run_id: str) -> dict[str, Any] | None:
        stmt = select(WorkflowSnapshotRow.snapshot).where(
            WorkflowSnapshotRow.workflow_name == workflow_name,
            WorkflowSnapshotRow.run_id == run_id,
        )
        value: dict[str, Any] | None = self.session.execute(stmt).scalar_one_or_none()
        return value

    def get(self, workflow_name: str, run_id: str) -> WorkflowRun | None:
        stmt = select(*COLUMNS).where(
            WorkflowSnapshotRow.workflow_name == workflow_name,
            WorkflowSnapshotRow.run_id == run_id,
        )
        row = self.session.execute(stmt).first()
        return None if row is None else to_run(row)
