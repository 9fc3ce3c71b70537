"""Evals domain (Mastra 0.x `mastra_evals`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..dialects import Executor
from ..domain import EvalPage, EvalRow, check_paging, page_info, parse
from ..errors import ValidationError
from ..repositories import EvalRepository
from ..values import summary
from ._inputs import date_range_of, optional_text

# -- evals ------------------------------------------------------------------------


def save_evals(session: Executor, *, evals: Sequence[Any]) -> list[EvalRow]:
    if isinstance(evals, str | bytes | Mapping) or not isinstance(evals, Iterable):
        raise ValidationError("evals must be a list of eval rows", field="evals")
    # Models built here: a caller's EvalRow is stored as it is, never changed.
    rows = [parse(EvalRow, item, what=f"evals[{index}]") for index, item in enumerate(evals)]
    EvalRepository(session).insert(rows)
    return rows


def get_evals(
    session: Executor,
    *,
    agent_name: str | None = None,
    type: str | None = None,
    page: int = 0,
    per_page: int | None = 100,
    date_range: Any = None,
) -> EvalPage:
    optional_text(agent_name, "agent_name")
    check_paging(page, per_page)
    if type not in (None, "test", "live"):
        raise ValidationError(f"type must be 'test' or 'live', got {summary(type)}", field="type")
    evals, total = EvalRepository(session).page(
        agent_name=agent_name,
        type_=type,  # type: ignore[arg-type]
        date_range=date_range_of(date_range),
        page=page,
        per_page=per_page,
    )
    return EvalPage(evals=evals, **page_info(total, page, per_page))
