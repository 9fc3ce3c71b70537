"""How the per-turn reads grow with the thread: the last 40 messages and a +-5
context window on threads of 1k, 100k and 1M messages (library and raw), with
the peak memory of those reads.

All the threads live in one table (as in a real deployment, where small and
huge threads share it), loaded by raw bulk inserts (COPY on PostgreSQL,
then ANALYZE; executemany on SQLite), which is set-up and not measured. The
reads of every size and side are then timed in rotating rounds, so that the
machine's speed drifting during the run does not pass for growth.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .backends import Database, message_id
from .clients import Client, LibraryClient
from .harness import PROFILE, Op, Timing, compare_many, peak_memory

READS = ("last_40", "context_window")


@dataclass
class GrowthPoint:
    backend: str
    size: int
    load_seconds: float
    timings: dict[str, tuple[Timing, Timing]] = field(default_factory=dict)
    """read -> (library, raw)"""
    memory: dict[str, tuple[int, int]] = field(default_factory=dict)
    """read -> (library, raw): tracemalloc peak bytes of one read"""


def thread_of(size: int) -> str:
    return f"bench-grow-{size}"


def run_growth(
    database: Database,
    sizes: Sequence[int],
    *,
    rounds: int,
    reads_per_round: int,
    memory_reads: int,
    progress: Callable[[str], None] = print,
) -> list[GrowthPoint]:
    """One thread per size, each bulk-loaded (not measured); then the reads
    on each, library and raw, timed together."""
    library = LibraryClient(database.storage)
    raw: Client = database.raw
    rng = random.Random(7)
    points: list[GrowthPoint] = []
    for size in sorted(sizes):
        progress(f"  {database.backend}: loading a thread of {size:,} messages ...")
        database.insert_threads([(thread_of(size), "bench-user")])
        seconds = database.load_messages(thread_of(size), "bench-user", 0, size)
        points.append(GrowthPoint(database.backend, size, seconds))

    warmup = 20
    n = warmup + rounds * reads_per_round + memory_reads + 1
    for read in READS:
        progress(f"  {database.backend}: {read} on {len(points)} thread sizes ...")
        contenders: dict[tuple[int, str], Op] = {}
        for point in points:
            thread = thread_of(point.size)
            targets = [message_id(thread, rng.randrange(point.size)) for _ in range(n)]
            lib_op, raw_op = _reads(read, library, raw, thread, targets)
            contenders[(point.size, "library")] = lib_op
            contenders[(point.size, "raw")] = raw_op
        timings = compare_many(
            contenders,
            ops_per_round=reads_per_round,
            rounds=rounds,
            warmup=warmup,
            profile={
                (p.size, "library"): f"growth:{read}:{p.size}"
                for p in points
                if f"growth:{read}" in PROFILE
            },
        )
        first = warmup + rounds * reads_per_round
        for point in points:
            point.timings[read] = (timings[(point.size, "library")], timings[(point.size, "raw")])
            point.memory[read] = (
                peak_memory(contenders[(point.size, "library")], ops=memory_reads, first=first),
                peak_memory(contenders[(point.size, "raw")], ops=memory_reads, first=first),
            )
    return points


def _reads(
    read: str, library: Client, raw: Client, thread: str, targets: list[str]
) -> tuple[Op, Op]:
    """The (library, raw) operations of one read on one thread."""
    if read == "last_40":
        return (
            lambda i: library.last_messages(thread, 40),
            lambda i: raw.last_messages(thread, 40),
        )
    return (
        lambda i: library.context_window(thread, targets[i], 5, 5),
        lambda i: raw.context_window(thread, targets[i], 5, 5),
    )
