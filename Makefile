# The README's two commands: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8888
# JupyterLab refuses to run as root unless told; containers and CI machines often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: demo test lint typecheck unit bench mutate clean compat

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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

## The token canary on Python 3.12 and 3.13, and a sandbox task on the lowest declared versions.
compat: $(STAMP)
	UV=$(BIN)/uv PYTHON=$(PYTHON) bash scripts/compat.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

## Benchmarks against the sandbox (results in benchmarks/*.json and benchmarks/RESULTS.md).
bench: $(STAMP)
	$(BIN)/python -m benchmarks
	$(BIN)/python benchmarks/bench_history.py
	$(BIN)/python -m benchmarks.bench_media
	$(BIN)/python benchmarks/soak.py

## Mutation testing of the billing and file modules (slow; report in benchmarks/MUTATION.md).
mutate: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[mutation]'
	$(BIN)/python -m benchmarks.mutate

clean:
	rm -rf mutants $(VENV) .pytest_cache .mypy_cache .ruff_cache
