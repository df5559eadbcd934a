"""Elementwise kernels, numpy reference. Broadcasting follows numpy (= torch).

Scalars arrive as numpy scalars of the operand's dtype, so results keep that dtype.
`*_backward(saved, grad)` are the fused gradient formulas the ops use.
"""
import numpy as np

# ---- binary, broadcasting -------------------------------------------------------
def add(a, b):
    return np.add(a, b)


def sub(a, b):
    return np.subtract(a, b)


def mul(a, b):
    return np.multiply(a, b)


def div(a, b):
    return np.true_divide(a, b)


def pow(a, b):
    return np.power(a, b)


def maximum(a, b):
    return np.maximum(a, b)


def minimum(a, b):
    return np.minimum(a, b)


def eq(a, b):
    return np.equal(a, b)


def ne(a, b):
    return np.not_equal(a, b)


def lt(a, b):
    return np.less(a, b)


def le(a, b):
    return np.less_equal(a, b)


def gt(a, b):
    return np.greater(a, b)


def ge(a, b):
    return np.greater_equal(a, b)


def where(cond, a, b):
    return np.where(cond, a, b)


# ---- unary ---------------------------------------------------------------------
def neg(x):
    return np.negative(x)


def exp(x):
    return np.exp(x)


def log(x):
    return np.log(x)


def sqrt(x):
    return np.sqrt(x)


def rsqrt(x):
    return 1 / np.sqrt(x)


def abs(x):
    return np.abs(x)


def sign(x):
    return np.sign(x)


def sin(x):
    return np.sin(x)


def cos(x):
    return np.cos(x)


def tanh(x):
    return np.tanh(x)


def sigmoid(x):
    # Two branches so that exp never overflows: for x < 0 use e^x / (1 + e^x).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def relu(x):
    return np.maximum(x, 0).astype(x.dtype, copy=False)


def clamp(x, lo, hi):
    """lo and hi are numpy scalars or None (no bound on that side)."""
    if lo is not None:
        x = np.maximum(x, lo)
    if hi is not None:
        x = np.minimum(x, hi)
    return x


# ---- fused gradients -----------------------------------------------------------
def tanh_backward(y, grad):
    """d tanh = 1 - tanh², from the saved output."""
    return grad * (1 - y * y)


def sigmoid_backward(y, grad):
    """d σ = σ (1 - σ), from the saved output."""
    return grad * y * (1 - y)


def relu_backward(x, grad):
    return np.where(x > 0, grad, 0).astype(grad.dtype, copy=False)


def sqrt_backward(y, grad):
    return grad / (2 * y)


def rsqrt_backward(y, grad):
    """d x^-1/2 = -1/2 x^-3/2 = -y³/2."""
    return grad * (-0.5 * y * y * y).astype(y.dtype, copy=False)


def clamp_backward(x, grad, lo, hi):
    """Gradient flows where x was inside [lo, hi] (torch counts the bounds inside)."""
    inside = np.ones(x.shape, dtype=bool)
    if lo is not None:
        inside &= x >= lo
    if hi is not None:
        inside &= x <= hi
    return np.where(inside, grad, 0).astype(grad.dtype, copy=False)


# ---- dtype ---------------------------------------------------------------------
def astype(x, dtype):
    """Cast to a numpy dtype (always a new array)."""
    return x.astype(dtype)
