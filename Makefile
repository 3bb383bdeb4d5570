# `make test` and `make demo` work on a fresh clone with only python3 on the PATH:
# they create .venv when missing and (re)install the project when pyproject.toml changed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.landscape-installed
PYTEST_WORKERS ?= 2
# Threads per test process; CI runs the suite with 1 and with 2 (see .ci/run). The test order
# is random (pytest-randomly prints its seed; rerun an order with
# `make test PYTEST_ARGS=--randomly-seed=N`).
THREADS ?= 1
PYTEST_ARGS ?=

.PHONY: install test demo lint bench clean-demo

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

test: $(STAMP)
	OMP_NUM_THREADS=$(THREADS) MPLBACKEND=Agg $(PY) -m pytest -n $(PYTEST_WORKERS) -q $(PYTEST_ARGS)

demo: $(STAMP)
	MPLBACKEND=Agg $(VENV)/bin/landscape demo --out checkpoints/demo --figures figures/demo

lint: $(STAMP)
	$(VENV)/bin/ruff check landscape tests benchmarks analysis_scripts
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) -m benchmarks

clean-demo:
	rm -rf checkpoints/demo figures/demo
