"""The async facade's data methods: GENERATED from storage.py by
scripts/generate_async.py. Do not edit; change the sync facade and regenerate.

Each method validates nothing itself: it awaits `self._run(operation, ...)`,
which runs the same `operations` function (and the same transaction code)
as the sync facade, in one greenlet, so the logic exists once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from . import operations
from .domain import (
    Direction,
    EvalPage,
    EvalRow,
    MastraDBMessage,
    MastraDBMessageInput,
    MessagePage,
    PruneReport,
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
from .locks import RunLockService
from .storage import arguments

if TYPE_CHECKING:
    from ._asyncio import AsyncSession

T = TypeVar("T")


class AsyncDataMethods(ABC):
    """Every data method of `MastraStorage`, as coroutines."""

    _run_locks: RunLockService

    @abstractmethod
    async def _run(
        self,
        operation: Callable[..., T],
        session: AsyncSession | None,
        *,
        write: bool,
        **kwargs: Any,
    ) -> T:
        """Run `operation(session, **kwargs)` in the caller's or a new transaction."""

    async def create_thread(
        self,
        *,
        resource_id: str,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        thread_id: str | None = None,
        session: AsyncSession | None = None,
    ) -> StorageThread:
        """A new thread of `resource_id` (Mastra: `saveThread` of a new thread).

        `title` defaults to `""`, `metadata` to None, `thread_id` to a new UUID.
        An id that already exists raises `ConflictError` and changes nothing
        (use `save_thread` to replace a thread). Bad input: `ValidationError`."""
        return await self._run(operations.create_thread, session, write=True, **arguments(locals()))

    async def save_thread(
        self, *, thread: StorageThread | Mapping[str, Any], session: AsyncSession | None = None
    ) -> StorageThread:
        """Insert or replace a thread (Mastra: `saveThread`).

        `thread`: a `StorageThread` or a mapping with `resource_id` (required),
        `id` (default: a new UUID), `title` (default `""`), `metadata` (a JSON
        object or None), `created_at`/`updated_at` (aware datetimes; default now).
        Saving an existing id replaces its title and metadata. Returns the stored
        thread. Raises `ValidationError` naming the field (nothing written)."""
        return await self._run(operations.save_thread, session, write=True, **arguments(locals()))

    async def get_thread_by_id(
        self, *, thread_id: str, resource_id: str | None = None, session: AsyncSession | None = None
    ) -> StorageThread | None:
        """The thread with this id, or None (Mastra: `getThreadById`).

        With `resource_id`, a thread of another resource is None too (an ownership
        check). Raises `ValidationError` for an empty `thread_id`."""
        return await self._run(
            operations.get_thread_by_id, session, write=False, **arguments(locals())
        )

    async def update_thread(
        self,
        *,
        id: str,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        session: AsyncSession | None = None,
    ) -> StorageThread:
        """Change a thread's title and merge into its metadata (Mastra: `updateThread`).

        `id`: the thread. `title`: the new title (None keeps it). `metadata`: keys
        merged into the stored metadata (shallow; None keeps it). `updated_at`
        becomes now. Returns the updated thread. Raises `NotFoundError` for an
        unknown thread, `ValidationError` for bad input (nothing written)."""
        return await self._run(operations.update_thread, session, write=True, **arguments(locals()))

    async def clone_thread(
        self,
        *,
        source_thread_id: str,
        new_thread_id: str | None = None,
        resource_id: str | None = None,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        message_limit: int | None = None,
        message_filter: Mapping[str, Any] | None = None,
        session: AsyncSession | None = None,
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
        return await self._run(operations.clone_thread, session, write=True, **arguments(locals()))

    async def update_thread_resource_id(
        self, *, thread_id: str, resource_id: str, session: AsyncSession | None = None
    ) -> StorageThread:
        """Move thread `thread_id` and all its messages to `resource_id` atomically, e.g.
        an anonymous user who logs in (Mastra: `updateThreadResourceId`).
        `created_at` stays; `updated_at` becomes now (unchanged when the thread
        already belongs to `resource_id`). No ownership check: the caller
        authorizes. Unknown thread: `NotFoundError`; bad input: `ValidationError`."""
        return await self._run(
            operations.update_thread_resource_id, session, write=True, **arguments(locals())
        )

    async def update_thread_metadata(
        self,
        *,
        id: str,
        update: Callable[[dict[str, Any]], Mapping[str, Any] | None],
        resource_id: str | None = None,
        session: AsyncSession | None = None,
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
        return await self._run(
            operations.update_thread_metadata, session, write=True, **arguments(locals())
        )

    async def delete_thread(self, *, thread_id: str, session: AsyncSession | None = None) -> None:
        """Delete the thread `thread_id` and all its messages, in one
        transaction (Mastra: `deleteThread`).

        An unknown id does nothing. Raises `ValidationError` for an empty id."""
        await self._run(operations.delete_thread, session, write=True, **arguments(locals()))

    async def list_threads(
        self,
        *,
        resource_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        page: int = 0,
        per_page: int | None = 100,
        order_by: ThreadOrderBy = "createdAt",
        direction: Direction = "DESC",
        session: AsyncSession | None = None,
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
        return await self._run(operations.list_threads, session, write=False, **arguments(locals()))

    async def list_threads_by_resource_id(
        self,
        *,
        resource_id: str,
        metadata: Mapping[str, Any] | None = None,
        page: int = 0,
        per_page: int | None = 100,
        order_by: ThreadOrderBy = "createdAt",
        direction: Direction = "DESC",
        session: AsyncSession | None = None,
    ) -> ThreadPage:
        """A page of one resource's threads (Mastra: `listThreadsByResourceId`).

        As `list_threads` with `resource_id` required: `metadata` filter,
        `page` from 0, `per_page` (default 100; None: all), `order_by`
        (`"createdAt"` default, or `"updatedAt"`), `direction` (`"DESC"`
        default). Raises `ValidationError` for an empty `resource_id` and as
        `list_threads`."""
        operations.require_text(resource_id, "resource_id")
        return await self.list_threads(
            resource_id=resource_id,
            metadata=metadata,
            page=page,
            per_page=per_page,
            order_by=order_by,
            direction=direction,
            session=session,
        )

    async def save_messages(
        self,
        *,
        messages: Sequence[MastraDBMessageInput | Mapping[str, Any]],
        session: AsyncSession | None = None,
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
        return await self._run(operations.save_messages, session, write=True, **arguments(locals()))

    async def list_messages(
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
        session: AsyncSession | None = None,
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
        return await self._run(
            operations.list_messages, session, write=False, **arguments(locals())
        )

    async def list_messages_by_resource_id(
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
        session: AsyncSession | None = None,
    ) -> MessagePage:
        """A page of messages across all of a resource's threads (Mastra:
        `listMessagesByResourceId`).

        `resource_id` (required) takes the place of `list_messages`'s
        `thread_id`; `include`, `page`, `per_page` (default 40; None: all),
        `date_range`, `direction` (`"ASC"` default), `count_total` /
        `include_total` and `metadata` are as in `list_messages`. Returns a
        `MessagePage`. Raises `ValidationError` as `list_messages` does."""
        return await self._run(
            operations.list_messages_by_resource_id, session, write=False, **arguments(locals())
        )

    async def list_messages_by_id(
        self, *, message_ids: Sequence[str], session: AsyncSession | None = None
    ) -> list[MastraDBMessage]:
        """The messages whose ids are in `message_ids`, in `created_at` order
        (Mastra: `listMessagesById`). Unknown ids are skipped. Raises `ValidationError` for
        a value that is not a list of non-empty ids."""
        return await self._run(
            operations.list_messages_by_id, session, write=False, **arguments(locals())
        )

    async def update_messages(
        self, *, messages: Sequence[Mapping[str, Any]], session: AsyncSession | None = None
    ) -> list[MastraDBMessage]:
        """Change stored messages (Mastra: `updateMessages`).

        `messages`: mappings with `id` and any of `role`, `content`, `thread_id`
        (move the message to that existing thread), `resource_id`, `type`. Given
        `content` keys replace the stored ones, except `content.metadata`, which
        is merged. Returns the updated messages; unknown ids are skipped. Raises
        `ValidationError`, or `NotFoundError` for a target thread that does not
        exist (nothing written)."""
        return await self._run(
            operations.update_messages, session, write=True, **arguments(locals())
        )

    async def delete_messages(
        self, *, message_ids: Sequence[str], session: AsyncSession | None = None
    ) -> None:
        """Delete the messages whose ids are in `message_ids` (Mastra:
        `deleteMessages`); unknown ids are skipped; their threads'
        `updated_at` becomes now. Raises `ValidationError` for a value that is
        not a list of non-empty ids."""
        await self._run(operations.delete_messages, session, write=True, **arguments(locals()))

    async def get_resource_by_id(
        self, *, resource_id: str, session: AsyncSession | None = None
    ) -> StorageResource | None:
        """The resource (working memory and metadata) whose id is
        `resource_id`, or None (Mastra: `getResourceById`). Raises
        `ValidationError` for an empty id."""
        return await self._run(
            operations.get_resource_by_id, session, write=False, **arguments(locals())
        )

    async def save_resource(
        self, *, resource: StorageResource | Mapping[str, Any], session: AsyncSession | None = None
    ) -> StorageResource:
        """Insert or replace a resource (Mastra: `saveResource`).

        `resource`: a `StorageResource` or a mapping with `id` (required),
        `working_memory` (text or None), `metadata` (a JSON object or None),
        `created_at`/`updated_at` (default now). Returns the stored resource.
        Raises `ValidationError` (nothing written)."""
        return await self._run(operations.save_resource, session, write=True, **arguments(locals()))

    async def update_resource(
        self,
        *,
        resource_id: str,
        working_memory: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        session: AsyncSession | None = None,
    ) -> StorageResource:
        """Update the working memory of resource `resource_id` and merge its
        metadata, creating it when missing (Mastra: `updateResource`).

        `working_memory`: the new text (None keeps it). `metadata`: keys merged
        into the stored metadata (None keeps it). Returns the resource. Raises
        `ValidationError` (nothing written)."""
        return await self._run(
            operations.update_resource, session, write=True, **arguments(locals())
        )

    async def persist_workflow_snapshot(
        self,
        *,
        workflow_name: str,
        run_id: str,
        snapshot: Mapping[str, Any],
        resource_id: str | None = None,
        created_at: datetime | None = None,
        updated_at: datetime | None = None,
        fencing_token: int | None = None,
        session: AsyncSession | None = None,
    ) -> None:
        """Upsert the run's snapshot on (`workflow_name`, `run_id`) (Mastra:
        `persistWorkflowSnapshot`). `created_at` (aware datetime, default now)
        is used on insert and kept on update; `updated_at` (default now) is
        written. A None `resource_id` keeps the stored one. With `fencing_token`
        (from the run's lock), refused with `FencingTokenError` once a newer
        holder has taken the run. Bad input (naive datetime, snapshot not a
        mapping): `ValidationError`."""
        await self._run(
            operations.persist_workflow_snapshot, session, write=True, **arguments(locals())
        )

    async def load_workflow_snapshot(
        self, *, workflow_name: str, run_id: str, session: AsyncSession | None = None
    ) -> dict[str, Any] | None:
        """The snapshot (a JSON object) of run `run_id` of workflow
        `workflow_name`, or None (Mastra: `loadWorkflowSnapshot`). Raises
        `ValidationError` for an empty name or id."""
        return await self._run(
            operations.load_workflow_snapshot, session, write=False, **arguments(locals())
        )

    async def list_workflow_runs(
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
        session: AsyncSession | None = None,
    ) -> WorkflowRuns:
        """Runs newest first (Mastra: `listWorkflowRuns`). Filters: `workflow_name`,
        `resource_id`, `thread_id` (the thread id Mastra embeds in the snapshot:
        a suspended step's stream state, or the durable loop's input; indexed
        on PostgreSQL), `status` (`snapshot["status"]`; indexed with
        `workflow_name`), `from_date` / `to_date` (aware, inclusive, on
        `created_at`). Paged only when both `page` and `per_page` are given;
        `total` counts every match. Bad input: `ValidationError`."""
        return await self._run(
            operations.list_workflow_runs, session, write=False, **arguments(locals())
        )

    async def get_workflow_run_by_id(
        self, *, run_id: str, workflow_name: str | None = None, session: AsyncSession | None = None
    ) -> WorkflowRun | None:
        """The `WorkflowRun` whose id is `run_id` (of `workflow_name` when
        given), or None (Mastra: `getWorkflowRunById`). Raises
        `ValidationError` for an empty id."""
        return await self._run(
            operations.get_workflow_run_by_id, session, write=False, **arguments(locals())
        )

    async def delete_workflow_run_by_id(
        self, *, run_id: str, workflow_name: str, session: AsyncSession | None = None
    ) -> None:
        """Delete the snapshot of run `run_id` of workflow `workflow_name`
        (Mastra: `deleteWorkflowRunById`); an unknown run does nothing. Raises
        `ValidationError` for an empty name or id."""
        await self._run(
            operations.delete_workflow_run_by_id, session, write=True, **arguments(locals())
        )

    async def update_workflow_results(
        self,
        *,
        workflow_name: str,
        run_id: str,
        step_id: str,
        result: Any,
        request_context: Mapping[str, Any] | None = None,
        fencing_token: int | None = None,
        session: AsyncSession | None = None,
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
        return await self._run(
            operations.update_workflow_results, session, write=True, **arguments(locals())
        )

    async def update_workflow_state(
        self,
        *,
        workflow_name: str,
        run_id: str,
        opts: Mapping[str, Any],
        fencing_token: int | None = None,
        session: AsyncSession | None = None,
    ) -> dict[str, Any] | None:
        """Shallow-merge `opts` (a JSON object, e.g. `{"status": "running"}`)
        into the snapshot of run `run_id` of workflow `workflow_name`
        atomically (Mastra: `updateWorkflowState`).
        Returns the new snapshot, or None for an unknown run. `fencing_token`
        as in `persist_workflow_snapshot` (`FencingTokenError`). Raises
        `ValidationError` (nothing written)."""
        return await self._run(
            operations.update_workflow_state, session, write=True, **arguments(locals())
        )

    async def save_eval(
        self, *, eval: EvalRow | Mapping[str, Any], session: AsyncSession | None = None
    ) -> EvalRow:
        """Save one eval result (Mastra 0.x: `mastra_evals`); as `save_evals`."""
        return (await self.save_evals(evals=[eval], session=session))[0]

    async def save_evals(
        self, *, evals: Sequence[EvalRow | Mapping[str, Any]], session: AsyncSession | None = None
    ) -> list[EvalRow]:
        """Save eval results, all or nothing (Mastra 0.x: `mastra_evals`).

        `evals`, each: an `EvalRow` or a mapping with `input`, `output`, `result` (a JSON
        object, e.g. `{"score": 0.9}`), `agent_name`, `metric_name`, and optionally
        `instructions`, `test_info` (an object: a test eval), `global_run_id`,
        `run_id`, `created_at` (default now). Returns the stored rows. Raises
        `ValidationError` (nothing written)."""
        return await self._run(operations.save_evals, session, write=True, **arguments(locals()))

    async def get_evals(
        self,
        *,
        agent_name: str | None = None,
        type: str | None = None,
        page: int = 0,
        per_page: int | None = 100,
        date_range: Mapping[str, Any] | None = None,
        session: AsyncSession | None = None,
    ) -> EvalPage:
        """A page of eval results, newest first (Mastra: `getEvals`).

        `agent_name`: only this agent's. `type`: `"live"` (no `test_info`) or
        `"test"`; None both. `page` from 0, `per_page` (default 100; None: all),
        `date_range` as in `list_messages`. Returns an `EvalPage`. Raises
        `ValidationError`."""
        return await self._run(operations.get_evals, session, write=False, **arguments(locals()))

    async def get_evals_by_agent_name(
        self, *, agent_name: str, type: str | None = None, session: AsyncSession | None = None
    ) -> list[EvalRow]:
        """Every eval result of the agent `agent_name`, newest first (Mastra:
        `getEvalsByAgentName`); `type` as in `get_evals` (`"live"`, `"test"`,
        None: both). Raises `ValidationError` for an empty `agent_name`."""
        operations.require_text(agent_name, "agent_name")
        return (
            await self.get_evals(agent_name=agent_name, type=type, per_page=None, session=session)
        ).evals

    async def save_score(
        self, *, score: ScoreRow | Mapping[str, Any], session: AsyncSession | None = None
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
        return await self._run(operations.save_score, session, write=True, **arguments(locals()))

    async def get_score_by_id(
        self, *, id: str, session: AsyncSession | None = None
    ) -> ScoreRow | None:
        """The score with this id, or None (Mastra's `getScoreById`)."""
        return await self._run(
            operations.get_score_by_id, session, write=False, **arguments(locals())
        )

    async def list_scores_by_scorer_id(
        self,
        *,
        scorer_id: str,
        entity_id: str | None = None,
        entity_type: str | None = None,
        source: str | None = None,
        page: int = 0,
        per_page: int | None = 100,
        session: AsyncSession | None = None,
    ) -> ScorePage:
        """The results of scorer `scorer_id`, newest first, optionally
        narrowed to one entity (`entity_id`, `entity_type`) and/or `source`
        (`"LIVE"` | `"TEST"`); `page` from 0, `per_page` (default 100;
        None returns all: Mastra's `perPage: false`) (Mastra's
        `listScoresByScorerId`). Returns a `ScorePage`. Raises `ValidationError`."""
        return await self._run(
            operations.list_scores_by_scorer_id, session, write=False, **arguments(locals())
        )

    async def list_scores_by_run_id(
        self,
        *,
        run_id: str,
        page: int = 0,
        per_page: int | None = 100,
        session: AsyncSession | None = None,
    ) -> ScorePage:
        """The scores of run `run_id`, newest first (Mastra's
        `listScoresByRunId`). `page` from 0, `per_page` (default 100; None:
        all). Returns a `ScorePage`. Raises `ValidationError`."""
        return await self._run(
            operations.list_scores_by_run_id, session, write=False, **arguments(locals())
        )

    async def list_scores_by_entity_id(
        self,
        *,
        entity_id: str,
        entity_type: str,
        page: int = 0,
        per_page: int | None = 100,
        session: AsyncSession | None = None,
    ) -> ScorePage:
        """The scores of entity `entity_id` of type `entity_type` (e.g.
        `"AGENT"`), newest first (Mastra's `listScoresByEntityId`). `page` from
        0, `per_page` (default 100; None: all). Returns a `ScorePage`. Raises
        `ValidationError`."""
        return await self._run(
            operations.list_scores_by_entity_id, session, write=False, **arguments(locals())
        )

    async def list_scores_by_span(
        self,
        *,
        trace_id: str,
        span_id: str,
        page: int = 0,
        per_page: int | None = 100,
        session: AsyncSession | None = None,
    ) -> ScorePage:
        """The scores of span `span_id` of trace `trace_id`, newest first
        (Mastra's `listScoresBySpan`). `page` from 0, `per_page` (default
        100; None: all). Returns a `ScorePage`. Raises `ValidationError`."""
        return await self._run(
            operations.list_scores_by_span, session, write=False, **arguments(locals())
        )

    async def prune(
        self,
        *,
        older_than: timedelta | str,
        domains: Sequence[str] = operations.DOMAINS,
        batch_size: int = 1000,
        dry_run: bool = False,
        session: AsyncSession | None = None,
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
        report, position = (plan.report(), plan.first())
        while position is not None:
            step = await self._run(
                operations.run_step, session, write=not dry_run, plan=plan, position=position
            )
            report, position = (operations.add_counts(report, step.counts), step.next)
        return report

    async def delete_resource(
        self, *, resource_id: str, batch_size: int = 1000, session: AsyncSession | None = None
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
        report, position = (plan.report(), plan.first())
        while position is not None:
            step = await self._run(
                operations.run_step, session, write=True, plan=plan, position=position
            )
            report, position = (operations.add_counts(report, step.counts), step.next)
        return report
