"""Workflow snapshots: persist (upsert) and load."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select, update
from support import PAST, assert_utc

from mastra_storage import MastraStorage
from mastra_storage.clock import utc_now
from mastra_storage.orm import WorkflowSnapshotRow

Row = WorkflowSnapshotRow


def snapshot(status: str = "running", **extra: Any) -> dict[str, Any]:
    """A WorkflowRunState as Mastra writes it."""
    return {
        "runId": "run-1",
        "status": status,
        "value": {},
        "context": {
            "input": {"city": "Paris"},
            "step-1": {"status": "success", "output": {"temp": 21.5}, "startedAt": 1},
        },
        "activePaths": [{"stepPath": ["step-2"], "stepId": "step-2", "status": status}],
        "suspendedPaths": {},
        "waitingPaths": {},
        "serializedStepGraph": [{"type": "step", "step": {"id": "step-1"}}],
        "timestamp": 1764157817385,
        **extra,
    }


def stored_row(storage: MastraStorage, workflow_name: str, run_id: str) -> Any:
    """The row as the ORM table reads it."""
    with storage.session_scope(write=False) as session:
        return session.execute(
            select(Row.resource_id, Row.created_at, Row.updated_at).where(
                Row.workflow_name == workflow_name, Row.run_id == run_id
            )
        ).one()


def backdate(storage: MastraStorage, when: datetime) -> None:
    """Move every snapshot's timestamps into the past, so "now" is visible."""
    values: dict[str, Any] = {"created_at": when, "updated_at": when}
    if storage.features.timestamp_twins:
        values |= {"created_at_z": when, "updated_at_z": when}
    with storage.session_scope() as session:
        session.execute(update(Row).values(values))


def test_persist_load_round_trip(storage: MastraStorage) -> None:
    before = utc_now()
    storage.persist_workflow_snapshot(
        workflow_name="weather", run_id="run-1", snapshot=snapshot(), resource_id="user-1"
    )
    assert storage.load_workflow_snapshot(workflow_name="weather", run_id="run-1") == snapshot()
    resource_id, created_at, updated_at = stored_row(storage, "weather", "run-1")
    assert resource_id == "user-1"
    assert_utc(created_at)
    assert before <= created_at == updated_at <= utc_now()


def test_load_unknown_is_none(storage: MastraStorage) -> None:
    storage.persist_workflow_snapshot(workflow_name="weather", run_id="run-1", snapshot={})
    assert storage.load_workflow_snapshot(workflow_name="weather", run_id="run-2") is None
    assert storage.load_workflow_snapshot(workflow_name="other", run_id="run-1") is None
    assert storage.load_workflow_snapshot(workflow_name="weather", run_id="run-1") == {}


def test_upsert_keeps_created_at_and_bumps_updated_at(storage: MastraStorage) -> None:
    storage.persist_workflow_snapshot(
        workflow_name="weather", run_id="run-1", snapshot=snapshot(), resource_id="user-1"
    )
    storage.persist_workflow_snapshot(workflow_name="weather", run_id="run-2", snapshot={"n": 2})
    backdate(storage, PAST)
    before = utc_now()
    done = snapshot("success", result={"temp": 21.5})
    storage.persist_workflow_snapshot(workflow_name="weather", run_id="run-1", snapshot=done)

    assert storage.load_workflow_snapshot(workflow_name="weather", run_id="run-1") == done
    resource_id, created_at, updated_at = stored_row(storage, "weather", "run-1")
    assert resource_id == "user-1"  # not given again: kept
    assert created_at == PAST
    assert before <= updated_at <= utc_now()
    assert_utc(updated_at)
    # The other run is untouched.
    assert stored_row(storage, "weather", "run-2")[1:] == (PAST, PAST)
    with storage.session_scope(write=False) as session:
        assert session.scalar(select(Row.snapshot).where(Row.run_id == "run-2")) == {"n": 2}


def test_same_run_id_in_two_workflows_is_two_runs(storage: MastraStorage) -> None:
    storage.persist_workflow_snapshot(workflow_name="a", run_id="run-1", snapshot={"w": "a"})
    storage.persist_workflow_snapshot(workflow_name="b", run_id="run-1", snapshot={"w": "b"})
    assert storage.load_workflow_snapshot(workflow_name="a", run_id="run-1") == {"w": "a"}
    assert storage.load_workflow_snapshot(workflow_name="b", run_id="run-1") == {"w": "b"}


def test_bad_arguments_are_refused(storage: MastraStorage) -> None:
    for kwargs in (
        {"workflow_name": "", "run_id": "r", "snapshot": {}},
        {"workflow_name": "w", "run_id": " ", "snapshot": {}},
        {"workflow_name": "w", "run_id": "r", "snapshot": None},
        {"workflow_name": "w", "run_id": "r", "snapshot": ["not", "a", "mapping"]},
    ):
        with pytest.raises(ValueError):
            storage.persist_workflow_snapshot(**kwargs)
    assert storage.load_workflow_snapshot(workflow_name="w", run_id="r") is None
