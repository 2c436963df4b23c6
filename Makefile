# Two commands do all the set-up on a fresh machine:
#   make run    the main job: the rnn_units search on the built-in data
#   make test   the whole test suite and a strict build of the docs (what CI runs)
# Both create the project's virtual environment in .venv on first use.
# make docs builds the documentation site into site/; make docs-serve previews it.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch and torchvision pinned to one matching pair (torchvision is built per torch release).
TORCH := torch==2.14.1 torchvision==0.29.1
SPACE ?= spaces/rnn_units.yaml
# mkdocs-material prints a notice about its successor at every build; the build's own words suffice.
export NO_MKDOCS_2_WARNING := 1

.PHONY: install run test test-fast smoke bench lint docs docs-serve

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) -m search.run $(SPACE)

smoke: install
	$(PY) -m search.run $(SPACE) --smoke

test: install
	$(PY) -m ruff check search models data tests bench
	$(VENV)/bin/mkdocs build --strict --quiet
	$(PY) -m pytest -m "slow or not slow"

test-fast: install
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check search models data tests bench

# Strict: a broken link or anchor, a missing snippet or an unknown Python object fails the build.
docs: install
	$(VENV)/bin/mkdocs build --strict

docs-serve: install
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000
