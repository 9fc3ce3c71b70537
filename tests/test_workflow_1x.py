"""Workflow calls of Mastra 1.x: the `thread_id` filter of `list_workflow_runs`,
`created_at` / `updated_at` on `persist_workflow_snapshot`, and
`supports_concurrent_updates()`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from support import PAST, at

from mastra_storage import MastraStorage, ValidationError
from mastra_storage.clock import utc_now


def suspended_agent_run(thread_id: str, status: str = "suspended") -> dict[str, Any]:
    """An agentic-loop run suspended in a step whose stream state names the thread."""
    memory_info = {"threadId": thread_id, "resourceId": "user-1"}
    return {
        "runId": "r",
        "status": status,
        "context": {
            "input": {"prompt": "hi"},
            "tool-step": {
                "status": "suspended",
                "suspendPayload": {"__streamState": {"messageList": {"memoryInfo": memory_info}}},
            },
        },
    }


def durable_run(thread_id: str, status: str = "running") -> dict[str, Any]:
    """A durable agentic-loop run: the thread sits in the input's message list state."""
    return {
        "runId": "r",
        "status": status,
        "context": {"input": {"messageListState": {"memoryInfo": {"threadId": thread_id}}}},
    }


@pytest.fixture
def runs(storage: MastraStorage) -> MastraStorage:
    for i, snap in enumerate(
        [
            suspended_agent_run("thread-a"),
            durable_run("thread-a"),
            durable_run("thread-b", "success"),
            suspended_agent_run("thread-b"),
            {"runId": "r", "status": "running", "context": {}, "threadId": "thread-a"},
            # A step that is no longer suspended names no thread any more.
            {
                "runId": "r",
                "status": "running",
                "context": {
                    "x": {**suspended_agent_run("thread-a")["context"]["tool-step"]}
                    | {"status": "success"}
                },
            },
        ]
    ):
        storage.persist_workflow_snapshot(
            workflow_name="agent" if i < 4 else "other",
            run_id=f"run-{i}",
            snapshot=snap,
            created_at=at(i),
        )
    return storage


def test_thread_id_filter_reads_mastras_two_layouts(runs: MastraStorage) -> None:
    listed = runs.list_workflow_runs(thread_id="thread-a")
    assert [r.run_id for r in listed.runs] == ["run-1", "run-0"]
    assert listed.total == 2
    assert [r.run_id for r in runs.list_workflow_runs(thread_id="thread-b").runs] == [
        "run-3",
        "run-2",
    ]
    assert runs.list_workflow_runs(thread_id="nobody").runs == []


def test_thread_id_combines_with_the_other_filters(runs: MastraStorage) -> None:
    def run_ids(**filters: Any) -> list[str]:
        return [r.run_id for r in runs.list_workflow_runs(**filters).runs]

    assert run_ids(thread_id="thread-b", status="success") == ["run-2"]
    assert run_ids(thread_id="thread-b", status="suspended", workflow_name="agent") == ["run-3"]
    assert run_ids(thread_id="thread-a", workflow_name="other") == []
    assert run_ids(thread_id="thread-a", from_date=at(1)) == ["run-1"]
    paged = runs.list_workflow_runs(thread_id="thread-a", page=1, per_page=1)
    assert ([r.run_id for r in paged.runs], paged.total) == (["run-0"], 2)


@pytest.mark.parametrize("bad", ["", "  ", 3, ["thread-a"]])
def test_thread_id_must_be_text(runs: MastraStorage, bad: Any) -> None:
    with pytest.raises(ValidationError) as error:
        runs.list_workflow_runs(thread_id=bad)
    assert error.value.field == "thread_id"


def test_persist_with_created_and_updated_at(storage: MastraStorage) -> None:
    storage.persist_workflow_snapshot(
        workflow_name="wf",
        run_id="r1",
        snapshot={"status": "running"},
        created_at=PAST,
        updated_at=at(5),
    )
    run = storage.get_workflow_run_by_id(run_id="r1")
    assert run is not None and (run.created_at, run.updated_at) == (PAST, at(5))
    # On update the first created_at stays; updated_at is the given one, or now.
    storage.persist_workflow_snapshot(
        workflow_name="wf", run_id="r1", snapshot={"status": "success"}, created_at=at(9)
    )
    before = utc_now()
    run = storage.get_workflow_run_by_id(run_id="r1")
    assert run is not None and run.created_at == PAST
    assert run.snapshot == {"status": "success"}
    assert run.updated_at <= before
    assert run.updated_at > at(5)
    # Only updated_at given: a new run's created_at is now.
    storage.persist_workflow_snapshot(workflow_name="wf", run_id="r2", snapshot={}, updated_at=PAST)
    run = storage.get_workflow_run_by_id(run_id="r2")
    assert run is not None and run.updated_at == PAST and run.created_at >= before


@pytest.mark.parametrize(
    "bad", [datetime(2026, 1, 1), "2026-01-01T00:00:00Z", 1764157817385], ids=str
)
@pytest.mark.parametrize("field", ["created_at", "updated_at"])
def test_persist_refuses_bad_timestamps(storage: MastraStorage, field: str, bad: Any) -> None:
    with pytest.raises(ValidationError) as error:
        storage.persist_workflow_snapshot(
            workflow_name="wf", run_id="r1", snapshot={}, **{field: bad}
        )
    assert error.value.field == field
    assert storage.get_workflow_run_by_id(run_id="r1") is None


def test_supports_concurrent_updates(storage: MastraStorage) -> None:
    assert storage.supports_concurrent_updates() is True
