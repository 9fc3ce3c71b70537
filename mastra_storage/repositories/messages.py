"""Messages: `mastra_messages`. Content is stored as Mastra's v2 JSON text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

import pydantic
from sqlalchemy import (
    Boolean,
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    Table,
    any_,
    bindparam,
    delete,
    func,
    literal_column,
    null,
    select,
    true,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql

from ..dialects import (
    Executor,
    Features,
    along_index,
    array_parameter,
    array_parameters,
    connection_of,
    features,
    id_chunks,
    ids_parameter,
    in_ids,
    json_contains,
    keyset_past,
    lock_rows,
    message_metadata,
    unnest_rows,
    upsert_many,
)
from ..direct import execute, prepare
from ..domain import DateRange, MastraDBMessage, MastraDBMessageInput, MessageContent, construct
from ..domain._base import is_plain, set_extra, set_fields_set, set_private
from ..domain.memory import READ_BACK
from ..orm import MessageRow, ThreadRow
from ..orm.types import dumps
from ..values import MAX_JSON_DEPTH
from ._common import AnySelect, chunks, twin_pairs, with_twins

TABLE = cast(Table, MessageRow.__table__)
PAIRS = twin_pairs(TABLE)
_UPDATED_ON_CONFLICT = ["thread_id", "content", "role", "type", "resourceId"]

# Reads select the Table's columns: a Core select runs without the ORM's
# per-statement loading machinery. The statements are built once per shape with
# bound parameters (below), not once per call.
_C = TABLE.c
COLUMNS = (_C.id, _C.thread_id, _C.content, _C.role, _C.type, _C.createdAt, _C.resourceId)


# What `values.json_value` would change or refuse in parsed JSON text: a
# (possibly lone) surrogate escape, NaN / Infinity, an exponent that may
# overflow to infinity. Text without them, and with fewer brackets than
# MAX_JSON_DEPTH, parses to exactly what json_value returns.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_BIG_EXPONENT = re.compile(r"[0-9][eE][+-]?[0-9]{3}")


def _walk_changes_nothing(text: str) -> bool:
    return (
        text.count("{") + text.count("[") < MAX_JSON_DEPTH
        and "NaN" not in text
        and "Infinity" not in text
        and ("\\u" not in text or not _SURROGATE_ESCAPE.search(text))
        and not _BIG_EXPONENT.search(text)
    )


def parse_content(text: str) -> MessageContent:
    """Stored content back to the model; text that is not JSON stays a string."""
    try:
        # Parsed and validated in one pass by pydantic (a third cheaper per
        # message read than json.loads + model_validate, with the same result);
        # the JSON value walk is left out where it provably changes nothing.
        if _walk_changes_nothing(text):
            return MessageContent.model_validate_json(text, context=READ_BACK)
        return MessageContent.model_validate_json(text)
    except pydantic.ValidationError:
        pass  # not JSON, or JSON that is not content as it stands: the long way
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = text
    if not isinstance(value, dict | list | str):
        value = text
    return MessageContent.model_validate(value)


def to_message(row: Sequence[Any]) -> MastraDBMessage:
    id_, thread_id, content, role, type_, created_at, resource_id = row
    values = {
        "id": id_,
        "role": role,
        "content": parse_content(content),
        "created_at": created_at,
        "thread_id": thread_id,
        "resource_id": resource_id,
        "type": type_,
    }
    if not _MESSAGE_IS_PLAIN:
        return construct(MastraDBMessage, values)
    # `construct`, inlined: this runs for every message read
    message = _new_message(MastraDBMessage)
    _set_attribute(message, "__dict__", values)
    set_fields_set(message, set(_MESSAGE_FIELDS))
    set_extra(message, None)
    set_private(message, None)
    return message


_MESSAGE_IS_PLAIN = is_plain(MastraDBMessage)
_MESSAGE_FIELDS = tuple(MastraDBMessage.model_fields)
_new_message = MastraDBMessage.__new__
_set_attribute = object.__setattr__


def date_filter(column: Any, date_range: DateRange | None) -> list[ColumnElement[bool]]:
    """`column` within `date_range` (bounds inclusive unless marked exclusive)."""
    if date_range is None:
        return []
    start_op, end_op = date_shape(date_range)
    clauses = []
    if start_op is not None:
        clauses.append(compare(column, start_op, date_range.start))
    if end_op is not None:
        clauses.append(compare(column, end_op, date_range.end))
    return clauses


def compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    """`column <op> value` for one of `>`, `>=`, `<`, `<=`."""
    if op == ">":
        return column > value  # type: ignore[no-any-return]
    if op == ">=":
        return column >= value  # type: ignore[no-any-return]
    if op == "<":
        return column < value  # type: ignore[no-any-return]
    return column <= value  # type: ignore[no-any-return]


# -- statements, built once per shape ---------------------------------------------------

ThreadFilter = int
"""How a read filters threads: 0 (none), 1 (`:thread_id`), 2 (`:thread_ids`, a list)."""
DateShape = tuple[str | None, str | None]
"""The date filter's operators: (`>`/`>=` or None, `<`/`<=` or None)."""


def date_shape(date_range: DateRange | None) -> DateShape:
    if date_range is None:
        return None, None
    start = None if date_range.start is None else (">" if date_range.start_exclusive else ">=")
    end = None if date_range.end is None else ("<" if date_range.end_exclusive else "<=")
    return start, end


@lru_cache(maxsize=64)
def _filtered(threads: ThreadFilter, resource: bool, dates: DateShape) -> AnySelect:
    """The message columns WHERE thread, resource and date filters, as bound
    parameters `thread_id` / `thread_ids`, `resource_id`, `start`, `end`."""
    stmt = select(*COLUMNS)
    if threads == 1:
        stmt = stmt.where(_C.thread_id == bindparam("thread_id"))
    elif threads == 2:
        stmt = stmt.where(_C.thread_id.in_(bindparam("thread_ids", expanding=True)))
    if resource:
        stmt = stmt.where(_C.resourceId == bindparam("resource_id"))
    for op, name in zip(dates, ("start", "end"), strict=True):
        if op is not None:
            stmt = stmt.where(compare(_C.createdAt, op, bindparam(name, type_=_C.createdAt.type)))
    return stmt


@lru_cache(maxsize=64)
def _count_statement(threads: ThreadFilter, resource: bool, dates: DateShape) -> AnySelect:
    """COUNT(*) of `_filtered`."""
    return prepare(
        _filtered(threads, resource, dates).with_only_columns(
            func.count(), maintain_column_froms=True
        )
    )


@lru_cache(maxsize=64)
def _count_in_statement(threads: ThreadFilter, resource: bool, dates: DateShape) -> AnySelect:
    """COUNT(*) of `_filtered` among the messages `:ids`."""
    return _count_statement(threads, resource, dates).where(
        _C.id.in_(bindparam("ids", expanding=True))
    )


@lru_cache(maxsize=128)
def _page_statement(
    threads: ThreadFilter, resource: bool, dates: DateShape, descending: bool, paged: bool
) -> AnySelect:
    """`_filtered` in thread order; `paged`: with `LIMIT :limit OFFSET :offset`."""
    stmt = _filtered(threads, resource, dates).order_by(*order_keys(descending))
    if paged:
        stmt = stmt.limit(bindparam("limit", type_=Integer())).offset(
            bindparam("offset", type_=Integer())
        )
    return prepare(stmt)


def counted_page(count: AnySelect, page: AnySelect, descending: bool) -> AnySelect:
    """One statement for a page and its total: `page`'s rows (the message
    columns, in thread order), each with `count`'s one value after them; a
    page past the end is one row of NULLs but the total. One statement sees
    one snapshot, so it needs no transaction of its own to be consistent
    (one trip, where the page and the COUNT took four with BEGIN and COMMIT).
    The outer ORDER BY sorts only the page's rows (the join keeps no order
    by any rule); the page itself is read along the thread index."""
    counted = count.subquery("counted")
    paged = page.subquery("paged")
    return (
        select(*paged.c, counted.c[0].label("total"))
        .select_from(counted.outerjoin(paged, true()))
        .order_by(*order_keys(descending, paged.c))
    )


@lru_cache(maxsize=128)
def _counted_page_statement(
    threads: ThreadFilter, resource: bool, dates: DateShape, descending: bool
) -> AnySelect:
    """`counted_page` of `_count_statement` and `_page_statement` (paged)."""
    return prepare(
        counted_page(
            _count_statement(threads, resource, dates),
            _page_statement(threads, resource, dates, descending, True),
            descending,
        )
    )


@lru_cache(maxsize=64)
def _any_statement(threads: ThreadFilter, resource: bool, dates: DateShape) -> AnySelect:
    # Ordered like a page, so the database walks the thread index, not the table.
    return prepare(
        _filtered(threads, resource, dates).order_by(*order_keys(descending=False)).limit(1)
    )


@lru_cache(maxsize=64)
def _unheld_statement(threads: ThreadFilter, resource: bool, dates: DateShape) -> AnySelect:
    """One message of `_filtered` not among `:ids`, in thread order: the database
    walks the thread index past at most the messages held."""
    return _any_statement(threads, resource, dates).where(
        _C.id.not_in(bindparam("ids", expanding=True))
    )


_KEY = (_C.createdAt, _C.id)
THREAD_INDEX = "mastra_messages_thread_id_createdat_id_idx"
"""(thread_id, createdAt, id): a thread's messages in order (Mastra's index)."""
"""A message's place in its thread: the keyset cursor's columns."""


@lru_cache(maxsize=16)
def _after_statement(
    feats: Features, threads: ThreadFilter, resource: bool, descending: bool, cursor: bool
) -> AnySelect:
    """Keyset paging: `_filtered` in thread order from just past the cursor
    (`:after_at`, `:after_id`), `LIMIT :limit`: an index range scan that costs
    the same however deep into the thread it starts."""
    stmt = _filtered(threads, resource, (None, None))
    if cursor:
        here = (
            bindparam("after_at", type_=_C.createdAt.type),
            bindparam("after_id", type_=_C.id.type),
        )
        stmt = along_index(
            stmt.where(keyset_past(feats, _KEY, here, after=not descending)), TABLE, THREAD_INDEX
        )
    return prepare(
        stmt.order_by(*order_keys(descending)).limit(bindparam("limit", type_=Integer()))
    )


@lru_cache(maxsize=8)
def _by_ids_statement(feats: Features, for_update: bool) -> AnySelect:
    """The messages `ids` (`in_ids`)."""
    stmt = select(*COLUMNS).where(in_ids(feats, _C.id, "ids"))
    return stmt.with_for_update() if for_update else stmt


@lru_cache(maxsize=64)
def _windows_statement(
    feats: Features, shape: tuple[tuple[bool, bool], ...], resource: bool = False
) -> CompoundSelect[Any]:
    """UNION ALL of cursor queries: for window `i` of `shape` (has messages
    before, has messages after), up to `:before_i` messages before and
    `:after_i` after the message (`:thread_i`, `:at_i`, `:id_i`) in its thread;
    `resource`: only messages of `:resource_id`."""
    parts = []
    for i, (before, after) in enumerate(shape):
        here = (
            bindparam(f"at_{i}", type_=_C.createdAt.type),
            bindparam(f"id_{i}", type_=_C.id.type),
        )
        same_thread = _C.thread_id == bindparam(f"thread_{i}", type_=_C.thread_id.type)
        if resource:
            same_thread = same_thread & (_C.resourceId == bindparam("resource_id"))
        # Before the message: newest first from it; after: oldest first.
        for wanted, side, forward in ((before, "before", False), (after, "after", True)):
            if not wanted:
                continue
            part = (
                select(*COLUMNS)
                .where(same_thread, keyset_past(feats, _KEY, here, after=forward))
                .order_by(*order_keys(descending=not forward))
                .limit(bindparam(f"{side}_{i}", type_=Integer()))
            )
            parts.append(along_index(part, TABLE, THREAD_INDEX))
    subqueries = [part.subquery() for part in parts]
    return union_all(*(select(*sub.c) for sub in subqueries))


# -- PostgreSQL: a save in one statement ----------------------------------------

_THREADS = cast(Table, ThreadRow.__table__)
_T = _THREADS.c


@lru_cache(maxsize=1)
def _save_statement() -> Select[Any]:
    """`save_messages` on PostgreSQL (`Features.writable_ctes`) of messages
    that each carry `created_at`, as one statement: atomic by itself, so it
    runs in autocommit, one round trip where a transaction of the same steps
    takes five (BEGIN, the threads' lock, the upsert, the threads'
    `updatedAt`, COMMIT). The steps:

    - `found`: the threads `:thread_ids`, locked in id order (FOR NO KEY
      UPDATE: saves into several threads take them in one order; a
      concurrent delete of one waits, or has removed it already);
    - unless all `:thread_count` are found, nothing else writes anything;
    - `touched`: their `updatedAt` (and twin) become `:now`;
    - `saved`: the upsert by id of the rows (one binary array per column,
      `unnest_rows`), `createdAt` kept on update, `resourceId` the
      thread's where not given;
    - the result: a row per thread found (id, `resourceId`, NULL), then one
      per message that was saved before (id, NULL, its kept `createdAt`).

    A message without `created_at` gets one after the thread's last message
    as of after the threads' lock (`operations.save_messages`), which a
    statement's snapshot, taken before that lock, would not see: such saves
    are transactions of their own steps.
    """
    found = (
        select(_T.id, _T.resourceId)
        .where(_T.id == any_(array_parameter("thread_ids", _T.id.type)))
        .order_by(_T.id)
        .with_for_update(key_share=True, of=_THREADS)
        .cte("found")
    )
    all_found = select(func.count()).select_from(found).scalar_subquery() == bindparam(
        "thread_count", type_=Integer()
    )
    now = bindparam("now", type_=_T.updatedAt.type)
    touched = (
        update(_THREADS)
        .where(_T.id.in_(select(found.c.id)), all_found)
        .values({"updatedAt": now, "updatedAtZ": func.timezone("UTC", now)})
        .returning(_T.id)
        .cte("touched")
    )
    row = unnest_rows(TABLE, _SAVED)
    rows = (
        select(
            row.c.id,
            row.c.thread_id,
            row.c.content,
            row.c.role,
            row.c.type,
            row.c.createdAt,
            func.timezone("UTC", row.c.createdAt),
            func.coalesce(row.c.resourceId, found.c.resourceId),
        )
        .join_from(row, found, found.c.id == row.c.thread_id)
        .where(all_found)
    )
    insert = postgresql.insert(TABLE).from_select([*_SAVED[:-1], "createdAtZ", "resourceId"], rows)
    saved = (
        insert.on_conflict_do_update(
            index_elements=["id"],
            set_={name: insert.excluded[name] for name in _UPDATED_ON_CONFLICT},
        )
        .returning(_C.id, _C.createdAt, literal_column("xmax = 0", Boolean()).label("inserted"))
        .cte("saved")
    )
    messages = select(saved.c.id, type_coerce(null(), _T.resourceId.type), saved.c.createdAt).where(
        ~saved.c.inserted
    )
    threads = select(found.c.id, found.c.resourceId, null())
    result = union_all(messages, threads).subquery("result")
    return prepare(select(*result.c).add_cte(touched))


_SAVED = ("id", "thread_id", "content", "role", "type", "createdAt", "resourceId")
"""The columns `_save_statement` is given an array of each."""


def _id_of(message: MastraDBMessageInput) -> str:
    return message.id


def filter_params(
    thread_ids: Sequence[str] | None, resource_id: str | None, date_range: DateRange | None
) -> tuple[tuple[ThreadFilter, bool, DateShape], dict[str, Any]]:
    """The shape of a read's filters, and their bound values."""
    params: dict[str, Any] = {}
    threads = 0
    if thread_ids is not None:
        if len(thread_ids) == 1:
            threads, params["thread_id"] = 1, thread_ids[0]
        else:
            threads, params["thread_ids"] = 2, list(thread_ids)
    if resource_id is not None:
        params["resource_id"] = resource_id
    if date_range is not None:
        if date_range.start is not None:
            params["start"] = date_range.start
        if date_range.end is not None:
            params["end"] = date_range.end
    return (threads, resource_id is not None, date_shape(date_range)), params


class MessageRepository:
    """Reads and writes messages in the caller's session; never commits."""

    def __init__(self, session: Executor) -> None:
        self.session = session
        self.features = features(session)

    def upsert(self, messages: Sequence[MastraDBMessage]) -> dict[str, datetime]:
        """Insert or update by id; returns each message's stored `created_at`
        (kept as first saved on update)."""
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
        statements = upsert_many(
            self.features,
            connection_of(self.session).dialect,
            TABLE,
            rows,
            keys=["id"],
            update_columns=_UPDATED_ON_CONFLICT,
            returning=("id", "createdAt"),
        )
        for stmt, params in statements:
            for id_, created_at in execute(self.session, stmt, params).all():
                stored[id_] = created_at
        return stored

    def save(
        self, messages: Sequence[MastraDBMessageInput], now: datetime
    ) -> tuple[dict[str, str | None], dict[str, datetime]]:
        """PostgreSQL (`Features.writable_ctes`): `save_messages`' writes in
        one statement (`_save_statement`): `messages` (ids unique, each with
        `created_at`) into their threads, if every one of those threads
        exists (else nothing is written); `now`: the threads' new
        `updatedAt`.

        Returns the threads found (id -> `resourceId`) and the stored
        `createdAt` of each message saved before (kept as first saved)."""
        thread_ids = sorted({message.thread_id for message in messages})
        arrays: dict[str, list[Any]] = {name: [] for name in _SAVED}
        ids, threads, contents, roles, types, created, resources = arrays.values()
        # By id: concurrent saves of the same messages lock their rows in one
        # order (no deadlock between them), as `found` does the threads.
        for message in sorted(messages, key=_id_of):
            ids.append(message.id)
            threads.append(message.thread_id)
            contents.append(dumps(message.content.to_stored()))
            roles.append(message.role)
            types.append(message.type)
            created.append(message.created_at)
            resources.append(message.resource_id or None)  # "" too: the thread's
        dialect = connection_of(self.session).dialect
        params: dict[str, Any] = array_parameters(dialect, TABLE, arrays)
        thread_arrays = {"thread_ids": thread_ids}
        params.update(array_parameters(dialect, _THREADS, thread_arrays, like={"thread_ids": "id"}))
        params["thread_count"] = len(thread_ids)
        params["now"] = now
        found: dict[str, str | None] = {}
        stored: dict[str, datetime] = {}
        for id_, resource_id, created_at in self.session.execute(_save_statement(), params).all():
            if created_at is None:
                found[id_] = resource_id
            else:
                stored[id_] = created_at
        return found, stored

    def get_many(
        self, message_ids: Iterable[str], *, for_update: bool = False
    ) -> list[MastraDBMessage]:
        """These messages (unknown ids left out), oldest first; `for_update`
        locks them until the transaction ends."""
        ids = sorted(set(message_ids))
        found: list[MastraDBMessage] = []
        stmt = _by_ids_statement(self.features, for_update and self.features.row_locks)
        key = ids_parameter(self.features, "ids")
        for chunk in id_chunks(self.features, ids, self.features.max_bind_params):
            if for_update:
                lock_rows(self.session, TABLE, _C.id.in_(chunk))
            rows = self.session.execute(stmt, {key: chunk}).all()
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
        count_total: bool = True,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[list[MastraDBMessage], int | None, bool]:
        """One page in (created_at, id) order, how many match (None unless
        `count_total`), and whether more follow.

        One statement, whatever the arguments: the page is an index range
        scan over (thread_id, createdAt, id); the total is a COUNT(*) in the
        same statement (`counted_page`), skipped with `count_total=False` so
        a last-N read costs the same on a thread of any size; with
        `per_page=None` the total is the number of messages read."""
        shape, params = filter_params(thread_ids, resource_id, date_range)
        if per_page == 0:
            if count_total:
                stmt = self._matching(_count_statement(*shape), metadata)
                total = int(execute(self.session, stmt, params).scalar_one())
                return [], total, bool(total)
            stmt = self._matching(_any_statement(*shape), metadata)
            return [], None, execute(self.session, stmt, params).first() is not None
        if per_page is None:
            # Every matching message: their number is the total.
            stmt = self._matching(_page_statement(*shape, descending, False), metadata)
            rows = [to_message(row) for row in execute(self.session, stmt, params).all()]
            return rows, len(rows) if count_total else None, False
        # One row past the page says whether more follow, without counting.
        window = {**params, "limit": per_page + 1, "offset": page * per_page}
        if not count_total:
            stmt = self._matching(_page_statement(*shape, descending, True), metadata)
            # .all(): one fetchall, not a driver fetchone per row; the row
            # past the page is not made a message.
            fetched = execute(self.session, stmt, window).all()
            return [to_message(row) for row in fetched[:per_page]], None, len(fetched) > per_page
        if metadata:
            stmt = counted_page(
                self._matching(_count_statement(*shape), metadata),
                self._matching(_page_statement(*shape, descending, True), metadata),
                descending,
            )
        else:
            stmt = _counted_page_statement(*shape, descending)
        fetched = execute(self.session, stmt, window).all()
        total = int(fetched[0][-1])  # the LEFT JOIN: a row even for no page
        if fetched[0][0] is None:
            return [], total, False
        messages = [to_message(row[:-1]) for row in fetched[:per_page]]
        return messages, total, len(fetched) > per_page

    def count_matching(
        self,
        message_ids: Iterable[str],
        *,
        thread_ids: Sequence[str] | None,
        resource_id: str | None,
        date_range: DateRange | None,
        metadata: dict[str, Any] | None = None,
    ) -> int:
        """How many of these messages match the filters of a page read."""
        shape, params = filter_params(thread_ids, resource_id, date_range)
        ids = sorted(set(message_ids))
        found = 0
        stmt = self._matching(_count_in_statement(*shape), metadata)
        for chunk in chunks(ids, self.features.max_bind_params - len(params) - 4):
            found += int(self.session.execute(stmt, {**params, "ids": list(chunk)}).scalar_one())
        return found

    def any_not_held(
        self,
        message_ids: Iterable[str],
        *,
        thread_ids: Sequence[str] | None,
        resource_id: str | None,
        date_range: DateRange | None,
        metadata: dict[str, Any] | None = None,
    ) -> bool | None:
        """Whether a message matching the filters of a page read is not among
        `message_ids` (None when there are more ids than one statement binds):
        what `count_matching(...) < count(...)` says, at the cost of the ids
        held rather than of the whole thread."""
        shape, params = filter_params(thread_ids, resource_id, date_range)
        ids = sorted(set(message_ids))
        if not ids or len(ids) + len(params) + 4 > self.features.max_bind_params:
            return None
        stmt = self._matching(_unheld_statement(*shape), metadata)
        return self.session.execute(stmt, {**params, "ids": ids}).first() is not None

    def count(
        self,
        *,
        thread_ids: Sequence[str] | None,
        resource_id: str | None,
        date_range: DateRange | None,
        metadata: dict[str, Any] | None = None,
    ) -> int:
        shape, params = filter_params(thread_ids, resource_id, date_range)
        stmt = self._matching(_count_statement(*shape), metadata)
        return int(self.session.execute(stmt, params).scalar_one())

    def _matching(self, stmt: AnySelect, metadata: dict[str, Any] | None) -> AnySelect:
        """`stmt` keeping only messages whose `content.metadata` holds each key
        of `metadata` with an equal value (not cached: the values are bound in)."""
        if not metadata:
            return stmt
        column = message_metadata(self.features, _C.content)
        return stmt.where(*json_contains(self.features, column, metadata))

    def of_thread(
        self,
        thread_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        message_ids: Sequence[str] | None = None,
        last: int | None = None,
    ) -> list[MastraDBMessage]:
        """A thread's messages oldest first, within `start`..`end` (inclusive),
        among `message_ids`, the last `last` of them."""
        stmt = select(*COLUMNS).where(_C.thread_id == thread_id)
        if start is not None:
            stmt = stmt.where(_C.createdAt >= start)
        if end is not None:
            stmt = stmt.where(_C.createdAt <= end)
        if message_ids is not None:  # by primary key, in chunks of bound ids
            found: list[MastraDBMessage] = []
            for chunk in chunks(sorted(set(message_ids)), self.features.max_bind_params - 8):
                rows = self.session.execute(stmt.where(_C.id.in_(list(chunk)))).all()
                found.extend(to_message(row) for row in rows)
            found.sort(key=lambda m: (m.created_at, m.id))
            return found if last is None else found[-last:]
        if last is not None:
            stmt = stmt.order_by(*order_keys(descending=True)).limit(last)
            return [to_message(row) for row in self.session.execute(stmt).all()][::-1]
        stmt = stmt.order_by(*order_keys(descending=False))
        return [to_message(row) for row in self.session.execute(stmt).all()]

    def after(
        self,
        *,
        thread_id: str | None,
        resource_id: str | None,
        cursor: tuple[datetime, str] | None,
        limit: int,
        descending: bool,
    ) -> list[MastraDBMessage]:
        """Up to `limit` messages in thread order just past `cursor` (the
        previous batch's last (created_at, id)), or from the start."""
        shape, params = filter_params(None if thread_id is None else [thread_id], resource_id, None)
        threads, resource, _ = shape
        if cursor is not None:
            params["after_at"], params["after_id"] = cursor
        params["limit"] = limit
        stmt = _after_statement(self.features, threads, resource, descending, cursor is not None)
        # .all(): one fetchall, not a driver fetchone per row.
        return [to_message(row) for row in self.session.execute(stmt, params).all()]

    def context_windows(
        self, windows: Sequence[tuple[str, int, int]], resource_id: str | None = None
    ) -> list[MastraDBMessage]:
        """For each (message id, n before, n after): that message and its
        neighbours in its own thread. Unknown ids add nothing; with
        `resource_id`, neither does a message of another resource, and the
        windows hold only that resource's messages.

        Two round trips whatever the count: the targets by primary key, then one
        UNION ALL of cursor queries, each a LIMITed range scan of the
        (thread_id, createdAt, id) index from the target outwards.
        """
        ids = sorted({message_id for message_id, _, _ in windows})
        targets = {
            m.id: m
            for m in self.get_many(ids)
            if resource_id is None or m.resource_id == resource_id
        }
        wanted = [
            (target, before, after)
            for message_id, before, after in windows
            if (target := targets.get(message_id)) is not None and (before > 0 or after > 0)
        ]
        found = list(targets.values())
        # A statement per `WINDOWS_PER_STATEMENT` windows: within every
        # backend's bound parameters and SQLite's 500 terms of a UNION.
        for start in range(0, len(wanted), WINDOWS_PER_STATEMENT):
            shape: list[tuple[bool, bool]] = []
            params: dict[str, Any] = {} if resource_id is None else {"resource_id": resource_id}
            for i, (target, before, after) in enumerate(
                wanted[start : start + WINDOWS_PER_STATEMENT]
            ):
                shape.append((before > 0, after > 0))
                params.update(
                    {
                        f"thread_{i}": target.thread_id,
                        f"at_{i}": target.created_at,
                        f"id_{i}": target.id,
                        f"before_{i}": before,
                        f"after_{i}": after,
                    }
                )
            stmt = _windows_statement(self.features, tuple(shape), resource_id is not None)
            found.extend(to_message(row) for row in self.session.execute(stmt, params).all())
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
        connection_of(self.session).execute(stmt, rows)

    def delete_many(self, message_ids: Iterable[str]) -> set[str]:
        """Delete these messages; returns the ids of the threads they were in."""
        ids = sorted(set(message_ids))
        threads: set[str] = set()
        where = in_ids(self.features, _C.id, "ids")
        stmt = delete(TABLE).where(where).returning(_C.thread_id)
        key = ids_parameter(self.features, "ids")
        for chunk in id_chunks(self.features, ids, self.features.max_bind_params):
            threads.update(self.session.execute(stmt, {key: chunk}).scalars())
        return threads

    def delete_in_thread(self, thread_id: str) -> None:
        self.session.execute(delete(TABLE).where(MessageRow.thread_id == thread_id))


WINDOWS_PER_STATEMENT = 100
"""`include` windows read by one UNION ALL statement (`context_windows`): two
parts and five bound parameters each at most."""


def order_keys(descending: bool, columns: Any = _C) -> tuple[Any, Any]:
    """Thread order: created_at, ties broken by id, the same on every page;
    of the table's columns, or of a subquery's (`columns`: its `.c`)."""
    created_at, id_ = columns.createdAt, columns.id
    if descending:
        return created_at.desc(), id_.desc()
    return created_at.asc(), id_.asc()


__all__ = ["COLUMNS", "MessageRepository", "order_keys", "parse_content", "to_message"]
