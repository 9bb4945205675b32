# Quick start: `make demo` and `make test` each create .venv (once) and run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install demo test lint clean-venv

install: $(STAMP)

# Re-run when a requirements file or setup.py changes.
# torch first, at the CPU build on this machine's disk (requirements/pinned.txt);
# the same constraints then keep every later step from replacing it.
$(STAMP): requirements/runtime.txt requirements/mminstall.txt requirements/mmpose.txt requirements/tests.txt requirements/pinned.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c requirements/pinned.txt torch
	$(PIP) install --quiet -c requirements/pinned.txt -r requirements/runtime.txt -r requirements/mminstall.txt -r requirements/tests.txt
	$(PIP) install --quiet --no-deps -r requirements/mmpose.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(PY) -c "import mmhuman_imphmr; print('mmhuman_imphmr', mmhuman_imphmr.__version__, 'installed')"
	touch $(STAMP)

demo: install
	$(PY) tools/quick_start.py

test: install
	$(PY) -m pytest tests

# flake8, isort and yapf (.pre-commit-config.yaml, settings in setup.cfg) on
# every tracked file. pre-commit comes from PyPI into the venv; it installs
# each tool at its pinned version into its own cache (PRE_COMMIT_HOME,
# default ~/.cache/pre-commit). Needs a git checkout.
$(VENV)/bin/pre-commit:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -c requirements/pinned.txt 'pre-commit>=3.5,<5'

lint: $(VENV)/bin/pre-commit
	$(VENV)/bin/pre-commit run --all-files --show-diff-on-failure

clean-venv:
	rm -rf $(VENV)
