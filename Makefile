# invoicepay: `make run` serves the demo on http://127.0.0.1:8000/graphql, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint typecheck schema bench clean

$(BIN)/invoicepay: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/invoicepay

# A development secret, made once; production sets JWT_SECRET (or a public key) itself.
.env:
	@echo "JWT_SECRET=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))')" > .env
	@echo "created .env with a random development JWT_SECRET"

run: install .env
	$(BIN)/invoicepay migrate
	$(BIN)/invoicepay seed --demo
	$(BIN)/invoicepay serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy app tests bench

test: lint typecheck
	$(BIN)/pytest -q

schema: install
	$(BIN)/strawberry export-schema app.api.graphql.schema:schema --output schema.graphql

# Not part of `test`: a few minutes of load against a throwaway database on the local
# PostgreSQL (BENCH_DATABASE_URL for another); BENCH_ARGS=--quick for a smoke run.
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache invoicepay.db invoicepay.db-*
