"""kernels/triton/norm.py at its edges, against kernels/reference/norm.py and torch.

Tiles are forced small (64 elements: a row of up to 64 values, or 4 rows of 16), so
rows around the block size loop over several column blocks with a ragged last one,
and a few dozen rows span several programs, each walking several row blocks in
layer_norm_backward (its per-program dweight/dbias partials). A missing mask shows as
a wrong value (the interpreter does not catch out-of-bounds loads). Inputs are also
transposed and strided device views: every kernel reads x and grad through strides.
"""
import numpy as np
import pytest
import torch

import engine as eg
import kernels.reference.norm as ref
import kernels.triton.norm as tn
from kernels.triton import _launch
from kernels.triton.creation import to_host
from test_cuda_ops import to_cuda

pytestmark = [pytest.mark.triton, pytest.mark.filterwarnings("ignore::RuntimeWarning")]

# (forward, backward) atol = rtol per dtype, vs the float64 reference rounded once.
TOL = {np.float32: (1e-5, 1e-4), np.float64: (1e-12, 1e-11), np.float16: (2e-3, 1e-2)}


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(_launch, "TILE_ELEMENTS", 64)


def dev(a):
    return None if a is None else to_cuda(a).data


def rand(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def check(got, want, tol):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = to_host(g)
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g.astype(np.float64), w, rtol=tol, atol=tol)


def layer_norm_both(x, w, b, g, dtype, xd=None, gd=None):
    """Forward and backward, Triton vs reference; xd/gd: device views with x's/g's values."""
    fwd, bwd = TOL[dtype]
    want = ref.layer_norm(x, w, b, 1e-5)
    got = tn.layer_norm(xd or dev(x), dev(w), dev(b), 1e-5)
    check(got, want, fwd)
    check(tn.layer_norm_backward(xd or dev(x), dev(w), got[1], got[2], gd or dev(g)),
          ref.layer_norm_backward(x, w, want[1], want[2], g), bwd)


# ---- layer norm -------------------------------------------------------------------------
@pytest.mark.parametrize("rows, d", [(3, 1), (5, 15), (9, 63), (4, 64), (3, 65), (2, 130),
                                     (1, 7), (37, 5)])
def test_layer_norm_odd_shapes(small_blocks, rows, d):
    x, g = rand(rows, d) * 2 + 1, rand(rows, d, seed=1)
    w, b = rand(d, seed=2) + 1, rand(d, seed=3)
    layer_norm_both(x, w, b, g, np.float32)


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_layer_norm_dtypes_and_no_affine(small_blocks, dtype):
    x, g = rand(11, 37, dtype=dtype), rand(11, 37, dtype=dtype, seed=1)
    layer_norm_both(x, None, None, g, dtype)
    layer_norm_both(x, rand(37, dtype=dtype, seed=2), rand(37, dtype=dtype, seed=3), g, dtype)


def test_layer_norm_strided_inputs(small_blocks):
    base, gbase = rand(40, 23), rand(9, 50, seed=1)
    x = np.asfortranarray(base[:9])                 # columns contiguous: stride (1, 9)
    g = gbase[:, ::2][:, :23]                       # every other column
    w = rand(46, seed=2)[::2]                       # a strided weight
    layer_norm_both(np.ascontiguousarray(x), np.ascontiguousarray(w), None,
                    np.ascontiguousarray(g), np.float32, xd=dev(x), gd=dev(g))
    want = ref.layer_norm(x, w, None, 1e-5)
    check(tn.layer_norm(dev(x), dev(w), None, 1e-5), want, TOL[np.float32][0])


def test_layer_norm_empty_rows_and_width():
    x = np.zeros((0, 4), np.float32)
    check(tn.layer_norm(dev(x), None, None, 1e-5), ref.layer_norm(x, None, None, 1e-5), 0)
    g = np.zeros((0, 4), np.float32)
    check(tn.layer_norm_backward(dev(x), None, dev(np.zeros(0)), dev(np.zeros(0)), dev(g)),
          ref.layer_norm_backward(x, None, np.zeros(0), np.zeros(0), g), 0)
    y, mean, rstd = tn.layer_norm(dev(np.zeros((3, 0), np.float32)), None, None, 1e-5)
    assert to_host(y).shape == (3, 0) and np.isnan(to_host(mean)).all() \
        and np.isnan(to_host(rstd)).all()


def test_layer_norm_offset_mean_float32_matches_float64():
    """|mean| >> std: the pivot and hi + lo keep float32 at float64-rounded-once accuracy."""
    x = rand(8, 300) + 100.0
    want = ref.layer_norm(x.astype(np.float64), None, None, 1e-5)[0]
    got = to_host(tn.layer_norm(dev(x), None, None, 1e-5)[0])
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)


# ---- batch norm -------------------------------------------------------------------------
def batch_norm_both(x, w, b, g, training, dtype, xd=None, gd=None, eps=1e-3):
    fwd, bwd = TOL[dtype]
    c = x.shape[1]
    rm = None if training else rand(c, dtype=dtype, seed=5) * 0.3
    rv = None if training else np.abs(rand(c, dtype=dtype, seed=6)) + 0.5
    want = ref.batch_norm(x, w, b, rm, rv, eps)
    got = tn.batch_norm(xd or dev(x), dev(w), dev(b), dev(rm), dev(rv), eps)
    check(got, want, fwd)
    check(tn.batch_norm_backward(xd or dev(x), dev(w), got[1], got[2], gd or dev(g), eps,
                                 training),
          ref.batch_norm_backward(x, w, want[1], want[2], g, eps, training), bwd)


@pytest.mark.parametrize("shape", [(1, 3, 37), (5, 3, 1), (6, 2, 21), (3, 4, 16), (2, 1, 65)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_odd_shapes(small_blocks, shape, training):
    x, g = rand(*shape) * 2 + 1, rand(*shape, seed=1)
    c = shape[1]
    batch_norm_both(x, rand(c, seed=2) + 1, rand(c, seed=3), g, training, np.float32)


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_batch_norm_dtypes_and_no_affine(small_blocks, dtype):
    x, g = rand(4, 3, 9, dtype=dtype), rand(4, 3, 9, dtype=dtype, seed=1)
    for training in (True, False):
        batch_norm_both(x, None, None, g, training, dtype)


def test_batch_norm_strided_inputs(small_blocks):
    base = rand(7, 3, 10) + 4.0
    x = base[:, :, ::2]                                             # strided L
    g = np.asfortranarray(rand(7, 3, 5, seed=1))                    # reversed strides
    x1 = np.asfortranarray(rand(9, 4, seed=2))[:, :, None]          # (N, C, 1), N fastest
    for training in (True, False):
        batch_norm_both(np.ascontiguousarray(x), rand(3, seed=3), rand(3, seed=4),
                        np.ascontiguousarray(g), training, np.float32, xd=dev(x), gd=dev(g))
        batch_norm_both(np.ascontiguousarray(x1), None, rand(4, seed=4),
                        rand(9, 4, 1, seed=5), training, np.float32, xd=dev(x1))


# ---- the modules on cuda vs torch: running statistics too ------------------------------
def test_norm_modules_on_cuda_match_torch():
    x2, x4, x3 = rand(6, 4), rand(3, 4, 5, 2, seed=1) * 3 + 2, rand(2, 5, 8, seed=2)
    for cls, tcls, x in ((eg.nn.BatchNorm1d, torch.nn.BatchNorm1d, x2),
                         (eg.nn.BatchNorm2d, torch.nn.BatchNorm2d, x4)):
        ours, theirs = cls(4, momentum=0.3).cuda(), tcls(4, momentum=0.3)
        for training in (True, True, False):
            ours.train(training)
            theirs.train(training)
            got = ours(eg.tensor(x).cuda())
            assert got.device == "cuda"
            np.testing.assert_allclose(got.numpy(), theirs(torch.from_numpy(x)).detach(),
                                       rtol=1e-5, atol=1e-5)
            for name in ("running_mean", "running_var"):
                np.testing.assert_allclose(getattr(ours, name).numpy(),
                                           getattr(theirs, name).numpy(), rtol=1e-6, atol=1e-7)
    ln, tln = eg.nn.LayerNorm((5, 8)).cuda(), torch.nn.LayerNorm((5, 8))
    xe, xt = eg.tensor(x3).cuda().requires_grad_(), torch.from_numpy(x3).requires_grad_()
    up = rand(2, 5, 8, seed=3)
    ln(xe).backward(eg.tensor(up).cuda())
    tln(xt).backward(torch.from_numpy(up))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ln.weight.grad.numpy(), tln.weight.grad, rtol=1e-4, atol=1e-4)
