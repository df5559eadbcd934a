"""softmax / log_softmax along one axis on the `cuda` device, and their gradients.

Same values as kernels/reference/softmax.py. The naive version is three kernels and
two temporaries (max, exp-and-sum, divide): read 3N, write 2N. Here one program owns
BLOCK_R whole rows of the (rows, C) view with the axis last (a view when the strides
allow, else one packed copy) and makes two passes over them:
  1. online max and sum: per lane m = max seen, s = Σ exp(x - m), rescaled by
     exp(m_old - m_new) when the max grows (Milakov & Gimelshein), lanes combined
     at the end: read N;
  2. write exp(x - M) / S (or x - M - log S): read N, write N.
Subtracting the row max keeps exp from overflowing for any logits. The backward
kernels are the same shape: pass 1 reduces Σ g·y (softmax) or Σ g (log_softmax),
pass 2 writes y (g - Σ g y) or g - exp(y) Σ g. fp16 is computed in fp32.
The result is contiguous in the permuted layout and handed back as a permuted view.
"""
import builtins

import numpy as np
import triton
import triton.language as tl

from kernels.triton import _launch
from kernels.triton.buffer import empty
from kernels.triton.movement import permute, reshape


@triton.jit
def softmax_forward_kernel(x_ptr, out_ptr, R, C, stride_r, stride_c, LOG: tl.constexpr,
                           F64: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < R
    cols0 = tl.arange(0, BLOCK_C)
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    m = tl.full([BLOCK_R, BLOCK_C], float("-inf"), acc_dtype)
    s = tl.zeros([BLOCK_R, BLOCK_C], acc_dtype)
    for start in range(0, C, BLOCK_C):
        cols = start + cols0
        mask = row_mask[:, None] & (cols < C)[None, :]
        v = tl.load(x_ptr + rows[:, None] * stride_r + cols[None, :] * stride_c, mask=mask,
                    other=float("-inf")).to(acc_dtype)
        m_new = tl.maximum(m, v)
        shift = tl.where(m_new == float("-inf"), 0.0, m_new)
        s = s * tl.exp(m - shift) + tl.exp(v - shift)
        m = m_new
    row_max = tl.max(m, axis=1)
    shift = tl.where(row_max == float("-inf"), 0.0, row_max)
    # A lane that saw only -inf (or only masked columns) adds nothing.
    lane = tl.where(m == float("-inf"), 0.0, s * tl.exp(m - shift[:, None]))
    total = tl.sum(lane, axis=1)
    for start in range(0, C, BLOCK_C):
        cols = start + cols0
        mask = row_mask[:, None] & (cols < C)[None, :]
        v = tl.load(x_ptr + rows[:, None] * stride_r + cols[None, :] * stride_c,
                    mask=mask, other=0.0).to(acc_dtype)
        if LOG:
            y = v - shift[:, None] - tl.log(total)[:, None]
        else:
            y = tl.exp(v - shift[:, None]) / total[:, None]
        tl.store(out_ptr + rows[:, None] * C + cols[None, :], y.to(out_ptr.dtype.element_ty),
                 mask=mask)


@triton.jit
def softmax_backward_kernel(y_ptr, g_ptr, out_ptr, R, C, stride_yr, stride_yc,
                            stride_gr, stride_gc, LOG: tl.constexpr,
                            F64: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < R
    cols0 = tl.arange(0, BLOCK_C)
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    acc = tl.zeros([BLOCK_R, BLOCK_C], acc_dtype)
    for start in range(0, C, BLOCK_C):
        cols = start + cols0
        mask = row_mask[:, None] & (cols < C)[None, :]
        g = tl.load(g_ptr + rows[:, None] * stride_gr + cols[None, :] * stride_gc, mask=mask,
                    other=0.0).to(acc_dtype)
        if LOG:
            acc += g
        else:
            y = tl.load(y_ptr + rows[:, None] * stride_yr + cols[None, :] * stride_yc,
                        mask=mask, other=0.0).to(acc_dtype)
            acc += g * y
    total = tl.sum(acc, axis=1)[:, None]
    for start in range(0, C, BLOCK_C):
        cols = start + cols0
        mask = row_mask[:, None] & (cols < C)[None, :]
        g = tl.load(g_ptr + rows[:, None] * stride_gr + cols[None, :] * stride_gc, mask=mask,
                    other=0.0).to(acc_dtype)
        y = tl.load(y_ptr + rows[:, None] * stride_yr + cols[None, :] * stride_yc, mask=mask,
                    other=0.0).to(acc_dtype)
        if LOG:
            dx = g - tl.exp(y) * total
        else:
            dx = y * (g - total)
        tl.store(out_ptr + rows[:, None] * C + cols[None, :], dx.to(out_ptr.dtype.element_ty),
                 mask=mask)


def _rows(x, axis):
    """x with `axis` last as a (rows, C) view; the permutation and its inverse."""
    axis = axis % x.ndim
    perm = tuple(d for d in range(x.ndim) if d != axis) + (axis,)
    inverse = tuple(int(i) for i in np.argsort(perm))
    moved = permute(x, perm)
    cols = x.shape[axis]
    rows = x.size // cols if cols else 0
    return reshape(moved, (rows, cols)), moved.shape, inverse


def _blocks(rows, cols):
    block_c = builtins.max(16, builtins.min(_launch.next_pow2(cols), _launch.TILE_ELEMENTS))
    block_r = builtins.max(1, builtins.min(_launch.next_pow2(rows),
                                           _launch.TILE_ELEMENTS // block_c))
    return block_r, block_c


def _forward(x, axis, log):
    view, moved_shape, inverse = _rows(x, axis)
    rows, cols = view.shape
    out = empty((rows, cols), x.dtype)
    if out.size:
        block_r, block_c = _blocks(rows, cols)
        softmax_forward_kernel[(_launch.cdiv(rows, block_r),)](
            view.ptr(), out.ptr(), rows, cols, view.strides[0], view.strides[1], LOG=log,
            F64=x.dtype == np.float64,
            BLOCK_R=block_r, BLOCK_C=block_c)
    return permute(reshape(out, moved_shape), inverse)


def _backward(y, grad, axis, log):
    yv, moved_shape, inverse = _rows(y, axis)
    gv, _, _ = _rows(grad, axis)
    rows, cols = yv.shape
    out = empty((rows, cols), grad.dtype)
    if out.size:
        block_r, block_c = _blocks(rows, cols)
        softmax_backward_kernel[(_launch.cdiv(rows, block_r),)](
            yv.ptr(), gv.ptr(), out.ptr(), rows, cols, yv.strides[0], yv.strides[1],
            gv.strides[0], gv.strides[1], LOG=log,
            F64=y.dtype == np.float64, BLOCK_R=block_r, BLOCK_C=block_c)
    return permute(reshape(out, moved_shape), inverse)


def softmax(x, axis):
    return _forward(x, axis, False)


def log_softmax(x, axis):
    return _forward(x, axis, True)


def softmax_backward(y, grad, axis):
    """dx = y (g - Σ g y), from the saved output y."""
    return _backward(y, grad, axis, False)


def log_softmax_backward(y, grad, axis):
    """dx = g - softmax Σ g, from the saved output y = log_softmax(x)."""
    return _backward(y, grad, axis, True)
