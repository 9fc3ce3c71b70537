"""Evals domain models (Mastra 0.x `mastra_evals`)."""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
)

from ..clock import utc_now
from ._base import DomainModel, Page, UTCDatetime


class EvalRow(DomainModel):
    """An eval result (Mastra 0.x `EvalRow`, table `mastra_evals`), given to
    `save_eval` / `save_evals` and returned by `get_evals`.

    `input`, `output`, `metric_name` text; `result` a JSON object;
    `agent_name` a non-empty id; `test_info` set makes it a `"test"` eval,
    else `"live"`; `created_at` aware UTC, always present (default: now, when
    the model is built).
    """

    input: str
    output: str
    result: dict[str, Any]
    agent_name: str = Field(min_length=1)
    metric_name: str
    instructions: str = ""
    test_info: dict[str, Any] | None = None
    global_run_id: str = ""
    run_id: str = ""
    created_at: UTCDatetime = Field(default_factory=utc_now)


class EvalPage(Page):
    """A page of eval results (`get_evals`), newest first."""

    evals: list[EvalRow]
