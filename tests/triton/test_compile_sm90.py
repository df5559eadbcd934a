"""Every Triton kernel compiles for an H100 (sm_90), checked here without a GPU.

The interpreter runs the kernels with numpy and compiles nothing, so what only the
compiler rejects (tl.dot's rules, a global that is not a tl.constexpr, shared memory
past the chip's limit) would first show on a GPU. bench/compile_check.py records the
launches and compiles them with Triton's own ptxas; its full sweep (the whole
tests/triton session, float64 too, every autotune config) takes far longer than a
test may, so this test records a lighter workload: the first registry sample of each
op in float32 and float64, forward and backward, plus the kernels those do not reach.
It compiles one specialization per kernel and set of pointer dtypes, each autotuned
kernel with its smallest tile, and fails on any compile error (listed in the message).

Skipped on a GPU (ENGINE_TRITON_TESTS=1): there the other tests compile for real.
"""
import inspect
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import engine as eg
import kernels.triton as triton_backend
from bench import compile_check
from registry import OPS
from test_cuda_ops import check_on_cuda

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.triton, pytest.mark.filterwarnings("ignore::RuntimeWarning"),
    pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1",
                       reason="a GPU compiles the kernels in the other tests"),
]


def _workload():
    for op in OPS:
        sample = op.samples[0]
        for dtype in ("float32", "float64"):
            if dtype in sample.dtypes:
                check_on_cuda(sample.engine_fn or op.engine_fn, sample.torch_fn or op.torch_fn,
                              sample.inputs, grad=sample.grad, dtype=np.dtype(dtype))
    # advanced indexing (gather, and index_add in its backward) and arange
    for dtype in (eg.float32, eg.float64):
        x = eg.ones(6, 4, dtype=dtype).cuda().requires_grad_()
        x[eg.tensor([0, 5, 0]), 1:3].sum().backward()
    triton_backend.arange(0.5, 7.25, 0.25, np.float64)
    triton_backend.arange(-3, 10, 4, np.int64)


def _kernels_defined():
    """module:name of every `*_kernel` @triton.jit function in kernels/triton/."""
    from triton.runtime.interpreter import InterpretedFunction
    names = set()
    for path in sorted((ROOT / "kernels" / "triton").glob("*.py")):
        module = __import__(f"kernels.triton.{path.stem}", fromlist=["_"])
        for name, value in vars(module).items():
            if (isinstance(value, InterpretedFunction) and name.endswith("_kernel")
                    and inspect.getmodule(value.fn) is module):
                names.add(f"{module.__name__}:{name}")
    return names


def test_every_kernel_compiles_for_sm90(tmp_path):
    with compile_check.recording() as records:
        _workload()
    launched = {r["kernel"] for r in records.values()}
    missing = _kernels_defined() - launched
    assert not missing, f"the workload above launches no {sorted(missing)}: add a call"
    path = tmp_path / "records.json"
    path.write_text(json.dumps(list(records.values())))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("TRITON_INTERPRET")
    # one compile process: under xdist the other worker has the other core
    proc = subprocess.run(
        [sys.executable, "-m", "bench.compile_check", "--quick", "--records", str(path),
         "--out", str(tmp_path), "--jobs", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
