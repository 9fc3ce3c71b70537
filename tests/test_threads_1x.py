"""Memory calls of Mastra 1.x: `clone_thread`, `update_thread_resource_id`,
`update_thread_metadata` (serialized), and the `metadata` filter and
`include_total` of the message listings."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest
from conftest import Backend
from support import PAST, at, ids, make_thread, message, row_counts

from mastra_storage import (
    ConflictError,
    DefaultStorage,
    MastraStorage,
    NotFoundError,
    PostgresStorage,
    ValidationError,
)
from mastra_storage.clock import parse_iso, utc_now


@pytest.fixture
def source(storage: MastraStorage) -> MastraStorage:
    make_thread(storage, "src", "alice", title="Trip", metadata={"topic": "travel"})
    storage.save_messages(
        messages=[message(f"m{i}", "src", created_at=at(i)) for i in range(5)]
        + [message("tie", "src", created_at=at(2))]
    )
    return storage


SOURCE_ORDER = ["m0", "m1", "m2", "tie", "m3", "m4"]

# -- clone_thread -------------------------------------------------------------------


def test_clone_copies_thread_and_messages(source: MastraStorage) -> None:
    before = utc_now()
    clone = source.clone_thread(source_thread_id="src")
    thread = clone.thread
    assert thread.id != "src" and thread.resource_id == "alice"
    assert thread.title == "Clone of Trip"
    assert thread.metadata is not None
    info = thread.metadata["clone"]
    assert list(thread.metadata) == ["clone"]  # the source's metadata is not copied (as Mastra)
    assert info["sourceThreadId"] == "src" and info["lastMessageId"] == "m4"
    assert before <= parse_iso(info["clonedAt"]) <= utc_now()
    assert list(clone.message_id_map) == SOURCE_ORDER
    assert ids(clone.cloned_messages) == [clone.message_id_map[i] for i in SOURCE_ORDER]
    assert not set(clone.message_id_map.values()) & set(SOURCE_ORDER)

    stored = source.list_messages(thread_id=thread.id, resource_id="alice", per_page=None)
    assert stored.messages == clone.cloned_messages
    originals = source.list_messages(thread_id="src", per_page=None).messages
    for original, copy in zip(originals, stored.messages, strict=True):
        assert (copy.created_at, copy.content, copy.role, copy.type) == (
            original.created_at,
            original.content,
            original.role,
            original.type,
        )
        assert (copy.thread_id, copy.resource_id) == (thread.id, "alice")
    assert source.get_thread_by_id(thread_id=thread.id) == thread
    assert len(originals) == 6  # the source is untouched


def test_clone_with_id_resource_title_and_metadata(source: MastraStorage) -> None:
    clone = source.clone_thread(
        source_thread_id="src",
        new_thread_id="copy",
        resource_id="bob",
        title="Bob's trip",
        metadata={"k": [1, 2]},
    )
    assert (clone.thread.id, clone.thread.resource_id, clone.thread.title) == (
        "copy",
        "bob",
        "Bob's trip",
    )
    assert clone.thread.metadata is not None and clone.thread.metadata["k"] == [1, 2]
    assert {m.resource_id for m in clone.cloned_messages} == {"bob"}
    assert len(source.list_messages_by_resource_id(resource_id="bob").messages) == 6
    assert source.list_messages(thread_id="copy", resource_id="alice").messages == []


def test_clone_the_last_messages_or_a_filtered_set(source: MastraStorage) -> None:
    last = source.clone_thread(source_thread_id="src", message_limit=2)
    assert list(last.message_id_map) == ["m3", "m4"]
    dated = source.clone_thread(
        source_thread_id="src", message_filter={"startDate": at(1), "end_date": at(2)}
    )
    assert list(dated.message_id_map) == ["m1", "m2", "tie"]
    chosen = source.clone_thread(
        source_thread_id="src",
        message_filter={"message_ids": ["m4", "m0", "tie", "unknown"]},
        message_limit=2,
    )
    assert list(chosen.message_id_map) == ["tie", "m4"]
    assert chosen.thread.metadata is not None
    assert chosen.thread.metadata["clone"]["lastMessageId"] == "m4"
    empty = source.clone_thread(source_thread_id="src", message_filter={"message_ids": []})
    assert empty.cloned_messages == [] and empty.message_id_map == {}
    assert empty.thread.metadata is not None
    assert "lastMessageId" not in empty.thread.metadata["clone"]


def test_clone_refuses_unknown_source_and_taken_id(source: MastraStorage) -> None:
    make_thread(source, "taken", "carol")
    before = row_counts(source)
    with pytest.raises(NotFoundError):
        source.clone_thread(source_thread_id="nope")
    with pytest.raises(ConflictError):
        source.clone_thread(source_thread_id="src", new_thread_id="taken")
    assert row_counts(source) == before
    taken = source.get_thread_by_id(thread_id="taken")
    assert taken is not None and taken.resource_id == "carol"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"source_thread_id": ""}, "source_thread_id"),
        ({"new_thread_id": " "}, "new_thread_id"),
        ({"resource_id": 5}, "resource_id"),
        ({"title": 5}, "title"),
        ({"metadata": ["x"]}, "metadata"),
        ({"message_limit": 0}, "message_limit"),
        ({"message_limit": -1}, "message_limit"),
        ({"message_limit": True}, "message_limit"),
        ({"message_limit": "3"}, "message_limit"),
        ({"message_filter": {"start_date": PAST.replace(tzinfo=None)}}, "message_filter"),
        ({"message_filter": {"since": PAST}}, "message_filter"),
        ({"message_filter": {"message_ids": "m1"}}, "message_filter"),
        ({"message_filter": {"message_ids": [""]}}, "message_filter.message_ids"),
    ],
)
def test_clone_bad_input(source: MastraStorage, arguments: dict[str, Any], field: str) -> None:
    before = row_counts(source)
    with pytest.raises(ValidationError) as error:
        source.clone_thread(**{"source_thread_id": "src", **arguments})
    assert error.value.field is not None
    assert field in (error.value.field, str(error.value).split(":")[0].split(".")[0])
    assert row_counts(source) == before


def test_clone_in_the_callers_transaction(source: MastraStorage) -> None:
    before = row_counts(source)
    with pytest.raises(RuntimeError), source.session_scope() as session:
        source.clone_thread(source_thread_id="src", new_thread_id="c", session=session)
        raise RuntimeError("roll back")
    assert row_counts(source) == before
    with source.session_scope() as session:
        source.clone_thread(source_thread_id="src", new_thread_id="c", session=session)
    assert len(source.list_messages(thread_id="c").messages) == 6


# -- update_thread_resource_id ------------------------------------------------------


def test_update_thread_resource_id_moves_thread_and_messages(source: MastraStorage) -> None:
    original = source.get_thread_by_id(thread_id="src")
    assert original is not None
    before = utc_now()
    moved = source.update_thread_resource_id(thread_id="src", resource_id="user-42")
    assert moved.resource_id == "user-42"
    assert moved.created_at == original.created_at == PAST
    assert moved.updated_at is not None and moved.updated_at >= before
    assert (moved.title, moved.metadata) == (original.title, original.metadata)
    assert source.get_thread_by_id(thread_id="src") == moved
    assert source.get_thread_by_id(thread_id="src", resource_id="alice") is None
    listed = source.list_messages(thread_id="src", resource_id="user-42", per_page=None)
    assert ids(listed.messages) == SOURCE_ORDER
    assert source.list_messages_by_resource_id(resource_id="alice").messages == []
    assert source.list_threads(resource_id="user-42").total == 1
    # Same resource: nothing changes.
    assert source.update_thread_resource_id(thread_id="src", resource_id="user-42") == moved


def test_update_thread_resource_id_errors(source: MastraStorage) -> None:
    with pytest.raises(NotFoundError):
        source.update_thread_resource_id(thread_id="nope", resource_id="x")
    for bad in ({"thread_id": "", "resource_id": "x"}, {"thread_id": "src", "resource_id": None}):
        with pytest.raises(ValidationError):
            source.update_thread_resource_id(**bad)
    assert source.list_messages_by_resource_id(resource_id="alice").total == 6


# -- update_thread_metadata ---------------------------------------------------------


def test_update_thread_metadata_applies_the_function(source: MastraStorage) -> None:
    seen: list[dict[str, Any]] = []

    def add_tag(metadata: dict[str, Any]) -> dict[str, Any]:
        seen.append(metadata)
        metadata.setdefault("tags", []).append("x")
        return metadata

    updated = source.update_thread_metadata(id="src", update=add_tag)
    assert updated.metadata == {"topic": "travel", "tags": ["x"]}
    assert seen == [{"topic": "travel", "tags": ["x"]}]
    assert source.get_thread_by_id(thread_id="src") == updated
    # The result replaces the metadata (keys can go); None leaves the thread.
    assert source.update_thread_metadata(id="src", update=lambda m: {}).metadata == {}
    unchanged = source.update_thread_metadata(id="src", update=lambda m: None)
    assert unchanged == source.get_thread_by_id(thread_id="src")
    make_thread(source, "bare")
    assert source.update_thread_metadata(id="bare", update=lambda m: {**m, "n": 1}).metadata == {
        "n": 1
    }


def test_update_thread_metadata_errors(source: MastraStorage) -> None:
    with pytest.raises(NotFoundError):
        source.update_thread_metadata(id="nope", update=lambda m: m)
    with pytest.raises(NotFoundError):
        source.update_thread_metadata(id="src", resource_id="bob", update=lambda m: m)
    with pytest.raises(ValidationError) as error:
        source.update_thread_metadata(id="src", update={"a": 1})  # type: ignore[arg-type]
    assert error.value.field == "update"
    for result in (["a"], "text", {1: "x"}):
        with pytest.raises(ValidationError):
            source.update_thread_metadata(id="src", update=lambda m, r=result: r)

    def boom(metadata: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("caller's bug")

    with pytest.raises(KeyError):
        source.update_thread_metadata(id="src", update=boom)
    thread = source.get_thread_by_id(thread_id="src")
    assert thread is not None and thread.metadata == {"topic": "travel"}


def _open(name: str, url: str, schema: str | None) -> MastraStorage:
    if name == "postgresql":
        return PostgresStorage(url=url, schema=schema)
    return DefaultStorage(url=url)


def _bump(name: str, url: str, schema: str | None, worker: int, rounds: int, start: Any) -> None:
    storage = _open(name, url, schema)
    start.wait()
    for _ in range(rounds):

        def bump(metadata: dict[str, Any]) -> dict[str, Any]:
            metadata["total"] = metadata.get("total", 0) + 1
            metadata[f"w{worker}"] = metadata.get(f"w{worker}", 0) + 1
            return metadata

        storage.update_thread_metadata(id="t", update=bump)
    storage.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"], indirect=True)
def test_update_thread_metadata_from_8_processes_all_land(backend: Backend) -> None:
    storage = backend.make()
    storage.init()
    make_thread(storage, "t")
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(
            target=_bump, args=(backend.name, backend.url, backend.schema, w, 20, start)
        )
        for w in range(8)
    ]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(timeout=120)
    assert [p.exitcode for p in workers] == [0] * 8
    thread = storage.get_thread_by_id(thread_id="t")
    assert thread is not None
    assert thread.metadata == {"total": 160, **{f"w{w}": 20 for w in range(8)}}


def test_update_thread_metadata_from_8_threads_all_land(
    backend: Backend, storage: MastraStorage
) -> None:
    """Eight threads of one process, each with its own storage. In-memory SQLite
    (one shared connection, not safe across threads) and the async classes (one
    event loop) make the same 80 calls one after the other."""
    import threading

    make_thread(storage, "t")
    sequential = backend.asynchronous or backend.name == "sqlite-memory"
    others = [storage] * 8 if sequential else [backend.make() for _ in range(8)]
    errors: list[BaseException] = []

    def work(store: MastraStorage, worker: int) -> None:
        try:
            for _ in range(10):
                store.update_thread_metadata(
                    id="t", update=lambda m: {**m, "n": m.get("n", 0) + 1, f"w{worker}": True}
                )
        except BaseException as error:  # reported below
            errors.append(error)

    if sequential:
        for w in range(8):
            work(storage, w)
    else:
        threads = [threading.Thread(target=work, args=(others[w], w)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert errors == []
    final = storage.get_thread_by_id(thread_id="t")
    assert final is not None and final.metadata is not None
    assert final.metadata["n"] == 80
    assert all(final.metadata[f"w{w}"] for w in range(8))


# -- list_messages: metadata filter and include_total --------------------------------


@pytest.fixture
def tagged(storage: MastraStorage) -> MastraStorage:
    make_thread(storage, "t", "alice")
    make_thread(storage, "u", "alice")
    storage.save_messages(
        messages=[
            message("a", "t", created_at=at(0), content={"parts": [], "metadata": {"kind": "x"}}),
            message(
                "b", "t", created_at=at(1), content={"parts": [], "metadata": {"kind": "y", "n": 1}}
            ),
            message("c", "t", created_at=at(2), content="plain"),
            message("d", "u", created_at=at(3), content={"parts": [], "metadata": {"kind": "x"}}),
        ]
    )
    return storage


def test_metadata_filter_on_message_listings(tagged: MastraStorage) -> None:
    page = tagged.list_messages(thread_id="t", metadata={"kind": "x"})
    assert (ids(page.messages), page.total, page.has_more) == (["a"], 1, False)
    assert ids(tagged.list_messages(thread_id="t", metadata={"kind": "y", "n": 1}).messages) == [
        "b"
    ]
    assert tagged.list_messages(thread_id="t", metadata={"kind": "z"}).messages == []
    by_resource = tagged.list_messages_by_resource_id(resource_id="alice", metadata={"kind": "x"})
    assert (ids(by_resource.messages), by_resource.total) == (["a", "d"], 2)
    paged = tagged.list_messages_by_resource_id(
        resource_id="alice", metadata={"kind": "x"}, per_page=1, include_total=False
    )
    assert (ids(paged.messages), paged.total, paged.has_more) == (["a"], None, True)
    # include windows come on top of the filtered page.
    with_window = tagged.list_messages(thread_id="t", metadata={"kind": "x"}, include=[{"id": "c"}])
    assert ids(with_window.messages) == ["a", "c"]
    assert with_window.has_more is False


def test_include_total_is_count_total(tagged: MastraStorage) -> None:
    for options in ({"include_total": False}, {"count_total": False}):
        page = tagged.list_messages(thread_id="t", per_page=2, **options)
        assert (page.total, page.has_more) == (None, True)
    assert tagged.list_messages(thread_id="t", include_total=True).total == 3
    assert tagged.list_messages(thread_id="t", include_total=True, count_total=True).total == 3
    with pytest.raises(ValidationError):
        tagged.list_messages(thread_id="t", include_total=True, count_total=False)
    for bad in ({"include_total": "yes"}, {"count_total": 1}, {"metadata": ["kind"]}):
        with pytest.raises(ValidationError):
            tagged.list_messages(thread_id="t", **bad)
        with pytest.raises(ValidationError):
            tagged.list_messages_by_resource_id(resource_id="alice", **bad)


def test_concurrent_clones_to_one_id_make_one_thread(
    backend: Backend, source: MastraStorage
) -> None:
    """Eight callers clone to the same new id: one wins, the others get
    `ConflictError`, and the copy holds one set of messages."""
    import threading

    sequential = backend.asynchronous or backend.name == "sqlite-memory"
    stores = [source] * 8 if sequential else [backend.make() for _ in range(8)]
    outcomes: list[str] = []

    def clone(store: MastraStorage) -> None:
        try:
            store.clone_thread(source_thread_id="src", new_thread_id="copy")
            outcomes.append("made")
        except ConflictError:
            outcomes.append("conflict")
        except BaseException as error:  # reported below
            outcomes.append(repr(error))

    if sequential:
        for store in stores:
            clone(store)
    else:
        threads = [threading.Thread(target=clone, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert sorted(outcomes) == ["conflict"] * 7 + ["made"]
    assert len(source.list_messages(thread_id="copy", per_page=None).messages) == 6
