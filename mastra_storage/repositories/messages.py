"""Messages: `mastra_messages`. Content is stored as Mastra's v2 JSON text."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, select
from sqlalchemy.orm import Session

from ..dialects import features, upsert
from ..domain import DateRange, MastraDBMessage, MessageContent
from ..orm import MessageRow
from ..orm.types import dumps
from ._common import chunks, count, paged, twin_pairs, with_twins

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

    def created_at_of(self, message_ids: Iterable[str]) -> dict[str, tuple[str, datetime]]:
        """(thread_id, created_at) of the stored messages among these ids."""
        ids = sorted(set(message_ids))
        found: dict[str, tuple[str, datetime]] = {}
        for chunk in chunks(ids, self.features.max_bind_params):
            stmt = select(MessageRow.id, MessageRow.thread_id, MessageRow.created_at).where(
                MessageRow.id.in_(chunk)
            )
            for id_, thread_id, created_at in self.session.execute(stmt):
                found[id_] = (thread_id, created_at)
        return found

    def get_many(self, message_ids: Iterable[str]) -> list[MastraDBMessage]:
        """These messages, oldest first."""
        ids = sorted(set(message_ids))
        found: list[MastraDBMessage] = []
        for chunk in chunks(ids, self.features.max_bind_params):
            rows = self.session.execute(select(*COLUMNS).where(MessageRow.id.in_(chunk)))
            found.extend(to_message(row) for row in rows)
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
    ) -> tuple[list[MastraDBMessage], int]:
        """One page of messages in (created_at, id) order, and how many match."""
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
        total = count(self.session, stmt)
        if per_page == 0:
            return [], total
        keys = (
            (MessageRow.created_at.desc(), MessageRow.id.desc())
            if descending
            else (MessageRow.created_at.asc(), MessageRow.id.asc())
        )
        rows = self.session.execute(paged(stmt.order_by(*keys), page, per_page))
        return [to_message(row) for row in rows], total

    def delete_in_thread(self, thread_id: str) -> None:
        self.session.execute(delete(TABLE).where(MessageRow.thread_id == thread_id))


__all__ = ["COLUMNS", "MessageRepository", "parse_content", "to_message"]
