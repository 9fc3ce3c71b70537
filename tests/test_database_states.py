"""Every database state is recognised (issue #10 item 12): a database that a
newer release migrated raises `SchemaTooNewError` naming both revisions, and is
never migrated; `migrate.check` says the same."""

from __future__ import annotations

import pytest
from conftest import Backend
from sqlalchemy import text

from mastra_storage import MastraStorage, SchemaTooNewError, StorageError, migrate
from mastra_storage.orm.base import VERSION_TABLE

FUTURE = "9999_from_a_newer_release"


def test_a_database_newer_than_the_code_is_never_migrated(
    backend: Backend, storage: MastraStorage
) -> None:
    storage.create_thread(resource_id="r", thread_id="t")
    engine = storage.engine
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = :v"), {"v": FUTURE})
    try:
        newer = backend.make()
        with pytest.raises(SchemaTooNewError) as caught:
            newer.init()
        assert FUTURE in str(caught.value) and str(migrate.head()) in str(caught.value)
        assert caught.value.current == FUTURE and caught.value.head == migrate.head()
        assert isinstance(caught.value, StorageError)
        with pytest.raises(SchemaTooNewError):
            newer.get_thread_by_id(thread_id="t")  # first use initialises: same answer
        for call in (migrate.check, migrate.upgrade):
            with pytest.raises(SchemaTooNewError, match=FUTURE):
                call(engine)
        with pytest.raises(SchemaTooNewError):
            migrate.downgrade(engine, "base")
        assert migrate.current(engine) == FUTURE  # nothing was migrated
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM mastra_threads")) == 1
    finally:
        with engine.begin() as conn:
            conn.execute(
                text(f"UPDATE {VERSION_TABLE} SET version_num = :v"), {"v": migrate.head()}
            )
