"""Memory (and AsyncMemory, driven through BlockingStorage): history, working
memory, semantic recall, the vector index and its failure cases, on every
backend of the matrix."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import Backend, BlockingStorage
from sqlalchemy import text

from mastra_storage import (
    AsyncMemory,
    DefaultStorage,
    EmbeddingError,
    HashingEmbedder,
    MastraStorage,
    Memory,
    NotFoundError,
    ValidationError,
)
from mastra_storage.memory import DEFAULT_WORKING_MEMORY_TEMPLATE

UTC = timezone.utc
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
RECALL = {"semantic_recall": True}

MakeMemory = Callable[..., Any]


@pytest.fixture
def make_memory(storage: Any) -> MakeMemory:
    """A Memory on the storage under test; an AsyncMemory (driven blocking) on
    the async backends."""
    return lambda **kw: memory_on(storage, **kw)


def memory_on(storage: Any, **kw: Any) -> Any:
    if isinstance(storage, BlockingStorage):
        return BlockingStorage(AsyncMemory(storage.storage, **kw), storage.engine, storage._loop)
    return Memory(storage, **kw)


def say(thread_id: str, texts: list[str], *, start: datetime = T0, role: str = "user") -> list[Any]:
    return [
        {
            "id": f"{thread_id}-m{i:03d}",
            "thread_id": thread_id,
            "role": role,
            "content": body,
            "created_at": start + timedelta(minutes=i),
        }
        for i, body in enumerate(texts)
    ]


FILLER = [f"note {i}: the weather was {w} today" for i, w in enumerate(["mild", "grey"] * 10)]


VECTOR_ROWS = text("SELECT message_id, thread_id, resource_id, dimension FROM memory_messages")


def vector_rows(storage: Any) -> list[tuple[Any, ...]]:
    with storage.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(VECTOR_ROWS)]


# -- construction ----------------------------------------------------------------------


def test_memory_without_arguments_uses_the_default_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MASTRA_STORAGE_URL", raising=False)
    with Memory() as memory:
        assert isinstance(memory.storage, DefaultStorage)
        thread = memory.create_thread(resource_id="user-42", title="Trip")
        memory.save_messages(messages=say(thread.id, ["hello"]))
        context = memory.recall(thread_id=thread.id, resource_id="user-42")
        assert [m.content.content for m in context.messages] == ["hello"]
        assert context.working_memory is None  # off by default, as in Mastra
    assert (tmp_path / "mastra.db").exists()

    async def run() -> list[str]:
        async with AsyncMemory() as memory:
            context = await memory.recall(thread_id=thread.id, resource_id="user-42")
            return [m.content.content for m in context.messages]

    assert asyncio.run(run()) == ["hello"]


def test_options_are_validated_naming_the_option(storage: MastraStorage) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"last_messages": -1}, "options.last_messages"),
        ({"last_messages": True}, "options.last_messages"),
        ({"lastMessages": "10"}, "options.last_messages"),
        ({"semantic_recall": {"top_k": 0}}, "options.semantic_recall.top_k"),
        ({"semantic_recall": {"topK": 2, "scope": "galaxy"}}, "options.semantic_recall.scope"),
        (
            {"semantic_recall": {"message_range": {"before": -1}}},
            "options.semantic_recall.message_range.before",
        ),
        ({"semantic_recall": {"threshold": float("nan")}}, "options.semantic_recall.threshold"),
        ({"semantic_recall": {"bogus": 1}}, "options.semantic_recall.bogus"),
        ({"working_memory": {"scope": "x"}}, "options.working_memory.scope"),
        ({"working_memory": {"template": 3}}, "options.working_memory.template"),
        ({"nope": 1}, "options.nope"),
    ]
    embedder = HashingEmbedder(16)
    for options, field in cases:
        with pytest.raises(ValidationError) as error:
            Memory(storage, options=options, embedder=embedder)
        assert error.value.field == field, options
    with pytest.raises(ValidationError) as error:
        Memory(storage, options=RECALL)
    assert error.value.field == "embedder"
    with pytest.raises(ValidationError) as error:
        Memory(storage, embedder=object())
    assert error.value.field == "embedder"


# -- history -----------------------------------------------------------------------------


def test_recall_returns_the_last_messages_oldest_first(make_memory: MakeMemory) -> None:
    memory = make_memory()
    thread = memory.create_thread(resource_id="u1", thread_id="t1")
    other = memory.create_thread(resource_id="u1", thread_id="t2")
    memory.save_messages(messages=say("t1", [f"turn {i}" for i in range(15)]))
    memory.save_messages(messages=say("t2", ["elsewhere"]))

    context = memory.recall(thread_id=thread.id, resource_id="u1")
    assert [m.content.content for m in context.messages] == [f"turn {i}" for i in range(5, 15)]
    assert context.recalled_ids == [] and context.thread_id == "t1"

    three = memory.recall(thread_id="t1", resource_id="u1", options={"last_messages": 3})
    assert [m.id for m in three.messages] == ["t1-m012", "t1-m013", "t1-m014"]
    none = memory.recall(thread_id="t1", resource_id="u1", options={"lastMessages": False})
    assert none.messages == []
    assert memory.recall(thread_id=other.id, resource_id="u1").messages[0].content.content == (
        "elsewhere"
    )
    fewer = make_memory(options={"last_messages": 2})
    assert len(fewer.recall(thread_id="t1", resource_id="u1").messages) == 2


def test_recall_checks_the_thread_and_its_owner(make_memory: MakeMemory) -> None:
    memory = make_memory(options={"working_memory": {"enabled": True}})
    memory.create_thread(resource_id="alice", thread_id="ta")
    memory.save_messages(messages=say("ta", ["alice's secret"]))
    memory.update_working_memory(resource_id="alice", working_memory="# Alice")

    with pytest.raises(NotFoundError):
        memory.recall(thread_id="missing", resource_id="alice")
    with pytest.raises(ValidationError) as error:
        memory.recall(thread_id="ta", resource_id="mallory")
    assert error.value.field == "resource_id"
    assert "alice" not in str(error.value).replace("'ta'", "")  # the owner is not named
    for bad in ("", "  ", None, 5):
        with pytest.raises(ValidationError):
            memory.recall(thread_id=bad, resource_id="alice")
        with pytest.raises(ValidationError):
            memory.recall(thread_id="ta", resource_id=bad)
    with pytest.raises(ValidationError) as error:
        memory.recall(thread_id="ta", resource_id="alice", query=42)
    assert error.value.field == "query"


def test_history_never_returns_another_resources_messages(make_memory: MakeMemory) -> None:
    memory = make_memory()
    memory.create_thread(resource_id="alice", thread_id="ta")
    memory.save_messages(
        messages=[
            *say("ta", ["mine"]),
            {
                "id": "foreign",
                "thread_id": "ta",
                "resource_id": "bob",
                "role": "user",
                "content": "bob's",
                "created_at": T0 + timedelta(hours=1),
            },
        ]
    )
    context = memory.recall(thread_id="ta", resource_id="alice")
    assert [m.content.content for m in context.messages] == ["mine"]


# -- working memory --------------------------------------------------------------------


def test_resource_working_memory_lives_in_the_resource(
    make_memory: MakeMemory, storage: MastraStorage
) -> None:
    memory = make_memory(options={"working_memory": {"enabled": True}})
    memory.create_thread(resource_id="u1", thread_id="t1")
    memory.create_thread(resource_id="u1", thread_id="t2")
    memory.create_thread(resource_id="u2", thread_id="t3")

    assert memory.recall(thread_id="t1", resource_id="u1").working_memory == (
        DEFAULT_WORKING_MEMORY_TEMPLATE
    )
    assert memory.get_working_memory(resource_id="u1") == DEFAULT_WORKING_MEMORY_TEMPLATE
    memory.update_working_memory(thread_id="t1", resource_id="u1", working_memory="# Name: Ada")

    assert storage.get_resource_by_id(resource_id="u1").working_memory == "# Name: Ada"
    # resource scope: every thread of the resource sees it; other resources do not
    assert memory.recall(thread_id="t2", resource_id="u1").working_memory == "# Name: Ada"
    assert memory.recall(thread_id="t3", resource_id="u2").working_memory == (
        DEFAULT_WORKING_MEMORY_TEMPLATE
    )
    assert memory.get_working_memory(resource_id="u1", thread_id="t2") == "# Name: Ada"
    with pytest.raises(ValidationError):
        memory.update_working_memory(thread_id="t3", resource_id="u1", working_memory="x")
    with pytest.raises(ValidationError) as error:
        memory.update_working_memory(resource_id="u1", working_memory=None)
    assert error.value.field == "working_memory"
    assert storage.get_resource_by_id(resource_id="u1").working_memory == "# Name: Ada"


def test_thread_working_memory_lives_in_the_thread_metadata(
    make_memory: MakeMemory, storage: MastraStorage
) -> None:
    options = {"working_memory": {"enabled": True, "scope": "thread", "template": "# T\n- a:\n"}}
    memory = make_memory(options=options)
    memory.create_thread(resource_id="u1", thread_id="t1", metadata={"topic": "trip"})
    memory.create_thread(resource_id="u1", thread_id="t2")

    assert memory.recall(thread_id="t1", resource_id="u1").working_memory == "# T\n- a:\n"
    memory.update_working_memory(thread_id="t1", resource_id="u1", working_memory="# T\n- a: 1\n")
    thread = storage.get_thread_by_id(thread_id="t1")
    assert thread.metadata == {"topic": "trip", "workingMemory": "# T\n- a: 1\n"}
    assert memory.recall(thread_id="t1", resource_id="u1").working_memory == "# T\n- a: 1\n"
    assert memory.recall(thread_id="t2", resource_id="u1").working_memory == "# T\n- a:\n"
    assert memory.get_working_memory(thread_id="t1", resource_id="u1") == "# T\n- a: 1\n"
    assert storage.get_resource_by_id(resource_id="u1") is None

    with pytest.raises(NotFoundError):
        memory.update_working_memory(thread_id="nope", resource_id="u1", working_memory="x")
    with pytest.raises(ValidationError):
        memory.update_working_memory(thread_id="t1", resource_id="u2", working_memory="x")
    with pytest.raises(ValidationError):
        memory.update_working_memory(resource_id="u1", working_memory="x")  # no thread_id


def test_working_memory_off_and_per_call_override(make_memory: MakeMemory) -> None:
    memory = make_memory()
    memory.create_thread(resource_id="u1", thread_id="t1")
    assert memory.recall(thread_id="t1", resource_id="u1").working_memory is None
    assert memory.get_working_memory(resource_id="u1") is None
    with pytest.raises(ValidationError) as error:
        memory.update_working_memory(resource_id="u1", working_memory="x")
    assert error.value.field == "options.working_memory.enabled"
    on = {"working_memory": {"enabled": True, "template": "# Mine\n"}}
    memory.update_working_memory(resource_id="u1", working_memory="# Saved", options=on)
    assert memory.recall(thread_id="t1", resource_id="u1", options=on).working_memory == "# Saved"


def test_working_memory_tool_and_instructions(storage: MastraStorage) -> None:
    memory = Memory(storage, options={"working_memory": {"enabled": True, "template": "# U\n"}})
    tool = memory.working_memory_tool()
    assert tool["name"] == "updateWorkingMemory"
    assert tool["parameters"]["required"] == ["memory"]
    assert tool["parameters"]["properties"]["memory"]["type"] == "string"
    text_ = memory.working_memory_instructions("# U\n- Name: Ada")
    assert "updateWorkingMemory" in text_
    assert "<working_memory_template>\n# U\n\n</working_memory_template>" in text_
    assert "<working_memory_data>\n# U\n- Name: Ada\n</working_memory_data>" in text_


def test_saved_messages_lose_working_memory_blocks_and_tool_calls(
    make_memory: MakeMemory, storage: Any
) -> None:
    """As Mastra's Memory.saveMessages: a model that answers with its working
    memory in tags, or calls updateWorkingMemory, leaves neither in the history
    (nor in the index); text without a block keeps its whitespace."""
    memory = make_memory(options=RECALL, embedder=HashingEmbedder(64))
    memory.create_thread(resource_id="u1", thread_id="t1")
    update_call = {
        "type": "tool-invocation",
        "toolInvocation": {
            "state": "result",
            "toolCallId": "c1",
            "toolName": "updateWorkingMemory",
            "args": {"memory": "# User\n- Name: Ada"},
            "result": {"success": True},
        },
    }
    other_call = {
        "type": "tool-invocation",
        "toolInvocation": {"state": "result", "toolCallId": "c2", "toolName": "weather"},
    }
    block = "<working_memory># User\n- Name: Ada</working_memory>"
    saved = memory.save_messages(
        messages=[
            {
                "id": "a1",
                "thread_id": "t1",
                "role": "assistant",
                "created_at": T0,
                "content": {
                    "format": 2,
                    "content": f"Nice to meet you, Ada. {block} ",
                    "parts": [
                        {"type": "text", "text": f"Nice to meet you, Ada. {block} "},
                        update_call,
                        other_call,
                    ],
                    "toolInvocations": [
                        update_call["toolInvocation"],
                        other_call["toolInvocation"],
                    ],
                },
            },
            {  # only the tool call: nothing left to save
                "id": "a2",
                "thread_id": "t1",
                "role": "assistant",
                "created_at": T0 + timedelta(minutes=1),
                "content": {"format": 2, "parts": [update_call]},
            },
            {  # no block: kept exactly, whitespace and all
                "id": "u1",
                "thread_id": "t1",
                "role": "user",
                "created_at": T0 + timedelta(minutes=2),
                "content": "  see <working_memory> unclosed  ",
            },
        ]
    )
    assert [m.id for m in saved] == ["a1", "u1"]
    stored = {m.id: m for m in memory.recall(thread_id="t1", resource_id="u1").messages}
    assert sorted(stored) == ["a1", "u1"]
    a1 = stored["a1"].content
    assert a1.content == "Nice to meet you, Ada."
    assert a1.parts == [{"type": "text", "text": "Nice to meet you, Ada."}, other_call]
    assert a1.model_extra["toolInvocations"] == [other_call["toolInvocation"]]
    assert stored["u1"].content.content == "  see <working_memory> unclosed  "
    assert saved[0].content.content == "Nice to meet you, Ada."
    assert sorted(row[0] for row in vector_rows(storage)) == ["a1", "u1"]
    found = memory.recall(thread_id="t1", resource_id="u1", query="Nice to meet you, Ada.")
    assert found.recalled_ids[0] == "a1"


# -- semantic recall ---------------------------------------------------------------------


def test_semantic_recall_finds_earlier_messages_with_their_neighbours(
    make_memory: MakeMemory,
) -> None:
    memory = make_memory(
        options={"last_messages": 2, "semantic_recall": True}, embedder=HashingEmbedder(256)
    )
    memory.create_thread(resource_id="u1", thread_id="t1")
    texts = [*FILLER[:8], "we flew to lisbon in may and ate pasteis", *FILLER[8:]]
    memory.save_messages(messages=say("t1", texts))

    context = memory.recall(thread_id="t1", resource_id="u1", query="lisbon in may")
    ids = [m.id for m in context.messages]
    assert context.recalled_ids[0] == "t1-m008"
    assert {"t1-m007", "t1-m008", "t1-m009"} <= set(ids)  # message_range 1 on both sides
    assert ids[-2:] == ["t1-m019", "t1-m020"]  # the last two
    assert len(ids) == len(set(ids))
    times = [(m.created_at, m.id) for m in context.messages]
    assert times == sorted(times)
    assert len(context.recalled_ids) == 4  # top_k 4

    # message_range as {before, after}; top_k 1; per call
    narrow = memory.recall(
        thread_id="t1",
        resource_id="u1",
        query="lisbon in may",
        options={
            "last_messages": False,
            "semantic_recall": {"top_k": 1, "message_range": {"before": 0, "after": 2}},
        },
    )
    assert [m.id for m in narrow.messages] == ["t1-m008", "t1-m009", "t1-m010"]
    # without a query, or with recall off for the call: history only
    assert memory.recall(thread_id="t1", resource_id="u1").recalled_ids == []
    off = memory.recall(
        thread_id="t1", resource_id="u1", query="lisbon", options={"semantic_recall": False}
    )
    assert [m.id for m in off.messages] == ["t1-m019", "t1-m020"]


def test_recall_scope_threshold_and_other_resources(make_memory: MakeMemory) -> None:
    memory = make_memory(
        options={"last_messages": 1, "semantic_recall": {"top_k": 3, "message_range": 0}},
        embedder=HashingEmbedder(256),
    )
    memory.create_thread(resource_id="u1", thread_id="now")
    memory.create_thread(resource_id="u1", thread_id="before")
    memory.create_thread(resource_id="u2", thread_id="theirs")
    memory.save_messages(messages=say("before", ["my passport number is in the blue drawer"]))
    memory.save_messages(messages=say("theirs", ["passport number blue drawer"]))
    memory.save_messages(messages=say("now", ["hi", "where is my passport number"]))

    resource = memory.recall(thread_id="now", resource_id="u1", query="passport number drawer")
    assert "before-m000" in resource.recalled_ids
    assert "theirs-m000" not in [m.id for m in resource.messages]
    assert all(m.resource_id == "u1" for m in resource.messages)

    thread = memory.recall(
        thread_id="now",
        resource_id="u1",
        query="passport number drawer",
        options={"semantic_recall": {"scope": "thread"}},
    )
    assert "before-m000" not in [m.id for m in thread.messages]
    assert set(thread.recalled_ids) <= {"now-m000", "now-m001"}

    strict = memory.recall(
        thread_id="now",
        resource_id="u1",
        query="passport number drawer",
        options={"semantic_recall": {"threshold": 0.99}},
    )
    assert strict.recalled_ids == []
    loose = memory.recall(
        thread_id="now",
        resource_id="u1",
        query="passport number drawer",
        options={"semantic_recall": {"threshold": 0.3}},
    )
    assert "before-m000" in loose.recalled_ids and "now-m000" not in loose.recalled_ids


def test_vectors_are_saved_with_their_messages_and_removed_with_them(
    make_memory: MakeMemory, storage: Any
) -> None:
    memory = make_memory(options=RECALL, embedder=HashingEmbedder(32))
    memory.create_thread(resource_id="u1", thread_id="t1")
    memory.create_thread(resource_id="u1", thread_id="t2")
    memory.save_messages(
        messages=[
            *say("t1", ["one", "two", "three"]),
            {
                "id": "tool-only",
                "thread_id": "t1",
                "role": "assistant",
                "content": [{"type": "tool-invocation", "toolInvocation": {"toolName": "x"}}],
            },
        ]
    )
    memory.save_messages(messages=say("t2", ["four"]))
    assert sorted(vector_rows(storage)) == [
        ("t1-m000", "t1", "u1", 32),
        ("t1-m001", "t1", "u1", 32),
        ("t1-m002", "t1", "u1", 32),
        ("t2-m000", "t2", "u1", 32),
    ]
    memory.delete_messages(message_ids=["t1-m000"])
    assert "t1-m000" not in [row[0] for row in vector_rows(storage)]
    memory.delete_thread(thread_id="t1")
    assert [row[0] for row in vector_rows(storage)] == ["t2-m000"]
    # the storage's own deletes keep the index clean too
    storage.delete_thread(thread_id="t2")
    assert vector_rows(storage) == []
    memory.create_thread(resource_id="u1", thread_id="t3")
    memory.save_messages(messages=say("t3", ["five"]))
    storage.delete_messages(message_ids=["t3-m000"])
    assert vector_rows(storage) == []


def test_resaving_a_message_replaces_its_vector(make_memory: MakeMemory, storage: Any) -> None:
    memory = make_memory(
        options={"semantic_recall": {"top_k": 1, "message_range": 0}, "last_messages": False},
        embedder=HashingEmbedder(64),
    )
    memory.create_thread(resource_id="u1", thread_id="t1")
    memory.save_messages(messages=say("t1", ["apples and pears"]))
    memory.save_messages(messages=[{**say("t1", ["boats and trains"])[0]}])
    found = memory.recall(thread_id="t1", resource_id="u1", query="boats")
    assert found.recalled_ids == ["t1-m000"]
    assert found.messages[0].content.content == "boats and trains"
    # saved again without text (a tool call only): its vector goes
    call = {"type": "tool-invocation", "toolInvocation": {"toolName": "weather", "state": "call"}}
    memory.save_messages(
        messages=[{**say("t1", [""])[0], "content": {"format": 2, "parts": [call]}}]
    )
    assert vector_rows(storage) == []


class Failing:
    dimension = 8

    def embed(self, texts: list[str]) -> list[list[float]]:
        raise RuntimeError("model crashed")


class Wrong:
    def __init__(self, dimension: int, answer: Callable[[list[str]], Any]) -> None:
        self.dimension = dimension
        self.answer = answer

    def embed(self, texts: list[str]) -> Any:
        return self.answer(texts)


def test_a_failing_or_wrong_embedder_saves_nothing(make_memory: MakeMemory, storage: Any) -> None:
    make_memory().create_thread(resource_id="u1", thread_id="t1")
    batch = say("t1", ["one", "two"])
    bad: list[tuple[Any, type[Exception]]] = [
        (Failing(), EmbeddingError),
        (Wrong(8, lambda texts: [[1.0] * 7 for _ in texts]), ValidationError),
        (Wrong(8, lambda texts: [[1.0] * 8]), ValidationError),
        (Wrong(8, lambda texts: [[float("nan")] * 8 for _ in texts]), ValidationError),
        (Wrong(8, lambda texts: "nonsense"), ValidationError),
        (Wrong(8, lambda texts: None), ValidationError),
    ]
    for embedder, error in bad:
        memory = make_memory(options=RECALL, embedder=embedder)
        with pytest.raises(error):
            memory.save_messages(messages=batch)
        assert storage.list_messages(thread_id="t1").messages == []
        assert vector_rows(storage) == []
    memory = make_memory(options=RECALL, embedder=Failing())
    with pytest.raises(EmbeddingError):
        memory.recall(thread_id="t1", resource_id="u1", query="anything")
    # a missing thread: nothing saved, no vector either
    good = make_memory(options=RECALL, embedder=HashingEmbedder(8))
    with pytest.raises(NotFoundError):
        good.save_messages(messages=[*batch, *say("missing", ["x"])])
    assert storage.list_messages(thread_id="t1").messages == [] and vector_rows(storage) == []


def test_a_dimension_change_is_refused_naming_both(make_memory: MakeMemory, storage: Any) -> None:
    memory = make_memory(options=RECALL, embedder=HashingEmbedder(64))
    memory.create_thread(resource_id="u1", thread_id="t1")
    memory.save_messages(messages=say("t1", ["first"]))
    other = make_memory(options=RECALL, embedder=HashingEmbedder(32))
    with pytest.raises(ValidationError) as error:
        other.save_messages(messages=say("t1", ["x", "second"]))
    assert "64" in str(error.value) and "32" in str(error.value)
    assert [m.id for m in storage.list_messages(thread_id="t1").messages] == ["t1-m000"]
    with pytest.raises(ValidationError) as error:
        other.recall(thread_id="t1", resource_id="u1", query="first")
    assert "64" in str(error.value) and "32" in str(error.value)
    # emptied, the index takes the new model
    assert other.clear_index() == 1
    assert other.index_messages(resource_id="u1") == 1
    assert {row[3] for row in vector_rows(storage)} == {32}


def test_index_messages_embeds_what_was_saved_without_vectors(
    make_memory: MakeMemory, storage: Any
) -> None:
    plain = make_memory()
    plain.create_thread(resource_id="u1", thread_id="t1")
    plain.create_thread(resource_id="u1", thread_id="t2")
    plain.create_thread(resource_id="u2", thread_id="t3")
    plain.save_messages(messages=say("t1", [*FILLER[:6], "the spare key is under the plant"]))
    plain.save_messages(
        messages=[
            *say("t2", ["another thread"]),
            {
                "id": "no-text",
                "thread_id": "t2",
                "role": "tool",
                "content": [{"type": "tool-invocation", "toolInvocation": {"toolName": "clock"}}],
            },
        ]
    )
    plain.save_messages(messages=say("t3", ["not mine"]))
    assert vector_rows(storage) == []

    memory = make_memory(
        options={"semantic_recall": True, "last_messages": 1}, embedder=HashingEmbedder(128)
    )
    calls: list[tuple[int, int]] = []
    assert memory.index_messages(resource_id="u1", thread_id="t2", batch_size=5) == 1
    assert (
        memory.index_messages(
            resource_id="u1", batch_size=3, progress=lambda d, t: calls.append((d, t))
        )
        == 7
    )
    assert calls == [(3, 8), (6, 8), (8, 8)]  # the tool message has no text, but is looked at
    assert sorted(row[0] for row in vector_rows(storage)) == sorted(
        [f"t1-m{i:03d}" for i in range(7)] + ["t2-m000"]
    )
    assert memory.index_messages(resource_id="u1") == 0  # nothing left
    found = memory.recall(thread_id="t2", resource_id="u1", query="where is the spare key")
    assert found.recalled_ids[0] == "t1-m006"
    with pytest.raises(ValidationError):
        memory.index_messages(resource_id="u1", batch_size=0)
    with pytest.raises(ValidationError):
        plain.index_messages(resource_id="u1")  # no embedder


def test_concurrent_saves_into_one_thread_with_recall_on(backend: Backend, storage: Any) -> None:
    workers, each = 4, 10
    first = memory_on(storage, options=RECALL, embedder=HashingEmbedder(32))
    first.create_thread(resource_id="u1", thread_id="busy")

    def batch(worker: int) -> list[Any]:
        return [
            {
                "id": f"w{worker}-{i}",
                "thread_id": "busy",
                "role": "user",
                "content": f"worker {worker} says {i}",
            }
            for i in range(each)
        ]

    if backend.asynchronous:
        memories = [AsyncMemory(storage.storage, options=RECALL, embedder=HashingEmbedder(32))]

        async def run() -> None:
            await asyncio.gather(
                *(memories[0].save_messages(messages=[m]) for w in range(workers) for m in batch(w))
            )

        storage._loop.run_until_complete(run())
    elif backend.name == "sqlite-memory":
        # An in-memory database is one connection (StaticPool): the storage
        # cannot run transactions on it from several threads at once (its own
        # save_messages neither). The workers' saves interleave instead.
        memories = [Memory(storage, options=RECALL, embedder=HashingEmbedder(32))] * workers
        for i in range(each):
            for worker in range(workers):
                memories[worker].save_messages(messages=[batch(worker)[i]])
    else:
        errors: list[BaseException] = []
        barrier = threading.Barrier(workers)

        def work(worker: int) -> None:
            try:
                memory = Memory(backend.make(), options=RECALL, embedder=HashingEmbedder(32))
                barrier.wait(timeout=30)
                for message in batch(worker):
                    memory.save_messages(messages=[message])
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors

    saved = storage.list_messages(thread_id="busy", per_page=None).messages
    assert len(saved) == workers * each
    assert len(vector_rows(storage)) == workers * each
    context = first.recall(thread_id="busy", resource_id="u1", query="worker 2 says 7")
    assert context.recalled_ids[0] == "w2-7"


def test_vector_rows_go_with_a_resource_in_batches(make_memory: MakeMemory, storage: Any) -> None:
    """The hook retention (`delete_resource`, `prune`) calls for the index."""
    from mastra_storage.repositories import VectorRepository

    memory = make_memory(options=RECALL, embedder=HashingEmbedder(16))
    memory.create_thread(resource_id="gone", thread_id="t1")
    memory.create_thread(resource_id="kept", thread_id="t2")
    memory.save_messages(messages=say("t1", ["a", "b", "c", "d", "e"]))
    memory.save_messages(messages=say("t2", ["f"]))
    engine = storage.engine
    with engine.begin() as conn:
        assert VectorRepository(conn).delete_for_messages(["t1-m004", "nope"]) == 1
        assert VectorRepository(conn).delete_for_resource("gone", limit=2) == 2
    with engine.begin() as conn:
        assert VectorRepository(conn).delete_for_resource("gone") == 2
    assert [row[0] for row in vector_rows(storage)] == ["t2-m000"]


def test_updated_messages_keep_their_vectors_right(make_memory: MakeMemory, storage: Any) -> None:
    memory = make_memory(
        options={"last_messages": False, "semantic_recall": {"top_k": 1, "message_range": 0}},
        embedder=HashingEmbedder(64),
    )
    memory.create_thread(resource_id="u1", thread_id="t1")
    memory.create_thread(resource_id="u1", thread_id="t2")
    memory.save_messages(messages=say("t1", ["apples and pears", "ships and boats"]))

    # the storage's own update: a moved message's vector moves; replaced text loses it
    storage.update_messages(messages=[{"id": "t1-m000", "thread_id": "t2"}])
    assert ("t1-m000", "t2", "u1", 64) in vector_rows(storage)
    storage.update_messages(messages=[{"id": "t1-m001", "content": "trains and planes"}])
    assert "t1-m001" not in [row[0] for row in vector_rows(storage)]

    # Memory's: embedded again
    memory.update_messages(messages=[{"id": "t1-m001", "content": "rockets and comets"}])
    found = memory.recall(thread_id="t1", resource_id="u1", query="rockets")
    assert found.recalled_ids == ["t1-m001"]
    thread_scope = {"semantic_recall": {"scope": "thread"}}
    moved = memory.recall(thread_id="t2", resource_id="u1", query="pears", options=thread_scope)
    assert moved.recalled_ids == ["t1-m000"]


def test_a_thread_given_to_another_resource_takes_its_vectors(
    make_memory: MakeMemory, storage: Any
) -> None:
    memory = make_memory(
        options={"last_messages": False, "semantic_recall": {"top_k": 1, "message_range": 0}},
        embedder=HashingEmbedder(64),
    )
    memory.create_thread(resource_id="old", thread_id="t1")
    memory.create_thread(resource_id="new", thread_id="t2")
    memory.save_messages(messages=say("t1", ["the vault code is 1234"]))
    storage.update_thread_resource_id(thread_id="t1", resource_id="new")
    assert vector_rows(storage) == [("t1-m000", "t1", "new", 64)]
    found = memory.recall(thread_id="t2", resource_id="new", query="vault code")
    assert found.recalled_ids == ["t1-m000"]


def test_a_cloned_thread_is_recalled_without_reindexing(
    make_memory: MakeMemory, storage: Any
) -> None:
    memory = make_memory(
        options={"last_messages": False, "semantic_recall": {"top_k": 1, "message_range": 0}},
        embedder=HashingEmbedder(64),
    )
    memory.create_thread(resource_id="u1", thread_id="t1")
    memory.save_messages(messages=say("t1", ["the vault code is 1234", "unrelated chatter"]))
    clone = storage.clone_thread(source_thread_id="t1", new_thread_id="copy", resource_id="u2")
    new_id = clone.message_id_map["t1-m000"]
    assert (new_id, "copy", "u2", 64) in vector_rows(storage)
    found = memory.recall(
        thread_id="copy",
        resource_id="u2",
        query="vault code",
        options={"semantic_recall": {"scope": "thread"}},
    )
    assert found.recalled_ids == [new_id]


def test_prune_and_delete_resource_remove_vectors(make_memory: MakeMemory, storage: Any) -> None:
    memory = make_memory(options=RECALL, embedder=HashingEmbedder(16))
    memory.create_thread(resource_id="gone", thread_id="t1")
    memory.create_thread(resource_id="kept", thread_id="t2")
    memory.save_messages(messages=say("t1", ["a", "b", "c"]))
    memory.save_messages(messages=say("t2", ["d"], start=datetime.now(UTC)))
    report = storage.delete_resource(resource_id="gone")
    assert report["vectors"] == 3
    assert [row[0] for row in vector_rows(storage)] == ["t2-m000"]
    memory.create_thread(resource_id="old", thread_id="t3")
    memory.save_messages(messages=say("t3", ["e", "f"]))  # created in May 2026
    dry = storage.prune(older_than="30d", domains=("messages",), dry_run=True)
    assert dry["vectors"] == 0 and len(vector_rows(storage)) == 3
    pruned = storage.prune(older_than="30d", domains=("messages",))
    assert pruned["vectors"] == 2
    assert [row[0] for row in vector_rows(storage)] == ["t2-m000"]
