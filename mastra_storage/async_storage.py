"""The async facade: `AsyncMastraStorage`, `AsyncDefaultStorage`, `AsyncPostgresStorage`.

Same methods and semantics as the sync classes, as coroutines, over an
`AsyncEngine` (aiosqlite; psycopg's async mode). The data methods are
generated from the sync facade (`_async_methods.py`); each awaits `_run`,
which executes the very same `operations` function inside
`AsyncSession.run_sync`. Only the lifecycle below is written for async.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.engine import URL, Connection, Engine

from . import operations
from ._async_methods import AsyncDataMethods
from ._asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from .dialects import BEGIN_OPTION, features
from .domain import RunLock
from .engines import (
    create_async_engine_for_url,
    create_engine_for_url,
    prepare_engine,
    url_from_env,
)
from .errors import ValidationError, translate_errors
from .locks import (
    DEFAULT_TTL_MS,
    LOCK_BACKENDS,
    MEMORY,
    HeldRunLock,
    RunLockService,
    choose_lock_backend,
    new_holder_id,
)
from .storage import PostgresOptions, migrate_on

T = TypeVar("T")


class AsyncMastraStorage(AsyncDataMethods, ABC):
    """Mastra's storage interface as coroutines. Pass `session=` (an
    `AsyncSession`) to run a call inside your transaction."""

    def __init__(
        self,
        *,
        name: str = "mastra-storage",
        url: str | URL | None = None,
        engine: AsyncEngine | None = None,
        lock_backend: str | None = None,
        lock_engine: Engine | None = None,
        **engine_options: Any,
    ) -> None:
        self.name = name
        if engine is not None and url is not None:
            raise ValidationError("give url or engine, not both", field="engine")
        self._owns_engine = engine is None
        self.engine = engine if engine is not None else self._create_engine(url, **engine_options)
        self.features = features(self.engine.sync_engine)
        prepare_engine(self.engine.sync_engine)
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_engine = self.engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        self._writer = async_sessionmaker(self._write_engine, expire_on_commit=False)
        self._initialized = False
        self._init_lock = asyncio.Lock()
        self._run_locks, self._lock_engine = self._create_lock_service(lock_backend, lock_engine)

    @abstractmethod
    def _create_engine(self, url: str | URL | None, **options: Any) -> AsyncEngine:
        """The engine this storage creates (and disposes in `close`)."""

    def _prepare_database(self, conn: Connection) -> None:
        """Anything the database needs before its first migration."""

    async def init(self) -> None:
        """Bring the schema to head; idempotent; safe from several processes."""
        async with self._init_lock:
            with translate_errors():
                async with self.engine.connect() as conn:
                    conn = await conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
                    await conn.run_sync(migrate_on, self._prepare_database)
            self._initialized = True

    async def close(self) -> None:
        """Release the run locks this storage holds, then dispose what it created."""
        await asyncio.to_thread(self._run_locks.close)
        if self._lock_engine is not None:
            self._lock_engine.dispose()
        if self._owns_engine:
            await self.engine.dispose()

    async def __aenter__(self: T) -> T:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.engine.url!r})"

    @asynccontextmanager
    async def session_scope(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """An AsyncSession in a new transaction, committed on success."""
        if not self._initialized:
            await self.init()
        maker = self._writer if write else self._reader
        with translate_errors():
            async with maker.begin() as session:
                yield session

    async def _run(
        self,
        operation: Callable[..., T],
        session: AsyncSession | None,
        *,
        write: bool,
        **kwargs: Any,
    ) -> T:
        if session is not None:
            with translate_errors():
                return await session.run_sync(_call, operation, kwargs)
        if not self._initialized:
            await self.init()
        engine = self._write_engine if write else self.engine
        with translate_errors():
            async with engine.begin() as conn:
                return await conn.run_sync(_call, operation, kwargs)

    # -- workflow run locks -------------------------------------------------------
    # The lock service is the sync one (its heartbeat is a thread, its advisory
    # locks hold dedicated connections); calls run in a worker thread so the
    # event loop never blocks. Lease and advisory locks use a sync engine on the
    # same database (`lock_engine=`, by default made from this engine's URL).

    def _create_lock_service(
        self, requested: str | None, lock_engine: Engine | None
    ) -> tuple[RunLockService, Engine | None]:
        backend = choose_lock_backend(self.engine.sync_engine, requested)
        owned: Engine | None = None
        if backend == MEMORY:
            engine = self.engine.sync_engine  # never queried: the table is in this process
        elif lock_engine is not None:
            engine = lock_engine
        else:
            engine = owned = create_engine_for_url(
                sync_url(self.engine.url), schema=getattr(self, "schema", None)
            )
        service = LOCK_BACKENDS[backend](
            engine=engine, holder=new_holder_id(self.name), prepare=lambda: None
        )
        return service, owned

    @property
    def lock_backend(self) -> str:
        """Which run lock backend this storage uses: "advisory", "lease" or "memory"."""
        return self._run_locks.backend

    @property
    def lock_holder(self) -> str:
        """This instance's holder id, as `RunLock.holder` shows it."""
        return self._run_locks.holder

    async def supports_concurrent_updates(self) -> bool:
        """True: the workflow result and state updates are atomic across
        processes (Mastra: `supportsConcurrentUpdates`). A coroutine, as every
        method of the async classes."""
        return operations.supports_concurrent_updates()

    async def _in_lock_thread(self, function: Callable[..., T], *args: Any) -> T:
        if not self._initialized:
            await self.init()
        return await asyncio.to_thread(function, *args)

    async def try_acquire_workflow_run_lock(
        self, *, workflow_name: str, run_id: str, ttl_ms: int = DEFAULT_TTL_MS
    ) -> bool:
        """As `MastraStorage.try_acquire_workflow_run_lock`."""
        return await self._in_lock_thread(
            self._run_locks.try_acquire, workflow_name, run_id, ttl_ms
        )

    async def renew_workflow_run_lock(
        self, *, workflow_name: str, run_id: str, ttl_ms: int = DEFAULT_TTL_MS
    ) -> bool:
        """As `MastraStorage.renew_workflow_run_lock`."""
        return await self._in_lock_thread(self._run_locks.renew, workflow_name, run_id, ttl_ms)

    async def get_workflow_run_lock(self, *, workflow_name: str, run_id: str) -> RunLock | None:
        """As `MastraStorage.get_workflow_run_lock`."""
        return await self._in_lock_thread(self._run_locks.get, workflow_name, run_id)

    async def list_workflow_run_locks(
        self, *, workflow_name: str | None = None, limit: int = 100
    ) -> list[RunLock]:
        """As `MastraStorage.list_workflow_run_locks`."""
        return await self._in_lock_thread(self._run_locks.list_held, workflow_name, limit)

    async def release_workflow_run_lock(self, *, workflow_name: str, run_id: str) -> None:
        """As `MastraStorage.release_workflow_run_lock`."""
        await self._in_lock_thread(self._run_locks.release, workflow_name, run_id)

    @asynccontextmanager
    async def workflow_run_lock(
        self,
        *,
        workflow_name: str,
        run_id: str,
        ttl_ms: int = DEFAULT_TTL_MS,
        heartbeat: bool = True,
    ) -> AsyncIterator[HeldRunLock]:
        """`async with`: as `MastraStorage.workflow_run_lock`."""
        handle, beat = await self._in_lock_thread(
            self._run_locks.open_hold, workflow_name, run_id, ttl_ms, heartbeat
        )
        try:
            yield handle
        finally:
            await asyncio.to_thread(self._run_locks.close_hold, handle, beat)


def sync_url(url: URL) -> URL:
    """The same database through a sync driver (for the lock service)."""
    if url.get_backend_name() == "sqlite":
        return url.set(drivername="sqlite")
    return url.set(drivername="postgresql+psycopg")


def _call(session: Any, operation: Callable[..., T], kwargs: dict[str, Any]) -> T:
    return operation(session, **kwargs)


class AsyncDefaultStorage(AsyncMastraStorage):
    """SQLite (aiosqlite) by default (`file:mastra.db`), or any supported URL."""

    def _create_engine(self, url: str | URL | None, **options: Any) -> AsyncEngine:
        return create_async_engine_for_url(url_from_env() if url is None else url, **options)


class AsyncPostgresStorage(PostgresOptions, AsyncMastraStorage):
    """PostgreSQL through psycopg 3's async mode; `schema=` as `PostgresStorage`."""

    def __init__(
        self,
        *,
        name: str = "mastra-storage",
        url: str | URL | None = None,
        schema: str | None = None,
        engine: AsyncEngine | None = None,
        lock_backend: str | None = None,
        lock_engine: Engine | None = None,
        **engine_options: Any,
    ) -> None:
        self._take_schema(schema, url, engine)
        super().__init__(
            name=name,
            url=url,
            engine=engine,
            lock_backend=lock_backend,
            lock_engine=lock_engine,
            **engine_options,
        )
        self._require_postgres(self.engine.dialect.name)

    def _create_engine(self, url: str | URL | None, **options: Any) -> AsyncEngine:
        assert url is not None
        return create_async_engine_for_url(url, schema=self.schema, **options)
