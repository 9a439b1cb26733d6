# inferlearn: every target does its own set-up (virtualenv, install, model files) and skips
# what is already done. Start with `make run` (execute every notebook) or `make test`.
#
#   make run       execute every source notebook headlessly (CI-sized), report in build/
#   make test      the whole test suite (pytest), prints pytest's summary
#   make lab       build your workspace/ and open JupyterLab on it
#   make check     grade your own workspace notebooks (NB=path/to/notebook.ipynb for one)
#   make release   instructors: student release of every phase into build/course/release/
#   make grade     instructors: autograde build/course/submitted/ in the bubblewrap sandbox,
#                  feedback, grades.csv + plots (GRADE_ARGS="--jobs 2", "--student NAME", ...)
#   make bench     run benchmarks/*.py, JSON into build/bench/
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
PYTEST_ARGS ?=
RUN_ARGS ?=
NB ?=
GRADE_ARGS ?=

STOP_SERVER = $(BIN)/inferlearn serve --stop >/dev/null 2>&1 || true

.PHONY: setup models sandbox run test lab check release grade bench clean clean-venv

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

# -- maintainers and CI ----------------------------------------------------------------------
run test bench: export INFERLEARN_RUNTIME := $(RUNTIME)

run: setup
	@trap '$(STOP_SERVER)' EXIT; $(BIN)/inferlearn run -j $(JOBS) $(RUN_ARGS)

test: setup
	@trap '$(STOP_SERVER)' EXIT; $(BIN)/pytest $(PYTEST_ARGS)

bench: setup
	@mkdir -p build/bench
	@trap '$(STOP_SERVER)' EXIT; shopt -s nullglob; status=0; found=0; \
	for script in benchmarks/[!_]*.py; do \
	  found=1; name=$$(basename $$script .py); name=$${name#bench_}; echo "== $$name -> build/bench/$$name.json"; \
	  $(BIN)/python $$script --out build/bench/$$name.json || status=1; \
	done; \
	if [ $$found = 0 ]; then echo "no benchmarks in benchmarks/ yet"; fi; exit $$status

# -- learners --------------------------------------------------------------------------------
lab: setup
	$(BIN)/inferlearn workspace
	$(BIN)/jupyter lab --notebook-dir=workspace

check: setup
	$(BIN)/inferlearn check $(NB)

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
