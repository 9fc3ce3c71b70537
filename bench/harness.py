"""Timing and memory measurement.

Time: the library and the raw baseline run in alternating rounds (library
first in even rounds, raw first in odd ones), so that drift on a busy machine
falls on both. Each side's result is its best round's mean time per operation:
the round least disturbed by anything else running, the same statistic on
both sides (the median round is kept too). This process's CPU time is taken
over the same rounds.

Memory: `tracemalloc` peaks of single operations (Python allocations: the
rows, models and statements a read makes), in a separate pass, because
tracing slows everything down.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

K = TypeVar("K")
Op = Callable[[int], object]
"""One operation; the argument numbers it (0, 1, 2, ... across all rounds)."""

PROFILE: set[str] = set()
"""Names of the comparisons whose library rounds run under pyinstrument."""
PROFILERS: dict[str, Any] = {}
"""name -> its pyinstrument Profiler (samples of every round accumulate)."""


@contextmanager
def _profiled(name: str) -> Iterator[None]:
    from pyinstrument import Profiler  # optional: pip install -e '.[bench]'

    profiler = PROFILERS.setdefault(name, Profiler(interval=0.0002))
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()


def profile_reports(*, show_all: bool = False) -> dict[str, str]:
    return {
        name: profiler.output_text(unicode=True, color=False, show_all=show_all)
        for name, profiler in PROFILERS.items()
    }


@dataclass
class Timing:
    seconds_per_op: float
    ops: int
    cpu_seconds_per_op: float = 0.0
    """This process's CPU time (user + system) per operation, in the same
    round: the client-side cost."""
    median_seconds_per_op: float = 0.0

    @property
    def ops_per_second(self) -> float:
        return 1.0 / self.seconds_per_op if self.seconds_per_op else float("inf")


def compare(
    library: Op, raw: Op, *, ops_per_round: int, rounds: int, warmup: int = 0, name: str = ""
) -> tuple[Timing, Timing]:
    """Time `library` and `raw` in alternating rounds; numbers 0..warmup-1 go
    to the warm-up, the measured operations follow. With `name` in `PROFILE`,
    the library's rounds are profiled (and then slower than usual)."""
    timings = compare_many(
        {"library": library, "raw": raw},
        ops_per_round=ops_per_round,
        rounds=rounds,
        warmup=warmup,
        profile={"library": name} if name in PROFILE else {},
    )
    return timings["library"], timings["raw"]


def compare_many(
    contenders: dict[K, Op],
    *,
    ops_per_round: int,
    rounds: int,
    warmup: int = 0,
    profile: dict[K, str] | None = None,
) -> dict[K, Timing]:
    """Time each contender in rounds, the order rotated from round to round,
    so that a machine slowing down or speeding up meanwhile affects them all
    alike. `profile` names the contenders to run under pyinstrument."""
    keys = list(contenders)
    for i in range(warmup):
        for key in keys:
            contenders[key](i)
    samples: dict[K, list[float]] = {key: [] for key in keys}
    cpu: dict[K, list[float]] = {key: [] for key in keys}
    for r in range(rounds):
        first = warmup + r * ops_per_round
        shift = r % len(keys)
        for key in keys[shift:] + keys[:shift]:
            op = contenders[key]
            label = (profile or {}).get(key)
            profiling: Any = _profiled(label) if label else nullcontext()
            gc.collect()
            with profiling:
                start, start_cpu = time.perf_counter(), time.process_time()
                for i in range(first, first + ops_per_round):
                    op(i)
                elapsed = time.perf_counter() - start
                elapsed_cpu = time.process_time() - start_cpu
            samples[key].append(elapsed / ops_per_round)
            cpu[key].append(elapsed_cpu / ops_per_round)
    total = rounds * ops_per_round

    def timing(key: K) -> Timing:
        best = min(range(rounds), key=lambda r: samples[key][r])
        return Timing(samples[key][best], total, cpu[key][best], statistics.median(samples[key]))

    return {key: timing(key) for key in keys}


def peak_memory(op: Op, *, ops: int, first: int = 0) -> int:
    """Bytes: the tracemalloc peak of one `op` call above the traced size just
    before it; the median over `ops` calls (after one untraced warm-up call).

    A full collection before each call clears the previous call's reference
    cycles, so each peak is what one call holds at once, not garbage that
    happened to be awaiting the cycle collector; the median ignores the odd
    call that grows a cache. Anything that grows with the thread shows in
    every call."""
    op(first)
    tracemalloc.start()
    try:
        peaks = []
        for i in range(first + 1, first + 1 + ops):
            gc.collect()
            base, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            op(i)
            _, peak = tracemalloc.get_traced_memory()
            peaks.append(peak - base)
    finally:
        tracemalloc.stop()
    return int(statistics.median(peaks))
