"""Scores domain models (Mastra 1.x `mastra_scorers`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AllowInfNan, Field, Strict, model_validator

from ..clock import utc_now
from ._base import DomainModel, Page, UTCDatetime, new_id

ScoringSource = Literal["LIVE", "TEST"]
ScoreValue = Annotated[float, Strict(), AllowInfNan(False)]
"""A finite number (an int is taken as a float; a bool is refused)."""


class ScoreRow(DomainModel):
    """One scorer result: Mastra's `ScoreRowData` (`SaveScorePayload` plus
    `id`, `created_at`, `updated_at`).

    As input (`save_score`) it takes Mastra's `SaveScorePayload`: `scorer_id`,
    `entity_id`, `run_id`, `score` (a finite number), `scorer` and `entity`
    (objects) and `source` (`"LIVE"` or `"TEST"`) are required; `input`,
    `output` and the step results are any JSON values; the rest are optional.
    Mastra's `structuredOutput` is accepted and dropped (its table has no
    column for it). `id` defaults to a new UUID, `created_at` to now and
    `updated_at` to `created_at`: all three are always present (aware UTC).
    Read back, a field Mastra's table leaves NULL is None.
    """

    id: str = Field(default_factory=new_id, min_length=1)
    scorer_id: str = Field(min_length=1)
    entity_id: str | None = Field(default=None, min_length=1)
    entity_type: str | None = Field(default=None, min_length=1)
    run_id: str = Field(min_length=1)
    input: Any = None
    output: Any = None
    additional_context: dict[str, Any] | None = None
    request_context: dict[str, Any] | None = None
    extract_step_result: dict[str, Any] | None = None
    extract_prompt: str | None = None
    score: ScoreValue
    analyze_step_result: dict[str, Any] | None = None
    analyze_prompt: str | None = None
    reason: str | None = None
    reason_prompt: str | None = None
    scorer: dict[str, Any]
    metadata: dict[str, Any] | None = None
    source: ScoringSource
    entity: dict[str, Any] | None = None
    trace_id: str | None = None
    span_id: str | None = None
    resource_id: str | None = None
    thread_id: str | None = None
    organization_id: str | None = None
    project_id: str | None = None
    batch_id: str | None = None
    dataset_id: str | None = None
    dataset_item_id: str | None = None
    preprocess_step_result: dict[str, Any] | None = None
    preprocess_prompt: str | None = None
    generate_score_prompt: str | None = None
    generate_reason_prompt: str | None = None
    created_at: UTCDatetime = Field(default_factory=utc_now)
    updated_at: UTCDatetime = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _updated_at_defaults_to_created_at(self) -> ScoreRow:
        if "updated_at" not in self.model_fields_set:
            self.updated_at = self.created_at
        return self


class ScorePage(Page):
    """A page of scores (`list_scores_by_*`), newest first."""

    scores: list[ScoreRow]
