# Quick start: `make demo` runs the demo, `make test` runs lint and the tests.
# Each sets up .venv (Python 3.10+) with the package and its test extras first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench setup clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/python benchmarks/demo.py

test: setup
	$(BIN)/ruff check skadaptive tests benchmarks docs
	$(BIN)/ruff format --check skadaptive tests benchmarks docs
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/bench_letter.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
