# The two commands: `make run` and `make test`. Everything else is set-up they share.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PORT ?= 8000
PYTHON ?= $(shell command -v python3.11 || command -v python3)
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: setup run test lint format synth bench clean

# torch goes in first, from the CPU wheel on disk: anything that asks for plain `torch` later then
# installs nothing more (otherwise pip pulls several GB of CUDA). torchvision is never installed.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[local,train,infra,dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/vitrine prepare
	$(BIN)/vitrine serve --port $(PORT)

test: setup
	$(BIN)/pytest -n 2 --dist loadgroup --timeout 600

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

synth: setup node_modules/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" npx cdk synth --quiet --no-notices
	$(BIN)/cfn-lint cdk.out/*.template.json

bench: setup
	for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .vitrine cdk.out node_modules
