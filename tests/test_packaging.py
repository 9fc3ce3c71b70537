"""The wheel is complete: built from the checkout, installed in a fresh virtualenv
(dependencies from the package index), it migrates and stores data from a
directory that knows nothing of the repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mastra_storage import migrate

REPO_ROOT = Path(__file__).resolve().parents[1]

CHECK_SCRIPT = """
import importlib, json, pkgutil, sys

import mastra_storage
from mastra_storage import AsyncMemory, DefaultStorage, Memory, PostgresStorage, migrate

# Every module imports with only the declared dependencies installed.
modules = [
    importlib.import_module(info.name).__name__
    for info in pkgutil.walk_packages(mastra_storage.__path__, "mastra_storage.")
]

url, schema = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
storage = DefaultStorage(url=url) if schema is None else PostgresStorage(url=url, schema=schema)
storage.init()
thread = storage.create_thread(resource_id="user-1", title="from the wheel")
read = storage.get_thread_by_id(thread_id=thread.id)
print(json.dumps({
    "package": mastra_storage.__file__,
    "migrations": str(migrate.script_location()),
    "modules": modules,
    "head": migrate.head(),
    "current": migrate.current(storage.engine),
    "read_back": read.model_dump(mode="json") if read else None,
    "written": thread.model_dump(mode="json"),
}))
storage.close()
"""


@dataclass
class Installed:
    wheel: Path
    python: Path
    venv: Path

    def run(self, args: Sequence[str], cwd: Path) -> dict[str, Any]:
        script = cwd / "check.py"
        script.write_text(CHECK_SCRIPT)
        done = subprocess.run(
            [str(self.python), str(script), *args],
            cwd=cwd,
            env=outside_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def command(self, args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        """The installed `mastra-storage` console script."""
        script = self.venv / (
            "Scripts/mastra-storage.exe" if os.name == "nt" else "bin/mastra-storage"
        )
        return subprocess.run(
            [str(script), *args],
            cwd=cwd,
            env=outside_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def outside_env() -> dict[str, str]:
    """This process's environment without anything that points at the checkout."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("MASTRA_")}


def check_call(command: Sequence[str | Path], cwd: Path) -> None:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=outside_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    check_call(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, REPO_ROOT],
        cwd=dist,
    )
    [built] = dist.glob("mastra_storage-*.whl")
    return built


def install(wheel: Path, extras: str, venv: Path) -> Installed:
    """A fresh virtualenv with the wheel (and `extras`) and its dependencies
    from the index.

    The venv gets no pip of its own (ensurepip takes seconds); this pip installs
    into it with `--python`.
    """
    check_call([sys.executable, "-m", "venv", "--clear", "--without-pip", venv], cwd=venv)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    pip = [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check"]
    requirement = f"{wheel}[{extras}]" if extras else str(wheel)
    check_call([*pip, "install", "--quiet", "--no-compile", requirement], cwd=venv)
    return Installed(wheel, python, venv)


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel with the `postgres` and `async` extras."""
    return install(wheel, "postgres,async", tmp_path_factory.mktemp("venv"))


@pytest.fixture(scope="module")
def bare(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel alone: what a SQLite-only, sync user installs."""
    return install(wheel, "", tmp_path_factory.mktemp("bare"))


@pytest.mark.slow
def test_wheel_ships_the_migrations_and_type_information(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    shipped = {
        f"mastra_storage/_migrations/{path.relative_to(REPO_ROOT / 'migrations').as_posix()}"
        for path in (REPO_ROOT / "migrations").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert "mastra_storage/_migrations/env.py" in shipped
    assert "mastra_storage/_migrations/versions/0001_memory_tables.py" in shipped
    assert shipped <= names, sorted(shipped - names)
    assert "mastra_storage/py.typed" in names
    assert not [name for name in names if name.endswith((".pyc", ".db"))]
    # Nothing but the package and its metadata (no top-level `migrations` or `tests`).
    assert {name.split("/")[0].split("-")[0] for name in names} == {"mastra_storage"}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])
def test_installed_wheel_migrates_and_stores_outside_the_repo(
    installed: Installed, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "sqlite-file":
        args = [f"file:{tmp_path / 'x.db'}"]
        options = ["--url", args[0]]
    else:
        schemas = request.getfixturevalue("pg_schemas")
        args = [schemas.url, schemas.new("wheel")]
        options = ["--url", args[0], "--schema", args[1]]

    # The console script migrates with no checkout and no alembic.ini.
    upgraded = installed.command([*options, "migrate", "upgrade"], cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"-> {migrate.head()}" in upgraded.stdout

    result = installed.run(args, cwd=tmp_path)

    listed = installed.command([*options, "threads", "list", "--json"], cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [thread["title"] for thread in json.loads(listed.stdout)] == ["from the wheel"]
    checked = installed.command([*options, "migrate", "check"], cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr

    site = installed.venv.resolve()
    assert Path(result["package"]).resolve().is_relative_to(site)
    migrations = Path(result["migrations"]).resolve()
    assert migrations.is_relative_to(site) and migrations.name == "_migrations"
    assert {"mastra_storage.migrate", "mastra_storage.storage"} <= set(result["modules"])
    assert result["head"] == migrate.head()
    assert result["current"] == result["head"]
    assert result["read_back"] == result["written"]
    assert result["read_back"]["title"] == "from the wheel"
    if backend == "sqlite-file":
        assert (tmp_path / "x.db").is_file()


BARE_SCRIPT = """
import importlib, json, pkgutil, sys

import mastra_storage
from mastra_storage import DefaultStorage, PostgresStorage
from mastra_storage.errors import MissingDependencyError

present = [
    name for name in ("psycopg", "aiosqlite", "greenlet")
    if importlib.util.find_spec(name) is not None
]
modules, refused = [], {}
for info in pkgutil.walk_packages(mastra_storage.__path__, "mastra_storage."):
    try:
        modules.append(importlib.import_module(info.name).__name__)
    except MissingDependencyError as error:  # only the async modules may say so
        refused[info.name] = str(error)
storage = DefaultStorage(url=sys.argv[1])
thread = storage.create_thread(resource_id="user-1", title="sqlite only")
storage.save_messages(messages=[{"thread_id": thread.id, "role": "user", "content": "hi there"}])
storage.close()
# Memory on SQLite with the hashing embedder (no model, no extra).
from mastra_storage import HashingEmbedder, Memory
recall = {"last_messages": 1, "semantic_recall": {"top_k": 1, "message_range": 0}}
storage = DefaultStorage(url=sys.argv[1])
with Memory(storage, embedder=HashingEmbedder(), options=recall) as memory:
    memory.save_messages(messages=[
        {"thread_id": thread.id, "role": "assistant", "content": "the zucchini is ripe"}
    ])
    context = memory.recall(thread_id=thread.id, resource_id="user-1", query="zucchini")
    recalled = [m.content.content for m in context.messages if m.id in context.recalled_ids]
storage.close()
for label, make in (
    ("postgres", lambda: PostgresStorage(url="postgresql://u@localhost/db")),
    ("async", lambda: mastra_storage.AsyncDefaultStorage(url=sys.argv[1])),
):
    try:
        make()
    except MissingDependencyError as error:
        refused[label] = str(error)
print(json.dumps(
    {"present": present, "modules": modules, "refused": refused, "recalled": recalled}
))
"""


@pytest.mark.slow
def test_sqlite_only_users_need_no_extras(bare: Installed, tmp_path: Path) -> None:
    url = f"file:{tmp_path / 'bare.db'}"
    upgraded = bare.command(["--url", url, "migrate", "upgrade"], cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr

    script = tmp_path / "bare.py"
    script.write_text(BARE_SCRIPT)
    done = subprocess.run(
        [str(bare.python), str(script), url],
        cwd=tmp_path,
        env=outside_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["present"] == []  # none of the extras' packages came along
    assert {"mastra_storage.storage", "mastra_storage.cli"} <= set(result["modules"])
    assert set(result["refused"]) == {
        "postgres",
        "async",
        "mastra_storage._asyncio",
        "mastra_storage.async_storage",
    }
    assert "mastra-storage[postgres]" in result["refused"]["postgres"]
    assert all(
        "mastra-storage[async]" in message
        for name, message in result["refused"].items()
        if name != "postgres"
    )

    listed = bare.command(["--url", url, "threads", "list", "--json"], cwd=tmp_path)
    assert [t["title"] for t in json.loads(listed.stdout)] == ["sqlite only"]
    assert result["recalled"] == ["the zucchini is ripe"]

    # Memory imports as the README shows it, and reindexes from the command line
    # (the message saved through plain storage); the model needs the extra.
    imported = subprocess.run(
        [str(bare.python), "-c", "from mastra_storage import Memory, AsyncMemory"],
        cwd=tmp_path,
        env=outside_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    reindex = ["--url", url, "memory", "reindex", "--json"]
    indexed = bare.command([*reindex, "--embedder", "hashing"], cwd=tmp_path)
    assert indexed.returncode == 0, indexed.stderr
    assert json.loads(indexed.stdout)["resources"] == {"user-1": 1}
    no_model = bare.command(reindex, cwd=tmp_path)
    assert no_model.returncode == 1 and "mastra-storage[embeddings]" in no_model.stderr
    assert "Traceback" not in no_model.stderr


@pytest.mark.slow
def test_sdist_has_the_docs_and_license_and_no_example_migrations(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    dist = tmp_path_factory.mktemp("sdist")
    check_call([sys.executable, "-m", "build", "--sdist", "--outdir", dist, REPO_ROOT], cwd=dist)
    [built] = dist.glob("mastra_storage-*.tar.gz")
    with tarfile.open(built) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"README.md", "LICENSE", "docs/API.md", "CHANGELOG.md"} <= names
    assert "migrations/versions/0001_memory_tables.py" in names
    assert not [name for name in names if name.startswith(("examples/", "tests/", "bench/"))]


def test_license_and_metadata_tell_the_truth() -> None:
    license_text = (REPO_ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    # Every claimed Python version is a nox session, and only those.
    claimed = [
        c.rsplit(" :: ", 1)[1]
        for c in project["classifiers"]
        if c.startswith("Programming Language :: Python :: 3.")
    ]
    noxfile = (REPO_ROOT / "noxfile.py").read_text()
    assert f"PYTHONS = {json.dumps(claimed)}" in noxfile
    assert project["requires-python"] == f">={claimed[0]}"
    # The package page renders the README: no link may point into the repository.
    readme = (REPO_ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)]*)\)", readme)
    assert targets and all(t.startswith("https://") for t in targets), targets
