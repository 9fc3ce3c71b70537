"""Schemas and construction (issue #10, items 9, 10 and 13): any schema name
PostgreSQL accepts works, quoted everywhere; `schema=` holds with a caller's
engine, sync and async, locks included; wrong construction is a clear error."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PostgresSchemas
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import create_async_engine

from mastra_storage import (
    AsyncDefaultStorage,
    AsyncPostgresStorage,
    DefaultStorage,
    PostgresStorage,
    StorageClosedError,
    ValidationError,
)
from mastra_storage.orm import TABLE_NAMES


def tables_in(engine: Engine, schema: str) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
            {"s": schema},
        )
        return {row[0] for row in rows}


def thread_ids_in(engine: Engine, schema: str) -> set[str]:
    quoted = engine.dialect.identifier_preparer.quote_identifier(schema)
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(text(f"SELECT id FROM {quoted}.mastra_threads"))}


@pytest.fixture
def raw_engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(postgres_url)
    yield engine
    engine.dispose()


def new_name(schemas: PostgresSchemas, pattern: str) -> str:
    name = pattern.format(uuid.uuid4().hex[:8])
    schemas.made.append(name)
    return name


class Sync:
    """Runs the same calls on a sync or an async storage."""

    def __init__(self, storage: Any, loop: asyncio.AbstractEventLoop | None) -> None:
        self.storage, self.loop = storage, loop

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.storage, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            return self.loop.run_until_complete(result) if self.loop else result

        return call


@pytest.fixture(params=["sync", "async"])
def make_pg(request: pytest.FixtureRequest, postgres_url: str) -> Iterator[Callable[..., Sync]]:
    made: list[Sync] = []
    loop = asyncio.new_event_loop() if request.param == "async" else None
    disposers: list[Callable[[], Any]] = []

    def make(*, schema: str, shared_engine: bool = False) -> Sync:
        if loop is None:
            engine: Any = create_engine(postgres_url) if shared_engine else None
            storage: Any = (
                PostgresStorage(engine=engine, schema=schema)
                if engine is not None
                else PostgresStorage(url=postgres_url, schema=schema)
            )
            if engine is not None:
                disposers.append(engine.dispose)
        else:
            engine = create_async_engine(postgres_url) if shared_engine else None
            storage = (
                AsyncPostgresStorage(engine=engine, schema=schema)
                if engine is not None
                else AsyncPostgresStorage(url=postgres_url, schema=schema)
            )
            if engine is not None:
                disposers.append(lambda: loop.run_until_complete(engine.dispose()))
        wrapped = Sync(storage, loop)
        made.append(wrapped)
        return wrapped

    yield make
    for storage in made:
        storage.close()
    for dispose in disposers:
        dispose()
    if loop is not None:
        loop.close()


def exercise(storage: Sync, thread_id: str) -> None:
    storage.init()
    storage.create_thread(resource_id="r", thread_id=thread_id, metadata={"k": 1})
    storage.save_messages(messages=[{"thread_id": thread_id, "role": "user", "content": "hi"}])
    assert [t.id for t in storage.list_threads(metadata={"k": 1}).threads] == [thread_id]
    storage.persist_workflow_snapshot(workflow_name="w", run_id=thread_id, snapshot={})
    assert storage.try_acquire_workflow_run_lock(workflow_name="w", run_id=thread_id)
    lock = storage.get_workflow_run_lock(workflow_name="w", run_id=thread_id)
    assert lock is not None and lock.holder == storage.storage.lock_holder
    storage.persist_workflow_snapshot(
        workflow_name="w", run_id=thread_id, snapshot={"v": 1}, fencing_token=lock.fencing_token
    )
    storage.release_workflow_run_lock(workflow_name="w", run_id=thread_id)


@pytest.mark.parametrize("pattern", ["Tenant{}A", "my-tenant-{}", "with space {}", 'q"uote{}'])
def test_any_schema_name_postgres_accepts_works(
    make_pg: Callable[..., Sync], pg_schemas: PostgresSchemas, raw_engine: Engine, pattern: str
) -> None:
    name = new_name(pg_schemas, pattern)
    twin = name.lower()
    if twin != name:  # another tenant's lower-case schema must not receive our tables
        pg_schemas.made.append(twin)
        with raw_engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{twin}"'))
    exercise(make_pg(schema=name), "t1")
    assert tables_in(raw_engine, name) >= TABLE_NAMES
    assert thread_ids_in(raw_engine, name) == {"t1"}
    if twin != name:
        assert tables_in(raw_engine, twin) == set()


def test_schema_holds_with_a_callers_engine(
    make_pg: Callable[..., Sync], pg_schemas: PostgresSchemas, raw_engine: Engine
) -> None:
    a, b = new_name(pg_schemas, "tenant_a_{}"), new_name(pg_schemas, "Tenant-B-{}")
    tenant_a = make_pg(schema=a, shared_engine=True)
    tenant_b = make_pg(schema=b, shared_engine=True)
    exercise(tenant_a, "ta")
    exercise(tenant_b, "tb")
    assert thread_ids_in(raw_engine, a) == {"ta"}
    assert thread_ids_in(raw_engine, b) == {"tb"}
    assert tenant_a.get_thread_by_id(thread_id="tb") is None
    assert tenant_b.get_thread_by_id(thread_id="ta") is None
    assert "mastra_threads" not in tables_in(raw_engine, "public") or "ta" not in {
        row[0] for row in raw_engine.connect().execute(text("SELECT id FROM public.mastra_threads"))
    }


def test_a_schema_name_postgres_refuses_is_a_validation_error(postgres_url: str) -> None:
    for bad in ("", "x" * 64, "nul\x00name", 3):
        with pytest.raises(ValidationError) as caught:
            PostgresStorage(url=postgres_url, schema=bad)  # type: ignore[arg-type]
        assert caught.value.field == "schema"


# -- construction -------------------------------------------------------------------------


def test_a_schema_with_sqlite_is_refused(tmp_path: Path) -> None:
    for make in (DefaultStorage, AsyncDefaultStorage):
        with pytest.raises(ValidationError) as caught:
            make(url=f"file:{tmp_path / 'x.db'}", schema="agents")
        assert caught.value.field == "schema"
    assert not (tmp_path / "x.db").exists()


def test_a_url_whose_driver_is_missing_is_a_validation_error() -> None:
    for make in (DefaultStorage, AsyncDefaultStorage):
        with pytest.raises(ValidationError, match="mssql") as caught:
            make(url="mssql+pyodbc://user@localhost/db")
        assert caught.value.field == "url"
    with pytest.raises(ValidationError) as caught:
        DefaultStorage(url="nosuchdb://x")
    assert caught.value.field == "url"


def test_a_file_url_with_query_parameters_is_refused_not_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`file:db?mode=memory&cache=shared` meant an in-memory database; cutting
    the query opened a file named `db` in the working directory instead."""
    monkeypatch.chdir(tmp_path)
    for make in (DefaultStorage, AsyncDefaultStorage):
        with pytest.raises(ValidationError, match="sqlite:///") as caught:
            make(url="file:memdb1?mode=memory&cache=shared")
        assert caught.value.field == "url"
    assert not list(tmp_path.iterdir())


def test_a_url_that_is_not_text_is_a_validation_error() -> None:
    for make in (DefaultStorage, AsyncDefaultStorage, PostgresStorage, AsyncPostgresStorage):
        for url in (5, b"file::memory:", ["sqlite://"]):
            with pytest.raises(ValidationError) as caught:
                make(url=url)
            assert caught.value.field == "url", (make, url)


def test_an_engine_of_the_wrong_kind_is_a_validation_error(
    tmp_path: Path, postgres_url: str
) -> None:
    sync_engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    async_engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    pg_engine = create_engine(postgres_url)
    try:
        for make, engine in (
            (AsyncDefaultStorage, sync_engine),
            (AsyncPostgresStorage, pg_engine),
            (DefaultStorage, async_engine),
            (PostgresStorage, async_engine),
            (DefaultStorage, "sqlite://"),
        ):
            with pytest.raises(ValidationError, match="engine") as caught:
                make(engine=engine)
            assert caught.value.field == "engine"
    finally:
        sync_engine.dispose()
        pg_engine.dispose()
        asyncio.run(async_engine.dispose())


def test_a_closed_storage_says_so(tmp_path: Path) -> None:
    for url in ("file::memory:", f"file:{tmp_path / 'c.db'}"):
        storage = DefaultStorage(url=url)
        storage.create_thread(resource_id="r", thread_id="t")
        storage.close()
        storage.close()  # idempotent
        with pytest.raises(StorageClosedError, match="closed"):
            storage.get_thread_by_id(thread_id="t")
        with pytest.raises(StorageClosedError):
            storage.try_acquire_workflow_run_lock(workflow_name="w", run_id="r")
        with pytest.raises(StorageClosedError):
            storage.init()

        async def scenario(url: str = url) -> None:
            storage = AsyncDefaultStorage(url=url)
            await storage.create_thread(resource_id="r", thread_id="t2")
            await storage.close()
            with pytest.raises(StorageClosedError, match="closed"):
                await storage.get_thread_by_id(thread_id="t2")
            with pytest.raises(StorageClosedError):
                await storage.try_acquire_workflow_run_lock(workflow_name="w", run_id="r")

        asyncio.run(scenario())
