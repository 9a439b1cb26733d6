# inferlearn: every target does its own set-up (virtualenv, install, model files) and skips
# what is already done. Start with `make run` (execute every notebook) or `make test`.
#
#   make run       execute every source notebook headlessly (CI-sized), report in build/
#   make test      the whole test suite (pytest), prints pytest's summary
#   make lab       build your workspace/ and open JupyterLab on it (LAB_ARGS=... for more options)
#   make check     grade your own workspace notebooks (NB=path/to/notebook.ipynb for one)
#   make progress  your points per phase and notebook from your checks, and a plot
#   make release   instructors: student release of every phase into build/course/release/
#   make grade     instructors: autograde build/course/submitted/ in the bubblewrap sandbox,
#                  feedback, grades.csv + plots (GRADE_ARGS="--jobs 2", "--student NAME", ...)
#   make bench     run benchmarks/*.py, JSON into build/bench/
#   make app       run the phase 4 service (KEYS="sk-dev-0001=dev", PORT=8400)
#   make eval-nightly  full-size golden test eval, recorded and compared with the last good run
#   make browser-deps  chromium for tests/test_browser.py, installed only when missing (root)
#   make clean     remove build/ (never workspace/: that is the learner's work)
#
# `make test` and `make run` use their own server folder (build/runtime) and stop the local
# model server they started when they finish, pass or fail.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
RUNTIME := $(CURDIR)/build/runtime
JOBS ?= 2
PYTEST_ARGS ?= --durations=25
RUN_ARGS ?=
NB ?=
GRADE_ARGS ?=

STOP_SERVER = $(BIN)/inferlearn serve --stop >/dev/null 2>&1 || true

.PHONY: setup models sandbox browser-deps run test lab check progress release grade bench \
        eval-nightly clean clean-venv app

# -- set-up ----------------------------------------------------------------------------------
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# llama.cpp is built for a portable CPU level (AVX2), not for this CPU (-march=native): a native
# build uses AMX on recent Xeons and crashed there in a VM (SIGSEGV in ggml_backend_amx_mul_mat,
# seen 2026-12-03; the AVX2 build measured as fast there as an AVX-512 one), and a native wheel
# runs only on CPUs with the same instructions. Elsewhere than x86_64 llama.cpp's own default
# applies. Override with LLAMA_CMAKE_ARGS=... .
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
endif

# Re-installs when pyproject.toml changes (new dependency, new range).
$(INSTALLED): pyproject.toml | $(BIN)/python
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --disable-pip-version-check \
	  --progress-bar off -e '.[dev]'
	touch $@

# Idempotent: a verified model file is never fetched again. Then llama.cpp generates two tokens
# in a child process, so a build that crashes on this CPU stops here with the fix.
models: $(INSTALLED)
	@$(BIN)/inferlearn models install

# The grading sandbox (bubblewrap): installed when missing and we are root with apt-get; else a
# note (only `make grade` needs it; `inferlearn doctor` says whether it works).
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null \
	      || echo "note: could not install bubblewrap; make grade needs it"; \
	  else echo "note: bubblewrap (bwrap) is missing; make grade needs it: sudo apt-get install -y bubblewrap"; fi; }

setup: $(INSTALLED) models sandbox

# The browser test (tests/test_browser.py) drives Debian's chromium with Playwright (a dev extra;
# its own browser download cannot work offline). Installs chromium only when it is missing and
# apt-get can (root); otherwise says so, and the test skips with the reason. `make test` runs it.
browser-deps: $(INSTALLED)
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "could not install chromium with apt-get: the browser test will skip"; \
	else echo "chromium is missing and cannot be installed here (needs root and apt-get): the browser test will skip"; fi

# -- maintainers and CI ----------------------------------------------------------------------
run test bench: export INFERLEARN_RUNTIME := $(RUNTIME)
# The suite runs on the fast model (SmolLM2-135M); `inferlearn run` picks it for CI-sized runs.
test: export INFERLEARN_MODEL ?= smollm2-135m-instruct

run: setup
	@trap '$(STOP_SERVER)' EXIT; $(BIN)/inferlearn run -j $(JOBS) $(RUN_ARGS)

test: setup browser-deps
	@trap '$(STOP_SERVER)' EXIT; $(BIN)/pytest $(PYTEST_ARGS)

bench: setup
	@mkdir -p build/bench
	@trap '$(STOP_SERVER)' EXIT; shopt -s nullglob; status=0; found=0; \
	for script in benchmarks/[!_]*.py; do \
	  found=1; name=$$(basename $$script .py); name=$${name#bench_}; echo "== $$name -> build/bench/$$name.json"; \
	  $(BIN)/python $$script --out build/bench/$$name.json || status=1; \
	done; \
	if [ $$found = 0 ]; then echo "no benchmarks in benchmarks/ yet"; fi; exit $$status

# The nightly regression gate: evaluate the golden test split at full size, record the run in the
# registry, compare it with the last good run (exit 1 on a regression; the run is marked so the
# next night compares with the last good one), then plot the history. The first run has no
# baseline and passes. CI keeps $(EVAL_REGISTRY) as an artifact between nights.
EVAL_PIPELINE ?= hybrid_pages
EVAL_REGISTRY ?= build/evals/registry.sqlite3
EVAL_ARGS ?=
eval-nightly: export INFERLEARN_RUNTIME := $(RUNTIME)
eval-nightly: setup
	@mkdir -p build/evals
	@trap '$(STOP_SERVER)' EXIT; \
	$(BIN)/inferlearn eval rag --split test --pipeline $(EVAL_PIPELINE) --record \
	  --registry $(EVAL_REGISTRY) --json build/evals/nightly.json $(EVAL_ARGS) || exit 2; \
	$(BIN)/inferlearn eval compare --registry $(EVAL_REGISTRY) --baseline last-good \
	  --fail-on-regression --mark --allow-no-baseline; status=$$?; \
	$(BIN)/inferlearn eval history --registry $(EVAL_REGISTRY) --pipeline $(EVAL_PIPELINE) \
	  --plot build/evals/history.png; exit $$status

# -- learners --------------------------------------------------------------------------------
# LAB_ARGS: extra jupyter lab options (e.g. --no-browser --port=8899). Root (a container, CI)
# needs --allow-root, which is added only then.
LAB_ARGS ?=
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: setup
	$(BIN)/inferlearn workspace
	$(BIN)/jupyter lab --notebook-dir=workspace $(ALLOW_ROOT) $(LAB_ARGS)

check: setup
	$(BIN)/inferlearn check $(NB)

progress: setup
	$(BIN)/inferlearn progress

KEYS ?= sk-dev-0001=dev
PORT ?= 8400
app: setup
	$(BIN)/inferlearn app --port $(PORT) --key $(KEYS)

# -- instructors -----------------------------------------------------------------------------
release: setup
	$(BIN)/inferlearn release

grade: setup
	$(BIN)/inferlearn grade $(GRADE_ARGS)

# -- tidying ---------------------------------------------------------------------------------
clean:
	rm -rf build .pytest_cache .ruff_cache

clean-venv:
	rm -rf $(VENV)
