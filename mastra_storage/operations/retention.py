"""Retention domain: `prune` (delete what is older than a cutoff) and
`delete_resource` (erase everything of one resource).

Both run as a plan of steps, each step in batches: `run_step` does one batch
(at most `batch_size` rows of a table, plus what goes with them) on the
executor it is given and says where the next batch starts. The facades call
it in a loop, each call its own transaction, so a large prune never holds a
long lock; given `session=`, every batch runs inside the caller's transaction.

Other tables that hold rows of a message or a resource (the Memory layer's
vector entries) join in through `register_dependent_rows`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ..clock import utc_now
from ..dialects import Executor
from ..domain import PruneReport
from ..errors import ValidationError
from ..orm import EvalResultRow, MessageRow, ScoreResultRow, ThreadRow, WorkflowSnapshotRow
from ..repositories.retention import (
    EVALS,
    RUNS,
    SCORES,
    THREADS,
    Cursor,
    RetentionRepository,
    newer_message_in,
)
from ..values import summary
from ._inputs import require_text

DOMAINS = ("messages", "threads", "workflow_runs", "scores", "evals")
MAX_BATCH_SIZE = 100_000
MAX_AGE = timedelta(days=1000 * 366)
"""Largest `older_than` (about 1000 years): older than that is everything."""
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# -- rows that go with messages or resources (extension point) --------------------


@dataclass(frozen=True)
class DependentRows:
    """Rows of another table that belong to messages or resources, e.g. the
    Memory layer's vector entries in `memory_messages`.

    `of_messages(executor, message_ids) -> int` deletes the rows of these
    messages (called in the same transaction as each batch of deleted
    messages); `of_resource(executor, resource_id, limit) -> int` deletes up
    to `limit` rows of a resource (`delete_resource` calls it until it returns
    less than `limit`). Each returns how many rows it deleted; the report
    counts them under `name`. Either may be None.
    """

    name: str
    of_messages: Callable[[Executor, Sequence[str]], int] | None = None
    of_resource: Callable[[Executor, str, int], int] | None = None


_DEPENDENTS: dict[str, DependentRows] = {}


def register_dependent_rows(dependent: DependentRows) -> None:
    """Make `prune` and `delete_resource` delete these rows too (idempotent by name)."""
    _DEPENDENTS[dependent.name] = dependent


def unregister_dependent_rows(name: str) -> None:
    _DEPENDENTS.pop(name, None)


def dependents() -> list[DependentRows]:
    return list(_DEPENDENTS.values())


def _delete_messages(repo: RetentionRepository, message_ids: Sequence[str]) -> dict[str, int]:
    """Delete these messages and every dependent row of them."""
    counts = {"messages": repo.delete_messages(message_ids)}
    if message_ids:
        for dependent in dependents():
            if dependent.of_messages is not None:
                number = dependent.of_messages(repo.session, message_ids)
                if number:  # a table with nothing to delete stays out of the report
                    counts[dependent.name] = number
    return counts


# -- plans and steps ----------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    counts: dict[str, int]
    cursor: Cursor | None
    """Where the step's next batch starts (None: at the same place)."""
    finished: bool


class Step:
    """One table's part of a plan, done batch by batch."""

    name: str

    def batch(self, repo: RetentionRepository, plan: Plan, cursor: Cursor | None) -> Batch:
        raise NotImplementedError


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    batch_size: int
    dry_run: bool = False
    cutoff: datetime | None = None

    def first(self) -> Position | None:
        return Position(0, None) if self.steps else None

    def report(self) -> PruneReport:
        return PruneReport(counts={}, dry_run=self.dry_run, cutoff=self.cutoff)


@dataclass(frozen=True)
class Position:
    step: int
    cursor: Cursor | None


@dataclass(frozen=True)
class StepResult:
    counts: dict[str, int]
    next: Position | None


def run_step(session: Executor, *, plan: Plan, position: Position) -> StepResult:
    """One batch of the plan at `position`, on `session`; where to go next."""
    step = plan.steps[position.step]
    repo = RetentionRepository(session)
    # A batch's keys travel as one IN list (a run's key is two values): at
    # most what one statement of this backend carries.
    most = repo.features.max_ids // 2
    if plan.batch_size > most:
        plan = replace(plan, batch_size=most)
    batch = step.batch(repo, plan, position.cursor)
    following: Position | None
    if not batch.finished:
        following = Position(position.step, batch.cursor)
    elif position.step + 1 < len(plan.steps):
        following = Position(position.step + 1, None)
    else:
        following = None
    return StepResult(counts=batch.counts, next=following)


def add_counts(report: PruneReport, counts: Mapping[str, int]) -> PruneReport:
    merged = dict(report.counts)
    for name, number in counts.items():
        merged[name] = merged.get(name, 0) + number
    return report.model_copy(update={"counts": merged})


@dataclass
class KeyedStep(Step):
    """Rows of one table matching `where`, walked in `keys` order: each batch
    deletes (or, in a dry run, counts) up to `batch_size` of them, checking
    `where` again as it deletes."""

    name: str
    table: Any
    keys: tuple[Any, ...]
    """The walk's order: an age column (or none), then the row's identity."""
    identity: int
    """How many of the last `keys` identify a row."""
    where: tuple[Any, ...]
    keep: Callable[[RetentionRepository, list[Cursor]], set[Cursor]] | None = None

    def batch(self, repo: RetentionRepository, plan: Plan, cursor: Cursor | None) -> Batch:
        found = repo.keys(self.keys, self.where, cursor, plan.batch_size)
        chosen = found
        if self.keep is not None:
            kept = self.keep(repo, found)
            chosen = [key for key in found if key not in kept]
        ids = self.keys[-self.identity :]
        rows = [key[-self.identity :] for key in chosen]
        if plan.dry_run:
            number = repo.count(ids, rows, self.where)
        else:
            number = repo.delete(self.table, ids, rows, self.where)
        last = found[-1] if found else cursor
        return Batch({self.name: number}, last, len(found) < plan.batch_size)


@dataclass
class MessageStep(Step):
    """Messages matching `where`, walked in `keys` order (ending with the id);
    their dependent rows go too."""

    where: tuple[Any, ...]
    keys: tuple[Any, ...]
    name: str = "messages"

    def batch(self, repo: RetentionRepository, plan: Plan, cursor: Cursor | None) -> Batch:
        chosen = repo.keys(self.keys, self.where, cursor, plan.batch_size)
        last = chosen[-1] if chosen else cursor
        finished = len(chosen) < plan.batch_size
        if plan.dry_run:
            return Batch({"messages": len(chosen)}, last, finished)
        return Batch(_delete_messages(repo, [str(key[-1]) for key in chosen]), last, finished)


@dataclass
class ThreadStep(Step):
    """Threads matching `where`, each with its messages: a batch locks up to
    `batch_size` threads, checks `where` again, deletes up to `batch_size` of
    their messages, and the threads once none is left."""

    where: tuple[Any, ...]
    count_messages: bool = True
    """In a dry run, count the threads' messages (not when a messages step does)."""
    name: str = "threads"

    def batch(self, repo: RetentionRepository, plan: Plan, cursor: Cursor | None) -> Batch:
        chosen = repo.keys((ThreadRow.id,), self.where, cursor, plan.batch_size, lock=True)
        last = chosen[-1] if chosen else cursor
        finished = len(chosen) < plan.batch_size
        thread_ids = [str(key[0]) for key in chosen]
        if plan.dry_run:
            counts = {"threads": len(thread_ids)}
            if self.count_messages:
                counts["messages"] = repo.count_messages_of_threads(thread_ids)
            return Batch(counts, last, finished)
        message_ids = repo.message_ids_of_threads(thread_ids, plan.batch_size)
        counts = _delete_messages(repo, message_ids)
        if len(message_ids) == plan.batch_size:  # maybe more: the same threads again
            return Batch(counts, cursor, False)
        counts["threads"] = repo.delete(THREADS, (ThreadRow.id,), [(i,) for i in thread_ids])
        return Batch(counts, last, finished)


@dataclass
class EachBatchStep(Step):
    """Delete up to `batch_size` rows with `delete(repo, limit)` per batch."""

    name: str
    delete: Callable[[RetentionRepository, int], int]

    def batch(self, repo: RetentionRepository, plan: Plan, cursor: Cursor | None) -> Batch:
        number = self.delete(repo, plan.batch_size)
        return Batch({self.name: number} if number else {}, None, number < plan.batch_size)


@dataclass
class DependentResourceStep(Step):
    """A registered table's rows of one resource, `batch_size` per batch."""

    name: str
    erase: Callable[[Executor, str, int], int]
    resource_id: str

    def batch(self, repo: RetentionRepository, plan: Plan, cursor: Cursor | None) -> Batch:
        number = self.erase(repo.session, self.resource_id, plan.batch_size)
        return Batch({self.name: number} if number else {}, None, number < plan.batch_size)


LiveElsewhere = Callable[[Executor, list[tuple[str, str]], bool], set[tuple[str, str]]]
"""`(executor, runs, hold) -> the live ones`: a lock service's check for lock
state the database cannot show (`RunLockService.live_outside_database`)."""


def _live_runs(
    live_elsewhere: LiveElsewhere | None, *, hold: bool
) -> Callable[[RetentionRepository, list[Cursor]], set[Cursor]]:
    """Which chosen runs hold a live run lock (they are kept): by the lock
    rows, or (in-memory SQLite) by the process-local lock table. With `hold`
    (not a dry run), the others' locks cannot be taken until the batch's
    transaction ends, so none is taken between this check and the delete."""

    def keep(repo: RetentionRepository, chosen: list[Cursor]) -> set[Cursor]:
        runs = [(str(key[0]), str(key[1])) for key in chosen]
        if live_elsewhere is not None:
            live = live_elsewhere(repo.session, runs, hold)
        else:
            live = repo.live_runs(runs, hold=hold)
        return {key for key in chosen if (key[0], key[1]) in live}

    return keep


# -- inputs ---------------------------------------------------------------------------


def age_of(value: Any) -> timedelta:
    """`older_than`: a positive `timedelta`, or text such as `"30d"`, `"12h"`,
    `"90m"`, `"45s"`, `"500ms"`, `"2w"`."""
    if isinstance(value, timedelta):
        age = value
    elif isinstance(value, str) and (match := _AGE.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        age = MAX_AGE + MAX_AGE if seconds > MAX_AGE.total_seconds() else timedelta(seconds=seconds)
    else:
        raise ValidationError(
            f"older_than must be a timedelta or text such as '30d', got {summary(value)}",
            field="older_than",
        )
    if age <= timedelta(0):
        raise ValidationError("older_than must be positive", field="older_than")
    if age > MAX_AGE:
        raise ValidationError(f"older_than must be at most {MAX_AGE.days} days", field="older_than")
    return age


def batch_size_of(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BATCH_SIZE:
        raise ValidationError(
            f"batch_size must be an int from 1 to {MAX_BATCH_SIZE}, got {summary(value)}",
            field="batch_size",
        )
    return value


def domains_of(value: Any) -> list[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError("domains must be a list of domain names", field="domains")
    chosen = list(value)
    for name in chosen:
        if name not in DOMAINS:
            raise ValidationError(
                f"unknown domain {summary(name)}: choose from {', '.join(DOMAINS)}", field="domains"
            )
    return chosen


def prune_plan(
    *,
    older_than: Any,
    domains: Any = DOMAINS,
    batch_size: Any = 1000,
    dry_run: Any = False,
    live_elsewhere: LiveElsewhere | None = None,
) -> Plan:
    """Validate `prune`'s arguments and fix its cutoff (now - older_than).
    `live_elsewhere`: the lock service's own liveness check, where the lock
    rows do not tell (`RunLockService.live_outside_database`)."""
    age = age_of(older_than)
    chosen = domains_of(domains)
    size = batch_size_of(batch_size)
    if not isinstance(dry_run, bool):
        raise ValidationError("dry_run must be a bool", field="dry_run")
    cutoff = utc_now() - age
    steps: list[Step] = []
    # Old messages first: the threads step then finds only the threads' last ones.
    # Each table is walked in the order of an index it has anyway (the thread's
    # messages index, primary keys), its age a filter: a prune reads each index
    # once over all its batches, and no index is added to slow the writers.
    if "messages" in chosen:
        steps.append(
            MessageStep(
                where=(MessageRow.created_at < cutoff,),
                keys=(MessageRow.thread_id, MessageRow.created_at, MessageRow.id),
            )
        )
    if "threads" in chosen:
        where = (ThreadRow.updated_at < cutoff, ~newer_message_in(ThreadRow.id, cutoff))
        steps.append(ThreadStep(where=where, count_messages="messages" not in chosen))
    if "workflow_runs" in chosen:
        steps.append(
            KeyedStep(
                "workflow_runs",
                RUNS,
                (WorkflowSnapshotRow.workflow_name, WorkflowSnapshotRow.run_id),
                2,
                (WorkflowSnapshotRow.updated_at < cutoff,),
                keep=_live_runs(live_elsewhere, hold=not dry_run),
            )
        )
    if "scores" in chosen:
        steps.append(
            KeyedStep(
                "scores",
                SCORES,
                (ScoreResultRow.id,),
                1,
                (ScoreResultRow.updated_at < cutoff,),
            )
        )
    if "evals" in chosen:
        steps.append(
            KeyedStep(
                "evals",
                EVALS,
                (EvalResultRow.id,),
                1,
                (EvalResultRow.created_at < cutoff,),
            )
        )
    return Plan(tuple(steps), size, dry_run, cutoff)


def erase_plan(*, resource_id: Any, batch_size: Any = 1000) -> Plan:
    """`delete_resource`'s steps: the resource's messages (in any thread), its
    threads with every message in them, its workflow runs, scores, the
    resource row (working memory), and registered dependent rows."""
    resource = require_text(resource_id, "resource_id")
    size = batch_size_of(batch_size)
    steps: list[Step] = [
        MessageStep(
            where=(MessageRow.resource_id == resource,),
            keys=(MessageRow.created_at, MessageRow.id),
        ),
        ThreadStep(where=(ThreadRow.resource_id == resource,)),
        KeyedStep(
            "workflow_runs",
            RUNS,
            (WorkflowSnapshotRow.workflow_name, WorkflowSnapshotRow.run_id),
            2,
            (WorkflowSnapshotRow.resource_id == resource,),
        ),
        KeyedStep(
            "scores", SCORES, (ScoreResultRow.id,), 1, (ScoreResultRow.resource_id == resource,)
        ),
        EachBatchStep("resources", lambda repo, _limit: repo.delete_resource_row(resource)),
    ]
    steps += [
        DependentResourceStep(dependent.name, dependent.of_resource, resource)
        for dependent in dependents()
        if dependent.of_resource is not None
    ]
    return Plan(tuple(steps), size)


__all__ = [
    "DOMAINS",
    "DependentRows",
    "Plan",
    "Position",
    "StepResult",
    "add_counts",
    "age_of",
    "erase_plan",
    "prune_plan",
    "register_dependent_rows",
    "run_step",
    "unregister_dependent_rows",
]
