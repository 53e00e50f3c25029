# noble: `make figures` runs the whole pipeline, `make test` runs the tests. Both create .venv when needed.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?=
# RETRAIN=1 trains every model from scratch instead of using the pretrained weights in noble/pretrained/
RETRAIN ?=
# TRAIN_WORKERS=2 trains the pipeline's models data-parallel on 2 one-thread CPU processes (noble bench train)
TRAIN_WORKERS ?=
# CELL=name runs the pipeline on another registered or added cell (noble cells add DIR --name name)
CELL ?=
SHARED_DATA ?= $(abspath ../shared/data)
export NOBLE_DATA_DIR ?= $(CURDIR)/cache/data
export NOBLE_CACHE_DIR ?= $(CURDIR)/cache
export MPLBACKEND ?= Agg
PYTEST_ARGS ?=

STAMP := $(VENV)/.noble-installed
DATA_STAMP := $(NOBLE_DATA_DIR)/.noble-data

.PHONY: env data test lab figures clean-cache help

help:
	@echo "make figures   run every notebook (PROFILE=quick|laptop|paper; RETRAIN=1 ignores pretrained weights;"
	@echo "               TRAIN_WORKERS=2 trains on 2 one-thread processes)"
	@echo "make test      run the test suite (notebooks included, quick profile)"
	@echo "make lab       open JupyterLab with the project kernel"
	@echo "make env       create the virtual environment $(VENV) (idempotent)"
	@echo "make data      fetch the cell packages into $(NOBLE_DATA_DIR)"

env: $(STAMP)

$(STAMP): requirements/base.txt requirements/allensdk.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (noble needs Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=23" 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -m pip install -q -r requirements/base.txt 2>&1 | grep -v '^WARNING: Location' ; test $${PIPESTATUS[0]} -eq 0
	$(BIN)/python -m pip install -q --no-deps -r requirements/allensdk.txt 2>&1 | grep -v '^WARNING: Location' ; test $${PIPESTATUS[0]} -eq 0
	$(BIN)/python -m pip install -q --no-deps -e . 2>&1 | grep -v '^WARNING: Location' ; test $${PIPESTATUS[0]} -eq 0
	$(BIN)/python -m ipykernel install --sys-prefix --name noble --display-name "noble (Python 3.11)" >/dev/null
	touch $@

data: $(DATA_STAMP)

$(DATA_STAMP): $(STAMP)
	@if [ -d "$(SHARED_DATA)" ]; then \
	  $(BIN)/noble fetch --cell all --from "$(SHARED_DATA)"; \
	else \
	  $(BIN)/noble fetch --cell all; \
	fi
	touch $@

# Notebooks run on the quick profile into build/test-*, never into the committed figures/.
test: $(STAMP) $(DATA_STAMP)
	$(BIN)/lint-imports --no-cache
	NOBLE_WORK_DIR=$(CURDIR)/build/test-runs NOBLE_FIGURES_DIR=$(CURDIR)/build/test-figures \
	  $(BIN)/python -m pytest -q --durations=15 --nbmake tests notebooks $(PYTEST_ARGS)

lab: $(STAMP) $(DATA_STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

figures: $(STAMP) $(DATA_STAMP)
	NOBLE_RETRAIN=$(RETRAIN) NOBLE_TRAIN_WORKERS=$(TRAIN_WORKERS) $(BIN)/python -m noble.pipeline $(if $(PROFILE),--profile $(PROFILE),) $(if $(CELL),--cell $(CELL),)

clean-cache:
	rm -rf cache build
