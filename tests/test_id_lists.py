"""Calls that take a list of ids, with lists longer than one statement of any
backend carries (PostgreSQL: 65,535 bound parameters; SQLite: 32,766 bound
variables and 500 terms of a UNION; MariaDB: a 16 MiB packet): they work, with
the same result as a short list, or (`list_messages(thread_id=[...])`) are
refused with `ValidationError` before anything is sent. Writes stay atomic."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from conftest import Backend
from sqlalchemy import Engine, Table, event, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.util import await_
from support import PAST, UTC

from mastra_storage import MastraStorage, NotFoundError, ValidationError
from mastra_storage.dialects import array_parameters, unnest_rows
from mastra_storage.orm import MessageRow, ThreadRow
from mastra_storage.values import MAX_THREAD_IDS

BIG = ["sqlite-file", "postgresql", "mysql", "async-sqlite-file"]
"""The async PostgreSQL and MySQL classes run these very statements (the
sync facade's code in a greenlet): left out, for the suite's time (~5 min of
MySQL's 70,000-id updates). The async SQLite class runs on an engine of its
own (`sqlite_worker`), so it is here."""
SIZES = {"sqlite": 33_000, "postgresql": 66_000, "mysql": 70_000}
"""Ids per list: more than SQLite's default 32,766 bound variables, than
PostgreSQL's 65,535 bound parameters, than MariaDB's 16 MiB packet holds
(`MYSQL_ID_LENGTH`)."""
SQLITE_DEFAULT_VARIABLES = 32_766
"""SQLite's default `SQLITE_MAX_VARIABLE_NUMBER` (3.32+); a distribution's
build may allow more (Debian's: 250,000), so the tests set this one."""
MYSQL_ID_LENGTH = 250
"""On MySQL/MariaDB the driver inlines the values: 70,000 ids this long make a
statement larger than MariaDB's default 16 MiB `max_allowed_packet`."""
THREADS = cast(Table, ThreadRow.__table__)
MESSAGES = cast(Table, MessageRow.__table__)
RECENT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Big:
    storage: MastraStorage
    engine: Engine
    backend: Backend

    @property
    def n(self) -> int:
        return SIZES[self.backend.name.split("-")[0]]

    def id(self, prefix: str, number: int) -> str:
        """Ids that sort in `number` order; long ones on MySQL."""
        name = f"{prefix}-{number:06d}"
        return name.ljust(MYSQL_ID_LENGTH, "x") if self.backend.is_mysql else name

    def insert_threads(
        self, ids: Sequence[str], *, resource_id: str = "r", at: datetime = RECENT
    ) -> None:
        """One bulk statement (an executemany), not a save per thread."""
        twins = self.backend.is_postgres
        rows = []
        for id_ in ids:
            row: dict[str, Any] = {
                "id": id_,
                "resourceId": resource_id,
                "title": "",
                "createdAt": at,
                "updatedAt": at,
            }
            if twins:
                row["createdAtZ"] = row["updatedAtZ"] = at
            rows.append(row)
        self._insert(THREADS, rows)

    def insert_messages(
        self, pairs: Sequence[tuple[str, str]], *, resource_id: str = "r", start: datetime = PAST
    ) -> None:
        """(message id, thread id) pairs, each a second after the one before."""
        twins = self.backend.is_postgres
        content = json.dumps({"format": 2, "parts": [{"type": "text", "text": "hi"}]})
        rows = []
        for number, (id_, thread_id) in enumerate(pairs):
            at = start + timedelta(seconds=number)
            row: dict[str, Any] = {
                "id": id_,
                "thread_id": thread_id,
                "content": content,
                "role": "user",
                "type": "v2",
                "createdAt": at,
                "resourceId": resource_id,
            }
            if twins:
                row["createdAtZ"] = at
            rows.append(row)
        self._insert(MESSAGES, rows)

    def _insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """One statement: PostgreSQL, an INSERT from `unnest` of an array per
        column; elsewhere an executemany (a multi-row INSERT on MySQL)."""
        with self.engine.begin() as conn:
            if not self.backend.is_postgres:
                conn.execute(table.insert(), rows)
                return
            columns = list(rows[0])
            source = unnest_rows(table, columns)
            arrays = {name: [row[name] for row in rows] for name in columns}
            stmt = postgresql.insert(table).from_select(columns, select(*source.c))
            conn.execute(stmt, array_parameters(conn.dialect, table, arrays))

    def count(self, table: Table, *where: Any) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar())


def _default_sqlite_limit(storage: Any) -> None:
    """Every SQLite connection of the storage gets SQLite's default limit of
    bound variables, whatever this machine's build allows."""
    inner_storage = getattr(storage, "storage", storage)
    engine = getattr(inner_storage.engine, "sync_engine", inner_storage.engine)
    if engine.dialect.name != "sqlite":
        return
    limit = sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER
    engines = [engine]
    worker = getattr(inner_storage, "_worker", None)  # async SQLite's own thread
    if worker is not None:
        engines.append(worker.engine)
    for each in engines:
        event.listen(each, "connect", _lower(limit))


def _lower(limit: int) -> Any:
    def lower(dbapi_connection: Any, _record: Any) -> None:
        inner = getattr(dbapi_connection, "_connection", None)
        if inner is None:  # pysqlite: the sqlite3 connection itself
            dbapi_connection.setlimit(limit, SQLITE_DEFAULT_VARIABLES)
        else:  # aiosqlite: on its own thread
            await_(inner._execute(inner._conn.setlimit, limit, SQLITE_DEFAULT_VARIABLES))

    return lower


@pytest.fixture
def big(backend: Backend) -> Iterator[Big]:
    storage = backend.make()
    _default_sqlite_limit(storage)
    storage.init()
    yield Big(storage, storage.engine, backend)


# -- list_messages(thread_id=[...]): a documented cap --------------------------------


@pytest.mark.parametrize("backend", BIG, indirect=True)
def test_thread_id_list_over_the_cap_is_refused(big: Big) -> None:
    ids = [big.id("t", number) for number in range(MAX_THREAD_IDS + 1)]
    with pytest.raises(ValidationError) as raised:
        big.storage.list_messages(thread_id=ids)
    assert raised.value.field == "thread_id"
    assert str(MAX_THREAD_IDS) in str(raised.value)
    with pytest.raises(ValidationError):
        big.storage.list_messages(thread_id=[big.id("t", number) for number in range(big.n)])


@pytest.mark.parametrize("backend", BIG, indirect=True)
def test_thread_id_list_at_the_cap_works(big: Big) -> None:
    ids = [big.id("t", number) for number in range(MAX_THREAD_IDS)]
    big.insert_threads(ids)
    big.insert_messages([(big.id("m", number), id_) for number, id_ in enumerate(ids)])
    # Repeats count once: as many distinct ids as the cap, and more entries.
    page = big.storage.list_messages(thread_id=ids + ids[:10], per_page=None)
    assert [m.id for m in page.messages] == [big.id("m", n) for n in range(MAX_THREAD_IDS)]
    assert page.total == MAX_THREAD_IDS


# -- include: context windows ------------------------------------------------------


@pytest.mark.parametrize("backend", BIG, indirect=True)
def test_include_windows_beyond_one_statement(big: Big) -> None:
    # 14,000 windows of one message either side: 70,000 bound values in one
    # UNION ALL of 28,000 parts, each window naming long ids on MySQL.
    windows = 14_000
    big.insert_threads(["thread", "other"])
    ids = [big.id("m", number) for number in range(4 * windows)]
    big.insert_messages([(id_, "thread") for id_ in ids])
    big.insert_messages([("other-message", "other")], start=RECENT)
    include = [
        {"id": ids[4 * k + 1], "with_previous_messages": 1, "with_next_messages": 1}
        for k in range(windows)
    ]
    page = big.storage.list_messages(
        thread_id="other", per_page=None, include=include, include_total=False
    )
    expected = ["other-message"] + [id_ for n, id_ in enumerate(ids) if n % 4 != 3]
    got = [m.id for m in page.messages]
    assert sorted(got) == sorted(expected)
    assert len(got) == len(set(got))
    created = [m.created_at for m in page.messages]
    assert created == sorted(created)
    assert page.messages[-1].id == "other-message"


# -- writes into very many threads ---------------------------------------------------


def _threads_with_one_message(big: Big) -> tuple[list[str], list[str]]:
    threads = [big.id("t", number) for number in range(big.n)]
    messages = [big.id("m", number) for number in range(big.n)]
    big.insert_threads(threads, at=PAST)
    big.insert_messages(list(zip(messages, threads, strict=True)))
    return threads, messages


@pytest.mark.parametrize("backend", BIG, indirect=True)
def test_save_messages_into_very_many_threads(big: Big) -> None:
    threads = [big.id("t", number) for number in range(big.n)]
    messages = [
        {"id": big.id("m", n), "thread_id": thread_id, "role": "user", "content": "hi"}
        for n, thread_id in enumerate(threads)
    ]
    big.insert_threads(threads[:-1], at=PAST)
    # The last thread does not exist: nothing is saved, no thread touched.
    with pytest.raises(NotFoundError):
        big.storage.save_messages(messages=messages)
    assert big.count(MESSAGES) == 0
    assert big.count(THREADS, THREADS.c.updatedAt == PAST) == big.n - 1

    big.insert_threads(threads[-1:], at=PAST)
    saved = big.storage.save_messages(messages=messages)
    assert [m.id for m in saved] == [m["id"] for m in messages]
    assert big.count(MESSAGES) == big.n
    assert big.count(THREADS, THREADS.c.updatedAt == PAST) == 0  # every thread touched


@pytest.mark.parametrize("backend", BIG, indirect=True)
def test_delete_messages_across_very_many_threads(big: Big) -> None:
    _, messages = _threads_with_one_message(big)
    big.insert_threads(["keep"], at=PAST)
    big.insert_messages([("kept", "keep")], start=RECENT)
    # (Read in pieces already before: a guard that it stays so.)
    found = big.storage.list_messages_by_id(message_ids=[*reversed(messages), *messages[:5]])
    assert [m.id for m in found] == messages  # oldest first, once each
    big.storage.delete_messages(message_ids=messages)
    assert big.count(MESSAGES) == 1
    assert big.storage.list_messages_by_id(message_ids=["kept"])[0].id == "kept"
    assert big.count(THREADS, THREADS.c.updatedAt == PAST) == 1  # only "keep" untouched


@pytest.mark.parametrize("backend", BIG, indirect=True)
def test_update_messages_across_very_many_threads(big: Big) -> None:
    _, messages = _threads_with_one_message(big)
    big.insert_threads(["keep"], at=PAST)
    big.insert_messages([("kept", "keep")], start=RECENT)
    updates: list[dict[str, Any]] = [
        {"id": id_, "content": {"metadata": {"seen": True}}} for id_ in messages
    ]
    # One moves to a thread that does not exist: nothing changes.
    with pytest.raises(NotFoundError):
        big.storage.update_messages(messages=[*updates, {"id": "kept", "thread_id": "nowhere"}])
    assert all(m.content.metadata in (None, {}) for m in _three(big, [messages[0], messages[-1]]))
    assert big.count(THREADS, THREADS.c.updatedAt == PAST) == big.n + 1

    changed = big.storage.update_messages(messages=updates)
    assert [m.id for m in changed] == messages
    assert all(m.content.metadata == {"seen": True} for m in changed)
    kept, first, last = _three(big, ["kept", messages[0], messages[-1]])
    assert kept.content.metadata in (None, {})
    assert first.content.metadata == {"seen": True} == last.content.metadata
    assert big.count(THREADS, THREADS.c.updatedAt == PAST) == 1  # only "keep" untouched


def _three(big: Big, ids: list[str]) -> list[Any]:
    found = {m.id: m for m in big.storage.list_messages_by_id(message_ids=ids)}
    return [found[id_] for id_ in ids]


# -- retention --------------------------------------------------------------------


@pytest.mark.parametrize("backend", BIG, indirect=True)
def test_prune_in_batches_larger_than_one_statement(big: Big) -> None:
    _threads_with_one_message(big)
    big.insert_threads(["new"], at=RECENT)
    big.insert_messages([("new-message", "new")], start=RECENT)
    report = big.storage.prune(
        older_than="1000d",
        domains=("threads",),
        batch_size=100_000,
    )
    assert report.counts.get("threads") == big.n
    assert report.counts.get("messages") == big.n
    assert big.count(THREADS) == 1
    assert big.count(MESSAGES) == 1


@pytest.mark.parametrize("backend", BIG, indirect=True)
def test_delete_resource_in_batches_larger_than_one_statement(big: Big) -> None:
    _threads_with_one_message(big)
    big.insert_threads(["other"], resource_id="someone-else")
    big.insert_messages([("other-message", "other")], resource_id="someone-else")
    report = big.storage.delete_resource(resource_id="r", batch_size=100_000)
    assert report.counts.get("threads") == big.n
    assert report.counts.get("messages") == big.n
    assert big.count(THREADS) == 1
    assert big.count(MESSAGES) == 1
