"""Database failures surface as the library's errors, with the cause chained,
and leave nothing half-written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mastra_storage import DefaultStorage, PostgresStorage, StorageError
from mastra_storage.errors import OperationalError


def test_a_locked_sqlite_database_is_an_operational_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    storage = DefaultStorage(url=f"file:{path}", lock_timeout_ms=200)
    storage.init()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked") as caught:
            storage.create_thread(resource_id="r", thread_id="t")
        assert isinstance(caught.value, StorageError)
        assert caught.value.__cause__ is not None
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert storage.get_thread_by_id(thread_id="t") is None
    storage.create_thread(resource_id="r", thread_id="t")  # usable again
    assert storage.get_thread_by_id(thread_id="t") is not None
    storage.close()


def test_an_unreachable_postgres_database_is_an_operational_error(postgres_url: str) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/mastra_storage_no_such_database"
    storage = PostgresStorage(url=url)
    with pytest.raises(OperationalError, match="no_such_database") as caught:
        storage.create_thread(resource_id="r")
    assert caught.value.__cause__ is not None
    storage.close()
