"""Evaluation results: `mastra_evals`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, Select, Table, select

from ..dialects import Executor, features
from ..domain import DateRange, EvalRow
from ..orm import EvalResultRow
from ._common import count, from_row, paged, twin_pairs, with_twins
from .messages import date_filter

TABLE = cast(Table, EvalResultRow.__table__)
PAIRS = twin_pairs(TABLE)
COLUMNS = (
    EvalResultRow.input,
    EvalResultRow.output,
    EvalResultRow.result,
    EvalResultRow.agent_name,
    EvalResultRow.metric_name,
    EvalResultRow.instructions,
    EvalResultRow.test_info,
    EvalResultRow.global_run_id,
    EvalResultRow.run_id,
    EvalResultRow.created_at,
)
EvalType = Literal["test", "live"]


def to_eval(row: Sequence[Any]) -> EvalRow:
    return from_row(EvalRow, row)


def type_filter(type_: EvalType | None) -> list[ColumnElement[bool]]:
    """`test`: rows whose test_info has a `testPath`; `live`: the others."""
    if type_ is None:
        return []
    test_path = EvalResultRow.test_info["testPath"].as_string()
    return [test_path.is_not(None) if type_ == "test" else test_path.is_(None)]


class EvalRepository:
    """Reads and writes evaluation results in the caller's session; never commits."""

    def __init__(self, session: Executor) -> None:
        self.session = session
        self.features = features(session)

    def insert(self, evals: Sequence[EvalRow]) -> None:
        rows = [
            with_twins(
                self.features,
                PAIRS,
                {
                    "input": item.input,
                    "output": item.output,
                    "result": item.result,
                    "agent_name": item.agent_name,
                    "metric_name": item.metric_name,
                    "instructions": item.instructions,
                    "test_info": item.test_info,
                    "global_run_id": item.global_run_id,
                    "run_id": item.run_id,
                    "created_at": item.created_at,
                    "createdAt": item.created_at,
                },
            )
            for item in evals
        ]
        if rows:
            self.session.execute(TABLE.insert(), rows)

    def page(
        self,
        *,
        agent_name: str | None,
        type_: EvalType | None,
        date_range: DateRange | None,
        page: int,
        per_page: int | None,
    ) -> tuple[list[EvalRow], int]:
        """Newest first (ties: latest inserted first), and how many match."""
        stmt: Select[Any] = select(*COLUMNS)
        if agent_name is not None:
            stmt = stmt.where(EvalResultRow.agent_name == agent_name)
        stmt = stmt.where(*type_filter(type_), *date_filter(EvalResultRow.created_at, date_range))
        total = count(self.session, stmt)
        if per_page == 0:
            return [], total
        ordered = stmt.order_by(EvalResultRow.created_at.desc(), EvalResultRow.id.desc())
        rows = self.session.execute(paged(ordered, page, per_page))
        return [to_eval(row) for row in rows], total
