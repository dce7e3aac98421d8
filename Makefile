.PHONY: setup run test lint format bench

setup:
	scripts/bootstrap.sh

run:
	scripts/run-local.sh

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

test: lint
	.venv/bin/python -m pytest

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

bench: setup
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	.venv/bin/python -m bench $(BENCH_ARGS)
