"""Memory domain (Mastra's `memory` store): threads, messages and resources
(working memory)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..clock import monotonic_clock, utc_now
from ..dialects import Executor
from ..domain import (
    IncludeItem,
    MastraDBMessage,
    MessagePage,
    MessageUpdate,
    StorageResource,
    StorageThread,
    ThreadPage,
    check_paging,
    page_info,
    parse,
)
from ..errors import ConflictError, NotFoundError, ValidationError
from ..repositories import MessageRepository, ResourceRepository, ThreadRepository
from ._inputs import (
    _ORDER_BY,
    date_range_of,
    direction_of,
    ids_of,
    optional_dict,
    optional_string,
    optional_text,
    require_text,
    stamped,
    thread_ids_of,
)

# -- threads ----------------------------------------------------------------------


def create_thread(
    session: Executor,
    *,
    resource_id: str,
    title: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    thread_id: str | None = None,
) -> StorageThread:
    """A new thread; an id that exists is refused with `ConflictError` and
    the stored thread is left as it is (`save_thread` is the upsert)."""
    require_text(resource_id, "resource_id")
    optional_string(title, "title")
    fields: dict[str, Any] = {
        "resource_id": resource_id,
        "title": title or "",
        "metadata": optional_dict(metadata, "metadata"),
    }
    if thread_id is not None:
        fields["id"] = require_text(thread_id, "thread_id")
    created = ThreadRepository(session).insert(stamped(parse(StorageThread, fields, what="thread")))
    if created is None:
        raise ConflictError(f"thread {thread_id!r} already exists")
    return created


def save_thread(session: Executor, *, thread: Any) -> StorageThread:
    return ThreadRepository(session).save(stamped(parse(StorageThread, thread, what="thread")))


def get_thread_by_id(
    session: Executor, *, thread_id: str, resource_id: str | None = None
) -> StorageThread | None:
    require_text(thread_id, "thread_id")
    thread = ThreadRepository(session).get(thread_id)
    if thread is None or (resource_id is not None and thread.resource_id != resource_id):
        return None
    return thread


def update_thread(
    session: Executor,
    *,
    id: str,
    title: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> StorageThread:
    require_text(id, "id")
    optional_string(title, "title")
    updated = ThreadRepository(session).update(
        id, title=title, metadata=optional_dict(metadata, "metadata"), updated_at=utc_now()
    )
    if updated is None:
        raise NotFoundError(f"thread {id!r} not found")
    return updated


def delete_thread(session: Executor, *, thread_id: str) -> None:
    require_text(thread_id, "thread_id")
    MessageRepository(session).delete_in_thread(thread_id)
    ThreadRepository(session).delete(thread_id)


def list_threads(
    session: Executor,
    *,
    resource_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    page: int = 0,
    per_page: int | None = 100,
    order_by: str = "createdAt",
    direction: str = "DESC",
) -> ThreadPage:
    optional_text(resource_id, "resource_id")
    check_paging(page, per_page)
    if order_by not in _ORDER_BY:
        raise ValidationError(
            f"order_by must be 'createdAt' or 'updatedAt', got {order_by!r}", field="order_by"
        )
    threads, total = ThreadRepository(session).list(
        resource_id=resource_id,
        metadata=optional_dict(metadata, "metadata"),
        page=page,
        per_page=per_page,
        order_by=_ORDER_BY[order_by],  # type: ignore[arg-type]
        descending=direction_of(direction),
    )
    return ThreadPage(threads=threads, **page_info(total, page, per_page))


# -- messages ---------------------------------------------------------------------


def save_messages(session: Executor, *, messages: Sequence[Any]) -> list[MastraDBMessage]:
    """Upsert by id, all or nothing; see API.md for the rules."""
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Iterable):
        raise ValidationError("messages must be a list of messages", field="messages")
    parsed: dict[str, MastraDBMessage] = {}
    built: set[int] = set()  # ids of the models made here (not the caller's objects)
    for index, item in enumerate(messages):
        message = parse(MastraDBMessage, item, what=f"messages[{index}]")
        require_text(message.thread_id, f"messages[{index}].thread_id")
        parsed.pop(message.id, None)  # a repeated id: the last one wins, at its place
        parsed[message.id] = message
        if message is not item:
            built.add(id(message))
    if not parsed:
        return []

    threads = ThreadRepository(session)
    known = threads.get_many(m.thread_id for m in parsed.values() if m.thread_id)
    missing = sorted({str(m.thread_id) for m in parsed.values() if m.thread_id not in known})
    if missing:
        raise NotFoundError(f"thread {missing[0]!r} not found: save the thread before its messages")

    ready = []
    for message in parsed.values():
        created_at = message.created_at or monotonic_clock.next()
        resource_id = message.resource_id or known[message.thread_id].resource_id  # type: ignore[index]
        if id(message) in built:  # ours: fill in place, as model_copy(update=) would
            message.created_at, message.resource_id = created_at, resource_id
            ready.append(message)
        else:
            update = {"created_at": created_at, "resource_id": resource_id}
            ready.append(message.model_copy(update=update))
    stored = MessageRepository(session).upsert(ready)
    threads.touch(known, utc_now())
    # `ready` holds copies of its own; only a message saved before changes here.
    return [
        m
        if (at := stored.get(m.id, m.created_at)) == m.created_at
        else m.model_copy(update={"created_at": at})
        for m in ready
    ]


def list_messages(
    session: Executor,
    *,
    thread_id: str | Sequence[str],
    resource_id: str | None = None,
    **options: Any,
) -> MessagePage:
    """`options`: include, page, per_page, date_range, direction, count_total."""
    return _message_page(
        session,
        thread_ids=thread_ids_of(thread_id),
        resource_id=optional_text(resource_id, "resource_id"),
        **options,
    )


def list_messages_by_resource_id(
    session: Executor, *, resource_id: str, **options: Any
) -> MessagePage:
    """As `list_messages`, across all of a resource's threads."""
    return _message_page(
        session, thread_ids=None, resource_id=require_text(resource_id, "resource_id"), **options
    )


def _windows_of(include: Sequence[Any] | None) -> list[tuple[str, int, int]]:
    """`include` items as (message id, n before, n after)."""
    if include is None:
        return []
    if isinstance(include, str | bytes | Mapping) or not isinstance(include, Iterable):
        raise ValidationError("include must be a list of {id, ...} items", field="include")
    windows = []
    for index, item in enumerate(include):
        parsed = parse(IncludeItem, item, what=f"include[{index}]")
        windows.append((parsed.id, parsed.with_previous_messages, parsed.with_next_messages))
    return windows


def _message_page(
    session: Executor,
    *,
    thread_ids: list[str] | None,
    resource_id: str | None,
    include: Sequence[Any] | None = None,
    page: int = 0,
    per_page: int | None = 40,
    date_range: Any = None,
    direction: str = "ASC",
    count_total: bool = True,
) -> MessagePage:
    check_paging(page, per_page)
    descending = direction_of(direction)
    windows = _windows_of(include)
    repository = MessageRepository(session)
    dates = date_range_of(date_range)
    messages, total, has_more = repository.page(
        thread_ids=thread_ids,
        resource_id=resource_id,
        date_range=dates,
        page=page,
        per_page=per_page,
        descending=descending,
        count_total=count_total,
    )
    if windows:
        merged = {m.id: m for m in messages}
        for message in repository.context_windows(windows, resource_id):
            merged.setdefault(message.id, message)
        if has_more and len(merged) > len(messages):
            # The windows may already hold every message the page would go on to.
            matching = (
                total
                if total is not None
                else repository.count(
                    thread_ids=thread_ids, resource_id=resource_id, date_range=dates
                )
            )
            held = repository.count_matching(
                merged, thread_ids=thread_ids, resource_id=resource_id, date_range=dates
            )
            has_more = held < matching
        messages = sorted(merged.values(), key=lambda m: (m.created_at, m.id), reverse=descending)
    return MessagePage(
        messages=messages, total=total, page=page, per_page=per_page, has_more=has_more
    )


def list_messages_by_id(session: Executor, *, message_ids: Sequence[str]) -> list[MastraDBMessage]:
    return MessageRepository(session).get_many(ids_of(message_ids, "message_ids"))


def update_messages(session: Executor, *, messages: Sequence[Any]) -> list[MastraDBMessage]:
    """Partial updates by id: content merged into the stored content (top-level
    keys; `content.metadata` one level deep); a new `thread_id` moves the
    message; old and new threads' `updated_at` become now. Unknown ids are
    skipped."""
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Iterable):
        raise ValidationError("messages must be a list of updates", field="messages")
    updates = [parse(MessageUpdate, item, what=f"messages[{i}]") for i, item in enumerate(messages)]
    if not updates:
        return []
    repository = MessageRepository(session)
    stored = {m.id: m for m in repository.get_many((u.id for u in updates), for_update=True)}
    threads = ThreadRepository(session)
    targets = {u.thread_id for u in updates if u.thread_id is not None and u.id in stored}
    known = threads.get_many(targets)
    missing = sorted(targets - known.keys())
    if missing:
        raise NotFoundError(f"thread {missing[0]!r} not found: cannot move messages there")

    touched: set[str] = set()
    for change in updates:
        current = stored.get(change.id)
        if current is None:
            continue
        touched.add(str(current.thread_id))
        stored[change.id] = updated = change.apply_to(current)
        touched.add(str(updated.thread_id))
    changed = [stored[u.id] for u in updates if u.id in stored]
    changed = list({m.id: m for m in changed}.values())
    repository.update_many(changed)
    threads.touch(touched, utc_now())
    return changed


def delete_messages(session: Executor, *, message_ids: Sequence[str]) -> None:
    ids = ids_of(message_ids, "message_ids")
    touched = MessageRepository(session).delete_many(ids)
    ThreadRepository(session).touch(touched, utc_now())


# -- resources --------------------------------------------------------------------


def get_resource_by_id(session: Executor, *, resource_id: str) -> StorageResource | None:
    require_text(resource_id, "resource_id")
    return ResourceRepository(session).get(resource_id)


def save_resource(session: Executor, *, resource: Any) -> StorageResource:
    model = parse(StorageResource, resource, what="resource")
    return ResourceRepository(session).save(stamped(model))


def update_resource(
    session: Executor,
    *,
    resource_id: str,
    working_memory: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> StorageResource:
    require_text(resource_id, "resource_id")
    optional_string(working_memory, "working_memory")
    new_metadata = optional_dict(metadata, "metadata")
    repository = ResourceRepository(session)
    now = utc_now()
    current = repository.get(resource_id, for_update=True) or StorageResource(
        id=resource_id, created_at=now
    )
    merged = {**(current.metadata or {}), **new_metadata} if new_metadata is not None else None
    return repository.save(
        current.model_copy(
            update={
                "working_memory": current.working_memory
                if working_memory is None
                else working_memory,
                "metadata": current.metadata if merged is None else merged,
                "updated_at": now,
            }
        )
    )
