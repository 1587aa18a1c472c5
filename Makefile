# The README's two commands are `make demo` and `make test`; both install what they need first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install browser postgres system axe demo test test-quick lint format bench clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,cli,server,postgres]'
	touch $@

# The simulators are not installed: they run from the checkout (the current directory).
demo: install
	$(BIN)/python -m simulators demo

# The console's browser tests drive Debian's Chromium (Playwright's own browser download cannot
# reach its servers) and trust the test CA through an NSS database (certutil). Installed once,
# as root (CI) or with sudo; nothing is done when both are there.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The store's PostgreSQL tests start a cluster of Debian's postgresql (initdb and pg_ctl in a
# temporary folder, as an unprivileged user). `browser` and `postgres` each install their
# packages; `system` installs what both need at once (one apt-get update on a fresh machine).
BROWSER_MISSING = $(shell [ -x $(CHROMIUM) ] && command -v certutil >/dev/null || echo chromium libnss3-tools)
POSTGRES_MISSING = $(shell ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || echo postgresql)
# As root, the tests run uploaded integrations' runners as `nobody`, with an interpreter built
# from Debian's python3.11 (tests/support/runner_python.py): pyenv's is not theirs to run.
RUNNER_MISSING = $(shell [ "$$(id -u)" != 0 ] || [ -x /usr/bin/python3.11 ] || echo python3.11)

define apt_install
	@if [ -n "$(strip $(1))" ]; then \
		echo "installing Debian's $(strip $(1)) for the tests"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			$(1) >/dev/null; \
	fi
endef

browser:
	$(call apt_install,$(BROWSER_MISSING))

postgres:
	$(call apt_install,$(POSTGRES_MISSING))

system:
	$(call apt_install,$(BROWSER_MISSING) $(POSTGRES_MISSING) $(RUNNER_MISSING))

# axe-core (from npm) checks every console page the browser tests visit for accessibility
# problems (tests/support/axe.py injects it); Debian's npm is installed when it is missing.
AXE_VERSION ?= 4.10.3
AXE_JS := .axe/node_modules/axe-core/axe.min.js
NPM_MISSING = $(shell command -v npm >/dev/null || echo npm)

axe: $(AXE_JS)

$(AXE_JS):
	$(call apt_install,$(NPM_MISSING))
	npm install --prefix .axe --no-save --no-audit --no-fund --silent axe-core@$(AXE_VERSION)

# The suite runs on every core (pytest-xdist), each test file on one worker so that a file's
# module fixtures (a running host, a browser) start once: `make test WORKERS=0` runs it in
# one process.
WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile
# The tests start hundreds of `tqops` and simulator processes; with PYTHONDONTWRITEBYTECODE set
# (as on some machines) each would compile the whole package again, so compile it once.
BYTECODE := $(BIN)/python -m compileall -q tqops dcso_tie_operation tego_operation simulators

test: install system axe
	$(BIN)/ruff check .
	@$(BYTECODE)
	$(PYTEST)

# Everything but the tests marked slow (wheels, virtualenvs, `tqops serve` processes, long
# fuzzing) or browser (Chromium), for the edit-and-check loop.
test-quick: install
	$(BIN)/ruff check .
	@$(BYTECODE)
	$(PYTEST) -m "not slow and not browser"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m pip install --quiet -e '.[test,cli,server,postgres,bench]'
	$(BIN)/python bench/run.py
	$(BIN)/python bench/host.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .axe
	find . -name __pycache__ -prune -exec rm -rf {} +
