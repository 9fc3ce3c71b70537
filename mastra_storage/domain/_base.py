"""What every domain model shares: the camelCase aliasing base, UTC
datetimes, pages, and turning user input into a model or a `ValidationError`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    PlainSerializer,
)
from pydantic.alias_generators import to_camel

from ..clock import format_iso, to_utc
from ..errors import ValidationError

UTCDatetime = Annotated[
    AwareDatetime,
    AfterValidator(to_utc),
    PlainSerializer(format_iso, return_type=str, when_used="json"),
]
"""An aware datetime, converted to UTC and truncated to milliseconds; in JSON,
Mastra's `2026-11-26T11:50:17.385Z`."""


def new_id() -> str:
    return str(uuid.uuid4())


class DomainModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
    )


Direction = Literal["ASC", "DESC"]
"""Sort direction of a listing (Mastra's `direction`)."""

ThreadOrderBy = Literal["createdAt", "updatedAt"]
"""What `list_threads` sorts by (Mastra's `orderBy.field`)."""


class DateRange(DomainModel):
    """A `date_range` filter on `created_at`: aware datetimes, each bound
    optional, inclusive unless `start_exclusive` / `end_exclusive`."""

    start: UTCDatetime | None = None
    end: UTCDatetime | None = None
    start_exclusive: bool = False
    end_exclusive: bool = False


class Page(DomainModel):
    """One page of a listing: `total` matching rows, this `page` (from 0),
    `per_page` (None: everything in one page), and whether more follow."""

    total: int
    page: int
    per_page: int | None
    has_more: bool


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], value: Any, *, what: str) -> M:
    """Validate user input into `model`, raising our `ValidationError` that
    names the field and the reason."""
    if isinstance(value, model):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_unset=True)
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"{what}: expected a {model.__name__} or a mapping, got {type(value).__name__}",
            field=what,
        )
    try:
        return model.model_validate(value)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or what
        raise ValidationError(f"{what}.{field}: {first['msg']}", field=field) from error


def require_aware(value: datetime | None, *, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError(f"{field} must be a datetime", field=field)
    try:
        return to_utc(value)
    except ValueError as error:
        raise ValidationError(f"{field}: {error}", field=field) from error


def page_info(total: int, page: int, per_page: int | None) -> dict[str, Any]:
    has_more = per_page is not None and (page + 1) * per_page < total
    return {"total": total, "page": page, "per_page": per_page, "has_more": has_more}


def check_paging(page: int | None, per_page: int | None) -> None:
    if page is not None and page < 0:
        raise ValidationError("page must be >= 0", field="page")
    if per_page is not None and per_page < 0:
        raise ValidationError("per_page must be >= 0", field="per_page")
