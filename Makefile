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

venv: $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(PY) examples/market_trend/demo.py

test: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests examples benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -n 2 --dist loadgroup

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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
