# source-customerio: the commands a developer, the README and CI use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# PyAirbyte (DuckDB, SQLAlchemy, warehouse drivers) in a virtualenv of its own: the connector's stays lean.
PYAIRBYTE_VENV ?= .venv-pyairbyte

# Image tests run against an already-built image (`make image`, then CONNECTOR_IMAGE=source-customerio:dev);
# without one they are deselected, unless REQUIRE_IMAGE_TESTS=1 (CI), which then fails.
CONNECTOR_IMAGE ?=
PYTEST_IMAGE_ARGS := $(if $(CONNECTOR_IMAGE),--connector-image=$(CONNECTOR_IMAGE) --read-from-streams=all,-m "not image_tests")

.PHONY: pyairbyte install lint test test-unit test-integration live-test image base-image demo bench bench-smoke bench-ab sandbox \
	mutation clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(PY)  ## the connector and its development tools, editable
	$(BIN)/pip install --quiet -e ".[dev]"

pyairbyte: $(PYAIRBYTE_VENV)/bin/airbyte-ok  ## PyAirbyte in .venv-pyairbyte, for integration_tests/test_pyairbyte.py

$(PYAIRBYTE_VENV)/bin/airbyte-ok: integration_tests/pyairbyte/requirements.txt
	$(PYTHON) -m venv $(PYAIRBYTE_VENV)
	$(PYAIRBYTE_VENV)/bin/pip install --quiet --upgrade pip
	$(PYAIRBYTE_VENV)/bin/pip install --quiet -r integration_tests/pyairbyte/requirements.txt
	$(PYAIRBYTE_VENV)/bin/python -c "import airbyte, duckdb" && touch $@

lint: install  ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint pyairbyte  ## everything CI runs: lint, type checks, unit, integration and image tests
	@if [ "$${REQUIRE_IMAGE_TESTS:-}" = 1 ] && [ -z "$(CONNECTOR_IMAGE)" ]; then \
		echo "REQUIRE_IMAGE_TESTS=1 needs CONNECTOR_IMAGE (run: make image)"; exit 1; fi
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_IMAGE_ARGS)

test-unit: install
	$(BIN)/pytest -q unit_tests -m "not image_tests"

test-integration: install
	$(BIN)/pytest -q integration_tests $(PYTEST_IMAGE_ARGS)

# Against the real App API, with the key in secrets/config.json (git-ignored); never part of `make test`.
# Read-only, except one customer export of a single person. LIVE_EMPTY_STREAMS=a,b names streams the
# workspace has no data in (the standard read wants records from every other stream).
live-test: install  ## the CDK standard tests and the API contract against the real workspace
	@if [ ! -f secrets/config.json ]; then \
		echo "make live-test: skipped, no secrets/config.json (see the README, 'Live contract tests')"; \
	else \
		echo "Live tests on the workspace of secrets/config.json: read-only but for ONE export of one person."; \
		status=0; export SOURCE_CUSTOMERIO_LIVE=1; \
		$(BIN)/pytest -p no:cacheprovider -q -s integration_tests/live/test_live_contract.py || status=1; \
		$(BIN)/pytest -p no:cacheprovider -q -m "not image_tests" integration_tests/live/test_live_standards.py \
			|| status=1; \
		exit $$status; \
	fi

base-image:  ## a Debian bookworm base with python3, for networks that reach no image registry
	bash scripts/build-offline-base-image.sh

image: base-image  ## source-customerio:dev from the offline base
	bash scripts/build-image.sh

sandbox: install  ## a local Customer.io look-alike on port 8089 (Ctrl-C to stop)
	PYTHONPATH=. $(PY) -m integration_tests.sandbox --port 8089 --size small --api-key demo-key

demo: install image  ## read every stream through the image from a local sandbox; print counts
	PYTHONPATH=. $(PY) scripts/demo.py

bench: install  ## the benchmark table (unthrottled and 10 req/s + 150 ms)
	PYTHONPATH=. $(PY) -m integration_tests.bench

bench-smoke: install
	PYTHONPATH=. $(PY) -m integration_tests.bench --smoke

bench-ab: install  ## the people export, this checkout against BASE=<commit>, run alternately (ARGS=--typed)
	PYTHONPATH=. $(PY) -m integration_tests.bench.ab --base $(BASE) $(ARGS)

# Mutation testing (mutmut, configured in pyproject.toml) of http/ and streams/base.py against the unit
# tests; never part of `make test` (about an hour on one core). One worker: the machine's other core is
# left to whoever shares it. Verdicts are kept in mutants/ (git-ignored) and mutmut re-tests only the
# mutants of functions that changed, so a second run also re-tests the survivors by name (tests added
# since may kill them). MUTATION_FRESH=1 (or `rm -rf mutants`) measures afresh. docs/mutation.md: survivors.
mutation: install  ## mutmut's score on http/ and streams/base.py (killed / total, and the survivors)
	@if [ "$${MUTATION_FRESH:-}" = 1 ]; then rm -rf mutants; fi
	@if [ -d mutants ]; then again=1; else again=; fi; mkdir -p mutants; \
	echo "mutmut run --max-children 1 (progress in mutants/run.log)"; \
	$(BIN)/mutmut run --max-children 1 > mutants/run.log 2>&1 || { tail -c 3000 mutants/run.log; exit 1; }; \
	survivors=$$($(PY) scripts/mutation_score.py --survivors); \
	if [ -n "$$again" ] && [ -n "$$survivors" ]; then \
		echo "re-testing the survivors of an earlier run"; \
		$(BIN)/mutmut run --max-children 1 $$survivors >> mutants/run.log 2>&1 \
			|| { tail -c 3000 mutants/run.log; exit 1; }; \
	fi
	$(PY) scripts/mutation_score.py

clean:
	rm -rf mutants $(VENV) $(PYAIRBYTE_VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
