"""Softmax and log-softmax along one axis, with their gradients, Numba CPU.
Must match `kernels/reference/softmax.py`.

    softmax(x, axis)                 y = exp(x - max) / Σ exp(x - max)
    log_softmax(x, axis)             y = (x - max) - log Σ exp(x - max)
    softmax_backward(y, grad, axis)  dx = y (g - Σ g y)          from the saved output
    log_softmax_backward(y, grad, axis)  dx = g - exp(y) Σ g     from the saved output

Shapes: x, y, grad (..., n, ...) with `axis` the n; the result has the input's shape
and a C-contiguous layout. An empty axis raises ValueError (numpy's max does).

The naive numpy version makes five passes over the tensor (max, subtract, exp, sum,
divide) and allocates three temporaries; here one kernel reads each row at most three
times from cache and writes the output once: per row, (1) the max, (2) e = exp(x - max)
written to out while summing, (3) out *= 1/sum. Traffic: read n, write n per row.

Rows: the tensor is viewed as (outer, inner, n) with the softmax axis last, a strided
view of the C-contiguous (outer, n, inner) layout, so any axis is handled without a
transposed copy of input or output (for the last axis the rows are contiguous).

Stability: subtracting the row max first means exp never overflows, and logits shifted
by +1e4 give the same result as unshifted ones (the shift cancels exactly in x - max).
A row with a NaN gives NaN, as the reference. Sums accumulate in float64; no fastmath:
reassociating (x - max) - lse into x - (max + lse) would give the 1e4 shift back.

Large inputs split their rows across threads (prange), in one kernel that switches on
the op per row, so that small calls keep the serial kernels' ~0.2 µs launch.
"""
import math

import numba
import numpy as np
from numba import prange

from kernels.numba.reduce import _amax_row

_ndarray = np.ndarray
_F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)

SOFTMAX, LOG_SOFTMAX, SOFTMAX_BACKWARD, LOG_SOFTMAX_BACKWARD = range(4)
_PARALLEL_SIZE = 1 << 16      # elements: below this a thread launch (~1 µs) does not pay


# ---- one row (x, g, out: 1-D, any stride) -------------------------------------------------
@numba.njit(cache=True)
def _softmax_row(x, out):
    m = _amax_row(x)
    s = 0.0
    for j in range(x.shape[0]):
        e = np.exp(x[j] - m)
        out[j] = e
        s += e
    for j in range(x.shape[0]):
        out[j] = out[j] / s


@numba.njit(cache=True)
def _log_softmax_row(x, out):
    m = _amax_row(x)
    s = 0.0
    for j in range(x.shape[0]):
        s += np.exp(x[j] - m)
    lse = np.log(s)
    for j in range(x.shape[0]):
        out[j] = (x[j] - m) - lse


@numba.njit(cache=True)
def _softmax_backward_row(y, g, out):
    dot = 0.0
    for j in range(y.shape[0]):
        dot += g[j] * y[j]
    for j in range(y.shape[0]):
        out[j] = y[j] * (g[j] - dot)


@numba.njit(cache=True)
def _log_softmax_backward_row(y, g, out):
    total = 0.0
    for j in range(y.shape[0]):
        total += g[j]
    for j in range(y.shape[0]):
        out[j] = g[j] - np.exp(y[j]) * total


# ---- kernels over (outer, inner, n) ------------------------------------------------------
@numba.njit(cache=True)
def softmax_forward_kernel(x, out):
    for o in range(x.shape[0]):
        for i in range(x.shape[1]):
            _softmax_row(x[o, i], out[o, i])


@numba.njit(cache=True)
def log_softmax_forward_kernel(x, out):
    for o in range(x.shape[0]):
        for i in range(x.shape[1]):
            _log_softmax_row(x[o, i], out[o, i])


@numba.njit(cache=True)
def softmax_backward_kernel(y, g, out):
    for o in range(y.shape[0]):
        for i in range(y.shape[1]):
            _softmax_backward_row(y[o, i], g[o, i], out[o, i])


@numba.njit(cache=True)
def log_softmax_backward_kernel(y, g, out):
    for o in range(y.shape[0]):
        for i in range(y.shape[1]):
            _log_softmax_backward_row(y[o, i], g[o, i], out[o, i])


@numba.njit(cache=True, parallel=True)
def softmax_parallel_kernel(x, g, out, op):
    """Any of the four kernels above (op = SOFTMAX, ...; g unused forward), rows split
    across threads."""
    inner = x.shape[1]
    for t in prange(x.shape[0] * inner):
        o = t // inner
        i = t - o * inner
        if op == 0:
            _softmax_row(x[o, i], out[o, i])
        elif op == 1:
            _log_softmax_row(x[o, i], out[o, i])
        elif op == 2:
            _softmax_backward_row(x[o, i], g[o, i], out[o, i])
        else:
            _log_softmax_backward_row(x[o, i], g[o, i], out[o, i])


_SERIAL = {SOFTMAX: softmax_forward_kernel, LOG_SOFTMAX: log_softmax_forward_kernel,
           SOFTMAX_BACKWARD: softmax_backward_kernel,
           LOG_SOFTMAX_BACKWARD: log_softmax_backward_kernel}


# ---- the table --------------------------------------------------------------------------
def _rows(a, outer, n, inner):
    """(outer, inner, n) view, the axis last, of a's (outer, n, inner) layout."""
    return a.reshape(outer, n, inner).transpose(0, 2, 1)


def _run(op, arrays, axis):
    """Check, lay out, run the kernel; arrays: (x,) forward or (y, grad) backward."""
    if len(arrays) == 2 and arrays[0].shape != arrays[1].shape:
        arrays = np.broadcast_arrays(*arrays)
    result = np.result_type(*arrays)
    if result.kind == "b":
        raise TypeError("softmax: numpy boolean subtract is not supported")
    if result.kind in "fc":
        work = _F32 if result == _F16 else result
    else:
        work = _F64                                         # exp of an integer is float64
        if op < SOFTMAX_BACKWARD:
            result = _F64
    shape = arrays[0].shape
    if axis is None:
        outer, n, inner = 1, math.prod(shape), 1
    else:
        ndim = len(shape)
        if not -ndim <= axis < ndim:
            raise np.exceptions.AxisError(axis, ndim)
        axis %= ndim
        outer, n, inner = math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])
    if n == 0 and op < SOFTMAX_BACKWARD:     # the backward formulas only sum: empty is fine
        raise ValueError("zero-size array to reduction operation maximum which has no "
                         "identity")
    rows = [_rows(a if a.dtype == work else a.astype(work), outer, n, inner) for a in arrays]
    out = np.empty(shape, dtype=work)
    out_rows = _rows(out, outer, n, inner)
    if out.size >= _PARALLEL_SIZE:
        softmax_parallel_kernel(rows[0], rows[-1], out_rows, op)
    else:
        _SERIAL[op](*rows, out_rows)
    return out if work == result else out.astype(result)


def softmax(x, axis):
    x = x if x.__class__ is _ndarray else np.asarray(x)
    return _run(SOFTMAX, (x,), axis)


def log_softmax(x, axis):
    x = x if x.__class__ is _ndarray else np.asarray(x)
    return _run(LOG_SOFTMAX, (x,), axis)


def softmax_backward(y, grad, axis):
    """dx = y (g - Σ g y), from the saved output y."""
    return _run(SOFTMAX_BACKWARD, (np.asarray(y), np.asarray(grad)), axis)


def log_softmax_backward(y, grad, axis):
    """dx = g - softmax Σ g, from the saved output y = log_softmax(x)."""
    return _run(LOG_SOFTMAX_BACKWARD, (np.asarray(y), np.asarray(grad)), axis)
