"""Reductions on the `cuda` device: every one is a row reduction of a 2-d view.

Same results as kernels/reference/reduce.py (numpy's dtypes: integer and bool sums
and products are int64). The reduced axes are permuted last and the view reshaped
to (R rows, C columns): a view when the strides allow (reducing the last axes of a
contiguous tensor, or any axes of one that merge), else one packed copy. Then one
program reduces BLOCK_R rows, walking the columns BLOCK_C at a time:

    for each row r:  acc = identity;  for c in range(C): acc = op(acc, x[r, c])

Reads R*C elements once, writes R. Each lane of the (BLOCK_R, BLOCK_C) tile keeps its
own accumulator and the lanes are combined once at the end (a tree), so a sum adds
C/BLOCK_C values in sequence, not C: the rounding error of a long fp32 sum stays
near that of numpy's pairwise sum. fp16 accumulates in fp32.
- max/min: masked lanes hold -inf/+inf (the dtype's extremes for integers); NaN wins
  (a > b or a is NaN), as in numpy.
- argmax/argmin: per chunk, the best value and its first column; a later chunk
  replaces it only when strictly better, so the first extremum wins (numpy's rule).
- logsumexp: online, per lane: m = max seen, s = Σ exp(x - m), rescaled when m grows;
  lanes combine as S = Σ s exp(m - M). One read of x, no exp overflow, and an all
  -inf row gives -inf (m is taken as 0 there, as the reference does).
"""
import builtins
import math

import numpy as np
import triton
import triton.language as tl

from kernels.triton import _launch
from kernels.triton.buffer import empty
from kernels.triton.elementwise import astype
from kernels.triton.movement import permute, reshape

# tl.constexpr: the kernel compares OP with these globals (plain ints do not compile)
SUM, PROD, MAX, MIN, LSE = map(tl.constexpr, range(5))


@triton.jit
def _max_nan(a, b):
    return tl.where((a > b) | (a != a), a, b)


@triton.jit
def _min_nan(a, b):
    return tl.where((a < b) | (a != a), a, b)


@triton.jit
def _mul(a, b):
    return a * b


@triton.jit
def reduce_rows_kernel(x_ptr, out_ptr, R, C, stride_r, stride_c,
                       OP: tl.constexpr, ACC_F32: tl.constexpr, ACC_I64: tl.constexpr,
                       INIT: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < R
    cols0 = tl.arange(0, BLOCK_C)
    base = x_ptr + rows[:, None] * stride_r
    acc_dtype = x_ptr.dtype.element_ty
    if ACC_F32:
        acc_dtype = tl.float32
    if ACC_I64:
        acc_dtype = tl.int64
    acc = tl.full([BLOCK_R, BLOCK_C], INIT, acc_dtype)
    s = tl.zeros([BLOCK_R, BLOCK_C], acc_dtype)
    for start in range(0, C, BLOCK_C):
        cols = start + cols0
        mask = row_mask[:, None] & (cols < C)[None, :]
        v = tl.load(base + cols[None, :] * stride_c, mask=mask)
        if ACC_F32:
            v = v.to(tl.float32)
        if ACC_I64:
            v = v.to(tl.int64)
        v = tl.where(mask, v, INIT)
        if OP == SUM:
            acc = acc + v
        elif OP == PROD:
            acc = acc * v
        elif OP == MAX:
            acc = _max_nan(acc, v)
        elif OP == MIN:
            acc = _min_nan(acc, v)
        else:  # LSE: acc is the running max m, s the running sum of exp(x - m)
            m_new = _max_nan(acc, v)
            shift = tl.where(m_new == float("-inf"), 0.0, m_new)
            s = s * tl.exp(acc - shift) + tl.exp(v - shift)
            acc = m_new
    if OP == SUM:
        out = tl.sum(acc, axis=1)
    elif OP == PROD:
        out = tl.reduce(acc, 1, _mul)
    elif OP == MAX:
        out = tl.reduce(acc, 1, _max_nan)
    elif OP == MIN:
        out = tl.reduce(acc, 1, _min_nan)
    else:
        m = tl.reduce(acc, 1, _max_nan)
        shift = tl.where(m == float("-inf"), 0.0, m)
        # A lane that saw only -inf (or only masked columns) adds nothing.
        lane = tl.where(acc == float("-inf"), 0.0, s * tl.exp(acc - shift[:, None]))
        total = tl.sum(lane, axis=1)
        out = tl.log(total) + shift
    tl.store(out_ptr + rows, out.to(out_ptr.dtype.element_ty), mask=row_mask)


@triton.jit
def arg_rows_kernel(x_ptr, out_ptr, R, C, stride_r, stride_c, IS_MAX: tl.constexpr,
                    INIT: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < R
    cols0 = tl.arange(0, BLOCK_C)
    base = x_ptr + rows[:, None] * stride_r
    best = tl.full([BLOCK_R], INIT, x_ptr.dtype.element_ty)
    best_i = tl.zeros([BLOCK_R], tl.int64)
    found_nan = tl.zeros([BLOCK_R], tl.int1)
    for start in range(0, C, BLOCK_C):
        cols = start + cols0
        mask = row_mask[:, None] & (cols < C)[None, :]
        v = tl.load(base + cols[None, :] * stride_c, mask=mask)
        nan = (v != v) & mask
        v = tl.where(mask & ~nan, v, INIT)
        if IS_MAX:
            chunk = tl.max(v, axis=1)
        else:
            chunk = tl.min(v, axis=1)
        hit = (v == chunk[:, None]) & mask
        col = tl.min(tl.where(hit, cols[None, :].to(tl.int64), C), axis=1)
        if IS_MAX:
            better = chunk > best
        else:
            better = chunk < best
        better = (better | ((start == 0) & (col < C))) & ~found_nan
        best_i = tl.where(better, col, best_i)
        best = tl.where(better, chunk, best)
        # A NaN is both the max and the min (numpy, torch): the row's first NaN wins.
        nan_col = tl.min(tl.where(nan, cols[None, :].to(tl.int64), C), axis=1)
        first_nan = (nan_col < C) & ~found_nan
        best_i = tl.where(first_nan, nan_col, best_i)
        found_nan = found_nan | first_nan
    tl.store(out_ptr + rows, best_i, mask=row_mask)


# ---- launching ------------------------------------------------------------------------
def _as_rows(x, axes):
    keep = [d for d in range(x.ndim) if d not in axes]
    rows = math.prod(x.shape[d] for d in keep)
    cols = math.prod(x.shape[d] for d in axes)
    view = reshape(permute(x, tuple(keep) + tuple(axes)), (rows, cols))
    return view, rows, cols


def _blocks(rows, cols):
    block_c = builtins.max(16, builtins.min(_launch.next_pow2(cols), _launch.TILE_ELEMENTS))
    block_r = builtins.max(1, builtins.min(_launch.next_pow2(rows),
                                           _launch.TILE_ELEMENTS // block_c))
    return block_r, block_c


def _extreme(dtype, high):
    if dtype.kind == "f":
        return float("inf") if high else float("-inf")
    if dtype.kind == "b":
        return 1 if high else 0
    info = np.iinfo(dtype)
    return int(info.max if high else info.min)


def _out_shape(shape, axes, keepdim):
    if keepdim:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _reduce(x, axes, keepdim, op, out_dtype=None):
    axes = tuple(sorted(a % builtins.max(x.ndim, 1) for a in axes)) if x.ndim else ()
    out_dtype = np.dtype(out_dtype or x.dtype)
    if not axes:
        return astype(x, out_dtype)
    if x.dtype.kind == "b":
        x = astype(x, out_dtype if out_dtype.kind != "b" else np.int32)
    view, rows, cols = _as_rows(x, axes)
    out = empty(_out_shape(x.shape, axes, keepdim), out_dtype)
    if rows == 0:
        return out
    acc_f32 = x.dtype == np.float16
    acc_i64 = x.dtype.kind in "iu" and op in (SUM, PROD)
    init = {SUM: 0, PROD: 1, LSE: float("-inf")}.get(op)
    if init is None:
        init = _extreme(x.dtype, high=op == MIN)
    if acc_f32 or x.dtype.kind == "f":
        init = float(init)
    block_r, block_c = _blocks(rows, cols)
    reduce_rows_kernel[(_launch.cdiv(rows, block_r),)](
        view.ptr(), out.ptr(), rows, cols, view.strides[0], view.strides[1],
        OP=op, ACC_F32=acc_f32, ACC_I64=acc_i64, INIT=init, BLOCK_R=block_r, BLOCK_C=block_c)
    return out


def _wide(dtype):
    return np.dtype(np.int64) if dtype.kind in "biu" else dtype


def sum(x, axes, keepdim):
    return _reduce(x, axes, keepdim, SUM, _wide(x.dtype))


def prod(x, axes, keepdim):
    return _reduce(x, axes, keepdim, PROD, _wide(x.dtype))


def amax(x, axes, keepdim):
    return _reduce(x, axes, keepdim, MAX)


def amin(x, axes, keepdim):
    return _reduce(x, axes, keepdim, MIN)


def logsumexp(x, axes, keepdim):
    """log Σ exp(x), shifted by the max so that exp never overflows."""
    return _reduce(x, axes, keepdim, LSE)


def _arg(x, axis, keepdim, is_max):
    if x.dtype.kind == "b":
        x = astype(x, np.int32)
    if axis is None:
        view, rows, cols = reshape(x, (1, x.size)), 1, x.size
        shape = (1,) * x.ndim if keepdim else ()
    else:
        view, rows, cols = _as_rows(x, (axis,))
        shape = _out_shape(x.shape, (axis,), keepdim)
    out = empty(shape, np.int64)
    if rows == 0:
        return out
    block_r, block_c = _blocks(rows, cols)
    arg_rows_kernel[(_launch.cdiv(rows, block_r),)](
        view.ptr(), out.ptr(), rows, cols, view.strides[0], view.strides[1], IS_MAX=is_max,
        INIT=_extreme(x.dtype, high=not is_max), BLOCK_R=block_r, BLOCK_C=block_c)
    return out


def argmax(x, axis, keepdim):
    """Index of the first maximum along one axis (axis None: of the flattened input)."""
    return _arg(x, axis, keepdim, True)


def argmin(x, axis, keepdim):
    return _arg(x, axis, keepdim, False)


def sum_to_shape(x, shape):
    """Sum a broadcast result back down to `shape` (the gradient of broadcasting)."""
    shape = tuple(shape)
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and x.shape[i + lead] != 1)
    out = _reduce(x, axes, True, SUM, x.dtype) if axes else x
    return reshape(out, shape)
