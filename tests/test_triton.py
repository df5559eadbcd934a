"""The Triton backend's tests, run in a subprocess under TRITON_INTERPRET=1.

TRITON_INTERPRET must be set before triton is first imported, and the rest of the
suite must run without it, so the Triton tests (tests/triton/) run in a child
process started here: the registry samples on device='cuda' forward and backward
against torch, plus the kernels' edge cases. On a machine with a GPU,
bench/gpu_check.sh runs the same directory on the GPU (ENGINE_TRITON_TESTS=1).
"""
import importlib.util
import os
import subprocess
import sys

import pytest

import engine as eg
from engine import dispatch
from conftest import ROOT

pytestmark = pytest.mark.triton


def test_triton_backend_under_the_interpreter():
    """triton is a test dependency: missing, the subprocess fails rather than skips."""
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT))
    env.pop("ENGINE_TRITON_TESTS", None)
    workers = ["-n", "2"] if importlib.util.find_spec("xdist") else []
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *workers,
         str(ROOT / "tests" / "triton")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]


@pytest.mark.skipif("cuda" in dispatch.DEFAULT_BACKENDS,
                    reason="Triton can run here (a GPU or TRITON_INTERPRET=1)")
def test_cuda_without_triton_raises_with_a_hint():
    with pytest.raises(eg.DeviceError, match="TRITON_INTERPRET=1"):
        eg.zeros(2, device="cuda")
    with pytest.raises(eg.DeviceError, match="TRITON_INTERPRET=1"):
        eg.ones(2).to("cuda")
