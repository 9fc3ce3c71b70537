"""`python -m bench`: the library against the raw driver, and growth with the thread.

    python -m bench                      # full run: SQLite file + PostgreSQL + MySQL
    python -m bench --quick              # smaller workloads and thread sizes
    python -m bench --backends mysql     # one backend (sqlite, postgresql, mysql)
    python -m bench --sizes 1000,100000,1000000
    python -m bench --backends sqlite --only last_40,context_window --no-growth
    python -m bench --profile save_messages   # pyinstrument: pip install -e '.[bench]'
    python -m bench --markdown docs/benchmarks.md   # results into the doc
    python -m bench --baseline mastra-ts      # also Mastra's TypeScript storage (node)
    python -m bench --baseline mastra-ts --no-workloads --no-growth   # only that

PostgreSQL: MASTRA_STORAGE_BENCH_PG_URL, else MASTRA_STORAGE_TEST_PG_URL,
else postgresql+psycopg://postgres@127.0.0.1:5432/test (or --pg-url).
MySQL/MariaDB: MASTRA_STORAGE_BENCH_MYSQL_URL, else
MASTRA_STORAGE_TEST_MYSQL_URL, else mysql+pymysql://root@127.0.0.1:3306/test
(or --mysql-url). An unreachable server's part is skipped with the reason.
Each run works in schemas (MySQL: databases) of its own and drops them;
SQLite runs in a temporary directory, removed afterwards.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence

from . import harness
from .backends import (
    mysql_problem,
    mysql_url_from_env,
    open_database,
    pg_url_from_env,
    postgres_problem,
)
from .growth import GrowthPoint, run_growth
from .mastra_ts import BaselineResult, render_baseline, run_baseline
from .report import render, write_into
from .workloads import WORKLOADS, Result, Sizes, run_workloads

BACKENDS = ("sqlite", "postgresql", "mysql")
FULL_SIZES = (1_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 20_000)


def parse_sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        factor = 1
        if part.endswith("k"):
            part, factor = part[:-1], 1_000
        elif part.endswith("m"):
            part, factor = part[:-1], 1_000_000
        sizes.append(int(float(part) * factor))
    if any(size < 50 for size in sizes):
        raise argparse.ArgumentTypeError("thread sizes must be at least 50")
    return sorted(set(sizes))


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller workloads and sizes")
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help=f"comma-separated: {', '.join(BACKENDS)}"
    )
    parser.add_argument("--pg-url", default=None, help="PostgreSQL URL (SQLAlchemy form)")
    parser.add_argument(
        "--mysql-url", default=None, help="MySQL/MariaDB URL (SQLAlchemy form, mysql+pymysql)"
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=None,
        help="growth thread sizes, e.g. 1k,100k,1m "
        f"(default {','.join(map(str, FULL_SIZES))}; --quick: {','.join(map(str, QUICK_SIZES))})",
    )
    parser.add_argument(
        "--no-1m", action="store_true", help="leave the 1,000,000-message step out of the growth"
    )
    parser.add_argument("--only", default=None, help=f"workloads: {', '.join(WORKLOADS)}")
    parser.add_argument("--no-growth", action="store_true", help="skip the growth part")
    parser.add_argument("--no-workloads", action="store_true", help="only the growth part")
    parser.add_argument(
        "--profile",
        default=None,
        help="profile the library side of these workloads (comma-separated) with pyinstrument",
    )
    parser.add_argument(
        "--profile-all", action="store_true", help="show library frames in profiles too"
    )
    parser.add_argument(
        "--baseline",
        default=None,
        choices=["mastra-ts"],
        help="also run bench.mjs's workload on Mastra's TypeScript storage (node), the "
        "library (sync and async) and the raw driver, alternating (needs node and "
        "../shared/mastra-ts; says so and goes on without it; SQLite and PostgreSQL "
        "only: Mastra has no MySQL store)",
    )
    parser.add_argument(
        "--baseline-rounds", type=int, default=3, help="alternating rounds of the baseline"
    )
    parser.add_argument(
        "--markdown", default=None, help="write the results into this Markdown file"
    )
    args = parser.parse_args(argv)
    args.backend_list = [b.strip() for b in args.backends.split(",") if b.strip()]
    for backend in args.backend_list:
        if backend not in BACKENDS:
            parser.error(f"unknown backend {backend!r}")
    if args.only:
        args.only_set = {w.strip() for w in args.only.split(",") if w.strip()}
        unknown = args.only_set - set(WORKLOADS)
        if unknown:
            parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    else:
        args.only_set = None
    if args.sizes is None:
        args.sizes = list(QUICK_SIZES if args.quick else FULL_SIZES)
    if args.no_1m:
        args.sizes = [s for s in args.sizes if s < 1_000_000]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    pg_url = args.pg_url or pg_url_from_env()
    mysql_url = args.mysql_url or mysql_url_from_env()
    urls = {"sqlite": "", "postgresql": pg_url, "mysql": mysql_url}
    backends = list(args.backend_list)
    for backend, label, probe in [
        ("postgresql", "PostgreSQL", postgres_problem),
        ("mysql", "MySQL", mysql_problem),
    ]:
        if backend in backends:
            problem = probe(urls[backend])
            if problem is not None:
                print(f"{label} at {urls[backend]} is unreachable ({problem}): skipping it.")
                backends.remove(backend)
    if args.profile:
        harness.PROFILE.update(w.strip() for w in args.profile.split(","))
    sizes = Sizes.quick() if args.quick else Sizes.full()
    started = time.perf_counter()

    results: list[Result] = []
    points: list[GrowthPoint] = []
    for backend in backends:
        if not args.no_workloads:
            print(f"{backend}: library against raw ...", flush=True)
            with open_database(backend, urls[backend], "workloads") as database:
                results += run_workloads(database, sizes, only=args.only_set, progress=_say)
        if not args.no_growth and args.sizes:
            print(f"{backend}: growth {', '.join(f'{s:,}' for s in args.sizes)} ...", flush=True)
            with open_database(backend, urls[backend], "growth") as database:
                points += run_growth(
                    database,
                    args.sizes,
                    rounds=5 if args.quick else 10,
                    reads_per_round=30 if args.quick else 50,
                    memory_reads=20 if args.quick else 50,
                    progress=_say,
                )

    baseline: list[BaselineResult] = []
    mastra_backends = [b for b in backends if b in ("sqlite", "postgresql")]
    if args.baseline == "mastra-ts" and mastra_backends:
        print("Mastra TS baseline (bench.mjs's workload) ...", flush=True)
        baseline = run_baseline(mastra_backends, pg_url, rounds=args.baseline_rounds, progress=_say)

    command = "python -m bench" + ("" if argv is None else " " + shlex.join(argv))
    if argv is None and len(sys.argv) > 1:
        command += " " + shlex.join(sys.argv[1:])
    block = render(
        results,
        points,
        pg_url=pg_url if "postgresql" in backends else None,
        mysql_url=mysql_url if "mysql" in backends else None,
        command=command,
    )
    if baseline:
        block = block.rstrip() + "\n\n" + render_baseline(baseline)
    print()
    print(block)
    print(f"(took {time.perf_counter() - started:.0f} s)")
    for name, text in harness.profile_reports(show_all=args.profile_all).items():
        print(f"\n--- profile of the library side: {name} ---\n{text}")
    if args.markdown:
        write_into(args.markdown, block)
        print(f"results written into {args.markdown}")
    return 0


def _say(message: str) -> None:
    print(message, flush=True)


if __name__ == "__main__":
    sys.exit(main())
