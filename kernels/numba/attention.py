"""Scaled dot-product attention, FlashAttention-style, Numba CPU.
Must match `kernels/reference/attention.py`: softmax(Q Kᵀ·scale + mask) V.

Shapes: q (N, L, D), k (N, S, D), v (N, S, Dv) -> out (N, L, Dv) and lse (N, L), the
log-sum-exp of each row of scores, which is all backward needs to recompute the
probabilities. N is the flattened batch·head dims. mask: None, or bool (True = takes
part) / floating (added) of shape (Nm, Lm, Sm) broadcastable to (N, L, S).
is_causal: row i sees keys j <= i (torch's top-left alignment). Fully-masked rows
(and S = 0) give zeros, forward and backward, as torch 2.13 does; their lse is +inf,
so that the recomputed p = exp(s - lse) is 0 with no special case in backward.

The math, per (n, row i), as a plain loop:

    s[j] = scale · Σ_d q[i, d] k[j, d] + mask[i, j]        for j in range(S)
    p[j] = exp(s[j] - max s) / Σ_j exp(s[j] - max s)
    out[i, :] = Σ_j p[j] v[j, :]

4·N·L·S·D flops forward (two GEMMs, D = Dv), N·L·S exps. The naive numpy version
materializes s and p, N·L·S elements each: 64 MiB each for N=64, L=S=512 float32,
written and read back several times; the tiled kernels keep them in cache.

Rungs (each checked against the reference in tests/test_rnn_attention_kernels.py):
- `attention_forward_kernel1` / `attention_backward_kernel1`: the loop above, one
  query row at a time (a length-S row of scores, plain dot products), rows
  split across threads; backward one row at a time too, accumulating dk, dv per
  (n) so (n) is the unit of parallelism. The baseline of the lesson.
- `attention_forward_kernel2`: FlashAttention. A task owns (n, a block of _BM query
  rows) — tasks split across threads with prange — and walks K/V in tiles of _BN keys:
      S_tile = Q_blk K_tileᵀ·scale (+ mask)     _matmul_tile: 4×4 register-blocked dots
      m_new  = max(m, rowmax S_tile)            online softmax: running max m, sum l
      P      = exp(S_tile - m_new)
      l      = l·exp(m - m_new) + rowsum P;  acc = acc·exp(m - m_new) + P V_tile
  then out = acc / l and lse = m + log l. P V_tile is `matmul_nn_tile` (V used as
  stored, rows contiguous). With is_causal, tiles entirely above the diagonal are
  never visited (half the work at L = S).
- `attention_backward_kernel2`: FlashAttention-2's backward. Per n: Δ_i = rowsum(dO∘O);
  for each K/V tile j, for each query block i (from the diagonal on when causal):
      P  = exp(Q_i K_jᵀ·scale + mask - lse_i)   recomputed, never stored
      dV_j += Pᵀ dO_i;   dP = dO_i V_jᵀ;   dS = P ∘ (dP - Δ_i)
      dQ_i += dS K_j·scale;   dK_j += dSᵀ Q_i·scale
  Five tile GEMMs (the forward has two), all on cache-resident tiles. The unit of
  parallelism is n: a task owns its dq, dk, dv, so nothing races and nothing is
  atomic (fine for batch·heads >= threads; a single head runs on one thread).
  dmask = dS is written only when a floating mask requires grad.

Tiles are 64×64: Q_blk, K/V tiles, S, the accumulator: 16 KiB each in float32, so a
task's working set stays in the 48 KiB L1 + 2 MiB L2 per core (64×128 and 128×64 tiles
measured within 3%). exp is kernels/numba/_fused.py's vectorized one (libm's expf costs
30× more and would be a third of the forward). Accumulation is in the input precision
(FlashAttention's fp32), except l (float64). The error against a float64 reference is
below the naive float32 implementation's (tests/test_rnn_attention_kernels.py: 0.5-1.1×
its error, the FlashAttention criterion asks <= 2× forward, 3× backward).

Measured, float32, N=64 (8×8 heads), L=S=512, D=64, one thread (AMD EPYC Zen 5, CPU
time, min of 3; the machine was shared):
                                        forward + backward
    numpy reference (materialized P)    ~186 ms (OpenBLAS; N=4 measured, ×16)
    rung 1                              ~463 ms (N=4 measured, ×16)
    rung 2                              205 ms  (72 + 134 ms; causal: 43 + 78 ms)
    torch F.scaled_dot_product_attention 177 ms  (173 ms causal: it skips no tile)
Rung 2's time goes to its tile GEMMs (~90 GFLOP/s at 64×64×64: a j loop of 64 is too
short to hide numba's per-row setup), the online softmax (~20% of the forward: the
row max does not vectorize, a NaN-propagating compare) and the exps.
"""
import numba
import numpy as np
from numba import prange

from kernels.numba._fused import exp_, matmul_nn_tile
from kernels.numba.matmul import _matmul_tile

_FAST = {"reassoc", "contract"}
_BM = 64           # query rows per tile
_BN = 64           # keys per tile


# ---- shared pieces ------------------------------------------------------------------------
@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _scale_and_mask(s, rows, cols, i0, j0, mask, has_mask, is_causal, scale, n):
    """s[:rows, :cols] = s·scale + mask, with -inf where causal hides a key."""
    minus_inf = s.dtype.type(-np.inf)
    for r in range(rows):
        sr = s[r]
        i = i0 + r
        if has_mask:
            # n - n, not 0: a prange index may be unsigned, and int64 with uint64 unify
            # to float64, which cannot index.
            mr = mask[n if mask.shape[0] > 1 else n - n, i if mask.shape[1] > 1 else 0]
            if mask.shape[2] > 1:
                mr = mr[j0:j0 + cols]
                for j in range(cols):
                    sr[j] = sr[j] * scale + mr[j]
            else:
                for j in range(cols):
                    sr[j] = sr[j] * scale + mr[0]
        else:
            for j in range(cols):
                sr[j] = sr[j] * scale
        if is_causal:
            for j in range(max(i - j0 + 1, 0), cols):
                sr[j] = minus_inf


@numba.njit(cache=True, error_model="numpy")
def _nan_max(a, b):
    """max(a, b), NaN if either is NaN (numba's max drops a NaN b: a NaN score would
    then look like a masked one and its row would give zeros instead of NaN)."""
    return b if (b > a or b != b) else a


@numba.njit(cache=True, error_model="numpy")
def _row_max(sr, cols):
    m = sr.dtype.type(-np.inf)
    for j in range(cols):
        m = _nan_max(m, sr[j])
    return m


# ---- rung 1: one query row at a time ---------------------------------------------------------
@numba.njit(cache=True, fastmath=_FAST, error_model="numpy", parallel=True)
def attention_forward_kernel1(q, k, v, mask, has_mask, is_causal, scale, out, lse):
    N, L, D = q.shape
    S = k.shape[1]
    Dv = v.shape[2]
    for t in prange(N * L):
        n = t // L
        i = t - n * L
        s = np.empty((1, S), q.dtype)
        for j in range(S):
            acc = q.dtype.type(0)
            for d in range(D):
                acc += q[n, i, d] * k[n, j, d]
            s[0, j] = acc
        _scale_and_mask(s, 1, S, i, 0, mask, has_mask, is_causal, scale, n)
        m = _row_max(s[0], S)
        o = out[n, i]
        o[:] = 0
        if m == -np.inf:                          # fully masked (or S = 0)
            lse[n, i] = np.inf
            continue
        total = 0.0
        for j in range(S):
            p = np.exp(s[0, j] - m)
            total += p
            for d in range(Dv):
                o[d] += p * v[n, j, d]
        for d in range(Dv):
            o[d] = o[d] / total
        lse[n, i] = m + np.log(total)


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy", parallel=True)
def attention_backward_kernel1(grad, q, k, v, out, lse, mask, has_mask, is_causal, scale,
                               dq, dk, dv, dmask, needs_mask_grad):
    N, L, D = q.shape
    S = k.shape[1]
    Dv = v.shape[2]
    for n in prange(N):
        p = np.empty((1, S), q.dtype)
        for i in range(L):
            for j in range(S):
                acc = q.dtype.type(0)
                for d in range(D):
                    acc += q[n, i, d] * k[n, j, d]
                p[0, j] = acc
            _scale_and_mask(p, 1, S, i, 0, mask, has_mask, is_causal, scale, n)
            delta = q.dtype.type(0)
            for d in range(Dv):
                delta += grad[n, i, d] * out[n, i, d]
            for j in range(S):
                pj = np.exp(p[0, j] - lse[n, i])
                dp = q.dtype.type(0)
                for d in range(Dv):
                    dv[n, j, d] += pj * grad[n, i, d]
                    dp += grad[n, i, d] * v[n, j, d]
                ds = pj * (dp - delta)
                if needs_mask_grad:
                    dmask[n, i, j] = ds
                for d in range(D):
                    dq[n, i, d] += ds * scale * k[n, j, d]
                    dk[n, j, d] += ds * scale * q[n, i, d]


# ---- rung 2: FlashAttention tiles ------------------------------------------------------------
@numba.njit(cache=True, fastmath=_FAST, error_model="numpy", parallel=True)
def attention_forward_kernel2(q, k, v, mask, has_mask, is_causal, scale, out, lse):
    N, L, D = q.shape
    S = k.shape[1]
    Dv = v.shape[2]
    dtype = q.dtype
    row_blocks = (L + _BM - 1) // _BM
    for t in prange(N * row_blocks):
        n = t // row_blocks
        i0 = (t - n * row_blocks) * _BM
        rows = min(_BM, L - i0)
        qb = q[n, i0:i0 + rows]
        s = np.empty((_BM, _BN), dtype)
        acc = np.zeros((_BM, Dv), dtype)
        m = np.full(_BM, -np.inf, dtype)
        l = np.zeros(_BM, np.float64)
        # Causal: the block's last row is i0 + rows - 1; later keys are hidden from all rows.
        j_end = min(S, i0 + rows) if is_causal else S
        for j0 in range(0, j_end, _BN):
            cols = min(_BN, j_end - j0)
            _matmul_tile(qb, k[n, j0:j0 + cols], s, 0, rows, 0, cols)
            _scale_and_mask(s, rows, cols, i0, j0, mask, has_mask, is_causal, scale, n)
            for r in range(rows):
                sr = s[r]
                m_new = _nan_max(m[r], _row_max(sr, cols))
                if m_new == -np.inf:              # every key so far masked: adds nothing
                    for j in range(cols):
                        sr[j] = 0
                    continue
                alpha = exp_(m[r] - m_new)
                total = dtype.type(0)
                for j in range(cols):
                    e = exp_(sr[j] - m_new)
                    sr[j] = e
                    total += e
                l[r] = l[r] * alpha + total
                m[r] = m_new
                if alpha != 1:
                    ar = acc[r]
                    for d in range(Dv):
                        ar[d] *= alpha
            matmul_nn_tile(s, v[n, j0:j0 + cols], acc, rows, cols, Dv)
        for r in range(rows):
            o = out[n, i0 + r]
            if l[r] == 0:                         # fully masked row: zeros, lse = +inf
                o[:] = 0
                lse[n, i0 + r] = np.inf
            else:
                inv = dtype.type(1.0 / l[r])
                ar = acc[r]
                for d in range(Dv):
                    o[d] = ar[d] * inv
                lse[n, i0 + r] = m[r] + np.log(l[r])


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy", parallel=True)
def attention_backward_kernel2(grad, q, k, v, out, lse, mask, has_mask, is_causal, scale,
                               dq, dk, dv, dmask, needs_mask_grad):
    """dq, dk, dv must come in zeroed; dmask (N, L, S) is written if needs_mask_grad."""
    N, L, D = q.shape
    S = k.shape[1]
    Dv = v.shape[2]
    dtype = q.dtype
    for n in prange(N):
        delta = np.empty(L, dtype)
        for i in range(L):
            g, o = grad[n, i], out[n, i]
            acc = dtype.type(0)
            for d in range(Dv):
                acc += g[d] * o[d]
            delta[i] = acc
        p = np.empty((_BM, _BN), dtype)
        ds = np.empty((_BM, _BN), dtype)
        for j0 in range(0, S, _BN):
            cols = min(_BN, S - j0)
            kb, vb = k[n, j0:j0 + cols], v[n, j0:j0 + cols]
            dkb, dvb = dk[n, j0:j0 + cols], dv[n, j0:j0 + cols]
            # Causal: rows before j0 see none of these keys; start at the diagonal's block.
            first = (j0 // _BM) * _BM if is_causal else 0
            for i0 in range(first, L, _BM):
                rows = min(_BM, L - i0)
                qb, gb = q[n, i0:i0 + rows], grad[n, i0:i0 + rows]
                _matmul_tile(qb, kb, p, 0, rows, 0, cols)
                _scale_and_mask(p, rows, cols, i0, j0, mask, has_mask, is_causal, scale, n)
                for r in range(rows):
                    pr = p[r]
                    row_lse = lse[n, i0 + r]
                    for j in range(cols):
                        pr[j] = exp_(pr[j] - row_lse)
                matmul_nn_tile(p.T, gb, dvb, cols, rows, Dv)           # dV_j += Pᵀ dO_i
                _matmul_tile(gb, vb, ds, 0, rows, 0, cols)             # dP = dO_i V_jᵀ
                for r in range(rows):
                    pr, dr = p[r], ds[r]
                    dl = delta[i0 + r]
                    for j in range(cols):
                        dr[j] = pr[j] * (dr[j] - dl)
                    if needs_mask_grad:
                        mr = dmask[n, i0 + r, j0:j0 + cols]
                        for j in range(cols):
                            mr[j] = dr[j]
                    for j in range(cols):
                        dr[j] = dr[j] * scale
                matmul_nn_tile(ds, kb, dq[n, i0:i0 + rows], rows, cols, D)   # dQ_i += dS K_j
                matmul_nn_tile(ds.T, qb, dkb, cols, rows, D)                 # dK_j += dSᵀ Q_i


# ---- the table -------------------------------------------------------------------------------
def _c(a, dtype):
    """a as a C-contiguous writable array of dtype (copied only when it is not one)."""
    if a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable:
        return a
    return np.array(a, dtype=dtype, order="C")


def _additive_mask(mask, N, L, S, dtype):
    """The mask as (flag, float array (Nm, Lm, Sm)) with 0 / -inf for a bool mask.

    A size-1 dim stays 1 (the kernel reads it broadcast), so a (L, S) mask is never
    copied N times."""
    if mask is None:
        return False, np.zeros((1, 1, 1), dtype)
    m = mask.reshape((1,) * (3 - mask.ndim) + mask.shape)
    if m.dtype == np.bool_:
        return True, np.where(m, dtype.type(0), dtype.type(-np.inf))
    return True, _c(m, dtype)


def attention_forward(q, k, v, mask, is_causal, scale):
    dtype = q.dtype
    N, L, _ = q.shape
    S, Dv = k.shape[1], v.shape[2]
    q, k, v = _c(q, dtype), _c(k, dtype), _c(v, dtype)
    has_mask, madd = _additive_mask(mask, N, L, S, dtype)
    out = np.empty((N, L, Dv), dtype)
    lse = np.empty((N, L), dtype)
    attention_forward_kernel2(q, k, v, madd, has_mask, bool(is_causal), dtype.type(scale),
                              out, lse)
    return out, lse


def attention_backward(grad, q, k, v, out, lse, mask, is_causal, scale, needs_mask_grad):
    """-> (dq, dk, dv, dmask or None)."""
    dtype = q.dtype
    N, L, _ = q.shape
    S = k.shape[1]
    arrays = [_c(a, dtype) for a in (grad, q, k, v, out, lse)]
    has_mask, madd = _additive_mask(mask, N, L, S, dtype)
    dq, dk, dv = (np.zeros(a.shape, dtype) for a in arrays[1:4])
    dmask = np.empty((N, L, S) if needs_mask_grad else (0, 0, 0), dtype)
    if needs_mask_grad:
        dmask[...] = 0                           # causal / skipped tiles stay 0
    attention_backward_kernel2(*arrays, madd, has_mask, bool(is_causal), dtype.type(scale),
                               dq, dk, dv, dmask, bool(needs_mask_grad))
    return dq, dk, dv, (dmask if needs_mask_grad else None)
