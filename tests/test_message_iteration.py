"""iter_messages / iter_messages_by_resource_id: a whole thread (or resource)
in batches, in bounded memory, in thread order, lazily."""

from __future__ import annotations

from typing import Any

import pytest
from support import at, ids, make_thread, message

from mastra_storage import MastraStorage, ValidationError


def _thread_of(storage: MastraStorage, n: int, thread_id: str = "thread-1") -> list[str]:
    """`n` messages; every third pair shares its created_at (ties break by id)."""
    make_thread(storage, thread_id)
    batch = [
        message(f"{thread_id}-m{i:03d}", thread_id, created_at=at(i - i % 2 * (i % 3 == 0)))
        for i in range(n)
    ]
    storage.save_messages(messages=batch)
    return ids(storage.list_messages(thread_id=thread_id, per_page=None).messages)


@pytest.mark.parametrize("batch_size", [1, 3, 7, 500])
def test_walks_the_whole_thread_in_order(storage: MastraStorage, batch_size: int) -> None:
    expected = _thread_of(storage, 23)
    walked = list(storage.iter_messages(thread_id="thread-1", batch_size=batch_size))
    assert ids(walked) == expected
    assert walked == storage.list_messages(thread_id="thread-1", per_page=None).messages


def test_descending_and_exact_multiple_of_the_batch(storage: MastraStorage) -> None:
    expected = _thread_of(storage, 12)
    walked = storage.iter_messages(thread_id="thread-1", batch_size=4, direction="DESC")
    assert ids(walked) == expected[::-1]
    assert ids(storage.iter_messages(thread_id="thread-1", batch_size=6)) == expected


def test_empty_and_unknown_threads_yield_nothing(storage: MastraStorage) -> None:
    make_thread(storage)
    assert list(storage.iter_messages(thread_id="thread-1")) == []
    assert list(storage.iter_messages(thread_id="nobody", batch_size=1)) == []


def test_resource_filter_and_whole_resource(storage: MastraStorage) -> None:
    first = _thread_of(storage, 5, "thread-1")
    make_thread(storage, "thread-2", "resource-2")
    storage.save_messages(
        messages=[message(f"t2-m{i}", "thread-2", created_at=at(100 + i)) for i in range(4)]
    )
    make_thread(storage, "thread-3", "resource-1")
    storage.save_messages(
        messages=[message(f"t3-m{i}", "thread-3", created_at=at(50 + i)) for i in range(3)]
    )
    assert ids(storage.iter_messages(thread_id="thread-1", resource_id="resource-1")) == first
    assert list(storage.iter_messages(thread_id="thread-1", resource_id="resource-2")) == []
    whole = storage.iter_messages_by_resource_id(resource_id="resource-1", batch_size=2)
    expected = storage.list_messages_by_resource_id(resource_id="resource-1", per_page=None)
    assert ids(whole) == ids(expected.messages) == [*first, "t3-m0", "t3-m1", "t3-m2"]
    newest = storage.iter_messages_by_resource_id(
        resource_id="resource-2", batch_size=3, direction="DESC"
    )
    assert ids(newest) == ["t2-m3", "t2-m2", "t2-m1", "t2-m0"]


def test_lazy_each_message_once_while_the_thread_grows(storage: MastraStorage) -> None:
    expected = _thread_of(storage, 6)
    walk = iter(storage.iter_messages(thread_id="thread-1", batch_size=2))
    seen = [next(walk).id for _ in range(3)]
    # Saved during the walk: one sorting after the position, one before it.
    storage.save_messages(
        messages=[
            message("late", created_at=at(1000)),
            message("early", created_at=at(-1000)),
        ]
    )
    seen += [m.id for m in walk]
    assert seen == [*expected, "late"]
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"thread_id": ""}, "thread_id"),
        ({"thread_id": None}, "thread_id"),
        ({"thread_id": "thread-1", "batch_size": 0}, "batch_size"),
        ({"thread_id": "thread-1", "batch_size": 10_001}, "batch_size"),
        ({"thread_id": "thread-1", "batch_size": "5"}, "batch_size"),
        ({"thread_id": "thread-1", "batch_size": True}, "batch_size"),
        ({"thread_id": "thread-1", "resource_id": ""}, "resource_id"),
        ({"thread_id": "thread-1", "direction": "UP"}, "direction"),
    ],
)
def test_bad_arguments_raise_at_once(
    storage: MastraStorage, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        storage.iter_messages(**arguments)  # not iterated: checked on the call
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("arguments", "field"),
    [({"resource_id": ""}, "resource_id"), ({"resource_id": "r", "batch_size": -1}, "batch_size")],
)
def test_bad_resource_arguments(
    storage: MastraStorage, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        storage.iter_messages_by_resource_id(**arguments)
    assert raised.value.field == field
