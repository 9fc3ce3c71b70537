"""A read of several statements (a page and its separate total, a page with
included windows) sees one snapshot: a write committed by another
connection between its statements shows in none of them
(`Features.snapshot_isolation`: REPEATABLE READ on PostgreSQL and MySQL;
SQLite's read transaction is one snapshot already)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import BACKENDS, Backend
from sqlalchemy import event
from support import at, make_thread, message

from mastra_storage import DefaultStorage, MastraStorage, MySQLStorage, PostgresStorage

SHARED_FILE_BACKENDS = [name for name in BACKENDS if name != "sqlite-memory"]


def other_writer(backend: Backend) -> MastraStorage:
    """A sync storage of our own on the backend's database: another process."""
    if backend.is_postgres:
        return PostgresStorage(url=backend.url, schema=backend.schema)
    if backend.is_mysql:
        return MySQLStorage(url=backend.url)
    return DefaultStorage(url=backend.url)


@contextmanager
def after_first_statement(storage: Any, write: Callable[[], Any]) -> Iterator[None]:
    """`write()` (committed elsewhere) right after the storage's next call
    has run its first statement."""
    inner = getattr(storage, "storage", storage)
    engine = getattr(inner.engine, "sync_engine", inner.engine)
    done: list[bool] = []

    def hook(*_: Any) -> None:
        if not done:
            done.append(True)
            write()

    event.listen(engine, "after_cursor_execute", hook)
    try:
        yield
    finally:
        event.remove(engine, "after_cursor_execute", hook)
    assert done, "the call ran no statement"


@pytest.mark.parametrize("backend", SHARED_FILE_BACKENDS, indirect=True)
def test_a_page_of_threads_and_its_total_agree_under_a_concurrent_write(
    backend: Backend, storage: MastraStorage
) -> None:
    for i in range(3):
        storage.create_thread(resource_id="r", thread_id=f"t{i}")
    other = other_writer(backend)
    try:
        with after_first_statement(
            storage, lambda: other.create_thread(resource_id="r", thread_id="t-late")
        ):
            page = storage.list_threads(resource_id="r", per_page=100)
        assert (page.total, len(page.threads)) == (3, 3)
        assert storage.list_threads(resource_id="r", per_page=100).total == 4
    finally:
        other.close()


@pytest.mark.parametrize("backend", SHARED_FILE_BACKENDS, indirect=True)
def test_a_page_with_included_messages_sees_one_snapshot(
    backend: Backend, storage: MastraStorage
) -> None:
    """A message saved between the page's statements and its included
    window's shows in neither the page, its total nor the window."""
    make_thread(storage)
    storage.save_messages(messages=[message(f"m{i}", created_at=at(i)) for i in range(5)])
    other = other_writer(backend)
    late = message("m-late", created_at=at(10))
    try:
        with after_first_statement(storage, lambda: other.save_messages(messages=[late])):
            page = storage.list_messages(
                thread_id="thread-1",
                per_page=2,
                include=[{"id": "m4", "thread_id": "thread-1", "with_next_messages": 5}],
            )
        assert "m-late" not in [m.id for m in page.messages]
        assert page.total == 5
    finally:
        other.close()
