# tcpchat: `make serve` runs the chat server, `make test` runs every test.
# Both create .venv and install into it first when needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve serve-1 test lint format clean bench bench-full

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/tcpchat serve --task 2

serve-1: $(STAMP)
	$(BIN)/tcpchat serve --task 1

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
	$(BIN)/mypy --strict src tests benchmarks tools

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache benchmarks/build

# -- benchmarks (benchmarks/README.md) ------------------------------------------
# Both write benchmarks/RESULTS.md, results.json and p99-vs-load.png.
# ngIRCd and a C compiler come from Debian packages, installed when missing (as root).
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	@command -v ngircd >/dev/null 2>&1 || [ -x /usr/sbin/ngircd ] || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ngircd; }
	@command -v gcc >/dev/null 2>&1 || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev; }
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run

bench-full: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run --full
