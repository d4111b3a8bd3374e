# The README's commands. Each one sets up what it needs first, so a fresh clone works.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
HOST ?= 127.0.0.1
export FLASK_APP := app

.PHONY: run test mutation serve bench lint docs install install-test db-upgrade clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes (stamp files remember what was installed).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

db-upgrade: install
	KEYSTEAD_ENV=$${KEYSTEAD_ENV:-development} $(BIN)/flask db upgrade

# Development server with embedded defaults: SQLite in instance/, a generated secret key,
# origin http://localhost:$(PORT).
run: install
	KEYSTEAD_ENV=development KEYSTEAD_ORIGIN=$${KEYSTEAD_ORIGIN:-http://localhost:$(PORT)} \
		$(BIN)/flask db upgrade
	KEYSTEAD_ENV=development KEYSTEAD_ORIGIN=$${KEYSTEAD_ORIGIN:-http://localhost:$(PORT)} \
		$(BIN)/flask run --host $(HOST) --port $(PORT) --debug

# Production serving: migrations, then gunicorn. Configure with KEYSTEAD_* variables.
serve: install
	$(BIN)/flask db upgrade
	$(BIN)/gunicorn --workers $${WORKERS:-2} --bind $${BIND:-127.0.0.1:$(PORT)} 'app:create_app()'

# One pytest-xdist worker per CPU this process may use (`auto`: 2 on a 2-core machine; a third
# worker there only adds its own set-up). `worksteal` hands a worker that ran dry the tests
# still queued on another, so the slow ones (browser, gunicorn) do not end the run on one
# core. Each worker has its own SQLite file or PostgreSQL database, SMTP server, Chromium and
# ports. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= auto
test: install-test
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# Mutation run over the security-critical code (tools/mutation/): does a test fail when a rule
# is changed? MUTATION_ARGS="--module core/sessions.py", "--list", "-j 1".
mutation: install-test
	$(BIN)/python -m tools.mutation.run -j 2 $(MUTATION_ARGS)

bench: install-test
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Regenerate what is written from code: the OpenAPI document and the README's config table.
docs: install
	$(BIN)/python docs/openapi.py
	$(BIN)/python docs/update_readme.py

# ruff (pinned in pyproject's [dev] extra) and mypy over the packages ([tool.mypy] says which).
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
