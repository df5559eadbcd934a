"""Scaled dot-product attention on the `cuda` device: FlashAttention-2, forward and backward.

Same values as kernels/reference/attention.py: softmax(Q Kᵀ·scale + mask) V.

Shapes: q (N, L, D), k (N, S, D), v (N, S, Dv) -> out (N, L, Dv) in q's dtype and lse
(N, L) in q's (float32 for float16 q, as FlashAttention keeps it); N is the flattened batch·head dims (engine/ops/attention.py flattens them). Any
strides. mask: None, or bool (True = takes part) / floating (added to the scores) of
shape (Nm, Lm, Sm), each dim either full or 1 (broadcast: its stride is passed as 0).
is_causal: query i sees keys j <= i (torch's top-left alignment, also for L != S).
Fully-masked rows (and S = 0) give zeros and lse = +inf, so that backward's recomputed
p = exp(s - lse) is 0 there with no special case. Backward needs only q, k, v, out and
lse; it returns (dq, dk, dv, dmask or None), dmask = dS (N, L, S) in full, which the
autograd walk sums down to the mask's shape.

The math, per (n, row i), as a plain loop:

    s[j] = scale · Σ_d q[i, d] k[j, d] + mask[i, j]        (-inf where masked)
    p[j] = exp(s[j] - max s) / Σ_j exp(s[j] - max s)
    out[i, :] = Σ_j p[j] v[j, :]

The naive version (the reference) materializes s and p, N·L·S elements each, and
streams them through memory four times (write s, read s / write p, read p): at N=64,
L=S=2048 fp32 that is 4 GiB of traffic against 2·N·S·D·4 = 128 MiB of K and V.
FlashAttention never writes them:

- forward (`attention_forward_kernel`), grid cdiv(L, BLOCK_M)·N: a program holds a
  BLOCK_M × D query tile and walks K/V in BLOCK_N-key tiles with the online softmax
  (running max m, running sum l, accumulator rescaled by exp(m_old - m_new) when the
  max grows). Under is_causal the key tiles entirely right of the diagonal are never
  loaded (half the work at L = S). Out = acc / l, lse = m + log l. Traffic: q and out
  once, K and V once per query block.
- backward (FlashAttention-2), three kernels:
  1. `attention_backward_preprocess_kernel`: Δ_i = Σ_d dO[i, d] O[i, d] (N, L).
  2. `attention_backward_dkdv_kernel`, grid cdiv(S, BLOCK_N)·N: a program owns a
     K/V tile and walks the query blocks (from the diagonal on when causal),
     recomputing P = exp(S - lse): dV += Pᵀ dO, dS = P ∘ (dO Vᵀ - Δ), dK += dSᵀ Q·scale;
     dS is also written to dmask when a floating mask requires grad.
  3. `attention_backward_dq_kernel`, grid cdiv(L, BLOCK_M)·N: a program owns a query
     block and walks the key tiles: dQ += dS K·scale.
  dQ gets its own kernel (recomputing P once more) instead of tl.atomic_add from the
  dK/dV programs: deterministic, and float64 needs no atomics.
- Head dims D and Dv are padded to powers of two >= 16 (constexpr BLOCK_D, BLOCK_DV)
  with masked loads (zeros add nothing to a dot), so D = 24 or 3 works; L and S need
  not divide the blocks (every load and store is masked).
- fp16/fp32 use `tl.dot` (tensor cores), fp32 with input_precision="ieee" (exact
  products, as numpy); fp16 is accumulated in fp32 and P is rounded to fp16 only as a
  dot operand. float64 has no tensor-core path: a broadcast multiply and a sum
  (`_mm`), with small tiles on a GPU, since it holds BLOCK_M × BLOCK_N × BLOCK_D
  products.
- `scale` is read from a one-element device array of the accumulator's dtype: a Python
  float kernel argument is fp32, which would round a float64 scale.
- On a GPU `@triton.autotune` picks the tiles; the interpreter runs one large tile
  (it costs ~1 ms per program per loop step).
"""
import builtins
import math

import numpy as np
import triton
import triton.language as tl

from kernels.triton import _launch
from kernels.triton.buffer import INTERPRET, empty
from kernels.triton.creation import full


# ---- shared pieces -------------------------------------------------------------------------
@triton.jit
def _mm(a, b, USE_DOT: tl.constexpr, IEEE: tl.constexpr):
    """a (M, K) @ b (K, N): tl.dot for fp16/fp32, a broadcast multiply-sum for float64."""
    if USE_DOT:
        if IEEE:
            c = tl.dot(a, b, input_precision="ieee")
        else:
            c = tl.dot(a, b)
    else:
        c = tl.sum(a[:, :, None] * b[None, :, :], axis=1)
    return c


@triton.jit
def _scores(q, k, scale, n, offs_m, offs_n, L, S, mask_ptr, stride_mn, stride_ml, stride_ms,
            HAS_MASK: tl.constexpr, MASK_BOOL: tl.constexpr, IS_CAUSAL: tl.constexpr,
            USE_DOT: tl.constexpr, IEEE: tl.constexpr):
    """The (BLOCK_M, BLOCK_N) tile of scores q kᵀ·scale + mask, -inf where a key is hidden
    (masked, causal, or past S)."""
    s = _mm(q, tl.trans(k), USE_DOT, IEEE).to(scale.dtype) * scale
    row_ok = offs_m < L
    col_ok = offs_n < S
    keep = row_ok[:, None] & col_ok[None, :]
    if IS_CAUSAL:
        keep = keep & (offs_n[None, :] <= offs_m[:, None])
    if HAS_MASK:
        m = tl.load(mask_ptr + n * stride_mn + offs_m[:, None] * stride_ml
                    + offs_n[None, :] * stride_ms, mask=keep, other=0)
        if MASK_BOOL:
            keep = keep & (m != 0)
        else:
            s = s + m.to(scale.dtype)
    return tl.where(keep, s, float("-inf"))


@triton.jit
def _block_and_batch(size, BLOCK: tl.constexpr):
    """(block index along `size`, batch·head n) of this program. Both live on grid axis 0,
    blocks fastest (a head's K/V stays hot in L2): axis 1 would cap N at 65535 on a GPU."""
    pid = tl.program_id(0)
    blocks = tl.cdiv(size, BLOCK)
    return pid % blocks, (pid // blocks).to(tl.int64)


# ---- forward -------------------------------------------------------------------------------
@triton.jit
def attention_forward_kernel(q_ptr, k_ptr, v_ptr, mask_ptr, scale_ptr, out_ptr, lse_ptr,
                             L, S, D, DV,
                             stride_qn, stride_ql, stride_qd, stride_kn, stride_ks, stride_kd,
                             stride_vn, stride_vs, stride_vd, stride_mn, stride_ml, stride_ms,
                             stride_on, stride_ol, stride_od, stride_ln, stride_ll,
                             HAS_MASK: tl.constexpr, MASK_BOOL: tl.constexpr,
                             IS_CAUSAL: tl.constexpr, USE_DOT: tl.constexpr,
                             IEEE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                             BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr):
    pid_m, n = _block_and_batch(L, BLOCK_M)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    row_ok = offs_m < L
    q = tl.load(q_ptr + n * stride_qn + offs_m[:, None] * stride_ql + offs_d[None, :] * stride_qd,
                mask=row_ok[:, None] & (offs_d < D)[None, :], other=0)
    scale = tl.load(scale_ptr)
    m_i = tl.full([BLOCK_M], float("-inf"), scale.dtype)
    l_i = tl.zeros([BLOCK_M], scale.dtype)
    acc = tl.zeros([BLOCK_M, BLOCK_DV], scale.dtype)
    hi = S
    if IS_CAUSAL:                     # key tiles right of the diagonal: all hidden
        hi = tl.minimum(S, (pid_m + 1) * BLOCK_M)
    for start_n in range(0, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        col_ok = offs_n < S
        k = tl.load(k_ptr + n * stride_kn + offs_n[:, None] * stride_ks
                    + offs_d[None, :] * stride_kd,
                    mask=col_ok[:, None] & (offs_d < D)[None, :], other=0)
        v = tl.load(v_ptr + n * stride_vn + offs_n[:, None] * stride_vs
                    + offs_dv[None, :] * stride_vd,
                    mask=col_ok[:, None] & (offs_dv < DV)[None, :], other=0)
        s = _scores(q, k, scale, n, offs_m, offs_n, L, S, mask_ptr, stride_mn, stride_ml,
                    stride_ms, HAS_MASK, MASK_BOOL, IS_CAUSAL, USE_DOT, IEEE)
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        # A row that has seen only hidden keys keeps m = -inf: shift by 0 so that its
        # exps are exp(-inf) = 0, not exp(-inf + inf) = NaN.
        shift = tl.where(m_new == float("-inf"), 0.0, m_new)
        p = tl.exp(s - shift[:, None])
        alpha = tl.exp(m_i - shift)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        acc = acc * alpha[:, None] + _mm(p.to(v.dtype), v, USE_DOT, IEEE).to(scale.dtype)
        m_i = m_new
    dead = m_i == float("-inf")                      # every key hidden (or S = 0)
    out = acc / tl.where(dead, 1.0, l_i)[:, None]
    lse = tl.where(dead, float("inf"), m_i + tl.log(tl.where(dead, 1.0, l_i)))
    tl.store(out_ptr + n * stride_on + offs_m[:, None] * stride_ol + offs_dv[None, :] * stride_od,
             out.to(out_ptr.dtype.element_ty), mask=row_ok[:, None] & (offs_dv < DV)[None, :])
    tl.store(lse_ptr + n * stride_ln + offs_m * stride_ll, lse.to(lse_ptr.dtype.element_ty),
             mask=row_ok)


# ---- backward ------------------------------------------------------------------------------
@triton.jit
def attention_backward_preprocess_kernel(do_ptr, o_ptr, delta_ptr, L, DV,
                                         stride_don, stride_dol, stride_dod,
                                         stride_on, stride_ol, stride_od,
                                         BLOCK_M: tl.constexpr, BLOCK_DV: tl.constexpr):
    """delta[n, i] = Σ_d dO[n, i, d] O[n, i, d], in delta's (the accumulator's) dtype."""
    pid_m, n = _block_and_batch(L, BLOCK_M)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_dv = tl.arange(0, BLOCK_DV)
    ok = (offs_m < L)[:, None] & (offs_dv < DV)[None, :]
    acc_dtype = delta_ptr.dtype.element_ty
    do = tl.load(do_ptr + n * stride_don + offs_m[:, None] * stride_dol
                 + offs_dv[None, :] * stride_dod, mask=ok, other=0).to(acc_dtype)
    o = tl.load(o_ptr + n * stride_on + offs_m[:, None] * stride_ol + offs_dv[None, :] * stride_od,
                mask=ok, other=0).to(acc_dtype)
    tl.store(delta_ptr + n * L + offs_m, tl.sum(do * o, axis=1), mask=offs_m < L)


@triton.jit
def _probabilities(q, k, scale, lse, n, offs_m, offs_n, L, S, mask_ptr, stride_mn, stride_ml,
                   stride_ms, HAS_MASK: tl.constexpr, MASK_BOOL: tl.constexpr,
                   IS_CAUSAL: tl.constexpr, USE_DOT: tl.constexpr, IEEE: tl.constexpr):
    """P = exp(S - lse), recomputed: 0 where a key is hidden or the row is dead (lse = inf)."""
    s = _scores(q, k, scale, n, offs_m, offs_n, L, S, mask_ptr, stride_mn, stride_ml, stride_ms,
                HAS_MASK, MASK_BOOL, IS_CAUSAL, USE_DOT, IEEE)
    return tl.where(s == float("-inf"), 0.0, tl.exp(s - lse[:, None]))


@triton.jit
def attention_backward_dkdv_kernel(q_ptr, k_ptr, v_ptr, mask_ptr, scale_ptr, do_ptr, lse_ptr,
                                   delta_ptr, dk_ptr, dv_ptr, dmask_ptr, L, S, D, DV,
                                   stride_qn, stride_ql, stride_qd,
                                   stride_kn, stride_ks, stride_kd,
                                   stride_vn, stride_vs, stride_vd,
                                   stride_mn, stride_ml, stride_ms,
                                   stride_don, stride_dol, stride_dod, stride_ln, stride_ll,
                                   HAS_MASK: tl.constexpr, MASK_BOOL: tl.constexpr,
                                   IS_CAUSAL: tl.constexpr, MASK_GRAD: tl.constexpr,
                                   USE_DOT: tl.constexpr, IEEE: tl.constexpr,
                                   BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                                   BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr):
    """One K/V tile: dV = Σ_i Pᵀ dO, dK = Σ_i dSᵀ Q·scale over the query blocks; dS -> dmask.
    dk, dv (N, S, D|Dv) and dmask (N, L, S) are contiguous."""
    pid_n, n = _block_and_batch(S, BLOCK_N)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    col_ok = offs_n < S
    k = tl.load(k_ptr + n * stride_kn + offs_n[:, None] * stride_ks + offs_d[None, :] * stride_kd,
                mask=col_ok[:, None] & (offs_d < D)[None, :], other=0)
    v = tl.load(v_ptr + n * stride_vn + offs_n[:, None] * stride_vs
                + offs_dv[None, :] * stride_vd,
                mask=col_ok[:, None] & (offs_dv < DV)[None, :], other=0)
    scale = tl.load(scale_ptr)
    dk = tl.zeros([BLOCK_N, BLOCK_D], scale.dtype)
    dv = tl.zeros([BLOCK_N, BLOCK_DV], scale.dtype)
    lo = 0
    if IS_CAUSAL:                     # query blocks above the diagonal see none of these keys
        lo = (pid_n * BLOCK_N // BLOCK_M) * BLOCK_M
    for start_m in range(lo, L, BLOCK_M):
        offs_m = start_m + tl.arange(0, BLOCK_M)
        row_ok = offs_m < L
        q = tl.load(q_ptr + n * stride_qn + offs_m[:, None] * stride_ql
                    + offs_d[None, :] * stride_qd,
                    mask=row_ok[:, None] & (offs_d < D)[None, :], other=0)
        do = tl.load(do_ptr + n * stride_don + offs_m[:, None] * stride_dol
                     + offs_dv[None, :] * stride_dod,
                     mask=row_ok[:, None] & (offs_dv < DV)[None, :], other=0)
        lse = tl.load(lse_ptr + n * stride_ln + offs_m * stride_ll, mask=row_ok,
                      other=float("inf")).to(scale.dtype)
        delta = tl.load(delta_ptr + n * L + offs_m, mask=row_ok, other=0)
        p = _probabilities(q, k, scale, lse, n, offs_m, offs_n, L, S, mask_ptr, stride_mn,
                           stride_ml, stride_ms, HAS_MASK, MASK_BOOL, IS_CAUSAL, USE_DOT, IEEE)
        dv += _mm(tl.trans(p.to(do.dtype)), do, USE_DOT, IEEE).to(scale.dtype)
        dp = _mm(do, tl.trans(v), USE_DOT, IEEE).to(scale.dtype)
        ds = p * (dp - delta[:, None])
        dk += _mm(tl.trans(ds.to(q.dtype)), q, USE_DOT, IEEE).to(scale.dtype)
        if MASK_GRAD:
            tl.store(dmask_ptr + n * L * S + offs_m[:, None] * S + offs_n[None, :],
                     ds.to(dmask_ptr.dtype.element_ty),
                     mask=row_ok[:, None] & col_ok[None, :])
    dk = dk * scale
    tl.store(dk_ptr + n * S * D + offs_n[:, None] * D + offs_d[None, :],
             dk.to(dk_ptr.dtype.element_ty), mask=col_ok[:, None] & (offs_d < D)[None, :])
    tl.store(dv_ptr + n * S * DV + offs_n[:, None] * DV + offs_dv[None, :],
             dv.to(dv_ptr.dtype.element_ty), mask=col_ok[:, None] & (offs_dv < DV)[None, :])


@triton.jit
def attention_backward_dq_kernel(q_ptr, k_ptr, v_ptr, mask_ptr, scale_ptr, do_ptr, lse_ptr,
                                 delta_ptr, dq_ptr, L, S, D, DV,
                                 stride_qn, stride_ql, stride_qd,
                                 stride_kn, stride_ks, stride_kd,
                                 stride_vn, stride_vs, stride_vd,
                                 stride_mn, stride_ml, stride_ms,
                                 stride_don, stride_dol, stride_dod, stride_ln, stride_ll,
                                 HAS_MASK: tl.constexpr, MASK_BOOL: tl.constexpr,
                                 IS_CAUSAL: tl.constexpr, USE_DOT: tl.constexpr,
                                 IEEE: tl.constexpr, BLOCK_M: tl.constexpr,
                                 BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
                                 BLOCK_DV: tl.constexpr):
    """One query block: dQ = Σ_j dS K·scale over the key tiles. dq (N, L, D) contiguous."""
    pid_m, n = _block_and_batch(L, BLOCK_M)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    row_ok = offs_m < L
    q = tl.load(q_ptr + n * stride_qn + offs_m[:, None] * stride_ql + offs_d[None, :] * stride_qd,
                mask=row_ok[:, None] & (offs_d < D)[None, :], other=0)
    do = tl.load(do_ptr + n * stride_don + offs_m[:, None] * stride_dol
                 + offs_dv[None, :] * stride_dod,
                 mask=row_ok[:, None] & (offs_dv < DV)[None, :], other=0)
    scale = tl.load(scale_ptr)
    lse = tl.load(lse_ptr + n * stride_ln + offs_m * stride_ll, mask=row_ok,
                  other=float("inf")).to(scale.dtype)
    delta = tl.load(delta_ptr + n * L + offs_m, mask=row_ok, other=0)
    dq = tl.zeros([BLOCK_M, BLOCK_D], scale.dtype)
    hi = S
    if IS_CAUSAL:
        hi = tl.minimum(S, (pid_m + 1) * BLOCK_M)
    for start_n in range(0, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        col_ok = offs_n < S
        k = tl.load(k_ptr + n * stride_kn + offs_n[:, None] * stride_ks
                    + offs_d[None, :] * stride_kd,
                    mask=col_ok[:, None] & (offs_d < D)[None, :], other=0)
        v = tl.load(v_ptr + n * stride_vn + offs_n[:, None] * stride_vs
                    + offs_dv[None, :] * stride_vd,
                    mask=col_ok[:, None] & (offs_dv < DV)[None, :], other=0)
        p = _probabilities(q, k, scale, lse, n, offs_m, offs_n, L, S, mask_ptr, stride_mn,
                           stride_ml, stride_ms, HAS_MASK, MASK_BOOL, IS_CAUSAL, USE_DOT, IEEE)
        dp = _mm(do, tl.trans(v), USE_DOT, IEEE).to(scale.dtype)
        ds = p * (dp - delta[:, None])
        dq += _mm(ds.to(k.dtype), k, USE_DOT, IEEE).to(scale.dtype)
    dq = dq * scale
    tl.store(dq_ptr + n * L * D + offs_m[:, None] * D + offs_d[None, :],
             dq.to(dq_ptr.dtype.element_ty), mask=row_ok[:, None] & (offs_d < D)[None, :])


# ---- launch --------------------------------------------------------------------------------
def _config(bm, bn, warps, stages):
    return triton.Config({"BLOCK_M": bm, "BLOCK_N": bn}, num_warps=warps, num_stages=stages)


_KEY = ["L", "S", "BLOCK_D", "BLOCK_DV", "HAS_MASK", "IS_CAUSAL", "USE_DOT"]
if INTERPRET:
    _forward_tuned = _dkdv_tuned = _dq_tuned = None
else:
    # FlashAttention-2's tiles for head dims up to 128 (configs that exceed shared memory
    # for a large D are dropped by the autotuner), and small ones for short sequences.
    _forward_tuned = triton.autotune(configs=[
        _config(128, 64, 8, 2), _config(128, 32, 4, 3), _config(64, 64, 4, 2),
        _config(64, 32, 4, 3), _config(32, 32, 4, 2), _config(16, 32, 2, 2),
    ], key=_KEY)(attention_forward_kernel)
    _dkdv_tuned = triton.autotune(configs=[
        _config(32, 128, 8, 2), _config(32, 64, 4, 2), _config(64, 64, 4, 2),
        _config(16, 64, 4, 2), _config(32, 32, 4, 2), _config(16, 16, 2, 2),
    ], key=_KEY + ["MASK_GRAD"])(attention_backward_dkdv_kernel)
    _dq_tuned = triton.autotune(configs=[
        _config(128, 32, 8, 2), _config(64, 64, 4, 2), _config(64, 32, 4, 2),
        _config(32, 64, 4, 2), _config(32, 32, 4, 2), _config(16, 16, 2, 2),
    ], key=_KEY)(attention_backward_dq_kernel)

# float64 (no tensor cores) holds BLOCK_M x BLOCK_N x BLOCK_D products: small tiles.
_F64_BLOCKS = {"BLOCK_M": 16, "BLOCK_N": 16}


def _interpret_blocks(L, S):
    """One large tile per program under the interpreter (forced small by the
    tests' small_blocks fixture, which shrinks _launch.TILE_ELEMENTS)."""
    cap = builtins.max(16, math.isqrt(_launch.TILE_ELEMENTS) // 2)
    return {"BLOCK_M": builtins.max(16, builtins.min(_launch.next_pow2(L), cap)),
            "BLOCK_N": builtins.max(16, builtins.min(_launch.next_pow2(S), cap))}


def _launch_kernel(kernel, tuned, grid_dim, use_dot, L, S, args, flags):
    """grid_dim: 'M' (a program per query block) or 'N' (per key block)."""
    n = flags.pop("N")
    if INTERPRET or not use_dot:
        blocks = _interpret_blocks(L, S) if INTERPRET else dict(_F64_BLOCKS)
        size = L if grid_dim == "M" else S
        kernel[(_launch.cdiv(size, blocks[f"BLOCK_{grid_dim}"]) * n,)](*args, **flags, **blocks)
    else:
        size = L if grid_dim == "M" else S
        tuned[lambda meta: (_launch.cdiv(size, meta[f"BLOCK_{grid_dim}"]) * n,)](*args, **flags)


def _common(q, k, v, mask, is_causal, scale):
    """Flags, the scale array, the mask's pointer and (broadcast: 0) strides."""
    dtype = q.dtype
    if dtype not in (np.float16, np.float32, np.float64):
        raise NotImplementedError(f"attention: dtype {dtype} has no cuda kernel. Hint: use "
                                  f"float16, float32 or float64")
    use_dot = dtype != np.float64
    acc = np.float64 if dtype == np.float64 else np.float32
    scale_buf = full((1,), np.dtype(acc).type(scale), acc)
    if mask is None:
        mask_ptr, mask_strides = q.ptr(), (0, 0, 0)
    else:
        mask_ptr = mask.ptr()
        mask_strides = tuple(0 if size == 1 else st for size, st in zip(mask.shape,
                                                                       mask.strides))
    flags = dict(HAS_MASK=mask is not None, MASK_BOOL=mask is not None and
                 mask.dtype == np.bool_, IS_CAUSAL=bool(is_causal), USE_DOT=use_dot,
                 IEEE=dtype == np.float32, BLOCK_D=builtins.max(16, _launch.next_pow2(q.shape[2])),
                 BLOCK_DV=builtins.max(16, _launch.next_pow2(v.shape[2])))
    return flags, scale_buf, mask_ptr, mask_strides, acc


def attention_forward(q, k, v, mask, is_causal, scale):
    N, L, D = q.shape
    S, Dv = k.shape[1], v.shape[2]
    out = empty((N, L, Dv), q.dtype)
    # lse stays in the accumulator's dtype: rounded to float16 it would shift every
    # recomputed p = exp(s - lse) by up to |lse|·2^-11 (~0.5% at lse = 10).
    lse = empty((N, L), np.float64 if q.dtype == np.float64 else np.float32)
    if N == 0 or L == 0:
        return out, lse
    flags, scale_buf, mask_ptr, mask_strides, _ = _common(q, k, v, mask, is_causal, scale)
    args = (q.ptr(), k.ptr(), v.ptr(), mask_ptr, scale_buf.ptr(), out.ptr(), lse.ptr(),
            L, S, D, Dv, *q.strides, *k.strides, *v.strides, *mask_strides, *out.strides,
            *lse.strides)
    _launch_kernel(attention_forward_kernel, _forward_tuned, "M", flags["USE_DOT"], L, S, args,
                   dict(flags, N=N))
    return out, lse


def attention_backward(grad, q, k, v, out, lse, mask, is_causal, scale, needs_mask_grad):
    """-> (dq, dk, dv, dmask or None); dq, dk, dv, dmask contiguous."""
    N, L, D = q.shape
    S, Dv = k.shape[1], v.shape[2]
    dq = empty((N, L, D), q.dtype)
    dk = empty((N, S, D), q.dtype)
    dv = empty((N, S, Dv), q.dtype)
    # Under is_causal the dK/dV programs skip the query blocks above the diagonal, which
    # would leave their dS unwritten: zeros first (the op never asks for both).
    dmask = None
    if needs_mask_grad:
        dmask = full((N, L, S), 0, q.dtype) if is_causal else empty((N, L, S), q.dtype)
    if N == 0:
        return dq, dk, dv, dmask
    if L == 0 or S == 0:                  # nothing attends: every gradient is zero
        return (full(dq.shape, 0, q.dtype), full(dk.shape, 0, q.dtype),
                full(dv.shape, 0, q.dtype), dmask)
    flags, scale_buf, mask_ptr, mask_strides, acc = _common(q, k, v, mask, is_causal, scale)
    delta = empty((N, L), acc)
    block = builtins.max(16, builtins.min(_launch.next_pow2(L), 128 if INTERPRET else 64))
    attention_backward_preprocess_kernel[(_launch.cdiv(L, block) * N,)](
        grad.ptr(), out.ptr(), delta.ptr(), L, Dv, *grad.strides, *out.strides,
        BLOCK_M=block, BLOCK_DV=flags["BLOCK_DV"])
    inputs = (q.ptr(), k.ptr(), v.ptr(), mask_ptr, scale_buf.ptr(), grad.ptr(), lse.ptr(),
              delta.ptr())
    strides = (*q.strides, *k.strides, *v.strides, *mask_strides, *grad.strides, *lse.strides)
    _launch_kernel(attention_backward_dkdv_kernel, _dkdv_tuned, "N", flags["USE_DOT"], L, S,
                   (*inputs, dk.ptr(), dv.ptr(), dq.ptr() if dmask is None else dmask.ptr(),
                    L, S, D, Dv, *strides),
                   dict(flags, N=N, MASK_GRAD=dmask is not None))
    _launch_kernel(attention_backward_dq_kernel, _dq_tuned, "M", flags["USE_DOT"], L, S,
                   (*inputs, dq.ptr(), L, S, D, Dv, *strides), dict(flags, N=N))
    return dq, dk, dv, dmask
