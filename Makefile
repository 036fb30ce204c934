# Set-up is part of every target: a fresh machine needs only python3 (3.11+) and make.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# The Dagster instance (run history, schedules, logs): Dagster's own convention, a folder with a dagster.yaml.
DAGSTER_HOME ?= $(CURDIR)/data/dagster
export DAGSTER_HOME

# The dbt packages of the reports (fivetran/linkedin, fivetran_utils, dbt_utils) for machines without dbt's hub: the
# folder in LINKEDIN_ASSETS_DBT_PACKAGES_DIR, else the shared copy beside the repository or at /work/shared when one
# exists (an absolute path, found when make runs); none: the hub (linkedin-assets reports prepare says what failed).
LINKEDIN_ASSETS_DBT_PACKAGES_DIR ?= $(firstword $(realpath $(CURDIR)/../shared/external/dbt /work/shared/external/dbt))
export LINKEDIN_ASSETS_DBT_PACKAGES_DIR
DBT_PROJECT := linkedin_assets/dbt_project
DBT_SOURCES := $(wildcard $(DBT_PROJECT)/*.yml $(DBT_PROJECT)/models/* $(DBT_PROJECT)/models/*/* $(DBT_PROJECT)/macros/*)

.PHONY: demo test bench dev lint install instance workers

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'  # test includes the simulator and celery extras
	touch $@

# dbt deps + dbt parse of the reports' dbt project (the code location does it too when it loads and finds none).
$(DBT_PROJECT)/target/manifest.json: $(BIN)/.installed $(DBT_SOURCES)
	$(BIN)/linkedin-assets reports prepare
	touch $@

install: $(BIN)/.installed $(DBT_PROJECT)/target/manifest.json

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

# The instance in DAGSTER_HOME with the project's dagster.yaml, and the linkedin_api pool limited to 1 before the
# first run is queued (dagster.yaml's pools.default_limit only applies from the queue's second pass on). A limit
# changed later in the UI is kept.
instance: install $(DAGSTER_HOME)/dagster.yaml
	@$(BIN)/dagster instance concurrency get --all | grep -q '"linkedin_api"' \
		|| $(BIN)/dagster instance concurrency set linkedin_api 1

demo: instance  ## sync the simulator's medium profile (90 days) into data/warehouse.duckdb, then the dbt reports
	$(BIN)/linkedin-assets demo --profile medium $(if $(VERBOSE),--verbose)

test: install  ## the whole suite (PostgreSQL at 127.0.0.1:5432, see LINKEDIN_ASSETS_TEST_PG)
	$(BIN)/pytest

bench: install  ## benchmarks that print requests, seconds, rows/s and peak RSS
	$(BIN)/python benchmarks/bench_client.py
	$(BIN)/python benchmarks/bench_warehouse.py
	$(BIN)/python benchmarks/bench_sync.py

# The processes that execute runs and steps (run workers, Celery workers) store a range run's per-partition
# materializations in batches: one INSERT each on a PostgreSQL instance (linkedin-assets sets it for itself).
dev workers: export DAGSTER_EVENT_BATCH_SIZE ?= 1000
dev: instance  ## the Dagster UI and daemon on http://127.0.0.1:3000, on the instance in DAGSTER_HOME
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# Two Celery workers for runs with LINKEDIN_ASSETS_EXECUTOR=celery (docs/scaling.md), started by Dagster's own command.
# They load the code location, so they need its environment (LINKEDIN_*, a PostgreSQL warehouse in
# LINKEDIN_ASSETS_DATABASE_URL: DuckDB takes one writer process), and reach the run's instance (here DAGSTER_HOME on
# this machine; across machines a PostgreSQL instance). Broker/backend: CELERY_BROKER_URL/CELERY_BACKEND_URL, default
# the local RabbitMQ and Redis. Ctrl-C stops both.
CELERY_WORKER = PATH="$(CURDIR)/$(BIN):$$PATH" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-pyamqp://guest@127.0.0.1//}" \
	CELERY_BACKEND_URL="$${CELERY_BACKEND_URL:-redis://127.0.0.1:6379/0}" \
	$(BIN)/dagster-celery worker start -A dagster_celery.app -y deploy/celery-worker.yaml -i linkedin_assets.definitions
workers: instance  ## two Celery workers (dagster-celery worker start) for LINKEDIN_ASSETS_EXECUTOR=celery
	@trap 'kill 0' INT TERM; \
	$(CELERY_WORKER) -n linkedin-worker-1 & \
	$(CELERY_WORKER) -n linkedin-worker-2 & \
	wait

lint: install
	$(BIN)/ruff check linkedin_assets linkedin_assets_tests benchmarks
