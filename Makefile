# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint install soak bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@if [ -d blueprints/translations ]; then $(BIN)/pybabel -q compile --use-fuzzy -d blueprints/translations || exit 1; fi
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/crm-platform init --demo
	$(BIN)/crm-platform serve --host 127.0.0.1 --port 5000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# pytest exits 5 when it collected nothing: that is a failure, never a pass.
test: $(STAMP) lint
	@if [ -d blueprints/translations ]; then $(BIN)/pybabel -q compile --use-fuzzy -d blueprints/translations; fi
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

soak: $(STAMP)
	$(BIN)/python -m bench.soak_isolation

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
