# The two commands a newcomer needs: `make run` and `make test`. Each creates .venv and
# installs what it needs, so a fresh clone works with nothing but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
RUN_STAMP := $(VENV)/.installed-run
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check

.PHONY: run test install lint typecheck bench clean browser deploy-check wheel lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# `make run` needs only the runtime dependencies (fast on a fresh machine); `make test`
# adds the dev extras (linters, pytest, playwright).
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev]'
	touch $(STAMP) $(RUN_STAMP)

install: $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/madoguchi db upgrade
	$(BIN)/madoguchi demo
	@$(BIN)/python -m madoguchi.hello
	$(BIN)/madoguchi serve

test: install browser deploy-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# The browser test drives the Debian package `chromium` (never `playwright install`).
# Installed here when missing and possible; otherwise the test skips and says why.
browser:
	@if [ -x /usr/bin/chromium ] && [ -d /usr/share/fonts/opentype/ipafont-gothic ]; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "browser test will skip: no apt-get to install chromium"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "browser test will skip: installing chromium needs root (sudo apt-get install chromium)"; \
	else \
	  echo "installing chromium and a Japanese font for the browser test (apt-get)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-ipafont-gothic >/dev/null) \
	    || echo "browser test will skip: apt-get could not install chromium"; \
	fi

# The alert rules through Prometheus' own checker when it is installed (Debian: the
# `prometheus` package); the test suite parses them either way.
deploy-check:
	@if ! command -v promtool >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "installing promtool for the alert rules (apt-get install prometheus)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null) \
	    || echo "apt-get could not install prometheus"; \
	fi
	@if command -v promtool >/dev/null 2>&1; then \
	  promtool check rules deploy/prometheus/madoguchi-rules.yml; \
	else echo "promtool not installed: alert rules checked by tests/unit/test_deploy_files.py only"; fi

# The wheel an operator installs (docs/operations.md, "Installing from the wheel").
wheel: | $(BIN)/python
	$(BIN)/python -m pip wheel --no-deps -q -w dist .

# requirements.lock: the newest versions pyproject.toml allows, resolved into a throwaway
# venv and frozen. Run it, then `make test`, and commit the file if the tests pass.
lock: wheel
	rm -rf $(VENV)-lock && $(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install -q --disable-pip-version-check dist/madoguchi-*.whl
	{ sed -n '/^#/p' requirements.lock; $(VENV)-lock/bin/python -m pip freeze --exclude madoguchi; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf $(VENV)-lock

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache build dist
