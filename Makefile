# segsync developer tasks. `make test` is what CI runs (.ci/run).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed
CODE := worker schemas tests bench harness

# Development / demo services (the scripts' defaults) ...
KAFKA_PORT ?= 9092
PG_PORT ?= 54329
# ... and the test suite's (each test gets its own database, so sharing PostgreSQL is fine).
TEST_KAFKA_PORT ?= 19092
TEST_PG_PORT ?= 54329
# `make test` starts the services itself and tells conftest to use them as they are.
TEST_ENV := SEGSYNC_TEST_SERVICES=external \
	SEGSYNC_TEST_KAFKA=127.0.0.1:$(TEST_KAFKA_PORT) \
	SEGSYNC_TEST_PG_URL=postgresql+psycopg://segsync@127.0.0.1:$(TEST_PG_PORT)/segsync
# Two pytest workers (pytest-xdist): most tests wait on the broker, PostgreSQL or a worker
# process, and one runner left the box half idle (measured: 26 min serial, 18 with two).
PYTEST_ARGS ?= -q -m 'not slow' -n 2

.PHONY: help venv constraints services-up services-down lint deploy-tools-background test demo faults faults-short bench bench-quick

help:
	@echo "make venv           create/update .venv (pip install -e '.[dev]' -c constraints.txt)"
	@echo "make constraints    regenerate constraints.txt from .venv"
	@echo "make services-up    Kafka on 127.0.0.1:$(KAFKA_PORT), PostgreSQL on 127.0.0.1:$(PG_PORT)"
	@echo "make services-down  stop them (data removed)"
	@echo "make lint           ruff check, ruff format --check, mypy --strict"
	@echo "make test           lint, then the test suite against real Kafka and PostgreSQL"
	@echo "make demo           scripts/demo.sh"
	@echo "make faults         the long fault suite (~45 min; docs/FAULTS.md)"
	@echo "make bench          the benchmark suite (~15 min; docs/BENCHMARKS.md)"

venv: $(STAMP)

# Rebuilt when missing or older than pyproject.toml / constraints.txt.
$(STAMP): pyproject.toml $(wildcard constraints.txt)
	@if [ ! -x $(VENV)/bin/python ]; then \
		[ -n "$(PYTHON)" ] || { echo "make venv: needs python3.11 (or python3 >= 3.11)" >&2; exit 1; }; \
		echo "creating $(VENV) with $(PYTHON)"; \
		$(PYTHON) -m venv $(VENV); \
	fi
	$(VENV)/bin/pip install -q -e '.[dev]' $(if $(wildcard constraints.txt),-c constraints.txt)
	@touch $@

constraints: $(STAMP)
	$(VENV)/bin/pip freeze --exclude-editable > constraints.txt
	@touch $(STAMP)

services-up: $(STAMP)
	KAFKA_PORT=$(KAFKA_PORT) scripts/kafka.sh up
	PG_PORT=$(PG_PORT) scripts/pg.sh up

services-down:
	KAFKA_PORT=$(KAFKA_PORT) scripts/kafka.sh down
	PG_PORT=$(PG_PORT) scripts/pg.sh down

lint: $(STAMP)
	$(VENV)/bin/ruff check $(CODE)
	$(VENV)/bin/ruff format --check $(CODE)
	$(VENV)/bin/mypy --strict $(CODE)

# Starts the test services unless already running, runs pytest, then stops what it
# started, whatever pytest's outcome; exits with pytest's code. (With
# SEGSYNC_TEST_SERVICES=testcontainers or external in the environment, it leaves the
# services to conftest.) It takes part in the
# leases of tests/support/services.py (.run/<service>.tests/<pid>): while it runs, a
# pytest session running at the same time in the same tree keeps the services up, and
# if such a session is still using them when this one ends, the last one out stops them.
# The chart tests build helm and kubeconform with Go on first use (~2 min on a new machine):
# started in the background first, so the build overlaps the lint and the services' start
# (the tests wait for it on the script's lock; a failed build is retried and reported there).
deploy-tools-background:
	@mkdir -p .run; (scripts/deploy-tools.sh >.run/deploy-tools.log 2>&1 &)

test: $(STAMP) deploy-tools-background lint
	@rc=0; held=""; \
	acquire() { \
		mkdir -p .run/$$1.tests; \
		( flock 9; touch .run/$$1.tests/$$$$; \
		  env $$2 status >/dev/null || touch .run/$$1.tests/started ) 9>>.run/$$1.tests/lock; \
		held="$$1 $$held"; \
		env $$2 up; \
	}; \
	release() { \
		( flock 9; rm -f .run/$$1.tests/$$$$; live=0; \
		  for f in .run/$$1.tests/[0-9]*; do \
			[ -e "$$f" ] || continue; \
			if kill -0 "$${f##*/}" 2>/dev/null; then live=1; else rm -f "$$f"; fi; \
		  done; \
		  if [ $$live = 0 ] && [ -e .run/$$1.tests/started ]; then \
			env $$2 down || true; rm -f .run/$$1.tests/started; \
		  fi ) 9>>.run/$$1.tests/lock; \
	}; \
	release_all() { \
		for h in $$held; do \
			case $$h in \
				kafka-*) release $$h "KAFKA_PORT=$(TEST_KAFKA_PORT) scripts/kafka.sh" ;; \
				pg-*) release $$h "PG_PORT=$(TEST_PG_PORT) scripts/pg.sh" ;; \
			esac; \
		done; \
	}; \
	trap release_all EXIT; \
	trap 'exit 130' INT TERM; \
	if [ "$${SEGSYNC_TEST_SERVICES:-local}" != local ]; then \
		echo "SEGSYNC_TEST_SERVICES=$$SEGSYNC_TEST_SERVICES: conftest provides the services"; \
		$(VENV)/bin/pytest $(PYTEST_ARGS) || rc=$$?; \
		exit $$rc; \
	fi; \
	acquire kafka-$(TEST_KAFKA_PORT) "KAFKA_PORT=$(TEST_KAFKA_PORT) scripts/kafka.sh"; \
	acquire pg-$(TEST_PG_PORT) "PG_PORT=$(TEST_PG_PORT) scripts/pg.sh"; \
	$(TEST_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS) || rc=$$?; \
	exit $$rc

demo: $(STAMP)
	scripts/demo.sh

faults: $(STAMP)
	scripts/faults.sh long

faults-short: $(STAMP)
	scripts/faults.sh short

bench: $(STAMP)
	$(VENV)/bin/pip install -q -e '.[dev,bench]'
	$(VENV)/bin/python -m bench.run $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(VENV)/bin/python -m bench.run --quick
