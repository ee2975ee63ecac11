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

.PHONY: setup run test reliability lint format synth bench quality demo-models clean

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

# The soak over 2,000 objects with 5% faults (`make reliability SLOW=1`: 10,000); its summary line last.
reliability: setup
	@rm -f test-artifacts/reliability.txt
	RELIABILITY_OBJECTS=2000 $(BIN)/pytest tests/reliability --timeout 3600 $(if $(SLOW),--slow); \
	status=$$?; cat test-artifacts/reliability.txt 2>/dev/null; exit $$status

# Every model trained on the synthetic data by its own model_code/<model>/train.py and measured against its
# untrained control (one line per model), then search_recall_at_5=... search_rank_1=... cover_f1=...
# label_accuracy=... attribute_accuracy=... last; exits 1 when a figure misses its target. FRESH=1 retrains.
quality: setup
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(BIN)/vitrine quality $(if $(FRESH),--fresh)

# Retrain the committed demo models (demo-models/: what `vitrine prepare` serves instead of tiny random ones,
# and the image encoder BLIP-2 bases read) with the recipes in lambdas/vitrine_dev/training/demo_models.py;
# writes demo-models/RECIPE.json.
demo-models: setup
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PY) -m vitrine_dev.training.demo_models

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
	for script in bench/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .vitrine cdk.out node_modules
