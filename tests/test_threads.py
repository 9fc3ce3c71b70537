"""Threads: create, get, update, delete, save (upsert) and list."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from support import PAST, assert_all_utc, at, ids, make_thread, message, row_counts

from mastra_storage import MastraStorage, NotFoundError, StorageThread
from mastra_storage.clock import utc_now


def test_create_thread_fills_defaults(storage: MastraStorage) -> None:
    before = utc_now()
    thread = storage.create_thread(resource_id="user-1")
    assert uuid.UUID(thread.id).version == 4
    assert thread.resource_id == "user-1"
    assert thread.title == ""
    assert thread.metadata is None
    assert thread.created_at is not None
    assert before <= thread.created_at <= utc_now()
    assert thread.updated_at == thread.created_at
    assert assert_all_utc(thread) == 2


def test_create_get_round_trip(storage: MastraStorage) -> None:
    thread = storage.create_thread(
        resource_id="user-1", title="Hello", metadata={"topic": "cats"}, thread_id="my-thread"
    )
    assert thread.id == "my-thread"
    fetched = storage.get_thread_by_id(thread_id="my-thread")
    assert fetched == thread
    assert fetched is not None
    assert (fetched.title, fetched.metadata) == ("Hello", {"topic": "cats"})
    assert assert_all_utc(fetched) == 2


def test_get_thread_by_id_checks_the_resource(storage: MastraStorage) -> None:
    thread = storage.create_thread(resource_id="user-1", thread_id="t1")
    assert storage.get_thread_by_id(thread_id="t1", resource_id="user-1") == thread
    assert storage.get_thread_by_id(thread_id="t1", resource_id="user-2") is None
    assert storage.get_thread_by_id(thread_id="unknown") is None


def test_update_thread_merges_metadata_one_level_deep(storage: MastraStorage) -> None:
    make_thread(
        storage, "t1", title="Old", metadata={"keep": 1, "nested": {"x": 1, "y": 2}, "swap": "a"}
    )
    before = utc_now()
    updated = storage.update_thread(
        id="t1", title="New", metadata={"nested": {"x": 9}, "swap": "b", "added": True}
    )
    assert updated.title == "New"
    assert updated.metadata == {"keep": 1, "nested": {"x": 9}, "swap": "b", "added": True}
    assert updated.created_at == PAST
    assert updated.updated_at is not None
    assert before <= updated.updated_at <= utc_now()
    assert assert_all_utc(updated) == 2
    assert storage.get_thread_by_id(thread_id="t1") == updated


def test_update_thread_none_leaves_a_field_alone(storage: MastraStorage) -> None:
    make_thread(storage, "t1", title="Title", metadata={"a": 1})
    only_title = storage.update_thread(id="t1", title="Renamed")
    assert (only_title.title, only_title.metadata) == ("Renamed", {"a": 1})
    only_metadata = storage.update_thread(id="t1", metadata={"b": 2})
    assert (only_metadata.title, only_metadata.metadata) == ("Renamed", {"a": 1, "b": 2})
    neither = storage.update_thread(id="t1")
    assert (neither.title, neither.metadata) == ("Renamed", {"a": 1, "b": 2})
    assert neither.updated_at is not None and neither.updated_at > PAST


def test_update_thread_metadata_on_a_thread_without_metadata(storage: MastraStorage) -> None:
    make_thread(storage, "t1")
    assert storage.update_thread(id="t1", metadata={"a": 1}).metadata == {"a": 1}


def test_update_unknown_thread_raises_not_found(storage: MastraStorage) -> None:
    with pytest.raises(NotFoundError):
        storage.update_thread(id="nope", title="x")
    assert storage.get_thread_by_id(thread_id="nope") is None


def test_delete_thread_removes_it_and_only_its_messages(storage: MastraStorage) -> None:
    make_thread(storage, "doomed")
    make_thread(storage, "kept")
    storage.save_messages(
        messages=[message("d1", "doomed"), message("d2", "doomed"), message("k1", "kept")]
    )
    storage.delete_thread(thread_id="doomed")
    assert storage.get_thread_by_id(thread_id="doomed") is None
    assert storage.list_messages(thread_id="doomed").total == 0
    assert ids(storage.list_messages(thread_id="kept").messages) == ["k1"]
    assert storage.get_thread_by_id(thread_id="kept") is not None
    assert row_counts(storage)["mastra_messages"] == 1


def test_delete_unknown_thread_is_no_error(storage: MastraStorage) -> None:
    make_thread(storage, "t1")
    storage.delete_thread(thread_id="unknown")
    assert storage.get_thread_by_id(thread_id="t1") is not None


def test_save_thread_upsert_keeps_created_at(storage: MastraStorage) -> None:
    first = make_thread(storage, "t1", title="First", metadata={"v": 1})
    second = storage.save_thread(
        thread=StorageThread(
            id="t1",
            resource_id="resource-1",
            title="Second",
            metadata={"w": 2},
            created_at=at(0),
            updated_at=at(1),
        )
    )
    assert second.created_at == first.created_at == PAST
    assert (second.title, second.metadata, second.updated_at) == ("Second", {"w": 2}, at(1))
    assert storage.get_thread_by_id(thread_id="t1") == second
    assert row_counts(storage)["mastra_threads"] == 1


def test_save_thread_accepts_mastra_camel_case(storage: MastraStorage) -> None:
    saved = storage.save_thread(
        thread={
            "id": "t1",
            "resourceId": "user-1",
            "title": "T",
            "createdAt": "2026-11-26T11:50:17.385Z",
            "updatedAt": "2026-11-26T11:50:17.385Z",
        }
    )
    assert saved.resource_id == "user-1"
    assert saved.created_at == at(0)
    assert storage.get_thread_by_id(thread_id="t1") == saved


# -- listing --------------------------------------------------------------------


@pytest.fixture
def five_threads(storage: MastraStorage) -> list[StorageThread]:
    """Five threads of resource-1 (oldest first) and two of resource-2."""
    made = [make_thread(storage, f"t{i}", created_at=at(i)) for i in range(5)]
    make_thread(storage, "other-a", "resource-2", created_at=at(10))
    make_thread(storage, "other-b", "resource-2", created_at=at(11))
    return made


def thread_ids(threads: list[StorageThread]) -> list[str]:
    return [thread.id for thread in threads]


PAGES = [
    # page, per_page, expected ids, has_more
    (0, 2, ["t4", "t3"], True),
    (1, 2, ["t2", "t1"], True),
    (2, 2, ["t0"], False),
    (3, 2, [], False),
    (0, 5, ["t4", "t3", "t2", "t1", "t0"], False),
    (0, None, ["t4", "t3", "t2", "t1", "t0"], False),
    (0, 100, ["t4", "t3", "t2", "t1", "t0"], False),
]


def test_list_threads_pages(storage: MastraStorage, five_threads: list[StorageThread]) -> None:
    for page, per_page, expected, has_more in PAGES:
        case = f"page={page} per_page={per_page}"
        result = storage.list_threads(resource_id="resource-1", page=page, per_page=per_page)
        assert thread_ids(result.threads) == expected, case
        assert (result.total, result.page, result.per_page, result.has_more) == (
            5,
            page,
            per_page,
            has_more,
        ), case
        for thread in result.threads:
            assert assert_all_utc(thread) == 2


def test_list_threads_per_page_zero_counts_without_rows(
    storage: MastraStorage, five_threads: list[StorageThread]
) -> None:
    result = storage.list_threads(resource_id="resource-1", per_page=0)
    assert result.threads == []
    assert result.total == 5


def test_list_threads_without_resource_lists_all(
    storage: MastraStorage, five_threads: list[StorageThread]
) -> None:
    result = storage.list_threads()
    assert result.total == 7
    assert thread_ids(result.threads)[:2] == ["other-b", "other-a"]
    assert storage.list_threads(resource_id="nobody").total == 0


def test_list_threads_refuses_bad_arguments(storage: MastraStorage) -> None:
    for page, per_page in [(-1, 10), (0, -1), (-3, -3)]:
        with pytest.raises(ValueError, match="must be >= 0"):
            storage.list_threads(page=page, per_page=per_page)
    with pytest.raises(ValueError, match="order_by"):
        storage.list_threads(order_by="title")
    with pytest.raises(ValueError, match="direction"):
        storage.list_threads(direction="sideways")


@pytest.mark.parametrize("order_by", ["createdAt", "updatedAt"])
def test_list_threads_order_and_ties(storage: MastraStorage, order_by: str) -> None:
    # created_at and updated_at run in different orders, and each has ties.
    created = [3, 1, 1, 2, 1, 0]
    updated = [0, 2, 5, 2, 1, 2]
    for index, (c, u) in enumerate(zip(created, updated, strict=True)):
        make_thread(storage, f"t{index}-{uuid.uuid4().hex[:4]}", created_at=at(c), updated_at=at(u))

    def key(thread: StorageThread) -> datetime:
        value = thread.created_at if order_by == "createdAt" else thread.updated_at
        assert value is not None
        return value

    for direction in ("ASC", "DESC"):
        everything = storage.list_threads(order_by=order_by, direction=direction, per_page=None)
        listed = [key(t) for t in everything.threads]
        assert listed == sorted(listed, reverse=direction == "DESC"), direction
        assert len(set(listed)) < len(listed)  # the case has ties
        # Ties are broken the same way on every page: paging sees each thread once.
        paged: list[str] = []
        for page in range(3):
            paged += thread_ids(
                storage.list_threads(
                    order_by=order_by, direction=direction, page=page, per_page=2
                ).threads
            )
        assert paged == thread_ids(everything.threads), direction
        assert len(set(paged)) == 6
        # snake_case names and lower-case directions mean the same.
        snake = "created_at" if order_by == "createdAt" else "updated_at"
        same = storage.list_threads(order_by=snake, direction=direction.lower(), per_page=None)
        assert same == everything


def test_list_threads_default_order_is_newest_created_first(
    storage: MastraStorage, five_threads: list[StorageThread]
) -> None:
    storage.update_thread(id="t0", title="touched")  # newest updated_at, oldest created_at
    assert thread_ids(storage.list_threads(resource_id="resource-1").threads)[-1] == "t0"
    by_update = storage.list_threads(resource_id="resource-1", order_by="updatedAt")
    assert thread_ids(by_update.threads)[0] == "t0"
