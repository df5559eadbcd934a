"""2-D convolution (cross-correlation, as torch) on the `cuda` device: implicit GEMM.

Same values as kernels/reference/conv.py, same signatures:

    conv2d_forward(x, w, bias, stride, padding, dilation, groups) -> out
    conv2d_backward_input(grad, w, x_shape, stride, padding, dilation, groups) -> dx
    conv2d_backward_weight(grad, x, w_shape, stride, padding, dilation, groups) -> dw
    conv2d_backward_bias(grad) -> dbias        (grad summed over N, H_out, W_out)

Shapes: x (N, C, H, W), w (C_out, Cg = C / groups, kH, kW), bias (C_out,) or None,
out and grad (N, C_out, H_out, W_out), H_out = (H + 2 pH - dH (kH - 1) - 1) // sH + 1.
conv1d arrives as H = 1. The op saves x and w for backward. Inputs are any strided
views (each operand passes its four strides: a transposed or sliced x costs no copy);
results are C-contiguous in the input dtype (float16 accumulates in float32).

The math, per image n and output channel o of group g (Cog = C_out / groups):

    out[n, o, y, z] = bias[o] + sum over c < Cg, i < kH, j < kW of
        w[o, c, i, j] * x[n, g Cg + c, y sH - pH + i dH, z sW - pW + j dW]  (0 outside)

The naive kernel (one program per output element, a Cg kH kW-long dot) reads every x
element kH kW Cog times and every weight N H_out W_out times: 2 N C_out H_out W_out Cg
kH kW loads for as many flops, no reuse, no tensor cores. A direct-convolution Triton
kernel (one program per output plane, taps as shifted loads) reuses better but still
runs on the CUDA cores: the issue measured it many times slower than a GEMM.

Implicit GEMM: per group, the convolution IS a matrix product

    out (M x Cog) = A (M x K) @ B (K x Cog),  M = N H_out W_out,  K = Cg kH kW
    A[m, k] = xpad[n, c, y sH + i dH, z sW + j dW]  with m -> (n, y, z), k -> (c, i, j)
    B[k, o] = w[o, c, i, j]

so matmul.py's tiles apply (BLOCK_M x BLOCK_N of output per program, BLOCK_K steps,
`tl.dot` on tensor cores), except that A is never materialized: each program decodes
its rows m -> (n, y, z) once, each K step decodes k -> (c, i, j), and loads its A
tile straight from x at those addresses. Padding is the load mask (other=0): no
padded copy, no im2col buffer (which would be kH kW times x). Traffic per program is
the tiled GEMM's, (M K Cog)(1/BLOCK_N + 1/BLOCK_M) element loads, mostly from L2 since
neighbouring rows m read overlapping windows. The group is grid axis 1; bias is added
in the epilogue, in the accumulator's precision, before the single rounding.

- d/dx (`conv2d_backward_input_kernel`) is the same GEMM transposed: per group,
  dx (N H W x Cg) = G (N H W x Cog kH kW) @ W' (Cog kH kW x Cg) with
  G[(n, h, q), (o, i, j)] = grad[n, o, (h + pH - i dH) / sH, (q + pW - j dW) / sW],
  gathered the same way: an entry exists only where both divisions are exact and land
  inside grad, which the load mask says. Why the gather rather than a scatter (every
  output position adding w * grad into its window): the gather writes each dx element
  once from one program, so no atomics, no zero-filled fp32 accumulator, a
  deterministic sum, and the same tile loop as the forward. Its cost: at stride s,
  only 1/(sH sW) of the (i, j) taps divide exactly, so (1 - 1/(sH sW)) of the MACs
  multiply masked zeros (3/4 at stride 2). Stride-2 layers are a few per network
  (downsampling), and at stride 1 nothing is wasted. Splitting dx into its sH sW
  phase planes (each with its own dense tap subset) would remove the waste; not done.
- d/dw (`conv2d_backward_weight_kernel`): per group, dw (Cog x Cg kH kW) =
  grad (Cog x N H_out W_out) @ A (N H_out W_out x Cg kH kW), A the forward's gathered
  windows, the reduction running over every image and output pixel. M and N are
  small (a 64->64 3x3 layer: 64 x 576) and K huge (N H_out W_out: 100k), so the tile
  grid alone would leave most SMs idle: split-K (grid axis 2) gives each program one
  K chunk and writes fp32 (fp64) partial sums, then reduce.sum adds the chunks in a
  fixed order (deterministic, unlike atomics). One chunk, straight to dw, under the
  interpreter or when the tiles already fill the GPU.
- d/dbias: reduce.sum over (N, H_out, W_out) (fp32 accumulation for fp16).
- fp32 `tl.dot` uses input_precision="ieee" (exact products, as torch with TF32 off,
  and what the tests' fp32 tolerances assume); fp16 runs on tensor cores with an fp32
  accumulator; float64 takes the same tiles with a broadcast multiply and a sum over
  K (no fp64 tensor-core path on every GPU), small tiles to bound registers.
- Every load and store is masked (M, N, K need not divide the blocks; out-of-image
  taps are masks). Index decoding divides by runtime sizes (H_out W_out, kH kW, kW):
  integer divisions per element on a GPU, the usual price of implicit GEMM, taken
  once per program for rows and once per K step for a BLOCK_K vector.
- Depthwise (Cg = 1, Cog = 1) makes a GEMM with K = kH kW and one column: the 16-wide
  minimum of `tl.dot` wastes 15/16 of each tile. Correct, not fast; a direct kernel
  would suit it better.
- On a GPU `@triton.autotune` picks the tile per shape; the interpreter runs one large
  config (it costs ~1-4 ms per program per K step, so few, big programs).
"""
import functools

import numpy as np
import triton
import triton.language as tl

from kernels.triton import _launch
from kernels.triton.buffer import INTERPRET, empty, torch
from kernels.triton.creation import full
from kernels.triton.elementwise import astype
from kernels.triton.movement import reshape
from kernels.triton.reduce import sum as _sum


@triton.jit
def _tile_ids(M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    """matmul.py's grouped ordering: GROUP_M tile-rows at a time share B columns in L2."""
    pid = tl.program_id(0)
    num_m = tl.cdiv(M, BLOCK_M)
    num_n = tl.cdiv(N, BLOCK_N)
    group = GROUP_M * num_n
    first_m = (pid // group) * GROUP_M
    group_size = tl.minimum(num_m - first_m, GROUP_M)
    pid_m = first_m + (pid % group) % group_size
    pid_n = (pid % group) // group_size
    return pid_m, pid_n


@triton.jit
def conv2d_forward_kernel(x_ptr, w_ptr, b_ptr, out_ptr, M, N, K, C_G, H, W, OH, OW, KH, KW,
                          sh, sw, ph, pw, dh, dw,
                          stride_xn, stride_xc, stride_xh, stride_xw,
                          stride_wo, stride_wc, stride_wh, stride_ww,
                          stride_on, stride_oc, stride_oh, stride_ow,
                          HAS_BIAS: tl.constexpr, USE_DOT: tl.constexpr, IEEE: tl.constexpr,
                          ACC_F64: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                          BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    """out[:, g Cog:(g+1) Cog] tile: M = N_img OH OW pixels x N = Cog channels, K = Cg kH kW."""
    pid_m, pid_n = _tile_ids(M, N, BLOCK_M, BLOCK_N, GROUP_M)
    g = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_ok = offs_m < M
    n_ok = offs_n < N
    # rows m -> (image, y, z): decoded once, reused by every K step
    img = (offs_m // (OH * OW)).to(tl.int64)
    pix = offs_m % (OH * OW)
    ih0 = (pix // OW) * sh - ph
    iw0 = (pix % OW) * sw - pw
    x_rows = x_ptr + img * stride_xn + (g * C_G).to(tl.int64) * stride_xc
    o = (g * N + offs_n).to(tl.int64)
    w_cols = w_ptr + o * stride_wo
    acc_dtype = tl.float32
    if ACC_F64:
        acc_dtype = tl.float64
    acc = tl.zeros([BLOCK_M, BLOCK_N], acc_dtype)
    for k0 in range(0, K, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        k_ok = offs_k < K
        c = offs_k // (KH * KW)
        tap = offs_k % (KH * KW)
        i = tap // KW
        j = tap % KW
        ih = ih0[:, None] + (i * dh)[None, :]
        iw = iw0[:, None] + (j * dw)[None, :]
        a_mask = (m_ok[:, None] & k_ok[None, :] & (ih >= 0) & (ih < H)
                  & (iw >= 0) & (iw < W))
        a = tl.load(x_rows[:, None] + (c * stride_xc)[None, :] + ih * stride_xh
                    + iw * stride_xw, mask=a_mask, other=0)
        b = tl.load(w_cols[None, :] + (c * stride_wc + i * stride_wh + j * stride_ww)[:, None],
                    mask=k_ok[:, None] & n_ok[None, :], other=0)
        if USE_DOT:
            if IEEE:
                acc += tl.dot(a, b, input_precision="ieee")
            else:
                acc += tl.dot(a, b)
        else:
            acc += tl.sum(a[:, :, None].to(acc_dtype) * b[None, :, :].to(acc_dtype), axis=1)
    if HAS_BIAS:
        acc += tl.load(b_ptr + o, mask=n_ok, other=0).to(acc_dtype)[None, :]
    out_ptrs = (out_ptr + img[:, None] * stride_on + o[None, :] * stride_oc
                + ((pix // OW) * stride_oh + (pix % OW) * stride_ow)[:, None])
    tl.store(out_ptrs, acc.to(out_ptr.dtype.element_ty), mask=m_ok[:, None] & n_ok[None, :])


@triton.jit
def conv2d_backward_input_kernel(grad_ptr, w_ptr, dx_ptr, M, N, K, C_OG, H, W, OH, OW,
                                 KH, KW, sh, sw, ph, pw, dh, dw,
                                 stride_gn, stride_gc, stride_gh, stride_gw,
                                 stride_wo, stride_wc, stride_wh, stride_ww,
                                 stride_dn, stride_dc, stride_dh, stride_dw,
                                 USE_DOT: tl.constexpr, IEEE: tl.constexpr,
                                 ACC_F64: tl.constexpr, BLOCK_M: tl.constexpr,
                                 BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                                 GROUP_M: tl.constexpr):
    """dx[:, g Cg:(g+1) Cg] tile: M = N_img H W pixels x N = Cg channels, K = Cog kH kW."""
    pid_m, pid_n = _tile_ids(M, N, BLOCK_M, BLOCK_N, GROUP_M)
    g = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_ok = offs_m < M
    n_ok = offs_n < N
    img = (offs_m // (H * W)).to(tl.int64)
    pix = offs_m % (H * W)
    th0 = pix // W + ph          # output row y reads input row h when y sH = h + pH - i dH
    tw0 = pix % W + pw
    g_rows = grad_ptr + img * stride_gn + (g * C_OG).to(tl.int64) * stride_gc
    c = (g * N + offs_n).to(tl.int64)
    w_cols = w_ptr + (g * C_OG).to(tl.int64) * stride_wo + offs_n * stride_wc
    acc_dtype = tl.float32
    if ACC_F64:
        acc_dtype = tl.float64
    acc = tl.zeros([BLOCK_M, BLOCK_N], acc_dtype)
    for k0 in range(0, K, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        k_ok = offs_k < K
        o = offs_k // (KH * KW)
        tap = offs_k % (KH * KW)
        i = tap // KW
        j = tap % KW
        th = th0[:, None] - (i * dh)[None, :]
        tw = tw0[:, None] - (j * dw)[None, :]
        # clamp before dividing: C division of a negative rounds toward zero
        th = tl.maximum(th, -1)
        tw = tl.maximum(tw, -1)
        y = th // sh
        z = tw // sw
        a_mask = (m_ok[:, None] & k_ok[None, :] & (th >= 0) & (tw >= 0)
                  & (y * sh == th) & (z * sw == tw) & (y < OH) & (z < OW))
        a = tl.load(g_rows[:, None] + (o * stride_gc)[None, :] + y * stride_gh + z * stride_gw,
                    mask=a_mask, other=0)
        b = tl.load(w_cols[None, :] + (o * stride_wo + i * stride_wh + j * stride_ww)[:, None],
                    mask=k_ok[:, None] & n_ok[None, :], other=0)
        if USE_DOT:
            if IEEE:
                acc += tl.dot(a, b, input_precision="ieee")
            else:
                acc += tl.dot(a, b)
        else:
            acc += tl.sum(a[:, :, None].to(acc_dtype) * b[None, :, :].to(acc_dtype), axis=1)
    dx_ptrs = (dx_ptr + img[:, None] * stride_dn + c[None, :] * stride_dc
               + ((pix // W) * stride_dh + (pix % W) * stride_dw)[:, None])
    tl.store(dx_ptrs, acc.to(dx_ptr.dtype.element_ty), mask=m_ok[:, None] & n_ok[None, :])


@triton.jit
def conv2d_backward_weight_kernel(grad_ptr, x_ptr, out_ptr, M, N, K, CHUNK, C_G, H, W, OH, OW,
                                  KH, KW, sh, sw, ph, pw, dh, dw,
                                  stride_gn, stride_gc, stride_gh, stride_gw,
                                  stride_xn, stride_xc, stride_xh, stride_xw,
                                  stride_os, stride_oo, stride_ok,
                                  USE_DOT: tl.constexpr, IEEE: tl.constexpr,
                                  ACC_F64: tl.constexpr, BLOCK_M: tl.constexpr,
                                  BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                                  GROUP_M: tl.constexpr):
    """dw[g Cog:(g+1) Cog] tile, K chunk program_id(2): M = Cog x N = Cg kH kW, K = N_img OH OW.

    out is (split, C_out, Cg kH kW): partial sums per K chunk (split 1: dw itself)."""
    pid_m, pid_n = _tile_ids(M, N, BLOCK_M, BLOCK_N, GROUP_M)
    g = tl.program_id(1)
    split = tl.program_id(2)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_ok = offs_m < M
    n_ok = offs_n < N
    o = (g * M + offs_m).to(tl.int64)
    g_rows = grad_ptr + o * stride_gc
    # columns -> (c, i, j): decoded once
    c = offs_n // (KH * KW)
    tap = offs_n % (KH * KW)
    i = tap // KW
    j = tap % KW
    x_cols = x_ptr + (g * C_G + c).to(tl.int64) * stride_xc
    acc_dtype = tl.float32
    if ACC_F64:
        acc_dtype = tl.float64
    acc = tl.zeros([BLOCK_M, BLOCK_N], acc_dtype)
    k_start = split * CHUNK
    k_end = tl.minimum(k_start + CHUNK, K)
    for k0 in range(k_start, k_end, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        k_ok = offs_k < k_end
        img = (offs_k // (OH * OW)).to(tl.int64)
        pix = offs_k % (OH * OW)
        y = pix // OW
        z = pix % OW
        a = tl.load(g_rows[:, None] + (img * stride_gn + y * stride_gh + z * stride_gw)[None, :],
                    mask=m_ok[:, None] & k_ok[None, :], other=0)
        ih = (y * sh - ph)[:, None] + (i * dh)[None, :]
        iw = (z * sw - pw)[:, None] + (j * dw)[None, :]
        b_mask = (k_ok[:, None] & n_ok[None, :] & (ih >= 0) & (ih < H)
                  & (iw >= 0) & (iw < W))
        b = tl.load(x_cols[None, :] + (img * stride_xn)[:, None] + ih * stride_xh
                    + iw * stride_xw, mask=b_mask, other=0)
        if USE_DOT:
            if IEEE:
                acc += tl.dot(a, b, input_precision="ieee")
            else:
                acc += tl.dot(a, b)
        else:
            acc += tl.sum(a[:, :, None].to(acc_dtype) * b[None, :, :].to(acc_dtype), axis=1)
    out_ptrs = (out_ptr + split.to(tl.int64) * stride_os + o[:, None] * stride_oo
                + offs_n[None, :] * stride_ok)
    tl.store(out_ptrs, acc.to(out_ptr.dtype.element_ty), mask=m_ok[:, None] & n_ok[None, :])


# ---- launching ------------------------------------------------------------------------------
def _config(bm, bn, bk, warps, stages):
    return triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": 8},
                         num_warps=warps, num_stages=stages)


# Tiles for a GPU. Convolutions' N (output channels per group) is often 16-128, so the
# list leans to tall tiles; K steps of 32 keep the gather's index vectors short.
_CONFIGS = [
    _config(128, 128, 32, 4, 4), _config(128, 64, 32, 4, 4), _config(64, 128, 32, 4, 4),
    _config(128, 32, 32, 4, 4), _config(64, 64, 32, 4, 4), _config(64, 32, 32, 2, 5),
    _config(32, 64, 32, 2, 5), _config(32, 32, 32, 2, 4), _config(128, 16, 32, 4, 4),
    _config(64, 16, 64, 2, 4), _config(16, 64, 64, 2, 4),
]
_KEY = ["M", "N", "K", "USE_DOT", "IEEE"]
if INTERPRET:
    _TUNED = {}
else:
    _TUNED = {
        "forward": triton.autotune(configs=_CONFIGS, key=_KEY)(conv2d_forward_kernel),
        "backward_input": triton.autotune(configs=_CONFIGS, key=_KEY)(
            conv2d_backward_input_kernel),
        "backward_weight": triton.autotune(configs=_CONFIGS, key=_KEY + ["CHUNK"])(
            conv2d_backward_weight_kernel),
    }

# The no-dot (float64) path holds a BLOCK_M x BLOCK_K x BLOCK_N product in registers.
_SMALL = {"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 8, "GROUP_M": 8}
# Interpreter tile caps (M, N, K) per kernel: few big programs. Tests shrink them to 16
# so that small shapes span several programs and K steps with ragged edges.
INTERPRET_CAPS = {"forward": (128, 64, 64), "backward_input": (128, 64, 64),
                  "backward_weight": (64, 64, 256)}
# d/dw's number of K chunks: None picks it from the GPU's size (1 under the
# interpreter); tests force it to exercise the partial-sum path.
SPLIT_K = None
_KERNELS = {"forward": conv2d_forward_kernel, "backward_input": conv2d_backward_input_kernel,
            "backward_weight": conv2d_backward_weight_kernel}


def _flags(dtype):
    use_dot = dtype in (np.float16, np.float32)
    return dict(USE_DOT=use_dot, IEEE=dtype == np.float32, ACC_F64=dtype == np.float64)


def _run(name, m, n, k, extra_grid, args, flags):
    """Launch kernel `name` on an (M x N) tile grid times `extra_grid` (groups, splits)."""
    if INTERPRET:
        cap_m, cap_n, cap_k = INTERPRET_CAPS[name]
        limit_k = cap_k if flags["USE_DOT"] else min(cap_k, 32)
        blocks = {"BLOCK_M": max(16, min(_launch.next_pow2(m), cap_m)),
                  "BLOCK_N": max(16, min(_launch.next_pow2(n), cap_n)),
                  "BLOCK_K": max(16, min(_launch.next_pow2(k), limit_k)), "GROUP_M": 8}
    elif not flags["USE_DOT"]:
        blocks = _SMALL
    else:
        grid = lambda meta: (_launch.cdiv(m, meta["BLOCK_M"]) * _launch.cdiv(n, meta["BLOCK_N"]),
                             *extra_grid)
        _TUNED[name][grid](*args, **flags)
        return
    grid = (_launch.cdiv(m, blocks["BLOCK_M"]) * _launch.cdiv(n, blocks["BLOCK_N"]), *extra_grid)
    _KERNELS[name][grid](*args, **flags, **blocks)


def _out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _acc_dtype(dtype):
    return np.dtype(np.float64 if dtype == np.float64 else np.float32)


def conv2d_forward(x, w, bias, stride, padding, dilation, groups):
    n, c, h, wd = x.shape
    co, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh, ow = _out_size(h, kh, sh, ph, dh), _out_size(wd, kw, sw, pw, dw)
    out = empty((n, co, oh, ow), x.dtype)
    if out.size == 0:
        return out
    cog = co // groups
    m, k = n * oh * ow, cg * kh * kw
    has_bias = bias is not None
    args = (x.ptr(), w.ptr(), bias.ptr() if has_bias else out.ptr(), out.ptr(),
            m, cog, k, cg, h, wd, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw,
            *x.strides, *w.strides, *out.strides)
    _run("forward", m, cog, k, (groups,), args, dict(HAS_BIAS=has_bias, **_flags(x.dtype)))
    return out


def conv2d_backward_input(grad, w, x_shape, stride, padding, dilation, groups):
    n, c, h, wd = x_shape
    co, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh, ow = grad.shape[2:]
    dx = empty(x_shape, grad.dtype)
    if dx.size == 0:
        return dx
    cog = co // groups
    m, k = n * h * wd, cog * kh * kw
    if grad.size == 0:
        return full(x_shape, 0, grad.dtype)
    args = (grad.ptr(), w.ptr(), dx.ptr(), m, cg, k, cog, h, wd, oh, ow, kh, kw,
            sh, sw, ph, pw, dh, dw, *grad.strides, *w.strides, *dx.strides)
    _run("backward_input", m, cg, k, (groups,), args, _flags(grad.dtype))
    return dx


def _split_k(tiles, k):
    """K chunks for d/dw: enough programs for ~2 per SM, each chunk >= 1024 long."""
    if SPLIT_K is not None:
        return max(1, min(SPLIT_K, k))
    if INTERPRET:
        return 1
    return max(1, min(_launch.cdiv(2 * _sm_count(), tiles), k // 1024))


@functools.lru_cache(maxsize=None)
def _sm_count():
    return torch().cuda.get_device_properties(torch().cuda.current_device()).multi_processor_count


def conv2d_backward_weight(grad, x, w_shape, stride, padding, dilation, groups):
    n, c, h, wd = x.shape
    co, cg, kh, kw = w_shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh, ow = grad.shape[2:]
    cog, cols, k = co // groups, cg * kh * kw, n * oh * ow
    if co * cols == 0 or k == 0:
        return full(w_shape, 0, grad.dtype)
    split = _split_k(groups * _launch.cdiv(cog, 64) * _launch.cdiv(cols, 64), k)
    # chunks aligned to 128 (a multiple of every config's BLOCK_K): no ragged middle steps
    chunk = _launch.cdiv(_launch.cdiv(k, split), 128) * 128 if split > 1 else k
    split = _launch.cdiv(k, chunk)
    if split == 1:
        out = empty(w_shape, grad.dtype)
        target = (0, cols, 1)
    else:
        out = empty((split, co, cols), _acc_dtype(grad.dtype))
        target = out.strides
    args = (grad.ptr(), x.ptr(), out.ptr(), cog, cols, k, chunk, cg, h, wd, oh, ow, kh, kw,
            sh, sw, ph, pw, dh, dw, *grad.strides, *x.strides, *target)
    _run("backward_weight", cog, cols, k, (groups, split), args, _flags(grad.dtype))
    if split == 1:
        return out
    dw = _sum(out, (0,), False)
    if dw.dtype != grad.dtype:
        dw = astype(dw, grad.dtype)
    return reshape(dw, w_shape)


def conv2d_backward_bias(grad):
    return _sum(grad, (0, 2, 3), False)
