"""Workflows domain models: run snapshots and their listing."""

from __future__ import annotations

from typing import Any

from ._base import DomainModel, UTCDatetime

WORKFLOW_RUN_STATUSES = (
    "running",
    "success",
    "failed",
    "tripwire",
    "suspended",
    "waiting",
    "pending",
    "canceled",
    "bailed",
    "paused",
    "skipped",
)
"""The values of a snapshot's `status` (Mastra: `WorkflowRunStatus`, @mastra/core
1.x). `list_workflow_runs(status=...)` takes any string, as Mastra does; the
command line offers these."""


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
