# The two commands of the README: `make test` and `make bench`. Both build .venv from scratch if needed.
# Nothing here writes tracked files except `make leaderboard` and `make golden`, which exist to do so.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Quiet but not silent: one line per step from us, only errors from pip (its warnings about the
# machine's own pip configuration are not ours to show).
PIP_QUIET := -qq --disable-pip-version-check --no-warn-script-location --root-user-action=ignore

.PHONY: test test-slow bench leaderboard golden lint clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "[venv 1/2] creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "[venv 2/2] installing inpaintbench and its pinned dependencies into $(VENV) (a few minutes the first time)"
	@start=$$(date +%s); $(PY) -m pip install $(PIP_QUIET) --config-settings editable_mode=compat -e '.[dev]' \
		&& echo "[venv] ready in $$(( $$(date +%s) - start )) s: $(VENV)/bin/inpaintbench"
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/inpaintbench regress

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

# Your benchmark: runs under results/runs/, leaderboard in results/local/ (both git-ignored).
bench: $(STAMP)
	$(VENV)/bin/inpaintbench bench

# Regenerate the committed leaderboard (results/leaderboard.csv/.md) from the same runs; commit it.
leaderboard: $(STAMP)
	$(VENV)/bin/inpaintbench bench paths.leaderboard=results

golden: $(STAMP)  # deliberately rewrite results/golden/ (review the diff before committing it)
	$(VENV)/bin/inpaintbench regress rewrite_golden=true

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache  # outputs/ holds your training runs and exports: never removed here
	find . -name __pycache__ -prune -exec rm -rf {} +
