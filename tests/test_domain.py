"""The pydantic models on their own: aliases, content normalisation, datetimes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pydantic
import pytest
from support import UTC, assert_utc

from mastra_storage import (
    EvalRow,
    MastraDBMessage,
    MastraDBMessageInput,
    MessageContent,
    ScoreRow,
    StorageResource,
    StorageThread,
    ValidationError,
    WorkflowRun,
)
from mastra_storage.domain import DateRange, parse

PLUS_TWO = timezone(timedelta(hours=2))
NOW = datetime(2026, 11, 26, 11, 50, 17, 385000, tzinfo=UTC)
SCORE: dict[str, Any] = {
    "scorer_id": "s",
    "entity_id": "e",
    "run_id": "r",
    "score": 0.5,
    "scorer": {},
    "entity": {},
    "source": "LIVE",
}

# (model, Mastra camelCase JSON, the same in snake_case attributes)
CAMEL_CASES: list[tuple[type[pydantic.BaseModel], dict[str, Any], dict[str, Any]]] = [
    (
        StorageThread,
        {
            "id": "t1",
            "resourceId": "r1",
            "title": "Hi",
            "metadata": {"someKey": 1},
            "createdAt": "2026-11-26T11:50:17.385Z",
            "updatedAt": "2026-11-26T11:50:18.000Z",
        },
        {
            "id": "t1",
            "resource_id": "r1",
            "title": "Hi",
            "metadata": {"someKey": 1},
            "created_at": datetime(2026, 11, 26, 11, 50, 17, 385000, tzinfo=UTC),
            "updated_at": datetime(2026, 11, 26, 11, 50, 18, tzinfo=UTC),
        },
    ),
    (
        MastraDBMessage,
        {
            "id": "m1",
            "role": "assistant",
            "content": {"format": 2, "parts": [{"type": "text", "text": "Hello"}]},
            "createdAt": "2026-11-26T11:50:17.385Z",
            "threadId": "t1",
            "resourceId": "r1",
            "type": "v2",
        },
        {
            "id": "m1",
            "role": "assistant",
            "thread_id": "t1",
            "resource_id": "r1",
            "created_at": datetime(2026, 11, 26, 11, 50, 17, 385000, tzinfo=UTC),
            "type": "v2",
        },
    ),
    (
        StorageResource,
        # Timestamps given: left out, each model would default them to its own "now".
        {
            "id": "r1",
            "workingMemory": "# Name\nAda",
            "metadata": {"plan": "pro"},
            "createdAt": "2026-11-26T11:50:17.385Z",
            "updatedAt": "2026-11-26T11:50:18.000Z",
        },
        {
            "id": "r1",
            "working_memory": "# Name\nAda",
            "metadata": {"plan": "pro"},
            "created_at": datetime(2026, 11, 26, 11, 50, 17, 385000, tzinfo=UTC),
            "updated_at": datetime(2026, 11, 26, 11, 50, 18, tzinfo=UTC),
        },
    ),
    (
        WorkflowRun,
        {
            "workflowName": "wf",
            "runId": "run-1",
            "resourceId": "r1",
            "snapshot": {"status": "running"},
            "createdAt": "2026-11-26T11:50:17.385Z",
            "updatedAt": "2026-11-26T11:50:17.385Z",
        },
        {"workflow_name": "wf", "run_id": "run-1", "resource_id": "r1"},
    ),
    (
        EvalRow,
        {
            "input": "in",
            "output": "out",
            "result": {"score": 0.5},
            "agentName": "agent",
            "metricName": "tone",
            "instructions": "be nice",
            "testInfo": {"testPath": "a.test.ts", "testName": "a"},
            "globalRunId": "g1",
            "runId": "run-1",
            "createdAt": "2026-11-26T11:50:17.385Z",
        },
        {
            "agent_name": "agent",
            "metric_name": "tone",
            "test_info": {"testPath": "a.test.ts", "testName": "a"},
            "global_run_id": "g1",
            "run_id": "run-1",
        },
    ),
]


@pytest.mark.parametrize(
    ("model", "camel", "snake"), CAMEL_CASES, ids=[case[0].__name__ for case in CAMEL_CASES]
)
def test_camel_case_in_and_out(
    model: type[pydantic.BaseModel], camel: dict[str, Any], snake: dict[str, Any]
) -> None:
    from_camel = model.model_validate(camel)
    for name, value in snake.items():
        assert getattr(from_camel, name) == value, name
    dumped = from_camel.model_dump(by_alias=True, mode="json")
    for key in camel:
        assert key in dumped, f"{key} missing from {sorted(dumped)}"
    assert not any("_" in key for key in dumped), sorted(dumped)
    # Mastra's JSON goes out and comes back unchanged.
    assert model.model_validate(dumped) == from_camel


@pytest.mark.parametrize(("model", "camel", "snake"), CAMEL_CASES[:1] + CAMEL_CASES[2:3])
def test_snake_case_input_is_accepted_too(
    model: type[pydantic.BaseModel], camel: dict[str, Any], snake: dict[str, Any]
) -> None:
    assert model.model_validate(snake) == model.model_validate(camel)


def test_datetimes_dump_as_iso_utc_text() -> None:
    thread = StorageThread(
        resource_id="r", created_at=datetime(2026, 11, 26, 13, 50, 17, 385000, tzinfo=PLUS_TWO)
    )
    dumped = thread.model_dump(by_alias=True, mode="json")
    assert dumped["createdAt"] == "2026-11-26T11:50:17.385Z"
    assert dumped["updatedAt"].endswith("Z")  # always present: defaults to now


# -- message content ------------------------------------------------------------


def test_content_from_a_string_becomes_one_text_part() -> None:
    content = MessageContent.model_validate("Hello")
    assert content.format == 2
    assert content.parts == [{"type": "text", "text": "Hello"}]
    assert content.content == "Hello"
    assert content.to_stored() == {
        "format": 2,
        "parts": [{"type": "text", "text": "Hello"}],
        "content": "Hello",
    }


def test_content_from_a_list_of_parts() -> None:
    parts = [{"type": "text", "text": "Hello"}, {"type": "text", "text": "again"}]
    content = MessageContent.model_validate(parts)
    assert content.format == 2
    assert content.parts == parts
    assert content.content is None
    assert content.to_stored() == {"format": 2, "parts": parts}


def test_content_v2_object_keeps_extra_keys() -> None:
    given = {
        "format": 2,
        "parts": [{"type": "tool-invocation", "toolInvocation": {"state": "result"}}],
        "content": "Hi",
        "metadata": {"source": "web"},
        "toolInvocations": [{"toolCallId": "c1", "args": {"q": 1}}],
        "experimental_attachments": [{"url": "https://x/y.png"}],
        "reasoning": "because",
    }
    content = MessageContent.model_validate(given)
    assert content.metadata == {"source": "web"}
    assert content.model_extra == {
        "toolInvocations": [{"toolCallId": "c1", "args": {"q": 1}}],
        "experimental_attachments": [{"url": "https://x/y.png"}],
        "reasoning": "because",
    }
    assert content.to_stored() == given
    assert content.model_dump() == given


def test_content_object_without_format_or_parts_is_completed_for_mastra_readers() -> None:
    stored = MessageContent.model_validate({"content": "Hi"}).to_stored()
    assert stored["format"] == 2
    assert stored["parts"] == []
    assert stored["content"] == "Hi"


@pytest.mark.parametrize(
    "content",
    ["Hello", [{"type": "text", "text": "Hello"}], {"format": 2, "parts": [], "x": 1}],
    ids=["string", "parts", "object"],
)
def test_message_normalises_its_content(content: Any) -> None:
    message = MastraDBMessageInput.model_validate(
        {"role": "user", "content": content, "threadId": "t1"}
    )
    assert isinstance(message.content, MessageContent)
    assert message.content.format == 2
    assert message.type == "v2"
    assert message.id  # a new id is made when none is given


def test_a_stored_message_always_has_its_time_and_thread() -> None:
    # What a call returns holds `created_at` and `thread_id`; what may be left
    # out is the input model's (filled in by the save).
    for missing in ("created_at", "thread_id"):
        given = {"role": "user", "content": "x", "thread_id": "t", "created_at": NOW}
        del given[missing]
        with pytest.raises(ValidationError) as caught:
            parse(MastraDBMessage, given, what="message")
        assert caught.value.field == missing
    given = {"role": "user", "content": "x", "thread_id": "t"}
    loose = parse(MastraDBMessageInput, given, what="m")
    assert loose.created_at is None and loose.resource_id is None
    assert isinstance(
        parse(MastraDBMessage, {**loose.model_dump(), "created_at": NOW}, what="m"),
        MastraDBMessageInput,  # a stored message is valid input (an upsert)
    )


def test_eval_and_score_rows_default_their_times() -> None:
    row = EvalRow(input="i", output="o", result={}, agent_name="a", metric_name="m")
    assert row.created_at.tzinfo is not None
    score = parse(ScoreRow, SCORE, what="score")
    assert score.updated_at == score.created_at  # updated_at defaults to created_at
    later = parse(ScoreRow, {**SCORE, "created_at": NOW}, what="score")
    assert later.created_at == later.updated_at == NOW


def test_message_role_must_be_one_of_mastras() -> None:
    with pytest.raises(ValidationError) as caught:
        parse(MastraDBMessageInput, {"role": "robot", "content": "x"}, what="message")
    assert caught.value.field == "role"
    assert "role" in str(caught.value)


# -- datetimes ------------------------------------------------------------------

NAIVE = datetime(2026, 11, 26, 11, 50, 17)
NAIVE_FIELDS: list[tuple[type[pydantic.BaseModel], dict[str, Any], str]] = [
    (StorageThread, {"resource_id": "r"}, "created_at"),
    (StorageThread, {"resource_id": "r"}, "updated_at"),
    (MastraDBMessageInput, {"role": "user", "content": "x", "thread_id": "t"}, "created_at"),
    (MastraDBMessage, {"role": "user", "content": "x", "thread_id": "t"}, "created_at"),
    (StorageResource, {"id": "r"}, "created_at"),
    (StorageResource, {"id": "r"}, "updated_at"),
    (EvalRow, {"input": "i", "output": "o", "result": {}, "agent_name": "a", "metric_name": "m"},
     "created_at"),
    (ScoreRow, SCORE, "created_at"),
    (ScoreRow, SCORE, "updated_at"),
    (DateRange, {}, "start"),
    (DateRange, {}, "end"),
]  # fmt: skip


@pytest.mark.parametrize("value", [NAIVE, "2026-11-26T11:50:17.385"], ids=["datetime", "text"])
@pytest.mark.parametrize(
    ("model", "base", "field"),
    NAIVE_FIELDS,
    ids=[f"{model.__name__}.{field}" for model, _, field in NAIVE_FIELDS],
)
def test_naive_datetimes_are_refused(
    model: type[pydantic.BaseModel], base: dict[str, Any], field: str, value: Any
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse(model, {**base, field: value}, what="input")
    assert caught.value.field == field
    assert field in str(caught.value)
    assert "timezone" in str(caught.value)


@pytest.mark.parametrize(
    "given",
    [
        datetime(2026, 11, 26, 13, 50, 17, 385999, tzinfo=PLUS_TWO),
        datetime(2026, 11, 26, 11, 50, 17, 385001, tzinfo=UTC),
        "2026-11-26T13:50:17.385999+02:00",
        "2026-11-26T06:50:17.3859-05:00",
        "2026-11-26T11:50:17.385Z",
    ],
)
def test_datetimes_become_utc_truncated_to_milliseconds(given: Any) -> None:
    thread = StorageThread(resource_id="r", created_at=given)
    assert thread.created_at == datetime(2026, 11, 26, 11, 50, 17, 385000, tzinfo=UTC)
    assert_utc(thread.created_at)
    assert thread.created_at is not None
    assert thread.created_at.microsecond == 385000
    assert thread.created_at.hour == 11


def test_truncation_never_rounds_up() -> None:
    late = datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert StorageThread(resource_id="r", created_at=late).created_at == late.replace(
        microsecond=999000
    )


def test_parse_names_the_field_and_keeps_the_cause() -> None:
    with pytest.raises(ValidationError) as caught:
        parse(StorageThread, {"id": "t", "resourceId": ""}, what="thread")
    assert caught.value.field is not None
    assert "resource" in caught.value.field.lower()
    assert str(caught.value).startswith("thread.")
    assert isinstance(caught.value.__cause__, pydantic.ValidationError)
    assert isinstance(caught.value, ValueError)


def test_parse_refuses_what_is_not_a_mapping() -> None:
    with pytest.raises(ValidationError, match="thread: expected a StorageThread or a mapping"):
        parse(StorageThread, ["not", "a", "thread"], what="thread")


def test_construct_builds_what_model_construct_builds() -> None:
    """`construct` (rows read back) sets a plain model's slots itself: the
    instance equals `model_construct`'s, state and all."""
    from mastra_storage.domain import StorageThread, construct
    from mastra_storage.domain._base import is_plain

    assert is_plain(StorageThread)
    now = datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": "t1",
        "resource_id": "r1",
        "title": "a title",
        "metadata": {"k": [1, None]},
        "created_at": now,
        "updated_at": now,
    }
    ours = construct(StorageThread, dict(values))
    theirs = StorageThread.model_construct(**values)
    assert type(ours) is StorageThread
    assert ours == theirs
    assert ours.__dict__ == theirs.__dict__
    assert ours.model_fields_set == theirs.model_fields_set == set(values)
    assert ours.__pydantic_extra__ is None and ours.__pydantic_private__ is None
    assert ours.model_dump() == theirs.model_dump()
    assert ours.model_copy(update={"title": "x"}).title == "x"
    ours.title = "changed"  # assignment still goes through pydantic
    assert ours.title == "changed"
