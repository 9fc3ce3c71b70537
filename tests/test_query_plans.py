"""The statements behind a page, a last-N read and a context window are index
range scans on a large thread, on every backend: we capture the SQL the
library really runs and ask the database for its plan (MySQL/MariaDB:
`EXPLAIN FORMAT=JSON`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import SYNC_BACKENDS, Backend
from sqlalchemy import event, text
from support import at, make_thread, message

from mastra_storage import MastraStorage

INDEX = "mastra_messages_thread_id_createdat_id_idx"


@contextmanager
def captured(storage: MastraStorage) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def remember(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        # PostgreSQL's save_messages is one statement of several steps (WITH ...).
        if (
            statement.lstrip().upper().startswith(("SELECT", "WITH"))
            and "LIMIT" in statement.upper()
        ):
            statements.append((statement, parameters))

    event.listen(storage.engine, "before_cursor_execute", remember)
    try:
        yield statements
    finally:
        event.remove(storage.engine, "before_cursor_execute", remember)


PLAN_PREFIX = {
    "postgresql": "EXPLAIN (FORMAT JSON) ",
    "mysql": "EXPLAIN FORMAT=JSON ",
    "sqlite": "EXPLAIN QUERY PLAN ",
}


def plan(storage: MastraStorage, statement: str, parameters: Any) -> str:
    dialect = storage.engine.dialect.name
    with storage.engine.connect() as conn:
        rows = conn.exec_driver_sql(PLAN_PREFIX[dialect] + statement, parameters).all()
    if dialect == "postgresql":
        return json.dumps(rows[0][0])
    if dialect == "mysql":
        return str(rows[0][0])
    # "parent|detail": 0 is the statement's top level.
    return "\n".join(f"{row[1]}|{row[-1]}" for row in rows)


PAGE_ROWS = 41
"""A page of 40 and the row past it (whether more follow)."""


def plan_nodes(node: dict[str, Any], *, into_aggregates: bool = True) -> Iterator[dict[str, Any]]:
    """The nodes of a PostgreSQL JSON plan from `node` down. Without
    `into_aggregates`, less what is under an Aggregate: a page's COUNT(*)
    (in the same statement since it is one), whose plan is the planner's
    choice by the thread's share of the table (here half of it, where a
    scan is right), as when it was a statement of its own."""
    yield node
    if not into_aggregates and node["Node Type"] == "Aggregate":
        return
    for child in node.get("Plans", []):
        yield from plan_nodes(child, into_aggregates=into_aggregates)


def pg_page_nodes(explained: str) -> Iterator[dict[str, Any]]:
    """`plan_nodes` of an EXPLAIN (FORMAT JSON), less the COUNT's."""
    return plan_nodes(json.loads(explained)[0]["Plan"], into_aggregates=False)


def assert_sorted_only_at_the_top(backend: Backend, explained: str) -> None:
    """A sort, if any, is of the page's rows only, at the statement's top: the
    counted page (`counted_page`) orders its joined rows once more (a join
    keeps no order by any rule); the rows themselves come off the index in
    order, unsorted."""
    if backend.is_postgres:
        for node in pg_page_nodes(explained):
            if node["Node Type"] in ("Sort", "Incremental Sort"):
                assert node["Plan Rows"] <= PAGE_ROWS, explained
    elif backend.is_mysql:
        assert_mysql_index_scans(explained)
    else:
        for line in explained.splitlines():
            if "TEMP B-TREE" in line:
                assert line.startswith("0|") and "SCAN paged" in explained, explained


def analyze(storage: MastraStorage, tables: str = "mastra_messages, mastra_threads") -> None:
    """Fresh planner statistics of these tables (of the storage's schema:
    a database-wide ANALYZE in one transaction locks every table of every
    schema, and runs out of PostgreSQL's lock table where many are left)."""
    with storage.engine.begin() as conn:
        dialect = storage.engine.dialect.name
        if dialect == "mysql":
            conn.execute(text(f"ANALYZE TABLE {tables}"))
        elif dialect == "postgresql":
            conn.execute(text(f"ANALYZE {tables}"))
        else:
            conn.execute(text("ANALYZE"))  # the test's own file


def mysql_tables(explained: str, table: str) -> list[dict[str, Any]]:
    """The plan's accesses to `table` (MySQL/MariaDB JSON plan)."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("table_name") == table:
                found.append(node)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(json.loads(explained))
    return found


def assert_mysql_index_scans(explained: str) -> None:
    """Every access to mastra_messages goes through the thread index (or the
    key), as a range or lookup, not a full scan; no sort of the rows."""
    accesses = mysql_tables(explained, "mastra_messages")
    assert accesses, explained
    for access in accesses:
        assert access["access_type"] in ("range", "ref", "eq_ref", "const"), explained
        assert access["key"] in (INDEX, "PRIMARY"), explained
    # No sort of the rows: at most the counted page's of its own rows at the
    # top (see `assert_sorted_only_at_the_top`).
    if '"filesort"' in explained:
        assert explained.count('"filesort"') == 1, explained
        sort_key = json.loads(explained)["query_block"]["filesort"]["sort_key"]
        assert sort_key.startswith("paged."), explained


def mysql_rows_read(storage: MastraStorage, statement: str, parameters: Any) -> int:
    """Index and table rows InnoDB read to run `statement` once."""
    with storage.engine.connect() as conn:
        conn.exec_driver_sql("FLUSH STATUS")
        conn.exec_driver_sql(statement, parameters).all()
        counters = dict(conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Handler_read%%'").all())
    return sum(int(counters[name]) for name in ("Handler_read_next", "Handler_read_prev"))


@pytest.fixture(scope="module")
def reads() -> dict[str, Callable[[MastraStorage], Any]]:
    return {
        "page": lambda s: s.list_messages(thread_id="big", page=37, per_page=40),
        "last-40": lambda s: s.list_messages(
            thread_id="big", per_page=40, direction="DESC", count_total=False
        ),
        "window": lambda s: s.list_messages(
            thread_id="big",
            per_page=0,
            count_total=False,
            include=[{"id": "m02500", "with_previous_messages": 5, "with_next_messages": 5}],
        ),
        "batches": lambda s: list(s.iter_messages(thread_id="big", batch_size=100)),
    }


@pytest.mark.slow
@pytest.mark.parametrize("backend", SYNC_BACKENDS, indirect=True)  # plans: one engine suffices
@pytest.mark.parametrize("read", ["page", "last-40", "window", "batches"])
def test_reads_on_a_large_thread_use_the_thread_index(
    storage: MastraStorage,
    backend: Backend,
    reads: dict[str, Callable[[MastraStorage], Any]],
    read: str,
) -> None:
    make_thread(storage, "big")
    make_thread(storage, "other")
    for start in range(0, 5000, 1000):
        storage.save_messages(
            messages=[
                message(f"m{i:05d}", "big", created_at=at(i)) for i in range(start, start + 1000)
            ]
            + [message(f"o{i:05d}", "other", created_at=at(i)) for i in range(start, start + 1000)]
        )
    analyze(storage)
    with captured(storage) as statements:
        reads[read](storage)
    assert statements, "no LIMITed SELECT was run"
    cursors = 0
    for statement, parameters in statements:
        explained = plan(storage, statement, parameters)
        if backend.is_postgres:
            nodes = list(pg_page_nodes(explained))
            assert all(node["Node Type"] != "Seq Scan" for node in nodes), explained
            if read != "batches":  # near a thread's end a bitmap scan and a sort of
                # the few rows left is the planner's (right) choice
                assert_sorted_only_at_the_top(backend, explained)
            assert INDEX in explained or "mastra_messages_pkey" in explained, explained
        elif backend.is_mysql:
            assert_mysql_index_scans(explained)
            names = set(parameters) if isinstance(parameters, dict) else set()
            if names & {"after_at", "at_0"}:  # reads from a keyset cursor
                # They start at the cursor: the index entries read are about
                # the rows returned, not the thread's messages up to the cursor
                # (a row-value comparison is no index range on MySQL/MariaDB,
                # and MariaDB 10.11 may scan a backward page from the thread's
                # end unless told the index: thousands of rows here).
                wanted = sum(
                    value
                    for name, value in parameters.items()
                    if re.fullmatch(r"limit|(before|after)_\d+", name)
                )
                read_ = mysql_rows_read(storage, statement, parameters)
                assert read_ <= wanted + 10, (read_, parameters)
                cursors += 1
        else:
            assert_sorted_only_at_the_top(backend, explained)
            lines = [line for line in explained.splitlines() if "mastra_messages" in line]
            assert lines and all("USING" in line and "INDEX" in line for line in lines), explained
    if backend.is_mysql and read in ("window", "batches"):
        assert cursors, "the keyset cursor statements were checked"


@pytest.mark.parametrize("backend", SYNC_BACKENDS, indirect=True)
@pytest.mark.parametrize("read", ["last-40", "window"])
def test_reads_without_a_total_count_nothing(
    storage: MastraStorage,
    backend: Backend,
    reads: dict[str, Callable[[MastraStorage], Any]],
    read: str,
) -> None:
    """`count_total=False`: no statement counts the thread, whose cost grows
    with it (a context window's `has_more` once did, twice)."""
    make_thread(storage, "big")
    storage.save_messages(
        messages=[message(f"m{i:05d}", "big", created_at=at(i)) for i in range(2450, 2560)]
    )
    sent: list[str] = []

    def remember(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        sent.append(statement.lower())

    event.listen(storage.engine, "before_cursor_execute", remember)
    try:
        page = reads[read](storage)
    finally:
        event.remove(storage.engine, "before_cursor_execute", remember)
    assert page.messages and page.has_more
    assert not [s for s in sent if "count(" in s], sent


# -- workflow runs: Mastra's status and thread id expression indexes ----------------

RUN_INDEXES = {
    "status": "mastra_workflow_snapshot_name_status_createdat_idx",
    "thread": "mastra_workflow_snapshot_threadid_idx",
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "filter_"),
    [
        ("sqlite-file", "status"),
        ("postgresql", "status"),
        # SQLite cannot index the thread id inside a suspended step (json_each);
        # there the filter reads each run, as @mastra/libsql's does.
        ("postgresql", "thread"),
    ],
    indirect=["backend"],
)
def test_run_filters_use_mastras_expression_indexes(
    storage: MastraStorage, backend: Backend, filter_: str
) -> None:
    statuses = ("running", "success", "failed", "suspended")
    with storage.session_scope() as session:
        for i in range(3000):
            memory = {"memoryInfo": {"threadId": f"thread-{i}"}}
            storage.persist_workflow_snapshot(
                workflow_name=f"wf-{i % 5}",
                run_id=f"run-{i}",
                snapshot={
                    "status": statuses[i % 4],
                    "context": {"input": {"messageListState": memory}},
                },
                created_at=at(i),
                session=session,
            )
    analyze(storage, "mastra_workflow_snapshot")
    filters: dict[str, Any] = (
        {"workflow_name": "wf-3", "status": "suspended"}
        if filter_ == "status"
        else {"thread_id": "thread-1234"}
    )
    with captured(storage) as statements:
        listed = storage.list_workflow_runs(page=0, per_page=20, **filters)
    assert listed.runs
    assert statements, "no LIMITed SELECT was run"
    for statement, parameters in statements:
        explained = plan(storage, statement, parameters)
        assert RUN_INDEXES[filter_] in explained, explained
        if backend.is_postgres:
            assert '"Seq Scan"' not in explained, explained


@pytest.mark.slow
@pytest.mark.parametrize("backend", SYNC_BACKENDS, indirect=True)
def test_saving_into_a_large_thread_finds_its_last_message_by_the_index(
    storage: MastraStorage, backend: Backend
) -> None:
    """`save_messages` reads the thread's last `createdAt` (messages without
    one are stamped after it): one probe of the thread index, however large
    the thread."""
    make_thread(storage, "big")
    for start in range(0, 5000, 1000):
        storage.save_messages(
            messages=[
                message(f"m{i:05d}", "big", created_at=at(i)) for i in range(start, start + 1000)
            ]
        )
    analyze(storage)
    with captured(storage) as statements:
        storage.save_messages(messages=[message("new", "big")])
    statements = [(s, p) for s, p in statements if "mastra_messages" in s]
    assert len(statements) == 1, statements
    explained = plan(storage, *statements[0])
    if backend.is_postgres:
        nodes = list(plan_nodes(json.loads(explained)[0]["Plan"]))
        scans = [
            n
            for n in nodes
            if n.get("Relation Name") == "mastra_messages" and n["Node Type"] != "ModifyTable"
        ]
        assert scans and all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in scans)
        assert all(n["Index Name"] == INDEX for n in scans), explained
        assert not [n for n in nodes if n["Node Type"] == "Sort"], explained
    elif backend.is_mysql:
        assert_mysql_index_scans(explained)
    else:
        assert "TEMP B-TREE" not in explained, explained
        lines = [line for line in explained.splitlines() if "mastra_messages" in line]
        assert lines and all("USING" in line and "INDEX" in line for line in lines), explained
    listed = storage.list_messages(thread_id="big", per_page=1, direction="DESC")
    assert [m.id for m in listed.messages] == ["new"]
