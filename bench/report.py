"""The results as Markdown tables (printed, and optionally written into a file)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import sqlite3
import sys
from collections.abc import Sequence
from importlib import metadata

import psycopg

from .backends import libpq_conninfo, pymysql_args
from .growth import GrowthPoint
from .harness import Timing
from .workloads import Result

START_MARK = "<!-- bench:results:start -->"
END_MARK = "<!-- bench:results:end -->"
GROWTH_TIME_TARGET = 1.5
"""Library time of a read at the largest size ÷ at the smallest size, at most."""
MEMORY_SLACK = (1.2, 16 * 1024)
"""Peak memory counts as independent of size within 20% or 16 KiB."""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def postgres_version(url: str | None) -> str:
    if url is None:
        return "not used"
    try:
        with psycopg.connect(libpq_conninfo(url), connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "unknown"
    except Exception as error:  # only for the report
        return f"unreachable ({type(error).__name__})"


def mysql_version(url: str | None) -> str:
    if url is None:
        return "not used"
    try:
        import pymysql

        conn = pymysql.connect(**pymysql_args(url))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                row = cur.fetchone()
        finally:
            conn.close()
        return str(row[0]) if row else "unknown"
    except Exception as error:  # only for the report
        return f"unreachable ({type(error).__name__})"


def machine(pg_url: str | None, mysql_url: str | None = None) -> list[tuple[str, str]]:
    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "?"

    return [
        ("Date", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", f"{cpu_model()}, {os.cpu_count()} cores"),
        ("OS", platform.platform()),
        ("Python", sys.version.split()[0]),
        ("SQLite", sqlite3.sqlite_version),
        ("PostgreSQL", postgres_version(pg_url) + (" (same machine, TCP)" if pg_url else "")),
        (
            "MySQL/MariaDB",
            mysql_version(mysql_url) + (" (same machine, TCP)" if mysql_url else ""),
        ),
        (
            "Libraries",
            f"SQLAlchemy {version('sqlalchemy')}, psycopg {version('psycopg')}, "
            f"PyMySQL {version('pymysql')}, pydantic {version('pydantic')}, "
            f"mastra-storage {version('mastra-storage')}",
        ),
    ]


def duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def timing(t: Timing | None) -> str:
    if t is None:
        return "—"
    return f"{duration(t.seconds_per_op)} ({t.ops_per_second:,.0f}/s)"


def kib(n: int) -> str:
    return f"{n / 1024:,.1f} KiB"


def cpu_table(results: Sequence[Result]) -> list[str]:
    """Client CPU per operation: the Python work on each side."""
    lines = [
        "| Backend | Workload | Library CPU | Raw CPU | Library - raw CPU |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        if r.library is None or r.raw is None:
            continue
        lib, raw = r.library.cpu_seconds_per_op, r.raw.cpu_seconds_per_op
        lines.append(
            f"| {r.backend} | {r.workload} | {duration(lib)} | {duration(raw)} "
            f"| {duration(max(0.0, lib - raw))} |"
        )
    return lines


def workload_table(results: Sequence[Result]) -> list[str]:
    lines = [
        "| Backend | Workload | One operation | Library | Raw driver | Library ÷ raw (time) "
        "| Library ÷ raw (throughput) | Target | Met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = r.time_ratio
        met = {True: "yes", False: "**no**", None: "—"}[r.met]
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.backend} | {r.workload}{note} | {r.unit} | {timing(r.library)} "
            f"| {timing(r.raw)} | {'—' if ratio is None else f'{ratio:.2f}x'} "
            f"| {'—' if ratio is None else f'{1 / ratio:.2f}x'} "
            f"| {r.target.describe() if r.target else '—'} | {met} |"
        )
    return lines


def growth_table(points: Sequence[GrowthPoint]) -> list[str]:
    lines = [
        "| Backend | Thread size | Read | Library | Raw driver | Library ÷ raw "
        "| Library vs smallest | Peak memory, library | Peak memory, raw | Load (setup) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    smallest: dict[tuple[str, str], float] = {}
    for p in points:
        for read, (lib, raw) in p.timings.items():
            base = smallest.setdefault((p.backend, read), lib.seconds_per_op)
            lib_mem, raw_mem = p.memory[read]
            ratio = lib.seconds_per_op / raw.seconds_per_op
            lines.append(
                f"| {p.backend} | {p.size:,} | {read} | {duration(lib.seconds_per_op)} "
                f"| {duration(raw.seconds_per_op)} | {ratio:.2f}x "
                f"| {lib.seconds_per_op / base:.2f}x | {kib(lib_mem)} | {kib(raw_mem)} "
                f"| {p.load_seconds:.1f} s |"
            )
    return lines


def growth_verdicts(points: Sequence[GrowthPoint]) -> list[tuple[str, str, bool]]:
    """(what, measured, met) for the growth targets, per backend and read."""
    verdicts: list[tuple[str, str, bool]] = []
    for backend in dict.fromkeys(p.backend for p in points):
        mine = sorted((p for p in points if p.backend == backend), key=lambda p: p.size)
        if len(mine) < 2:
            continue
        low, high = mine[0], mine[-1]
        for read in low.timings:
            lib_low, lib_high = low.timings[read][0], high.timings[read][0]
            ratio = lib_high.seconds_per_op / lib_low.seconds_per_op
            verdicts.append(
                (
                    f"{backend} {read}: time at {high.size:,} ≤ {GROWTH_TIME_TARGET}x "
                    f"time at {low.size:,}",
                    f"{ratio:.2f}x",
                    ratio <= GROWTH_TIME_TARGET,
                )
            )
            mem_low, mem_high = low.memory[read][0], high.memory[read][0]
            factor, slack = MEMORY_SLACK
            verdicts.append(
                (
                    f"{backend} {read}: peak memory at {high.size:,} independent of size",
                    f"{kib(mem_high)} vs {kib(mem_low)}",
                    mem_high <= max(mem_low * factor, mem_low + slack),
                )
            )
    return verdicts


def render(
    results: Sequence[Result],
    points: Sequence[GrowthPoint],
    *,
    pg_url: str | None,
    command: str,
    mysql_url: str | None = None,
) -> str:
    lines = ["### Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine(pg_url, mysql_url)]
    lines += ["", f"Command: `{command}`", ""]
    if results:
        lines += ["### Library against the raw driver", "", *workload_table(results), ""]
        lines += [
            "Client CPU time per operation (this process, user + system):",
            "",
            *cpu_table(results),
            "",
        ]
    if points:
        lines += ["### Growth with the thread", "", *growth_table(points), ""]
        verdicts = growth_verdicts(points)
        if verdicts:
            lines += ["| Growth target | Measured | Met |", "|---|---|---|"]
            lines += [f"| {w} | {m} | {'yes' if ok else '**no**'} |" for w, m, ok in verdicts]
            lines.append("")
    return "\n".join(lines)


def write_into(path: str, block: str) -> None:
    """Put `block` between the result markers of `path` (or append it, with the
    markers, when they are missing)."""
    try:
        with open(path, encoding="utf-8") as existing:
            text = existing.read()
    except FileNotFoundError:
        text = "# Benchmarks\n\n"
    wrapped = f"{START_MARK}\n{block.rstrip()}\n{END_MARK}"
    pattern = re.compile(re.escape(START_MARK) + r".*?" + re.escape(END_MARK), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: wrapped, text)
    else:
        text = text.rstrip() + "\n\n" + wrapped + "\n"
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)
