"""Values: what goes in comes back exactly, on every backend, in Mastra's formats."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from support import (
    BASE,
    assert_all_utc,
    at,
    make_thread,
    message,
    nested,
    raw_one,
    row_counts,
    same_json,
)

from mastra_storage import MastraStorage, ValidationError, values
from mastra_storage.orm.types import dumps

TRICKY = {
    "unicode": "héllo wörld — 中文 العربية ñ ß Ω",
    "quotes": 'it\'s "quoted" `ticked` \'\' ""',
    "backslashes": "C:\\path\\to\\file \\n \\u0000 \\\\ \\",
    "emoji": "🎉 👩‍👩‍👧‍👦 🏳️‍🌈 𝄞",
    "nul": "a\x00b\x00\x00c",
    "only-nul": "\x00",
    "marker": "\ue000 \ue0000 \ue000\ue000 0\ue000",
    "marker-and-nul": "\ue000\x00\ue0000\x00\ue000\ue000\x000",
    "control": "tab\tnew\nline\rcr\x1b\x7f\x01",
    "sql-and-json": '\'; DROP TABLE mastra_threads; -- {"format": 2} $1 %s ?',
}


@pytest.mark.parametrize("value", TRICKY.values(), ids=TRICKY.keys())
def test_tricky_text_round_trips_everywhere(storage: MastraStorage, value: str) -> None:
    thread_id, resource_id = f"thread {value}", f"resource {value}"
    meta = {value: value, "list": [value, {value: [value]}]}

    thread = storage.create_thread(
        resource_id=resource_id, title=value, metadata=meta, thread_id=thread_id
    )
    got = storage.get_thread_by_id(thread_id=thread_id, resource_id=resource_id)
    assert got == thread
    assert got is not None and (got.id, got.resource_id, got.title, got.metadata) == (
        thread_id,
        resource_id,
        value,
        meta,
    )
    assert storage.list_threads(resource_id=resource_id).threads == [thread]
    updated = storage.update_thread(id=thread_id, title=value + value, metadata={value: "new"})
    assert (updated.title, updated.metadata) == (value + value, {**meta, value: "new"})

    content = {
        "format": 2,
        "parts": [{"type": "text", "text": value}],
        "content": value,
        "metadata": {value: value},
        value: [value],
    }
    saved = storage.save_messages(
        messages=[{"id": f"message {value}", "thread_id": thread_id, "role": "user",
                   "content": content}]
    )  # fmt: skip
    (listed,) = storage.list_messages(thread_id=thread_id).messages
    assert listed == saved[0]
    assert (listed.id, listed.thread_id, listed.resource_id) == (
        f"message {value}",
        thread_id,
        resource_id,
    )
    assert listed.content.model_dump() == content
    plain = storage.save_messages(messages=[message("plain", thread_id, value)])
    assert storage.list_messages(thread_id=[thread_id], direction="DESC").messages[0] == plain[0]
    assert plain[0].content.parts == [{"type": "text", "text": value}]

    resource = storage.update_resource(resource_id=resource_id, working_memory=value, metadata=meta)
    assert storage.get_resource_by_id(resource_id=resource_id) == resource
    assert (resource.id, resource.working_memory, resource.metadata) == (resource_id, value, meta)

    snapshot = {"runId": value, "status": "running", "context": {value: {"output": value}}}
    storage.persist_workflow_snapshot(
        workflow_name=f"workflow {value}", run_id=value, snapshot=snapshot
    )
    loaded = storage.load_workflow_snapshot(workflow_name=f"workflow {value}", run_id=value)
    assert loaded == snapshot

    row = storage.save_eval(
        eval={"input": value, "output": value, "result": {value: value}, "agent_name": value,
              "metric_name": value, "instructions": value, "test_info": {"testPath": value},
              "global_run_id": value, "run_id": value}
    )  # fmt: skip
    assert storage.get_evals_by_agent_name(agent_name=value, type="test") == [row]
    assert row.result == {value: value}


def test_large_values_round_trip(storage: MastraStorage) -> None:
    megabyte = "0123456789abcdef" * 65_536
    wide = "é€🎉\x00\ue000" * 40_000  # multi-byte characters and the NUL escape
    thread = make_thread(storage, metadata={"blob": megabyte, "wide": wide})
    assert storage.get_thread_by_id(thread_id=thread.id) == thread
    assert thread.metadata == {"blob": megabyte, "wide": wide}

    storage.save_messages(messages=[message("big", text_=megabyte), message("wide", text_=wide)])
    by_id = {m.id: m for m in storage.list_messages(thread_id=thread.id).messages}
    assert by_id["big"].content.content == megabyte
    assert by_id["big"].content.parts == [{"type": "text", "text": megabyte}]
    assert by_id["wide"].content.content == wide

    storage.update_resource(resource_id="user-1", working_memory=wide, metadata={"m": megabyte})
    resource = storage.get_resource_by_id(resource_id="user-1")
    assert resource is not None and (resource.working_memory, resource.metadata) == (
        wide,
        {"m": megabyte},
    )

    snapshot = {"context": {f"step-{i}": {"output": megabyte[:65_536]} for i in range(16)}}
    snapshot["wide"] = {"output": wide}
    storage.persist_workflow_snapshot(workflow_name="w", run_id="r", snapshot=snapshot)
    assert storage.load_workflow_snapshot(workflow_name="w", run_id="r") == snapshot


NESTED: dict[str, Any] = {
    "int": 1,
    "zero": 0,
    "negative": -42,
    "beyond_double": 2**53 + 1,
    "big": 2**70,
    "float": 0.1,
    "negative_float": -2.5,
    "tiny": 1e-7,
    "pi": 3.141592653589793,
    "whole_float": 1.0,
    "true": True,
    "false": False,
    "null": None,
    "empty_list": [],
    "empty_object": {},
    "empty_text": "",
    "mixed": [1, "two", None, 3.5, True, False, [[]], {"x": None}],
    "deep": {"a": {"b": {"c": [{"d": [1, {"e": False, "f": None, "g": 0.5}]}]}}},
}


def test_nested_json_round_trips_with_its_types(storage: MastraStorage) -> None:
    make_thread(storage, metadata=NESTED)
    thread = storage.get_thread_by_id(thread_id="thread-1")
    assert thread is not None and same_json(thread.metadata, NESTED)

    content = {"format": 2, "parts": [{"type": "data", "data": NESTED}], "metadata": NESTED}
    storage.save_messages(messages=[{**message("m1"), "content": {**content, "extra": NESTED}}])
    (stored,) = storage.list_messages(thread_id="thread-1").messages
    assert same_json(stored.content.to_stored(), {**content, "extra": NESTED})

    storage.update_resource(resource_id="r", metadata=NESTED)
    resource = storage.get_resource_by_id(resource_id="r")
    assert resource is not None and same_json(resource.metadata, NESTED)

    storage.persist_workflow_snapshot(workflow_name="w", run_id="r", snapshot=NESTED)
    assert same_json(storage.load_workflow_snapshot(workflow_name="w", run_id="r"), NESTED)

    storage.save_eval(
        eval={"input": "i", "output": "o", "result": NESTED, "agent_name": "a",
              "metric_name": "m", "test_info": {**NESTED, "testPath": "p"}}
    )  # fmt: skip
    (row,) = storage.get_evals_by_agent_name(agent_name="a", type="test")
    assert same_json(row.result, NESTED)
    assert same_json(row.test_info, {**NESTED, "testPath": "p"})


def test_same_json_tells_types_apart() -> None:
    assert same_json({"a": [1, None]}, {"a": [1, None]})
    assert not same_json({"a": True}, {"a": 1})
    assert not same_json({"a": 1.0}, {"a": 1})


# -- the raw formats Mastra reads ----------------------------------------------------

ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
GIVEN = datetime(2026, 11, 26, 13, 50, 17, 385999, tzinfo=timezone(timedelta(hours=2)))
"""`2026-11-26T11:50:17.385Z` (BASE), given with an offset and microseconds."""

# table -> [(timestamp column, the value `write_everything` puts there)]
TIMESTAMPS: dict[str, list[tuple[str, datetime]]] = {
    "mastra_threads": [("createdAt", BASE), ("updatedAt", at(1))],
    "mastra_messages": [("createdAt", at(2))],
    "mastra_resources": [("createdAt", at(3)), ("updatedAt", at(4))],
    "mastra_evals": [("created_at", at(5)), ("createdAt", at(5))],
}


def write_everything(storage: MastraStorage, session: Session) -> None:
    """One row in each table, with known timestamps given in a +02:00 offset."""
    thread = {"id": "t1", "resource_id": "r1", "created_at": GIVEN,
              "updated_at": GIVEN + timedelta(seconds=1), "metadata": {"k": "v"}}  # fmt: skip
    storage.save_thread(thread=thread, session=session)
    storage.save_messages(
        messages=[message("m1", "t1", "Hello", created_at=GIVEN + timedelta(seconds=2))],
        session=session,
    )
    storage.save_thread(thread=thread, session=session)  # the message moved updatedAt
    storage.save_resource(
        resource={"id": "r1", "created_at": GIVEN + timedelta(seconds=3),
                  "updated_at": GIVEN + timedelta(seconds=4)},
        session=session,
    )  # fmt: skip
    storage.save_eval(
        eval={"input": "i", "output": "o", "result": {}, "agent_name": "a", "metric_name": "m",
              "created_at": GIVEN + timedelta(seconds=5)},
        session=session,
    )  # fmt: skip
    storage.persist_workflow_snapshot(workflow_name="w", run_id="r", snapshot={}, session=session)


def test_stored_timestamps_are_in_mastras_formats(storage: MastraStorage) -> None:
    """SQLite: ISO text with milliseconds and Z. PostgreSQL: `timestamp` holding
    UTC plus its `"<col>Z"` timestamptz twin, equal to it. MySQL: DATETIME(3)
    holding UTC, whatever the session's time zone."""
    is_postgres = storage.engine.dialect.name == "postgresql"
    is_mysql = storage.engine.dialect.name == "mysql"
    with storage.session_scope() as session:
        if is_postgres:
            # Mastra's upstream bug shifted the twins by the session's offset.
            session.execute(text("SET LOCAL TIME ZONE 'America/St_Johns'"))
        if is_mysql:  # a DATETIME does not move with it
            session.execute(text("SET time_zone = '-03:30'"))
        write_everything(storage, session)
    everything = [*TIMESTAMPS.items(), ("mastra_workflow_snapshot", [])]
    for table, expected in everything:
        columns = [column for column, _ in expected] or ["createdAt", "updatedAt"]
        for column in columns:
            if is_mysql:
                (raw,) = raw_one(storage, f"SELECT `{column}` FROM {table}")
                assert isinstance(raw, datetime) and raw.tzinfo is None, (table, column)
                assert raw.microsecond % 1000 == 0, (table, column)  # milliseconds
                stored = raw.replace(tzinfo=timezone.utc)
            elif is_postgres:
                plain, twin, same = raw_one(
                    storage,
                    f'SELECT "{column}", "{column}Z", '
                    f'"{column}Z" = ("{column}" AT TIME ZONE \'UTC\') FROM {table}',
                )
                assert plain.tzinfo is None, (table, column)  # without time zone
                assert plain.replace(tzinfo=timezone.utc) == twin, (table, column)
                assert same is True, (table, column)
                stored = twin
            else:
                (raw,) = raw_one(storage, f'SELECT "{column}" FROM {table}')
                assert isinstance(raw, str) and ISO_MS_Z.match(raw), (table, column, raw)
                stored = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if expected:
                assert stored == dict(expected)[column], (table, column)
    if is_mysql:
        assert raw_one(storage, "SELECT createdAt FROM mastra_threads")[0] == datetime(
            2026, 11, 26, 11, 50, 17, 385000
        )
        return
    if not is_postgres:
        assert raw_one(storage, 'SELECT "createdAt" FROM mastra_threads')[0] == (
            "2026-11-26T11:50:17.385Z"
        )
        assert json.loads(raw_one(storage, "SELECT metadata FROM mastra_threads")[0]) == {"k": "v"}
        info = raw_rows(storage, "PRAGMA table_info(mastra_threads)")
        assert {row[1] for row in info} == {
            "id", "resourceId", "title", "metadata", "createdAt", "updatedAt"
        }  # fmt: skip
        return
    # Later writes keep the twins in step too.
    storage.update_thread(id="t1", title="moved")
    storage.save_messages(messages=[message("m2", "t1")])
    storage.update_resource(resource_id="r1", working_memory="w")
    storage.persist_workflow_snapshot(workflow_name="w", run_id="r", snapshot={"n": 1})
    for table, column in [
        ("mastra_threads", "updatedAt"),
        ("mastra_messages", "createdAt"),
        ("mastra_resources", "updatedAt"),
        ("mastra_workflow_snapshot", "updatedAt"),
    ]:
        drift = raw_rows(
            storage,
            f'SELECT count(*) FROM {table} WHERE "{column}Z" IS DISTINCT FROM '
            f"(\"{column}\" AT TIME ZONE 'UTC')",
        )
        assert drift[0][0] == 0, (table, column)


# `jsonb('{"topic":"cats","n":[1,2.5,-3,true,false,null],"nested":{"x":"h\u00e9\"q\u0000"}}')`
# as SQLite 3.54 (and so newer @mastra/libsql) stores it.
MASTRA_JSONB = bytes.fromhex(
    "cc3857746f7069634763617473176ecb0c133135322e35232d33010200676e6573746564cc141778c8"
    "10685c75303065395c22715c7530303030"
)
MASTRA_JSON = {
    "topic": "cats",
    "n": [1, 2.5, -3, True, False, None],
    "nested": {"x": 'h\u00e9"q\x00'},
}


def test_metadata_written_by_mastra_reads_back(storage: MastraStorage) -> None:
    """Newer @mastra/libsql writes JSON columns as SQLite JSONB blobs, older
    ones as JSON text; @mastra/pg writes jsonb (which cannot hold NUL). Every
    form reads back."""
    if storage.engine.dialect.name == "mysql":
        pytest.skip("Mastra has no MySQL store: no rows of its writing to read")
    is_sqlite = storage.engine.dialect.name == "sqlite"
    insert = text(
        'INSERT INTO mastra_threads (id, "resourceId", title, metadata, "createdAt", "updatedAt") '
        "VALUES (:id, 'r', '', :metadata, :at, :at)"
    )
    at_value: Any = "2026-11-26T11:50:17.385Z" if is_sqlite else BASE.replace(tzinfo=None)
    # name -> (what Mastra stored, what we read)
    forms: dict[str, tuple[Any, Any]]
    if is_sqlite:
        forms = {
            "text": (json.dumps(MASTRA_JSON), MASTRA_JSON),
            "jsonb": (MASTRA_JSONB, MASTRA_JSON),
            "jsonb-empty": (bytes([0x0C]), {}),
            "text-blob": (b'{"a":[1]}', {"a": [1]}),
        }
    else:
        insert = insert.bindparams(bindparam("metadata", type_=JSONB))
        without_nul = {**MASTRA_JSON, "nested": {"x": 'h\u00e9"q'}}
        forms = {"jsonb": (without_nul, without_nul), "jsonb-empty": ({}, {})}
    with storage.engine.begin() as conn:
        for name, (stored, _) in forms.items():
            conn.execute(insert, {"id": name, "metadata": stored, "at": at_value})
    for name, (_, expected) in forms.items():
        thread = storage.get_thread_by_id(thread_id=name)
        assert thread is not None and thread.created_at == BASE, name
        assert same_json(thread.metadata, expected), name
    # And a Mastra-written thread takes our updates like any other.
    updated = storage.update_thread(id="jsonb", metadata={"topic": "dogs"})
    assert updated.metadata == {**forms["jsonb"][1], "topic": "dogs"}


def raw_rows(storage: MastraStorage, sql: str) -> list[Any]:
    with storage.engine.connect() as conn:
        return list(conn.execute(text(sql)))


def test_message_content_column_is_mastras_v2_json(storage: MastraStorage) -> None:
    make_thread(storage)
    storage.save_messages(
        messages=[
            message("m1", text_="Hello"),
            {**message("m2"), "content": [{"type": "text", "text": "Hi"}]},
            {**message("m3"), "content": {"parts": [], "toolInvocations": [1]}},
        ]
    )
    stored = {
        row[0]: (json.loads(row[1]), row[2], row[3])
        for row in raw_rows(storage, "SELECT id, content, type, role FROM mastra_messages")
    }
    assert stored["m1"] == (
        {"format": 2, "parts": [{"type": "text", "text": "Hello"}], "content": "Hello"},
        "v2",
        "user",
    )
    assert stored["m2"][0] == {"format": 2, "parts": [{"type": "text", "text": "Hi"}]}
    assert stored["m3"][0] == {"format": 2, "parts": [], "toolInvocations": [1]}


def test_message_content_that_is_not_json_is_read_as_text(storage: MastraStorage) -> None:
    """A Mastra reader returns unparseable content as the raw string; so do we."""
    make_thread(storage)
    with storage.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO mastra_messages (id, thread_id, content, role, type, "
                f"{conn.dialect.identifier_preparer.quote('createdAt')}) "
                "VALUES ('m1', 'thread-1', 'plain words', 'user', 'v2', :at)"
            ),
            {"at": "2026-11-26T11:50:17.385Z" if storage.engine.dialect.name == "sqlite"
             else BASE.replace(tzinfo=None)},
        )  # fmt: skip
    (read,) = storage.list_messages(thread_id="thread-1").messages
    assert read.content.parts == [{"type": "text", "text": "plain words"}]
    assert read.created_at == BASE


# -- datetimes in and out -----------------------------------------------------------

NAIVE = datetime(2026, 11, 26, 11, 50, 17)
EVAL = {"input": "i", "output": "o", "result": {}, "agent_name": "a", "metric_name": "m"}
NAIVE_CALLS: dict[str, tuple[Callable[[MastraStorage], object], str]] = {
    "thread.created_at": (
        lambda s: s.save_thread(thread={"id": "t2", "resource_id": "r", "created_at": NAIVE}),
        "created_at",
    ),
    "thread.updated_at": (
        lambda s: s.save_thread(thread={"id": "t2", "resourceId": "r", "updatedAt": NAIVE}),
        "updated",
    ),
    "message.created_at": (
        lambda s: s.save_messages(messages=[message("m1"), message("m2", created_at=NAIVE)]),
        "created_at",
    ),
    "list_messages.date_range.start": (
        lambda s: s.list_messages(thread_id="thread-1", date_range={"start": NAIVE}),
        "start",
    ),
    "list_messages.date_range.end": (
        lambda s: s.list_messages(thread_id="thread-1", date_range={"start": BASE, "end": NAIVE}),
        "end",
    ),
    "get_evals.date_range.start": (
        lambda s: s.get_evals(date_range={"start": NAIVE}),
        "start",
    ),
    "eval.created_at": (
        lambda s: s.save_evals(evals=[{**EVAL, "created_at": NAIVE}]),
        "created_at",
    ),
    "resource.created_at": (
        lambda s: s.save_resource(resource={"id": "r", "created_at": NAIVE}),
        "created_at",
    ),
}


def test_naive_datetimes_are_refused_and_write_nothing(storage: MastraStorage) -> None:
    make_thread(storage)
    before = row_counts(storage)
    for case, (call, field) in NAIVE_CALLS.items():
        with pytest.raises(ValidationError) as caught:
            call(storage)
        assert caught.value.field is not None and field in caught.value.field, case
        assert "timezone" in str(caught.value), case
        assert row_counts(storage) == before, case


def test_every_returned_datetime_is_utc(storage: MastraStorage) -> None:
    plus_five = timezone(timedelta(hours=5, minutes=30))
    local = BASE.astimezone(plus_five)
    thread = storage.save_thread(
        thread={"id": "t1", "resource_id": "r", "created_at": local, "updated_at": local}
    )
    assert thread.created_at == BASE
    saved = storage.save_messages(messages=[message("m1", "t1", created_at=local)])
    resource = storage.save_resource(resource={"id": "r", "created_at": local, "updated_at": local})
    evaluation = storage.save_eval(
        eval={"input": "i", "output": "o", "result": {}, "agent_name": "a", "metric_name": "m",
              "created_at": local}
    )  # fmt: skip
    returned = [
        thread,
        *saved,
        resource,
        evaluation,
        storage.update_thread(id="t1", title="x"),
        storage.list_threads(),
        storage.list_messages(thread_id="t1", date_range={"start": local}),
        storage.get_resource_by_id(resource_id="r"),
        storage.update_resource(resource_id="r", working_memory="w"),
        storage.get_evals(date_range={"end": local}),
    ]
    seen = 0
    for model in returned:
        assert model is not None
        seen += assert_all_utc(model)
    assert seen >= 14
    assert saved[0].created_at == BASE == evaluation.created_at == resource.created_at
    assert {m.created_at for m in storage.list_messages(thread_id="t1").messages} == {BASE}


# -- the JSON value walk: its shortcut for plain data ---------------------------------

_ODD_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec=None), st.sampled_from(["\ud800", "\udfff", "é", "\x00"])
    ),
    max_size=6,
)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    # 4,300 digits (stored) and 4,301 (refused): built by `map`, as hypothesis
    # cannot write such an integer in the strategy's repr.
    st.sampled_from([(4300, 1), (4301, 1), (4301, -1)]).map(lambda d: d[1] * (10 ** d[0] - 1)),
    st.floats(),  # NaN and infinities included: refused by both walks
    _ODD_TEXT,
    st.datetimes(timezones=st.just(timezone.utc)),  # left to the full walk
    st.sampled_from([b"x", {1, 2}, datetime(2026, 1, 1)]),  # refused: not JSON, naive
)
_KEYS = st.one_of(_ODD_TEXT, st.integers(min_value=0, max_value=3))
_VALUES = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(_KEYS, children, max_size=3),
    ),
    max_leaves=12,
)


def _walked(walk: Callable[[], Any]) -> Any:
    try:
        return ("ok", walk())
    except ValidationError as error:
        return ("refused", str(error), error.field)


@settings(max_examples=400, deadline=None, database=None)
@given(value=_VALUES)
def test_json_walk_shortcut_gives_what_the_full_walk_gives(value: Any) -> None:
    """`json_value` takes a shortcut for plain data: same result, same error
    (message and field) as the full walk for any value."""
    full = _walked(lambda: values._json(value, "metadata", 0))
    assert _walked(lambda: values.json_value(value, "metadata")) == full
    if full[0] == "ok":
        assert json.dumps(full[1]) == json.dumps(values.json_value(value, "metadata"))


@settings(max_examples=400, deadline=None, database=None)
@given(value=st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_a_snapshot_checked_as_it_is_stores_what_its_copy_stores(value: Any) -> None:
    """`json_object_as_is` (a workflow snapshot: checked without a copy)
    refuses what `json_object` refuses, with its error and field, and gives
    a value encoded to the same JSON text: the caller's dict itself only when
    the check would change nothing."""
    copied = _walked(lambda: values.json_object(value, "snapshot"))
    as_is = _walked(lambda: values.json_object_as_is(value, "snapshot"))
    assert as_is[0] == copied[0]
    if copied[0] == "refused":
        assert as_is == copied
        return
    assert dumps(as_is[1]) == dumps(copied[1])
    if as_is[1] is value:
        assert dumps(value) == dumps(copied[1])


def test_a_snapshot_is_copied_only_when_the_check_changes_it() -> None:
    plain = {"a": [1, 2.5, None, True, "é", {"b": ("x",)}], "ü": {}}
    assert values.json_object_as_is(plain, "snapshot") is plain
    for changed in (
        {"a": "\ud800"},
        {"k\udfff": 1},
        {"a": datetime(2026, 1, 1, tzinfo=timezone.utc)},
    ):
        stored = values.json_object_as_is(changed, "snapshot")
        assert stored is not changed
        assert stored == values.json_object(changed, "snapshot")
    deep = nested(values.MAX_JSON_DEPTH + 1, arrays=True)
    with pytest.raises(ValidationError, match="nested deeper") as caught:
        values.json_object_as_is({"a": deep}, "snapshot")
    assert caught.value.field == "snapshot"
    for refused in ({1: "x"}, {"a": float("inf")}, {"a": [b"x"]}):
        with pytest.raises(ValidationError) as caught:
            values.json_object_as_is(refused, "snapshot")
        assert caught.value.field == "snapshot"


def test_an_integer_as_long_as_python_writes_round_trips(storage: MastraStorage) -> None:
    longest = 10**values.MAX_JSON_INT_DIGITS - 1
    snapshot = {"n": longest, "m": [-longest]}
    storage.persist_workflow_snapshot(workflow_name="w", run_id="r", snapshot=snapshot)
    assert storage.load_workflow_snapshot(workflow_name="w", run_id="r") == snapshot
    with pytest.raises(ValidationError, match="longer than 4300 digits") as caught:
        storage.persist_workflow_snapshot(
            workflow_name="w", run_id="r", snapshot={"m": [1, longest + 1]}
        )
    assert caught.value.field == "snapshot"
    assert storage.load_workflow_snapshot(workflow_name="w", run_id="r") == snapshot


def test_json_walk_limits_hold_on_the_shortcut() -> None:
    deep = nested(values.MAX_JSON_DEPTH + 1, arrays=True)
    with pytest.raises(ValidationError, match="nested deeper") as caught:
        values.json_value({"a": deep}, "metadata")
    assert caught.value.field == "metadata"
    with pytest.raises(ValidationError, match="not a JSON number") as caught:
        values.json_value({"a": [1, {"b": float("nan")}]}, "metadata")
    assert caught.value.field == "metadata"
    assert values.json_value({"k\ud800": ["\udfff", ("x",)]}, "m") == {"k\ufffd": ["\ufffd", ["x"]]}


@settings(max_examples=300, deadline=None, database=None)
@given(value=_VALUES)
def test_dumps_writes_what_the_json_module_writes(value: Any) -> None:
    """`orm.types.dumps` (the C encoder called directly) gives the text, or
    the error, of `json.dumps` with the same options."""

    def outcome(encode: Callable[[Any], str]) -> Any:
        try:
            return encode(value)
        except (TypeError, ValueError) as error:
            return (type(error), str(error))

    reference = outcome(
        lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    )
    assert outcome(dumps) == reference


class _Text(str):
    pass


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("run-1", True),
        ("a" * values.MAX_ID_LENGTH, True),
        ("a" * (values.MAX_ID_LENGTH + 1), False),
        ("é" * values.MAX_ID_LENGTH, True),
        ("é" * (values.MAX_ID_LENGTH + 1), False),
        ("", False),
        (" ", False),
        ("\t\n\x1c\x1f", False),
        ("\u3000", False),
        (" a ", True),
        ("a\ud800", False),
        (_Text("sub"), True),
        (_Text(" "), False),
        (1, False),
        (None, False),
        (b"id", False),
    ],
)
def test_check_id_accepts_and_refuses_as_before(value: Any, accepted: bool) -> None:
    """The ASCII fast path of `check_id` says what its general path says."""
    if accepted:
        result = values.check_id(value, "f")
        assert type(result) is str and result == value
    else:
        with pytest.raises(ValidationError) as caught:
            values.check_id(value, "f")
        assert caught.value.field == "f"


@pytest.mark.parametrize("dialect_name", ["sqlite", "postgresql", "mysql"])
def test_json_and_timestamp_processors_equal_the_type_methods(dialect_name: str) -> None:
    """The processors written out for speed (no TypeDecorator wrapping) give
    what `process_bind_param` / `process_result_value` give."""
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    from mastra_storage.orm.types import JSONValue, UTCDateTime

    dialect = {
        "sqlite": sqlite.dialect(),
        "postgresql": postgresql.psycopg.dialect(),
        "mysql": mysql.pymysql.dialect(),
    }[dialect_name]
    json_type = JSONValue()
    bind = json_type.dialect_impl(dialect).bind_processor(dialect)
    result = json_type.dialect_impl(dialect).result_processor(dialect, None)
    for value in (None, {}, {"a": [1, 2.5, None, True, "é\n"]}, [], "x", 3):
        expected = json_type.process_bind_param(value, dialect)
        if dialect_name == "sqlite":  # elsewhere the driver's type adds its own
            assert bind is not None
            assert bind(value) == expected
            text_value = expected
            assert result is not None
            assert result(text_value) == json_type.process_result_value(text_value, dialect)
            if text_value is not None:
                blob = text_value.encode()
                assert result(blob) == json_type.process_result_value(blob, dialect)
    stamp_type = UTCDateTime()
    read = stamp_type.dialect_impl(dialect).result_processor(dialect, None)
    if read is not None:
        for raw in (
            None,
            "2026-11-26T11:50:17.385Z",
            "2026-11-26 11:50:17",
            "2026-11-26T11:50:17.385+02:00",
            datetime(2026, 11, 26, 11, 50, 17, 385000),
            datetime(2026, 11, 26, 11, 50, 17, tzinfo=timezone(timedelta(hours=2))),
        ):
            got, want = read(raw), stamp_type.process_result_value(raw, dialect)
            assert got == want and (got is None or got.tzinfo == want.tzinfo)


@settings(max_examples=500, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
        ),
    )
)
def test_format_iso_writes_isoformats_text_with_z(value: datetime) -> None:
    """Mastra's `...sssZ` text, as `isoformat` spells the UTC instant (years
    padded to 4 digits), and read back as that instant."""
    from mastra_storage.clock import format_iso, parse_iso, to_utc

    utc = to_utc(value)
    expected = f"{utc.year:04d}" + utc.isoformat(timespec="milliseconds")[4:-6] + "Z"
    assert format_iso(value) == expected
    assert parse_iso(format_iso(value)) == utc
