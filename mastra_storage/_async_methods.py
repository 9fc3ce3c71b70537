"""The async facade's data methods: GENERATED from storage.py by
scripts/generate_async.py. Do not edit; change the sync facade and regenerate.

Each method validates nothing itself: it awaits `self._run(operation, ...)`,
which runs the same `operations` function as the sync facade inside
`AsyncSession.run_sync`, so the logic exists once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from . import operations
from .domain import (
    EvalPage,
    EvalRow,
    MastraDBMessage,
    MessagePage,
    ScorePage,
    ScoreRow,
    StorageResource,
    StorageThread,
    ThreadClone,
    ThreadPage,
    WorkflowRun,
    WorkflowRuns,
)
from .storage import arguments

if TYPE_CHECKING:
    from ._asyncio import AsyncSession

T = TypeVar("T")


class AsyncDataMethods(ABC):
    """Every data method of `MastraStorage`, as coroutines."""

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
        return await self._run(operations.save_thread, session, write=True, **arguments(locals()))

    async def get_thread_by_id(
        self, *, thread_id: str, resource_id: str | None = None, session: AsyncSession | None = None
    ) -> StorageThread | None:
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

        The copy gets `new_thread_id` (default a new UUID), `resource_id`
        (default the source's; the copied messages get it too), `title`
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
        """Move a thread and all its messages to `resource_id` atomically, e.g.
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
        """Read-modify-write of a thread's metadata, serialized (Mastra:
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
        await self._run(operations.delete_thread, session, write=True, **arguments(locals()))

    async def list_threads(
        self,
        *,
        resource_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        page: int = 0,
        per_page: int | None = 100,
        order_by: str = "createdAt",
        direction: str = "DESC",
        session: AsyncSession | None = None,
    ) -> ThreadPage:
        return await self._run(operations.list_threads, session, write=False, **arguments(locals()))

    async def list_threads_by_resource_id(
        self,
        *,
        resource_id: str,
        metadata: Mapping[str, Any] | None = None,
        page: int = 0,
        per_page: int | None = 100,
        order_by: str = "createdAt",
        direction: str = "DESC",
        session: AsyncSession | None = None,
    ) -> ThreadPage:
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
        messages: Sequence[MastraDBMessage | Mapping[str, Any]],
        session: AsyncSession | None = None,
    ) -> list[MastraDBMessage]:
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
        direction: str = "ASC",
        count_total: bool | None = None,
        include_total: bool | None = None,
        metadata: Mapping[str, Any] | None = None,
        session: AsyncSession | None = None,
    ) -> MessagePage:
        """A page of a thread's (or threads') messages, plus `include` windows
        (Mastra: `listMessages`). With `resource_id`, nothing of another
        resource is returned, windows included. `metadata` keeps messages whose
        `content.metadata` has each given top-level key with an equal JSON
        value (not applied to `include` windows). `include_total=False` (alias
        `count_total`; default True) skips the COUNT (total is None): a last-N
        read then costs the same on a thread of any size; `has_more` stays
        exact. Bad input: `ValidationError`."""
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
        direction: str = "ASC",
        count_total: bool | None = None,
        include_total: bool | None = None,
        metadata: Mapping[str, Any] | None = None,
        session: AsyncSession | None = None,
    ) -> MessagePage:
        """As `list_messages`, across all of a resource's threads (Mastra:
        `listMessagesByResourceId`)."""
        return await self._run(
            operations.list_messages_by_resource_id, session, write=False, **arguments(locals())
        )

    async def list_messages_by_id(
        self, *, message_ids: Sequence[str], session: AsyncSession | None = None
    ) -> list[MastraDBMessage]:
        return await self._run(
            operations.list_messages_by_id, session, write=False, **arguments(locals())
        )

    async def update_messages(
        self, *, messages: Sequence[Mapping[str, Any]], session: AsyncSession | None = None
    ) -> list[MastraDBMessage]:
        return await self._run(
            operations.update_messages, session, write=True, **arguments(locals())
        )

    async def delete_messages(
        self, *, message_ids: Sequence[str], session: AsyncSession | None = None
    ) -> None:
        await self._run(operations.delete_messages, session, write=True, **arguments(locals()))

    async def get_resource_by_id(
        self, *, resource_id: str, session: AsyncSession | None = None
    ) -> StorageResource | None:
        return await self._run(
            operations.get_resource_by_id, session, write=False, **arguments(locals())
        )

    async def save_resource(
        self, *, resource: StorageResource | Mapping[str, Any], session: AsyncSession | None = None
    ) -> StorageResource:
        return await self._run(operations.save_resource, session, write=True, **arguments(locals()))

    async def update_resource(
        self,
        *,
        resource_id: str,
        working_memory: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        session: AsyncSession | None = None,
    ) -> StorageResource:
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
        return await self._run(
            operations.get_workflow_run_by_id, session, write=False, **arguments(locals())
        )

    async def delete_workflow_run_by_id(
        self, *, run_id: str, workflow_name: str, session: AsyncSession | None = None
    ) -> None:
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
        """Set `snapshot["context"][step_id] = result` atomically; returns the
        context (`{}` for an unknown run). `fencing_token` as in `persist_...`."""
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
        """Shallow-merge `opts` into the snapshot atomically; None for an unknown
        run. `fencing_token` as in `persist_workflow_snapshot`."""
        return await self._run(
            operations.update_workflow_state, session, write=True, **arguments(locals())
        )

    async def save_eval(
        self, *, eval: EvalRow | Mapping[str, Any], session: AsyncSession | None = None
    ) -> EvalRow:
        return (await self.save_evals(evals=[eval], session=session))[0]

    async def save_evals(
        self, *, evals: Sequence[EvalRow | Mapping[str, Any]], session: AsyncSession | None = None
    ) -> list[EvalRow]:
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
        return await self._run(operations.get_evals, session, write=False, **arguments(locals()))

    async def get_evals_by_agent_name(
        self, *, agent_name: str, type: str | None = None, session: AsyncSession | None = None
    ) -> list[EvalRow]:
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
        """A scorer's results, newest first, optionally narrowed to one entity
        and/or `source` (`"LIVE"` | `"TEST"`); `per_page=None` returns all
        (Mastra's `listScoresByScorerId`, `perPage: false`)."""
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
        """A run's scores, newest first (Mastra's `listScoresByRunId`)."""
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
        """An entity's scores (e.g. `entity_type="AGENT"`), newest first
        (Mastra's `listScoresByEntityId`)."""
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
        """The scores of one trace span, newest first (Mastra's `listScoresBySpan`)."""
        return await self._run(
            operations.list_scores_by_span, session, write=False, **arguments(locals())
        )
