"""Inside the storage's own transactions on SQLite, the hot statements (a
save's thread lock, touch and upsert; a page read's count and page) run on
the connection's DBAPI cursor directly (`direct.execute`): the same results,
atomicity and errors as through SQLAlchemy, and nothing watched is
bypassed. The atomicity tests run on every backend."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import Backend
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from support import PAST, at

from mastra_storage import (
    AsyncDefaultStorage,
    DefaultStorage,
    MastraStorage,
    direct,
)
from mastra_storage.dialects import MAX_VALUES_ROWS
from mastra_storage.errors import StorageError
from mastra_storage.repositories import messages as message_repository
from mastra_storage.repositories import threads as thread_repository


def batch(count: int, *, thread_id: str = "t1", first: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "id": f"m{i:04d}",
            "thread_id": thread_id,
            "role": "user" if i % 2 else "assistant",
            "content": f"message {i}",
            "created_at": at(i),
        }
        for i in range(first, first + count)
    ]


@pytest.fixture
def sqlite_storage(tmp_path: Path) -> Iterator[DefaultStorage]:
    # One pooled connection: the one the trace below watches.
    with DefaultStorage(url=f"file:{tmp_path / 'db.sqlite'}", pool_size=1, max_overflow=0) as s:
        s.init()
        s.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t", "updated_at": PAST})
        yield s


@contextmanager
def traced(storage: DefaultStorage) -> Iterator[list[str]]:
    """The SQL SQLite itself runs on the storage's one pooled connection."""
    sent: list[str] = []
    raw: Any = storage.engine.raw_connection()
    raw.driver_connection.set_trace_callback(sent.append)
    raw.close()
    try:
        yield sent
    finally:
        raw = storage.engine.raw_connection()
        raw.driver_connection.set_trace_callback(None)
        raw.close()


@contextmanager
def through_sqlalchemy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The statements a SQLAlchemy Connection executed (no event: watching
    through an event would itself turn the direct path off)."""
    ran: list[str] = []
    original = Connection.execute

    def spy(self: Connection, statement: Any, *args: Any, **kwargs: Any) -> Any:
        ran.append(str(statement))
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "execute", spy)
    yield ran


@contextmanager
def direct_results(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """For each statement the repositories ran through `direct.execute`:
    whether it ran directly."""
    ran: list[bool] = []

    def spy(session: Any, statement: Any, parameters: Any) -> Any:
        result = direct.execute(session, statement, parameters)
        ran.append(isinstance(result, direct.DirectResult))
        return result

    monkeypatch.setattr(message_repository, "execute", spy)
    monkeypatch.setattr(thread_repository, "execute", spy)
    yield ran


def test_a_save_and_a_page_run_directly_each_in_one_transaction(
    sqlite_storage: DefaultStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    with traced(sqlite_storage) as sent, through_sqlalchemy(monkeypatch) as ran:
        saved = sqlite_storage.save_messages(messages=batch(3))
        saving = list(sent)
        sent.clear()
        page = sqlite_storage.list_messages(thread_id="t1", page=0, per_page=2)
        paging = list(sent)
        sent.clear()
        assert ran == []
        windowed = sqlite_storage.list_messages(
            thread_id="t1", page=0, per_page=1, include=[{"id": "m0002"}]
        )
    assert saving[0] == "BEGIN IMMEDIATE" and saving[-1] == "COMMIT"
    assert [s.split()[0] for s in saving[1:-1]] == ["SELECT", "UPDATE", "INSERT"]
    assert "RETURNING" in saving[3]
    # A page and its total: one statement, a transaction by itself.
    assert len(paging) == 1 and paging[0].startswith("SELECT") and "count(" in paging[0]
    # With a window: the page (directly), then the window's statements
    # (through SQLAlchemy: an IN list), in one read transaction.
    assert sent[0] == "BEGIN" and sent[-1] == "COMMIT" and "count(" in sent[1]
    assert {s.split()[0] for s in sent[1:-1]} == {"SELECT"} and len(sent) > 3
    assert ran and "count(" not in "".join(ran)
    assert [m.id for m in saved] == ["m0000", "m0001", "m0002"]
    assert [m.id for m in page.messages] == ["m0000", "m0001"]
    assert (page.total, page.has_more) == (3, True)
    assert [m.id for m in windowed.messages] == ["m0000", "m0002"]
    assert (windowed.total, windowed.has_more) == (3, True)
    thread = sqlite_storage.get_thread_by_id(thread_id="t1")
    assert thread is not None and thread.updated_at > PAST


def test_an_async_sqlite_save_and_page_run_directly_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def run() -> tuple[list[Any], Any]:
        async with AsyncDefaultStorage(url=f"file:{tmp_path / 'db.sqlite'}") as storage:
            await storage.init()
            await storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"})
            saved = await storage.save_messages(messages=batch(3))
            again = await storage.save_messages(messages=batch(2))  # updates
            page = await storage.list_messages(thread_id="t1", page=1, per_page=2)
            return saved + again, page

    with direct_results(monkeypatch) as directly:
        saved, page = asyncio.run(run())
    # Per save: lock, touch, upsert; the page and its total: one statement.
    assert directly == [True] * 7
    assert [m.id for m in saved] == ["m0000", "m0001", "m0002", "m0000", "m0001"]
    assert [m.created_at for m in saved[3:]] == [at(0), at(1)]
    assert [m.id for m in page.messages] == ["m0002"] and page.total == 3


def test_a_watched_engine_sees_every_statement_and_gets_the_same_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller's statement listener turns the direct path off: it sees the
    save's and the page's statements, whose results equal the direct ones."""
    results = []
    for watched in (False, True):
        with DefaultStorage(url=f"file:{tmp_path / f'{watched}.sqlite'}") as storage:
            storage.init()
            storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"})
            seen: list[str] = []
            if watched:
                event.listen(
                    storage.engine,
                    "before_cursor_execute",
                    lambda conn, cursor, statement, *rest, seen=seen: seen.append(statement),
                )
            with direct_results(monkeypatch) as directly:
                saved = storage.save_messages(messages=batch(150))
                resaved = storage.save_messages(messages=batch(5, first=148))
                page = storage.list_messages(thread_id="t1", page=3, per_page=40)
            assert all(directly) != watched
            if watched:
                assert sum(s.startswith("INSERT") for s in seen) == 3  # 128 + 22, then 5
                assert sum("count(" in s for s in seen) == 1
            dump = [m.model_dump() for m in [*saved, *resaved, *page.messages]]
            results.append((dump, page.total, page.has_more))
    assert results[0] == results[1]


def test_a_host_session_runs_our_statements_through_it(sqlite_storage: DefaultStorage) -> None:
    """With `session=`, the host's ORM session runs every statement (its
    `do_orm_execute` listeners see them), in its own transaction."""
    seen: list[str] = []
    with Session(sqlite_storage.engine) as session:
        event.listen(session, "do_orm_execute", lambda state: seen.append(str(state.statement)))
        sqlite_storage.save_messages(messages=batch(3), session=session)
        page = sqlite_storage.list_messages(thread_id="t1", per_page=2, session=session)
        session.rollback()
    assert sum(s.startswith("INSERT") for s in seen) == 1
    assert sum("count(" in s for s in seen) == 1
    assert [m.id for m in page.messages] == ["m0000", "m0001"]
    assert sqlite_storage.list_messages(thread_id="t1").total == 0


def _refuse_message(storage: MastraStorage, backend: Backend, message_id: str) -> None:
    """A trigger that fails the insert of one message: a driver error in
    the middle of a save's writes."""
    with storage.engine.begin() as conn:
        if backend.is_postgres:
            conn.execute(text(f'SET LOCAL search_path TO "{backend.schema}"'))
            conn.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF NEW.id = '{message_id}' THEN RAISE EXCEPTION 'refused'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON mastra_messages "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
        elif backend.is_mysql:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON mastra_messages FOR EACH ROW "
                    f"BEGIN IF NEW.id = '{message_id}' THEN "
                    "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'; END IF; END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON mastra_messages "
                    f"WHEN NEW.id = '{message_id}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )


def _drop_refusal(storage: MastraStorage, backend: Backend) -> None:
    with storage.engine.begin() as conn:
        if backend.is_postgres:
            conn.execute(text(f'DROP FUNCTION "{backend.schema}".refuse() CASCADE'))
        else:
            conn.execute(text("DROP TRIGGER refuse"))


@pytest.mark.parametrize("dated", [True, False], ids=["dated", "undated"])
def test_a_save_failing_in_its_last_rows_writes_nothing(
    storage: MastraStorage, backend: Backend, dated: bool
) -> None:
    """300 messages (on SQLite three INSERT statements): the database refuses
    the last one; nothing of the save is written, the thread's `updatedAt`
    is unchanged, and the storage goes on working."""
    storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t", "updated_at": PAST})
    storage.save_messages(messages=batch(2))
    messages = batch(300)
    if not dated:
        for message in messages:
            del message["created_at"]
    _refuse_message(storage, backend, "m0299")
    try:
        with pytest.raises(StorageError):
            storage.save_messages(messages=messages)
        page = storage.list_messages(thread_id="t1", per_page=None)
        assert [(m.id, m.content.content) for m in page.messages] == [
            ("m0000", "message 0"),
            ("m0001", "message 1"),
        ]
        thread = storage.get_thread_by_id(thread_id="t1")
        assert thread is not None and thread.updated_at > PAST
        stamp = thread.updated_at
        storage.save_messages(messages=messages[:299])
        assert storage.list_messages(thread_id="t1", per_page=0).total == 299
        thread = storage.get_thread_by_id(thread_id="t1")
        assert thread is not None and thread.updated_at >= stamp
    finally:
        _drop_refusal(storage, backend)


SLOW_INSERT = (
    "CREATE TRIGGER slow BEFORE INSERT ON mastra_messages WHEN NEW.id = 'm0003' BEGIN "
    "SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 20000000) SELECT x FROM c); END"
)
"""A trigger that holds the insert of message m0003 for seconds."""


def test_an_interruption_in_a_direct_statement_drops_its_connection(
    sqlite_storage: DefaultStorage,
) -> None:
    """Ctrl-C while a save's direct INSERT runs: KeyboardInterrupt comes out
    of the call, the connection is invalidated (never reused in an unknown
    state), nothing of the save is written, and the next call gets a fresh
    connection."""
    sqlite_storage.save_messages(messages=batch(1))
    with sqlite_storage.engine.begin() as conn:
        conn.execute(text(SLOW_INSERT))
    raw: Any = sqlite_storage.engine.raw_connection()
    first = raw.driver_connection
    raw.close()
    timer = threading.Timer(0.3, signal.raise_signal, (signal.SIGINT,))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            sqlite_storage.save_messages(messages=batch(5))
    finally:
        timer.cancel()
    assert time.monotonic() - started >= 0.3
    with sqlite_storage.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER slow"))
    assert [m.id for m in sqlite_storage.list_messages(thread_id="t1").messages] == ["m0000"]
    raw = sqlite_storage.engine.raw_connection()
    assert raw.driver_connection is not first
    raw.close()
    sqlite_storage.save_messages(messages=batch(5))
    assert sqlite_storage.list_messages(thread_id="t1").total == 5


def test_an_async_save_cancelled_mid_statement_writes_nothing(tmp_path: Path) -> None:
    """`asyncio.wait_for` gives up on a save while its INSERT runs in
    aiosqlite's thread: TimeoutError, nothing written (the connection is
    dropped, its transaction with it), and the storage goes on working."""
    path = tmp_path / "db.sqlite"
    url = f"file:{path}"

    def run_sql(statement: str) -> None:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute(statement)
            conn.commit()

    async def run() -> list[str]:
        async with AsyncDefaultStorage(url=url) as storage:
            await storage.init()
            await storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"})
            await storage.save_messages(messages=batch(1))
            run_sql(SLOW_INSERT)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(storage.save_messages(messages=batch(5)), 0.3)
            kept = [m.id for m in (await storage.list_messages(thread_id="t1")).messages]
            run_sql("DROP TRIGGER slow")
            await storage.save_messages(messages=batch(5))
            page = await storage.list_messages(thread_id="t1")
            assert page.total == 5
            return kept

    assert asyncio.run(run()) == ["m0000"]


def test_every_batch_size_saves_in_order_with_a_bounded_set_of_statements(
    sqlite_storage: DefaultStorage,
) -> None:
    """Batches of 1 to 300 messages: one statement is built, and one SQL text
    per row count of at most `MAX_VALUES_ROWS` rows, so what is kept stays
    bounded however callers size their batches; each batch is sent in
    ceil(size / MAX_VALUES_ROWS) statements, all its rows bound."""
    from mastra_storage.dialects import _upsert_many_statement
    from mastra_storage.direct import _plans_of

    sent: list[tuple[str, int]] = []

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("INSERT INTO mastra_messages"):
            sent.append((statement, len(parameters)))

    _upsert_many_statement.cache_clear()
    first = 0
    for size in range(1, 301, 7):
        sqlite_storage.save_messages(messages=batch(size, first=first))
        first += size
    assert _upsert_many_statement.cache_info().currsize == 1
    texts = [
        plan.many
        for plan in _plans_of(sqlite_storage.engine.dialect).values()
        if getattr(plan, "many", None)
    ]
    assert len(texts) == 1
    assert max(texts[0]) == MAX_VALUES_ROWS and len(texts[0]) <= MAX_VALUES_ROWS
    assert all(text is not None and text.count("?") == rows * 7 for rows, text in texts[0].items())
    # The same sizes again, watched (statement events: through SQLAlchemy's
    # executemany, which sends the same multi-row statements).
    event.listen(sqlite_storage.engine, "before_cursor_execute", count)
    try:
        for size in (1, 128, 129, 300):
            sqlite_storage.save_messages(messages=batch(size, first=first))
            first += size
    finally:
        event.remove(sqlite_storage.engine, "before_cursor_execute", count)
    assert [(statement.count("?"), params) for statement, params in sent] == [
        (7 * n, 7 * n) for n in (1, 128, 128, 1, 128, 128, 44)
    ]
    page = sqlite_storage.list_messages(thread_id="t1", per_page=None)
    assert [m.id for m in page.messages] == [f"m{i:04d}" for i in range(first)]


def test_a_values_list_is_repeated_only_where_its_placeholders_are_all_in_it() -> None:
    """`Plan.rows_sql` makes the multi-row statement from the single-row one's
    SQL only where every `?` is in its one VALUES group; otherwise None (the
    rows then go through SQLAlchemy's executemany)."""
    from mastra_storage.direct import Plan

    def plan(sql: str, names: tuple[str, ...] = ("a", "b"), positional: bool = True) -> Plan:
        return Plan(sql, positional, names, {}, {}, None)

    upsert = "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO UPDATE SET b = excluded.b"
    assert plan(upsert).rows_sql(3) == (
        "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?) "
        "ON CONFLICT (a) DO UPDATE SET b = excluded.b"
    )
    assert plan(upsert).rows_sql(1) == upsert
    assert plan(upsert + " WHERE b <> '?'").rows_sql(2) is None
    assert plan("INSERT INTO t (a) VALUES (?) RETURNING ?", names=("a", "b")).rows_sql(2) is None
    assert plan("INSERT INTO t (a, b) VALUES (:a, :b)", positional=False).rows_sql(2) is None
