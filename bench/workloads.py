"""The library-against-raw workloads, run on one database."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .backends import Database, message_id
from .clients import Client, LibraryClient
from .data import BASE_TIME, message_batches, step_result, workflow_snapshot
from .harness import Op, Timing, compare
from .locks import raw_lock_cycle

READ_THREAD = "bench-read"
READ_THREAD_SIZE = 10_000
POINT_THREADS = 1_000
RUNS = 1_000
BATCH = 100
LOCKED_RUNS = 20


@dataclass(frozen=True)
class Target:
    """A goal for library ÷ raw: `kind` "throughput" (library throughput at
    least `value` x raw) or "time" (library time at most `value` x raw)."""

    kind: str
    value: float

    @property
    def max_time_ratio(self) -> float:
        return 1.0 / self.value if self.kind == "throughput" else self.value

    def describe(self) -> str:
        if self.kind == "throughput":
            return f"≥ {self.value:g}x raw throughput"
        return f"≤ {self.value:g}x raw time"


@dataclass
class Result:
    backend: str
    workload: str
    unit: str
    library: Timing | None
    raw: Timing | None
    target: Target | None
    note: str = ""

    @property
    def time_ratio(self) -> float | None:
        if self.library is None or self.raw is None:
            return None
        return self.library.seconds_per_op / self.raw.seconds_per_op

    @property
    def met(self) -> bool | None:
        ratio = self.time_ratio
        if ratio is None or self.target is None:
            return None
        return ratio <= self.target.max_time_ratio


@dataclass(frozen=True)
class Sizes:
    """How much work each workload does: rounds x operations per round, per side."""

    save_rounds: int
    save_batches_per_round: int
    read_rounds: int
    reads_per_round: int
    snapshot_rounds: int
    snapshots_per_round: int

    @classmethod
    def full(cls) -> Sizes:
        # 100 batches of 100 = 10,000 messages and 1,000 runs per side.
        return cls(10, 10, 10, 100, 10, 100)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(5, 4, 5, 30, 5, 20)


def point_target(backend: str) -> Target:
    # A server over TCP costs the raw side a round trip too; SQLite in-process does not.
    return Target("throughput", 0.5 if backend in ("postgresql", "mysql") else 0.25)


def run_workloads(
    database: Database,
    sizes: Sizes,
    *,
    only: set[str] | None = None,
    progress: Callable[[str], None] = print,
) -> list[Result]:
    """Every workload on `database`, library against raw."""
    backend = database.backend
    library = LibraryClient(database.storage)
    raw: Client = database.raw
    rng = random.Random(42)
    results: list[Result] = []

    def wanted(name: str) -> bool:
        return only is None or name in only

    def record(
        name: str, unit: str, lib_op: Op, raw_op: Op, rounds: int, per_round: int, **kw: Any
    ) -> None:
        progress(f"  {backend}: {name} ...")
        lib_t, raw_t = compare(
            lib_op, raw_op, ops_per_round=per_round, rounds=rounds, name=name, **kw
        )
        results.append(Result(backend, name, unit, lib_t, raw_t, kw_target(name, backend)))

    # Set-up (not measured): a 10,000-message thread to read, threads for
    # point reads and for the writers.
    database.insert_threads([(READ_THREAD, "bench-user")])
    database.load_messages(READ_THREAD, "bench-user", 0, READ_THREAD_SIZE)
    thread_ids = [f"bench-thread-{i:04d}" for i in range(POINT_THREADS)]
    database.insert_threads([(t, "bench-user") for t in thread_ids])
    database.insert_threads(
        [("bench-save-library", "bench-user"), ("bench-save-raw", "bench-user")]
    )

    if wanted("save_messages"):
        total = sizes.save_rounds * sizes.save_batches_per_round
        starts = BASE_TIME + timedelta(days=1)
        lib_batches = message_batches(
            "bench-save-library", batches=total + 1, size=BATCH, start=starts, seed=1
        )
        raw_batches = message_batches(
            "bench-save-raw", batches=total + 1, size=BATCH, start=starts, seed=2
        )
        record(
            "save_messages",
            f"batch of {BATCH}",
            lambda i: library.save_messages(lib_batches[i]),
            lambda i: raw.save_messages(raw_batches[i]),
            sizes.save_rounds,
            sizes.save_batches_per_round,
            warmup=1,
        )

    read_ops = sizes.read_rounds * sizes.reads_per_round + 5
    pages = [rng.randrange(READ_THREAD_SIZE // 40) for _ in range(read_ops)]
    if wanted("list_messages_page"):
        record(
            "list_messages_page",
            "page of 40 (+COUNT)",
            lambda i: library.list_page(READ_THREAD, pages[i]),
            lambda i: raw.list_page(READ_THREAD, pages[i]),
            sizes.read_rounds,
            sizes.reads_per_round,
            warmup=5,
        )
    if wanted("last_40"):
        record(
            "last_40",
            "read",
            lambda i: library.last_messages(READ_THREAD, 40),
            lambda i: raw.last_messages(READ_THREAD, 40),
            sizes.read_rounds,
            sizes.reads_per_round,
            warmup=5,
        )
    targets = [message_id(READ_THREAD, rng.randrange(READ_THREAD_SIZE)) for _ in range(read_ops)]
    if wanted("context_window"):
        record(
            "context_window",
            "±5 around a message",
            lambda i: library.context_window(READ_THREAD, targets[i], 5, 5),
            lambda i: raw.context_window(READ_THREAD, targets[i], 5, 5),
            sizes.read_rounds,
            sizes.reads_per_round,
            warmup=5,
        )
    picks = [rng.choice(thread_ids) for _ in range(read_ops)]
    if wanted("get_thread_by_id"):
        record(
            "get_thread_by_id",
            "read",
            lambda i: library.get_thread(picks[i]),
            lambda i: raw.get_thread(picks[i]),
            sizes.read_rounds,
            sizes.reads_per_round,
            warmup=5,
        )

    runs = sizes.snapshot_rounds * sizes.snapshots_per_round
    snapshots = [workflow_snapshot(f"run-{i:05d}", rng) for i in range(runs + 5)]
    persisted = {"wf-library": 0, "wf-raw": 0}

    def persist(client: Client, workflow: str) -> Op:
        def op(i: int) -> object:
            persisted[workflow] = max(persisted[workflow], i + 1)
            return client.persist_snapshot(workflow, f"run-{i:05d}", snapshots[i])

        return op

    if wanted("persist_workflow_snapshot"):
        record(
            "persist_workflow_snapshot",
            "new run (upsert)",
            persist(library, "wf-library"),
            persist(raw, "wf-raw"),
            sizes.snapshot_rounds,
            sizes.snapshots_per_round,
            warmup=5,
        )
    stored = min(persisted.values())
    if stored == 0:  # persist not run: store the runs (not measured)
        for i in range(runs + 5):
            library.persist_snapshot("wf-library", f"run-{i:05d}", snapshots[i])
            raw.persist_snapshot("wf-raw", f"run-{i:05d}", snapshots[i])
        stored = runs + 5
    run_picks = [f"run-{rng.randrange(stored):05d}" for _ in range(read_ops)]
    if wanted("load_workflow_snapshot"):
        record(
            "load_workflow_snapshot",
            "read",
            lambda i: library.load_snapshot("wf-library", run_picks[i]),
            lambda i: raw.load_snapshot("wf-raw", run_picks[i]),
            sizes.snapshot_rounds,
            sizes.snapshots_per_round,
            warmup=5,
        )
    results_in = [step_result(rng) for _ in range(read_ops)]
    if wanted("update_workflow_results"):
        record(
            "update_workflow_results",
            "locked read-modify-write",
            lambda i: library.update_results(
                "wf-library", run_picks[i], f"step-x{i % 4}", results_in[i]
            ),
            lambda i: raw.update_results("wf-raw", run_picks[i], f"step-x{i % 4}", results_in[i]),
            sizes.snapshot_rounds,
            sizes.snapshots_per_round,
            warmup=5,
        )

    if wanted("workflow_run_lock"):
        name = "workflow_run_lock"
        if not library.has_locks:
            results.append(
                Result(
                    backend,
                    name,
                    "acquire + release",
                    None,
                    None,
                    None,
                    "skipped: try_acquire_workflow_run_lock / release_workflow_run_lock "
                    "not in this version of the library",
                )
            )
        else:
            baseline, note = raw_lock_cycle(database)
            # Runs locked before (the warm-up locks each once): a worker resuming runs.
            record(
                name,
                "acquire + release",
                lambda i: library.lock_cycle("wf-lock", f"run-{i % LOCKED_RUNS:05d}"),
                lambda i: baseline("wf-lock-raw", f"run-{i % LOCKED_RUNS:05d}"),
                sizes.snapshot_rounds,
                sizes.snapshots_per_round,
                warmup=LOCKED_RUNS,
            )
            results[-1].note = note
    return results


def kw_target(name: str, backend: str) -> Target | None:
    if name == "save_messages":
        return Target("throughput", 0.6)
    if name in ("list_messages_page", "last_40", "context_window"):
        return Target("time", 1.25)
    if name in ("get_thread_by_id", "persist_workflow_snapshot", "load_workflow_snapshot"):
        return point_target(backend)
    return None


WORKLOADS = (
    "save_messages",
    "list_messages_page",
    "last_40",
    "context_window",
    "get_thread_by_id",
    "persist_workflow_snapshot",
    "load_workflow_snapshot",
    "update_workflow_results",
    "workflow_run_lock",
)
