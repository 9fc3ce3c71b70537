"""The `mastra-storage` command line, invoked as a user would (click's runner,
and a real subprocess for `python -m mastra_storage`), on a SQLite file, on
PostgreSQL and on MySQL/MariaDB; configuration from the environment
(`MASTRA_STORAGE_URL`)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from mastra_storage import (
    AsyncDefaultStorage,
    AsyncPostgresStorage,
    DefaultStorage,
    MastraStorage,
    PostgresStorage,
    ValidationError,
    async_from_url,
    async_storage_from_env,
    from_url,
    migrate,
    storage_from_env,
)
from mastra_storage.cli import main
from mastra_storage.memory import HashingEmbedder, Memory
from mastra_storage.memory.memory import count_unindexed

HEAD = migrate.head()


@dataclass
class Database:
    """A database the command line has not seen yet, and how to reach it."""

    name: str
    url: str
    schema: str | None

    @property
    def options(self) -> list[str]:
        return ["--url", self.url] + (["--schema", self.schema] if self.schema else [])

    def storage(self) -> MastraStorage:
        return from_url(self.url, schema=self.schema)


@pytest.fixture(params=["sqlite-file", "postgresql", "mysql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite-file":
        return Database("sqlite-file", f"file:{tmp_path / 'cli.db'}", None)
    if request.param == "mysql":
        return Database("mysql", request.getfixturevalue("mysql_databases").new("cli"), None)
    schemas = request.getfixturevalue("pg_schemas")
    return Database("postgresql", schemas.url, schemas.new("cli"))


@pytest.fixture
def cli(database: Database) -> Iterator[CliRunnerFor]:
    yield CliRunnerFor(database)


class CliRunnerFor:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = self.runner.invoke(
            main, [*self.database.options, *args], prog_name="mastra-storage", env=no_env()
        )
        assert result.exit_code == code, (result.output, result.stderr, result.exception)
        if code:
            assert_one_line_error(result)
        return result

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json").stdout)


def no_env() -> dict[str, str | None]:
    return {"MASTRA_STORAGE_URL": None, "MASTRA_STORAGE_SCHEMA": None}


def assert_one_line_error(result: Result) -> None:
    """An error is one line on stderr (bad usage adds click's usage hint)."""
    assert "Traceback" not in result.output + result.stderr
    if result.exit_code == 1:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr


def test_migrate_commands_take_a_fresh_database_up_and_down(cli: CliRunnerFor) -> None:
    if cli.database.name == "sqlite-file":  # no file yet: said, not created
        result = cli("migrate", "current", code=1)
        assert "no SQLite database" in result.stderr
        assert not Path(cli.database.url.removeprefix("file:")).exists()
    else:  # the schema does not exist yet
        assert cli.json("migrate", "current") == {"current": None, "head": HEAD, "at_head": False}
    result = cli("migrate", "check", code=1)
    assert "migrate upgrade" in result.stderr

    result = cli("migrate", "upgrade")
    assert f"-> {HEAD}" in result.stdout
    assert cli.json("migrate", "current") == {"current": HEAD, "head": HEAD, "at_head": True}
    assert cli("migrate", "check").stdout.strip() == f"at head ({HEAD})"
    assert cli("migrate", "upgrade").stdout.strip() == f"already at {HEAD}"

    result = cli("migrate", "downgrade", "0002_workflow_snapshots")
    above = [rev.revision for rev in migrate.history()].index("0002_workflow_snapshots")
    assert f"-> 0002_workflow_snapshots ({above} step(s))" in result.stdout
    assert cli("migrate", "current").stdout.strip() == "0002_workflow_snapshots"
    result = cli("threads", "list", code=1)  # listings never migrate behind your back
    assert "0002_workflow_snapshots" in result.stderr and "migrate upgrade" in result.stderr
    cli("migrate", "upgrade")
    storage = cli.database.storage()
    try:
        assert migrate.current(storage.engine) == HEAD
    finally:
        storage.close()

    history = cli.json("migrate", "history")
    assert isinstance(history, list)
    assert [rev["revision"] for rev in history] == [rev.revision for rev in migrate.history()]
    assert history[0]["revision"] == HEAD and history[-1]["down_revision"] is None


def test_listings_as_tables_and_json(cli: CliRunnerFor) -> None:
    cli("migrate", "upgrade")
    storage = cli.database.storage()
    try:
        trip = storage.create_thread(resource_id="user-1", title="Trip to Lisbon")
        storage.create_thread(resource_id="user-2", title="Other user")
        storage.save_messages(
            messages=[
                {"thread_id": trip.id, "role": "user", "content": f"message {i}"} for i in range(5)
            ]
        )
        storage.persist_workflow_snapshot(
            workflow_name="plan", run_id="run-1", snapshot={"status": "suspended"}
        )
        storage.persist_workflow_snapshot(
            workflow_name="plan", run_id="run-2", snapshot={"status": "success"}
        )
        storage.persist_workflow_snapshot(
            workflow_name="other", run_id="run-3", snapshot={"status": "suspended"}
        )
        assert storage.try_acquire_workflow_run_lock(workflow_name="plan", run_id="run-1")

        threads = cli.json("threads", "list", "--resource", "user-1")
        assert [t["id"] for t in threads] == [trip.id]  # type: ignore[union-attr,index]
        assert len(cli.json("threads", "list")) == 2  # type: ignore[arg-type]
        table = cli("threads", "list").stdout
        assert "Trip to Lisbon" in table and "Other user" in table and "resource" in table

        tail = cli.json("messages", "tail", trip.id, "-n", "2")
        assert [m["content"]["content"] for m in tail] == ["message 3", "message 4"]  # type: ignore[union-attr,index]
        table = cli("messages", "tail", trip.id).stdout
        assert [line.split()[-1] for line in table.splitlines()[2:]] == [str(i) for i in range(5)]
        assert "no thread" in cli("messages", "tail", "no-such-thread", code=1).stderr

        runs = cli.json("runs", "list", "--workflow", "plan", "--status", "suspended")
        assert [r["run_id"] for r in runs] == ["run-1"]  # type: ignore[union-attr,index]
        assert len(cli.json("runs", "list")) == 3  # type: ignore[arg-type]
        assert "suspended" in cli("runs", "list").stdout
        typo = cli("runs", "list", "--status", "suspnded", code=2).stderr
        assert "suspended" in typo  # the choices are listed

        locks = cli.json("locks", "list")
        assert isinstance(locks, list) and len(locks) == 1
        assert locks[0]["run_id"] == "run-1" and locks[0]["holder"] == storage.lock_holder
        assert locks[0]["backend"] == storage.lock_backend
        assert "run-1" in cli("locks", "list", "--workflow", "plan").stdout
        assert cli.json("locks", "list", "--workflow", "other") == []
        storage.release_workflow_run_lock(workflow_name="plan", run_id="run-1")
        assert cli("locks", "list").stdout.strip() == "no locks held"
    finally:
        storage.close()


def test_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()

    def run(*args: str) -> Result:
        result = runner.invoke(main, list(args), prog_name="mastra-storage", env=no_env())
        assert_one_line_error(result)
        return result

    unreachable = run("--url", "postgresql+psycopg://nobody@127.0.0.1:9/none", "migrate", "current")
    assert unreachable.exit_code == 1 and "127.0.0.1" in unreachable.stderr
    bad_usage = run("threads", "list", "--per-page", "0")
    assert bad_usage.exit_code == 2
    assert run("no-such-command").exit_code == 2
    assert run("migrate", "downgrade").exit_code == 2  # REVISION missing
    # Input the library refuses (ValidationError) counts as bad usage.
    db = f"file:{tmp_path / 'x.db'}"
    assert run("--url", db, "migrate", "upgrade").exit_code == 0
    refused = run("--url", db, "--schema", "s", "threads", "list")
    assert refused.exit_code == 2 and "schema" in refused.stderr
    assert run("--url", db, "migrate", "upgrade", "no-such-revision").exit_code == 2


def test_url_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"file:{tmp_path / 'env.db'}"
    monkeypatch.setenv("MASTRA_STORAGE_URL", url)
    result = CliRunner().invoke(main, ["migrate", "upgrade"], prog_name="mastra-storage")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env.db").is_file()

    storage = DefaultStorage()  # honours MASTRA_STORAGE_URL
    try:
        assert storage.engine.url.database == str(tmp_path / "env.db")
        storage.create_thread(resource_id="r", title="from env")
    finally:
        storage.close()
    listed = CliRunner().invoke(main, ["threads", "list", "--json"], prog_name="mastra-storage")
    assert [t["title"] for t in json.loads(listed.stdout)] == ["from env"]

    from_env = storage_from_env()
    try:
        assert isinstance(from_env, DefaultStorage)
        assert from_env.engine.url.database == str(tmp_path / "env.db")
    finally:
        from_env.close()


def test_from_url_picks_the_class(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    made = [
        from_url("file::memory:"),
        from_url(postgres_url, schema="picked"),
        async_from_url("file::memory:"),
        async_from_url(postgres_url),
    ]
    try:
        assert [type(s) for s in made] == [
            DefaultStorage,
            PostgresStorage,
            AsyncDefaultStorage,
            AsyncPostgresStorage,
        ]
        assert made[1].schema == "picked"  # type: ignore[attr-defined]
    finally:
        for storage in made[:2]:
            storage.close()  # type: ignore[union-attr]
    with pytest.raises(ValidationError) as refused:
        from_url("file::memory:", schema="s")
    assert refused.value.field == "schema"

    monkeypatch.setenv("MASTRA_STORAGE_URL", postgres_url)
    monkeypatch.setenv("MASTRA_STORAGE_SCHEMA", "from_env")
    storage = storage_from_env()
    try:
        assert isinstance(storage, PostgresStorage) and storage.schema == "from_env"
    finally:
        storage.close()
    asynchronous = async_storage_from_env()
    assert isinstance(asynchronous, AsyncPostgresStorage) and asynchronous.schema == "from_env"


def test_python_dash_m_runs_the_command_line(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mastra_storage", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={k: v for k, v in __import__("os").environ.items() if not k.startswith("MASTRA")},
        )

    version = run("--version")
    assert version.returncode == 0 and "mastra-storage" in version.stdout
    missing = run("threads", "list")  # no ./mastra.db
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        "Error: no SQLite database at mastra.db "
        "(create it with `mastra-storage migrate upgrade`, or give --url)"
    ]
    assert run("threads", "list", "--bogus").returncode == 2
    assert run("migrate", "upgrade").returncode == 0
    assert (tmp_path / "mastra.db").is_file()
    listed = run("threads", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_runs_by_thread_and_timestamp_repair(cli: CliRunnerFor) -> None:
    cli("migrate", "upgrade")
    storage = cli.database.storage()
    try:
        memory = {"messageListState": {"memoryInfo": {"threadId": "thread-7"}}}
        storage.persist_workflow_snapshot(
            workflow_name="agent", run_id="run-1", snapshot={"context": {"input": memory}}
        )
        storage.persist_workflow_snapshot(workflow_name="agent", run_id="run-2", snapshot={})
        runs = cli.json("runs", "list", "--thread", "thread-7")
        assert [r["run_id"] for r in runs] == ["run-1"]  # type: ignore[union-attr,index]
        storage.create_thread(resource_id="user-1", thread_id="t")
        if cli.database.name == "postgresql":  # a row as older Mastra on UTC+2 wrote it
            with storage.engine.begin() as conn:
                conn.execute(
                    text('UPDATE mastra_threads SET "createdAt" = "createdAt" + interval \'2 h\'')
                )
        expected = 1 if cli.database.name == "postgresql" else 0
        assert cli.json("migrate", "repair-timestamps") == {"repaired": expected}
        assert cli("migrate", "repair-timestamps").stdout.strip() == "repaired 0 timestamp(s)"
    finally:
        storage.close()


OLD = datetime(2020, 1, 1, tzinfo=timezone.utc)


def seed_retention(storage: MastraStorage) -> None:
    """r1: an old thread (old messages), a new thread (one old message, one new),
    a run, a score; r2: an old thread, a run."""
    for thread_id, resource_id, at in [
        ("old", "r1", OLD),
        ("new", "r1", None),
        ("r2-old", "r2", OLD),
    ]:
        stamps = {"created_at": at, "updated_at": at} if at else {}
        storage.save_thread(thread={"id": thread_id, "resource_id": resource_id, **stamps})
    stamp = {"created_at": OLD}
    storage.save_messages(
        messages=[
            {"id": "o1", "thread_id": "old", "role": "user", "content": "o1", **stamp},
            {"id": "o2", "thread_id": "old", "role": "user", "content": "o2", **stamp},
            {"id": "n1", "thread_id": "new", "role": "user", "content": "n1", **stamp},
            {"id": "n2", "thread_id": "new", "role": "user", "content": "n2"},
            {"id": "q1", "thread_id": "r2-old", "role": "user", "content": "q1", **stamp},
        ]
    )
    storage.save_thread(
        thread={"id": "old", "resource_id": "r1", "created_at": OLD, "updated_at": OLD}
    )
    storage.save_thread(
        thread={"id": "r2-old", "resource_id": "r2", "created_at": OLD, "updated_at": OLD}
    )
    for run_id, resource_id in [("run-1", "r1"), ("run-2", "r2")]:
        storage.persist_workflow_snapshot(
            workflow_name="wf",
            run_id=run_id,
            resource_id=resource_id,
            snapshot={"status": "success"},
        )
    storage.save_score(
        score={
            "id": "s1",
            "scorer_id": "relevance",
            "entity_id": "agent",
            "run_id": "run-1",
            "score": 0.5,
            "scorer": {"id": "relevance"},
            "entity": {"id": "agent"},
            "source": "LIVE",
            "resource_id": "r1",
            "created_at": OLD,
            "updated_at": OLD,
        }
    )


def kept(storage: MastraStorage) -> dict[str, list[str]]:
    threads = sorted(t.id for t in storage.list_threads(per_page=None).threads)
    return {
        "threads": threads,
        "messages": sorted(
            m.id
            for thread_id in threads
            for m in storage.list_messages(thread_id=thread_id, per_page=None).messages
        ),
        "runs": sorted(r.run_id for r in storage.list_workflow_runs().runs),
        "scores": [s.id for s in storage.list_scores_by_scorer_id(scorer_id="relevance").scores],
    }


def test_prune_deletes_what_is_older_keeps_the_rest(cli: CliRunnerFor) -> None:
    cli("migrate", "upgrade")
    storage = cli.database.storage()
    try:
        seed_retention(storage)
        before = kept(storage)
        assert before["messages"] == ["n1", "n2", "o1", "o2", "q1"]

        dry = cli.json("prune", "--older-than", "30d", "--dry-run")
        assert dry["dry_run"] is True  # type: ignore[index,call-overload]
        assert dry["counts"]["messages"] == 4 and dry["counts"]["threads"] == 2  # type: ignore[index,call-overload]
        assert dry["counts"]["scores"] == 1 and dry["total"] == 7  # type: ignore[index,call-overload]
        assert kept(storage) == before  # nothing deleted
        table = cli("prune", "--older-than", "30d", "--dry-run").stdout
        assert "would delete" in table and "dry run: nothing deleted" in table

        only = cli.json("prune", "--older-than", "30d", "--domain", "scores", "--batch-size", "1")
        assert only["counts"] == {"scores": 1} and only["dry_run"] is False  # type: ignore[index,call-overload]
        assert kept(storage)["scores"] == []

        table = cli("prune", "--older-than", "30d", "--batch-size", "1").stdout
        rows = dict(line.split() for line in table.splitlines()[2:-1])
        assert rows == {
            "messages": "4",
            "threads": "2",
            "workflow_runs": "0",
            "scores": "0",
            "evals": "0",
            "total": "6",
        }
        assert kept(storage) == {
            "threads": ["new"],
            "messages": ["n2"],
            "runs": ["run-1", "run-2"],
            "scores": [],
        }
        assert cli.json("prune", "--older-than", "30d")["total"] == 0  # type: ignore[index,call-overload]
    finally:
        storage.close()


def test_erase_resource_removes_only_that_resource(
    cli: CliRunnerFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("migrate", "upgrade")
    storage = cli.database.storage()
    try:
        seed_retention(storage)
        refused = cli("erase-resource", "r1", code=2)  # no terminal, no --yes
        assert "--yes" in refused.stderr
        monkeypatch.setattr("mastra_storage.cli.stdin_is_interactive", lambda: True)
        declined = cli.runner.invoke(
            main, [*cli.database.options, "erase-resource", "r1"], input="n\n", env=no_env()
        )
        assert declined.exit_code == 1 and "nothing of 'r1' erased" in declined.stderr
        assert len(kept(storage)["messages"]) == 5

        report = cli.json("erase-resource", "r1", "--yes")
        assert report["resource_id"] == "r1"  # type: ignore[index,call-overload]
        assert report["counts"]["messages"] == 4 and report["counts"]["threads"] == 2  # type: ignore[index,call-overload]
        assert report["counts"]["workflow_runs"] == 1 and report["counts"]["scores"] == 1  # type: ignore[index,call-overload]
        assert kept(storage) == {
            "threads": ["r2-old"],
            "messages": ["q1"],
            "runs": ["run-2"],
            "scores": [],
        }
        confirmed = cli.runner.invoke(
            main, [*cli.database.options, "erase-resource", "r2"], input="y\n", env=no_env()
        )
        assert confirmed.exit_code == 0 and "total" in confirmed.stdout
        assert kept(storage) == {"threads": [], "messages": [], "runs": [], "scores": []}
    finally:
        storage.close()


def test_retention_bad_usage_exits_2(cli: CliRunnerFor) -> None:
    cli("migrate", "upgrade")
    for args in [
        ["prune", "--older-than", "30x"],
        ["prune", "--older-than", "0d"],
        ["prune"],
        ["prune", "--older-than", "30d", "--domain", "bogus"],
        ["prune", "--older-than", "30d", "--batch-size", "0"],
        ["erase-resource"],
        ["erase-resource", "", "--yes"],
    ]:
        result = cli(*args, code=2)
        assert "Error" in result.stderr, args


def unindexed(storage: MastraStorage) -> int:
    return storage._run(count_unindexed, None, write=False, resource_id=None, thread_id=None)


def test_memory_reindex_embeds_messages_without_a_vector(
    cli: CliRunnerFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mastra_storage.cli.RESOURCES_PER_QUERY", 1)  # page through resources
    cli("migrate", "upgrade")
    storage = cli.database.storage()
    try:
        trip = storage.create_thread(resource_id="r1", title="Trip")
        chores = storage.create_thread(resource_id="r1", title="Chores")
        other = storage.create_thread(resource_id="r2", title="Other")
        # Saved through plain storage: no vectors.
        storage.save_messages(
            messages=[
                {"thread_id": trip.id, "role": "user", "content": f"lisbon day {i}"}
                for i in range(5)
            ]
            + [{"thread_id": chores.id, "role": "user", "content": "buy zucchini"}]
            + [{"thread_id": other.id, "role": "user", "content": f"note {i}"} for i in range(3)]
        )
        # One saved through Memory (semantic recall on) already has its vector.
        recalling = {"last_messages": 1, "semantic_recall": {"top_k": 1, "message_range": 0}}
        with Memory(storage, embedder=HashingEmbedder(), options=recalling) as memory:
            memory.save_messages(
                messages=[{"thread_id": chores.id, "role": "user", "content": "wash car"}]
            )
        assert unindexed(storage) == 9

        one_thread = cli.json("memory", "reindex", "--embedder", "hashing", "--thread", trip.id)
        assert one_thread == {
            "indexed": 5,
            "looked_at": 5,
            "resources": {"r1": 5},
            "embedder": "hashing",
            "dimension": 256,
        }
        assert unindexed(storage) == 4

        table = cli("memory", "reindex", "--embedder", "hashing", "--batch-size", "2")
        rows = dict(line.split() for line in table.stdout.splitlines()[2:])
        assert rows == {"r1": "1", "r2": "3", "total": "4"}
        assert "Indexing" in table.stderr
        assert unindexed(storage) == 0

        again = cli.json("memory", "reindex", "--embedder", "hashing")
        assert again["indexed"] == 0 and again["resources"] == {}  # type: ignore[index,call-overload]
        assert cli("memory", "reindex", "--embedder", "hashing").stdout.strip() == (
            "nothing to index"
        )

        # The vectors written are the ones semantic recall searches.
        with Memory(storage, embedder=HashingEmbedder(), options=recalling) as memory:
            found = memory.recall(thread_id=chores.id, resource_id="r1", query="zucchini")
        assert [m.content.content for m in found.messages if m.id in found.recalled_ids] == [
            "buy zucchini"
        ]
    finally:
        storage.close()


def test_memory_reindex_errors_and_bad_usage(
    cli: CliRunnerFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("migrate", "upgrade")
    storage = cli.database.storage()
    try:
        thread = storage.create_thread(resource_id="r1")
        storage.save_messages(messages=[{"thread_id": thread.id, "role": "user", "content": "hi"}])
    finally:
        storage.close()
    for args in [
        ["memory", "reindex", "--batch-size", "0"],
        ["memory", "reindex", "--embedder", "bogus"],
        ["memory", "reindex", "--dimension", "8"],  # only for --embedder hashing
        ["memory", "reindex", "--embedder", "hashing", "--resource", ""],
        ["memory", "reindex", "--embedder", "hashing", "--thread", "  "],
        ["memory", "reindex", "extra-argument"],
    ]:
        result = cli(*args, code=2)
        assert "Error" in result.stderr, args

    assert (
        "no thread 'nope'"
        in cli("memory", "reindex", "--embedder", "hashing", "--thread", "nope", code=1).stderr
    )
    # The embeddings extra not installed: exit 1, naming it.
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    missing = cli("memory", "reindex", code=1)
    assert "mastra-storage[embeddings]" in missing.stderr
    # Another dimension than the index holds: refused before anything is embedded.
    cli("memory", "reindex", "--embedder", "hashing", "--dimension", "16")
    result = cli("memory", "reindex", "--embedder", "hashing", code=1)
    assert "16-dimension" in result.stderr and "gives 256" in result.stderr


def async_driver_url(database: Database) -> str:
    """The database's URL as an async application's configuration names it."""
    url = database.url
    if url.startswith("file:"):
        return "sqlite+aiosqlite:///" + url.removeprefix("file:")
    if url.startswith("mysql"):
        return "mysql+asyncmy://" + url.split("://", 1)[1]
    return "postgresql+psycopg_async://" + url.split("://", 1)[1]


def test_the_command_line_and_sync_storages_take_an_async_drivers_url(
    database: Database,
) -> None:
    """An async application's MASTRA_STORAGE_URL names its async driver
    (mysql+asyncmy, postgresql+psycopg_async, sqlite+aiosqlite); the command
    line and a sync storage given it failed with SQLAlchemy's MissingGreenlet.
    They now reach the same database through the sync driver."""
    url = async_driver_url(database)
    options = ["--url", url] + (["--schema", database.schema] if database.schema else [])
    runner = CliRunner()
    for args in (["migrate", "upgrade"], ["threads", "list", "--json"]):
        result = runner.invoke(main, [*options, *args], prog_name="mastra-storage", env=no_env())
        assert result.exit_code == 0, (result.output, result.stderr)
    assert json.loads(result.stdout) == []
    storage = from_url(url, schema=database.schema)
    try:
        storage.create_thread(resource_id="r", title="t", thread_id="t1")
    finally:
        storage.close()
    listed = runner.invoke(
        main, [*options, "threads", "list", "--json"], prog_name="mastra-storage", env=no_env()
    )
    assert [row["id"] for row in json.loads(listed.stdout)] == ["t1"]
