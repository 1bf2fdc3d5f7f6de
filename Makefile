# Set-up and everyday commands. `make help` lists them.
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Stage commands call `python`: put the project's virtual environment first on PATH.
export PATH := $(BIN):$(PATH)
INSTALLED := $(VENV)/.installed
MLFLOW_PORT ?= 5000

.DEFAULT_GOAL := help
.PHONY: help install pipeline test lint format mlflow-ui lock clean

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(INSTALLED): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip sync --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	touch $@

install: $(INSTALLED) ## Create .venv with the locked dependencies and the package

pipeline: install ## Set up, then run the whole pipeline (dvc repro)
	dvc repro

test: install ## Set up, then run the whole test suite
	python -m pytest

lint: install ## Check style (ruff)
	ruff check .
	ruff format --check .

format: install ## Reformat the code (ruff)
	ruff check --fix .
	ruff format .

mlflow-ui: install ## Open the MLflow dashboard on http://127.0.0.1:5000 (MLFLOW_PORT overrides)
	mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port $(MLFLOW_PORT)

lock: ## Re-resolve requirements.lock from pyproject.toml
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean: ## Remove the virtual environment and caches (keeps data, models and the MLflow store)
	rm -rf $(VENV) .pytest_cache .ruff_cache
