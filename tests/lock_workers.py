"""Worker processes of tests/test_locks.py (not a test module).

Kept apart so that each spawned worker imports only the library, not pytest
and the test suite: eight workers start in a fraction of the time on 2 cores.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from mastra_storage import (
    AsyncMastraStorage,
    AsyncMySQLStorage,
    DefaultStorage,
    FencingTokenError,
    MastraStorage,
    MySQLStorage,
    PostgresStorage,
)

WF = "trip-planner"
ROUNDS = 200
CONTENDERS = 8
CHURN = 60


class Blocking:
    """An async storage driven from this (sync) worker: each call runs to
    completion on the worker's own event loop."""

    def __init__(self, storage: AsyncMastraStorage) -> None:
        self._storage, self._loop = storage, asyncio.new_event_loop()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._storage, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            result = value(*args, **kwargs)
            return self._loop.run_until_complete(result) if asyncio.iscoroutine(result) else result

        return call


def open_storage(spec: dict[str, Any]) -> Any:
    """The storage a spec names (`asynchronous`: the async class, made blocking)."""
    lock_backend = spec["lock_backend"]
    if spec["name"] == "postgresql":
        return PostgresStorage(url=spec["url"], schema=spec["schema"], lock_backend=lock_backend)
    if spec["name"] == "mysql":
        if spec.get("asynchronous"):
            return Blocking(AsyncMySQLStorage(url=spec["url"], lock_backend=lock_backend))
        return MySQLStorage(url=spec["url"], lock_backend=lock_backend)
    return DefaultStorage(url=spec["url"], lock_backend=lock_backend)


def race(
    storage: MastraStorage,
    run_id: str,
    worker: int,
    barrier: Any,
    record: Callable[[str], None],
) -> list[bool]:
    """ROUNDS barrier rounds (all try at once while a winner holds), then CHURN
    free-running attempts, continued until the worker has held the lock once.
    Every holder records `enter <token>` after acquiring and `exit` before
    releasing."""

    def hold_once() -> bool:
        if not storage.try_acquire_workflow_run_lock(workflow_name=WF, run_id=run_id):
            return False
        lock = storage.get_workflow_run_lock(workflow_name=WF, run_id=run_id)
        assert lock is not None and lock.holder == storage.lock_holder
        record(f"{worker} enter {lock.fencing_token}")
        return True

    def let_go() -> None:
        record(f"{worker} exit")
        storage.release_workflow_run_lock(workflow_name=WF, run_id=run_id)

    wins = []
    for _ in range(ROUNDS):
        barrier.wait(timeout=60)
        won = hold_once()
        barrier.wait(timeout=60)  # everyone has tried while the winner holds
        if won:
            let_go()
        wins.append(won)
    barrier.wait(timeout=60)
    # CHURN free-running attempts, and on until this worker has held the lock
    # once (bounded): every contender gets its turn, however loaded the machine.
    attempts, held, deadline = 0, 0, time.monotonic() + 60
    while attempts < CHURN or (not held and time.monotonic() < deadline):
        attempts += 1
        if hold_once():
            held += 1
            let_go()
    return wins


def race_process(
    spec: dict[str, Any], run_id: str, worker: int, barrier: Any, path: str, results: Any
) -> None:
    storage = open_storage(spec)
    storage.init()
    with open(path, "a", buffering=1) as shared:  # one O_APPEND write per line

        def record(line: str) -> None:
            shared.write(line + "\n")

        wins = race(storage, run_id, worker, barrier, record)
    storage.close()
    results.put((worker, wins))


def hold_until_killed(spec: dict[str, Any], run_id: str, ttl_ms: int, out: Any) -> None:
    storage = open_storage(spec)
    acquired = storage.try_acquire_workflow_run_lock(workflow_name=WF, run_id=run_id, ttl_ms=ttl_ms)
    lock = storage.get_workflow_run_lock(workflow_name=WF, run_id=run_id)
    out.put((acquired, lock.model_dump() if lock else None))
    time.sleep(600)


def hold_then_write(spec: dict[str, Any], run_id: str, ttl_ms: int, out: Any, go: Any) -> None:
    """Take the lock without a heartbeat, write under it, say so; then (after
    the test has paused and resumed this process) write again with the same
    token and report whether that late write was refused."""
    storage = open_storage(spec)
    acquired = storage.try_acquire_workflow_run_lock(workflow_name=WF, run_id=run_id, ttl_ms=ttl_ms)
    lock = storage.get_workflow_run_lock(workflow_name=WF, run_id=run_id)
    token = lock.fencing_token if lock else None
    storage.persist_workflow_snapshot(
        workflow_name=WF, run_id=run_id, snapshot={"value": "first"}, fencing_token=token
    )
    out.put((acquired, token))
    go.wait(timeout=120)
    try:
        storage.persist_workflow_snapshot(
            workflow_name=WF, run_id=run_id, snapshot={"value": "late"}, fencing_token=token
        )
        out.put("written")
    except FencingTokenError:
        out.put("refused")
    renewed = storage.renew_workflow_run_lock(workflow_name=WF, run_id=run_id, ttl_ms=ttl_ms)
    out.put("renewed" if renewed else "lost")
    storage.close()
