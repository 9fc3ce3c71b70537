"""What every domain model shares: the camelCase aliasing base, UTC
datetimes, pages, and turning user input into a model or a `ValidationError`."""

from __future__ import annotations

import types
import typing
import uuid
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

from ..clock import format_iso, to_utc
from ..errors import ValidationError
from ..values import MAX_ID_LENGTH, MAX_OFFSET, MAX_PAGE_SIZE, id_text, json_value, whole_number

UTCDatetime = Annotated[
    AwareDatetime,
    AfterValidator(to_utc),
    PlainSerializer(format_iso, return_type=str, when_used="json"),
]
"""An aware datetime, converted to UTC and truncated to milliseconds; in JSON,
Mastra's `2026-11-26T11:50:17.385Z`."""


def new_id() -> str:
    return str(uuid.uuid4())


ID_FIELDS = frozenset(
    {
        "id",
        "thread_id",
        "resource_id",
        "run_id",
        "workflow_name",
        "agent_name",
        "global_run_id",
        "scorer_id",
        "entity_id",
        "trace_id",
        "span_id",
    }
)
"""Fields that hold ids: at most `MAX_ID_LENGTH` characters, no surrogates."""


class DomainModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        # a ValidationError names the attribute (`created_at`), not its alias
        loc_by_alias=False,
    )

    @model_validator(mode="before")
    @classmethod
    def _stored_values(cls, data: Any) -> Any:
        """Input as it will be stored (`mastra_storage.values`): ids checked,
        text and JSON values cleaned, before pydantic checks the types."""
        if type(data) is not dict:
            if not isinstance(data, Mapping):
                return data
            data = dict(data)
        kinds = _field_kinds(cls)
        cleaned = None  # a copy once a value changes; the input is never changed
        for key, value in data.items():
            # The common cases first, before the field's kind is looked up:
            # what id_text and json_value return for them is the value itself.
            if type(value) is str and value.isascii() and len(value) <= MAX_ID_LENGTH:
                if not value.isspace():
                    continue
                kind = kinds.get(key)
                if kind is None or kind[1] != "id":
                    continue
            elif value is None:
                continue
            else:
                kind = kinds.get(key)
                if kind is None:
                    continue  # unknown keys are ignored
                if isinstance(value, BaseModel):
                    if value.model_config.get("revalidate_instances") != "always":
                        continue  # checked itself
                    # Checked again as it stands, from a mapping of its own:
                    # pydantic's revalidation of the instance would give the
                    # new model the caller's set of given fields (one object).
                    if cleaned is None:
                        cleaned = dict(data)
                    cleaned[key] = given_values(value)
                    continue
                if kind[1] == "model" or isinstance(value, datetime):
                    continue  # models check themselves
            if kind[1] == "id":
                if isinstance(value, bytes | bytearray | memoryview):
                    # pydantic's lax mode would decode them: an id is text
                    raise ValidationError(f"{kind[0]} must be text, got bytes", field=kind[0])
                if isinstance(value, str):
                    if value and str.isspace(value):
                        # a lookup by it could never find it (ids there must not be blank)
                        raise ValidationError(
                            f"{kind[0]} must not be only whitespace", field=kind[0]
                        )
                    value = id_text(value, kind[0])
            else:
                value = json_value(value, kind[0])
            if cleaned is None:
                cleaned = dict(data)
            cleaned[key] = value
        return data if cleaned is None else cleaned


def given_values(model: BaseModel) -> dict[str, Any]:
    """The fields given to `model` (`model_fields_set`) and its unknown keys
    (`extra="allow"`), as a new mapping."""
    values = model.__dict__
    given = {name: values[name] for name in model.__pydantic_fields_set__ if name in values}
    extra = model.__pydantic_extra__
    if extra:
        given.update(extra)
    return given


_KINDS: dict[type[BaseModel], dict[str, tuple[str, str]]] = {}


def _field_kinds(model: type[BaseModel]) -> dict[str, tuple[str, str]]:
    """Each field name and alias of `model`: (field name, "id" | "json" | "model")."""
    kinds = _KINDS.get(model)
    if kinds is None:
        kinds = {}
        for name, info in model.model_fields.items():
            annotation = info.annotation
            args = typing.get_args(annotation) or (annotation,)
            nested = any(isinstance(arg, type) and issubclass(arg, BaseModel) for arg in args)
            kind = "id" if name in ID_FIELDS else "model" if nested else "json"
            kinds[name] = (name, kind)
            if info.alias:
                kinds[info.alias] = (name, kind)
        _KINDS[model] = kinds
    return kinds


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


_set_attribute = object.__setattr__


def _slot_setter(name: str) -> Any:
    """The setter of `BaseModel`'s slot `name` (its member descriptor's
    `__set__`: what `object.__setattr__` ends up calling, without the lookup
    through the model's class); `object.__setattr__` where it is no slot."""
    slot = BaseModel.__dict__.get(name)
    if isinstance(slot, types.MemberDescriptorType):
        return slot.__set__
    return lambda instance, value: _set_attribute(instance, name, value)


set_fields_set = _slot_setter("__pydantic_fields_set__")
set_extra = _slot_setter("__pydantic_extra__")
set_private = _slot_setter("__pydantic_private__")


@lru_cache(maxsize=32)
def is_plain(model: type[BaseModel]) -> bool:
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
    if not is_plain(model):
        return model.model_construct(**values)
    instance = model.__new__(model)
    _set_attribute(instance, "__dict__", values)
    set_fields_set(instance, set(values))
    set_extra(instance, None)
    set_private(instance, None)
    return instance


def parse(model: type[M], value: Any, *, what: str) -> M:
    """Validate user input into `model`, raising our `ValidationError` that
    names the field and the reason."""
    if type(value) is dict:  # the common case, without the ABC checks below
        pass
    elif isinstance(value, model):
        # Checked again, from the fields it was given (and its id, which the
        # caller's object shows): one made with `model_construct`, or changed
        # after it was made (pydantic does not check assignments), was never
        # checked as it stands (a naive or non-UTC `created_at`, say).
        fields = value.__dict__
        names = model.model_fields
        given = value.model_fields_set | {"id"}
        value = {name: fields[name] for name in given if name in names and name in fields}
    elif isinstance(value, BaseModel):
        value = value.model_dump(exclude_unset=True)
    if type(value) is not dict and not isinstance(value, Mapping):
        raise ValidationError(
            f"{what}: expected a {model.__name__} or a mapping, got {type(value).__name__}",
            field=what,
        )
    try:
        return model.model_validate(value)
    except pydantic.ValidationError as error:
        first = error.errors(include_input=False)[0]
        ours = (first.get("ctx") or {}).get("error")
        if isinstance(ours, ValidationError):  # raised by a validator of ours
            raise ValidationError(f"{what}.{ours}", field=ours.field) from error
        field = ".".join(str(part) for part in first["loc"]) or what
        raise ValidationError(f"{what}.{field}: {first['msg']}", field=field) from error


def require_aware(value: datetime | None, *, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError(
            f"{field} must be a timezone-aware datetime, got {type(value).__name__}", field=field
        )
    try:
        return to_utc(value)
    except ValueError as error:
        raise ValidationError(f"{field}: {error}", field=field) from error


def page_info(total: int, page: int, per_page: int | None) -> dict[str, Any]:
    has_more = per_page is not None and (page + 1) * per_page < total
    return {"total": total, "page": page, "per_page": per_page, "has_more": has_more}


def check_paging(page: int | None, per_page: int | None, *, page_may_be_none: bool = False) -> None:
    """Whole numbers (not `bool`): `page` >= 0 (None only where the method
    allows it), `per_page` from 0 to `MAX_PAGE_SIZE` or None, and the offset
    `page * per_page` at most `MAX_OFFSET`."""
    if page is not None or not page_may_be_none:
        whole_number(page, "page", maximum=MAX_OFFSET)
    if per_page is not None:
        whole_number(per_page, "per_page", maximum=MAX_PAGE_SIZE)
    if page is not None and per_page is not None and page * per_page > MAX_OFFSET:
        raise ValidationError(f"page * per_page must be at most {MAX_OFFSET}", field="page")
