# Two commands do all the set-up on a fresh machine:
#   make run    the main job: the rnn_units search on the built-in data
#   make test   the whole test suite (what CI runs)
# Both create the project's virtual environment in .venv on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch and torchvision pinned to one matching pair (torchvision is built per torch release).
TORCH := torch==2.14.1 torchvision==0.29.1
SPACE ?= spaces/rnn_units.yaml

.PHONY: install run test test-fast smoke bench lint

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
	$(PY) -m pytest -m "slow or not slow"

test-fast: install
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check search models data tests bench
