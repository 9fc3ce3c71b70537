"""The test suite on every Python version the package claims (`requires-python`).

    .venv/bin/nox                      # every claimed version
    .venv/bin/nox -s tests-3.13        # one of them

Each session installs the package from this checkout (not editable, with the
`dev` extra: every backend's and every test's packages) into a fresh
virtualenv, so it also proves the dependency ranges install there. Interpreters come from PATH,
or from pyenv's versions when it has them.
"""

from __future__ import annotations

import glob
import os

import nox

PYTHONS = ["3.11", "3.12", "3.13"]
"""Keep in step with `requires-python` and the classifiers in pyproject.toml."""

OLDEST, NEWEST = PYTHONS[0], PYTHONS[-1]

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

_pyenv = os.path.expanduser(os.environ.get("PYENV_ROOT", "~/.pyenv"))
for _version in PYTHONS:
    for _bin in sorted(glob.glob(os.path.join(_pyenv, "versions", f"{_version}.*", "bin"))):
        os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), _bin])


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole suite (SQLite and PostgreSQL, sync and async)."""
    session.install(".[dev]")
    session.run("pytest", "-q", *session.posargs)
