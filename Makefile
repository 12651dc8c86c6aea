# braze-kafka-bridge — developer and CI entry points. `make help` lists them.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install browser demo console test lint typecheck unit integration chart-test bench bench-short clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,browser]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the bridge with dev tools

demo: $(STAMP) ## local Kafka + Braze sandbox + bridge + sample events; shows what Braze received
	$(BIN)/python scripts/demo.py

console: $(STAMP) ## the demo, then the web console on it (http://127.0.0.1:4020) until Ctrl-C
	$(BIN)/python scripts/demo.py --console

browser: ## Debian's chromium for the console's browser tests (idempotent; CI: must succeed)
	scripts/install-browser

lint: $(STAMP) ## ruff lint and format check, import layers (lint-imports), module and function sizes (check-structure)
	$(BIN)/ruff check bridge tests scripts bench
	$(BIN)/ruff format --check bridge tests scripts bench
	$(BIN)/lint-imports
	$(BIN)/python scripts/check-structure

typecheck: $(STAMP) ## mypy --strict on bridge/
	$(BIN)/mypy

unit: $(STAMP) ## unit tests only (no broker), one worker per core, with line coverage of bridge/processing/ (>= 85 %)
	$(BIN)/pytest -q -n auto -m "not integration" --cov=bridge.processing --cov-report=term-missing tests

test: lint typecheck browser ## everything CI runs: lint, types, unit + integration + e2e + browser + chart tests, bench smoke
	$(BIN)/pytest -q -ra --durations=15 tests
	$(BIN)/python -m bench --short

integration: $(STAMP) browser ## integration, e2e and browser tests on the real broker
	$(BIN)/pytest -q -m integration tests

chart-test: $(STAMP) ## helm lint + template assertions
	$(BIN)/pytest -q tests/helm

bench: $(STAMP) ## full benchmark report into bench/results/
	$(BIN)/python -m bench

bench-short: $(STAMP) ## benchmarks in short mode (seconds)
	$(BIN)/python -m bench --short

clean: ## stop local services, remove build state
	-scripts/local-kafka stop
	rm -rf .local build dist *.egg-info
