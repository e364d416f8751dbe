# Everything a newcomer needs, from a fresh clone: `make demo` runs the main job, `make test`
# runs the whole test suite. Each target installs what it needs first (virtualenv from
# requirements.lock, npm ci from package-lock.json); nothing downloads at run time after that.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
export SOLCX_BINARY_PATH := $(CURDIR)/compilers
ECHARTS := xborder/api/static/vendor/echarts.common.min.js

.PHONY: demo test bench deps system-deps lint typecheck lock clean

# geth 1.13.x: the last go-ethereum line that seals clique proof-of-authority (the local
# multi-node network, xborder/chain/network). Built from the Go module proxy into .tools/bin;
# -checklinkname=0 lets Go >= 1.23 link its fjl/memsize dependency (go-ethereum issue 30100).
GETH_VERSION := v1.13.15
GETH := .tools/bin/geth
GETH_STAMP := .tools/.geth-$(GETH_VERSION)

demo: deps
	$(BIN)/xborder demo

test: deps system-deps
	bash tools/run-tests.sh

bench: deps
	$(BIN)/python -m xborder.bench

deps: $(VENV)/.installed node_modules/.installed $(GETH_STAMP) .venv-schemathesis/.installed $(ECHARTS)

# The dashboard's chart library, served by the API from its own static folder (nothing from the network).
$(ECHARTS): node_modules/.installed
	mkdir -p $(@D)
	cp node_modules/echarts/dist/echarts.common.min.js $@
	cp node_modules/echarts/LICENSE $(@D)/ECHARTS-LICENSE

# Schemathesis cannot share .venv (it needs a newer hypothesis than eth-brownie's pin): its own venv.
.venv-schemathesis/.installed: requirements-schemathesis.txt
	test -x .venv-schemathesis/bin/python || $(PYTHON) -m venv .venv-schemathesis
	.venv-schemathesis/bin/python -m pip install --quiet pip==24.3.1
	.venv-schemathesis/bin/pip install --quiet --no-deps -r requirements-schemathesis.txt
	.venv-schemathesis/bin/pip check
	touch $@

$(VENV)/.installed: requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "xborder needs Python 3.11 ($(PYTHON) not found)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==24.3.1 setuptools==80.9.0
	$(BIN)/pip install --quiet --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $@

node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund
	touch $@

$(GETH_STAMP):
	@command -v go >/dev/null || { echo "xborder's multi-node network needs Go (>= 1.21) to build geth $(GETH_VERSION)" >&2; exit 1; }
	mkdir -p .tools/bin
	GOBIN=$(CURDIR)/.tools/bin go install -ldflags=-checklinkname=0 github.com/ethereum/go-ethereum/cmd/geth@$(GETH_VERSION)
	$(GETH) version | grep -q "^Version: $(GETH_VERSION:v%=%)-stable"
	rm -f .tools/.geth-*
	touch $@

# PostgreSQL and Chromium (with its driver) come from Debian; the tests of the index database
# and the dashboard need them.
system-deps:
	bash tools/system-deps.sh

lint: deps
	$(BIN)/ruff check xborder tests/python
	$(BIN)/mypy

lock:
	$(BIN)/pip freeze --all --exclude-editable | grep -v '^xborder\|^pip==' > requirements.lock.new
	{ echo "# Exact versions of the whole Python environment (eth-brownie 1.22.2 pins its tree; nothing may move them)."; echo "# Regenerate with: make lock"; cat requirements.lock.new; } > requirements.lock
	rm requirements.lock.new

clean:
	rm -rf build reports .xborder deployments $(VENV) node_modules .tools
