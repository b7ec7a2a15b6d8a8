# Slipway: `make run` brings the whole system up; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PACKAGES := -e ./contracts -e ./libs/keys -e ./libs/observability -e ./libs -e ./libs/simcluster -e ./libs/devstack -e ./services/gateway -e ./services/image-builder \
	-e ./services/chart-validator -e ./services/cluster-manager -e ./services/workload-manager -e ./cli
STAMP := $(VENV)/.installed

.PHONY: install mcp-inspector run run-ha chaos test test-fast lint format contracts examples bench clean

install: $(STAMP) examples mcp-inspector

$(STAMP): constraints.txt requirements-dev.txt libs/pyproject.toml libs/keys/pyproject.toml libs/observability/pyproject.toml libs/simcluster/pyproject.toml libs/devstack/pyproject.toml contracts/pyproject.toml cli/pyproject.toml $(wildcard services/*/pyproject.toml)
	@scripts/install-system-packages
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -c constraints.txt setuptools
	PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(PIP) install -q --disable-pip-version-check -c constraints.txt $(PACKAGES) -r requirements-dev.txt
	@touch $(STAMP)

examples: $(STAMP)
	@$(MAKE) -s -C examples

# The MCP Inspector CLI (npm, exact version, no lock file) in .tools/, for the MCP tests.
mcp-inspector:
	@scripts/install-mcp-inspector .tools/mcp-inspector

run: install
	$(PY) -m slipway_devstack

# The same system on a NATS cluster, a MongoDB replica set, two replicas of everything (.slipway-ha/).
run-ha: install
	$(PY) -m slipway_devstack.ha

# The fault suite on its own HA stack (free ports): CHAOS_ARGS="--rounds 3 --report out.json".
chaos: install
	$(PY) -m slipway_devstack.chaos $(CHAOS_ARGS)

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy libs/slipway_libs libs/keys/slipway_keys libs/observability/slipway_observability contracts/slipway_contracts cli/slipway_cli $(filter-out %.egg-info,$(wildcard services/*/slipway_*))
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

contracts: install
	$(PY) contracts/generate.py

# Throughput, latency and memory beside the raw ceilings (bench/__init__.py); not in `make test`.
bench: install
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf .slipway .slipway-ha
