# invoicepay: `make run` serves the demo on http://127.0.0.1:8000/graphql, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Every package, pinned with its hashes (`make lock` writes them from pyproject.toml).
LOCK := requirements/dev.txt
LOCK_FLAGS := --generate-hashes --universal --python-version 3.11 --custom-compile-command "make lock"

.PHONY: install run test lint typecheck browser schema lock bench clean

# A new lock rebuilds the venv from nothing, so a package the lock dropped goes too.
$(VENV)/.locked: $(LOCK)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	touch $@

$(BIN)/invoicepay: $(VENV)/.locked pyproject.toml
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

install: $(BIN)/invoicepay

# After changing dependencies in pyproject.toml (LOCK_ARGS=--upgrade moves every pin).
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_FLAGS) $(LOCK_ARGS) -q -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) $(LOCK_ARGS) -q -o requirements/prod.txt

# A development secret and mode, made once; production sets JWT_SECRET (or a public key) itself.
.env:
	@echo "JWT_SECRET=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))')" > .env
	@echo "ENVIRONMENT=development" >> .env
	@echo "created .env with a random development JWT_SECRET"

run: install .env
	@# A .env from before production became the default still gets the development mode.
	@grep -q '^ENVIRONMENT=' .env || echo "ENVIRONMENT=development" >> .env
	$(BIN)/invoicepay migrate
	$(BIN)/invoicepay seed --demo
	$(BIN)/invoicepay serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# The app's imports against its runtime dependencies; then tests', bench's and
	@# scripts' imports against every group (declared, not only installed by chance).
	$(BIN)/deptry .
	$(BIN)/deptry . --exclude '^(\.venv|app|build)/' --ignore DEP002,DEP004
	$(BIN)/python scripts/schema_breaking.py

typecheck: install
	$(BIN)/mypy app tests bench scripts

# The GraphiQL test drives Debian's chromium; installed here when missing and possible.
browser:
	@bash scripts/ensure-chromium.sh

test: lint typecheck browser
	$(BIN)/pytest -q

schema: install
	$(BIN)/strawberry export-schema app.api.graphql.schema:schema --output schema.graphql

# Not part of `test`: a few minutes of load against a throwaway database on the local
# PostgreSQL (BENCH_DATABASE_URL for another); BENCH_ARGS=--quick for a smoke run.
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache invoicepay.db invoicepay.db-*
