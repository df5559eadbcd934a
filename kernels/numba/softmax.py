"""Softmax and log-softmax along one axis, with their gradients, Numba CPU.
Must match `kernels/reference/softmax.py`.

    softmax(x, axis)                 y = exp(x - max) / Σ exp(x - max)
    log_softmax(x, axis)             y = (x - max) - log Σ exp(x - max)
    softmax_backward(y, grad, axis)  dx = y (g - Σ g y)          from the saved output
    log_softmax_backward(y, grad, axis)  dx = g - exp(y) Σ g     from the saved output

Shapes: x, y, grad (..., n, ...) with `axis` the n (None: all of x as one row); the
result has the input's shape and a C-contiguous layout; grad may be a broadcast view
of y's shape. An empty axis raises ValueError forward (numpy's max does). Integers
compute in float64 as np.exp does, float16 in float32, rounded once at the end.

The naive numpy version makes five passes over the tensor (max, subtract, exp, sum,
divide) and allocates three temporaries; here one kernel reads each row at most three
times from cache and writes the output once: per row, (1) the max, (2) e = exp(x - max)
written to out while summing, (3) out *= 1 / sum. Traffic: read n, write n per row.

Rows: the tensor is viewed as (outer, inner, n) with the softmax axis last, a strided
view of the C-contiguous (outer, n, inner) layout, so any axis is handled without a
transposed copy of input or output (for the last axis the rows are contiguous). For a
large input over another axis the strided rows thrash the cache, and the rows are
made contiguous by movement.py's tiled transposing copy instead (and back after).

Stability: subtracting the row max first means exp never overflows, and logits shifted
by +1e4 give the same result as unshifted ones (the shift cancels exactly in x - max).
A row with a NaN gives NaN, as the reference (the NaN enters the sum through exp).
Only the sums carry fastmath={"reassoc", "contract"}: reassociating (x - max) - lse into
x - (max + lse) would give the 1e4 shift back, so the loop that writes it has no flag.

Vectorization (4096×1024 float32, one thread, AMD EPYC Zen 5 VM; torch 2.13 ~1.9 ms
forward): the first version called the C library's exp per element and took ~16 ms
forward (~4.5 ms backward). Now, when the rows have unit stride (softmax over the last
axis), the loops run on C-typed views and vectorize: exp and max come from `_vecmath`
(a branch-free float32 exp polynomial, llvm.maxnum), and sums run in the row's
precision over blocks of 256, added in float64 (see _BLOCK below). Forward ~1.7-2.2
ms, softmax backward ~1.3 ms, log_softmax backward ~1.7 ms (machine shared, noisy).
Strided rows (another axis) take the same loops scalar.

Large inputs split their rows across threads (prange), in one kernel that switches on
the op per row, so that small calls keep the serial kernels' ~0.2 µs launch.
"""
import math

import numba
import numpy as np
from numba import prange

from kernels.numba._launch import kernel, launch
from kernels.numba._vecmath import exp, maxnum
from kernels.numba.movement import contiguous_copy

_ndarray = np.ndarray
_F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)

SOFTMAX, LOG_SOFTMAX, SOFTMAX_BACKWARD, LOG_SOFTMAX_BACKWARD = range(4)
_MOVE_SIZE = 1 << 16          # elements: above this a non-last axis is moved last (copy)
_PARALLEL_SIZE = 1 << 16      # elements: below this a thread launch (~1 µs) does not pay


# ---- one row (x, g, out: 1-D, any stride) -------------------------------------------------
# Each op's loops are written once and compiled twice: on C-typed views when the row and
# its output have unit stride (the softmax axis is last: the loops vectorize), on the
# strided rows otherwise. Sums use fastmath={"reassoc", "contract"} (SIMD partial
# sums); the loops that write (x - m) - lse carry no flag, so it is never reassociated.
# Sums run in the row's precision over blocks of _BLOCK elements, and the block sums are
# added in float64: a float64 accumulator inside the loop costs a conversion per element
# (exp-and-sum over 4096×1024 float32: 1.72 ms -> 0.89 ms), while the blocks keep the
# float32 rounding error to that of a 256-term sum split into SIMD partial sums. Blocks
# are slices looped from 0: an index known to be >= 0 needs no negative-index wraparound
# select, which would keep the loop scalar (range(start, stop) is 5x slower).
_FAST = {"reassoc", "contract"}
_BLOCK = 256


@numba.njit(cache=True)
def _unit(a):
    return a.strides[0] == a.itemsize


@numba.njit(cache=True, fastmath=_FAST)
def _max_loop(x):
    """The row max ignoring NaN (llvm.maxnum vectorizes); a NaN still reaches the result
    through exp(NaN - m) in the sum, as in the reference."""
    m = x[0]
    for j in range(x.shape[0]):
        m = maxnum(m, x[j])
    return m


@numba.njit(cache=True, fastmath=_FAST)
def _exp_store_loop(x, m, out):
    """out = exp(x - m); returns Σ out in float64."""
    total = 0.0
    for start in range(0, x.shape[0], _BLOCK):
        xb = x[start:start + _BLOCK]
        ob = out[start:start + _BLOCK]
        s = out.dtype.type(0)
        for j in range(xb.shape[0]):
            e = exp(xb[j] - m)
            ob[j] = e
            s += e
        total += s
    return total


@numba.njit(cache=True, fastmath=_FAST)
def _exp_sum_loop(x, m):
    total = 0.0
    for start in range(0, x.shape[0], _BLOCK):
        xb = x[start:start + _BLOCK]
        s = x.dtype.type(0)
        for j in range(xb.shape[0]):
            s += exp(xb[j] - m)
        total += s
    return total


@numba.njit(cache=True, fastmath=_FAST)
def _scale_loop(out, r):
    for j in range(out.shape[0]):
        out[j] = out[j] * r


@numba.njit(cache=True)
def _shift_loop(x, m, lse, out):
    for j in range(x.shape[0]):
        out[j] = (x[j] - m) - lse


@numba.njit(cache=True, fastmath=_FAST)
def _dot_loop(y, g):
    total = 0.0
    for start in range(0, y.shape[0], _BLOCK):
        yb = y[start:start + _BLOCK]
        gb = g[start:start + _BLOCK]
        s = y.dtype.type(0)
        for j in range(yb.shape[0]):
            s += gb[j] * yb[j]
        total += s
    return total


@numba.njit(cache=True, fastmath=_FAST)
def _sum_loop(g):
    total = 0.0
    for start in range(0, g.shape[0], _BLOCK):
        gb = g[start:start + _BLOCK]
        s = g.dtype.type(0)
        for j in range(gb.shape[0]):
            s += gb[j]
        total += s
    return total


@numba.njit(cache=True)
def _softmax_backward_loop(y, g, dot, out):
    d = out.dtype.type(dot)      # in the row's precision: float32 lanes, not float64
    for j in range(y.shape[0]):
        out[j] = y[j] * (g[j] - d)


@numba.njit(cache=True)
def _log_softmax_backward_loop(y, g, total, out):
    t = out.dtype.type(total)
    for j in range(y.shape[0]):
        out[j] = g[j] - exp(y[j]) * t


@numba.njit(cache=True)
def _softmax_loops(x, out):
    m = _max_loop(x)
    s = _exp_store_loop(x, m, out)
    _scale_loop(out, out.dtype.type(1.0 / s))


@numba.njit(cache=True)
def _log_softmax_loops(x, out):
    m = _max_loop(x)
    _shift_loop(x, m, out.dtype.type(np.log(_exp_sum_loop(x, m))), out)


@numba.njit(cache=True)
def _softmax_row(x, out):
    if _unit(x) and _unit(out):
        _softmax_loops(np.ascontiguousarray(x), np.ascontiguousarray(out))
    else:
        _softmax_loops(x, out)


@numba.njit(cache=True)
def _log_softmax_row(x, out):
    if _unit(x) and _unit(out):
        _log_softmax_loops(np.ascontiguousarray(x), np.ascontiguousarray(out))
    else:
        _log_softmax_loops(x, out)


@numba.njit(cache=True)
def _softmax_backward_row(y, g, out):
    if _unit(y) and _unit(g) and _unit(out):
        yc, gc = np.ascontiguousarray(y), np.ascontiguousarray(g)
        _softmax_backward_loop(yc, gc, _dot_loop(yc, gc), np.ascontiguousarray(out))
    else:
        _softmax_backward_loop(y, g, _dot_loop(y, g), out)


@numba.njit(cache=True)
def _log_softmax_backward_row(y, g, out):
    if _unit(y) and _unit(g) and _unit(out):
        yc, gc = np.ascontiguousarray(y), np.ascontiguousarray(g)
        _log_softmax_backward_loop(yc, gc, _sum_loop(gc), np.ascontiguousarray(out))
    else:
        _log_softmax_backward_loop(y, g, _sum_loop(g), out)


# ---- kernels over (outer, inner, n) ------------------------------------------------------
@kernel()
def softmax_forward_kernel(x, out):
    for o in range(x.shape[0]):
        for i in range(x.shape[1]):
            _softmax_row(x[o, i], out[o, i])


@kernel()
def log_softmax_forward_kernel(x, out):
    for o in range(x.shape[0]):
        for i in range(x.shape[1]):
            _log_softmax_row(x[o, i], out[o, i])


@kernel()
def softmax_backward_kernel(y, g, out):
    for o in range(y.shape[0]):
        for i in range(y.shape[1]):
            _softmax_backward_row(y[o, i], g[o, i], out[o, i])


@kernel()
def log_softmax_backward_kernel(y, g, out):
    for o in range(y.shape[0]):
        for i in range(y.shape[1]):
            _log_softmax_backward_row(y[o, i], g[o, i], out[o, i])


@kernel(parallel=True)
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


@kernel(parallel=True)
def softmax_rows_kernel(x, g, out, op):
    """softmax_parallel_kernel for the common case, the axis last and every array
    contiguous: x, g, out (rows, n). One C-typed view per array instead of a strided
    view and three stride checks per row (~0.1 µs a row: 4096×1024 float32 forward
    ~1.9 -> ~1.5 ms, one thread)."""
    xc, gc, oc = np.ascontiguousarray(x), np.ascontiguousarray(g), np.ascontiguousarray(out)
    for r in prange(x.shape[0]):
        if op == 0:
            _softmax_loops(xc[r], oc[r])
        elif op == 1:
            _log_softmax_loops(xc[r], oc[r])
        elif op == 2:
            _softmax_backward_loop(xc[r], gc[r], _dot_loop(xc[r], gc[r]), oc[r])
        else:
            _log_softmax_backward_loop(xc[r], gc[r], _sum_loop(gc[r]), oc[r])


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
    if result.kind in "bc":
        raise TypeError(f"softmax: {result} input is not supported (the reference: bool "
                        f"cannot be subtracted, complex has no order for the max)")
    if result.kind == "f":
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
    moved = inner > 1 and n > 1 and outer * inner * n >= _MOVE_SIZE
    if moved:
        # The axis is not last, so a row is strided by `inner` and every element read is
        # a cache line of its own (4096×1024 float32 over axis 0: 165 ms). Past L2-sized
        # inputs it is cheaper to make the rows contiguous with the tiled transposing
        # copy, and to transpose the result back (~12 ms in all).
        rows = [contiguous_copy(r) for r in rows]
        out_rows = np.empty((outer, inner, n), dtype=work)
    else:
        out = np.empty(shape, dtype=work)
        out_rows = _rows(out, outer, n, inner)
    flat = [r[:, 0, :] for r in rows + [out_rows]] if inner == 1 else ()
    if out_rows.size >= _PARALLEL_SIZE and flat and all(f.flags.c_contiguous for f in flat):
        launch(softmax_rows_kernel, flat[0], flat[-2], flat[-1], op)
    elif out_rows.size >= _PARALLEL_SIZE:
        launch(softmax_parallel_kernel, rows[0], rows[-1], out_rows, op)
    else:
        launch(_SERIAL[op], *rows, out_rows)
    if moved:
        out = contiguous_copy(out_rows.transpose(0, 2, 1)).reshape(shape)
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
