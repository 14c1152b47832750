# The two commands of the README: `make test` and `make bench`. Both build .venv from scratch if needed.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test test-slow bench golden lint clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=compat -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest
	$(VENV)/bin/ruff check inpaintbench tests
	$(VENV)/bin/inpaintbench regress

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

bench: $(STAMP)
	$(VENV)/bin/inpaintbench bench

golden: $(STAMP)  # deliberately rewrite results/golden/ (review the diff before committing it)
	$(VENV)/bin/inpaintbench regress rewrite_golden=true

lint: $(STAMP)
	$(VENV)/bin/ruff check inpaintbench tests
	$(VENV)/bin/ruff format --check inpaintbench tests

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
