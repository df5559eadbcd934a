"""Fused activations, numpy reference: GELU and its gradient.

gelu(x, approximate) -> y, x's shape and dtype:
- "none": y = x Φ(x), Φ the standard normal CDF, Φ(x) = erfc(-x/√2) / 2;
- "tanh": y = x (1 + tanh(u)) / 2, u = √(2/π) (x + 0.044715 x³) (torch's approximation),
  written as x σ(2u): 1 + tanh(u) = 2σ(2u), which does not cancel for negative x.
gelu_backward(x, grad, approximate) -> grad · dy/dx from the saved input x:
- "none": Φ(x) + x φ(x), φ(x) = e^(-x²/2) / √(2π);
- "tanh": σ(2u) + 2x σ(2u) σ(-2u) u', u' = √(2/π) (1 + 3 · 0.044715 x²).

Computed in float64 whatever x's dtype, rounded once to it. erfc(-x/√2) for x < 0 is
erfc of a positive argument, which the C library returns to full relative precision:
the far negative tail (gelu(-37) ≈ -6e-298) keeps its digits, where 1 + erf(x/√2)
would be 0. At x = ±inf: gelu(inf) = inf, gelu(-inf) = -inf · 0 = NaN and both
gradients NaN (inf · 0), as torch's float64.
"""
import math

import numpy as np

from kernels.reference.elementwise import sigmoid

_erfc = np.vectorize(math.erfc, otypes=[np.float64])
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_KAPPA = 0.044715


def _cdf(x):
    """Φ(x) for float64 x."""
    return 0.5 * _erfc(-x / math.sqrt(2.0))


def _tanh_argument(x):
    return _SQRT_2_OVER_PI * (x + _KAPPA * x * x * x)


def gelu(x, approximate):
    x64 = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        if approximate == "tanh":
            y = x64 * sigmoid(2.0 * _tanh_argument(x64))
        else:
            y = x64 * _cdf(x64)
    return np.asarray(y, dtype=x.dtype)


def gelu_backward(x, grad, approximate):
    x64 = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        if approximate == "tanh":
            u = _tanh_argument(x64)
            du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _KAPPA * x64 * x64)
            s = sigmoid(2.0 * u)
            slope = s + 2.0 * x64 * s * sigmoid(-2.0 * u) * du
        else:
            pdf = np.exp(-0.5 * x64 * x64) / math.sqrt(2.0 * math.pi)
            slope = _cdf(x64) + x64 * pdf
        dx = np.asarray(grad, dtype=np.float64) * slope
    return np.asarray(dx, dtype=x.dtype)
