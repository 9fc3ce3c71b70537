"""Working memory: a Markdown note an agent keeps about the user (scope
"resource") or the conversation (scope "thread"), where Mastra keeps it, so
a TypeScript service sees the same note; plus the tool definition and the
instruction text that let a model update it itself."""

from __future__ import annotations

from typing import Any

from ..clock import utc_now
from ..dialects import Executor
from ..errors import ValidationError
from ..operations import require_text, update_resource
from ..repositories import ResourceRepository, ThreadRepository
from .history import owner_check, working_memory_of
from .options import WorkingMemoryOptions

TOOL_NAME = "updateWorkingMemory"
"""Mastra's name for the tool, which its processors look for."""


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


__all__ = ["TOOL_NAME", "get", "instructions", "tool_definition", "update"]
