"""Evals domain models (Mastra 0.x `mastra_evals`)."""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
)

from ._base import DomainModel, Page, UTCDatetime


class EvalRow(DomainModel):
    """An eval result (Mastra 0.x `EvalRow`, table `mastra_evals`). `test_info`
    set makes it a `"test"` eval, else `"live"`; `created_at` aware UTC."""

    input: str
    output: str
    result: dict[str, Any]
    agent_name: str = Field(min_length=1)
    metric_name: str
    instructions: str = ""
    test_info: dict[str, Any] | None = None
    global_run_id: str = ""
    run_id: str = ""
    created_at: UTCDatetime | None = None


class EvalPage(Page):
    """A page of eval results (`get_evals`), newest first."""

    evals: list[EvalRow]
