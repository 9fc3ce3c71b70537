"""Memory domain (Mastra's `memory` store): threads, messages and resources
(working memory)."""

from __future__ import annotations

import copy
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from ..clock import format_iso, monotonic_clock, one_ms_after, utc_now
from ..dialects import Executor, features
from ..domain import (
    IncludeItem,
    MastraDBMessage,
    MastraDBMessageInput,
    MessageFilter,
    MessagePage,
    MessageUpdate,
    StorageResource,
    StorageThread,
    ThreadClone,
    ThreadPage,
    check_paging,
    construct,
    new_id,
    page_info,
    parse,
)
from ..domain._base import set_fields_set
from ..errors import ConflictError, NotFoundError, ValidationError
from ..repositories import (
    MessageRepository,
    ResourceRepository,
    ThreadRepository,
    VectorRepository,
)
from ..values import MAX_OFFSET, json_object, whole_number
from ._inputs import (
    date_range_of,
    direction_of,
    ids_of,
    optional_dict,
    optional_string,
    optional_text,
    order_by_of,
    require_text,
    stamped,
    thread_ids_of,
)
from ._marks import (
    SHORT_READ_ROWS,
    point_read,
    short_read,
    single_statement,
    single_statement_when,
    single_statement_where,
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
    title = optional_string(title, "title")
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


@point_read
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
    title = optional_string(title, "title")
    updated = ThreadRepository(session).update(
        id, title=title, metadata=optional_dict(metadata, "metadata"), updated_at=utc_now()
    )
    if updated is None:
        raise NotFoundError(f"thread {id!r} not found")
    return updated


def clone_thread(
    session: Executor,
    *,
    source_thread_id: str,
    new_thread_id: str | None = None,
    resource_id: str | None = None,
    title: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    message_limit: int | None = None,
    message_filter: Any = None,
) -> ThreadClone:
    """Copy a thread and (some of) its messages to a new thread, as Mastra's
    `cloneThread`: see the facade for the rules."""
    require_text(source_thread_id, "source_thread_id")
    optional_text(new_thread_id, "new_thread_id")
    optional_text(resource_id, "resource_id")
    optional_string(title, "title")
    extra = optional_dict(metadata, "metadata")
    if message_limit is not None:
        message_limit = whole_number(message_limit, "message_limit", minimum=1, maximum=MAX_OFFSET)
    chosen = (
        None
        if message_filter is None
        else parse(MessageFilter, message_filter, what="message_filter")
    )
    if chosen is not None and chosen.message_ids is not None:
        ids_of(chosen.message_ids, "message_filter.message_ids")

    threads = ThreadRepository(session)
    # Locked as a writer of its messages does (FOR KEY SHARE): a concurrent
    # delete_thread waits for the copy, or has removed the thread already, so
    # the copy never holds part of it (the thread without its messages, or the
    # messages without Memory's vectors).
    source = threads.lock_for_messages([source_thread_id])[0].get(source_thread_id)
    if source is None:
        raise NotFoundError(f"thread {source_thread_id!r} not found")
    messages = MessageRepository(session)
    copied = messages.of_thread(
        source_thread_id,
        start=None if chosen is None else chosen.start_date,
        end=None if chosen is None else chosen.end_date,
        message_ids=None if chosen is None else chosen.message_ids,
        last=message_limit,
    )
    now = utc_now()
    clone_info: dict[str, Any] = {"sourceThreadId": source_thread_id, "clonedAt": format_iso(now)}
    if copied:
        clone_info["lastMessageId"] = copied[-1].id
    owner = resource_id or source.resource_id
    thread = threads.insert(
        StorageThread(
            id=new_thread_id or new_id(),
            resource_id=owner,
            title=title or (f"Clone of {source.title}" if source.title else ""),
            metadata={**(extra or {}), "clone": clone_info},
            created_at=now,
            updated_at=now,
        )
    )
    if thread is None:
        raise ConflictError(f"thread {new_thread_id!r} already exists")
    id_map = dict(zip((m.id for m in copied), ordered_ids(len(copied)), strict=True))
    cloned = [
        message.model_copy(
            update={"id": id_map[message.id], "thread_id": thread.id, "resource_id": owner}
        )
        for message in copied
    ]
    messages.upsert(cloned)
    VectorRepository(session).copy(id_map, thread.id, owner)  # Memory's recall index
    return ThreadClone(thread=thread, cloned_messages=cloned, message_id_map=id_map)


def ordered_ids(count: int) -> list[str]:
    """`count` new UUIDs (version 7 layout: time, then random bits) that sort
    in the order given, so copies of messages that share a `created_at` keep
    their order (ties are broken by id)."""
    now_ms = int(time.time() * 1000) & ((1 << 48) - 1)
    start = secrets.randbits(73)  # below 2**74 - count: the counter never wraps
    ids = []
    for offset in range(count):
        field = start + offset  # 74 bits: 12 in rand_a, 62 in rand_b
        value = ((now_ms << 80) | (0x7 << 76) | ((field >> 62) << 64) | (0b10 << 62)) | (
            field & ((1 << 62) - 1)
        )
        ids.append(str(uuid.UUID(int=value)))
    return ids


def update_thread_resource_id(
    session: Executor, *, thread_id: str, resource_id: str
) -> StorageThread:
    """Give a thread and all its messages to `resource_id`, atomically;
    `created_at` stays. Unknown thread: `NotFoundError`."""
    require_text(thread_id, "thread_id")
    require_text(resource_id, "resource_id")
    threads = ThreadRepository(session)
    # Exclusive: a message saved meanwhile would keep the old resource id.
    current = threads.get(thread_id, exclusive=True)
    if current is None:
        raise NotFoundError(f"thread {thread_id!r} not found")
    if current.resource_id == resource_id:
        return current
    VectorRepository(session).move_thread(thread_id, resource_id)  # Memory's recall index
    return threads.set_resource(thread_id, resource_id, utc_now())


def update_thread_metadata(
    session: Executor,
    *,
    id: str,
    update: Callable[[dict[str, Any]], Mapping[str, Any] | None],
    resource_id: str | None = None,
) -> StorageThread:
    """`update(metadata)` applied to the thread's metadata with the row locked
    until the transaction ends, so concurrent callers take turns."""
    require_text(id, "id")
    optional_text(resource_id, "resource_id")
    if not callable(update):
        raise ValidationError("update must be a function metadata -> metadata", field="update")
    threads = ThreadRepository(session)
    current = threads.get(id, for_update=True)
    if current is None or (resource_id is not None and current.resource_id != resource_id):
        raise NotFoundError(f"thread {id!r} not found")
    changed = update(copy.deepcopy(current.metadata or {}))
    if changed is None:
        return current
    if not isinstance(changed, Mapping):
        raise ValidationError(
            f"update must return a mapping, got {type(changed).__name__}", field="update"
        )
    # The same JSON value rules as metadata passed in (NaN, sets, depth, ...).
    return threads.replace_metadata(id, json_object(dict(changed), "metadata"), utc_now())


def delete_thread(session: Executor, *, thread_id: str) -> None:
    """The thread and its messages. The thread is locked first: a concurrent
    write of messages into it finishes before (and is deleted) or finds no
    thread after (and writes nothing); none is left behind."""
    require_text(thread_id, "thread_id")
    threads = ThreadRepository(session)
    threads.get(thread_id, exclusive=True)  # the lock; a missing thread's leftovers go too
    VectorRepository(session).delete_for_thread(thread_id)  # Memory's recall index
    MessageRepository(session).delete_in_thread(thread_id)
    threads.delete(thread_id)


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
    order = order_by_of(order_by)
    descending = direction_of(direction)
    filter_ = optional_dict(metadata, "metadata")
    threads, total = ThreadRepository(session).list(
        resource_id=resource_id,
        metadata=filter_,
        page=page,
        per_page=per_page,
        order_by=order,  # type: ignore[arg-type]
        descending=descending,
    )
    return ThreadPage(threads=threads, **page_info(total, page, per_page))


# -- messages ---------------------------------------------------------------------


def _carries_created_at(item: Any) -> bool:
    """Whether a message given to `save_messages` carries `created_at`, as
    pydantic reads it: a mapping's `createdAt` key first (when present, even
    None), else `created_at`; a model's field."""
    if type(item) is dict:
        value = item["createdAt"] if "createdAt" in item else item.get("created_at")
        return value is not None
    return isinstance(item, MastraDBMessageInput) and item.created_at is not None


def _all_dated(arguments: Mapping[str, Any]) -> bool:
    """Whether each message given to `save_messages` carries `created_at`
    (`_carries_created_at`, as its validation will read it); anything else
    says no."""
    messages = arguments.get("messages")
    if type(messages) is not list and type(messages) is not tuple:
        return False
    return all(_carries_created_at(item) for item in messages)


def _dated(item: Any) -> bool:
    """Whether `save_messages` validates `item` straight into the
    `MastraDBMessage` it returns: a mapping, or a `MastraDBMessage` (a
    caller's subclass of it too), that carries `created_at`. Any other model
    (a `MastraDBMessageInput`, a caller's subclass of it) is validated as the
    input model, so it keeps the id it was made with."""
    if type(item) is not dict and not isinstance(item, MastraDBMessage):
        return False
    return _carries_created_at(item)


@single_statement_where("writable_ctes", when=_all_dated)
def save_messages(session: Executor, *, messages: Sequence[Any]) -> list[MastraDBMessage]:
    """Upsert by id, all or nothing; see API.md for the rules."""
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Iterable):
        raise ValidationError("messages must be a list of messages", field="messages")
    parsed: dict[str, MastraDBMessageInput] = {}
    for index, item in enumerate(messages):
        # A dated one is made the stored model at once (the same checks: only
        # `created_at` is required there), which the save returns as it is.
        model = MastraDBMessage if _dated(item) else MastraDBMessageInput
        message = parse(model, item, what=f"messages[{index}]")
        require_text(message.thread_id, f"messages[{index}].thread_id")
        parsed.pop(message.id, None)  # a repeated id: the last one wins, at its place
        parsed[message.id] = message
    if not parsed:
        return []
    if features(session).writable_ctes and all(m.created_at is not None for m in parsed.values()):
        return _save_in_one_statement(session, list(parsed.values()))

    threads = ThreadRepository(session)
    known, last = threads.lock_for_messages(m.thread_id for m in parsed.values())
    missing = sorted({m.thread_id for m in parsed.values() if m.thread_id not in known})
    if missing:
        raise NotFoundError(f"thread {missing[0]!r} not found: save the thread before its messages")

    # A message without `created_at` gets now, but never earlier than 1 ms
    # after the thread's last message: one saved after another's save returned
    # sorts after it, from any process or machine (whatever its clock says).
    floor = {thread_id: one_ms_after(at) for thread_id, at in last.items()}
    ready = []
    for message in parsed.values():
        created_at = message.created_at
        if created_at is None:
            created_at = monotonic_clock.next()
            low = floor.get(message.thread_id)
            if low is not None and created_at < low:
                created_at = low
            floor[message.thread_id] = one_ms_after(created_at)
        ready.append(
            stored_message(
                message,
                created_at=created_at,
                resource_id=message.resource_id or known[message.thread_id].resource_id,
            )
        )
    # The threads first: that row lock orders this save against a prune or
    # erasure deleting a thread (the later one sees the other's outcome).
    if threads.touch(known, utc_now()) < len(known):
        raise NotFoundError("a thread of these messages was deleted meanwhile: nothing saved")
    stored = MessageRepository(session).upsert(ready)
    # `ready` holds copies of its own; only a message saved before changes here.
    for message in ready:
        stored_at = stored.get(message.id)
        if stored_at is not None and stored_at != message.created_at:
            message.created_at = stored_at
    return ready


def _save_in_one_statement(
    session: Executor, messages: list[MastraDBMessageInput]
) -> list[MastraDBMessage]:
    """`save_messages` of messages that each carry `created_at`, as one
    statement (`MessageRepository.save`): the outcome of the steps above."""
    found, stored = MessageRepository(session).save(messages, utc_now())
    thread_ids = {m.thread_id for m in messages}
    if len(found) < len(thread_ids):
        missing = sorted(thread_ids - found.keys())
        raise NotFoundError(f"thread {missing[0]!r} not found: save the thread before its messages")
    return [
        stored_message(
            message,
            created_at=stored.get(message.id) or cast(datetime, message.created_at),
            resource_id=message.resource_id or found[message.thread_id],
        )
        for message in messages
    ]


def stored_message(
    message: MastraDBMessageInput, *, created_at: datetime, resource_id: str | None
) -> MastraDBMessage:
    """The `MastraDBMessage` that saving `message` (made by `parse`: never
    the caller's object) stores: `message` itself where it is one with these
    values already, else one built without validating again what `parse`
    checked. Either way every field counts as set, as on a message read back."""
    if type(message) is MastraDBMessage:
        values = message.__dict__
        if values["created_at"] == created_at and values["resource_id"] == resource_id:
            set_fields_set(message, set(_MESSAGE_FIELDS))
            return message
    return construct(
        MastraDBMessage,
        {
            "id": message.id,
            "role": message.role,
            "content": message.content,
            "created_at": created_at,
            "thread_id": message.thread_id,
            "resource_id": resource_id,
            "type": message.type,
        },
    )


_MESSAGE_FIELDS = tuple(MastraDBMessage.model_fields)


def _no_windows(arguments: Mapping[str, Any]) -> bool:
    """A page read without `include` windows: one statement (`MessageRepository.page`)."""
    include = arguments.get("include")
    return include is None or (type(include) in (list, tuple) and not include)


def _short_page(arguments: Mapping[str, Any], key: str) -> str | None:
    """A page without windows nor a `metadata` filter (on SQLite a Python
    function parsing each message's content: work SQLite's steps do not
    measure), of at most `SHORT_READ_ROWS` messages, of the one thread or
    resource that argument `key` names: its id."""
    per_page = arguments.get("per_page", 40)
    if type(per_page) is not int or not 0 <= per_page <= SHORT_READ_ROWS:
        return None
    if arguments.get("metadata"):
        return None
    read = arguments.get(key)
    return read if type(read) is str and _no_windows(arguments) else None


def _short_thread_page(arguments: Mapping[str, Any]) -> str | None:
    return _short_page(arguments, "thread_id")


def _short_resource_page(arguments: Mapping[str, Any]) -> str | None:
    return _short_page(arguments, "resource_id")


@short_read(_short_thread_page)
@single_statement_when(_no_windows)
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


@short_read(_short_resource_page)
@single_statement_when(_no_windows)
def list_messages_by_resource_id(
    session: Executor, *, resource_id: str, **options: Any
) -> MessagePage:
    """As `list_messages`, across all of a resource's threads."""
    return _message_page(
        session, thread_ids=None, resource_id=require_text(resource_id, "resource_id"), **options
    )


MAX_BATCH = 10_000
"""Largest `batch_size` of `iter_messages`."""


@single_statement
def message_batch(
    session: Executor,
    *,
    thread_id: str | None,
    resource_id: str | None,
    after: tuple[datetime, str] | None,
    batch_size: int,
    direction: str = "ASC",
) -> list[MastraDBMessage]:
    """One batch of `iter_messages`: up to `batch_size` messages of a thread
    (or, with `thread_id` None, of a resource) just past `after`, the previous
    batch's last (created_at, id). One statement: a keyset page."""
    check_batch(thread_id, resource_id, batch_size, direction, by_resource=thread_id is None)
    return MessageRepository(session).after(
        thread_id=thread_id,
        resource_id=resource_id,
        cursor=after,
        limit=batch_size,
        descending=direction_of(direction),
    )


def check_batch(
    thread_id: str | None,
    resource_id: str | None,
    batch_size: int,
    direction: str,
    *,
    by_resource: bool = False,
) -> None:
    """The arguments of `iter_messages` (`iter_messages_by_resource_id` with
    `by_resource`): bad ones raise `ValidationError`."""
    direction_of(direction)
    if by_resource:
        require_text(resource_id, "resource_id")
    else:
        require_text(thread_id, "thread_id")
        optional_text(resource_id, "resource_id")
    whole_number(batch_size, "batch_size", minimum=1, maximum=MAX_BATCH)


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
    count_total: bool | None = None,
    include_total: bool | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> MessagePage:
    check_paging(page, per_page)
    counted = _count_option(count_total, include_total)
    wanted = optional_dict(metadata, "metadata")
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
        count_total=counted,
        metadata=wanted,
    )
    if windows:
        merged = {m.id: m for m in messages}
        for message in repository.context_windows(windows, resource_id):
            merged.setdefault(message.id, message)
        if has_more and len(merged) > len(messages):
            # The windows may already hold every message the page would go on to.
            has_more = _any_not_held(
                repository,
                merged,
                thread_ids=thread_ids,
                resource_id=resource_id,
                date_range=dates,
                metadata=wanted,
                total=total,
            )
        messages = sorted(merged.values(), key=lambda m: (m.created_at, m.id), reverse=descending)
    return MessagePage(
        messages=messages, total=total, page=page, per_page=per_page, has_more=has_more
    )


def _any_not_held(
    repository: MessageRepository,
    held: Iterable[str],
    *,
    thread_ids: list[str] | None,
    resource_id: str | None,
    date_range: Any,
    metadata: dict[str, Any] | None,
    total: int | None,
) -> bool:
    """Whether a message matching the page's filters is not among `held`: one
    `NOT IN ... LIMIT 1` read costing the messages held, not the thread's
    size; two counts when there are more ids than one statement binds."""
    filters: dict[str, Any] = {
        "thread_ids": thread_ids,
        "resource_id": resource_id,
        "date_range": date_range,
        "metadata": metadata,
    }
    found = repository.any_not_held(held, **filters)
    if found is not None:
        return found
    matching = total if total is not None else repository.count(**filters)
    return repository.count_matching(held, **filters) < matching


def _count_option(count_total: Any, include_total: Any) -> bool:
    """`include_total` (Mastra 1.x) and its alias `count_total`: default True."""
    for value, field in ((count_total, "count_total"), (include_total, "include_total")):
        if value is not None and not isinstance(value, bool):
            raise ValidationError(f"{field} must be True or False", field=field)
    if count_total is not None and include_total is not None and count_total != include_total:
        raise ValidationError(
            "include_total and its alias count_total disagree", field="include_total"
        )
    return next((v for v in (include_total, count_total) if v is not None), True)


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
    threads = ThreadRepository(session)
    ids = [u.id for u in updates]
    # Threads before messages, the order delete_thread takes them in (else
    # the two can deadlock: this call holding a message and touching its
    # thread, the delete holding the thread and deleting the message).
    involved = {str(m.thread_id) for m in repository.get_many(ids)}
    involved |= {u.thread_id for u in updates if u.thread_id is not None}
    # As save_messages: not into a deleted thread; and exclusive (a save's
    # lock), so a save into these threads waits for this call, or it for the
    # save, rather than each holding what the other wants.
    known, _ = threads.lock_for_messages(involved, exclusive=True)
    stored = {m.id: m for m in repository.get_many(ids, for_update=True)}
    moved_meanwhile = {str(m.thread_id) for m in stored.values()} - involved
    if moved_meanwhile:  # by a concurrent move: their threads are touched too
        known.update(threads.lock_for_messages(moved_meanwhile, exclusive=True)[0])
    targets = {u.thread_id for u in updates if u.thread_id is not None and u.id in stored}
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
    # Memory's recall index follows moves; a vector of replaced text is dropped.
    VectorRepository(session).follow(
        changed, stale={u.id for u in updates if u.content is not None and u.id in stored}
    )
    return changed


def delete_messages(session: Executor, *, message_ids: Sequence[str]) -> None:
    ids = ids_of(message_ids, "message_ids")
    # Their threads first, in delete_thread's order (see update_messages).
    repository = MessageRepository(session)
    ThreadRepository(session).lock_for_messages(
        (str(m.thread_id) for m in repository.get_many(ids)), exclusive=True
    )
    VectorRepository(session).delete_for_messages(ids)  # Memory's recall index
    touched = repository.delete_many(ids)
    ThreadRepository(session).touch(touched, utc_now())


# -- resources --------------------------------------------------------------------


@point_read
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
    working_memory = optional_string(working_memory, "working_memory")
    new_metadata = optional_dict(metadata, "metadata")
    repository = ResourceRepository(session)
    now = utc_now()
    current = repository.lock(resource_id, now) or StorageResource(id=resource_id, created_at=now)
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
