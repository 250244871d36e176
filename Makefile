# The two commands a user needs:
#   make demo   — set up, then run the main job (a multi-arch image into the local store)
#   make test   — set up, then run the whole test suite
.PHONY: setup demo test lint bench

setup:
	@scripts/bootstrap.sh

demo: setup
	@scripts/demo.sh

test: setup
	@scripts/test.sh

lint: setup
	.venv/bin/ruff check src tests
	.venv/bin/mypy
	.venv/bin/lint-imports

bench: setup
	.venv/bin/python -m bench
