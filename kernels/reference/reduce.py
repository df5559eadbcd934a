"""Reductions, numpy reference. `axes` is a tuple of non-negative axes (possibly
empty: then the input comes back as a copy), `keepdim` keeps reduced axes as size 1.
"""
import numpy as np


def sum(x, axes, keepdim):
    return np.sum(x, axis=axes, keepdims=keepdim)


def prod(x, axes, keepdim):
    return np.prod(x, axis=axes, keepdims=keepdim)


def amax(x, axes, keepdim):
    return np.max(x, axis=axes, keepdims=keepdim)


def amin(x, axes, keepdim):
    return np.min(x, axis=axes, keepdims=keepdim)


def argmax(x, axis, keepdim):
    """Index of the first maximum along one axis (axis None: of the flattened input)."""
    return np.argmax(x, axis=axis, keepdims=keepdim)


def argmin(x, axis, keepdim):
    return np.argmin(x, axis=axis, keepdims=keepdim)


def logsumexp(x, axes, keepdim):
    """log Σ exp(x), shifted by the max so that exp never overflows."""
    m = np.max(x, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)          # all -inf rows: result -inf, not nan
    out = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return out if keepdim else np.squeeze(out, axis=axes)


def sum_to_shape(x, shape):
    """Sum a broadcast result back down to `shape` (the gradient of broadcasting)."""
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and x.shape[i + lead] != 1)
    out = np.sum(x, axis=axes, keepdims=True) if axes else x
    return out.reshape(shape)
