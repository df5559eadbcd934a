"""2-D convolution (cross-correlation, as torch), Numba CPU. Must match
`kernels/reference/conv.py`.

    conv2d_forward(x, w, bias, stride, padding, dilation, groups) -> out
    conv2d_backward_input(grad, w, x_shape, stride, padding, dilation, groups) -> dx
    conv2d_backward_weight(grad, x, w_shape, stride, padding, dilation, groups) -> dw
    conv2d_backward_bias(grad) -> dbias     (the sum over N, H_out, W_out)

Shapes: x (N, C, H, W), w (C_out, Cg = C / groups, kH, kW), bias (C_out,) or None,
out and grad (N, C_out, H_out, W_out), H_out = (H + 2 pH - dH (kH - 1) - 1) // sH + 1;
stride, padding (zeros, both sides), dilation are (h, w) pairs. conv1d is H = 1. The
op saves x and w for backward. float32 and float64; results C-contiguous; inputs of
any layout (copied to C order first).

The math, per image n and output channel o of group g (Cog = C_out / groups):

    for y, x_ in output pixels:
        out[n, o, y, x_] = bias[o] + sum over c < Cg, i < kH, j < kW of
            w[o, c, i, j] * xpad[n, g Cg + c, y sH + i dH, x_ sW + j dW]

2 N C_out H_out W_out Cg kH kW flops over one read of x and w and one write of out,
so a big layer is compute-bound (ResNet's 64->64 3x3 on 32x64x56x56: 7.4 GFLOP over
~52 MB) and a small one (LeNet's 1->6 5x5: 15 MFLOP over 1.5 MB) is not.
dx is the same sum scattered back (every output adds w * grad onto the window it
read); dw[o, c, i, j] the sum over n and pixels of grad times the window element.

The rungs (each checked against the reference in tests/test_conv_kernels.py). Times:
one thread, float32, AMD EPYC (Zen 5), on a machine shared with other jobs (load 3-4
on 2 cores: every number here is +-30%; the tile and crossover choices compared
variants interleaved in one process, best of 7-8):

                              LeNet 64x1x32x32, 6x5x5    ResNet 32x64x56x56, 64x3x3 p1
    forward  kernel1 direct          0.30 ms               211 ms    (35 GFLOP/s)
             kernel2 im2col+GEMM     1.35 ms                47-57 ms (130-157 GFLOP/s)
    d/dx     kernel1 scatter         2.7 ms               1150 ms
             kernel2 GEMM+col2im     3.5 ms                 90 ms
             stride 1: as forward    0.44 ms (kernel1)     ~57 ms   (kernel2)
    d/dw     kernel1 direct          3.1 ms               1410 ms
             kernel2 im2col+GEMM     1.2 ms                247 ms
             kernel3 implicit GEMM   0.37 ms                42 ms   (177 GFLOP/s)

- `conv2d_forward_kernel1` (direct): one (image, output channel) plane per task. At
  stride 1 the accumulator is as wide as the padded input row (Wp, not W_out), so
  every tap (c, i, j) is ONE contiguous, vectorized loop `acc[q] += w * xpad[q + off]`
  over all output rows (the Wp - W_out extra columns are wasted work, 12% on LeNet)
  instead of H_out loops of W_out (28) that leave a scalar remainder each. Other
  strides loop per row. Best for few output channels per group or short reductions.
- `conv2d_forward_kernel2` (im2col + GEMM): x to zero-padded NHWC once (parallel over
  rows), then per (image, group, tile of 32K / (kH kW Cg) output pixels): gather the
  tile's patches (pixels x kH kW Cg; in NHWC a window row is one run of kW Cg
  channels) and multiply with the weights (Cog x kH kW Cg) on matmul's 4x4-register
  micro-kernel
  (`kernels/numba/matmul.py:_matmul_tile`, dot-product form: both operands unit-stride
  along the reduction). Tiles of ~32K elements (128 KiB, in L2): 16K was 12% slower,
  32K-128K within noise. Of the ~57 ms, the NHWC copy takes ~13 and the gathers ~5-9
  (timed alone, loaded machine): the price of the dot-product micro-kernel, which
  needs the reduction (taps x channels) contiguous. An outer-product micro-kernel on
  NCHW rows would need none of it, but Numba/LLVM kept its 4x16 or 4x32 accumulators
  in memory, not registers: 10-19 GFLOP/s, so it is not a rung.
- d/dx at stride 1 is the forward convolution of grad with w flipped in space and its
  channel axes swapped, padded by dH (kH - 1) - pH (cropped if negative): the
  forward's rungs and speed, no scatter. Other strides:
  `conv2d_backward_input_kernel1` (direct scatter, one dx plane per task, no races) or
  `conv2d_backward_input_kernel2` (per image: patch gradients = grad tile (pixels x
  Cog) x weights on the GEMM, added back into an NHWC accumulator: col2im).
- `conv2d_backward_weight_kernel1` (direct, one (o, c) filter per task),
  `conv2d_backward_weight_kernel2` (im2col columns (Cg kH kW x pixels) from NCHW rows,
  then grad tile x columns^T on the GEMM) and `conv2d_backward_weight_kernel3`
  (implicit GEMM, always used): the image's group is laid out once as sH x sW phase
  planes of the padded input, in which every tap (c, i, j) reads the output pixels at
  one flat offset + y Q + x_ (Q the phase row length); with grad widened to rows of Q
  (zeros past W_out), dw = grad_wide x (the input at K offsets), a GEMM whose second
  operand's rows are windows of one buffer: no column matrix, and the K rows overlap
  in memory, so the working set is the image, not K times it. Counting the phase
  positions up instead of dividing by the stride per element made it 2.7x faster
  (114 -> 42 ms). Batch chunks (one per thread) sum into private copies, added in a
  fixed order: the result depends on the thread count but not on the run.

Crossover (forward, kernel1 vs kernel2, 1 thread, 32 images): kernel2 from 4 output
channels per group and a 64-long reduction: 1->6 5x5 0.19 vs 0.68 ms, 3->16 3x3
(K 27) 0.78 vs 1.54, 4->32 3x3 (K 36) 1.69 vs 2.17, 8->8 3x3 (K 72) 1.00 vs 0.98,
16->4 3x3 (K 144) 0.46 vs 0.34, 6->16 5x5 0.38 vs 0.13, 3->64 7x7 stride 2 55 vs 3.5,
depthwise 3x3 0.31 vs 4.5, 64->1 and 64->2 3x3 (K 576) 0.96 / 1.80 vs 3.60 / 3.22.
d/dx at stride 2: kernel2 from a 64-long reduction (C_out/groups kH kW): 64->128 3x3
1050 vs 50 ms, 3->16 3x3 4.9 vs 2.2, depthwise 0.50 vs 7.1.

Threads: the rungs split (image, channel or tile) tasks with prange; a call under
~33 MFLOP (LeNet's layers) runs on one thread instead (_run): on this shared 2-core
machine a parallel region stalls a scheduler time slice whenever the other core is
busy, longer than such a call takes.

fastmath is {"reassoc", "contract"} (vectorized partial sums and FMA), as matmul;
NaN and inf propagate (an inf in x reaches the outputs whose windows hold it; kernel3
multiplies the zero columns of the widened grad with real inputs, so an inf there
gives NaN in dw where torch gives inf or NaN too). Sums accumulate in the input
precision, as BLAS and torch do; d/dw's float32 error is ~20x below torch's on both
bench layers (blocked sums). Numba's cache does not track `_matmul_tile`, which lives
in matmul.py: after editing it, delete kernels/numba/__pycache__/conv.*.
"""
import numba
import numpy as np
from numba import prange

from kernels.numba._launch import kernel, launch
from kernels.numba.matmul import _matmul_tile

_FAST = {"reassoc", "contract"}
_TILE_ELEMS = 1 << 15       # patch / column tile size, elements (128 KiB of float32)
_GEMM_MIN_OUT = 4           # forward: rung 2 from this many output channels per group
_GEMM_MIN_K = 64            # ... and a reduction (Cg kH kW) this long; also d/dx's rung 2
_PARALLEL_FLOPS = 1 << 25   # below ~33 MFLOP (~0.3 ms) a call runs on one thread
_SPAN_CHUNK = 512           # pixels per implicit-GEMM pass (kernel3): L1/L2-sized rows


# ---- small helpers ----------------------------------------------------------------------
@numba.njit(cache=True)
def _first_last(base, step, size, n):
    """Output positions z in [0, n) whose input z * step + base lies in [0, size)."""
    lo = max(0, (step - 1 - base) // step)
    hi = min(n, (size - 1 - base) // step + 1)
    return lo, max(lo, hi)


@numba.njit(cache=True)
def _tile_size(k, p):
    """Pixels per GEMM tile: the tile (pixels x k) stays near _TILE_ELEMS, a multiple of 4."""
    t = max(16, (_TILE_ELEMS // max(k, 1)) // 4 * 4)
    return min(t, (p + 3) // 4 * 4)


# ---- rung 1: direct loops -----------------------------------------------------------------
@kernel(parallel=True, fastmath=_FAST)
def conv2d_forward_kernel1(x, w, bias, sh, sw, ph, pw, dh, dw, groups, out):
    """Rung 1: direct loops, one (image, output channel) plane per task."""
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w)
    out = np.ascontiguousarray(out)
    N, C, H, W = x.shape
    Co, Cg, kh, kw = w.shape
    Ho, Wo = out.shape[2], out.shape[3]
    Cog = Co // groups
    Hp, Wp = H + 2 * ph, W + 2 * pw
    wide = sh == 1 and sw == 1
    padded = ph > 0 or pw > 0
    span = (Ho - 1) * Wp + Wo
    for t in prange(N * Co):
        n = t // Co
        o = t - n * Co
        c0 = (o // Cog) * Cg
        b = bias[o]
        if wide:
            # Stride 1: output row y under tap (i, j) reads padded row y + i dH from column
            # j dW on. With the accumulator as wide as the padded plane (Wp, not Wo), a
            # tap is then ONE contiguous loop over all rows (the Wp - Wo extra columns
            # are wasted work): long vectorized loops instead of Ho short ones.
            acc = np.zeros(Ho * Wp, out.dtype)
            buf = np.zeros(Hp * Wp if padded else 0, x.dtype)
            for c in range(Cg):
                if padded:
                    plane = x[n, c0 + c]
                    for h in range(H):
                        row = buf[(h + ph) * Wp + pw:(h + ph) * Wp + pw + W]
                        src = plane[h]
                        for q in range(W):
                            row[q] = src[q]
                    flat = buf
                else:
                    flat = x[n, c0 + c].reshape(H * W)
                for i in range(kh):
                    for j in range(kw):
                        wv = w[o, c, i, j]
                        off = i * dh * Wp + j * dw
                        src = flat[off:off + span]
                        for q in range(span):
                            acc[q] += wv * src[q]
            for y in range(Ho):
                dst = out[n, o, y]
                src = acc[y * Wp:y * Wp + Wo]
                for z in range(Wo):
                    dst[z] = src[z] + b
        else:
            acc = np.zeros(Ho * Wo, out.dtype)
            for c in range(Cg):
                plane = x[n, c0 + c]
                for i in range(kh):
                    for j in range(kw):
                        wv = w[o, c, i, j]
                        base = j * dw - pw
                        z_lo, z_hi = _first_last(base, sw, W, Wo)
                        for y in range(Ho):
                            ih = y * sh - ph + i * dh
                            if ih < 0 or ih >= H:
                                continue
                            dst = acc[y * Wo + z_lo:y * Wo + z_hi]
                            src = plane[ih, z_lo * sw + base:(z_hi - 1) * sw + base + 1:sw]
                            for q in range(z_hi - z_lo):
                                dst[q] += wv * src[q]
            for y in range(Ho):
                dst = out[n, o, y]
                for z in range(Wo):
                    dst[z] = acc[y * Wo + z] + b


@kernel(parallel=True, fastmath=_FAST)
def conv2d_backward_input_kernel1(grad, w, sh, sw, ph, pw, dh, dw, groups, out):
    """Rung 1: direct scatter, one (image, input channel) plane of dx per task."""
    grad = np.ascontiguousarray(grad)
    w = np.ascontiguousarray(w)
    out = np.ascontiguousarray(out)
    N, C, H, W = out.shape
    Co, Cg, kh, kw = w.shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    Cog = Co // groups
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        g = c // Cg
        cc = c - g * Cg
        acc = np.zeros(H * W, out.dtype)
        for o in range(g * Cog, (g + 1) * Cog):
            gp = grad[n, o]
            for i in range(kh):
                for j in range(kw):
                    wv = w[o, cc, i, j]
                    base = j * dw - pw
                    z_lo, z_hi = _first_last(base, sw, W, Wo)
                    for y in range(Ho):
                        ih = y * sh - ph + i * dh
                        if ih < 0 or ih >= H:
                            continue
                        start = ih * W + z_lo * sw + base
                        dst = acc[start:start + (z_hi - z_lo - 1) * sw + 1:sw]
                        src = gp[y, z_lo:z_hi]
                        for q in range(z_hi - z_lo):
                            dst[q] += wv * src[q]
        dst = out[n, c].reshape(H * W)
        for q in range(H * W):
            dst[q] = acc[q]


@kernel(parallel=True, fastmath=_FAST)
def conv2d_backward_weight_kernel1(grad, x, sh, sw, ph, pw, dh, dw, groups, out):
    """Rung 1: direct loops, one (output channel, input channel) filter per task."""
    grad = np.ascontiguousarray(grad)
    x = np.ascontiguousarray(x)
    out = np.ascontiguousarray(out)
    N, C, H, W = x.shape
    Co, Cg, kh, kw = out.shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    Cog = Co // groups
    for t in prange(Co * Cg):
        o = t // Cg
        cc = t - o * Cg
        c = (o // Cog) * Cg + cc
        acc = np.zeros(kh * kw, out.dtype)
        for n in range(N):
            gp = grad[n, o]
            plane = x[n, c]
            for i in range(kh):
                for j in range(kw):
                    base = j * dw - pw
                    z_lo, z_hi = _first_last(base, sw, W, Wo)
                    s = out.dtype.type(0)
                    for y in range(Ho):
                        ih = y * sh - ph + i * dh
                        if ih < 0 or ih >= H:
                            continue
                        gr = gp[y, z_lo:z_hi]
                        xr = plane[ih, z_lo * sw + base:(z_hi - 1) * sw + base + 1:sw]
                        for q in range(z_hi - z_lo):
                            s += gr[q] * xr[q]
                    acc[i * kw + j] += s
        for i in range(kh):
            for j in range(kw):
                out[o, cc, i, j] = acc[i * kw + j]


# ---- rung 2: im2col + GEMM ------------------------------------------------------------------
@numba.njit(cache=True)
def _to_padded_nhwc(x, xg, t, ph, pw):
    """Row t = (n, h) of x (N, C, H, W) into xg (N, G, Hp, Wp, Cg) at (h + pH, . + pW).
    Each channel's row is read contiguously and written at stride Cg into one padded
    NHWC row (Wp Cg elements, in L1 while the channels run): 1.3x faster than walking
    16-column blocks with 2-D indexing (17 -> 13 ms on 32x64x56x56, one thread)."""
    N, C, H, W = x.shape
    G, Wp, Cg = xg.shape[1], xg.shape[3], xg.shape[4]
    n = t // H
    h = t - n * H
    for g in range(G):
        dst = xg[n, g, h + ph].reshape(Wp * Cg)
        for cc in range(Cg):
            src = x[n, g * Cg + cc, h]
            d = dst[pw * Cg + cc:]
            for q in range(W):
                d[q * Cg] = src[q]


@numba.njit(cache=True)
def _zero_border(xp, ph, pw):
    """Zero the pH rows and pW columns around xp (Hp, Wp, ...), leaving the interior."""
    Hp, Wp = xp.shape[0], xp.shape[1]
    zero = xp.dtype.type(0)
    for h in range(Hp):
        row = xp[h].reshape(-1)
        per = row.shape[0] // Wp
        if h < ph or h >= Hp - ph:
            for q in range(row.shape[0]):
                row[q] = zero
        else:
            for q in range(pw * per):
                row[q] = zero
            for q in range((Wp - pw) * per, Wp * per):
                row[q] = zero


@numba.njit(cache=True)
def _gather_patches(xp, patch, p_lo, cnt, Wo, kh, kw, sh, sw, dh, dw):
    """patch[r, (i kW + j) Cg + c] = xp[y sH + i dH, z sW + j dW, c] for the pixels
    p_lo + r = y Wo + z. xp is one image's group, zero-padded NHWC (Hp, Wp, Cg): every
    tap is a run of Cg channels, and at dW = 1 a window row is one run of kW Cg."""
    Wp, Cg = xp.shape[1], xp.shape[2]
    flat = xp.reshape(-1)
    run = kw * Cg if dw == 1 else Cg
    for r in range(cnt):
        p = p_lo + r
        y = p // Wo
        z = p - y * Wo
        prow = patch[r]
        k = 0
        for i in range(kh):
            start = ((y * sh + i * dh) * Wp + z * sw) * Cg
            for j in range(0, kw, run // Cg):
                src = flat[start + j * dw * Cg:start + j * dw * Cg + run]
                dst = prow[k:k + run]
                for c in range(run):
                    dst[c] = src[c]
                k += run


@numba.njit(cache=True)
def _gather_cols(xn, cols, p_lo, cnt, Wo, c0, Cg, kh, kw, sh, sw, ph, pw, dh, dw):
    """cols[(c kH + i) kW + j, r] = xpad[c0 + c, y sH + i dH, z sW + j dW] for pixels
    p_lo + r = y Wo + z, r < cnt, and 0 for r >= cnt; xn is one image in NCHW, so a row
    of cols is a few strided runs of x's rows (contiguous at stride 1)."""
    H, W = xn.shape[1], xn.shape[2]
    zero = cols.dtype.type(0)
    tile = cols.shape[1]
    for c in range(Cg):
        plane = xn[c0 + c]
        for i in range(kh):
            for j in range(kw):
                row = cols[(c * kh + i) * kw + j]
                base = j * dw - pw
                z_lo, z_hi = _first_last(base, sw, W, Wo)
                r = 0
                p = p_lo
                while r < cnt:
                    y = p // Wo
                    z = p - y * Wo
                    seg = min(Wo - z, cnt - r)          # pixels z .. z + seg - 1 of row y
                    ih = y * sh - ph + i * dh
                    dst = row[r:r + seg]
                    a = max(z, z_lo)
                    b = min(z + seg, z_hi)
                    if ih < 0 or ih >= H or a >= b:
                        for q in range(seg):
                            dst[q] = zero
                    else:
                        for q in range(a - z):
                            dst[q] = zero
                        src = plane[ih, a * sw + base:(b - 1) * sw + base + 1:sw]
                        mid = dst[a - z:b - z]
                        for q in range(b - a):
                            mid[q] = src[q]
                        for q in range(b - z, seg):
                            dst[q] = zero
                    r += seg
                    p += seg
                for q in range(cnt, tile):
                    row[q] = zero


@kernel(parallel=True, fastmath=_FAST)
def conv2d_forward_kernel2(x, w, bias, sh, sw, ph, pw, dh, dw, groups, out):
    """Rung 2: x to zero-padded NHWC once, then per (image, group, pixel tile): gather
    the tile's patches (pixels x kH kW Cg) and multiply with the weights on the GEMM."""
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w)
    out = np.ascontiguousarray(out)
    N, C, H, W = x.shape
    Co, Cg, kh, kw = w.shape
    Ho, Wo = out.shape[2], out.shape[3]
    G = groups
    Cog = Co // G
    K = kh * kw * Cg
    P = Ho * Wo
    xg = np.empty((N, G, H + 2 * ph, W + 2 * pw, Cg), x.dtype)
    for t in prange(N * G):
        _zero_border(xg[t // G, t % G], ph, pw)
    for t in prange(N * H):
        _to_padded_nhwc(x, xg, t, ph, pw)
    wk = np.empty((G, Cog, K), w.dtype)
    for o in range(Co):
        g = o // Cog
        for c in range(Cg):
            for i in range(kh):
                for j in range(kw):
                    wk[g, o - g * Cog, (i * kw + j) * Cg + c] = w[o, c, i, j]
    tile = _tile_size(K, P)
    tiles = (P + tile - 1) // tile
    out3 = out.reshape(N, Co, P)
    for t in prange(N * G * tiles):
        n = t // (G * tiles)
        r = t - n * (G * tiles)
        g = r // tiles
        p_lo = (r - g * tiles) * tile
        cnt = min(tile, P - p_lo)
        patch = np.empty((tile, K), x.dtype)
        _gather_patches(xg[n, g], patch, p_lo, cnt, Wo, kh, kw, sh, sw, dh, dw)
        cbuf = np.empty((Cog, tile), out.dtype)
        _matmul_tile(wk[g], patch, cbuf, 0, Cog, 0, cnt)
        for o in range(Cog):
            b = bias[g * Cog + o]
            dst = out3[n, g * Cog + o, p_lo:p_lo + cnt]
            src = cbuf[o]
            for q in range(cnt):
                dst[q] = src[q] + b


@kernel(parallel=True, fastmath=_FAST)
def conv2d_backward_weight_kernel2(grad, x, sh, sw, ph, pw, dh, dw, groups, chunks, out):
    """Rung 2: per (image, group, pixel tile), dw_g += grad tile (Cog x pixels) times the
    tile's columns (Cg kH kW x pixels) on the GEMM; batch chunks sum in private copies."""
    grad = np.ascontiguousarray(grad)
    x = np.ascontiguousarray(x)
    out = np.ascontiguousarray(out)
    N, C, H, W = x.shape
    Co, Cg, kh, kw = out.shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    G = groups
    Cog = Co // G
    K = Cg * kh * kw
    P = Ho * Wo
    tile = _tile_size(K, P)
    chunks = max(1, min(N, chunks))
    partial = np.zeros((chunks, Co, K), out.dtype)
    g3 = grad.reshape(N, Co, P)
    zero = out.dtype.type(0)
    for ch in prange(chunks):
        cols = np.empty((K, tile), x.dtype)
        a = np.empty((Cog, tile), grad.dtype)
        cbuf = np.empty((Cog, K), out.dtype)
        mine = partial[ch]
        for n in range(ch * N // chunks, (ch + 1) * N // chunks):
            for g in range(G):
                for p_lo in range(0, P, tile):
                    cnt = min(tile, P - p_lo)
                    for o in range(Cog):
                        src = g3[n, g * Cog + o, p_lo:p_lo + cnt]
                        dst = a[o]
                        for q in range(cnt):
                            dst[q] = src[q]
                        for q in range(cnt, tile):
                            dst[q] = zero
                    _gather_cols(x[n], cols, p_lo, cnt, Wo, g * Cg, Cg, kh, kw, sh, sw,
                                 ph, pw, dh, dw)
                    _matmul_tile(a, cols, cbuf, 0, Cog, 0, K)
                    for o in range(Cog):
                        dst = mine[g * Cog + o]
                        src = cbuf[o]
                        for k in range(K):
                            dst[k] += src[k]
    out2 = out.reshape(Co, K)
    for o in range(Co):
        for k in range(K):
            out2[o, k] = partial[0, o, k]
        for ch in range(1, chunks):
            for k in range(K):
                out2[o, k] += partial[ch, o, k]


@numba.njit(cache=True, fastmath=_FAST)
def _gemm_shifted(a, xf, offs, c, q0, L):
    """c[i, j] += sum over q < L of a[i, q0 + q] * xf[offs[j] + q0 + q].

    An implicit GEMM: the rows of the second operand are windows of one flat buffer at
    the offsets `offs` (the taps), so no column matrix is built. a (M, >= q0 + L) and xf
    C-contiguous, c (M, len(offs)). The 4x4 register blocks of matmul's _matmul_tile:
    16 accumulators while q runs, the q loop unit-stride and vectorized."""
    M = a.shape[0]
    Kn = offs.shape[0]
    zero = c.dtype.type(0)
    i = 0
    while i + 4 <= M:
        a0 = a[i][q0:q0 + L]
        a1 = a[i + 1][q0:q0 + L]
        a2 = a[i + 2][q0:q0 + L]
        a3 = a[i + 3][q0:q0 + L]
        j = 0
        while j + 4 <= Kn:
            b0 = xf[offs[j] + q0:offs[j] + q0 + L]
            b1 = xf[offs[j + 1] + q0:offs[j + 1] + q0 + L]
            b2 = xf[offs[j + 2] + q0:offs[j + 2] + q0 + L]
            b3 = xf[offs[j + 3] + q0:offs[j + 3] + q0 + L]
            c00 = c01 = c02 = c03 = zero
            c10 = c11 = c12 = c13 = zero
            c20 = c21 = c22 = c23 = zero
            c30 = c31 = c32 = c33 = zero
            for k in range(L):
                x0 = a0[k]
                x1 = a1[k]
                x2 = a2[k]
                x3 = a3[k]
                y0 = b0[k]
                y1 = b1[k]
                y2 = b2[k]
                y3 = b3[k]
                c00 += x0 * y0
                c01 += x0 * y1
                c02 += x0 * y2
                c03 += x0 * y3
                c10 += x1 * y0
                c11 += x1 * y1
                c12 += x1 * y2
                c13 += x1 * y3
                c20 += x2 * y0
                c21 += x2 * y1
                c22 += x2 * y2
                c23 += x2 * y3
                c30 += x3 * y0
                c31 += x3 * y1
                c32 += x3 * y2
                c33 += x3 * y3
            row = c[i]
            row[j] += c00
            row[j + 1] += c01
            row[j + 2] += c02
            row[j + 3] += c03
            row = c[i + 1]
            row[j] += c10
            row[j + 1] += c11
            row[j + 2] += c12
            row[j + 3] += c13
            row = c[i + 2]
            row[j] += c20
            row[j + 1] += c21
            row[j + 2] += c22
            row[j + 3] += c23
            row = c[i + 3]
            row[j] += c30
            row[j + 1] += c31
            row[j + 2] += c32
            row[j + 3] += c33
            j += 4
        for jj in range(j, Kn):                 # K not a multiple of 4
            bj = xf[offs[jj] + q0:offs[jj] + q0 + L]
            for ii in range(i, i + 4):
                ai = a[ii][q0:q0 + L]
                acc = zero
                for k in range(L):
                    acc += ai[k] * bj[k]
                c[ii, jj] += acc
        i += 4
    for ii in range(i, M):                      # M not a multiple of 4
        ai = a[ii][q0:q0 + L]
        for jj in range(Kn):
            bj = xf[offs[jj] + q0:offs[jj] + q0 + L]
            acc = zero
            for k in range(L):
                acc += ai[k] * bj[k]
            c[ii, jj] += acc


@kernel(parallel=True, fastmath=_FAST)
def conv2d_backward_weight_kernel3(grad, x, sh, sw, ph, pw, dh, dw, groups, chunks, out):
    """Rung 3: implicit GEMM. Each image's group is laid out once as sH x sW phase
    planes of the zero-padded input, (Cg, sH, sW, R, Q); in them every tap (c, i, j)
    reads the output pixels (y, z) at one flat offset + y Q + z. With the gradient
    widened to rows of Q (zeros past Wo), dw = grad_wide times the shifted windows:
    _gemm_shifted, with no column matrix at all."""
    grad = np.ascontiguousarray(grad)
    x = np.ascontiguousarray(x)
    out = np.ascontiguousarray(out)
    N, C, H, W = x.shape
    Co, Cg, kh, kw = out.shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    G = groups
    Cog = Co // G
    K = Cg * kh * kw
    R = (H + 2 * ph + sh - 1) // sh
    Q = (W + 2 * pw + sw - 1) // sw
    plane = sh * sw * R * Q
    span = (Ho - 1) * Q + Wo                    # wide pixels y Q + z that are real
    offs = np.empty(K, np.intp)
    for c in range(Cg):
        for i in range(kh):
            for j in range(kw):
                offs[(c * kh + i) * kw + j] = (
                    c * plane + (((i * dh) % sh) * sw + (j * dw) % sw) * R * Q
                    + ((i * dh) // sh) * Q + (j * dw) // sw)
    chunks = max(1, min(N, chunks))
    partial = np.zeros((chunks, Co, K), out.dtype)
    zero = out.dtype.type(0)
    for ch in prange(chunks):
        xf = np.empty(Cg * plane, x.dtype)
        a = np.empty((Cog, Ho * Q), grad.dtype)
        mine = partial[ch]
        for n in range(ch * N // chunks, (ch + 1) * N // chunks):
            for g in range(G):
                # phase planes: xf[c, u, v, r, q] = xpad[c, r sH + u, q sW + v]
                for q in range(xf.shape[0]):
                    xf[q] = zero
                for c in range(Cg):
                    for h in range(H):
                        hp = h + ph
                        rowbase = c * plane + (hp % sh) * sw * R * Q + (hp // sh) * Q
                        src = x[n, g * Cg + c, h]
                        if sw == 1:
                            dst = xf[rowbase + pw:rowbase + pw + W]
                            for q in range(W):
                                dst[q] = src[q]
                        else:
                            # column q + pW goes to phase (q + pW) % sW, slot (q + pW) // sW:
                            # counted up, not divided (an integer division per element
                            # cost as much as the GEMM here)
                            v = pw % sw
                            slot = rowbase + v * R * Q + pw // sw
                            for q in range(W):
                                xf[slot] = src[q]
                                v += 1
                                slot += R * Q
                                if v == sw:
                                    v = 0
                                    slot += 1 - sw * R * Q
                for o in range(Cog):
                    arow = a[o]
                    for y in range(Ho):
                        src = grad[n, g * Cog + o, y]
                        dst = arow[y * Q:y * Q + Q]
                        for z in range(Wo):
                            dst[z] = src[z]
                        for z in range(Wo, Q):
                            dst[z] = zero
                for q0 in range(0, span, _SPAN_CHUNK):
                    _gemm_shifted(a, xf, offs, mine[g * Cog:(g + 1) * Cog], q0,
                                  min(_SPAN_CHUNK, span - q0))
    out2 = out.reshape(Co, K)
    for o in range(Co):
        for k in range(K):
            out2[o, k] = partial[0, o, k]
        for ch in range(1, chunks):
            for k in range(K):
                out2[o, k] += partial[ch, o, k]


@kernel(parallel=True, fastmath=_FAST)
def conv2d_backward_input_kernel2(grad, w, sh, sw, ph, pw, dh, dw, groups, out):
    """Rung 2: per image, the tile's patch gradients (pixels x kH kW Cg) = grad tile
    (pixels x Cog) times the weights on the GEMM, then added back onto the windows
    (col2im) in an NHWC accumulator; one image per task."""
    grad = np.ascontiguousarray(grad)
    w = np.ascontiguousarray(w)
    out = np.ascontiguousarray(out)
    N, C, H, W = out.shape
    Co, Cg, kh, kw = w.shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    G = groups
    Cog = Co // G
    K = kh * kw * Cg
    P = Ho * Wo
    wt = np.empty((G, K, Cog), w.dtype)
    for o in range(Co):
        g = o // Cog
        for c in range(Cg):
            for i in range(kh):
                for j in range(kw):
                    wt[g, (i * kw + j) * Cg + c, o - g * Cog] = w[o, c, i, j]
    tile = _tile_size(K, P)
    g3 = grad.reshape(N, Co, P)
    for n in prange(N):
        acc = np.zeros((H, W, C), out.dtype)
        a = np.empty((tile, Cog), grad.dtype)
        dp = np.empty((tile, K), out.dtype)
        for g in range(G):
            for p_lo in range(0, P, tile):
                cnt = min(tile, P - p_lo)
                for o in range(Cog):
                    src = g3[n, g * Cog + o]
                    for r in range(cnt):
                        a[r, o] = src[p_lo + r]
                _matmul_tile(a, wt[g], dp, 0, cnt, 0, K)
                for r in range(cnt):
                    p = p_lo + r
                    y = p // Wo
                    z = p - y * Wo
                    drow = dp[r]
                    for i in range(kh):
                        ih = y * sh - ph + i * dh
                        if ih < 0 or ih >= H:
                            continue
                        for j in range(kw):
                            iw = z * sw - pw + j * dw
                            if iw < 0 or iw >= W:
                                continue
                            k0 = (i * kw + j) * Cg
                            src = drow[k0:k0 + Cg]
                            dst = acc[ih, iw, g * Cg:g * Cg + Cg]
                            for c in range(Cg):
                                dst[c] += src[c]
        for c in range(C):
            for h in range(H):
                dst = out[n, c, h]
                for q in range(W):
                    dst[q] = acc[h, q, c]


@kernel(parallel=True, fastmath=_FAST)
def conv2d_backward_bias_kernel(grad, out):
    """dbias[o] = sum of grad[:, o] (float64, vectorized partial sums), a channel per task."""
    grad = np.ascontiguousarray(grad)
    N, Co = grad.shape[0], grad.shape[1]
    P = grad.shape[2] * grad.shape[3]
    g3 = grad.reshape(N, Co, P)
    for o in prange(Co):
        s = 0.0
        for n in range(N):
            row = g3[n, o]
            for q in range(P):
                s += row[q]
        out[o] = s


# ---- the table's functions --------------------------------------------------------------------
def _out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _run(fn, flops, *args):
    """launch(fn, *args), on one thread when the call is small: waking the thread team
    costs ~1 us on an idle machine but a scheduler time slice (~4 ms) when the cores
    are busy (a 1 us prange call averaged 60-900 us at load 4 on 2 cores, 1 us on one
    thread); a third of a millisecond of work is not worth that risk."""
    if flops >= _PARALLEL_FLOPS:
        launch(fn, *args)
        return
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        launch(fn, *args)
    finally:
        numba.set_num_threads(threads)


def _flops(n, c_out, out_hw, k):
    return 2 * n * c_out * out_hw[0] * out_hw[1] * k


def _forward_gemm_pays(out_per_group, k):
    """Rung 2 (GEMM) rather than rung 1 (direct) for the forward; measured above."""
    return out_per_group >= _GEMM_MIN_OUT and k >= _GEMM_MIN_K


def conv2d_forward(x, w, bias, stride, padding, dilation, groups):
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    n, c, h, wd = x.shape
    co, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    out = np.empty((n, co, _out_size(h, kh, sh, ph, dh), _out_size(wd, kw, sw, pw, dw)),
                   dtype=x.dtype)
    b = np.zeros(co, x.dtype) if bias is None else np.ascontiguousarray(bias, dtype=x.dtype)
    fn = conv2d_forward_kernel2 if _forward_gemm_pays(co // groups, cg * kh * kw) \
        else conv2d_forward_kernel1
    _run(fn, _flops(n, co, out.shape[2:], cg * kh * kw), x, w, b, sh, sw, ph, pw, dh, dw,
         groups, out)
    return out


def conv2d_backward_input(grad, w, x_shape, stride, padding, dilation, groups):
    grad = np.ascontiguousarray(grad)
    w = np.ascontiguousarray(w, dtype=grad.dtype)
    co, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    if sh == 1 and sw == 1:
        # At stride 1, dx is the forward convolution of grad with w flipped in space and
        # its channel axes swapped (per group), padded by d (k - 1) - p (cropped when
        # that is negative): the forward kernels' speed with no col2im scatter.
        cog = co // groups
        wt = w.reshape(groups, cog, cg, kh, kw).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
        wt = np.ascontiguousarray(wt).reshape(groups * cg, cog, kh, kw)
        qh, qw = dh * (kh - 1) - ph, dw * (kw - 1) - pw
        ch, cw = max(0, -qh), max(0, -qw)
        g = grad[:, :, ch:grad.shape[2] - ch, cw:grad.shape[3] - cw]
        return conv2d_forward(g, wt, None, (1, 1), (max(qh, 0), max(qw, 0)), dilation,
                              groups)
    out = np.empty(x_shape, dtype=grad.dtype)
    fn = conv2d_backward_input_kernel2 if (co // groups) * kh * kw >= _GEMM_MIN_K \
        else conv2d_backward_input_kernel1
    _run(fn, _flops(grad.shape[0], co, grad.shape[2:], cg * kh * kw), grad, w, sh, sw, ph,
         pw, dh, dw, groups, out)
    return out


def conv2d_backward_weight(grad, x, w_shape, stride, padding, dilation, groups):
    grad = np.ascontiguousarray(grad)
    x = np.ascontiguousarray(x, dtype=grad.dtype)
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    out = np.empty(w_shape, dtype=grad.dtype)
    co, cg, kh, kw = w_shape
    flops = _flops(grad.shape[0], co, grad.shape[2:], cg * kh * kw)
    chunks = numba.get_num_threads() if flops >= _PARALLEL_FLOPS else 1
    _run(conv2d_backward_weight_kernel3, flops, grad, x, sh, sw, ph, pw, dh, dw, groups,
         chunks, out)
    return out


def conv2d_backward_bias(grad):
    grad = np.ascontiguousarray(grad)
    out = np.empty(grad.shape[1], dtype=grad.dtype)
    _run(conv2d_backward_bias_kernel, 16 * grad.size, grad, out)   # ~a flop per element
    return out
