# Two commands on a fresh machine: `make test` and `make demo`. Both are idempotent.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
EXT    := engine/.built-stamp

.PHONY: all setup build test demo bench overhead clean

all: test

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency list changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip setuptools wheel "Cython>=3.0"
	$(PY) -m pip install -q --no-build-isolation -e '.[test,bench]'
	touch $@

setup: $(STAMP)

# The Cython runtime, compiled in place next to its pure-Python source.
$(EXT): $(STAMP) engine/_core.py engine/_core.pxd setup.py
	$(PY) setup.py -q build_ext --inplace
	touch $@

build: $(EXT)

test: build
	$(PY) -m pytest -q

demo: build
	$(PY) -m examples.digits

bench: build
	$(PY) -m bench

overhead: build
	$(PY) -m bench.overhead

clean:
	rm -rf build engine/*.so engine/_core.c $(EXT) .pytest_cache
