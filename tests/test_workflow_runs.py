"""Workflow runs: listing, lookup, delete, and atomic snapshot updates."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest
from conftest import Backend
from support import at

from mastra_storage import DefaultStorage, MastraStorage, PostgresStorage, ValidationError


def snapshot(status: str, **extra: Any) -> dict[str, Any]:
    return {"runId": "r", "status": status, "value": {}, "context": {}, **extra}


@pytest.fixture
def runs(storage: MastraStorage) -> MastraStorage:
    odd_text = "quote \" apostrophe ' backslash \\ escape \\u0000 nul \x00 unicode é 🚀 \ue000"
    for i, (name, status) in enumerate(
        [("alpha", "running"), ("alpha", "success"), ("beta", "running"), ("alpha", "failed")]
    ):
        storage.persist_workflow_snapshot(
            workflow_name=name,
            run_id=f"run-{i}",
            snapshot=snapshot(status, note=odd_text, **{odd_text: [odd_text]}),
            resource_id="alice" if i < 2 else "bob",
        )
    return storage


def test_list_newest_first_with_total(runs: MastraStorage) -> None:
    listed = runs.list_workflow_runs()
    assert [r.run_id for r in listed.runs] == ["run-3", "run-2", "run-1", "run-0"]
    assert listed.total == 4


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"workflow_name": "alpha"}, ["run-3", "run-1", "run-0"]),
        ({"resource_id": "bob"}, ["run-3", "run-2"]),
        ({"status": "running"}, ["run-2", "run-0"]),
        ({"status": "running", "workflow_name": "alpha"}, ["run-0"]),
        ({"status": 'quote "'}, []),
    ],
)
def test_filters(runs: MastraStorage, filters: dict[str, Any], expected: list[str]) -> None:
    listed = runs.list_workflow_runs(**filters)
    assert [r.run_id for r in listed.runs] == expected
    assert listed.total == len(expected)


def test_status_filter_and_round_trip_with_odd_text(runs: MastraStorage) -> None:
    [run] = runs.list_workflow_runs(status="success").runs
    odd = run.snapshot["note"]
    assert "\x00" in odd and "\ue000" in odd and '"' in odd
    assert run.snapshot[odd] == [odd]


def test_paged_only_with_page_and_per_page(runs: MastraStorage) -> None:
    assert len(runs.list_workflow_runs(per_page=1).runs) == 4
    assert len(runs.list_workflow_runs(page=1).runs) == 4
    paged = runs.list_workflow_runs(page=1, per_page=3)
    assert [r.run_id for r in paged.runs] == ["run-0"]
    assert paged.total == 4
    with pytest.raises(ValueError, match="per_page"):
        runs.list_workflow_runs(page=0, per_page=-1)


def test_inclusive_date_bounds(storage: MastraStorage) -> None:
    storage.persist_workflow_snapshot(workflow_name="w", run_id="a", snapshot=snapshot("running"))
    run = storage.get_workflow_run_by_id(run_id="a")
    assert run is not None
    created = run.created_at
    assert storage.list_workflow_runs(from_date=created, to_date=created).total == 1
    assert storage.list_workflow_runs(from_date=at(10**8)).total == 0
    assert storage.list_workflow_runs(to_date=at(-(10**8))).total == 0
    with pytest.raises(ValidationError, match="from_date"):
        storage.list_workflow_runs(from_date=created.replace(tzinfo=None))


def test_get_and_delete_by_id(runs: MastraStorage) -> None:
    run = runs.get_workflow_run_by_id(run_id="run-1")
    assert run is not None and run.workflow_name == "alpha" and run.resource_id == "alice"
    assert runs.get_workflow_run_by_id(run_id="run-1", workflow_name="beta") is None
    assert runs.get_workflow_run_by_id(run_id="nope") is None
    runs.delete_workflow_run_by_id(run_id="run-1", workflow_name="beta")  # wrong name: no-op
    assert runs.get_workflow_run_by_id(run_id="run-1") is not None
    runs.delete_workflow_run_by_id(run_id="run-1", workflow_name="alpha")
    assert runs.get_workflow_run_by_id(run_id="run-1") is None
    assert runs.list_workflow_runs().total == 3


def test_update_results_and_state(storage: MastraStorage) -> None:
    storage.persist_workflow_snapshot(
        workflow_name="w", run_id="r", snapshot=snapshot("running", requestContext={"a": 1})
    )
    context = storage.update_workflow_results(
        workflow_name="w", run_id="r", step_id="s1", result={"status": "success", "output": 1},
        request_context={"b": 2},
    )  # fmt: skip
    assert context == {"s1": {"status": "success", "output": 1}}
    stored = storage.load_workflow_snapshot(workflow_name="w", run_id="r")
    assert stored is not None
    assert stored["context"] == context and stored["requestContext"] == {"a": 1, "b": 2}
    state = storage.update_workflow_state(
        workflow_name="w", run_id="r", opts={"status": "success", "result": {"x": 1}}
    )
    assert state is not None and state["status"] == "success" and state["context"] == context
    assert storage.load_workflow_snapshot(workflow_name="w", run_id="r") == state
    assert (
        storage.update_workflow_results(workflow_name="w", run_id="nope", step_id="s", result=1)
        == {}
    )
    assert storage.update_workflow_state(workflow_name="w", run_id="nope", opts={"a": 1}) is None
    assert storage.load_workflow_snapshot(workflow_name="w", run_id="nope") is None


def open_storage(name: str, url: str, schema: str | None) -> MastraStorage:
    if name == "postgresql":
        return PostgresStorage(url=url, schema=schema)
    return DefaultStorage(url=url)


def hammer(
    name: str, url: str, schema: str | None, worker: int, rounds: int, kind: str, start: Any
) -> None:
    storage = open_storage(name, url, schema)
    start.wait()
    for n in range(rounds):
        if kind == "results":
            storage.update_workflow_results(
                workflow_name="w", run_id="r", step_id=f"step-{worker}", result={"n": n}
            )
        else:
            storage.update_workflow_state(workflow_name="w", run_id="r", opts={f"key-{worker}": n})
    storage.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"], indirect=True)
@pytest.mark.parametrize("kind", ["results", "state"])
def test_parallel_updates_from_8_processes_all_land(backend: Backend, kind: str) -> None:
    storage = backend.make()
    storage.init()
    storage.persist_workflow_snapshot(workflow_name="w", run_id="r", snapshot=snapshot("running"))
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(
            target=hammer, args=(backend.name, backend.url, backend.schema, w, 50, kind, start)
        )
        for w in range(8)
    ]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(timeout=120)
    assert [p.exitcode for p in workers] == [0] * 8
    final = storage.load_workflow_snapshot(workflow_name="w", run_id="r")
    assert final is not None
    if kind == "results":
        assert final["context"] == {f"step-{w}": {"n": 49} for w in range(8)}
    else:
        assert {k: v for k, v in final.items() if k.startswith("key-")} == {
            f"key-{w}": 49 for w in range(8)
        }
