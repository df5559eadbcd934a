"""kernels/triton/pool.py at its edges, against kernels/reference/pool.py.

Block sizes are forced small (16 elements a program), so a few hundred outputs span
many programs with a ragged last one: a missing mask shows as a wrong value (the
interpreter does not catch out-of-bounds loads). Max pooling and its argmax must be
exact (ties and NaN follow the reference's rule); sums within rounding (the reference
sums float32 in float64). Inputs are strided and transposed device views as well as
contiguous ones: every kernel reads its operands through explicit strides.
"""
import numpy as np
import pytest
import torch

import engine as eg
import engine.nn.functional as F
import kernels.reference.pool as ref
import kernels.triton.pool as tp
from kernels.triton import _launch
from kernels.triton.creation import to_host
from test_cuda_ops import to_cuda

pytestmark = [pytest.mark.triton, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(_launch, "ELEMENTWISE_BLOCK", 16)


def dev(a):
    return to_cuda(a).data


def rand(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def layouts(a):
    """a itself, a transposed (H, W swapped in memory) and a strided (every other
    element of a larger array) view with a's values."""
    transposed = np.ascontiguousarray(a.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    big = np.zeros(a.shape[:2] + (2 * a.shape[2], 3 * a.shape[3]), a.dtype)
    big[:, :, ::2, ::3] = a
    return [a, transposed, big[:, :, ::2, ::3]]


def close(got, want, dtype):
    tol = {np.float16: 2e-3, np.float32: 2e-6, np.float64: 1e-12}[dtype]
    np.testing.assert_allclose(to_host(got), want, rtol=tol, atol=tol)


# (x shape, kernel, stride, padding): overlap (stride < kernel), padding, gaps
# (stride > kernel), rectangular windows, a window as large as the padded input.
WINDOWS = [
    ((2, 3, 11, 13), (3, 3), (2, 2), (1, 1)),
    ((1, 2, 7, 9), (3, 2), (1, 1), (1, 0)),
    ((2, 2, 10, 9), (2, 2), (3, 3), (0, 0)),
    ((1, 3, 6, 7), (4, 3), (1, 2), (2, 1)),
    ((1, 1, 5, 6), (5, 6), (1, 1), (2, 3)),
]


@pytest.mark.parametrize("shape, kernel, stride, padding", WINDOWS)
def test_max_pool_matches_reference_exactly(small_blocks, shape, kernel, stride, padding):
    # Values on a coarse grid: many ties, including across overlapping windows.
    a = np.round(rand(*shape) * 2) / 2
    g = rand(*ref.max_pool2d_forward(a, kernel, stride, padding)[0].shape, seed=1)
    want, want_argmax = ref.max_pool2d_forward(a, kernel, stride, padding)
    want_dx = ref.max_pool2d_backward(g, want_argmax, shape)
    for x in layouts(a):
        out, argmax = tp.max_pool2d_forward(dev(x), kernel, stride, padding)
        assert to_host(argmax).dtype == np.int32
        np.testing.assert_array_equal(to_host(out), want)
        np.testing.assert_array_equal(to_host(argmax), want_argmax)
        gx = layouts(g)[1]                              # a transposed gradient
        close(tp.max_pool2d_backward(dev(gx), argmax, shape), want_dx, np.float32)


@pytest.mark.parametrize("shape, kernel, stride, padding", WINDOWS)
def test_avg_pool_matches_reference(small_blocks, shape, kernel, stride, padding):
    a = rand(*shape)
    want = ref.avg_pool2d_forward(a, kernel, stride, padding)
    g = rand(*want.shape, seed=1)
    want_dx = ref.avg_pool2d_backward(g, shape, kernel, stride, padding)
    for x, gx in zip(layouts(a), layouts(g)):
        close(tp.avg_pool2d_forward(dev(x), kernel, stride, padding), want, np.float32)
        close(tp.avg_pool2d_backward(dev(gx), shape, kernel, stride, padding), want_dx,
              np.float32)


# Output larger than, equal to, dividing and not dividing the input; global pooling.
@pytest.mark.parametrize("shape, size", [((2, 3, 7, 9), (3, 4)), ((1, 2, 3, 2), (5, 7)),
                                         ((1, 2, 6, 5), (6, 1)), ((2, 2, 8, 8), (1, 1)),
                                         ((1, 1, 10, 3), (4, 2))])
def test_adaptive_avg_pool_matches_reference(small_blocks, shape, size):
    a = rand(*shape)
    want = ref.adaptive_avg_pool2d_forward(a, size)
    g = rand(*want.shape, seed=1)
    want_dx = ref.adaptive_avg_pool2d_backward(g, shape)
    for x, gx in zip(layouts(a), layouts(g)):
        close(tp.adaptive_avg_pool2d_forward(dev(x), size), want, np.float32)
        close(tp.adaptive_avg_pool2d_backward(dev(gx), shape), want_dx, np.float32)


def test_max_pool_nan_and_infinities():
    a = rand(1, 2, 5, 6)
    a[0, 0, 1, 1] = np.nan                              # inside overlapping windows
    a[0, 0, 0, 2:4] = np.nan                            # two NaN in a window: the last wins
    a[0, 0, 2:4, 4:6] = -np.inf                         # a window of -inf only
    a[0, 1, 2, 2] = np.inf
    for kernel, stride, padding in [((2, 2), (1, 1), (1, 1)), ((2, 2), (2, 2), (0, 0))]:
        out, argmax = tp.max_pool2d_forward(dev(a), kernel, stride, padding)
        want, want_argmax = ref.max_pool2d_forward(a, kernel, stride, padding)
        np.testing.assert_array_equal(to_host(out), want)
        np.testing.assert_array_equal(to_host(argmax), want_argmax)


def test_max_pool_backward_many_windows_share_an_argmax():
    """A constant plane under 3x3 stride-1 windows: every window keeps its first real
    element, so the top-left pixel is the argmax of 4 windows, the rest of the top row
    and left column of 2: all summed (atomic adds)."""
    a = np.ones((2, 2, 6, 7), np.float32)
    out, argmax = tp.max_pool2d_forward(dev(a), (3, 3), (1, 1), (1, 1))
    want, want_argmax = ref.max_pool2d_forward(a, (3, 3), (1, 1), (1, 1))
    np.testing.assert_array_equal(to_host(argmax), want_argmax)
    g = rand(*want.shape)
    close(tp.max_pool2d_backward(dev(g), argmax, a.shape),
          ref.max_pool2d_backward(g, want_argmax, a.shape), np.float32)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_other_float_dtypes(small_blocks, dtype):
    """float16 (summed in float32) and float64 (summed, and atomically added, in
    float64) through every kernel."""
    shape, kernel, stride, padding = (1, 2, 7, 6), (3, 2), (2, 1), (1, 1)
    a = rand(*shape, dtype=dtype)
    out, argmax = tp.max_pool2d_forward(dev(a), kernel, stride, padding)
    want, want_argmax = ref.max_pool2d_forward(a, kernel, stride, padding)
    assert to_host(out).dtype == dtype
    np.testing.assert_array_equal(to_host(out), want)
    np.testing.assert_array_equal(to_host(argmax), want_argmax)
    g = rand(*want.shape, dtype=dtype, seed=1)
    close(tp.max_pool2d_backward(dev(g), argmax, shape),
          ref.max_pool2d_backward(g, want_argmax, shape), dtype)
    close(tp.avg_pool2d_forward(dev(a), kernel, stride, padding),
          ref.avg_pool2d_forward(a.astype(np.float64), kernel, stride, padding), dtype)
    close(tp.avg_pool2d_backward(dev(g), shape, kernel, stride, padding),
          ref.avg_pool2d_backward(g.astype(np.float64), shape, kernel, stride, padding),
          dtype)
    close(tp.adaptive_avg_pool2d_forward(dev(a), (3, 4)),
          ref.adaptive_avg_pool2d_forward(a.astype(np.float64), (3, 4)), dtype)
    g = rand(1, 2, 3, 4, dtype=dtype, seed=2)
    close(tp.adaptive_avg_pool2d_backward(dev(g), shape),
          ref.adaptive_avg_pool2d_backward(g.astype(np.float64), shape), dtype)


def test_empty_batch():
    x = dev(rand(0, 3, 4, 4))
    out, argmax = tp.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    assert out.shape == argmax.shape == (0, 3, 2, 2)
    assert tp.max_pool2d_backward(out, argmax, (0, 3, 4, 4)).shape == (0, 3, 4, 4)
    assert tp.avg_pool2d_backward(out, (0, 3, 4, 4), (2, 2), (2, 2), (0, 0)).shape == \
        (0, 3, 4, 4)
    assert tp.adaptive_avg_pool2d_forward(x, (3, 1)).shape == (0, 3, 3, 1)


def test_pools_through_autograd_on_cuda(small_blocks):
    """The op layer on the cuda device, forward and backward vs torch, in one chain."""
    a = rand(2, 3, 9, 8)
    g = rand(2, 3, 2, 2, seed=1)
    x = eg.tensor(a, requires_grad=True)
    y = F.adaptive_avg_pool2d(F.avg_pool2d(F.max_pool2d(x.cuda(), 3, 1, 1), 2, 1), 2)
    tx = torch.tensor(a, requires_grad=True)
    ty = torch.nn.functional.adaptive_avg_pool2d(torch.nn.functional.avg_pool2d(
        torch.nn.functional.max_pool2d(tx, 3, 1, 1), 2, 1), 2)
    assert y.device == "cuda"
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    (gx,) = eg.autograd.grad(y, x, eg.tensor(g).cuda())
    (gt,) = torch.autograd.grad(ty, tx, torch.from_numpy(g))
    np.testing.assert_allclose(gx.numpy(), gt.numpy(), rtol=1e-5, atol=1e-6)
