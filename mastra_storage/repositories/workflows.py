"""Workflow run snapshots: `mastra_workflow_snapshot`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, delete, func, select, update
from sqlalchemy.sql.dml import Insert

from ..dialects import (
    Executor,
    Features,
    features,
    lock_rows,
    snapshot_status_is,
    snapshot_thread_id_is,
    upsert,
)
from ..direct import prepare
from ..domain import WorkflowRun
from ..orm import SafeText, WorkflowSnapshotRow
from ._common import count, from_row, paged, twin_pairs, twin_updates, with_twins

TABLE = cast(Table, WorkflowSnapshotRow.__table__)
PAIRS = twin_pairs(TABLE)
COLUMNS = (
    WorkflowSnapshotRow.workflow_name,
    WorkflowSnapshotRow.run_id,
    WorkflowSnapshotRow.resource_id,
    WorkflowSnapshotRow.snapshot,
    WorkflowSnapshotRow.created_at,
    WorkflowSnapshotRow.updated_at,
)


# The per-run statements, built once, with the run's key as bound parameters
# (`b_` names, apart from the columns an UPDATE sets).
_C = TABLE.c
_RUN = (_C.workflow_name == bindparam("b_workflow_name")) & (_C.run_id == bindparam("b_run_id"))
_LOAD = prepare(select(_C.snapshot).where(_RUN))
_LOAD_FOR_UPDATE = _LOAD.with_for_update()
_REPLACE = update(TABLE).where(_RUN)
_NEWEST = (_C.createdAt.desc(), _C.workflow_name.desc())
_FIND = prepare(
    select(*COLUMNS).where(_C.run_id == bindparam("b_run_id")).order_by(*_NEWEST).limit(1)
)
"""A run by id: the newest, if several workflows share the id."""
_FIND_IN_WORKFLOW = prepare(select(*COLUMNS).where(_RUN).order_by(*_NEWEST).limit(1))


@lru_cache(maxsize=4)
def _persist_statement(feats: Features) -> Insert:
    return prepare(
        upsert(
            feats,
            TABLE,
            keys=["workflow_name", "run_id"],
            update_columns=twin_updates(feats, PAIRS, ["snapshot", "updatedAt"]),
            set_extra={
                "resourceId": lambda excluded: func.coalesce(excluded["resourceId"], _C.resourceId)
            },
        )
    )


def _run_key(workflow_name: str, run_id: str) -> dict[str, str]:
    return {"b_workflow_name": workflow_name, "b_run_id": run_id}


def to_run(row: Sequence[Any]) -> WorkflowRun:
    return from_row(WorkflowRun, row)


class WorkflowRepository:
    """Reads and writes workflow snapshots in the caller's session; never commits."""

    def __init__(self, session: Executor) -> None:
        self.session = session

    @cached_property
    def features(self) -> Features:
        """The backend's; worked out on first use (a point read needs none)."""
        return features(self.session)

    def persist(
        self,
        *,
        workflow_name: str,
        run_id: str,
        snapshot: dict[str, Any],
        resource_id: str | None,
        created_at: datetime,
        updated_at: datetime,
    ) -> None:
        """Upsert on (workflow_name, run_id): `created_at` is written on insert
        and stays as first saved, `updated_at` is written; a None
        `resource_id` keeps the stored one."""
        values = with_twins(
            self.features,
            PAIRS,
            {
                "workflow_name": workflow_name,
                "run_id": run_id,
                "resourceId": resource_id,
                "snapshot": snapshot,
                "createdAt": created_at,
                "updatedAt": updated_at,
            },
        )
        self.session.execute(_persist_statement(self.features), values)

    def load(self, workflow_name: str, run_id: str) -> dict[str, Any] | None:
        params = _run_key(workflow_name, run_id)
        value: dict[str, Any] | None = self.session.execute(_LOAD, params).scalar_one_or_none()
        return value

    def _key(self, workflow_name: str, run_id: str) -> ColumnElement[bool]:
        return (WorkflowSnapshotRow.workflow_name == workflow_name) & (
            WorkflowSnapshotRow.run_id == run_id
        )

    def load_for_update(self, workflow_name: str, run_id: str) -> dict[str, Any] | None:
        """The snapshot, with the row locked until the transaction ends, so a
        read-modify-write cannot interleave with another writer."""
        lock_rows(self.session, TABLE, self._key(workflow_name, run_id))
        stmt = _LOAD_FOR_UPDATE if self.features.row_locks else _LOAD
        params = _run_key(workflow_name, run_id)
        value: dict[str, Any] | None = self.session.execute(stmt, params).scalar_one_or_none()
        return value

    def replace_snapshot(
        self, workflow_name: str, run_id: str, snapshot: dict[str, Any], now: datetime
    ) -> None:
        values = with_twins(self.features, PAIRS, {"snapshot": snapshot, "updatedAt": now})
        self.session.execute(_REPLACE, {**values, **_run_key(workflow_name, run_id)})

    def find(self, run_id: str, workflow_name: str | None) -> WorkflowRun | None:
        """A run by id (the newest, if several workflows share the id)."""
        if workflow_name is None:
            row = self.session.execute(_FIND, {"b_run_id": run_id}).first()
        else:
            row = self.session.execute(_FIND_IN_WORKFLOW, _run_key(workflow_name, run_id)).first()
        return None if row is None else to_run(row)

    def delete(self, run_id: str, workflow_name: str) -> None:
        self.session.execute(delete(TABLE).where(self._key(workflow_name, run_id)))

    def list_runs(
        self,
        *,
        workflow_name: str | None,
        resource_id: str | None,
        status: str | None,
        from_date: datetime | None,
        thread_id: str | None = None,
        to_date: datetime | None,
        page: int | None,
        per_page: int | None,
    ) -> tuple[list[WorkflowRun], int]:
        """Newest first; paged only when both `page` and `per_page` are given."""
        stmt = select(*COLUMNS)
        if workflow_name is not None:
            stmt = stmt.where(WorkflowSnapshotRow.workflow_name == workflow_name)
        if resource_id is not None:
            stmt = stmt.where(WorkflowSnapshotRow.resource_id == resource_id)
        if status is not None:
            stmt = stmt.where(snapshot_status_is(self.features, status))
        if thread_id is not None:
            stmt = stmt.where(snapshot_thread_id_is(self.features, thread_id))
        if from_date is not None:
            stmt = stmt.where(WorkflowSnapshotRow.created_at >= from_date)
        if to_date is not None:
            stmt = stmt.where(WorkflowSnapshotRow.created_at <= to_date)
        total = count(self.session, stmt)
        stmt = stmt.order_by(
            WorkflowSnapshotRow.created_at.desc(),
            WorkflowSnapshotRow.workflow_name.desc(),
            WorkflowSnapshotRow.run_id.desc(),
        )
        if page is not None and per_page is not None:
            if per_page == 0:
                return [], total
            stmt = paged(stmt, page, per_page)
        return [to_run(row) for row in self.session.execute(stmt)], total


def type_coerce_text(value: str) -> Any:
    """A bound value compared with JSON text: NUL-escaped like the stored text."""
    return bindparam(None, value, type_=SafeText())
