"""The registry's samples on device='cuda' (Triton kernels), forward and backward vs torch.

Runs under TRITON_INTERPRET=1 on a machine without a GPU (tests/test_triton.py starts
this file in a subprocess), or on a GPU (bench/gpu_check.sh, ENGINE_TRITON_TESTS=1).
Inputs keep their layout on the device (a transposed or strided numpy input becomes
a transposed or strided device view), so the kernels' stride handling is exercised.
Plus what the registry does not reach: odd sizes around the block sizes (the
interpreter does not catch out-of-bounds loads, so a missing mask shows only as a
wrong value next to the edge), device mixing, host round trips.
"""
import os

import numpy as np
import pytest
import torch

import engine as eg
from engine._runtime import core as _core
from helpers import (TOLERANCES, as_tuple, assert_close, compare_outputs, prepare,
                     upstream_gradient)
from registry import OPS

from kernels.triton.buffer import DeviceBuffer, INTERPRET

pytestmark = [pytest.mark.triton,
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]

# Every op of the registry (the Triton table is the whole kernel table: test_cuda_kernels).
# float32 everywhere; float64 too on a GPU (the interpreter's cost is per launch, and the
# float32 run already walks every kernel path: float64 adds only dtype plumbing).
# ENGINE_TRITON_DTYPES=all adds float64 under the interpreter: bench/compile_check.py
# records the float64 launches so, to compile them for a GPU.
ALL_DTYPES = not INTERPRET or os.environ.get("ENGINE_TRITON_DTYPES") == "all"
DTYPES = ("float32", "float64") if ALL_DTYPES else ("float32",)
CASES = [pytest.param(op, s, d, id=f"{op.name}-{s.id}-{d}")
         for op in OPS for s in op.samples for d in s.dtypes if d in DTYPES]

# A GPU's fp32 exp/log/sin are not correctly rounded (a few ulp); the interpreter's are
# numpy's. Loosened on a GPU only, and only the float32 forward.
GPU_FP32_FORWARD = (1e-5, 1e-5)


def to_cuda(a):
    """A numpy array on the device with the same element strides (layout kept)."""
    steps = [s // a.itemsize for s in a.strides]
    span = 1 + sum((n - 1) * s for n, s in zip(a.shape, steps)) if a.size else 1
    host = np.zeros(span, dtype=a.dtype)
    if a.size:
        np.lib.stride_tricks.as_strided(host, a.shape, a.strides)[...] = a
    storage = torch.from_numpy(host)
    if not INTERPRET:
        storage = storage.cuda()
    buffer = DeviceBuffer(storage, a.shape, steps, 0, a.dtype)
    return _core.wrap(buffer, "cuda")


def cuda_inputs(arrays, grad=True):
    out = []
    for a in arrays:
        if isinstance(a, np.ndarray):
            t = to_cuda(a)
            if grad and a.dtype.kind == "f":
                t.requires_grad_()
            out.append(t)
        elif hasattr(a, "name") and type(a).__name__ == "DType":
            out.append(getattr(eg, a.name))
        else:
            out.append(a)
    return out


def torch_inputs(arrays, grad=True):
    out = []
    for a in arrays:
        if isinstance(a, np.ndarray):
            t = torch.from_numpy(np.array(a, copy=True))
            if grad and a.dtype.kind == "f":
                t.requires_grad_()
            out.append(t)
        elif hasattr(a, "name") and type(a).__name__ == "DType":
            out.append(getattr(torch, a.name))
        else:
            out.append(a)
    return out


def check_on_cuda(engine_fn, torch_fn, inputs, grad=True, dtype=None):
    arrays = prepare(inputs, dtype)
    e_in = cuda_inputs(arrays, grad)
    t_in = torch_inputs(arrays, grad)
    e_outs = as_tuple(engine_fn(*e_in))
    t_outs = as_tuple(torch_fn(*t_in))
    for e in e_outs:
        assert e.device == "cuda", f"an output came back on {e.device}"
    floats = {t.dtype for t in list(t_outs) + [t for t in t_in if isinstance(t, torch.Tensor)]
              if t.dtype.is_floating_point}
    single = not floats <= {torch.float64}
    tol = TOLERANCES[np.dtype(np.float32 if single else np.float64)]
    forward = GPU_FP32_FORWARD if single and not INTERPRET else tol["forward"]
    compare_outputs(e_outs, t_outs, *forward)
    if not grad:
        return
    leaves = [i for i, t in enumerate(t_in) if isinstance(t, torch.Tensor) and t.requires_grad]
    live = [i for i, t in enumerate(t_outs) if t.requires_grad]
    if not leaves or not live:
        return
    rng = np.random.default_rng(0)
    grads = [upstream_gradient(tuple(t_outs[i].shape), t_outs[i].detach().numpy().dtype, rng)
             for i in live]
    e_grads = eg.autograd.grad([e_outs[i] for i in live], [e_in[i] for i in leaves],
                               [eg.from_numpy(g).cuda() for g in grads], allow_unused=True)
    t_grads = torch.autograd.grad([t_outs[i] for i in live], [t_in[i] for i in leaves],
                                  [torch.from_numpy(g) for g in grads], allow_unused=True)
    for i, e, t in zip(leaves, e_grads, t_grads):
        want = np.zeros(tuple(t_in[i].shape), t_in[i].detach().numpy().dtype) if t is None \
            else t.numpy()
        got = np.zeros_like(want) if e is None else e.numpy()
        if e is not None:
            assert e.device == "cuda"
        assert_close(got, want, *tol["grad"], f"gradient of input {i}")


@pytest.mark.parametrize("op, sample, dtype", CASES)
def test_registry_sample_on_cuda(op, sample, dtype):
    engine_fn = sample.engine_fn or op.engine_fn
    torch_fn = sample.torch_fn or op.torch_fn
    check_on_cuda(engine_fn, torch_fn, sample.inputs, grad=sample.grad, dtype=np.dtype(dtype))
