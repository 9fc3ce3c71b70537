"""Bounded reads and deletes across tables for retention (`prune`) and erasure
(`delete_resource`). Every statement is LIMITed or keyed by a bounded list of
ids; each walks an index in key order, resuming after a cursor (the last key
it saw), so rows a batch keeps are never read again and all batches together
read the index once. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, exists, func, literal, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from ..dialects import Executor, Features, features, keyset_past
from ..locks import rows
from ..locks.keys import session_locks
from ..orm import (
    EvalResultRow,
    MessageRow,
    ResourceRow,
    ScoreResultRow,
    ThreadRow,
    WorkflowRunLockRow,
    WorkflowSnapshotRow,
)

Cursor = tuple[Any, ...]
"""The key of the last row a batch saw, in the order of the walk."""

MESSAGES = cast(Table, MessageRow.__table__)
THREADS = cast(Table, ThreadRow.__table__)
RUNS = cast(Table, WorkflowSnapshotRow.__table__)
SCORES = cast(Table, ScoreResultRow.__table__)
EVALS = cast(Table, EvalResultRow.__table__)
RESOURCES = cast(Table, ResourceRow.__table__)


def _after(
    feats: Features, keys: Sequence[InstrumentedAttribute[Any]], cursor: Cursor | None
) -> list[Any]:
    """Rows after `cursor` in key order (each value bound with its column's type)."""
    if cursor is None:
        return []
    values = [literal(value, type_=key.type) for key, value in zip(keys, cursor, strict=True)]
    return [keyset_past(feats, keys, values, after=True)]


def _keys_in(keys: Sequence[InstrumentedAttribute[Any]], values: Sequence[Cursor]) -> Any:
    """The rows with these keys (plain text keys: ids, names)."""
    if len(keys) == 1:
        return keys[0].in_([value[0] for value in values])
    return tuple_(*keys).in_([tuple(value) for value in values])


def newer_message_in(thread: Any, cutoff: datetime) -> ColumnElement[bool]:
    """EXISTS: the thread has a message created at or after `cutoff`."""
    return exists().where(MessageRow.thread_id == thread, MessageRow.created_at >= cutoff)


class RetentionRepository:
    """What prune and erasure delete, batch by batch, in the caller's session."""

    def __init__(self, session: Executor) -> None:
        self.session = session
        self.features = features(session)

    # -- generic: rows of one table, walked by an ordered key -----------------------

    def keys(
        self,
        keys: Sequence[InstrumentedAttribute[Any]],
        where: Sequence[ColumnElement[bool]],
        cursor: Cursor | None,
        limit: int,
        *,
        lock: bool = False,
    ) -> list[Cursor]:
        """Up to `limit` keys of the rows matching `where`, after `cursor`, in key
        order; with `lock`, the rows are locked until the transaction ends
        (PostgreSQL; SQLite writers hold the database write lock already)."""
        stmt = (
            select(*keys)
            .where(*where, *_after(self.features, keys, cursor))
            .order_by(*keys)
            .limit(limit)
        )
        if lock and self.features.row_locks:
            stmt = stmt.with_for_update()
        return [tuple(row) for row in self.session.execute(stmt)]

    def delete(
        self,
        table: Table,
        keys: Sequence[InstrumentedAttribute[Any]],
        chosen: Sequence[Cursor],
        where: Sequence[ColumnElement[bool]] = (),
    ) -> int:
        """Delete the chosen rows that (still) match `where`; how many went."""
        if not chosen:
            return 0
        result: Any = self.session.execute(delete(table).where(_keys_in(keys, chosen), *where))
        return int(result.rowcount)

    def count(
        self,
        keys: Sequence[InstrumentedAttribute[Any]],
        chosen: Sequence[Cursor],
        where: Sequence[ColumnElement[bool]] = (),
    ) -> int:
        if not chosen:
            return 0
        stmt = select(func.count()).where(_keys_in(keys, chosen), *where)
        return int(self.session.execute(stmt).scalar_one())

    # -- messages -----------------------------------------------------------------

    def message_ids_of_threads(self, thread_ids: Sequence[str], limit: int) -> list[str]:
        if not thread_ids:
            return []
        stmt = select(MessageRow.id).where(MessageRow.thread_id.in_(thread_ids)).limit(limit)
        return list(self.session.execute(stmt).scalars())

    def count_messages_of_threads(self, thread_ids: Sequence[str]) -> int:
        if not thread_ids:
            return 0
        stmt = select(func.count()).where(MessageRow.thread_id.in_(thread_ids))
        return int(self.session.execute(stmt).scalar_one())

    def message_ids_in_threads_of(self, resource_id: str, limit: int) -> list[str]:
        """Messages (of any resource) in the resource's threads."""
        threads = select(ThreadRow.id).where(ThreadRow.resource_id == resource_id)
        stmt = select(MessageRow.id).where(MessageRow.thread_id.in_(threads)).limit(limit)
        return list(self.session.execute(stmt).scalars())

    def delete_messages(self, message_ids: Sequence[str]) -> int:
        if not message_ids:
            return 0
        result: Any = self.session.execute(delete(MESSAGES).where(MessageRow.id.in_(message_ids)))
        return int(result.rowcount)

    # -- workflow runs ------------------------------------------------------------

    def live_runs(self, runs: Sequence[Cursor], *, hold: bool = False) -> set[tuple[str, str]]:
        """Which of these runs (`(workflow_name, run_id)` keys) hold a live run
        lock: a lease not yet expired, or a held advisory lock. With `hold`
        (before deleting the others), no new lock of any of them can be taken
        until this transaction ends (`rows.hold_for_delete`), so the answer
        stays true until then."""
        named = [(str(run[0]), str(run[1])) for run in runs]
        if not named:
            return set()
        if hold:
            rows.hold_for_delete(self.session, named)
        held = self.session.execute(
            select(WorkflowRunLockRow.workflow_name, WorkflowRunLockRow.run_id).where(
                tuple_(WorkflowRunLockRow.workflow_name, WorkflowRunLockRow.run_id).in_(named),
                WorkflowRunLockRow.holder.is_not(None),
            )
        ).all()
        if not held:
            return set()
        locks = session_locks(self.features)
        schema = ""
        if locks is not None:
            schema = self.session.execute(locks.current_schema).scalar_one() or ""
        live = set()
        for workflow_name, run_id in held:
            run = (workflow_name, run_id)
            key = locks.key(schema, *run) if locks is not None else 0
            if rows.read(self.session, rows.params(run, key=key)) is not None:
                live.add(run)
        return live

    # -- resources ----------------------------------------------------------------

    def delete_resource_row(self, resource_id: str) -> int:
        result: Any = self.session.execute(delete(RESOURCES).where(ResourceRow.id == resource_id))
        return int(result.rowcount)
