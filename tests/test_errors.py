"""Database failures surface as the library's errors, with the cause chained,
and leave nothing half-written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc

from mastra_storage import DefaultStorage, PostgresStorage, StorageError
from mastra_storage.errors import (
    IntegrityError,
    OperationalError,
    StorageTimeoutError,
    ValidationError,
    translate_errors,
)


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


def _raised_through_translation(error: BaseException) -> BaseException:
    with pytest.raises(BaseException) as caught, translate_errors():
        raise error
    return caught.value


@pytest.mark.parametrize(
    ("error", "ours"),
    [
        (sa_exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE")), IntegrityError),
        (
            sa_exc.OperationalError("SELECT", {}, sqlite3.OperationalError("locked")),
            OperationalError,
        ),
        (sa_exc.DatabaseError("SELECT", {}, sqlite3.DatabaseError("bad")), StorageError),
        (sa_exc.TimeoutError("QueuePool limit"), StorageTimeoutError),
        (sa_exc.StatementError("bind", "SELECT", {}, TypeError("no")), ValidationError),
        (sa_exc.NoSuchTableError("t"), StorageError),
    ],
)
def test_translate_errors_maps_sqlalchemys_errors_keeping_the_cause(
    error: BaseException, ours: type[StorageError]
) -> None:
    raised = _raised_through_translation(error)
    assert type(raised) is ours
    assert raised.__cause__ is error
    assert raised.__context__ is error
    assert "SELECT" not in str(raised) and "INSERT" not in str(raised)


def test_translate_errors_leaves_other_errors_as_they_are() -> None:
    for error in (StorageError("ours"), ValueError("theirs"), KeyboardInterrupt()):
        raised = _raised_through_translation(error)
        assert raised is error
        assert raised.__cause__ is None
    with translate_errors():
        pass  # no error: nothing raised


def test_translate_errors_raises_our_error_a_bind_processor_raised() -> None:
    cause = ValidationError("thread.id: bad", field="id")
    error = sa_exc.StatementError("bind", "INSERT", {}, cause)
    raised = _raised_through_translation(error)
    assert raised is cause
    assert raised.__cause__ is error


def test_translate_errors_nests_and_is_shared() -> None:
    outer, inner = translate_errors(), translate_errors()
    with pytest.raises(IntegrityError) as caught, outer, inner:
        raise sa_exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE"))
    assert isinstance(caught.value.__cause__, sa_exc.IntegrityError)
