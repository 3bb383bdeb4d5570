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

# The peers the benchmarks compare against, at the versions benchmarks/README.md reports; not
# dependencies of landscape, installed beside the venv (a benchmark skips a peer it cannot import).
BENCH_PEERS ?= .bench-peers
PEER_PACKAGES := PyHessian==0.1 curvlinops-for-pytorch==3.0.1 hessian-eigenthings==1.0.0a5 \
	backpack-for-pytorch==1.7.1 einops==0.8.2 einconv==0.1.0 linear_operator==0.6.1 \
	opt-einsum==3.4.0 loss-landscapes==3.0.6
# One pinned core, one thread (where taskset exists), as every table in benchmarks/README.md.
PIN := $(shell command -v taskset >/dev/null 2>&1 && echo taskset -c 0) env OMP_NUM_THREADS=1

$(BENCH_PEERS)/.installed:
	-$(PY) -m pip install --quiet --no-deps --target $(BENCH_PEERS) $(PEER_PACKAGES) && touch $@

bench: $(STAMP) $(BENCH_PEERS)/.installed
	LANDSCAPE_BENCH_PEERS=$(BENCH_PEERS) $(PIN) $(PY) -m benchmarks

clean-demo:
	rm -rf checkpoints/demo figures/demo
