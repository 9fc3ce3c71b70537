"""Scorer results: Mastra 1.x `mastra_scorers`."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.dml import Insert

from ..dialects import Executor, Features, features, upsert
from ..direct import prepare
from ..domain import ScoreRow
from ..orm import ScoreResultRow
from ._common import count, from_row, paged, twin_pairs, twin_updates, with_twins

TABLE = cast(Table, ScoreResultRow.__table__)
PAIRS = twin_pairs(TABLE)
# The model's fields, in order, and the columns that hold them.
ATTRIBUTES: tuple[InstrumentedAttribute[Any], ...] = tuple(
    getattr(ScoreResultRow, "metadata_" if name == "metadata" else name)
    for name in ScoreRow.model_fields
)
COLUMN_NAMES = {
    name: cast(str, attribute.expression.name)
    for name, attribute in zip(ScoreRow.model_fields, ATTRIBUTES, strict=True)
}
FILTERS = {
    "scorer_id": ScoreResultRow.scorer_id,
    "entity_id": ScoreResultRow.entity_id,
    "entity_type": ScoreResultRow.entity_type,
    "source": ScoreResultRow.source,
    "run_id": ScoreResultRow.run_id,
    "trace_id": ScoreResultRow.trace_id,
    "span_id": ScoreResultRow.span_id,
}


@lru_cache(maxsize=4)
def _save_statement(feats: Features) -> Insert:
    """Insert, or replace every column of the row with that id (Mastra's
    `saveScore` with a caller-supplied id: latest write wins)."""
    columns = [name for name in COLUMN_NAMES.values() if name != "id"]
    return upsert(feats, TABLE, keys=["id"], update_columns=twin_updates(feats, PAIRS, columns))


_BY_ID = prepare(select(*ATTRIBUTES).where(ScoreResultRow.id == bindparam("id")))


def to_score(row: Sequence[Any]) -> ScoreRow:
    return from_row(ScoreRow, row)


class ScoreRepository:
    """Reads and writes scorer results in the caller's session; never commits."""

    def __init__(self, session: Executor) -> None:
        self.session = session
        self.features = features(session)

    def save(self, score: ScoreRow) -> None:
        values = {COLUMN_NAMES[name]: getattr(score, name) for name in ScoreRow.model_fields}
        self.session.execute(
            _save_statement(self.features), [with_twins(self.features, PAIRS, values)]
        )

    def get(self, score_id: str) -> ScoreRow | None:
        row = self.session.execute(_BY_ID, {"id": score_id}).first()
        return None if row is None else to_score(row)

    def page(
        self, *, filters: dict[str, str], page: int, per_page: int | None
    ) -> tuple[list[ScoreRow], int]:
        """Newest first (ties: the larger id first), and how many match."""
        stmt: Select[Any] = select(*ATTRIBUTES).where(
            *(FILTERS[name] == value for name, value in filters.items())
        )
        total = count(self.session, stmt)
        if per_page == 0 or total == 0:
            return [], total
        ordered = stmt.order_by(ScoreResultRow.created_at.desc(), ScoreResultRow.id.desc())
        rows = self.session.execute(paged(ordered, page, per_page))
        return [to_score(row) for row in rows], total
