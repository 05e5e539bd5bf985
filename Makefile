# Newcomer commands: `make demo` (sync the bundled emulator into DuckDB) and `make test` (the whole suite).
# Python 3.10+ as `python3` on PATH is all they need; override with `make PYTHON=python3.11 ...`.

PYTHON ?= python3
VENV := .venv
DEMO_VENV := .venv-demo

.PHONY: demo test bench emulator clean

## Sync every stream from the bundled emulator into demo-output/contacts.duckdb via PyAirbyte.
demo: $(VENV)/.installed $(DEMO_VENV)/.installed
	$(DEMO_VENV)/bin/python scripts/demo.py

## Install the connector with its dev extra and run unit and integration tests.
## The CDK's docker image tests need a Docker engine; they are deselected when `docker info` fails.
test: $(VENV)/.installed-dev
	@if docker info >/dev/null 2>&1; then \
		echo "$(VENV)/bin/python -m pytest"; \
		$(VENV)/bin/python -m pytest; \
	else \
		echo "No Docker engine answers: deselecting the docker image tests."; \
		echo "$(VENV)/bin/python -m pytest -k 'not test_docker_image'"; \
		$(VENV)/bin/python -m pytest -k "not test_docker_image"; \
	fi

## Connector vs plain-Python baseline on the emulator (records/s, peak memory), then a Cometly first sync under the
## API's limits (wall time, calls) -> benchmarks/out/results.md (~5 min). `BENCH_ARGS="--scale small"` for a quick run;
## the committed table: `BENCH_ARGS="--scale 1m --update-results"` (about an hour).
bench: $(VENV)/.installed-dev
	$(VENV)/bin/python -m benchmarks $(BENCH_ARGS)

## The bundled API emulator in the foreground, for running the connector by hand; writes emulator-config.json.
emulator: $(VENV)/.installed
	$(VENV)/bin/python -m emulator $(EMULATOR_ARGS)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# The connector, editable, with its console script `source-contacts` (what the demo runs).
$(VENV)/.installed: setup.py | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: setup.py | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# PyAirbyte pins its own airbyte-cdk, so it gets a virtualenv of its own.
$(DEMO_VENV)/.installed: scripts/demo-requirements.txt
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install --quiet -r scripts/demo-requirements.txt
	touch $@

clean:
	rm -rf $(VENV) $(DEMO_VENV) demo-output benchmarks/out emulator-config.json
