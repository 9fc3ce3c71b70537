"""Resources (per-user working memory): get, save, update."""

from __future__ import annotations

from support import PAST, assert_all_utc, at

from mastra_storage import MastraStorage, StorageResource
from mastra_storage.clock import utc_now


def test_get_unknown_resource_is_none(storage: MastraStorage) -> None:
    assert storage.get_resource_by_id(resource_id="nobody") is None


def test_save_and_get_round_trip(storage: MastraStorage) -> None:
    saved = storage.save_resource(
        resource=StorageResource(
            id="user-1",
            working_memory="# User\n- name: Ada",
            metadata={"plan": "pro", "limits": {"tokens": 1000}},
            created_at=at(0),
            updated_at=at(1),
        )
    )
    assert storage.get_resource_by_id(resource_id="user-1") == saved
    assert (saved.working_memory, saved.metadata) == (
        "# User\n- name: Ada",
        {"plan": "pro", "limits": {"tokens": 1000}},
    )
    assert (saved.created_at, saved.updated_at) == (at(0), at(1))
    assert assert_all_utc(saved) == 2


def test_save_resource_fills_timestamps_and_accepts_camel_case(storage: MastraStorage) -> None:
    before = utc_now()
    saved = storage.save_resource(resource={"id": "user-1", "workingMemory": "wm"})
    assert saved.working_memory == "wm"
    assert saved.metadata is None
    assert saved.created_at is not None and before <= saved.created_at <= utc_now()
    assert saved.updated_at == saved.created_at
    assert storage.get_resource_by_id(resource_id="user-1") == saved


def test_save_resource_replaces_and_keeps_created_at(storage: MastraStorage) -> None:
    storage.save_resource(
        resource={"id": "user-1", "working_memory": "old", "metadata": {"a": 1},
                  "created_at": PAST, "updated_at": PAST}
    )  # fmt: skip
    replaced = storage.save_resource(
        resource={"id": "user-1", "working_memory": "new", "created_at": at(0), "updated_at": at(0)}
    )
    assert (replaced.working_memory, replaced.metadata) == ("new", None)
    assert (replaced.created_at, replaced.updated_at) == (PAST, at(0))
    assert storage.get_resource_by_id(resource_id="user-1") == replaced


def test_update_resource_creates_when_missing(storage: MastraStorage) -> None:
    before = utc_now()
    created = storage.update_resource(
        resource_id="user-1", working_memory="# Notes", metadata={"a": 1}
    )
    assert (created.id, created.working_memory, created.metadata) == (
        "user-1",
        "# Notes",
        {"a": 1},
    )
    assert created.created_at is not None and created.created_at >= before
    assert assert_all_utc(created) == 2
    assert storage.get_resource_by_id(resource_id="user-1") == created
    bare = storage.update_resource(resource_id="user-2")
    assert (bare.working_memory, bare.metadata) == (None, None)
    assert storage.get_resource_by_id(resource_id="user-2") == bare


def test_update_resource_merges_metadata_and_none_leaves_fields(storage: MastraStorage) -> None:
    storage.save_resource(
        resource={"id": "user-1", "working_memory": "keep me",
                  "metadata": {"keep": 1, "nested": {"x": 1, "y": 2}},
                  "created_at": PAST, "updated_at": PAST}
    )  # fmt: skip
    before = utc_now()
    merged = storage.update_resource(
        resource_id="user-1", metadata={"nested": {"x": 9}, "added": [1, 2]}
    )
    assert merged.working_memory == "keep me"
    assert merged.metadata == {"keep": 1, "nested": {"x": 9}, "added": [1, 2]}
    assert merged.created_at == PAST
    assert merged.updated_at is not None and before <= merged.updated_at <= utc_now()

    rewritten = storage.update_resource(resource_id="user-1", working_memory="")
    assert rewritten.working_memory == ""  # empty text is a value, not "leave it"
    assert rewritten.metadata == merged.metadata
    assert storage.get_resource_by_id(resource_id="user-1") == rewritten
