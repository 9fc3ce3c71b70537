"""The README's examples that promise to run as written do, on a fresh database."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

README = Path(__file__).resolve().parents[1] / "README.md"


def snippet_after(heading: str) -> str:
    """The first ```python block after `heading` in the README."""
    readme = README.read_text()
    start = readme.index(heading)
    match = re.search(r"```python\n(.*?)```", readme[start:], re.S)
    assert match is not None, heading
    return match.group(1)


def test_the_embedding_snippet_runs_on_a_fresh_database(tmp_path: Path) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(snippet_after("### Your session, your transaction"))
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT name FROM customers")) == "Ada"
        assert conn.scalar(text("SELECT count(*) FROM mastra_messages")) == 1
    engine.dispose()
