# rung — the two commands on a fresh machine: `make demo` and `make test`.
# Nothing is assumed installed beyond Python 3.11+, venv, pip and make.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test lint bench clean venv

$(VENV)/.installed-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[examples]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $(VENV)/.installed-base $@

# The KServe Python SDK, which the Open Inference Protocol tests drive, pins pandas below
# rung's: it gets a virtual environment of its own (tests/oip_kserve_client.py runs in it).
KSERVE_VENV ?= .venv-kserve

$(KSERVE_VENV)/.installed: Makefile
	$(PYTHON) -m venv $(KSERVE_VENV)
	$(KSERVE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(KSERVE_VENV)/bin/python -m pip install --quiet 'kserve>=0.21,<0.22' numpy httpx
	touch $@

venv: $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(PY) examples/market_trend/demo.py

test: $(VENV)/.installed-dev $(KSERVE_VENV)/.installed
	$(VENV)/bin/ruff check src tests examples benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	RUNG_KSERVE_PYTHON=$(abspath $(KSERVE_VENV))/bin/python $(VENV)/bin/pytest -n 2 --dist loadgroup

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests examples benchmarks
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# `make bench BENCH=serve`: the serving benchmark alone (see benchmarks/README.md)
BENCH ?=
bench: $(VENV)/.installed-dev
	bash benchmarks/run.sh $(BENCH)

clean:
	rm -rf $(VENV) $(KSERVE_VENV) .pytest_cache .mypy_cache .ruff_cache
