"""Memory domain models: threads, messages and resources (working memory)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from ..clock import utc_now
from ..values import MAX_PAGE_SIZE, clean_text, json_value
from ._base import DomainModel, Page, UTCDatetime, new_id

Role = Literal["user", "assistant", "system", "tool", "signal"]

READ_BACK: dict[str, Any] = {"mastra_storage_read_back": True}
"""Validation context for content parsed from stored JSON text that holds no
lone-surrogate escape, no non-finite number and fewer brackets than
`MAX_JSON_DEPTH` (`repositories.messages.parse_content` checks the text):
`values.json_value` would return what the parser made unchanged, so it is
not walked again."""


class StorageThread(DomainModel):
    """A conversation thread (Mastra's `StorageThreadType`, table `mastra_threads`).

    `id` defaults to a new UUID; `resource_id` is the owner (a user, say);
    `metadata` a JSON object or None; `created_at` / `updated_at` aware UTC
    datetimes in milliseconds (default: now).
    """

    id: str = Field(default_factory=new_id, min_length=1)
    resource_id: str = Field(min_length=1)
    title: str = ""
    metadata: dict[str, Any] | None = None
    created_at: UTCDatetime = Field(default_factory=utc_now)
    updated_at: UTCDatetime = Field(default_factory=utc_now)


class MessageContent(BaseModel):
    """Mastra's v2 message content. Unknown keys are kept as they are.

    An instance given inside a message to save or an update (one read back
    and changed in place, or made with `model_construct`) is checked again
    as it stands (`revalidate_instances`), as a mapping would be: a NaN in
    a part is a `ValidationError`, a lone surrogate becomes U+FFFD."""

    model_config = ConfigDict(extra="allow", revalidate_instances="always")

    format: int = 2
    parts: list[dict[str, Any]] = Field(default_factory=list)
    content: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, value: Any, info: ValidationInfo) -> Any:
        if info.context is READ_BACK and type(value) is dict:
            return value  # fresh from the JSON parser, already as json_value makes it
        if type(value) is dict:  # the common case first: no ABC check
            return json_value(value, "content")
        if isinstance(value, str):
            value = clean_text(value)
            return {"format": 2, "parts": [{"type": "text", "text": value}], "content": value}
        if isinstance(value, list | tuple):
            return {"format": 2, "parts": json_value(value, "content.parts")}
        if isinstance(value, Mapping):
            return json_value(dict(value), "content")
        return value

    def to_stored(self) -> dict[str, Any]:
        """The JSON object stored in `mastra_messages.content`: what was given,
        plus `format` and `parts`, which Mastra readers require."""
        # What `model_dump(exclude_unset=True)` gives for content (plain JSON
        # values: `_normalise` made them so), without its serializer: the
        # given fields in field order, then the unknown keys as given.
        given = self.__pydantic_fields_set__
        values = self.__dict__
        extra = self.__pydantic_extra__
        if len(given) == 2 and "parts" in given and "format" in given and not extra:
            # The common shape (Mastra's v2 of parts), built at once.
            return {"format": values["format"], "parts": values["parts"]}
        stored = {name: values[name] for name in _CONTENT_FIELDS if name in given}
        if extra:
            stored.update(extra)
        stored.setdefault("format", self.format)
        stored.setdefault("parts", self.parts)
        return stored


_CONTENT_FIELDS = tuple(MessageContent.model_fields)


class MastraDBMessageInput(DomainModel):
    """A message to save (`save_messages`, `Memory.save_messages`): what may be
    left out is Optional here, and filled in by the save.

    `thread_id`: an existing thread's id (required). `role`: `"user"`,
    `"assistant"`, `"system"`, `"tool"` or `"signal"`. `content`: Mastra's v2
    content (`MessageContent`), or a string, or a list of parts. `id`
    defaults to a new UUID; `created_at` (aware) to the time of the save, in
    input order, after the thread's last message; `resource_id` to the
    thread's; `type` to `"v2"`. A plain mapping (snake_case or Mastra's
    camelCase keys) is accepted wherever this model is, and so is a
    `MastraDBMessage` read back (a subclass: an upsert of a stored message).
    """

    id: str = Field(default_factory=new_id, min_length=1)
    role: Role
    content: MessageContent
    created_at: UTCDatetime | None = None
    thread_id: str = Field(min_length=1)
    resource_id: str | None = None
    type: str = "v2"


class MastraDBMessage(MastraDBMessageInput):
    """A stored message, as every call returns it (Mastra's `MastraDBMessage`,
    table `mastra_messages`).

    Always present: `id`, `role`, `content` (`MessageContent`), `created_at`
    (aware UTC, milliseconds), `thread_id` and `type`. `resource_id` is None
    only for a row whose `resourceId` Mastra left NULL (its column allows it;
    our saves always fill it with the thread's). To build a message to save,
    use `MastraDBMessageInput` or a plain mapping, which may leave out
    `created_at` and `resource_id`.
    """

    created_at: UTCDatetime


class MessageUpdate(DomainModel):
    """A partial update of a stored message: `id` and any of the other fields."""

    id: str = Field(min_length=1)
    role: Role | None = None
    content: MessageContent | None = None
    thread_id: str | None = Field(default=None, min_length=1)
    resource_id: str | None = None
    type: str | None = None

    def apply_to(self, message: MastraDBMessage) -> MastraDBMessage:
        """`message` with this update applied: given fields replace, `content`
        merges into the stored one (`content.metadata` one level deep)."""
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
    with_previous_messages: int = Field(default=0, ge=0, le=MAX_PAGE_SIZE, strict=True)
    with_next_messages: int = Field(default=0, ge=0, le=MAX_PAGE_SIZE, strict=True)


class StorageResource(DomainModel):
    """A resource's working memory and metadata (Mastra's `StorageResourceType`,
    table `mastra_resources`). Datetimes aware UTC (default: now)."""

    id: str = Field(min_length=1)
    working_memory: str | None = None
    metadata: dict[str, Any] | None = None
    created_at: UTCDatetime = Field(default_factory=utc_now)
    updated_at: UTCDatetime = Field(default_factory=utc_now)


class MessageFilter(DomainModel):
    """Which source messages `clone_thread` copies (Mastra: `messageFilter`)."""

    model_config = ConfigDict(**{**DomainModel.model_config, "extra": "forbid"})

    start_date: UTCDatetime | None = None
    end_date: UTCDatetime | None = None
    message_ids: list[str] | None = None


class ThreadClone(DomainModel):
    """What `clone_thread` made: the new thread, its messages (oldest first)
    and a map from each source message id to its copy's id."""

    thread: StorageThread
    cloned_messages: list[MastraDBMessage]
    message_id_map: dict[str, str]


class ThreadPage(Page):
    """A page of threads (`list_threads`)."""

    threads: list[StorageThread]


class MessagePage(Page):
    """A page of messages (`list_messages`); `total` is None with `count_total=False`."""

    messages: list[MastraDBMessage]
    total: int | None  # type: ignore[assignment]
    """None when the caller asked `count_total=False` (a last-N read)."""
