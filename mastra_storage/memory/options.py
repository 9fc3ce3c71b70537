"""`Memory`'s options: `@mastra/memory` 1.x names and defaults, snake_case
(Mastra's camelCase keys are accepted too), validated into frozen values.

Per-call `options=` are merged onto the instance's the way Mastra merges a
thread config: nested mappings key by key, any other value replaces."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..errors import ValidationError
from ..values import summary

Scope = Literal["resource", "thread"]

DEFAULT_LAST_MESSAGES = 10
DEFAULT_TOP_K = 4
DEFAULT_MESSAGE_RANGE = 1

DEFAULT_WORKING_MEMORY_TEMPLATE = """
# User Information
- **First Name**: 
- **Last Name**: 
- **Location**: 
- **Occupation**: 
- **Interests**: 
- **Goals**: 
- **Events**: 
- **Facts**: 
- **Projects**: 
"""  # noqa: W291 (Mastra's default template, trailing spaces and all)


@dataclass(frozen=True)
class SemanticRecallOptions:
    """Semantic recall: the `top_k` most similar earlier messages, each with
    `before` messages before it and `after` after it (Mastra's `messageRange`),
    searched within the `scope`; matches scoring below `threshold` (cosine
    similarity, -1..1) are dropped."""

    top_k: int = DEFAULT_TOP_K
    before: int = DEFAULT_MESSAGE_RANGE
    after: int = DEFAULT_MESSAGE_RANGE
    scope: Scope = "resource"
    threshold: float | None = None


@dataclass(frozen=True)
class WorkingMemoryOptions:
    """Working memory: off unless `enabled`; kept per resource (`scope`
    "resource", in `mastra_resources.workingMemory`) or per thread (in the
    thread's `metadata["workingMemory"]`); `template` is Markdown."""

    enabled: bool = False
    scope: Scope = "resource"
    template: str = DEFAULT_WORKING_MEMORY_TEMPLATE


@dataclass(frozen=True)
class MemoryOptions:
    """`last_messages`: how many recent messages `recall` returns (0: none,
    Mastra's `false`); `semantic_recall`: None when off."""

    last_messages: int = DEFAULT_LAST_MESSAGES
    semantic_recall: SemanticRecallOptions | None = None
    working_memory: WorkingMemoryOptions = field(default_factory=WorkingMemoryOptions)


_TOP = {
    "last_messages": "last_messages",
    "lastMessages": "last_messages",
    "semantic_recall": "semantic_recall",
    "semanticRecall": "semantic_recall",
    "working_memory": "working_memory",
    "workingMemory": "working_memory",
}
_RECALL = {
    "top_k": "top_k",
    "topK": "top_k",
    "message_range": "message_range",
    "messageRange": "message_range",
    "scope": "scope",
    "threshold": "threshold",
}
_WORKING = {"enabled": "enabled", "scope": "scope", "template": "template"}


def _keys(value: Any, names: Mapping[str, str], where: str) -> dict[str, Any]:
    """A mapping with its keys put in snake_case; unknown keys refused."""
    if not isinstance(value, Mapping):
        raise ValidationError(f"{where} must be a mapping, got {type(value).__name__}", field=where)
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = names.get(key) if isinstance(key, str) else None
        if name is None:
            raise ValidationError(
                f"{where}: unknown option {summary(key)} "
                f"(known: {', '.join(sorted(set(names.values())))})",
                field=f"{where}.{key}",
            )
        out[name] = item
    return out


def _count(value: Any, where: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{where} must be an integer >= {minimum}", field=where)
    return value


def _scope(value: Any, where: str) -> Scope:
    if value not in ("resource", "thread"):
        raise ValidationError(
            f"{where} must be 'resource' or 'thread', got {summary(value)}", field=where
        )
    return value  # type: ignore[no-any-return]


def _recall(base: SemanticRecallOptions | None, value: Any) -> SemanticRecallOptions | None:
    where = "options.semantic_recall"
    if value is None or value is False:
        return None
    if value is True:  # Mastra: `true` is the defaults, whatever was set before
        return SemanticRecallOptions()
    given = _keys(value, _RECALL, where)
    changes: dict[str, Any] = {}
    if "top_k" in given:
        changes["top_k"] = _count(given["top_k"], f"{where}.top_k", minimum=1)
    if "message_range" in given:
        window = given["message_range"]
        if isinstance(window, Mapping):
            sides = _keys(window, {"before": "before", "after": "after"}, f"{where}.message_range")
            for side in ("before", "after"):
                if side in sides:
                    changes[side] = _count(sides[side], f"{where}.message_range.{side}", minimum=0)
        else:
            size = _count(window, f"{where}.message_range", minimum=0)
            changes["before"] = changes["after"] = size
    if "scope" in given:
        changes["scope"] = _scope(given["scope"], f"{where}.scope")
    if "threshold" in given:
        threshold = given["threshold"]
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)
        ):
            raise ValidationError(f"{where}.threshold must be a number", field=f"{where}.threshold")
        changes["threshold"] = None if threshold is None else float(threshold)
    return replace(base or SemanticRecallOptions(), **changes)


def _working(base: WorkingMemoryOptions, value: Any) -> WorkingMemoryOptions:
    where = "options.working_memory"
    if isinstance(value, bool):
        return replace(base, enabled=value)
    given = _keys(value, _WORKING, where)
    changes: dict[str, Any] = {}
    if "enabled" in given:
        if not isinstance(given["enabled"], bool):
            raise ValidationError(f"{where}.enabled must be a boolean", field=f"{where}.enabled")
        changes["enabled"] = given["enabled"]
    if "scope" in given:
        changes["scope"] = _scope(given["scope"], f"{where}.scope")
    if "template" in given:
        if not isinstance(given["template"], str):
            raise ValidationError(f"{where}.template must be a string", field=f"{where}.template")
        changes["template"] = given["template"]
    return replace(base, **changes)


def resolve_options(base: MemoryOptions, value: Any) -> MemoryOptions:
    """`value` (a mapping, a `MemoryOptions`, or None) merged onto `base`."""
    if value is None:
        return base
    if isinstance(value, MemoryOptions):
        return value
    given = _keys(value, _TOP, "options")
    changes: dict[str, Any] = {}
    if "last_messages" in given:
        last = given["last_messages"]
        changes["last_messages"] = (
            0 if last is False else _count(last, "options.last_messages", minimum=0)
        )
    if "semantic_recall" in given:
        changes["semantic_recall"] = _recall(base.semantic_recall, given["semantic_recall"])
    if "working_memory" in given:
        changes["working_memory"] = _working(base.working_memory, given["working_memory"])
    return replace(base, **changes)


__all__ = [
    "DEFAULT_WORKING_MEMORY_TEMPLATE",
    "MemoryOptions",
    "SemanticRecallOptions",
    "WorkingMemoryOptions",
    "resolve_options",
]
