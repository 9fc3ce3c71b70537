"""What `Memory.recall` reads, as one operation on a Session or Connection.

Without semantic recall it is a single statement: the thread (to check its
owner), its working memory and its last N messages, joined, so a recall costs
one round trip, like a plain last-N `list_messages`; marked so
(`single_statement_when`, `short_read`), the facades run it as they run a
last-N read: without BEGIN / COMMIT, on the event loop's thread (async
SQLite) for up to `SHORT_READ_ROWS` messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, select

from ..dialects import Executor
from ..direct import prepare
from ..domain import MastraDBMessage
from ..errors import NotFoundError, ValidationError
from ..operations import SHORT_READ_ROWS, short_read, single_statement_when
from ..orm import ResourceRow, ThreadRow
from ..repositories import MessageRepository
from ..repositories._common import AnySelect
from ..repositories.messages import COLUMNS as MESSAGE_COLUMNS
from ..repositories.messages import order_keys, to_message
from .embedders import Vectors
from .options import MemoryOptions
from .vectors import search

_T = cast(Table, ThreadRow.__table__).c
_R = cast(Table, ResourceRow.__table__).c
_M = MESSAGE_COLUMNS[0].table.c


@dataclass(frozen=True)
class MemoryContext:
    """What an agent's next turn needs from memory.

    `messages`: the thread's last `last_messages` messages plus the windows
    semantic recall found, oldest first, each once. `working_memory`: the
    stored text, the template when nothing is stored yet, None when working
    memory is off. `recalled_ids`: the ids semantic recall matched, best
    first (their windows are in `messages`)."""

    thread_id: str
    resource_id: str
    messages: list[MastraDBMessage] = field(default_factory=list)
    working_memory: str | None = None
    recalled_ids: list[str] = field(default_factory=list)


@lru_cache(maxsize=16)
def _history_statement(messages: bool, working_memory: str | None) -> AnySelect:
    """The thread's owner, its working memory (`working_memory`: "resource",
    "thread" or None) and, when `messages`, its last `:limit` messages, newest
    first; one row per message (one row when none)."""
    columns: list[Any] = [_T.resourceId]
    if working_memory == "resource":
        columns.append(_R.workingMemory)
    elif working_memory == "thread":
        columns.append(_T.metadata)
    stmt = select(*columns).select_from(_T.id.table)
    if working_memory == "resource":
        stmt = stmt.outerjoin(_R.id.table, _R.id == bindparam("resource_id"))
    if messages:
        last = (
            select(*MESSAGE_COLUMNS)
            # Exactly the plain last-N read, so it gets its plan (the thread
            # index, backwards): another filter here can make PostgreSQL sort
            # the whole thread or walk the resource's index instead. Messages
            # of another resource are dropped from the N rows afterwards.
            .where(_M.thread_id == bindparam("thread_id"))
            .order_by(*order_keys(descending=True))
            .limit(bindparam("limit", type_=Integer()))
            .subquery("last_messages")
        )
        # Joined on the thread id (true of every row of `last`): a constant ON
        # clause reads as a cartesian product to SQLAlchemy's linter on MySQL,
        # which renders it `ON true = 1`.
        stmt = stmt.add_columns(*last.c).outerjoin(last, last.c.thread_id == _T.id)
    return prepare(stmt.where(_T.id == bindparam("thread_id")))


def owner_check(thread_id: str, resource_id: str, owner: str | None) -> None:
    """NotFoundError for an unknown thread; ValidationError for another
    resource's thread (whose owner is not named)."""
    if owner is None:
        raise NotFoundError(f"thread {thread_id!r} not found")
    if owner != resource_id:
        raise ValidationError(
            f"thread {thread_id!r} does not belong to resource {resource_id!r}",
            field="resource_id",
        )


def working_memory_of(value: Any, scope: str, template: str) -> str:
    stored = value if scope == "resource" else (value or {}).get("workingMemory")
    return stored if isinstance(stored, str) and stored else template


def _history_only(arguments: Mapping[str, Any]) -> bool:
    """A recall without semantic recall (or without a query): one statement."""
    options = arguments.get("options")
    return arguments.get("query") is None or getattr(options, "semantic_recall", None) is None


def _short_history(arguments: Mapping[str, Any]) -> str | None:
    """A recall of one statement and at most `SHORT_READ_ROWS` messages: its
    thread id."""
    options = arguments.get("options")
    thread_id = arguments.get("thread_id")
    if (
        isinstance(options, MemoryOptions)
        and options.last_messages <= SHORT_READ_ROWS
        and type(thread_id) is str
        and _history_only(arguments)
    ):
        return thread_id
    return None


@short_read(_short_history)
@single_statement_when(_history_only)
def recall(
    session: Executor,
    *,
    thread_id: str,
    resource_id: str,
    options: MemoryOptions,
    query: Vectors | None,
) -> MemoryContext:
    """`Memory.recall` in one read transaction: history and working memory in
    one statement; with `query` (an embedded question) and semantic recall
    on, the scope's best matches and their windows as well."""
    working = options.working_memory
    shape = _history_statement(
        options.last_messages > 0, working.scope if working.enabled else None
    )
    params = {"thread_id": thread_id, "resource_id": resource_id, "limit": options.last_messages}
    rows = session.execute(shape, params).all()
    owner_check(thread_id, resource_id, rows[0][0] if rows else None)
    memory = (
        working_memory_of(rows[0][1], working.scope, working.template) if working.enabled else None
    )
    first = 2 if working.enabled else 1
    messages = (
        [
            to_message(row[first:])
            for row in rows
            # Mastra never writes another resource's message into a thread; if
            # one is there, it is not returned.
            if row[first] is not None and row[-1] == resource_id
        ]
        if options.last_messages > 0
        else []
    )
    recalled: list[str] = []
    recall_options = options.semantic_recall
    if recall_options is not None and query is not None:
        matches = search(
            session,
            query=query,
            thread_id=thread_id if recall_options.scope == "thread" else None,
            resource_id=resource_id,
            top_k=recall_options.top_k,
            threshold=recall_options.threshold,
        )
        recalled = [message_id for _, message_id in matches]
        windows = [
            (message_id, recall_options.before, recall_options.after) for message_id in recalled
        ]
        found = MessageRepository(session).context_windows(windows) if windows else []
        merged = {m.id: m for m in messages}
        for message in found:
            # The index may be stale (a message moved since): never another resource's.
            if message.resource_id == resource_id:
                merged.setdefault(message.id, message)
        messages = list(merged.values())
        recalled = [message_id for message_id in recalled if message_id in merged]
    messages.sort(key=lambda m: (m.created_at, m.id))
    return MemoryContext(
        thread_id=thread_id,
        resource_id=resource_id,
        messages=messages,
        working_memory=memory,
        recalled_ids=recalled,
    )


__all__ = ["MemoryContext", "owner_check", "recall", "working_memory_of"]
