# Portrait — the two commands are `make demo` and `make test`; both set up what is missing first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JARS   := .jars/.fetched
CONF   ?= conf/local.yaml
DATE   ?= 2026-11-01

export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export PYSPARK_DRIVER_PYTHON := $(abspath $(BIN)/python)

.PHONY: setup jdk browser demo test test-faults lint test-fast bench clean-lake clean

setup: jdk $(STAMP) $(JARS) browser

# A JDK 17 or newer (Spark 4 runs on 17 and 21) and Maven (it fetches the Delta jars), through apt
# when missing: Debian's default-jdk-headless is 17 on bookworm, 21 on trixie.
jdk:
	@{ java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])' && command -v mvn >/dev/null 2>&1; } || { \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq default-jdk-headless maven; }

# Headless Chromium (Debian's `chromium` package) for the test that renders the daily report.
# Installed only when missing and when apt knows the package; as root or through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

# The venv is rebuilt only when the pins change. pip keeps its wheel cache in ~/.cache/pip,
# so a rebuild does not compile pyspark's source archive again.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

# Delta Lake's JVM jars, fetched once from Maven Central with Maven; later Spark starts are offline.
# The versions come from the installed delta-spark and pyspark (one source of truth: pyproject.toml).
$(JARS): $(STAMP)
	$(BIN)/python -m portrait.jars fetch .jars
	touch $@

# The demo needs no browser: only the report's rendering test does.
demo: jdk $(STAMP) $(JARS)
	$(BIN)/portrait demo --conf $(CONF) --date $(DATE)

# Lint (ruff check and format check) and types (mypy), then every test: the multi-process proofs
# (faults, concurrency, publication poll, refusals, the standalone cluster) included; the 30 slowest
# are printed at the end.
test: setup lint
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --no-loadscope-reorder --durations=30

# The fault suite alone: 10 seeded SIGKILLs across the daily chain, reruns, tables equal an uninterrupted run.
test-faults: setup
	$(BIN)/python -m pytest -q -m faults --durations=10

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The inner loop: unit tests only, no end-to-end job runs.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

bench: setup
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean-lake:
	rm -rf lakehouse landing truth mlflow spark-warehouse reports

clean: clean-lake
	rm -rf $(VENV) .jars
