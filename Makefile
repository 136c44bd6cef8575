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

# The test suite's OpenID provider (npm oidc-provider, tests/idp): installed from its lock by `npm ci`, once per
# change of the lock (the stamp), never by hand. Node.js 20+ and npm come with the machine.
IDP_DIR := tests/idp
IDP_STAMP := $(IDP_DIR)/node_modules/.installed

CAMPAIGN ?= rush
HOST ?=

.PHONY: help venv system-deps idp-deps run test lint chaos fuzz load bench tf-test attack lock lock-check audit clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# uv, pinned, from PyPI, in a folder of its own (not in .venv, which `uv sync` keeps exactly to the lock). Needs
# only Python 3.11+ with its venv module. Bump UV_VERSION here and in the Dockerfile together (a test checks).
UV_VERSION := 0.13.10
UV_HOME := .tools/uv
UV := $(UV_HOME)/bin/uv
UV_STAMP := $(UV_HOME)/.installed-$(UV_VERSION)
# uv reads no uv.toml of the machine or the user (and never pip's config): it resolves and installs from PyPI as
# pyproject.toml's [tool.uv] says, into .venv, with the Python given here (it downloads none).
export UV_NO_CONFIG := 1
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Byte-compile at install, as pip does: uv does not by default, and with PYTHONDONTWRITEBYTECODE set (this
# machine, the image) every process then compiled every module again: `import flashsale.app` took 8-13 s instead
# of 4.6-6.5 s on a loaded 2-core box, past uvicorn's 5 s worker health check, which killed the workers.
export UV_COMPILE_BYTECODE := 1
unexport UV_INDEX UV_DEFAULT_INDEX UV_INDEX_URL UV_EXTRA_INDEX_URL UV_FIND_LINKS UV_PYTHON UV_OFFLINE UV_FROZEN UV_LOCKED

$(UV_STAMP):
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (3.11+)"; exit 1; }
	rm -rf $(UV_HOME)
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'
	@touch $@

# The venv is uv.lock's dev set, exactly: the package (editable), every extra and every dependency group, at the
# locked versions with their hashes checked, so every clone tests with the same tool versions.
$(STAMP): pyproject.toml uv.lock $(UV_STAMP)
	$(UV) sync --quiet --frozen --all-extras --all-groups --python $(PYTHON)
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

$(IDP_STAMP): $(IDP_DIR)/package.json $(IDP_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "need Node.js 20+ and npm (the tests' OpenID provider, tests/idp)"; exit 1; }
	npm ci --prefix $(IDP_DIR) --no-audit --no-fund --loglevel=error
	@touch $@

idp-deps: $(IDP_STAMP) ## install the tests' OpenID provider (npm ci in tests/idp, from its lock)

run: $(STAMP) ## serve the API on 127.0.0.1:8000 (embedded Redis unless FLASHSALE_REDIS_URL is set)
	$(BIN)/flashsale serve --embedded

attack: $(STAMP) ## 500 buyers, 50 units, safe and unsafe paths, on an embedded stack
	$(BIN)/flashsale attack --buyers 500 --stock 50 --path both

test: system-deps $(STAMP) $(IDP_STAMP) ## install what the tests need and run the whole suite
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP) lock-check ## uv.lock matches pyproject.toml (offline), ruff, mypy --strict and the import layers
	$(BIN)/ruff check service tests load tools
	$(BIN)/ruff format --check service tests load tools
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

fuzz: system-deps $(STAMP) ## schemathesis, deep: 300 examples per operation, every phase, demo on, real server + Redis
	$(BIN)/python -m tests.deep_fuzz --max-examples 300

chaos: system-deps $(STAMP) $(IDP_STAMP) ## the fault-injection suite only
	$(BIN)/python -m pytest -q -m chaos

load: $(STAMP) ## one locust campaign headless (CAMPAIGN=rush|steady|soldout-storm|unsafe-vs-safe|checkout|queue|sizes, HOST=...)
	$(BIN)/python -m load.run $(CAMPAIGN) $(if $(HOST),--host $(HOST),)

bench: system-deps $(STAMP) ## the throughput benchmark: load/reports/bench.{json,md,png}, then export.json, queue-bench.json and sizes-bench.json
	$(BIN)/python -m load.bench
	$(BIN)/python -m load.export_bench
	$(BIN)/python -m load.bench.queue
	$(BIN)/python -m load.bench.identity
	$(BIN)/python -m load.bench.sizes

lock-check: $(UV_STAMP) ## does uv.lock still match pyproject.toml? (offline, resolves nothing)
	@$(UV) lock --check --offline --quiet || { echo "uv.lock does not match pyproject.toml: run 'make lock'" >&2; exit 1; }

lock: $(UV_STAMP) ## regenerate uv.lock from pyproject.toml (PyPI); UPGRADE=1 moves every pin to the newest allowed
	$(UV) lock $(if $(UPGRADE),--upgrade,)

audit: $(STAMP) ## pip-audit of the image's locked runtime set (hashes, no resolution); fails on a fixable vulnerability
	$(BIN)/python tools/audit.py --uv $(UV) $(AUDIT_FLAGS)

tf-test: ## terraform fmt, offline init + validate, terraform test, checkov
	bash terraform/tf-test.sh

clean: ## remove the venv and caches
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache load/reports/* $(IDP_DIR)/node_modules
