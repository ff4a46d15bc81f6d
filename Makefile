# tracemill: `make demo` runs the whole loop, `make test` runs the test suite.
# Both create or refresh the virtualenv themselves from the hash-locked uv.lock.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced

# Offline by default: no analytics, no cost-map fetch, no telemetry.
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export LITELLM_LOCAL_MODEL_COST_MAP := True
export LITELLM_OFFLINE_MODE := true
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export UV_PYTHON_DOWNLOADS := never

.PHONY: install test demo bench clean

$(UV): tools/requirements.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r tools/requirements.txt
	touch $(UV)

$(STAMP): $(UV) uv.lock pyproject.toml hatch_build.py src/tracemill/ingest/_otlp_native.c
	$(UV) sync --locked --all-groups --compile-bytecode --python $(PYTHON)
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	PREFECT_HOME=$$(mktemp -d) $(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP)
	PREFECT_HOME=$$(mktemp -d) $(VENV)/bin/tracemill demo $(DEMO_ARGS)

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/ingest.py
	$(VENV)/bin/python benchmarks/mine.py
	$(VENV)/bin/python benchmarks/eval_runner.py

clean:
	rm -rf $(VENV) $(TOOLS) warehouse/local .demo
