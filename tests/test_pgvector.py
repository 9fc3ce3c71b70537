"""Semantic recall through pgvector, on a real PostgreSQL 16 with the
extension: the one `pgserver` (a dev dependency) ships, started here on a Unix
socket of its own, or the server MASTRA_STORAGE_TEST_PGVECTOR_URL names (a
database where `CREATE EXTENSION vector` may run). With CI=true a server that
cannot start fails these tests; elsewhere they skip with the reason.
pgserver has no wheel for CPython 3.13+: there they skip.

The pgvector path is checked against the exact path on the same data."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import IN_CI
from sqlalchemy import create_engine, text

from mastra_storage import (
    AsyncMemory,
    AsyncPostgresStorage,
    HashingEmbedder,
    Memory,
    PostgresStorage,
    migrate,
)
from mastra_storage.memory.vectors import search
from mastra_storage.repositories import VectorRepository, VectorRow
from mastra_storage.repositories.vectors import _nearest_statement, hnsw_index_name

URL_ENV = "MASTRA_STORAGE_TEST_PGVECTOR_URL"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
DIMENSION = 16


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI=true requires the pgvector server", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pgvector_url() -> Iterator[str]:
    """A database with pgvector installed (`CREATE EXTENSION vector` done)."""
    given = os.environ.get(URL_ENV)
    if given:
        _install_extension(given)
        yield given
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: no XDG_RUNTIME_DIR
            import pgserver
    except ImportError:
        if sys.version_info >= (3, 13):
            pytest.skip("pgserver ships no wheel for this Python; set " + URL_ENV)
        _unavailable("pgserver is not installed: pip install -e '.[dev]'")
    home = Path(tempfile.mkdtemp(prefix="mastra-pgvector-"))
    try:
        # As root, pgserver runs PostgreSQL as a system user `pgserver` it
        # creates, and opens the folders on the way to its data for it.
        server = pgserver.get_server(home / "data", cleanup_mode="delete")
    except Exception as error:
        shutil.rmtree(home, ignore_errors=True)
        _unavailable(f"pgserver could not start PostgreSQL: {type(error).__name__}: {error}")
    socket_dir = server.get_postmaster_info().socket_dir
    url = f"postgresql+psycopg://postgres@/postgres?host={socket_dir}"
    try:
        _install_extension(url)
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)


def _install_extension(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    finally:
        engine.dispose()


@pytest.fixture
def schema(pgvector_url: str) -> Iterator[str]:
    name = f"pgv_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    yield name
    engine = create_engine(pgvector_url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()


@pytest.fixture
def storage(pgvector_url: str, schema: str) -> Iterator[PostgresStorage]:
    store = PostgresStorage(url=pgvector_url, schema=schema)
    store.init()
    yield store
    store.close()


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    matrix = rng.standard_normal((n, DIMENSION)).astype("<f4")
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def load(storage: PostgresStorage, resource: str, thread: str, matrix: np.ndarray) -> None:
    """Vectors of messages that need not exist (the index has no foreign key)."""
    rows = [
        VectorRow(f"{thread}-{i:04d}", thread, resource, DIMENSION, row.tobytes(), T0)
        for i, row in enumerate(matrix)
    ]
    with storage.session_scope() as session:
        VectorRepository(session).ensure_hnsw_index(DIMENSION)
        VectorRepository(session).upsert(rows)


def columns(storage: PostgresStorage, schema: str) -> set[str]:
    with storage.engine.connect() as conn:
        return set(
            conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = :s AND table_name = 'memory_messages'"
                ),
                {"s": schema},
            ).scalars()
        )


def indexes(storage: PostgresStorage, schema: str) -> dict[str, str]:
    with storage.engine.connect() as conn:
        return dict(
            conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes "
                    "WHERE schemaname = :s AND tablename = 'memory_messages'"
                ),
                {"s": schema},
            ).all()
        )


def test_the_migration_adds_the_column_and_the_first_write_its_index(
    storage: PostgresStorage, schema: str
) -> None:
    assert "embedding" in columns(storage, schema)
    assert hnsw_index_name(DIMENSION) not in indexes(storage, schema)
    memory = Memory(storage, options={"semantic_recall": True}, embedder=HashingEmbedder(DIMENSION))
    memory.create_thread(resource_id="u1", thread_id="t1")
    memory.save_messages(messages=[{"thread_id": "t1", "role": "user", "content": "hello there"}])
    definition = indexes(storage, schema)[hnsw_index_name(DIMENSION)]
    assert "USING hnsw" in definition
    assert "vector_cosine_ops" in definition
    assert f"WHERE (dimension = {DIMENSION})" in definition


def test_the_search_is_served_by_the_hnsw_index(storage: PostgresStorage) -> None:
    load(storage, "u1", "t1", unit(np.random.default_rng(1), 300))
    with storage.session_scope() as session:
        session.execute(text("ANALYZE memory_messages"))
    with storage.session_scope() as session:
        session.execute(text("SET LOCAL enable_sort = off"))  # an ordered index, or else
        session.execute(text("SET LOCAL enable_seqscan = off"))
        repository = VectorRepository(session)
        stmt = _nearest_statement(repository.pgvector or "", DIMENSION, "resource_id")
        compiled = stmt.compile(dialect=session.get_bind().dialect)
        params = {"query": [0.25] * DIMENSION, "scope": "u1", "limit": 4}
        plan = session.connection().exec_driver_sql("EXPLAIN " + str(compiled), params).scalars()
        assert any(hnsw_index_name(DIMENSION) in line for line in plan)


SCOPES = {"u1": ("t1-", "t2-"), "u2": ("t3-",)}


@pytest.mark.parametrize("through_index", [False, True], ids=["planner", "hnsw"])
def test_pgvector_and_exact_search_agree_on_the_same_data(
    storage: PostgresStorage, through_index: bool
) -> None:
    """The planner's choice (small scopes: the scope's rows sorted by
    distance), and the HNSW index forced, searching wide enough to be
    exhaustive (it is approximate otherwise): the same matches, scores,
    threshold and scopes as the exact search."""
    rng = np.random.default_rng(7)
    load(storage, "u1", "t1", unit(rng, 200))
    load(storage, "u1", "t2", unit(rng, 50))
    load(storage, "u2", "t3", unit(rng, 100))
    queries = unit(rng, 12)
    with storage.session_scope() as session:
        assert VectorRepository(session).pgvector is not None
        if through_index:
            session.execute(text("SET LOCAL enable_sort = off"))
            session.execute(text("SET LOCAL enable_seqscan = off"))
            session.execute(text("SET LOCAL hnsw.ef_search = 1000"))
        for i, query in enumerate(queries):
            for thread_id, resource_id in (("t2", "u1"), (None, "u1"), (None, "u2")):
                for threshold in (None, 0.2):
                    args: dict[str, Any] = {
                        "query": query,
                        "thread_id": thread_id,
                        "resource_id": resource_id,
                        "top_k": 1 + i % 5,
                        "threshold": threshold,
                    }
                    indexed = search(session, **args)
                    exact = search(session, **args, exact=True)
                    assert [m for _, m in indexed] == [m for _, m in exact], args
                    assert np.allclose([s for s, _ in indexed], [s for s, _ in exact], atol=1e-5)
                    assert all(s >= threshold for s, _ in indexed if threshold is not None)
                    allowed = (
                        (f"{thread_id}-",) if thread_id else SCOPES[resource_id]
                    )  # never another thread's or resource's
                    assert all(m.startswith(allowed) for _, m in indexed)


def test_an_index_scan_that_loses_the_scope_falls_back_to_exact(
    storage: PostgresStorage,
) -> None:
    """HNSW filters the scope after the scan: a small resource among many
    vectors can come back short. The search then answers exactly."""
    rng = np.random.default_rng(3)
    load(storage, "big", "t1", unit(rng, 400))
    small = unit(rng, 6)
    load(storage, "small", "t2", small)
    query = small[2]
    with storage.session_scope() as session:
        session.execute(text("SET LOCAL enable_sort = off"))  # force the index scan
        session.execute(text("SET LOCAL enable_seqscan = off"))
        session.execute(text("SET LOCAL hnsw.ef_search = 1"))  # one candidate
        repository = VectorRepository(session)
        short = repository.nearest(
            query=query.tolist(), dimension=DIMENSION, thread_id=None, resource_id="small", limit=4
        )
        assert len(short) < 4  # what the index alone gives
        found = search(
            session, query=query, thread_id=None, resource_id="small", top_k=4, threshold=None
        )
        exact = search(
            session,
            query=query,
            thread_id=None,
            resource_id="small",
            top_k=4,
            threshold=None,
            exact=True,
        )
    assert [m for _, m in found] == [m for _, m in exact]
    assert found[0][1] == "t2-0002"
    assert len(found) == 4


def test_memory_recall_through_pgvector(storage: PostgresStorage) -> None:
    memory = Memory(
        storage,
        options={"last_messages": 1, "semantic_recall": {"top_k": 1, "message_range": 0}},
        embedder=HashingEmbedder(64),
    )
    memory.create_thread(resource_id="u1", thread_id="t1")
    texts = ["the weather was mild", "we flew to lisbon in may", "the weather was grey", "ok"]
    memory.save_messages(
        messages=[
            {
                "id": f"m{i}",
                "thread_id": "t1",
                "role": "user",
                "content": body,
                "created_at": T0 + timedelta(minutes=i),
            }
            for i, body in enumerate(texts)
        ]
    )
    found = memory.recall(thread_id="t1", resource_id="u1", query="lisbon in may")
    assert found.recalled_ids == ["m1"]
    # new text: the embedding follows (update_messages re-embeds)
    memory.update_messages(messages=[{"id": "m1", "content": "a quiet afternoon"}])
    memory.update_messages(messages=[{"id": "m2", "content": "we flew to lisbon in may"}])
    again = memory.recall(thread_id="t1", resource_id="u1", query="lisbon in may")
    assert again.recalled_ids == ["m2"]
    # a clone's messages carry the vectors, in their own thread
    clone = storage.clone_thread(source_thread_id="t1", new_thread_id="t2")
    cloned = memory.recall(
        thread_id="t2",
        resource_id="u1",
        query="lisbon in may",
        options={"semantic_recall": {"top_k": 1, "message_range": 0, "scope": "thread"}},
    )
    assert cloned.recalled_ids and cloned.recalled_ids[0] != "m2"
    assert cloned.messages[-1].thread_id == clone.thread.id
    memory.delete_thread(thread_id="t1")
    left = memory.recall(thread_id="t2", resource_id="u1", query="lisbon in may")
    assert left.recalled_ids == cloned.recalled_ids


def test_async_memory_recall_through_pgvector(pgvector_url: str, schema: str) -> None:
    PostgresStorage(url=pgvector_url, schema=schema).init()

    async def main() -> list[str]:
        storage = AsyncPostgresStorage(url=pgvector_url, schema=schema)
        async with AsyncMemory(
            storage, options={"semantic_recall": True}, embedder=HashingEmbedder(32)
        ) as memory:
            await memory.create_thread(resource_id="u1", thread_id="t1")
            await memory.save_messages(
                messages=[
                    {"id": "a", "thread_id": "t1", "role": "user", "content": "apples and pears"},
                    {"id": "b", "thread_id": "t1", "role": "user", "content": "boats and trains"},
                ]
            )
            context = await memory.recall(thread_id="t1", resource_id="u1", query="boats")
        await storage.close()
        return context.recalled_ids

    assert asyncio.run(main())[0] == "b"


def test_the_migration_fills_existing_vectors_and_goes_back(pgvector_url: str, schema: str) -> None:
    storage = PostgresStorage(url=pgvector_url, schema=schema)
    with storage.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    migrate.upgrade(storage.engine, "0007_memory_messages")
    matrix = unit(np.random.default_rng(5), 20)
    rows = [
        VectorRow(f"t1-{i:04d}", "t1", "u1", DIMENSION, row.tobytes(), T0)
        for i, row in enumerate(matrix)
    ]
    with storage.engine.begin() as conn:  # not the storage's session: it would migrate
        VectorRepository(conn).upsert(rows)  # before the column exists: bytes only
    assert "embedding" not in columns(storage, schema)
    migrate.upgrade(storage.engine, "head")
    assert hnsw_index_name(DIMENSION) in indexes(storage, schema)
    with storage.session_scope() as session:
        empty = session.execute(
            text("SELECT count(*) FROM memory_messages WHERE embedding IS NULL")
        ).scalar()
        assert empty == 0
        found = search(
            session, query=matrix[3], thread_id=None, resource_id="u1", top_k=1, threshold=None
        )
        assert found[0][1] == "t1-0003"
    migrate.downgrade(storage.engine, "0007_memory_messages")
    assert "embedding" not in columns(storage, schema)
    assert hnsw_index_name(DIMENSION) not in indexes(storage, schema)
    storage.close()
