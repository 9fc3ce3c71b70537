"""The metadata filter means one thing on every backend: each given top-level
key is present with an equal JSON value (deep equality; key order and 1 vs 1.0
do not matter; any key text works). Issue #10 item 7, issue #11 item 3."""

from __future__ import annotations

from typing import Any

from mastra_storage import MastraStorage

ODD_KEYS = [
    "new\nline",
    "tab\tkey",
    "bell\x07key",
    "nul\x00key",
    'double"quote',
    "back\\slash",
    "dot.key",
    "$.path[0]",
    "'single'",
    "",
    "\ue000mark",
    "emoji 😀",
]


def ids(storage: MastraStorage, **filters: Any) -> list[str]:
    return sorted(t.id for t in storage.list_threads(per_page=None, **filters).threads)


def test_any_key_text_can_be_filtered_on(storage: MastraStorage) -> None:
    for index, key in enumerate(ODD_KEYS):
        storage.create_thread(resource_id="r", thread_id=f"t{index}", metadata={key: index})
    storage.create_thread(resource_id="r", thread_id="other", metadata={"plain": 1})
    for index, key in enumerate(ODD_KEYS):
        assert ids(storage, metadata={key: index}) == [f"t{index}"], repr(key)
        assert ids(storage, metadata={key: index + 100}) == [], repr(key)


def test_values_with_odd_text_match(storage: MastraStorage) -> None:
    values = ["a\x00b", "a\nb", 'q"q', "b\\s", "\ue000", "x\ud800y"]
    for index, value in enumerate(values):
        storage.create_thread(resource_id="r", thread_id=f"t{index}", metadata={"v": value})
    for index, value in enumerate(values):
        assert ids(storage, metadata={"v": value}) == [f"t{index}"], repr(value)


def test_values_are_compared_by_deep_json_equality(storage: MastraStorage) -> None:
    storage.create_thread(
        resource_id="r",
        thread_id="t",
        metadata={
            "obj": {"x": 1, "y": [1, 2, {"z": None}]},
            "n": 1,
            "f": 2.5,
            "b": True,
            "z": None,
        },
    )
    match = [
        {"obj": {"y": [1.0, 2, {"z": None}], "x": 1.0}},  # key order, 1 vs 1.0
        {"n": 1.0},
        {"f": 2.5, "b": True},
        {"z": None},
        {},
    ]
    miss = [
        {"obj": {"x": 1}},  # a part of the object is not equal to it
        {"obj": {"x": 1, "y": [2, 1, {"z": None}]}},  # arrays keep their order
        {"obj": {"x": 1, "y": [1, 2]}},
        {"b": 1},  # true is not 1
        {"n": True},
        {"n": "1"},
        {"z": False},
        {"missing": None},  # a missing key is not null
        {"n": 1, "missing": 1},
    ]
    for filter_ in match:
        assert ids(storage, metadata=filter_) == ["t"], filter_
    for filter_ in miss:
        assert ids(storage, metadata=filter_) == [], filter_


def test_status_filters_match_any_stored_text(storage: MastraStorage) -> None:
    statuses = ["a\x00b", "tab\tstatus", 'q"', "x\ud800y", "running"]
    for index, status in enumerate(statuses):
        storage.persist_workflow_snapshot(
            workflow_name="w", run_id=f"r{index}", snapshot={"status": status}
        )
    for index, status in enumerate(statuses):
        runs = storage.list_workflow_runs(status=status)
        assert [run.run_id for run in runs.runs] == [f"r{index}"], repr(status)


def test_message_metadata_filter_reads_rows_holding_nul(storage: MastraStorage) -> None:
    """A message whose JSON content holds NUL (escaped `\\u0000` in the text,
    which PostgreSQL's jsonb refuses) is compared, not a failure of the read."""
    storage.create_thread(resource_id="r", thread_id="t")
    storage.save_messages(
        messages=[
            {"id": "plain", "thread_id": "t", "role": "user", "content": "a\x00b"},
            {
                "id": "tagged",
                "thread_id": "t",
                "role": "user",
                "content": {
                    "format": 2,
                    "parts": [{"type": "text", "text": "x\x00\x00\x00y \\u0000 \ue000"}],
                    "metadata": {"k\x00": "v\x00\x00", "m": "\ue000\x00", "s": "\\u0000"},
                },
            },
        ]
    )
    assert storage.list_messages(thread_id="t", metadata={"k": 1}).total == 0
    assert storage.list_messages_by_resource_id(resource_id="r", metadata={"k": 1}).total == 0
    for filter_ in [{"k\x00": "v\x00\x00"}, {"m": "\ue000\x00"}, {"s": "\\u0000"}]:
        page = storage.list_messages(thread_id="t", metadata=filter_)
        assert [m.id for m in page.messages] == ["tagged"], repr(filter_)
        page = storage.list_messages_by_resource_id(resource_id="r", metadata=filter_)
        assert [m.id for m in page.messages] == ["tagged"], repr(filter_)
    assert storage.list_messages(thread_id="t", metadata={"k\x00": "v\x00"}).total == 0


def test_thread_id_filter_of_runs_matches_any_stored_text(storage: MastraStorage) -> None:
    thread_ids = ["a\x00b", "ab", 'q"\\\n']
    for index, thread_id in enumerate(thread_ids):
        memory = {"messageListState": {"memoryInfo": {"threadId": thread_id}}}
        storage.persist_workflow_snapshot(
            workflow_name="w", run_id=f"r{index}", snapshot={"context": {"input": memory}}
        )
    for index, thread_id in enumerate(thread_ids):
        runs = storage.list_workflow_runs(thread_id=thread_id)
        assert [run.run_id for run in runs.runs] == [f"r{index}"], repr(thread_id)
