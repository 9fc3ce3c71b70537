"""Messages: `mastra_messages`. Content is stored as Mastra's v2 JSON text."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    delete,
    literal,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from ..dialects import features, lock_rows, upsert
from ..domain import DateRange, MastraDBMessage, MessageContent
from ..orm import MessageRow
from ..orm.types import dumps
from ._common import AnySelect, chunks, count, twin_pairs, with_twins

TABLE = cast(Table, MessageRow.__table__)
PAIRS = twin_pairs(TABLE)
COLUMNS = (
    MessageRow.id,
    MessageRow.thread_id,
    MessageRow.content,
    MessageRow.role,
    MessageRow.type,
    MessageRow.created_at,
    MessageRow.resource_id,
)
_UPDATED_ON_CONFLICT = ["thread_id", "content", "role", "type", "resourceId"]


def parse_content(text: str) -> MessageContent:
    """Stored content back to the model; text that is not JSON stays a string."""
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = text
    if not isinstance(value, dict | list | str):
        value = text
    return MessageContent.model_validate(value)


def to_message(row: Sequence[Any]) -> MastraDBMessage:
    id_, thread_id, content, role, type_, created_at, resource_id = row
    return MastraDBMessage.model_construct(
        id=id_,
        role=role,
        content=parse_content(content),
        created_at=created_at,
        thread_id=thread_id,
        resource_id=resource_id,
        type=type_,
    )


def date_filter(column: Any, date_range: DateRange | None) -> list[ColumnElement[bool]]:
    if date_range is None:
        return []
    clauses: list[ColumnElement[bool]] = []
    if date_range.start is not None:
        clauses.append(
            column > date_range.start if date_range.start_exclusive else column >= date_range.start
        )
    if date_range.end is not None:
        clauses.append(
            column < date_range.end if date_range.end_exclusive else column <= date_range.end
        )
    return clauses


class MessageRepository:
    """Reads and writes messages in the caller's session; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.features = features(session)

    def upsert(self, messages: Sequence[MastraDBMessage]) -> dict[str, datetime]:
        """Insert or update by id; returns each message's stored `created_at`
        (kept as first saved on update)."""
        stmt = upsert(
            self.features,
            TABLE,
            keys=["id"],
            update_columns=_UPDATED_ON_CONFLICT,
        ).returning(MessageRow.id, MessageRow.created_at)
        rows = [
            with_twins(
                self.features,
                PAIRS,
                {
                    "id": message.id,
                    "thread_id": message.thread_id,
                    "content": dumps(message.content.to_stored()),
                    "role": message.role,
                    "type": message.type,
                    "createdAt": message.created_at,
                    "resourceId": message.resource_id,
                },
            )
            for message in messages
        ]
        stored: dict[str, datetime] = {}
        if rows:
            for id_, created_at in self.session.execute(stmt, rows):
                stored[id_] = created_at
        return stored

    def get_many(
        self, message_ids: Iterable[str], *, for_update: bool = False
    ) -> list[MastraDBMessage]:
        """These messages (unknown ids left out), oldest first; `for_update`
        locks them until the transaction ends."""
        ids = sorted(set(message_ids))
        found: list[MastraDBMessage] = []
        for chunk in chunks(ids, self.features.max_bind_params):
            where = MessageRow.id.in_(chunk)
            stmt = select(*COLUMNS).where(where)
            if for_update:
                lock_rows(self.session, TABLE, where)
                if self.features.row_locks:
                    stmt = stmt.with_for_update()
            found.extend(to_message(row) for row in self.session.execute(stmt))
        found.sort(key=lambda m: (m.created_at, m.id))
        return found

    def page(
        self,
        *,
        thread_ids: Sequence[str] | None,
        resource_id: str | None,
        date_range: DateRange | None,
        page: int,
        per_page: int | None,
        descending: bool,
        count_total: bool = True,
    ) -> tuple[list[MastraDBMessage], int | None, bool]:
        """One page in (created_at, id) order, how many match (None unless
        `count_total`), and whether more follow.

        The page is an index range scan over (thread_id, createdAt, id); the
        count is a separate COUNT(*), skipped with `count_total=False` so a
        last-N read costs the same on a thread of any size."""
        stmt = select(*COLUMNS)
        if thread_ids is not None:
            stmt = stmt.where(
                MessageRow.thread_id == thread_ids[0]
                if len(thread_ids) == 1
                else MessageRow.thread_id.in_(thread_ids)
            )
        if resource_id is not None:
            stmt = stmt.where(MessageRow.resource_id == resource_id)
        stmt = stmt.where(*date_filter(MessageRow.created_at, date_range))
        total = count(self.session, stmt) if count_total else None
        if per_page == 0:
            more = bool(total) if total is not None else self._any(stmt)
            return [], total, more
        ordered = stmt.order_by(*order_keys(descending))
        if per_page is None:
            rows = [to_message(row) for row in self.session.execute(ordered)]
            return rows, total, False
        # One row past the page says whether more follow, without counting.
        window = ordered.limit(per_page + 1).offset(page * per_page)
        rows = [to_message(row) for row in self.session.execute(window)]
        return rows[:per_page], total, len(rows) > per_page

    def _any(self, stmt: AnySelect) -> bool:
        # Ordered like a page, so the database walks the thread index, not the table.
        first = stmt.order_by(*order_keys(descending=False)).limit(1)
        return self.session.execute(first).first() is not None

    def context_windows(self, windows: Sequence[tuple[str, int, int]]) -> list[MastraDBMessage]:
        """For each (message id, n before, n after): that message and its
        neighbours in its own thread. Unknown ids add nothing.

        Two round trips whatever the count: the targets by primary key, then one
        UNION ALL of cursor queries, each a LIMITed range scan of the
        (thread_id, createdAt, id) index from the target outwards.
        """
        ids = sorted({message_id for message_id, _, _ in windows})
        targets = {m.id: m for m in self.get_many(ids)}
        parts = []
        for message_id, before, after in windows:
            target = targets.get(message_id)
            if target is None:
                continue
            cursor = tuple_(MessageRow.created_at, MessageRow.id)
            here = tuple_(
                literal(target.created_at, MessageRow.created_at.type),
                literal(target.id, MessageRow.id.type),
            )
            same_thread = MessageRow.thread_id == target.thread_id
            if before > 0:
                parts.append(
                    select(*COLUMNS)
                    .where(same_thread, cursor < here)
                    .order_by(*order_keys(descending=True))
                    .limit(before)
                )
            if after > 0:
                parts.append(
                    select(*COLUMNS)
                    .where(same_thread, cursor > here)
                    .order_by(*order_keys(descending=False))
                    .limit(after)
                )
        found = list(targets.values())
        if parts:
            subqueries = [part.subquery() for part in parts]
            stmt = union_all(*(select(*sub.c) for sub in subqueries))
            found.extend(to_message(row) for row in self.session.execute(stmt))
        return found

    def update_many(self, messages: Sequence[MastraDBMessage]) -> None:
        """Write every column but created_at of these (existing) messages."""
        rows = [
            {
                "b_id": message.id,
                "b_thread_id": message.thread_id,
                "b_content": dumps(message.content.to_stored()),
                "b_role": message.role,
                "b_type": message.type,
                "b_resource_id": message.resource_id,
            }
            for message in messages
        ]
        if not rows:
            return
        stmt = (
            update(TABLE)
            .where(MessageRow.id == bindparam("b_id"))
            .values(
                thread_id=bindparam("b_thread_id"),
                content=bindparam("b_content"),
                role=bindparam("b_role"),
                type=bindparam("b_type"),
                resourceId=bindparam("b_resource_id"),
            )
        )
        self.session.connection().execute(stmt, rows)

    def delete_many(self, message_ids: Iterable[str]) -> set[str]:
        """Delete these messages; returns the ids of the threads they were in."""
        ids = sorted(set(message_ids))
        threads: set[str] = set()
        for chunk in chunks(ids, self.features.max_bind_params):
            stmt = delete(TABLE).where(MessageRow.id.in_(chunk)).returning(MessageRow.thread_id)
            threads.update(self.session.execute(stmt).scalars())
        return threads

    def delete_in_thread(self, thread_id: str) -> None:
        self.session.execute(delete(TABLE).where(MessageRow.thread_id == thread_id))


def order_keys(descending: bool) -> tuple[Any, Any]:
    """Thread order: created_at, ties broken by id, the same on every page."""
    if descending:
        return MessageRow.created_at.desc(), MessageRow.id.desc()
    return MessageRow.created_at.asc(), MessageRow.id.asc()


__all__ = ["COLUMNS", "MessageRepository", "order_keys", "parse_content", "to_message"]
