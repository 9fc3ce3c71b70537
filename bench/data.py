"""Input data shared by the library and the raw baselines: messages, workflow
snapshots, and the rows the bulk loaders write."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

UTC = timezone.utc
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
ROLES = ("user", "assistant")
_WORDS = (
    "the", "agent", "plans", "a", "trip", "to", "Lisbon", "in", "May", "with", "five", "days",
    "of", "food", "tiles", "and", "trams", "asks", "about", "hotels", "near", "the", "river",
    "compares", "prices", "and", "books", "a", "table", "for", "two",
)  # fmt: skip


def sentence(rng: random.Random, words: int = 30) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def message_content(rng: random.Random) -> dict[str, Any]:
    """Mastra v2 content of about 250 bytes of JSON, as an agent writes it."""
    text = sentence(rng)
    return {"format": 2, "parts": [{"type": "text", "text": text}], "content": text}


def message_batches(
    thread_id: str, *, batches: int, size: int, start: datetime, seed: int
) -> list[list[dict[str, Any]]]:
    """`batches` lists of `size` new messages (ids, roles, content, created_at
    1 ms apart), as `save_messages` takes them."""
    rng = random.Random(seed)
    out: list[list[dict[str, Any]]] = []
    n = 0
    for _ in range(batches):
        batch = []
        for _ in range(size):
            batch.append(
                {
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "thread_id": thread_id,
                    "role": ROLES[n % 2],
                    "content": message_content(rng),
                    "created_at": start + timedelta(milliseconds=n),
                }
            )
            n += 1
        out.append(batch)
    return out


def workflow_snapshot(run_id: str, rng: random.Random, steps: int = 8) -> dict[str, Any]:
    """A `WorkflowRunState` of about 3 KB of JSON, mid-run."""
    ms = int(BASE_TIME.timestamp() * 1000)
    context: dict[str, Any] = {"input": {"city": "Lisbon", "days": 5, "month": "May"}}
    graph = []
    for k in range(steps):
        step_id = f"step-{k}"
        context[step_id] = {
            "status": "success",
            "payload": {"k": k},
            "output": {"text": sentence(rng, 12), "score": rng.random()},
            "startedAt": ms + k * 1000,
            "endedAt": ms + k * 1000 + 500,
        }
        graph.append({"type": "step", "step": {"id": step_id, "description": sentence(rng, 6)}})
    return {
        "runId": run_id,
        "status": "running",
        "value": {},
        "context": context,
        "activePaths": [steps - 1],
        "suspendedPaths": {},
        "waitingPaths": {},
        "serializedStepGraph": graph,
        "timestamp": ms,
    }


def step_result(rng: random.Random) -> dict[str, Any]:
    return {"status": "success", "output": {"text": sentence(rng, 8), "score": rng.random()}}


# -- bulk rows (setup of big threads; not measured) ---------------------------------


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def iso(value: datetime) -> str:
    """Mastra's SQLite timestamp text: ISO 8601 UTC, milliseconds, `Z`."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def bulk_message_rows(
    thread_id: str, resource_id: str, first: int, last: int, *, seed: int
) -> Iterator[tuple[str, str, str, str, str, datetime, str]]:
    """Messages number `first`..`last - 1` of a thread, 1 ms apart:
    (id, thread_id, content JSON text, role, type, created_at, resource_id)."""
    rng = random.Random(seed + first)
    contents = [dumps(message_content(rng)) for _ in range(64)]
    for n in range(first, last):
        yield (
            f"{thread_id}-{n:08d}",
            thread_id,
            contents[n % 64],
            ROLES[n % 2],
            "v2",
            BASE_TIME + timedelta(milliseconds=n),
            resource_id,
        )
