"""`python -m bench.memory`: what `Memory.recall` costs.

1. History only (no semantic search): `Memory.recall` (last 10 messages,
   owner check, working memory) against the plain storage read it replaces,
   `list_messages(per_page=10, direction="DESC", count_total=False)`, on a
   thread of 10,000 messages, in alternating rounds; target ratio <= 1.2.
2. Semantic recall (`top_k` 4, `message_range` 1, resource scope) with 1k,
   10k and 100k vectors of 384 dimensions in scope: time per recall and the
   tracemalloc peak of one recall (Python and numpy allocations).
3. PostgreSQL only: reading the scope's vectors (what the search streams) with
   rows in the binary format, as the library does, against the text format
   (`bytea` as hex), in alternating rounds.

    python -m bench.memory                       # SQLite file + PostgreSQL
    python -m bench.memory --backends sqlite --sizes 1k,10k
    python -m bench.memory --markdown docs/benchmarks.md   # into its own section
    python -m bench.memory --pgserver --markdown docs/benchmarks.md
        # PostgreSQL 16 + pgvector from the `pgserver` package (dev extra),
        # started for the run: semantic recall through the HNSW index

Set-up (bulk loads) is not measured. The query embedder returns a fixed
random vector: the model's own time is not the storage's.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import select
from sqlalchemy import text as sql_text

from mastra_storage import Memory
from mastra_storage.dialects import BINARY_RESULTS_OPTION
from mastra_storage.orm import MemoryMessageRow
from mastra_storage.repositories import VectorRepository, VectorRow
from mastra_storage.repositories.vectors import hnsw_index_name

from .backends import (
    Database,
    libpq_conninfo,
    message_id,
    open_database,
    pg_url_from_env,
    postgres_problem,
)
from .data import BASE_TIME
from .harness import compare_many, peak_memory

DIMENSION = 384
HISTORY_THREAD_SIZE = 10_000
MARK = "memory-bench"
PGVECTOR_MARK = "memory-bench-pgvector"


class RandomEmbedder:
    """A stand-in model: a fixed pseudo-random unit vector per text."""

    dimension = DIMENSION

    def embed(self, texts: list[str]) -> list[list[float]]:
        out = []
        for text in texts:
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")
            out.append(np.random.default_rng(seed).standard_normal(DIMENSION).tolist())
        return out


@dataclass
class HistoryResult:
    backend: str
    recall_ms: float
    plain_ms: float

    @property
    def ratio(self) -> float:
        return self.recall_ms / self.plain_ms


@dataclass
class SemanticResult:
    backend: str
    vectors: int
    median_ms: float
    peak_kib: float


@dataclass
class FormatResult:
    vectors: int
    binary_ms: float
    text_ms: float


def run_history(database: Database, rounds: int, ops: int) -> HistoryResult:
    thread, resource = "hist", "hist-user"
    database.insert_threads([(thread, resource)])
    database.load_messages(thread, resource, 0, HISTORY_THREAD_SIZE)
    storage = database.storage
    memory = Memory(storage)

    def recall(_: int) -> None:
        memory.recall(thread_id=thread, resource_id=resource)

    def plain(_: int) -> None:
        storage.list_messages(thread_id=thread, per_page=10, direction="DESC", count_total=False)

    timings = compare_many(
        {"recall": recall, "plain": plain}, ops_per_round=ops, rounds=rounds, warmup=50
    )
    return HistoryResult(
        database.backend,
        timings["recall"].median_seconds_per_op * 1000,
        timings["plain"].median_seconds_per_op * 1000,
    )


def load_vectors(database: Database, resource: str, thread: str, count: int) -> None:
    """`count` random unit vectors into the scope, through the library's
    upsert. With pgvector, the HNSW index is dropped first and built anew once
    the vectors are in: in bulk, much faster than a graph insert per vector."""
    index = hnsw_index_name(DIMENSION)
    with database.storage.session_scope() as session:
        session.execute(sql_text(f"DROP INDEX IF EXISTS {index}"))
    rng = np.random.default_rng(count)
    done = 0
    while done < count:
        n = min(5_000, count - done)
        matrix = rng.standard_normal((n, DIMENSION)).astype("<f4")
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        rows = [
            VectorRow(
                message_id=message_id(thread, done + i),
                thread_id=thread,
                resource_id=resource,
                dimension=DIMENSION,
                vector=matrix[i].tobytes(),
                created_at=BASE_TIME,
            )
            for i in range(n)
        ]
        with database.storage.session_scope() as session:
            VectorRepository(session).upsert(rows)
        done += n
    with database.storage.session_scope() as session:
        repository = VectorRepository(session)
        if repository.pgvector is not None:
            session.execute(sql_text("SET LOCAL maintenance_work_mem = '1GB'"))
            repository.ensure_hnsw_index(DIMENSION)


def compare_formats(database: Database, resource: str, size: int) -> FormatResult:
    """Stream the scope's (message_id, vector) rows as the search does, in
    binary and in text rows, alternating."""
    table = MemoryMessageRow.__table__.c

    def read(binary: bool) -> None:
        stmt = (
            select(table.message_id, table.vector)
            .where(table.resource_id == resource)
            .execution_options(yield_per=2048, **{BINARY_RESULTS_OPTION: binary})
        )
        with database.storage.session_scope() as session:
            rows = sum(len(part) for part in session.execute(stmt).partitions(2048))
        assert rows == size

    timings = compare_many(
        {"binary": lambda _: read(True), "text": lambda _: read(False)},
        ops_per_round=1 if size >= 50_000 else 5,
        rounds=4,
        warmup=1,
    )
    return FormatResult(
        size,
        timings["binary"].median_seconds_per_op * 1000,
        timings["text"].median_seconds_per_op * 1000,
    )


def run_semantic(
    database: Database, sizes: Sequence[int], calls: int, formats: list[FormatResult]
) -> list[SemanticResult]:
    results = []
    for size in sizes:
        thread, resource = f"sem-{size}", f"sem-user-{size}"
        database.insert_threads([(thread, resource)])
        database.load_messages(thread, resource, 0, size)
        load_vectors(database, resource, thread, size)
        memory = Memory(
            database.storage,
            options={"semantic_recall": True},
            embedder=RandomEmbedder(),
        )

        def recall(
            i: int, thread: str = thread, resource: str = resource, memory: Memory = memory
        ) -> None:
            context = memory.recall(thread_id=thread, resource_id=resource, query=f"q{i % 7}")
            assert len(context.recalled_ids) == 4

        recall(0)  # warm-up: statement caches, the first server-side cursor
        times = []
        for i in range(calls):
            start = time.perf_counter()
            recall(i)
            times.append(time.perf_counter() - start)
        peak = peak_memory(recall, ops=3)
        results.append(
            SemanticResult(database.backend, size, statistics.median(times) * 1000, peak / 1024)
        )
        print(f"  {database.backend} {size:,} vectors: {results[-1].median_ms:.1f} ms", flush=True)
        if database.backend == "postgresql":
            formats.append(compare_formats(database, resource, size))
    return results


def render(
    history: list[HistoryResult],
    semantic: list[SemanticResult],
    formats: list[FormatResult],
    command: str,
) -> str:
    lines = [
        f"Command: `{command}`",
        "",
        "History only: `Memory.recall` (last 10, owner check, working memory) against",
        "`list_messages(per_page=10, direction='DESC', count_total=False)`, thread of",
        f"{HISTORY_THREAD_SIZE:,} messages, median per call over alternating rounds:",
        "",
        "| backend | recall | plain last-10 | ratio | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for h in history:
        met = "met" if h.ratio <= 1.2 else "NOT met"
        lines.append(
            f"| {h.backend} | {h.recall_ms:.3f} ms | {h.plain_ms:.3f} ms | "
            f"{h.ratio:.2f} | ≤ 1.2 ({met}) |"
        )
    lines += [
        "",
        f"Semantic recall (top_k 4, message_range 1, resource scope, {DIMENSION} dimensions),",
        "median time per recall and the tracemalloc peak of one recall:",
        "",
        "| backend | vectors in scope | time | per 1k vectors | peak memory |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for s in semantic:
        lines.append(
            f"| {s.backend} | {s.vectors:,} | {s.median_ms:.1f} ms | "
            f"{s.median_ms / (s.vectors / 1000):.2f} ms | {s.peak_kib:,.0f} KiB |"
        )
    if formats:
        lines += [
            "",
            "PostgreSQL: reading the scope's vectors as the search streams them, rows in",
            "the binary format (the library's) against the text format (`bytea` as hex),",
            "median over alternating rounds:",
            "",
            "| vectors in scope | binary rows | text rows | text ÷ binary |",
            "| ---: | ---: | ---: | ---: |",
        ]
        for f in formats:
            lines.append(
                f"| {f.vectors:,} | {f.binary_ms:.1f} ms | {f.text_ms:.1f} ms | "
                f"{f.text_ms / f.binary_ms:.2f} |"
            )
    return "\n".join(lines)


def write_into(path: str, block: str, mark: str = MARK) -> None:
    with open(path, encoding="utf-8") as existing:
        text = existing.read()
    start, end = f"<!-- {mark}:start -->", f"<!-- {mark}:end -->"
    wrapped = f"{start}\n{block.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: wrapped, text)
    else:
        text = text.rstrip() + "\n\n## Memory\n\n" + wrapped + "\n"
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)


def parse_sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        factor = 1_000 if part.endswith("k") else 1
        sizes.append(int(float(part.rstrip("k")) * factor))
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--sizes", type=parse_sizes, default=[1_000, 10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--markdown", default=None)
    parser.add_argument(
        "--pgserver",
        action="store_true",
        help="PostgreSQL only, on pgserver's PostgreSQL 16 with pgvector, started for the run",
    )
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        pg_url = stack.enter_context(pgvector_server()) if args.pgserver else pg_url_from_env()
        backends = ["postgresql"] if args.pgserver else args.backends.split(",")
        return run(args, pg_url, [b.strip() for b in backends if b.strip()], argv)


@contextmanager
def pgvector_server() -> Iterator[str]:
    """A PostgreSQL 16 with the pgvector extension installed, from the
    `pgserver` package, on a Unix socket in a temporary folder: its URL."""
    from pgserver.postgres_server import get_server

    home = Path(tempfile.mkdtemp(prefix="bench-pgvector-"))
    server = get_server(home / "data", cleanup_mode="delete")
    # A SIGTERM (a timeout) stops the server too, through the `finally` below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        socket_dir = server.get_postmaster_info().socket_dir
        url = f"postgresql+psycopg://postgres@/postgres?host={socket_dir}"
        with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)


def run(args: argparse.Namespace, pg_url: str, backends: list[str], argv: Any) -> int:
    if "postgresql" in backends and postgres_problem(pg_url) is not None:
        print(f"PostgreSQL at {pg_url} is unreachable: skipping it.")
        backends.remove("postgresql")
    history: list[HistoryResult] = []
    semantic: list[SemanticResult] = []
    formats: list[FormatResult] = []
    for backend in backends:
        print(f"{backend}: history ...", flush=True)
        with open_database(backend, pg_url, "memhist") as database:
            history.append(run_history(database, args.rounds, args.ops))
        print(f"{backend}: semantic recall ...", flush=True)
        with open_database(backend, pg_url, "memsem") as database:
            semantic += run_semantic(database, args.sizes, args.calls, formats)
    if args.pgserver:
        label = "postgresql + pgvector"
        history = [replace(h, backend=label) for h in history]
        semantic = [replace(r, backend=label) for r in semantic]
    command = "python -m bench.memory " + " ".join(sys.argv[1:] if argv is None else argv)
    block = render(history, semantic, formats, command.strip())
    print()
    print(block)
    if args.markdown:
        write_into(args.markdown, block, PGVECTOR_MARK if args.pgserver else MARK)
    return 0 if all(h.ratio <= 1.2 for h in history) else 1


if __name__ == "__main__":
    sys.exit(main())
