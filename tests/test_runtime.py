"""The autograd runtime exists twice, from one source: the compiled extension and
engine/_core.py run as Python (ENGINE_NO_EXT=1). Both must compute the same thing."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import engine as eg
from conftest import ROOT


def small_graph():
    """Values and gradients of a small graph that exercises the runtime's paths:
    broadcasting, a reused node, a non-leaf autograd.grad input, retain_graph and
    accumulation. Returned as float.hex strings, so the comparison is bitwise."""
    x = eg.tensor([[0.5, -1.25, 2.0], [1.5, 0.25, -0.75]], dtype=eg.float64,
                  requires_grad=True)
    w = eg.tensor([0.3, -0.2, 0.1], dtype=eg.float64, requires_grad=True)
    h = (x * w).tanh()                        # broadcast (2, 3) * (3,)
    y = (h * h + h.exp()).sum(dim=1)          # h reused
    loss = (y.softmax(0) * eg.arange(2, dtype=eg.float64)).sum() + y.mean()
    gh, = eg.autograd.grad(loss, h, retain_graph=True)
    loss.backward(retain_graph=True)
    loss.backward()                           # accumulates
    arrays = {"loss": loss, "gh": gh, "x.grad": x.grad, "w.grad": w.grad}
    out = {k: [float(v).hex() for v in np.ravel(t.numpy())] for k, t in arrays.items()}
    out["compiled"] = eg.extension_compiled()
    return out


def _run_source_variant(code):
    env = dict(os.environ, ENGINE_NO_EXT="1")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "tests", env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_compiled_and_source_runtimes_agree():
    here = small_graph()
    there = json.loads(_run_source_variant(
        "import sys, json; sys.path.insert(0, '..'); import test_runtime; "
        "print(json.dumps(test_runtime.small_graph()))"))
    assert there.pop("compiled") is False, "ENGINE_NO_EXT=1 should load engine/_core.py"
    here.pop("compiled")
    assert here == there


def test_source_runtime_walks_a_deep_chain():
    """The Python variant also walks and frees a 100,000-node chain without recursion."""
    out = _run_source_variant(
        "import sys; sys.path.insert(0, '..'); import engine as eg\n"
        "x = eg.zeros(1, requires_grad=True); y = x\n"
        "for _ in range(100_000): y = y + 1.0\n"
        "y.backward(eg.ones(1)); del y; print(x.grad.item(), eg.extension_compiled())")
    assert out.split() == ["1.0", "False"]


@pytest.mark.skipif(not os.environ.get("CI"), reason="CI builds the extension (make test)")
def test_extension_is_compiled_in_ci():
    assert eg.extension_compiled(), "CI runs `make test`, which builds engine/_core"


def test_extension_is_not_stale():
    """A compiled runtime older than its source would test yesterday's code."""
    if not eg.extension_compiled():
        pytest.skip("the extension is not built here (engine/_core.py runs as Python)")
    compiled = eg._core.__file__
    source = ROOT / "engine" / "_core.py"
    assert os.path.getmtime(compiled) >= os.path.getmtime(source), (
        f"{compiled} is older than {source}: rebuild it with `make build` or "
        f"`python setup.py build_ext --inplace`")
