# The one entry point. Needs only Python 3.11 on the machine; everything else is installed here.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
# Use the machine's uv when there is one, else a pinned copy installed into .tools/ with pip.
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python

.PHONY: help install browser promtool rules-check run down test test-fast lint snapshots clean bench bench-smoke

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet uv==$(UV_VERSION)

install: $(UV) ## create .venv from uv.lock (all services, libs and dev tools)
	$(UV) sync --all-packages --frozen --python 3.11

# Page tests drive Debian's chromium (never a browser download) and need a CJK font, without
# which Chinese renders as boxes. apt-get only when one is missing; its lists are refreshed only
# when they are absent or the install fails with them, so a machine that has both pays nothing.
BROWSER_PACKAGES := chromium fonts-wqy-microhei
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

browser: ## Debian's chromium and a CJK font for the page tests (apt-get, when missing)
	@if command -v chromium >/dev/null && [ -f $(CJK_FONT) ]; then exit 0; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	install="$(SUDO) apt-get install -y -q --no-install-recommends $(BROWSER_PACKAGES)"; \
	if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then $(SUDO) apt-get update -q; fi; \
	$$install || { $(SUDO) apt-get update -q && $$install; }

# Prometheus rules are checked with Debian's promtool (in the prometheus package; the server it
# also installs is not started here), installed like the browser: only when missing.
RULES_DIR := deploy/observability/rules
RULE_TESTS_DIR := deploy/observability/tests

promtool: ## Debian's prometheus package, for promtool (apt-get, when missing)
	@if command -v promtool >/dev/null; then exit 0; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	install="$(SUDO) apt-get install -y -q --no-install-recommends prometheus"; \
	if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then $(SUDO) apt-get update -q; fi; \
	$$install || { $(SUDO) apt-get update -q && $$install; }

rules-check: promtool ## promtool check and unit-test the alerting and recording rules
	promtool check rules $(RULES_DIR)/*.yml
	promtool test rules $(RULE_TESTS_DIR)/*.yml

run: install ## start broker, PostgreSQL and the four services; Ctrl-C stops all
	$(VENV)/bin/vas-stack run

down: ## stop a stack left running (its supervisor was killed)
	@if [ -x $(VENV)/bin/vas-stack ]; then $(VENV)/bin/vas-stack down; fi

test: install browser rules-check ## every test, against a real broker and real PostgreSQL started for the session
	$(VENV)/bin/pytest

lint: install ## ruff, mypy and the import contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install ## benchmark the whole stack (~30 min; BENCH_ARGS="--busy-hour", "--quick", "--help" ...)
	$(VENV)/bin/vas-bench run $(BENCH_ARGS)

bench-smoke: install ## 30 s benchmark run (CI): fails if a message is lost or a process crashes
	$(VENV)/bin/vas-bench smoke

snapshots: install ## refresh the event-contract schema snapshot after a compatible change
	UPDATE_SNAPSHOTS=1 $(VENV)/bin/pytest -q libs/common/tests/test_event_contracts.py

clean: down ## remove the local state (database files, logs) and the virtualenv
	rm -rf .state .venv .tools
