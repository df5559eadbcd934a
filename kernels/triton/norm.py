"""Layer and batch normalization on the `cuda` device, forward and backward.

Same results as kernels/reference/norm.py (and the Numba kernels):

    layer_norm(x (M, D), weight, bias, eps)          -> y (M, D), mean (M,), rstd (M,)
    layer_norm_backward(x, weight, mean, rstd, grad) -> dx (M, D), dweight (D,), dbias (D,)
    batch_norm(x (N, C, L), weight, bias, mean, var, eps) -> y, mean (C,), var (C,)
    batch_norm_backward(x, weight, mean, var, grad, eps, training) -> dx, dweight, dbias

weight/bias may be None (1 and 0). The statistics (saved for backward) are float64;
outputs and gradients come back in x's dtype. x and grad may be any strided view
(explicit strides, no copy); outputs are contiguous.

The math per row (layer norm; batch norm is the same per channel over its N·L values):

    mean = Σ x / D;  var = Σ (x - mean)² / D;  rstd = 1 / sqrt(var + eps)
    y = (x - mean) rstd w + b
    backward, ĝ = g w, x̂ = (x - mean) rstd:
    dx = rstd (ĝ - Σ ĝ / D - x̂ Σ ĝ x̂ / D);  dweight = Σ_rows g x̂;  dbias = Σ_rows g

Memory traffic. Layer norm is bandwidth-bound: the naive version (mean, var, subtract,
scale as separate kernels) reads x four times and writes three temporaries. Here one
program owns BLOCK_R whole rows and makes three passes over them (sum, squared
deviations, output); the second and third come from L1/L2, so HBM sees one read of x
and one write of y: 2·M·D·4 bytes in float32, the floor. On a GPU the target is ≥ 85%
of HBM bandwidth at that count. The backward reads x and g twice (again the second
time from cache) and writes dx: 3·M·D·4 bytes, plus the (programs, D) partials below.

Precision, as the Numba kernels: statistics in float64, per-element arithmetic in
x's precision (fp16 in fp32). Two things keep float32 as accurate as float64 math
rounded once, which a plain float32 two-pass is not when |mean| >> std:
- the sum runs over deviations from the row's first value (the pivot), not over the
  values (a float32 sum of values near 100 loses ~1e-5 of the mean);
- the float64 mean enters as hi + lo (each in the compute dtype) and x - mean is
  computed as (x - hi) - lo, exact near the mean.
eps is a Python float, which Triton passes as float32: it goes in as hi + lo too.

Reductions without atomics (deterministic, the same bits every run):
- layer_norm_backward's dweight/dbias are a two-stage column sum: each of P programs
  walks row blocks pid, pid + P, ... and adds its rows' Σ g x̂ and Σ g into its own row
  of a (2, P, D) partial buffer (its own row only: no race), then
  norm_column_sum_kernel adds the P rows. P is a few programs per SM on a GPU, so the
  partials stay in L2.
- batch norm's per-channel sums: a channel's (N, L) values are [BLOCK_N, BLOCK_L]
  tiles, shared by S programs (tiles s, s + S, ...; S chosen so that C·S is a few
  programs per SM: 64 channels of 32×56×56 would otherwise be 64 programs on 132 SMs).
  Each writes a float64 partial to (2, C, S) and a one-program-per-channel kernel adds
  the S partials in order. Statistics take two split passes (Σ (x - pivot); then, the
  mean rebuilt from the partials, Σ (x - mean)²: exact two-pass variance, no Welford
  merge), the backward's Σ g and Σ g x̂ one. The normalize and dx kernels are then
  elementwise over (N·C rows, L) tiles: read x (and g), write y (dx).
A BatchNorm1d batch (N, C, 1) is handled as the (1, C, N) view (strides swapped, no
copy), so a channel's values lie along the tile's long axis. Batch norm's traffic in
training: x read three times (two statistics passes, too large for L2 in general) and
y written once; eval reads x once. Backward: x and g read twice, dx written.

Tiles: whole rows (a channel's L values) up to _launch.TILE_ELEMENTS (4096 on a GPU,
65536 under the interpreter, whose cost is per program), as many rows as fit; a warp
per 256 tile elements, 1 to 8 (the Triton layer-norm tutorial's rule). Not yet timed
on a GPU: the bandwidth target above is unverified.
"""
import builtins

import numpy as np
import triton
import triton.language as tl

from kernels.triton import _launch
from kernels.triton.buffer import INTERPRET, empty, torch
from kernels.triton.creation import full
from kernels.triton.elementwise import astype
from kernels.triton.movement import contiguous_copy

_F64 = np.dtype(np.float64)


# ---- layer norm -------------------------------------------------------------------------
@triton.jit
def layer_norm_forward_kernel(x_ptr, w_ptr, b_ptr, y_ptr, mean_ptr, rstd_ptr, M, D,
                              eps_hi, eps_lo, stride_xm, stride_xd, stride_w, stride_b,
                              HAS_W: tl.constexpr, HAS_B: tl.constexpr, F64: tl.constexpr,
                              BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_mask = rows < M
    cols0 = tl.arange(0, BLOCK_D)
    x_rows = x_ptr + rows[:, None] * stride_xm
    pivot = tl.load(x_ptr + rows * stride_xm, mask=row_mask, other=0.0).to(acc_dtype)
    # pass 1: Σ (x - pivot)
    s = tl.zeros([BLOCK_R, BLOCK_D], acc_dtype)
    for start in range(0, D, BLOCK_D):
        cols = start + cols0
        mask = row_mask[:, None] & (cols < D)[None, :]
        v = tl.load(x_rows + cols[None, :] * stride_xd, mask=mask, other=0.0).to(acc_dtype)
        s += tl.where(mask, v - pivot[:, None], 0.0)
    mean = pivot.to(tl.float64) + tl.sum(s, axis=1).to(tl.float64) / D
    hi = mean.to(acc_dtype)
    lo = (mean - hi.to(tl.float64)).to(acc_dtype)
    # pass 2: Σ (x - mean)², x - mean as (x - hi) - lo
    q = tl.zeros([BLOCK_R, BLOCK_D], acc_dtype)
    for start in range(0, D, BLOCK_D):
        cols = start + cols0
        mask = row_mask[:, None] & (cols < D)[None, :]
        v = tl.load(x_rows + cols[None, :] * stride_xd, mask=mask, other=0.0).to(acc_dtype)
        d = tl.where(mask, (v - hi[:, None]) - lo[:, None], 0.0)
        q += d * d
    var = tl.sum(q, axis=1).to(tl.float64) / D
    rstd = 1.0 / tl.sqrt(var + eps_hi + eps_lo)
    tl.store(mean_ptr + rows, mean, mask=row_mask)
    tl.store(rstd_ptr + rows, rstd, mask=row_mask)
    r = rstd.to(acc_dtype)
    # pass 3: y = x̂ w + b
    for start in range(0, D, BLOCK_D):
        cols = start + cols0
        col_mask = cols < D
        mask = row_mask[:, None] & col_mask[None, :]
        v = tl.load(x_rows + cols[None, :] * stride_xd, mask=mask, other=0.0).to(acc_dtype)
        y = ((v - hi[:, None]) - lo[:, None]) * r[:, None]
        if HAS_W:
            w = tl.load(w_ptr + cols * stride_w, mask=col_mask, other=0.0).to(acc_dtype)
            y = y * w[None, :]
        if HAS_B:
            b = tl.load(b_ptr + cols * stride_b, mask=col_mask, other=0.0).to(acc_dtype)
            y = y + b[None, :]
        tl.store(y_ptr + rows[:, None] * D + cols[None, :], y.to(y_ptr.dtype.element_ty),
                 mask=mask)


@triton.jit
def layer_norm_backward_kernel(x_ptr, g_ptr, w_ptr, mean_ptr, rstd_ptr, dx_ptr, part_ptr,
                               M, D, P, stride_xm, stride_xd, stride_gm, stride_gd, stride_w,
                               HAS_W: tl.constexpr, F64: tl.constexpr,
                               BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    """dx for row blocks pid, pid + P, ...; this program's Σ g x̂ and Σ g over them are
    added into part[0, pid, :] and part[1, pid, :] (zeros on entry)."""
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    pid = tl.program_id(0)
    cols0 = tl.arange(0, BLOCK_D)
    part_w = part_ptr + pid.to(tl.int64) * D
    part_b = part_ptr + (P + pid).to(tl.int64) * D
    for row_start in range(pid * BLOCK_R, M, P * BLOCK_R):
        rows = row_start + tl.arange(0, BLOCK_R).to(tl.int64)
        row_mask = rows < M
        mean = tl.load(mean_ptr + rows, mask=row_mask, other=0.0).to(tl.float64)
        hi = mean.to(acc_dtype)
        lo = (mean - hi.to(tl.float64)).to(acc_dtype)
        r = tl.load(rstd_ptr + rows, mask=row_mask, other=0.0).to(acc_dtype)
        x_rows = x_ptr + rows[:, None] * stride_xm
        g_rows = g_ptr + rows[:, None] * stride_gm
        # pass 1: per row Σ ĝ and Σ ĝ x̂
        s1 = tl.zeros([BLOCK_R, BLOCK_D], acc_dtype)
        s2 = tl.zeros([BLOCK_R, BLOCK_D], acc_dtype)
        for start in range(0, D, BLOCK_D):
            cols = start + cols0
            col_mask = cols < D
            mask = row_mask[:, None] & col_mask[None, :]
            x = tl.load(x_rows + cols[None, :] * stride_xd, mask=mask, other=0.0).to(acc_dtype)
            g = tl.load(g_rows + cols[None, :] * stride_gd, mask=mask, other=0.0).to(acc_dtype)
            xhat = tl.where(mask, ((x - hi[:, None]) - lo[:, None]) * r[:, None], 0.0)
            gw = g
            if HAS_W:
                gw = g * tl.load(w_ptr + cols * stride_w, mask=col_mask,
                                 other=0.0).to(acc_dtype)[None, :]
            s1 += gw
            s2 += gw * xhat
        m1 = tl.sum(s1, axis=1) / D
        m2 = tl.sum(s2, axis=1) / D
        # pass 2: dx, and the column partial sums
        for start in range(0, D, BLOCK_D):
            cols = start + cols0
            col_mask = cols < D
            mask = row_mask[:, None] & col_mask[None, :]
            x = tl.load(x_rows + cols[None, :] * stride_xd, mask=mask, other=0.0).to(acc_dtype)
            g = tl.load(g_rows + cols[None, :] * stride_gd, mask=mask, other=0.0).to(acc_dtype)
            xhat = tl.where(mask, ((x - hi[:, None]) - lo[:, None]) * r[:, None], 0.0)
            gw = g
            if HAS_W:
                gw = g * tl.load(w_ptr + cols * stride_w, mask=col_mask,
                                 other=0.0).to(acc_dtype)[None, :]
            dx = r[:, None] * (gw - m1[:, None] - xhat * m2[:, None])
            tl.store(dx_ptr + rows[:, None] * D + cols[None, :], dx.to(dx_ptr.dtype.element_ty),
                     mask=mask)
            pw = tl.load(part_w + cols, mask=col_mask, other=0.0)
            tl.store(part_w + cols, pw + tl.sum(g * xhat, axis=0), mask=col_mask)
            pb = tl.load(part_b + cols, mask=col_mask, other=0.0)
            tl.store(part_b + cols, pb + tl.sum(g, axis=0), mask=col_mask)
        # The next row block re-reads these partials, possibly from other threads of this
        # program: a CTA barrier orders the global stores before those loads on a GPU.
        tl.debug_barrier()


@triton.jit
def norm_column_sum_kernel(part_ptr, dw_ptr, db_ptr, P, D, BLOCK_P: tl.constexpr,
                           BLOCK_D: tl.constexpr):
    """dw[j] = Σ_p part[0, p, j], db[j] = Σ_p part[1, p, j], in p order (deterministic)."""
    cols = tl.program_id(0).to(tl.int64) * BLOCK_D + tl.arange(0, BLOCK_D)
    col_mask = cols < D
    sw = tl.zeros([BLOCK_P, BLOCK_D], part_ptr.dtype.element_ty)
    sb = tl.zeros([BLOCK_P, BLOCK_D], part_ptr.dtype.element_ty)
    for start in range(0, P, BLOCK_P):
        ps = start + tl.arange(0, BLOCK_P).to(tl.int64)
        mask = (ps < P)[:, None] & col_mask[None, :]
        sw += tl.load(part_ptr + ps[:, None] * D + cols[None, :], mask=mask, other=0.0)
        sb += tl.load(part_ptr + (P + ps)[:, None] * D + cols[None, :], mask=mask, other=0.0)
    tl.store(dw_ptr + cols, tl.sum(sw, axis=0).to(dw_ptr.dtype.element_ty), mask=col_mask)
    tl.store(db_ptr + cols, tl.sum(sb, axis=0).to(db_ptr.dtype.element_ty), mask=col_mask)


# ---- batch norm -------------------------------------------------------------------------
@triton.jit
def batch_norm_stats_kernel(x_ptr, part_ptr, N, L, S, count, stride_xn, stride_xc, stride_xl,
                            PHASE: tl.constexpr, F64: tl.constexpr, BLOCK_S: tl.constexpr,
                            BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr):
    """Program (c, s) of an S-way split of channel c's [BLOCK_N, BLOCK_L] tiles (tiles
    s, s + S, ...). PHASE 1: Σ (x - pivot) into part[0, c, s]. PHASE 2: the mean from
    the S phase-1 partials, then Σ (x - mean)² into part[1, c, s]. float64 partials."""
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    c = tl.program_id(0)
    sid = tl.program_id(1)
    C = tl.num_programs(0)
    base = x_ptr + c.to(tl.int64) * stride_xc
    pivot = tl.load(base).to(acc_dtype)
    if PHASE == 2:
        splits = tl.arange(0, BLOCK_S)
        firsts = tl.load(part_ptr + c.to(tl.int64) * S + splits, mask=splits < S, other=0.0)
        mean = pivot.to(tl.float64) + tl.sum(firsts, axis=0) / count
        hi = mean.to(acc_dtype)
        lo = (mean - hi.to(tl.float64)).to(acc_dtype)
    ns0 = tl.arange(0, BLOCK_N).to(tl.int64)
    ls0 = tl.arange(0, BLOCK_L).to(tl.int64)
    tiles_l = tl.cdiv(L, BLOCK_L)
    acc = tl.zeros([BLOCK_N, BLOCK_L], acc_dtype)
    for t in range(sid, tl.cdiv(N, BLOCK_N) * tiles_l, S):
        ns = (t // tiles_l) * BLOCK_N + ns0
        ls = (t % tiles_l) * BLOCK_L + ls0
        mask = (ns < N)[:, None] & (ls < L)[None, :]
        v = tl.load(base + ns[:, None] * stride_xn + ls[None, :] * stride_xl, mask=mask,
                    other=0.0).to(acc_dtype)
        if PHASE == 1:
            acc += tl.where(mask, v - pivot, 0.0)
        else:
            d = tl.where(mask, (v - hi) - lo, 0.0)
            acc += d * d
    total = tl.sum(tl.sum(acc, axis=1), axis=0).to(tl.float64)
    tl.store(part_ptr + ((PHASE - 1) * C + c).to(tl.int64) * S + sid, total)


@triton.jit
def batch_norm_stats_finish_kernel(x_ptr, part_ptr, mean_ptr, var_ptr, S, count, stride_xc,
                                   BLOCK_S: tl.constexpr):
    """Channel c's mean = pivot + Σ_s part[0, c, s] / n and var = Σ_s part[1, c, s] / n,
    the partials added in the same order as batch_norm_stats_kernel's phase 2."""
    c = tl.program_id(0)
    C = tl.num_programs(0)
    splits = tl.arange(0, BLOCK_S)
    mask = splits < S
    firsts = tl.load(part_ptr + c.to(tl.int64) * S + splits, mask=mask, other=0.0)
    seconds = tl.load(part_ptr + (C + c).to(tl.int64) * S + splits, mask=mask, other=0.0)
    pivot = tl.load(x_ptr + c.to(tl.int64) * stride_xc).to(tl.float64)
    tl.store(mean_ptr + c, pivot + tl.sum(firsts, axis=0) / count)
    tl.store(var_ptr + c, tl.sum(seconds, axis=0) / count)


@triton.jit
def batch_norm_forward_kernel(x_ptr, w_ptr, b_ptr, mean_ptr, var_ptr, y_ptr, C, L, R,
                              eps_hi, eps_lo, stride_w, stride_b,
                              stride_xn, stride_xc, stride_xl, stride_yn, stride_yc, stride_yl,
                              HAS_W: tl.constexpr, HAS_B: tl.constexpr, F64: tl.constexpr,
                              BLOCK_R: tl.constexpr, BLOCK_L: tl.constexpr):
    """y = (x - mean) · w rstd + b over a tile of rows r = n·C + c (R = N·C) × BLOCK_L."""
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    ls = tl.program_id(1).to(tl.int64) * BLOCK_L + tl.arange(0, BLOCK_L)
    row_mask = rows < R
    n = rows // C
    c = rows % C
    mean = tl.load(mean_ptr + c, mask=row_mask, other=0.0).to(tl.float64)
    var = tl.load(var_ptr + c, mask=row_mask, other=0.0).to(tl.float64)
    scale = 1.0 / tl.sqrt(var + eps_hi + eps_lo)
    if HAS_W:
        scale = scale * tl.load(w_ptr + c * stride_w, mask=row_mask, other=0.0).to(tl.float64)
    hi = mean.to(acc_dtype)
    lo = (mean - hi.to(tl.float64)).to(acc_dtype)
    mask = row_mask[:, None] & (ls < L)[None, :]
    v = tl.load(x_ptr + (n * stride_xn + c * stride_xc)[:, None] + ls[None, :] * stride_xl,
                mask=mask, other=0.0).to(acc_dtype)
    y = ((v - hi[:, None]) - lo[:, None]) * scale.to(acc_dtype)[:, None]
    if HAS_B:
        y = y + tl.load(b_ptr + c * stride_b, mask=row_mask, other=0.0).to(acc_dtype)[:, None]
    tl.store(y_ptr + (n * stride_yn + c * stride_yc)[:, None] + ls[None, :] * stride_yl,
             y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def batch_norm_backward_sums_kernel(x_ptr, g_ptr, mean_ptr, var_ptr, part_ptr, N, L, S,
                                    eps_hi, eps_lo, stride_xn, stride_xc, stride_xl,
                                    stride_gn, stride_gc, stride_gl, F64: tl.constexpr,
                                    BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr):
    """Program (c, s): Σ g x̂ and Σ g over its tiles of channel c (one pass, split as
    batch_norm_stats_kernel's) into part[0, c, s] and part[1, c, s], float64."""
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    c = tl.program_id(0)
    sid = tl.program_id(1)
    C = tl.num_programs(0)
    mean = tl.load(mean_ptr + c).to(tl.float64)
    var = tl.load(var_ptr + c).to(tl.float64)
    r = (1.0 / tl.sqrt(var + eps_hi + eps_lo)).to(acc_dtype)
    hi = mean.to(acc_dtype)
    lo = (mean - hi.to(tl.float64)).to(acc_dtype)
    x_base = x_ptr + c.to(tl.int64) * stride_xc
    g_base = g_ptr + c.to(tl.int64) * stride_gc
    ns0 = tl.arange(0, BLOCK_N).to(tl.int64)
    ls0 = tl.arange(0, BLOCK_L).to(tl.int64)
    tiles_l = tl.cdiv(L, BLOCK_L)
    sg = tl.zeros([BLOCK_N, BLOCK_L], acc_dtype)
    sgx = tl.zeros([BLOCK_N, BLOCK_L], acc_dtype)
    for t in range(sid, tl.cdiv(N, BLOCK_N) * tiles_l, S):
        ns = (t // tiles_l) * BLOCK_N + ns0
        ls = (t % tiles_l) * BLOCK_L + ls0
        mask = (ns < N)[:, None] & (ls < L)[None, :]
        x = tl.load(x_base + ns[:, None] * stride_xn + ls[None, :] * stride_xl, mask=mask,
                    other=0.0).to(acc_dtype)
        g = tl.load(g_base + ns[:, None] * stride_gn + ls[None, :] * stride_gl, mask=mask,
                    other=0.0).to(acc_dtype)
        sg += g
        sgx += g * (((x - hi) - lo) * r)
    tl.store(part_ptr + c.to(tl.int64) * S + sid,
             tl.sum(tl.sum(sgx, axis=1), axis=0).to(tl.float64))
    tl.store(part_ptr + (C + c).to(tl.int64) * S + sid,
             tl.sum(tl.sum(sg, axis=1), axis=0).to(tl.float64))


@triton.jit
def batch_norm_backward_sums_finish_kernel(part_ptr, sums_ptr, dw_ptr, db_ptr, S,
                                           BLOCK_S: tl.constexpr):
    """sums[k, c] = Σ_s part[k, c, s] (float64, for the dx kernel); dweight = sums[0],
    dbias = sums[1] in x's dtype."""
    c = tl.program_id(0)
    C = tl.num_programs(0)
    splits = tl.arange(0, BLOCK_S)
    mask = splits < S
    total_gx = tl.sum(tl.load(part_ptr + c.to(tl.int64) * S + splits, mask=mask, other=0.0),
                      axis=0)
    total_g = tl.sum(tl.load(part_ptr + (C + c).to(tl.int64) * S + splits, mask=mask,
                             other=0.0), axis=0)
    tl.store(sums_ptr + c, total_gx)
    tl.store(sums_ptr + C + c, total_g)
    tl.store(dw_ptr + c, total_gx.to(dw_ptr.dtype.element_ty))
    tl.store(db_ptr + c, total_g.to(db_ptr.dtype.element_ty))


@triton.jit
def batch_norm_backward_kernel(x_ptr, g_ptr, w_ptr, mean_ptr, var_ptr, sums_ptr, dx_ptr,
                               C, L, R, count, eps_hi, eps_lo, stride_w,
                               stride_xn, stride_xc, stride_xl, stride_gn, stride_gc, stride_gl,
                               stride_dn, stride_dc, stride_dl,
                               HAS_W: tl.constexpr, TRAINING: tl.constexpr, F64: tl.constexpr,
                               BLOCK_R: tl.constexpr, BLOCK_L: tl.constexpr):
    """dx = w rstd (g - Σg / n - x̂ Σ(g x̂) / n) (training), w rstd g (eval)."""
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    ls = tl.program_id(1).to(tl.int64) * BLOCK_L + tl.arange(0, BLOCK_L)
    row_mask = rows < R
    n = rows // C
    c = rows % C
    mask = row_mask[:, None] & (ls < L)[None, :]
    var = tl.load(var_ptr + c, mask=row_mask, other=0.0).to(tl.float64)
    rstd = 1.0 / tl.sqrt(var + eps_hi + eps_lo)
    scale = rstd
    if HAS_W:
        scale = scale * tl.load(w_ptr + c * stride_w, mask=row_mask, other=0.0).to(tl.float64)
    g = tl.load(g_ptr + (n * stride_gn + c * stride_gc)[:, None] + ls[None, :] * stride_gl,
                mask=mask, other=0.0).to(acc_dtype)
    if TRAINING:
        mean = tl.load(mean_ptr + c, mask=row_mask, other=0.0).to(tl.float64)
        hi = mean.to(acc_dtype)
        lo = (mean - hi.to(tl.float64)).to(acc_dtype)
        mgx = (tl.load(sums_ptr + c, mask=row_mask, other=0.0) / count).to(acc_dtype)
        mg = (tl.load(sums_ptr + C + c, mask=row_mask, other=0.0) / count).to(acc_dtype)
        x = tl.load(x_ptr + (n * stride_xn + c * stride_xc)[:, None] + ls[None, :] * stride_xl,
                    mask=mask, other=0.0).to(acc_dtype)
        xhat = ((x - hi[:, None]) - lo[:, None]) * rstd.to(acc_dtype)[:, None]
        g = g - mg[:, None] - xhat * mgx[:, None]
    dx = scale.to(acc_dtype)[:, None] * g
    tl.store(dx_ptr + (n * stride_dn + c * stride_dc)[:, None] + ls[None, :] * stride_dl,
             dx.to(dx_ptr.dtype.element_ty), mask=mask)


# ---- launch arithmetic ------------------------------------------------------------------
def _eps_parts(eps):
    """eps as float32 hi + lo: Triton passes a Python float as float32."""
    hi = float(np.float32(eps))
    return hi, float(np.float32(float(eps) - hi))


def _tile(rows, cols):
    """(BLOCK_R, BLOCK_C): whole rows of up to TILE_ELEMENTS, as many rows as fit."""
    block_c = builtins.max(16, builtins.min(_launch.next_pow2(cols), _launch.TILE_ELEMENTS))
    block_r = builtins.max(1, builtins.min(_launch.next_pow2(rows),
                                           _launch.TILE_ELEMENTS // block_c))
    return block_r, block_c


def _warps(block):
    """The layer-norm tutorial's rule: a warp per 256 elements of the tile, 1 to 8."""
    return builtins.min(builtins.max(block // 256, 1), 8)


_SM_COUNT = None


def _sm_count():
    global _SM_COUNT
    if _SM_COUNT is None:
        t = torch()
        _SM_COUNT = t.cuda.get_device_properties(t.cuda.current_device()).multi_processor_count
    return _SM_COUNT


def _programs(blocks):
    """How many programs walk `blocks` row blocks in layer_norm_backward: a few per SM on a
    GPU (their partial rows stay in L2), a few in the interpreter."""
    return builtins.min(blocks, 4 if INTERPRET else 4 * _sm_count())


def _stride(v):
    return 0 if v is None else v.strides[0]


def _packed(v):
    """v contiguous (the saved statistics are; a caller's view is copied)."""
    return v if v.is_contiguous else contiguous_copy(v)


def _acc_dtype(x):
    return _F64 if x.dtype == _F64 else np.dtype(np.float32)


# ---- the table ----------------------------------------------------------------------------
def layer_norm(x, weight, bias, eps):
    rows, d = x.shape
    y = empty((rows, d), x.dtype)
    if d == 0:
        return y, full((rows,), np.nan, _F64), full((rows,), np.nan, _F64)
    mean, rstd = empty((rows,), _F64), empty((rows,), _F64)
    if rows:
        block_r, block_d = _tile(rows, d)
        eps_hi, eps_lo = _eps_parts(eps)
        layer_norm_forward_kernel[(_launch.cdiv(rows, block_r),)](
            x.ptr(), x.ptr() if weight is None else weight.ptr(),
            x.ptr() if bias is None else bias.ptr(), y.ptr(), mean.ptr(), rstd.ptr(), rows, d,
            eps_hi, eps_lo, x.strides[0], x.strides[1], _stride(weight), _stride(bias),
            HAS_W=weight is not None, HAS_B=bias is not None, F64=x.dtype == _F64,
            BLOCK_R=block_r, BLOCK_D=block_d, num_warps=_warps(block_r * block_d))
    return y, mean, rstd


def layer_norm_backward(x, weight, mean, rstd, grad):
    rows, d = x.shape
    dx = empty((rows, d), x.dtype)
    dweight, dbias = empty((d,), x.dtype), empty((d,), x.dtype)
    if d == 0:
        return dx, dweight, dbias
    if rows == 0:
        return dx, full((d,), 0.0, x.dtype), full((d,), 0.0, x.dtype)
    mean, rstd = _packed(mean), _packed(rstd)
    block_r, block_d = _tile(rows, d)
    programs = _programs(_launch.cdiv(rows, block_r))
    part = full((2, programs, d), 0.0, _acc_dtype(x))
    layer_norm_backward_kernel[(programs,)](
        x.ptr(), grad.ptr(), x.ptr() if weight is None else weight.ptr(), mean.ptr(),
        rstd.ptr(), dx.ptr(), part.ptr(), rows, d, programs, x.strides[0], x.strides[1],
        grad.strides[0], grad.strides[1], _stride(weight), HAS_W=weight is not None,
        F64=x.dtype == _F64, BLOCK_R=block_r, BLOCK_D=block_d,
        num_warps=_warps(block_r * block_d))
    # Column blocks of 128 on a GPU: d / 128 programs share the (P, D) sum.
    block_c = _tile(programs, d)[1] if INTERPRET else builtins.max(16, builtins.min(
        _launch.next_pow2(d), 128))
    block_p = builtins.max(1, builtins.min(_launch.next_pow2(programs),
                                           _launch.TILE_ELEMENTS // block_c))
    norm_column_sum_kernel[(_launch.cdiv(d, block_c),)](
        part.ptr(), dweight.ptr(), dbias.ptr(), programs, d, BLOCK_P=block_p, BLOCK_D=block_c)
    return dx, dweight, dbias


def _channel_view(a):
    """(N, C, 1) with N > 1 as the (1, C, N) view: a channel's values along the long axis."""
    if a.shape[2] == 1 and a.shape[0] > 1:
        n, c, _ = a.shape
        return a.view((1, c, n), (0, a.strides[1], a.strides[0]))
    return a


def _channel_blocks(n, length, channels):
    """(BLOCK_N, BLOCK_L) tiles of one channel's (N, L) values, and the split S: how many
    programs share a channel, so that channels × S fills the GPU (≤ 1024 partials)."""
    block_l, block_n = _tile(length, n)[::-1]      # long axis L first, rows of N after
    tiles = _launch.cdiv(n, block_n) * _launch.cdiv(length, block_l)
    wanted = 3 if INTERPRET else _launch.cdiv(4 * _sm_count(), channels)
    return block_n, block_l, builtins.max(1, builtins.min(tiles, wanted, 1024))


def batch_norm(x, weight, bias, mean, var, eps):
    channels = x.shape[1]
    y = empty(x.shape, x.dtype)
    training = mean is None
    xv, yv = _channel_view(x), _channel_view(y)
    n, _, length = xv.shape
    if not training:
        mean, var = astype(mean, _F64), astype(var, _F64)
    elif n * length == 0:
        return y, full((channels,), np.nan, _F64), full((channels,), np.nan, _F64)
    else:
        mean, var = empty((channels,), _F64), empty((channels,), _F64)
        block_n, block_l, split = _channel_blocks(n, length, channels)
        part = empty((2, channels, split), _F64)
        block_s = builtins.max(16, _launch.next_pow2(split))
        for phase in (1, 2):
            batch_norm_stats_kernel[(channels, split)](
                xv.ptr(), part.ptr(), n, length, split, n * length, *xv.strides, PHASE=phase,
                F64=x.dtype == _F64, BLOCK_S=block_s, BLOCK_N=block_n, BLOCK_L=block_l,
                num_warps=_warps(block_n * block_l))
        batch_norm_stats_finish_kernel[(channels,)](
            xv.ptr(), part.ptr(), mean.ptr(), var.ptr(), split, n * length, xv.strides[1],
            BLOCK_S=block_s)
    if x.size:
        eps_hi, eps_lo = _eps_parts(eps)
        block_r, block_l = _tile(n * channels, length)
        grid = (_launch.cdiv(n * channels, block_r), _launch.cdiv(length, block_l))
        batch_norm_forward_kernel[grid](
            xv.ptr(), x.ptr() if weight is None else weight.ptr(),
            x.ptr() if bias is None else bias.ptr(), mean.ptr(), var.ptr(), yv.ptr(),
            channels, length, n * channels, eps_hi, eps_lo, _stride(weight), _stride(bias),
            *xv.strides, *yv.strides,
            HAS_W=weight is not None, HAS_B=bias is not None, F64=x.dtype == _F64,
            BLOCK_R=block_r, BLOCK_L=block_l, num_warps=_warps(block_r * block_l))
    return y, mean, var


def batch_norm_backward(x, weight, mean, var, grad, eps, training):
    channels = x.shape[1]
    dx = empty(x.shape, x.dtype)
    if x.size == 0:
        return dx, full((channels,), 0.0, x.dtype), full((channels,), 0.0, x.dtype)
    xv, gv, dv = _channel_view(x), _channel_view(grad), _channel_view(dx)
    mean, var = _packed(mean), _packed(var)
    n, _, length = xv.shape
    eps_hi, eps_lo = _eps_parts(eps)
    sums = empty((2, channels), _F64)
    dweight, dbias = empty((channels,), x.dtype), empty((channels,), x.dtype)
    block_n, block_l, split = _channel_blocks(n, length, channels)
    part = empty((2, channels, split), _F64)
    batch_norm_backward_sums_kernel[(channels, split)](
        xv.ptr(), gv.ptr(), mean.ptr(), var.ptr(), part.ptr(), n, length, split, eps_hi, eps_lo,
        *xv.strides, *gv.strides, F64=x.dtype == _F64, BLOCK_N=block_n, BLOCK_L=block_l,
        num_warps=_warps(block_n * block_l))
    batch_norm_backward_sums_finish_kernel[(channels,)](
        part.ptr(), sums.ptr(), dweight.ptr(), dbias.ptr(), split,
        BLOCK_S=builtins.max(16, _launch.next_pow2(split)))
    block_r, block_l = _tile(n * channels, length)
    grid = (_launch.cdiv(n * channels, block_r), _launch.cdiv(length, block_l))
    batch_norm_backward_kernel[grid](
        xv.ptr(), gv.ptr(), x.ptr() if weight is None else weight.ptr(), mean.ptr(), var.ptr(),
        sums.ptr(), dv.ptr(), channels, length, n * channels, n * length, eps_hi,
        eps_lo, _stride(weight), *xv.strides, *gv.strides, *dv.strides, HAS_W=weight is not None,
        TRAINING=bool(training), F64=x.dtype == _F64, BLOCK_R=block_r, BLOCK_L=block_l,
        num_warps=_warps(block_r * block_l))
    return dx, dweight, dbias
