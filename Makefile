# The README's two commands are `make demo` and `make test`; both install what they need first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint format bench clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,cli,server]'
	touch $@

# The simulators are not installed: they run from the checkout (the current directory).
demo: install
	$(BIN)/python -m simulators demo

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m pip install --quiet -e '.[test,cli,server,bench]'
	$(BIN)/python bench/run.py
	$(BIN)/python bench/host.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
