# Trendscope: `make run` (demo week through Airflow) and `make test` (the test suite).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

# Airflow runs in-process with a SQLite metadata DB under the project (no server).
export AIRFLOW_HOME                        := $(CURDIR)/airflow_home
export AIRFLOW__CORE__DAGS_FOLDER          := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER       := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES        := False
export AIRFLOW__CORE__UNIT_TEST_MODE       := False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN := sqlite:///$(CURDIR)/airflow_home/airflow.db
export AIRFLOW__LOGGING__BASE_LOG_FOLDER   := $(CURDIR)/airflow_home/logs

DEMO_DIR ?= data/dropzone
DAYS     ?= 7

.PHONY: help setup models demo-data airflow-db run test lint format clean

help:
	@echo "make run    - set up, fetch models, build the demo drop zone, run trendscope_daily for the demo week and trendscope_rollup"
	@echo "make test   - set up, fetch models, lint, run the test suite"
	@echo "make lint / make format / make clean"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@# the scraper source (and its tests) drive headless Chromium through chromedriver
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing chromium and chromium-driver (apt-get) for the scraper source ..."; \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
		else \
			echo "NOTE: chromium/chromedriver not on PATH; the scraper source and tests/e2e/test_scraper.py need them." >&2; \
			echo "      Install as root: apt-get install chromium chromium-driver (or set source.scraper.chromium_binary/chromedriver)." >&2; \
		fi; \
	fi
	@# tests/e2e/test_airflow_services.py runs Airflow's services on a throwaway PostgreSQL
	@if ! command -v pg_ctl >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing postgresql (apt-get) for the Airflow services test ..."; \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; \
		else \
			echo "NOTE: PostgreSQL (initdb, pg_ctl) not found; tests/e2e/test_airflow_services.py is skipped." >&2; \
			echo "      Install as root: apt-get install postgresql." >&2; \
		fi; \
	fi
	@# real labelled product photos (Fashion-MNIST) for the training tests, benchmark and demo
	@if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing dataset-fashion-mnist (apt-get) for the classifier training tests ..."; \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist; \
		else \
			echo "NOTE: Fashion-MNIST not found; the training tests and benchmark need it." >&2; \
			echo "      Install as root: apt-get install dataset-fashion-mnist." >&2; \
		fi; \
	fi
	touch $@

setup: $(STAMP)

models: setup
	$(PY) -m trendscope fetch-models

demo-data: setup
	$(PY) -m trendscope demo-data --out $(DEMO_DIR) --days $(DAYS)

airflow-db: setup
	mkdir -p $(AIRFLOW_HOME)
	$(VENV)/bin/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (tail -50 $(AIRFLOW_HOME)/db-migrate.log; exit 1)

run: models demo-data airflow-db
	@echo "Running trendscope_daily for $(DAYS) days, then trendscope_rollup, through Airflow (log: airflow_home/make-run.log) ..."
	@$(PY) -m trendscope.orchestration.local_airflow --dag-id trendscope_daily --days $(DAYS) --rollup \
		> $(AIRFLOW_HOME)/make-run.log 2>&1 || (tail -80 $(AIRFLOW_HOME)/make-run.log; exit 1)
	@grep -E "^trendscope_(daily|rollup) [0-9-]+: " $(AIRFLOW_HOME)/make-run.log
	@$(PY) -m trendscope.orchestration.local_airflow --days $(DAYS) --report-only

test: models
	$(VENV)/bin/ruff check include dags tests benchmarks
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check include dags tests benchmarks
	$(VENV)/bin/ruff format --check include dags tests benchmarks

format: setup
	$(VENV)/bin/ruff format include dags tests benchmarks
	$(VENV)/bin/ruff check --fix include dags tests benchmarks

clean:
	rm -rf data airflow_home .pytest_cache
