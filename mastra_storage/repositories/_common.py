"""Helpers shared by the repositories: the PostgreSQL timestamp twins, paging."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, Table, func
from typing_extensions import Unpack

from ..dialects import Executor, Features
from ..orm import POSTGRESQL_ONLY

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
AnySelect = Select[Unpack[tuple[Any, ...]]]
S = TypeVar("S", bound=AnySelect)
_set_attribute = object.__setattr__


@lru_cache(maxsize=32)
def _plain(model: type[BaseModel]) -> bool:
    """A model whose instances are just their fields: no extras kept, no
    private attributes, no post-init hook, not a root model."""
    return (
        model.model_config.get("extra") != "allow"
        and not model.__private_attributes__
        and not model.__pydantic_post_init__
        and not model.__pydantic_root_model__
    )


def construct(model: type[M], values: dict[str, Any]) -> M:
    """`model.model_construct(**values)` for rows read back from the database:
    `values` holds every field, by name, in field order; nothing is validated.

    Builds the instance the way `model_construct` does, without its per-field
    alias search in Python, which costs more than validating would (it ran
    once per message read)."""
    if not _plain(model):
        return model.model_construct(**values)
    instance = model.__new__(model)
    _set_attribute(instance, "__dict__", values)
    _set_attribute(instance, "__pydantic_fields_set__", set(values))
    _set_attribute(instance, "__pydantic_extra__", None)
    _set_attribute(instance, "__pydantic_private__", None)
    return instance


def from_row(model: type[M], row: Sequence[Any]) -> M:
    """A model from a row whose columns are the model's fields, in order."""
    return construct(model, dict(zip(model.model_fields, row, strict=True)))


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
