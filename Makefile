# GuardWatch: `make demo` and `make test` are the two commands that matter (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_VERSION := $(shell cat .python-version)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum requirements/dev.txt | cut -c1-16)
DEMO_ENV := GUARDWATCH_ENV=demo
TEST_ENV := GUARDWATCH_ENV=test
DEMO_PORT ?= 8000
SIM_PORT ?= 4566

.PHONY: help install demo test lint unit browser-deps idp-deps ci-services bench lock clean compose-check openapi

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(VENV)/bin/python:
	@py=$$(./.ci/find-python $(PYTHON_VERSION)) || exit 1; \
	  echo "Creating $(VENV) with $$py"; \
	  "$$py" -m venv $(VENV)

$(STAMP): requirements/dev.txt $(VENV)/bin/python
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.txt
	@# Put the checkout on the venv's path (what an editable install does, without a build step).
	@echo "$(CURDIR)" > $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/guardwatch-src.pth
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)  ## create .venv and install the locked dependencies

demo: install $(if $(filter 1,$(SSO)),idp-deps)  ## migrate a SQLite demo, seed it, start simulator + worker + web, print URL and logins (SSO=1: and an OpenID Connect IdP)
	@mkdir -p var
	$(DEMO_ENV) $(PY) manage.py migrate --no-input -v 0
	$(DEMO_ENV) $(PY) manage.py demo_users
	$(DEMO_ENV) $(PY) manage.py demo --port $(DEMO_PORT) --sim-port $(SIM_PORT) $(if $(filter 1,$(SSO)),--sso)

browser-deps:  ## Debian's chromium for the browser tests (Playwright cannot download browsers here)
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

lint: install  ## ruff, and import-linter's contracts (the apps' layers; no import of the simulator; no cycles)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

IDP_STAMP := tests/idp/node_modules/.installed-$(shell sha256sum tests/idp/package-lock.json | cut -c1-16)

$(IDP_STAMP): tests/idp/package.json tests/idp/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: the single sign-on tests run node-oidc-provider (node 20+)"; exit 1; }
	cd tests/idp && npm ci --no-audit --no-fund --loglevel=error
	@rm -f tests/idp/node_modules/.installed-*; touch $@

idp-deps: $(IDP_STAMP)  ## the single sign-on tests' OpenID Connect provider (npm ci from tests/idp/package-lock.json)

test: lint browser-deps idp-deps  ## lint, then the whole suite against real Postgres and Redis
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

unit: install  ## the suite without browser tests, for quick runs
	$(TEST_ENV) $(PY) -m pytest -m "not browser" $(PYTEST_ARGS)

bench: install  ## run the benchmarks in bench/ (see docs/benchmarks.md)
	$(TEST_ENV) $(PY) bench/run_all.py

compose-check:  ## validate docker-compose.yml when a docker client exists
	@if docker compose version >/dev/null 2>&1; then \
	  SECRET_KEY=compose-check POSTGRES_PASSWORD=compose-check docker compose config --quiet && echo "docker-compose.yml is valid"; \
	  else echo "docker compose is not installed here; tests/core/test_deployment.py checks the file instead"; fi

lock: install  ## re-resolve requirements/*.txt from pyproject.toml (needs uv: pip install uv)
	uv pip compile pyproject.toml --python-version $(PYTHON_VERSION) --generate-hashes --universal -o requirements/prod.txt
	uv pip compile pyproject.toml --extra dev --python-version $(PYTHON_VERSION) --generate-hashes --universal -o requirements/dev.txt

openapi: install  ## regenerate docs/openapi.yaml, the API's committed OpenAPI document (a test fails on drift)
	$(TEST_ENV) $(PY) manage.py spectacular --validate --fail-on-warn --file docs/openapi.yaml

clean:  ## remove the venv and demo state
	rm -rf $(VENV) var staticfiles test-output
