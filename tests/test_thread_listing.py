"""list_threads: paging, ordering by either timestamp, the metadata filter."""

from __future__ import annotations

import pytest
from support import at, make_thread

from mastra_storage import MastraStorage, ValidationError


@pytest.fixture
def seventeen(storage: MastraStorage) -> MastraStorage:
    for i in range(17):
        # createdAt ascends with i; updatedAt descends with i; two pairs tie on createdAt.
        created = at(i - (i in (5, 12)))
        storage.save_thread(
            thread={
                "id": f"t{i:02d}",
                "resource_id": "alice" if i % 2 else "bob",
                "created_at": created,
                "updated_at": at(100 - i),
                "metadata": {"parity": "odd" if i % 2 else "even", "i": i, "tags": {"x": 1}},
            }
        )
    return storage


@pytest.mark.parametrize("order_by", ["createdAt", "updatedAt", "created_at", "updated_at"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
def test_seventeen_threads_paged_seven_at_a_time(
    seventeen: MastraStorage, order_by: str, direction: str
) -> None:
    pages = [
        seventeen.list_threads(page=page, per_page=7, order_by=order_by, direction=direction)
        for page in range(3)
    ]
    assert [len(p.threads) for p in pages] == [7, 7, 3]
    assert [p.has_more for p in pages] == [True, True, False]
    assert all(p.total == 17 for p in pages)
    seen = [t for p in pages for t in p.threads]
    assert len({t.id for t in seen}) == 17
    field = "created_at" if order_by.startswith("created") else "updated_at"
    keys = [(getattr(t, field), t.id) for t in seen]
    assert keys == sorted(keys, reverse=direction == "DESC")


def test_resource_and_metadata_filters(seventeen: MastraStorage) -> None:
    odd = seventeen.list_threads_by_resource_id(resource_id="alice", per_page=None)
    assert odd.total == 8 and {t.resource_id for t in odd.threads} == {"alice"}
    found = seventeen.list_threads(metadata={"parity": "odd", "i": 3})
    assert [t.id for t in found.threads] == ["t03"]
    nested = seventeen.list_threads(metadata={"tags": {"x": 1}, "parity": "even"}, per_page=None)
    assert nested.total == 9
    assert seventeen.list_threads(metadata={"i": "3"}).total == 0  # types matter
    assert seventeen.list_threads(metadata={"missing": None}).total == 0


def test_bad_arguments_are_refused(storage: MastraStorage) -> None:
    make_thread(storage)
    with pytest.raises(ValidationError, match="order_by"):
        storage.list_threads(order_by="title")
    with pytest.raises(ValidationError, match="direction"):
        storage.list_threads(direction="sideways")
    with pytest.raises(ValueError, match="page"):
        storage.list_threads(page=-1)
