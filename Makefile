# The two commands: `make run` (embedded SQLite demo) and `make test` (PostgreSQL + Redis).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint services reliability bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/python manage.py migrate --noinput -v0
	@if command -v msgfmt >/dev/null; then $(BIN)/python manage.py compilemessages -v0 --ignore=.venv; fi
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py load_protocol pada1.yaml palatine.yaml
	$(BIN)/python manage.py seed_demo
	HOST=$(HOST) PORT=$(PORT) exec deploy/scripts/run_local.sh

services:
	deploy/scripts/ensure_services.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: install services lint
	@if command -v msgfmt >/dev/null; then $(BIN)/python manage.py compilemessages -v0 --ignore=.venv; fi
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest -q

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache

# Benchmarks: a throwaway PostgreSQL database, gunicorn and wrk on loopback; writes
# reports/bench/REPORT.md and results.json. BENCH_ARGS=--quick for a smoke run.
bench: install services
	bench/ensure_wrk.sh
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	@if [ -f bench/bench_randomization.py ]; then \
	  DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres $(BIN)/python bench/bench_randomization.py; fi

# Reliability suite: the heavy parts `make test` leaves out (marker `reliability`):
# real prefork workers killed with SIGKILL on a private redis-server, and schemathesis with
# many randomized examples per operation and persona. The fast parts run in `make test`.
reliability: install services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest -q -m reliability tests/reliability
