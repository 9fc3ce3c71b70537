"""Property-based: random JSON-like values, strings (lone surrogates, NUL,
control characters) and argument types thrown at the public data methods.
Each call either stores what it was given (modulo the documented
normalisations: lone surrogates -> U+FFFD, aware datetimes -> ISO `...Z`
text, tuples -> lists) and reads it back exactly, or raises `ValidationError`
having written nothing. Bounded: a few dozen examples per property, on SQLite,
PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

import contextlib
import itertools
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import BACKENDS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from mastra_storage import MastraStorage, ValidationError
from mastra_storage.clock import format_iso
from mastra_storage.orm import metadata as tables
from mastra_storage.values import MAX_JSON_DEPTH, REPLACEMENT, has_surrogate

pytestmark = pytest.mark.parametrize(
    "backend",
    [name for name in BACKENDS if name in ("sqlite-file", "postgresql", "mysql")],
    indirect=True,
)

BOUNDED = settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

ODD = ["\x00", "\ud800", "\udfff", "\ue000", "\n", "\t", "\x07", '"', "\\", "\x7f", "😀"]
texts = st.text(
    alphabet=st.one_of(st.characters(codec=None, exclude_categories=()), st.sampled_from(ODD)),
    max_size=12,
)
aware = st.datetimes(timezones=st.just(timezone.utc)) | st.datetimes(
    timezones=st.sampled_from([timezone(timedelta(hours=5, minutes=30)), timezone.utc])
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
    aware,
    st.datetimes(),  # naive: refused
    st.binary(max_size=3),  # bytes: refused
    st.frozensets(st.integers(), max_size=2),  # sets: refused
)
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.tuples(children, children),
        st.dictionaries(texts, children, max_size=3),
        st.dictionaries(st.integers(), children, min_size=1, max_size=1),  # non-text keys
    ),
    max_leaves=12,
)
objects = st.dictionaries(texts, json_like, max_size=4)


class Refused(Exception):
    """What `stored` says the library must refuse."""


def clean(text: str) -> str:
    return "".join(REPLACEMENT if has_surrogate(c) else c for c in text)


def stored(value: Any, depth: int = 0) -> Any:
    """What the library stores for `value`, or `Refused`."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Refused
        return value
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise Refused
        return format_iso(value)
    if isinstance(value, dict | list | tuple):
        if depth >= MAX_JSON_DEPTH:
            raise Refused
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise Refused
                out[clean(key)] = stored(item, depth + 1)
            return out
        return [stored(item, depth + 1) for item in value]
    raise Refused


def js(value: Any) -> Any:
    """Numbers as JSON numbers (JavaScript doubles), as Mastra reads them:
    PostgreSQL's jsonb keeps numbers as decimals, so a float without a
    fraction beyond 2**53 can come back as the integer of its decimal text."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value) if abs(value) > 2**53 else value
    if isinstance(value, dict):
        return {key: js(item) for key, item in value.items()}
    return [js(item) for item in value]


def counts(storage: MastraStorage) -> dict[str, int]:
    with storage.engine.connect() as conn:
        return {
            t.name: conn.scalar(select(func.count()).select_from(t)) or 0
            for t in tables.sorted_tables
        }


def outcome(storage: MastraStorage, value: Any, call: Any) -> Any:
    """Run `call`; if `stored(value)` refuses, it must raise ValidationError and
    write nothing. Returns the expected stored form (or Refused)."""
    try:
        expected = stored(value)
    except Refused:
        before = counts(storage)
        with pytest.raises(ValidationError):
            call()
        assert counts(storage) == before
        return Refused
    call()
    return expected


ids = itertools.count()


@BOUNDED
@given(meta=objects, title=texts)
def test_thread_metadata_and_title_round_trip(
    storage: MastraStorage, meta: Any, title: str
) -> None:
    thread_id = f"t{next(ids)}"
    expected = outcome(
        storage,
        {"m": meta, "t": title},
        lambda: storage.create_thread(
            resource_id="r", thread_id=thread_id, title=title, metadata=meta
        ),
    )
    if expected is Refused:
        return
    thread = storage.get_thread_by_id(thread_id=thread_id)
    assert thread is not None
    assert js(thread.metadata) == js(expected["m"]) and thread.title == expected["t"]
    # The stored metadata is found by its own top-level keys.
    if expected["m"]:
        key, wanted = next(iter(expected["m"].items()))
        found = storage.list_threads(resource_id="r", metadata={key: wanted}, per_page=None)
        assert thread_id in {t.id for t in found.threads}


@BOUNDED
@given(text=texts, meta=objects, part=json_like)
def test_message_content_round_trips(
    storage: MastraStorage, text: str, meta: Any, part: Any
) -> None:
    n = next(ids)
    storage.save_thread(thread={"id": f"mt{n}", "resource_id": "r"})
    content = {"parts": [{"type": "text", "text": text, "extra": part}], "metadata": meta}
    expected = outcome(
        storage,
        content,
        lambda: storage.save_messages(
            messages=[{"id": f"m{n}", "thread_id": f"mt{n}", "role": "user", "content": content}]
        ),
    )
    if expected is Refused:
        return
    message = storage.list_messages_by_id(message_ids=[f"m{n}"])[0]
    assert js(message.content.parts) == js(expected["parts"])
    assert js(message.content.metadata) == js(expected["metadata"])


@BOUNDED
@given(snapshot=objects, result=json_like, opts=objects)
def test_workflow_values_round_trip(
    storage: MastraStorage, snapshot: Any, result: Any, opts: Any
) -> None:
    run = f"run{next(ids)}"
    expected = outcome(
        storage,
        snapshot,
        lambda: storage.persist_workflow_snapshot(workflow_name="w", run_id=run, snapshot=snapshot),
    )
    if expected is Refused:
        return
    assert js(storage.load_workflow_snapshot(workflow_name="w", run_id=run)) == js(expected)
    step = outcome(
        storage,
        result,
        lambda: storage.update_workflow_results(
            workflow_name="w", run_id=run, step_id="s", result=result
        ),
    )
    loaded = storage.load_workflow_snapshot(workflow_name="w", run_id=run)
    if step is not Refused:
        assert loaded is not None and js(loaded["context"]["s"]) == js(step)
    merged = outcome(
        storage,
        opts,
        lambda: storage.update_workflow_state(workflow_name="w", run_id=run, opts=opts),
    )
    if merged is not Refused:
        after = storage.load_workflow_snapshot(workflow_name="w", run_id=run)
        assert after is not None
        for key, value in merged.items():
            if key not in ("expected_status", "expectedStatus"):
                assert js(after[key]) == js(value)


@BOUNDED
@given(memory=texts, meta=objects, value=json_like)
def test_resources_and_evals_round_trip(
    storage: MastraStorage, memory: str, meta: Any, value: Any
) -> None:
    n = next(ids)
    expected = outcome(
        storage,
        {"w": memory, "m": meta},
        lambda: storage.update_resource(
            resource_id=f"res{n}", working_memory=memory, metadata=meta
        ),
    )
    if expected is not Refused:
        resource = storage.get_resource_by_id(resource_id=f"res{n}")
        assert resource is not None
        assert resource.working_memory == expected["w"]
        assert js(resource.metadata) == js(expected["m"])
    row = {
        "input": memory,
        "output": "o",
        "result": {"v": value},
        "agent_name": f"a{n}",
        "metric_name": "m",
    }
    kept = outcome(storage, {"i": memory, "r": {"v": value}}, lambda: storage.save_eval(eval=row))
    if kept is not Refused:
        (saved,) = storage.get_evals_by_agent_name(agent_name=f"a{n}")
        assert saved.input == kept["i"] and js(saved.result) == js(kept["r"])


arguments = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    texts,
    st.lists(st.integers(), max_size=2),
    st.datetimes(),
)


@BOUNDED
@given(page=arguments, per_page=arguments, direction=arguments, date=arguments)
def test_listing_arguments_of_any_type(
    storage: MastraStorage, page: Any, per_page: Any, direction: Any, date: Any
) -> None:
    calls = [
        lambda: storage.list_threads(page=page, per_page=per_page, direction=direction),
        lambda: storage.list_messages(thread_id="t", page=page, per_page=per_page),
        lambda: storage.list_messages_by_resource_id(resource_id="r", direction=direction),
        lambda: storage.list_workflow_runs(page=page, per_page=per_page, from_date=date),
        lambda: storage.list_workflow_runs(status=direction, to_date=date),
        lambda: storage.get_evals(page=page, per_page=per_page),
        lambda: storage.list_messages(
            thread_id="t", include=[{"id": "m", "with_previous_messages": per_page}]
        ),
    ]
    for call in calls:
        with contextlib.suppress(ValidationError):  # anything else escaping fails the test
            call()
