# secauto: the two commands are `make demo` and `make test`; everything else is a step they use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv from PATH, else the one pip installs as a module (installed on first use).
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export UV_COMPILE_BYTECODE := 1

.PHONY: help install demo test lint typecheck unit synth diff deploy bench clean

help:
	@echo "make demo   - synthesize every stack and replay every sample event against an embedded moto account"
	@echo "make test   - ruff, mypy and the whole pytest suite"
	@echo "make bench  - run the benchmarks in benchmarks/"
	@echo "make synth / diff / deploy - the pinned CDK CLI (package.json) on this app; ARGS='...' passes options"

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv || python3 -m pip install --quiet --user uv
	@$(UV) sync --frozen --quiet
	@# The CDK CLI pinned in package.json / package-lock.json, so `npx --no-install cdk` never prompts.
	@npm ci --no-audit --no-fund --silent

demo: install
	$(UV) run --frozen secauto demo

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

typecheck: install
	$(UV) run --frozen mypy

unit: install
	$(UV) run --frozen pytest

test: lint typecheck unit

# cdk.json's app runs `.venv/bin/python app.py`: the project's own environment, whatever python3 is first on PATH.
synth: install
	npx --no-install cdk synth $(ARGS)

diff: install
	npx --no-install cdk diff $(ARGS)

deploy: install
	npx --no-install cdk deploy --all $(ARGS)

bench: install
	@for script in benchmarks/*.py; do echo "== $$script"; $(UV) run --frozen python $$script || exit 1; done

clean:
	rm -rf cdk.out node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis
