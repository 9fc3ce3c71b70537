"""Scores (Mastra 1.x `mastra_scorers`): save_score, get_score_by_id and the
list_scores_by_* calls, their formats in the database, bad input, session=
and concurrent writers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from conftest import Backend
from support import assert_all_utc, at, raw_one, row_counts, run_concurrently

from mastra_storage import MastraStorage, ScoreRow, ValidationError
from mastra_storage.clock import utc_now

WRITERS = ["sqlite-file", "postgresql", "async-sqlite-file", "async-postgresql"]


def a_score(
    name: str,
    scorer: str = "relevance",
    *,
    created_at: datetime | None = None,
    **fields: Any,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": name,
        "scorer_id": scorer,
        "entity_id": "agent-1",
        "entity_type": "AGENT",
        "run_id": f"run-{name}",
        "input": [{"role": "user", "content": f"question {name}"}],
        "output": {"text": f"answer {name}"},
        "score": 0.75,
        "reason": "on topic",
        "scorer": {"id": scorer, "name": scorer.title()},
        "entity": {"id": "agent-1", "name": "Agent"},
        "source": "LIVE",
        **fields,
    }
    if created_at is not None:
        item["created_at"] = created_at
    return item


def ids(scores: list[ScoreRow]) -> list[str]:
    return [score.id for score in scores]


def test_save_score_round_trip(storage: MastraStorage) -> None:
    before = utc_now()
    saved = storage.save_score(
        score=a_score(
            "s1",
            trace_id="trace-1",
            span_id="span-1",
            resource_id="user-1",
            thread_id="thread-1",
            metadata={"k": [1, 2.5, None, True]},
            additional_context={"ctx": "x"},
            request_context={"user": "u"},
            extract_step_result={"claims": ["a"]},
            analyze_step_result={"verdicts": []},
            preprocess_step_result={"p": 1},
            extract_prompt="extract",
            analyze_prompt="analyze",
            reason_prompt="reason",
            preprocess_prompt="pre",
            generate_score_prompt="gen score",
            generate_reason_prompt="gen reason",
            organization_id="org",
            project_id="proj",
            batch_id="batch",
            dataset_id="ds",
            dataset_item_id="ds-item",
        )
    )
    assert saved.created_at is not None and before <= saved.created_at <= utc_now()
    assert saved.updated_at == saved.created_at
    assert assert_all_utc(saved) == 2
    got = storage.get_score_by_id(id="s1")
    assert got == saved
    assert got is not None
    assert got.input == [{"role": "user", "content": "question s1"}]
    assert (got.metadata, got.extract_step_result, got.dataset_item_id) == (
        {"k": [1, 2.5, None, True]},
        {"claims": ["a"]},
        "ds-item",
    )
    assert storage.get_score_by_id(id="nope") is None


def test_save_score_takes_mastra_payload(storage: MastraStorage) -> None:
    """Mastra's camelCase `SaveScorePayload`, no id (a UUID is made), an int
    score, and `structuredOutput` (Mastra has no column for it: dropped)."""
    saved = storage.save_score(
        score={
            "scorerId": "tone",
            "entityId": "wf-1",
            "entityType": "WORKFLOW",
            "runId": "run-9",
            "output": "plain text",
            "score": 1,
            "scorer": {"id": "tone"},
            "entity": {"id": "wf-1"},
            "source": "TEST",
            "traceId": "t",
            "spanId": "s",
            "structuredOutput": True,
        }
    )
    assert len(saved.id) == 36 and saved.score == 1.0 and isinstance(saved.score, float)
    assert saved.input is None and saved.output == "plain text"
    dumped = saved.model_dump(by_alias=True, mode="json")
    assert dumped["scorerId"] == "tone" and dumped["createdAt"].endswith("Z")
    assert "structuredOutput" not in dumped
    assert storage.get_score_by_id(id=saved.id) == saved


@pytest.mark.parametrize(
    "value",
    ["42", "true", '{"a": 1}', "", 0, 1.5, False, None, [], {}, ["x", {"y": [None]}], "nul\x00"],
)
def test_json_values_round_trip_exactly(storage: MastraStorage, value: Any) -> None:
    """A string that looks like JSON stays a string (Mastra stores the JSON
    text, and parses it back)."""
    storage.save_score(score=a_score("v", output=value, input=value))
    got = storage.get_score_by_id(id="v")
    assert got is not None
    assert (got.output, got.input) == (value, value)
    assert type(got.output) is type(value)


def test_stored_in_mastras_format(storage: MastraStorage, backend: Backend) -> None:
    """JSON columns hold the value's JSON text (on PostgreSQL a jsonb string,
    as @mastra/pg writes; on MySQL the JSON value), score is a float column,
    timestamps as Mastra's (MySQL: DATETIME(3) in UTC)."""
    storage.save_score(score=a_score("f", created_at=at(0)))
    if backend.is_postgres:
        row = raw_one(
            storage,
            "SELECT jsonb_typeof(scorer), scorer #>> '{}', pg_typeof(score)::text, \"createdAt\","
            ' "createdAtZ", "updatedAtZ" FROM mastra_scorers',
        )
        assert row[0] == "string"
        assert row[1] == '{"id":"relevance","name":"Relevance"}'
        assert row[2] == "double precision"
        assert row[3] == at(0).replace(tzinfo=None)
        assert row[4] == row[5] == at(0)
    elif backend.is_mysql:
        # No Mastra adapter to agree with: the JSON column holds the value itself.
        row = raw_one(
            storage,
            "SELECT JSON_TYPE(scorer), JSON_EXTRACT(scorer, '$.name'), DATA_TYPE, createdAt "
            "FROM mastra_scorers, information_schema.columns WHERE table_schema = DATABASE() "
            "AND table_name = 'mastra_scorers' AND column_name = 'score'",
        )
        assert tuple(row) == ("OBJECT", '"Relevance"', "double", at(0).replace(tzinfo=None))
    else:
        row = raw_one(
            storage, 'SELECT scorer, typeof(score), "createdAt", "updatedAt" FROM mastra_scorers'
        )
        assert tuple(row) == (
            '{"id":"relevance","name":"Relevance"}',
            "real",
            "2026-11-26T11:50:17.385Z",
            "2026-11-26T11:50:17.385Z",
        )


def test_saving_an_id_again_replaces_the_row(storage: MastraStorage) -> None:
    storage.save_score(score=a_score("same", created_at=at(0)))
    storage.save_score(score=a_score("same", score=0.1, reason=None, created_at=at(5)))
    got = storage.get_score_by_id(id="same")
    assert got is not None and (got.score, got.reason, got.created_at) == (0.1, None, at(5))
    assert storage.list_scores_by_scorer_id(scorer_id="relevance").total == 1


@pytest.fixture
def many(storage: MastraStorage) -> None:
    """relevance: s0..s4 (s4 newest), s1 and s3 from a TEST run, s2 on a
    workflow; tone: t0. s0 and s1 share a trace span."""
    rows = [
        a_score("s0", created_at=at(0), trace_id="tr", span_id="sp"),
        a_score("s1", created_at=at(1), source="TEST", trace_id="tr", span_id="sp"),
        a_score("s2", created_at=at(2), entity_id="wf", entity_type="WORKFLOW", run_id="run-x"),
        a_score("s3", created_at=at(3), source="TEST", run_id="run-x"),
        a_score("s4", created_at=at(4), trace_id="tr", span_id="other"),
        a_score("t0", "tone", created_at=at(5), run_id="run-x"),
    ]
    for row in rows:
        storage.save_score(score=row)


@pytest.mark.usefixtures("many")
def test_list_scores_by_scorer_id_filters_and_pages(storage: MastraStorage) -> None:
    every = storage.list_scores_by_scorer_id(scorer_id="relevance")
    assert ids(every.scores) == ["s4", "s3", "s2", "s1", "s0"]
    assert (every.total, every.page, every.per_page, every.has_more) == (5, 0, 100, False)
    assert ids(storage.list_scores_by_scorer_id(scorer_id="relevance", source="TEST").scores) == [
        "s3",
        "s1",
    ]
    by_entity = storage.list_scores_by_scorer_id(
        scorer_id="relevance", entity_id="agent-1", entity_type="AGENT"
    )
    assert ids(by_entity.scores) == ["s4", "s3", "s1", "s0"]
    assert ids(storage.list_scores_by_scorer_id(scorer_id="relevance", entity_id="wf").scores) == [
        "s2"
    ]
    first = storage.list_scores_by_scorer_id(scorer_id="relevance", per_page=2)
    second = storage.list_scores_by_scorer_id(scorer_id="relevance", page=1, per_page=2)
    last = storage.list_scores_by_scorer_id(scorer_id="relevance", page=2, per_page=2)
    assert [ids(p.scores) for p in (first, second, last)] == [["s4", "s3"], ["s2", "s1"], ["s0"]]
    assert [p.has_more for p in (first, second, last)] == [True, True, False]
    assert all(p.total == 5 for p in (first, second, last))
    everything = storage.list_scores_by_scorer_id(scorer_id="relevance", per_page=None)
    assert len(everything.scores) == 5 and not everything.has_more
    counted = storage.list_scores_by_scorer_id(scorer_id="relevance", per_page=0)
    assert (counted.scores, counted.total) == ([], 5)
    assert storage.list_scores_by_scorer_id(scorer_id="unknown").total == 0


@pytest.mark.usefixtures("many")
def test_list_scores_by_run_entity_and_span(storage: MastraStorage) -> None:
    assert ids(storage.list_scores_by_run_id(run_id="run-x").scores) == ["t0", "s3", "s2"]
    assert ids(storage.list_scores_by_run_id(run_id="run-x", per_page=1, page=1).scores) == ["s3"]
    assert ids(
        storage.list_scores_by_entity_id(entity_id="agent-1", entity_type="AGENT").scores
    ) == ["t0", "s4", "s3", "s1", "s0"]
    assert ids(storage.list_scores_by_entity_id(entity_id="wf", entity_type="WORKFLOW").scores) == [
        "s2"
    ]
    assert storage.list_scores_by_entity_id(entity_id="wf", entity_type="AGENT").total == 0
    span = storage.list_scores_by_span(trace_id="tr", span_id="sp")
    assert (ids(span.scores), span.total) == (["s1", "s0"], 2)


def test_same_created_at_orders_by_id_descending(storage: MastraStorage) -> None:
    for name in ("b", "c", "a"):
        storage.save_score(score=a_score(name, created_at=at(0)))
    assert ids(storage.list_scores_by_scorer_id(scorer_id="relevance").scores) == ["c", "b", "a"]


BAD_SCORES: list[tuple[str, dict[str, Any], str]] = [
    ("no scorer id", {"scorer_id": None}, "scorer_id"),
    ("empty scorer id", {"scorer_id": ""}, "scorer_id"),
    ("no run id", {"run_id": None}, "run_id"),
    ("no entity id", {"entity_id": None}, "entity_id"),
    ("no entity", {"entity": None}, "entity"),
    ("no scorer", {"scorer": None}, "scorer"),
    ("scorer not an object", {"scorer": "relevance"}, "scorer"),
    ("score NaN", {"score": float("nan")}, "score"),
    ("score infinite", {"score": float("inf")}, "score"),
    ("score a bool", {"score": True}, "score"),
    ("score text", {"score": "0.5"}, "score"),
    ("bad source", {"source": "PROD"}, "source"),
    ("metadata not an object", {"metadata": [1]}, "metadata"),
    ("input not JSON", {"input": {1, 2}}, "input"),
    ("output NaN", {"output": {"x": float("nan")}}, "output"),
    ("bytes in output", {"output": b"raw"}, "output"),
    ("naive created_at", {"created_at": datetime(2026, 1, 1)}, "created_at"),
]


@pytest.mark.parametrize(("case", "change", "field"), BAD_SCORES, ids=[c[0] for c in BAD_SCORES])
def test_bad_scores_are_refused_and_nothing_is_written(
    storage: MastraStorage, case: str, change: dict[str, Any], field: str
) -> None:
    before = row_counts(storage)
    with pytest.raises(ValidationError) as error:
        storage.save_score(score={**a_score("bad"), **change})
    assert error.value.field is not None and field in error.value.field, (case, error.value.field)
    assert row_counts(storage) == before


def test_a_score_must_be_a_mapping(storage: MastraStorage) -> None:
    with pytest.raises(ValidationError):
        storage.save_score(score=["not", "a", "score"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.get_score_by_id(id=""), "id"),
        (lambda s: s.list_scores_by_scorer_id(scorer_id=""), "scorer_id"),
        (lambda s: s.list_scores_by_scorer_id(scorer_id="x", source="live"), "source"),
        (lambda s: s.list_scores_by_scorer_id(scorer_id="x", entity_id=""), "entity_id"),
        (lambda s: s.list_scores_by_scorer_id(scorer_id="x", page=-1), "page"),
        (lambda s: s.list_scores_by_scorer_id(scorer_id="x", per_page=-1), "per_page"),
        (lambda s: s.list_scores_by_run_id(run_id=None), "run_id"),
        (lambda s: s.list_scores_by_entity_id(entity_id="e", entity_type=""), "entity_type"),
        (lambda s: s.list_scores_by_span(trace_id="t", span_id=3), "span_id"),
    ],
)
def test_bad_list_arguments(storage: MastraStorage, call: Any, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        call(storage)
    assert error.value.field == field


def test_save_score_in_the_callers_transaction(storage: MastraStorage) -> None:
    with pytest.raises(RuntimeError), storage.session_scope() as session:
        storage.save_score(score=a_score("rolled-back"), session=session)
        assert storage.get_score_by_id(id="rolled-back", session=session) is not None
        raise RuntimeError("roll back")
    assert storage.get_score_by_id(id="rolled-back") is None
    with storage.session_scope() as session:
        storage.save_score(score=a_score("kept"), session=session)
        page = storage.list_scores_by_scorer_id(scorer_id="relevance", session=session)
        assert ids(page.scores) == ["kept"]
    assert storage.get_score_by_id(id="kept") is not None


@pytest.mark.parametrize("backend", WRITERS, indirect=True)
def test_concurrent_save_score_all_land(storage: MastraStorage) -> None:
    calls = [
        (lambda s, n=n: s.save_score(score=a_score(f"c{n}", run_id="run-c"))) for n in range(12)
    ]
    calls += [(lambda s, n=n: s.save_score(score=a_score("same", score=n / 10))) for n in range(4)]
    run_concurrently(storage, calls)
    assert storage.list_scores_by_run_id(run_id="run-c").total == 12
    same = storage.get_score_by_id(id="same")
    assert same is not None and same.score in (0.0, 0.1, 0.2, 0.3)
    assert storage.list_scores_by_scorer_id(scorer_id="relevance").total == 13
