"""Small helpers shared by the behaviour tests (not a test module)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import create_engine, func, select, text

from mastra_storage import MastraDBMessage, MastraStorage, StorageThread
from mastra_storage.orm import metadata

UTC = timezone.utc
BASE = datetime(2026, 11, 26, 11, 50, 17, 385000, tzinfo=UTC)
"""A fixed instant with milliseconds, as Mastra stores them."""
PAST = datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """`BASE` shifted by a number of seconds."""
    return BASE + timedelta(seconds=seconds)


def assert_utc(value: Any) -> None:
    """Every datetime returned is timezone-aware UTC."""
    assert isinstance(value, datetime), value
    assert value.tzinfo is not None, f"naive datetime returned: {value!r}"
    assert value.utcoffset() == timedelta(0), f"not UTC: {value!r}"


def assert_all_utc(model: BaseModel) -> int:
    """Check every datetime field of a model (and nested models); returns how many."""
    seen = 0
    for name in type(model).model_fields:
        value = getattr(model, name)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, datetime):
                assert_utc(item)
                seen += 1
            elif isinstance(item, BaseModel):
                seen += assert_all_utc(item)
    return seen


def same_json(left: Any, right: Any) -> bool:
    """Equal as JSON, types included (True is not 1, 1.0 is not 1)."""
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


def make_thread(
    storage: MastraStorage,
    thread_id: str = "thread-1",
    resource_id: str = "resource-1",
    *,
    created_at: datetime = PAST,
    **fields: Any,
) -> StorageThread:
    """A thread saved with timestamps in the past, so "became now" is visible."""
    return storage.save_thread(
        thread={
            "id": thread_id,
            "resource_id": resource_id,
            "created_at": created_at,
            "updated_at": created_at,
            **fields,
        }
    )


def message(
    message_id: str,
    thread_id: str = "thread-1",
    text_: str | None = None,
    *,
    created_at: datetime | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A user message as a plain mapping."""
    item: dict[str, Any] = {
        "id": message_id,
        "thread_id": thread_id,
        "role": "user",
        "content": text_ if text_ is not None else f"text of {message_id}",
        **fields,
    }
    if created_at is not None:
        item["created_at"] = created_at
    return item


def nested(depth: int, *, arrays: bool = False) -> Any:
    """A JSON value `depth` levels deep: objects `{"a": ...}` (or, `arrays`,
    one-item arrays) around the text "leaf"."""
    value: Any = "leaf"
    for _ in range(depth):
        value = [value] if arrays else {"a": value}
    return value


def ids(messages: Iterable[MastraDBMessage]) -> list[str]:
    return [m.id for m in messages]


def page_through(
    storage: MastraStorage, thread_id: str | Sequence[str], per_page: int, direction: str
) -> list[str]:
    """Every message id of a thread, read page by page."""
    seen: list[str] = []
    page = 0
    while True:
        result = storage.list_messages(
            thread_id=thread_id, page=page, per_page=per_page, direction=direction
        )
        seen += ids(result.messages)
        if not result.has_more:
            assert len(result.messages) <= per_page
            return seen
        assert len(result.messages) == per_page
        page += 1


def row_counts(storage: MastraStorage) -> dict[str, int]:
    """How many rows each of our tables holds (read straight from the database)."""
    with storage.engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in metadata.sorted_tables
        }


def raw_one(storage: MastraStorage, sql: str, **params: Any) -> Any:
    """The one row a raw SQL query returns, bypassing the library's types."""
    with storage.engine.connect() as conn:
        return conn.execute(text(sql), params).one()


def run_concurrently(
    storage: Any, calls: Sequence[Any], *, return_exceptions: bool = False
) -> list[Any]:
    """Run `calls` (each `lambda s: s.method(...)` on a storage) at the same
    time: on threads for a sync storage, as one `asyncio.gather` on its loop
    for an async one (driven through `BlockingStorage`). Returns the results;
    the first exception raised is re-raised, or (`return_exceptions`) returned
    in its call's place."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    if hasattr(storage, "_loop"):  # BlockingStorage: the calls are coroutines
        inner = storage.storage

        async def gather() -> list[Any]:
            return list(
                await asyncio.gather(
                    *(call(inner) for call in calls), return_exceptions=return_exceptions
                )
            )

        return storage._loop.run_until_complete(gather())  # type: ignore[no-any-return]

    def attempt(call: Any) -> Any:
        try:
            return call(storage)
        except Exception as error:
            if return_exceptions:
                return error
            raise

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(attempt, calls))


SNAPSHOT = {"status": "running", "context": {"step": {"output": "é" * 20}}, "n": [1, 2.5, None]}


# The point reads (`operations.point_read`) through the facade, sync or
# async, of what `fill_single_statement_data` wrote.
POINT_READS: dict[str, Callable[[Any], Any]] = {
    "get_thread_by_id": lambda s: s.get_thread_by_id(thread_id="t1"),
    "get_resource_by_id": lambda s: s.get_resource_by_id(resource_id="r1"),
    "load_workflow_snapshot": lambda s: s.load_workflow_snapshot(workflow_name="wf", run_id="run"),
    "get_workflow_run_by_id": lambda s: s.get_workflow_run_by_id(run_id="run"),
    "get_score_by_id": lambda s: s.get_score_by_id(id="score"),
}


def fill_single_statement_data(storage: MastraStorage) -> None:
    """What the single-statement calls read: thread t1 of resource r1 with 16
    messages, the resource's working memory, run "run" of workflow "wf",
    score "score"."""
    storage.save_thread(
        thread={"id": "t1", "resource_id": "r1", "title": "t", "metadata": {"a": 1}}
    )
    storage.save_messages(
        messages=[
            {
                "id": f"m{i:02}",
                "thread_id": "t1",
                "resource_id": "r1",
                "role": "user" if i % 2 else "assistant",
                "content": {"format": 2, "parts": [{"type": "text", "text": f"hi {i}"}]},
            }
            for i in range(16)
        ]
    )
    storage.update_resource(resource_id="r1", working_memory="# wm", metadata={"k": [1]})
    storage.persist_workflow_snapshot(workflow_name="wf", run_id="run", snapshot=SNAPSHOT)
    storage.save_score(
        score={
            "id": "score",
            "scorerId": "tone",
            "entityId": "wf-1",
            "entityType": "WORKFLOW",
            "runId": "run",
            "output": "x",
            "score": 0.5,
            "scorer": {"id": "tone"},
            "entity": {"id": "wf-1"},
            "source": "TEST",
        }
    )


@contextmanager
def write_locked(path: Path | str) -> Iterator[None]:
    """SQLite's write lock on the file `path` held by another connection
    meanwhile (BEGIN IMMEDIATE, rolled back at the end)."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def wait_for_children(pids: list[int], seconds: float = 60.0) -> list[int]:
    """Exit codes of the children; any still running after `seconds` is killed
    and counted as hung (-1)."""
    deadline = time.monotonic() + seconds
    codes: dict[int, int] = {}
    while len(codes) < len(pids) and time.monotonic() < deadline:
        for pid in pids:
            if pid in codes:
                continue
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                codes[pid] = os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    for pid in pids:
        if pid not in codes:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            codes[pid] = -1
    return [codes[pid] for pid in pids]


def in_child(call: Callable[[], Any]) -> str:
    """Run `call` in a forked child; what it returned or raised, as text
    (`"ok"`, or the exception's class and message)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_end)
        try:
            call()
            said = "ok"
        except BaseException as error:
            said = f"{type(error).__name__}: {error}"
        finally:
            os.write(write_end, said.encode()[:4000])
            os._exit(0)
    os.close(write_end)
    codes = wait_for_children([pid])
    with os.fdopen(read_end, "rb") as pipe:
        said = pipe.read().decode()
    assert codes == [0], said
    return said


@contextmanager
def snapshot_row_locked(url: str, schema: str, run_id: str) -> Iterator[Any]:
    """Another session holding the snapshot row of `run_id` FOR UPDATE."""
    holder = create_engine(url)
    try:
        with holder.connect() as conn, conn.begin():
            conn.exec_driver_sql(
                f'SELECT 1 FROM "{schema}".mastra_workflow_snapshot '
                f"WHERE run_id = '{run_id}' FOR UPDATE"
            )
            yield conn
    finally:
        holder.dispose()
