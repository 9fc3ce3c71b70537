"""Direct execution: a statement built once, run on a pooled DBAPI connection.

The calls an agent makes most (`get_thread_by_id`, `load_workflow_snapshot`,
...) send one statement that the repositories build once, at import. On
SQLite, SQLAlchemy's per-statement machinery around it (Connection, execution
context, compiled-cache lookup, cursor result metadata, event dispatch) costs
about three times the statement itself: ~40 µs of a ~55 µs call.
`DirectExecutor` runs such a statement on the DBAPI connection of a pool
checkout instead, with what SQLAlchemy itself computes for the statement,
once per dialect: the compiled SQL, and the bind and result processors of its
types (`Plan`).

What stays as it was:

- the pool: checkout, the reset on return, pre-ping and recycle if set, fork
  safety, invalidation;
- errors: a driver error is raised as SQLAlchemy's `DBAPIError` (so the
  facade's `translate_errors` and its retry of a read on a dropped connection
  apply unchanged); a disconnect invalidates the connection first;
- the caller's instrumentation and logging: an engine with any statement
  event listener, or `echo`, is never run directly (`usable`);
- everything else: a statement not `prepare`d (built per call), or one this
  module does not plan for (expanding IN lists, RETURNING), runs on a
  SQLAlchemy Connection opened on demand, as any other call's.

Used by the sync facade for operations marked `single_statement` (one
statement, a transaction by itself: no BEGIN, no COMMIT; on PostgreSQL in
autocommit, see `dialects.execute_alone`) on backends whose
`Features.direct_statements` says so, and by the async facade where
`Features.direct_statements_async` does (PostgreSQL: on the async engine's
sync face, in one greenlet).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect, Engine, Result
from sqlalchemy.event.attr import _EmptyListener, _ListenerCollection
from sqlalchemy.orm import Session
from sqlalchemy.pool import SingletonThreadPool, StaticPool
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import Select
from sqlalchemy.sql.sqltypes import TupleType
from sqlalchemy.util import await_

from .dialects import (
    OWN_STATEMENT_HOOKS,
    PROXY_OPTION,
    abandon_statement,
    begin_sqlite,
    execute_alone,
    features,
    on_aiosqlite,
)

if TYPE_CHECKING:
    from .kept_connection import KeptConnection

S = TypeVar("S", bound=ClauseElement)

_PREPARED: dict[int, tuple[ClauseElement, bool]] = {}
"""id -> (statement, whether it is DML), for every statement `prepare` was
given (kept alive here, so an id is never reused by another statement)."""


def prepare(statement: S) -> S:
    """Mark `statement`, built once and reused for every call with bound
    parameters only, as one `DirectExecutor` may run directly. Returns it."""
    _PREPARED[id(statement)] = (statement, isinstance(statement, UpdateBase))
    return statement


def allowed(engine: Engine) -> bool:
    """Whether `engine`'s backend lets statements run directly
    (`Features.direct_statements`; not behind a transaction-pooling proxy,
    whose per-transaction settings come with BEGIN), from a pool that lends
    each caller a connection of its own (not `StaticPool` nor
    `SingletonThreadPool`, which hand a caller the connection its host may
    have a transaction open on). Fixed for an engine."""
    if isinstance(engine.pool, StaticPool | SingletonThreadPool):
        return False
    return features(engine).direct_statements and PROXY_OPTION not in engine.get_execution_options()


_DIALECT_HOOKS = ("do_execute", "do_executemany", "do_execute_no_params")
_ONLY_OURS = OWN_STATEMENT_HOOKS.issuperset


def unobserved(engine: Engine) -> bool:
    """Whether nothing watches or changes `engine`'s statements, checked on
    every call (listeners come and go): no SQL logging (`echo`, or the
    `sqlalchemy.engine` logger at INFO), no connection event listener
    (`before_cursor_execute` and the like: a caller's tracing, a statement
    counter; SQLAlchemy's own flag, set for good by the first one), no
    `handle_error` listener, no `do_execute` hook but this library's own."""
    if engine._has_events or engine.echo or engine._should_log_info():
        return False
    dispatch = engine.dialect.dispatch
    if dispatch.handle_error:
        return False
    for name in _DIALECT_HOOKS:
        hooks = getattr(dispatch, name)
        # The listeners a collection runs are its class's and its own (C
        # iteration of both deques: SQLAlchemy's own iterator chains them
        # in Python); any other kind of collection is iterated as it is.
        kind = type(hooks)
        if kind is _ListenerCollection:
            if not (_ONLY_OURS(hooks.listeners) and _ONLY_OURS(hooks.parent_listeners)):
                return False
        elif kind is _EmptyListener:
            if not _ONLY_OURS(hooks.parent_listeners):
                return False
        elif not _ONLY_OURS(hooks):
            return False
    return True


@dataclass(frozen=True, slots=True)
class Plan:
    """What running one statement directly needs, computed once per dialect."""

    sql: str
    positional: bool
    names: tuple[str, ...]
    """The bound parameters, in the order of the SQL's placeholders."""
    defaults: Mapping[str, Any]
    """Values compiled into the statement (a `.limit(1)`), by parameter name."""
    bind_processors: Mapping[str, Callable[[Any], Any]]
    result_processors: tuple[Callable[[Any], Any] | None, ...] | None
    """Per selected column; None for a statement that returns no rows."""
    binds: tuple[tuple[str, Callable[[Any], Any] | None, Any], ...] = ()
    """Per placeholder, in `names` order: its name, its bind processor (or
    None) and its default (`REQUIRED`: none), what `bind_values` walks."""
    result_steps: tuple[tuple[int, Callable[[Any], Any]], ...] = ()
    """The selected columns that have a result processor: (index, processor)."""
    many: dict[int, str | None] = field(default_factory=dict, compare=False)
    """`rows_sql`'s texts, by row count (None: the SQL cannot be repeated)."""

    def __post_init__(self) -> None:
        binds = tuple(
            (name, self.bind_processors.get(name), self.defaults.get(name, REQUIRED))
            for name in self.names
        )
        steps = tuple(
            (index, processor)
            for index, processor in enumerate(self.result_processors or ())
            if processor is not None
        )
        object.__setattr__(self, "binds", binds)
        object.__setattr__(self, "result_steps", steps)

    def rows_sql(self, rows: int) -> str | None:
        """The SQL of this single-row INSERT with `rows` rows in its VALUES
        list, each with this one's placeholders (what SQLAlchemy's
        "insertmanyvalues" sends for an executemany): built from `sql`, once
        per row count, or None where that cannot be done safely (named
        placeholders, or `?` anywhere but in one VALUES group)."""
        texts = self.many
        if rows in texts:
            return texts[rows]
        width = len(self.names)
        group = "(" + ", ".join(["?"] * width) + ")"
        single = f" VALUES {group}"
        sql = self.sql
        text = None
        if self.positional and width and sql.count("?") == width and sql.count(single) == 1:
            text = sql.replace(single, " VALUES " + ", ".join([group] * rows))
        if len(texts) >= MAX_VALUES_TEXTS:
            texts.clear()
        texts[rows] = text
        return text


MAX_VALUES_TEXTS = 256
"""`Plan.rows_sql` texts kept per plan at most (a caller's batch sizes are
chunked to `dialects.MAX_VALUES_ROWS` rows a statement, so fewer are made)."""

REQUIRED: Any = object()
"""`Plan.binds`: a parameter without a default (a value must be given)."""


MAX_PLANS = 2_000
"""Plans kept per dialect (each prepared statement once per schema and set
of written columns: about 25 per schema); past that the cache starts over."""

_NO_PLAN = object()
# dialect -> {(statement id, parameter names of a DML statement): Plan | _NO_PLAN}
_PLANS: weakref.WeakKeyDictionary[Dialect, dict[Any, Any]] = weakref.WeakKeyDictionary()
_PLANS_LOCK = threading.Lock()


def _plan(
    dialect: Dialect,
    statement: ClauseElement,
    keys: tuple[str, ...],
    schema_map: Any,
    returning: bool = False,
) -> Plan | None:
    compiled: Any = statement.compile(
        dialect=dialect,
        column_keys=list(keys) if keys else None,
        schema_translate_map=schema_map,
        render_schema_translate=bool(schema_map),
    )
    binds = compiled.bind_names  # BindParameter -> name
    if (
        compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.escaped_bind_names
        or any(bind.expanding or isinstance(bind.type, TupleType) for bind in binds)
    ):
        return None
    returned = getattr(compiled, "effective_returning", None)
    if returned and not returning:
        return None
    if isinstance(statement, Select) or returned:
        selected: Any = statement.selected_columns if isinstance(statement, Select) else returned
        try:
            results: tuple[Callable[[Any], Any] | None, ...] | None = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in selected
            )
        except Exception:
            # A type whose processing depends on the driver's type code of
            # the column (psycopg's numerics): through SQLAlchemy, which has it.
            return None
    elif isinstance(statement, UpdateBase):
        results = None
    else:
        return None
    processors = {}
    defaults = {}
    for bind, name in binds.items():
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            processors[name] = processor
        if not bind.required:
            defaults[name] = bind.effective_value
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(binds.values())
    return Plan(
        sql=compiled.string,
        positional=bool(compiled.positional),
        names=names,
        defaults=defaults,
        bind_processors=processors,
        result_processors=results,
    )


def plan_for(
    dialect: Dialect,
    statement: ClauseElement,
    parameters: Mapping[str, Any],
    schema_map: Any,
    returning: bool = False,
) -> Plan | None:
    """The statement's `Plan` on `dialect`, or None when it must go through
    SQLAlchemy (not `prepare`d, or something a plan does not cover; DML with
    RETURNING only where `returning`: `execute`, in a transaction)."""
    prepared = _PREPARED.get(id(statement))
    if prepared is None or prepared[0] is not statement:
        return None
    # DML: the plan depends on the set of parameters (the columns written);
    # keyed by them in the caller's order (a repository always gives the same
    # one), planned by them sorted. The schemas by what they say, not by the
    # mapping's id(): a storage's mapping, gone with it, may leave its id to
    # another's naming another schema (whose calls would then go to the first
    # one's tables).
    keys = tuple(parameters) if prepared[1] else ()
    schemas = frozenset(schema_map.items()) if schema_map else None
    key = (id(statement), keys, schemas, returning)
    last = _LAST_PLANS
    plans = last[1] if last[0]() is dialect else _plans_of(dialect)
    plan = plans.get(key)
    if plan is None:
        plan = _plan(dialect, statement, tuple(sorted(keys)), schema_map, returning) or _NO_PLAN
        if len(plans) >= MAX_PLANS:
            plans.clear()  # many schemas (a storage per tenant): start over
        plans[key] = plan
    return plan if isinstance(plan, Plan) else None


def _plans_of(dialect: Dialect) -> dict[Any, Any]:
    global _LAST_PLANS
    plans = _PLANS.get(dialect)
    if plans is None:
        with _PLANS_LOCK:
            plans = _PLANS.setdefault(dialect, {})
    _LAST_PLANS = (weakref.ref(dialect), plans)
    return plans


def _no_dialect() -> Dialect | None:
    return None


_LAST_PLANS: tuple[Callable[[], Dialect | None], dict[Any, Any]] = (_no_dialect, {})
"""The plans of the dialect `plan_for` was last asked about (a process
mostly has one): its `_PLANS` entry without the weak dictionary's lookup.
Replaced whole (one assignment: threads see the old pair or the new one);
the dialect is referred to weakly, as in `_PLANS`."""


class DirectResult:
    """The rows of a statement run directly, processed as SQLAlchemy would;
    the part of `Result`'s interface the repositories use."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int = -1) -> None:
        self._rows = rows
        self.rowcount = rowcount
        """As the driver's cursor gave it: rows written by DML (-1: unknown)."""

    def all(self) -> list[tuple[Any, ...]]:
        return self._rows

    def first(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def one_or_none(self) -> tuple[Any, ...] | None:
        if len(self._rows) > 1:
            raise sa_exc.MultipleResultsFound(
                "Multiple rows were found when one or none was required"
            )
        return self.first()

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            kind = sa_exc.NoResultFound if not self._rows else sa_exc.MultipleResultsFound
            raise kind("Exactly one row was required")
        return self._rows[0][0]

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]


class Declined(Exception):
    """A `DirectExecutor` given `accept` sent nothing: the pooled connection
    it checked out was refused, or a statement could not run directly."""


def _invalidate_generation(engine: Engine, raw: Any, error: BaseException) -> None:
    """After a disconnect on the pooled connection `raw`: drop it, and have
    every connection the pool made before it replaced at its next checkout,
    as SQLAlchemy's Connection does (`Pool._invalidate`, the one call it
    makes there): a server restart or an idle-session kill ends them all, and
    the read's one retry would otherwise take the next dead one."""
    invalidate = getattr(engine.pool, "_invalidate", None)
    if invalidate is None:  # not in this SQLAlchemy: this connection only
        raw.invalidate(error)
    else:
        invalidate(raw, error)


class DirectExecutor:
    """Runs one operation's statements: a `prepare`d one directly on a pooled
    DBAPI connection, anything else on a SQLAlchemy Connection (in a
    transaction, as the facade's own calls) opened on demand. Each statement
    run directly is a transaction by itself (autocommit): only for operations
    that send one statement. A context manager: its exit returns the
    connection to the pool (and commits the SQLAlchemy transaction, if any).

    With `accept` (a test given the pool's wrapper of the connection once
    checked out, and the statement's bound values), only statements run
    directly are sent, those `accept` says yes to; otherwise `Declined` is
    raised before anything is sent.

    With `kept` (`kept_connection.KeptConnection`, unless another call has
    it), the statement runs on the connection it keeps between calls (or
    one checked out and kept); at the exit that one goes back to it, to
    keep or give back, instead of to the pool."""

    def __init__(
        self,
        engine: Engine,
        accept: Callable[[Any, Any], bool] | None = None,
        kept: KeptConnection | None = None,
    ) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self._schema_map = engine.get_execution_options().get("schema_translate_map")
        self._accept = accept
        self._offer = kept
        self._kept: KeptConnection | None = None  # once `_run` has it
        self._raw: Any = None
        self._conn: Connection | None = None

    def __enter__(self) -> DirectExecutor:
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        conn, self._conn = self._conn, None
        raw, self._raw = self._raw, None
        kept, self._kept = self._kept, None
        try:
            if conn is not None:
                try:
                    if kind is None:
                        conn.commit()
                finally:
                    conn.close()
        finally:
            if kept is not None:
                kept.release(kind is None)  # its connection: kept, or back to the pool
            elif raw is not None:
                raw.close()

    def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> DirectResult | Result[Any]:
        """`statement` with `parameters` (a mapping of bound parameter names)."""
        params = parameters or {}
        plan = None
        if self._conn is None:
            plan = plan_for(self.dialect, statement, params, self._schema_map)  # type: ignore[arg-type]
        if plan is None:
            if self._accept is not None:
                raise Declined(f"not run directly: {statement}")
            if self._conn is None:
                self._conn = self.engine.connect()
                self._conn.begin()
            return self._conn.execute(statement, params)
        return DirectResult(self._run(plan, params))

    def _run(self, plan: Plan, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        values = bind_values(plan, params)
        raw = self._raw
        sending = False
        try:
            if raw is None:
                # In here: an error opening the connection (the file gone or
                # locked) is wrapped as any other.
                # Taken here, inside the `try` the exit pairs with: an
                # interruption (KeyboardInterrupt) can hardly land between.
                offer = self._offer
                if offer is not None and offer.acquire():
                    self._kept = offer
                    raw = self._raw = offer.connection()
                else:
                    raw = self._raw = self.engine.raw_connection()
                if self._accept is not None and not self._accept(raw, values):
                    raise Declined("the pooled connection or the values were refused")
            sending = True
            rows = execute_alone(
                self.dialect, raw, plan.sql, values, plan.result_processors is not None
            )
        except Exception as error:
            if not isinstance(error, self.dialect.loaded_dbapi.Error):
                if sending and raw is not None:
                    # Not the driver's (a signal handler's, say): the
                    # statement may still run on the server.
                    abandon_statement(self.dialect, raw)
                raise
            lost = raw is not None and self.dialect.is_disconnect(error, raw.dbapi_connection, None)
            if lost:
                _invalidate_generation(self.engine, raw, error)
            raise _wrapped(self.dialect, plan, values, error, lost) from error
        except BaseException:
            # Interrupted mid-statement (KeyboardInterrupt, a greenlet or
            # thread exit): the connection's state is unknown; as SQLAlchemy
            # does, it is not given back to the pool.
            if raw is not None:
                if sending:
                    abandon_statement(self.dialect, raw)
                else:
                    raw.invalidate()
            raise
        return processed(plan, rows)


def _wrapped(
    dialect: Dialect,
    plan: Plan,
    values: Any,
    error: Exception,
    lost: bool,
    sql: str | None = None,
) -> sa_exc.StatementError:
    """A driver error as SQLAlchemy raises it (`DBAPIError` and its kinds)."""
    return sa_exc.DBAPIError.instance(
        sql or plan.sql,
        values,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    )


def processed(plan: Plan, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """`rows` with the plan's result processing applied, as SQLAlchemy would."""
    steps = plan.result_steps
    if not steps:
        return rows
    out = []
    for row in rows:
        values = list(row)
        for index, processor in steps:
            values[index] = processor(values[index])
        out.append(tuple(values))
    return out


def bind_rows(plan: Plan, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The driver's positional parameters of `plan.rows_sql(len(rows))`:
    each row's values in placeholder order, one row after another."""
    values: list[Any] = []
    append = values.append
    binds = plan.binds
    for row in rows:
        for name, processor, default in binds:
            value = row.get(name, default)
            if value is REQUIRED:
                raise sa_exc.ArgumentError(f"a value is required for bind parameter {name!r}")
            append(value if processor is None else processor(value))
    return values


def bind_values(plan: Plan, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
    """The driver's parameters: positional in placeholder order, or by name."""
    values: list[Any] = []
    for name, processor, default in plan.binds:
        value = params.get(name, default)
        if value is REQUIRED:
            raise sa_exc.ArgumentError(f"a value is required for bind parameter {name!r}")
        values.append(value if processor is None else processor(value))
    if plan.positional:
        return values
    return dict(zip(plan.names, values, strict=True))


def execute(
    session: Connection | Session | DirectExecutor,
    statement: Executable,
    parameters: Mapping[str, Any] | list[dict[str, Any]],
) -> DirectResult | Result[Any]:
    """`session.execute(statement, parameters)`, for the repositories' hot
    statements. `parameters`: a mapping of bound parameter names, or, for a
    single-row INSERT (with RETURNING or not), a list of rows (mappings with
    the same keys) to write in one statement: run directly, one multi-row
    VALUES list (`Plan.rows_sql`); through SQLAlchemy, an executemany, which
    it sends the same way ("insertmanyvalues"), RETURNING every row.

    Where `Features.direct_in_transaction` says so (SQLite), a `prepare`d
    statement (DML with RETURNING too) given a `Connection` in a
    transaction runs on that connection's driver connection directly (one
    trip to aiosqlite's thread), in the same transaction, with what `Plan`
    holds: SQLAlchemy's per-statement machinery
    (execution context, parameter processing per row, cursor result) costs
    about as much as a small SQLite statement, and SQLAlchemy still owns the
    transaction (its BEGIN is sent here when this is the first statement: as
    `dialects.begin_sqlite` says; the commit or rollback is the caller's).

    Through SQLAlchemy, as before, anything else: a `Session` (a host's
    session events see our statements), a connection or engine that is
    watched (`unobserved`: echo, statement listeners, error handlers), one
    not in an active transaction, a statement without a plan.

    Errors as SQLAlchemy's: a driver error is raised as `DBAPIError` (a
    disconnect invalidates the connection first); an interruption mid-call
    (KeyboardInterrupt, a cancelled task) invalidates it, so it is never
    reused in an unknown state."""
    if type(session) is not Connection:
        # A host's Session, or a DirectExecutor (its operations send rows
        # lists never: one statement each, with a mapping).
        result: DirectResult | Result[Any] = cast(Any, session).execute(statement, parameters)
        return result
    conn = session
    dialect = conn.dialect
    if (
        not features(dialect).direct_in_transaction
        or conn._has_events
        or conn.invalidated
        or not unobserved(conn.engine)
    ):
        return conn.execute(statement, parameters)
    many = parameters if isinstance(parameters, list) else None
    transaction = conn.get_transaction()
    if transaction is None or not transaction.is_active or many == []:
        return conn.execute(statement, parameters)
    options = conn.get_execution_options()
    plan = plan_for(
        dialect,
        cast(ClauseElement, statement),
        cast(Mapping[str, Any], parameters) if many is None else many[0],
        options.get("schema_translate_map"),
        returning=True,
    )
    if plan is None:
        return conn.execute(statement, parameters)
    values: Any
    if many is None:
        sql = plan.sql
        values = bind_values(plan, cast(Mapping[str, Any], parameters))
    else:
        rows_sql = plan.rows_sql(len(many))
        if rows_sql is None:
            return conn.execute(statement, many)
        sql = rows_sql
        values = bind_rows(plan, many)
    fairy: Any = conn.connection
    driver = fairy.driver_connection
    fetch = plan.result_processors is not None
    try:
        if not driver.in_transaction:
            begin_sqlite(_DriverCursor(driver, dialect.is_async), conn, options)
        if dialect.is_async:
            rows, rowcount = await_(on_aiosqlite(driver, sql, values, fetch))
        else:
            cursor = driver.execute(sql, values)
            rows = cursor.fetchall() if fetch else []
            rowcount = cursor.rowcount
            cursor.close()
    except Exception as error:
        if not isinstance(error, dialect.loaded_dbapi.Error):
            raise
        lost = dialect.is_disconnect(error, fairy.dbapi_connection, None)
        if lost:
            conn.invalidate(error)
        raise _wrapped(dialect, plan, values, error, lost, sql) from error
    except BaseException as interruption:
        # SQLAlchemy's own rule for an exit exception mid-statement (a
        # KeyboardInterrupt, a cancelled task): the connection is dropped.
        conn.invalidate(interruption)
        raise
    return DirectResult(processed(plan, rows), rowcount)


class _DriverCursor:
    """What `dialects.begin_sqlite` sends its BEGIN through: the driver
    connection's own `execute` (sqlite3's, or aiosqlite's awaited in the
    greenlet), not a cursor made for it (through aiosqlite, a trip to its
    thread to make and another to close)."""

    __slots__ = ("_driver", "_is_async")

    def __init__(self, driver: Any, is_async: bool) -> None:
        self._driver = driver
        self._is_async = is_async

    def execute(self, statement: str) -> None:
        if self._is_async:
            await_(self._driver.execute(statement))
        else:
            self._driver.execute(statement)
