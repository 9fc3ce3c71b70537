"""Paging and context windows (`include`) over a thread, on every backend."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import BASE, at, ids, make_thread, message, page_through

from mastra_storage import MastraStorage, ValidationError


def save_sequence(
    storage: MastraStorage, thread_id: str, count: int, prefix: str = "m"
) -> list[str]:
    """`count` messages one second apart, ids in thread order."""
    names = [f"{prefix}{i:03d}" for i in range(count)]
    storage.save_messages(
        messages=[message(name, thread_id, created_at=at(i)) for i, name in enumerate(names)]
    )
    return names


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize("per_page", [7, 40])
def test_paging_205_messages_sharing_one_created_at_returns_each_once(
    storage: MastraStorage, direction: str, per_page: int
) -> None:
    make_thread(storage)
    storage.save_messages(messages=[message(f"x{i:03d}", created_at=BASE) for i in range(205)])
    seen = page_through(storage, "thread-1", per_page, direction)
    assert len(seen) == 205
    assert len(set(seen)) == 205
    expected = sorted(seen, reverse=direction == "DESC")
    assert seen == expected  # ties broken by id, the same way on every page


def test_window_in_the_middle_of_the_thread(storage: MastraStorage) -> None:
    make_thread(storage)
    names = save_sequence(storage, "thread-1", 30)
    page = storage.list_messages(
        thread_id="thread-1",
        per_page=3,
        direction="DESC",
        include=[{"id": "m010", "with_previous_messages": 2, "with_next_messages": 3}],
    )
    assert ids(page.messages) == [
        "m029",
        "m028",
        "m027",
        "m013",
        "m012",
        "m011",
        "m010",
        "m009",
        "m008",
    ]
    assert page.total == 30
    assert page.has_more is True
    assert names[8:14] == ["m008", "m009", "m010", "m011", "m012", "m013"]


def test_windows_at_the_start_and_end_are_cut_at_the_thread_edges(storage: MastraStorage) -> None:
    make_thread(storage)
    save_sequence(storage, "thread-1", 10)
    page = storage.list_messages(
        thread_id="thread-1",
        per_page=0,
        include=[
            {"id": "m000", "with_previous_messages": 5, "with_next_messages": 1},
            {"id": "m009", "with_previous_messages": 1, "with_next_messages": 5},
        ],
    )
    assert ids(page.messages) == ["m000", "m001", "m008", "m009"]
    assert page.total == 10
    assert page.has_more is True  # per_page=0 returns no page rows, but rows exist


def test_overlapping_windows_and_the_page_are_deduplicated_and_sorted(
    storage: MastraStorage,
) -> None:
    make_thread(storage)
    save_sequence(storage, "thread-1", 20)
    page = storage.list_messages(
        thread_id="thread-1",
        per_page=4,
        include=[
            {"id": "m005", "with_previous_messages": 3, "with_next_messages": 3},
            {"id": "m007", "withPreviousMessages": 3, "withNextMessages": 3},  # camelCase too
            {"id": "m002", "with_previous_messages": 0, "with_next_messages": 0},
        ],
    )
    assert ids(page.messages) == [f"m{i:03d}" for i in range(11)]


def test_windows_stay_in_the_included_message_s_own_thread(storage: MastraStorage) -> None:
    make_thread(storage, "thread-1")
    make_thread(storage, "thread-2")
    save_sequence(storage, "thread-1", 5, prefix="a")
    save_sequence(storage, "thread-2", 5, prefix="b")  # same timestamps as thread-1's
    page = storage.list_messages(
        thread_id="thread-1",
        per_page=2,
        include=[
            {
                "id": "b002",
                "thread_id": "thread-2",
                "with_previous_messages": 1,
                "with_next_messages": 1,
            }
        ],
    )
    assert ids(page.messages) == ["a000", "a001", "b001", "b002", "b003"]
    assert page.total == 5  # total counts the page's filter, not the windows


def test_window_around_an_unknown_id_adds_nothing(storage: MastraStorage) -> None:
    make_thread(storage)
    save_sequence(storage, "thread-1", 5)
    page = storage.list_messages(
        thread_id="thread-1",
        per_page=2,
        include=[{"id": "missing", "with_previous_messages": 2, "with_next_messages": 2}],
    )
    assert ids(page.messages) == ["m000", "m001"]


def test_window_rows_with_tied_timestamps_follow_the_id_order(storage: MastraStorage) -> None:
    make_thread(storage)
    storage.save_messages(messages=[message(f"t{i}", created_at=BASE) for i in range(6)])
    page = storage.list_messages(
        thread_id="thread-1",
        per_page=0,
        include=[{"id": "t3", "with_previous_messages": 2, "with_next_messages": 1}],
    )
    assert ids(page.messages) == ["t1", "t2", "t3", "t4"]


def test_negative_window_sizes_are_refused(storage: MastraStorage) -> None:
    make_thread(storage)
    with pytest.raises(ValidationError, match="with_previous_messages"):
        storage.list_messages(
            thread_id="thread-1", include=[{"id": "m000", "with_previous_messages": -1}]
        )


def test_last_n_without_counting(storage: MastraStorage) -> None:
    make_thread(storage)
    save_sequence(storage, "thread-1", 12)
    page = storage.list_messages(
        thread_id="thread-1", per_page=5, direction="DESC", count_total=False
    )
    assert ids(page.messages) == ["m011", "m010", "m009", "m008", "m007"]
    assert page.total is None
    assert page.has_more is True
    last = storage.list_messages(
        thread_id="thread-1", page=2, per_page=5, direction="DESC", count_total=False
    )
    assert ids(last.messages) == ["m001", "m000"]
    assert last.has_more is False


def test_several_threads_and_a_resource_filter(storage: MastraStorage) -> None:
    make_thread(storage, "thread-1", "alice")
    make_thread(storage, "thread-2", "alice")
    make_thread(storage, "thread-3", "bob")
    save_sequence(storage, "thread-1", 3, prefix="a")
    storage.save_messages(messages=[message("b0", "thread-2", created_at=at(1.5))])
    storage.save_messages(messages=[message("c0", "thread-3", created_at=at(0.5))])
    both = storage.list_messages(thread_id=["thread-1", "thread-2"], per_page=None)
    assert ids(both.messages) == ["a000", "a001", "b0", "a002"]
    assert both.total == 4
    by_resource = storage.list_messages_by_resource_id(resource_id="alice", per_page=2, page=1)
    assert ids(by_resource.messages) == ["b0", "a002"]
    assert by_resource.total == 4
    assert storage.list_messages(thread_id="thread-1", resource_id="bob").total == 0


def test_date_bounds_inclusive_and_exclusive(storage: MastraStorage) -> None:
    make_thread(storage)
    save_sequence(storage, "thread-1", 6)
    window = {"start": at(1), "end": at(4)}
    assert ids(storage.list_messages(thread_id="thread-1", date_range=window).messages) == [
        "m001", "m002", "m003", "m004",
    ]  # fmt: skip
    exclusive = {**window, "start_exclusive": True, "endExclusive": True}
    assert ids(storage.list_messages(thread_id="thread-1", date_range=exclusive).messages) == [
        "m002", "m003",
    ]  # fmt: skip
    assert storage.list_messages(thread_id="thread-1", date_range={"start": at(10)}).total == 0
    later = {"end": at(1) - timedelta(milliseconds=1)}
    assert ids(storage.list_messages(thread_id="thread-1", date_range=later).messages) == ["m000"]


def test_list_messages_by_id_returns_oldest_first_and_skips_unknown(storage: MastraStorage) -> None:
    make_thread(storage)
    save_sequence(storage, "thread-1", 4)
    found = storage.list_messages_by_id(message_ids=["m003", "nope", "m000", "m002"])
    assert ids(found) == ["m000", "m002", "m003"]
    assert storage.list_messages_by_id(message_ids=[]) == []
