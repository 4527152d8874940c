# The two commands: `make run` and `make test`. Both set up what they need.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HAS_UI := $(wildcard frontend/package.json)
HAS_E2E := $(wildcard frontend/e2e/run.mjs)
UI_SRC := $(shell find frontend/src frontend/index.html frontend/vite.config.* -type f 2>/dev/null)

.PHONY: run test test-python test-frontend test-e2e screenshots lint bench venv ui chromium clean

run: venv ui  ## start the whole product (embedded mode) on http://127.0.0.1:8000
	$(BIN)/autotuner serve

venv: $(STAMP)
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

ifneq ($(HAS_UI),)
ui: frontend/dist/index.html
frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	npm ci --prefix frontend --no-audit --no-fund --loglevel=error
	touch $@
frontend/dist/index.html: frontend/node_modules/.installed $(UI_SRC)
	npm run build --prefix frontend
else
ui:
	@echo "no frontend/ yet: serving the API only"
endif

chromium:  ## the browser the end-to-end tests drive (Debian's; no downloads)
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  || { echo "cannot install chromium: run 'apt-get install chromium' as root"; exit 1; }; }

test: venv ui lint test-python test-frontend test-e2e  ## lint, then every suite: Python, frontend, browser

test-python: venv
	$(BIN)/pytest

ifneq ($(HAS_UI),)
test-frontend: frontend/node_modules/.installed
	npm run lint --prefix frontend
	npm test --prefix frontend
ifneq ($(HAS_E2E),)
# The browser suite's screenshots go to a scratch folder; `make screenshots`
# refreshes the ones in docs/ from a real run.
test-e2e: venv ui chromium
	AUTOTUNER_BIN=$(CURDIR)/$(BIN)/autotuner E2E_SCREENSHOTS=$(CURDIR)/frontend/test-results/screenshots \
	  npm run e2e --prefix frontend
screenshots: venv ui chromium
	AUTOTUNER_BIN=$(CURDIR)/$(BIN)/autotuner E2E_SCREENSHOTS=$(CURDIR)/docs/screenshots \
	  npm run e2e --prefix frontend
else
test-e2e:
	@echo "no browser suite (frontend/e2e/run.mjs) yet"
endif
else
test-frontend test-e2e:
	@echo "no frontend/ yet"
endif

lint: venv
	$(BIN)/ruff check autotuner tests benchmarks
	$(BIN)/ruff format --check autotuner tests benchmarks
	$(BIN)/mypy autotuner

BENCH := $(BIN)/python benchmarks/ws_fanout.py
bench: venv  ## the figures of docs/benchmarks.md (medians of 3 runs each; about 20 minutes)
	$(BENCH) fanout --mode embedded --clients 100 --rate 50
	$(BENCH) fanout --mode embedded --clients 1000 --rate 12
	$(BENCH) fanout --mode distributed --clients 100 --rate 50
	$(BENCH) fanout --mode distributed --clients 1000 --rate 12
	$(BENCH) fanout --mode embedded --clients 1000 --rate 25
	$(BENCH) fanout --mode distributed --clients 1000 --rate 25
	$(BENCH) fanout --mode embedded --clients 1000 --rate 50
	$(BENCH) idle --connections 10000
	$(BENCH) idle --connections 10000 --deflate

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist data
