"""What only the async classes have to show: the generated methods match the
sync facade, real concurrency on one event loop, AsyncSession transactions and
`async with` run locks. (The behaviour suite itself runs against the async
classes through conftest's `BlockingStorage`.)"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from conftest import PostgresSchemas
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mastra_storage import (
    AsyncDefaultStorage,
    AsyncMastraStorage,
    AsyncMemory,
    AsyncPostgresStorage,
    FencingTokenError,
    LockNotAcquiredError,
    MastraStorage,
    Memory,
    NotFoundError,
)
from mastra_storage.engines import create_async_engine_for_url
from mastra_storage.orm import MessageRow, ThreadRow

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def test_the_generated_async_methods_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/generate_async.py", "--check"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_sync_method_has_an_async_twin_with_the_same_parameters() -> None:
    public = {
        name: member
        for name, member in inspect.getmembers(MastraStorage, inspect.isfunction)
        if not name.startswith("_")
    }
    for name, sync_method in public.items():
        twin = getattr(AsyncMastraStorage, name, None)
        assert twin is not None, f"AsyncMastraStorage lacks {name}"
        assert list(inspect.signature(twin).parameters) == list(
            inspect.signature(sync_method).parameters
        ), name
        if name in ("iter_messages", "iter_messages_by_resource_id"):
            assert inspect.isasyncgenfunction(getattr(twin, "__wrapped__", twin)) or (
                "AsyncIterator" in str(inspect.signature(twin).return_annotation)
            ), name
        elif name not in ("close", "session_scope", "workflow_run_lock"):
            assert inspect.iscoroutinefunction(twin), name


def test_every_memory_method_has_an_async_twin_with_the_same_parameters() -> None:
    for name, sync_method in inspect.getmembers(Memory, inspect.isfunction):
        if name.startswith("_"):
            continue
        twin = getattr(AsyncMemory, name)
        assert list(inspect.signature(twin).parameters) == list(
            inspect.signature(sync_method).parameters
        ), name
        sync_only = ("working_memory_tool", "working_memory_instructions")  # no I/O
        assert inspect.iscoroutinefunction(twin) is (name not in sync_only), name


def run(coroutine_factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await coroutine_factory()

    return asyncio.run(main())


@pytest.fixture(params=["sqlite-file", "postgresql"])
def make_async(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., AsyncMastraStorage]:
    if request.param == "sqlite-file":
        url = f"file:{tmp_path / 'async.db'}"
        return lambda **kw: AsyncDefaultStorage(url=url, **kw)
    schemas: PostgresSchemas = request.getfixturevalue("pg_schemas")
    schema = schemas.new("async")
    return lambda **kw: AsyncPostgresStorage(url=schemas.url, schema=schema, **kw)


def test_50_concurrent_tasks_saving_to_separate_threads(
    make_async: Callable[..., AsyncMastraStorage],
) -> None:
    async def scenario() -> tuple[int, list[int]]:
        async with make_async() as storage:
            await storage.init()

            async def chat(n: int) -> None:
                thread = await storage.create_thread(resource_id=f"user-{n}", thread_id=f"t{n}")
                for turn in range(4):
                    await storage.save_messages(
                        messages=[
                            {"thread_id": thread.id, "role": "user", "content": f"{n}/{turn}"}
                        ]
                    )

            await asyncio.gather(*(chat(n) for n in range(50)))
            totals = [
                (await storage.list_messages(thread_id=f"t{n}", per_page=0)).total or 0
                for n in range(50)
            ]
            return len((await storage.list_threads(per_page=None)).threads), totals

    threads, totals = run(scenario)
    assert threads == 50
    assert totals == [4] * 50


async def session_counts(engine: AsyncEngine) -> tuple[int, int]:
    async with AsyncSession(engine) as session:
        threads = await session.scalar(select(func.count()).select_from(ThreadRow))
        messages = await session.scalar(select(func.count()).select_from(MessageRow))
        return threads or 0, messages or 0


def test_async_session_commit_rollback_and_savepoint(
    make_async: Callable[..., AsyncMastraStorage],
) -> None:
    async def scenario() -> list[tuple[int, int]]:
        storage = make_async()
        await storage.init()
        engine = storage.engine
        seen = []
        async with AsyncSession(engine) as session, session.begin():
            await storage.create_thread(resource_id="r", thread_id="kept", session=session)
            await storage.save_messages(
                messages=[{"thread_id": "kept", "role": "user", "content": "hi"}], session=session
            )
        seen.append(await session_counts(engine))
        async with AsyncSession(engine) as session:
            await session.begin()
            await storage.create_thread(resource_id="r", thread_id="gone", session=session)
            await session.rollback()
        seen.append(await session_counts(engine))
        async with AsyncSession(engine) as session, session.begin():
            await storage.create_thread(resource_id="r", thread_id="outer", session=session)
            try:
                async with session.begin_nested():
                    await storage.create_thread(resource_id="r", thread_id="inner", session=session)
                    raise RuntimeError("undo the savepoint")
            except RuntimeError:
                pass
            with pytest.raises(NotFoundError):
                await storage.save_messages(
                    messages=[{"thread_id": "inner", "role": "user", "content": "x"}],
                    session=session,
                )
        seen.append(await session_counts(engine))
        await storage.close()
        return seen

    assert run(scenario) == [(1, 1), (1, 1), (2, 1)]


def test_async_run_locks_and_fencing(make_async: Callable[..., AsyncMastraStorage]) -> None:
    async def scenario() -> None:
        a, b = make_async(lock_backend="lease"), make_async(lock_backend="lease")
        await a.init()
        assert a.lock_backend == "lease" and a.lock_holder != b.lock_holder
        async with a.workflow_run_lock(workflow_name="w", run_id="r", ttl_ms=60_000) as held:
            assert not await b.try_acquire_workflow_run_lock(workflow_name="w", run_id="r")
            with pytest.raises(LockNotAcquiredError):
                async with b.workflow_run_lock(workflow_name="w", run_id="r"):
                    pass
            lock = await b.get_workflow_run_lock(workflow_name="w", run_id="r")
            assert lock is not None and lock.holder == a.lock_holder
            await a.persist_workflow_snapshot(
                workflow_name="w", run_id="r", snapshot={"v": 1}, fencing_token=held.fencing_token
            )
        assert await a.get_workflow_run_lock(workflow_name="w", run_id="r") is None
        assert await b.try_acquire_workflow_run_lock(workflow_name="w", run_id="r")
        with pytest.raises(FencingTokenError):
            await a.update_workflow_state(
                workflow_name="w", run_id="r", opts={"v": 2}, fencing_token=held.fencing_token
            )
        assert await b.load_workflow_snapshot(workflow_name="w", run_id="r") == {"v": 1}
        await b.release_workflow_run_lock(workflow_name="w", run_id="r")
        await a.close()
        await b.close()

    run(scenario)


def test_a_caller_engine_is_left_open(tmp_path: Path) -> None:
    async def scenario() -> int:
        engine = create_async_engine_for_url(f"file:{tmp_path / 'x.db'}")
        async with AsyncDefaultStorage(engine=engine) as storage:
            await storage.create_thread(resource_id="r")
        async with AsyncSession(engine) as session:  # still usable after close()
            count = await session.scalar(select(func.count()).select_from(ThreadRow))
        await engine.dispose()
        return count or 0

    assert run(scenario) == 1
