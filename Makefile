# The README's two commands: `make demo` and `make test`, and the contributor's fast loop,
# `make check`. Each sets up .venv first with what its tier needs (pyproject.toml's groups).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS := sandbox,pandas,s3,postgres
CHECK_STAMP := $(VENV)/.check-stamp
STAMP := $(VENV)/.installed-stamp
PORT ?= 8888
# JupyterLab refuses to run as root unless told; containers and CI machines often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: demo test check lint typecheck bench mutate clean compat

# The project with every extra, and the test group (pip >= 25.1 installs groups).
$(CHECK_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]' --group test
	touch $(CHECK_STAMP)

# Then the browser and release groups too: everything `make test` and `make demo` use.
$(STAMP): $(CHECK_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]' --group dev
	touch $(STAMP)

## JupyterLab on the quickstart notebook, against the embedded sandbox (no token needed). It runs
## copies of the notebooks in $(DEMO_DIR)/ (made once, ignored by git; delete it for fresh ones), so
## outputs and files the notebooks write never land in the tracked notebooks/.
DEMO_DIR := demo
demo: $(STAMP)
	mkdir -p $(DEMO_DIR)
	for nb in notebooks/*.ipynb; do [ -e "$(DEMO_DIR)/$${nb##*/}" ] || cp "$$nb" $(DEMO_DIR)/; done
	env -u KITTA_API_TOKEN -u KITTA_BASE_URL $(BIN)/jupyter lab --port=$(PORT) $(ROOT_FLAG) \
		--ServerApp.root_dir=$(DEMO_DIR) --LabApp.default_url=/lab/tree/01_quickstart.ipynb

## Lint (ruff, the import contract), type-check and run every test (browser tests included when Chromium is installed).
test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest

## The contributor's fast loop (under 3 minutes): lint, types, the import contract, and the fast
## tier (unit tests, contract tests on httpx.MockTransport, one sandbox smoke; tests/plugins/tiers.py).
check: $(CHECK_STAMP) lint typecheck
	$(BIN)/python -m pytest --fast -n 4

## The token canary on Python 3.12 and 3.13, and a sandbox task on the lowest declared versions.
compat: $(STAMP)
	UV=$(BIN)/uv PYTHON=$(PYTHON) bash scripts/compat.sh

lint: $(CHECK_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(CHECK_STAMP)
	$(BIN)/mypy

## Benchmarks against the sandbox (results in benchmarks/*.json and benchmarks/RESULTS.md).
bench: $(STAMP)
	$(BIN)/python -m benchmarks
	$(BIN)/python benchmarks/bench_history.py
	$(BIN)/python -m benchmarks.bench_media
	$(BIN)/python benchmarks/soak.py

## Mutation testing of the billing and file modules (slow; report in benchmarks/MUTATION.md).
## On a shared machine: make mutate MUTATE_ARGS="--max-children 1 --only kitta_notebook/_kept.py"
mutate: $(STAMP)
	$(BIN)/python -m pip install --quiet --group mutation
	$(BIN)/python -m benchmarks.mutate $(MUTATE_ARGS)

clean:
	rm -rf mutants $(VENV) .pytest_cache .mypy_cache .ruff_cache
