"""What is MySQL/MariaDB's own: the classes and URLs that reach it, the tables
the shared Alembic history makes there (utf8mb4, binary collation, VARCHAR
ids, DATETIME(3), JSON), and migrations that survive MySQL's non-transactional
DDL: a migrating process killed half-way through a step, and the named lock
that makes concurrent migrators take turns, with a bounded wait.

The behaviour suite itself runs on MySQL through the `backend` matrix
(conftest.py); the migration suite through `test_migrations.py`.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import MySQLDatabases
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine, make_url

from mastra_storage import (
    AsyncMySQLStorage,
    DefaultStorage,
    MySQLStorage,
    StorageError,
    StorageTimeoutError,
    ValidationError,
    async_from_url,
    from_url,
    migrate,
    storage_from_env,
)
from mastra_storage.errors import MissingDependencyError
from mastra_storage.migrate import MYSQL_MIGRATION_LOCK
from mastra_storage.orm import metadata
from mastra_storage.values import MAX_ID_LENGTH


@pytest.fixture
def empty_url(mysql_databases: MySQLDatabases) -> str:
    """A new, empty MySQL database of this run."""
    return mysql_databases.new("my")


@pytest.fixture
def raw(empty_url: str) -> Iterator[Engine]:
    """A plain SQLAlchemy engine on it (none of our session settings)."""
    engine = create_engine(empty_url)
    yield engine
    engine.dispose()


def test_every_mysql_url_form_gives_the_mysql_classes(empty_url: str) -> None:
    url = make_url(empty_url)
    for scheme in ("mysql", "mysql+pymysql", "mariadb", "mariadb+pymysql"):
        given = url.set(drivername=scheme).render_as_string(hide_password=False)
        storage = from_url(given)
        assert isinstance(storage, MySQLStorage), scheme
        assert storage.engine.driver == "pymysql"
        storage.close()
        async_storage = async_from_url(given)
        assert isinstance(async_storage, AsyncMySQLStorage), scheme
        assert async_storage.engine.driver == "asyncmy"
        asyncio.run(async_storage.close())
    # DefaultStorage takes any supported URL, MySQL's too.
    with DefaultStorage(url=empty_url) as default:
        default.init()
        assert default.get_thread_by_id(thread_id="none") is None
    with pytest.raises(ValidationError, match="MySQL"):
        MySQLStorage(url="file::memory:")
    with pytest.raises(ValidationError, match="url or an engine"):
        MySQLStorage()


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name in ("pymysql", "asyncmy") else real(name, *args),
    )
    for make in (MySQLStorage, AsyncMySQLStorage):
        with pytest.raises(MissingDependencyError, match=r"mastra-storage\[mysql\]"):
            make(url="mysql://root@127.0.0.1/db")


def test_the_storage_connection_is_utf8mb4_in_utc_and_strict(empty_url: str) -> None:
    with (
        MySQLStorage(url=empty_url, lock_timeout_ms=2500) as storage,
        storage.engine.connect() as conn,
    ):
        settings = conn.execute(
            text(
                "SELECT @@character_set_connection, @@time_zone, @@sql_mode, "
                "@@innodb_lock_wait_timeout, @@tx_isolation"
            )
        ).one()
    charset, zone, mode, lock_wait, isolation = settings
    assert (charset, zone, lock_wait, isolation) == ("utf8mb4", "+00:00", 3, "READ-COMMITTED")
    assert "STRICT_ALL_TABLES" in mode.split(",")


def test_tables_are_utf8mb4_binary_with_varchar_ids(empty_url: str, raw: Engine) -> None:
    with MySQLStorage(url=empty_url) as storage:
        storage.init()
    with raw.connect() as conn:
        tables = dict(
            conn.execute(
                text(
                    "SELECT table_name, table_collation FROM information_schema.tables "
                    "WHERE table_schema = DATABASE()"
                )
            ).all()
        )
        columns = {
            (table, column): (kind, collation)
            for table, column, kind, collation in conn.execute(
                text(
                    "SELECT table_name, column_name, column_type, collation_name "
                    "FROM information_schema.columns WHERE table_schema = DATABASE()"
                )
            )
        }
        engines = set(
            conn.execute(
                text("SELECT engine FROM information_schema.tables WHERE table_schema = DATABASE()")
            ).scalars()
        )
    assert engines == {"InnoDB"}
    for table in metadata.tables:  # binary, and NO PAD: 'a' and 'a ' differ
        assert tables[table] == "utf8mb4_nopad_bin", table
    assert columns["mastra_threads", "id"] == (f"varchar({MAX_ID_LENGTH})", "utf8mb4_nopad_bin")
    assert columns["mastra_messages", "content"] == ("longtext", "utf8mb4_nopad_bin")
    assert columns["mastra_messages", "createdAt"] == ("datetime(3)", None)
    assert columns["mastra_workflow_snapshot", "snapshot"][0] == "longtext"  # MariaDB's JSON


def test_ids_compare_exactly_and_any_unicode_round_trips(empty_url: str) -> None:
    with MySQLStorage(url=empty_url) as storage:
        storage.init()
        ids = ["a", "A", "a ", "é", "e\u0301", "😀", "x" * MAX_ID_LENGTH, "😀" * MAX_ID_LENGTH]
        for thread_id in ids:
            storage.create_thread(resource_id="r", thread_id=thread_id, title=f"{thread_id} 😀")
        for thread_id in ids:
            thread = storage.get_thread_by_id(thread_id=thread_id)
            assert thread is not None and thread.title == f"{thread_id} 😀"
        assert storage.get_thread_by_id(thread_id="É") is None
        assert storage.get_thread_by_id(thread_id="a  ") is None


def _die_half_way_through_0005(url: str) -> None:
    """Migrate, and SIGKILL this process after 0005's second index: the
    server has committed its table and first indexes (MySQL DDL commits by
    itself), the version row still says 0004."""
    import mastra_storage.migrate as migrate_module

    made: list[str] = []
    create = migrate_module.create_index_if_missing

    def create_then_die(name: str, table: str, columns: Any) -> None:
        create(name, table, columns)
        if table == "mastra_scorers":
            made.append(name)
            if len(made) == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    migrate_module.create_index_if_missing = create_then_die  # type: ignore[assignment]
    storage = MySQLStorage(url=url)
    storage.init()


@pytest.mark.slow
def test_a_migration_killed_half_way_through_a_step_is_finished_by_the_next(
    empty_url: str, raw: Engine
) -> None:
    child = multiprocessing.get_context("fork").Process(
        target=_die_half_way_through_0005, args=(empty_url,)
    )
    child.start()
    child.join(timeout=120)
    assert child.exitcode == -signal.SIGKILL
    assert migrate.current(raw) == "0004_workflow_run_locks"
    scorer_indexes = {index["name"] for index in inspect(raw).get_indexes("mastra_scorers")}
    assert len(scorer_indexes) == 2  # the step's table and two of its indexes are there

    # The dead process's named lock went with its connection: the next init
    # neither waits nor fails on what the step left; it finishes the step.
    with MySQLStorage(url=empty_url, lock_timeout_ms=5000) as storage:
        storage.init()
        storage.save_score(
            score={
                "id": "s1",
                "scorer_id": "exact",
                "run_id": "run-1",
                "entity_id": "calc",
                "entity_type": "AGENT",
                "entity": {"id": "calc"},
                "output": {"text": "4"},
                "score": 1.0,
                "scorer": {"id": "exact"},
                "source": "LIVE",
            }
        )
        assert storage.get_score_by_id(id="s1") is not None
    assert migrate.current(raw) == migrate.head()
    models = {index.name for index in metadata.tables["mastra_scorers"].indexes}
    assert {index["name"] for index in inspect(raw).get_indexes("mastra_scorers")} == models


def test_a_migrator_waits_for_the_named_lock_within_its_bound(empty_url: str, raw: Engine) -> None:
    with raw.connect() as holder:
        database = make_url(empty_url).database
        assert holder.execute(text(f"SELECT GET_LOCK({MYSQL_MIGRATION_LOCK}, 0)")).scalar() == 1
        assert database is not None
        storage = MySQLStorage(url=empty_url, lock_timeout_ms=300)
        with pytest.raises(StorageTimeoutError, match="migrating"):
            storage.init()
        assert migrate.current(raw) is None  # it waited; it did not migrate beside the holder
        holder.execute(text(f"DO RELEASE_LOCK({MYSQL_MIGRATION_LOCK})"))
        storage.init()
        storage.close()
    assert migrate.current(raw) == migrate.head()
    with raw.connect() as conn:  # init gave its named lock back
        free = conn.execute(text(f"SELECT IS_FREE_LOCK({MYSQL_MIGRATION_LOCK})")).scalar()
    assert free == 1


def test_the_environment_url_gives_the_mysql_class(
    empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASTRA_STORAGE_URL", empty_url)
    with storage_from_env() as storage:
        assert isinstance(storage, MySQLStorage)
        storage.init()
        assert migrate.current(storage.engine) == migrate.head()


def test_init_refuses_a_server_it_cannot_run_on(empty_url: str, raw: Engine) -> None:
    """MariaDB older than 10.7 (no JSON_EQUALS) is refused by init() before
    anything is created, saying what is needed (the server's reported
    version, as the dialect read it on connect, stands in for an old one)."""
    storage = MySQLStorage(url=empty_url)
    with storage.engine.connect():
        pass  # the dialect reads the server's version on the first connect
    storage.engine.dialect.server_version_info = (10, 6, 21)
    with pytest.raises(StorageError, match=r"MariaDB 10\.6\.21 is too old.*10\.7"):
        storage.init()
    storage.close()
    assert migrate.current(raw) is None
    assert inspect(raw).get_table_names() == []


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_init_on_a_fresh_database_raises_no_server_warnings(
    empty_url: str, asynchronous: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """MariaDB ignores a primary key's name (every one is PRIMARY) and says
    so in a note per table; asyncmy logs each note as a warning, so a first
    `init()` printed eight lines of "Name '..._pkey' ignored for PRIMARY key"
    on the user's stderr. The DDL no longer names primary keys on MySQL."""
    caplog.set_level(logging.WARNING)
    if asynchronous:

        async def run() -> None:
            storage = AsyncMySQLStorage(url=empty_url)
            try:
                await storage.init()
            finally:
                await storage.close()

        asyncio.run(run())
    else:
        storage = MySQLStorage(url=empty_url)
        try:
            storage.init()
        finally:
            storage.close()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    engine = create_engine(empty_url)
    try:
        primary = inspect(engine).get_pk_constraint("mastra_threads")
    finally:
        engine.dispose()
    assert primary["constrained_columns"] == ["id"]
