"""Backends share one table of kernels; dispatch switches between them, borrows from
the reference only when asked, and logs launches on request."""
import importlib
import inspect
import os
import re
import subprocess
import sys
import types

import numpy as np
import pytest

import engine as eg
from engine import dispatch
from conftest import ROOT

reference = importlib.import_module("kernels.reference")


def _numba_backend():
    """kernels.numba: it must import (a broken backend fails here, never skips)."""
    return importlib.import_module("kernels.numba")


def _signature(fn):
    """A kernel's Python signature (a Numba dispatcher's through its py_func)."""
    return inspect.signature(getattr(fn, "py_func", fn))


# ---- one table of kernels ---------------------------------------------------------------
def test_reference_exports_what_it_lists():
    for name in reference.__all__:
        assert callable(getattr(reference, name)), name
    assert len(set(reference.__all__)) == len(reference.__all__)


def test_every_backend_has_the_reference_kernel_files():
    """attorch's layout: the kernels of one family sit in kernels/<backend>/<family>.py
    in every backend, beside the reference's (helpers start with an underscore)."""
    def families(backend):
        return sorted(p.stem for p in (ROOT / "kernels" / backend).glob("[!_]*.py"))
    assert families("numba") == families("reference")
    assert families("triton") == sorted(families("reference") + ["buffer"])


def test_numba_has_the_reference_names():
    numba = _numba_backend()
    assert sorted(numba.__all__) == sorted(reference.__all__), (
        f"only in reference: {sorted(set(reference.__all__) - set(numba.__all__))}; "
        f"only in numba: {sorted(set(numba.__all__) - set(reference.__all__))}")


def test_numba_has_the_reference_signatures():
    numba = _numba_backend()
    for name in reference.__all__:
        assert hasattr(numba, name), f"kernels.numba lacks {name}"
        assert _signature(getattr(numba, name)) == _signature(getattr(reference, name)), (
            f"{name}: numba {_signature(getattr(numba, name))} != reference "
            f"{_signature(getattr(reference, name))}")


# ---- use_backend -------------------------------------------------------------------------
def test_use_backend_reference_and_restore():
    before = dispatch.kernels_for("cpu").backend
    with dispatch.use_backend("reference"):
        assert dispatch.kernels_for("cpu").backend == "reference"
        assert (eg.ones(2) + eg.ones(2)).tolist() == [2.0, 2.0]
    assert dispatch.kernels_for("cpu").backend == before


def test_use_backend_numba():
    _numba_backend()
    with dispatch.use_backend("numba"):
        assert dispatch.kernels_for("cpu").backend == "numba"
        x = eg.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
        (x.relu() * x).sum().backward()
        assert x.grad.tolist() == [[2.0, 0.0], [6.0, 8.0]]


def test_use_backend_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown CPU backend 'cuda'"):
        dispatch.use_backend("cuda")


def test_unknown_device_names_the_devices_there_are():
    with pytest.raises(eg.DeviceError, match=r"device 'tpu' has no backend here \(available: "
                                             r"cpu\)"):
        dispatch.kernels_for("tpu")


# ---- allow_fallback ------------------------------------------------------------------------
@pytest.fixture
def partial_backend(monkeypatch):
    """A CPU backend with creation kernels and `add`: every other kernel is missing."""
    module = types.ModuleType("kernels_partial_for_tests")
    calls = []

    def add(a, b):
        calls.append("add")
        return np.add(a, b)

    module.add = add
    for name in ("from_host", "to_host", "full"):
        setattr(module, name, getattr(reference, name))
    module.__all__ = ["add", "from_host", "to_host", "full"]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(dispatch.DEFAULT_BACKENDS, "cpu", module.__name__)
    try:
        with dispatch.use_backend("numba"):          # "numba" = the device's default backend
            yield calls
    finally:
        monkeypatch.undo()
        dispatch._rebuild()


def test_missing_kernel_raises_without_fallback(partial_backend):
    x = eg.tensor([1.0, 2.0])
    assert (x + x).tolist() == [2.0, 4.0] and partial_backend == ["add"]
    with pytest.raises(NotImplementedError, match="mul: the .* backend has no kernel for it. "
                                                  "Hint: set ENGINE_ALLOW_FALLBACK=1"):
        x * x


def test_fallback_borrows_reference_kernels_only_when_allowed(partial_backend):
    x = eg.tensor([1.0, 2.0])
    with dispatch.allow_fallback():
        assert (x * x + x).tolist() == [2.0, 6.0]
        assert partial_backend == ["add"]          # its own add still runs
    with pytest.raises(NotImplementedError):
        x * x


# ---- log_kernels ---------------------------------------------------------------------------
LINE = re.compile(r"^\[kernel\] (?P<backend>\w+)\s+(?P<kernel>\w+)\s+(?P<args>.*?)\s+"
                  r"(?P<ms>\d+\.\d+) ms$")


def test_log_kernels_prints_one_line_per_kernel(capsys):
    a = eg.ones(2, 3)
    b = eg.ones(2, 3)
    with dispatch.log_kernels():
        c = a + b
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    match = LINE.match(lines[0])
    assert match, lines[0]
    assert match["backend"] == dispatch.kernels_for("cpu").backend
    assert match["kernel"] == "add"
    assert re.findall(r"\([\d, ]*\):\w+", match["args"]) == ["(2, 3):float32"] * 2
    assert c.tolist() == [[2.0] * 3] * 2


def test_log_kernels_covers_backward_and_stops_after(capsys):
    x = eg.ones(2, 3, dtype=eg.float64, requires_grad=True)
    w = eg.ones(3, 4, dtype=eg.float64)
    with dispatch.log_kernels():
        (x @ w).sum().backward()
    lines = capsys.readouterr().err.strip().splitlines()
    kernels = [LINE.match(line)["kernel"] for line in lines]
    assert all(LINE.match(line) for line in lines)
    assert kernels.count("matmul") == 2            # forward, and d/dx only: w needs none
    assert any("float64" in line for line in lines)
    x @ w
    assert capsys.readouterr().err == ""


def test_log_kernels_environment_variable():
    env = dict(os.environ, ENGINE_LOG_KERNELS="1", ENGINE_BACKEND="reference")
    result = subprocess.run(
        [sys.executable, "-c", "import engine as eg; eg.ones(3) * 2.0"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("[kernel]")]
    assert any(LINE.match(line) and LINE.match(line)["kernel"] == "mul" for line in lines), \
        result.stderr
