# segmint: `make demo` and `make test` are the quick start; both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.installed-spark

.PHONY: demo test lint typecheck spark browser bench clean help

help:
	@echo "make demo   - set up .venv, generate the demo log, run the whole pipeline (demo-output/)"
	@echo "make test   - set up .venv and run the test suite"
	@echo "make lint   - ruff check and ruff format --check; make typecheck - mypy"
	@echo "make spark  - add pyspark (segmint[spark]) to .venv"

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(SPARK_STAMP): $(STAMP) requirements-spark.lock
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-spark.lock
	touch $(SPARK_STAMP)

spark: $(SPARK_STAMP)

demo: $(STAMP)
	$(BIN)/segmint demo --outdir demo-output --force
	@echo "open demo-output/report.html"

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache tests/artifacts
