"""Working memory: a Markdown note an agent keeps about the user (scope
"resource") or the conversation (scope "thread"), where Mastra keeps it, so
a TypeScript service sees the same note; plus the tool definition and the
instruction text that let a model update it itself."""

from __future__ import annotations

from typing import Any

from ..clock import utc_now
from ..dialects import Executor
from ..domain import MastraDBMessageInput
from ..errors import ValidationError
from ..operations import require_text, update_resource
from ..repositories import ResourceRepository, ThreadRepository
from .history import owner_check, working_memory_of
from .options import WorkingMemoryOptions

TOOL_NAME = "updateWorkingMemory"
"""Mastra's name for the tool, which its processors look for."""

START_TAG = "<working_memory>"
END_TAG = "</working_memory>"

_JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
"""What JavaScript's `String.prototype.trim` removes (Python's `strip()`
differs on a few characters)."""


def remove_tags(text: str) -> str:
    """`text` without its `<working_memory>...</working_memory>` blocks
    (Mastra's `removeWorkingMemoryTags`): an opening tag without a closing one
    and everything after it are kept as they are."""
    kept: list[str] = []
    position = 0
    while True:
        start = text.find(START_TAG, position)
        if start == -1:
            kept.append(text[position:])
            break
        kept.append(text[position:start])
        end = text.find(END_TAG, start + len(START_TAG))
        if end == -1:
            kept.append(text[start:])
            break
        position = end + len(END_TAG)
    return "".join(kept)


def _hide_in(text: str) -> str:
    cleaned = remove_tags(text)
    # Trimmed only where a block went, so other text keeps its whitespace.
    return cleaned.strip(_JS_WHITESPACE) if cleaned != text else text


def _is_update_call(part: Any) -> bool:
    invocation = part.get("toolInvocation") if isinstance(part, dict) else None
    return (
        part.get("type") == "tool-invocation"
        and isinstance(invocation, dict)
        and invocation.get("toolName") == TOOL_NAME
    )


def hide_working_memory(message: MastraDBMessageInput) -> MastraDBMessageInput | None:
    """The message as Mastra saves it (`@mastra/memory`'s
    `updateMessageToHideWorkingMemoryV2`, with the whitespace rule of
    `@mastra/core`'s `MessageHistory`): `<working_memory>` blocks removed from
    `content.content` and from text parts, `updateWorkingMemory` tool
    invocations removed from the parts and from `content.toolInvocations`.
    None when nothing is left: no parts and no text."""
    content = message.content
    update: dict[str, Any] = {}
    if isinstance(content.content, str) and content.content:
        text = _hide_in(content.content)
        if text != content.content:
            update["content"] = text
    parts = [
        {**part, "text": _hide_in(part["text"] if isinstance(part.get("text"), str) else "")}
        if part.get("type") == "text"
        else part
        for part in content.parts
        if not _is_update_call(part)
    ]
    if parts != content.parts:
        update["parts"] = parts
    extra = content.model_extra or {}
    invocations = extra.get("toolInvocations")
    if isinstance(invocations, list):
        kept = [
            i for i in invocations if not (isinstance(i, dict) and i.get("toolName") == TOOL_NAME)
        ]
        if len(kept) != len(invocations):
            update["toolInvocations"] = kept
    if not parts:
        left = update.get("content", content.content)
        if not (isinstance(left, str) and left.strip(_JS_WHITESPACE)):
            return None
    if not update:
        return message
    return message.model_copy(update={"content": content.model_copy(update=update)})


def tool_definition() -> dict[str, Any]:
    """The update tool as a JSON Schema function definition (the shape the
    OpenAI, Anthropic and most other tool-calling APIs take, give or take the
    wrapper): one required string argument, `memory`, the whole new note."""
    return {
        "name": TOOL_NAME,
        "description": (
            "Update the working memory with new information. "
            "Any data not included will be overwritten."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "memory": {
                    "type": "string",
                    "description": (
                        "The complete working memory, as Markdown following the template."
                    ),
                }
            },
            "required": ["memory"],
            "additionalProperties": False,
        },
    }


def instructions(template: str, data: str | None) -> str:
    """System-prompt text telling a model how to keep its working memory with
    the tool: the template and the current note, in tags."""
    return f"""WORKING_MEMORY_SYSTEM_INSTRUCTION:
You keep a working memory about the user and this conversation. Record anything \
worth remembering later by calling the {TOOL_NAME} tool.

Guidelines:
1. Store anything that may be useful later in the conversation or in later conversations.
2. Update it as soon as something changes, however small.
3. Use Markdown, and keep the structure of the template below.
4. Call {TOOL_NAME} with one argument, `memory`: a string holding the whole new note \
(not an object, not just the changes). What you leave out is lost.
5. Do not mention the working memory to the user; it is not shown to them.

<working_memory_template>
{template}
</working_memory_template>

<working_memory_data>
{data or ""}
</working_memory_data>

Keep empty sections of the template. If nothing new was learned, do not call the tool."""


def require_enabled(options: WorkingMemoryOptions) -> None:
    if not options.enabled:
        raise ValidationError(
            "working memory is not enabled: pass options={'working_memory': {'enabled': True}}",
            field="options.working_memory.enabled",
        )


def get(
    session: Executor, *, thread_id: str | None, resource_id: str, options: WorkingMemoryOptions
) -> str | None:
    """The stored note, or the template when none is stored; None when off."""
    require_text(resource_id, "resource_id")
    if not options.enabled:
        return None
    if options.scope == "thread":
        require_text(thread_id, "thread_id")
        thread = ThreadRepository(session).get(str(thread_id))
        owner_check(str(thread_id), resource_id, thread.resource_id if thread else None)
        return working_memory_of(thread and thread.metadata, "thread", options.template)
    if thread_id is not None:
        _check_thread(session, thread_id, resource_id)
    resource = ResourceRepository(session).get(resource_id)
    return working_memory_of(resource and resource.working_memory, "resource", options.template)


def update(
    session: Executor,
    *,
    thread_id: str | None,
    resource_id: str,
    working_memory: str,
    options: WorkingMemoryOptions,
) -> None:
    """Replace the note (Mastra's `updateWorkingMemory`): in the resource, or
    in the thread's metadata (a locked read-modify-write, so a concurrent
    change to other metadata keys is kept)."""
    require_text(resource_id, "resource_id")
    if not isinstance(working_memory, str):
        raise ValidationError("working_memory must be a string", field="working_memory")
    require_enabled(options)
    if options.scope == "resource":
        if thread_id is not None:
            _check_thread(session, thread_id, resource_id)
        update_resource(session, resource_id=resource_id, working_memory=working_memory)
        return
    require_text(thread_id, "thread_id")
    threads = ThreadRepository(session)
    thread = threads.get(str(thread_id), for_update=True)
    owner_check(str(thread_id), resource_id, thread.resource_id if thread else None)
    threads.update(
        str(thread_id), title=None, metadata={"workingMemory": working_memory}, updated_at=utc_now()
    )


def _check_thread(session: Executor, thread_id: str, resource_id: str) -> None:
    """A thread named with resource-scoped working memory must be the resource's."""
    require_text(thread_id, "thread_id")
    thread = ThreadRepository(session).get(thread_id)
    if thread is not None and thread.resource_id != resource_id:
        owner_check(thread_id, resource_id, thread.resource_id)


__all__ = [
    "TOOL_NAME",
    "get",
    "hide_working_memory",
    "instructions",
    "remove_tags",
    "tool_definition",
    "update",
]
