"""Interop with Mastra's released TypeScript storage (@mastra/core 1.71,
@mastra/libsql 1.23, @mastra/pg 1.27) on one shared database, both ways:
scores we save are listed by Mastra, scores Mastra saves are read by us, and
threads and messages we write read correctly in Mastra. SQLite (LibSQLStore,
`url: file:PATH`) and PostgreSQL (PostgresStore, a schema of the test's own).

The TypeScript side is tests/interop/mastra.mjs, run with node. The packages
are installed into a cache folder when missing (`MASTRA_TS_DIR`, default
~/.cache/mastra-ts) with the project's `setup.sh` if there is one
(`MASTRA_TS_SETUP`), else npm. Without node (or the packages) the tests are
skipped, except with CI=true, where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import IN_CI, PG_URL

from mastra_storage import DefaultStorage, MastraStorage, PostgresStorage, ScoreRow
from mastra_storage.clock import format_iso, utc_now

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "interop" / "mastra.mjs"
PACKAGES = ("@mastra/core@1.71.0", "@mastra/libsql@1.23.1", "@mastra/pg@1.27.1")
# shared/ lies beside the checkout (CI lays a copy there); /work/shared as a fallback.
_BESIDE = HERE.parent.parent / "shared" / "mastra-ts" / "setup.sh"
SETUP = Path(
    os.environ.get(
        "MASTRA_TS_SETUP",
        str(_BESIDE if _BESIDE.exists() else Path("/work/shared/mastra-ts/setup.sh")),
    )
)


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI=true requires the Mastra interop check", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mastra_packages() -> Path:
    """The folder holding node_modules/@mastra/{core,libsql,pg}, installed if missing."""
    if shutil.which("node") is None:
        unavailable("node is not installed")
    folder = Path(os.environ.get("MASTRA_TS_DIR", Path.home() / ".cache" / "mastra-ts"))
    wanted = [folder / "node_modules" / "@mastra" / name for name in ("core", "libsql", "pg")]
    if not all(path.is_dir() for path in wanted):
        folder.mkdir(parents=True, exist_ok=True)
        if SETUP.is_file():
            command = ["bash", str(SETUP), str(folder)]
        elif shutil.which("npm") is not None:
            command = [
                "npm",
                "install",
                "--prefix",
                str(folder),
                "--no-audit",
                "--no-fund",
                *PACKAGES,
            ]
        else:
            unavailable("npm is not installed (needed once, to install Mastra's packages)")
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0 or not all(path.is_dir() for path in wanted):
            unavailable(f"installing Mastra's packages failed: {done.stderr[-500:]}")
    return folder


@dataclass
class Shared:
    """One database, opened by our storage and by Mastra's."""

    kind: str
    store: dict[str, Any]
    packages: Path
    make: Any

    def mastra(self, *calls: tuple[str, str, dict[str, Any]]) -> list[Any]:
        """Run Mastra calls (domain, method, args) in order; their results."""
        request = {
            "packages": str(self.packages),
            "store": self.store,
            "calls": [{"domain": d, "method": m, "args": a} for d, m, a in calls],
        }
        done = subprocess.run(
            ["node", str(SCRIPT), json.dumps(request)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        assert done.returncode == 0 and lines, f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        answer = json.loads(lines[-1])
        return list(answer["results"])


@pytest.fixture(params=["sqlite", "postgresql"])
def shared(
    request: pytest.FixtureRequest, tmp_path: Path, mastra_packages: Path
) -> Iterator[Shared]:
    made: list[MastraStorage] = []
    if request.param == "sqlite":
        url = f"file:{tmp_path / 'shared.db'}"
        store: dict[str, Any] = {"kind": "sqlite", "url": url}

        def make() -> MastraStorage:
            made.append(DefaultStorage(url=url))
            return made[-1]

    else:
        schema = request.getfixturevalue("pg_schemas").new("interop")
        connection = PG_URL.replace("postgresql+psycopg://", "postgresql://", 1)
        store = {"kind": "pg", "connectionString": connection, "schemaName": schema}

        def make() -> MastraStorage:
            made.append(PostgresStorage(url=PG_URL, schema=schema))
            return made[-1]

    yield Shared(request.param, store, mastra_packages, make)
    for storage in made:
        storage.close()


PAGE = {"page": 0, "perPage": 10}


def as_mastra(score: ScoreRow, kind: str = "sqlite") -> dict[str, Any]:
    """What Mastra's reader returns for a score: camelCase, NULL fields left
    out. On PostgreSQL `input`/`output` are NOT NULL in Mastra's table, so a
    missing one is stored as JSON null, which Mastra reads as null."""
    dumped = score.model_dump(by_alias=True, mode="json")
    kept = {"input", "output"} if kind == "postgresql" else set()
    return {key: value for key, value in dumped.items() if value is not None or key in kept}


def full_score(score_id: str, at: Any, **fields: Any) -> dict[str, Any]:
    return {
        "id": score_id,
        "scorer_id": "relevance",
        "entity_id": "agent-1",
        "entity_type": "AGENT",
        "run_id": "run-1",
        "input": [{"role": "user", "content": "Where is Lisbon?"}],
        "output": {"text": "Portugal", "n": [1, 2.5, None, True]},
        "score": 0.875,
        "reason": "correct",
        "scorer": {"id": "relevance", "name": "Relevance"},
        "entity": {"id": "agent-1"},
        "source": "LIVE",
        "trace_id": "trace-1",
        "span_id": "span-1",
        "resource_id": "user-1",
        "thread_id": "thread-1",
        "metadata": {"k": "v"},
        "additional_context": {"c": 1},
        "request_context": {"r": "x"},
        "extract_step_result": {"claims": ["a"]},
        "analyze_step_result": {"v": []},
        "preprocess_step_result": {"p": {}},
        "extract_prompt": "extract",
        "analyze_prompt": "analyze",
        "reason_prompt": "reason",
        "preprocess_prompt": "pre",
        "generate_score_prompt": "gs",
        "generate_reason_prompt": "gr",
        "organization_id": "org",
        "project_id": "proj",
        "batch_id": "b",
        "dataset_id": "d",
        "dataset_item_id": "di",
        "created_at": at,
        "updated_at": at,
        **fields,
    }


def test_scores_we_save_are_listed_by_mastra(shared: Shared) -> None:
    storage = shared.make()
    base = utc_now() - timedelta(minutes=5)
    ours = [
        storage.save_score(score=full_score("py-1", base)),
        storage.save_score(
            score=full_score("py-2", base + timedelta(seconds=1), output="42", input=None)
        ),
        storage.save_score(
            score=full_score("py-3", base + timedelta(seconds=2), scorer_id="tone", source="TEST")
        ),
    ]
    by_scorer, filtered, one, by_run, by_span, by_entity = shared.mastra(
        ("scores", "listScoresByScorerId", {"scorerId": "relevance", "pagination": PAGE}),
        (
            "scores",
            "listScoresByScorerId",
            {"scorerId": "tone", "source": "TEST", "entityId": "agent-1", "pagination": PAGE},
        ),
        ("scores", "getScoreById", {"id": "py-1"}),
        ("scores", "listScoresByRunId", {"runId": "run-1", "pagination": PAGE}),
        (
            "scores",
            "listScoresBySpan",
            {"traceId": "trace-1", "spanId": "span-1", "pagination": PAGE},
        ),
        (
            "scores",
            "listScoresByEntityId",
            {"entityId": "agent-1", "entityType": "AGENT", "pagination": PAGE},
        ),
    )
    assert by_scorer["pagination"]["total"] == 2
    kind = shared.kind
    assert by_scorer["scores"] == [as_mastra(ours[1], kind), as_mastra(ours[0], kind)]
    assert by_scorer["scores"][0]["output"] == "42"  # a string stays a string
    assert by_scorer["scores"][0].get("input") is None
    assert filtered["scores"] == [as_mastra(ours[2], kind)]
    assert one == as_mastra(ours[0], kind)
    assert [s["id"] for s in by_run["scores"]] == ["py-3", "py-2", "py-1"]
    assert [s["id"] for s in by_span["scores"]] == ["py-3", "py-2", "py-1"]
    assert [s["id"] for s in by_entity["scores"]] == ["py-3", "py-2", "py-1"]


def test_scores_mastra_saves_are_read_by_us(shared: Shared) -> None:
    """Mastra creates the database and saves; we adopt it and read its rows."""
    payload = {
        "scorerId": "relevance",
        "entityId": "agent-1",
        "entityType": "AGENT",
        "runId": "run-ts",
        "input": [{"role": "user", "content": "hi"}],
        "output": {"text": "hello"},
        "score": 0.5,
        "reason": "ok",
        "scorer": {"id": "relevance"},
        "entity": {"id": "agent-1"},
        "source": "LIVE",
        "traceId": "trace-ts",
        "spanId": "span-ts",
        "metadata": {"from": "ts"},
        "resourceId": "user-ts",
    }
    first, second = shared.mastra(
        ("scores", "saveScore", {**payload, "id": "ts-1"}),
        ("scores", "saveScore", {**payload, "id": "ts-2", "output": "42", "input": None}),
    )
    storage = shared.make()
    got = storage.get_score_by_id(id="ts-1")
    assert got is not None
    assert as_mastra(got) == first["score"]
    listed = storage.list_scores_by_scorer_id(scorer_id="relevance")
    assert [s.id for s in listed.scores] == ["ts-2", "ts-1"]
    assert listed.scores[0].output == "42"
    assert listed.scores[0].created_at is not None
    assert format_iso(listed.scores[0].created_at) == second["score"]["createdAt"]
    assert [
        s.id for s in storage.list_scores_by_span(trace_id="trace-ts", span_id="span-ts").scores
    ] == [
        "ts-2",
        "ts-1",
    ]
    # And ours next to Mastra's, listed by Mastra.
    storage.save_score(score=full_score("py-1", utc_now()))
    [listed_by_mastra] = shared.mastra(
        ("scores", "listScoresByScorerId", {"scorerId": "relevance", "pagination": PAGE})
    )
    assert [s["id"] for s in listed_by_mastra["scores"]] == ["py-1", "ts-2", "ts-1"]


def mastra_view_of_thread(shared: Shared, thread_id: str, resource_id: str) -> tuple[Any, Any]:
    """Mastra's getThreadById and listMessages (scoped to the resource)."""
    thread, page = shared.mastra(
        ("memory", "getThreadById", {"threadId": thread_id}),
        (
            "memory",
            "listMessages",
            {"threadId": thread_id, "resourceId": resource_id, "perPage": False},
        ),
    )
    return thread, page


def test_threads_and_messages_we_write_read_in_mastra(shared: Shared) -> None:
    storage = shared.make()
    storage.create_thread(
        thread_id="t-py", resource_id="user-1", title="Trip", metadata={"tags": ["travel"]}
    )
    storage.save_messages(
        messages=[
            {"id": "m1", "thread_id": "t-py", "role": "user", "content": "Plan a trip"},
            {"id": "m2", "thread_id": "t-py", "role": "assistant", "content": "Lisbon?"},
        ]
    )
    thread, page = mastra_view_of_thread(shared, "t-py", "user-1")
    ours = storage.get_thread_by_id(thread_id="t-py")
    assert ours is not None
    assert (thread["id"], thread["resourceId"], thread["title"], thread["metadata"]) == (
        "t-py",
        "user-1",
        "Trip",
        {"tags": ["travel"]},
    )
    assert thread["createdAt"] == format_iso(ours.created_at)  # type: ignore[arg-type]
    assert [(m["id"], m["role"], m["content"]["parts"]) for m in page["messages"]] == [
        ("m1", "user", [{"type": "text", "text": "Plan a trip"}]),
        ("m2", "assistant", [{"type": "text", "text": "Lisbon?"}]),
    ]
    assert all(m["threadId"] == "t-py" and m["resourceId"] == "user-1" for m in page["messages"])


def test_a_thread_we_moved_reads_in_mastra_under_its_new_resource(shared: Shared) -> None:
    storage = shared.make()
    storage.create_thread(thread_id="t-anon", resource_id="anonymous-1", title="Chat")
    storage.save_messages(
        messages=[{"id": "a1", "thread_id": "t-anon", "role": "user", "content": "hi"}]
    )
    storage.update_thread_resource_id(thread_id="t-anon", resource_id="user-7")
    thread, page = mastra_view_of_thread(shared, "t-anon", "user-7")
    assert thread["resourceId"] == "user-7"
    assert [(m["id"], m["resourceId"]) for m in page["messages"]] == [("a1", "user-7")]


def test_a_thread_we_cloned_reads_in_mastra(shared: Shared) -> None:
    storage = shared.make()
    storage.create_thread(thread_id="t-src", resource_id="user-1", title="Source")
    storage.save_messages(
        messages=[
            {"id": "s1", "thread_id": "t-src", "role": "user", "content": "one"},
            {"id": "s2", "thread_id": "t-src", "role": "assistant", "content": "two"},
        ]
    )
    clone = storage.clone_thread(
        source_thread_id="t-src", new_thread_id="t-copy", resource_id="user-2"
    )
    thread, page = mastra_view_of_thread(shared, "t-copy", "user-2")
    assert (thread["id"], thread["resourceId"]) == ("t-copy", "user-2")
    assert thread["metadata"]["clone"]["sourceThreadId"] == "t-src"
    assert [m["id"] for m in page["messages"]] == [m.id for m in clone.cloned_messages]
    assert [m["content"]["parts"][0]["text"] for m in page["messages"]] == ["one", "two"]
    assert all(m["threadId"] == "t-copy" and m["resourceId"] == "user-2" for m in page["messages"])
    # The source is untouched, for Mastra too.
    _, source = mastra_view_of_thread(shared, "t-src", "user-1")
    assert [m["id"] for m in source["messages"]] == ["s1", "s2"]
