"""The fused GELU kernels on cuda (kernels/triton/activation.py) against the reference.

Block sizes are forced small (16 elements a program), so a few dozen elements span
several programs with a ragged last one. Odd sizes, every layout the strided launch
takes (transposed, strided, a stride-0 upstream gradient, a 6-d view no dims of which
merge), both forms, float32/float64; the edge values (±inf, NaN, -0.0) and the far
negative tail with its relative precision (tests/test_activation_kernels.py has the
bound); float16 computed in float32 against torch. F.gelu against torch, forward and
backward, is the registry's (test_cuda_ops.py).
"""
import numpy as np
import pytest
import torch

import engine.nn.functional as F
import kernels.reference as reference
import kernels.triton as triton_backend
from kernels.triton import _launch
from kernels.triton.buffer import INTERPRET
from test_activation_kernels import EDGES, exact_gelu, tail_bound
from test_cuda_float16 import check_half, half
from test_cuda_ops import to_cuda

pytestmark = [pytest.mark.triton, pytest.mark.filterwarnings("ignore::RuntimeWarning")]

FORMS = ("none", "tanh")
# The interpreter's math is numpy's; a GPU's float32 exp and division are a few ulp off.
RTOL = {np.dtype(np.float32): 1e-6 if INTERPRET else 1e-5, np.dtype(np.float64): 1e-12}


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(_launch, "ELEMENTWISE_BLOCK", 16)


def rand(*shape, dtype=np.float32, seed=0, scale=3.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def on_cuda(x, grad, approximate):
    """(gelu, gelu_backward) of the Triton table, on device copies keeping the layouts."""
    buffer = to_cuda(x).data
    y = triton_backend.gelu(buffer, approximate)
    dx = triton_backend.gelu_backward(buffer, to_cuda(grad).data, approximate)
    return triton_backend.to_host(y), triton_backend.to_host(dx)


def check(x, grad, approximate):
    y, dx = on_cuda(x, grad, approximate)
    for got, want in ((y, reference.gelu(x, approximate)),
                      (dx, reference.gelu_backward(x, grad, approximate))):
        assert got.dtype == want.dtype and got.shape == want.shape
        rtol = RTOL[want.dtype]
        finite = np.abs(want[np.isfinite(want)])
        scale = max(1.0, float(finite.max())) if finite.size else 1.0
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, equal_nan=True)
    return y, dx


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("approximate", FORMS)
@pytest.mark.parametrize("n", [1, 15, 16, 17, 33, 100])
def test_gelu_odd_sizes_across_programs(small_blocks, n, approximate, dtype):
    check(rand(n, dtype=dtype), rand(n, dtype=dtype, seed=1, scale=1.0), approximate)


@pytest.mark.parametrize("approximate", FORMS)
def test_gelu_layouts(small_blocks, approximate):
    a = rand(7, 13)
    g = rand(7, 13, seed=1, scale=1.0)
    check(np.asfortranarray(a), g, approximate)                        # transposed
    check(rand(7, 26, seed=2)[:, ::2], np.asfortranarray(g), approximate)  # strided
    check(a, np.broadcast_to(np.float32(0.7), a.shape), approximate)   # stride-0 grad
    check(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32), approximate)
    check(np.array(-0.5, np.float32), np.array(2.0, np.float32), approximate)   # 0-d
    base = rand(2, 3, 2, 3, 2, 3, seed=3)
    six_d = base.transpose(5, 3, 1, 0, 2, 4)               # no two dims merge: a launch loop
    check(six_d, rand(*six_d.shape, seed=4, scale=1.0), approximate)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("approximate", FORMS)
def test_gelu_edge_values(small_blocks, approximate, dtype):
    x = np.array(EDGES, dtype)
    y, _ = check(x, np.linspace(-1.5, 2.0, x.size).astype(dtype), approximate)
    zero = EDGES.index(-0.0)                                # -0.0 comes first in EDGES
    assert np.signbit(y[zero]) and not np.signbit(y[zero + 1])
    assert y[-3] == np.inf and np.isnan(y[-2]) and np.isnan(y[-1])


@pytest.mark.parametrize("dtype, low", [(np.float64, -37.5), (np.float32, -13.0)])
def test_gelu_tail_keeps_relative_precision(dtype, low):
    """gelu and its gradient down to ~1e-306 (float64) / ~1e-37 (float32), relative
    error within x² ulp (the bound of tests/test_activation_kernels.py). On a GPU, float32
    exp and division are approximate and subnormals flush: 4× the bound, down to -12."""
    slack = 1.0
    if dtype == np.float32 and not INTERPRET:
        low, slack = -12.0, 4.0
    x = np.linspace(low, -3.0, 97).astype(dtype)
    y, dx = on_cuda(x, np.ones_like(x), "none")
    exact = np.array([exact_gelu(v) for v in x])
    for got, want in ((y, exact[:, 0]), (dx, exact[:, 1])):
        ratio = np.abs(got.astype(np.float64) - want) / np.abs(want) / tail_bound(x)
        assert np.all(ratio <= slack), (x[np.argmax(ratio)], ratio.max())


@pytest.mark.parametrize("approximate", FORMS)
def test_gelu_float16_is_computed_in_float32(approximate):
    check_half(lambda x: F.gelu(x, approximate=approximate),
               lambda x: torch.nn.functional.gelu(x, approximate=approximate),
               [half(5, 37)], [0])
