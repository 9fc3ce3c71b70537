"""On a fresh machine the suite needs a running PostgreSQL server, not a
prepared database: the one named in MASTRA_STORAGE_TEST_PG_URL is created."""

from __future__ import annotations

import uuid

from pg_setup import ensure_database
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def test_a_missing_test_database_is_created(postgres_url: str) -> None:
    name = f"mst_fresh_{uuid.uuid4().hex[:8]}"
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    admin = create_engine(
        make_url(postgres_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        assert ensure_database(url) is True
        assert ensure_database(url) is False  # there now: left alone
        fresh = create_engine(url)
        with fresh.connect() as conn:
            assert conn.scalar(text("SELECT current_database()")) == name
        fresh.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
