"""Every bad input is a `ValidationError` naming the field, with nothing
written; values Mastra's JSON turns into text are stored as Mastra stores them
(issue #10, items 1-6 and 8). Each case runs on every backend, sync and async."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from conftest import Backend
from sqlalchemy import func, select, text
from support import nested

from mastra_storage import MastraStorage, StorageError, ValidationError
from mastra_storage.orm import metadata
from mastra_storage.values import MARIADB_MAX_JSON_DEPTH, MAX_ID_LENGTH, MAX_JSON_DEPTH

CUT = "x\ud83dy"  # half an emoji
FIXED = "x\ufffdy"


def row_counts(storage: MastraStorage) -> dict[str, int]:
    with storage.engine.connect() as conn:
        return {
            table.name: conn.scalar(select(func.count()).select_from(table)) or 0
            for table in metadata.sorted_tables
        }


def assert_names(error: ValidationError, field: str) -> None:
    """The error names the field: its `field`, and its message starts with the path."""
    assert error.field, error
    assert str(error).startswith(field) or error.field.startswith(field), (field, error)


@pytest.fixture
def seeded(storage: MastraStorage) -> MastraStorage:
    storage.create_thread(resource_id="r", thread_id="t", metadata={"x": 1})
    storage.persist_workflow_snapshot(
        workflow_name="w", run_id="run", snapshot={"status": "running", "context": {}}
    )
    return storage


# -- values ---------------------------------------------------------------------------


def test_lone_surrogates_in_text_are_stored_as_the_replacement_character(
    storage: MastraStorage,
) -> None:
    thread = storage.create_thread(
        resource_id="r", thread_id="t", title=CUT, metadata={"k": CUT, CUT: [CUT]}
    )
    assert thread.title == FIXED and thread.metadata == {"k": FIXED, FIXED: [FIXED]}
    again = storage.get_thread_by_id(thread_id="t")
    assert again is not None and again.model_dump() == thread.model_dump()
    saved = storage.save_messages(
        messages=[{"id": "m", "thread_id": "t", "role": "user", "content": CUT}]
    )
    assert saved[0].content.content == FIXED
    assert storage.list_messages_by_id(message_ids=["m"])[0].content.parts == [
        {"type": "text", "text": FIXED}
    ]
    storage.update_thread(id="t", title=CUT, metadata={"more": CUT})
    resource = storage.update_resource(resource_id="r", working_memory=CUT, metadata={"k": CUT})
    assert resource.working_memory == FIXED and resource.metadata == {"k": FIXED}
    storage.persist_workflow_snapshot(workflow_name="w", run_id="run", snapshot={"status": CUT})
    assert storage.load_workflow_snapshot(workflow_name="w", run_id="run") == {"status": FIXED}
    # Reads that filter on the same text find what was stored.
    assert storage.list_workflow_runs(status=CUT).total == 1
    assert [t.id for t in storage.list_threads(metadata={"k": CUT}).threads] == ["t"]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.create_thread(resource_id="r", thread_id=CUT),
        lambda s: s.create_thread(resource_id=CUT),
        lambda s: s.get_thread_by_id(thread_id=CUT),
        lambda s: s.save_messages(
            messages=[{"id": CUT, "thread_id": "t", "role": "user", "content": "c"}]
        ),
        lambda s: s.persist_workflow_snapshot(workflow_name="w", run_id=CUT, snapshot={}),
        lambda s: s.list_messages(thread_id=CUT),
    ],
)
def test_a_lone_surrogate_in_an_id_is_refused(seeded: MastraStorage, call: Any) -> None:
    before = row_counts(seeded)
    with pytest.raises(ValidationError, match="surrogate"):
        call(seeded)
    assert row_counts(seeded) == before


NOT_JSON = [
    pytest.param(float("nan"), id="nan"),
    pytest.param(float("inf"), id="inf"),
    pytest.param(-float("inf"), id="-inf"),
    pytest.param({1, 2}, id="set"),
    pytest.param(b"bytes", id="bytes"),
    pytest.param(object(), id="object"),
    pytest.param(Decimal("1.5"), id="decimal"),
    pytest.param({1: "int key"}, id="int-key"),
    pytest.param({("a",): "tuple key"}, id="tuple-key"),
    pytest.param(datetime(2026, 1, 1), id="naive-datetime"),
    pytest.param(nested(MAX_JSON_DEPTH + 1), id="too-deep"),
    pytest.param(nested(10_000), id="10000-deep"),
    # Longer than Python writes as text (the encoder raised a bare ValueError,
    # or SQLite's path a ValidationError naming no field: a fresh tester's find).
    pytest.param(10**4300, id="4301-digit-int"),
    pytest.param(-(10**4300), id="-4301-digit-int"),
]

JSON_FIELDS: list[Any] = [
    ("metadata", lambda s, v: s.create_thread(resource_id="r", thread_id="n", metadata={"v": v})),
    (
        "metadata",
        lambda s, v: s.save_thread(thread={"id": "n", "resource_id": "r", "metadata": {"v": v}}),
    ),
    ("metadata", lambda s, v: s.update_thread(id="t", metadata={"v": v})),
    ("metadata", lambda s, v: s.list_threads(metadata={"v": v})),
    (
        "content",
        lambda s, v: s.save_messages(
            messages=[
                {"id": "m", "thread_id": "t", "role": "user", "content": {"metadata": {"v": v}}}
            ]
        ),
    ),
    (
        "content",
        lambda s, v: s.save_messages(
            messages=[
                {"id": "m", "thread_id": "t", "role": "user", "content": [{"type": "x", "v": v}]}
            ]
        ),
    ),
    ("content", lambda s, v: s.update_messages(messages=[{"id": "m0", "content": {"other": v}}])),
    ("metadata", lambda s, v: s.update_resource(resource_id="r2", metadata={"v": v})),
    ("metadata", lambda s, v: s.save_resource(resource={"id": "r2", "metadata": {"v": v}})),
    (
        "snapshot",
        lambda s, v: s.persist_workflow_snapshot(workflow_name="w", run_id="n", snapshot={"v": v}),
    ),
    (
        "result",
        lambda s, v: s.update_workflow_results(
            workflow_name="w", run_id="run", step_id="s", result={"v": v}
        ),
    ),
    (
        "request_context",
        lambda s, v: s.update_workflow_results(
            workflow_name="w", run_id="run", step_id="s", result={}, request_context={"v": v}
        ),
    ),
    ("metadata", lambda s, v: s.update_thread_metadata(id="t", update=lambda m: {**m, "v": v})),
    ("opts", lambda s, v: s.update_workflow_state(workflow_name="w", run_id="run", opts={"v": v})),
    (
        "result",
        lambda s, v: s.save_eval(
            eval={
                "input": "i",
                "output": "o",
                "result": {"v": v},
                "agent_name": "a",
                "metric_name": "m",
            }
        ),
    ),
]


@pytest.mark.parametrize(
    "field,call", JSON_FIELDS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(JSON_FIELDS)]
)
def test_a_value_json_cannot_hold_is_refused_naming_the_field(
    seeded: MastraStorage, field: str, call: Any
) -> None:
    seeded.save_messages(messages=[{"id": "m0", "thread_id": "t", "role": "user", "content": "c"}])
    before = row_counts(seeded)
    snapshot = seeded.load_workflow_snapshot(workflow_name="w", run_id="run")
    for param in NOT_JSON:
        with pytest.raises(ValidationError) as caught:
            call(seeded, param.values[0])
        assert_names(caught.value, field)
    assert row_counts(seeded) == before
    assert seeded.load_workflow_snapshot(workflow_name="w", run_id="run") == snapshot
    # The table stays readable for everyone (no invalid JSON stored).
    assert seeded.list_threads(metadata={"x": 1}).total == 1


def test_an_aware_datetime_inside_json_is_stored_as_mastra_iso_text(storage: MastraStorage) -> None:
    at = datetime(2026, 11, 26, 11, 50, 17, 385_999, tzinfo=timezone.utc)
    thread = storage.create_thread(resource_id="r", thread_id="t", metadata={"at": at, "l": (1, 2)})
    assert thread.metadata == {"at": "2026-11-26T11:50:17.385Z", "l": [1, 2]}
    assert storage.get_thread_by_id(thread_id="t").metadata == thread.metadata  # type: ignore[union-attr]
    storage.persist_workflow_snapshot(workflow_name="w", run_id="r", snapshot={"at": at})
    assert storage.load_workflow_snapshot(workflow_name="w", run_id="r") == {
        "at": "2026-11-26T11:50:17.385Z"
    }


def test_json_up_to_the_depth_limit_round_trips(storage: MastraStorage, backend: Backend) -> None:
    deep = nested(MAX_JSON_DEPTH - 1)
    if backend.is_mysql:  # MariaDB's JSON: JSON_DEPTH at most 32 (the leaf counts)
        deep = nested(MARIADB_MAX_JSON_DEPTH - 2)
        with pytest.raises(ValidationError, match="MariaDB"):
            storage.create_thread(resource_id="r", thread_id="t", metadata={"d": {"e": deep}})
        assert storage.get_thread_by_id(thread_id="t") is None
    storage.create_thread(resource_id="r", thread_id="t", metadata={"d": deep})
    assert storage.get_thread_by_id(thread_id="t").metadata == {"d": deep}  # type: ignore[union-attr]


# -- argument types and ranges ----------------------------------------------------------

DEEP: list[Any] = []
for _ in range(5000):
    DEEP = [DEEP]

BAD_ARGUMENTS: list[Any] = [
    ("per_page", lambda s: s.list_threads(per_page="10")),
    ("page", lambda s: s.list_threads(page=1.5)),
    ("page", lambda s: s.list_threads(page=True)),
    ("per_page", lambda s: s.list_threads(per_page=2**31)),
    ("per_page", lambda s: s.list_threads(per_page=2**63)),
    ("page", lambda s: s.list_threads(page=2**63, per_page=10)),
    ("order_by", lambda s: s.list_threads(order_by=["createdAt"])),
    ("direction", lambda s: s.list_threads(direction=None)),
    ("per_page", lambda s: s.list_messages(thread_id="t", per_page=10**19)),
    ("count_total", lambda s: s.list_messages(thread_id="t", count_total="no")),
    (
        "include",
        lambda s: s.list_messages(
            thread_id="t", include=[{"id": "m", "with_previous_messages": 10**19}]
        ),
    ),
    (
        "include",
        lambda s: s.list_messages(thread_id="t", include=[{"id": "m", "with_next_messages": "3"}]),
    ),
    (
        "include",
        lambda s: s.list_messages(thread_id="t", include=[{"id": "m", "with_next_messages": 1.5}]),
    ),
    ("page", lambda s: s.list_messages_by_resource_id(resource_id="r", page="0")),
    ("from_date", lambda s: s.list_workflow_runs(from_date="2020-01-01")),
    ("to_date", lambda s: s.list_workflow_runs(to_date=1_700_000_000)),
    ("from_date", lambda s: s.list_workflow_runs(from_date=datetime(2020, 1, 1))),
    ("per_page", lambda s: s.list_workflow_runs(page=0, per_page=2**40)),
    ("per_page", lambda s: s.get_evals(per_page=-1)),
    ("page", lambda s: s.get_evals(page=[0])),
    ("date_range", lambda s: s.get_evals(date_range={"start": "yesterday"})),
    (
        "fencing_token",
        lambda s: s.persist_workflow_snapshot(
            workflow_name="w", run_id="run", snapshot={}, fencing_token=2**64
        ),
    ),
    (
        "ttl_ms",
        lambda s: s.try_acquire_workflow_run_lock(workflow_name="w", run_id="run", ttl_ms=2**70),
    ),
    ("status", lambda s: s.list_workflow_runs(status=3)),
    ("message_limit", lambda s: s.clone_thread(source_thread_id="t", message_limit=2**63)),
    ("message_limit", lambda s: s.clone_thread(source_thread_id="t", message_limit="2")),
    ("older_than", lambda s: s.prune(older_than="99999999999d", dry_run=True)),
    ("older_than", lambda s: s.prune(older_than=timedelta.max, dry_run=True)),
    # A huge or deeply nested value is summarized in the message, never repr'd whole.
    (
        "ttl_ms",
        lambda s: s.try_acquire_workflow_run_lock(workflow_name="w", run_id="x", ttl_ms=DEEP),
    ),
    ("order_by", lambda s: s.list_threads(order_by=DEEP)),
    ("direction", lambda s: s.list_threads(direction=DEEP)),
    ("per_page", lambda s: s.list_threads(per_page=DEEP)),
    ("older_than", lambda s: s.prune(older_than=DEEP, dry_run=True)),
    ("batch_size", lambda s: s.prune(older_than="1d", batch_size=DEEP, dry_run=True)),
    # Wrong container or scalar types are refused, not coerced.
    ("thread_id", lambda s: s.list_messages(thread_id={"t": 1})),
    ("thread_id", lambda s: s.list_messages(thread_id=b"t")),
    ("message_ids", lambda s: s.delete_messages(message_ids={"m0": 1})),
    (
        "messages",
        lambda s: s.save_messages(
            messages=[{"id": b"ab", "thread_id": "t", "role": "user", "content": "c"}]
        ),
    ),
    ("messages", lambda s: s.update_messages(messages=[{"id": b"m0", "content": "d"}])),
]


@pytest.mark.parametrize(
    "field,call", BAD_ARGUMENTS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_ARGUMENTS)]
)
def test_a_wrong_type_or_out_of_range_argument_is_refused(
    seeded: MastraStorage, field: str, call: Any
) -> None:
    before = row_counts(seeded)
    with pytest.raises(ValidationError) as caught:
        call(seeded)
    assert_names(caught.value, field)
    assert row_counts(seeded) == before


# -- ids --------------------------------------------------------------------------------

LONG = "i" * (MAX_ID_LENGTH + 1)

LONG_IDS: list[Any] = [
    ("thread", lambda s: s.create_thread(resource_id="r", thread_id=LONG)),
    ("resource_id", lambda s: s.create_thread(resource_id=LONG)),
    (
        "messages",
        lambda s: s.save_messages(
            messages=[{"id": LONG, "thread_id": "t", "role": "user", "content": "c"}]
        ),
    ),
    ("resource_id", lambda s: s.update_resource(resource_id=LONG, working_memory="w")),
    ("run_id", lambda s: s.persist_workflow_snapshot(workflow_name="w", run_id=LONG, snapshot={})),
    (
        "workflow_name",
        lambda s: s.persist_workflow_snapshot(workflow_name=LONG, run_id="x", snapshot={}),
    ),
    ("thread_id", lambda s: s.get_thread_by_id(thread_id=LONG)),
    ("message_ids", lambda s: s.delete_messages(message_ids=[LONG])),
    ("run_id", lambda s: s.try_acquire_workflow_run_lock(workflow_name="w", run_id=LONG)),
]


@pytest.mark.parametrize(
    "field,call", LONG_IDS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(LONG_IDS)]
)
def test_an_id_longer_than_the_limit_is_refused_on_every_backend(
    seeded: MastraStorage, field: str, call: Any
) -> None:
    before = row_counts(seeded)
    with pytest.raises(ValidationError, match=str(MAX_ID_LENGTH)) as caught:
        call(seeded)
    assert_names(caught.value, field)
    assert row_counts(seeded) == before


def test_ids_of_the_maximum_length_work_even_in_the_widest_encoding(storage: MastraStorage) -> None:
    # U+E000 is doubled by PostgreSQL's NUL escape: the widest stored form.
    wide = "\ue000" * MAX_ID_LENGTH
    storage.create_thread(resource_id=wide, thread_id=wide)
    storage.save_messages(
        messages=[{"id": wide, "thread_id": wide, "role": "user", "content": "c"}]
    )
    storage.persist_workflow_snapshot(
        workflow_name=wide, run_id=wide, snapshot={}, resource_id=wide
    )
    assert storage.get_workflow_run_by_id(run_id=wide, workflow_name=wide) is not None
    assert storage.try_acquire_workflow_run_lock(workflow_name=wide, run_id=wide)
    storage.release_workflow_run_lock(workflow_name=wide, run_id=wide)
    assert [m.id for m in storage.list_messages(thread_id=wide).messages] == [wide]


# -- errors ------------------------------------------------------------------------------


def test_database_errors_carry_no_sql_and_no_parameter_values(storage: MastraStorage) -> None:
    storage.create_thread(resource_id="r", thread_id="t")
    with storage.engine.begin() as conn:
        conn.execute(text("ALTER TABLE mastra_messages RENAME TO mastra_messages_away"))
    secret = "secret-thread-id-4242"
    try:
        for call in (
            lambda: storage.list_messages(thread_id=secret),
            lambda: storage.save_messages(
                messages=[{"id": secret, "thread_id": "t", "role": "user", "content": secret}]
            ),
        ):
            with pytest.raises(StorageError) as caught:
                call()
            message = str(caught.value)
            for leaked in ("SELECT", "INSERT", "FROM", "[SQL", "[parameters", secret):
                assert leaked not in message, message
            assert "mastra_messages" in message  # but it says what is wrong
            assert caught.value.__cause__ is not None
    finally:
        with storage.engine.begin() as conn:
            conn.execute(text("ALTER TABLE mastra_messages_away RENAME TO mastra_messages"))


@pytest.mark.parametrize("backend", ["mysql", "async-mysql"], indirect=True)
@pytest.mark.parametrize("what", ["thread-title", "thread-metadata", "message-text", "resource"])
def test_a_value_over_max_allowed_packet_is_a_validation_error_with_nothing_written(
    backend: Backend, what: str
) -> None:
    """MySQL/MariaDB: a statement longer than the server's max_allowed_packet
    made the server close the connection, and the caller got "connection
    lost ... nothing was written; it is safe to retry", which failed the same
    way every time. It is now refused before it is sent: ValidationError
    naming the limit, nothing written, and the storage's next call works."""
    from support import make_thread, message

    storage = backend.make()
    storage.init()
    make_thread(storage, "t")
    with storage.engine.connect() as conn:
        limit = int(conn.execute(text("SELECT @@max_allowed_packet")).scalar_one())
    huge = "x" * (limit + 1)
    call = {
        "thread-title": lambda: make_thread(storage, "t2", title=huge),
        "thread-metadata": lambda: storage.update_thread(id="t", title="t", metadata={"k": huge}),
        "message-text": lambda: storage.save_messages(messages=[message("m1", "t", huge)]),
        "resource": lambda: storage.update_resource(resource_id="r", working_memory=huge),
    }[what]
    with pytest.raises(ValidationError, match="max_allowed_packet"):
        call()
    assert storage.get_thread_by_id(thread_id="t2") is None
    assert storage.get_thread_by_id(thread_id="t").metadata in ({}, None)
    assert storage.list_messages(thread_id="t").total == 0
    assert storage.get_resource_by_id(resource_id="r") is None
    storage.save_messages(messages=[message("m1", "t", "small")])
    assert storage.list_messages(thread_id="t").total == 1


# -- a batch of messages: one bad message anywhere refuses the whole batch ------------


def _batch_message(j: int) -> dict[str, Any]:
    """A message as Mastra's own benchmark writes them (the shortcut path)."""
    return {
        "id": f"b{j}",
        "thread_id": "t",
        "resource_id": "r",
        "role": "assistant" if j % 2 else "user",
        "content": {"format": 2, "parts": [{"type": "text", "text": f"message {j} é"}]},
        "created_at": datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=j),
    }


LATE_FAULTS: list[Any] = [
    pytest.param(lambda m: m["content"]["parts"][0].update(v=float("nan")), "content", id="nan"),
    pytest.param(lambda m: m["content"]["parts"][0].update({1: "x"}), "content", id="int-key"),
    pytest.param(lambda m: m["content"].update(metadata={"d": nested(200)}), "content", id="deep"),
    pytest.param(lambda m: m["content"].update(parts=[{"x": {1, 2}}]), "content", id="set"),
    pytest.param(lambda m: m.update(id="x\ud800"), "id", id="surrogate-id"),
    pytest.param(lambda m: m.update(thread_id=b"t"), "thread_id", id="bytes-id"),
    pytest.param(lambda m: m.update(id="x" * (MAX_ID_LENGTH + 1)), "id", id="long-id"),
    pytest.param(lambda m: m.update(thread_id="   "), "messages[57].thread_id", id="blank"),
    pytest.param(lambda m: m.update(role="robot"), "role", id="role"),
    pytest.param(lambda m: m.update(created_at=datetime(2026, 1, 1)), "created_at", id="naive"),
    pytest.param(lambda m: m["content"].update(format="two"), "content", id="format"),
    pytest.param(lambda m: m["content"].update(parts=["text"]), "content", id="part-not-object"),
]


@pytest.mark.parametrize("fault,field", LATE_FAULTS)
def test_one_bad_message_late_in_a_batch_writes_nothing(
    seeded: MastraStorage, fault: Any, field: str
) -> None:
    """Validation runs over the whole batch before anything is written: the
    error names the field, and not one message of the batch is stored."""
    before = row_counts(seeded)
    touched = thread_updated_at(seeded)
    batch = [_batch_message(j) for j in range(100)]
    fault(batch[57])
    with pytest.raises(ValidationError) as caught:
        seeded.save_messages(messages=batch)
    assert_names(caught.value, field)
    assert "messages[57]" in str(caught.value)
    assert row_counts(seeded) == before
    assert thread_updated_at(seeded) == touched  # the thread was not touched either


def thread_updated_at(storage: MastraStorage) -> datetime:
    thread = storage.get_thread_by_id(thread_id="t")
    assert thread is not None
    return thread.updated_at


def test_a_valid_batch_stores_what_the_shortcuts_accept_exactly(seeded: MastraStorage) -> None:
    """Values the plain-data shortcuts take and values they leave to the full
    checks (str and int subclasses, tuples, aware datetimes inside content,
    lone surrogates in text) are stored as the full checks store them."""

    class Text(str):
        pass

    class Number(int):
        pass

    batch = [_batch_message(j) for j in range(3)]
    batch[0]["content"]["parts"][0]["text"] = Text("sub")
    batch[1]["content"]["parts"] = ({"type": "text", "text": "t", "n": Number(7)},)
    batch[2]["content"]["metadata"] = {"at": datetime(2026, 1, 1, tzinfo=timezone.utc), "s": CUT}
    saved = seeded.save_messages(messages=batch)
    read = seeded.list_messages(thread_id="t", per_page=None).messages
    assert [m.content.model_dump() for m in read] == [m.content.model_dump() for m in saved]
    assert type(read[0].content.parts[0]["text"]) is str
    assert read[0].content.parts[0]["text"] == "sub"
    assert read[1].content.parts == [{"type": "text", "text": "t", "n": 7}]
    assert read[2].content.metadata == {"at": "2026-01-01T00:00:00.000Z", "s": FIXED}


# -- found by a tester's attack on the save path (pre-existing) ------------------------


def _message(message_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "thread_id": "t",
        "resource_id": "r",
        "role": "user",
        "content": "x",
        **fields,
    }


@pytest.mark.parametrize("blank", [" ", "\t\n"])
def test_a_whitespace_only_message_id_is_refused(storage: MastraStorage, blank: str) -> None:
    """A lookup by such an id is refused, so a message saved under one could
    never be fetched by it."""
    storage.save_thread(thread={"id": "t", "resource_id": "r"})
    with pytest.raises(ValidationError, match="whitespace") as caught:
        storage.save_messages(messages=[_message(blank)])
    assert caught.value.field == "id" and "messages[0].id" in str(caught.value)
    assert storage.list_messages(thread_id="t").messages == []


@pytest.mark.parametrize(
    "moment",
    [
        datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1, 1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
    ],
    ids=["after-9999", "before-year-1"],
)
def test_an_aware_datetime_beyond_utcs_range_is_a_validation_error(
    storage: MastraStorage, moment: datetime
) -> None:
    """It has no UTC form: refused like any other bad value, not an OverflowError."""
    storage.save_thread(thread={"id": "t", "resource_id": "r"})
    with pytest.raises(ValidationError, match="outside"):
        storage.save_messages(messages=[_message("m", created_at=moment)])
    with pytest.raises(ValidationError, match="outside") as caught:
        storage.save_thread(thread={"id": "u", "resource_id": "r", "metadata": {"d": moment}})
    assert caught.value.field == "metadata"
    assert storage.list_messages(thread_id="t").messages == []
    assert storage.get_thread_by_id(thread_id="u") is None


def test_a_message_at_the_last_millisecond_leaves_its_thread_writable(
    storage: MastraStorage,
) -> None:
    storage.save_thread(thread={"id": "t", "resource_id": "r"})
    last = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc)
    storage.save_messages(messages=[_message("end", created_at=last)])
    storage.save_messages(
        messages=[_message("dated", created_at=datetime(2021, 1, 1, tzinfo=timezone.utc))]
    )
    (undated,) = storage.save_messages(messages=[_message("undated")])
    assert undated.created_at == last  # no later millisecond exists: the id breaks the tie
    ids = [m.id for m in storage.list_messages(thread_id="t", per_page=None).messages]
    assert ids == ["dated", "end", "undated"]


def test_year_one_round_trips_and_is_written_as_javascript_writes_it(
    storage: MastraStorage,
) -> None:
    first = datetime(1, 1, 1, tzinfo=timezone.utc)
    storage.save_thread(thread={"id": "t", "resource_id": "r", "metadata": {"d": first}})
    (saved,) = storage.save_messages(messages=[_message("m", created_at=first)])
    assert saved.created_at == first
    assert storage.list_messages_by_id(message_ids=["m"])[0].created_at == first
    thread = storage.get_thread_by_id(thread_id="t")
    assert thread is not None and thread.metadata == {"d": "0001-01-01T00:00:00.000Z"}


def test_a_text_whose_isascii_lies_still_has_its_surrogates_replaced(
    storage: MastraStorage,
) -> None:
    class Liar(str):
        def isascii(self) -> bool:
            return True

    storage.save_thread(thread={"id": "t", "resource_id": "r", "metadata": {"a": Liar("x\ud800")}})
    thread = storage.get_thread_by_id(thread_id="t")
    assert thread is not None and thread.metadata == {"a": "x\ufffd"}
