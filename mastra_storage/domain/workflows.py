"""Workflows domain models: run snapshots and their listing."""

from __future__ import annotations

from typing import Any

from ._base import DomainModel, UTCDatetime


class WorkflowRun(DomainModel):
    """A workflow run (Mastra's `WorkflowRun`, table `mastra_workflow_snapshot`):
    its snapshot (a JSON object) and aware UTC datetimes."""

    workflow_name: str
    run_id: str
    resource_id: str | None = None
    snapshot: dict[str, Any]
    created_at: UTCDatetime
    updated_at: UTCDatetime


class WorkflowRuns(DomainModel):
    """Runs of `list_workflow_runs`, newest first, and how many match in all."""

    runs: list[WorkflowRun]
    total: int
