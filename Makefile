# seawall: `make demo` runs the main job, `make test` runs lint (with the import layers), types and the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck pytest clean

# The demo needs only seawall itself; the tests also need the peers and the tools ([dev]).
$(RUNTIME): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[service,postgres]'
	@touch $(RUNTIME)

$(DEV): $(RUNTIME)
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(DEV)

demo: $(RUNTIME)
	$(BIN)/seawall demo

lint: $(DEV)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

typecheck: $(DEV)
	$(BIN)/mypy --strict src

pytest: $(DEV)
	$(BIN)/pytest -q $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
