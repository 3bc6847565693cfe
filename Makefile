# cellpath — two commands: `make run` and `make test`. Everything installs into .venv from
# requirements.lock (hashed); the venv is rebuilt only when the lock or pyproject changes.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
UV_VERSION := $(shell sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements.lock)

# Python keeps its bytecode cache (__pycache__/, git-ignored). Some machines set
# PYTHONDONTWRITEBYTECODE, and then every process (each test worker, CLI call, worker process,
# bench side) recompiled every module it imports from source: 3 s of CPU per `cellpath` call
# instead of 0.8 s, and twice the test collection time (docs/performance.md).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install run test test-faults test-fast lint fmt docs histories lock clean bench

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --quiet --python $(PY) --require-hashes requirements.lock
	$(BIN)/uv pip install --quiet --python $(PY) --no-deps -e .
	@touch $@

run: $(STAMP)
	$(BIN)/cellpath dev --demo

# Five workers, each taking the next single test when free, slowest first (tests/conftest.py;
# files sharing a module fixture stay together): the integration tests mostly
# wait on Temporal, so they overlap well on two cores (docs/performance.md, "The test suite's
# own time").
test: $(STAMP)
	$(BIN)/pytest -q -n 5 --dist load --no-loadscope-reorder

test-faults: $(STAMP)
	CELLPATH_FAULT_PATHWAYS=200 CELLPATH_FAULT_KILLS=5 CELLPATH_STORE_FAULT_PATHWAYS=40 CELLPATH_STORE_FAULT_KILLS=4 \
		$(BIN)/pytest -q tests/integration/test_faults.py tests/integration/test_store_faults.py

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not integration"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

docs: $(STAMP)
	$(BIN)/cellpath docs

# Record new replay histories (keep the old ones: see tests/histories/regenerate.py).
histories: $(STAMP)
	$(PY) -m tests.histories.regenerate

# cellpath against a bare Temporal baseline (docs/performance.md); writes bench/results.*.
bench: $(STAMP)
	$(PY) -m bench.run

# Re-pin after editing pyproject.toml. --no-header/--universal keep the lock free of
# machine paths; uv never writes index addresses into a requirements file unless asked.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal \
		--python-version 3.11 --no-header -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
