"""Reads marked `single_statement` run without a transaction of their own on
SQLite (the statement is one by itself): each must send exactly one
statement, on every backend, sync and async, whatever it finds."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import Backend, BlockingStorage
from sqlalchemy import event
from sqlalchemy.engine import Engine
from support import PAST, POINT_READS, fill_single_statement_data

from mastra_storage import AsyncPostgresStorage, MastraStorage, PostgresStorage, operations
from mastra_storage.errors import StorageError
from mastra_storage.memory import AsyncMemory, Memory, MemoryOptions
from mastra_storage.memory.history import recall

# Every marked operation, and a call of it through the facade.
CALLS: dict[str, Callable[[Any], Any]] = {
    **POINT_READS,
    "message_batch": lambda s: list(s.iter_messages(thread_id="t1", batch_size=7)),
}


def test_the_marked_operations_are_the_ones_checked_here() -> None:
    marked = {
        name
        for name in operations.__all__
        if callable(getattr(operations, name))
        and operations.is_single_statement(getattr(operations, name))
    }
    assert marked == set(CALLS)


def _engine(storage: Any) -> Engine:
    inner = getattr(storage, "storage", storage)  # the async storage behind BlockingStorage
    engine = inner.engine
    return getattr(engine, "sync_engine", engine)  # type: ignore[no-any-return]


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    sent: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.mark.parametrize("found", [False, True], ids=["missing", "present"])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_marked_read_sends_one_statement(
    storage: MastraStorage, backend: Backend, name: str, found: bool
) -> None:
    if found:
        fill_single_statement_data(storage)  # 16 messages: 3 batches of 7
    storage.get_thread_by_id(thread_id="warm-up")  # migrations and first connect done
    with counting(_engine(storage)) as sent:
        result = CALLS[name](storage)
    batches = 3 if found and name == "message_batch" else 1
    assert len(sent) == batches, sent
    assert (result not in (None, [])) is found


def test_postgres_connection_leaves_autocommit_after_a_single_statement_read(
    postgres_url: str, pg_schemas: Any
) -> None:
    """PostgreSQL runs a marked read in autocommit (one round trip); the
    pooled connection is back to transactions before the next call, so a
    write on it is still all or nothing."""
    schema = pg_schemas.new("single")
    with PostgresStorage(url=postgres_url, schema=schema, pool_size=1, max_overflow=0) as storage:
        storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"})
        assert storage.get_thread_by_id(thread_id="t1") is not None
        with storage.engine.connect() as conn:  # the one pooled connection
            assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
        with pytest.raises(StorageError):
            storage.save_messages(
                messages=[
                    {
                        "id": "ok",
                        "thread_id": "t1",
                        "resource_id": "r1",
                        "role": "user",
                        "content": {"format": 2, "parts": []},
                    },
                    {
                        "id": "bad",
                        "thread_id": "missing",
                        "resource_id": "r1",
                        "role": "user",
                        "content": {"format": 2, "parts": []},
                    },
                ]
            )
        assert storage.list_messages_by_id(message_ids=["ok"]) == []


def test_async_postgres_connection_leaves_autocommit_too(
    postgres_url: str, pg_schemas: Any
) -> None:
    schema = pg_schemas.new("single_async")

    async def check() -> None:
        storage = AsyncPostgresStorage(url=postgres_url, schema=schema, pool_size=1, max_overflow=0)
        try:
            await storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"})
            assert await storage.get_thread_by_id(thread_id="t1") is not None
            async with storage.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                assert raw.driver_connection.autocommit is False  # type: ignore[union-attr]
        finally:
            await storage.close()

    asyncio.run(check())


def test_the_conditionally_marked_operations_are_the_ones_checked_here() -> None:
    marked = {
        name: operations.conditions(getattr(operations, name))
        for name in operations.__all__
        if callable(getattr(operations, name)) and operations.conditions(getattr(operations, name))
    }
    assert marked == {"persist_workflow_snapshot": ("fencing_token",)}


def test_the_point_writes_are_the_conditionally_marked_ones() -> None:
    """`point_write` is a `single_statement_unless` mark (checked to send one
    statement below) of a write of one row by its key (checked below too)."""
    marked = {
        name
        for name in operations.__all__
        if callable(getattr(operations, name))
        and operations.is_point_write(getattr(operations, name))
    }
    assert marked == {"persist_workflow_snapshot"}
    # They return nothing: async PostgreSQL's held connection runs a point
    # write twice (`held_connection`), its result from the second pass, whose
    # values (its timestamps) are not the ones sent.
    for name in marked:
        assert inspect.signature(getattr(operations, name)).return_annotation in (None, "None")
    write = operations.persist_workflow_snapshot
    assert not operations.is_single_statement(write, {"fencing_token": 7})
    assert operations.is_single_statement(write, {"fencing_token": None})


@pytest.mark.parametrize("existing", [False, True], ids=["insert", "update"])
def test_an_unfenced_snapshot_write_sends_one_statement(
    storage: MastraStorage, existing: bool
) -> None:
    """Without a fencing token, `persist_workflow_snapshot` is one upsert: a
    facade may send it without a transaction of its own."""
    if existing:
        storage.persist_workflow_snapshot(workflow_name="wf", run_id="run", snapshot={"v": 0})
    storage.get_thread_by_id(thread_id="warm-up")
    with counting(_engine(storage)) as sent:
        storage.persist_workflow_snapshot(workflow_name="wf", run_id="run", snapshot={"v": 1})
    assert len(sent) == 1, sent
    # One row, by its key: a one-row INSERT whose conflict on the key updates it.
    assert sent[0].lstrip().upper().startswith("INSERT INTO"), sent
    assert storage.load_workflow_snapshot(workflow_name="wf", run_id="run") == {"v": 1}
    assert storage.list_workflow_runs(workflow_name="wf").total == 1


def test_async_postgres_has_no_inline_path(postgres_url: str, pg_schemas: Any) -> None:
    """Point reads and writes on the event loop's thread are for SQLite files
    only: PostgreSQL's async storage sends every call through psycopg."""
    schema = pg_schemas.new("no_inline")

    async def check() -> None:
        storage = AsyncPostgresStorage(url=postgres_url, schema=schema)
        try:
            assert storage._inline is None
            with counting(_engine(storage)) as sent:
                await storage.persist_workflow_snapshot(
                    workflow_name="wf", run_id="run", snapshot={"v": 1}
                )
                assert await storage.load_workflow_snapshot(workflow_name="wf", run_id="run") == {
                    "v": 1
                }
            assert any("INSERT" in statement for statement in sent), sent
        finally:
            await storage.close()

    asyncio.run(check())


def test_arguments_forwards_a_copy_of_the_callers_parameters() -> None:
    """`storage.arguments(locals())`: the facade method's parameters less
    `self` and `session`, in a dict of its own (the frame's is left whole)."""
    from mastra_storage.storage import arguments

    frame = {"self": object(), "session": None, "thread_id": "t", "resource_id": None}
    before = dict(frame)
    forwarded = arguments(frame)
    assert forwarded == {"thread_id": "t", "resource_id": None}
    assert list(forwarded) == ["thread_id", "resource_id"]
    assert frame == before and forwarded is not frame


def test_the_operations_single_on_some_backends_are_the_ones_checked_here() -> None:
    marked = {
        name: operations.feature_needed(getattr(operations, name))
        for name in operations.__all__
        if callable(getattr(operations, name))
        and operations.feature_needed(getattr(operations, name))
    }
    assert marked == {"save_messages": "writable_ctes"}


@pytest.mark.parametrize("dated", [True, False], ids=["dated", "undated"])
@pytest.mark.parametrize("outcome", ["saved", "updated", "thread missing"])
def test_a_postgres_save_of_dated_messages_sends_one_statement(
    storage: MastraStorage, backend: Backend, outcome: str, dated: bool
) -> None:
    """On PostgreSQL (`Features.writable_ctes`) `save_messages` of messages
    that each carry `created_at` is one statement whatever it finds: a
    thread missing writes nothing, not even the other threads' `updatedAt`.
    Elsewhere, and for a message without `created_at` (stamped after its
    thread's last message as of after the threads' lock, which a
    statement's snapshot would not see), it is a transaction of several."""
    from mastra_storage.errors import NotFoundError

    when = {"created_at": PAST} if dated else {}

    storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"})
    storage.save_thread(thread={"id": "t2", "resource_id": "r2", "title": "t"})
    before = storage.get_thread_by_id(thread_id="t1")
    assert before is not None
    batch = [
        {"id": "a", "thread_id": "t1", "role": "user", "content": "one", **when},
        {"id": "b", "thread_id": "t2", "role": "user", "content": "two", **when},
    ]
    if outcome == "updated":
        storage.save_messages(messages=batch)
    if outcome == "thread missing":
        batch.append(
            {"id": "c", "thread_id": "nowhere", "role": "user", "content": "three", **when}
        )
    with counting(_engine(storage)) as sent:
        if outcome == "thread missing":
            with pytest.raises(NotFoundError, match="nowhere"):
                storage.save_messages(messages=batch)
        else:
            saved = storage.save_messages(messages=batch)
    single = operations.is_single_statement(
        operations.save_messages, {"messages": batch}, _features(storage)
    )
    assert single is (backend.is_postgres and dated)
    if single:
        assert len(sent) == 1, sent
    elif outcome != "thread missing":  # which ends after the threads' read
        assert len(sent) > 1, sent
    if outcome == "thread missing":
        assert storage.list_messages(thread_id=["t1", "t2"]).messages == []
        assert storage.get_thread_by_id(thread_id="t1") == before
    else:
        assert [(m.id, m.thread_id, m.resource_id) for m in saved] == [
            ("a", "t1", "r1"),
            ("b", "t2", "r2"),
        ]
        listed = storage.list_messages(thread_id=["t1", "t2"]).messages
        assert sorted(listed, key=lambda m: m.id) == saved


def _features(storage: Any) -> Any:
    inner = getattr(storage, "storage", storage)
    return inner.features


def test_the_operations_single_without_windows_are_the_ones_checked_here() -> None:
    """`single_statement_when` marks (one statement on every backend, for
    some arguments): the page reads, without `include` windows."""
    marked = {
        name
        for name in operations.__all__
        if callable(getattr(operations, name))
        and operations.feature_needed(getattr(operations, name)) is None
        and operations.is_single_statement(getattr(operations, name), {"include": None}, object())
        and not operations.is_single_statement(getattr(operations, name))
        and not operations.conditions(getattr(operations, name))
    }
    assert marked == {"list_messages", "list_messages_by_resource_id"}
    for name in marked:
        read = getattr(operations, name)
        assert operations.is_single_statement(read, {"include": []}, None)
        assert not operations.is_single_statement(read, {"include": [{"id": "m01"}]}, None)
        assert not operations.is_single_statement(read, {"include": iter(())}, None)


def test_the_short_reads_are_page_reads_of_one_statement() -> None:
    """`short_read` marks (the async SQLite facade may run them on the event
    loop's thread): the page reads of one thread or resource, without
    windows, of at most `SHORT_READ_ROWS` messages; each then sends one
    statement (checked for those arguments above and below)."""
    given = {"thread_id": "t1", "resource_id": "r1"}
    marked = {
        name
        for name in operations.__all__
        if callable(getattr(operations, name))
        and operations.short_read_key(getattr(operations, name), given) is not None
    }
    assert marked == {"list_messages", "list_messages_by_resource_id"}
    limit = operations.SHORT_READ_ROWS
    for name, key in (
        ("list_messages", "thread_id"),
        ("list_messages_by_resource_id", "resource_id"),
    ):
        read = getattr(operations, name)
        for short in (
            {},
            {"per_page": 0},
            {"per_page": limit},
            {"include": []},
            {"page": 7},
            {"metadata": None},
        ):
            arguments = {key: "t1", **short}
            assert operations.short_read_key(read, arguments) == "t1", arguments
            assert operations.is_single_statement(read, arguments, None)
        for long in (
            {"per_page": limit + 1},
            {"per_page": None},
            {"per_page": True},
            {"per_page": -1},
            {"per_page": "40"},
            {"include": [{"id": "m01"}]},
            {"metadata": {"k": 1}},
        ):
            assert operations.short_read_key(read, {key: "t1", **long}) is None, long
        assert operations.short_read_key(read, {key: ["t1", "t2"]}) is None
        assert operations.short_read_key(read, {}) is None


def test_a_memory_recall_without_semantic_recall_is_a_short_read() -> None:
    """`Memory.recall`'s operation: one statement without semantic recall (or
    without a query), a short read up to `SHORT_READ_ROWS` messages."""
    limit = operations.SHORT_READ_ROWS
    semantic = MemoryOptions(semantic_recall={"top_k": 2})
    for options, query, single, short in (
        (MemoryOptions(), None, True, True),
        (MemoryOptions(last_messages=limit), None, True, True),
        (MemoryOptions(last_messages=limit + 1), None, True, False),
        (semantic, None, True, True),
        (semantic, [1.0, 0.0], False, False),
    ):
        arguments = {"thread_id": "t1", "resource_id": "r1", "options": options, "query": query}
        assert operations.is_single_statement(recall, arguments, None) is single
        assert (operations.short_read_key(recall, arguments) == "t1") is short


@pytest.mark.parametrize("working_memory", [None, "resource", "thread"])
def test_a_memory_recall_without_semantic_recall_sends_one_statement(
    storage: MastraStorage, backend: Backend, working_memory: str | None
) -> None:
    fill_single_statement_data(storage)
    options: dict[str, Any] = {"last_messages": 5}
    if working_memory is not None:
        options["working_memory"] = {"enabled": True, "scope": working_memory}
    memory: Any = Memory(storage, options=options)
    if isinstance(storage, BlockingStorage):
        memory = BlockingStorage(
            AsyncMemory(storage.storage, options=options), storage.engine, storage._loop
        )
    storage.get_thread_by_id(thread_id="warm-up")
    with counting(_engine(storage)) as sent:
        context = memory.recall(thread_id="t1", resource_id="r1")
    assert len(sent) == 1, sent
    assert [m.id for m in context.messages] == [f"m{i:02}" for i in range(11, 16)]
    assert (context.working_memory is None) is (working_memory is None)


# A page read: its arguments, and (ids, total, has_more) on the data of
# `fill_single_statement_data` (16 messages m00..m15 of t1, resource r1).
PAGES: dict[str, tuple[dict[str, Any], tuple[list[str], int | None, bool]]] = {
    "first": ({"page": 0, "per_page": 5}, ([f"m{i:02}" for i in range(5)], 16, True)),
    "last": ({"page": 3, "per_page": 5}, (["m15"], 16, False)),
    "past the end": ({"page": 9, "per_page": 5}, ([], 16, False)),
    "desc": (
        {"page": 1, "per_page": 4, "direction": "DESC"},
        ([f"m{i:02}" for i in (11, 10, 9, 8)], 16, True),
    ),
    "no total": (
        {"page": 0, "per_page": 3, "include_total": False},
        (["m00", "m01", "m02"], None, True),
    ),
    "all": ({"per_page": None}, ([f"m{i:02}" for i in range(16)], 16, False)),
    "none": ({"per_page": 0}, ([], 16, True)),
    "none, no total": ({"per_page": 0, "include_total": False}, ([], None, True)),
    "metadata": ({"per_page": 5, "metadata": {"nope": 1}}, ([], 0, False)),
    "dates": (
        {"per_page": 5, "date_range": {"end": PAST}},
        ([], 0, False),
    ),
}


@pytest.mark.parametrize("by_resource", [False, True], ids=["thread", "resource"])
@pytest.mark.parametrize("case", sorted(PAGES))
def test_a_page_read_without_windows_sends_one_statement(
    storage: MastraStorage, backend: Backend, case: str, by_resource: bool
) -> None:
    """A page and its total are one statement (`MessageRepository.page`): one
    snapshot without a transaction of our own, one trip; whatever it finds,
    a page past the end and an empty thread included."""
    fill_single_statement_data(storage)
    storage.save_thread(thread={"id": "empty", "resource_id": "r-empty", "title": "t"})
    arguments, (ids, total, has_more) = PAGES[case]

    def read(thread: str, resource: str) -> Any:
        if by_resource:
            return storage.list_messages_by_resource_id(resource_id=resource, **arguments)
        return storage.list_messages(thread_id=thread, **arguments)

    storage.get_thread_by_id(thread_id="warm-up")
    with counting(_engine(storage)) as sent:
        found = read("t1", "r1")
        nothing = read("empty", "r-empty")
    assert len(sent) == 2, sent
    assert ([m.id for m in found.messages], found.total, found.has_more) == (ids, total, has_more)
    assert nothing.messages == [] and not nothing.has_more
    assert nothing.total == (None if total is None else 0)


def test_a_page_with_windows_may_send_more(storage: MastraStorage) -> None:
    """With `include`, the windows are statements of their own, in the read's
    transaction: the facade does not take the read for a single statement."""
    fill_single_statement_data(storage)
    page = storage.list_messages(
        thread_id="t1", per_page=2, include=[{"id": "m10", "with_previous_messages": 1}]
    )
    assert [m.id for m in page.messages] == ["m00", "m01", "m09", "m10"]
    assert page.total == 16 and page.has_more


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql", "mysql"], indirect=True)
def test_a_page_and_its_total_agree_while_messages_are_saved(
    storage: MastraStorage, backend: Backend
) -> None:
    """Read while another thread saves: each page, its `total` and `has_more`
    are of one moment (one statement, one snapshot), never a page of one
    moment with the count of another."""
    import threading

    storage.save_thread(thread={"id": "t1", "resource_id": "r1", "title": "t"})
    done = threading.Event()
    failures: list[BaseException] = []

    def save() -> None:
        try:
            for i in range(60):
                storage.save_messages(
                    messages=[
                        {"id": f"m{i:03}-{j}", "thread_id": "t1", "role": "user", "content": "x"}
                        for j in range(3)
                    ]
                )
        except BaseException as error:  # reported below
            failures.append(error)
        finally:
            done.set()

    writer = threading.Thread(target=save)
    writer.start()
    pages = 0
    try:
        while not done.is_set() or pages < 5:
            page = storage.list_messages(thread_id="t1", per_page=100, direction="DESC")
            total = page.total
            assert total is not None and total % 3 == 0  # a save is all or nothing
            assert len(page.messages) == min(100, total), (total, len(page.messages))
            assert page.has_more == (total > 100)
            pages += 1
    finally:
        writer.join(timeout=120)
    assert not failures, failures
    assert storage.list_messages(thread_id="t1", per_page=0).total == 180
