"""`--baseline mastra-ts`: Mastra's own TypeScript storage as a baseline.

Runs `node bench.mjs sqlite|pg N BATCH [PG_URL]` (from the folder
`../shared/mastra-ts/setup.sh` prints) and the very same workload in Python,
through the library (sync and async classes) and the raw driver, in
alternating rounds on fresh databases, and reports per workload the medians
and the ratios library / Mastra TS and library / raw.

The workload, as bench.mjs's header and body define it:

- `save_messages`: N = 10,000 new messages in one thread, BATCH = 100 per call
  (ids `m<j>`, roles alternating, v2 content of one ~150-character text part,
  `createdAt` 1 ms apart); messages per second.
- `list_page`: 200 random pages of 40 of that thread, with the total
  (`list_messages(thread_id, page, per_page=40)`); milliseconds per page.
- `persist_snapshot`: 1,000 new runs (`wf` / `run-<k>`, a ~0.2 KB snapshot);
  per second.
- `load_snapshot`: those 1,000 runs in order; per second.
- `get_thread`: `get_thread_by_id` of the thread, 1,000 times; per second.

Every Python side runs a full garbage collection before each timed
workload, as the harness does before each round: the objects made to set
it up (the 10,000 input messages among them) would otherwise make the
cycle collector's next full pass fall inside whichever timing comes first.

Target per workload (issue #13): throughput at least
`min(2 x Mastra TS, 0.7 x raw)`; page time at most `max(Mastra TS / 2, raw / 0.7)`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from mastra_storage import AsyncDefaultStorage, AsyncPostgresStorage

from . import harness
from .backends import Database, libpq_conninfo, open_database

UTC = timezone.utc
N = 10_000
BATCH = 100
PAGES = 200
RUNS = 1_000
THREAD = "bench-thread"
RESOURCE = "r1"

# (key in bench.mjs's JSON, workload label, kind: "throughput" per s or "time" in ms)
METRICS = (
    ("save_messages_per_s", "save_messages (100 per batch)", "throughput", "msg/s"),
    ("list_page_ms", "list page of 40 with total", "time", "ms/page"),
    ("persist_snapshot_per_s", "persist_workflow_snapshot", "throughput", "/s"),
    ("load_snapshot_per_s", "load_workflow_snapshot", "throughput", "/s"),
    ("get_thread_per_s", "get_thread_by_id", "throughput", "/s"),
)
SIDES = ("mastra-ts", "library", "library-async", "raw")


# -- finding Mastra TS -------------------------------------------------------------------


def setup_script() -> Path | None:
    """`shared/mastra-ts/setup.sh` beside the checkout (or `MASTRA_TS_SETUP`)."""
    given = os.environ.get("MASTRA_TS_SETUP")
    if given:
        return Path(given)
    here = Path(__file__).resolve().parent.parent
    for folder in [here, *here.parents]:
        candidate = folder.parent / "shared" / "mastra-ts" / "setup.sh"
        if candidate.is_file():
            return candidate
    return None


def find_mastra_ts() -> tuple[Path | None, str]:
    """The folder holding bench.mjs and Mastra's packages, or None and why not."""
    if shutil.which("node") is None:
        return None, "node is not installed (needs Node 20+)"
    folder = os.environ.get("MASTRA_TS_DIR")
    if folder and (Path(folder) / "node_modules" / "@mastra" / "pg").is_dir():
        return Path(folder), ""
    script = setup_script()
    if script is None:
        default = Path.home() / ".cache" / "mastra-ts"
        if (default / "bench.mjs").is_file() and (default / "node_modules/@mastra/pg").is_dir():
            return default, ""
        return None, "shared/mastra-ts/setup.sh not found (set MASTRA_TS_SETUP or MASTRA_TS_DIR)"
    try:
        done = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, timeout=900, check=True
        )
    except (subprocess.SubprocessError, OSError) as error:
        return None, f"{script} failed: {error}"
    folder_path = Path(done.stdout.strip().splitlines()[-1])
    if not (folder_path / "node_modules" / "@mastra" / "pg").is_dir():
        return None, f"Mastra's packages are missing in {folder_path} (npm install failed?)"
    return folder_path, ""


def ts_pg_url(pg_url: str) -> str:
    """The database bench.mjs uses on PostgreSQL (`MASTRA_TS_PG_URL`, else
    `mastra_ts` on the same server), created when missing."""
    given = os.environ.get("MASTRA_TS_PG_URL")
    url = make_url(given) if given else make_url(pg_url).set(database="mastra_ts")
    name = url.database or "mastra_ts"
    admin = libpq_conninfo(url.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return libpq_conninfo(url.render_as_string(hide_password=False))


def run_node(folder: Path, backend: str, pg_url: str) -> dict[str, float]:
    args = ["node", str(folder / "bench.mjs"), "sqlite" if backend == "sqlite" else "pg"]
    args += [str(N), str(BATCH)]
    if backend != "sqlite":
        args.append(ts_pg_url(pg_url))
    # bench.mjs writes its SQLite file into the temporary directory and leaves
    # it there: give it one of ours, removed afterwards.
    with tempfile.TemporaryDirectory(prefix="mastra-ts-bench-") as scratch:
        env = {**os.environ, "TMPDIR": scratch, "TMP": scratch, "TEMP": scratch}
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=900, cwd=folder, env=env
        )
    if done.returncode != 0:
        raise RuntimeError(f"bench.mjs failed: {done.stderr.strip()[-500:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the workload in Python --------------------------------------------------------------


def messages(first: int, last: int, base: datetime) -> list[dict[str, Any]]:
    return [
        {
            "id": f"m{j}",
            "thread_id": THREAD,
            "resource_id": RESOURCE,
            "role": "assistant" if j % 2 else "user",
            "content": {
                "format": 2,
                "parts": [{"type": "text", "text": f"message number {j} " + "lorem ipsum " * 10}],
            },
            "created_at": base + timedelta(milliseconds=j),
        }
        for j in range(first, min(last, N))
    ]


def snapshot(k: int) -> dict[str, Any]:
    return {
        "status": "running",
        "value": {},
        "context": {"step1": {"status": "success", "output": {"k": k}}},
        "activePaths": [],
        "runId": f"run-{k}",
        "timestamp": int(time.time() * 1000),
    }


@dataclass
class Steps:
    """The workload's inputs, made before any timing."""

    batches: list[list[dict[str, Any]]]
    pages: list[int]
    snapshots: list[dict[str, Any]]

    @classmethod
    def make(cls, seed: int) -> Steps:
        rng = random.Random(seed)
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(milliseconds=N * 10)
        return cls(
            batches=[messages(i, i + BATCH, base) for i in range(0, N, BATCH)],
            pages=[rng.randrange(N // 40) for _ in range(PAGES)],
            snapshots=[snapshot(k) for k in range(RUNS)],
        )


def _profile(side: str, step: str) -> Any:
    label = f"ts:{step}"
    if side == "library" and label in harness.PROFILE:
        return harness._profiled(label)
    return nullcontext()


def run_sync(ops: Any, steps: Steps, side: str) -> dict[str, float]:
    """The workload through a sync client (`LibraryClient` or a raw one)."""
    res: dict[str, float] = {}
    gc.collect()
    with _profile(side, "save_messages"):
        start = time.perf_counter()
        for batch in steps.batches:
            ops.save_messages(batch)
        res["save_messages_per_s"] = N / (time.perf_counter() - start)
    gc.collect()
    with _profile(side, "list_page"):
        start = time.perf_counter()
        for page in steps.pages:
            ops.list_page(THREAD, page)
        res["list_page_ms"] = (time.perf_counter() - start) * 1000 / PAGES
    gc.collect()
    with _profile(side, "persist_snapshot"):
        start = time.perf_counter()
        for k in range(RUNS):
            ops.persist_snapshot("wf", f"run-{k}", steps.snapshots[k])
        res["persist_snapshot_per_s"] = RUNS / (time.perf_counter() - start)
    gc.collect()
    with _profile(side, "load_snapshot"):
        start = time.perf_counter()
        for k in range(RUNS):
            if ops.load_snapshot("wf", f"run-{k}") is None:
                raise RuntimeError("missing snapshot")
        res["load_snapshot_per_s"] = RUNS / (time.perf_counter() - start)
    gc.collect()
    with _profile(side, "get_thread"):
        start = time.perf_counter()
        for _ in range(RUNS):
            ops.get_thread(THREAD)
        res["get_thread_per_s"] = RUNS / (time.perf_counter() - start)
    return res


async def run_async(storage: Any, steps: Steps) -> dict[str, float]:
    """The same workload through an async storage, in one event loop."""
    res: dict[str, float] = {}
    await storage.save_thread(thread={"id": THREAD, "resource_id": RESOURCE, "title": "t"})
    gc.collect()
    start = time.perf_counter()
    for batch in steps.batches:
        await storage.save_messages(messages=batch)
    res["save_messages_per_s"] = N / (time.perf_counter() - start)
    gc.collect()
    start = time.perf_counter()
    for page in steps.pages:
        await storage.list_messages(thread_id=THREAD, page=page, per_page=40)
    res["list_page_ms"] = (time.perf_counter() - start) * 1000 / PAGES
    gc.collect()
    start = time.perf_counter()
    for k in range(RUNS):
        await storage.persist_workflow_snapshot(
            workflow_name="wf", run_id=f"run-{k}", snapshot=steps.snapshots[k]
        )
    res["persist_snapshot_per_s"] = RUNS / (time.perf_counter() - start)
    gc.collect()
    start = time.perf_counter()
    for k in range(RUNS):
        if await storage.load_workflow_snapshot(workflow_name="wf", run_id=f"run-{k}") is None:
            raise RuntimeError("missing snapshot")
    res["load_snapshot_per_s"] = RUNS / (time.perf_counter() - start)
    gc.collect()
    start = time.perf_counter()
    for _ in range(RUNS):
        await storage.get_thread_by_id(thread_id=THREAD)
    res["get_thread_per_s"] = RUNS / (time.perf_counter() - start)
    return res


def run_python_side(side: str, backend: str, pg_url: str, seed: int) -> dict[str, float]:
    from .clients import LibraryClient

    steps = Steps.make(seed)
    with open_database(backend, pg_url, "ts") as database:
        if side == "raw":
            database.insert_threads([(THREAD, RESOURCE)])
            return run_sync(database.raw, steps, side)
        if side == "library":
            database.storage.save_thread(
                thread={"id": THREAD, "resource_id": RESOURCE, "title": "t"}
            )
            return run_sync(LibraryClient(database.storage), steps, side)
        return asyncio.run(_async_side(database, steps))


async def _async_side(database: Database, steps: Steps) -> dict[str, float]:
    storage: Any
    if database.backend == "sqlite":
        storage = AsyncDefaultStorage(name="bench-ts-async", url=database.url)
    else:
        storage = AsyncPostgresStorage(
            name="bench-ts-async", url=database.url, schema=database.schema
        )
    try:
        await storage.init()
        return await run_async(storage, steps)
    finally:
        await storage.close()


# -- rounds and report -------------------------------------------------------------------


@dataclass
class BaselineResult:
    backend: str
    samples: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    note: str = ""

    def median(self, side: str, key: str) -> float | None:
        values = [s[key] for s in self.samples.get(side, []) if key in s]
        return statistics.median(values) if values else None


def run_baseline(
    backends: list[str],
    pg_url: str,
    *,
    rounds: int = 3,
    progress: Callable[[str], None] = print,
) -> list[BaselineResult]:
    """`rounds` alternating rounds of every side per backend."""
    folder, why = find_mastra_ts()
    if folder is None:
        progress(f"Mastra TS baseline unavailable: {why}; running the other sides.")
    results = []
    for backend in backends:
        result = BaselineResult(backend, note="" if folder else f"Mastra TS not run: {why}")
        sides = [s for s in SIDES if folder is not None or s != "mastra-ts"]
        for r in range(rounds):
            shift = r % len(sides)
            for side in sides[shift:] + sides[:shift]:
                progress(f"  {backend}: baseline round {r + 1}/{rounds}: {side} ...")
                try:
                    if side == "mastra-ts":
                        assert folder is not None
                        sample = run_node(folder, backend, pg_url)
                    else:
                        sample = run_python_side(side, backend, pg_url, seed=r)
                except Exception as error:  # one side failing must not stop the rest
                    progress(f"    {side} failed: {error}")
                    result.note += f" {side} failed in round {r + 1}: {error}."
                    continue
                result.samples.setdefault(side, []).append(sample)
        results.append(result)
    return results


def _fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "time":
        return f"{value:.2f} ms"
    return f"{value:,.0f}/s"


def _speed(lib: float | None, other: float | None, kind: str) -> float | None:
    """How many times faster the library is (> 1: faster)."""
    if lib is None or other is None or lib == 0 or other == 0:
        return None
    return other / lib if kind == "time" else lib / other


def target_of(ts: float | None, raw: float | None, kind: str) -> float | None:
    if raw is None:
        return None
    if kind == "time":
        return max(ts / 2, raw / 0.7) if ts is not None else raw / 0.7
    return min(2 * ts, 0.7 * raw) if ts is not None else 0.7 * raw


def met(value: float | None, target: float | None, kind: str) -> bool | None:
    if value is None or target is None:
        return None
    return value <= target if kind == "time" else value >= target


def render_baseline(results: list[BaselineResult]) -> str:
    def x(v: float | None) -> str:
        return "—" if v is None else f"{v:.2f}x"

    lines = [
        "### Library against Mastra TS and the raw driver (bench.mjs's workload)",
        "",
        f"N = {N:,} messages, batches of {BATCH}, {PAGES} pages, {RUNS:,} runs; medians of "
        "each side's rounds, sides alternating. Ratios are speed ratios (> 1: the library is "
        "faster). Target: throughput ≥ min(2 x Mastra TS, 0.7 x raw), page time ≤ "
        "max(Mastra TS / 2, raw / 0.7).",
        "",
        "| Backend | Workload | Mastra TS | Library | Library (async) | Raw driver "
        "| Library / Mastra TS | Library / raw | Async / sync | Target | Met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for result in results:
        for key, label, kind, _unit in METRICS:
            ts = result.median("mastra-ts", key)
            lib = result.median("library", key)
            alib = result.median("library-async", key)
            raw = result.median("raw", key)
            target = target_of(ts, raw, kind)
            ok = met(lib, target, kind)
            verdict = "—" if ok is None else ("yes" if ok else "**no**")
            lines.append(
                f"| {result.backend} | {label} | {_fmt(ts, kind)} | {_fmt(lib, kind)} "
                f"| {_fmt(alib, kind)} | {_fmt(raw, kind)} | {x(_speed(lib, ts, kind))} "
                f"| {x(_speed(lib, raw, kind))} | {x(_speed(alib, lib, kind))} "
                f"| {('≤ ' if kind == 'time' else '≥ ') + _fmt(target, kind) if target else '—'} "
                f"| {verdict} |"
            )
        if result.note:
            notes.append(f"- {result.backend}: {result.note.strip()}")
    lines.append("")
    counts = {r.backend: {side: len(r.samples.get(side, [])) for side in SIDES} for r in results}
    lines.append(
        "Rounds per side: "
        + "; ".join(
            f"{b}: " + ", ".join(f"{s} {n}" for s, n in c.items()) for b, c in counts.items()
        )
    )
    if notes:
        lines += ["", *notes]
    lines.append("")
    return "\n".join(lines)
