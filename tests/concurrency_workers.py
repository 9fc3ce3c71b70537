"""Worker processes of tests/test_concurrency.py (not a test module).

Kept apart, like lock_workers.py, so a spawned worker imports only the library.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from mastra_storage import (
    AsyncDefaultStorage,
    AsyncPostgresStorage,
    DefaultStorage,
    PostgresStorage,
    clock,
)


def open_storage(spec: dict[str, Any]) -> Any:
    """A storage on the test's database; an async one is driven by `asyncio.run`
    per call (a worker makes few calls)."""
    if spec["asynchronous"]:
        if spec["name"] == "postgresql":
            return _Blocking(lambda: AsyncPostgresStorage(url=spec["url"], schema=spec["schema"]))
        return _Blocking(lambda: AsyncDefaultStorage(url=spec["url"]))
    if spec["name"] == "postgresql":
        return PostgresStorage(url=spec["url"], schema=spec["schema"])
    return DefaultStorage(url=spec["url"])


class _Blocking:
    """An async storage behind sync calls, on one event loop of its own."""

    def __init__(self, make: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._storage = make()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._storage, name)
        return lambda **kwargs: self._loop.run_until_complete(method(**kwargs))

    def close(self) -> None:
        self._loop.run_until_complete(self._storage.close())
        self._loop.close()


def lag_clock(milliseconds: int) -> None:
    """Make this process's wall clock run `milliseconds` behind (a machine
    whose clock is late): what the library reads as "now" moves back."""
    real = clock.utc_now

    def late() -> datetime:
        return real() - timedelta(milliseconds=milliseconds)

    clock.utc_now = late  # type: ignore[assignment]


def converse(spec: dict[str, Any], role: str, rounds: int, inbox: Any, outbox: Any) -> None:
    """One side of a conversation: `question` saves message q<i>, then tells
    `reply`, which saves r<i> (after q<i>'s save returned) and answers. No
    message carries `created_at`. The reply side's clock runs late by
    `spec["lag_ms"]`."""
    if role == "reply" and spec["lag_ms"]:
        lag_clock(spec["lag_ms"])
    storage = open_storage(spec)
    try:
        outbox.put("ready")
        assert inbox.get(timeout=60) == "ready"
        for i in range(rounds):
            if role == "question":
                storage.save_messages(messages=[_message(f"q{i:03d}", spec["thread_id"])])
                outbox.put(i)
                assert inbox.get(timeout=60) == i
            else:
                assert inbox.get(timeout=60) == i
                storage.save_messages(messages=[_message(f"r{i:03d}", spec["thread_id"])])
                outbox.put(i)
    finally:
        storage.close()


def _message(message_id: str, thread_id: str) -> dict[str, Any]:
    return {"id": message_id, "thread_id": thread_id, "role": "user", "content": message_id}
