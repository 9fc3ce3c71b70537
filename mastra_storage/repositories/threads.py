"""Threads: `mastra_threads`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any, Literal, cast

from sqlalchemy import Select, Table, bindparam, delete, select, update
from sqlalchemy.sql.dml import Update

from ..dialects import (
    Executor,
    Features,
    features,
    id_chunks,
    ids_parameter,
    in_ids,
    insert_if_absent,
    json_contains,
    lock_rows,
    lock_rows_sends,
    updated_rows,
    upsert,
)
from ..direct import execute, prepare
from ..domain import StorageThread
from ..orm import MessageRow, ThreadRow
from ._common import count, from_row, paged, twin_pairs, twin_updates, with_twins

TABLE = cast(Table, ThreadRow.__table__)
PAIRS = twin_pairs(TABLE)
ORDER_COLUMNS = {"createdAt": ThreadRow.created_at, "updatedAt": ThreadRow.updated_at}

# Point reads: Core selects of the Table's columns, built once, with bound ids.
_C = TABLE.c
COLUMNS = (_C.id, _C.resourceId, _C.title, _C.metadata, _C.createdAt, _C.updatedAt)
_BY_ID = prepare(select(*COLUMNS).where(_C.id == bindparam("id")))
_BY_ID_FOR_UPDATE = _BY_ID.with_for_update()
"""FOR UPDATE: what a delete takes, so it waits for every writer into the thread."""
_BY_ID_FOR_MERGE = _BY_ID.with_for_update(key_share=True)
"""FOR NO KEY UPDATE: one metadata merge at a time; writers of the thread's
messages (FOR KEY SHARE) are not held up."""
_M = MessageRow.__table__.c
_LAST_MESSAGE_AT = (
    select(_M.createdAt)
    .where(_M.thread_id == _C.id)
    .order_by(_M.createdAt.desc(), _M.id.desc())
    .limit(1)
    .correlate(TABLE)
    .scalar_subquery()
)


@lru_cache(maxsize=4)
def _by_ids(feats: Features) -> Select[Any]:
    """The threads `ids` (`in_ids`)."""
    return select(*COLUMNS).where(in_ids(feats, _C.id, "ids"))


def _for_messages(feats: Features | None, lock: str) -> Select[Any]:
    """The threads `ids` (`in_ids`; `feats` None: the thread `:id`, without
    the expanding IN that SQLAlchemy re-renders on every execution) with each
    one's last message's `createdAt`; `lock`: "" (none), "key_share" or "update"."""
    where = _C.id == bindparam("id") if feats is None else in_ids(feats, _C.id, "ids")
    stmt = select(*COLUMNS, _LAST_MESSAGE_AT).where(where)
    if lock == "no_key_update":
        # FOR NO KEY UPDATE, in id order: what a save's statement and the
        # threads' touch take (PostgreSQL), so that writers who go on to
        # lock messages and then touch the threads (`update_messages`,
        # `delete_messages`) queue behind a save rather than deadlock with it.
        return stmt.order_by(_C.id).with_for_update(key_share=True, of=TABLE)
    if lock == "key_share":
        # FOR KEY SHARE (what a foreign key check takes): writers of messages
        # into one thread do not wait for each other, a delete of the thread
        # waits for them (and they for it).
        return stmt.with_for_update(read=True, key_share=True, of=TABLE)
    if lock == "update":
        # Where there is no FOR KEY SHARE (`Features.key_share_locks`): FOR
        # UPDATE, writers into one thread take turns (a shared lock would
        # deadlock them).
        return stmt.with_for_update(of=TABLE)
    return stmt


_FOR_ONE = {
    lock: prepare(_for_messages(None, lock))
    for lock in ("", "key_share", "no_key_update", "update")
}


@lru_cache(maxsize=16)
def _for_many(feats: Features, lock: str) -> Select[Any]:
    return prepare(_for_messages(feats, lock))


@lru_cache(maxsize=8)
def _touch_statement(feats: Features, many: bool) -> Update:
    """UPDATE of `updatedAt` (and its twin) to `:b_updatedAt`, of the thread
    `:b_id` (or, `many`, of the threads `:b_ids`), built once."""
    where = in_ids(feats, _C.id, "b_ids") if many else _C.id == bindparam("b_id")
    if many and feats.key_share_locks:
        # PostgreSQL: the rows locked in id order first (an UPDATE takes them
        # in the order its scan finds them), so that saves into several
        # shared threads do not deadlock. (MySQL's IN on the key is a range
        # scan in key order already, and refuses a subquery on the table.)
        where = _C.id.in_(
            select(_C.id).where(where).order_by(_C.id).with_for_update(key_share=True)
        )
    names = twin_updates(feats, PAIRS, ["updatedAt"])
    return prepare(
        update(TABLE).where(where).values({name: bindparam(f"b_{name}") for name in names})
    )


def to_thread(row: Sequence[Any]) -> StorageThread:
    return from_row(StorageThread, row)


class ThreadRepository:
    """Reads and writes threads in the caller's session; never commits."""

    def __init__(self, session: Executor) -> None:
        self.session = session

    @cached_property
    def features(self) -> Features:
        """The backend's; worked out on first use (a point read needs none)."""
        return features(self.session)

    def get(
        self, thread_id: str, *, for_update: bool = False, exclusive: bool = False
    ) -> StorageThread | None:
        """The thread, or None. `for_update` locks it against other updates
        until the transaction ends; `exclusive` against every writer of its
        messages too (see `lock_for_messages`): for a delete, or a change the
        messages written meanwhile would miss."""
        stmt = _BY_ID
        if for_update or exclusive:
            lock_rows(self.session, TABLE, _C.id == thread_id)
            if self.features.row_locks:
                stmt = _BY_ID_FOR_UPDATE if exclusive else _BY_ID_FOR_MERGE
        row = self.session.execute(stmt, {"id": thread_id}).first()
        return None if row is None else to_thread(row)

    def lock_for_messages(
        self, thread_ids: Iterable[str], *, exclusive: bool = False
    ) -> tuple[dict[str, StorageThread], dict[str, datetime]]:
        """Before writing messages into these threads: the threads that exist,
        locked until the transaction ends so that a concurrent `delete_thread`
        either waits for this write (and deletes what it wrote) or has already
        removed the thread (which is then missing here); and the `created_at`
        of each one's last message (threads with messages only), one index
        probe per thread."""
        ids = sorted(set(thread_ids))
        if not ids:
            return {}, {}
        if lock_rows_sends(self.session):  # its IN (...) costs more than the read
            for chunk in id_chunks(self.features, ids):
                lock_rows(self.session, TABLE, _C.id.in_(chunk))
        lock = (
            ""
            if not self.features.row_locks
            else ("no_key_update" if exclusive else "key_share")
            if self.features.key_share_locks
            else "update"
        )
        one = len(ids) == 1
        stmt = _FOR_ONE[lock] if one else _for_many(self.features, lock)
        key = ids_parameter(self.features, "ids")
        threads: dict[str, StorageThread] = {}
        last: dict[str, datetime] = {}
        # In id order, piece after piece: the locks are taken in one order.
        for chunk in [ids] if one else id_chunks(self.features, ids):
            params = {"id": chunk[0]} if one else {key: chunk}
            for row in execute(self.session, stmt, params).all():
                threads[row[0]] = to_thread(row[:-1])
                if row[-1] is not None:
                    last[row[0]] = row[-1]
        return threads, last

    def get_many(self, thread_ids: Iterable[str]) -> dict[str, StorageThread]:
        ids = sorted(set(thread_ids))
        if not ids:
            return {}
        found: dict[str, StorageThread] = {}
        stmt, key = _by_ids(self.features), ids_parameter(self.features, "ids")
        for chunk in id_chunks(self.features, ids):
            for row in self.session.execute(stmt, {key: chunk}).all():
                found[row[0]] = to_thread(row)
        return found

    def _values(self, thread: StorageThread) -> dict[str, Any]:
        return with_twins(
            self.features,
            PAIRS,
            {
                "id": thread.id,
                "resourceId": thread.resource_id,
                "title": thread.title,
                "metadata": thread.metadata,
                "createdAt": thread.created_at,
                "updatedAt": thread.updated_at,
            },
        )

    def insert(self, thread: StorageThread) -> StorageThread | None:
        """Insert a new thread; None (and nothing written) when the id exists."""
        stmt = insert_if_absent(self.features, TABLE, keys=["id"])
        row = self.session.execute(stmt.values(self._values(thread)).returning(*COLUMNS)).first()
        return None if row is None else to_thread(row)

    def save(self, thread: StorageThread) -> StorageThread:
        """Insert or replace by id; `created_at` stays as first saved."""
        values = self._values(thread)
        stmt = upsert(
            self.features,
            TABLE,
            keys=["id"],
            update_columns=twin_updates(
                self.features, PAIRS, ["resourceId", "title", "metadata", "updatedAt"]
            ),
        )
        row = self.session.execute(stmt.values(values).returning(*COLUMNS)).one()
        return to_thread(row)

    def update(
        self,
        thread_id: str,
        *,
        title: str | None,
        metadata: dict[str, Any] | None,
        updated_at: datetime,
    ) -> StorageThread | None:
        """Change title and/or merge metadata one level deep; None if unknown."""
        current = self.get(thread_id, for_update=True)
        if current is None:
            return None
        values: dict[str, Any] = {"updatedAt": updated_at}
        if title is not None:
            values["title"] = title
        if metadata is not None:
            values["metadata"] = {**(current.metadata or {}), **metadata}
        stmt = update(TABLE).where(ThreadRow.id == thread_id)
        stmt = stmt.values(with_twins(self.features, PAIRS, values))
        return to_thread(updated_rows(self.session, stmt, *COLUMNS)[0])

    def set_resource(self, thread_id: str, resource_id: str, updated_at: datetime) -> StorageThread:
        """Give an (existing) thread to another resource, its messages too."""
        from .messages import TABLE as MESSAGES

        self.session.execute(
            update(MESSAGES).where(MESSAGES.c.thread_id == thread_id).values(resourceId=resource_id)
        )
        values = with_twins(
            self.features, PAIRS, {"resourceId": resource_id, "updatedAt": updated_at}
        )
        stmt = update(TABLE).where(ThreadRow.id == thread_id).values(values)
        return to_thread(updated_rows(self.session, stmt, *COLUMNS)[0])

    def replace_metadata(
        self, thread_id: str, metadata: dict[str, Any] | None, updated_at: datetime
    ) -> StorageThread:
        """Set an (existing) thread's metadata as given."""
        values = with_twins(self.features, PAIRS, {"metadata": metadata, "updatedAt": updated_at})
        stmt = update(TABLE).where(ThreadRow.id == thread_id).values(values)
        return to_thread(updated_rows(self.session, stmt, *COLUMNS)[0])

    def touch(self, thread_ids: Iterable[str], updated_at: datetime) -> int:
        """Set `updated_at` of these threads; how many were found."""
        ids = sorted(set(thread_ids))
        if not ids:
            return 0
        params: dict[str, Any] = {
            f"b_{name}": updated_at for name in twin_updates(self.features, PAIRS, ["updatedAt"])
        }
        if len(ids) == 1:
            params["b_id"] = ids[0]
            result: Any = execute(self.session, _touch_statement(self.features, False), params)
            return int(result.rowcount)
        stmt = _touch_statement(self.features, True)
        key = ids_parameter(self.features, "b_ids")
        found = 0
        for chunk in id_chunks(self.features, ids):  # in id order: the locks too
            result = execute(self.session, stmt, {**params, key: chunk})
            found += int(result.rowcount)
        return found

    def delete(self, thread_id: str) -> None:
        self.session.execute(delete(TABLE).where(ThreadRow.id == thread_id))

    def list(
        self,
        *,
        resource_id: str | None,
        metadata: dict[str, Any] | None = None,
        page: int,
        per_page: int | None,
        order_by: Literal["createdAt", "updatedAt"],
        descending: bool,
    ) -> tuple[list[StorageThread], int]:
        """A page of threads; `metadata` keeps those whose metadata holds every
        given key with an equal value."""
        stmt: Select[Any] = select(*COLUMNS)
        if resource_id is not None:
            stmt = stmt.where(ThreadRow.resource_id == resource_id)
        if metadata:
            stmt = stmt.where(*json_contains(self.features, ThreadRow.metadata_, metadata))
        total = count(self.session, stmt)
        order = ORDER_COLUMNS[order_by]
        keys = (
            (order.desc(), ThreadRow.id.desc()) if descending else (order.asc(), ThreadRow.id.asc())
        )
        if per_page == 0:
            return [], total
        rows = self.session.execute(paged(stmt.order_by(*keys), page, per_page))
        return [to_thread(row) for row in rows], total
