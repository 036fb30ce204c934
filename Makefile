# Set-up is part of every target: a fresh machine needs only python3 (3.11+) and make.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test bench dev lint install

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

demo: install  ## full sync of the built-in simulator into the embedded warehouse (no server needed)
	$(BIN)/linkedin-assets demo

test: install  ## the whole suite (PostgreSQL at 127.0.0.1:5432, see LINKEDIN_ASSETS_TEST_PG)
	$(BIN)/pytest

bench: install  ## benchmarks that print requests, seconds, rows/s and peak RSS
	$(BIN)/python benchmarks/bench_client.py
	$(BIN)/python benchmarks/bench_warehouse.py
	$(BIN)/python benchmarks/bench_sync.py

dev: install  ## the Dagster UI and daemon on http://127.0.0.1:3000
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

lint: install
	$(BIN)/ruff check linkedin_assets linkedin_assets_tests benchmarks
