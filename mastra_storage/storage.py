"""The storage facade: `MastraStorage`, `DefaultStorage` (SQLite), `PostgresStorage`.

A facade owns its engine (unless given one), its sessions and transactions.
Each data method either runs in its own transaction (all of it lands or none)
or, given `session=`, inside the caller's transaction without committing.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import Session, sessionmaker

from . import migrate, operations
from .dialects import BEGIN_OPTION, configure_sqlite, features
from .domain import (
    EvalPage,
    EvalRow,
    MastraDBMessage,
    MessagePage,
    StorageResource,
    StorageThread,
    ThreadPage,
    WorkflowRun,
    WorkflowRuns,
)
from .engines import DEFAULT_URL, check_identifier, create_engine_for_url, is_memory_sqlite
from .errors import ValidationError, translate_errors

T = TypeVar("T")


class MastraStorage(ABC):
    """Mastra's storage interface: the data methods and the logic they share.

    Subclasses decide how the engine is made (`_create_engine`) and may prepare
    the database before migrating (`_prepare_database`).
    """

    def __init__(
        self,
        *,
        name: str = "mastra-storage",
        url: str | URL | None = None,
        engine: Engine | None = None,
        **engine_options: Any,
    ) -> None:
        self.name = name
        if engine is not None:
            if url is not None:
                raise ValidationError("give url or engine, not both", field="engine")
            self._owns_engine = False
            self.engine = engine
        else:
            self._owns_engine = True
            self.engine = self._create_engine(url, **engine_options)
        self.features = features(self.engine)  # refuses unsupported databases early
        if self.engine.dialect.name == "sqlite":
            configure_sqlite(self.engine, wal=not is_memory_sqlite(self.engine.url))
        self._reader = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._writer = sessionmaker(
            bind=self.engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"}),
            expire_on_commit=False,
        )
        self._initialized = False
        self._init_lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------

    @abstractmethod
    def _create_engine(self, url: str | URL | None, **options: Any) -> Engine:
        """The engine this storage creates (and disposes in `close`)."""

    def _prepare_database(self) -> None:  # noqa: B027 (optional hook)
        """Anything the database needs before its first migration."""

    def init(self) -> None:
        """Bring the schema to head. Idempotent; safe when several processes
        call it at once (they take turns); also done on first use."""
        with self._init_lock:
            self._prepare_database()
            migrate.upgrade(self.engine)
            self._initialized = True

    def close(self) -> None:
        """Dispose the engine this storage created (a caller's engine is left alone)."""
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.engine.url!r})"

    # -- transactions -------------------------------------------------------------

    @contextmanager
    def session_scope(self, *, write: bool = True) -> Iterator[Session]:
        """A session in a new transaction, committed on success, rolled back on error."""
        if not self._initialized:
            self.init()
        maker = self._writer if write else self._reader
        with translate_errors(), maker.begin() as session:
            yield session

    def _run(
        self,
        operation: Callable[..., T],
        session: Session | None,
        *,
        write: bool,
        **kwargs: Any,
    ) -> T:
        if session is not None:
            with translate_errors():
                return operation(session, **kwargs)
        with self.session_scope(write=write) as own:
            return operation(own, **kwargs)

    # -- threads ------------------------------------------------------------------

    def create_thread(
        self,
        *,
        resource_id: str,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        thread_id: str | None = None,
        session: Session | None = None,
    ) -> StorageThread:
        thread: dict[str, Any] = {
            "resource_id": resource_id,
            "title": title or "",
            "metadata": metadata,
        }
        if thread_id is not None:
            thread["id"] = thread_id
        return self.save_thread(thread=thread, session=session)

    def save_thread(
        self, *, thread: StorageThread | Mapping[str, Any], session: Session | None = None
    ) -> StorageThread:
        return self._run(operations.save_thread, session, write=True, thread=thread)

    def get_thread_by_id(
        self, *, thread_id: str, resource_id: str | None = None, session: Session | None = None
    ) -> StorageThread | None:
        return self._run(
            operations.get_thread_by_id,
            session,
            write=False,
            thread_id=thread_id,
            resource_id=resource_id,
        )

    def update_thread(
        self,
        *,
        id: str,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> StorageThread:
        return self._run(
            operations.update_thread, session, write=True, id=id, title=title, metadata=metadata
        )

    def delete_thread(self, *, thread_id: str, session: Session | None = None) -> None:
        self._run(operations.delete_thread, session, write=True, thread_id=thread_id)

    def list_threads(
        self,
        *,
        resource_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        page: int = 0,
        per_page: int | None = 100,
        order_by: str = "createdAt",
        direction: str = "DESC",
        session: Session | None = None,
    ) -> ThreadPage:
        return self._run(
            operations.list_threads,
            session,
            write=False,
            resource_id=resource_id,
            metadata=metadata,
            page=page,
            per_page=per_page,
            order_by=order_by,
            direction=direction,
        )

    def list_threads_by_resource_id(
        self,
        *,
        resource_id: str,
        metadata: Mapping[str, Any] | None = None,
        page: int = 0,
        per_page: int | None = 100,
        order_by: str = "createdAt",
        direction: str = "DESC",
        session: Session | None = None,
    ) -> ThreadPage:
        operations.require_text(resource_id, "resource_id")
        return self.list_threads(
            resource_id=resource_id,
            metadata=metadata,
            page=page,
            per_page=per_page,
            order_by=order_by,
            direction=direction,
            session=session,
        )

    # -- messages -----------------------------------------------------------------

    def save_messages(
        self,
        *,
        messages: Sequence[MastraDBMessage | Mapping[str, Any]],
        session: Session | None = None,
    ) -> list[MastraDBMessage]:
        return self._run(operations.save_messages, session, write=True, messages=messages)

    def list_messages(
        self,
        *,
        thread_id: str | Sequence[str],
        resource_id: str | None = None,
        include: Sequence[Mapping[str, Any]] | None = None,
        page: int = 0,
        per_page: int | None = 40,
        date_range: Mapping[str, Any] | None = None,
        direction: str = "ASC",
        count_total: bool = True,
        session: Session | None = None,
    ) -> MessagePage:
        """A page of a thread's (or threads') messages, plus `include` windows.
        `count_total=False` skips the COUNT (total is None): a last-N read then
        costs the same on a thread of any size."""
        return self._run(
            operations.list_messages,
            session,
            write=False,
            thread_id=thread_id,
            resource_id=resource_id,
            include=include,
            page=page,
            per_page=per_page,
            date_range=date_range,
            direction=direction,
            count_total=count_total,
        )

    def list_messages_by_resource_id(
        self,
        *,
        resource_id: str,
        include: Sequence[Mapping[str, Any]] | None = None,
        page: int = 0,
        per_page: int | None = 40,
        date_range: Mapping[str, Any] | None = None,
        direction: str = "ASC",
        count_total: bool = True,
        session: Session | None = None,
    ) -> MessagePage:
        return self._run(
            operations.list_messages_by_resource_id,
            session,
            write=False,
            resource_id=resource_id,
            include=include,
            page=page,
            per_page=per_page,
            date_range=date_range,
            direction=direction,
            count_total=count_total,
        )

    def list_messages_by_id(
        self, *, message_ids: Sequence[str], session: Session | None = None
    ) -> list[MastraDBMessage]:
        return self._run(
            operations.list_messages_by_id, session, write=False, message_ids=message_ids
        )

    def update_messages(
        self, *, messages: Sequence[Mapping[str, Any]], session: Session | None = None
    ) -> list[MastraDBMessage]:
        return self._run(operations.update_messages, session, write=True, messages=messages)

    def delete_messages(
        self, *, message_ids: Sequence[str], session: Session | None = None
    ) -> None:
        self._run(operations.delete_messages, session, write=True, message_ids=message_ids)

    # -- resources ----------------------------------------------------------------

    def get_resource_by_id(
        self, *, resource_id: str, session: Session | None = None
    ) -> StorageResource | None:
        return self._run(
            operations.get_resource_by_id, session, write=False, resource_id=resource_id
        )

    def save_resource(
        self, *, resource: StorageResource | Mapping[str, Any], session: Session | None = None
    ) -> StorageResource:
        return self._run(operations.save_resource, session, write=True, resource=resource)

    def update_resource(
        self,
        *,
        resource_id: str,
        working_memory: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> StorageResource:
        return self._run(
            operations.update_resource,
            session,
            write=True,
            resource_id=resource_id,
            working_memory=working_memory,
            metadata=metadata,
        )

    # -- workflow snapshots -------------------------------------------------------

    def persist_workflow_snapshot(
        self,
        *,
        workflow_name: str,
        run_id: str,
        snapshot: Mapping[str, Any],
        resource_id: str | None = None,
        session: Session | None = None,
    ) -> None:
        self._run(
            operations.persist_workflow_snapshot,
            session,
            write=True,
            workflow_name=workflow_name,
            run_id=run_id,
            snapshot=snapshot,
            resource_id=resource_id,
        )

    def load_workflow_snapshot(
        self, *, workflow_name: str, run_id: str, session: Session | None = None
    ) -> dict[str, Any] | None:
        return self._run(
            operations.load_workflow_snapshot,
            session,
            write=False,
            workflow_name=workflow_name,
            run_id=run_id,
        )

    def list_workflow_runs(
        self,
        *,
        workflow_name: str | None = None,
        resource_id: str | None = None,
        status: str | None = None,
        from_date: datetime | None = None,
        to_date: datetime | None = None,
        page: int | None = None,
        per_page: int | None = None,
        session: Session | None = None,
    ) -> WorkflowRuns:
        return self._run(
            operations.list_workflow_runs,
            session,
            write=False,
            workflow_name=workflow_name,
            resource_id=resource_id,
            status=status,
            from_date=from_date,
            to_date=to_date,
            page=page,
            per_page=per_page,
        )

    def get_workflow_run_by_id(
        self, *, run_id: str, workflow_name: str | None = None, session: Session | None = None
    ) -> WorkflowRun | None:
        return self._run(
            operations.get_workflow_run_by_id,
            session,
            write=False,
            run_id=run_id,
            workflow_name=workflow_name,
        )

    def delete_workflow_run_by_id(
        self, *, run_id: str, workflow_name: str, session: Session | None = None
    ) -> None:
        self._run(
            operations.delete_workflow_run_by_id,
            session,
            write=True,
            run_id=run_id,
            workflow_name=workflow_name,
        )

    def update_workflow_results(
        self,
        *,
        workflow_name: str,
        run_id: str,
        step_id: str,
        result: Any,
        request_context: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> dict[str, Any]:
        return self._run(
            operations.update_workflow_results,
            session,
            write=True,
            workflow_name=workflow_name,
            run_id=run_id,
            step_id=step_id,
            result=result,
            request_context=request_context,
        )

    def update_workflow_state(
        self,
        *,
        workflow_name: str,
        run_id: str,
        opts: Mapping[str, Any],
        session: Session | None = None,
    ) -> dict[str, Any] | None:
        return self._run(
            operations.update_workflow_state,
            session,
            write=True,
            workflow_name=workflow_name,
            run_id=run_id,
            opts=opts,
        )

    # -- evals --------------------------------------------------------------------

    def save_eval(
        self, *, eval: EvalRow | Mapping[str, Any], session: Session | None = None
    ) -> EvalRow:
        return self.save_evals(evals=[eval], session=session)[0]

    def save_evals(
        self, *, evals: Sequence[EvalRow | Mapping[str, Any]], session: Session | None = None
    ) -> list[EvalRow]:
        return self._run(operations.save_evals, session, write=True, evals=evals)

    def get_evals(
        self,
        *,
        agent_name: str | None = None,
        type: str | None = None,
        page: int = 0,
        per_page: int | None = 100,
        date_range: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> EvalPage:
        return self._run(
            operations.get_evals,
            session,
            write=False,
            agent_name=agent_name,
            type=type,
            page=page,
            per_page=per_page,
            date_range=date_range,
        )

    def get_evals_by_agent_name(
        self, *, agent_name: str, type: str | None = None, session: Session | None = None
    ) -> list[EvalRow]:
        operations.require_text(agent_name, "agent_name")
        return self.get_evals(
            agent_name=agent_name, type=type, per_page=None, session=session
        ).evals


class DefaultStorage(MastraStorage):
    """SQLite by default (`file:mastra.db`); accepts any supported SQLAlchemy URL
    or Mastra-style `file:PATH` / `file::memory:`, or an existing Engine."""

    def _create_engine(self, url: str | URL | None, **options: Any) -> Engine:
        return create_engine_for_url(DEFAULT_URL if url is None else url, **options)


class PostgresStorage(MastraStorage):
    """PostgreSQL through psycopg 3. `schema=` keeps the tables in that schema
    (created by `init()` when missing)."""

    def __init__(
        self,
        *,
        name: str = "mastra-storage",
        url: str | URL | None = None,
        schema: str | None = None,
        engine: Engine | None = None,
        **engine_options: Any,
    ) -> None:
        self.schema = None if schema is None else check_identifier(schema, field="schema")
        if url is None and engine is None:
            raise ValidationError("PostgresStorage needs a url or an engine", field="url")
        super().__init__(name=name, url=url, engine=engine, **engine_options)
        if self.engine.dialect.name != "postgresql":
            raise ValidationError(
                f"PostgresStorage needs a PostgreSQL URL, got {self.engine.dialect.name!r}",
                field="url",
            )

    def _create_engine(self, url: str | URL | None, **options: Any) -> Engine:
        assert url is not None
        return create_engine_for_url(url, schema=self.schema, **options)

    def _prepare_database(self) -> None:
        if self.schema is None:
            return
        with translate_errors(), migrate.migration_connection(self.engine) as conn:
            quoted = conn.dialect.identifier_preparer.quote_identifier(self.schema)
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
