"""Workflow run locks: mutual exclusion across processes, crash recovery, leases,
renew/release rules, fencing of stale holders, no leaked connections or locks,
and the lock table's migration.

Cases: in-memory SQLite with the process-local backend, a SQLite file with
leases, PostgreSQL with advisory locks, PostgreSQL with leases (as behind a
transaction-pooling proxy), and MySQL/MariaDB with named locks (the
"advisory" backend there; sync and through the async class) and with leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import Backend
from lock_workers import (
    CONTENDERS,
    ROUNDS,
    WF,
    hold_then_write,
    hold_until_killed,
    race,
    race_process,
)
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine, make_url
from support import write_locked

from mastra_storage import (
    AsyncDefaultStorage,
    DefaultStorage,
    FencingTokenError,
    LockNotAcquiredError,
    MastraStorage,
    MySQLStorage,
    PostgresStorage,
    StorageError,
    ValidationError,
    migrate,
)
from mastra_storage.errors import StorageClosedError
from mastra_storage.locks import advisory_key, check_fencing
from mastra_storage.locks.advisory import HOLDS_ADVISORY_LOCKS
from mastra_storage.locks.keys import key_halves, named_lock_name
from mastra_storage.orm import metadata

UTC = timezone.utc
TABLE = "mastra_workflow_run_locks"

ALL_CASES = [
    ("sqlite-memory", "memory"),
    ("sqlite-file", "lease"),
    ("postgresql", "advisory"),
    ("postgresql", "lease"),
    ("mysql", "advisory"),
    ("mysql", "lease"),
    ("async-mysql", "advisory"),
]
SHARED_DATABASE_CASES = [case for case in ALL_CASES if case[0] != "sqlite-memory"]
EXPIRING_CASES = [case for case in ALL_CASES if case[1] != "advisory"]


def lock_cases(cases: list[tuple[str, str]]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(
        ("backend", "lock_backend"),
        [pytest.param(name, lock, id=f"{name}/{lock}") for name, lock in cases],
        indirect=["backend"],
    )


@pytest.fixture
def make(backend: Backend, lock_backend: str) -> Callable[[], MastraStorage]:
    """New storage instances (each its own lock holder) on the backend's database."""
    first = backend.make(lock_backend=lock_backend)
    first.init()
    made = [first]

    def factory() -> MastraStorage:
        if made:
            return made.pop()
        return backend.make(lock_backend=lock_backend)

    return factory


def new_run() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


def acquire(storage: MastraStorage, run_id: str, ttl_ms: int = 60_000) -> bool:
    return storage.try_acquire_workflow_run_lock(workflow_name=WF, run_id=run_id, ttl_ms=ttl_ms)


def lock_of(storage: MastraStorage, run_id: str) -> Any:
    return storage.get_workflow_run_lock(workflow_name=WF, run_id=run_id)


def token_of(storage: MastraStorage, run_id: str) -> int:
    lock = lock_of(storage, run_id)
    assert lock is not None and lock.holder == storage.lock_holder
    return int(lock.fencing_token)


def persist(storage: MastraStorage, run_id: str, value: int, token: int | None) -> None:
    storage.persist_workflow_snapshot(
        workflow_name=WF, run_id=run_id, snapshot={"value": value}, fencing_token=token
    )


def snapshot_value(storage: MastraStorage, run_id: str) -> Any:
    snapshot = storage.load_workflow_snapshot(workflow_name=WF, run_id=run_id)
    return None if snapshot is None else snapshot["value"]


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.01) -> float:
    """Seconds until `condition()` held; fails after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(step)
    return time.monotonic() - start


def spec_of(backend: Backend, lock_backend: str) -> dict[str, Any]:
    """What a worker process needs to open a storage like the backend's."""
    return {
        "name": backend.name,
        "url": backend.url,
        "schema": backend.schema,
        "lock_backend": lock_backend,
        "asynchronous": backend.asynchronous,
    }


# -- PostgreSQL helpers ---------------------------------------------------------------


def admin_engine() -> Engine:
    from conftest import PG_URL

    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def advisory_holder_pids(engine: Engine, key: int) -> list[int]:
    high, low = key_halves(key)
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = :high"
                    " AND objid = :low AND objsubid = 1 AND granted"
                    " AND database = (SELECT oid FROM pg_database"
                    "                 WHERE datname = current_database())"
                ),
                {"high": high, "low": low},
            ).scalars()
        )


def cut_holder_connection(backend: Backend, run_id: str) -> None:
    """What a dropped network link or an idle-session timeout does to an advisory
    holder: its connection ends on the server, its process carries on."""
    if backend.is_mysql:
        cut_named_lock_holder(backend, run_id)
        return
    engine = admin_engine()
    try:
        key = advisory_key(backend.schema or "", WF, run_id)
        [pid] = advisory_holder_pids(engine, key)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        wait_until(lambda: not advisory_holder_pids(engine, key), timeout=5)
    finally:
        engine.dispose()


# -- MySQL helpers --------------------------------------------------------------------


def mysql_admin_engine() -> Engine:
    from conftest import MYSQL_URL

    return create_engine(MYSQL_URL, isolation_level="AUTOCOMMIT")


def named_lock_of(backend: Backend, run_id: str) -> str:
    """The run's named lock: the hash of the backend's database, WF and the run."""
    return named_lock_name(make_url(backend.url).database or "", WF, run_id)


def named_lock_holder(engine: Engine, name: str) -> int | None:
    """The connection id holding named lock `name`, if any (`IS_USED_LOCK`)."""
    with engine.connect() as conn:
        holder = conn.execute(text("SELECT IS_USED_LOCK(:name)"), {"name": name}).scalar()
    return None if holder is None else int(holder)


def cut_named_lock_holder(backend: Backend, run_id: str) -> None:
    engine = mysql_admin_engine()
    try:
        name = named_lock_of(backend, run_id)
        holder = named_lock_holder(engine, name)
        assert holder is not None
        with engine.connect() as conn:
            conn.execute(text(f"KILL CONNECTION {holder:d}"))
        wait_until(lambda: named_lock_holder(engine, name) is None, timeout=5)
    finally:
        engine.dispose()


def connections_to(engine: Engine, database: str) -> int:
    """Server connections (the processlist) using `database`."""
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = :db"),
            {"db": database},
        ).scalar_one()
    return int(count)


def named_locks_in_pool(engine: Engine) -> int:
    """Named locks held by any connection sitting in the pool: each one is
    checked out (all together) and gives back what it holds, counted by
    `RELEASE_ALL_LOCKS()` (0 when it held none)."""
    idle = engine.pool.checkedin()  # type: ignore[attr-defined]
    connections = [engine.connect() for _ in range(max(idle, 1))]
    try:
        held = 0
        for conn in connections:
            held += conn.execute(text("SELECT RELEASE_ALL_LOCKS()")).scalar_one()
            assert conn.connection.dbapi_connection.get_autocommit() is False  # type: ignore[union-attr]
        return held
    finally:
        for conn in connections:
            conn.close()


def take_over(backend: Backend, lock_backend: str, old: MastraStorage, new: MastraStorage,
              run_id: str) -> None:  # fmt: skip
    """Make `new` the holder while `old` still thinks it holds the run: a lease runs
    out (the holder paused), an advisory holder's connection is cut."""
    if lock_backend == "advisory":
        cut_holder_connection(backend, run_id)
    wait_until(lambda: acquire(new, run_id, ttl_ms=60_000), timeout=5)


# -- choosing a backend ---------------------------------------------------------------


def test_default_backend_follows_the_database(backend: Backend) -> None:
    storage = backend.make()
    expected = {
        "sqlite-memory": "memory",
        "sqlite-file": "lease",
        "postgresql": "advisory",
        "mysql": "advisory",  # MySQL named locks (GET_LOCK)
    }
    assert storage.lock_backend == expected[backend.name]
    run_id = new_run()
    assert acquire(storage, run_id)
    lock = lock_of(storage, run_id)
    assert lock is not None
    assert lock.backend == expected[backend.name]
    assert lock.holder == storage.lock_holder
    assert lock.fencing_token == 1
    assert lock.expires_at is not None and lock.expires_at.tzinfo is not None
    assert lock.expires_at.utcoffset() == timedelta(0)


def test_lock_backend_is_checked(backend: Backend) -> None:
    with pytest.raises(ValidationError, match="lock_backend"):
        backend.make(lock_backend="zookeeper")
    if not (backend.is_postgres or backend.is_mysql):
        with pytest.raises(ValidationError, match="PostgreSQL or MySQL"):
            backend.make(lock_backend="advisory")


def test_holder_ids_are_unique_per_instance(backend: Backend) -> None:
    holders = {backend.make().lock_holder for _ in range(3)}
    assert len(holders) == 3


def test_separate_in_memory_databases_do_not_share_locks() -> None:
    first, second = DefaultStorage(url="file::memory:"), DefaultStorage(url="file::memory:")
    try:
        assert acquire(first, "run-1") and acquire(second, "run-1")
    finally:
        first.close()
        second.close()


def test_bad_arguments_are_refused(storage: MastraStorage) -> None:
    for kwargs, field in [
        ({"workflow_name": "", "run_id": "r"}, "workflow_name"),
        ({"workflow_name": "w", "run_id": "  "}, "run_id"),
        ({"workflow_name": "w", "run_id": "r", "ttl_ms": 0}, "ttl_ms"),
        ({"workflow_name": "w", "run_id": "r", "ttl_ms": 1.5}, "ttl_ms"),
        ({"workflow_name": "w", "run_id": "r", "ttl_ms": True}, "ttl_ms"),
    ]:
        with pytest.raises(ValidationError) as raised:
            storage.try_acquire_workflow_run_lock(**kwargs)
        assert raised.value.field == field


# -- the lock's rules -------------------------------------------------------------------


@lock_cases(ALL_CASES)
def test_one_holder_at_a_time(make: Callable[[], MastraStorage]) -> None:
    a, b = make(), make()
    run_id = new_run()
    assert lock_of(b, run_id) is None
    assert acquire(a, run_id)
    assert not acquire(b, run_id)
    assert not acquire(a, run_id), "not reentrant: a second acquisition by the holder fails"
    seen_by_b = lock_of(b, run_id)
    assert seen_by_b is not None and seen_by_b.holder == a.lock_holder
    assert lock_of(a, run_id) == seen_by_b
    assert acquire(b, new_run()), "other runs are independent"


@lock_cases(ALL_CASES)
def test_renew_extends_the_expiry(make: Callable[[], MastraStorage]) -> None:
    a, b = make(), make()
    run_id = new_run()
    # TTLs of seconds, so a loaded machine's slow calls stay well inside each bound.
    assert acquire(a, run_id, ttl_ms=3000)
    first = lock_of(a, run_id).expires_at
    time.sleep(1.5)
    assert a.renew_workflow_run_lock(workflow_name=WF, run_id=run_id, ttl_ms=3000)
    second = lock_of(a, run_id).expires_at
    assert second - first >= timedelta(milliseconds=1400)
    time.sleep(1.8)  # past the first expiry (3.0 s), not the renewed one (4.5 s)
    assert not acquire(b, run_id)
    assert lock_of(b, run_id).holder == a.lock_holder
    assert a.renew_workflow_run_lock(workflow_name=WF, run_id=run_id, ttl_ms=3_600_000)
    assert lock_of(a, run_id).expires_at - second > timedelta(minutes=59)


@lock_cases(ALL_CASES)
def test_a_non_holder_changes_nothing(make: Callable[[], MastraStorage]) -> None:
    a, b = make(), make()
    run_id = new_run()
    assert not b.renew_workflow_run_lock(workflow_name=WF, run_id=run_id), "nobody holds it"
    assert b.release_workflow_run_lock(workflow_name=WF, run_id=run_id) is None
    assert lock_of(a, run_id) is None
    assert acquire(a, run_id)
    before = lock_of(a, run_id)
    time.sleep(0.01)
    assert not b.renew_workflow_run_lock(workflow_name=WF, run_id=run_id, ttl_ms=3_600_000)
    assert b.release_workflow_run_lock(workflow_name=WF, run_id=run_id) is None
    assert lock_of(a, run_id) == before
    assert not acquire(b, run_id)


@lock_cases(ALL_CASES)
def test_release_frees_at_once(make: Callable[[], MastraStorage]) -> None:
    a, b = make(), make()
    run_id = new_run()
    assert acquire(a, run_id, ttl_ms=3_600_000)
    first_token = token_of(a, run_id)
    a.release_workflow_run_lock(workflow_name=WF, run_id=run_id)
    assert lock_of(a, run_id) is None
    assert not a.renew_workflow_run_lock(workflow_name=WF, run_id=run_id)
    assert acquire(b, run_id)
    assert token_of(b, run_id) == first_token + 1
    a.release_workflow_run_lock(workflow_name=WF, run_id=run_id)  # a no longer holds it
    assert lock_of(a, run_id).holder == b.lock_holder


@lock_cases(ALL_CASES)
def test_every_acquisition_gets_a_larger_token(make: Callable[[], MastraStorage]) -> None:
    holders = [make(), make(), make()]
    run_id = new_run()
    tokens = []
    for turn in range(9):
        holder = holders[turn % 3]
        assert acquire(holder, run_id)
        tokens.append(token_of(holder, run_id))
        holder.release_workflow_run_lock(workflow_name=WF, run_id=run_id)
    assert tokens == list(range(1, 10))


@lock_cases(ALL_CASES)
def test_close_releases_what_the_instance_holds(make: Callable[[], MastraStorage]) -> None:
    a, b = make(), make()
    runs = [new_run() for _ in range(3)]
    for run_id in runs:
        assert acquire(a, run_id, ttl_ms=3_600_000)
    a.close()
    for run_id in runs:
        assert acquire(b, run_id)
    with pytest.raises(StorageError, match="closed"):
        acquire(a, new_run())


@lock_cases(SHARED_DATABASE_CASES)
def test_a_close_during_an_acquisition_leaves_the_lock_free(
    make: Callable[[], MastraStorage],
) -> None:
    """`close()` comes while `try_acquire` is taking the lock (after `close`
    released what the instance held, before the new hold was recorded): the
    acquisition raises StorageError (closed) and gives the lock back, so
    another instance takes it; the closed one never holds it."""
    a, b = make(), make()
    service = getattr(a, "storage", a)._run_locks
    taking = service._acquire
    run_id = new_run()

    def acquire_then_closed(run: Any, ttl: Any) -> Any:
        hold = taking(run, ttl)
        service.close()
        return hold

    service._acquire = acquire_then_closed
    with pytest.raises(StorageClosedError):
        acquire(a, run_id, ttl_ms=3_600_000)
    assert acquire(b, run_id)


@lock_cases([("sqlite-file", "lease"), ("postgresql", "advisory")])
def test_a_close_between_taking_a_hold_and_opening_it_raises_closed(
    make: Callable[[], MastraStorage],
) -> None:
    """`close()` lands after `workflow_run_lock` took the lock, before it made
    its handle: StorageClosedError (not a KeyError), and the lock is free."""
    a, b = make(), make()
    service = getattr(a, "storage", a)._run_locks
    taking = service.try_acquire
    run_id = new_run()

    def take_then_closed(*args: Any) -> bool:
        taken = taking(*args)
        service.close()
        return taken

    service.try_acquire = take_then_closed  # type: ignore[method-assign]
    with pytest.raises(StorageClosedError), a.workflow_run_lock(workflow_name="wf", run_id=run_id):
        raise AssertionError("entered")
    assert acquire(b, run_id)


@lock_cases([("sqlite-file", "lease"), ("postgresql", "advisory")])
def test_close_stops_the_heartbeats(make: Callable[[], MastraStorage]) -> None:
    """A heartbeat renews every ttl/3 (10 minutes by default): `close()` stops
    it at once, not at its next renewal."""
    a = make()
    run_id = new_run()
    name = f"mastra-run-lock-heartbeat:{run_id}"
    with a.workflow_run_lock(workflow_name="wf", run_id=run_id):
        assert [t for t in threading.enumerate() if t.name == name]
        a.close()
        assert not [t for t in threading.enumerate() if t.name == name and t.is_alive()]


@lock_cases([("async-sqlite-file", "lease"), ("async-postgresql", "advisory")])
def test_an_async_close_waits_for_a_lock_call_under_way_and_releases_it(
    make: Callable[[], MastraStorage],
) -> None:
    """`try_acquire_workflow_run_lock` started, then `close()`: the close waits
    for it and releases what it took, so another instance takes the lock
    once the close returns; a `workflow_run_lock` entered as the close
    comes raises StorageClosedError, holding nothing."""
    a, b = make(), make()
    storage: Any = getattr(a, "storage", a)
    loop = a._loop  # type: ignore[attr-defined]
    first, second = new_run(), new_run()

    async def race() -> tuple[Any, Any]:
        taking = asyncio.ensure_future(
            storage.try_acquire_workflow_run_lock(workflow_name="wf", run_id=first)
        )

        closing = False

        async def hold() -> None:
            async with storage.workflow_run_lock(workflow_name="wf", run_id=second):
                assert not closing, "entered after close() began"

        holding = asyncio.ensure_future(hold())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        closing = True
        await storage.close()
        return await asyncio.gather(taking, holding, return_exceptions=True)

    taken, held = loop.run_until_complete(race())
    assert taken is True or isinstance(taken, StorageClosedError), taken
    assert held is None or isinstance(held, StorageClosedError), held
    assert acquire(b, first)
    assert acquire(b, second)


def _free_for_another(path: Path, run_id: str, timeout: float = 5.0) -> bool:
    """Whether another storage on the SQLite file takes the run's lock (tried
    until `timeout`)."""
    with DefaultStorage(url=f"file:{path}") as other:
        took = wait_until(
            lambda: other.try_acquire_workflow_run_lock(workflow_name="wf", run_id=run_id),
            timeout,
        )
    return took < timeout


def test_an_async_lock_call_cancelled_gives_back_what_its_thread_took(tmp_path: Path) -> None:
    """`try_acquire_workflow_run_lock` and `workflow_run_lock` given up by
    `wait_for` while their thread waits for SQLite's write lock: the thread
    goes on and takes the run lock, which its caller never learns; it is
    given back as soon as the thread ends, and `close()` waits for that."""
    path = tmp_path / "db.sqlite"
    held = contextlib.ExitStack()

    async def main() -> None:
        storage = AsyncDefaultStorage(url=f"file:{path}", lock_timeout_ms=5_000)
        await storage.init()
        held.enter_context(write_locked(path))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(
                storage.try_acquire_workflow_run_lock(workflow_name="wf", run_id="a"), 0.2
            )
        entering = storage.workflow_run_lock(workflow_name="wf", run_id="b")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(entering.__aenter__(), 0.2)
        held.close()  # the threads take the run locks now, and give them back
        await asyncio.sleep(0.3)
        assert _free_for_another(path, "a")
        assert _free_for_another(path, "b")
        await storage.close()

    asyncio.run(main())
    assert not [t for t in threading.enumerate() if t.name.startswith("mastra-run-lock-heart")]


def test_an_async_close_cut_short_before_it_started_still_releases_the_run_locks(
    tmp_path: Path,
) -> None:
    """`close()` started as a task just before `asyncio.run` ends: its release
    may be cancelled before it ever runs; the run locks are released all the
    same (the connections wait for a later `close()`, which finishes)."""
    path = tmp_path / "db.sqlite"
    for round_ in range(5):
        run_id = f"r{round_}"
        storage = AsyncDefaultStorage(url=f"file:{path}")

        async def main(storage: AsyncDefaultStorage = storage, run_id: str = run_id) -> None:
            await storage.init()
            assert await storage.try_acquire_workflow_run_lock(workflow_name="wf", run_id=run_id)
            asyncio.ensure_future(storage.close())  # noqa: RUF006 (cut short on purpose)
            await asyncio.sleep(0)

        asyncio.run(main())
        assert _free_for_another(path, run_id, timeout=0.5)
        asyncio.run(storage.close())
        assert storage._released


def test_a_second_close_in_a_new_loop_finishes_one_stuck_in_a_stopped_loop(
    tmp_path: Path,
) -> None:
    """The first `close()` waits for a lock call under way (its thread waiting
    for SQLite's write lock), is given up by `wait_for`, and its loop stops:
    a `close()` in a new loop releases everything, and the run lock that the
    thread takes afterwards is given back."""
    path = tmp_path / "db.sqlite"
    storage = AsyncDefaultStorage(url=f"file:{path}", lock_timeout_ms=5_000)
    first = asyncio.new_event_loop()
    held = contextlib.ExitStack()

    async def stuck() -> None:
        await storage.init()
        held.enter_context(write_locked(path))
        asyncio.ensure_future(  # noqa: RUF006 (left under way on purpose)
            storage.try_acquire_workflow_run_lock(workflow_name="wf", run_id="r")
        )
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(storage.close(), 0.2)

    try:
        first.run_until_complete(stuck())
        held.close()
        asyncio.run(asyncio.wait_for(storage.close(), 10))
        assert storage._released
        assert _free_for_another(path, "r")
    finally:
        left = asyncio.all_tasks(first)  # the first close, still waiting there
        for task in left:
            task.cancel()
        first.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        first.close()


@lock_cases(EXPIRING_CASES)
def test_a_lease_runs_out_after_its_ttl(make: Callable[[], MastraStorage]) -> None:
    a, b = make(), make()
    run_id = new_run()
    assert acquire(a, run_id, ttl_ms=400)
    expires_at = lock_of(a, run_id).expires_at
    assert not acquire(b, run_id)
    waited = wait_until(lambda: acquire(b, run_id), timeout=5)
    assert datetime.now(UTC) >= expires_at
    assert waited < 1.5
    assert not a.renew_workflow_run_lock(workflow_name=WF, run_id=run_id), "a lost it"
    a.release_workflow_run_lock(workflow_name=WF, run_id=run_id)
    assert lock_of(a, run_id).holder == b.lock_holder


ADVISORY_CASES = [case for case in ALL_CASES if case[1] == "advisory"]


@lock_cases(ADVISORY_CASES)
def test_an_advisory_lock_lasts_as_long_as_its_connection(
    make: Callable[[], MastraStorage],
) -> None:
    a, b = make(), make()
    run_id = new_run()
    assert acquire(a, run_id, ttl_ms=200)
    time.sleep(0.5)  # the row's expiry passes; the holder's connection lives on
    assert not acquire(b, run_id)
    assert lock_of(b, run_id).holder == a.lock_holder
    assert a.renew_workflow_run_lock(workflow_name=WF, run_id=run_id, ttl_ms=200)


# -- the context manager --------------------------------------------------------------


@lock_cases(ALL_CASES)
def test_workflow_run_lock_heartbeat_keeps_it(make: Callable[[], MastraStorage]) -> None:
    a, b = make(), make()
    run_id = new_run()
    # A TTL long enough that a heartbeat (every TTL / 3) delayed by a full
    # garbage collection of a large test process still lands in time.
    with a.workflow_run_lock(workflow_name=WF, run_id=run_id, ttl_ms=900) as held:
        assert held.fencing_token == token_of(a, run_id)
        time.sleep(3.0)  # more than three TTLs
        assert not acquire(b, run_id)
        with (
            pytest.raises(LockNotAcquiredError),
            b.workflow_run_lock(workflow_name=WF, run_id=run_id),
        ):
            pytest.fail("entered a lock held elsewhere")
        assert not held.lost
        persist(a, run_id, 1, held.fencing_token)
    assert lock_of(b, run_id) is None
    assert acquire(b, run_id)


@lock_cases(ALL_CASES)
def test_workflow_run_lock_releases_when_the_body_fails(
    make: Callable[[], MastraStorage],
) -> None:
    a, b = make(), make()
    run_id = new_run()
    with (
        pytest.raises(RuntimeError, match="step failed"),
        a.workflow_run_lock(workflow_name=WF, run_id=run_id),
    ):
        raise RuntimeError("step failed")
    assert acquire(b, run_id)


@lock_cases(EXPIRING_CASES)
def test_without_heartbeat_the_lease_runs_out(make: Callable[[], MastraStorage]) -> None:
    a, b = make(), make()
    run_id = new_run()
    with a.workflow_run_lock(workflow_name=WF, run_id=run_id, ttl_ms=300, heartbeat=False) as held:
        wait_until(lambda: acquire(b, run_id), timeout=5)
        with pytest.raises(FencingTokenError):
            persist(a, run_id, 1, held.fencing_token)
    assert lock_of(b, run_id).holder == b.lock_holder, "a's exit did not release b's lock"


@lock_cases(ADVISORY_CASES)
def test_the_heartbeat_notices_a_lost_connection(
    backend: Backend, make: Callable[[], MastraStorage]
) -> None:
    a, b = make(), make()
    run_id = new_run()
    with a.workflow_run_lock(workflow_name=WF, run_id=run_id, ttl_ms=300) as held:
        cut_holder_connection(backend, run_id)
        wait_until(lambda: held.lost, timeout=2)
        assert acquire(b, run_id)
    assert lock_of(b, run_id).holder == b.lock_holder


# -- fencing ----------------------------------------------------------------------------


def first_holder_replaced(
    backend: Backend,
    lock_backend: str,
    a: MastraStorage,
    b: MastraStorage,
    then: Callable[[str, int], object] | None = None,
) -> tuple[str, int, int]:
    """A run that `a` locked and wrote (value 1, then `then(run_id, token)`), before `b`
    took it over: (run id, a's stale token, b's token)."""
    run_id = new_run()
    assert acquire(a, run_id, ttl_ms=300)
    old_token = token_of(a, run_id)
    persist(a, run_id, 1, old_token)
    if then is not None:
        then(run_id, old_token)
    take_over(backend, lock_backend, a, b, run_id)
    new_token = token_of(b, run_id)
    assert new_token > old_token
    return run_id, old_token, new_token


@lock_cases(ALL_CASES)
def test_a_stale_holder_cannot_write(
    backend: Backend, lock_backend: str, make: Callable[[], MastraStorage]
) -> None:
    a, b = make(), make()
    run_id, old_token, new_token = first_holder_replaced(backend, lock_backend, a, b)
    with pytest.raises(FencingTokenError, match="stale"):
        persist(a, run_id, 2, old_token)
    assert snapshot_value(b, run_id) == 1, "the refused write left nothing"
    persist(b, run_id, 3, new_token)
    persist(b, run_id, 4, new_token)
    assert snapshot_value(a, run_id) == 4
    assert not a.renew_workflow_run_lock(workflow_name=WF, run_id=run_id)
    with pytest.raises(FencingTokenError):
        persist(a, run_id, 5, old_token)
    b.release_workflow_run_lock(workflow_name=WF, run_id=run_id)
    persist(b, run_id, 6, new_token)  # no newer holder since: still accepted
    assert snapshot_value(a, run_id) == 6


@lock_cases(ALL_CASES)
def test_a_stale_holder_cannot_update_results_or_state(
    backend: Backend, lock_backend: str, make: Callable[[], MastraStorage]
) -> None:
    a, b = make(), make()
    run_id, old_token, new_token = first_holder_replaced(
        backend,
        lock_backend,
        a,
        b,
        lambda run_id, token: a.update_workflow_results(
            workflow_name=WF, run_id=run_id, step_id="s", result="a", fencing_token=token
        ),
    )
    with pytest.raises(FencingTokenError, match="stale"):
        a.update_workflow_results(
            workflow_name=WF, run_id=run_id, step_id="s", result="late", fencing_token=old_token
        )
    with pytest.raises(FencingTokenError, match="stale"):
        a.update_workflow_state(
            workflow_name=WF, run_id=run_id, opts={"value": "late"}, fencing_token=old_token
        )
    stored = b.load_workflow_snapshot(workflow_name=WF, run_id=run_id)
    assert stored == {"value": 1, "context": {"s": "a"}}, "the refused writes left nothing"
    b.update_workflow_results(
        workflow_name=WF, run_id=run_id, step_id="s", result="b", fencing_token=new_token
    )
    b.update_workflow_state(
        workflow_name=WF, run_id=run_id, opts={"value": 2}, fencing_token=new_token
    )
    assert b.load_workflow_snapshot(workflow_name=WF, run_id=run_id) == {
        "value": 2,
        "context": {"s": "b"},
    }


@lock_cases(ALL_CASES)
def test_tokens_never_issued_are_refused(make: Callable[[], MastraStorage]) -> None:
    a = make()
    run_id = new_run()
    with pytest.raises(FencingTokenError, match="never issued"):
        persist(a, run_id, 1, 1)
    assert acquire(a, run_id)
    token = token_of(a, run_id)
    with pytest.raises(FencingTokenError, match="never issued"):
        persist(a, run_id, 1, token + 1)
    for bad in (0, -1, "1", True):
        with pytest.raises(ValidationError, match="fencing_token"):
            persist(a, run_id, 1, bad)  # type: ignore[arg-type]
    assert snapshot_value(a, run_id) is None
    persist(a, run_id, 1, None)  # without a token: no check
    persist(a, run_id, 2, token)
    assert snapshot_value(a, run_id) == 2


def fence(backend: Backend, session: Any, run_id: str, token: int) -> None:
    """`check_fencing` in the caller's transaction (async: through `run_sync`)."""
    if backend.asynchronous:
        session.run_sync(check_fencing, WF, run_id, token)
    else:
        check_fencing(session, WF, run_id, token)


@lock_cases(ALL_CASES)
def test_check_fencing_in_the_callers_transaction(
    backend: Backend, lock_backend: str, make: Callable[[], MastraStorage]
) -> None:
    a, b = make(), make()
    run_id = new_run()
    assert acquire(a, run_id, ttl_ms=300)
    old_token = token_of(a, run_id)
    with a.session_scope() as session:
        fence(backend, session, run_id, old_token)
        a.persist_workflow_snapshot(
            workflow_name=WF,
            run_id=run_id,
            snapshot={"value": 1},
            fencing_token=old_token,
            session=session,
        )
    take_over(backend, lock_backend, a, b, run_id)
    with pytest.raises(FencingTokenError), a.session_scope() as session:
        a.persist_workflow_snapshot(
            workflow_name=WF, run_id=run_id, snapshot={"value": 0}, session=session
        )
        fence(backend, session, run_id, old_token)
    assert snapshot_value(a, run_id) == 1, "the caller's whole transaction rolled back"


@lock_cases([case for case in SHARED_DATABASE_CASES if not case[0].startswith("async-")])
def test_a_takeover_waits_for_a_fenced_write_in_flight(
    backend: Backend, lock_backend: str, make: Callable[[], MastraStorage]
) -> None:
    """The check and the write are one transaction: a new holder cannot be issued
    a token between them, so a write that passed the check lands before it."""
    a, b = make(), make()
    run_id = new_run()
    assert acquire(a, run_id, ttl_ms=300)
    old_token = token_of(a, run_id)
    outcome: list[bool] = []

    def contend() -> None:
        outcome.append(acquire(b, run_id))

    contender = threading.Thread(target=contend)
    with a.session_scope() as session:
        a.persist_workflow_snapshot(
            workflow_name=WF,
            run_id=run_id,
            snapshot={"value": 1},
            fencing_token=old_token,
            session=session,
        )
        if lock_backend == "advisory":
            cut_holder_connection(backend, run_id)
        else:
            time.sleep(0.4)  # a's lease has run out
        contender.start()
        time.sleep(0.5)
        assert not outcome, "a new holder was issued a token during the fenced write"
    contender.join(timeout=15)
    assert outcome == [True]
    assert token_of(b, run_id) == old_token + 1
    assert snapshot_value(b, run_id) == 1
    with pytest.raises(FencingTokenError):
        persist(a, run_id, 2, old_token)


# -- many holders at once ---------------------------------------------------------------


def collect(results: Any, workers: list[Any], timeout: float) -> list[Any]:
    """One result per worker; fails as soon as a worker dies without one."""
    collected: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(collected) < len(workers):
        try:
            collected.append(results.get(timeout=0.5))
        except queue.Empty:
            dead = [p.exitcode for p in workers if p.exitcode not in (None, 0)]
            if dead:
                pytest.fail(f"a worker died (exit codes {dead})")
            if time.monotonic() > deadline:
                pytest.fail(f"workers did not finish within {timeout}s")
    return collected


def check_race(wins: dict[int, list[bool]], records: list[str]) -> int:
    """Exactly one winner per round; holders never overlap; tokens only grow; every
    contender held the lock in the free-running phase (no starvation).
    Returns how many acquisitions the record holds."""
    assert sorted(wins) == list(range(CONTENDERS))
    for round_ in range(ROUNDS):
        winners = [worker for worker, won in wins.items() if won[round_]]
        assert len(winners) == 1, f"round {round_}: winners {winners}"
    holder, last_token, holds = None, 0, 0
    for line in records:
        worker, event, *token = line.split()
        if event == "enter":
            assert holder is None, f"{worker} entered while {holder} held the lock"
            holder, holds = worker, holds + 1
            assert int(token[0]) > last_token
            last_token = int(token[0])
        else:
            assert holder == worker, f"{worker} left while {holder} held the lock"
            holder = None
    assert holder is None
    churners = {line.split()[0] for line in records[2 * ROUNDS :] if line.split()[1] == "enter"}
    assert churners == {str(worker) for worker in range(CONTENDERS)}, "a contender starved"
    return holds


@lock_cases(SHARED_DATABASE_CASES)
def test_processes_race_for_one_run(
    backend: Backend, lock_backend: str, make: Callable[[], MastraStorage], tmp_path: Path
) -> None:
    make()  # the database is migrated
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(CONTENDERS), context.Queue()
    spec = spec_of(backend, lock_backend)
    record = tmp_path / "holders.log"
    run_id = new_run()
    workers = [
        context.Process(
            target=race_process, args=(spec, run_id, worker, barrier, str(record), results)
        )
        for worker in range(CONTENDERS)
    ]
    started = time.monotonic()
    for process in workers:
        process.start()
    try:
        wins = dict(collect(results, workers, timeout=120))
    finally:
        for process in workers:
            # Generous: on a loaded machine a worker can take many seconds to exit.
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    assert all(process.exitcode == 0 for process in workers)
    holds = check_race(wins, record.read_text().splitlines())
    print(f"{backend.name}/{lock_backend}: {holds} holds in {time.monotonic() - started:.1f}s")


@lock_cases([("sqlite-memory", "memory")])
def test_threads_race_for_one_run(make: Callable[[], MastraStorage]) -> None:
    storages = [make() for _ in range(CONTENDERS)]
    barrier = threading.Barrier(CONTENDERS)
    records: list[str] = []
    wins: dict[int, list[bool]] = {}
    errors: list[BaseException] = []
    run_id = new_run()

    def contend(worker: int) -> None:
        try:
            wins[worker] = race(storages[worker], run_id, worker, barrier, records.append)
        except BaseException as error:
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=contend, args=(worker,)) for worker in range(CONTENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    check_race(wins, records)


# -- a holder that dies -----------------------------------------------------------------


@lock_cases(SHARED_DATABASE_CASES)
def test_a_killed_holder_loses_its_lock(
    backend: Backend, lock_backend: str, make: Callable[[], MastraStorage]
) -> None:
    survivor = make()
    spec = spec_of(backend, lock_backend)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    run_id = new_run()
    ttl_ms = 1500
    holder = context.Process(target=hold_until_killed, args=(spec, run_id, ttl_ms, out))
    holder.start()
    try:
        acquired, lock = out.get(timeout=60)
        assert acquired and lock is not None
        assert not acquire(survivor, run_id)
        os.kill(holder.pid or 0, signal.SIGKILL)
        holder.join(timeout=10)
        killed = time.monotonic()
        assert holder.exitcode == -signal.SIGKILL
        if lock_backend == "advisory":
            waited = wait_until(lambda: acquire(survivor, run_id), timeout=1.0)
            assert waited < 1.0
        else:
            expires_at = lock["expires_at"]
            while not acquire(survivor, run_id):
                assert time.monotonic() - killed < ttl_ms / 1000 + 2
                time.sleep(0.01)
            acquired_at = datetime.now(UTC)
            assert acquired_at >= expires_at, "the lease was taken before it ran out"
            assert acquired_at - expires_at < timedelta(seconds=1)
        assert token_of(survivor, run_id) == lock["fencing_token"] + 1
    finally:
        if holder.is_alive():
            holder.kill()
            holder.join()


@lock_cases(SHARED_DATABASE_CASES)
def test_a_paused_holder_is_fenced_once_replaced(
    backend: Backend, lock_backend: str, make: Callable[[], MastraStorage]
) -> None:
    """A holder process frozen mid-run (SIGSTOP, no heartbeat). An advisory
    holder keeps its lock while its connection lives, past its TTL, until the
    connection ends (cut here, as a server's idle timeout or a dead network
    would); a lease holder loses it when the TTL runs out. Either way, once
    another holder has taken over, the resumed holder's late write is refused
    and its renewal fails."""
    survivor = make()
    context = multiprocessing.get_context("spawn")
    out, go = context.Queue(), context.Event()
    run_id = new_run()
    ttl_ms = 500
    holder = context.Process(
        target=hold_then_write, args=(spec_of(backend, lock_backend), run_id, ttl_ms, out, go)
    )
    holder.start()
    try:
        acquired, token = out.get(timeout=60)
        assert acquired and token is not None
        os.kill(holder.pid or 0, signal.SIGSTOP)
        if lock_backend == "advisory":
            time.sleep(2 * ttl_ms / 1000)
            assert not acquire(survivor, run_id), "a paused advisory holder keeps its lock"
            cut_holder_connection(backend, run_id)
        wait_until(lambda: acquire(survivor, run_id), timeout=5)
        assert token_of(survivor, run_id) == token + 1
        os.kill(holder.pid or 0, signal.SIGCONT)  # first: Event.set waits for a live waiter
        go.set()
        assert out.get(timeout=60) == "refused"
        assert out.get(timeout=60) == "lost"
        holder.join(timeout=60)
        assert holder.exitcode == 0
        assert snapshot_value(survivor, run_id) == "first"
        assert lock_of(survivor, run_id).holder == survivor.lock_holder
    finally:
        if holder.is_alive():
            holder.kill()
            holder.join()


# -- nothing leaks ------------------------------------------------------------------------


@lock_cases(SHARED_DATABASE_CASES)
def test_no_connection_or_lock_leaks_after_1000_cycles(
    backend: Backend, lock_backend: str, make: Callable[[], MastraStorage]
) -> None:
    a, b = make(), make()
    assert acquire(a, "warm-up") and acquire(b, "warm-up-b")
    a.release_workflow_run_lock(workflow_name=WF, run_id="warm-up")
    b.release_workflow_run_lock(workflow_name=WF, run_id="warm-up-b")
    pools = [s.engine.pool for s in (a, b)] + [lock_engine_of(s).pool for s in (a, b)]
    before = [pool.checkedout() for pool in pools]  # type: ignore[attr-defined]
    server = mysql_admin_engine() if backend.is_mysql else None
    database = make_url(backend.url).database or "" if server else ""
    runs = [f"cycle-{index}" for index in range(10)]
    # Server connections after the first and the second half: the pools may
    # grow to their size in the first; a leak would grow with the cycles.
    connections = []
    started = time.monotonic()
    for cycle in range(1000):
        run_id = runs[cycle % len(runs)]
        assert acquire(a, run_id)
        assert not acquire(b, run_id)
        a.release_workflow_run_lock(workflow_name=WF, run_id=run_id)
        if cycle % 500 == 499:
            with a.workflow_run_lock(workflow_name=WF, run_id=runs[0], ttl_ms=300):
                time.sleep(0.35)
            if server is not None:
                connections.append(connections_to(server, database))
    elapsed = time.monotonic() - started
    assert [pool.checkedout() for pool in pools] == before  # type: ignore[attr-defined]
    assert token_of_run(a, runs[1]) == 100
    if backend.is_postgres:
        engine = admin_engine()
        try:
            for run_id in runs:
                key = advisory_key(backend.schema or "", WF, run_id)
                assert advisory_holder_pids(engine, key) == []
        finally:
            engine.dispose()
        for storage in (a, b):
            assert advisory_locks_in_pool(lock_engine_of(storage)) == 0
    if server is not None:
        try:
            for run_id in runs:
                assert named_lock_holder(server, named_lock_of(backend, run_id)) is None
            assert connections[0] == connections[1], "server connections grew with the cycles"
        finally:
            server.dispose()
        for storage in (a, b):
            assert named_locks_in_pool(lock_engine_of(storage)) == 0
    print(f"1000 cycles on {backend.name}/{lock_backend}: {elapsed:.1f}s")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_pool_unlocks_a_connection_that_comes_back_locked(backend: Backend) -> None:
    """The safety net behind release: a marked connection that returns to the
    pool still holding advisory locks is unlocked on the way in."""
    storage = backend.make()  # advisory: installs the pool hook
    storage.init()
    locks = lock_engine_of(storage)
    with locks.connect() as conn:
        conn.connection.info[HOLDS_ADVISORY_LOCKS] = True
        conn.execute(text("SELECT pg_advisory_lock(4242), pg_advisory_lock(4343)"))
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        conn.commit()
        engine = admin_engine()
        try:
            assert advisory_locks_of(engine, pid) == 2
        finally:
            engine.dispose()
    assert locks.pool.checkedin() >= 1  # type: ignore[attr-defined]
    engine = admin_engine()
    try:
        assert advisory_locks_of(engine, pid) == 0
    finally:
        engine.dispose()
    assert advisory_locks_in_pool(locks) == 0


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_the_pool_releases_named_locks_of_a_connection_that_comes_back_locked(
    backend: Backend,
) -> None:
    """The same safety net on MySQL: `RELEASE_ALL_LOCKS()` on the way in."""
    storage = backend.make()  # the named-lock "advisory" backend: installs the pool hook
    storage.init()
    locks = lock_engine_of(storage)
    names = [f"mastra_storage:test-{uuid.uuid4().hex}" for _ in range(2)]
    server = mysql_admin_engine()
    try:
        with locks.connect() as conn:
            conn.connection.info[HOLDS_ADVISORY_LOCKS] = "SELECT RELEASE_ALL_LOCKS()"
            for name in names:
                assert conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar() == 1
            connection_id = conn.execute(text("SELECT CONNECTION_ID()")).scalar_one()
            conn.commit()
            assert [named_lock_holder(server, name) for name in names] == [connection_id] * 2
        assert locks.pool.checkedin() >= 1  # type: ignore[attr-defined]
        assert [named_lock_holder(server, name) for name in names] == [None, None]
    finally:
        server.dispose()
    assert named_locks_in_pool(locks) == 0


def lock_engine_of(storage: Any) -> Engine:
    """The engine a storage's run locks use (their own, for advisory locks)."""
    inner = getattr(storage, "storage", storage)  # BlockingStorage wraps an async one
    return inner._run_locks.engine  # type: ignore[no-any-return]


def advisory_locks_of(engine: Engine, pid: int) -> int:
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = :pid"),
            {"pid": pid},
        ).scalar_one()
    return int(count)


def token_of_run(storage: MastraStorage, run_id: str) -> int:
    assert acquire(storage, run_id)
    token = token_of(storage, run_id)
    storage.release_workflow_run_lock(workflow_name=WF, run_id=run_id)
    return token - 1


def advisory_locks_in_pool(engine: Engine) -> int:
    """Advisory locks held by any connection sitting in the pool (all of them are
    checked out together, so each one is looked at)."""
    idle = engine.pool.checkedin()  # type: ignore[attr-defined]
    connections = [engine.connect() for _ in range(max(idle, 1))]
    try:
        held = 0
        for conn in connections:
            held += conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND pid = pg_backend_pid()"
                )
            ).scalar_one()
            assert conn.connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]
        return held
    finally:
        for conn in connections:
            conn.close()


# -- advisory and lease holders on one database ------------------------------------------------


def session_lock_holders(backend: Backend, run_id: str) -> list[int]:
    """Who holds the run's session lock: PostgreSQL pids, or a MySQL connection id."""
    if backend.is_mysql:
        engine = mysql_admin_engine()
        try:
            holder = named_lock_holder(engine, named_lock_of(backend, run_id))
        finally:
            engine.dispose()
        return [] if holder is None else [holder]
    engine = admin_engine()
    try:
        return advisory_holder_pids(engine, advisory_key(backend.schema or "", WF, run_id))
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "mysql"], indirect=True)
def test_advisory_and_lease_holders_exclude_each_other(backend: Backend) -> None:
    """Workers connected directly (advisory) and through a proxy that shares
    server connections (lease) can share one database: they still exclude
    each other."""
    a, b = backend.make(lock_backend="advisory"), backend.make(lock_backend="lease")
    a.init()
    run_id = new_run()
    assert acquire(a, run_id)
    assert session_lock_holders(backend, run_id) != []
    assert not acquire(b, run_id)
    a.release_workflow_run_lock(workflow_name=WF, run_id=run_id)
    assert acquire(b, run_id)
    assert not acquire(a, run_id)
    assert session_lock_holders(backend, run_id) == [], "a gave its session lock back"
    b.release_workflow_run_lock(workflow_name=WF, run_id=run_id)
    assert acquire(a, run_id)
    assert token_of(a, run_id) == 3
    cut_holder_connection(backend, run_id)  # a crashed advisory holder...
    assert acquire(b, run_id)  # ...does not hold up a lease holder either
    assert token_of(b, run_id) == 4


def test_advisory_keys_are_stable_and_namespaced() -> None:
    key = advisory_key("public", "trip-planner", "run-1")
    assert key == advisory_key("public", "trip-planner", "run-1")
    assert -(2**63) <= key < 2**63
    assert key != advisory_key("other_schema", "trip-planner", "run-1")
    assert advisory_key("public", "a", "bc") != advisory_key("public", "ab", "c")
    # Pinned: processes of different versions must compute the same key.
    assert key == -6069715335227649355


def test_named_lock_names_are_stable_short_and_namespaced() -> None:
    """MySQL named locks are server-wide and their names at most 64 characters:
    the name hashes the database, workflow and run, behind our prefix."""
    name = named_lock_name("test", "trip-planner", "run-1")
    assert len(name) <= 64 and name.startswith("mastra_storage:")
    assert name != named_lock_name("other_db", "trip-planner", "run-1")
    assert named_lock_name("test", "a", "bc") != named_lock_name("test", "ab", "c")
    long_id = "r" * 255
    assert len(named_lock_name("d" * 64, "w" * 255, long_id)) <= 64
    # Pinned: processes of different versions must compute the same name.
    assert name == "mastra_storage:11944583c908b3ed60fd415db940a60da7f408f55710e0db"


# -- the lock table's migration ---------------------------------------------------------------


@pytest.fixture(params=["sqlite-file", "postgresql", "mysql"])
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    storage: MastraStorage
    if request.param == "postgresql":
        schemas = request.getfixturevalue("pg_schemas")
        storage = PostgresStorage(url=schemas.url, schema=schemas.new("locks"))
    elif request.param == "mysql":
        storage = MySQLStorage(url=request.getfixturevalue("mysql_databases").new("locks"))
    else:
        storage = DefaultStorage(url=f"file:{tmp_path / 'locks.db'}")
    storage.init()
    yield storage.engine
    storage.close()


def lock_table_diffs(engine: Engine) -> list[Any]:
    class Capture:
        options: dict[str, Any] = {}

        def configure(self, **options: Any) -> None:
            self.options = options

    with engine.connect() as conn:
        capture = Capture()
        migrate.configure_context(capture, conn)
        options = {k: v for k, v in capture.options.items() if k != "connection"}
        context = MigrationContext.configure(connection=conn, opts=options)
        diffs = compare_metadata(context, metadata)
    return [diff for diff in diffs if TABLE in repr(diff)]


def test_the_lock_table_matches_its_model(fresh_engine: Engine) -> None:
    assert inspect(fresh_engine).has_table(TABLE)
    assert lock_table_diffs(fresh_engine) == []
    columns = {c["name"]: c for c in inspect(fresh_engine).get_columns(TABLE)}
    assert set(columns) == {
        "workflow_name",
        "run_id",
        "holder",
        "backend",
        "fencing_token",
        "acquired_at",
        "expires_at",
    }
    assert inspect(fresh_engine).get_pk_constraint(TABLE)["constrained_columns"] == [
        "workflow_name",
        "run_id",
    ]


def test_the_lock_table_migration_goes_down_and_up(fresh_engine: Engine) -> None:
    migrate.downgrade(fresh_engine, "0003_evals")
    assert not inspect(fresh_engine).has_table(TABLE)
    assert migrate.current(fresh_engine) == "0003_evals"
    migrate.upgrade(fresh_engine)
    assert inspect(fresh_engine).has_table(TABLE)
    assert lock_table_diffs(fresh_engine) == []
