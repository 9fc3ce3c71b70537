"""Statements over `mastra_workflow_run_locks`, shared by the row-backed lock
backends and by fencing. They run on a Session or a Connection; none commits.

A row is *live* (its holder still holds the lock) when:
- it was taken by the advisory backend and its session lock is still held
  (a PostgreSQL advisory lock or a MySQL named lock: the server ends it when
  the holder's connection ends), or
- it was taken by a lease and `expires_at` is still ahead of the database clock.

Each dialect's statements are built once, with every value a bound parameter
(`params`), so a lock operation costs its round trips and little else.

Where UPDATE has no RETURNING (MySQL/MariaDB), a claim sets the new token
through `LAST_INSERT_ID(expr)`, which the server reports back with the
statement's result, and a run's first row is inserted free (token 0, no
holder) and then claimed like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Table,
    and_,
    bindparam,
    delete,
    func,
    not_,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.dml import Insert, Update

from ..dialects import (
    Executor,
    Features,
    create_row_to_lock,
    database_now,
    features,
    insert_if_absent,
    lock_rows,
)
from ..domain import RunLock
from ..orm import WorkflowRunLockRow
from .keys import RunLockKey, key_params, session_locks

TABLE = cast(Table, WorkflowRunLockRow.__table__)
C = TABLE.c

ADVISORY = "advisory"
LEASE = "lease"
MEMORY = "memory"

RunKey = tuple[str, str]


def params(
    run: RunKey,
    *,
    key: RunLockKey = 0,
    holder: str | None = None,
    backend: str | None = None,
    ttl_ms: int | None = None,
    token: int | None = None,
) -> dict[str, Any]:
    """The bound values of the statements below (`key`: the run's session lock
    key, which liveness of an advisory row depends on)."""
    return {
        "p_workflow_name": run[0],
        "p_run_id": run[1],
        **key_params(key),
        "p_holder": holder,
        "p_backend": backend,
        "p_ttl_ms": ttl_ms,
        "p_token": token,
    }


@dataclass(frozen=True)
class LockStatements:
    take_for_lease: Update
    """Claim a row nobody live holds."""
    take_for_advisory: Update
    """Claim a row once holding the run's session lock: any advisory row (no
    other live advisory holder can exist), or a lease row that is free or expired."""
    first_row: Insert
    """Claim a run that has no row yet (without RETURNING: create it, free)."""
    renew: Update
    renew_advisory: Update
    """Renew, only while this very connection holds the session lock."""
    clear: Update
    read: Select[Any]
    newest_token: Select[Any]


@lru_cache(maxsize=4)
def statements(feats: Features) -> LockStatements:
    run = and_(C.workflow_name == bindparam("p_workflow_name"), C.run_id == bindparam("p_run_id"))
    holder: ColumnElement[Any] = bindparam("p_holder")
    token: ColumnElement[Any] = bindparam("p_token", type_=BigInteger())
    now = database_now(feats)
    later = database_now(feats, plus_ms=bindparam("p_ttl_ms", type_=BigInteger()))
    lease_live = and_(C.holder.is_not(None), C.expires_at > now)
    live: ColumnElement[bool] = lease_live
    locks = session_locks(feats)
    if locks is not None:
        live = or_(
            and_(C.backend == ADVISORY, C.holder.is_not(None), locks.held()),
            and_(C.backend != ADVISORY, lease_live),
        )
    claim = {"holder": holder, "backend": bindparam("p_backend"), "acquired_at": now}
    next_token: ColumnElement[Any] = C.fencing_token + 1
    if not feats.update_returning:
        next_token = func.last_insert_id(next_token, type_=BigInteger())

    def take_row(takeover: ColumnElement[bool]) -> Update:
        statement = (
            update(TABLE)
            .where(run, takeover)
            .values(fencing_token=next_token, expires_at=later, **claim)
        )
        return statement.returning(C.fencing_token) if feats.update_returning else statement

    first_row = insert_if_absent(feats, TABLE, keys=["workflow_name", "run_id"]).values(
        workflow_name=bindparam("p_workflow_name"),
        run_id=bindparam("p_run_id"),
        fencing_token=1,
        expires_at=later,
        **claim,
    )
    if feats.update_returning:
        first_row = first_row.returning(C.fencing_token)
    else:  # a free row: the claim that follows takes it (token 1)
        first_row = first_row.values(fencing_token=0, holder=None, expires_at=None)

    def renew(*also: ColumnElement[bool]) -> Update:
        return (
            update(TABLE)
            .where(run, C.holder == holder, C.fencing_token == token, *also)
            .values(expires_at=later)
        )

    newest_token = select(C.fencing_token).where(run)
    return LockStatements(
        take_for_lease=take_row(not_(live)),
        take_for_advisory=take_row(or_(C.backend == ADVISORY, not_(lease_live))),
        first_row=first_row,
        renew=renew(),
        renew_advisory=renew(locks.held(by_this_session=True)) if locks else renew(),
        clear=update(TABLE)
        .where(run, C.holder == holder, C.fencing_token == token)
        .values(holder=None, expires_at=None),
        read=select(C.holder, C.expires_at, C.backend, C.fencing_token, live).where(run),
        newest_token=newest_token.with_for_update(read=True) if feats.row_locks else newest_token,
    )


def take(executor: Executor, take_row: Update, values: dict[str, Any]) -> int | None:
    """Compare-and-set: claim the run's row with `take_row` (one of the `take_*`
    statements), or create it if the run has none. Returns the new fencing
    token, one more than any before it for this run, or None when not taken.

    A failed attempt writes nothing: an UPDATE whose condition fails locks no
    row, so contenders for a held lock cost the database a read each.

    When the first row's INSERT finds that another holder created the row
    meanwhile (on PostgreSQL it waits for that holder's commit), the claim is
    tried once more on the row that now exists: that holder may have let go
    already, and "held" must not be answered for a free lock.
    """
    feats = features(executor)
    token = _claim(executor, feats, take_row, values)
    if token is None:  # held, or the run has no row yet
        first_row: Any = executor.execute(statements(feats).first_row, values)
        if feats.update_returning:
            token = first_row.scalar_one_or_none()
        if token is None:  # the row exists now: the claim's answer is final
            token = _claim(executor, feats, take_row, values)
    return token


def _claim(
    executor: Executor, feats: Features, take_row: Update, values: dict[str, Any]
) -> int | None:
    result: Any = executor.execute(take_row, values)
    if feats.update_returning:
        token: int | None = result.scalar_one_or_none()
        return token
    # LAST_INSERT_ID(fencing_token + 1): the driver's lastrowid is the new token.
    return int(result.lastrowid) if result.rowcount == 1 else None


def changed_one(executor: Executor, statement: Update, values: dict[str, Any]) -> bool:
    result: Any = executor.execute(statement, values)
    return int(result.rowcount) == 1


def read(executor: Executor, values: dict[str, Any]) -> RunLock | None:
    """The run's live holder, or None."""
    row = executor.execute(statements(features(executor)).read, values).first()
    if row is None or row[0] is None or not row[4]:
        return None
    return RunLock(
        workflow_name=values["p_workflow_name"],
        run_id=values["p_run_id"],
        holder=row[0],
        expires_at=row[1],
        backend=row[2],
        fencing_token=row[3],
    )


def held_runs(executor: Executor, workflow_name: str | None, limit: int) -> list[RunKey]:
    """Up to `limit` runs whose row names a holder, ordered by workflow and run:
    the candidates for a listing (an expired lease is left out here; whether an
    advisory holder is still live, `read` tells)."""
    feats = features(executor)
    statement = select(C.workflow_name, C.run_id).where(
        C.holder.is_not(None),
        or_(C.backend == ADVISORY, C.expires_at > database_now(feats)),
    )
    if workflow_name is not None:
        statement = statement.where(C.workflow_name == workflow_name)
    statement = statement.order_by(C.workflow_name, C.run_id).limit(limit)
    return [(row[0], row[1]) for row in executor.execute(statement)]


def token_for_write(session: Executor, run: RunKey) -> int | None:
    """The run's newest fencing token, with the row locked against a new
    acquisition until the session's transaction ends (FOR SHARE on PostgreSQL:
    writers of one run do not queue behind each other; the write lock on SQLite)."""
    feats = features(session)
    lock_rows(session, TABLE, and_(C.workflow_name == run[0], C.run_id == run[1]))
    token: int | None = session.execute(
        statements(feats).newest_token, params(run)
    ).scalar_one_or_none()
    return token


def hold_for_delete(executor: Executor, runs: Sequence[RunKey]) -> None:
    """Stop every new acquisition of these runs' locks until the executor's
    transaction ends (prune, about to delete the runs): a claim of a run's row,
    by any backend, waits for that end (PostgreSQL, MySQL: the rows are locked
    for update; SQLite: the transaction holds the write lock). A run with no
    lock row gets one (free, token 0) to lock, deleted again at once: deleted
    in this transaction, it still makes a concurrent first claim of the run
    wait for the end, and no row is left behind. Runs locked meanwhile stay
    locked; `read` then tells which are live.

    Locks are taken in key order, so two prunes do not deadlock each other."""
    named = sorted(set(runs))
    if not named:
        return
    these = tuple_(C.workflow_name, C.run_id).in_(named)
    lock_rows(executor, TABLE, these)  # SQLite: the write lock (if not held yet)
    feats = features(executor)
    if not feats.row_locks:
        return
    free = {"holder": None, "backend": LEASE, "fencing_token": 0}
    create_row_to_lock(
        executor,
        TABLE,
        keys=["workflow_name", "run_id"],
        values=[{"workflow_name": name, "run_id": run, **free} for name, run in named],
    )
    executor.execute(
        select(C.workflow_name).where(these).order_by(C.workflow_name, C.run_id).with_for_update()
    )
    executor.execute(delete(TABLE).where(these, C.fencing_token == 0, C.holder.is_(None)))
