"""Reductions, Numba CPU. Must match `kernels/reference/reduce.py`.

`sum, prod, amax, amin(x, axes, keepdim)`: `axes` a tuple of axes (an int and None are
taken too, as numpy does), possibly empty: then the input comes back as a copy (in the
result dtype: sum of int32 is int64, as np.sum). `keepdim` keeps reduced axes as size 1.
`argmax, argmin(x, axis, keepdim)`: one axis or None (the flattened input), index of the
first extreme (of the first NaN, if any). `logsumexp(x, axes, keepdim)`.
`sum_to_shape(x, shape)`: the gradient of broadcasting. amax, amin, argmax, argmin and
logsumexp of an empty reduction raise ValueError, as numpy does; empty sum is 0, prod 1.

Every reduction becomes one of two shapes, with the reduced axes made one block:

    rows    x2 (rows, n):          out[r]    = reduce(x2[r, :])     the block is innermost
    middle  x3 (outer, n, inner):  out[o, i] = reduce(x3[o, :, i])  e.g. sum over the batch

Traffic: read the input once, write the (smaller) output once. To get there without
copying, the axes are taken in memory order (decreasing |stride|, so a transposed
input is read as stored) and size-1 axes are dropped; if the reduced axes are then one
consecutive block, x2/x3 is a view. Only when they are not (NCHW reduced over 0, 2, 3)
does np.reshape copy the input once, with the reduced axes moved last.

Optimizations and why:
- The middle kernel walks k outside and i inside: the inner loop is a contiguous,
  vectorized `out[o, :] += x3[o, k, :]` (bias gradients, means over the batch).
- float32 sums and products accumulate in float64 (ints in int64), with
  fastmath={"reassoc"} only: LLVM may split the sum into SIMD partial sums (8x faster
  than the sequential loop on 4M float32: 0.29 ms vs 2.3 ms; numpy 0.71 ms) without
  the no-NaN/no-inf assumptions of full fastmath, which would delete the NaN checks.
  The result is as accurate as numpy's pairwise summation or better.
- Each kernel is compiled once per dtype, for arrays of any strides (_launch.py); the
  sum and product loops check for unit stride at run time and then vectorize.
- amax/amin/argmax propagate NaN as numpy does (a NaN wins; argmax returns the first
  NaN's index), yet vectorize: the extreme is taken with llvm.maxnum (NaN ignored,
  SIMD: 5.3 -> 0.5 ms for 4096 rows of 1024 float32; numpy ~0.7 ms), a second
  vectorized pass (Σ v - v) says whether a NaN may be there, and only then is it
  searched for; argmax then finds the max's first index 32 elements at a time.
- logsumexp's exp is kernels/numba/_vecmath.py's: a polynomial that vectorizes for
  float32 (<= 1.4 ulp), the C library's for float64.
- Large inputs run on all threads (prange) over rows: one kernel switching on the op
  per row, so that tiny reductions keep the ~0.2 µs serial call and large ones split.
  A full reduction of a large contiguous input (one row) is first cut into
  `_CHUNKS` rows of partial results.
- float16, which Numba cannot load, is reduced in float32 and rounded at the end.
"""
import math

import numba
import numpy as np
from numba import prange, types
from numba.extending import overload

from kernels.numba._launch import kernel, launch
from kernels.numba._vecmath import exp, maxnum
from kernels.numba.elementwise import _lt

_ndarray = np.ndarray
_F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)
_INTP = np.dtype(np.intp)
_I64 = np.dtype(np.int64)
_F64 = np.dtype(np.float64)

SUM, PROD, AMAX, AMIN, ARGMAX, ARGMIN, LOGSUMEXP = range(7)
_NAMES = ("sum", "prod", "maximum", "minimum", "argmax", "argmin", "logsumexp")
_PARALLEL_SIZE = 1 << 17      # elements: below this a thread launch (~1 µs) does not pay
_CHUNKS = 64                  # rows a large full reduction is cut into


# ---- one row ----------------------------------------------------------------------------
@numba.njit(cache=True, fastmath={"reassoc"})
def _sum_loop(row, acc):
    for j in range(row.shape[0]):
        acc += row[j]
    return acc


@numba.njit(cache=True)
def _sum_row(row, acc):
    # The kernels see any-stride ('A') arrays; at unit stride, a contiguous view of the
    # same memory lets the loop vectorize (11x: 2.3 ms -> 0.2 ms for 64 x 65536 float32).
    if row.strides[0] == row.itemsize:
        return _sum_loop(np.ascontiguousarray(row), acc)
    return _sum_loop(row, acc)


@numba.njit(cache=True, fastmath={"reassoc"})
def _prod_loop(row, acc):
    for j in range(row.shape[0]):
        acc *= row[j]
    return acc


@numba.njit(cache=True)
def _prod_row(row, acc):
    if row.strides[0] == row.itemsize:
        return _prod_loop(np.ascontiguousarray(row), acc)
    return _prod_loop(row, acc)


def _larger(a, b):
    """max(a, b), a NaN operand ignored: llvm.maxnum for floats, which the vectorizer
    turns into SIMD max instructions (a compare-and-branch max stays scalar)."""


@overload(_larger)
def _larger_overload(a, b):
    if isinstance(a, types.Float):
        return lambda a, b: maxnum(a, b)
    return lambda a, b: a if a >= b else b


def _smaller(a, b):
    """min(a, b), a NaN operand ignored."""


@overload(_smaller)
def _smaller_overload(a, b):
    if isinstance(a, types.Float):
        return lambda a, b: -maxnum(-a, -b)
    return lambda a, b: a if a <= b else b


@numba.njit(cache=True, fastmath={"reassoc"})
def _max_loop(row):
    """The max ignoring NaN: a reduction LLVM vectorizes (a NaN test in the same loop
    stops it: 4096 rows of 1024 float32, 0.45 ms alone, 13 ms together)."""
    m = row[0]
    for j in range(row.shape[0]):
        m = _larger(m, row[j])
    return m


@numba.njit(cache=True, fastmath={"reassoc"})
def _min_loop(row):
    m = row[0]
    for j in range(row.shape[0]):
        m = _smaller(m, row[j])
    return m


@numba.njit(cache=True, fastmath={"reassoc"})
def _nan_loop(row):
    """NaN if row holds a NaN or an inf (v - v), else 0: a second vectorized pass."""
    s = row[0] - row[0]
    for j in range(row.shape[0]):
        s += row[j] - row[j]
    return s


@numba.njit(cache=True)
def _first_nan(row):
    """Index of the first NaN, -1 if none; only run when _nan_loop says there may be one."""
    for j in range(row.shape[0]):
        if row[j] != row[j]:
            return j
    return -1


@numba.njit(cache=True)
def _first_equal(row, value):
    # In blocks of 32: a fixed-length "any equal" loop vectorizes where an early exit
    # per element does not (argmax over 4096 x 1024 float32: 3.2 ms -> ~1 ms).
    n = row.shape[0]
    j0 = 0
    while j0 + 32 <= n:
        hit = False
        for j in range(j0, j0 + 32):
            hit |= row[j] == value
        if hit:
            break
        j0 += 32
    for j in range(j0, n):
        if row[j] == value:
            return j
    return 0


# numpy's max, min, argmax and argmin let a NaN win (argmax: the first NaN's index).
# The extreme is found ignoring NaN, then one more vectorized pass says whether a NaN
# may be present, and only then is it looked for. Rows of unit stride are passed as
# contiguous views so that the loops vectorize.
@numba.njit(cache=True)
def _row_max(row):
    if row.strides[0] == row.itemsize:
        row = np.ascontiguousarray(row)
        return _max_loop(row), _nan_loop(row)
    return _max_loop(row), _nan_loop(row)


@numba.njit(cache=True)
def _row_min(row):
    if row.strides[0] == row.itemsize:
        row = np.ascontiguousarray(row)
        return _min_loop(row), _nan_loop(row)
    return _min_loop(row), _nan_loop(row)


@numba.njit(cache=True)
def _amax_row(row):
    m, check = _row_max(row)
    j = _first_nan(row) if check != check else -1
    return row[j] if j >= 0 else m


@numba.njit(cache=True)
def _amin_row(row):
    m, check = _row_min(row)
    j = _first_nan(row) if check != check else -1
    return row[j] if j >= 0 else m


@numba.njit(cache=True)
def _argmax_row(row):
    m, check = _row_max(row)
    j = _first_nan(row) if check != check else -1
    return j if j >= 0 else _first_equal(row, m)


@numba.njit(cache=True)
def _argmin_row(row):
    m, check = _row_min(row)
    j = _first_nan(row) if check != check else -1
    return j if j >= 0 else _first_equal(row, m)


@numba.njit(cache=True, fastmath={"reassoc"})
def _exp_sum_loop(row, shift):
    s = 0.0
    for j in range(row.shape[0]):
        s += exp(row[j] - shift)
    return s


@numba.njit(cache=True)
def _logsumexp_row(row):
    m = _amax_row(row)
    # Shift by the max so exp never overflows; an infinite or NaN max shifts by 0, so
    # a row of -inf gives log(0) = -inf, +inf gives inf and NaN gives NaN (as numpy).
    shift = m if m - m == 0 else row.dtype.type(0)
    if row.strides[0] == row.itemsize:
        s = _exp_sum_loop(np.ascontiguousarray(row), shift)
    else:
        s = _exp_sum_loop(row, shift)
    return np.log(s) + shift


# ---- rows kernels: x (rows, n) -> out (rows,) -------------------------------------------
@kernel()
def sum_forward_kernel(x, out):
    zero = out.dtype.type(0)
    for r in range(x.shape[0]):
        out[r] = _sum_row(x[r], zero)


@kernel()
def prod_forward_kernel(x, out):
    one = out.dtype.type(1)
    for r in range(x.shape[0]):
        out[r] = _prod_row(x[r], one)


@kernel()
def amax_forward_kernel(x, out):
    for r in range(x.shape[0]):
        out[r] = _amax_row(x[r])


@kernel()
def amin_forward_kernel(x, out):
    for r in range(x.shape[0]):
        out[r] = _amin_row(x[r])


@kernel()
def argmax_forward_kernel(x, out):
    for r in range(x.shape[0]):
        out[r] = _argmax_row(x[r])


@kernel()
def argmin_forward_kernel(x, out):
    for r in range(x.shape[0]):
        out[r] = _argmin_row(x[r])


@kernel()
def logsumexp_forward_kernel(x, out):
    for r in range(x.shape[0]):
        out[r] = _logsumexp_row(x[r])


@kernel(parallel=True)
def reduce_parallel_forward_kernel(x, out, op):
    """Any of the rows kernels above (op = SUM, ...), rows split across threads."""
    zero = out.dtype.type(0)
    for r in prange(x.shape[0]):
        row = x[r]
        if op == 0:
            out[r] = _sum_row(row, zero)
        elif op == 1:
            out[r] = _prod_row(row, zero + 1)
        elif op == 2:
            out[r] = _amax_row(row)
        elif op == 3:
            out[r] = _amin_row(row)
        elif op == 4:
            out[r] = _argmax_row(row)
        elif op == 5:
            out[r] = _argmin_row(row)
        else:
            out[r] = _logsumexp_row(row)


# ---- middle kernels: x (outer, n, inner) -> out (outer, inner) --------------------------
@numba.njit(cache=True)
def _add_into(acc, row):
    for i in range(acc.shape[0]):
        acc[i] += row[i]


@numba.njit(cache=True)
def _mul_into(acc, row):
    for i in range(acc.shape[0]):
        acc[i] *= row[i]


@kernel()
def sum_middle_forward_kernel(x, out):
    for o in range(x.shape[0]):
        acc = out[o]
        acc[:] = 0
        for k in range(x.shape[1]):
            row = x[o, k]
            if acc.strides[0] == acc.itemsize and row.strides[0] == row.itemsize:
                _add_into(np.ascontiguousarray(acc), np.ascontiguousarray(row))
            else:
                _add_into(acc, row)


@kernel()
def prod_middle_forward_kernel(x, out):
    for o in range(x.shape[0]):
        acc = out[o]
        acc[:] = 1
        for k in range(x.shape[1]):
            row = x[o, k]
            if acc.strides[0] == acc.itemsize and row.strides[0] == row.itemsize:
                _mul_into(np.ascontiguousarray(acc), np.ascontiguousarray(row))
            else:
                _mul_into(acc, row)


@kernel()
def amax_middle_forward_kernel(x, out):
    for o in range(x.shape[0]):
        m = out[o]
        m[:] = x[o, 0]
        for k in range(1, x.shape[1]):
            row = x[o, k]
            for i in range(m.shape[0]):
                v = row[i]
                if _lt(m[i], v) or v != v:      # quiet compare: see elementwise.py
                    m[i] = v


@kernel()
def amin_middle_forward_kernel(x, out):
    for o in range(x.shape[0]):
        m = out[o]
        m[:] = x[o, 0]
        for k in range(1, x.shape[1]):
            row = x[o, k]
            for i in range(m.shape[0]):
                v = row[i]
                if _lt(v, m[i]) or v != v:
                    m[i] = v


_ROWS = {SUM: sum_forward_kernel, PROD: prod_forward_kernel, AMAX: amax_forward_kernel,
         AMIN: amin_forward_kernel, ARGMAX: argmax_forward_kernel,
         ARGMIN: argmin_forward_kernel, LOGSUMEXP: logsumexp_forward_kernel}
_MIDDLE = {SUM: sum_middle_forward_kernel, PROD: prod_middle_forward_kernel,
           AMAX: amax_middle_forward_kernel, AMIN: amin_middle_forward_kernel}


# ---- dtypes -------------------------------------------------------------------------------
_result_dtypes = {}


def _dtypes(op, dtype):
    """(input dtype the kernel reads, accumulator/output dtype it writes, result dtype)."""
    key = (op, dtype)
    found = _result_dtypes.get(key)
    if found is None:
        if dtype.kind == "c" and op not in (SUM, PROD):
            raise TypeError(f"{_NAMES[op]}: complex input is not supported by the Numba "
                            f"backend (it has no order for max and argmax)")
        # Kernels read float32, float64 or int64 (bools and narrower ints are widened:
        # exact for every op, and three compiled versions per kernel instead of six).
        read = _F32 if dtype == _F16 else _I64 if dtype.kind in "bi" else dtype
        if op in (SUM, PROD):
            result = (np.sum if op == SUM else np.prod)(np.zeros(0, dtype)).dtype
            work = {"f": np.dtype(np.float64), "c": np.dtype(np.complex128)}.get(
                result.kind, result)
        elif op in (AMAX, AMIN):
            result = dtype
            work = read
        elif op in (ARGMAX, ARGMIN):
            result = work = _INTP
        else:
            # exp of an integer (or bool: the reference's np.where(..., m, 0) makes the
            # max an integer) is float64, so those are read as float64.
            read = read if dtype.kind == "f" else np.dtype(np.float64)
            result = dtype if dtype.kind in "fc" else np.dtype(np.float64)
            work = _F32 if result == _F16 else result
        found = _result_dtypes[key] = (read, work, result)
    return found


def _normalize_axes(axes, ndim):
    if axes is None:
        return tuple(range(ndim))
    if not isinstance(axes, tuple):
        axes = (axes,)
    out = []
    for a in axes:
        a = int(a) if isinstance(a, (int, np.integer)) else a
        if not isinstance(a, int) or not -ndim <= a < ndim:
            raise np.exceptions.AxisError(a, ndim)
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError("duplicate value in 'axis'")
    return tuple(out)


_axes_plans = {}


def _axes_plan(axes, ndim):
    """(axes normalized, k, j): k = len(axes) when the reduced axes are the last k, j when
    they are the first j, else 0.

    Cached: a reduction on a small tensor costs ~1 µs of Python, and recomputing this
    was a third of it.
    """
    key = (axes, ndim)
    try:
        return _axes_plans[key]
    except KeyError:
        pass
    normalized = _normalize_axes(axes, ndim)
    k = len(normalized)
    ordered = sorted(normalized)
    trailing = k if k and ordered == list(range(ndim - k, ndim)) else 0
    leading = k if k and ordered == list(range(k)) else 0
    if len(_axes_plans) > 1024:
        _axes_plans.clear()
    plan = _axes_plans[key] = (normalized, trailing, leading)
    return plan


# ---- layout -------------------------------------------------------------------------------
def _arrange(x, axes):
    """x as one block of reduced axes: (x3, kept) with x3 (outer, n, inner), a view when
    possible, and `kept` the kept axes in the order the result (outer, inner) holds them.
    """
    shape = x.shape
    ndim = len(shape)
    if x.flags.c_contiguous:
        order = range(ndim)
    else:
        strides = x.strides
        order = sorted(range(ndim), key=lambda k: -abs(strides[k]))
    ones = [k for k in order if shape[k] == 1]
    dims = [k for k in order if shape[k] != 1]
    where = [i for i, k in enumerate(dims) if k in axes]
    if where and where[-1] - where[0] + 1 == len(where):     # one consecutive block
        outer, reduced, inner = dims[:where[0]], dims[where[0]:where[-1] + 1], dims[where[-1] + 1:]
    else:                       # none reduced (all size 1), or scattered: reduced go last
        outer = [k for k in dims if k not in axes]
        reduced = [k for k in dims if k in axes]
        inner = []
    perm = ones + outer + reduced + inner
    xp = x if perm == list(range(ndim)) else x.transpose(perm)
    x3 = xp.reshape(math.prod(shape[k] for k in outer), math.prod(shape[k] for k in reduced),
                    math.prod(shape[k] for k in inner))
    return x3, outer + inner


def _finish(out, x, axes, kept, keepdim):
    """(outer, inner) kernel output -> the reference's shape and axis order."""
    shape = x.shape
    if kept != sorted(kept):    # the kernel saw the kept axes in memory order
        out = out.reshape([shape[k] for k in kept]).transpose(np.argsort(kept))
    final = tuple(1 if k in axes else n for k, n in enumerate(shape)) if keepdim else \
        tuple(n for k, n in enumerate(shape) if k not in axes)
    return out.reshape(final)


def _empty_error(op):
    return ValueError(f"zero-size array to reduction operation {_NAMES[op]} which has no "
                      f"identity")


def _reduce(x, axes, keepdim, op):
    if x.__class__ is not _ndarray:
        x = np.asarray(x)
    axes, k, j = _axes_plan(axes, x.ndim)
    read, work, result = _dtypes(op, x.dtype)
    if not axes:
        return x.astype(result)                            # always a copy
    if read is not x.dtype and read != x.dtype:
        x = x.astype(read)
    shape = x.shape
    kept = None
    if (k or j) and x.flags.c_contiguous:
        # The common cases need no planning: reduced axes innermost (softmax-like, full
        # reductions) or outermost (sums over the batch): x3 is a view.
        if k:
            lead = shape[:-k]
            x3 = x.reshape(math.prod(lead), math.prod(shape[-k:]), 1)
            final = lead + (1,) * k if keepdim else lead
        else:
            rest = shape[j:]
            x3 = x.reshape(1, math.prod(shape[:j]), math.prod(rest))
            final = (1,) * j + rest if keepdim else rest
    else:
        if op > PROD and 0 in [shape[a] for a in axes]:
            raise _empty_error(op)
        x3, kept = _arrange(x, axes)
    outer, n, inner = x3.shape
    if n == 0 and op > PROD:
        raise _empty_error(op)
    if inner == 1:
        out = _reduce_rows(x3.reshape(outer, n), op, work)
    elif op in _MIDDLE:
        out = np.empty((outer, inner), dtype=work)
        launch(_MIDDLE[op], x3, out)
    else:                      # argmax, logsumexp: as rows, at the cost of one copy
        rows = x3.transpose(0, 2, 1).reshape(outer * inner, n)
        out = _reduce_rows(rows, op, work).reshape(outer, inner)
    out = out.reshape(final) if kept is None else _finish(out, x, axes, kept, keepdim)
    return out if out.dtype == result else out.astype(result)


def _reduce_rows(x2, op, work):
    rows, n = x2.shape
    if rows * n < _PARALLEL_SIZE:
        out = np.empty(rows, dtype=work)
        launch(_ROWS[op], x2, out)
        return out
    # The threaded kernel holds all seven ops, so it is slow to compile (seconds): it
    # always writes float64 for float input (int64 for integers), which every op's
    # result fits exactly, so that one compiled version per input dtype serves all.
    wide = _F64 if x2.dtype.kind == "f" else x2.dtype
    out = np.empty(rows, dtype=wide)
    if rows >= _CHUNKS or op in (ARGMAX, ARGMIN, LOGSUMEXP) or not x2.flags.c_contiguous:
        launch(reduce_parallel_forward_kernel, x2, out, op)
    else:
        # A few long rows: cut each into _CHUNKS pieces, reduce those in parallel, then
        # the partial results (plus the leftover tail of each row) serially.
        length = n // _CHUNKS
        head = x2[:, :length * _CHUNKS].reshape(rows * _CHUNKS, length)
        partial = np.empty(rows * _CHUNKS, dtype=wide)
        launch(reduce_parallel_forward_kernel, head, partial, op)
        parts = partial.reshape(rows, _CHUNKS)
        if n % _CHUNKS:
            tail = np.empty(rows, dtype=wide)
            launch(_ROWS[op], x2[:, length * _CHUNKS:], tail)
            parts = np.concatenate([parts, tail[:, None]], axis=1)
        launch(_ROWS[op], parts, out)
    return out.astype(work, copy=False)


# ---- the table ------------------------------------------------------------------------
def sum(x, axes, keepdim):
    return _reduce(x, axes, keepdim, SUM)


def prod(x, axes, keepdim):
    return _reduce(x, axes, keepdim, PROD)


def amax(x, axes, keepdim):
    return _reduce(x, axes, keepdim, AMAX)


def amin(x, axes, keepdim):
    return _reduce(x, axes, keepdim, AMIN)


def _arg(x, axis, keepdim, op):
    x = x if x.__class__ is _ndarray else np.asarray(x)
    if axis is None:
        out = _reduce(x.reshape(-1), (0,), False, op) if x.size else None
        if out is None:
            raise ValueError(f"attempt to get {_NAMES[op]} of an empty sequence")
        return out.reshape((1,) * x.ndim) if keepdim else out
    (axis,) = _normalize_axes(axis, x.ndim)
    if x.shape[axis] == 0:
        raise ValueError(f"attempt to get {_NAMES[op]} of an empty sequence")
    return _reduce(x, (axis,), keepdim, op)


def argmax(x, axis, keepdim):
    """Index of the first maximum along one axis (axis None: of the flattened input)."""
    return _arg(x, axis, keepdim, ARGMAX)


def argmin(x, axis, keepdim):
    return _arg(x, axis, keepdim, ARGMIN)


def logsumexp(x, axes, keepdim):
    """log Σ exp(x), shifted by the max so that exp never overflows."""
    return _reduce(x, axes, keepdim, LOGSUMEXP)


def sum_to_shape(x, shape):
    """Sum a broadcast result back down to `shape` (the gradient of broadcasting)."""
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and x.shape[i + lead] != 1)
    out = _reduce(x, axes, True, SUM) if axes else x
    return out.reshape(shape)
