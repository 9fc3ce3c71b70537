"""The storage facade: `MastraStorage`, `DefaultStorage` (SQLite), `PostgresStorage`,
`MySQLStorage`.

A facade owns its engine (unless given one), its sessions and transactions.
Each data method either runs in its own transaction (all of it lands or none)
or, given `session=`, inside the caller's transaction without committing.
"""

from __future__ import annotations

import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from . import direct, migrate, operations
from .deadlines import is_deadline
from .dialects import (
    BEGIN_OPTION,
    NO_BEGIN,
    NOT_SENT,
    check_server,
    connection_of,
    features,
    unbounded_statements,
)
from .domain import (
    Direction,
    EvalPage,
    EvalRow,
    MastraDBMessage,
    MastraDBMessageInput,
    MessagePage,
    PruneReport,
    RunLock,
    ScorePage,
    ScoreRow,
    StorageResource,
    StorageThread,
    ThreadClone,
    ThreadOrderBy,
    ThreadPage,
    WorkflowRun,
    WorkflowRuns,
)
from .engines import (
    ConnectionSettings,
    check_identifier,
    create_engine_for_url,
    own_engine,
    pool_full,
    pool_hooks,
    prepare_engine,
    schema_on,
    snapshot_engine,
    storage_settings,
    url_from_env,
    with_caller_schema,
    with_storage_isolation,
)
from .errors import (
    ConnectionLostError,
    StorageClosedError,
    StorageTimeoutError,
    ValidationError,
    is_deadlock,
    translate_errors,
)
from .kept_connection import KeptConnection, may_keep
from .locks import (
    ADVISORY,
    DEFAULT_TTL_MS,
    LOCK_BACKENDS,
    HeldRunLock,
    choose_lock_backend,
    new_holder_id,
)

T = TypeVar("T")


class MastraStorage(ABC):
    """Mastra's storage interface (`MastraStorage` of `@mastra/core/storage`):
    the data methods and the logic they share.

    Every data method takes keyword arguments only, and an optional
    `session=` (a SQLAlchemy `Session`): given one, the call runs inside the
    caller's transaction (it may flush, it never commits); without one, each
    call is its own transaction, all of it or nothing. Bad input raises
    `ValidationError` naming the field, with nothing written; database
    failures raise `StorageError` subclasses with the cause chained.

    Args:
        name: a label for this instance (Mastra's `name`); part of its run-lock
            holder id.
        url: a SQLAlchemy URL, or Mastra's `file:PATH` / `file::memory:`.
        engine: an existing `Engine` to use instead of `url` (not both); it
            is left open by `close()`.
        lock_backend: `"advisory"`, `"lease"` or `"memory"` to override the
            run-lock backend chosen for the database (see `lock_backend`).
        lock_engine: an `Engine` on the same database for the advisory run
            locks' connections (default: one the storage creates on the same
            URL, disposed by `close()`; never the data path's pool).
        connect_timeout_s: seconds to wait for a new connection (default 10).
        lock_timeout_ms: milliseconds to wait for a row, table, advisory or
            SQLite write lock (default 10 000; PostgreSQL `lock_timeout`,
            SQLite's busy timeout).
        pool_timeout_s: seconds to wait for a free pooled connection
            (default 5).
        prepared_statements: False (or `?prepared_statements=false` in the
            URL) for a transaction-pooling proxy such as PgBouncer.
        statement_timeout_s: PostgreSQL: seconds one statement may run
            (the server's `statement_timeout`; default 30); a frozen server
            that does not answer at all is given up on after this plus a
            grace (10%, at least 1 s), closing that connection. Either way
            `StorageTimeoutError`. `init()`'s migrations are exempt.
        **engine_options: passed to `sqlalchemy.create_engine` (`pool_size=`,
            `pool_pre_ping=`, ...) when the storage makes its engine.

    Raises:
        ValidationError: both `url` and `engine`, a malformed URL, an unknown
            lock backend.
        MissingDependencyError: the database's driver is not installed (the
            message names the extra).

    Subclasses decide how the engine is made (`_create_engine`) and may prepare
    the database before migrating (`_prepare_database`).

    Every wait is bounded (`StorageTimeoutError` when a bound passes), on the
    engines the storage creates: `connect_timeout_s` (10) to open a
    connection, `lock_timeout_ms` (10 000) for a row, table or SQLite write
    lock, `pool_timeout_s` (5) for a free pooled connection.
    `prepared_statements=False` (or `?prepared_statements=false` in the URL)
    for a transaction-pooling proxy such as PgBouncer. Run locks of the
    advisory backend hold connections of their own engine (`lock_engine=`,
    by default one the storage creates on the same URL), never the data
    path's. Engines the storage creates are safe across `os.fork()`.
    A read whose connection turns out dropped (a server restart) is retried
    once; a write raises `ConnectionLostError` saying whether anything was
    written.
    """

    def __init__(
        self,
        *,
        name: str = "mastra-storage",
        url: str | URL | None = None,
        engine: Engine | None = None,
        lock_backend: str | None = None,
        lock_engine: Engine | None = None,
        connect_timeout_s: float = 10.0,
        lock_timeout_ms: int = 10_000,
        pool_timeout_s: float = 5.0,
        prepared_statements: bool = True,
        statement_timeout_s: float = 30.0,
        **engine_options: Any,
    ) -> None:
        self.name = name
        self._closed = False
        schema = getattr(self, "schema", None) or engine_options.get("schema")
        self._schema: str | None = schema
        url, self.settings = storage_settings(
            url,
            connect_timeout_s=connect_timeout_s,
            lock_timeout_ms=lock_timeout_ms,
            pool_timeout_s=pool_timeout_s,
            prepared_statements=prepared_statements,
            statement_timeout_s=statement_timeout_s,
        )
        if engine is not None:
            if url is not None:
                raise ValidationError("give url or engine, not both", field="engine")
            if not isinstance(engine, Engine):
                raise ValidationError(
                    f"engine must be a SQLAlchemy Engine, got {type(engine).__name__} "
                    "(an AsyncEngine goes to AsyncDefaultStorage / AsyncPostgresStorage)",
                    field="engine",
                )
            self._owns_engine = False
            self.engine = with_storage_isolation(
                with_caller_schema(engine, engine_options.pop("schema", schema))
            )
        else:
            self._owns_engine = True
            self.engine = own_engine(
                self._create_engine(url, settings=self.settings, **engine_options)
            )
        self.features = features(self.engine)  # refuses unsupported databases early
        prepare_engine(self.engine)
        self._reader = sessionmaker(bind=self.engine, expire_on_commit=False)
        # A single-statement read is a transaction by itself: no BEGIN / COMMIT.
        self._statement_engine = self.engine.execution_options(**{BEGIN_OPTION: NO_BEGIN})
        self._write_engine = self.engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        self._snapshot_engine = snapshot_engine(self.engine)
        self._direct = direct.allowed(self._statement_engine)
        # SQLite: direct statements share one pooled connection between calls
        # (`kept_connection`), while no caller's pool hook expects a checkout.
        self._kept = (
            KeptConnection(self.engine)
            if self._owns_engine and self._direct and may_keep(self.engine)
            else None
        )
        self._own_pool_hooks = pool_hooks(self.engine.pool)
        self._writer = sessionmaker(bind=self._write_engine, expire_on_commit=False)
        self._initialized = False
        self._init_lock = threading.Lock()
        backend = choose_lock_backend(self.engine, lock_backend)
        self._lock_engine: Engine | None = None
        if lock_engine is None and backend == ADVISORY and self._owns_engine:
            # Held advisory locks keep connections checked out: never the data pool's.
            lock_engine = self._lock_engine = own_engine(
                create_engine_for_url(
                    self.engine.url,
                    schema=self._schema,
                    settings=self.settings,
                    **LOCK_POOL,
                )
            )
        self._run_locks = LOCK_BACKENDS[backend](
            engine=self.engine
            if lock_engine is None
            else with_caller_schema(lock_engine, self._schema),
            holder=new_holder_id(name),
            prepare=self._prepare_run_locks,
        )

    # -- lifecycle ----------------------------------------------------------------

    @abstractmethod
    def _create_engine(
        self, url: str | URL | None, *, settings: ConnectionSettings, **options: Any
    ) -> Engine:
        """The engine this storage creates (and disposes in `close`)."""

    def _prepare_database(self, conn: Connection) -> None:  # noqa: B027 (optional hook)
        """Anything the database needs before its first migration (runs on the
        migration connection, holding the migration lock)."""

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosedError(
                f"{type(self).__name__} {self.name!r} is closed: create a new storage to go on"
            )

    def init(self) -> None:
        """Bring the schema to head (Mastra: `init`). Idempotent (at head it
        does not start Alembic); safe when several processes call it at once
        (they take turns); also done by the first call without `session=`.
        Raises `StorageError` when a migration step fails (nothing of it kept).
        Raises `SchemaTooNewError` when a newer release has migrated the database."""
        self._check_open()
        with self._init_lock, translate_errors(), self.engine.connect() as conn:
            migrate_on(conn, self._prepare_database)
            self._initialized = True

    def close(self) -> None:
        """Release the run locks this storage holds, then dispose the engine it
        created (a caller's engine is left alone). Also on leaving `with storage:`.
        Our extension (Mastra's storages have no `close`). Idempotent; any later
        call raises `StorageClosedError`."""
        if self._closed:
            return
        self._closed = True
        if self._kept is not None:
            self._kept.close()
        self._run_locks.close()
        if self._lock_engine is not None:
            self._lock_engine.dispose()
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self: T) -> T:
        """`with DefaultStorage(...) as storage:` gives the storage itself
        (our extension; Mastra's storages have no context manager)."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Leaving the `with` block calls `close()` (also on an error, which
        then propagates)."""
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.engine.url!r})"

    # -- transactions -------------------------------------------------------------

    @contextmanager
    def session_scope(self, *, write: bool = True) -> Iterator[Session]:
        """A `Session` in a new transaction, committed on success, rolled back on
        error (our extension): `with storage.session_scope() as session: ...`.
        `write=True` takes SQLite's write lock at BEGIN, so the transaction
        cannot fail later for a lock upgrade."""
        self._check_open()
        if not self._initialized:
            self.init()
        if self._kept is not None and pool_full(self.engine.pool):
            self._kept.give_back_if_idle()  # this transaction may need it
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
        """`operation` in the caller's session, or in a transaction of its own on
        a plain Connection (no ORM unit of work: nothing here needs one)."""
        self._check_open()
        if session is not None:
            with translate_errors():
                if self._schema is None:
                    return operation(session, **kwargs)
                with schema_on(connection_of(session), self._schema):
                    return operation(session, **kwargs)
        if not self._initialized:
            self.init()
        run: Callable[..., T] = transaction
        engine: Engine
        if write:
            engine = self._write_engine
            if (
                self._direct
                and operations.is_single_statement(operation, kwargs, self.features)
                and direct.unobserved(engine)
            ):
                run = direct_write
        elif operations.is_single_statement(operation, kwargs, self.features):
            engine = self._statement_engine
            if self._direct and direct.unobserved(engine):
                run = direct_transaction
        else:
            engine = self._snapshot_engine
        kept = self._kept
        if kept is not None:
            if run is transaction:
                if pool_full(engine.pool):
                    kept.give_back_if_idle()  # this transaction may need it
                kept = None
            elif pool_hooks(engine.pool) != self._own_pool_hooks:
                kept = None  # a caller's pool hook expects a checkout per call
        with translate_errors():
            for attempt in range(DEADLOCK_RETRIES + 1):
                try:
                    if kept is not None:
                        return run(engine, operation, kwargs, None, kept)
                    return run(engine, operation, kwargs)
                except DBAPIError as error:
                    delay = deadlock_retry_delay(error, attempt)
                    if delay is None:
                        raise_unless_retryable(error, write=write)
                        # A read whose connection the server had dropped: once more.
                        return transaction(engine, operation, kwargs)
                time.sleep(delay)
            raise AssertionError("unreachable: the last attempt returns or raises")

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
        """A new thread of `resource_id` (Mastra: `saveThread` of a new thread).

        `title` defaults to `""`, `metadata` to None, `thread_id` to a new UUID.
        An id that already exists raises `ConflictError` and changes nothing
        (use `save_thread` to replace a thread). Bad input: `ValidationError`."""
        return self._run(operations.create_thread, session, write=True, **arguments(locals()))

    def save_thread(
        self, *, thread: StorageThread | Mapping[str, Any], session: Session | None = None
    ) -> StorageThread:
        """Insert or replace a thread (Mastra: `saveThread`).

        `thread`: a `StorageThread` or a mapping with `resource_id` (required),
        `id` (default: a new UUID), `title` (default `""`), `metadata` (a JSON
        object or None), `created_at`/`updated_at` (aware datetimes; default now).
        Saving an existing id replaces its title and metadata. Returns the stored
        thread. Raises `ValidationError` naming the field (nothing written)."""
        return self._run(operations.save_thread, session, write=True, **arguments(locals()))

    def get_thread_by_id(
        self, *, thread_id: str, resource_id: str | None = None, session: Session | None = None
    ) -> StorageThread | None:
        """The thread with this id, or None (Mastra: `getThreadById`).

        With `resource_id`, a thread of another resource is None too (an ownership
        check). Raises `ValidationError` for an empty `thread_id`."""
        return self._run(operations.get_thread_by_id, session, write=False, **arguments(locals()))

    def update_thread(
        self,
        *,
        id: str,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> StorageThread:
        """Change a thread's title and merge into its metadata (Mastra: `updateThread`).

        `id`: the thread. `title`: the new title (None keeps it). `metadata`: keys
        merged into the stored metadata (shallow; None keeps it). `updated_at`
        becomes now. Returns the updated thread. Raises `NotFoundError` for an
        unknown thread, `ValidationError` for bad input (nothing written)."""
        return self._run(operations.update_thread, session, write=True, **arguments(locals()))

    def clone_thread(
        self,
        *,
        source_thread_id: str,
        new_thread_id: str | None = None,
        resource_id: str | None = None,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        message_limit: int | None = None,
        message_filter: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> ThreadClone:
        """Copy a thread and its messages to a new thread, in one transaction
        (Mastra: `cloneThread`).

        `source_thread_id`: the thread to copy. The copy gets
        `new_thread_id` (default a new UUID), `resource_id` (default the
        source's; the copied messages get it too), `title`
        (default `"Clone of <source title>"`, or `""`), and `metadata` (default
        none) plus `metadata["clone"] = {sourceThreadId, clonedAt (ISO text),
        lastMessageId}` (the last copied message, when any). Messages get new
        ids and keep order, `created_at`, role, type and content; only the last
        `message_limit` (a positive int) are copied, or those matching
        `message_filter={start_date, end_date, message_ids}` (aware datetimes,
        inclusive; camelCase keys accepted). Returns `ThreadClone(thread,
        cloned_messages (oldest first), message_id_map (source id -> new id))`.
        Unknown source: `NotFoundError`; `new_thread_id` taken: `ConflictError`
        (nothing written); bad input: `ValidationError`."""
        return self._run(operations.clone_thread, session, write=True, **arguments(locals()))

    def update_thread_resource_id(
        self, *, thread_id: str, resource_id: str, session: Session | None = None
    ) -> StorageThread:
        """Move thread `thread_id` and all its messages to `resource_id` atomically, e.g.
        an anonymous user who logs in (Mastra: `updateThreadResourceId`).
        `created_at` stays; `updated_at` becomes now (unchanged when the thread
        already belongs to `resource_id`). No ownership check: the caller
        authorizes. Unknown thread: `NotFoundError`; bad input: `ValidationError`."""
        return self._run(
            operations.update_thread_resource_id, session, write=True, **arguments(locals())
        )

    def update_thread_metadata(
        self,
        *,
        id: str,
        update: Callable[[dict[str, Any]], Mapping[str, Any] | None],
        resource_id: str | None = None,
        session: Session | None = None,
    ) -> StorageThread:
        """Read-modify-write of the metadata of thread `id`, serialized (Mastra:
        `updateThreadMetadata`): `update` gets a copy of the stored metadata
        (`{}` when none) and returns the new metadata, which replaces it
        (`updated_at` becomes now), or None to leave the thread as it is. The
        thread's row stays locked from the read to the write, so concurrent
        callers, in any process, take turns and never lose each other's
        changes; keep `update` short (it runs inside the transaction, and what
        it raises rolls the call back). Unknown thread, or one of another
        `resource_id` when given: `NotFoundError`; `update` not callable or
        returning something else than a mapping: `ValidationError`."""
        return self._run(
            operations.update_thread_metadata, session, write=True, **arguments(locals())
        )

    def delete_thread(self, *, thread_id: str, session: Session | None = None) -> None:
        """Delete the thread `thread_id` and all its messages, in one
        transaction (Mastra: `deleteThread`).

        An unknown id does nothing. Raises `ValidationError` for an empty id."""
        self._run(operations.delete_thread, session, write=True, **arguments(locals()))

    def list_threads(
        self,
        *,
        resource_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        page: int = 0,
        per_page: int | None = 100,
        order_by: ThreadOrderBy = "createdAt",
        direction: Direction = "DESC",
        session: Session | None = None,
    ) -> ThreadPage:
        """A page of threads (Mastra 1.x: `listThreads`).

        Args:
            resource_id: only this resource's threads (None: every resource).
            metadata: only threads whose metadata contains every key/value given
                (JSON equality), e.g. `{"channel": "web"}`.
            page: the page number, from 0.
            per_page: threads per page (default 100); None returns them all.
            order_by: `"createdAt"` or `"updatedAt"`.
            direction: `"ASC"` or `"DESC"` (default: newest first).
            session: run inside the caller's transaction (never committed here).

        Returns:
            `ThreadPage`: `threads`, `total`, `page`, `per_page`, `has_more`.

        Raises:
            ValidationError: a bad `page`, `per_page`, `order_by` or `direction`."""
        return self._run(operations.list_threads, session, write=False, **arguments(locals()))

    def list_threads_by_resource_id(
        self,
        *,
        resource_id: str,
        metadata: Mapping[str, Any] | None = None,
        page: int = 0,
        per_page: int | None = 100,
        order_by: ThreadOrderBy = "createdAt",
        direction: Direction = "DESC",
        session: Session | None = None,
    ) -> ThreadPage:
        """A page of one resource's threads (Mastra: `listThreadsByResourceId`).

        As `list_threads` with `resource_id` required: `metadata` filter,
        `page` from 0, `per_page` (default 100; None: all), `order_by`
        (`"createdAt"` default, or `"updatedAt"`), `direction` (`"DESC"`
        default). Raises `ValidationError` for an empty `resource_id` and as
        `list_threads`."""
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
        messages: Sequence[MastraDBMessageInput | Mapping[str, Any]],
        session: Session | None = None,
    ) -> list[MastraDBMessage]:
        """Insert or update messages, all or nothing (Mastra: `saveMessages`).

        `messages`: `MastraDBMessageInput`s (a `MastraDBMessage` read back
        is one too) or mappings (snake_case or camelCase keys) with
        `thread_id` (an existing thread), `role` (`"user"`, `"assistant"`,
        `"system"`, `"tool"`, ...),
        `content` (a string, a list of parts, or Mastra's v2 content object), and
        optionally `id` (default: a new UUID), `resource_id` (default: the
        thread's), `created_at` (an aware datetime; default: now, in input order),
        `type` (default `"v2"`). An existing id is updated; its `created_at` never
        changes. The threads' `updated_at` becomes now.

        Returns the stored messages (`MastraDBMessage`: `created_at` and
        `resource_id` filled in), in input order. Raises `ValidationError`
        naming the field, or `NotFoundError` for a thread that does not exist; in
        both cases nothing is saved."""
        return self._run(operations.save_messages, session, write=True, **arguments(locals()))

    def list_messages(
        self,
        *,
        thread_id: str | Sequence[str],
        resource_id: str | None = None,
        include: Sequence[Mapping[str, Any]] | None = None,
        page: int = 0,
        per_page: int | None = 40,
        date_range: Mapping[str, Any] | None = None,
        direction: Direction = "ASC",
        count_total: bool | None = None,
        include_total: bool | None = None,
        metadata: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> MessagePage:
        """A page of messages of one or several threads, plus context windows
        (Mastra: `listMessages`).

        Args:
            thread_id: a thread id, or a list of them.
            resource_id: only messages of this resource; nothing of another
                resource is returned, windows included.
            include: context windows added on top of the page, each a mapping
                `{"id": message_id, "thread_id": optional, "with_previous_messages": n,
                "with_next_messages": m}` (counts default to 0; camelCase keys too).
                Windows stay in their message's thread, come without duplicates and
                are sorted in `direction`.
            page: the page number, from 0.
            per_page: messages per page (default 40); 0 returns only the `include`
                windows; None returns every message.
            date_range: `{"start": datetime, "end": datetime, "start_exclusive":
                False, "end_exclusive": False}` (aware datetimes; each part optional;
                bounds inclusive unless said otherwise), on `created_at`.
            direction: `"ASC"` (default: oldest first) or `"DESC"`.
            count_total: alias of `include_total`.
            include_total: False skips the COUNT (`total` is None; `has_more` stays
                exact): the per-turn "last N" read, whose cost does not grow with the
                thread. Default True.
            metadata: keeps messages whose `content.metadata` has each given
                top-level key with an equal JSON value (not applied to `include`
                windows).
            session: run inside the caller's transaction (never committed here).

        Returns:
            `MessagePage`: `messages`, `total`, `page`, `per_page`, `has_more`.
            Order is `created_at`, ties broken by `id`, stable across pages.
            Without `include` the read is one statement (the page with its
            COUNT), so the page, `total` and `has_more` are of one snapshot.

        Raises:
            ValidationError: bad ids, paging, `include`, `date_range`, `metadata`
                or `direction` (nothing read)."""
        return self._run(operations.list_messages, session, write=False, **arguments(locals()))

    def list_messages_by_resource_id(
        self,
        *,
        resource_id: str,
        include: Sequence[Mapping[str, Any]] | None = None,
        page: int = 0,
        per_page: int | None = 40,
        date_range: Mapping[str, Any] | None = None,
        direction: Direction = "ASC",
        count_total: bool | None = None,
        include_total: bool | None = None,
        metadata: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> MessagePage:
        """A page of messages across all of a resource's threads (Mastra:
        `listMessagesByResourceId`).

        `resource_id` (required) takes the place of `list_messages`'s
        `thread_id`; `include`, `page`, `per_page` (default 40; None: all),
        `date_range`, `direction` (`"ASC"` default), `count_total` /
        `include_total` and `metadata` are as in `list_messages`. Returns a
        `MessagePage`. Raises `ValidationError` as `list_messages` does."""
        return self._run(
            operations.list_messages_by_resource_id, session, write=False, **arguments(locals())
        )

    def list_messages_by_id(
        self, *, message_ids: Sequence[str], session: Session | None = None
    ) -> list[MastraDBMessage]:
        """The messages whose ids are in `message_ids`, in `created_at` order
        (Mastra: `listMessagesById`). Unknown ids are skipped. Raises `ValidationError` for
        a value that is not a list of non-empty ids."""
        return self._run(
            operations.list_messages_by_id, session, write=False, **arguments(locals())
        )

    def update_messages(
        self, *, messages: Sequence[Mapping[str, Any]], session: Session | None = None
    ) -> list[MastraDBMessage]:
        """Change stored messages (Mastra: `updateMessages`).

        `messages`: mappings with `id` and any of `role`, `content`, `thread_id`
        (move the message to that existing thread), `resource_id`, `type`. Given
        `content` keys replace the stored ones, except `content.metadata`, which
        is merged. Returns the updated messages; unknown ids are skipped. Raises
        `ValidationError`, or `NotFoundError` for a target thread that does not
        exist (nothing written)."""
        return self._run(operations.update_messages, session, write=True, **arguments(locals()))

    def delete_messages(
        self, *, message_ids: Sequence[str], session: Session | None = None
    ) -> None:
        """Delete the messages whose ids are in `message_ids` (Mastra:
        `deleteMessages`); unknown ids are skipped; their threads'
        `updated_at` becomes now. Raises `ValidationError` for a value that is
        not a list of non-empty ids."""
        self._run(operations.delete_messages, session, write=True, **arguments(locals()))

    def iter_messages(
        self,
        *,
        thread_id: str,
        resource_id: str | None = None,
        batch_size: int = 500,
        direction: Direction = "ASC",
    ) -> Iterator[MastraDBMessage]:
        """Every message of a thread, in bounded memory (no Mastra counterpart;
        use it instead of `list_messages(per_page=None)`, which builds the whole
        thread at once: about 3 KB per message, 600-700 MB for 200,000).

        Each batch is a keyset page (`(createdAt, id)` past the previous
        batch's last message; an index range scan, as cheap deep in the thread
        as at its start) read in its own transaction: a message saved during
        the walk shows up if it sorts after the current position, and none is
        returned twice. The database is read as the iterator is consumed.

        Args:
            thread_id: the thread.
            resource_id: only this resource's messages.
            batch_size: messages read per query, 1 to 10,000 (default 500);
                memory holds one batch.
            direction: `"ASC"` (default: oldest first) or `"DESC"`.

        Returns:
            An iterator of `MastraDBMessage`s in (created_at, id) order.

        Raises:
            ValidationError: bad arguments, raised on the call (before iterating).
        """
        operations.check_batch(thread_id, resource_id, batch_size, direction)
        return self._walk_messages(thread_id, resource_id, batch_size, direction)

    def iter_messages_by_resource_id(
        self, *, resource_id: str, batch_size: int = 500, direction: Direction = "ASC"
    ) -> Iterator[MastraDBMessage]:
        """As `iter_messages`, across all of a resource's threads: the
        counterpart of `list_messages_by_resource_id(per_page=None)` in bounded
        memory.

        Args:
            resource_id: the resource.
            batch_size: messages read per query, 1 to 10,000 (default 500).
            direction: `"ASC"` (default: oldest first) or `"DESC"`.

        Returns:
            An iterator of `MastraDBMessage`s in (created_at, id) order.

        Raises:
            ValidationError: bad arguments, raised on the call.
        """
        operations.check_batch(None, resource_id, batch_size, direction, by_resource=True)
        return self._walk_messages(None, resource_id, batch_size, direction)

    def _walk_messages(
        self, thread_id: str | None, resource_id: str | None, batch_size: int, direction: str
    ) -> Iterator[MastraDBMessage]:
        after: tuple[datetime, str] | None = None
        while True:
            batch = self._run(
                operations.message_batch,
                None,
                write=False,
                thread_id=thread_id,
                resource_id=resource_id,
                after=after,
                batch_size=batch_size,
                direction=direction,
            )
            yield from batch
            if len(batch) < batch_size:
                return
            last = batch[-1]
            after = (last.created_at, last.id)

    # -- resources ----------------------------------------------------------------

    def get_resource_by_id(
        self, *, resource_id: str, session: Session | None = None
    ) -> StorageResource | None:
        """The resource (working memory and metadata) whose id is
        `resource_id`, or None (Mastra: `getResourceById`). Raises
        `ValidationError` for an empty id."""
        return self._run(operations.get_resource_by_id, session, write=False, **arguments(locals()))

    def save_resource(
        self, *, resource: StorageResource | Mapping[str, Any], session: Session | None = None
    ) -> StorageResource:
        """Insert or replace a resource (Mastra: `saveResource`).

        `resource`: a `StorageResource` or a mapping with `id` (required),
        `working_memory` (text or None), `metadata` (a JSON object or None),
        `created_at`/`updated_at` (default now). Returns the stored resource.
        Raises `ValidationError` (nothing written)."""
        return self._run(operations.save_resource, session, write=True, **arguments(locals()))

    def update_resource(
        self,
        *,
        resource_id: str,
        working_memory: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> StorageResource:
        """Update the working memory of resource `resource_id` and merge its
        metadata, creating it when missing (Mastra: `updateResource`).

        `working_memory`: the new text (None keeps it). `metadata`: keys merged
        into the stored metadata (None keeps it). Returns the resource. Raises
        `ValidationError` (nothing written)."""
        return self._run(operations.update_resource, session, write=True, **arguments(locals()))

    # -- workflow snapshots -------------------------------------------------------

    def persist_workflow_snapshot(
        self,
        *,
        workflow_name: str,
        run_id: str,
        snapshot: Mapping[str, Any],
        resource_id: str | None = None,
        created_at: datetime | None = None,
        updated_at: datetime | None = None,
        fencing_token: int | None = None,
        session: Session | None = None,
    ) -> None:
        """Upsert the run's snapshot on (`workflow_name`, `run_id`) (Mastra:
        `persistWorkflowSnapshot`). `created_at` (aware datetime, default now)
        is used on insert and kept on update; `updated_at` (default now) is
        written. A None `resource_id` keeps the stored one. With `fencing_token`
        (from the run's lock), refused with `FencingTokenError` once a newer
        holder has taken the run. Bad input (naive datetime, snapshot not a
        mapping): `ValidationError`."""
        self._run(operations.persist_workflow_snapshot, session, write=True, **arguments(locals()))

    def load_workflow_snapshot(
        self, *, workflow_name: str, run_id: str, session: Session | None = None
    ) -> dict[str, Any] | None:
        """The snapshot (a JSON object) of run `run_id` of workflow
        `workflow_name`, or None (Mastra: `loadWorkflowSnapshot`). Raises
        `ValidationError` for an empty name or id."""
        return self._run(
            operations.load_workflow_snapshot, session, write=False, **arguments(locals())
        )

    def list_workflow_runs(
        self,
        *,
        workflow_name: str | None = None,
        resource_id: str | None = None,
        thread_id: str | None = None,
        status: str | None = None,
        from_date: datetime | None = None,
        to_date: datetime | None = None,
        page: int | None = None,
        per_page: int | None = None,
        session: Session | None = None,
    ) -> WorkflowRuns:
        """Runs newest first (Mastra: `listWorkflowRuns`). Filters: `workflow_name`,
        `resource_id`, `thread_id` (the thread id Mastra embeds in the snapshot:
        a suspended step's stream state, or the durable loop's input; indexed
        on PostgreSQL), `status` (`snapshot["status"]`; indexed with
        `workflow_name`), `from_date` / `to_date` (aware, inclusive, on
        `created_at`). Paged only when both `page` and `per_page` are given;
        `total` counts every match. Bad input: `ValidationError`."""
        return self._run(operations.list_workflow_runs, session, write=False, **arguments(locals()))

    def get_workflow_run_by_id(
        self, *, run_id: str, workflow_name: str | None = None, session: Session | None = None
    ) -> WorkflowRun | None:
        """The `WorkflowRun` whose id is `run_id` (of `workflow_name` when
        given), or None (Mastra: `getWorkflowRunById`). Raises
        `ValidationError` for an empty id."""
        return self._run(
            operations.get_workflow_run_by_id, session, write=False, **arguments(locals())
        )

    def delete_workflow_run_by_id(
        self, *, run_id: str, workflow_name: str, session: Session | None = None
    ) -> None:
        """Delete the snapshot of run `run_id` of workflow `workflow_name`
        (Mastra: `deleteWorkflowRunById`); an unknown run does nothing. Raises
        `ValidationError` for an empty name or id."""
        self._run(operations.delete_workflow_run_by_id, session, write=True, **arguments(locals()))

    def update_workflow_results(
        self,
        *,
        workflow_name: str,
        run_id: str,
        step_id: str,
        result: Any,
        request_context: Mapping[str, Any] | None = None,
        fencing_token: int | None = None,
        session: Session | None = None,
    ) -> dict[str, Any]:
        """Set `snapshot["context"][step_id] = result` in the snapshot of run
        `run_id` of workflow `workflow_name`, atomically (Mastra:
        `updateWorkflowResults`); parallel steps of one run never lose each
        other's results (the snapshot row is locked while it changes).

        `result`: any JSON value (a step result such as `{"status": "success",
        "output": ...}`). `request_context`: merged into the snapshot's
        `requestContext`. Returns the run's context after the change (`{}` for
        an unknown run, which stays unknown). `fencing_token` as in
        `persist_workflow_snapshot` (`FencingTokenError`). Raises
        `ValidationError` (nothing written)."""
        return self._run(
            operations.update_workflow_results, session, write=True, **arguments(locals())
        )

    def update_workflow_state(
        self,
        *,
        workflow_name: str,
        run_id: str,
        opts: Mapping[str, Any],
        fencing_token: int | None = None,
        session: Session | None = None,
    ) -> dict[str, Any] | None:
        """Shallow-merge `opts` (a JSON object, e.g. `{"status": "running"}`)
        into the snapshot of run `run_id` of workflow `workflow_name`
        atomically (Mastra: `updateWorkflowState`).
        Returns the new snapshot, or None for an unknown run. `fencing_token`
        as in `persist_workflow_snapshot` (`FencingTokenError`). Raises
        `ValidationError` (nothing written)."""
        return self._run(
            operations.update_workflow_state, session, write=True, **arguments(locals())
        )

    def supports_concurrent_updates(self) -> bool:
        """True: `update_workflow_results` and `update_workflow_state` are atomic
        read-modify-writes across processes (Mastra: `supportsConcurrentUpdates`)."""
        return operations.supports_concurrent_updates()

    # -- evals --------------------------------------------------------------------

    def save_eval(
        self, *, eval: EvalRow | Mapping[str, Any], session: Session | None = None
    ) -> EvalRow:
        """Save one eval result (Mastra 0.x: `mastra_evals`); as `save_evals`."""
        return self.save_evals(evals=[eval], session=session)[0]

    def save_evals(
        self, *, evals: Sequence[EvalRow | Mapping[str, Any]], session: Session | None = None
    ) -> list[EvalRow]:
        """Save eval results, all or nothing (Mastra 0.x: `mastra_evals`).

        `evals`, each: an `EvalRow` or a mapping with `input`, `output`, `result` (a JSON
        object, e.g. `{"score": 0.9}`), `agent_name`, `metric_name`, and optionally
        `instructions`, `test_info` (an object: a test eval), `global_run_id`,
        `run_id`, `created_at` (default now). Returns the stored rows. Raises
        `ValidationError` (nothing written)."""
        return self._run(operations.save_evals, session, write=True, **arguments(locals()))

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
        """A page of eval results, newest first (Mastra: `getEvals`).

        `agent_name`: only this agent's. `type`: `"live"` (no `test_info`) or
        `"test"`; None both. `page` from 0, `per_page` (default 100; None: all),
        `date_range` as in `list_messages`. Returns an `EvalPage`. Raises
        `ValidationError`."""
        return self._run(operations.get_evals, session, write=False, **arguments(locals()))

    def get_evals_by_agent_name(
        self, *, agent_name: str, type: str | None = None, session: Session | None = None
    ) -> list[EvalRow]:
        """Every eval result of the agent `agent_name`, newest first (Mastra:
        `getEvalsByAgentName`); `type` as in `get_evals` (`"live"`, `"test"`,
        None: both). Raises `ValidationError` for an empty `agent_name`."""
        operations.require_text(agent_name, "agent_name")
        return self.get_evals(
            agent_name=agent_name, type=type, per_page=None, session=session
        ).evals

    # -- scores (Mastra 1.x `mastra_scorers`) -------------------------------------

    def save_score(
        self, *, score: ScoreRow | Mapping[str, Any], session: Session | None = None
    ) -> ScoreRow:
        """Save one scorer result (Mastra's `saveScore`), in Mastra's table and
        formats so a TypeScript service lists it.

        `score`: a `ScoreRow` or a mapping of Mastra's `SaveScorePayload`
        (snake_case or camelCase keys): `scorer_id`, `entity_id`, `run_id`,
        `score` (finite number), `scorer` and `entity` (objects) and `source`
        (`"LIVE"` | `"TEST"`) are required; `input`, `output`, prompts, step
        results, `trace_id`, `span_id`, `resource_id`, `thread_id`, ... are
        optional. `id` defaults to a new UUID; saving an id again replaces that
        row (latest write wins). `created_at`/`updated_at` default to now.
        Returns the stored row. Raises `ValidationError` (nothing written)."""
        return self._run(operations.save_score, session, write=True, **arguments(locals()))

    def get_score_by_id(self, *, id: str, session: Session | None = None) -> ScoreRow | None:
        """The score with this id, or None (Mastra's `getScoreById`)."""
        return self._run(operations.get_score_by_id, session, write=False, **arguments(locals()))

    def list_scores_by_scorer_id(
        self,
        *,
        scorer_id: str,
        entity_id: str | None = None,
        entity_type: str | None = None,
        source: str | None = None,
        page: int = 0,
        per_page: int | None = 100,
        session: Session | None = None,
    ) -> ScorePage:
        """The results of scorer `scorer_id`, newest first, optionally
        narrowed to one entity (`entity_id`, `entity_type`) and/or `source`
        (`"LIVE"` | `"TEST"`); `page` from 0, `per_page` (default 100;
        None returns all: Mastra's `perPage: false`) (Mastra's
        `listScoresByScorerId`). Returns a `ScorePage`. Raises `ValidationError`."""
        return self._run(
            operations.list_scores_by_scorer_id, session, write=False, **arguments(locals())
        )

    def list_scores_by_run_id(
        self,
        *,
        run_id: str,
        page: int = 0,
        per_page: int | None = 100,
        session: Session | None = None,
    ) -> ScorePage:
        """The scores of run `run_id`, newest first (Mastra's
        `listScoresByRunId`). `page` from 0, `per_page` (default 100; None:
        all). Returns a `ScorePage`. Raises `ValidationError`."""
        return self._run(
            operations.list_scores_by_run_id, session, write=False, **arguments(locals())
        )

    def list_scores_by_entity_id(
        self,
        *,
        entity_id: str,
        entity_type: str,
        page: int = 0,
        per_page: int | None = 100,
        session: Session | None = None,
    ) -> ScorePage:
        """The scores of entity `entity_id` of type `entity_type` (e.g.
        `"AGENT"`), newest first (Mastra's `listScoresByEntityId`). `page` from
        0, `per_page` (default 100; None: all). Returns a `ScorePage`. Raises
        `ValidationError`."""
        return self._run(
            operations.list_scores_by_entity_id, session, write=False, **arguments(locals())
        )

    def list_scores_by_span(
        self,
        *,
        trace_id: str,
        span_id: str,
        page: int = 0,
        per_page: int | None = 100,
        session: Session | None = None,
    ) -> ScorePage:
        """The scores of span `span_id` of trace `trace_id`, newest first
        (Mastra's `listScoresBySpan`). `page` from 0, `per_page` (default
        100; None: all). Returns a `ScorePage`. Raises `ValidationError`."""
        return self._run(
            operations.list_scores_by_span, session, write=False, **arguments(locals())
        )

    # -- retention ----------------------------------------------------------------

    def prune(
        self,
        *,
        older_than: timedelta | str,
        domains: Sequence[str] = operations.DOMAINS,
        batch_size: int = 1000,
        dry_run: bool = False,
        session: Session | None = None,
    ) -> PruneReport:
        """Delete what was last updated before now - `older_than` (a positive
        `timedelta`, or text: `"30d"`, `"12h"`, `"90m"`, `"45s"`, `"500ms"`, `"2w"`).

        `domains` (default all): `"messages"` (by `createdAt`), `"threads"`
        (by `updatedAt`, and only with no message at or after the cutoff; a
        thread goes with all its messages), `"workflow_runs"` (by `updatedAt`;
        a run whose run lock is live is kept; a lock asked for while the batch
        deletes the run waits for its commit, or is refused), `"scores"` (by
        `updatedAt`), `"evals"` (by `created_at`). Works in batches of at most `batch_size`
        rows (1..100000), each batch its own transaction, so no lock is held
        long and a concurrent writer loses nothing newer than the cutoff; with
        `session=`, every batch runs in the caller's transaction instead (one
        transaction: keep it small). `dry_run` counts without deleting.
        Returns a `PruneReport` (rows per domain). Raises `ValidationError`.
        Mastra 1.x prunes by its retention policies (`maxAge`) likewise."""
        plan = operations.prune_plan(
            older_than=older_than,
            domains=domains,
            batch_size=batch_size,
            dry_run=dry_run,
            live_elsewhere=self._run_locks.live_outside_database(),
        )
        report, position = plan.report(), plan.first()
        while position is not None:
            step = self._run(
                operations.run_step, session, write=not dry_run, plan=plan, position=position
            )
            report, position = operations.add_counts(report, step.counts), step.next
        return report

    def delete_resource(
        self, *, resource_id: str, batch_size: int = 1000, session: Session | None = None
    ) -> PruneReport:
        """Erase the resource `resource_id` and everything of it (the
        right-to-erasure call):
        its messages (in any thread), its threads with every message in them,
        its workflow runs (held or not), its scores, its row (working memory)
        and rows other tables registered for it (`register_dependent_rows`,
        e.g. vector entries). In batches of `batch_size`, each its own
        transaction (with `session=`, the caller's); a message saved for the
        resource while this runs may outlive it, so call it again once the
        resource is no longer in use. Returns the rows deleted per domain.
        Mastra 1.x has no single call for this (its stores delete per domain);
        an extension of its contract, built from the same deletes."""
        plan = operations.erase_plan(resource_id=resource_id, batch_size=batch_size)
        report, position = plan.report(), plan.first()
        while position is not None:
            step = self._run(operations.run_step, session, write=True, plan=plan, position=position)
            report, position = operations.add_counts(report, step.counts), step.next
        return report

    # -- workflow run locks -------------------------------------------------------

    @property
    def lock_backend(self) -> str:
        """Which run lock backend this storage uses: "advisory", "lease" or
        "memory" (our extension)."""
        return self._run_locks.backend

    @property
    def lock_holder(self) -> str:
        """This instance's holder id, as `RunLock.holder` shows it (our extension)."""
        return self._run_locks.holder

    def _prepare_run_locks(self) -> None:
        if not self._initialized:
            self.init()

    def try_acquire_workflow_run_lock(
        self, *, workflow_name: str, run_id: str, ttl_ms: int = DEFAULT_TTL_MS
    ) -> bool:
        """Take the lock of run `run_id` of workflow `workflow_name` for
        `ttl_ms` milliseconds (default 30 minutes, as
        Mastra's run locks) unless another holder has it (Mastra:
        `tryAcquireWorkflowRunLock`). Not reentrant: False when this instance
        already holds it. Raises `ValidationError` for empty names or a TTL
        outside 1 ms to 366 days."""
        self._check_open()
        return self._run_locks.try_acquire(workflow_name, run_id, ttl_ms)

    def renew_workflow_run_lock(
        self, *, workflow_name: str, run_id: str, ttl_ms: int = DEFAULT_TTL_MS
    ) -> bool:
        """Extend this instance's lock of run `run_id` of workflow
        `workflow_name` to now + `ttl_ms` milliseconds (default 30 minutes) (Mastra:
        `renewWorkflowRunLock`); False, and nothing changed, when it does not
        hold it (any more)."""
        self._check_open()
        return self._run_locks.renew(workflow_name, run_id, ttl_ms)

    def get_workflow_run_lock(self, *, workflow_name: str, run_id: str) -> RunLock | None:
        """The current holder (`RunLock`) of the lock of run `run_id` of
        workflow `workflow_name`, or None when the lock is free (Mastra:
        `getWorkflowRunLock`). Raises `ValidationError` for an empty name or id."""
        self._check_open()
        return self._run_locks.get(workflow_name, run_id)

    def list_workflow_run_locks(
        self, *, workflow_name: str | None = None, limit: int = 100
    ) -> list[RunLock]:
        """The run locks held now, by any holder (our extension; Mastra has no
        such call): those of `workflow_name` only when given, at most `limit`
        (1 to 10,000), ordered by workflow name and run id. Raises
        `ValidationError` for a blank `workflow_name` or a `limit` out of range."""
        self._check_open()
        return self._run_locks.list_held(workflow_name, limit)

    def release_workflow_run_lock(self, *, workflow_name: str, run_id: str) -> None:
        """Release the lock of run `run_id` of workflow `workflow_name` if
        this instance holds it; otherwise do nothing (Mastra:
        `releaseWorkflowRunLock`). Raises `ValidationError` for an empty name or id."""
        self._check_open()
        self._run_locks.release(workflow_name, run_id)

    def workflow_run_lock(
        self,
        *,
        workflow_name: str,
        run_id: str,
        ttl_ms: int = DEFAULT_TTL_MS,
        heartbeat: bool = True,
    ) -> AbstractContextManager[HeldRunLock]:
        """Hold the lock of run `run_id` of workflow `workflow_name` for the
        body of a `with`: `LockNotAcquiredError`
        when held elsewhere, renewed in the background (`heartbeat`), released on
        exit. Yields a `HeldRunLock`: pass its `fencing_token` to the writes.
        Our extension over Mastra's lock calls (`ttl_ms` in milliseconds,
        renewed every `ttl_ms / 3` when `heartbeat`)."""
        self._check_open()
        return self._run_locks.hold(workflow_name, run_id, ttl_ms, heartbeat)


LOCK_POOL: dict[str, Any] = {"pool_size": 2, "max_overflow": -1}
"""The run locks' own pool: each held advisory lock keeps one connection, as
many as are held at once (PostgreSQL's max_connections is the limit)."""


COMMIT_REACHED = "mastra_storage_commit_reached"


def transaction(engine: Engine, operation: Callable[..., T], kwargs: dict[str, Any]) -> T:
    """`operation` in a transaction of its own on `engine`; an error says
    (attribute `COMMIT_REACHED`) whether it came from the commit itself."""
    reached = False
    try:
        with engine.connect() as conn, conn.begin():
            result = operation(conn, **kwargs)
            reached = True
        return result
    except DBAPIError as error:
        setattr(error, COMMIT_REACHED, reached)
        raise


def direct_transaction(
    engine: Engine,
    operation: Callable[..., T],
    kwargs: dict[str, Any],
    accept: Callable[[Any, Any], bool] | None = None,
    kept: KeptConnection | None = None,
) -> T:
    """A single-statement read through `direct.DirectExecutor`: its prebuilt
    statement on the pooled DBAPI connection, a transaction by itself
    (`accept`, `kept`: as the executor's)."""
    with direct.DirectExecutor(engine, accept, kept) as executor:
        # The executor offers the part of Connection's interface operations use.
        return operation(cast(Connection, executor), **kwargs)


def direct_write(
    engine: Engine,
    operation: Callable[..., T],
    kwargs: dict[str, Any],
    accept: Callable[[Any, Any], bool] | None = None,
    kept: KeptConnection | None = None,
) -> T:
    """A single-statement write through `direct.DirectExecutor`, in autocommit:
    the statement's execution is its commit, so an error says it may have
    come from the commit (`COMMIT_REACHED`): a dropped connection raises
    `ConnectionLostError` with `written=None` (`written=False` when it was
    found closed before the statement was sent), and nothing is retried
    (`accept`, `kept`: as the executor's)."""
    try:
        return direct_transaction(engine, operation, kwargs, accept, kept)
    except DBAPIError as error:
        # Unless the connection was found closed before anything was sent.
        setattr(error, COMMIT_REACHED, not getattr(error.orig, NOT_SENT, False))
        raise


DEADLOCK_RETRIES = 5
"""How many times a call that owns its transaction runs again when the
database chose it as a deadlock's victim (InnoDB does so under concurrent
writers of one row; the whole transaction was rolled back, so nothing of it
was written). Each retry waits a random 5-20 ms, doubled per attempt."""


def deadlock_retry_delay(error: DBAPIError, attempt: int) -> float | None:
    """Seconds to wait before running a transaction (or a statement in
    autocommit) again that `error` ended, or None when it is not a deadlock
    (or retries are used up)."""
    if attempt >= DEADLOCK_RETRIES or not is_deadlock(error):
        return None
    # The server's answer that it rolled the victim back: nothing of it was
    # written, whether it came from a statement in autocommit (a direct
    # write) or from the commit itself.
    return float(random.uniform(0.005, 0.02) * 2**attempt)


def raise_unless_retryable(error: DBAPIError, *, write: bool) -> None:
    """Return (the caller runs it once more) only for a read whose connection
    was dropped (a server restart, a killed backend, a proxy cut); a write on
    a dropped connection raises `ConnectionLostError` saying whether anything
    was written; any other error is raised as it is."""
    if not error.connection_invalidated:
        raise error
    if is_deadline(error):
        # The server did not answer in time (frozen): retrying would wait again.
        if write and getattr(error, COMMIT_REACHED, False):
            raise StorageTimeoutError(
                "no answer from the database server to the commit within "
                "statement_timeout_s plus grace: the write may or may not have been "
                "saved; read it back before retrying"
            ) from error
        raise error
    if not write:
        return
    if getattr(error, COMMIT_REACHED, False):
        raise ConnectionLostError(
            "the connection to the database dropped while committing: the write may or "
            "may not have been saved; read it back before retrying",
            written=None,
        ) from error
    raise ConnectionLostError(
        "the connection to the database dropped before the write was committed: "
        "nothing was written; it is safe to retry",
        written=False,
    ) from error


def arguments(frame: dict[str, Any]) -> dict[str, Any]:
    """A facade method's own parameters (from `locals()`, taken first thing),
    less `self` and `session`: what it forwards to its operation.

    A C copy of `frame`, those two popped: cheaper than a comprehension
    testing each name. Copied rather than trimmed in place: before Python
    3.13, `locals()` is the frame's own dict, which a tracer (a debugger
    showing the caller's variables) may refresh from the frame at any time."""
    forwarded = frame.copy()
    del forwarded["self"], forwarded["session"]
    return forwarded


def migrate_on(conn: Connection, prepare: Callable[[Connection], None]) -> None:
    """Prepare the database and migrate it to head on one connection (not in
    a transaction), in one transaction holding the migration lock (sync and
    async facades alike); a database at head already is only read, without
    that lock (nor SQLite's write lock: a writer holding it keeps no new
    storage from reading)."""
    check_server(conn)
    with translate_errors():
        if migrate.at_head(conn):
            return
    with migrate.migration_connection(conn) as locked, unbounded_statements(locked):
        prepare(locked)
        migrate.upgrade(locked)


class PostgresOptions:
    """What the sync and async PostgreSQL facades share: the `schema=` option."""

    schema: str | None

    def _take_schema(self, schema: str | None, url: object, engine: object) -> None:
        self.schema = None if schema is None else check_identifier(schema, field="schema")
        if url is None and engine is None:
            raise ValidationError(f"{type(self).__name__} needs a url or an engine", field="url")

    def _require_postgres(self, dialect_name: str) -> None:
        if dialect_name != "postgresql":
            raise ValidationError(
                f"{type(self).__name__} needs a PostgreSQL URL, got {dialect_name!r}", field="url"
            )

    def _prepare_database(self, conn: Connection) -> None:
        if self.schema is not None:
            migrate.ensure_schema(conn, self.schema)


class MySQLOptions:
    """What the sync and async MySQL/MariaDB facades share: a URL or an engine
    is required, and it must be MySQL's."""

    def _need_source(self, url: object, engine: object) -> None:
        if url is None and engine is None:
            raise ValidationError(f"{type(self).__name__} needs a url or an engine", field="url")

    def _require_mysql(self, dialect_name: str) -> None:
        if dialect_name != "mysql":
            raise ValidationError(
                f"{type(self).__name__} needs a MySQL or MariaDB URL, got {dialect_name!r}",
                field="url",
            )


class DefaultStorage(MastraStorage):
    """SQLite by default: with no `url=` nor `engine=`, the URL in
    `MASTRA_STORAGE_URL`, else `file:mastra.db`. Accepts any supported SQLAlchemy URL
    or Mastra-style `file:PATH` / `file::memory:`, or an existing Engine
    (Mastra: `LibSQLStore`). Arguments as `MastraStorage`."""

    def _create_engine(
        self, url: str | URL | None, *, settings: ConnectionSettings, **options: Any
    ) -> Engine:
        return create_engine_for_url(
            url_from_env() if url is None else url, settings=settings, **options
        )


class PostgresStorage(PostgresOptions, MastraStorage):
    """PostgreSQL through psycopg 3 (Mastra: `PostgresStore`; the `postgres`
    extra). `url` (`postgresql://` is taken as psycopg) or `engine` is
    required; `schema=` keeps the tables in that schema (created by `init()`
    when missing), on every connection the storage and its locks use. Other
    arguments as `MastraStorage`. Raises `ValidationError` for a URL that is
    not PostgreSQL or a schema that is not a plain identifier."""

    def __init__(
        self,
        *,
        name: str = "mastra-storage",
        url: str | URL | None = None,
        schema: str | None = None,
        engine: Engine | None = None,
        lock_backend: str | None = None,
        **options: Any,
    ) -> None:
        self._take_schema(schema, url, engine)
        super().__init__(name=name, url=url, engine=engine, lock_backend=lock_backend, **options)
        self._require_postgres(self.engine.dialect.name)

    def _create_engine(
        self, url: str | URL | None, *, settings: ConnectionSettings, **options: Any
    ) -> Engine:
        assert url is not None
        return create_engine_for_url(url, schema=self.schema, settings=settings, **options)


class MySQLStorage(MySQLOptions, MastraStorage):
    """MySQL / MariaDB through PyMySQL (the `mysql` extra; Mastra has no MySQL
    store). `url` (`mysql://` and `mariadb://` are taken as PyMySQL, e.g.
    `mysql+pymysql://app:secret@db:3306/agents`) or `engine` is required.
    The connections the storage makes use utf8mb4, a UTC session time zone,
    strict SQL mode, READ COMMITTED and `innodb_lock_wait_timeout` from
    `lock_timeout_ms` (whole seconds, at least 1). The tables are InnoDB,
    utf8mb4 with binary collation (ids and text compare exactly, as on the
    other backends). Other arguments as `MastraStorage`. Raises
    `ValidationError` for a URL that is not MySQL's, `MissingDependencyError`
    when PyMySQL is not installed."""

    def __init__(
        self,
        *,
        name: str = "mastra-storage",
        url: str | URL | None = None,
        engine: Engine | None = None,
        lock_backend: str | None = None,
        **options: Any,
    ) -> None:
        self._need_source(url, engine)
        super().__init__(name=name, url=url, engine=engine, lock_backend=lock_backend, **options)
        self._require_mysql(self.engine.dialect.name)

    def _create_engine(
        self, url: str | URL | None, *, settings: ConnectionSettings, **options: Any
    ) -> Engine:
        assert url is not None
        return create_engine_for_url(url, settings=settings, **options)
