"""The public signatures catch mistakes at type-check time: `direction` and
`order_by` are Literal types, and what every returned model always holds
(`created_at`, `thread_id`, ...) is not Optional, so a user needs no
`assert x is not None` before using it."""

from __future__ import annotations

import pytest

mypy_api = pytest.importorskip("mypy.api")

LITERALS = """
from mastra_storage import DefaultStorage

storage = DefaultStorage(url="file::memory:")
storage.list_threads(direction="desc-typo")
storage.list_threads(order_by="created")
storage.list_messages(thread_id="t", direction="DESC")
thread = storage.create_thread(resource_id="r")
seconds: float = thread.created_at.timestamp()
"""

# Every model a call returns, and the fields it always holds, used as the
# plain types they are. An Optional one is a mypy error here.
RETURNED = """
from datetime import datetime
from mastra_storage import (
    AsyncDefaultStorage, DefaultStorage, MastraDBMessage, MastraDBMessageInput, MessageContent
)

storage = DefaultStorage(url="file::memory:")
thread = storage.create_thread(resource_id="r")
thread_times: list[datetime] = [thread.created_at, thread.updated_at]
owner: str = thread.resource_id

saved = storage.save_messages(
    messages=[
        {"thread_id": thread.id, "role": "user", "content": "hi"},
        MastraDBMessageInput(
            thread_id=thread.id, role="user", content=MessageContent(content="hello")
        ),
    ]
)
message: MastraDBMessage = saved[0]
message_time: datetime = message.created_at
message_thread: str = message.thread_id
again = storage.save_messages(messages=saved)
listed_time: datetime = storage.list_messages(thread_id=thread.id).messages[0].created_at
by_id_thread: str = storage.list_messages_by_id(message_ids=[message.id])[0].thread_id
for each in storage.iter_messages(thread_id=thread.id):
    each_time: datetime = each.created_at
updated_thread: str = storage.update_messages(messages=[{"id": message.id}])[0].thread_id
clone = storage.clone_thread(source_thread_id=thread.id)
clone_time: datetime = clone.cloned_messages[0].created_at

resource = storage.update_resource(resource_id="r", working_memory="x")
resource_times: list[datetime] = [resource.created_at, resource.updated_at]

run = storage.get_workflow_run_by_id(run_id="run")
if run is not None:
    run_times: list[datetime] = [run.created_at, run.updated_at]
runs_time: datetime = storage.list_workflow_runs().runs[0].created_at

row = storage.save_eval(
    eval={"input": "i", "output": "o", "result": {}, "agent_name": "a", "metric_name": "m"}
)
eval_time: datetime = row.created_at
page_time: datetime = storage.get_evals().evals[0].created_at

score = storage.save_score(
    score={"scorer_id": "s", "entity_id": "e", "run_id": "r", "score": 1.0,
           "scorer": {}, "entity": {}, "source": "LIVE"}
)
score_times: list[datetime] = [score.created_at, score.updated_at]
score_id: str = score.id
listed_score: datetime = storage.list_scores_by_run_id(run_id="r").scores[0].updated_at


async def main() -> None:
    async with AsyncDefaultStorage(url="file::memory:") as astorage:
        asaved = await astorage.save_messages(
            messages=[{"thread_id": "t", "role": "user", "content": "hi"}]
        )
        async_time: datetime = asaved[0].created_at
        async_thread: str = asaved[0].thread_id
"""


def mypy_errors(code: str) -> tuple[int, list[str], str]:
    # No config file: the project's names `packages`, which excludes `-c`.
    # Imports followed silently: only the user's snippet is judged, not the
    # installed library (whose optional extras, e.g. sentence_transformers,
    # may be absent from this environment).
    out, _err, status = mypy_api.run(
        ["--strict", "--no-incremental", "--follow-imports=silent", "--config-file", "", "-c", code]
    )
    return status, [line for line in out.splitlines() if ": error:" in line], out


def test_mypy_refuses_a_bad_direction_or_order_by() -> None:
    status, errors, out = mypy_errors(LITERALS)
    assert status == 1
    assert len(errors) == 2, out
    assert "'desc-typo'" in errors[0] and "'created'" in errors[1]


def test_returned_models_type_always_present_fields_as_required() -> None:
    status, errors, out = mypy_errors(RETURNED)
    assert errors == [], out
    assert status == 0, out
