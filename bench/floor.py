"""`python -m bench.floor`: the per-call floor, in client CPU time.

Each of bench.mjs's calls (see `bench/mastra_ts.py`) on one small database,
through the sync and the async classes, on SQLite (file) and PostgreSQL:
this process's CPU time per call (`time.process_time`, best of 7 rounds), which
a busy machine disturbs far less than wall time. Run it in two checkouts to
compare library versions (docs/benchmarks.md, "The per-call floor").

    python -m bench.floor [--backends sqlite,postgresql] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from mastra_storage import (
    AsyncDefaultStorage,
    AsyncPostgresStorage,
    DefaultStorage,
    PostgresStorage,
)

from .backends import libpq_conninfo, pg_url_from_env
from .mastra_ts import RESOURCE, THREAD, Steps

ROUNDS = 7
CALLS = (
    ("get_thread_by_id", 300),
    ("load_workflow_snapshot", 300),
    ("persist_workflow_snapshot", 200),
    ("list_messages page of 40 + total", 100),
    ("list_messages last 40", 100),
    ("save_messages batch of 100", 10),
)


def _calls(storage: Any, steps: Steps) -> dict[str, Callable[[int], Any]]:
    batches = steps.batches

    def save(i: int) -> Any:
        batch = [{**m, "id": f"f{i}-{m['id']}"} for m in batches[i % len(batches)]]
        return storage.save_messages(messages=batch)

    return {
        "get_thread_by_id": lambda i: storage.get_thread_by_id(thread_id=THREAD),
        "load_workflow_snapshot": lambda i: storage.load_workflow_snapshot(
            workflow_name="wf", run_id=f"run-{i % 50}"
        ),
        "persist_workflow_snapshot": lambda i: storage.persist_workflow_snapshot(
            workflow_name="wf", run_id=f"run-{i % 50}", snapshot=steps.snapshots[i % 50]
        ),
        "list_messages page of 40 + total": lambda i: storage.list_messages(
            thread_id=THREAD, page=steps.pages[i % len(steps.pages)] % 25, per_page=40
        ),
        "list_messages last 40": lambda i: storage.list_messages(
            thread_id=THREAD, per_page=40, direction="DESC", count_total=False
        ),
        "save_messages batch of 100": save,
    }


def _fill(storage: Any, steps: Steps) -> None:
    storage.save_thread(thread={"id": THREAD, "resource_id": RESOURCE, "title": "t"})
    for batch in steps.batches[:10]:
        storage.save_messages(messages=batch)
    for k in range(50):
        storage.persist_workflow_snapshot(
            workflow_name="wf", run_id=f"run-{k}", snapshot=steps.snapshots[k]
        )


def measure_sync(storage: Any, steps: Steps) -> dict[str, float]:
    calls = _calls(storage, steps)
    out = {}
    for name, n in CALLS:
        call = calls[name]
        call(0)
        best = float("inf")
        for r in range(ROUNDS):
            start = time.process_time()
            for i in range(n):
                call(r * n + i)
            best = min(best, (time.process_time() - start) / n)
        out[name] = best
    return out


async def measure_async(storage: Any, steps: Steps) -> dict[str, float]:
    calls: dict[str, Callable[[int], Awaitable[Any]]] = _calls(storage, steps)
    out = {}
    for name, n in CALLS:
        call = calls[name]
        await call(0)
        best = float("inf")
        for r in range(ROUNDS):
            # Process time: aiosqlite's worker thread works for the async side.
            start = time.process_time()
            for i in range(n):
                await call(10_000 + r * n + i)
            best = min(best, (time.process_time() - start) / n)
        out[name] = best
    return out


def run(backend: str, pg_url: str) -> dict[str, dict[str, float]]:
    steps = Steps.make(7)
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix="mastra-floor-")
        url = f"file:{os.path.join(folder, 'floor.db')}"
        sync: Any = DefaultStorage(url=url)
        schema = None
    else:
        schema = f"bench_floor_{uuid.uuid4().hex[:8]}"
        sync = PostgresStorage(url=pg_url, schema=schema)
    try:
        sync.init()
        _fill(sync, steps)
        result = {"sync": measure_sync(sync, steps)}

        async def side() -> dict[str, float]:
            storage: Any = (
                AsyncDefaultStorage(url=url)
                if backend == "sqlite"
                else AsyncPostgresStorage(url=pg_url, schema=schema)
            )
            try:
                await storage.init()
                return await measure_async(storage, steps)
            finally:
                await storage.close()

        result["async"] = asyncio.run(side())
        return result
    finally:
        sync.close()
        if schema is not None:
            with psycopg.connect(libpq_conninfo(pg_url), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=None)
    args = parser.parse_args()
    pg_url = args.pg_url or pg_url_from_env()
    print("| Backend | Call | Sync CPU per call | Async CPU per call |")
    print("|---|---|---|---|")
    for backend in args.backends.split(","):
        result = run(backend.strip(), pg_url)
        for name, _ in CALLS:
            sync_us = result["sync"][name] * 1e6
            async_us = result["async"][name] * 1e6
            print(f"| {backend} | {name} | {sync_us:,.0f} µs | {async_us:,.0f} µs |")


if __name__ == "__main__":
    main()
