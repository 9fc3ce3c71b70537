"""Workflows domain models: run snapshots and their listing."""

from __future__ import annotations

from typing import Any

from ._base import DomainModel, UTCDatetime


class WorkflowRun(DomainModel):
    workflow_name: str
    run_id: str
    resource_id: str | None = None
    snapshot: dict[str, Any]
    created_at: UTCDatetime
    updated_at: UTCDatetime


class WorkflowRuns(DomainModel):
    runs: list[WorkflowRun]
    total: int
