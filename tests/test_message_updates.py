"""update_messages and delete_messages, with the threads' updated_at bumps."""

from __future__ import annotations

from datetime import datetime

import pytest
from support import PAST, at, ids, make_thread, message, row_counts

from mastra_storage import MastraStorage, NotFoundError, ValidationError


def updated_at(storage: MastraStorage, thread_id: str) -> datetime:
    thread = storage.get_thread_by_id(thread_id=thread_id)
    assert thread is not None and thread.updated_at is not None
    return thread.updated_at


@pytest.fixture
def two_threads(storage: MastraStorage) -> MastraStorage:
    make_thread(storage, "thread-1")
    make_thread(storage, "thread-2")
    storage.save_messages(
        messages=[
            message(
                "m1",
                content={
                    "format": 2,
                    "parts": [{"type": "text", "text": "one"}],
                    "content": "one",
                    "metadata": {"keep": 1, "change": "old"},
                    "toolInvocations": [{"id": "t"}],
                },
                created_at=at(1),
            ),
            message("m2", text_="two", created_at=at(2)),
        ]
    )
    # Saving bumped thread-1; put both threads back in the past.
    make_thread(storage, "thread-1")
    make_thread(storage, "thread-2")
    return storage


def test_content_merges_top_level_keys_and_metadata_one_level(two_threads: MastraStorage) -> None:
    storage = two_threads
    [updated] = storage.update_messages(
        messages=[
            {
                "id": "m1",
                "content": {"content": "edited", "metadata": {"change": "new", "added": True}},
            }
        ]
    )
    stored = storage.list_messages_by_id(message_ids=["m1"])[0]
    assert stored == updated
    assert stored.content.content == "edited"
    assert stored.content.parts == [{"type": "text", "text": "one"}]  # untouched key kept
    assert stored.content.metadata == {"keep": 1, "change": "new", "added": True}
    assert stored.content.model_extra == {"toolInvocations": [{"id": "t"}]}
    assert stored.created_at == at(1)
    assert updated_at(storage, "thread-1") > PAST
    assert updated_at(storage, "thread-2") == PAST


def test_role_and_type_change_and_created_at_stays(two_threads: MastraStorage) -> None:
    storage = two_threads
    storage.update_messages(messages=[{"id": "m2", "role": "assistant", "type": "v3"}])
    stored = storage.list_messages_by_id(message_ids=["m2"])[0]
    assert (stored.role, stored.type, stored.created_at) == ("assistant", "v3", at(2))
    assert stored.content.content == "two"


def test_moving_a_message_bumps_both_threads(two_threads: MastraStorage) -> None:
    storage = two_threads
    storage.update_messages(messages=[{"id": "m1", "threadId": "thread-2"}])
    assert ids(storage.list_messages(thread_id="thread-1").messages) == ["m2"]
    assert ids(storage.list_messages(thread_id="thread-2").messages) == ["m1"]
    assert updated_at(storage, "thread-1") > PAST
    assert updated_at(storage, "thread-2") > PAST


def test_unknown_ids_are_skipped(two_threads: MastraStorage) -> None:
    storage = two_threads
    result = storage.update_messages(
        messages=[{"id": "nope", "role": "assistant"}, {"id": "m2", "role": "system"}]
    )
    assert ids(result) == ["m2"]
    assert updated_at(storage, "thread-2") == PAST
    assert storage.update_messages(messages=[{"id": "nope", "role": "user"}]) == []


def test_moving_to_an_unknown_thread_changes_nothing(two_threads: MastraStorage) -> None:
    storage = two_threads
    before = storage.list_messages_by_id(message_ids=["m1", "m2"])
    with pytest.raises(NotFoundError, match="thread-9"):
        storage.update_messages(
            messages=[{"id": "m2", "role": "assistant"}, {"id": "m1", "thread_id": "thread-9"}]
        )
    assert storage.list_messages_by_id(message_ids=["m1", "m2"]) == before
    assert updated_at(storage, "thread-1") == PAST


def test_bad_update_is_refused_before_anything_is_written(two_threads: MastraStorage) -> None:
    storage = two_threads
    with pytest.raises(ValidationError, match="role"):
        storage.update_messages(
            messages=[{"id": "m1", "content": "x"}, {"id": "m2", "role": "robot"}]
        )
    assert storage.list_messages_by_id(message_ids=["m1"])[0].content.content == "one"


def test_delete_messages_ignores_unknown_ids_and_bumps_threads(two_threads: MastraStorage) -> None:
    storage = two_threads
    before = row_counts(storage)["mastra_messages"]
    storage.delete_messages(message_ids=["m1", "nope"])
    assert ids(storage.list_messages(thread_id="thread-1").messages) == ["m2"]
    assert row_counts(storage)["mastra_messages"] == before - 1
    assert updated_at(storage, "thread-1") > PAST
    assert updated_at(storage, "thread-2") == PAST
    storage.delete_messages(message_ids=["nope"])
    storage.delete_messages(message_ids=[])
    assert row_counts(storage)["mastra_messages"] == before - 1
