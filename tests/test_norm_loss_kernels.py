"""The fused loss / normalization / dropout / embedding kernels, beyond the registry.

- kernels.numba against kernels.reference, function by function, on odd, size-1,
  empty and non-contiguous inputs, in float32 and float64, small (serial kernels) and
  large enough for the threaded ones;
- cross-entropy stability for logits of ±1e4 and beyond;
- dropout: realized drop rate, seeding, the backward mask, thread-count independence;
- batch_norm's running statistics (momentum, unbiased variance) against torch;
- layer_norm accuracy where torch's float32 is the less accurate one;
- errors raise before any kernel runs.

Values against torch, forward and backward, and float64 finite differences are the
registry's (tests/registry_norm_loss.py, run by test_ops.py and test_gradcheck.py).
"""
import contextlib
import io

import numba
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import engine as eg
import engine.nn.functional as F
import kernels.numba as nb
import kernels.reference as ref
from engine import dispatch

FLOATS = (np.float32, np.float64)
RTOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-12}


# ---- numba against the reference ------------------------------------------------------
def check(ours, theirs, dtype=None):
    """Same type, dtype, shape; values within rounding (absolute floor: rtol × magnitude).

    `dtype`: the precision the values were computed in, when it is not the result's (a
    float64 lse of float32 logits is as accurate as float32 arithmetic).
    """
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            check(a, b, dtype)
        return
    assert type(ours) is np.ndarray, type(ours)
    theirs = np.asarray(theirs)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, \
        (ours.dtype, theirs.dtype, ours.shape, theirs.shape)
    rtol = RTOL[np.dtype(dtype or theirs.dtype)] if theirs.dtype.kind == "f" else 0
    finite = np.abs(theirs[np.isfinite(theirs)]) if theirs.size else np.zeros(0)
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale, equal_nan=True)


def layouts(a):
    """a as it is, column-major, and with a gap after every element (same values)."""
    yield "contiguous", a
    if a.ndim >= 2:
        yield "transposed", np.asfortranarray(a)
    gapped = np.empty(a.shape + (2,), dtype=a.dtype)[..., 0]
    gapped[...] = a
    yield "strided", gapped


def rand(rng, shape, dtype, scale=1.0, offset=0.0):
    return (rng.standard_normal(shape) * scale + offset).astype(dtype)


CE_SHAPES = [(4, 5, 1), (1, 7, 1), (3, 1, 1), (2, 3, 5), (0, 4, 1), (5, 4, 0), (40, 1000, 1)]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", CE_SHAPES, ids=str)
def test_cross_entropy_kernels(shape, dtype):
    rng = np.random.default_rng(1)
    n, classes, positions = shape
    target = rng.integers(0, classes, (n, positions))
    if target.size:
        target.flat[::3] = -100                       # every third position ignored
    weight = rng.uniform(0.5, 2.0, classes).astype(dtype)
    for name, x in layouts(rand(rng, shape, dtype, 3.0)):
        for w in (None, weight):
            for eps in (0.0, 0.15):
                got = nb.cross_entropy(x, target, w, -100, eps)
                want = ref.cross_entropy(x, target, w, -100, eps)
                check(got, want, dtype)
                grad = rand(rng, (n, positions), dtype)
                check(nb.cross_entropy_backward(x, target, w, want[1], grad, -100, eps),
                      ref.cross_entropy_backward(x, target, w, want[1], grad, -100, eps))
    # A broadcast (stride-0) upstream gradient, as reduction='mean' passes.
    x = rand(rng, shape, dtype)
    lse = ref.cross_entropy(x, target, None, -100, 0.0)[1]
    g = np.broadcast_to(np.asarray(0.25, dtype=dtype), (n, positions))
    check(nb.cross_entropy_backward(x, target, None, lse, g, -100, 0.0),
          ref.cross_entropy_backward(x, target, None, lse, g, -100, 0.0))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_nll_loss_kernels(dtype):
    rng = np.random.default_rng(2)
    for shape in [(4, 5, 1), (2, 3, 4), (0, 3, 1)]:
        n, classes, positions = shape
        target = rng.integers(0, classes, (n, positions))
        if target.size:
            target.flat[::2] = 1                      # ignore_index = 1, a real class
        for name, x in layouts(rand(rng, shape, dtype)):
            for w in (None, rng.uniform(0.5, 2.0, classes).astype(dtype)):
                check(nb.nll_loss(x, target, w, 1), ref.nll_loss(x, target, w, 1))
                g = rand(rng, (n, positions), dtype)
                check(nb.nll_loss_backward(g, target, w, 1, classes),
                      ref.nll_loss_backward(g, target, w, 1, classes))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_binary_cross_entropy_kernels(dtype):
    rng = np.random.default_rng(3)
    for shape in [(), (0,), (5,), (3, 4)]:
        p = rng.uniform(0.0, 1.0, shape).astype(dtype)
        if p.size:
            p.flat[0] = 0.0                         # the clamped log
        y = rng.uniform(0.0, 1.0, shape).astype(dtype)
        logits = rand(rng, shape, dtype, 30.0)
        pos = rng.uniform(0.5, 3.0, shape).astype(dtype)
        g = rand(rng, shape, dtype)
        for name, a in layouts(np.asarray(p)):
            with np.errstate(all="ignore"):
                check(nb.binary_cross_entropy(a, y), ref.binary_cross_entropy(a, y))
                check(nb.binary_cross_entropy_backward(a, y, g),
                      ref.binary_cross_entropy_backward(a, y, g))
        for name, a in layouts(np.asarray(logits)):
            for pw in (None, pos):
                check(nb.binary_cross_entropy_with_logits(a, y, pw),
                      ref.binary_cross_entropy_with_logits(a, y, pw))
                check(nb.binary_cross_entropy_with_logits_backward(a, y, pw, g),
                      ref.binary_cross_entropy_with_logits_backward(a, y, pw, g))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", [(4, 5), (1, 17), (3, 1), (0, 4), (5, 0), (64, 1024)],
                         ids=str)
def test_layer_norm_kernels(shape, dtype):
    rng = np.random.default_rng(4)
    w, b = rand(rng, shape[1], dtype, offset=1.0), rand(rng, shape[1], dtype)
    for name, x in layouts(rand(rng, shape, dtype, 2.0, 3.0)):
        for weight, bias in ((w, b), (None, None), (w, None)):
            got = nb.layer_norm(x, weight, bias, 1e-5)
            want = ref.layer_norm(x, weight, bias, 1e-5)
            check(got, want, dtype)
            g = rand(rng, shape, dtype)
            check(nb.layer_norm_backward(x, weight, want[1], want[2], g),
                  ref.layer_norm_backward(x, weight, want[1], want[2], g))


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value")
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", [(4, 3, 5), (5, 3, 1), (1, 2, 7), (0, 3, 2), (8, 16, 300)],
                         ids=str)
def test_batch_norm_kernels(shape, dtype):
    rng = np.random.default_rng(5)
    channels = shape[1]
    w, b = rand(rng, channels, dtype, offset=1.0), rand(rng, channels, dtype)
    running = (rand(rng, channels, dtype), rng.uniform(0.5, 2.0, channels).astype(dtype))
    for name, x in layouts(rand(rng, shape, dtype, 2.0, 3.0)):
        for weight, bias in ((w, b), (None, None)):
            for mean, var in ((None, None), running):
                got = nb.batch_norm(x, weight, bias, mean, var, 1e-5)
                want = ref.batch_norm(x, weight, bias, mean, var, 1e-5)
                check(got, want, dtype)
                g = rand(rng, shape, dtype)
                training = mean is None
                check(nb.batch_norm_backward(x, weight, want[1], want[2], g, 1e-5, training),
                      ref.batch_norm_backward(x, weight, want[1], want[2], g, 1e-5, training))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_dropout_kernel_is_the_reference_bit_for_bit(dtype):
    rng = np.random.default_rng(6)
    for shape in [(), (0, 3), (1,), (7, 13), (300, 500)]:
        for name, x in layouts(rand(rng, shape, dtype)):
            for p in (0.0, 0.1, 0.5, 1.0):
                for seed in (0, 99, 2 ** 63 - 1):
                    got, want = nb.dropout(x, p, seed), ref.dropout(x, p, seed)
                    assert got.dtype == want.dtype and got.shape == want.shape
                    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_embedding_kernels_are_the_reference_bit_for_bit(dtype):
    rng = np.random.default_rng(7)
    for rows, d, idx_shape in [(5, 3, (4,)), (6, 1, (2, 3)), (4, 2, ()), (4, 2, (0,)),
                               (100, 300, (64, 40))]:
        idx = rng.integers(0, rows, idx_shape)
        for name, w in layouts(rand(rng, (rows, d), dtype)):
            got, want = nb.embedding(w, idx), ref.embedding(w, idx)
            assert got.shape == want.shape and got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
        for name, g in layouts(rand(rng, idx_shape + (d,), dtype)):
            for pad in (None, 0, rows - 1):
                got = nb.embedding_backward(g, idx, rows, pad)
                want = ref.embedding_backward(g, idx, rows, pad)
                assert got.shape == want.shape and got.dtype == want.dtype
                np.testing.assert_array_equal(got, want)   # the same additions, in order


# ---- cross-entropy stability ----------------------------------------------------------------
def _exact_cross_entropy(x, target):
    """float64 log-sum-exp with the max subtracted, of the very values given."""
    xf = x.astype(np.float64)
    m = xf.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(xf - m).sum(axis=1))
    return lse - xf[np.arange(len(target)), target]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("scale", [1e4, 1e6, 1e30])
def test_cross_entropy_is_stable_for_huge_logits(scale, dtype):
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((6, 50)) * scale).astype(dtype)
    target = rng.integers(0, 50, 6)
    xt = eg.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xt, eg.tensor(target), reduction="none")
    want = _exact_cross_entropy(x, target)
    assert np.isfinite(loss.numpy()).all()
    np.testing.assert_allclose(loss.numpy(), want, rtol=RTOL[np.dtype(dtype)] * 10)
    loss.sum().backward()
    grad = xt.grad.numpy()
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-6)   # softmax - one-hot
    theirs = TF.cross_entropy(torch.from_numpy(x), torch.from_numpy(target), reduction="none")
    np.testing.assert_allclose(loss.numpy(), theirs.numpy(), rtol=1e-5)


def test_cross_entropy_ignores_a_shift_of_the_logits():
    """Adding 1e4 to every logit (exactly representable in float64) changes nothing."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 8))
    target = eg.tensor(rng.integers(0, 8, 5))
    a = eg.tensor(x, requires_grad=True)
    b = eg.tensor(x + 1e4, requires_grad=True)
    la = F.cross_entropy(a, target, label_smoothing=0.1)
    lb = F.cross_entropy(b, target, label_smoothing=0.1)
    np.testing.assert_allclose(lb.item(), la.item(), rtol=1e-9)
    la.backward()
    lb.backward()
    np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), atol=1e-12)


def test_cross_entropy_gradient_matches_the_composition():
    """The fused backward is softmax - one_hot, scaled by the reduction."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((6, 4))
    target = rng.integers(0, 4, 6)
    xt = eg.tensor(x, requires_grad=True)
    F.cross_entropy(xt, eg.tensor(target)).backward()
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(xt.grad.numpy(), (p - np.eye(4)[target]) / 6, atol=1e-15)


# ---- dropout ------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_rate_and_scale(p):
    x = eg.ones(1_000_000)
    y = F.dropout(x, p).numpy()
    dropped = (y == 0).mean()
    assert abs(dropped - p) < 0.01, dropped
    kept = y[y != 0]
    np.testing.assert_allclose(kept, np.float32(1 / (1 - p)), rtol=1e-7)


def test_dropout_seeding():
    x = eg.randn(50, 40)
    eg.manual_seed(3)
    a = F.dropout(x, 0.5).numpy()
    b = F.dropout(x, 0.5).numpy()          # the generator moved on: another mask
    eg.manual_seed(3)
    c = F.dropout(x, 0.5).numpy()
    assert (a == c).all()
    assert ((a == 0) != (b == 0)).any()
    g = eg.Generator(3)
    d = F.dropout(x, 0.5, generator=g).numpy()
    e = F.dropout(x, 0.5, generator=eg.Generator(3)).numpy()
    assert (d == e).all()


def test_dropout_backward_reuses_the_mask():
    x = eg.randn(30, 20, requires_grad=True)
    y = F.dropout(x, 0.3)
    g = eg.randn(30, 20)
    y.backward(g)
    kept = y.numpy() != 0
    np.testing.assert_array_equal(x.grad.numpy()[~kept], 0)
    np.testing.assert_allclose(x.grad.numpy()[kept], g.numpy()[kept] / np.float32(0.7),
                               rtol=1e-6)


def test_dropout_identity_cases():
    x = eg.randn(3, 4, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    z = F.dropout(eg.tensor([1.0, float("nan"), -2.0]), 1.0).numpy()
    assert z[0] == 0 and np.isnan(z[1]) and z[2] == 0        # x · 0, as torch


def test_dropout_mask_does_not_depend_on_the_thread_count():
    x = np.random.default_rng(11).standard_normal(1 << 18).astype(np.float32)
    before = numba.get_num_threads()
    try:
        results = []
        for threads in {1, numba.config.NUMBA_NUM_THREADS}:
            numba.set_num_threads(threads)
            results.append(nb.dropout(x, 0.5, 1234))
        for r in results[1:]:
            np.testing.assert_array_equal(r, results[0])
    finally:
        numba.set_num_threads(before)


def test_layer_norm_weight_gradient_does_not_depend_on_the_thread_count():
    rng = np.random.default_rng(12)
    x, g = rand(rng, (333, 257), np.float32), rand(rng, (333, 257), np.float32)
    w = rand(rng, 257, np.float32)
    _, mean, rstd = nb.layer_norm(x, w, None, 1e-5)
    before = numba.get_num_threads()
    try:
        results = []
        for threads in {1, numba.config.NUMBA_NUM_THREADS}:
            numba.set_num_threads(threads)
            results.append(nb.layer_norm_backward(x, w, mean, rstd, g))
        for r in results[1:]:
            for a, b in zip(r, results[0]):
                np.testing.assert_array_equal(a, b)
    finally:
        numba.set_num_threads(before)


# ---- batch_norm running statistics ------------------------------------------------------------
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 4)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_norm_updates_running_stats_as_torch(shape, dtype):
    rng = np.random.default_rng(13)
    channels = shape[1]
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    rm = rng.standard_normal(channels).astype(dtype)
    rv = rng.uniform(0.5, 2, channels).astype(dtype)
    ours = (eg.tensor(rm.copy()), eg.tensor(rv.copy()))
    theirs = (torch.tensor(rm.copy()), torch.tensor(rv.copy()))
    for step in range(3):                      # training steps move the statistics
        xs = x * (step + 1)
        F.batch_norm(eg.tensor(xs), *ours, training=True, momentum=0.2)
        TF.batch_norm(torch.tensor(xs), *theirs, training=True, momentum=0.2)
        for a, b in zip(ours, theirs):
            assert a.dtype.name == dtype
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    y = F.batch_norm(eg.tensor(x), *ours, training=False)      # eval uses them
    np.testing.assert_allclose(y.numpy(), TF.batch_norm(torch.tensor(x), *theirs).numpy(),
                               rtol=1e-5, atol=1e-6)


def test_batch_norm_without_running_stats_in_training():
    x = np.random.default_rng(14).standard_normal((6, 3))
    y = F.batch_norm(eg.tensor(x), None, None, training=True)
    np.testing.assert_allclose(y.numpy(), TF.batch_norm(torch.tensor(x), None, None,
                                                        training=True).numpy(), atol=1e-12)


# ---- accuracy where torch's float32 is not the yardstick --------------------------------------
def test_layer_norm_float32_is_accurate_with_a_large_mean():
    """x = 100 + N(0, 1): a float32 mean carries ~|mean|·2^-24 of error into every x - mean.
    The engine's float64 statistics keep its float32 result within a few ulps of the
    float64 one; torch's float32 is the less accurate of the two here."""
    x = (np.random.default_rng(15).standard_normal((64, 256)) + 100).astype(np.float32)
    exact = TF.layer_norm(torch.tensor(x, dtype=torch.float64), (256,)).numpy()
    ours = F.layer_norm(eg.tensor(x), (256,)).numpy()
    theirs = TF.layer_norm(torch.tensor(x), (256,)).numpy()
    our_error = np.abs(ours - exact).max()
    assert our_error < 1e-6
    assert our_error <= np.abs(theirs - exact).max()


# ---- errors come before kernels ----------------------------------------------------------------
BAD_CALLS = [
    lambda: F.cross_entropy(eg.randn(3, 4), eg.tensor([0, 1, 7])),
    lambda: F.cross_entropy(eg.randn(3, 4), eg.tensor([0, 1, 2]), weight=eg.ones(5)),
    lambda: F.nll_loss(eg.randn(3, 4), eg.tensor([0, 1])),
    lambda: F.binary_cross_entropy(eg.tensor([0.5, 2.0]), eg.tensor([1.0, 0.0])),
    lambda: F.binary_cross_entropy_with_logits(eg.randn(2, 3), eg.randn(3, 2)),
    lambda: F.layer_norm(eg.randn(2, 3), (2,)),
    lambda: F.batch_norm(eg.randn(2, 3), eg.zeros(4), eg.ones(4)),
    lambda: F.batch_norm(eg.randn(1, 3), None, None, training=True),
    lambda: F.dropout(eg.randn(3), -0.5),
    lambda: F.embedding(eg.tensor([0, 9]), eg.randn(4, 2)),
]


@pytest.mark.parametrize("call", BAD_CALLS)
def test_errors_raise_before_any_kernel(call):
    stderr = io.StringIO()
    with dispatch.log_kernels(), contextlib.redirect_stderr(stderr):
        with pytest.raises((ValueError, TypeError, IndexError, RuntimeError)) as info:
            call()
    assert "Hint:" in str(info.value)
    launched = [line for line in stderr.getvalue().splitlines() if "[kernel]" in line]
    # eg.randn / eg.tensor themselves launch nothing; any line would be the op's kernel.
    assert not any(name in line for line in launched
                   for name in ("cross_entropy", "nll_loss", "binary_cross", "layer_norm",
                                "batch_norm", "dropout", "embedding")), launched


# ---- the vectorizable exp ------------------------------------------------------------------------
def test_vectorized_exp_float32_accuracy():
    """kernels/numba/_vecmath.exp in a loop compiled as the row kernels are (reassoc, so
    any unsafe reassociation of its range reduction would show): <= 2 ulp on [-87, 0],
    0 below the smallest normal, NaN for NaN."""
    from kernels.numba._vecmath import exp

    @numba.njit(fastmath={"reassoc", "contract"})
    def exp_all(x, out):
        for j in range(x.shape[0]):
            out[j] = exp(x[j])

    x = np.concatenate([np.linspace(-87.0, 0.0, 200_001), [-1e4, -np.inf, np.nan, -87.4]])
    x = x.astype(np.float32)
    out = np.empty_like(x)
    exp_all(x, out)
    want = np.exp(x[:-4].astype(np.float64))
    rel = np.abs(out[:-4] - want) / want
    assert rel.max() < 2 * 2.0 ** -23, rel.max()
    assert out[-4] == 0 and out[-3] == 0 and np.isnan(out[-2]) and out[-1] == 0


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_softmax_kernels_on_large_rows(dtype):
    """The threaded paths of kernels/numba/softmax.py (≥ 2^16 elements), whose row loops
    use _vecmath: contiguous rows (the rows kernel), a broadcast gradient and a
    non-last axis, NaN and ±1e4 rows, against the reference evaluated in float64 (in
    float32 the reference's own sums are off by more than the tolerance here: Σ of a
    gradient broadcast along 300 rows, 3e-3 of 421)."""
    rng = np.random.default_rng(16)
    x = rand(rng, (300, 257), dtype, 3.0)
    x[5, 7] = np.nan
    x[9] += 1e4
    x[11, :] = -1e4
    g = rand(rng, x.shape, dtype)

    def exact(name, *args):
        wide = [a.astype(np.float64) if isinstance(a, np.ndarray) else a for a in args]
        return getattr(ref, name)(*wide).astype(dtype)

    for a, axis in ((x, 1), (x, -1), (np.asfortranarray(x), 1), (x, 0)):
        check(nb.softmax(a, axis), exact("softmax", a, axis))
        check(nb.log_softmax(a, axis), exact("log_softmax", a, axis))
        y, ly = ref.softmax(a, axis), ref.log_softmax(a, axis)
        for grad in (g, np.broadcast_to(g[:1], g.shape)):
            check(nb.softmax_backward(y, grad, axis), exact("softmax_backward", y, grad, axis))
            check(nb.log_softmax_backward(ly, grad, axis),
                  exact("log_softmax_backward", ly, grad, axis))
