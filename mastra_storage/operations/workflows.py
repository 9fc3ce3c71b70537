"""Workflows domain (Mastra's `workflows` store): run snapshots, their
listing, and the atomic step-result and state updates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..clock import monotonic_clock, utc_now
from ..dialects import Executor
from ..domain import WorkflowRun, WorkflowRuns, check_paging, require_aware
from ..errors import ValidationError
from ..locks import check_fencing
from ..repositories import WorkflowRepository
from ._inputs import optional_dict, optional_string, optional_text, require_text

# -- workflow snapshots -----------------------------------------------------------


def persist_workflow_snapshot(
    session: Executor,
    *,
    workflow_name: str,
    run_id: str,
    snapshot: Mapping[str, Any],
    resource_id: str | None = None,
    fencing_token: int | None = None,
) -> None:
    """Upsert the run's snapshot; with `fencing_token`, only while no newer
    lock holder exists for the run (checked, and the lock row held, in this
    transaction before the write)."""
    require_text(workflow_name, "workflow_name")
    require_text(run_id, "run_id")
    value = optional_dict(snapshot, "snapshot")
    if value is None:
        raise ValidationError("snapshot must be a mapping", field="snapshot")
    if fencing_token is not None:
        check_fencing(session, workflow_name, run_id, fencing_token)
    WorkflowRepository(session).persist(
        workflow_name=workflow_name,
        run_id=run_id,
        snapshot=value,
        resource_id=optional_text(resource_id, "resource_id"),
        # Strictly increasing within a process: runs created one after the
        # other list newest first even within one millisecond.
        now=monotonic_clock.next(),
    )


def load_workflow_snapshot(
    session: Executor, *, workflow_name: str, run_id: str
) -> dict[str, Any] | None:
    require_text(workflow_name, "workflow_name")
    require_text(run_id, "run_id")
    return WorkflowRepository(session).load(workflow_name, run_id)


def list_workflow_runs(
    session: Executor,
    *,
    workflow_name: str | None = None,
    resource_id: str | None = None,
    status: str | None = None,
    from_date: datetime | None = None,
    to_date: datetime | None = None,
    page: int | None = None,
    per_page: int | None = None,
) -> WorkflowRuns:
    check_paging(page, per_page)
    optional_string(status, "status")
    runs, total = WorkflowRepository(session).list_runs(
        workflow_name=optional_text(workflow_name, "workflow_name"),
        resource_id=optional_text(resource_id, "resource_id"),
        status=status,
        from_date=require_aware(from_date, field="from_date"),
        to_date=require_aware(to_date, field="to_date"),
        page=page,
        per_page=per_page,
    )
    return WorkflowRuns(runs=runs, total=total)


def get_workflow_run_by_id(
    session: Executor, *, run_id: str, workflow_name: str | None = None
) -> WorkflowRun | None:
    require_text(run_id, "run_id")
    return WorkflowRepository(session).find(run_id, optional_text(workflow_name, "workflow_name"))


def delete_workflow_run_by_id(session: Executor, *, run_id: str, workflow_name: str) -> None:
    require_text(run_id, "run_id")
    require_text(workflow_name, "workflow_name")
    WorkflowRepository(session).delete(run_id, workflow_name)


def update_workflow_results(
    session: Executor,
    *,
    workflow_name: str,
    run_id: str,
    step_id: str,
    result: Any,
    request_context: Mapping[str, Any] | None = None,
    fencing_token: int | None = None,
) -> dict[str, Any]:
    """`snapshot["context"][step_id] = result` (and `request_context` merged into
    `snapshot["requestContext"]`) as one locked read-modify-write; returns the
    context, `{}` when the run does not exist."""
    require_text(workflow_name, "workflow_name")
    require_text(run_id, "run_id")
    require_text(step_id, "step_id")
    extra = optional_dict(request_context, "request_context")
    if fencing_token is not None:
        check_fencing(session, workflow_name, run_id, fencing_token)
    repository = WorkflowRepository(session)
    snapshot = repository.load_for_update(workflow_name, run_id)
    if snapshot is None:
        return {}
    context = dict(snapshot.get("context") or {})
    context[step_id] = result
    snapshot["context"] = context
    if extra:
        snapshot["requestContext"] = {**(snapshot.get("requestContext") or {}), **extra}
    repository.replace_snapshot(workflow_name, run_id, snapshot, utc_now())
    return context


def update_workflow_state(
    session: Executor,
    *,
    workflow_name: str,
    run_id: str,
    opts: Mapping[str, Any],
    fencing_token: int | None = None,
) -> dict[str, Any] | None:
    """Shallow merge of `opts` into the snapshot, as one locked read-modify-write;
    returns the new snapshot, None when the run does not exist."""
    require_text(workflow_name, "workflow_name")
    require_text(run_id, "run_id")
    changes = optional_dict(opts, "opts")
    if changes is None:
        raise ValidationError("opts must be a mapping", field="opts")
    if fencing_token is not None:
        check_fencing(session, workflow_name, run_id, fencing_token)
    repository = WorkflowRepository(session)
    snapshot = repository.load_for_update(workflow_name, run_id)
    if snapshot is None:
        return None
    snapshot = {**snapshot, **changes}
    repository.replace_snapshot(workflow_name, run_id, snapshot, utc_now())
    return snapshot
