"""kernels/triton/loss.py at its edges, against kernels/reference/loss.py.

Tiles are forced small (64 elements), so a class dim of 100 takes two column steps
with a ragged last one and a few dozen rows span several programs: a missing mask
shows as a wrong value (the interpreter does not catch out-of-bounds loads). The
scores are read through their strides, so transposed, strided and (N, C, K) layouts
are checked as well as contiguous ones. The reference computes in float64 and rounds
once; the float32 kernels accumulate in float32.
"""
import numpy as np
import pytest
import torch

import engine as eg
import engine.nn.functional as F
import kernels.reference.loss as ref
import kernels.triton.loss as tl_loss
from kernels.triton import _launch
from kernels.triton.creation import to_host
from test_cuda_ops import to_cuda

pytestmark = [pytest.mark.triton, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(_launch, "ELEMENTWISE_BLOCK", 16)
    monkeypatch.setattr(_launch, "TILE_ELEMENTS", 64)


def dev(a):
    return None if a is None else to_cuda(a).data


def rand(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def targets(n, k, classes, ignore_every=0, ignore_index=-100, seed=1):
    t = np.random.default_rng(seed).integers(0, classes, (n, k)).astype(np.int64)
    if ignore_every:
        t.reshape(-1)[::ignore_every] = ignore_index
    return t


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def check_cross_entropy(x, t, w, ignore_index, eps):
    loss, lse, total = tl_loss.cross_entropy(dev(x), dev(t), dev(w), ignore_index, eps)
    want_loss, want_lse, want_total = ref.cross_entropy(x, t, w, ignore_index, eps)
    got_loss, got_lse = to_host(loss), to_host(lse)
    assert got_loss.dtype == x.dtype and got_lse.dtype == np.float64
    np.testing.assert_allclose(got_loss, want_loss, **tol(x.dtype))
    np.testing.assert_allclose(got_lse, want_lse, **(dict(rtol=1e-6, atol=1e-6)
                               if x.dtype == np.float32 else dict(rtol=1e-13)))
    np.testing.assert_allclose(to_host(total), want_total, rtol=1e-12)
    g = rand(*t.shape, dtype=x.dtype, seed=7)
    dx = tl_loss.cross_entropy_backward(dev(x), dev(t), dev(w), lse, dev(g), ignore_index, eps)
    want_dx = ref.cross_entropy_backward(x, t, w, want_lse, g, ignore_index, eps)
    got_dx = to_host(dx)
    assert got_dx.dtype == x.dtype and got_dx.shape == x.shape
    np.testing.assert_allclose(got_dx, want_dx, **tol(x.dtype))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_cross_entropy_many_column_steps(small_blocks, weighted, eps):
    classes = 100                                   # not a power of two, > the 64 block
    x = rand(9, classes, 1) * 3                     # one row a program: 9 programs
    w = np.abs(rand(classes, seed=3)) + 0.1 if weighted else None
    check_cross_entropy(x, targets(9, 1, classes, ignore_every=4), w, -100, eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_spatial_layout_and_ignored_class(small_blocks, dtype):
    x = rand(5, 7, 6, dtype=dtype)                  # (N, C, K): the class stride is K
    t = targets(5, 6, 7)
    t[t == 3] = 3                                   # ignore_index is a real class here
    w = (np.abs(rand(7, seed=4)) + 0.5).astype(dtype)
    check_cross_entropy(x, t, w, 3, 0.1)


def test_cross_entropy_strided_views(small_blocks):
    base = rand(10, 3, 12)
    x = base.transpose(2, 1, 0)[::2]                # (6, 3, 10), no unit stride anywhere
    t = np.asfortranarray(targets(6, 10, 3, ignore_every=7))
    check_cross_entropy(x, t, None, -100, 0.05)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cross_entropy_extreme_logits(small_blocks, eps):
    x = rand(19, 70, 1) * 1e4
    x[3] += 1e4                                     # a shifted row: lse near 2e4
    x[5, :, 0] = 1e4                                # a flat row of huge logits
    x[6, :, 0] = -1e4
    check_cross_entropy(x, targets(19, 1, 70), None, -100, eps)


def test_cross_entropy_all_rows_ignored_and_empty():
    x = rand(4, 5, 1)
    t = np.full((4, 1), -100, np.int64)
    loss, lse, total = tl_loss.cross_entropy(dev(x), dev(t), None, -100, 0.1)
    assert not to_host(loss).any() and to_host(total) == 0.0
    dx = tl_loss.cross_entropy_backward(dev(x), dev(t), None, lse, dev(rand(4, 1)), -100, 0.1)
    assert not to_host(dx).any()
    empty = np.zeros((0, 5, 1), np.float32)
    loss, lse, total = tl_loss.cross_entropy(dev(empty), dev(np.zeros((0, 1), np.int64)), None,
                                             -100, 0.0)
    assert to_host(loss).shape == (0, 1) and to_host(total) == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nll_loss_and_its_full_gradient(small_blocks, dtype):
    x = rand(6, 90, 4, dtype=dtype)                 # backward: a 2-d grid over (rows, classes)
    t = targets(6, 4, 90, ignore_every=3, ignore_index=-1)
    w = (np.abs(rand(90, seed=5)) + 0.1).astype(dtype)
    loss, total = tl_loss.nll_loss(dev(x), dev(t), dev(w), -1)
    want_loss, want_total = ref.nll_loss(x, t, w, -1)
    np.testing.assert_allclose(to_host(loss), want_loss, **tol(dtype))
    np.testing.assert_allclose(to_host(total), want_total, rtol=1e-12)
    g = rand(6, 4, dtype=dtype, seed=2)
    got = to_host(tl_loss.nll_loss_backward(dev(g), dev(t), dev(w), -1, 90))
    np.testing.assert_allclose(got, ref.nll_loss_backward(g, t, w, -1, 90), **tol(dtype))
    strided = rand(6, 90, 8, dtype=dtype)[:, :, ::2]
    loss, _ = tl_loss.nll_loss(dev(strided), dev(t), None, -1)
    np.testing.assert_allclose(to_host(loss), ref.nll_loss(strided, t, None, -1)[0], **tol(dtype))


def _binary_inputs(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.02, 0.98, shape).astype(dtype)
    y = rng.uniform(0, 1, shape).astype(dtype)
    return x, y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_saturated_and_strided(small_blocks, dtype):
    x, y = _binary_inputs((7, 9), dtype)
    x[0, :4] = [0.0, 1.0, 1e-30, 1.0 - 1e-7]
    y[0, :4] = [1.0, 0.0, 1.0, 0.0]
    for xv, yv in ((x, y), (x.T, np.asfortranarray(y.T))):
        got = to_host(tl_loss.binary_cross_entropy(dev(xv), dev(yv)))
        np.testing.assert_allclose(got, ref.binary_cross_entropy(xv, yv), **tol(dtype))
        g = rand(*xv.shape, dtype=dtype, seed=3)
        dx, dy = tl_loss.binary_cross_entropy_backward(dev(xv), dev(yv), dev(g))
        want_dx, want_dy = ref.binary_cross_entropy_backward(xv, yv, g)
        np.testing.assert_allclose(to_host(dx), want_dx, **tol(dtype))
        np.testing.assert_allclose(to_host(dy), want_dy, **tol(dtype))   # ±inf at 0 and 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_pos", [False, True])
def test_binary_cross_entropy_with_logits(small_blocks, dtype, with_pos):
    x = rand(5, 11, dtype=dtype) * 4
    x[0, :6] = [-800.0, -60.0, -1e-3, 1e-3, 60.0, 800.0]
    y = np.random.default_rng(1).uniform(0, 1, (5, 11)).astype(dtype)
    pos = np.broadcast_to((np.abs(rand(11, dtype=dtype, seed=2)) + 0.5), x.shape) \
        if with_pos else None                       # stride 0 along rows on the device
    got = to_host(tl_loss.binary_cross_entropy_with_logits(dev(x), dev(y), dev(pos)))
    np.testing.assert_allclose(got, ref.binary_cross_entropy_with_logits(x, y, pos), **tol(dtype))
    g = rand(5, 11, dtype=dtype, seed=4)
    dx, dy = tl_loss.binary_cross_entropy_with_logits_backward(dev(x), dev(y), dev(pos), dev(g))
    want_dx, want_dy = ref.binary_cross_entropy_with_logits_backward(x, y, pos, g)
    np.testing.assert_allclose(to_host(dx), want_dx, **tol(dtype))
    np.testing.assert_allclose(to_host(dy), want_dy, **tol(dtype))


def test_binary_losses_beyond_four_unmergeable_dims(small_blocks):
    base_x, base_y = _binary_inputs((2, 3, 2, 3, 2, 3), np.float64)
    perm = (5, 3, 1, 0, 2, 4)                       # no two dims merge: the 6-d launch loop
    x, y = base_x.transpose(perm), base_y.transpose(perm)
    got = to_host(tl_loss.binary_cross_entropy(dev(x), dev(y)))
    np.testing.assert_allclose(got, ref.binary_cross_entropy(x, y), rtol=1e-12)
    dx, dy = tl_loss.binary_cross_entropy_with_logits_backward(dev(x), dev(y), None, dev(x))
    want_dx, want_dy = ref.binary_cross_entropy_with_logits_backward(x, y, None, x)
    np.testing.assert_allclose(to_host(dx), want_dx, rtol=1e-12)
    np.testing.assert_allclose(to_host(dy), want_dy, rtol=1e-12)


# ---- through the ops, with the constants on the device ----------------------------------
def test_weighted_losses_on_cuda_match_torch():
    """Class weights and pos_weight held on the device (the registry's weighted samples
    build them on the cpu), forward and backward against torch."""
    x, w = rand(9, 6) * 2, np.abs(rand(6, seed=1)) + 0.2
    t = targets(9, 1, 6, ignore_every=4)[:, 0]
    xe = eg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    ours = F.cross_entropy(xe.cuda(), eg.tensor(t).cuda(), weight=eg.tensor(w).cuda(),
                           label_smoothing=0.15)
    theirs = torch.nn.functional.cross_entropy(xt, torch.from_numpy(t), torch.from_numpy(w),
                                               label_smoothing=0.15)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-5)
    ours.backward()
    theirs.backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-6)
    pos = np.abs(rand(6, seed=2)) + 0.5
    y = np.random.default_rng(3).uniform(0, 1, x.shape).astype(np.float32)
    ours = F.binary_cross_entropy_with_logits(eg.tensor(x).cuda(), eg.tensor(y).cuda(),
                                              pos_weight=eg.tensor(pos).cuda())
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(x), torch.from_numpy(y), pos_weight=torch.from_numpy(pos))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5)


def test_class_weight_on_another_device_is_refused():
    with pytest.raises(eg.DeviceError, match="weight is on cpu, input on cuda"):
        F.nll_loss(eg.tensor(rand(2, 3)).cuda(), eg.tensor([0, 1]).cuda(),
                   weight=eg.tensor(rand(3)))
