"""Domain models: what users pass in and get back (pydantic v2).

Attributes are snake_case; each model validates from and dumps to Mastra's
camelCase JSON (`model_dump(by_alias=True)`). Every datetime is aware UTC.
"""

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
    Field,
    PlainSerializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

from .clock import format_iso, to_utc
from .errors import ValidationError

UTCDatetime = Annotated[
    AwareDatetime,
    AfterValidator(to_utc),
    PlainSerializer(format_iso, return_type=str, when_used="json"),
]
"""An aware datetime, converted to UTC and truncated to milliseconds; in JSON,
Mastra's `2026-11-26T11:50:17.385Z`."""

Role = Literal["user", "assistant", "system", "tool"]


def new_id() -> str:
    return str(uuid.uuid4())


class DomainModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
    )


class StorageThread(DomainModel):
    id: str = Field(default_factory=new_id, min_length=1)
    resource_id: str = Field(min_length=1)
    title: str = ""
    metadata: dict[str, Any] | None = None
    created_at: UTCDatetime | None = None
    updated_at: UTCDatetime | None = None


class MessageContent(BaseModel):
    """Mastra's v2 message content. Unknown keys are kept as they are."""

    model_config = ConfigDict(extra="allow")

    format: int = 2
    parts: list[dict[str, Any]] = Field(default_factory=list)
    content: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"format": 2, "parts": [{"type": "text", "text": value}], "content": value}
        if isinstance(value, list):
            return {"format": 2, "parts": value}
        return value

    def to_stored(self) -> dict[str, Any]:
        """The JSON object stored in `mastra_messages.content`: what was given,
        plus `format` and `parts`, which Mastra readers require."""
        stored = self.model_dump(exclude_unset=True)
        stored.setdefault("format", self.format)
        stored.setdefault("parts", self.parts)
        return stored


class MastraDBMessage(DomainModel):
    id: str = Field(default_factory=new_id, min_length=1)
    role: Role
    content: MessageContent
    created_at: UTCDatetime | None = None
    thread_id: str | None = None
    resource_id: str | None = None
    type: str = "v2"


class MessageUpdate(DomainModel):
    """A partial update of a stored message: `id` and any of the other fields."""

    id: str = Field(min_length=1)
    role: Role | None = None
    content: MessageContent | None = None
    thread_id: str | None = Field(default=None, min_length=1)
    resource_id: str | None = None
    type: str | None = None

    def apply_to(self, message: MastraDBMessage) -> MastraDBMessage:
        changes: dict[str, Any] = {
            name: getattr(self, name)
            for name in ("role", "thread_id", "resource_id", "type")
            if getattr(self, name) is not None
        }
        if self.content is not None:
            given = self.content.model_dump(exclude_unset=True)
            merged = {**message.content.to_stored(), **given}
            if "metadata" in given:
                merged["metadata"] = {**message.content.metadata, **self.content.metadata}
            changes["content"] = MessageContent.model_validate(merged)
        return message.model_copy(update=changes)


class IncludeItem(DomainModel):
    """A context window for `list_messages(include=...)`."""

    id: str = Field(min_length=1)
    thread_id: str | None = None
    with_previous_messages: int = Field(default=0, ge=0)
    with_next_messages: int = Field(default=0, ge=0)


class StorageResource(DomainModel):
    id: str = Field(min_length=1)
    working_memory: str | None = None
    metadata: dict[str, Any] | None = None
    created_at: UTCDatetime | None = None
    updated_at: UTCDatetime | None = None


class WorkflowRun(DomainModel):
    workflow_name: str
    run_id: str
    resource_id: str | None = None
    snapshot: dict[str, Any]
    created_at: UTCDatetime
    updated_at: UTCDatetime


class EvalRow(DomainModel):
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


class RunLock(DomainModel):
    holder: str
    expires_at: UTCDatetime | None = None
    backend: str
    fencing_token: int


class DateRange(DomainModel):
    start: UTCDatetime | None = None
    end: UTCDatetime | None = None
    start_exclusive: bool = False
    end_exclusive: bool = False


class Page(DomainModel):
    total: int
    page: int
    per_page: int | None
    has_more: bool


class ThreadPage(Page):
    threads: list[StorageThread]


class MessagePage(Page):
    messages: list[MastraDBMessage]
    total: int | None  # type: ignore[assignment]
    """None when the caller asked `count_total=False` (a last-N read)."""


class EvalPage(Page):
    evals: list[EvalRow]


class WorkflowRuns(DomainModel):
    runs: list[WorkflowRun]
    total: int


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
