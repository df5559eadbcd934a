"""Losses on the `cuda` device: fused softmax cross-entropy, nll_loss, binary cross-entropy.

Same values as kernels/reference/loss.py, same layouts: class-index losses see scores
x (N, C, K) — classes on axis 1, K positions per sample — and int64 targets (N, K);
each (n, k) pair is one *row* of C scores, read through x's three strides (no copy,
whatever view the op layer hands over). They return the per-position loss (N, K) in
x's dtype and `total`, a 0-d float64: Σ w[t] over the rows not ignored.

cross_entropy, the naive way: log_softmax (read CR, write CR), pick and weigh the
target (read CR), a smoothing sum (read CR), then backward softmax - onehot (read 2CR,
write CR). Fused here, one program per BLOCK_R rows:
  forward  pass 1: online max m and sum-exp s per lane (as softmax.py), lanes combined
           to the row's M and S; the target logit x[t] and weight w[t] are gathered
           (one load per row). loss = (1 - ε) w[t] ((M - x[t]) + log S)
           pass 2 (label smoothing only): Σ_c w[c] (M - x[c]), so that
           ε/C Σ_c w[c] (lse - x[c]) = ε/C (Σw log S + Σ_c w[c] (M - x[c])).
           Read CR (2CR with smoothing), write 2R: the loss, lse = M + log S (float64,
           what backward needs), and each row's w[t] for `total`.
  backward one pass: dx[c] = g (p[c] ((1 - ε) w[t] + ε/C Σw) - ε/C w[c] - (1 - ε) w[t]
           [c == t]), p = exp(x - lse): read CR, write CR. The log-softmax is never
           materialized.
Precision: everything is relative to the row max (M - x is exact in fp32 for close
values), so logits of ±1e4 lose nothing; lse is assembled and subtracted in float64
(an fp32 lse near 1e4 would be off by 1e-3, and exp would carry that into p).
fp32 accumulates in fp32, fp64 in fp64; ε arrives as its float64 bits (a Python float
argument would be rounded to fp32). `total` is summed by reduce.sum over the per-row
weights (deterministic, no atomics).
Blocks (as softmax.py): BLOCK_C = next_pow2(C) up to TILE_ELEMENTS (4096 on a GPU,
65536 interpreted), BLOCK_R rows filling the rest of the tile; one program per row
block, so a large vocabulary loops over C in BLOCK_C steps with a few rows a program.

nll_loss: a gather per row (loss -w[t] x[t]); its backward writes the whole (N, C, K)
gradient in one pass (-w[t] g at the target, 0 elsewhere): no fill-then-scatter.

Binary losses are elementwise over x, y (pos_weight, grad) of one shape, any strides
(4-d strided indexing as elementwise.py): one kernel per direction, computing both
gradients at once. log1p, which Triton lacks, is log(1 + u) · u / ((1 + u) - 1)
(Goldberg): exact where 1 + u rounds.
"""
import builtins

import numpy as np
import triton
import triton.language as tl

from kernels.triton import _launch
from kernels.triton.buffer import broadcast_to, empty
from kernels.triton.creation import full
from kernels.triton.elementwise import _split4
from kernels.triton.reduce import sum as _sum


@triton.jit
def _row_addresses(rows, K, stride_n, stride_k):
    return (rows // K) * stride_n + (rows % K) * stride_k


# ---- class-index losses ------------------------------------------------------------------
@triton.jit
def _epsilon(eps_bits, BLOCK_R: tl.constexpr, F64: tl.constexpr):
    """ε per row, from its float64 bits (a float argument would arrive as float32)."""
    eps = (tl.zeros([BLOCK_R], tl.int64) + eps_bits).to(tl.float64, bitcast=True)
    if not F64:
        eps = eps.to(tl.float32)
    return eps


@triton.jit(do_not_specialize=["eps_bits"])
def cross_entropy_forward_kernel(x_ptr, t_ptr, w_ptr, loss_ptr, lse_ptr, wt_ptr, R, C, K,
                                 stride_xn, stride_xc, stride_xk, stride_tn, stride_tk,
                                 stride_w, ignore_index, eps_bits,
                                 HAS_WEIGHT: tl.constexpr, SMOOTH: tl.constexpr,
                                 F64: tl.constexpr, BLOCK_R: tl.constexpr,
                                 BLOCK_C: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < R
    cols0 = tl.arange(0, BLOCK_C)
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    eps = _epsilon(eps_bits, BLOCK_R, F64)
    x_rows = x_ptr + _row_addresses(rows, K, stride_xn, stride_xk)
    m = tl.full([BLOCK_R, BLOCK_C], float("-inf"), acc_dtype)
    s = tl.zeros([BLOCK_R, BLOCK_C], acc_dtype)
    for start in range(0, C, BLOCK_C):
        cols = start + cols0
        mask = row_mask[:, None] & (cols < C)[None, :]
        v = tl.load(x_rows[:, None] + cols[None, :] * stride_xc, mask=mask,
                    other=float("-inf")).to(acc_dtype)
        m_new = tl.maximum(m, v)
        shift = tl.where(m_new == float("-inf"), 0.0, m_new)
        s = s * tl.exp(m - shift) + tl.exp(v - shift)
        m = m_new
    row_max = tl.max(m, axis=1)
    shift = tl.where(row_max == float("-inf"), 0.0, row_max)
    lane = tl.where(m == float("-inf"), 0.0, s * tl.exp(m - shift[:, None]))
    log_s = tl.log(tl.sum(lane, axis=1))

    target = tl.load(t_ptr + _row_addresses(rows, K, stride_tn, stride_tk), mask=row_mask,
                     other=ignore_index)
    valid = row_mask & (target != ignore_index)
    t = tl.where(valid, target, 0)
    x_t = tl.load(x_rows + t * stride_xc, mask=valid, other=0.0).to(acc_dtype)
    if HAS_WEIGHT:
        w_t = tl.load(w_ptr + t * stride_w, mask=valid, other=0.0).to(acc_dtype)
    else:
        w_t = tl.where(valid, 1.0, 0.0).to(acc_dtype)
    loss = (1.0 - eps) * w_t * ((shift - x_t) + log_s)
    if SMOOTH:
        acc = tl.zeros([BLOCK_R, BLOCK_C], acc_dtype)
        w_acc = tl.zeros([BLOCK_C], acc_dtype)
        for start in range(0, C, BLOCK_C):
            cols = start + cols0
            mask = row_mask[:, None] & (cols < C)[None, :]
            v = tl.load(x_rows[:, None] + cols[None, :] * stride_xc, mask=mask,
                        other=0.0).to(acc_dtype)
            if HAS_WEIGHT:
                w = tl.load(w_ptr + cols * stride_w, mask=cols < C, other=0.0).to(acc_dtype)
            else:
                w = tl.where(cols < C, 1.0, 0.0).to(acc_dtype)
            acc += tl.where(mask, w[None, :] * (shift[:, None] - v), 0.0)
            w_acc += w
        smooth = tl.sum(w_acc, axis=0) * log_s + tl.sum(acc, axis=1)
        loss += eps / C * smooth
    loss = tl.where(valid, loss, 0.0)
    tl.store(loss_ptr + rows, loss.to(loss_ptr.dtype.element_ty), mask=row_mask)
    lse = shift.to(tl.float64) + log_s.to(tl.float64)
    tl.store(lse_ptr + rows, lse, mask=row_mask)
    tl.store(wt_ptr + rows, w_t.to(tl.float64), mask=row_mask)


@triton.jit(do_not_specialize=["eps_bits"])
def cross_entropy_backward_kernel(x_ptr, t_ptr, w_ptr, lse_ptr, g_ptr, dx_ptr, R, C, K,
                                  stride_xn, stride_xc, stride_xk, stride_tn, stride_tk,
                                  stride_w, stride_ln, stride_lk, stride_gn, stride_gk,
                                  ignore_index, eps_bits,
                                  HAS_WEIGHT: tl.constexpr, SMOOTH: tl.constexpr,
                                  F64: tl.constexpr, BLOCK_R: tl.constexpr,
                                  BLOCK_C: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < R
    cols0 = tl.arange(0, BLOCK_C)
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    eps = _epsilon(eps_bits, BLOCK_R, F64)
    x_rows = x_ptr + _row_addresses(rows, K, stride_xn, stride_xk)
    dx_rows = dx_ptr + (rows // K) * C * K + rows % K         # dx: (N, C, K) contiguous
    target = tl.load(t_ptr + _row_addresses(rows, K, stride_tn, stride_tk), mask=row_mask,
                     other=ignore_index)
    valid = row_mask & (target != ignore_index)
    t = tl.where(valid, target, 0)
    g = tl.load(g_ptr + _row_addresses(rows, K, stride_gn, stride_gk), mask=valid,
                other=0.0).to(acc_dtype)
    lse = tl.load(lse_ptr + _row_addresses(rows, K, stride_ln, stride_lk), mask=row_mask,
                  other=0.0)
    if HAS_WEIGHT:
        w_t = tl.load(w_ptr + t * stride_w, mask=valid, other=0.0).to(acc_dtype)
    else:
        w_t = tl.full([BLOCK_R], 1.0, acc_dtype)
    wt = (1.0 - eps) * w_t
    scale_p = wt
    if SMOOTH:
        if HAS_WEIGHT:
            w_acc = tl.zeros([BLOCK_C], acc_dtype)
            for start in range(0, C, BLOCK_C):
                cols = start + cols0
                w_acc += tl.load(w_ptr + cols * stride_w, mask=cols < C, other=0.0).to(acc_dtype)
            w_sum = tl.sum(w_acc, axis=0)
        else:
            w_sum = C * 1.0
        scale_p = wt + eps / C * w_sum
    for start in range(0, C, BLOCK_C):
        cols = start + cols0
        mask = row_mask[:, None] & (cols < C)[None, :]
        v = tl.load(x_rows[:, None] + cols[None, :] * stride_xc, mask=mask, other=0.0)
        # x - lse in float64: see the module docstring.
        p = tl.exp((v.to(tl.float64) - lse[:, None]).to(acc_dtype))
        d = p * scale_p[:, None] - tl.where(cols[None, :] == t[:, None], wt[:, None], 0.0)
        if SMOOTH:
            if HAS_WEIGHT:
                w = tl.load(w_ptr + cols * stride_w, mask=cols < C, other=0.0).to(acc_dtype)
            else:
                w = tl.full([BLOCK_C], 1.0, acc_dtype)
            d -= (eps / C)[:, None] * w[None, :]
        d = tl.where(valid[:, None], d * g[:, None], 0.0)
        tl.store(dx_rows[:, None] + cols[None, :] * K, d.to(dx_ptr.dtype.element_ty), mask=mask)


@triton.jit
def nll_loss_forward_kernel(x_ptr, t_ptr, w_ptr, loss_ptr, wt_ptr, R, K,
                            stride_xn, stride_xc, stride_xk, stride_tn, stride_tk, stride_w,
                            ignore_index, HAS_WEIGHT: tl.constexpr, F64: tl.constexpr,
                            BLOCK: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    row_mask = rows < R
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    target = tl.load(t_ptr + _row_addresses(rows, K, stride_tn, stride_tk), mask=row_mask,
                     other=ignore_index)
    valid = row_mask & (target != ignore_index)
    t = tl.where(valid, target, 0)
    x_t = tl.load(x_ptr + _row_addresses(rows, K, stride_xn, stride_xk) + t * stride_xc,
                  mask=valid, other=0.0).to(acc_dtype)
    if HAS_WEIGHT:
        w_t = tl.load(w_ptr + t * stride_w, mask=valid, other=0.0).to(acc_dtype)
    else:
        w_t = tl.where(valid, 1.0, 0.0).to(acc_dtype)
    loss = tl.where(valid, -w_t * x_t, 0.0)
    tl.store(loss_ptr + rows, loss.to(loss_ptr.dtype.element_ty), mask=row_mask)
    tl.store(wt_ptr + rows, w_t.to(tl.float64), mask=row_mask)


@triton.jit
def nll_loss_backward_kernel(g_ptr, t_ptr, w_ptr, dx_ptr, R, C, K, stride_gn, stride_gk,
                             stride_tn, stride_tk, stride_w, ignore_index,
                             HAS_WEIGHT: tl.constexpr, F64: tl.constexpr,
                             BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.program_id(1).to(tl.int64) * BLOCK_C + tl.arange(0, BLOCK_C)
    row_mask = rows < R
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    target = tl.load(t_ptr + _row_addresses(rows, K, stride_tn, stride_tk), mask=row_mask,
                     other=ignore_index)
    valid = row_mask & (target != ignore_index)
    t = tl.where(valid, target, 0)
    g = tl.load(g_ptr + _row_addresses(rows, K, stride_gn, stride_gk), mask=valid,
                other=0.0).to(acc_dtype)
    if HAS_WEIGHT:
        g = g * tl.load(w_ptr + t * stride_w, mask=valid, other=0.0).to(acc_dtype)
    picked = valid[:, None] & (cols[None, :] == t[:, None])
    d = tl.where(picked, -g[:, None], 0.0)
    mask = row_mask[:, None] & (cols < C)[None, :]
    dx_rows = dx_ptr + (rows // K) * C * K + rows % K
    tl.store(dx_rows[:, None] + cols[None, :] * K, d.to(dx_ptr.dtype.element_ty), mask=mask)


def _class_blocks(rows, cols):
    block_c = builtins.max(16, builtins.min(_launch.next_pow2(cols), _launch.TILE_ELEMENTS))
    block_r = builtins.max(1, builtins.min(_launch.next_pow2(rows),
                                           _launch.TILE_ELEMENTS // block_c))
    return block_r, block_c


def _weight_args(weight, x):
    if weight is None:
        return x.ptr(), 0            # never read: HAS_WEIGHT=False
    return weight.ptr(), weight.strides[0]


def _float64_bits(value):
    return int(np.float64(value).view(np.int64))


def _total(wt, rows):
    if rows == 0:
        return full((), 0.0, np.float64)
    return _sum(wt, (0,), False)


def cross_entropy(x, target, weight, ignore_index, label_smoothing):
    n, classes, k = x.shape
    rows = n * k
    loss = empty((n, k), x.dtype)
    lse = empty((n, k), np.float64)
    wt = empty((rows,), np.float64)
    if rows:
        block_r, block_c = _class_blocks(rows, classes)
        w_ptr, stride_w = _weight_args(weight, x)
        cross_entropy_forward_kernel[(_launch.cdiv(rows, block_r),)](
            x.ptr(), target.ptr(), w_ptr, loss.ptr(), lse.ptr(), wt.ptr(), rows, classes, k,
            *x.strides, *target.strides, stride_w, int(ignore_index),
            _float64_bits(label_smoothing),
            HAS_WEIGHT=weight is not None, SMOOTH=label_smoothing > 0,
            F64=x.dtype == np.float64, BLOCK_R=block_r, BLOCK_C=block_c)
    return loss, lse, _total(wt, rows)


def cross_entropy_backward(x, target, weight, lse, grad, ignore_index, label_smoothing):
    n, classes, k = x.shape
    rows = n * k
    dx = empty(x.shape, x.dtype)
    if dx.size:
        block_r, block_c = _class_blocks(rows, classes)
        w_ptr, stride_w = _weight_args(weight, x)
        grad = broadcast_to(grad, (n, k))
        cross_entropy_backward_kernel[(_launch.cdiv(rows, block_r),)](
            x.ptr(), target.ptr(), w_ptr, lse.ptr(), grad.ptr(), dx.ptr(), rows, classes, k,
            *x.strides, *target.strides, stride_w, *lse.strides, *grad.strides,
            int(ignore_index), _float64_bits(label_smoothing),
            HAS_WEIGHT=weight is not None, SMOOTH=label_smoothing > 0,
            F64=x.dtype == np.float64, BLOCK_R=block_r, BLOCK_C=block_c)
    return dx


def nll_loss(x, target, weight, ignore_index):
    n, classes, k = x.shape
    rows = n * k
    loss = empty((n, k), x.dtype)
    wt = empty((rows,), np.float64)
    if rows:
        block = _launch.elementwise_block(rows)
        w_ptr, stride_w = _weight_args(weight, x)
        nll_loss_forward_kernel[(_launch.cdiv(rows, block),)](
            x.ptr(), target.ptr(), w_ptr, loss.ptr(), wt.ptr(), rows, k, *x.strides,
            *target.strides, stride_w, int(ignore_index), HAS_WEIGHT=weight is not None,
            F64=x.dtype == np.float64, BLOCK=block)
    return loss, _total(wt, rows)


def nll_loss_backward(grad, target, weight, ignore_index, classes):
    n, k = target.shape
    rows = n * k
    dx = empty((n, classes, k), grad.dtype)
    if dx.size:
        block_r, block_c = _class_blocks(rows, classes)
        w_ptr, stride_w = _weight_args(weight, grad)
        grad = broadcast_to(grad, (n, k))
        nll_loss_backward_kernel[(_launch.cdiv(rows, block_r), _launch.cdiv(classes, block_c))](
            grad.ptr(), target.ptr(), w_ptr, dx.ptr(), rows, classes, k, *grad.strides,
            *target.strides, stride_w, int(ignore_index), HAS_WEIGHT=weight is not None,
            F64=grad.dtype == np.float64, BLOCK_R=block_r, BLOCK_C=block_c)
    return dx


# ---- binary losses (elementwise) -----------------------------------------------------------
@triton.jit
def _log1p(u):
    one_plus = 1.0 + u
    # Where 1 + u rounds to 1, log1p(u) = u to working precision.
    return tl.where(one_plus == 1.0, u, tl.log(one_plus) * (u / (one_plus - 1.0)))


@triton.jit
def _softplus(z):
    """log(1 + e^z) without overflow."""
    return tl.maximum(z, 0.0) + _log1p(tl.exp(-tl.abs(z)))


@triton.jit
def _offsets4(i, D1, D2, D3, s0, s1, s2, s3):
    i0, i1, i2, i3 = _split4(i, D1, D2, D3)
    return i0 * s0 + i1 * s1 + i2 * s2 + i3 * s3


@triton.jit
def binary_cross_entropy_forward_kernel(x_ptr, y_ptr, out_ptr, n, D1, D2, D3,
                                        sx0, sx1, sx2, sx3, sy0, sy1, sy2, sy3,
                                        so0, so1, so2, so3, F64: tl.constexpr,
                                        BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    x = tl.load(x_ptr + _offsets4(i, D1, D2, D3, sx0, sx1, sx2, sx3), mask=mask,
                other=0.5).to(acc_dtype)
    y = tl.load(y_ptr + _offsets4(i, D1, D2, D3, sy0, sy1, sy2, sy3), mask=mask,
                other=0.0).to(acc_dtype)
    log_x = tl.maximum(tl.log(x), -100.0)                # torch's clamp: no infinite loss
    log_1mx = tl.maximum(_log1p(-x), -100.0)
    loss = -(y * log_x + (1.0 - y) * log_1mx)
    tl.store(out_ptr + _offsets4(i, D1, D2, D3, so0, so1, so2, so3),
             loss.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def binary_cross_entropy_backward_kernel(x_ptr, y_ptr, g_ptr, dx_ptr, dy_ptr, n, D1, D2, D3,
                                         sx0, sx1, sx2, sx3, sy0, sy1, sy2, sy3,
                                         sg0, sg1, sg2, sg3, so0, so1, so2, so3,
                                         F64: tl.constexpr, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    x = tl.load(x_ptr + _offsets4(i, D1, D2, D3, sx0, sx1, sx2, sx3), mask=mask,
                other=0.5).to(acc_dtype)
    y = tl.load(y_ptr + _offsets4(i, D1, D2, D3, sy0, sy1, sy2, sy3), mask=mask,
                other=0.0).to(acc_dtype)
    g = tl.load(g_ptr + _offsets4(i, D1, D2, D3, sg0, sg1, sg2, sg3), mask=mask,
                other=0.0).to(acc_dtype)
    dx = g * (x - y) / tl.maximum(x * (1.0 - x), 1e-12)
    dy = g * (_log1p(-x) - tl.log(x))                    # unclamped, as torch: ±inf at 0, 1
    out = _offsets4(i, D1, D2, D3, so0, so1, so2, so3)
    tl.store(dx_ptr + out, dx.to(dx_ptr.dtype.element_ty), mask=mask)
    tl.store(dy_ptr + out, dy.to(dy_ptr.dtype.element_ty), mask=mask)


@triton.jit
def binary_cross_entropy_with_logits_forward_kernel(
        x_ptr, y_ptr, p_ptr, out_ptr, n, D1, D2, D3, sx0, sx1, sx2, sx3, sy0, sy1, sy2, sy3,
        sp0, sp1, sp2, sp3, so0, so1, so2, so3, HAS_POS: tl.constexpr, F64: tl.constexpr,
        BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    x = tl.load(x_ptr + _offsets4(i, D1, D2, D3, sx0, sx1, sx2, sx3), mask=mask,
                other=0.0).to(acc_dtype)
    y = tl.load(y_ptr + _offsets4(i, D1, D2, D3, sy0, sy1, sy2, sy3), mask=mask,
                other=0.0).to(acc_dtype)
    if HAS_POS:
        p = tl.load(p_ptr + _offsets4(i, D1, D2, D3, sp0, sp1, sp2, sp3), mask=mask,
                    other=1.0).to(acc_dtype)
        loss = (1.0 - y) * x + (1.0 + (p - 1.0) * y) * _softplus(-x)
    else:
        loss = (1.0 - y) * x + _softplus(-x)
    tl.store(out_ptr + _offsets4(i, D1, D2, D3, so0, so1, so2, so3),
             loss.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def binary_cross_entropy_with_logits_backward_kernel(
        x_ptr, y_ptr, p_ptr, g_ptr, dx_ptr, dy_ptr, n, D1, D2, D3, sx0, sx1, sx2, sx3,
        sy0, sy1, sy2, sy3, sp0, sp1, sp2, sp3, sg0, sg1, sg2, sg3, so0, so1, so2, so3,
        HAS_POS: tl.constexpr, F64: tl.constexpr, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    x = tl.load(x_ptr + _offsets4(i, D1, D2, D3, sx0, sx1, sx2, sx3), mask=mask,
                other=0.0).to(acc_dtype)
    y = tl.load(y_ptr + _offsets4(i, D1, D2, D3, sy0, sy1, sy2, sy3), mask=mask,
                other=0.0).to(acc_dtype)
    g = tl.load(g_ptr + _offsets4(i, D1, D2, D3, sg0, sg1, sg2, sg3), mask=mask,
                other=0.0).to(acc_dtype)
    if HAS_POS:
        p = tl.load(p_ptr + _offsets4(i, D1, D2, D3, sp0, sp1, sp2, sp3), mask=mask,
                    other=1.0).to(acc_dtype)
    else:
        p = tl.full([BLOCK], 1.0, acc_dtype)
    sp_neg = _softplus(-x)
    sig = tl.exp(-sp_neg)
    dx = g * (sig * (1.0 - y + p * y) - p * y)
    dy = g * (p * sp_neg - _softplus(x))
    out = _offsets4(i, D1, D2, D3, so0, so1, so2, so3)
    tl.store(dx_ptr + out, dx.to(dx_ptr.dtype.element_ty), mask=mask)
    tl.store(dy_ptr + out, dy.to(dy_ptr.dtype.element_ty), mask=mask)


def _elementwise(kernel, inputs, outputs, **meta):
    """Launch an elementwise loss kernel: pointers (inputs, then outputs), n, the split
    sizes, each input's four strides, then the outputs' (fresh, one layout for all)."""
    shape = outputs[0].shape
    if outputs[0].size == 0:
        return
    buffers = [broadcast_to(b, shape) for b in inputs] + list(outputs)

    def launch(ptrs, sizes, strides, n):
        block = _launch.elementwise_block(n)
        in_strides = [s for st in strides[:len(inputs)] for s in st]
        kernel[(_launch.cdiv(n, block),)](*ptrs, n, sizes[1], sizes[2], sizes[3],
                                          *in_strides, *strides[len(inputs)], BLOCK=block,
                                          **meta)
    _launch.strided_launch(launch, shape, buffers)


def binary_cross_entropy(x, y):
    out = empty(x.shape, x.dtype)
    _elementwise(binary_cross_entropy_forward_kernel, [x, y], [out], F64=x.dtype == np.float64)
    return out


def binary_cross_entropy_backward(x, y, grad):
    dx, dy = empty(x.shape, x.dtype), empty(x.shape, x.dtype)
    _elementwise(binary_cross_entropy_backward_kernel, [x, y, grad], [dx, dy],
                 F64=x.dtype == np.float64)
    return dx, dy


def binary_cross_entropy_with_logits(x, y, pos_weight):
    out = empty(x.shape, x.dtype)
    # Without pos_weight, x stands in for it (never read: HAS_POS=False).
    _elementwise(binary_cross_entropy_with_logits_forward_kernel,
                 [x, y, x if pos_weight is None else pos_weight], [out],
                 HAS_POS=pos_weight is not None, F64=x.dtype == np.float64)
    return out


def binary_cross_entropy_with_logits_backward(x, y, pos_weight, grad):
    dx, dy = empty(x.shape, x.dtype), empty(x.shape, x.dtype)
    _elementwise(binary_cross_entropy_with_logits_backward_kernel,
                 [x, y, x if pos_weight is None else pos_weight, grad], [dx, dy],
                 HAS_POS=pos_weight is not None, F64=x.dtype == np.float64)
    return dx, dy
