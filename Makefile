# tcpchat: `make serve` runs the chat server, `make test` runs every test.
# Both create .venv and install into it first when needed: `make serve` only
# what the server runs on, `make test` and `make lint` the test tools as well.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install serve serve-1 test lint format clean bench bench-full

install: $(STAMP)

# The runtime only: openai, prompt_toolkit and pydantic.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $(STAMP)

# The same .venv, upgraded with the test and lint tools (the dev extra).
$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(DEV_STAMP)

serve: $(STAMP)
	$(BIN)/tcpchat serve --task 2

serve-1: $(STAMP)
	$(BIN)/tcpchat serve --task 1

# Real programs the tests drive, as PROGRAM=DEBIAN_PACKAGE: tmux for the terminal
# client's end-to-end tests, irssi for the IRC door's, a C compiler for the benchmark's
# smoke test, redis-server for the Redis backends (each test run starts its own, on a
# free port), chromium for the web client's (driven by Playwright, never with a browser
# of its own), systemd-analyze for checking contrib/tcpchat.service.
TEST_PROGRAMS := tmux=tmux irssi=irssi gcc=gcc,libc6-dev redis-server=redis-server chromium=chromium systemd-analyze=systemd

test: $(DEV_STAMP)
	@sh tools/install-programs $(TEST_PROGRAMS)
	$(BIN)/pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
	$(BIN)/mypy --strict src tests benchmarks tools
	$(BIN)/python tools/check_imports.py

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix src tests benchmarks tools
	$(BIN)/ruff format src tests benchmarks tools

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache benchmarks/build

# -- benchmarks (benchmarks/README.md) ------------------------------------------
# Both write benchmarks/RESULTS.md, results.json and p99-vs-load.png.
# ngIRCd, redis-server and a C compiler come from Debian packages, installed when missing
# (as root).
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(DEV_STAMP)
	@sh tools/install-programs ngircd=ngircd redis-server=redis-server gcc=gcc,libc6-dev
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# The quick run starts with the microbenchmarks of the hot paths (benchmarks/micro.py).
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.micro
	$(BIN)/python -m benchmarks.run

bench-full: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run --full
