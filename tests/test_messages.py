"""Messages: save (upsert, all or nothing), list with paging, order and filters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import pytest
from support import (
    PAST,
    assert_all_utc,
    at,
    ids,
    make_thread,
    message,
    page_through,
    row_counts,
)

from mastra_storage import MastraDBMessage, MastraStorage, NotFoundError, ValidationError
from mastra_storage.clock import utc_now


def test_save_and_list_round_trip(storage: MastraStorage) -> None:
    make_thread(storage)
    saved = storage.save_messages(
        messages=[
            message("m1", text_="Hello", created_at=at(0)),
            MastraDBMessage(
                id="m2",
                role="assistant",
                content=[{"type": "text", "text": "Hi!"}],
                thread_id="thread-1",
                created_at=at(1),
            ),
            {
                "id": "m3",
                "threadId": "thread-1",
                "role": "tool",
                "content": {"format": 2, "parts": [], "toolInvocations": [{"id": 1}]},
                "createdAt": "2026-11-26T11:50:19.385Z",
            },
        ]
    )
    assert ids(saved) == ["m1", "m2", "m3"]
    listed = storage.list_messages(thread_id="thread-1")
    assert listed.messages == saved
    first, second, third = listed.messages
    assert (first.role, first.content.parts, first.content.content) == (
        "user",
        [{"type": "text", "text": "Hello"}],
        "Hello",
    )
    assert second.content.parts == [{"type": "text", "text": "Hi!"}]
    assert third.content.model_extra == {"toolInvocations": [{"id": 1}]}
    assert third.created_at == at(2)
    for item in listed.messages:
        assert (item.thread_id, item.resource_id, item.type) == ("thread-1", "resource-1", "v2")
        assert assert_all_utc(item) == 1


@pytest.fixture
def seven(storage: MastraStorage) -> list[str]:
    """Seven messages one second apart, saved out of order; their ids oldest first."""
    make_thread(storage)
    order = [3, 0, 6, 1, 5, 2, 4]
    storage.save_messages(messages=[message(f"m{i}", created_at=at(i)) for i in order])
    return [f"m{i}" for i in range(7)]


PAGES = [
    # direction, page, per_page, expected indexes, has_more
    ("ASC", 0, 3, [0, 1, 2], True),
    ("ASC", 1, 3, [3, 4, 5], True),
    ("ASC", 2, 3, [6], False),
    ("ASC", 3, 3, [], False),
    ("DESC", 0, 3, [6, 5, 4], True),
    ("DESC", 2, 3, [0], False),
    ("ASC", 0, 7, [0, 1, 2, 3, 4, 5, 6], False),
    ("DESC", 0, None, [6, 5, 4, 3, 2, 1, 0], False),
    ("ASC", 0, 6, [0, 1, 2, 3, 4, 5], True),
]


def test_pages_both_directions(storage: MastraStorage, seven: list[str]) -> None:
    for direction, page, per_page, expected, has_more in PAGES:
        case = f"{direction} page={page} per_page={per_page}"
        result = storage.list_messages(
            thread_id="thread-1", page=page, per_page=per_page, direction=direction
        )
        assert ids(result.messages) == [seven[i] for i in expected], case
        assert (result.total, result.page, result.per_page, result.has_more) == (
            7,
            page,
            per_page,
            has_more,
        ), case


def test_per_page_zero_and_defaults(storage: MastraStorage, seven: list[str]) -> None:
    nothing = storage.list_messages(thread_id="thread-1", per_page=0)
    assert (nothing.messages, nothing.total) == ([], 7)
    default = storage.list_messages(thread_id="thread-1")
    assert (ids(default.messages), default.per_page, default.has_more) == (seven, 40, False)


def test_negative_paging_is_refused(storage: MastraStorage) -> None:
    make_thread(storage)
    for page, per_page in [(-1, 10), (0, -1)]:
        with pytest.raises(ValueError, match="must be >= 0"):
            storage.list_messages(thread_id="thread-1", page=page, per_page=per_page)


def test_identical_created_at_pages_each_message_once(storage: MastraStorage) -> None:
    make_thread(storage)
    # Random ids: neither input order nor id order matches anything by chance.
    names = [uuid.uuid4().hex for _ in range(13)]
    storage.save_messages(messages=[message(name, created_at=at(0)) for name in names])
    ascending = page_through(storage, "thread-1", per_page=4, direction="ASC")
    descending = page_through(storage, "thread-1", per_page=5, direction="DESC")
    assert sorted(ascending) == sorted(names)
    assert len(ascending) == 13
    assert descending == ascending[::-1]
    everything = storage.list_messages(thread_id="thread-1", per_page=None)
    assert ids(everything.messages) == ascending


def test_messages_without_created_at_keep_input_order(storage: MastraStorage) -> None:
    make_thread(storage)
    names = [f"m-{uuid.uuid4().hex[:6]}" for _ in range(25)]
    before = utc_now()
    saved = storage.save_messages(messages=[message(name) for name in names])
    assert ids(saved) == names
    stamps = [m.created_at for m in saved]
    assert all(a is not None and b is not None and a < b for a, b in pairwise(stamps))
    assert stamps[0] is not None and stamps[0] >= before
    assert ids(storage.list_messages(thread_id="thread-1", per_page=None).messages) == names
    # A second call lands after the first.
    storage.save_messages(messages=[message("later")])
    listed = storage.list_messages(thread_id="thread-1", per_page=None, direction="DESC")
    assert listed.messages[0].id == "later"


def test_messages_without_created_at_land_after_each_threads_last_message(
    storage: MastraStorage,
) -> None:
    """However late this process's clock: each message without `created_at`
    gets 1 ms after the one before it in its thread, starting 1 ms after the
    thread's last message; at the last millisecond a datetime holds they stay
    there. Threads interleaved in one call keep their own counts; a message
    given its `created_at` keeps it; an update keeps the stored one."""
    soon = utc_now().replace(microsecond=0) + timedelta(hours=1)
    last = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    make_thread(storage, "a")
    make_thread(storage, "b")
    storage.save_messages(
        messages=[message("a0", "a", created_at=soon), message("b0", "b", created_at=last)]
    )
    saved = storage.save_messages(
        messages=[
            message("a1", "a"),
            message("b1", "b"),
            message("a2", "a", created_at=PAST),
            message("a3", "a"),
            message("b2", "b"),
        ]
    )
    ms = timedelta(milliseconds=1)
    expected = {"a1": soon + ms, "b1": last, "a2": PAST, "a3": soon + 2 * ms, "b2": last}
    assert {m.id: m.created_at for m in saved} == expected
    listed = storage.list_messages(thread_id=["a", "b"], per_page=None).messages
    assert {m.id: m.created_at for m in listed} == {"a0": soon, "b0": last, **expected}
    again = storage.save_messages(messages=[message("a1", "a", "edited")])
    assert [m.created_at for m in again] == [soon + ms]


def test_upsert_keeps_created_at(storage: MastraStorage) -> None:
    make_thread(storage)
    storage.save_messages(messages=[message("m1", text_="first", created_at=at(0))])
    again = storage.save_messages(
        messages=[message("m1", text_="second", created_at=at(60), role="assistant")]
    )
    assert again[0].created_at == at(0)
    (stored,) = storage.list_messages(thread_id="thread-1").messages
    assert stored.content.content == "second"
    assert stored.role == "assistant"
    assert stored.created_at == at(0)
    # Saved again without created_at: it still keeps the first one.
    storage.save_messages(messages=[message("m1", text_="third")])
    (stored,) = storage.list_messages(thread_id="thread-1").messages
    assert (stored.content.content, stored.created_at) == ("third", at(0))


def test_saved_messages_are_returned_as_read_back_and_are_never_the_callers(
    storage: MastraStorage,
) -> None:
    """What `save_messages` returns, dated or not, from a mapping or a model
    (a message read back and saved again too): `MastraDBMessage`s equal to
    what a read returns, every field set, none of them the caller's object,
    nor sharing its content: changing one changes nothing given."""
    from mastra_storage import MastraDBMessageInput

    make_thread(storage)
    read_back = storage.save_messages(messages=[message("m0", created_at=at(0))])[0]
    given: list[Any] = [
        message("m1", created_at=at(1)),
        message("m2"),
        {**message("m3"), "createdAt": at(3), "created_at": None},
        MastraDBMessageInput(id="m4", thread_id="thread-1", role="user", content="four"),
        MastraDBMessageInput(
            id="m5", thread_id="thread-1", role="user", content="five", created_at=at(5)
        ),
        read_back.model_copy(update={"role": "assistant"}),
        # its id made when it was: kept (not another one made for the save)
        MastraDBMessageInput(thread_id="thread-1", role="user", content="six", created_at=at(6)),
    ]
    before = [
        item.model_dump() if isinstance(item, MastraDBMessageInput) else repr(item)
        for item in given
    ]
    saved = storage.save_messages(messages=given)
    assert ids(saved) == ["m1", "m2", "m3", "m4", "m5", "m0", given[-1].id]
    stored = {m.id: m for m in storage.list_messages_by_id(message_ids=ids(saved))}
    assert saved == [stored[m.id] for m in saved]
    for item, out in zip(given, saved, strict=True):
        assert type(out) is MastraDBMessage
        assert out.model_fields_set == set(MastraDBMessage.model_fields)
        assert out is not item
        if isinstance(item, MastraDBMessageInput):
            assert out.content is not item.content
        out.content.metadata["changed"] = True
        out.content.parts.append({"type": "text", "text": "more"})
        out.role = "system"
    after = [
        item.model_dump() if isinstance(item, MastraDBMessageInput) else repr(item)
        for item in given
    ]
    assert after == before
    assert (saved[2].created_at, saved[5].created_at) == (at(3), at(0))


def test_a_callers_content_model_changed_after_the_call_changes_nothing_returned(
    storage: MastraStorage,
) -> None:
    """A `MessageContent` instance given inside a message to save (in a
    mapping or a model, dated or not) or an update: assigning its fields
    afterwards changes neither what the call returned nor what is stored
    (the returned content had the caller's set of given fields, one object,
    so a field assigned later showed up in its `to_stored()`)."""
    from mastra_storage import MastraDBMessageInput, MessageContent

    make_thread(storage)
    contents = [MessageContent(parts=[{"type": "text", "text": f"c{i}"}], k=i) for i in range(5)]
    saved = storage.save_messages(
        messages=[
            {**message("m0"), "content": contents[0]},
            {**message("m1", created_at=at(1)), "content": contents[1]},
            MastraDBMessageInput(id="m2", thread_id="thread-1", role="user", content=contents[2]),
            MastraDBMessageInput(
                id="m3", thread_id="thread-1", role="user", content=contents[3], created_at=at(3)
            ),
        ]
    )
    updated = storage.update_messages(messages=[{"id": "m0", "content": contents[4]}])
    returned = [*saved, *updated]
    before = [m.content.to_stored() for m in returned]
    for content in contents:
        content.content = "assigned later"
        content.metadata = {"assigned": True}
    assert [m.content.to_stored() for m in returned] == before
    stored = {m.id: m for m in storage.list_messages_by_id(message_ids=["m0", "m1", "m2", "m3"])}
    assert [stored[m.id].content.to_stored() for m in saved[1:]] == before[1:4]
    assert stored["m0"].content.to_stored() == before[4]
    assert all("content" not in b and "metadata" not in b for b in before)


def test_repeated_id_in_one_batch_last_wins(storage: MastraStorage) -> None:
    make_thread(storage)
    saved = storage.save_messages(
        messages=[
            message("dup", text_="one", created_at=at(0)),
            message("other", created_at=at(1)),
            message("dup", text_="two", created_at=at(2)),
        ]
    )
    listed = storage.list_messages(thread_id="thread-1")
    assert listed.total == 2
    by_id = {m.id: m for m in listed.messages}
    assert by_id["dup"].content.content == "two"
    assert [m.content.content for m in saved if m.id == "dup"] == ["two"]


def test_resource_id_defaults_to_the_threads(storage: MastraStorage) -> None:
    make_thread(storage, "thread-1", "owner")
    saved = storage.save_messages(
        messages=[message("plain"), message("explicit", resource_id="someone-else")]
    )
    assert [m.resource_id for m in saved] == ["owner", "someone-else"]
    listed = storage.list_messages(thread_id="thread-1")
    assert {m.id: m.resource_id for m in listed.messages} == {
        "plain": "owner",
        "explicit": "someone-else",
    }
    only_owner = storage.list_messages(thread_id="thread-1", resource_id="owner")
    assert ids(only_owner.messages) == ["plain"]
    assert only_owner.total == 1


def test_each_touched_thread_is_updated_now(storage: MastraStorage) -> None:
    for name in ("a", "b", "untouched"):
        make_thread(storage, name)
    before = utc_now()
    storage.save_messages(messages=[message("m1", "a"), message("m2", "b"), message("m3", "a")])
    after = utc_now()
    for name in ("a", "b"):
        thread = storage.get_thread_by_id(thread_id=name)
        assert thread is not None and thread.updated_at is not None
        assert before <= thread.updated_at <= after, name
        assert thread.created_at == PAST
    untouched = storage.get_thread_by_id(thread_id="untouched")
    assert untouched is not None and untouched.updated_at == PAST


BAD_MESSAGES: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("role", message("bad", role="robot"), ValidationError, "role"),
    ("no-thread-id", {"id": "bad", "role": "user", "content": "x"}, ValidationError, "thread_id"),
    ("blank-thread-id", message("bad", "  "), ValidationError, "thread_id"),
    ("unknown-thread", message("bad", "no-such-thread"), NotFoundError, "no-such-thread"),
    ("naive-created-at", message("bad", created_at=datetime(2026, 1, 1)), ValidationError,
     "created_at"),
    ("no-content", {"id": "bad", "role": "user", "thread_id": "thread-1"}, ValidationError,
     "content"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("bad", "error", "names"),
    [case[1:] for case in BAD_MESSAGES],
    ids=[case[0] for case in BAD_MESSAGES],
)
def test_save_messages_is_all_or_nothing(
    storage: MastraStorage, bad: dict[str, Any], error: type[Exception], names: str
) -> None:
    make_thread(storage)
    storage.save_messages(messages=[message("existing", text_="original", created_at=at(0))])
    thread_before = storage.get_thread_by_id(thread_id="thread-1")
    with pytest.raises(error) as caught:
        storage.save_messages(
            messages=[
                message("new-1"),
                message("existing", text_="changed"),
                bad,
                message("new-2"),
            ]
        )
    assert names in str(caught.value)
    if isinstance(caught.value, ValidationError):
        assert caught.value.field is not None and names in caught.value.field
    listed = storage.list_messages(thread_id="thread-1")
    assert ids(listed.messages) == ["existing"]
    assert listed.messages[0].content.content == "original"
    assert row_counts(storage)["mastra_messages"] == 1
    assert storage.get_thread_by_id(thread_id="thread-1") == thread_before


def test_save_no_messages(storage: MastraStorage) -> None:
    assert storage.save_messages(messages=[]) == []
    with pytest.raises(ValidationError, match="messages"):
        storage.save_messages(messages=message("m1"))  # type: ignore[arg-type]


RANGES: list[tuple[dict[str, Any], list[int]]] = [
    ({"start": at(1), "end": at(3)}, [1, 2, 3]),
    ({"start": at(1), "end": at(3), "start_exclusive": True}, [2, 3]),
    ({"start": at(1), "end": at(3), "end_exclusive": True}, [1, 2]),
    ({"start": at(1), "end": at(3), "start_exclusive": True, "end_exclusive": True}, [2]),
    ({"start": at(4)}, [4, 5, 6]),
    ({"end": at(1)}, [0, 1]),
    ({"end": at(1), "endExclusive": True}, [0]),
    ({"start": "2026-11-26T11:50:22.385Z"}, [5, 6]),
    ({"start": at(2.5), "end": at(2.6)}, []),
    ({}, [0, 1, 2, 3, 4, 5, 6]),
]


def test_date_range_bounds(storage: MastraStorage, seven: list[str]) -> None:
    for date_range, expected in RANGES:
        for direction in ("ASC", "DESC"):
            result = storage.list_messages(
                thread_id="thread-1", date_range=date_range, direction=direction
            )
            wanted = [seven[i] for i in expected]
            if direction == "DESC":
                wanted.reverse()
            assert ids(result.messages) == wanted, (date_range, direction)
            assert result.total == len(expected), date_range
    paged = storage.list_messages(
        thread_id="thread-1", date_range={"start": at(1)}, page=1, per_page=2
    )
    assert (ids(paged.messages), paged.total, paged.has_more) == (["m3", "m4"], 6, True)


def test_blank_thread_id_is_refused(storage: MastraStorage) -> None:
    make_thread(storage)
    storage.save_messages(messages=[message("m1")])
    for thread_id in ["", "   ", "\t\n", [], [""], ["thread-1", " "], None]:
        with pytest.raises(ValueError, match="thread_id must be a non-empty string"):
            storage.list_messages(thread_id=thread_id)  # type: ignore[arg-type]


def test_thread_id_as_a_list(storage: MastraStorage) -> None:
    for name in ("a", "b", "c"):
        make_thread(storage, name)
    storage.save_messages(
        messages=[
            message("a1", "a", created_at=at(0)),
            message("c1", "c", created_at=at(1)),
            message("b1", "b", created_at=at(2)),
            message("a2", "a", created_at=at(3)),
            message("b2", "b", created_at=at(4)),
        ]
    )
    both = storage.list_messages(thread_id=["a", "b"])
    assert ids(both.messages) == ["a1", "b1", "a2", "b2"]
    assert both.total == 4
    paged = storage.list_messages(thread_id=("b", "a"), direction="DESC", per_page=3)
    assert (ids(paged.messages), paged.has_more) == (["b2", "a2", "b1"], True)
    assert ids(storage.list_messages(thread_id=["c"]).messages) == ["c1"]
    assert storage.list_messages(thread_id=["a", "a"]).total == 2
    assert storage.list_messages(thread_id="unknown").total == 0


def test_odd_text_in_every_column_of_a_batch(storage: MastraStorage) -> None:
    # The batch travels as one array per column on PostgreSQL: each column's
    # text (NUL, the NUL escape's mark, non-ASCII, quotes, braces, commas,
    # empty) comes back as given, row by row, in a batch of several threads.
    odd = ["a\x00b", "\ue000", "é😀", '"{,}"\\', "NULL", " "]
    for n, text in enumerate(odd):
        make_thread(storage, f"t{n}{text}", f"r{n}{text}")
    batch = [
        message(
            f"m{n}{text}",
            f"t{n}{text}",
            text,
            created_at=at(n),
            type=f"v{text}",
            role="assistant" if n % 2 else "user",
        )
        for n, text in enumerate(odd)
    ]
    saved = storage.save_messages(messages=batch)
    assert [m.resource_id for m in saved] == [f"r{n}{text}" for n, text in enumerate(odd)]
    stored = storage.list_messages_by_id(message_ids=[m["id"] for m in batch])
    assert [(m.id, m.thread_id, m.content.content, m.type, m.created_at) for m in stored] == [
        (f"m{n}{text}", f"t{n}{text}", text, f"v{text}", at(n)) for n, text in enumerate(odd)
    ]


def test_postgresql_batch_placeholders() -> None:
    # psycopg gets the per-column arrays in its binary format (no per-item
    # quoting in Python, no array text for the server to parse); another
    # driver gets its usual placeholders. Values are bound either way.
    from sqlalchemy.dialects.postgresql import psycopg, psycopg2

    from mastra_storage.dialects import ROWS_PARAMETER, features, upsert_many
    from mastra_storage.repositories.messages import _UPDATED_ON_CONFLICT, TABLE

    row = dict.fromkeys(
        ("id", "thread_id", "content", "role", "type", "createdAt", "createdAtZ", "resourceId")
    )
    dialect = psycopg.dialect()
    [(stmt, _)] = upsert_many(
        features(dialect), dialect, TABLE, [row], keys=["id"], update_columns=_UPDATED_ON_CONFLICT
    )
    binary = str(stmt.compile(dialect=psycopg.dialect()))
    other = str(stmt.compile(dialect=psycopg2.dialect()))
    assert binary.count(f"%({ROWS_PARAMETER}_") == other.count(f"%({ROWS_PARAMETER}_") == 8
    assert f"%({ROWS_PARAMETER}_id)b::TEXT[]" in binary
    assert f"%({ROWS_PARAMETER}_createdAt)b::TIMESTAMP WITHOUT TIME ZONE[]" in binary
    assert ")s::" not in binary.split("unnest(")[1].split(") AS")[0]
    assert f"%({ROWS_PARAMETER}_id)s::TEXT[]" in other


@pytest.mark.parametrize(
    "assigned",
    ["+05:00 with microseconds", "naive", "text"],
)
def test_a_message_model_changed_after_it_was_made_is_checked_as_it_stands(
    storage: MastraStorage, assigned: str
) -> None:
    """pydantic checks a model when it is made, not an assignment after (nor
    one made with `model_construct`): a `MastraDBMessageInput` given to
    `save_messages` is checked again as it stands, on every path (on
    PostgreSQL one statement for dated messages). Was: PostgreSQL returned
    the +05:00 time as given (not UTC), and raised a plain ValueError /
    AttributeError for the others."""
    from mastra_storage import MastraDBMessageInput

    make_thread(storage)
    message_ = MastraDBMessageInput(thread_id="thread-1", role="user", content="hi")
    values: dict[str, Any] = {
        "+05:00 with microseconds": datetime(
            2024, 1, 1, 17, 0, 0, 123456, tzinfo=timezone(timedelta(hours=5))
        ),
        "naive": datetime(2024, 1, 1, 12, 0, 0),
        "text": "not a time",
    }
    message_.created_at = values[assigned]
    if assigned != "+05:00 with microseconds":
        with pytest.raises(ValidationError, match="created_at"):
            storage.save_messages(messages=[message_])
        assert storage.list_messages(thread_id="thread-1").messages == []
        return
    saved = storage.save_messages(messages=[message_])
    expected = datetime(2024, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert [(m.id, m.created_at) for m in saved] == [(message_.id, expected)]
    listed = storage.list_messages(thread_id="thread-1").messages
    assert [(m.id, m.created_at) for m in listed] == [(message_.id, expected)]


@pytest.mark.parametrize(
    "made", ["read back, changed in place", "given in a mapping", "model_construct"]
)
@pytest.mark.parametrize("held", ["NaN", "lone surrogate"])
def test_a_content_instance_is_checked_as_it_stands(
    storage: MastraStorage, made: str, held: str
) -> None:
    """pydantic takes a model instance in a field as it is: a
    `MessageContent` changed in place or made with `model_construct` was
    never checked, and a NaN or a lone surrogate in it reached the driver (a
    plain ValueError / UnicodeEncodeError, on every backend). It is checked
    as a mapping is: NaN is a `ValidationError` with nothing written, a lone
    surrogate becomes U+FFFD; saves and updates alike. (A fresh tester's
    find.)"""
    from mastra_storage import MessageContent

    make_thread(storage)
    [stored] = storage.save_messages(
        messages=[{"id": "m1", "thread_id": "thread-1", "role": "user", "content": "hi"}]
    )
    value: Any = float("nan") if held == "NaN" else "half \ud83d"
    part = {"type": "data", "value": value}
    given: Any
    if made == "read back, changed in place":
        given = storage.list_messages(thread_id="thread-1").messages[0]
        given.content.parts.append(part)
        content = given.content
    else:
        content = (
            MessageContent.model_construct(parts=[{"type": "text", "text": "hi"}, part])
            if made == "model_construct"
            else MessageContent.model_validate({"parts": [{"type": "text", "text": "hi"}]})
        )
        if made == "given in a mapping":
            content.parts.append(part)
        given = {"id": "m1", "thread_id": "thread-1", "role": "user", "content": content}
    update = {"id": "m1", "content": content}
    if held == "NaN":
        with pytest.raises(ValidationError, match="NaN"):
            storage.save_messages(messages=[given])
        with pytest.raises(ValidationError, match="NaN"):
            storage.update_messages(messages=[update])
        [kept] = storage.list_messages(thread_id="thread-1").messages
        assert kept.content.parts == stored.content.parts == [{"type": "text", "text": "hi"}]
        return
    expected = [{"type": "text", "text": "hi"}, {"type": "data", "value": "half \ufffd"}]
    [saved] = storage.save_messages(messages=[given])
    assert saved.content.parts == expected
    [updated] = storage.update_messages(messages=[update])
    assert updated.content.parts == expected
    [kept] = storage.list_messages(thread_id="thread-1").messages
    assert kept.content.parts == expected
    assert kept.created_at == stored.created_at


def test_a_callers_subclass_of_the_input_model_keeps_its_id(storage: MastraStorage) -> None:
    """A caller's own subclass of `MastraDBMessageInput`, dated and without
    an explicit id: saved under the id it was made with, and saving it again
    updates that row. Was (a fresh tester's find): a new id on each save."""
    from mastra_storage import MastraDBMessageInput

    class ChatMessage(MastraDBMessageInput):
        pass

    make_thread(storage)
    chat = ChatMessage(thread_id="thread-1", role="user", content="hi", created_at=at(0))
    assert ids(storage.save_messages(messages=[chat])) == [chat.id]
    assert ids(storage.save_messages(messages=[chat])) == [chat.id]
    assert ids(storage.list_messages(thread_id="thread-1").messages) == [chat.id]


def test_created_at_is_read_from_createdAt_first_on_every_path(storage: MastraStorage) -> None:
    """A mapping with `createdAt: None` and `created_at` set is undated (its
    validation reads `createdAt` first): saved with now, on every backend.
    Was (a fresh tester's find): PostgreSQL took it for dated, ran the save
    as one statement in autocommit, and raised NotFoundError after touching
    the thread."""
    make_thread(storage)
    before = storage.get_thread_by_id(thread_id="thread-1")
    assert before is not None
    start = utc_now()
    (saved,) = storage.save_messages(
        messages=[{**message("m1"), "createdAt": None, "created_at": at(0)}]
    )
    assert saved.created_at >= start - timedelta(seconds=1)
    assert ids(storage.list_messages(thread_id="thread-1").messages) == ["m1"]
