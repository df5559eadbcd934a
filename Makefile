# Two commands on a fresh machine: `make test` and `make demo`. Both are idempotent.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
EXT    := engine/.built-stamp

.PHONY: all setup build test demo demo-digits demo-transfer demo-mc-dropout data bench overhead clean

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

test: build data
	$(PY) -m pytest -q

# Fashion-MNIST comes from Debian's dataset-fashion-mnist where apt is at hand (root);
# without it the demos fall back to scikit-learn's bundled digits and say so.
data:
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null \
	    && [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } || \
	  echo "Fashion-MNIST not installed: the demo will use the digits"; fi

# The main job: LeNet-5 trained with the engine and with torch, side by side.
demo: build data
	$(PY) -m examples.lenet

demo-digits: build
	$(PY) -m examples.digits

demo-transfer: build data
	$(PY) -m examples.transfer

demo-mc-dropout: build data
	$(PY) -m examples.mc_dropout

bench: build
	$(PY) -m bench

overhead: build
	$(PY) -m bench.overhead

clean:
	rm -rf build engine/*.so engine/_core.c $(EXT) .pytest_cache
