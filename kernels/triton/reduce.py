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

Few long rows: split the columns (two stages). A program runs on one SM, so the
grid above has cdiv(R, BLOCK_R) programs: a full reduction (`x.sum()`, `x.argmax()`:
R = 1) or `x.sum(0)` of a tall tensor (few rows of many columns) streams all R*C
elements through one or a handful of the H100's 132 SMs. A 4096x32000 fp32 sum reads
524 MB: ~10 ms at the ~50 GB/s one SM can pull, ~0.2 ms at the chip's ~3 TB/s
(estimates from bandwidth, not measured). So when the row programs are fewer
than PROGRAMS_PER_SM per SM and the rows are long, each row is cut into S chunks of
`chunk` columns (a multiple of BLOCK_C):

    stage 1, grid (row blocks, S):  part[r, j] = reduce(x[r, j*chunk : (j+1)*chunk])
    stage 2, grid (row blocks, 1):  out[r]     = reduce(part[r, 0..S-1]), in order j = 0..S-1

Stage 1 is the same kernel as above, over a column range; stage 2 is that kernel
again over the (R, S) partials. Traffic: R*C read once as before, plus R*S partials
written and read back (two buffers for the pairs below; S is at most
cdiv(PROGRAMS_PER_SM * SMs, R), so at most 528 per row on an H100): noise next to
R*C, and one extra launch. No atomics: every partial has its own slot and stage 2
reads them in a fixed order, so the result is the same on every run (it depends on
S, i.e. on the SM count: one GPU model, one answer). What a partial holds:
- sum/prod/max/min: the accumulator (fp32 for fp16, int64 for integer sums and
  products), the same kind of value the lanes combine.
- logsumexp: the pair (m, s = Σ exp(x - m)); stage 2 folds pairs with the same online
  rule, a raw element being the pair (x, 1).
- argmax/argmin: the pair (value, first index of it in the chunk), value NaN when the
  chunk holds one (its index then the chunk's first NaN). Chunks are in column order,
  so stage 2's "first index among equal values" and "first NaN" are the global ones.
"""
import builtins
import functools
import math

import numpy as np
import triton
import triton.language as tl

from kernels.triton import _launch
from kernels.triton.buffer import INTERPRET, empty, torch
from kernels.triton.elementwise import astype
from kernels.triton.movement import permute, reshape

# The split-column rule (module knobs: the tests shrink them to force the path). Split
# when the row programs are fewer than PROGRAMS_PER_SM per SM and a row has at least
# SPLIT_MIN_COLS columns, into chunks of at least SPLIT_MIN_CHUNK columns: below that a
# row is a few µs of one program, about the cost of the second launch. The interpreter
# has no SMs: a small fixed count stands in (it runs programs one after another, so
# splitting gains nothing there; with its 65536-column blocks a row splits only past
# 65536 columns, and tests/triton/test_cuda_reduce.py shrinks the knobs to force it).
SPLIT_SMS = 4 if INTERPRET else None          # None: the GPU's count, from torch
PROGRAMS_PER_SM = 4
SPLIT_MIN_COLS = 1 << 15
SPLIT_MIN_CHUNK = 1 << 13

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
def reduce_rows_kernel(x_ptr, s_ptr, out_ptr, out_s_ptr, R, C, chunk, stride_r, stride_c,
                       OP: tl.constexpr, ACC_F32: tl.constexpr, ACC_I64: tl.constexpr,
                       INIT: tl.constexpr, PAIRS_IN: tl.constexpr, PAIRS_OUT: tl.constexpr,
                       BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    """Program (i, j) reduces rows i*BLOCK_R.. over columns [j*chunk, (j+1)*chunk) into
    out[row, j] of an (R, programs along axis 1) output: one chunk = the whole row.

    logsumexp only: PAIRS_IN reads x as the maxima m and s_ptr (same strides) as the
    Σ exp(x - m) of stage-1 partials; PAIRS_OUT writes (m, s) to out/out_s, not the log.
    """
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < R
    c_lo = tl.program_id(1).to(tl.int64) * chunk
    c_hi = tl.minimum(c_lo + chunk, C)
    cols0 = tl.arange(0, BLOCK_C)
    acc_dtype = x_ptr.dtype.element_ty
    if ACC_F32:
        acc_dtype = tl.float32
    if ACC_I64:
        acc_dtype = tl.int64
    acc = tl.full([BLOCK_R, BLOCK_C], INIT, acc_dtype)
    s = tl.zeros([BLOCK_R, BLOCK_C], acc_dtype)
    for start in range(c_lo, c_hi, BLOCK_C):
        cols = start + cols0
        mask = row_mask[:, None] & (cols < c_hi)[None, :]
        offsets = rows[:, None] * stride_r + cols[None, :] * stride_c
        v = tl.load(x_ptr + offsets, mask=mask)
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
            if PAIRS_IN:  # a partial (m_j, s_j) adds s_j exp(m_j - shift); an element, 1
                w = tl.load(s_ptr + offsets, mask=mask, other=0.0)
                s = s * tl.exp(acc - shift) + w * tl.exp(v - shift)
            else:
                s = s * tl.exp(acc - shift) + tl.exp(v - shift)
            acc = m_new
    out_at = rows * tl.num_programs(1) + tl.program_id(1)
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
        if PAIRS_OUT:
            tl.store(out_s_ptr + out_at, total.to(out_s_ptr.dtype.element_ty), mask=row_mask)
            out = m
        else:
            out = tl.log(total) + shift
    tl.store(out_ptr + out_at, out.to(out_ptr.dtype.element_ty), mask=row_mask)


# "no index here": larger than any column index
NO_INDEX = tl.constexpr(2 ** 62)


@triton.jit
def arg_rows_kernel(x_ptr, i_ptr, out_ptr, out_v_ptr, R, C, chunk, stride_r, stride_c,
                    IS_MAX: tl.constexpr, INIT: tl.constexpr, PAIRS_IN: tl.constexpr,
                    PAIRS_OUT: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    """Program (i, j): the first arg-extremum of rows i*BLOCK_R.. over columns
    [j*chunk, (j+1)*chunk), into out[row, j]. PAIRS_IN: x holds stage-1 values and i_ptr
    (same strides) their indices; PAIRS_OUT: also write the value (NaN if one was met)."""
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < R
    c_lo = tl.program_id(1).to(tl.int64) * chunk
    c_hi = tl.minimum(c_lo + chunk, C)
    cols0 = tl.arange(0, BLOCK_C)
    best = tl.full([BLOCK_R], INIT, x_ptr.dtype.element_ty)
    best_i = tl.zeros([BLOCK_R], tl.int64)
    found_nan = tl.zeros([BLOCK_R], tl.int1)
    seen = tl.zeros([BLOCK_R], tl.int1)                 # the first step takes its best
    for start in range(c_lo, c_hi, BLOCK_C):
        cols = start + cols0
        mask = row_mask[:, None] & (cols < c_hi)[None, :]
        offsets = rows[:, None] * stride_r + cols[None, :] * stride_c
        v = tl.load(x_ptr + offsets, mask=mask)
        if PAIRS_IN:
            index = tl.load(i_ptr + offsets, mask=mask, other=NO_INDEX)
        else:
            index = tl.broadcast_to(cols[None, :].to(tl.int64), [BLOCK_R, BLOCK_C])
        nan = (v != v) & mask
        v = tl.where(mask & ~nan, v, INIT)
        if IS_MAX:
            chunk_best = tl.max(v, axis=1)
        else:
            chunk_best = tl.min(v, axis=1)
        chunk_best = chunk_best.to(best.dtype)      # compiled tl.max/min return fp16 as fp32
        hit = (v == chunk_best[:, None]) & mask
        col = tl.min(tl.where(hit, index, NO_INDEX), axis=1)
        if IS_MAX:
            better = chunk_best > best
        else:
            better = chunk_best < best
        better = (better | ~seen) & (col < NO_INDEX) & ~found_nan
        seen = seen | (col < NO_INDEX)
        best_i = tl.where(better, col, best_i)
        best = tl.where(better, chunk_best, best)
        # A NaN is both the max and the min (numpy, torch): the row's first NaN wins.
        nan_col = tl.min(tl.where(nan, index, NO_INDEX), axis=1)
        first_nan = (nan_col < NO_INDEX) & ~found_nan
        best_i = tl.where(first_nan, nan_col, best_i)
        found_nan = found_nan | first_nan
    out_at = rows * tl.num_programs(1) + tl.program_id(1)
    if PAIRS_OUT:
        if x_ptr.dtype.element_ty.is_floating():
            best = tl.where(found_nan, float("nan"), best)
        tl.store(out_v_ptr + out_at, best.to(out_v_ptr.dtype.element_ty), mask=row_mask)
    tl.store(out_ptr + out_at, best_i, mask=row_mask)


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


@functools.lru_cache(maxsize=None)
def _sm_count():
    return torch().cuda.get_device_properties(torch().cuda.current_device()).multi_processor_count


def _split(rows, cols, block_r, block_c):
    """(S, chunk): S chunks of `chunk` columns per row (a multiple of block_c), S = 1
    (one stage, chunk = cols) unless the row programs alone leave SMs idle."""
    sms = SPLIT_SMS or _sm_count()
    wanted = PROGRAMS_PER_SM * sms
    programs = _launch.cdiv(rows, block_r)
    if programs >= wanted or cols < SPLIT_MIN_COLS:
        return 1, cols
    splits = builtins.max(1, builtins.min(_launch.cdiv(wanted, programs),
                                          cols // SPLIT_MIN_CHUNK))
    chunk = _launch.cdiv(_launch.cdiv(cols, splits), block_c) * block_c
    splits = _launch.cdiv(cols, chunk)
    return (1, cols) if splits == 1 else (splits, chunk)


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
    splits, chunk = _split(rows, cols, block_r, block_c)
    flags = dict(OP=op, ACC_F32=acc_f32, ACC_I64=acc_i64, INIT=init)
    if splits == 1:
        reduce_rows_kernel[(_launch.cdiv(rows, block_r), 1)](
            view.ptr(), view.ptr(), out.ptr(), out.ptr(), rows, cols, cols, *view.strides,
            **flags, PAIRS_IN=False, PAIRS_OUT=False, BLOCK_R=block_r, BLOCK_C=block_c)
        return out
    acc_dtype = np.float32 if acc_f32 else np.int64 if acc_i64 else x.dtype
    part = empty((rows, splits), acc_dtype)
    part_s = empty((rows, splits), acc_dtype) if op == LSE else part
    reduce_rows_kernel[(_launch.cdiv(rows, block_r), splits)](
        view.ptr(), view.ptr(), part.ptr(), part_s.ptr(), rows, cols, chunk, *view.strides,
        **flags, PAIRS_IN=False, PAIRS_OUT=op == LSE, BLOCK_R=block_r, BLOCK_C=block_c)
    block_r, block_c = _blocks(rows, splits)
    flags["ACC_F32"] = False                            # the partials are the accumulator
    reduce_rows_kernel[(_launch.cdiv(rows, block_r), 1)](
        part.ptr(), part_s.ptr(), out.ptr(), out.ptr(), rows, splits, splits, splits, 1,
        **flags, PAIRS_IN=op == LSE, PAIRS_OUT=False, BLOCK_R=block_r, BLOCK_C=block_c)
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
    splits, chunk = _split(rows, cols, block_r, block_c)
    flags = dict(IS_MAX=is_max, INIT=_extreme(x.dtype, high=not is_max))
    if splits == 1:
        arg_rows_kernel[(_launch.cdiv(rows, block_r), 1)](
            view.ptr(), view.ptr(), out.ptr(), out.ptr(), rows, cols, cols, *view.strides,
            **flags, PAIRS_IN=False, PAIRS_OUT=False, BLOCK_R=block_r, BLOCK_C=block_c)
        return out
    part_i = empty((rows, splits), np.int64)
    part_v = empty((rows, splits), x.dtype)
    arg_rows_kernel[(_launch.cdiv(rows, block_r), splits)](
        view.ptr(), view.ptr(), part_i.ptr(), part_v.ptr(), rows, cols, chunk, *view.strides,
        **flags, PAIRS_IN=False, PAIRS_OUT=True, BLOCK_R=block_r, BLOCK_C=block_c)
    block_r, block_c = _blocks(rows, splits)
    arg_rows_kernel[(_launch.cdiv(rows, block_r), 1)](
        part_v.ptr(), part_i.ptr(), out.ptr(), out.ptr(), rows, splits, splits, splits, 1,
        **flags, PAIRS_IN=True, PAIRS_OUT=False, BLOCK_R=block_r, BLOCK_C=block_c)
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
