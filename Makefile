# Quick start:  make serve   (install, then start the vault on 127.0.0.1:8470)
#               make test    (install with dev tools, then lint, type-check and run every test,
#                             the TypeScript SDK's included: make test-ts)
# Inner loop:   make test-fast (lint, types, and the tests that start no process, on SQLite)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: serve test test-fast test-ts lint bench bench-scale clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Loomal Vault needs Python 3.11 or newer (set PYTHON=python3.12, ...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[server]'
	@touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

serve: $(VENV)/.installed
	$(BIN)/loomal serve

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# Tests keep their bytecode even where PYTHONDONTWRITEBYTECODE is set: without it every
# run compiles src/ again and re-rewrites the asserts of every test module, about 8 s of
# CPU in each xdist worker (__pycache__/ is ignored by git).
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest

# Every test, on both cores, each test module whole on one worker (--dist loadfile): a module
# that builds something outside its tmp dir (the official SDK's venv under .cache/, npx's
# cache, a wheel of this tree in build/) builds it once, never twice at the same time.
test: lint test-ts
	$(PYTEST) -n 2 --dist loadfile

# The inner loop: no process-starting tests, SQLite only (make test runs PostgreSQL too), on both cores.
test-fast: lint
	$(PYTEST) -n 2 -m "not slow and not postgres" -q

# The TypeScript SDK (sdk/typescript): build, type-level tests, and its tests against a
# real `loomal serve` from this venv. Without Node.js it is skipped, saying so, except
# under CI=true, where that fails.
test-ts: $(VENV)/.installed
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
	  set -x; cd sdk/typescript && npm ci --no-audit --no-fund && npm run build \
	    && LOOMAL_BIN="$(CURDIR)/$(BIN)/loomal" npm test; \
	elif [ "$$CI" = "true" ]; then \
	  echo "test-ts: node/npm not found, and CI=true" >&2; exit 1; \
	else \
	  echo "test-ts: SKIPPED: node/npm not found (Node.js 18+ runs the sdk/typescript tests)"; \
	fi

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py

# A million credentials on PostgreSQL (issue 29's scale): seeding takes minutes, so apart.
bench-scale: $(VENV)/.installed-dev
	$(BIN)/python bench/pg_scale.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
	rm -rf sdk/typescript/node_modules sdk/typescript/dist sdk/typescript/build
