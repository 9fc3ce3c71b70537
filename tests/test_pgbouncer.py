"""Through a real PgBouncer in transaction mode (issue #9, item 8): every data
method and the lease locks, with `schema=`, sync and async, several workers at
once, and server connections shared between clients (the pool is smaller
than the number of workers), so a statement prepared by one client, or a
session setting, would surface in another's transaction.

The suite starts its own PgBouncer (tests/pgbouncer.py). Without one it
skips, except with CI=true, where that fails the run.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import IN_CI, BlockingStorage, PostgresSchemas
from pgbouncer import PgBouncer, running_pgbouncer
from support import message

from mastra_storage import AsyncPostgresStorage, PostgresStorage

WF = "wf"
WORKERS = 4
ROUNDS = 3


@pytest.fixture(scope="module")
def pgbouncer(postgres_url: str) -> Iterator[PgBouncer]:
    try:
        context = running_pgbouncer(postgres_url, pool_size=2)
        bouncer = context.__enter__()
    except RuntimeError as error:
        if IN_CI:
            pytest.fail(f"PgBouncer: {error}; CI=true requires it", pytrace=False)
        pytest.skip(f"PgBouncer: {error}")
    try:
        yield bouncer
    finally:
        context.__exit__(None, None, None)


def tour(storage: Any, prefix: str) -> None:
    """Every data method and the lease lock calls once, checking the results."""
    resource, thread_id, run_id = f"{prefix}-res", f"{prefix}-t", f"{prefix}-run"
    storage.create_thread(resource_id=resource, thread_id=thread_id, title="a", metadata={"k": 1})
    storage.save_thread(thread={"id": f"{prefix}-t2", "resource_id": resource, "title": "x"})
    assert storage.get_thread_by_id(thread_id=thread_id).title == "a"
    assert storage.update_thread(id=thread_id, title="b", metadata={"j": 2}).metadata == {
        "k": 1,
        "j": 2,
    }
    assert storage.list_threads(resource_id=resource, metadata={"k": 1}).total == 1
    assert storage.list_threads_by_resource_id(resource_id=resource).total == 2
    storage.save_messages(messages=[message(f"{prefix}-m{i}", thread_id) for i in range(3)])
    page = storage.list_messages(
        thread_id=thread_id, include=[{"id": f"{prefix}-m1", "with_previous_messages": 1}]
    )
    assert page.total == 3
    assert storage.list_messages_by_resource_id(resource_id=resource).total == 3
    assert len(storage.list_messages_by_id(message_ids=[f"{prefix}-m0", f"{prefix}-m1"])) == 2
    storage.update_messages(messages=[{"id": f"{prefix}-m0", "content": {"metadata": {"x": 1}}}])
    storage.delete_messages(message_ids=[f"{prefix}-m2"])
    assert storage.list_messages(thread_id=thread_id).total == 2
    storage.save_resource(resource={"id": resource, "working_memory": "wm"})
    storage.update_resource(resource_id=resource, metadata={"a": 1})
    assert storage.get_resource_by_id(resource_id=resource).working_memory == "wm"

    assert storage.try_acquire_workflow_run_lock(workflow_name=WF, run_id=run_id)
    lock = storage.get_workflow_run_lock(workflow_name=WF, run_id=run_id)
    assert lock is not None and lock.backend == "lease"
    assert storage.renew_workflow_run_lock(workflow_name=WF, run_id=run_id)
    assert run_id in [held.run_id for held in storage.list_workflow_run_locks(workflow_name=WF)]
    storage.persist_workflow_snapshot(
        workflow_name=WF,
        run_id=run_id,
        snapshot={"status": "running", "context": {}},
        resource_id=resource,
        fencing_token=lock.fencing_token,
    )
    storage.release_workflow_run_lock(workflow_name=WF, run_id=run_id)
    with storage.workflow_run_lock(workflow_name=WF, run_id=run_id, heartbeat=False) as held:
        storage.update_workflow_results(
            workflow_name=WF,
            run_id=run_id,
            step_id="s1",
            result={"status": "success", "output": 1},
            fencing_token=held.fencing_token,
        )
    assert storage.update_workflow_state(
        workflow_name=WF, run_id=run_id, opts={"status": "success"}
    )
    assert storage.load_workflow_snapshot(workflow_name=WF, run_id=run_id)["status"] == "success"
    assert storage.list_workflow_runs(workflow_name=WF, resource_id=resource).total == 1
    assert storage.get_workflow_run_by_id(run_id=run_id, workflow_name=WF) is not None
    storage.delete_workflow_run_by_id(run_id=run_id, workflow_name=WF)
    assert storage.load_workflow_snapshot(workflow_name=WF, run_id=run_id) is None

    an_eval = {
        "input": "i",
        "output": "o",
        "result": {"score": 1.0},
        "agent_name": prefix,
        "metric_name": "m",
        "instructions": "",
        "global_run_id": "g",
        "run_id": run_id,
    }
    storage.save_eval(eval=an_eval)
    storage.save_evals(evals=[an_eval, an_eval])
    assert storage.get_evals(agent_name=prefix).total == 3
    assert len(storage.get_evals_by_agent_name(agent_name=prefix)) == 3

    clone = storage.clone_thread(source_thread_id=thread_id, new_thread_id=f"{prefix}-c")
    assert len(clone.cloned_messages) == 2
    moved = storage.update_thread_resource_id(thread_id=f"{prefix}-c", resource_id=f"{resource}-2")
    assert moved.resource_id == f"{resource}-2"
    updated = storage.update_thread_metadata(id=thread_id, update=lambda old: {**old, "n": 1})
    assert updated.metadata["n"] == 1
    assert storage.supports_concurrent_updates()
    score = {
        "id": f"{prefix}-score",
        "scorer_id": prefix,
        "entity_id": "agent-1",
        "entity_type": "AGENT",
        "run_id": run_id,
        "input": [{"role": "user", "content": "q"}],
        "output": {"text": "a"},
        "score": 0.5,
        "scorer": {"id": prefix},
        "entity": {"id": "agent-1"},
        "source": "LIVE",
        "trace_id": f"{prefix}-trace",
        "span_id": "span",
    }
    storage.save_score(score=score)
    assert storage.get_score_by_id(id=f"{prefix}-score") is not None
    assert storage.list_scores_by_scorer_id(scorer_id=prefix).total == 1
    assert storage.list_scores_by_run_id(run_id=run_id).total == 1
    assert storage.list_scores_by_entity_id(entity_id="agent-1", entity_type="AGENT").total >= 1
    assert storage.list_scores_by_span(trace_id=f"{prefix}-trace", span_id="span").total == 1
    storage.delete_thread(thread_id=thread_id)
    assert storage.get_thread_by_id(thread_id=thread_id) is None


def run_workers(make: Any, label: str) -> None:
    """`WORKERS` threads, each with a storage of its own, each touring `ROUNDS`
    times; every failure is collected and reported."""
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        storage = make()
        try:
            for r in range(ROUNDS):
                tour(storage, f"{label}-w{n}-r{r}")
        except BaseException as error:
            errors.append(error)
        finally:
            storage.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
        assert not thread.is_alive(), "a worker hangs behind PgBouncer"
    assert not errors, [f"{type(error).__name__}: {error}" for error in errors]


def test_every_method_works_through_pgbouncer_sync(
    pgbouncer: PgBouncer, pg_schemas: PostgresSchemas
) -> None:
    schema = pg_schemas.new("bouncer")
    first = PostgresStorage(url=pgbouncer.url, schema=schema, lock_backend="lease")
    first.init()  # the migration itself runs through the proxy
    first.close()
    run_workers(
        lambda: PostgresStorage(url=pgbouncer.url, schema=schema, lock_backend="lease"), "sync"
    )


def test_every_method_works_through_pgbouncer_async(
    pgbouncer: PgBouncer, pg_schemas: PostgresSchemas
) -> None:
    schema = pg_schemas.new("bouncer")

    def make() -> BlockingStorage:
        loop = asyncio.new_event_loop()
        storage = AsyncPostgresStorage(url=pgbouncer.url, schema=schema, lock_backend="lease")
        blocking = BlockingStorage(storage, None, loop)  # type: ignore[arg-type]
        close = blocking.close

        def close_all() -> None:
            close()
            loop.close()

        blocking.close = close_all  # type: ignore[method-assign]
        return blocking

    first = make()
    first.init()
    first.close()
    run_workers(make, "async")


def test_the_constructor_flag_works_as_the_url_flag(
    pgbouncer: PgBouncer, pg_schemas: PostgresSchemas
) -> None:
    url = pgbouncer.url.replace("?prepared_statements=false", "")
    schema = pg_schemas.new("bouncer")
    storage = PostgresStorage(
        url=url, schema=schema, lock_backend="lease", prepared_statements=False
    )
    try:
        for r in range(3):  # past psycopg's prepare threshold
            tour(storage, f"flag-{r}")
    finally:
        storage.close()
