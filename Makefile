# Set-up and everyday commands. `make help` lists them.
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Stage commands call `python`: put the project's virtual environment first on PATH.
export PATH := $(BIN):$(PATH)
INSTALLED := $(VENV)/.installed
MLFLOW_PORT ?= 5000
MLFLOW_BACKEND_URI ?= postgresql://mlflow@127.0.0.1:5432/mlflow
MLFLOW_ARTIFACTS ?= $(CURDIR)/mlflow-server-artifacts
HOST ?= 127.0.0.1
# params.yaml's monitor.database: where make serve logs and make monitor reads
PREDICTION_LOG := $(shell sed -n 's/^  database: *\([^ ]*\).*/\1/p' params.yaml)
PORT ?= 3000
CHROMIUM := /usr/bin/chromium
PLOTS_TEMPLATE := node_modules/digits-plots.html
export BENTOML_DO_NOT_TRACK := True
# $(call apt,<test that it is installed>,<Debian package>): install it unless the test passes
# (apt-get; sudo when not root).
apt = $(1) >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $(2) >/dev/null; }

.DEFAULT_GOAL := help
.PHONY: help install browser postgres haproxy load-balancer pipeline test lint format \
	mlflow-ui mlflow-server serve bento champion promote rollback plots plots-setup screenshot \
	review monitor monitor-reference prometheus alerts-check \
	lock clean \
	bench-accuracy bench-rejection bench-characters bench-train bench-serve bench-load fuzz

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(INSTALLED): requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip sync --python $(BIN)/python requirements-dev.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	touch $@

install: $(INSTALLED) ## Create .venv with the locked dependencies and the package

pipeline: install ## Set up, then run the whole pipeline (dvc repro)
	dvc repro

test: install browser postgres haproxy prometheus plots-setup ## Set up, then run the whole test suite
	python -m pytest

browser: ## Install Debian's chromium for the browser tests (apt-get; sudo when not root)
	@$(call apt,test -x $(CHROMIUM),chromium)
	@$(CHROMIUM) --version

postgres: ## Install Debian's PostgreSQL for the MLflow server test and make mlflow-server
	@$(call apt,ls /usr/lib/postgresql/*/bin/initdb,postgresql)

haproxy: ## Install Debian's HAProxy for make load-balancer and its test
	@$(call apt,command -v haproxy,haproxy)

$(PLOTS_TEMPLATE): package-lock.json $(INSTALLED)
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	python -m digits.plots_page node_modules $@
	dvc config --local plots.html_template ../$@  # relative to .dvc/

plots-setup: $(PLOTS_TEMPLATE) ## Vega from npm (package-lock.json) for dvc plots show offline

plots: plots-setup ## dvc plots show, with no internet: open dvc_plots/index.html
	dvc plots show

lint: install ## Check style (ruff)
	ruff check .
	ruff format --check .

format: install ## Reformat the code (ruff)
	ruff check --fix .
	ruff format .

mlflow-server: install ## A team MLflow server on 127.0.0.1:MLFLOW_PORT: PostgreSQL store, artifacts apart
	mlflow server --backend-store-uri $(MLFLOW_BACKEND_URI) \
	  --artifacts-destination $(MLFLOW_ARTIFACTS) --host 127.0.0.1 --port $(MLFLOW_PORT)

mlflow-ui: install ## Open the MLflow dashboard on http://127.0.0.1:5000 (MLFLOW_PORT overrides)
	python -m digits.local_store
	mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port $(MLFLOW_PORT)

serve: install ## Serve the champion's bento on http://127.0.0.1:3000 (BENTO=<tag>, PORT, HOST override)
	@tag=$${BENTO:-$$(PYTHONPATH=src python -m digits.lifecycle bento)} || exit 1; \
	echo "serving $$tag: http://$(HOST):$(PORT)/ui"; \
	DIGITS_PREDICTION_LOG=$${DIGITS_PREDICTION_LOG:-$(CURDIR)/$(PREDICTION_LOG)} \
	  exec bentoml serve $$tag --host $(HOST) --port $(PORT)

review: install ## Review pending corrections one by one: accept, reject or skip (python -m digits.review)
	@PYTHONPATH=src python -m digits.review

monitor: install ## Drift of the last monitor.window answers vs the reference: reports/monitoring/ (exit 3: drift)
	@PYTHONPATH=src python -m digits.drift check

monitor-reference: install ## Pin the last monitor.window served answers as the drift reference
	@PYTHONPATH=src python -m digits.drift reference

prometheus: ## Install Debian's Prometheus (promtool checks the alert rules in make test)
	@$(call apt,command -v promtool,prometheus)

alerts-check: prometheus ## Check and unit-test the alert rules (service/prometheus/)
	promtool check rules service/prometheus/alerts.yml
	promtool test rules service/prometheus/alerts.test.yml

champion: install ## Show the champion model version and the history of its alias
	@PYTHONPATH=src python -m digits.lifecycle show

promote: install ## Make VERSION the champion by hand: make promote VERSION=3 REASON="why"
	@test -n "$(VERSION)" -a -n "$(REASON)" || { echo 'usage: make promote VERSION=n REASON="why"'; exit 2; }
	@PYTHONPATH=src python -m digits.lifecycle promote "$(VERSION)" --reason "$(REASON)"

rollback: install ## Move the champion back to the one before it (REASON="why" optional)
	@PYTHONPATH=src python -m digits.lifecycle rollback --reason "$${REASON:-rolled back by hand}"

load-balancer: haproxy ## HAProxy on 127.0.0.1:3000 in front of instances on :3001, :3002 (service/haproxy.cfg)
	exec haproxy -db -f service/haproxy.cfg

fit-cuts: install ## Fit how cuts of touching digits are ranked (evaluate.cut_ranking) for data/model
	@PYTHONPATH=src python -m digits.cut_ranking

bench-accuracy: install ## The default recipe with 3 seeds, each a full pipeline on real MNIST: mean ± sd (MNIST_MIRROR)
	python benchmarks/accuracy.py

bench-rejection: install ## Rejection scores (top probability, logit, energy, Mahalanobis) on validation data, data/model
	python benchmarks/rejection_scores.py

bench-characters: install ## Each held-out character: share flagged and digit named, data/model (COUNT=60)
	python benchmarks/held_out_characters.py --count $(or $(COUNT),60)

bench-train: install ## Training steps' images/s: the recipe against the one before, XLA, batch 256, no augmentation
	python benchmarks/train_speed.py

bench-serve: install ## The bento against a baseline (BASELINE=<bento tag>; naive): latency, requests/s, memory (hey)
	@$(call apt,command -v hey,hey)
	@test -f dist/bento.json || { echo "no packaged model: run make pipeline first"; exit 1; }
	python benchmarks/serve.py $(if $(BASELINE),--baseline $(BASELINE))

fuzz: install ## Fuzz decode + preprocessing longer than CI does (FUZZ_EXAMPLES, default 20000)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-20000} python -m pytest -q tests/test_fuzz.py

bench-load: install ## 60 s at concurrency 64 of valid and hostile uploads: no 5xx, memory (wrk)
	@$(call apt,command -v wrk,wrk)
	@test -f dist/bento.json || { echo "no packaged model: run make pipeline first"; exit 1; }
	python benchmarks/load.py $(LOAD_ARGS)

bento: install ## Build and export the bento (the package stage: dvc repro package)
	dvc repro package

screenshot: install browser ## Refresh docs/ui.png and ui-number.png from a server on PORT (make serve first)
	DIGITS_URL=http://127.0.0.1:$(PORT) UI_SCREENSHOT=$(CURDIR)/docs/ui.png \
	  UI_NUMBER_SCREENSHOT=$(CURDIR)/docs/ui-number.png \
	  python -m pytest -q tests/test_ui.py -k "drawing or number"

lock: ## Re-resolve the lock files: the project's (pyproject.toml), the bento's (service/requirements.in)
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --python-version 3.11 -o requirements-dev.lock
	$(BIN)/uv pip compile --quiet service/requirements.in -c requirements-dev.lock \
	  --python-version 3.11 -o service/requirements.lock

clean: ## Remove the virtual environment and caches (keeps data, models and the MLflow store)
	rm -rf $(VENV) .pytest_cache .ruff_cache
