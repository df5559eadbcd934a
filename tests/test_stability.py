"""logsumexp, softmax and log_softmax are shift-invariant in floating point too.

Logits are multiples of 1/8 in [-8, 8], so x + 1e4 is exact in float32 and float64:
any difference between the shifted and unshifted results is the op's, not the
input's. Values and gradients must match to the usual tolerances.
"""
import numpy as np
import pytest

import engine as eg
import engine.nn.functional as F
from helpers import TOLERANCES, assert_close

# x + shift stays exact for every case here. float32 stops at 1e4: at 1e6 logsumexp's
# result itself is rounded to float32's spacing there (0.0625), and its gradient
# exp(x - result) inherits that error (about 3%, torch's formula does the same).
CASES = [pytest.param(dtype, shift, id=f"{np.dtype(dtype).name}-{shift:+g}")
         for dtype, shifts in ((np.float32, (1e4, -1e4)), (np.float64, (1e4, -1e4, 1e6)))
         for shift in shifts]


def logits(dtype, shape=(3, 7)):
    rng = np.random.default_rng(5)
    return (rng.integers(-64, 65, shape) / 8).astype(dtype)


OPS = {
    "softmax": (lambda x: eg.softmax(x, -1), lambda y, shift: y),
    "log_softmax": (lambda x: eg.log_softmax(x, -1), lambda y, shift: y),
    "logsumexp": (lambda x: eg.logsumexp(x, -1), lambda y, shift: y - shift),
    "F.log_softmax_dim0": (lambda x: F.log_softmax(x, 0), lambda y, shift: y),
    "F.softmax_dim0": (lambda x: F.softmax(x, 0), lambda y, shift: y),
}


@pytest.mark.parametrize("dtype, shift", CASES)
@pytest.mark.parametrize("name", sorted(OPS))
def test_shift_invariance(name, dtype, shift):
    fn, unshift = OPS[name]
    base = logits(dtype)
    rtol, atol = TOLERANCES[np.dtype(dtype)]["forward"]
    g = np.random.default_rng(6).standard_normal(fn(eg.tensor(base)).shape).astype(dtype)

    results = []
    for values in (base, base + dtype(shift)):
        x = eg.tensor(values, requires_grad=True)
        y = fn(x)
        assert np.isfinite(y.numpy()).all()
        y.backward(eg.tensor(g))
        results.append((y.numpy(), x.grad.numpy()))
    (y0, g0), (y1, g1) = results
    # The shifted logsumexp is ~1e4 in magnitude: compare after removing the shift,
    # with the absolute error float32 has at that magnitude.
    atol_shifted = atol + (abs(shift) * np.finfo(dtype).eps if name == "logsumexp" else 0)
    assert_close(unshift(y1, shift), y0, rtol, atol_shifted, f"{name} value")
    rtol, atol = TOLERANCES[np.dtype(dtype)]["grad"]
    assert_close(g1, g0, rtol, atol, f"{name} gradient")


@pytest.mark.parametrize("name", sorted(OPS))
def test_extreme_logits_stay_finite(name):
    fn, _ = OPS[name]
    x = eg.tensor([[1e30, -1e30, 0.0], [-1e4, -1e4, -1e4]], dtype=eg.float32,
                  requires_grad=True)
    y = fn(x)
    y.backward(eg.ones(*y.shape))
    assert np.isfinite(y.numpy()).all() and np.isfinite(x.grad.numpy()).all()
