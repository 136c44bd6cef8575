# flashsale: `make run` serves the API on an embedded Redis; `make test` installs what the tests need and runs them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the test suite uses: real Redis 7 (single and cluster), promtool and a Prometheus server,
# amtool (Alertmanager's config check), the compose parser, shellcheck, wrk and haproxy (to check the load balancer's
# config), PostgreSQL 15 (the export tests start their own server with its initdb/pg_ctl), headless Chromium and its
# driver (the waiting page's browser test). Installed only when a binary is missing.
APT_PACKAGES := redis-server redis-tools prometheus prometheus-redis-exporter prometheus-alertmanager docker-compose shellcheck wrk haproxy postgresql chromium chromium-driver
APT_BINARIES := redis-server redis-cli redis-benchmark promtool prometheus prometheus-redis-exporter amtool docker-compose shellcheck wrk haproxy chromium chromedriver

CAMPAIGN ?= rush
HOST ?=

.PHONY: help venv system-deps run test lint chaos fuzz load bench tf-test attack lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# The venv follows the lock. A --hash anywhere puts pip in hash-checking mode for every requirement (pip docs,
# "Secure installs"), which the editable package and the unlocked dev tools cannot satisfy, so: first the
# locked set with its hashes, exactly as the image installs it; then the package and its dev tools,
# constrained to the same pins by a hash-free copy of the lock (docs/decisions.md, issue 18 packaging).
$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (3.11+)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	sed -e '/--hash=/d' -e 's/ *\\$$//' requirements.lock > $(VENV)/constraints.txt
	$(BIN)/pip install --quiet -c $(VENV)/constraints.txt -e '.[dev]'
	@touch $@

venv: $(STAMP) ## create .venv with the package and its dev tools

system-deps: ## install the Debian packages the tests need (only those missing)
	@missing=""; for b in $(APT_BINARIES); do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing initdb"; \
	if [ -n "$$missing" ]; then \
	  echo "missing:$$missing -> apt-get install $(APT_PACKAGES)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi

run: $(STAMP) ## serve the API on 127.0.0.1:8000 (embedded Redis unless FLASHSALE_REDIS_URL is set)
	$(BIN)/flashsale serve

attack: $(STAMP) ## 500 buyers, 50 units, safe and unsafe paths, on an embedded stack
	$(BIN)/flashsale attack --buyers 500 --stock 50 --path both

test: system-deps $(STAMP) ## install what the tests need and run the whole suite
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP) ## ruff and mypy --strict
	$(BIN)/ruff check service tests load
	$(BIN)/ruff format --check service tests load
	$(BIN)/mypy

fuzz: system-deps $(STAMP) ## schemathesis, deep: 300 examples per operation, every phase, demo on, real server + Redis
	$(BIN)/python -m tests.deep_fuzz --max-examples 300

chaos: system-deps $(STAMP) ## the fault-injection suite only
	$(BIN)/python -m pytest -q -m chaos

load: $(STAMP) ## one locust campaign headless (CAMPAIGN=rush|steady|soldout-storm|unsafe-vs-safe|checkout|queue|sizes, HOST=...)
	$(BIN)/python -m load.run $(CAMPAIGN) $(if $(HOST),--host $(HOST),)

bench: system-deps $(STAMP) ## the throughput benchmark: load/reports/bench.{json,md,png}, then export.json, queue-bench.json and sizes-bench.json
	$(BIN)/python -m load.bench
	$(BIN)/python -m load.export_bench
	$(BIN)/python -m load.bench.queue
	$(BIN)/python -m load.bench.sizes

UV_VERSION := 0.13.9
lock: $(STAMP) ## regenerate requirements.lock (hash-pinned image dependencies) from pyproject.toml; needs PyPI
	$(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'
	$(BIN)/python tools/lock.py

tf-test: ## terraform fmt, offline init + validate, terraform test, checkov
	bash terraform/tf-test.sh

clean: ## remove the venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache load/reports/*
