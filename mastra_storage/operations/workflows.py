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
from ..values import json_object_as_is, json_value
from ._inputs import optional_dict, optional_string, optional_text, require_text
from ._marks import point_read, point_write

# -- workflow snapshots -----------------------------------------------------------


@point_write("fencing_token")
def persist_workflow_snapshot(
    session: Executor,
    *,
    workflow_name: str,
    run_id: str,
    snapshot: Mapping[str, Any],
    resource_id: str | None = None,
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
    fencing_token: int | None = None,
) -> None:
    """Upsert the run's snapshot; `created_at` (default now) is used on insert
    and kept on update, `updated_at` (default now) is written; with
    `fencing_token`, only while no newer lock holder exists for the run
    (checked, and the lock row held, in this transaction before the write)."""
    require_text(workflow_name, "workflow_name")
    require_text(run_id, "run_id")
    if type(snapshot) is dict and fencing_token is None:
        # Encoded before anything is awaited or sent, and not kept: checked
        # as it is, not copied. (A fencing check awaits a read first, during
        # which the caller's dict could change: copied then, as elsewhere.)
        value: dict[str, Any] | None = json_object_as_is(snapshot, "snapshot")
    else:
        value = optional_dict(snapshot, "snapshot")
    if value is None:
        raise ValidationError("snapshot must be a mapping", field="snapshot")
    created = require_aware(created_at, field="created_at")
    updated = require_aware(updated_at, field="updated_at")
    if fencing_token is not None:
        check_fencing(session, workflow_name, run_id, fencing_token)
    # Strictly increasing within a process: runs created one after the
    # other list newest first even within one millisecond.
    now = monotonic_clock.next() if created is None or updated is None else None
    WorkflowRepository(session).persist(
        workflow_name=workflow_name,
        run_id=run_id,
        snapshot=value,
        resource_id=optional_text(resource_id, "resource_id"),
        created_at=created or now,  # type: ignore[arg-type]
        updated_at=updated or now,  # type: ignore[arg-type]
    )


@point_read
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
    thread_id: str | None = None,
    status: str | None = None,
    from_date: datetime | None = None,
    to_date: datetime | None = None,
    page: int | None = None,
    per_page: int | None = None,
) -> WorkflowRuns:
    check_paging(page, per_page, page_may_be_none=True)
    runs, total = WorkflowRepository(session).list_runs(
        workflow_name=optional_text(workflow_name, "workflow_name"),
        resource_id=optional_text(resource_id, "resource_id"),
        thread_id=optional_text(thread_id, "thread_id"),
        status=optional_string(status, "status"),
        from_date=require_aware(from_date, field="from_date"),
        to_date=require_aware(to_date, field="to_date"),
        page=page,
        per_page=per_page,
    )
    return WorkflowRuns(runs=runs, total=total)


@point_read
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
    """`snapshot["context"][step_id]` set to `result` merged with the stored step
    result (`merge_step_result`), and `request_context` merged into
    `snapshot["requestContext"]`, as one locked read-modify-write; returns the
    context, `{}` when the run does not exist."""
    require_text(workflow_name, "workflow_name")
    require_text(run_id, "run_id")
    require_text(step_id, "step_id")
    extra = optional_dict(request_context, "request_context")
    result = json_value(result, "result")
    if fencing_token is not None:
        check_fencing(session, workflow_name, run_id, fencing_token)
    repository = WorkflowRepository(session)
    snapshot = repository.load_for_update(workflow_name, run_id)
    if snapshot is None:
        return {}
    context = dict(snapshot.get("context") or {})
    context[step_id] = merge_step_result(context.get(step_id), result)
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
    returns the new snapshot, None when the run does not exist. With
    `opts["expected_status"]` (or `expectedStatus`), a compare-and-set: written
    only while the stored `status` equals it, else None; the key is never stored."""
    require_text(workflow_name, "workflow_name")
    require_text(run_id, "run_id")
    changes = optional_dict(opts, "opts")
    if changes is None:
        raise ValidationError("opts must be a mapping", field="opts")
    expected = _expected_statuses(changes)
    if fencing_token is not None:
        check_fencing(session, workflow_name, run_id, fencing_token)
    repository = WorkflowRepository(session)
    snapshot = repository.load_for_update(workflow_name, run_id)
    if snapshot is None:
        return None
    if expected is not None and snapshot.get("status") not in expected:
        return None  # compare-and-set lost: nothing written
    snapshot = {**snapshot, **changes}
    repository.replace_snapshot(workflow_name, run_id, snapshot, utc_now())
    return snapshot


def _expected_statuses(changes: dict[str, Any]) -> list[str] | None:
    """Takes `expected_status` / `expectedStatus` (a status or a list of them)
    out of `changes`: the statuses the run must be in, None for no guard."""
    found: list[str] | None = None
    for key in ("expected_status", "expectedStatus"):
        if key not in changes:
            continue
        value = changes.pop(key)
        if value is None:
            continue
        values = list(value) if isinstance(value, list | tuple) else [value]
        if not values or not all(isinstance(v, str) for v in values):
            raise ValidationError(
                f"opts.{key} must be a status or a non-empty list of statuses",
                field=f"opts.{key}",
            )
        if found is not None and set(found) != set(values):
            raise ValidationError(
                "opts gives expected_status and expectedStatus with different values",
                field=f"opts.{key}",
            )
        found = values
    return found


PENDING_MARKER = "__mastra_pending__"


def _is_pending(value: Any) -> bool:
    """Mastra's forEach placeholder: exactly `{"__mastra_pending__": True}`."""
    return isinstance(value, dict) and len(value) == 1 and value.get(PENDING_MARKER) is True


def _resettable(value: Any) -> bool:
    """A stored forEach slot that a pending marker may reset: empty, pending,
    or a suspended step result."""
    if value is None or _is_pending(value):
        return True
    return (
        isinstance(value, dict)
        and value.get("status") == "suspended"
        and ("suspendPayload" in value or "suspendedAt" in value)
    )


def merge_step_result(stored: Any, result: Any) -> Any:
    """A step result merged into the stored one as Mastra's
    `mergeWorkflowStepResult` does.

    When both have a list `output` (a forEach step), slot by slot: a `None`
    slot keeps the stored value; a pending marker resets (to `None`) only an
    empty, pending or suspended stored slot; any other value replaces, unless
    the write carries a pending marker (a stale resume write), which then
    changes nothing but those resets. Otherwise `result` replaces the stored
    result."""
    if not (
        isinstance(stored, dict)
        and isinstance(stored.get("output"), list)
        and isinstance(result, dict)
        and isinstance(result.get("output"), list)
    ):
        return result
    old: list[Any] = stored["output"]
    new: list[Any] = result["output"]
    merged = list(old)
    pending = any(_is_pending(value) for value in new)
    for i, value in enumerate(new):
        if _is_pending(value):
            if i >= len(old) or _resettable(old[i]):
                _put(merged, i, None)
        elif value is not None and not pending:
            _put(merged, i, value)
        elif i >= len(old):
            _put(merged, i, None)
    return {**stored, **({} if pending else result), "output": merged}


def _put(items: list[Any], index: int, value: Any) -> None:
    while len(items) <= index:
        items.append(None)
    items[index] = value


def supports_concurrent_updates() -> bool:
    """`update_workflow_results` / `update_workflow_state` are atomic across
    processes (Mastra: `supportsConcurrentUpdates()`): always True here."""
    return True
