"""The Alembic history: one head, Mastra's exact schema, models that match it,
downgrades, `init()` / `check()` / `current()`, concurrent `init()`, the
`alembic` command line, and adoption of tables Mastra (TypeScript) created.

Every database test runs on SQLite, PostgreSQL (a fresh schema each) and
MySQL/MariaDB (a fresh database each).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine
from support import write_locked

from mastra_storage import (
    AsyncDefaultStorage,
    AsyncMySQLStorage,
    AsyncPostgresStorage,
    DefaultStorage,
    MastraStorage,
    MigrationRequiredError,
    MySQLStorage,
    PostgresStorage,
    SchemaTooNewError,
    migrate,
)
from mastra_storage.engines import create_engine_for_url
from mastra_storage.errors import StorageTimeoutError
from mastra_storage.migrate import MYSQL_MIGRATION_LOCK, VERSION_TABLE, postgres_index_like
from mastra_storage.orm import metadata

REPO_ROOT = Path(__file__).resolve().parents[1]
UTC = timezone.utc
BASE = datetime(2026, 11, 26, 11, 50, 17, 385000, tzinfo=UTC)

# -- Mastra's schema, as /work/shared/mastra-schema.md states it ----------------------
# column: (SQLite type, PostgreSQL type, nullable; None where the document is silent)
TS, JSON, TXT, FLOAT = "timestamp", "json", "text", "float"
MASTRA_COLUMNS: dict[str, dict[str, tuple[str, bool | None]]] = {
    "mastra_threads": {
        "id": (TXT, False),
        "resourceId": (TXT, False),
        "title": (TXT, False),
        "metadata": (JSON, True),
        "createdAt": (TS, False),
        "updatedAt": (TS, False),
    },
    "mastra_messages": {
        "id": (TXT, False),
        "thread_id": (TXT, False),
        "content": (TXT, False),
        "role": (TXT, False),
        "type": (TXT, False),
        "createdAt": (TS, False),
        "resourceId": (TXT, True),
    },
    "mastra_resources": {
        "id": (TXT, False),
        "workingMemory": (TXT, True),
        "metadata": (JSON, True),
        "createdAt": (TS, False),
        "updatedAt": (TS, False),
    },
    "mastra_workflow_snapshot": {
        "workflow_name": (TXT, None),
        "run_id": (TXT, None),
        "resourceId": (TXT, True),
        "snapshot": (JSON, None),
        "createdAt": (TS, None),
        "updatedAt": (TS, None),
    },
    "mastra_evals": {
        "input": (TXT, None),
        "output": (TXT, None),
        "result": (JSON, None),
        "agent_name": (TXT, None),
        "metric_name": (TXT, None),
        "instructions": (TXT, None),
        "test_info": (JSON, True),
        "global_run_id": (TXT, None),
        "run_id": (TXT, None),
        "created_at": (TS, None),
        "createdAt": (TS, True),
    },
    # Mastra 1.x (SCORERS_SCHEMA of @mastra/core 1.71). NOT NULL differs between
    # @mastra/libsql (id only) and @mastra/pg; ours is NOT NULL where both
    # writers always fill the column, so left silent (None) where they differ.
    "mastra_scorers": {
        "id": (TXT, False),
        "scorerId": (TXT, None),
        "traceId": (TXT, True),
        "spanId": (TXT, True),
        "runId": (TXT, None),
        "scorer": (JSON, None),
        "preprocessStepResult": (JSON, True),
        "extractStepResult": (JSON, True),
        "analyzeStepResult": (JSON, True),
        "score": (FLOAT, None),
        "reason": (TXT, True),
        "metadata": (JSON, True),
        "preprocessPrompt": (TXT, True),
        "extractPrompt": (TXT, True),
        "generateScorePrompt": (TXT, True),
        "generateReasonPrompt": (TXT, True),
        "analyzePrompt": (TXT, True),
        "reasonPrompt": (TXT, True),
        "input": (JSON, None),
        "output": (JSON, None),
        "additionalContext": (JSON, True),
        "requestContext": (JSON, True),
        "entityType": (TXT, True),
        "entity": (JSON, True),
        "entityId": (TXT, True),
        "source": (TXT, None),
        "resourceId": (TXT, True),
        "threadId": (TXT, True),
        "organizationId": (TXT, True),
        "projectId": (TXT, True),
        "batchId": (TXT, True),
        "datasetId": (TXT, True),
        "datasetItemId": (TXT, True),
        "createdAt": (TS, None),
        "updatedAt": (TS, None),
    },
}
SQL_TYPES = {
    "sqlite": {TXT: "TEXT", JSON: "TEXT", TS: "TEXT", FLOAT: "REAL"},
    "postgresql": {
        TXT: "TEXT",
        JSON: "JSONB",
        TS: "TIMESTAMP WITHOUT TIME ZONE",
        FLOAT: "DOUBLE PRECISION",
    },
    # MariaDB: JSON is LONGTEXT with a json_valid CHECK; ids are VARCHAR(255)
    # (`MYSQL_ID_COLUMNS`), other text LONGTEXT; timestamps DATETIME(3) in UTC.
    "mysql": {
        TXT: "LONGTEXT",
        JSON: "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        TS: "DATETIME(3)",
        FLOAT: "DOUBLE",
    },
}
MYSQL_ID_COLUMNS = {
    "id",
    "resourceId",
    "thread_id",
    "workflow_name",
    "run_id",
    "agent_name",
    "global_run_id",
    "scorerId",
    "traceId",
    "spanId",
    "runId",
    "entityType",
    "entityId",
    "threadId",
}
"""Columns that are `VARCHAR(255)` on MySQL (key and index columns cannot be TEXT)."""
SURROGATE_KEY = {"sqlite": "INTEGER", "postgresql": "BIGINT", "mysql": "BIGINT(20)"}
"""Our `mastra_evals.id`, which the schema document sanctions (Mastra has no key)."""


# -- databases --------------------------------------------------------------------


@dataclass
class Database:
    """An empty database (a fresh SQLite file or memory, or a fresh PG schema)."""

    name: str
    url: str
    engine: Engine
    schema: str | None = None
    made: list[MastraStorage] = field(default_factory=list)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def storage(self) -> MastraStorage:
        """A storage on this database (its own engine, except for in-memory SQLite)."""
        made: MastraStorage
        if self.name == "sqlite-memory":
            made = DefaultStorage(engine=self.engine)
        elif self.name == "mysql":
            made = MySQLStorage(url=self.url)
        elif self.schema is not None:
            made = PostgresStorage(url=self.url, schema=self.schema)
        else:
            made = DefaultStorage(url=self.url)
        self.made.append(made)
        return made

    def close(self) -> None:
        for made in self.made:
            made.close()
        self.engine.dispose()


def open_database(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, *, create_schema: bool = True
) -> Database:
    if kind == "sqlite-memory":
        return Database(kind, "file::memory:", create_engine_for_url("file::memory:"))
    if kind == "sqlite-file":
        url = f"file:{tmp_path / 'mastra.db'}"
        return Database(kind, url, create_engine_for_url(url))
    if kind == "mysql":
        url = request.getfixturevalue("mysql_databases").new("mig")
        return Database(kind, url, create_engine_for_url(url))
    schemas = request.getfixturevalue("pg_schemas")
    schema = schemas.new("mig")
    engine = create_engine_for_url(schemas.url, schema=schema)
    if create_schema:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return Database(kind, schemas.url, engine, schema)


@pytest.fixture(params=["sqlite-memory", "sqlite-file", "postgresql", "mysql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    db = open_database(request.param, request, tmp_path)
    yield db
    db.close()


@pytest.fixture(params=["sqlite-file", "postgresql", "mysql"])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database several processes can open: nothing exists yet (no file, no schema)."""
    db = open_database(request.param, request, tmp_path, create_schema=False)
    yield db
    db.close()


# -- helpers ----------------------------------------------------------------------


def revision_chain() -> list[str]:
    """Every revision, base first."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def schema_of(engine: Engine) -> dict[str, dict[str, Any]]:
    """Tables, columns (type, nullability, default), keys and indexes."""
    inspector = inspect(engine)
    dialect = engine.dialect
    found: dict[str, dict[str, Any]] = {}
    for table in sorted(inspector.get_table_names()):
        if table == VERSION_TABLE:
            continue
        found[table] = {
            "columns": {
                column["name"]: (
                    column["type"].compile(dialect=dialect),
                    column["nullable"],
                    column.get("default"),
                )
                for column in inspector.get_columns(table)
            },
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "unique": sorted(
                tuple(unique["column_names"]) for unique in inspector.get_unique_constraints(table)
            ),
            "indexes": sorted(
                (
                    str(index["name"]),
                    tuple(str(name) for name in index["column_names"]),
                    bool(index["unique"]),
                )
                for index in inspector.get_indexes(table)
            ),
        }
    return found


def rows_of(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table but the version table."""
    with engine.connect() as conn:
        return {
            table: [
                dict(row._mapping)
                for row in conn.execute(
                    text(f"SELECT * FROM {conn.dialect.identifier_preparer.quote(table)}")
                )
            ]
            for table in sorted(inspect(conn).get_table_names())
            if table != VERSION_TABLE
        }


def same_rows(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> bool:
    """The same rows, compared on the columns both sides have, in any order."""
    if not before or not after:
        return before == after
    common = sorted(before[0].keys() & after[0].keys())

    def key(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
        return sorted(tuple(repr(row[name]) for name in common) for row in rows)

    return key(before) == key(after)


def version_rows(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))]


def fill(storage: MastraStorage) -> None:
    """One of everything, through the public API."""
    storage.create_thread(
        thread_id="thread-1", resource_id="user-1", title="Migrations", metadata={"k": "v"}
    )
    storage.save_messages(
        messages=[
            {"id": "m1", "thread_id": "thread-1", "role": "user", "content": "Hello"},
            {"id": "m2", "thread_id": "thread-1", "role": "assistant", "content": "Hi there"},
        ]
    )
    storage.update_resource(resource_id="user-1", working_memory="# Notes")
    storage.persist_workflow_snapshot(
        workflow_name="wf",
        run_id="run-1",
        snapshot={"runId": "run-1", "status": "suspended", "context": {"a": {"status": "ok"}}},
    )
    storage.save_eval(
        eval={
            "input": "2+2?",
            "output": "4",
            "result": {"score": 1},
            "agent_name": "calc",
            "metric_name": "exact",
        }
    )
    storage.save_score(
        score={
            "id": "score-1",
            "scorer_id": "exact",
            "entity_id": "calc",
            "entity_type": "AGENT",
            "run_id": "run-1",
            "output": {"text": "4"},
            "score": 1.0,
            "scorer": {"id": "exact"},
            "entity": {"id": "calc"},
            "source": "LIVE",
        }
    )


def read_back(storage: MastraStorage) -> dict[str, Any]:
    """What the API returns for `fill`'s data (empty values for what is gone)."""
    thread = storage.get_thread_by_id(thread_id="thread-1")
    messages = storage.list_messages(thread_id="thread-1", per_page=None).messages
    resource = storage.get_resource_by_id(resource_id="user-1")
    return {
        "mastra_threads": thread and (thread.title, thread.metadata),
        "mastra_messages": [(m.id, m.role, m.content.content) for m in messages],
        "mastra_resources": resource and resource.working_memory,
        "mastra_workflow_snapshot": storage.load_workflow_snapshot(
            workflow_name="wf", run_id="run-1"
        ),
        "mastra_evals": [(e.input, e.result) for e in storage.get_evals(agent_name="calc").evals],
        "mastra_scorers": [
            (score.id, score.output, score.score)
            for score in storage.list_scores_by_scorer_id(scorer_id="exact").scores
        ],
    }


FILLED = {
    "mastra_threads": ("Migrations", {"k": "v"}),
    "mastra_messages": [("m1", "user", "Hello"), ("m2", "assistant", "Hi there")],
    "mastra_resources": "# Notes",
    "mastra_workflow_snapshot": {
        "runId": "run-1",
        "status": "suspended",
        "context": {"a": {"status": "ok"}},
    },
    "mastra_evals": [("2+2?", {"score": 1})],
    "mastra_scorers": [("score-1", {"text": "4"}, 1.0)],
}
EMPTY: dict[str, Any] = {
    "mastra_threads": None,
    "mastra_messages": [],
    "mastra_resources": None,
    "mastra_workflow_snapshot": None,
    "mastra_evals": [],
    "mastra_scorers": [],
}


class _RecordingContext:
    """Stands in for `alembic.context` to capture what `configure_context` sets."""

    options: dict[str, Any]

    def configure(self, **options: Any) -> None:
        self.options = options


def autogenerate_diff(conn: Connection) -> list[Any]:
    recorder = _RecordingContext()
    migrate.configure_context(recorder, conn)
    options = {
        name: value
        for name, value in recorder.options.items()
        if name not in ("connection", "render_as_batch")
    }
    context = MigrationContext.configure(conn, opts=options)
    return list(compare_metadata(context, metadata))


# -- 1. one head ------------------------------------------------------------------


def test_history_has_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    heads = script.get_heads()
    assert len(heads) == 1, f"several heads, merge them: {heads}"
    assert migrate.head() == heads[0]
    chain = revision_chain()
    assert chain[-1] == heads[0]
    assert script.get_revision(chain[0]).down_revision is None
    # The history the code uses is the repo's (source checkout) or the packaged copy.
    assert migrate.script_location() in (
        REPO_ROOT / "migrations",
        Path(migrate.__file__).parent / "_migrations",
    )


# -- 2. Mastra's tables and columns, nothing else ----------------------------------


def test_upgrade_from_empty_creates_exactly_mastras_schema(database: Database) -> None:
    engine, dialect = database.engine, database.dialect
    assert table_names(engine) == set()

    migrate.upgrade(engine)

    # Mastra's tables, our version table, and tables we declare on top (if any).
    ours = set(metadata.tables) - set(MASTRA_COLUMNS)
    assert table_names(engine) == {*MASTRA_COLUMNS, VERSION_TABLE, *ours}
    inspector = inspect(engine)
    for table, columns in MASTRA_COLUMNS.items():
        expected = {
            name: (SQL_TYPES[dialect][kind], nullable) for name, (kind, nullable) in columns.items()
        }
        if dialect == "mysql":
            for name in MYSQL_ID_COLUMNS & set(columns):
                expected[name] = ("VARCHAR(255)", expected[name][1])
        if dialect == "postgresql":
            # Mastra's timestamptz twins, DEFAULT now(); never on SQLite.
            for name, (kind, _) in columns.items():
                if kind == TS:
                    expected[f"{name}Z"] = ("TIMESTAMP WITH TIME ZONE", True)
        if table == "mastra_evals":
            expected["id"] = (SURROGATE_KEY[dialect], False)
        silent = {name for name, (_, nullable) in expected.items() if nullable is None}
        actual = {
            column["name"]: (
                column["type"].compile(dialect=engine.dialect),
                None if column["name"] in silent else column["nullable"],
            )
            for column in inspector.get_columns(table)
        }
        assert actual == expected, table
        if dialect == "postgresql":
            for column in inspector.get_columns(table):
                if column["name"].endswith("Z"):
                    assert "now()" in str(column["default"]), column

    keys = {
        table: inspector.get_pk_constraint(table)["constrained_columns"] for table in MASTRA_COLUMNS
    }
    assert keys == {
        "mastra_threads": ["id"],
        "mastra_messages": ["id"],
        "mastra_resources": ["id"],
        "mastra_workflow_snapshot": [],
        "mastra_evals": ["id"],
        "mastra_scorers": ["id"],
    }
    assert [
        u["column_names"] for u in inspector.get_unique_constraints("mastra_workflow_snapshot")
    ] == [["workflow_name", "run_id"]]
    assert version_rows(engine) == [migrate.head()]


# -- 3. models == migrated schema ----------------------------------------------------


def test_models_match_the_migrated_schema(database: Database) -> None:
    database.storage().init()
    with database.engine.connect() as conn:
        assert autogenerate_diff(conn) == []


def test_autogenerate_sees_a_schema_that_differs_from_the_models(database: Database) -> None:
    """The comparison above is live: a missing index and an extra column show up."""
    database.storage().init()
    on = " ON mastra_threads" if database.dialect == "mysql" else ""
    with database.engine.begin() as conn:
        extra = conn.dialect.identifier_preparer.quote_identifier("extra")
        conn.execute(text(f"DROP INDEX mastra_threads_resourceid_updatedat_idx{on}"))
        conn.execute(text(f"ALTER TABLE mastra_threads ADD COLUMN {extra} TEXT"))
    with database.engine.connect() as conn:
        diffs = autogenerate_diff(conn)
    missing_indexes = {diff[1].name for diff in diffs if diff[0] == "add_index"}
    extra_columns = {(diff[2], diff[3].name) for diff in diffs if diff[0] == "remove_column"}
    assert missing_indexes == {"mastra_threads_resourceid_updatedat_idx"}
    assert extra_columns == {("mastra_threads", "extra")}


# -- 4. downgrade with data, one step at a time --------------------------------------


def test_downgrade_step_by_step_and_upgrade_again_with_data(database: Database) -> None:
    engine = database.engine
    chain = revision_chain()
    below: dict[str, str | None] = dict(zip(chain, [None, *chain[:-1]], strict=True))
    schemas: dict[str | None, dict[str, Any]] = {None: schema_of(engine)}
    for revision in chain:
        migrate.upgrade(engine, revision)
        schemas[revision] = schema_of(engine)
    assert migrate.current(engine) == chain[-1] == migrate.head()

    storage = database.storage()
    fill(storage)
    assert read_back(storage) == FILLED

    for revision in reversed(chain):
        previous = below[revision]
        created_here = set(schemas[revision]) - set(schemas[previous])
        before = rows_of(engine)

        migrate.downgrade(engine, previous or "base")
        assert migrate.current(engine) == previous
        assert schema_of(engine) == schemas[previous]
        after_down = rows_of(engine)
        # The downgrade drops the tables its revision created (their rows with
        # them); every other table keeps its rows.
        assert not created_here & after_down.keys()
        for table, rows in after_down.items():
            assert same_rows(before[table], rows), table

        migrate.upgrade(engine, revision)
        assert migrate.current(engine) == revision
        assert schema_of(engine) == schemas[revision]
        after_up = rows_of(engine)
        for table in created_here:
            assert after_up[table] == [], f"{table} was dropped: it comes back empty"
        for table, rows in after_down.items():
            assert same_rows(rows, after_up[table]), table
        if revision == chain[-1]:
            expected = {
                table: EMPTY[table] if table in created_here else value
                for table, value in FILLED.items()
            }
            assert read_back(storage) == expected

        migrate.downgrade(engine, previous or "base")

    assert migrate.current(engine) is None
    assert table_names(engine) <= {VERSION_TABLE}
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    assert schema_of(engine) == schemas[chain[-1]]
    # Down to base and back up: the schema is back, the data is not.
    assert all(rows == [] for rows in rows_of(engine).values())
    assert read_back(storage) == EMPTY
    fill(storage)
    assert read_back(storage) == FILLED


# -- 5. init / check / current -------------------------------------------------------


def test_current_check_and_idempotent_init(database: Database) -> None:
    engine, head = database.engine, migrate.head()
    assert head is not None
    assert migrate.current(engine) is None
    with pytest.raises(MigrationRequiredError) as behind:
        migrate.check(engine)
    assert (behind.value.current, behind.value.head) == (None, head)
    assert head in str(behind.value)

    first = revision_chain()[0]
    migrate.upgrade(engine, first)
    assert migrate.current(engine) == first
    if first != head:
        with pytest.raises(MigrationRequiredError) as behind:
            migrate.check(engine)
        assert (behind.value.current, behind.value.head) == (first, head)

    storage = database.storage()
    storage.init()
    migrate.check(engine)
    assert migrate.current(engine) == head
    schema = schema_of(engine)
    storage.create_thread(thread_id="kept", resource_id="user-1", title="kept")

    storage.init()
    database.storage().init()  # another instance, same database
    migrate.upgrade(engine)
    migrate.check(engine)
    assert version_rows(engine) == [head]
    assert schema_of(engine) == schema
    thread = storage.get_thread_by_id(thread_id="kept")
    assert thread is not None and thread.title == "kept"


@contextmanager
def migration_lock_held(database: Database) -> Iterator[None]:
    """What a migrator holds, taken by another connection meanwhile: SQLite's
    write lock, PostgreSQL's migration advisory lock, MySQL's named lock."""
    if database.name == "sqlite-file":
        with write_locked(database.url.removeprefix("file:")):
            yield
        return
    with database.engine.connect() as conn:
        if database.name == "mysql":
            assert conn.execute(text(f"SELECT GET_LOCK({MYSQL_MIGRATION_LOCK}, 0)")).scalar()
            try:
                yield
            finally:
                conn.execute(text(f"DO RELEASE_LOCK({MYSQL_MIGRATION_LOCK})"))
            return
        with conn.begin():
            key = {"key": migrate.MIGRATION_LOCK_KEY}
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), key)
            yield


def _storage_on(database: Database, *, asynchronous: bool, **options: Any) -> Any:
    if database.name == "mysql":
        return (AsyncMySQLStorage if asynchronous else MySQLStorage)(url=database.url, **options)
    if database.name == "postgresql":
        kind = AsyncPostgresStorage if asynchronous else PostgresStorage
        return kind(url=database.url, schema=database.schema, **options)
    return (AsyncDefaultStorage if asynchronous else DefaultStorage)(url=database.url, **options)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_new_storage_on_a_database_at_head_reads_while_a_migrator_holds_the_lock(
    shared_database: Database, asynchronous: bool
) -> None:
    """At head, `init` (and so a new storage's first call) only reads the
    version: it needs neither the migration lock nor SQLite's write lock, so
    a writer or a migrator holding it keeps no new process from reading.
    Below head it still takes the lock, and waits for it within the bound."""
    with _storage_on(shared_database, asynchronous=False) as first:
        first.init()  # the schema made, at head
    with migration_lock_held(shared_database):

        async def first_calls(storage: Any) -> Any:
            try:
                await storage.init()
                return await storage.get_thread_by_id(thread_id="none")
            finally:
                await storage.close()

        storage = _storage_on(shared_database, asynchronous=asynchronous, lock_timeout_ms=300)
        if asynchronous:
            assert asyncio.run(first_calls(storage)) is None
        else:
            with storage:
                assert storage.get_thread_by_id(thread_id="none") is None
    # Below head: the lock is taken, and waited for.
    with shared_database.engine.begin() as conn:
        conn.execute(
            text(f"UPDATE {VERSION_TABLE} SET version_num = :v"), {"v": revision_chain()[0]}
        )
    with migration_lock_held(shared_database):
        behind = _storage_on(shared_database, asynchronous=False, lock_timeout_ms=300)
        with behind, pytest.raises(StorageTimeoutError):
            behind.init()


def test_check_refuses_a_database_ahead_of_the_code(database: Database) -> None:
    migrate.upgrade(database.engine)
    with database.engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 'from_the_future'"))
    with pytest.raises(SchemaTooNewError) as ahead:  # not "run the upgrade"
        migrate.check(database.engine)
    assert (ahead.value.current, ahead.value.head) == ("from_the_future", migrate.head())
    assert "upgrade(" not in str(ahead.value)


def test_upgrade_on_a_connection_runs_inside_its_transaction(database: Database) -> None:
    if database.dialect == "mysql":
        pytest.skip("MySQL commits each DDL statement: no migration is transactional there")
    with database.engine.connect() as conn:
        transaction = conn.begin()
        migrate.upgrade(conn)
        assert migrate.current(conn) == migrate.head()
        assert set(MASTRA_COLUMNS) <= set(inspect(conn).get_table_names())
        transaction.rollback()
    assert migrate.current(database.engine) is None
    assert table_names(database.engine) == set()

    with database.engine.connect() as conn:
        migrate.upgrade(conn)  # not in a transaction: its own, committed
    assert migrate.current(database.engine) == migrate.head()


# -- 6. concurrent init from several processes --------------------------------------

WORKERS = 6


def _migrate_in_process(
    entry: str, url: str, schema: str | None, barrier: Any, results: Any, index: int
) -> None:
    """One process: make a storage (or a plain SQLAlchemy engine), wait for
    the others, then migrate at the same moment as they do."""
    try:
        if entry == "storage.init":
            storage: MastraStorage = (
                DefaultStorage(url=url)
                if schema is None
                else PostgresStorage(url=url, schema=schema)
            )
            barrier.wait(timeout=60)
            storage.init()
            storage.close()
        else:
            # An engine made by the caller, with none of our set-up.
            options = {} if schema is None else {"options": f"-csearch_path={schema}"}
            engine = create_engine(url, connect_args=options)
            barrier.wait(timeout=60)
            migrate.upgrade(engine)
            engine.dispose()
        results.put((index, None))
    except BaseException:
        results.put((index, traceback.format_exc()))


@pytest.mark.slow
@pytest.mark.parametrize("entry", ["storage.init", "migrate.upgrade"])
def test_concurrent_migration_from_several_processes(
    shared_database: Database, entry: str, tmp_path: Path
) -> None:
    url, schema = shared_database.url, shared_database.schema
    if entry == "migrate.upgrade":
        if shared_database.name.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / 'mastra.db'}"
        elif (
            schema is not None
        ):  # upgrade() migrates the schema it is given; it does not create one
            with shared_database.engine.begin() as conn:
                migrate.ensure_schema(conn, schema)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [
        context.Process(
            target=_migrate_in_process, args=(entry, url, schema, barrier, results, index)
        )
        for index in range(WORKERS)
    ]
    for process in processes:
        process.start()
    try:
        outcomes = dict(results.get(timeout=120) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
    failures = [error for error in outcomes.values() if error is not None]
    assert not failures, f"{len(failures)} of {WORKERS} {entry}() calls failed:\n" + "\n".join(
        failures
    )
    assert [process.exitcode for process in processes] == [0] * WORKERS

    engine = shared_database.engine
    assert migrate.current(engine) == migrate.head()
    assert version_rows(engine) == [migrate.head()]
    assert set(MASTRA_COLUMNS) <= table_names(engine)
    storage = shared_database.storage()
    storage.create_thread(thread_id="after", resource_id="user-1")
    assert storage.get_thread_by_id(thread_id="after") is not None


# -- 7. the alembic command line -----------------------------------------------------


def run_alembic(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MASTRA_STORAGE_")}
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=REPO_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("how", ["environment", "x-arguments"])
def test_alembic_upgrade_head_from_the_repo_root(
    shared_database: Database, how: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db = shared_database
    target = {"MASTRA_STORAGE_URL": db.url}
    if db.schema is not None:
        target["MASTRA_STORAGE_SCHEMA"] = db.schema
    if how == "environment":
        args, env = [], target
        decoy: Database | None = None
    else:
        # -x wins over the environment, which points elsewhere.
        decoy = open_database(db.name, request, tmp_path / "decoy", create_schema=False)
        args = ["-x", f"url={db.url}"]
        if db.schema is not None:
            args += ["-x", f"schema={db.schema}"]
        env = {"MASTRA_STORAGE_URL": decoy.url}
        if decoy.schema is not None:
            env["MASTRA_STORAGE_SCHEMA"] = decoy.schema

    upgraded = run_alembic(*args, "upgrade", "head", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "Running upgrade" in upgraded.stderr
    assert migrate.current(db.engine) == migrate.head()
    assert set(MASTRA_COLUMNS) <= table_names(db.engine)

    if decoy is None:
        return
    try:
        shown = run_alembic(*args, "current", env=env)
        assert shown.returncode == 0, shown.stderr
        assert f"{migrate.head()} (head)" in shown.stdout
        # The environment's database was never touched.
        if decoy.schema is None:
            assert not (tmp_path / "decoy" / "mastra.db").exists()
        else:
            with decoy.engine.connect() as conn:
                exists = conn.execute(
                    text("SELECT count(*) FROM pg_namespace WHERE nspname = :name"),
                    {"name": decoy.schema},
                ).scalar_one()
            assert exists == 0
    finally:
        decoy.close()


def test_alembic_without_a_url_says_what_is_missing() -> None:
    failed = run_alembic("upgrade", "head", env={})
    assert failed.returncode != 0
    assert "MASTRA_STORAGE_URL" in failed.stderr + failed.stdout


def test_alembic_refuses_a_schema_for_sqlite(tmp_path: Path) -> None:
    failed = run_alembic(
        "-x", f"url=file:{tmp_path / 'x.db'}", "-x", "schema=nope", "upgrade", "head", env={}
    )
    assert failed.returncode != 0
    assert "PostgreSQL" in failed.stderr + failed.stdout
    assert not (tmp_path / "x.db").exists()


# -- 8. adopting tables that Mastra (TypeScript) created -----------------------------

MASTRA_SQLITE_DDL = """
CREATE TABLE mastra_threads (id TEXT NOT NULL PRIMARY KEY, resourceId TEXT NOT NULL,
    title TEXT NOT NULL, metadata TEXT, createdAt TEXT NOT NULL, updatedAt TEXT NOT NULL);
CREATE TABLE mastra_messages (id TEXT NOT NULL PRIMARY KEY, thread_id TEXT NOT NULL,
    content TEXT NOT NULL, role TEXT NOT NULL, type TEXT NOT NULL, createdAt TEXT NOT NULL,
    resourceId TEXT);
CREATE TABLE mastra_resources (id TEXT NOT NULL PRIMARY KEY, workingMemory TEXT,
    metadata TEXT, createdAt TEXT NOT NULL, updatedAt TEXT NOT NULL);
CREATE TABLE mastra_workflow_snapshot (workflow_name TEXT NOT NULL, run_id TEXT NOT NULL,
    resourceId TEXT, snapshot TEXT, createdAt TEXT NOT NULL, updatedAt TEXT NOT NULL,
    UNIQUE (workflow_name, run_id));
CREATE TABLE mastra_evals (input TEXT NOT NULL, output TEXT NOT NULL, result TEXT NOT NULL,
    agent_name TEXT NOT NULL, metric_name TEXT NOT NULL, instructions TEXT NOT NULL,
    test_info TEXT, global_run_id TEXT NOT NULL, run_id TEXT NOT NULL,
    created_at TEXT NOT NULL, createdAt TEXT);
CREATE TABLE mastra_scorers ("id" TEXT NOT NULL PRIMARY KEY, "scorerId" TEXT, "traceId" TEXT,
    "runId" TEXT, "scorer" TEXT, "preprocessStepResult" TEXT, "extractStepResult" TEXT,
    "analyzeStepResult" TEXT, "score" REAL, "reason" TEXT, "metadata" TEXT,
    "preprocessPrompt" TEXT, "extractPrompt" TEXT, "generateScorePrompt" TEXT,
    "generateReasonPrompt" TEXT, "analyzePrompt" TEXT, "reasonPrompt" TEXT, "input" TEXT,
    "output" TEXT, "additionalContext" TEXT, "entityType" TEXT, "entity" TEXT,
    "entityId" TEXT, "source" TEXT, "resourceId" TEXT, "threadId" TEXT, "createdAt" TEXT,
    "updatedAt" TEXT);
CREATE INDEX idx_messages_thread_created_at ON mastra_messages (thread_id, createdAt);
CREATE INDEX idx_messages_thread_resource_created_at
    ON mastra_messages (thread_id, resourceId, createdAt);
"""
MASTRA_SQLITE_ROWS = """
INSERT INTO mastra_threads VALUES ('t-ts', 'user-ts', 'From TypeScript', '{"origin":"ts"}',
    '2026-11-26T11:50:17.385Z', '2026-11-26T11:50:17.385Z');
INSERT INTO mastra_messages VALUES ('m-ts', 't-ts',
    '{"format":2,"parts":[{"type":"text","text":"Hello from TS"}],"content":"Hello from TS"}',
    'user', 'v2', '2026-11-26T11:50:17.385Z', 'user-ts');
INSERT INTO mastra_resources VALUES ('user-ts', '# TS notes', NULL,
    '2026-11-26T11:50:17.385Z', '2026-11-26T11:50:17.385Z');
INSERT INTO mastra_workflow_snapshot VALUES ('wf-ts', 'run-ts', 'user-ts',
    '{"runId":"run-ts","status":"success","context":{}}',
    '2026-11-26T11:50:17.385Z', '2026-11-26T11:50:17.385Z');
INSERT INTO mastra_evals VALUES ('q', 'a', '{"score":0.5}', 'agent-ts', 'metric', 'be nice',
    NULL, 'g-1', 'r-1', '2026-11-26T11:50:17.385Z', '2026-11-26T11:50:17.385Z');
INSERT INTO mastra_scorers ("id", "scorerId", "traceId", "runId", "scorer", "score", "input",
    "output", "entityType", "entity", "entityId", "source", "createdAt", "updatedAt")
    VALUES ('score-ts', 'scorer-ts', 'trace-ts', 'run-ts', '{"id":"scorer-ts"}', 0.5,
    '[{"q":1}]', '"42"', 'AGENT', '{"id":"agent-ts"}', 'agent-ts', 'LIVE',
    '2026-11-26T11:50:17.385Z', '2026-11-26T11:50:17.385Z');
"""
MASTRA_PG_DDL = """
CREATE TABLE mastra_threads (id TEXT NOT NULL PRIMARY KEY, "resourceId" TEXT NOT NULL,
    title TEXT NOT NULL, metadata JSONB, "createdAt" TIMESTAMP NOT NULL,
    "updatedAt" TIMESTAMP NOT NULL, "createdAtZ" TIMESTAMPTZ DEFAULT NOW(),
    "updatedAtZ" TIMESTAMPTZ DEFAULT NOW());
CREATE TABLE mastra_messages (id TEXT NOT NULL PRIMARY KEY, thread_id TEXT NOT NULL,
    content TEXT NOT NULL, role TEXT NOT NULL, type TEXT NOT NULL,
    "createdAt" TIMESTAMP NOT NULL, "resourceId" TEXT, "createdAtZ" TIMESTAMPTZ DEFAULT NOW());
CREATE TABLE mastra_resources (id TEXT NOT NULL PRIMARY KEY, "workingMemory" TEXT,
    metadata JSONB, "createdAt" TIMESTAMP NOT NULL, "updatedAt" TIMESTAMP NOT NULL,
    "createdAtZ" TIMESTAMPTZ DEFAULT NOW(), "updatedAtZ" TIMESTAMPTZ DEFAULT NOW());
CREATE TABLE mastra_workflow_snapshot (workflow_name TEXT NOT NULL, run_id TEXT NOT NULL,
    "resourceId" TEXT, snapshot JSONB NOT NULL, "createdAt" TIMESTAMP NOT NULL,
    "updatedAt" TIMESTAMP NOT NULL, "createdAtZ" TIMESTAMPTZ DEFAULT NOW(),
    "updatedAtZ" TIMESTAMPTZ DEFAULT NOW(),
    CONSTRAINT mastra_workflow_snapshot_workflow_name_run_id_key UNIQUE (workflow_name, run_id));
CREATE TABLE mastra_evals (input TEXT NOT NULL, output TEXT NOT NULL, result JSONB NOT NULL,
    agent_name TEXT NOT NULL, metric_name TEXT NOT NULL, instructions TEXT NOT NULL,
    test_info JSONB, global_run_id TEXT NOT NULL, run_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL, "createdAt" TIMESTAMP,
    "created_atZ" TIMESTAMPTZ DEFAULT NOW(), "createdAtZ" TIMESTAMPTZ DEFAULT NOW());
CREATE INDEX mastra_messages_thread_id_createdat_idx
    ON mastra_messages (thread_id, "createdAt" DESC);
CREATE INDEX mastra_threads_resourceid_createdat_idx
    ON mastra_threads ("resourceId", "createdAt" DESC);
CREATE INDEX mastra_workflow_snapshot_name_createdat_idx
    ON mastra_workflow_snapshot (workflow_name, "createdAt" DESC);
CREATE INDEX mastra_workflow_snapshot_name_status_createdat_idx
    ON mastra_workflow_snapshot (workflow_name, (snapshot->>'status'), "createdAt" DESC);
CREATE INDEX mastra_evals_agent_name_created_at_idx ON mastra_evals (agent_name, created_at DESC);
CREATE TABLE mastra_scorers (id TEXT NOT NULL PRIMARY KEY, "scorerId" TEXT NOT NULL,
    "traceId" TEXT, "spanId" TEXT, "runId" TEXT NOT NULL, scorer JSONB NOT NULL,
    "preprocessStepResult" JSONB, "extractStepResult" JSONB, "analyzeStepResult" JSONB,
    score FLOAT NOT NULL, reason TEXT, metadata JSONB, "preprocessPrompt" TEXT,
    "extractPrompt" TEXT, "generateScorePrompt" TEXT, "generateReasonPrompt" TEXT,
    "analyzePrompt" TEXT, "reasonPrompt" TEXT, input JSONB NOT NULL, output JSONB NOT NULL,
    "additionalContext" JSONB, "requestContext" JSONB, "entityType" TEXT, entity JSONB,
    "entityId" TEXT, source TEXT NOT NULL, "resourceId" TEXT, "threadId" TEXT,
    "organizationId" TEXT, "projectId" TEXT, "batchId" TEXT, "datasetId" TEXT,
    "datasetItemId" TEXT, "createdAt" TIMESTAMP NOT NULL, "updatedAt" TIMESTAMP NOT NULL,
    "createdAtZ" TIMESTAMPTZ DEFAULT NOW(), "updatedAtZ" TIMESTAMPTZ DEFAULT NOW());
CREATE INDEX mastra_scores_trace_id_span_id_created_at_idx
    ON mastra_scorers ("traceId", "spanId", "createdAt" DESC);
"""
PG_TS = "'2026-11-26 11:50:17.385', '2026-11-26 11:50:17.385'"
PG_TSZ = "'2026-11-26 11:50:17.385+00', '2026-11-26 11:50:17.385+00'"
MASTRA_PG_ROWS = f"""
INSERT INTO mastra_threads VALUES ('t-ts', 'user-ts', 'From TypeScript', '{{"origin":"ts"}}',
    {PG_TS}, {PG_TSZ});
INSERT INTO mastra_messages VALUES ('m-ts', 't-ts',
    '{{"format":2,"parts":[{{"type":"text","text":"Hello from TS"}}],"content":"Hello from TS"}}',
    'user', 'v2', '2026-11-26 11:50:17.385', 'user-ts', '2026-11-26 11:50:17.385+00');
INSERT INTO mastra_resources VALUES ('user-ts', '# TS notes', NULL, {PG_TS}, {PG_TSZ});
INSERT INTO mastra_workflow_snapshot VALUES ('wf-ts', 'run-ts', 'user-ts',
    '{{"runId":"run-ts","status":"success","context":{{}}}}', {PG_TS}, {PG_TSZ});
INSERT INTO mastra_evals VALUES ('q', 'a', '{{"score":0.5}}', 'agent-ts', 'metric', 'be nice',
    NULL, 'g-1', 'r-1', {PG_TS}, {PG_TSZ});
INSERT INTO mastra_scorers ("id", "scorerId", "traceId", "runId", "scorer", "score", "input",
    "output", "entityType", "entity", "entityId", "source", "createdAt", "updatedAt",
    "createdAtZ", "updatedAtZ")
    VALUES ('score-ts', 'scorer-ts', 'trace-ts', 'run-ts', '"{{\\"id\\":\\"scorer-ts\\"}}"', 0.5,
    '"[{{\\"q\\":1}}]"', '"\\"42\\""', 'AGENT', '"{{\\"id\\":\\"agent-ts\\"}}"', 'agent-ts', 'LIVE',
    {PG_TS}, {PG_TSZ});
"""


def create_like_mastra(engine: Engine) -> None:
    script = (
        MASTRA_PG_DDL + MASTRA_PG_ROWS
        if engine.dialect.name == "postgresql"
        else MASTRA_SQLITE_DDL + MASTRA_SQLITE_ROWS
    )
    with engine.begin() as conn:
        for statement in script.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)


def test_init_adopts_tables_mastra_created(database: Database) -> None:
    if database.dialect == "mysql":
        pytest.skip("Mastra has no MySQL store: no tables or indexes of its making to adopt")
    engine = database.engine
    create_like_mastra(engine)
    mastra_indexes = {
        table: {index["name"] for index in inspect(engine).get_indexes(table)}
        for table in MASTRA_COLUMNS
    }
    before = rows_of(engine)
    assert migrate.current(engine) is None

    storage = database.storage()
    storage.init()

    assert migrate.current(engine) == migrate.head()
    assert version_rows(engine) == [migrate.head()]
    after = rows_of(engine)
    for table in MASTRA_COLUMNS:
        assert len(after[table]) == 1, table
        assert same_rows(before[table], after[table]), table
    assert after["mastra_evals"][0]["id"] == 1  # the surrogate key, added and filled
    inspector = inspect(engine)
    for table in MASTRA_COLUMNS:
        indexes = {index["name"]: index for index in inspector.get_indexes(table)}
        # Mastra's indexes stay; ours are added (on PostgreSQL some share
        # Mastra's names, and Mastra's index of that name is kept).
        assert mastra_indexes[table] <= indexes.keys()
        assert {index.name for index in metadata.tables[table].indexes} <= indexes.keys()
    messages_index = inspector.get_indexes("mastra_messages")
    assert any(
        index["column_names"] == ["thread_id", "createdAt", "id"] for index in messages_index
    )

    thread = storage.get_thread_by_id(thread_id="t-ts")
    assert thread is not None
    assert (thread.resource_id, thread.title, thread.metadata) == (
        "user-ts",
        "From TypeScript",
        {"origin": "ts"},
    )
    assert thread.created_at == thread.updated_at == BASE
    [message] = storage.list_messages(thread_id="t-ts").messages
    assert (message.id, message.role, message.created_at) == ("m-ts", "user", BASE)
    assert message.content.parts == [{"type": "text", "text": "Hello from TS"}]
    resource = storage.get_resource_by_id(resource_id="user-ts")
    assert resource is not None and resource.working_memory == "# TS notes"
    assert storage.load_workflow_snapshot(workflow_name="wf-ts", run_id="run-ts") == {
        "runId": "run-ts",
        "status": "success",
        "context": {},
    }
    score = storage.get_score_by_id(id="score-ts")
    assert score is not None
    assert (score.scorer, score.input, score.output, score.score, score.created_at) == (
        {"id": "scorer-ts"},
        [{"q": 1}],
        "42",
        0.5,
        BASE,
    )
    assert [s.id for s in storage.list_scores_by_scorer_id(scorer_id="scorer-ts").scores] == [
        "score-ts"
    ]
    # Columns an older Mastra lacked were added (the SQLite table here had no spanId).
    assert {"spanId", "requestContext", "datasetItemId"} <= {
        column["name"] for column in inspector.get_columns("mastra_scorers")
    }
    [evaluation] = storage.get_evals(agent_name="agent-ts").evals
    assert (evaluation.input, evaluation.result, evaluation.created_at) == (
        "q",
        {"score": 0.5},
        BASE,
    )

    # And it keeps working: new rows next to Mastra's, init again is a no-op.
    storage.save_messages(
        messages=[{"id": "m-py", "thread_id": "t-ts", "role": "assistant", "content": "Hi"}]
    )
    storage.save_eval(
        eval={
            "input": "q2",
            "output": "a2",
            "result": {},
            "agent_name": "agent-ts",
            "metric_name": "metric",
        }
    )
    storage.save_score(
        score={
            "id": "score-py",
            "scorer_id": "scorer-ts",
            "entity_id": "agent-ts",
            "run_id": "run-py",
            "score": 1,
            "scorer": {"id": "scorer-ts"},
            "entity": {"id": "agent-ts"},
            "source": "TEST",
            "span_id": "span-py",
        }
    )
    storage.init()
    listed = storage.list_scores_by_scorer_id(scorer_id="scorer-ts").scores
    assert [s.id for s in listed] == ["score-py", "score-ts"]
    assert [m.id for m in storage.list_messages(thread_id="t-ts").messages] == ["m-ts", "m-py"]
    assert len(storage.get_evals(agent_name="agent-ts").evals) == 2
    assert version_rows(engine) == [migrate.head()]


# -- 0006: Mastra's snapshot indexes, repair of local-time timestamps ---------------

SNAPSHOT_INDEXES = {
    "sqlite": {"mastra_workflow_snapshot_name_status_createdat_idx"},
    "postgresql": {
        "mastra_workflow_snapshot_name_status_createdat_idx",
        "mastra_workflow_snapshot_threadid_idx",
    },
    "mysql": set(),  # MariaDB indexes no expression: 0006 adds nothing there
}


def index_names(database: Database, table: str) -> set[str]:
    """Index names straight from the catalog (expression indexes included)."""
    with database.engine.connect() as conn:
        if database.dialect == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"
        elif database.dialect == "mysql":
            sql = (
                "SELECT DISTINCT index_name FROM information_schema.statistics "
                "WHERE table_schema = DATABASE() AND table_name = :t"
            )
        else:
            sql = (
                "SELECT indexname FROM pg_indexes "
                "WHERE schemaname = current_schema() AND tablename = :t"
            )
        return set(conn.execute(text(sql), {"t": table}).scalars())


def test_0006_creates_and_drops_the_snapshot_indexes(database: Database) -> None:
    migrate.upgrade(database.engine, "0005_scores")
    assert not SNAPSHOT_INDEXES[database.dialect] & index_names(
        database, "mastra_workflow_snapshot"
    )
    migrate.upgrade(database.engine)
    assert SNAPSHOT_INDEXES[database.dialect] <= index_names(database, "mastra_workflow_snapshot")
    migrate.downgrade(database.engine, "0005_scores")
    assert not SNAPSHOT_INDEXES[database.dialect] & index_names(
        database, "mastra_workflow_snapshot"
    )


def test_0006_adopts_the_indexes_mastra_made_under_its_own_names(database: Database) -> None:
    """@mastra/pg names its indexes after a non-public schema; ours are not
    added next to them. Autogenerate leaves such expression indexes alone."""
    if database.dialect == "mysql":
        pytest.skip("Mastra has no MySQL store: no tables or indexes of its making to adopt")
    migrate.upgrade(database.engine, "0005_scores")
    status = f"{database.schema or 'main'}_mastra_workflow_snapshot_name_status_createdat_idx"[:63]
    thread = f"{database.schema or 'main'}_mastra_workflow_snapshot_threadid_idx"[:63]
    statements = [
        f'CREATE INDEX "{status}" ON mastra_workflow_snapshot '
        "(workflow_name, (snapshot ->> 'status'), \"createdAt\" DESC)",
        f'CREATE INDEX "{thread}" ON mastra_workflow_snapshot ((COALESCE('
        'jsonb_path_query_first(snapshot, \'$.context.* ? (@.status == "suspended")'
        ".suspendPayload.__streamState.messageList.memoryInfo.threadId') #>> '{}', "
        "snapshot #>> '{context,input,messageListState,memoryInfo,threadId}')))",
    ]
    if database.dialect == "sqlite":  # Mastra's libsql makes none: a host's own
        statements = [
            f'CREATE INDEX "{thread}" ON mastra_workflow_snapshot '
            "(json_extract(snapshot, '$.context.input'))"
        ]
    with database.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    migrate.upgrade(database.engine)
    names = index_names(database, "mastra_workflow_snapshot")
    if database.dialect == "postgresql":
        assert not SNAPSHOT_INDEXES["postgresql"] & names  # no duplicates of Mastra's
        assert {status, thread} <= names
    else:
        assert SNAPSHOT_INDEXES["sqlite"] | {thread} <= names
    with database.engine.connect() as conn:
        assert autogenerate_diff(conn) == []


def test_0006_repairs_timestamps_written_in_local_time(database: Database) -> None:
    """Older @mastra/pg on a UTC+2 host: plain columns 2 h ahead of their twins.
    A twin that differs by something other than an offset is left alone."""
    if database.dialect == "mysql":
        pytest.skip("Mastra has no MySQL store: no tables or indexes of its making to adopt")
    migrate.upgrade(database.engine, "0005_scores")
    shifted = "'2026-11-26 13:50:17.385'"
    with database.engine.begin() as conn:
        if database.dialect == "postgresql":
            twin = "'2026-11-26 11:50:17.385+00'"
            conn.execute(
                text(
                    'INSERT INTO mastra_threads (id, "resourceId", title, metadata, "createdAt", '
                    f"\"updatedAt\", \"createdAtZ\", \"updatedAtZ\") VALUES ('t', 'r', '', NULL, "
                    f"{shifted}, {shifted}, {twin}, {twin}), "
                    "('kept', 'r', '', NULL, '2026-11-26 11:50:17.385', "
                    "'2026-11-26 11:50:17.385', '2026-11-30 09:00:00.123+00', "
                    "'2026-11-26 11:50:17.385+00')"
                )
            )
            conn.execute(
                text(
                    'INSERT INTO mastra_messages (id, thread_id, content, role, type, "createdAt", '
                    f"\"resourceId\", \"createdAtZ\") VALUES ('m', 't', '\"hi\"', 'user', "
                    f"'v2', {shifted}, 'r', {twin})"
                )
            )
        else:
            conn.execute(
                text(
                    'INSERT INTO mastra_threads (id, "resourceId", title, "createdAt", "updatedAt")'
                    " VALUES ('t', 'r', '', '2026-11-26T11:50:17.385Z', "
                    "'2026-11-26T11:50:17.385Z')"
                )
            )
    migrate.upgrade(database.engine)
    storage = database.storage()
    thread = storage.get_thread_by_id(thread_id="t")
    assert thread is not None
    assert thread.created_at == thread.updated_at == BASE
    if database.dialect == "postgresql":
        [message] = storage.list_messages(
            thread_id="t", date_range={"start": BASE, "end": BASE}
        ).messages
        assert message.created_at == BASE
        kept = storage.get_thread_by_id(thread_id="kept")
        assert kept is not None and kept.created_at == BASE
    assert migrate.repair_local_timestamps(database.engine) == 0  # idempotent


def test_a_new_engine_gets_our_sqlite_hooks_even_if_its_id_was_an_old_engines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQLAlchemy's `event.contains` answers by `id()` of the engine, which a
    new engine may share with one just collected: it once said "hooked" for
    a fresh in-memory engine, whose DDL then committed at once (CI flake of
    test_upgrade_on_a_connection_runs_inside_its_transaction)."""
    monkeypatch.setattr(event, "contains", lambda *args: True)  # the stale answer
    engine = create_engine_for_url("file::memory:")
    with engine.connect() as conn:
        transaction = conn.begin()
        conn.exec_driver_sql("CREATE TABLE t (x)")
        transaction.rollback()
    assert table_names(engine) == set()
    engine.dispose()


def test_the_adopted_index_check_is_not_failed_by_other_schemas_being_dropped(
    postgres_url: str, pg_schemas: Any
) -> None:
    """Migration 0006 adopts a snapshot index Mastra made under another name,
    found by its definition. Other schemas' snapshot tables dropped meanwhile
    (other tenants' storages torn down) must not fail that check: a read of
    `pg_indexes` computed the definitions of every schema's indexes, and one
    being dropped raised "could not open relation with OID" (seen in CI, in
    a storage's `init()`)."""
    schema = pg_schemas.new("indexlike")
    snapshots = "mastra_workflow_snapshot"
    with PostgresStorage(url=postgres_url, schema=schema) as storage:
        storage.init()
    stop = threading.Event()
    churned: list[int] = []

    def churn(worker: int) -> None:
        engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                while not stop.is_set():
                    other = f"{schema}_churn{worker}"
                    conn.execute(text(f'CREATE SCHEMA "{other}"'))
                    conn.execute(
                        text(f'CREATE TABLE "{other}".mastra_workflow_snapshot (snapshot jsonb)')
                    )
                    for key in ("status", "runId", "value"):
                        conn.execute(
                            text(
                                f'CREATE INDEX ON "{other}".mastra_workflow_snapshot'
                                f" ((snapshot ->> '{key}'))"
                            )
                        )
                    conn.execute(text(f'DROP SCHEMA "{other}" CASCADE'))
                    churned.append(worker)
        finally:
            engine.dispose()

    workers = [threading.Thread(target=churn, args=(k,)) for k in range(2)]
    for worker in workers:
        worker.start()
    # Without catalog index scans: the plan PostgreSQL may pick for a catalog
    # of many schemas, filtering each index by its definition first.
    settings = f"-c search_path={schema} -c enable_indexscan=off -c enable_bitmapscan=off"
    engine = create_engine(postgres_url, connect_args={"options": settings})
    try:
        with engine.connect() as conn:
            for _ in range(150):
                assert postgres_index_like(
                    conn, "mastra_workflow_snapshot", "jsonb_path_query_first"
                )
                assert not postgres_index_like(conn, snapshots, "no such text")
                assert not postgres_index_like(conn, "no_such_table", "")
                conn.rollback()
            # Until the others have dropped a few schemas meanwhile.
            deadline = time.monotonic() + 30
            while len(churned) < 4 and time.monotonic() < deadline:
                assert postgres_index_like(
                    conn, "mastra_workflow_snapshot", "jsonb_path_query_first"
                )
                conn.rollback()
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
        engine.dispose()
    assert len(churned) >= 4
