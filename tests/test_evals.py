"""Evals: save_eval / save_evals and the readers, by agent, type, page and date."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from support import assert_all_utc, at, row_counts

from mastra_storage import EvalRow, MastraStorage, ValidationError
from mastra_storage.clock import utc_now


def an_eval(
    name: str,
    agent: str = "agent-a",
    *,
    test_info: dict[str, Any] | None = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "input": f"input {name}",
        "output": f"output {name}",
        "result": {"score": 0.75, "info": {"reason": name}},
        "agent_name": agent,
        "metric_name": "tone",
        "instructions": "be kind",
        "test_info": test_info,
        "global_run_id": "global-1",
        "run_id": f"run-{name}",
    }
    if created_at is not None:
        item["created_at"] = created_at
    return item


def names(evals: list[EvalRow]) -> list[str]:
    return [row.input.removeprefix("input ") for row in evals]


TEST_INFO = {"testPath": "tests/tone.test.ts", "testName": "is kind"}


@pytest.fixture
def mixed(storage: MastraStorage) -> None:
    """agent-a: live l0 < t1 < l2 < t3 < l4 (by time); agent-b: t5, l6."""
    storage.save_evals(
        evals=[
            an_eval("l0", created_at=at(0)),
            an_eval("t1", test_info=TEST_INFO, created_at=at(1)),
            an_eval("l2", test_info={"testName": "no path"}, created_at=at(2)),
            an_eval("t3", test_info={"testPath": "x.test.ts"}, created_at=at(3)),
            an_eval("l4", test_info={"testPath": None}, created_at=at(4)),
            an_eval("t5", "agent-b", test_info=TEST_INFO, created_at=at(5)),
            an_eval("l6", "agent-b", created_at=at(6)),
        ]
    )


def test_save_eval_round_trip(storage: MastraStorage) -> None:
    before = utc_now()
    saved = storage.save_eval(eval=an_eval("one", test_info=TEST_INFO))
    assert saved.created_at is not None and before <= saved.created_at <= utc_now()
    assert assert_all_utc(saved) == 1
    (listed,) = storage.get_evals().evals
    assert listed == saved
    assert (listed.result, listed.test_info, listed.run_id) == (
        {"score": 0.75, "info": {"reason": "one"}},
        TEST_INFO,
        "run-one",
    )


def test_save_eval_accepts_mastra_camel_case(storage: MastraStorage) -> None:
    saved = storage.save_eval(
        eval={
            "input": "i",
            "output": "o",
            "result": {"score": 1},
            "agentName": "agent-a",
            "metricName": "m",
            "instructions": "",
            "testInfo": None,
            "globalRunId": "g",
            "runId": "r",
            "createdAt": "2026-11-26T11:50:17.385Z",
        }
    )
    assert (saved.agent_name, saved.metric_name, saved.created_at) == ("agent-a", "m", at(0))
    assert storage.get_evals_by_agent_name(agent_name="agent-a") == [saved]


def test_get_evals_newest_first_by_agent(storage: MastraStorage, mixed: None) -> None:
    assert names(storage.get_evals().evals) == ["l6", "t5", "l4", "t3", "l2", "t1", "l0"]
    result = storage.get_evals(agent_name="agent-a")
    assert names(result.evals) == ["l4", "t3", "l2", "t1", "l0"]
    assert (result.total, result.has_more) == (5, False)
    assert storage.get_evals(agent_name="nobody").total == 0
    for row in result.evals:
        assert assert_all_utc(row) == 1


@pytest.mark.parametrize(
    ("agent", "type_", "expected"),
    [
        ("agent-a", "test", ["t3", "t1"]),
        ("agent-a", "live", ["l4", "l2", "l0"]),
        (None, "test", ["t5", "t3", "t1"]),
        (None, "live", ["l6", "l4", "l2", "l0"]),
    ],
)
def test_get_evals_by_type(
    storage: MastraStorage, mixed: None, agent: str | None, type_: str, expected: list[str]
) -> None:
    result = storage.get_evals(agent_name=agent, type=type_)
    assert names(result.evals) == expected
    assert result.total == len(expected)
    if agent is not None:
        by_agent = storage.get_evals_by_agent_name(agent_name=agent, type=type_)
        assert names(by_agent) == expected


def test_get_evals_pages(storage: MastraStorage, mixed: None) -> None:
    cases = [
        (0, 2, ["l4", "t3"], True),
        (1, 2, ["l2", "t1"], True),
        (2, 2, ["l0"], False),
        (3, 2, [], False),
        (0, None, ["l4", "t3", "l2", "t1", "l0"], False),
    ]
    for page, per_page, expected, has_more in cases:
        result = storage.get_evals(agent_name="agent-a", page=page, per_page=per_page)
        assert (names(result.evals), result.total, result.has_more) == (
            expected,
            5,
            has_more,
        ), (page, per_page)
    assert storage.get_evals(agent_name="agent-a", per_page=0).evals == []
    for page, per_page in [(-1, 2), (0, -2)]:
        with pytest.raises(ValueError, match="must be >= 0"):
            storage.get_evals(page=page, per_page=per_page)


def test_get_evals_date_range(storage: MastraStorage, mixed: None) -> None:
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"start": at(1), "end": at(3)}, ["t3", "l2", "t1"]),
        ({"start": at(1), "end": at(3), "start_exclusive": True}, ["t3", "l2"]),
        ({"start": at(1), "end": at(3), "end_exclusive": True}, ["l2", "t1"]),
        ({"start": at(3)}, ["l4", "t3"]),
        ({"end": at(0)}, ["l0"]),
    ]
    for date_range, expected in cases:
        result = storage.get_evals(agent_name="agent-a", date_range=date_range)
        assert (names(result.evals), result.total) == (expected, len(expected)), date_range
    both = storage.get_evals(type="test", date_range={"start": at(3)})
    assert names(both.evals) == ["t5", "t3"]


def test_same_created_at_pages_each_eval_once(storage: MastraStorage) -> None:
    storage.save_evals(evals=[an_eval(f"e{i}", created_at=at(0)) for i in range(7)])
    seen: list[str] = []
    for page in range(3):
        seen += names(storage.get_evals(page=page, per_page=3).evals)
    assert sorted(seen) == [f"e{i}" for i in range(7)]
    assert seen == names(storage.get_evals().evals)


def test_get_evals_by_agent_name(storage: MastraStorage, mixed: None) -> None:
    assert names(storage.get_evals_by_agent_name(agent_name="agent-b")) == ["l6", "t5"]
    assert storage.get_evals_by_agent_name(agent_name="nobody") == []
    with pytest.raises(ValueError):
        storage.get_evals_by_agent_name(agent_name=" ")


def test_bad_evals_write_nothing(storage: MastraStorage) -> None:
    with pytest.raises(ValidationError) as caught:
        storage.save_evals(evals=[an_eval("ok"), {**an_eval("bad"), "result": "not a dict"}])
    assert caught.value.field == "result"
    assert "evals[1]" in str(caught.value)
    with pytest.raises(ValidationError, match="agent_name"):
        storage.save_eval(eval={**an_eval("bad"), "agent_name": ""})
    with pytest.raises(ValueError, match="type"):
        storage.get_evals(type="other")
    assert row_counts(storage)["mastra_evals"] == 0
