"""Embedding: a host application with its own model, engine, session and
Alembic history shares a database (and transactions) with the library."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import SYNC_BACKENDS, Backend, PostgresSchemas
from host_app import db
from host_app.models import Customer, target_metadata
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session

import mastra_storage.orm
from mastra_storage import DefaultStorage, MastraStorage, migrate
from mastra_storage.engines import create_engine_for_url
from mastra_storage.orm.models import ThreadRow, WorkflowSnapshotRow

HOST_TABLES = {"customers", "alembic_version"}


@pytest.fixture(params=["sqlite-file", "postgresql"])
def host_engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Engine]:
    if request.param == "sqlite-file":
        engine = create_engine_for_url(f"sqlite:///{tmp_path / 'host.db'}")
    else:
        schemas: PostgresSchemas = request.getfixturevalue("pg_schemas")
        schema = schemas.new("host")
        engine = create_engine_for_url(schemas.url, schema=schema)
        with engine.begin() as conn:
            migrate.ensure_schema(conn, schema)
    yield engine
    engine.dispose()


def host_diff(engine: Engine, mode: str) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": mastra_storage.orm.include_object}
        )
        return list(compare_metadata(context, target_metadata(mode)))


def host_versions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}


def test_separate_histories_on_the_host_connection(host_engine: Engine) -> None:
    db.upgrade(host_engine, mode="separate")
    db.upgrade(host_engine, mode="separate")  # idempotent
    tables = set(inspect(host_engine).get_table_names())
    assert tables >= HOST_TABLES | mastra_storage.orm.LIBRARY_TABLES
    assert "customer_threads" not in tables
    assert host_versions(host_engine) == {"h001_customers"}
    assert migrate.current(host_engine) == migrate.head()
    assert host_diff(host_engine, "separate") == []


def test_our_versions_as_a_branch_of_the_host_history(host_engine: Engine) -> None:
    db.upgrade(host_engine, mode="branch")
    db.upgrade(host_engine, mode="branch")
    tables = set(inspect(host_engine).get_table_names())
    assert {"customers", "customer_threads"} | mastra_storage.orm.TABLE_NAMES <= tables
    assert mastra_storage.orm.VERSION_TABLE not in tables  # one version table: the host's
    assert host_versions(host_engine) == {"h002_customer_threads", migrate.head()}
    assert host_diff(host_engine, "branch") == []


def test_without_include_object_the_host_would_see_our_tables(host_engine: Engine) -> None:
    db.upgrade(host_engine, mode="separate")
    with host_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), [Customer.metadata])
    removed = {d[1].name for d in diff if d[0] == "remove_table"}
    assert removed >= mastra_storage.orm.LIBRARY_TABLES


@pytest.fixture
def shared(host_engine: Engine) -> tuple[Engine, MastraStorage]:
    db.upgrade(host_engine, mode="separate")
    storage = DefaultStorage(engine=host_engine)
    storage.init()
    return host_engine, storage


def counts(engine: Engine) -> tuple[int, int, int]:
    with Session(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Customer)) or 0,
            session.scalar(select(func.count()).select_from(mastra_storage.orm.ThreadRow)) or 0,
            session.scalar(select(func.count()).select_from(mastra_storage.orm.MessageRow)) or 0,
        )


def write_both(storage: MastraStorage, session: Session, n: int) -> None:
    session.add(Customer(name=f"customer {n}"))
    thread = storage.create_thread(resource_id=f"c{n}", thread_id=f"t{n}", session=session)
    storage.save_messages(
        messages=[{"thread_id": thread.id, "role": "user", "content": "hi"}], session=session
    )


def test_host_rows_and_ours_commit_together(shared: tuple[Engine, MastraStorage]) -> None:
    engine, storage = shared
    with Session(engine) as session, session.begin():
        write_both(storage, session, 1)
        # Visible inside the transaction, through the same session.
        assert storage.get_thread_by_id(thread_id="t1", session=session) is not None
    assert counts(engine) == (1, 1, 1)


def test_one_rollback_undoes_host_rows_and_ours(shared: tuple[Engine, MastraStorage]) -> None:
    engine, storage = shared
    with Session(engine) as session:
        session.begin()
        write_both(storage, session, 1)
        session.rollback()
    assert counts(engine) == (0, 0, 0)


def test_a_savepoint_rollback_removes_only_ours(shared: tuple[Engine, MastraStorage]) -> None:
    engine, storage = shared
    with Session(engine) as session, session.begin():
        session.add(Customer(name="kept"))
        session.flush()
        with pytest.raises(RuntimeError), session.begin_nested():
            storage.create_thread(resource_id="c", thread_id="gone", session=session)
            raise RuntimeError("undo the savepoint")
        assert storage.get_thread_by_id(thread_id="gone", session=session) is None
    assert counts(engine) == (1, 0, 0)


def test_an_error_in_our_call_leaves_the_host_transaction_usable(
    shared: tuple[Engine, MastraStorage],
) -> None:
    engine, storage = shared
    with Session(engine) as session, session.begin():
        session.add(Customer(name="kept"))
        with pytest.raises(Exception, match="not found"):
            storage.save_messages(
                messages=[{"thread_id": "missing", "role": "user", "content": "x"}],
                session=session,
            )
        storage.create_thread(resource_id="c", thread_id="t", session=session)
    assert counts(engine) == (1, 1, 0)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["separate", "branch"])
def test_the_example_runs_as_its_readme_says(mode: str, tmp_path: Any) -> None:
    """`cd examples/host_app && python -m host_app`, with no PYTHONPATH."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "examples" / "host_app"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    url = f"sqlite:///{tmp_path / 'host.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "host_app", "--mode", mode, "--url", url],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "committed in one transaction" in done.stdout
    assert (folder / "README.md").is_file()


# -- one history (issue #10 item 11) ---------------------------------------------------


def exercise_every_kind_of_call(storage: MastraStorage) -> None:
    storage.create_thread(resource_id="c1", thread_id="t1", metadata={"k": 1})
    storage.save_messages(messages=[{"thread_id": "t1", "role": "user", "content": "hi"}])
    assert storage.list_messages(thread_id="t1").total == 1
    assert [t.id for t in storage.list_threads(metadata={"k": 1}).threads] == ["t1"]
    storage.update_resource(resource_id="c1", working_memory="wm")
    storage.persist_workflow_snapshot(workflow_name="w", run_id="r", snapshot={"status": "ok"})
    assert storage.list_workflow_runs(status="ok").total == 1
    with storage.workflow_run_lock(workflow_name="w", run_id="r") as lock:
        storage.persist_workflow_snapshot(
            workflow_name="w", run_id="r", snapshot={}, fencing_token=lock.fencing_token
        )
    assert storage.try_acquire_workflow_run_lock(workflow_name="w", run_id="r2")
    assert storage.get_workflow_run_lock(workflow_name="w", run_id="r2") is not None
    storage.release_workflow_run_lock(workflow_name="w", run_id="r2")


def test_every_call_works_on_a_database_migrated_as_one_history(host_engine: Engine) -> None:
    db.upgrade(host_engine, mode="branch")
    assert migrate.current(host_engine) == migrate.head()
    migrate.check(host_engine)  # at head, read from the host's version table
    storage = DefaultStorage(engine=host_engine)
    storage.init()  # nothing to do
    exercise_every_kind_of_call(storage)
    storage.close()
    fresh = DefaultStorage(engine=host_engine)  # first use initialises
    assert fresh.get_thread_by_id(thread_id="t1") is not None
    fresh.close()
    assert mastra_storage.orm.VERSION_TABLE not in set(inspect(host_engine).get_table_names())
    assert host_versions(host_engine) == {"h002_customer_threads", migrate.head()}


def test_async_calls_work_on_a_database_migrated_as_one_history(
    host_engine: Engine, request: pytest.FixtureRequest
) -> None:
    import asyncio

    from mastra_storage import AsyncDefaultStorage, AsyncPostgresStorage

    db.upgrade(host_engine, mode="branch")
    url = host_engine.url.render_as_string(hide_password=False)

    async def scenario() -> None:
        if host_engine.dialect.name == "sqlite":
            storage: Any = AsyncDefaultStorage(url=url)
        else:
            schema = mastra_storage.engines.schema_of(host_engine)
            storage = AsyncPostgresStorage(url=url, schema=schema)
        await storage.create_thread(resource_id="c", thread_id="t")
        assert await storage.try_acquire_workflow_run_lock(workflow_name="w", run_id="r")
        await storage.release_workflow_run_lock(workflow_name="w", run_id="r")
        await storage.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("backend", SYNC_BACKENDS, indirect=True)
def test_a_host_session_adds_our_rows_on_every_backend(backend: Backend) -> None:
    """Rows of our models added through a session (`session_scope`, as a
    host's own session would) are inserted and read back by the storage:
    the ORM does not ask RETURNING for the PostgreSQL-only `"<col>Z"`
    twins' server defaults (MySQL refused the unknown column; SQLite
    returned its name as a string, which failed to parse as a datetime)."""
    storage: Any = backend.make()
    storage.init()
    now = datetime.now(UTC).replace(microsecond=0)
    with storage.session_scope() as session:
        session.add(
            ThreadRow(
                id="orm-t", resource_id="r", title="x", metadata_={}, created_at=now, updated_at=now
            )
        )
        session.add(
            WorkflowSnapshotRow(
                workflow_name="wf",
                run_id="orm-r",
                snapshot={"a": 1},
                created_at=now,
                updated_at=now,
            )
        )
    thread = storage.get_thread_by_id(thread_id="orm-t")
    assert thread is not None and (thread.title, thread.created_at) == ("x", now)
    assert storage.load_workflow_snapshot(workflow_name="wf", run_id="orm-r") == {"a": 1}
