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
- amax/amin/argmax propagate NaN as numpy does (a NaN wins; argmax returns the first).
- Large inputs run on all threads (prange) over rows: one kernel switching on the op
  per row, so that tiny reductions keep the ~0.2 µs serial call and large ones split.
  A full reduction of a large contiguous input (one row) is first cut into
  `_CHUNKS` rows of partial results.
- float16, which Numba cannot load, is reduced in float32 and rounded at the end.
"""
import math

import numba
import numpy as np
from numba import prange

_ndarray = np.ndarray
_F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)
_INTP = np.dtype(np.intp)

SUM, PROD, AMAX, AMIN, ARGMAX, ARGMIN, LOGSUMEXP = range(7)
_NAMES = ("sum", "prod", "maximum", "minimum", "argmax", "argmin", "logsumexp")
_PARALLEL_SIZE = 1 << 17      # elements: below this a thread launch (~1 µs) does not pay
_CHUNKS = 64                  # rows a large full reduction is cut into


# ---- one row ----------------------------------------------------------------------------
@numba.njit(cache=True, fastmath={"reassoc"})
def _sum_row(row, acc):
    for j in range(row.shape[0]):
        acc += row[j]
    return acc


@numba.njit(cache=True, fastmath={"reassoc"})
def _prod_row(row, acc):
    for j in range(row.shape[0]):
        acc *= row[j]
    return acc


@numba.njit(cache=True)
def _amax_row(row):
    m = row[0]
    for j in range(1, row.shape[0]):
        v = row[j]
        if v > m:
            m = v
        elif v != v:             # NaN wins and stays
            return v
    return m


@numba.njit(cache=True)
def _amin_row(row):
    m = row[0]
    for j in range(1, row.shape[0]):
        v = row[j]
        if v < m:
            m = v
        elif v != v:
            return v
    return m


@numba.njit(cache=True)
def _argmax_row(row):
    m = row[0]
    if m != m:
        return 0
    best = 0
    for j in range(1, row.shape[0]):
        v = row[j]
        if v > m:
            m = v
            best = j
        elif v != v:
            return j
    return best


@numba.njit(cache=True)
def _argmin_row(row):
    m = row[0]
    if m != m:
        return 0
    best = 0
    for j in range(1, row.shape[0]):
        v = row[j]
        if v < m:
            m = v
            best = j
        elif v != v:
            return j
    return best


@numba.njit(cache=True)
def _logsumexp_row(row):
    m = _amax_row(row)
    # Shift by the max so exp never overflows; an infinite or NaN max shifts by 0, so
    # a row of -inf gives log(0) = -inf, +inf gives inf and NaN gives NaN (as numpy).
    shift = m if m - m == 0 else 0
    s = 0.0
    for j in range(row.shape[0]):
        s += np.exp(row[j] - shift)
    return np.log(s) + shift


# ---- rows kernels: x (rows, n) -> out (rows,) -------------------------------------------
@numba.njit(cache=True)
def sum_forward_kernel(x, out):
    zero = out.dtype.type(0)
    for r in range(x.shape[0]):
        out[r] = _sum_row(x[r], zero)


@numba.njit(cache=True)
def prod_forward_kernel(x, out):
    one = out.dtype.type(1)
    for r in range(x.shape[0]):
        out[r] = _prod_row(x[r], one)


@numba.njit(cache=True)
def amax_forward_kernel(x, out):
    for r in range(x.shape[0]):
        out[r] = _amax_row(x[r])


@numba.njit(cache=True)
def amin_forward_kernel(x, out):
    for r in range(x.shape[0]):
        out[r] = _amin_row(x[r])


@numba.njit(cache=True)
def argmax_forward_kernel(x, out):
    for r in range(x.shape[0]):
        out[r] = _argmax_row(x[r])


@numba.njit(cache=True)
def argmin_forward_kernel(x, out):
    for r in range(x.shape[0]):
        out[r] = _argmin_row(x[r])


@numba.njit(cache=True)
def logsumexp_forward_kernel(x, out):
    for r in range(x.shape[0]):
        out[r] = _logsumexp_row(x[r])


@numba.njit(cache=True, parallel=True)
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
def sum_middle_forward_kernel(x, out):
    for o in range(x.shape[0]):
        acc = out[o]
        acc[:] = 0
        for k in range(x.shape[1]):
            row = x[o, k]
            for i in range(acc.shape[0]):
                acc[i] += row[i]


@numba.njit(cache=True)
def prod_middle_forward_kernel(x, out):
    for o in range(x.shape[0]):
        acc = out[o]
        acc[:] = 1
        for k in range(x.shape[1]):
            row = x[o, k]
            for i in range(acc.shape[0]):
                acc[i] *= row[i]


@numba.njit(cache=True)
def amax_middle_forward_kernel(x, out):
    for o in range(x.shape[0]):
        m = out[o]
        m[:] = x[o, 0]
        for k in range(1, x.shape[1]):
            row = x[o, k]
            for i in range(m.shape[0]):
                v = row[i]
                if v > m[i] or v != v:
                    m[i] = v


@numba.njit(cache=True)
def amin_middle_forward_kernel(x, out):
    for o in range(x.shape[0]):
        m = out[o]
        m[:] = x[o, 0]
        for k in range(1, x.shape[1]):
            row = x[o, k]
            for i in range(m.shape[0]):
                v = row[i]
                if v < m[i] or v != v:
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
        read = _F32 if dtype == _F16 else dtype
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
            # The reference's max goes through np.where(..., m, 0), so bools become ints.
            read = np.dtype(np.int64) if dtype.kind == "b" else read
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


def _finish(out, x, axes, kept, keepdim, result):
    """(outer, inner) kernel output -> the reference's shape, axis order and dtype."""
    shape = x.shape
    if kept != sorted(kept):    # the kernel saw the kept axes in memory order
        out = out.reshape([shape[k] for k in kept]).transpose(np.argsort(kept))
    final = tuple(1 if k in axes else n for k, n in enumerate(shape)) if keepdim else \
        tuple(n for k, n in enumerate(shape) if k not in axes)
    out = out.reshape(final)
    return out if out.dtype == result else out.astype(result)


def _reduce(x, axes, keepdim, op):
    x = x if x.__class__ is _ndarray else np.asarray(x)
    read, work, result = _dtypes(op, x.dtype)
    axes = _normalize_axes(axes, x.ndim)
    if not axes:
        return x.astype(result)                            # always a copy
    n = math.prod(x.shape[k] for k in axes)
    if n == 0 and op not in (SUM, PROD):
        raise ValueError(f"zero-size array to reduction operation {_NAMES[op]} which has "
                         f"no identity")
    if read != x.dtype:
        x = x.astype(read)
    ndim = x.ndim
    if x.flags.c_contiguous and axes == tuple(range(ndim - len(axes), ndim)):
        # The common case, reduced axes innermost: a 2-D view, no planning.
        x3 = x.reshape(x.size // n if n else math.prod(x.shape[:ndim - len(axes)]), n, 1)
        kept = list(range(ndim - len(axes)))
    else:
        x3, kept = _arrange(x, axes)
    outer, n, inner = x3.shape
    if inner == 1:
        out = _reduce_rows(x3.reshape(outer, n), op, work)
    else:
        out = np.empty((outer, inner), dtype=work)
        if op in _MIDDLE:
            _MIDDLE[op](x3, out)
        else:                  # argmax, logsumexp: as rows, at the cost of one copy
            rows = x3.transpose(0, 2, 1).reshape(outer * inner, n)
            out = _reduce_rows(rows, op, work).reshape(outer, inner)
    return _finish(out, x, axes, kept, keepdim, result)


def _reduce_rows(x2, op, work):
    rows, n = x2.shape
    out = np.empty(rows, dtype=work)
    if rows * n < _PARALLEL_SIZE:
        _ROWS[op](x2, out)
    elif rows >= _CHUNKS or op in (ARGMAX, ARGMIN, LOGSUMEXP) or not x2.flags.c_contiguous:
        reduce_parallel_forward_kernel(x2, out, op)
    else:
        # A few long rows: cut each into _CHUNKS pieces, reduce those in parallel, then
        # the partial results (plus the leftover tail of each row) serially.
        length = n // _CHUNKS
        head = x2[:, :length * _CHUNKS].reshape(rows * _CHUNKS, length)
        partial = np.empty(rows * _CHUNKS, dtype=work)
        reduce_parallel_forward_kernel(head, partial, op)
        parts = partial.reshape(rows, _CHUNKS)
        if n % _CHUNKS:
            tail = np.empty(rows, dtype=work)
            _ROWS[op](x2[:, length * _CHUNKS:], tail)
            parts = np.concatenate([parts, tail[:, None]], axis=1)
        _ROWS[op](parts, out)
    return out


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
