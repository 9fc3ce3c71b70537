"""Scores domain (Mastra 1.x `mastra_scorers`): `saveScore`, `getScoreById`
and the `listScoresBy*` calls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..dialects import Executor
from ..domain import ScorePage, ScoreRow, check_paging, page_info, parse
from ..errors import ValidationError
from ..repositories import ScoreRepository
from ..values import summary
from ._inputs import json_value, optional_text, require_text
from ._marks import point_read

JSON_FIELDS = (
    "input",
    "output",
    "additional_context",
    "request_context",
    "extract_step_result",
    "analyze_step_result",
    "scorer",
    "metadata",
    "entity",
    "preprocess_step_result",
)
SOURCES = ("LIVE", "TEST")


def save_score(session: Executor, *, score: Any) -> ScoreRow:
    """Mastra's `saveScore`: validate the payload, stamp it, insert it (or, for
    an id already stored, replace that row: the latest write wins)."""
    model = parse(ScoreRow, score, what="score")
    require_text(model.entity_id, "score.entity_id")
    if model.entity is None:
        raise ValidationError("score.entity is required (an object)", field="entity")
    values = {name: json_value(getattr(model, name), f"score.{name}") for name in JSON_FIELDS}
    row = model.model_copy(update=values)
    ScoreRepository(session).save(row)
    return row


@point_read
def get_score_by_id(session: Executor, *, id: str) -> ScoreRow | None:
    return ScoreRepository(session).get(require_text(id, "id"))


def _list(
    session: Executor, filters: Mapping[str, str | None], page: int, per_page: int | None
) -> ScorePage:
    check_paging(page, per_page)
    given = {name: value for name, value in filters.items() if value is not None}
    scores, total = ScoreRepository(session).page(filters=given, page=page, per_page=per_page)
    return ScorePage(scores=scores, **page_info(total, page, per_page))


def list_scores_by_scorer_id(
    session: Executor,
    *,
    scorer_id: str,
    entity_id: str | None = None,
    entity_type: str | None = None,
    source: str | None = None,
    page: int = 0,
    per_page: int | None = 100,
) -> ScorePage:
    if source is not None and source not in SOURCES:
        raise ValidationError(
            f"source must be 'LIVE' or 'TEST', got {summary(source)}", field="source"
        )
    filters = {
        "scorer_id": require_text(scorer_id, "scorer_id"),
        "entity_id": optional_text(entity_id, "entity_id"),
        "entity_type": optional_text(entity_type, "entity_type"),
        "source": source,
    }
    return _list(session, filters, page, per_page)


def list_scores_by_run_id(
    session: Executor, *, run_id: str, page: int = 0, per_page: int | None = 100
) -> ScorePage:
    return _list(session, {"run_id": require_text(run_id, "run_id")}, page, per_page)


def list_scores_by_entity_id(
    session: Executor,
    *,
    entity_id: str,
    entity_type: str,
    page: int = 0,
    per_page: int | None = 100,
) -> ScorePage:
    filters = {
        "entity_id": require_text(entity_id, "entity_id"),
        "entity_type": require_text(entity_type, "entity_type"),
    }
    return _list(session, filters, page, per_page)


def list_scores_by_span(
    session: Executor,
    *,
    trace_id: str,
    span_id: str,
    page: int = 0,
    per_page: int | None = 100,
) -> ScorePage:
    filters = {
        "trace_id": require_text(trace_id, "trace_id"),
        "span_id": require_text(span_id, "span_id"),
    }
    return _list(session, filters, page, per_page)
