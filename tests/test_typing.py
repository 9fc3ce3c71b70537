"""The public signatures catch mistakes at type-check time: `direction` and
`order_by` are Literal types, returned datetimes are not Optional."""

from __future__ import annotations

import pytest

mypy_api = pytest.importorskip("mypy.api")

CODE = """
from mastra_storage import DefaultStorage

storage = DefaultStorage(url="file::memory:")
storage.list_threads(direction="desc-typo")
storage.list_threads(order_by="created")
storage.list_messages(thread_id="t", direction="DESC")
thread = storage.create_thread(resource_id="r")
seconds: float = thread.created_at.timestamp()
"""


def test_mypy_refuses_a_bad_direction_or_order_by() -> None:
    # No config file: the project's names `packages`, which excludes `-c`.
    # Imports followed silently: only the user's snippet is judged, not the
    # installed library (whose optional extras, e.g. sentence_transformers,
    # may be absent from this environment).
    out, _err, status = mypy_api.run(
        ["--strict", "--no-incremental", "--follow-imports=silent", "--config-file", "", "-c", CODE]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1
    assert len(errors) == 2, out
    assert "'desc-typo'" in errors[0] and "'created'" in errors[1]
