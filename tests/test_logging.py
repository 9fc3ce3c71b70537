"""Logging: the library logs under `mastra_storage.*`; Alembic's INFO lines do
not print on every `init()` unless the user asks for them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mastra_storage import DefaultStorage


def test_init_logs_what_it_migrates_and_alembic_only_when_asked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    storage = DefaultStorage(url=f"file:{tmp_path / 'log.db'}")
    try:
        storage.init()
        first = [(r.name, r.getMessage()) for r in caplog.records]
        assert [name for name, _ in first] == ["mastra_storage.migrate"], first
        assert "migrating" in first[0][1] and "<empty>" in first[0][1]

        caplog.clear()
        storage.init()  # at head: nothing to say, Alembic not even started
        assert caplog.records == []
    finally:
        storage.close()

    # Asked for: a level on the `alembic` logger brings its lines back.
    caplog.clear()
    alembic = logging.getLogger("alembic")
    alembic.setLevel(logging.INFO)
    try:
        again = DefaultStorage(url=f"file:{tmp_path / 'asked.db'}")
        again.init()
        again.close()
    finally:
        alembic.setLevel(logging.NOTSET)
    names = {r.name for r in caplog.records}
    assert "alembic.runtime.migration" in names and "mastra_storage.migrate" in names
    assert all(r.name.startswith(("mastra_storage.", "alembic")) for r in caplog.records)
