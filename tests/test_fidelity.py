"""Mastra 1.x semantics that the library got wrong (issue 11, cases 1, 2 and
4 to 8): tenant isolation of `include`, `create_thread` on an existing id,
`has_more` with `include`, forEach result merging, the `expected_status`
compare-and-set and the `signal` role."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from support import at, ids, make_thread, message, row_counts

from mastra_storage import ConflictError, MastraStorage, ValidationError, migrate

# -- 1. include never crosses resources ---------------------------------------------


@pytest.fixture
def two_tenants(storage: MastraStorage) -> MastraStorage:
    make_thread(storage, "ta", "alice")
    make_thread(storage, "tb", "bob")
    storage.save_messages(
        messages=[message(f"a{i}", "ta", created_at=at(i)) for i in range(3)]
        + [message(f"b{i}", "tb", created_at=at(i)) for i in range(3)]
    )
    return storage


def test_include_of_another_resources_message_is_not_returned(
    two_tenants: MastraStorage,
) -> None:
    page = two_tenants.list_messages(
        thread_id="ta",
        resource_id="alice",
        include=[{"id": "b1", "with_previous_messages": 1, "with_next_messages": 1}],
    )
    assert ids(page.messages) == ["a0", "a1", "a2"]
    by_resource = two_tenants.list_messages_by_resource_id(
        resource_id="alice", per_page=0, include=[{"id": "b1", "with_next_messages": 5}]
    )
    assert ids(by_resource.messages) == []


def test_include_windows_stay_within_the_resource(two_tenants: MastraStorage) -> None:
    # A message of bob's saved into alice's thread: her windows skip it.
    two_tenants.save_messages(
        messages=[message("intruder", "ta", created_at=at(1.5), resource_id="bob")]
    )
    page = two_tenants.list_messages(
        thread_id="ta",
        resource_id="alice",
        per_page=0,
        include=[{"id": "a0", "with_next_messages": 2}, {"id": "a2", "with_previous_messages": 2}],
    )
    assert ids(page.messages) == ["a0", "a1", "a2"]
    # Without resource_id the window is the thread's, as before.
    unbounded = two_tenants.list_messages(
        thread_id="ta", per_page=0, include=[{"id": "a0", "with_next_messages": 2}]
    )
    assert ids(unbounded.messages) == ["a0", "a1", "intruder"]


# -- 2. create_thread refuses an existing id ----------------------------------------


def test_create_thread_with_an_existing_id_is_a_conflict(storage: MastraStorage) -> None:
    storage.create_thread(resource_id="customer-a", thread_id="t1", title="Mine", metadata={"k": 1})
    storage.save_messages(messages=[message("m1", "t1")])
    original = storage.get_thread_by_id(thread_id="t1")
    before = row_counts(storage)
    with pytest.raises(ConflictError):
        storage.create_thread(resource_id="customer-b", thread_id="t1")
    assert storage.get_thread_by_id(thread_id="t1") == original
    assert storage.get_thread_by_id(thread_id="t1", resource_id="customer-b") is None
    assert row_counts(storage) == before
    assert ids(storage.list_messages(thread_id="t1", resource_id="customer-a").messages) == ["m1"]
    # save_thread stays the insert-or-replace.
    saved = storage.save_thread(thread={"id": "t1", "resource_id": "customer-a", "title": "New"})
    assert saved.title == "New"


def test_create_thread_checks_its_input(storage: MastraStorage) -> None:
    for bad in ({"resource_id": ""}, {"resource_id": "r", "thread_id": " "}, {"resource_id": 3}):
        with pytest.raises(ValidationError):
            storage.create_thread(**bad)
    assert row_counts(storage)["mastra_threads"] == 0


# -- 5. has_more considers include --------------------------------------------------


def test_has_more_is_false_when_include_covers_the_rest(storage: MastraStorage) -> None:
    make_thread(storage, "t")
    storage.save_messages(messages=[message(f"m{i}", "t", created_at=at(i)) for i in range(5)])
    window = [{"id": "m2", "with_next_messages": 2}]
    for count_total in (True, False):
        page = storage.list_messages(
            thread_id="t", per_page=2, include=window, count_total=count_total
        )
        assert ids(page.messages) == [f"m{i}" for i in range(5)]
        assert page.has_more is False
        # Not everything covered: more follow.
        partial = storage.list_messages(
            thread_id="t",
            per_page=2,
            include=[{"id": "m3"}],
            count_total=count_total,
        )
        assert ids(partial.messages) == ["m0", "m1", "m3"]
        assert partial.has_more is True
    nothing_paged = storage.list_messages(
        thread_id="t", per_page=0, include=[{"id": "m0", "with_next_messages": 4}]
    )
    assert len(nothing_paged.messages) == 5
    assert nothing_paged.has_more is False
    # An included message outside the date filter does not count as covering.
    dated = storage.list_messages(
        thread_id="t",
        per_page=1,
        date_range={"start": at(3)},
        include=[{"id": "m0", "with_next_messages": 1}],
    )
    assert ids(dated.messages) == ["m0", "m1", "m3"]
    assert dated.has_more is True


# -- 6. forEach results merge slot by slot -------------------------------------------


def _run(storage: MastraStorage, step: Any = None) -> None:
    context: dict[str, Any] = {"input": {}}
    if step is not None:
        context["each"] = step
    storage.persist_workflow_snapshot(
        workflow_name="wf",
        run_id="r1",
        snapshot={"runId": "r1", "status": "running", "context": context},
    )


def _step(storage: MastraStorage) -> Any:
    snap = storage.load_workflow_snapshot(workflow_name="wf", run_id="r1")
    assert snap is not None
    return snap["context"]["each"]


def test_foreach_iterations_merge_slot_by_slot(storage: MastraStorage) -> None:
    _run(storage)
    update = storage.update_workflow_results
    update(workflow_name="wf", run_id="r1", step_id="each", result={"output": ["X", None]})
    context = update(
        workflow_name="wf",
        run_id="r1",
        step_id="each",
        result={"status": "success", "output": [None, "Y"]},
    )
    assert context["each"] == {"status": "success", "output": ["X", "Y"]}
    assert _step(storage) == {"status": "success", "output": ["X", "Y"]}


def test_a_stale_pending_write_keeps_completed_slots(storage: MastraStorage) -> None:
    _run(storage, {"status": "success", "output": ["A", "B"]})
    storage.update_workflow_results(
        workflow_name="wf",
        run_id="r1",
        step_id="each",
        result={"status": "running", "output": [{"__mastra_pending__": True}, None]},
    )
    assert _step(storage) == {"status": "success", "output": ["A", "B"]}


def test_a_pending_marker_resets_a_suspended_or_empty_slot(storage: MastraStorage) -> None:
    suspended = {"status": "suspended", "suspendPayload": {"why": "approval"}}
    _run(storage, {"status": "suspended", "output": [suspended, "B"]})
    pending = {"__mastra_pending__": True}
    storage.update_workflow_results(
        workflow_name="wf",
        run_id="r1",
        step_id="each",
        result={"status": "running", "output": [pending, "ignored", pending]},
    )
    # Marker writes reset only what may be reset, and carry nothing else.
    assert _step(storage) == {"status": "suspended", "output": [None, "B", None]}
    # Not both lists: the result replaces the stored one, as before.
    storage.update_workflow_results(
        workflow_name="wf", run_id="r1", step_id="each", result={"output": {"n": 1}}
    )
    assert _step(storage) == {"output": {"n": 1}}


# -- 7. expected_status is a compare-and-set -----------------------------------------


@pytest.mark.parametrize("key", ["expected_status", "expectedStatus"])
def test_expected_status_guards_the_write(storage: MastraStorage, key: str) -> None:
    _run(storage)
    refused = storage.update_workflow_state(
        workflow_name="wf", run_id="r1", opts={"status": "success", key: "suspended"}
    )
    assert refused is None
    stored = storage.load_workflow_snapshot(workflow_name="wf", run_id="r1")
    assert stored is not None and stored["status"] == "running"
    written = storage.update_workflow_state(
        workflow_name="wf", run_id="r1", opts={"status": "success", key: ["suspended", "running"]}
    )
    assert written is not None and written["status"] == "success"
    stored = storage.load_workflow_snapshot(workflow_name="wf", run_id="r1")
    assert stored == written
    assert "expected_status" not in stored and "expectedStatus" not in stored


def test_expected_status_must_be_statuses(storage: MastraStorage) -> None:
    _run(storage)
    for bad in ({"expectedStatus": 3}, {"expected_status": []}, {"expected_status": [None]}):
        with pytest.raises(ValidationError) as error:
            storage.update_workflow_state(workflow_name="wf", run_id="r1", opts=bad)
        assert error.value.field is not None and "expected" in error.value.field
    with pytest.raises(ValidationError):
        storage.update_workflow_state(
            workflow_name="wf",
            run_id="r1",
            opts={"expected_status": "running", "expectedStatus": "failed"},
        )
    stored = storage.load_workflow_snapshot(workflow_name="wf", run_id="r1")
    assert stored is not None and stored["status"] == "running"


# -- 8. the signal role ---------------------------------------------------------------


def test_signal_role_round_trips(storage: MastraStorage) -> None:
    make_thread(storage, "t")
    storage.save_messages(messages=[message("s1", "t", role="signal")])
    (stored,) = storage.list_messages_by_id(message_ids=["s1"])
    assert stored.role == "signal"
    storage.update_messages(messages=[{"id": "s1", "role": "user"}])
    storage.update_messages(messages=[{"id": "s1", "role": "signal"}])
    assert storage.list_messages_by_id(message_ids=["s1"])[0].role == "signal"


# -- 4. rows Mastra wrote in a non-UTC host's local time (PostgreSQL) ----------------


def test_rows_written_in_local_time_read_by_their_true_instant(storage: MastraStorage) -> None:
    make_thread(storage, "t", created_at=at(0))
    storage.save_messages(messages=[message(f"m{i}", "t", created_at=at(i)) for i in range(3)])
    window = {"start": at(1), "end": at(1)}
    if storage.features.timestamp_twins:
        # Older @mastra/pg on a UTC+2 host: plain columns 2 h ahead of the twins.
        with storage.engine.begin() as conn:
            conn.execute(
                text('UPDATE mastra_messages SET "createdAt" = "createdAt" + interval \'2 hours\'')
            )
            conn.execute(
                text(
                    'UPDATE mastra_threads SET "createdAt" = "createdAt" - interval \'5 hours\', '
                    '"updatedAt" = "updatedAt" + interval \'5 hours 45 minutes\''
                )
            )
        assert storage.list_messages(thread_id="t", date_range=window).messages == []
        assert migrate.repair_local_timestamps(storage.engine) == 5
    else:
        assert migrate.repair_local_timestamps(storage.engine) == 0  # no twins to trust
    assert ids(storage.list_messages(thread_id="t", date_range=window).messages) == ["m1"]
    assert [m.created_at for m in storage.list_messages(thread_id="t").messages] == [
        at(0),
        at(1),
        at(2),
    ]
    thread = storage.get_thread_by_id(thread_id="t")
    assert thread is not None and thread.created_at == at(0)
    assert migrate.repair_local_timestamps(storage.engine) == 0
