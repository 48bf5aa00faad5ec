# coinray: `make demo` runs the main job, `make test` runs the full test suite.
# Both create .venv from pyproject.toml when it is missing or out of date.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.coinray-installed

.PHONY: demo test lint bootstrap clean

bootstrap: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "coinray needs Python 3.11+ (set PYTHON=python3.11)"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/coinray demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy cluster actors pipelines serve tune bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
