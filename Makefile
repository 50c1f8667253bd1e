# Quick start: `make demo` runs the demo, `make test` runs lint and the tests.
# Each sets up .venv (Python 3.10+) first: the demo with the package alone (scikit-learn,
# numpy, scipy, joblib), the tests with the test extras (torch, the boosting libraries, ...).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGE_VENV := build/package-venv
# The oldest scikit-learn that pyproject.toml accepts (scikit-learn>=1.6): make test-oldest.
OLDEST_SKLEARN := 1.6.1
OLDEST_VENV := build/oldest-venv

.PHONY: demo test test-oldest package-test docs docs-open docs-screenshots bench setup clean

$(BIN)/.demo-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

setup: $(BIN)/.installed

demo: $(BIN)/.demo-installed
	@echo "make demo: skadaptive and its dependencies only (no torch, no test extras); make test installs those."
	$(BIN)/python benchmarks/demo.py

test: setup
	$(BIN)/ruff check skadaptive tests benchmarks docs examples
	$(BIN)/ruff format --check skadaptive tests benchmarks docs examples
	$(BIN)/python -m pytest -q

# The test suite against the oldest supported scikit-learn (CI runs it; make test runs the
# newest that pyproject.toml accepts).
test-oldest:
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(OLDEST_VENV)/bin/python -m pip install --quiet -e ".[test]" "scikit-learn==$(OLDEST_SKLEARN)"
	$(OLDEST_VENV)/bin/python -c "import sklearn; assert sklearn.__version__ == '$(OLDEST_SKLEARN)'"
	$(OLDEST_VENV)/bin/python -m pytest -q -p no:cacheprovider

# The wheel and the sdist, each installed in a clean venv with nothing but the package's own
# dependencies, and a smoke test run there from outside the source tree (CI runs it).
package-test: setup
	rm -rf dist $(PACKAGE_VENV)
	$(BIN)/python -m build --outdir dist .
	$(PYTHON) -m venv $(PACKAGE_VENV)
	$(PACKAGE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PACKAGE_VENV)/bin/python -m pip install --quiet dist/*.whl
	cd dist && ../$(PACKAGE_VENV)/bin/python ../.ci/smoke_installed.py
	$(PACKAGE_VENV)/bin/python -m pip install --quiet --force-reinstall --no-deps dist/*.tar.gz
	cd dist && ../$(PACKAGE_VENV)/bin/python ../.ci/smoke_installed.py

# The documentation site (docs/, Sphinx): API reference, gallery (runs examples/), pages.
# Warnings are errors. `make docs-open` opens the built site in a browser.
$(BIN)/.docs-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@ $(BIN)/.installed

docs: $(BIN)/.docs-installed
	rm -rf docs/_build docs/generated docs/auto_examples
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

docs-open:
	@test -f docs/_build/html/index.html || $(MAKE) docs
	$(BIN)/python -m webbrowser -t "file://$(CURDIR)/docs/_build/html/index.html"

# Screenshots of the built site in a real headless browser (Debian: apt install chromium);
# docs/_screenshots/ keeps reduced copies of the last ones taken.
docs-screenshots:
	@test -f docs/_build/html/index.html || $(MAKE) docs
	mkdir -p docs/_build/screenshots
	for page in index auto_examples/plot_network_selection benchmarks; do \
		chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
			--window-size=1400,2400 --screenshot=docs/_build/screenshots/$$(basename $$page).png \
			"file://$(CURDIR)/docs/_build/html/$$page.html"; \
	done

bench: setup
	$(BIN)/python benchmarks/bench_letter.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache docs/_build docs/generated docs/auto_examples
