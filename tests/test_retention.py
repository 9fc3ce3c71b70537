"""Retention: prune (by age, per domain, in batches, keeping live runs) and
delete_resource (erasure), their bad inputs, session=, the dependent-rows
hook, and prune running while messages are saved."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import Backend
from sqlalchemy import event, text, update
from support import PAST, row_counts, run_concurrently

from mastra_storage import (
    DefaultStorage,
    MastraStorage,
    MySQLStorage,
    PostgresStorage,
    PruneReport,
    ValidationError,
)
from mastra_storage.clock import utc_now
from mastra_storage.dialects import Executor
from mastra_storage.operations import retention
from mastra_storage.orm import WorkflowSnapshotRow

WRITERS = ["sqlite-file", "postgresql", "async-sqlite-file", "async-postgresql"]
SHARED = ["postgresql", "mysql", "async-postgresql", "async-mysql"]
OLD = PAST  # 2020: older than any cutoff used here


def thread(storage: MastraStorage, thread_id: str, resource_id: str, *, at: datetime) -> None:
    """Save (or re-save) a thread whose updatedAt is `at`."""
    storage.save_thread(
        thread={"id": thread_id, "resource_id": resource_id, "created_at": at, "updated_at": at}
    )


def messages(
    storage: MastraStorage, thread_id: str, names: Sequence[str], *, at: datetime | None = None
) -> None:
    storage.save_messages(
        messages=[
            {
                "id": name,
                "thread_id": thread_id,
                "role": "user",
                "content": name,
                **({"created_at": at + timedelta(milliseconds=n)} if at else {}),
            }
            for n, name in enumerate(names)
        ]
    )


def run(
    storage: MastraStorage, run_id: str, *, at: datetime | None, resource_id: str = "r1"
) -> None:
    storage.persist_workflow_snapshot(
        workflow_name="wf",
        run_id=run_id,
        resource_id=resource_id,
        snapshot={"runId": run_id, "status": "success", "context": {}},
    )
    if at is not None:  # backdate it, both columns where PostgreSQL has the twin
        values: dict[str, Any] = {"updated_at": at}
        if storage.engine.dialect.name == "postgresql":
            values["updated_at_z"] = at
        with storage.engine.begin() as conn:
            conn.execute(
                update(WorkflowSnapshotRow)
                .where(WorkflowSnapshotRow.run_id == run_id)
                .values(values)
            )


def score(storage: MastraStorage, score_id: str, *, at: datetime, resource_id: str = "r1") -> None:
    storage.save_score(
        score={
            "id": score_id,
            "scorer_id": "relevance",
            "entity_id": "agent",
            "run_id": "run",
            "score": 0.5,
            "scorer": {"id": "relevance"},
            "entity": {"id": "agent"},
            "source": "LIVE",
            "resource_id": resource_id,
            "created_at": at,
            "updated_at": at,
        }
    )


def evaluation(storage: MastraStorage, name: str, *, at: datetime) -> None:
    storage.save_eval(
        eval={
            "input": name,
            "output": "o",
            "result": {},
            "agent_name": "agent",
            "metric_name": "m",
            "created_at": at,
        }
    )


def message_ids(storage: MastraStorage, thread_id: str) -> list[str]:
    return [m.id for m in storage.list_messages(thread_id=thread_id, per_page=None).messages]


@pytest.fixture
def aged(storage: MastraStorage) -> MastraStorage:
    """old-thread (all old: goes), mixed-thread (old updatedAt, one new message:
    stays), new-thread (new, one old message); a run, a score, an eval of each age."""
    now = utc_now()
    thread(storage, "old-thread", "r1", at=OLD)
    messages(storage, "old-thread", ["o1", "o2", "o3"], at=OLD)
    thread(storage, "mixed-thread", "r1", at=OLD)
    messages(storage, "mixed-thread", ["x1", "x2"], at=OLD)
    messages(storage, "mixed-thread", ["x3"])
    thread(storage, "mixed-thread", "r1", at=OLD)  # updatedAt back in the past
    thread(storage, "new-thread", "r2", at=now)
    messages(storage, "new-thread", ["n1"], at=OLD)
    messages(storage, "new-thread", ["n2"])
    thread(storage, "old-thread", "r1", at=OLD)
    run(storage, "old-run", at=OLD)
    run(storage, "new-run", at=None)
    score(storage, "old-score", at=OLD)
    score(storage, "new-score", at=now)
    evaluation(storage, "old-eval", at=OLD)
    evaluation(storage, "new-eval", at=now)
    return storage


EVERY_OLD = {"messages": 6, "threads": 1, "workflow_runs": 1, "scores": 1, "evals": 1}


def remaining(storage: MastraStorage) -> dict[str, Any]:
    return {
        "threads": sorted(
            t.id
            for t in storage.list_threads(per_page=None).threads  # type: ignore[union-attr]
        ),
        "messages": {
            t: message_ids(storage, t)
            for t in ("old-thread", "mixed-thread", "new-thread")
            if storage.get_thread_by_id(thread_id=t) is not None
        },
        "runs": sorted(r.run_id for r in storage.list_workflow_runs().runs),
        "scores": [s.id for s in storage.list_scores_by_scorer_id(scorer_id="relevance").scores],
        "evals": [e.input for e in storage.get_evals().evals],
    }


def test_prune_deletes_what_is_older_than_the_cutoff(aged: MastraStorage) -> None:
    before = utc_now()
    report = aged.prune(older_than="30d")
    assert isinstance(report, PruneReport) and not report.dry_run
    assert report.counts == EVERY_OLD
    assert report["messages"] == 6 and report.total == 10
    assert report.cutoff is not None
    assert before - timedelta(days=30) <= report.cutoff <= utc_now() - timedelta(days=30)
    assert remaining(aged) == {
        "threads": ["mixed-thread", "new-thread"],
        "messages": {"mixed-thread": ["x3"], "new-thread": ["n2"]},
        "runs": ["new-run"],
        "scores": ["new-score"],
        "evals": ["new-eval"],
    }
    assert aged.prune(older_than=timedelta(days=30)).total == 0  # nothing left to do


def test_prune_dry_run_counts_and_deletes_nothing(aged: MastraStorage) -> None:
    before = row_counts(aged)
    report = aged.prune(older_than="30d", dry_run=True)
    assert report.dry_run and report.counts == EVERY_OLD
    assert row_counts(aged) == before
    only_threads = aged.prune(older_than="30d", domains=["threads"], dry_run=True)
    assert only_threads.counts == {"threads": 1, "messages": 3}
    assert aged.prune(older_than="30d", batch_size=1, dry_run=True).counts == EVERY_OLD


def test_prune_only_the_domains_given(aged: MastraStorage) -> None:
    assert aged.prune(older_than="30d", domains=["scores", "evals"]).counts == {
        "scores": 1,
        "evals": 1,
    }
    assert remaining(aged)["runs"] == ["new-run", "old-run"]
    assert len(remaining(aged)["messages"]["old-thread"]) == 3
    assert aged.prune(older_than="30d", domains=[]).counts == {}


def test_a_thread_goes_with_all_its_messages(aged: MastraStorage) -> None:
    """Threads alone: old-thread and its 3 messages go; mixed-thread (a message
    newer than the cutoff) and its old messages stay."""
    report = aged.prune(older_than="30d", domains=["threads"], batch_size=2)
    assert report.counts == {"threads": 1, "messages": 3}
    assert aged.get_thread_by_id(thread_id="old-thread") is None
    assert aged.list_messages_by_id(message_ids=["o1", "o2", "o3"]) == []
    assert message_ids(aged, "mixed-thread") == ["x1", "x2", "x3"]


def test_a_thread_with_more_messages_than_a_batch(storage: MastraStorage) -> None:
    thread(storage, "big", "r1", at=OLD)
    messages(storage, "big", [f"m{n:02}" for n in range(11)], at=OLD)
    thread(storage, "big", "r1", at=OLD)
    thread(storage, "small", "r1", at=OLD)
    report = storage.prune(older_than="1d", domains=["threads"], batch_size=3)
    assert report.counts == {"threads": 2, "messages": 11}
    assert row_counts(storage)["mastra_messages"] == 0
    assert row_counts(storage)["mastra_threads"] == 0


def test_a_run_holding_a_live_run_lock_is_kept(aged: MastraStorage, backend: Backend) -> None:
    assert aged.try_acquire_workflow_run_lock(workflow_name="wf", run_id="old-run")
    try:
        report = aged.prune(older_than="30d", domains=["workflow_runs"], batch_size=1)
        assert report.counts == {"workflow_runs": 0}
        assert remaining(aged)["runs"] == ["new-run", "old-run"]
        # Another storage on the same database sees the lock too.
        other = backend.make()
        assert other.prune(older_than="30d", domains=["workflow_runs"]).counts == {
            "workflow_runs": 0
        }
    finally:
        aged.release_workflow_run_lock(workflow_name="wf", run_id="old-run")
    assert aged.prune(older_than="30d", domains=["workflow_runs"]).counts == {"workflow_runs": 1}
    assert remaining(aged)["runs"] == ["new-run"]


def write_engine_of(storage: Any) -> Any:
    inner = getattr(storage, "storage", storage)  # BlockingStorage wraps an async one
    engine = inner.engine
    return getattr(engine, "sync_engine", engine)


def test_prune_works_in_batches_each_its_own_transaction(storage: MastraStorage) -> None:
    thread(storage, "t", "r1", at=utc_now())
    messages(storage, "t", [f"m{n}" for n in range(7)], at=OLD)
    commits: list[int] = []
    engine = write_engine_of(storage)

    def count(conn: Any) -> None:
        commits.append(1)

    event.listen(engine, "commit", count)
    try:
        report = storage.prune(older_than="1d", domains=["messages"], batch_size=2)
    finally:
        event.remove(engine, "commit", count)
    assert report.counts == {"messages": 7}
    assert len(commits) >= 4  # 2 + 2 + 2 + 1 messages: at least four transactions
    assert message_ids(storage, "t") == []


def test_prune_in_the_callers_transaction(aged: MastraStorage) -> None:
    before = row_counts(aged)
    with pytest.raises(RuntimeError), aged.session_scope() as session:
        assert aged.prune(older_than="30d", session=session, batch_size=2).counts == EVERY_OLD
        raise RuntimeError("roll back")
    assert row_counts(aged) == before
    with aged.session_scope() as session:
        aged.prune(older_than="30d", session=session)
    assert remaining(aged)["scores"] == ["new-score"]


@pytest.mark.parametrize(
    ("text_", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        (" 90m ", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("500ms", timedelta(milliseconds=500)),
        ("2w", timedelta(weeks=2)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_older_than_text(text_: str, expected: timedelta) -> None:
    assert retention.age_of(text_) == expected


BAD_PRUNES: list[tuple[dict[str, Any], str]] = [
    ({"older_than": "30x"}, "older_than"),
    ({"older_than": "d"}, "older_than"),
    ({"older_than": "-3d"}, "older_than"),
    ({"older_than": "0s"}, "older_than"),
    ({"older_than": timedelta(0)}, "older_than"),
    ({"older_than": timedelta(days=-1)}, "older_than"),
    ({"older_than": None}, "older_than"),
    ({"older_than": 30}, "older_than"),
    ({"older_than": "30d", "domains": "messages"}, "domains"),
    ({"older_than": "30d", "domains": ["messages", "vectors"]}, "domains"),
    ({"older_than": "30d", "domains": None}, "domains"),
    ({"older_than": "30d", "batch_size": 0}, "batch_size"),
    ({"older_than": "30d", "batch_size": True}, "batch_size"),
    ({"older_than": "30d", "batch_size": 10**6}, "batch_size"),
    ({"older_than": "30d", "batch_size": 2.5}, "batch_size"),
    ({"older_than": "30d", "dry_run": "yes"}, "dry_run"),
]


@pytest.mark.parametrize(("arguments", "field"), BAD_PRUNES)
def test_bad_prune_arguments_delete_nothing(
    aged: MastraStorage, arguments: dict[str, Any], field: str
) -> None:
    before = row_counts(aged)
    with pytest.raises(ValidationError) as error:
        aged.prune(**arguments)
    assert error.value.field == field
    assert row_counts(aged) == before


def erasable(storage: MastraStorage) -> None:
    """r1: two threads (one holds a message of r2), working memory, a run, a
    score; r2: a thread holding a message of r1, its own run and score."""
    now = utc_now()
    for name, resource in (("a", "r1"), ("b", "r1"), ("c", "r2")):
        thread(storage, name, resource, at=now)
    messages(storage, "a", ["a1", "a2", "a3"])
    messages(storage, "b", ["b1"])
    storage.save_messages(
        messages=[
            {
                "id": "b-from-r2",
                "thread_id": "b",
                "resource_id": "r2",
                "role": "user",
                "content": "x",
            },
            {
                "id": "c-from-r1",
                "thread_id": "c",
                "resource_id": "r1",
                "role": "user",
                "content": "y",
            },
        ]
    )
    messages(storage, "c", ["c1"])
    storage.update_resource(resource_id="r1", working_memory="# r1")
    storage.update_resource(resource_id="r2", working_memory="# r2")
    run(storage, "run-r1", at=None, resource_id="r1")
    run(storage, "run-r2", at=None, resource_id="r2")
    score(storage, "score-r1", at=now, resource_id="r1")
    score(storage, "score-r2", at=now, resource_id="r2")


ERASED = {
    "messages": 6,
    "threads": 2,
    "workflow_runs": 1,
    "scores": 1,
    "resources": 1,
}


@pytest.mark.parametrize("batch_size", [1000, 1])
def test_delete_resource_erases_everything_of_it(storage: MastraStorage, batch_size: int) -> None:
    erasable(storage)
    report = storage.delete_resource(resource_id="r1", batch_size=batch_size)
    assert report.counts == ERASED
    assert [t.id for t in storage.list_threads(per_page=None).threads] == ["c"]  # type: ignore[union-attr]
    assert message_ids(storage, "c") == ["c1"]
    assert storage.list_messages_by_resource_id(resource_id="r1").messages == []
    assert storage.get_resource_by_id(resource_id="r1") is None
    r2 = storage.get_resource_by_id(resource_id="r2")
    assert r2 is not None and r2.working_memory == "# r2"
    assert [r.run_id for r in storage.list_workflow_runs().runs] == ["run-r2"]
    assert [s.id for s in storage.list_scores_by_scorer_id(scorer_id="relevance").scores] == [
        "score-r2"
    ]
    again = storage.delete_resource(resource_id="r1")
    assert again.total == 0


def test_delete_resource_in_the_callers_transaction(storage: MastraStorage) -> None:
    erasable(storage)
    before = row_counts(storage)
    with pytest.raises(RuntimeError), storage.session_scope() as session:
        assert storage.delete_resource(resource_id="r1", session=session).counts == ERASED
        raise RuntimeError("roll back")
    assert row_counts(storage) == before


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"resource_id": ""}, "resource_id"),
        ({"resource_id": None}, "resource_id"),
        ({"resource_id": 7}, "resource_id"),
        ({"resource_id": "r1", "batch_size": 0}, "batch_size"),
    ],
)
def test_bad_delete_resource_arguments(
    storage: MastraStorage, arguments: dict[str, Any], field: str
) -> None:
    erasable(storage)
    before = row_counts(storage)
    with pytest.raises(ValidationError) as error:
        storage.delete_resource(**arguments)
    assert error.value.field == field
    assert row_counts(storage) == before


@pytest.fixture
def dependent() -> Iterator[dict[str, list[Any]]]:
    """A registered table of rows that belong to messages and resources (as
    the Memory layer's vector entries do); records what it was asked to delete."""
    calls: dict[str, list[Any]] = {"messages": [], "resources": []}

    def of_messages(executor: Executor, message_ids: Sequence[str]) -> int:
        calls["messages"] += list(message_ids)
        return len(message_ids)

    def of_resource(executor: Executor, resource_id: str, limit: int) -> int:
        calls["resources"].append((resource_id, limit))
        return 0

    # Stands in for the Memory layer's own "vectors" registration, restored after.
    previous = {d.name: d for d in retention.dependents()}.get("vectors")
    retention.register_dependent_rows(
        retention.DependentRows("vectors", of_messages=of_messages, of_resource=of_resource)
    )
    yield calls
    retention.unregister_dependent_rows("vectors")
    if previous is not None:
        retention.register_dependent_rows(previous)


def test_dependent_rows_go_with_messages_and_resources(
    storage: MastraStorage, dependent: dict[str, list[Any]]
) -> None:
    erasable(storage)
    report = storage.delete_resource(resource_id="r1", batch_size=2)
    assert report["vectors"] == 6
    assert sorted(dependent["messages"]) == ["a1", "a2", "a3", "b-from-r2", "b1", "c-from-r1"]
    assert dependent["resources"] == [("r1", 2)]
    dependent["messages"].clear()
    messages(storage, "c", ["old"], at=OLD)
    assert storage.prune(older_than="1d").counts["vectors"] == 1
    assert dependent["messages"] == ["old"]


@pytest.mark.parametrize("backend", WRITERS, indirect=True)
def test_prune_while_messages_are_saved_loses_nothing_newer(storage: MastraStorage) -> None:
    """Old threads being pruned receive new messages at the same time: every
    save either lands (its thread and messages stay) or fails with
    NotFoundError (the thread was pruned first); no message newer than the
    cutoff is lost and none is left without its thread."""
    for n in range(6):
        thread(storage, f"t{n}", "r1", at=OLD)
        messages(storage, f"t{n}", [f"t{n}-old{k}" for k in range(5)], at=OLD)
        thread(storage, f"t{n}", "r1", at=OLD)
    calls: list[Any] = [lambda s: s.prune(older_than="1d", batch_size=2) for _ in range(2)]
    for n in range(6):
        for k in range(3):
            calls.append(
                lambda s, n=n, k=k: s.save_messages(
                    messages=[
                        {
                            "id": f"t{n}-new{k}",
                            "thread_id": f"t{n}",
                            "role": "user",
                            "content": "new",
                        }
                    ]
                )
            )
    results = run_concurrently(storage, calls, return_exceptions=True)
    errors = [r for r in results if isinstance(r, Exception)]
    assert all(type(e).__name__ == "NotFoundError" for e in errors), errors
    saved = [r[0].id for r in results[2:] if isinstance(r, list)]
    stored = storage.list_messages_by_id(message_ids=saved)
    assert sorted(m.id for m in stored) == sorted(saved)  # nothing newer was lost
    for message in stored:
        assert storage.get_thread_by_id(thread_id=str(message.thread_id)) is not None
    # No orphans at all, and every old message is gone.
    with storage.engine.connect() as conn:
        orphans = conn.execute(
            text(
                "SELECT COUNT(*) FROM mastra_messages m WHERE NOT EXISTS "
                "(SELECT 1 FROM mastra_threads t WHERE t.id = m.thread_id)"
            )
        ).scalar_one()
        old = conn.execute(text("SELECT COUNT(*) FROM mastra_messages WHERE id LIKE '%-old%'"))
        assert (orphans, old.scalar_one()) == (0, 0)


def old_thread_and_its_pruner(
    storage: MastraStorage, backend: Backend, reports: list[PruneReport]
) -> Any:
    """Thread "t" with message "old", both old; and a call that prunes old
    threads from another storage, adding its report to `reports`."""
    thread(storage, "t", "r1", at=OLD)
    messages(storage, "t", ["old"], at=OLD)
    thread(storage, "t", "r1", at=OLD)
    pruner = backend.make()
    pruner.init()
    return lambda: reports.append(pruner.prune(older_than="1d", domains=["threads"]))


@pytest.mark.parametrize("backend", ["sqlite-file"], indirect=True)
def test_a_save_in_flight_keeps_its_old_thread_from_prune(
    storage: MastraStorage, backend: Backend
) -> None:
    """Prune runs (from another storage) at the moment a save into an old
    thread writes its message: the save has claimed the thread first, so
    prune waits for it and then keeps the thread (its updatedAt is new); the
    message is never left without its thread."""
    import threading

    reports: list[PruneReport] = []
    worker = threading.Thread(target=old_thread_and_its_pruner(storage, backend, reports))

    def before_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if (
            # With schema=, our statements name the schema: "schema".mastra_messages.
            statement.lstrip().upper().startswith("INSERT INTO ")
            and "MASTRA_MESSAGES" in statement.upper().split("(", 1)[0]
            and not worker.ident
        ):
            worker.start()
            worker.join(timeout=2)  # prune runs now, or waits for this save

    event.listen(storage.engine, "before_cursor_execute", before_insert)
    try:
        storage.save_messages(
            messages=[{"id": "new", "thread_id": "t", "role": "user", "content": "hi"}]
        )
    finally:
        event.remove(storage.engine, "before_cursor_execute", before_insert)
    worker.join(timeout=60)
    assert not worker.is_alive() and worker.ident
    assert (reports[0]["threads"], reports[0]["messages"]) == (0, 0)
    assert storage.get_thread_by_id(thread_id="t") is not None
    assert message_ids(storage, "t") == ["old", "new"]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_one_statement_save_in_flight_keeps_its_old_thread_from_prune(
    storage: MastraStorage, backend: Backend
) -> None:
    """PostgreSQL saves messages in one statement that locks their thread
    first. Held up after that (another transaction holds the row of a
    message it updates), it keeps prune (from another storage) waiting for
    the thread, which prune then keeps (its updatedAt is new); the messages
    are never left without their thread."""
    import threading

    reports: list[PruneReport] = []
    prune = old_thread_and_its_pruner(storage, backend, reports)
    saved: list[Any] = []
    now = {"created_at": utc_now()}
    saver = threading.Thread(
        target=lambda: saved.append(
            storage.save_messages(
                messages=[  # each with created_at: one statement (else a transaction)
                    {"id": "old", "thread_id": "t", "role": "user", "content": "again", **now},
                    {"id": "new", "thread_id": "t", "role": "user", "content": "hi", **now},
                ]
            )
        )
    )
    worker = threading.Thread(target=prune)
    with storage.engine.connect() as holder:
        holder.execute(text("SELECT id FROM mastra_messages WHERE id = 'old' FOR UPDATE"))
        saver.start()
        wait_until(lambda: _waiting_for_a_lock(holder) >= 1)  # the save, on 'old'
        worker.start()
        wait_until(lambda: _waiting_for_a_lock(holder) >= 2)  # and prune, on the thread
        holder.rollback()
    saver.join(timeout=60)
    worker.join(timeout=60)
    assert not saver.is_alive() and not worker.is_alive()
    assert [m.id for m in saved[0]] == ["old", "new"]
    assert (reports[0]["threads"], reports[0]["messages"]) == (0, 0)
    assert storage.get_thread_by_id(thread_id="t") is not None
    assert message_ids(storage, "t") == ["old", "new"]


def _waiting_for_a_lock(conn: Any) -> int:
    """Server processes of this database waiting for a lock now."""
    with conn.engine.connect() as other:
        return int(
            other.execute(
                text(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def wait_until(condition: Any, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


@pytest.mark.parametrize("backend", WRITERS, indirect=True)
def test_delete_resource_while_others_write(storage: MastraStorage) -> None:
    """Erasing r1 while r2 (and r1) keep saving: r2 loses nothing; a save into
    one of r1's threads either lands before the erasure reaches that thread
    (and goes with it) or fails with NotFoundError; no message is left
    without its thread."""
    now = utc_now()
    for n in range(4):
        thread(storage, f"a{n}", "r1", at=now)
        messages(storage, f"a{n}", [f"a{n}-{k}" for k in range(4)])
        thread(storage, f"b{n}", "r2", at=now)
    calls: list[Any] = [lambda s: s.delete_resource(resource_id="r1", batch_size=3)]
    for n in range(4):
        for k in range(3):
            calls.append(
                lambda s, n=n, k=k: s.save_messages(
                    messages=[
                        {"id": f"b{n}-{k}", "thread_id": f"b{n}", "role": "user", "content": "r2"}
                    ]
                )
            )
            calls.append(
                lambda s, n=n, k=k: s.save_messages(
                    messages=[
                        {"id": f"a{n}-x{k}", "thread_id": f"a{n}", "role": "user", "content": "r1"}
                    ]
                )
            )
    results = run_concurrently(storage, calls, return_exceptions=True)
    errors = [r for r in results if isinstance(r, Exception)]
    assert all(type(e).__name__ == "NotFoundError" for e in errors), errors
    r2 = storage.list_messages_by_resource_id(resource_id="r2", per_page=None).messages
    assert sorted(m.id for m in r2) == sorted(f"b{n}-{k}" for n in range(4) for k in range(3))
    with storage.engine.connect() as conn:
        orphans = conn.execute(
            text(
                "SELECT COUNT(*) FROM mastra_messages m WHERE NOT EXISTS "
                "(SELECT 1 FROM mastra_threads t WHERE t.id = m.thread_id)"
            )
        ).scalar_one()
    assert orphans == 0
    # Once nothing writes for r1 any more, a second pass leaves nothing of it.
    storage.delete_resource(resource_id="r1")
    assert storage.list_threads(resource_id="r1").total == 0
    assert storage.list_messages_by_resource_id(resource_id="r1").messages == []


def sync_worker(backend: Backend, lock_backend: str) -> MastraStorage:
    """Another process's storage on the backend's database (sync, so it can
    run in a thread while the storage under test is busy)."""
    if backend.name == "sqlite-memory":
        return backend.make(lock_backend=lock_backend)
    if backend.name == "postgresql":
        return PostgresStorage(url=backend.url, schema=backend.schema, lock_backend=lock_backend)
    if backend.name == "mysql":
        return MySQLStorage(url=backend.url, lock_backend=lock_backend)
    return DefaultStorage(url=backend.url, lock_backend=lock_backend)


LOCKERS = [
    ("sqlite-memory", "memory"),
    ("sqlite-file", "lease"),
    ("async-sqlite-file", "lease"),
    *[(db, kind) for db in SHARED for kind in ("advisory", "lease")],
]


@pytest.mark.parametrize("locked_before", [False, True], ids=["never-locked", "locked-before"])
@pytest.mark.parametrize(("backend", "lock_backend"), LOCKERS, indirect=["backend"])
def test_a_run_locked_while_prune_deletes_it_is_kept_or_locked_after(
    backend: Backend, lock_backend: str, locked_before: bool
) -> None:
    """A worker takes a run's lock at the moment prune has found the run's lock
    free and is about to delete it: either the worker's lock is refused (or
    waits until prune has committed, and takes a lock on a run that is gone),
    or prune keeps the run. Never does a worker hold the lock of a run while
    prune deletes it. Afterwards the lock is free again (or the worker's)."""
    import threading

    pruner = backend.make(lock_backend=lock_backend)
    pruner.init()
    run(pruner, "old-run", at=OLD)
    worker = sync_worker(backend, lock_backend)
    worker.init()
    if locked_before:  # the run has a lock row (released), or none at all
        assert worker.try_acquire_workflow_run_lock(workflow_name="wf", run_id="old-run")
        worker.release_workflow_run_lock(workflow_name="wf", run_id="old-run")
    assert worker.get_workflow_run_lock(workflow_name="wf", run_id="old-run") is None
    acquired: list[bool] = []
    seen_at_commit: list[list[bool]] = []
    thread = threading.Thread(
        target=lambda: acquired.append(
            worker.try_acquire_workflow_run_lock(workflow_name="wf", run_id="old-run")
        )
    )

    def before_delete(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        words = statement.split("WHERE", 1)[0].upper()
        deletes_runs = words.lstrip().startswith("DELETE") and "WORKFLOW_SNAPSHOT" in words
        if deletes_runs and not thread.ident:
            thread.start()  # the lock is taken now, refused, or waits for prune's commit
            thread.join(timeout=1)

    def at_commit(conn: Any) -> None:
        if thread.ident and not seen_at_commit:
            seen_at_commit.append(list(acquired))

    engine = write_engine_of(pruner)
    event.listen(engine, "before_cursor_execute", before_delete)
    event.listen(engine, "commit", at_commit)
    try:
        report = pruner.prune(older_than="30d", domains=["workflow_runs"])
    finally:
        event.remove(engine, "before_cursor_execute", before_delete)
        event.remove(engine, "commit", at_commit)
    thread.join(timeout=60)
    try:
        assert thread.ident and not thread.is_alive()
        kept = pruner.get_workflow_run_by_id(run_id="old-run", workflow_name="wf") is not None
        assert report.counts == {"workflow_runs": 0 if kept else 1}
        if seen_at_commit[0] == [True]:  # the worker held the lock before prune committed
            assert kept
        # Prune's hold ended with its transaction: the lock can be taken (or is the worker's).
        assert acquired[0] or worker.try_acquire_workflow_run_lock(
            workflow_name="wf", run_id="old-run"
        )
    finally:
        worker.release_workflow_run_lock(workflow_name="wf", run_id="old-run")
        worker.close()


@pytest.mark.parametrize("backend", [*WRITERS, "sqlite-memory", "mysql"], indirect=True)
def test_prune_leaves_no_lock_row_behind(storage: MastraStorage) -> None:
    """Prune locks the lock rows of the runs it deletes, making one for a run
    that has none; those it made are gone again when it is done."""
    run(storage, "never-locked", at=OLD)
    run(storage, "locked-once", at=OLD)
    assert storage.try_acquire_workflow_run_lock(workflow_name="wf", run_id="locked-once")
    storage.release_workflow_run_lock(workflow_name="wf", run_id="locked-once")
    before = row_counts(storage)["mastra_workflow_run_locks"]
    assert storage.prune(older_than="1d", domains=["workflow_runs"]).counts == {"workflow_runs": 2}
    assert row_counts(storage)["mastra_workflow_run_locks"] == before
    assert storage.try_acquire_workflow_run_lock(workflow_name="wf", run_id="never-locked")
