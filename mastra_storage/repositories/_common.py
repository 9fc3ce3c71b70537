"""Helpers shared by the repositories: the PostgreSQL timestamp twins, paging."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, Table, func
from typing_extensions import Unpack

from ..dialects import Executor, Features
from ..domain import construct
from ..orm import POSTGRESQL_ONLY

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
AnySelect = Select[Unpack[tuple[Any, ...]]]
S = TypeVar("S", bound=AnySelect)


_FIELD_NAMES: dict[type[BaseModel], tuple[str, ...]] = {}
"""model -> its field names, in order (pydantic's `model_fields` costs a
property call and a mapping per access)."""


def from_row(model: type[M], row: Sequence[Any]) -> M:
    """A model from a row whose columns are the model's fields, in order."""
    names = _FIELD_NAMES.get(model)
    if names is None:
        names = _FIELD_NAMES[model] = tuple(model.model_fields)
    return construct(model, dict(zip(names, row, strict=True)))


def twin_pairs(table: Table) -> tuple[tuple[str, str], ...]:
    """(`"createdAt"`, `"createdAtZ"`) pairs: each PostgreSQL-only twin and the
    column it mirrors."""
    return tuple(
        (column.key[:-1], column.key)
        for column in table.columns
        if column.info.get(POSTGRESQL_ONLY)
    )


def with_twins(
    feats: Features, pairs: Sequence[tuple[str, str]], values: dict[str, Any]
) -> dict[str, Any]:
    """Fill the `"<col>Z"` twins of the timestamps in `values` where they exist."""
    if feats.timestamp_twins:
        for source, twin in pairs:
            if source in values:
                values[twin] = values[source]
    return values


def twin_updates(
    feats: Features, pairs: Sequence[tuple[str, str]], names: Iterable[str]
) -> list[str]:
    """The column names an upsert sets, with their twins added where they exist."""
    names = list(names)
    if feats.timestamp_twins:
        names += [twin for source, twin in pairs if source in names]
    return names


def count(session: Executor, stmt: AnySelect) -> int:
    """COUNT(*) of a filtered select, without its ordering or paging."""
    counted = (
        stmt.with_only_columns(func.count(), maintain_column_froms=True)
        .order_by(None)
        .limit(None)
        .offset(None)
    )
    return int(session.execute(counted).scalar_one())


def paged(stmt: S, page: int, per_page: int | None) -> S:
    if per_page is None:
        return stmt
    return stmt.limit(per_page).offset(page * per_page)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
