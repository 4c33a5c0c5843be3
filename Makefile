# OpenIIoT developer commands. Each target creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint bench eval format clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "OpenIIoT needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/openiiot demo

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks evaluation
	$(BIN)/ruff format --check src tests benchmarks evaluation
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks evaluation
	$(BIN)/ruff check --fix src tests benchmarks evaluation

# make bench runs benchmarks/ingest.py; make bench BENCH=alarms runs benchmarks/alarms.py, and so on.
BENCH ?= ingest
bench: $(STAMP)
	$(BIN)/python benchmarks/$(BENCH).py $(BENCH_ARGS)

eval: $(STAMP)
	$(BIN)/python evaluation/run.py $(EVAL_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
