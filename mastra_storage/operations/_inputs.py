"""Input checks every operation shares: each raises `ValidationError` naming
the field, before anything is written."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar

from ..clock import format_iso, utc_now
from ..domain import DateRange, StorageResource, StorageThread, parse
from ..errors import ValidationError
from ..values import MAX_THREAD_IDS, check_id, clean_text, json_object, summary

Direction = Literal["ASC", "DESC"]
_ORDER_BY = {
    "createdAt": "createdAt",
    "created_at": "createdAt",
    "updatedAt": "updatedAt",
    "updated_at": "updatedAt",
}


require_text = check_id
"""An id: a non-empty string of at most `MAX_ID_LENGTH` characters
(`values.check_id` itself: one frame less on every call)."""


def optional_text(value: Any, field: str) -> str | None:
    return None if value is None else require_text(value, field)


def optional_string(value: Any, field: str) -> str | None:
    """None, or any string (empty included)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string", field=field)
    return clean_text(value)


def optional_dict(value: Any, field: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if type(value) is not dict:  # a dict is copied by json_object's walk itself
        if not isinstance(value, Mapping):
            raise ValidationError(
                f"{field} must be a mapping, got {type(value).__name__}", field=field
            )
        value = dict(value)
    return json_object(value, field)


def optional_flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{field} must be True or False", field=field)
    return value


def order_by_of(value: Any) -> str:
    if not isinstance(value, str) or value not in _ORDER_BY:
        raise ValidationError(
            f"order_by must be 'createdAt' or 'updatedAt', got {summary(value)}", field="order_by"
        )
    return _ORDER_BY[value]


def direction_of(value: str) -> bool:
    """True for descending."""
    if not isinstance(value, str) or value.upper() not in ("ASC", "DESC"):
        raise ValidationError(
            f"direction must be 'ASC' or 'DESC', got {summary(value)}", field="direction"
        )
    return value.upper() == "DESC"


def thread_ids_of(value: Any) -> list[str]:
    if isinstance(value, Mapping | bytes | bytearray):
        raise ValidationError(
            f"thread_id must be an id or a list of ids, got {type(value).__name__}",
            field="thread_id",
        )
    ids = (
        [value]
        if isinstance(value, str)
        else list(value)
        if isinstance(value, Iterable)
        else [value]
    )
    if not ids:
        raise ValidationError("thread_id must be a non-empty string", field="thread_id")
    for item in ids:
        check_id(item, "thread_id")
    distinct = list(dict.fromkeys(ids))
    if len(distinct) > MAX_THREAD_IDS:
        raise ValidationError(
            f"thread_id lists {len(distinct)} threads; at most {MAX_THREAD_IDS} per call",
            field="thread_id",
        )
    return distinct


def date_range_of(value: Any) -> DateRange | None:
    return None if value is None else parse(DateRange, value, what="date_range")


Stamped = TypeVar("Stamped", StorageThread, StorageResource)


def stamped(model: Stamped) -> Stamped:
    """`created_at` and `updated_at` the caller did not give (or gave as None)
    default to one reading of the clock: both the same instant. (The models'
    own defaults read it once each, and two readings can fall either side of
    a millisecond.)"""
    now = utc_now()
    given = model.model_fields_set
    update = {
        name: now
        for name in ("created_at", "updated_at")
        if name not in given or getattr(model, name) is None
    }
    return model.model_copy(update=update) if update else model


def ids_of(value: Any, field: str) -> list[str]:
    if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(f"{field} must be a list of ids", field=field)
    ids = list(value)
    for item in ids:
        require_text(item, field)
    return ids


def json_value(value: Any, field: str) -> Any:
    """`value` as plain JSON data: aware datetimes become Mastra's ISO `...Z`
    text, tuples lists; anything else that is not JSON (NaN, infinity, a set,
    bytes, a naive datetime, an object, a non-string key) is refused."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{field}: {value} is not a JSON number", field=field)
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValidationError(f"{field}: a naive datetime is not allowed", field=field)
        return format_iso(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"{field}: object keys must be strings", field=field)
            out[key] = json_value(item, f"{field}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [json_value(item, f"{field}[{index}]") for index, item in enumerate(value)]
    raise ValidationError(f"{field}: a {type(value).__name__} is not JSON", field=field)
