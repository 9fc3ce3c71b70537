"""Every difference between database backends lives here.

Repositories ask for a capability (`Features`) or call a helper (`upsert`,
`lock_rows`); they never test the dialect name themselves.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    DateTime,
    Float,
    Integer,
    Interval,
    PrimaryKeyConstraint,
    Select,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    event,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.util import await_

from .deadlines import unbounded, unbounded_reads
from .errors import ValidationError
from .orm.types import UTCDateTime

SUPPORTED = ("sqlite", "postgresql", "mysql")

S = TypeVar("S", bound=Select[Any])

BEGIN_OPTION = "mastra_storage_begin"
"""Execution option naming the SQLite BEGIN mode (`"IMMEDIATE"` for writers;
`NO_BEGIN` for a single-statement read, which is a transaction by itself)."""

NO_BEGIN = "NONE"
"""`BEGIN_OPTION` value: send no BEGIN (SQLite); only for one statement."""

LOCK_TIMEOUT_OPTION = "mastra_storage_lock_timeout_ms"
LOCK_WAIT_OPTION = "mastra_storage_lock_wait"
"""Execution option: a callable asked between the slices of a wait for
SQLite's write lock whether to go on waiting (False: the "database is
locked" error is raised at once); the async worker's calls stop so when
cancelled (`sqlite_worker`)."""
STATEMENT_TIMEOUT_OPTION = "mastra_storage_statement_timeout_ms"
"""Engine execution option: how long a SQLite writer waits for the write lock."""

PG_ADVISORY_LOCKS = "pg_advisory"
"""`Features.session_locks` of PostgreSQL: advisory locks on 64-bit keys."""
NAMED_LOCKS = "named"
"""`Features.session_locks` of MySQL/MariaDB: `GET_LOCK` on names of up to 64 characters."""

BINARY_RESULTS_OPTION = "mastra_storage_binary_results"
"""Statement execution option: fetch the rows in PostgreSQL's binary format
(psycopg). A `bytea` then travels as its bytes instead of twice as many hex
digits, which the server encodes and the driver decodes: reading the vectors
of semantic recall this way takes about half the time. Other drivers
and SQLite ignore it."""

PROXY_OPTION = "mastra_storage_proxy_schema"
"""Engine execution option, present behind a transaction-pooling proxy: the
schema each transaction sets for itself ("" for the server's default)."""


@dataclass(frozen=True)
class Features:
    name: str
    timestamp_twins: bool
    """The `"<col>Z"` timestamptz columns exist and must be written."""
    row_locks: bool
    """`SELECT ... FOR UPDATE` locks rows (otherwise a write lock is taken first)."""
    session_locks: str | None
    """Locks a database session holds until it lets go or its connection ends,
    which the "advisory" run-lock backend is built on: `PG_ADVISORY_LOCKS`,
    `NAMED_LOCKS`, or None (SQLite: none)."""
    max_bind_params: int
    """How many bound parameters one statement may carry."""
    max_ids: int = 10_000
    """How many ids one statement may list in an `IN (...)` (a bound
    parameter each) beside a few other parameters: longer lists go in pieces
    (`id_chunks`), in the caller's transaction. PostgreSQL: half its 65,535
    bound parameters; SQLite: just under `SQLITE_MAX_VARIABLES`; MySQL and
    MariaDB: 10,000 ids of up to 255 characters (4 bytes each) stay within
    MariaDB's default 16 MiB `max_allowed_packet`, which the statement, its
    values inlined by the driver, must fit."""
    id_arrays: bool = False
    """A list of ids travels as one array parameter (`in_ids`: `= ANY(:ids)`),
    whatever its length, in one statement (PostgreSQL)."""
    update_returning: bool = True
    """`UPDATE ... RETURNING` exists (not on MySQL/MariaDB)."""
    key_share_locks: bool = False
    """PostgreSQL's FOR KEY SHARE, which FOR NO KEY UPDATE does not wait for:
    writers of one thread's messages share its row, then update it. Without
    it (MySQL: a shared lock that two holders cannot both upgrade without
    deadlocking) they take the row exclusively, one after another."""
    row_value_ranges: bool = True
    """A row-value comparison, `(a, b) > (x, y)`, is an index range scan (not
    on MySQL/MariaDB, which scan every row of the prefix instead: see
    `keyset_past`)."""
    direct_statements: bool = False
    """A single-statement call may run its prebuilt statement on the pooled
    DBAPI connection itself (`mastra_storage.direct`): SQLite, where
    SQLAlchemy's per-statement machinery costs more than the statement, and
    PostgreSQL (in autocommit: `execute_alone`), where it costs about as much
    as the round trip."""
    direct_statements_async: bool = False
    """The async facade runs them so as well, on the async engine's sync face
    in one greenlet: PostgreSQL. Not SQLite, whose async writers wait for the
    write lock in short slices of BEGIN (each a point where a cancellation
    lands), which a statement run alone would not take."""
    snapshot_isolation: str | None = None
    """The isolation level of the storage's own reads of several statements
    (a page and its separate total, a page with included windows, a
    recall): all of them see one snapshot, so a total never disagrees with
    its page under concurrent writes. PostgreSQL and MySQL/MariaDB:
    REPEATABLE READ (a read-only transaction there takes no locks and
    never fails to serialize). SQLite: None, its read transaction sees one
    snapshot already (WAL, from its first read)."""
    writable_ctes: bool = False
    """Data-modifying statements in WITH (`WITH t AS (UPDATE ... RETURNING
    ...) INSERT ...`), so a write of several steps can be one statement:
    PostgreSQL, where `save_messages` is (see `MessageRepository.save`)."""
    direct_in_transaction: bool = False
    """Inside a transaction of the facade's own Connection, a `prepare`d
    statement runs on its DBAPI connection directly, in that transaction
    (`direct.execute`): SQLite, where SQLAlchemy's per-statement machinery
    costs about as much as a small statement."""
    multi_row_values: bool = False
    """`upsert_many` sends one multi-row VALUES statement per
    `max_bind_params` values, a bound parameter per value (SQLite)."""
    vector_extension: bool = False
    """pgvector may be installed: semantic recall looks for the `embedding`
    column its migration adds to `memory_messages` when the extension exists
    (PostgreSQL), and searches with it when it is there."""

    def __hash__(self) -> int:
        # The backend's name alone (equal features have equal names): the
        # repositories' statement caches hash a `Features` per call, and the
        # generated hash of every field costs a tuple and a frame more.
        return hash(self.name)


SQLITE_MAX_VARIABLES = 32_766
"""SQLite's default limit of bound parameters per statement since 3.32 (a
build may raise it; `Features.max_bind_params` stays lower for other reasons)."""

T = TypeVar("T")


def id_chunks(feats: Features, ids: Sequence[T], size: int | None = None) -> Sequence[Sequence[T]]:
    """`ids` in pieces for the bound list of `in_ids`, each for one statement
    of the caller's transaction: `(ids,)` itself when it fits (no copy, one
    statement, as without the limit) and always where the list is one array
    (`Features.id_arrays`); else pieces of at most `size` (default
    `Features.max_ids`), in order."""
    if size is None:
        size = feats.max_ids
    if feats.id_arrays or len(ids) <= size:
        return (ids,)
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def in_ids(feats: Features, column: Any, name: str) -> ColumnElement[bool]:
    """`column` among the ids bound as `ids_parameter(feats, name)` (values
    from `id_chunks`): PostgreSQL, `column = ANY(:ids)`, one binary array
    parameter however many ids (an index lookup per id, as `IN`); elsewhere
    an expanding `IN (...)`, a parameter per id."""
    if feats.id_arrays:
        # An array of the column's own type: each id gets its bind processing.
        array = postgresql.ARRAY(column.type, dimensions=1)
        ids = _BinaryParameter(f"{ROWS_PARAMETER}_{name}", type_=array)
        return column == any_(ids)  # type: ignore[no-any-return]
    return column.in_(bindparam(name, expanding=True))  # type: ignore[no-any-return]


def ids_parameter(feats: Features, name: str) -> str:
    """The key under which `in_ids(feats, column, name)` takes its ids."""
    return f"{ROWS_PARAMETER}_{name}" if feats.id_arrays else name


@lru_cache(maxsize=8)
def _features(name: str) -> Features:
    if name == "postgresql":
        return Features(
            name,
            timestamp_twins=True,
            row_locks=True,
            session_locks=PG_ADVISORY_LOCKS,
            max_bind_params=32_000,
            max_ids=32_000,
            id_arrays=True,
            key_share_locks=True,
            direct_statements=True,
            direct_statements_async=True,
            snapshot_isolation="REPEATABLE READ",
            writable_ctes=True,
            vector_extension=True,
        )
    if name == "sqlite":
        return Features(
            name,
            timestamp_twins=False,
            row_locks=False,
            session_locks=None,
            max_bind_params=900,
            max_ids=SQLITE_MAX_VARIABLES - 766,
            direct_statements=True,
            direct_in_transaction=True,
            multi_row_values=True,
        )
    if name == "mysql":
        return Features(
            name,
            timestamp_twins=False,
            row_locks=True,
            session_locks=NAMED_LOCKS,
            max_bind_params=30_000,
            snapshot_isolation="REPEATABLE READ",
            update_returning=False,
            row_value_ranges=False,
        )
    if name == "mariadb":
        raise ValidationError(
            "an engine of SQLAlchemy's 'mariadb' dialect: make it with a mysql+pymysql:// "
            "(or mysql+asyncmy://) URL, which serves MariaDB too",
            field="engine",
        )
    raise ValidationError(
        f"unsupported database dialect {name!r}: mastra-storage supports {', '.join(SUPPORTED)}",
        field="url",
    )


Executor = Session | Connection
"""What operations and repositories run statements on: the caller's Session,
or the Connection the facade opened (cheaper: no ORM unit of work)."""


def connection_of(executor: Executor) -> Connection:
    return executor.connection() if isinstance(executor, Session) else executor


def engine_of(executor: Executor) -> Engine:
    return connection_of(executor).engine


def features(bind: Session | Connection | Engine | Dialect) -> Features:
    if isinstance(bind, Session):
        bind = bind.get_bind()
    dialect = bind if isinstance(bind, Dialect) else bind.dialect
    return _features(dialect.name)


def upsert(
    feats: Features,
    table: Table,
    *,
    keys: Sequence[str],
    update_columns: Sequence[str],
    set_extra: dict[str, Any] | None = None,
) -> Insert:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET each of `update_columns` to
    the new value (plus `set_extra` expressions: a value, or a function of the
    new row's columns), the same on every backend. MySQL: INSERT ... ON
    DUPLICATE KEY UPDATE (our tables have one unique key each: `keys`)."""
    stmt = _insert(feats, table)
    new = stmt.inserted if feats.name == "mysql" else stmt.excluded
    set_: dict[str, Any] = {name: new[name] for name in update_columns}
    if set_extra:
        set_.update(
            {name: value(new) if callable(value) else value for name, value in set_extra.items()}
        )
    if feats.name == "mysql":
        return stmt.on_duplicate_key_update(set_)  # type: ignore[no-any-return]
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=set_)  # type: ignore[no-any-return]


def insert_if_absent(feats: Features, table: Table, *, keys: Sequence[str]) -> Insert:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, the same on every backend:
    with RETURNING, a row only when it was inserted. MySQL: INSERT IGNORE,
    whose IGNORE skips the duplicate key (values reach it checked, so no
    other error is there for it to turn into a warning)."""
    if feats.name == "mysql":
        return mysql.insert(table).prefix_with("IGNORE")
    return _insert(feats, table).on_conflict_do_nothing(index_elements=list(keys))  # type: ignore[no-any-return]


def _insert(feats: Features, table: Table) -> Any:
    """The dialect's INSERT, which has `on_conflict_do_update/nothing`
    (MySQL: `on_duplicate_key_update`)."""
    if feats.name == "mysql":
        return mysql.insert(table)
    return (postgresql if feats.name == "postgresql" else sqlite).insert(table)


ROWS_PARAMETER = "mastra_storage_rows"
"""Prefix of `upsert_many`'s bound parameters on PostgreSQL: one array per column."""


class _BinaryParameter(BindParameter[Any]):
    """A bound parameter psycopg sends in its binary format (`%(name)b`)."""

    inherit_cache = True


@compiles(_BinaryParameter)
def _render_binary_parameter(element: _BinaryParameter, compiler: Any, **kw: Any) -> str:
    rendered: str = compiler.visit_bindparam(element, **kw)
    text_placeholder = f"%({element.key})s"
    if compiler.dialect.driver == "psycopg" and rendered.startswith(text_placeholder):
        # Binary arrays: psycopg writes text[] in Python, quoting every item;
        # binary ones cost it and the server less (no escaping, no parsing).
        return f"%({element.key})b" + rendered[len(text_placeholder) :]
    return rendered  # another driver, literal binds: its usual placeholder


def upsert_many(
    feats: Features,
    dialect: Dialect,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    keys: Sequence[str],
    update_columns: Sequence[str],
    returning: Sequence[str] = (),
) -> list[tuple[Any, Any]]:
    """`upsert` of many `rows` (mappings with the same keys, in the same
    order): the statements to execute, each with its parameters, in order;
    with `returning`, each returns those columns of every row it wrote.

    - PostgreSQL: one statement; the rows travel as one array per column, in
      psycopg's binary format, unpacked by `unnest` into rows: a short
      statement with one placeholder per column, which psycopg prepares once.
      A multi-row VALUES list has a placeholder per value, and psycopg
      re-parses a statement with more than 50 of them on every execution
      (about 3 ms per 100 messages); one JSON document unpacked by
      `json_to_recordset` costs the client its encoding (ISO text per
      timestamp) and the server its parsing, about 1 ms more per 100 messages
      than the binary arrays.
    - SQLite (`Features.multi_row_values`): the single-row `upsert`
      (`prepare`d), given a list of up to `MAX_VALUES_ROWS` rows (fewer
      where `max_bind_params` says so) per statement: `direct.execute` runs
      it directly in the transaction as one multi-row VALUES statement,
      whose SQL it makes from the single-row statement's once per row
      count (no SQLAlchemy compilation per row count: that took ~15 ms for
      100 rows, the first call of each batch size) and binds the rows
      positionally (no name per value, no per-row parameter handling by
      SQLAlchemy: with that, a sixth of a message's instructions). Through
      SQLAlchemy (a host's `Session`, a watched engine), it is an
      executemany, which SQLAlchemy sends the same way.
    - MySQL: `upsert`, given the list of rows (the driver's multi-row
      executemany)."""
    if not rows:
        return []
    columns = tuple(rows[0])
    shape = (feats, table, columns, tuple(keys), tuple(update_columns), tuple(returning))
    if feats.name == "postgresql":
        stmt = _upsert_many_statement(*shape, 0)
        arrays = {name: [row[name] for row in rows] for name in columns}
        return [(stmt, array_parameters(dialect, table, arrays))]
    if not feats.multi_row_values:
        return [(_upsert_many_statement(*shape, 0), list(rows))]
    stmt = _upsert_many_statement(*shape, 1)
    per_statement = max(1, min(MAX_VALUES_ROWS, feats.max_bind_params // len(columns)))
    return [
        (stmt, list(rows[start : start + per_statement]))
        for start in range(0, len(rows), per_statement)
    ]


MAX_VALUES_ROWS = 128
"""Rows per multi-row VALUES statement at most (`upsert_many`): one SQL text
is made and kept per row count up to this (`direct.Plan.rows_sql`), so a
caller's batch sizes cost at most this many."""


@lru_cache(maxsize=64)
def _upsert_many_statement(
    feats: Features,
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    update_columns: tuple[str, ...],
    returning: tuple[str, ...],
    count: int,
) -> Any:
    """`upsert_many`'s statement: `count` 1, the single-row statement that
    `direct.execute` repeats the VALUES of (SQLite); 0, rows as PostgreSQL's
    arrays, or the executemany list (MySQL)."""
    from .direct import prepare

    if feats.name == "postgresql":
        source = unnest_rows(table, columns)
        stmt: Any = postgresql.insert(table).from_select(list(columns), select(*source.c))
        set_ = {name: stmt.excluded[name] for name in update_columns}
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=set_)
    else:
        stmt = upsert(feats, table, keys=keys, update_columns=update_columns)
    if returning:
        stmt = stmt.returning(*(table.c[name] for name in returning))
    return prepare(stmt) if count else stmt


def array_parameter(name: str, type_: Any) -> BindParameter[Any]:
    """PostgreSQL: the bound array `ROWS_PARAMETER_<name>` of values of
    `type_` (processed beforehand: `array_parameters`), sent in binary."""
    return _BinaryParameter(
        f"{ROWS_PARAMETER}_{name}", type_=postgresql.ARRAY(_storage_type(type_), dimensions=1)
    )


def unnest_rows(table: Table, columns: Sequence[str]) -> Any:
    """PostgreSQL: rows that travel as one binary array per column (the bound
    parameters `ROWS_PARAMETER_<name>`, which `many_rows_parameters` fills),
    unpacked by `unnest` into a FROM item with these `columns` of `table`."""
    from sqlalchemy import column

    typed = [(name, table.c[name].type) for name in columns]
    arrays = [array_parameter(name, type_) for name, type_ in typed]
    return (
        func.unnest(*arrays)
        .table_valued(*(column(name, type_) for name, type_ in typed))
        .render_derived()
    )


def _storage_type(type_: Any) -> Any:
    """The database type under a column's TypeDecorator (its values are
    processed by `many_rows_parameters`, not by the array's items)."""
    return getattr(type_, "impl_instance", type_)


def array_parameters(
    dialect: Dialect,
    table: Table,
    arrays: dict[str, list[Any]],
    like: dict[str, str] | None = None,
) -> dict[str, list[Any]]:
    """PostgreSQL: the bound arrays of `unnest_rows` from a list of values per
    column of `table`, each value put through its column type's bind
    processing (UTC, NUL escapes); an array named otherwise is processed as
    the column `like` maps its name to."""
    like = like or {}
    names = tuple(like.get(name, name) for name in arrays)
    params = {}
    for (name, values), (_, process) in zip(
        arrays.items(), _bind_processors(dialect, table, names), strict=True
    ):
        params[f"{ROWS_PARAMETER}_{name}"] = (
            values if process is None else list(map(process, values))
        )
    return params


@lru_cache(maxsize=32)
def _bind_processors(
    dialect: Dialect, table: Table, names: tuple[str, ...]
) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """Per column of `array_parameters`' arrays: its type's bind processing,
    looked up once per dialect and columns, not per value."""
    return tuple((name, table.c[name].type.bind_processor(dialect)) for name in names)


def json_contains(
    feats: Features, column: Any, expected: dict[str, Any], *, within: str | None = None
) -> list[ColumnElement[bool]]:
    """Conditions keeping rows whose JSON object in `column` (or in its
    top-level key `within`, e.g. `content` -> `metadata`) has each key of
    `expected` with an equal JSON value: deep equality, where key order and
    `1` vs `1.0` do not matter and `true` is not `1`; any key text works.
    The same meaning on every backend; `expected` must already be a checked
    JSON object (`values.json_object`).

    PostgreSQL: `(column -> key) = value::jsonb` per key (jsonb equality is
    exactly that). SQLite: our `mastra_json_has` function, registered on each
    connection (`configure_sqlite`), since SQLite's JSON path syntax cannot
    name every key and its JSON functions cut text at NUL.
    """
    from .orm.types import dumps, encode_json_text, encode_nul

    if not expected:
        return []
    if feats.name == "postgresql":
        # Keys and values NUL-escaped as stored; values as jsonb text (JSON
        # null stays a value, not SQL NULL).
        document = column
        if within is not None:
            document = column.op("->", return_type=JSONB())(
                bindparam(None, encode_nul(within), type_=Text())
            )
        return [
            document.op("->", return_type=JSONB())(bindparam(None, encode_nul(key), type_=Text()))
            == cast(bindparam(None, encode_json_text(value), type_=Text()), JSONB())
            for key, value in expected.items()
        ]
    if feats.name == "mysql":
        # The key's JSON path, each step a quoted member name (`$."a.b"`: any
        # text, quotes, dots and NUL escaped as in JSON), bound; values compared
        # by MariaDB's JSON_EQUALS (key order, 1 vs 1.0 aside; true is not 1).
        # A missing key extracts SQL NULL, which matches nothing.
        prefix = "$" if within is None else "$." + json.dumps(within, ensure_ascii=False)
        conditions = []
        for key, value in expected.items():
            found = func.json_extract(
                column,
                bindparam(None, f"{prefix}.{json.dumps(key, ensure_ascii=False)}", type_=Text()),
            )
            wanted = bindparam(None, dumps(value), type_=Text())
            conditions.append(func.json_equals(found, wanted, type_=Integer()) == 1)
        return conditions
    return [
        func.mastra_json_has(
            column, within, bindparam(None, dumps(expected), type_=Text()), type_=Integer()
        )
        == 1
    ]


SQLITE_FUNCTIONS = "mastra_storage.sqlite_functions"
"""Key in a pooled SQLite connection's `info`: our SQL functions are registered."""


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """`mastra_json_has(document, within, expected_json)` on one SQLite connection."""
    dbapi_connection.create_function("mastra_json_has", 3, _json_has, deterministic=True)
    dbapi_connection.create_function(
        "mastra_snapshot_thread_id", 1, _snapshot_thread_id, deterministic=True
    )


def _snapshot_thread_id(document: Any) -> Any:
    """`_SQLITE_SNAPSHOT_THREAD_ID` in Python, for a thread id holding NUL
    (SQLite's JSON functions cut text there)."""
    from .orm.types import loads_blob

    if document is None:
        return None
    try:
        value = loads_blob(document) if isinstance(document, bytes) else json.loads(document)
    except (ValueError, UnicodeDecodeError):
        return None

    def path(node: Any, *keys: str) -> Any:
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    memory = ("suspendPayload", "__streamState", "messageList", "memoryInfo", "threadId")
    context = path(value, "context")
    if isinstance(context, dict):
        for step in context.values():
            found = path(step, *memory)
            if path(step, "status") == "suspended" and found is not None:
                return found
    found = path(value, "context", "input", "messageListState", "memoryInfo", "threadId")
    return found if isinstance(found, str | int | float) else None


def _json_has(document: Any, within: str | None, expected_json: str) -> int:
    from .orm.types import loads_blob

    if document is None:
        return 0
    try:
        value = loads_blob(document) if isinstance(document, bytes) else json.loads(document)
    except (ValueError, UnicodeDecodeError):
        return 0  # not JSON (written by someone else): matches nothing, fails no one
    if within is not None:
        value = value.get(within) if isinstance(value, dict) else None
    if not isinstance(value, dict):
        return 0
    expected = _expected(expected_json)
    for key, wanted in expected.items():
        if key not in value or not json_equal(value[key], wanted):
            return 0
    return 1


@lru_cache(maxsize=256)
def _expected(expected_json: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(expected_json)
    return loaded


def json_equal(left: Any, right: Any) -> bool:
    """Deep equality of JSON values: numbers by value (`1 == 1.0`), booleans
    only with booleans, objects regardless of key order, arrays in order."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict):
        return (
            isinstance(right, dict)
            and left.keys() == right.keys()
            and all(json_equal(item, right[key]) for key, item in left.items())
        )
    if isinstance(left, list):
        return (
            isinstance(right, list)
            and len(left) == len(right)
            and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
        )
    return type(left) is type(right) and left == right


# Mastra's expressions for a run's status and the thread id embedded in its
# snapshot, character for character as migration 0006 indexes them (an
# expression index serves only a query with the same expression, literals
# included, so these are SQL text, not bound parameters).
_PG_SNAPSHOT_STATUS = "mastra_workflow_snapshot.snapshot ->> 'status'"
_PG_SNAPSHOT_THREAD_ID = (
    "COALESCE(jsonb_path_query_first(mastra_workflow_snapshot.snapshot, "
    '\'$.context.* ? (@.status == "suspended")'
    ".suspendPayload.__streamState.messageList.memoryInfo.threadId') #>> '{}', "
    "mastra_workflow_snapshot.snapshot #>> '{context,input,messageListState,memoryInfo,threadId}')"
)
_SQLITE_SNAPSHOT_STATUS = "json_extract(mastra_workflow_snapshot.snapshot, '$.status')"
_MYSQL_SNAPSHOT_STATUS = "JSON_UNQUOTE(JSON_EXTRACT(mastra_workflow_snapshot.snapshot, '$.status'))"
# MySQL/MariaDB: the same COALESCE, the steps of `context` walked by JSON_TABLE.
_MYSQL_SNAPSHOT_THREAD_ID = (
    "COALESCE((SELECT step.thread_id FROM JSON_TABLE(mastra_workflow_snapshot.snapshot, "
    "'$.context.*' COLUMNS (status LONGTEXT PATH '$.status', thread_id LONGTEXT PATH "
    "'$.suspendPayload.__streamState.messageList.memoryInfo.threadId')) AS step "
    "WHERE step.status = 'suspended' AND step.thread_id IS NOT NULL LIMIT 1), "
    "JSON_UNQUOTE(JSON_EXTRACT(mastra_workflow_snapshot.snapshot, "
    "'$.context.input.messageListState.memoryInfo.threadId')))"
)
# SQLite cannot index the first suspended step's thread id (it needs json_each):
# the same COALESCE as PostgreSQL's, evaluated row by row (as @mastra/libsql does).
_SQLITE_SNAPSHOT_THREAD_ID = (
    "COALESCE((SELECT json_extract(step.value, "
    "'$.suspendPayload.__streamState.messageList.memoryInfo.threadId') "
    "FROM json_each(mastra_workflow_snapshot.snapshot, '$.context') AS step "
    "WHERE json_extract(step.value, '$.status') = 'suspended' AND json_extract(step.value, "
    "'$.suspendPayload.__streamState.messageList.memoryInfo.threadId') IS NOT NULL LIMIT 1), "
    "json_extract(mastra_workflow_snapshot.snapshot, "
    "'$.context.input.messageListState.memoryInfo.threadId'))"
)


# `\u0000` in JSON text, not itself escaped (an even run of backslashes before it).
_NUL_ESCAPE = r"(^|[^\\])((\\\\)*)\\u0000"


def message_metadata(feats: Features, content: Any) -> ColumnElement[Any]:
    """`content.metadata` of a message, whose content column is JSON text (as
    Mastra stores it), as a JSON value for `json_contains`; NULL where the
    content is not a JSON object."""
    from sqlalchemy import case

    from .orm.types import JSONValue

    if feats.name == "postgresql":
        # jsonb cannot hold U+0000, which the JSON text holds as `\u0000`:
        # rewrite it into our stored escape first (`orm.types.encode_nul`, the
        # form `json_contains` compares against), so such a row is compared
        # rather than failing the whole read. Two passes: a match consumes the
        # character before the next escape of a run.
        from .orm.types import _MARK

        def unescape(text: Any) -> Any:
            return func.regexp_replace(
                text,
                bindparam(None, _NUL_ESCAPE, type_=Text()),
                bindparam(None, "\\1\\2" + _MARK + "0", type_=Text()),
                bindparam(None, "g", type_=Text()),
            )

        escaped = func.strpos(content, bindparam(None, "\\u0000", type_=Text())) > 0
        marked = func.replace(
            content,
            bindparam(None, _MARK, type_=Text()),
            bindparam(None, _MARK + _MARK, type_=Text()),
        )
        text = case((escaped, unescape(unescape(marked))), else_=marked)
        value: ColumnElement[Any] = cast(text, postgresql.JSONB()).op(
            "->", return_type=postgresql.JSONB()
        )(literal_column("'metadata'"))
        guard = content.like("{%")
    elif feats.name == "mysql":
        value = func.json_extract(content, literal_column("'$.metadata'"), type_=Text())
        guard = func.json_valid(content) == 1
    else:
        value = content.op("->", return_type=Text())(literal_column("'$.metadata'"))
        guard = func.json_valid(content) == 1
    return type_coerce(case((guard, value)), JSONValue())


def snapshot_status(feats: Features) -> ColumnElement[str]:
    """A workflow run's `snapshot.status` as text (index-backed together with
    `workflow_name`)."""
    sql = {"postgresql": _PG_SNAPSHOT_STATUS, "mysql": _MYSQL_SNAPSHOT_STATUS}.get(
        feats.name, _SQLITE_SNAPSHOT_STATUS
    )
    return literal_column(sql, Text())


def snapshot_status_is(feats: Features, status: str) -> ColumnElement[bool]:
    """`snapshot.status` equals `status`: through the indexed expression, except
    on SQLite for a status holding NUL (its JSON functions cut text there),
    which `json_contains` compares exactly."""
    from .orm.models import WorkflowSnapshotRow
    from .orm.types import SafeText

    if feats.name == "sqlite" and "\x00" in status:
        return and_(*json_contains(feats, WorkflowSnapshotRow.snapshot, {"status": status}))
    return snapshot_status(feats) == bindparam(None, status, type_=SafeText())


def snapshot_thread_id_is(feats: Features, thread_id: str) -> ColumnElement[bool]:
    """The run's embedded thread id equals `thread_id`: through Mastra's
    expression, except on SQLite for an id holding NUL (its JSON functions cut
    text there), which our `mastra_snapshot_thread_id` compares exactly."""
    from .orm.models import WorkflowSnapshotRow
    from .orm.types import SafeText

    if feats.name == "sqlite" and "\x00" in thread_id:
        return func.mastra_snapshot_thread_id(
            WorkflowSnapshotRow.snapshot, type_=Text()
        ) == bindparam(None, thread_id, type_=Text())
    return snapshot_thread_id(feats) == bindparam(None, thread_id, type_=SafeText())


def snapshot_thread_id(feats: Features) -> ColumnElement[str]:
    """The thread id Mastra embeds in a run's snapshot (`getSnapshotMemoryInfo`):
    the first suspended step's `suspendPayload.__streamState.messageList.
    memoryInfo.threadId`, else `context.input.messageListState.memoryInfo.
    threadId`. Index-backed on PostgreSQL."""
    sql = {"postgresql": _PG_SNAPSHOT_THREAD_ID, "mysql": _MYSQL_SNAPSHOT_THREAD_ID}.get(
        feats.name, _SQLITE_SNAPSHOT_THREAD_ID
    )
    return literal_column(sql, Text())


def database_now(feats: Features, *, plus_ms: Any = None) -> ColumnElement[datetime]:
    """The database's clock, plus `plus_ms` milliseconds (a number or a bound
    parameter), as a value of a `UTCDateTime` column.

    Leases are written and compared in database time, so holders on machines
    whose clocks disagree still agree on when a lease runs out.
    """
    if feats.name == "postgresql":
        now: ColumnElement[Any] = func.timezone("UTC", func.statement_timestamp(), type_=DateTime())
        if plus_ms is not None:
            now = now + plus_ms * literal_column("INTERVAL '1 millisecond'", Interval())
        return type_coerce(now, UTCDateTime())
    if feats.name == "mysql":
        # UTC_TIMESTAMP: the statement's start in UTC, whatever the session's zone.
        now = func.utc_timestamp(literal_column("3"), type_=DateTime())
        if plus_ms is not None:
            now = func.timestampadd(
                literal_column("MICROSECOND"), plus_ms * literal_column("1000"), now,
                type_=DateTime(),
            )  # fmt: skip
        return type_coerce(now, UTCDateTime())
    # SQLite: Mastra's ISO text, `2026-11-26T11:50:17.385Z`, from a julian day.
    day: ColumnElement[float] = func.julianday("now", type_=Float())
    if plus_ms is not None:
        day = day + cast(plus_ms, Float()) / literal_column("86400000.0", Float())
    return type_coerce(func.strftime("%Y-%m-%dT%H:%M:%fZ", day), UTCDateTime())


def single_statement_options(feats: Features, engine: Engine) -> dict[str, Any]:
    """Execution options for a connection whose every statement is a whole
    transaction (a compare-and-set): autocommit on PostgreSQL, so the row lock
    the statement takes ends with it rather than after a COMMIT round trip
    (not behind a transaction-pooling proxy: there each transaction sets its
    schema and lock bound first); a BEGIN IMMEDIATE transaction on SQLite,
    whose BEGIN we issue ourselves."""
    if feats.name == "mysql":
        return {"isolation_level": "AUTOCOMMIT"}
    if feats.name == "postgresql":
        if PROXY_OPTION in engine.get_execution_options():
            return {}
        return {"isolation_level": "AUTOCOMMIT"}
    return {BEGIN_OPTION: "IMMEDIATE"}


def hooked(engine: Engine, name: str, hook: Any) -> bool:
    """Whether `hook` listens to the dialect event `name` of this very engine.

    Not `event.contains`: its registry is keyed by `id()` of the engine, which
    a new engine can share with one just collected, and then the new engine
    was taken as hooked (a test's in-memory engine once ran its migrations
    without our BEGIN: DDL committed at once, a rollback undid nothing)."""
    return any(listener is hook for listener in getattr(engine.dialect.dispatch, name))


def configure_postgres_binary_results(engine: Engine) -> None:
    """Honour `BINARY_RESULTS_OPTION` on a psycopg engine.

    From the dialect's `do_execute` events, first of them, rather than a
    connection event: an engine with any connection event listener pays for
    dispatching every connection event on every statement."""
    if engine.dialect.driver != "psycopg":
        return
    if not hooked(engine, "do_execute", _binary_results_execute):
        event.listen(engine, "do_execute", _binary_results_execute, insert=True)
        event.listen(engine, "do_execute_no_params", _binary_results_no_params, insert=True)


def _binary_results_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    _binary_results(cursor, context)
    return False  # the dialect (or the next hook) executes the statement


def _binary_results_no_params(cursor: Any, statement: str, context: Any) -> bool:
    _binary_results(cursor, context)
    return False


def _binary_results(cursor: Any, context: Any) -> None:
    if context is None or not context.execution_options.get(BINARY_RESULTS_OPTION):
        return
    # psycopg's own cursor: SQLAlchemy's asyncio adapter wraps it in `_cursor`.
    # Each execution gets a new cursor, so the format does not outlive it.
    from psycopg.pq import Format  # only psycopg engines get this hook

    driver_cursor = getattr(cursor, "_cursor", cursor)
    driver_cursor.format = Format.BINARY


def configure_postgres(engine: Engine) -> None:
    """PostgreSQL hooks: behind a transaction-pooling proxy the per-transaction
    settings (`configure_postgres_proxy`); otherwise single-statement reads
    (`BEGIN_OPTION` = `NO_BEGIN`) run in autocommit, one round trip instead of
    BEGIN, the statement and COMMIT. A statement alone is atomic and sees one
    snapshot; the connection is back out of autocommit before anything else
    runs on it."""
    if PROXY_OPTION in engine.get_execution_options():
        configure_postgres_proxy(engine)
        return
    if not hooked(engine, "do_execute", _postgres_single_statement):
        event.listen(engine, "do_execute", _postgres_single_statement)
    _skip_idle_ends(engine.dialect, _postgres_may_be_in_transaction)


@compiles(PrimaryKeyConstraint, "mysql")
def _mysql_primary_key(constraint: PrimaryKeyConstraint, compiler: Any, **kw: Any) -> str:
    """A primary key's DDL on MySQL/MariaDB without its name: the server
    names every primary key PRIMARY, ignores ours with a note per table, and
    asyncmy logs each note as a warning on the user's stderr."""
    ddl: str = compiler.visit_primary_key_constraint(constraint, **kw)
    if ddl.startswith("CONSTRAINT "):
        ddl = ddl[ddl.index(" PRIMARY KEY") + 1 :]
    return ddl


def configure_mysql(engine: Engine) -> None:
    """MySQL/MariaDB hooks: a statement larger than the server's
    `max_allowed_packet` is refused before it is sent (`check_packet_size`)."""
    if not event.contains(engine, "before_cursor_execute", check_packet_size):
        event.listen(engine, "before_cursor_execute", check_packet_size)


_SURELY_SMALL = 1 << 20
"""Bytes under which a statement is not measured: below MySQL's and
MariaDB's smallest default `max_allowed_packet` (4 MiB, 16 MiB)."""
_ESCAPED = ("\\", "'", '"', "\0", "\n", "\r", "\x1a")
_MAX_PACKET_KEY = "mastra_storage_max_allowed_packet"


def _value_bytes(value: Any) -> int:
    """Bytes `value` takes in the statement the driver sends (its text,
    quoted and escaped, as PyMySQL and asyncmy interpolate it)."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass")) + sum(map(value.count, _ESCAPED)) + 2
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return 2 * len(data) + 10  # _binary'...', each byte escaped at worst
    return len(str(value)) + 2


def _parameter_sets(parameters: Any, executemany: bool) -> list[Any]:
    # SQLAlchemy's insertmanyvalues batches arrive flattened into one set
    # even when `executemany` is set: a list of sets holds sequences or dicts.
    if isinstance(parameters, dict):
        return [list(parameters.values())]
    if not parameters:
        return [[]]
    many = executemany and all(isinstance(v, (dict, list, tuple)) for v in parameters)
    sets = list(parameters) if many else [parameters]
    return [
        list(values.values()) if isinstance(values, dict) else list(values or ()) for values in sets
    ]


def check_packet_size(
    conn: Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> None:
    """Refuse (`ValidationError`, before anything is sent) a statement whose
    text and values exceed the MySQL/MariaDB server's `max_allowed_packet`.

    The server would read only the start of it and close the connection: the
    caller saw "connection lost ... safe to retry", and every retry failed
    the same way. Each set of an executemany goes alone (the driver splits
    batches), so each is measured on its own. Statements surely under 1 MiB
    (the length of their strings times 8, the worst of UTF-8 and escaping)
    cost no more than that sum; the server's limit is read once per
    connection, the first time a statement may exceed it."""
    sets = _parameter_sets(parameters, executemany)
    rough = 4 * len(statement) + max(
        (sum(8 * len(v) + 64 if isinstance(v, (str, bytes)) else 64 for v in values))
        for values in sets or [[]]
    )
    if rough <= _SURELY_SMALL:
        return
    limit = conn.info.get(_MAX_PACKET_KEY)
    if limit is None:
        probe = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            probe.execute("SELECT @@max_allowed_packet")
            row: Any = probe.fetchone()
            limit = int(row[0])
        finally:
            probe.close()
        conn.info[_MAX_PACKET_KEY] = limit
    head = len(statement.encode("utf-8")) + 1
    for values in sets:
        size = head + sum(_value_bytes(value) for value in values)
        if size > limit:
            raise ValidationError(
                f"the statement with these values takes {size:,} bytes, over the MySQL "
                f"server's max_allowed_packet of {limit:,} bytes; nothing was written "
                "(store less per call, or raise max_allowed_packet on the server)"
            )


TRANSACTION_IDLE = 0  # libpq PQTRANS_IDLE: no transaction open


def _postgres_single_statement(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    if context.execution_options.get(BEGIN_OPTION) != NO_BEGIN:
        return False
    return _postgres_autocommit(context.root_connection.connection, cursor, statement, parameters)


def _postgres_autocommit(fairy: Any, cursor: Any, statement: str, parameters: Any) -> bool:
    """`statement` run in autocommit on the pooled connection `fairy` (the
    pool's wrapper): True; or False (nothing run) when the connection is in
    autocommit already or has a transaction open."""
    driver = fairy.driver_connection  # psycopg's (Async)Connection
    if driver.autocommit or driver.pgconn.transaction_status != TRANSACTION_IDLE:
        return False  # already autocommit, or a transaction is open: as it is
    dbapi_connection = fairy.dbapi_connection
    dbapi_connection.autocommit = True  # client side only: no round trip
    try:
        cursor.execute(statement, parameters)
    finally:
        try:
            dbapi_connection.autocommit = False
        except Exception:
            # Only a broken connection refuses (status unknown): the pool's
            # rollback on its return fails and discards it.
            if driver.pgconn.transaction_status == TRANSACTION_IDLE:
                raise
    return True


def configure_postgres_proxy(engine: Engine) -> None:
    """Behind a transaction-pooling proxy (PgBouncer, pool_mode=transaction)
    a connection's session settings do not last beyond a transaction, and the
    proxy refuses the startup `options` that carry them otherwise: each
    transaction sets its own search_path and lock_timeout, in one round trip,
    first thing (`SET LOCAL`, gone at its end)."""
    if PROXY_OPTION not in engine.get_execution_options():
        return
    if not event.contains(engine, "begin", _postgres_proxy_begin):
        event.listen(engine, "begin", _postgres_proxy_begin)


def _postgres_proxy_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return  # no transaction to scope the settings to (advisory lock connections)
    schema = options.get(PROXY_OPTION) or ""
    timeout = f"{int(options.get(LOCK_TIMEOUT_OPTION, 10_000))}ms"
    statement = f"{int(options.get(STATEMENT_TIMEOUT_OPTION, 30_000))}ms"
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if schema:
            cursor.execute(
                "SELECT set_config('search_path', %s, true), set_config('lock_timeout', %s, true),"
                " set_config('statement_timeout', %s, true)",
                (conn.dialect.identifier_preparer.quote_identifier(schema), timeout, statement),
            )
        else:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true),"
                " set_config('statement_timeout', %s, true)",
                (timeout, statement),
            )
    except Exception as error:
        raise sa_exc.DBAPIError.instance(
            "SET LOCAL", (), error, conn.dialect.loaded_dbapi.Error
        ) from error
    finally:
        cursor.close()


def updated_rows(executor: Executor, stmt: Update, *columns: Any) -> Sequence[Any]:
    """The rows `stmt` updated, as `columns`: `UPDATE ... RETURNING` where the
    database has it; on MariaDB and MySQL (which have none) the UPDATE, then
    a SELECT of `columns` under the UPDATE's own WHERE clause, in the same
    transaction: the UPDATE locked those rows, so the SELECT reads them as
    written. The WHERE clause must not name a column the UPDATE sets."""
    if features(executor).update_returning:
        return executor.execute(stmt.returning(*columns)).all()
    executor.execute(stmt)
    reread = select(*columns)
    if stmt.whereclause is not None:
        reread = reread.where(stmt.whereclause)
    return executor.execute(reread).all()


def check_server(conn: Connection) -> None:
    """Refuse, before migrating, a server this library cannot run on: on the
    MySQL dialect, only MariaDB 10.7 and later (MySQL 8 lacks the RETURNING
    and JSON_EQUALS the backend's statements use). `StorageError` saying so."""
    from .errors import StorageError

    if conn.dialect.name != "mysql":
        return
    version = tuple(conn.dialect.server_version_info or ())
    if not getattr(conn.dialect, "is_mariadb", False):
        raise StorageError(
            f"MySQL {'.'.join(map(str, version))} is not supported yet: MySQLStorage runs on "
            "MariaDB 10.7 or later (MySQL 8 has no INSERT ... RETURNING)"
        )
    if version < (10, 7):
        raise StorageError(
            f"MariaDB {'.'.join(map(str, version))} is too old: MySQLStorage needs 10.7 or "
            "later (JSON_EQUALS, JSON_TABLE, INSERT ... RETURNING)"
        )


@contextmanager
def unbounded_statements(conn: Connection) -> Iterator[None]:
    """No statement bound for the rest of this transaction (`init()`'s
    migrations): PostgreSQL's `statement_timeout` off (`SET LOCAL`) and the
    client-side deadline lifted; MariaDB's session `max_statement_time` and
    the driver's read timeout off until the block ends. SQLite has no such bound."""
    if conn.dialect.name == "mysql" and getattr(conn.dialect, "is_mariadb", False):
        previous = float(conn.exec_driver_sql("SELECT @@session.max_statement_time").scalar_one())
        conn.exec_driver_sql("SET SESSION max_statement_time = 0")
        try:
            with unbounded_reads(conn.connection.dbapi_connection):
                yield
        finally:
            if not (conn.invalidated or conn.closed):
                conn.exec_driver_sql(f"SET SESSION max_statement_time = {previous:f}")
        return
    if conn.dialect.name != "postgresql":
        yield
        return
    conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
    with unbounded(conn.connection.dbapi_connection):
        yield


def lock_rows_sends(session: Executor) -> bool:
    """Whether `lock_rows` sends a statement in this session: so a caller can
    skip building its condition when it would not."""
    if features(session).row_locks:
        return False
    # our writer transaction began IMMEDIATE: it holds the write lock already
    return connection_of(session).get_execution_options().get(BEGIN_OPTION) not in _BEGIN


def lock_rows(session: Executor, table: Table, where: ColumnElement[bool]) -> None:
    """Serialise writers of the rows matching `where` until the transaction ends.

    PostgreSQL callers add `.with_for_update()` to their SELECT instead; on
    SQLite a no-op UPDATE takes the database write lock before anything is
    read, so a read-modify-write cannot interleave with another writer.
    """
    if not lock_rows_sends(session):
        return
    first = (list(table.primary_key.columns) or list(table.columns))[0]
    session.execute(update(table).where(where).values({first.key: first}))


def keyset_past(
    feats: Features,
    columns: Sequence[Any],
    values: Sequence[Any],
    *,
    after: bool,
) -> ColumnElement[bool]:
    """The rows past a keyset cursor: `(columns) > (values)` (`after`) or `<`.

    A row-value comparison where the database turns it into an index range
    (PostgreSQL, SQLite). MySQL/MariaDB do not, and read the whole prefix of
    the index (a context window of a 1,000,000-message thread read every
    message of it), so there it is spelled out with the first column's bound
    up front: `a >= x AND (a > x OR (a = x AND <the rest past>))`."""
    if feats.row_value_ranges:
        key, here = tuple_(*columns), tuple_(*values)
        return key > here if after else key < here
    first, value = columns[0], values[0]
    strict: ColumnElement[bool] = first > value if after else first < value
    if len(columns) == 1:
        return strict
    bound = first >= value if after else first <= value
    rest = keyset_past(feats, columns[1:], values[1:], after=after)
    return and_(bound, or_(strict, and_(first == value, rest)))


def along_index(stmt: S, table: Table, index: str) -> S:
    """`stmt` reading `table` through `index` on MySQL/MariaDB (`FORCE INDEX`),
    for a keyset read (`keyset_past`) ordered by that index: MariaDB 10.11
    otherwise may take the index's thread prefix alone (`ref`, as cheap by
    its estimate) and read a backward page by scanning from the thread's end
    to the cursor. Other backends: `stmt` as it is."""
    return stmt.with_hint(table, f"FORCE INDEX ({index})", dialect_name="mysql")


def create_row_to_lock(
    session: Executor,
    table: Table,
    *,
    keys: Sequence[str],
    values: dict[str, Any] | Sequence[dict[str, Any]],
) -> None:
    """Before a locked read-modify-write of a row that the write may itself
    create: make sure the row exists, so the lock has something to lock.

    PostgreSQL: `SELECT ... FOR UPDATE` locks nothing when the row is missing,
    so concurrent creators would each merge into nothing and the last upsert
    would overwrite the others. `INSERT ... ON CONFLICT (keys) DO NOTHING` of
    `values` (a blank row: the key and what NOT NULL needs; or a list of such
    rows, in key order) makes it exist; a
    concurrent insert of the same key waits for the first one's commit. The
    caller's `SELECT ... FOR UPDATE` then always has a row to lock.
    MySQL: the same with INSERT ... ON DUPLICATE KEY UPDATE (a no-op).
    SQLite: nothing to do; `lock_rows` takes the database write lock, which
    serialises the writers whether the row exists or not.
    """
    feats = features(session)
    # Many rows go as an executemany of one statement (psycopg pipelines it,
    # PyMySQL makes it one multi-row INSERT), not as a VALUES list compiled
    # anew for each count of rows.
    rows = [values] if isinstance(values, dict) else list(values)
    if not rows:
        return
    if feats.name == "mysql":
        # Not INSERT IGNORE: on a duplicate it takes a shared lock, and two
        # creators holding one each deadlock when both go on to lock the row
        # for update. ON DUPLICATE KEY UPDATE (a no-op) takes it exclusively.
        stmt = mysql.insert(table).on_duplicate_key_update({keys[0]: table.c[keys[0]]})
        session.execute(stmt, rows)
    elif feats.row_locks:
        session.execute(insert_if_absent(feats, table, keys=keys), rows)


def configure_sqlite(engine: Engine, *, wal: bool) -> None:
    """SQLAlchemy's recipe for correct SQLite transactions, plus pragmas.

    The driver's own implicit BEGIN is switched off and we emit BEGIN ourselves:
    plain BEGIN for readers, BEGIN IMMEDIATE for writers (execution option
    `mastra_storage_begin`), so a writer waits for the write lock up front
    (honouring busy_timeout) instead of failing when it upgrades a read lock.

    The BEGIN goes out just before the transaction's first statement, from
    the dialect's `do_execute` events rather than the engine's `begin` event:
    an engine with any connection event listener pays for dispatching every
    connection event on every statement (about a fifth of a point read).
    A transaction sending no statement begins nothing, and its COMMIT is a
    no-op; one that sends any holds its BEGIN's lock before the statement runs.
    """
    if hooked(engine, "do_execute", _sqlite_begin_execute):
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        register_sqlite_functions(dbapi_connection)
        record.info[SQLITE_FUNCTIONS] = True
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    event.listen(engine, "do_execute", _sqlite_begin_execute)
    event.listen(engine, "do_executemany", _sqlite_begin_execute)
    event.listen(engine, "do_execute_no_params", _sqlite_begin_no_params)
    _skip_idle_ends(engine.dialect)


def _skip_idle_ends(
    dialect: Dialect, may_be_in_transaction: Callable[[Any], bool] | None = None
) -> None:
    """COMMIT and ROLLBACK only a connection the driver says is in a transaction.

    The driver's `commit()` / `rollback()` do nothing outside one, but through
    aiosqlite each is still a trip to its thread, and through SQLAlchemy's
    asyncio adapter of psycopg an awaited coroutine (a greenlet switch each
    way, psycopg's lock): a read without BEGIN, a statement run alone in
    autocommit, and the pool's rollback when such a connection comes back,
    would pay it for nothing. `may_be_in_transaction` (default: SQLite's
    test) says False only for a connection surely idle."""
    if getattr(dialect, _IDLE_ENDS, False):
        return
    commit, rollback = dialect.do_commit, dialect.do_rollback
    check = may_be_in_transaction or _may_be_in_transaction

    def do_commit(dbapi_connection: Any) -> None:
        if check(dbapi_connection):
            commit(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        if check(dbapi_connection):
            rollback(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]
    setattr(dialect, _IDLE_ENDS, True)


_IDLE_ENDS = "_mastra_storage_idle_ends"


def _may_be_in_transaction(dbapi_connection: Any) -> bool:
    """False only when the connection (a pool's proxy) is surely not in a
    transaction: a closed or unknown one goes on to the driver, as before."""
    try:
        return bool(dbapi_connection.driver_connection.in_transaction)
    except Exception:
        return True


def _postgres_may_be_in_transaction(dbapi_connection: Any) -> bool:
    """False only when psycopg's connection (behind the pool's proxy) is
    surely idle: libpq's transaction status IDLE, no pipeline. psycopg's own
    `commit()` / `rollback()` then return without sending anything (after
    taking the connection's lock, awaited on an async connection); a
    connection in a transaction, running a statement, broken or closed (status
    UNKNOWN) goes on to the driver, as before."""
    try:
        pgconn = dbapi_connection.driver_connection.pgconn
        return bool(pgconn.transaction_status != TRANSACTION_IDLE or pgconn.pipeline_status)
    except Exception:
        return True


_BEGIN = {"IMMEDIATE": "BEGIN IMMEDIATE", "EXCLUSIVE": "BEGIN EXCLUSIVE"}


def _sqlite_begin_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    _sqlite_begin(cursor, context)
    return False  # the dialect executes the statement itself


def _sqlite_begin_no_params(cursor: Any, statement: str, context: Any) -> bool:
    _sqlite_begin(cursor, context)
    return False


def sqlite_connection_ready(fairy: Any) -> None:
    """A pooled SQLite connection (`fairy`: the pool's wrapper) set up as our
    connect hook sets up new ones, for one a caller's engine made before our
    hooks: our SQL functions registered, and the driver's own transaction
    handling off (`isolation_level` None), so that it never sends a BEGIN of
    its own (which would leave a statement meant to be its own transaction
    uncommitted until the pool rolls it back)."""
    dbapi_connection: Any = fairy.dbapi_connection
    info = fairy.info
    if SQLITE_FUNCTIONS not in info:
        register_sqlite_functions(dbapi_connection)
        info[SQLITE_FUNCTIONS] = True
    if dbapi_connection.isolation_level is not None:
        dbapi_connection.isolation_level = None


def execute_alone(
    dialect: Dialect, fairy: Any, statement: str, parameters: Any, fetch: bool
) -> list[Any]:
    """Run `statement` as a transaction by itself on the pooled connection
    `fairy` (the pool's wrapper, fresh from a checkout), for
    `mastra_storage.direct`; its rows when `fetch` (else none are read).
    SQLite: as it is (the driver's own transaction handling is off, see
    `sqlite_connection_ready`), so the statement is its own transaction.
    PostgreSQL: in autocommit, one round trip (no BEGIN, no COMMIT), the
    connection back out of autocommit before the pool has it again; on a
    connection in autocommit already (an engine made with
    `isolation_level="AUTOCOMMIT"`) as it is; on one that came with a
    transaction open (a caller's `connect` hook ran SQL on it) in that
    transaction, then committed with it, as SQLAlchemy's own path does.

    PostgreSQL: a connection the server has closed meanwhile (a restart, an
    idle-session kill) is found before anything is sent: its error carries
    `NOT_SENT` (nothing of the statement reached the server).

    Async PostgreSQL (SQLAlchemy's asyncio adapter, in the greenlet of
    `greenlet_spawn`): the same steps on psycopg's `AsyncConnection` itself,
    in one coroutine awaited once (`postgres_alone_async`), rather than one await
    through the adapter per step (the cursor's opening, each autocommit
    switch, the execute): each await is a greenlet switch each way."""
    if dialect.name != "postgresql":
        sqlite_connection_ready(fairy)
        if dialect.is_async:
            found: list[Any] = await_(
                on_aiosqlite(fairy.driver_connection, statement, parameters, fetch)
            )[0]
            return found
        return _alone_on(fairy.dbapi_connection.cursor(), statement, parameters, fetch)
    driver = fairy.driver_connection
    if dialect.is_async:
        rows: list[Any] = await_(postgres_alone_async(driver, statement, parameters, fetch))
        return rows
    _check_server_goodbye(driver)
    cursor = driver.cursor()
    if _postgres_autocommit(fairy, cursor, statement, parameters):
        return _rows_of(cursor, fetch)
    cursor.execute(statement, parameters)
    if not driver.autocommit:
        driver.commit()
    return _rows_of(cursor, fetch)


async def on_aiosqlite(driver: Any, sql: str, values: Any, fetch: bool) -> tuple[list[Any], int]:
    """`sql` through aiosqlite's connection `driver` in one trip to its
    thread (SQLAlchemy's adapter takes up to four: the cursor's creation,
    the execute, the fetch, the close): the rows, or for DML without them
    the row count. Its cursor needs no closing: sqlite3 has finished the
    statement."""
    if fetch:
        return list(await driver.execute_fetchall(sql, values)), -1
    cursor = await driver.execute(sql, values)
    return [], int(cursor.rowcount)


def _alone_on(cursor: Any, statement: str, parameters: Any, fetch: bool) -> list[Any]:
    cursor.execute(statement, parameters)
    return _rows_of(cursor, fetch)


def _rows_of(cursor: Any, fetch: bool) -> list[Any]:
    rows = cursor.fetchall() if fetch else []
    cursor.close()
    return rows


def _check_server_goodbye(driver: Any) -> None:
    """Before a statement on the psycopg connection `driver`: what the server
    said meanwhile, a goodbye (FATAL) then the end of the stream, read one
    at a time (on a live connection: nothing); a connection found closed
    raises the driver's error, marked `NOT_SENT`."""
    try:
        driver.pgconn.consume_input()
        driver.pgconn.consume_input()
    except Exception as error:
        setattr(error, NOT_SENT, True)
        raise


async def postgres_alone_async(
    driver: Any, statement: str, parameters: Any, fetch: bool
) -> list[Any]:
    """`execute_alone`'s PostgreSQL steps on psycopg's `AsyncConnection`
    `driver` (the sync ones: `_check_server_goodbye`, `_postgres_autocommit`,
    then the commit of a transaction the connection came with). Awaited in
    `greenlet_spawn`'s greenlet by `execute_alone`, or directly by
    `held_connection`."""
    _check_server_goodbye(driver)
    cursor = driver.cursor()
    alone = not driver.autocommit and driver.pgconn.transaction_status == TRANSACTION_IDLE
    if alone:
        await driver.set_autocommit(True)  # client side only: no round trip
        try:
            await cursor.execute(statement, parameters)
        finally:
            try:
                await driver.set_autocommit(False)
            except Exception:
                # As in `_postgres_autocommit`: only a broken connection
                # refuses, which the pool then discards.
                if driver.pgconn.transaction_status == TRANSACTION_IDLE:
                    raise
    else:
        await cursor.execute(statement, parameters)
        if not driver.autocommit:
            await driver.commit()
    rows = await cursor.fetchall() if fetch else []
    await cursor.close()
    return rows


NOT_SENT = "mastra_storage_not_sent"
"""Set on a driver error raised before a statement was sent (`execute_alone`)."""


def abandon_statement(dialect: Dialect, fairy: Any) -> None:
    """After an error that is not the driver's (a signal handler's, an
    interrupt) stopped the wait for a statement sent by `execute_alone`:
    PostgreSQL may still be running it, and would commit it by itself
    (autocommit) once a lock it waits for is free: ask the server to cancel
    it (best effort). The connection is then not given back to the pool."""
    if dialect.name == "postgresql":
        with contextlib.suppress(Exception):  # gone already: nothing runs on it
            fairy.driver_connection.cancel()
    fairy.invalidate()


def _sqlite_begin(cursor: Any, context: Any) -> None:
    """BEGIN (IMMEDIATE for writers) on the statement's cursor, when the
    statement is the first of a SQLAlchemy transaction the database has not
    begun yet."""
    begin_sqlite(cursor, context.root_connection, context.execution_options)


def begin_sqlite(cursor: Any, conn: Connection, options: Mapping[str, Any]) -> None:
    """`_sqlite_begin` for a statement with these execution `options` about
    to run on `cursor` of `conn` (`direct.execute` runs statements so)."""
    if not conn.in_transaction():
        return
    fairy: Any = conn.connection
    if fairy.driver_connection.in_transaction:  # sqlite3 / aiosqlite: begun already
        return
    mode = options.get(BEGIN_OPTION, "")
    if mode == NO_BEGIN or options.get("isolation_level") == "AUTOCOMMIT":
        return
    sqlite_connection_ready(fairy)
    statement = _BEGIN.get(mode, "BEGIN")
    started = time.monotonic()
    while True:
        try:
            cursor.execute(statement)
            return
        except Exception as error:
            # A writer waits for the write lock up to lock_timeout_ms: in one
            # busy wait (sync), or in short ones (async), each a point where
            # the event loop can deliver a cancellation.
            bound = options.get(LOCK_TIMEOUT_OPTION, 10_000) / 1000
            if "locked" not in str(error) or time.monotonic() - started >= bound:
                raise
            keep_waiting = options.get(LOCK_WAIT_OPTION)
            if keep_waiting is not None and not keep_waiting():
                raise


OWN_STATEMENT_HOOKS: frozenset[Any] = frozenset(
    {
        _sqlite_begin_execute,
        _sqlite_begin_no_params,
        _binary_results_execute,
        _binary_results_no_params,
        _postgres_single_statement,
    }
)
"""This library's own `do_execute` hooks (BEGIN on SQLite, binary results and
single-statement autocommit on PostgreSQL): a caller's hook is anything else."""
