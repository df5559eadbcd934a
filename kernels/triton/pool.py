"""2-D max, average and adaptive-average pooling on the `cuda` device, both directions.

Same values as kernels/reference/pool.py (its docstring is the exact contract):

    max_pool2d_forward(x, kernel, stride, padding) -> (out, argmax)
    max_pool2d_backward(grad, argmax, x_shape) -> dx
    avg_pool2d_forward(x, kernel, stride, padding) -> out
    avg_pool2d_backward(grad, x_shape, kernel, stride, padding) -> dx
    adaptive_avg_pool2d_forward(x, output_size) -> out
    adaptive_avg_pool2d_backward(grad, x_shape) -> dx

x (N, C, H, W), any strides (each operand gets its four strides, no copy); out and dx
are new contiguous buffers. kernel, stride, padding are (h, w) pairs, padding at most
half the kernel (the op checks); H_out = (H + 2 pH - kH) // sH + 1. argmax (int32,
out's shape) is the flat index h W + w of each window's maximum in its (n, c) plane:
the only thing max pooling saves for backward. The average pools save only shapes.

The math as a plain loop (the reference, vectorized over everything but the window):

    for each output (n, c, y, z):                    top = y sH - pH, left = z sW - pW
        for ky < kH, kx < kW:                        the window, row by row
            h, w = top + ky, left + kx;  skip if (h, w) is padding
            max: take x[h, w] if it is > best or NaN (torch's CPU rule: ties keep the
                 first, NaN propagates); argmax = h W + w.  avg: s += x[h, w]
        out = best  |  s / (kH kW)   (count_include_pad: padding counts as zeros)

The reference makes kH kW whole-tensor passes (gather a shifted copy, compare, select):
about 3 kH kW |out| elements of memory traffic forward. Here every kernel is one
launch, one program per BLOCK outputs (or inputs) of the flattened tensor, with a loop
over the window and masked loads (`other=-inf` for max, 0 for sums): a window's
elements are neighbours, so after the first touch they come from L1/L2 and DRAM sees
about |x| + |out| (+ |argmax|) per forward. Pooling is memory-bound: these kernels
aim at that floor, not at arithmetic.

Backward, and why gathers:
- avg and adaptive backward are gathers: one program per BLOCK *input* pixels, each
  summing the gradients of the output windows that cover it. For pixel h the covering
  outputs are y in [ceil((h + pH - kH + 1) / sH), (h + pH) // sH] (at most
  ceil(kH / sH) of them), for adaptive windows y in [h H_out // H,
  ceil((h + 1) H_out / H) - 1]. Every dx element is written once by one lane: no
  zero-fill pass, no atomics, race-free and deterministic, summed in the reference's
  order (y, then z, ascending).
- max backward has no window geometry in its signature (grad, argmax, x_shape: the
  reference's), and a gather without it would have to test every output of the plane.
  So it is a scatter: zero dx, then each output adds its gradient at its argmax with
  `tl.atomic_add` (fp32 and fp64 atomics exist on every GPU Triton targets, sm_60+).
  Without overlap (stride >= kernel, the common 2x2/2) each pixel gets at most one
  add, and with two adds the order cannot matter (a + b = b + a), so the result is
  exact and deterministic. Only a pixel that is the argmax of 3+ overlapping windows
  (e.g. 3x3 stride 1) can differ by rounding from run to run on a GPU. A gather
  (torch's CUDA kernel) would need kernel/stride/padding passed to backward, which
  changes the signature in every backend.

Precision: sums accumulate in fp32 (fp16/fp32 input) or fp64 and are divided once;
the reference sums fp32 in fp64, so the two can differ in the last bit. The max and
its argmax are exact (comparisons only).

Block sizes: `_launch.elementwise_block(n)` — 1024 outputs per program on a GPU (a few
elements per thread, plenty of programs), one big block under the interpreter (it
pays ~1 ms per program per loop step). Window sizes are constexprs: `range` over them
is a constant trip count that the compiler unrolls for the usual 2x2/3x3.
"""
import builtins

import numpy as np
import triton
import triton.language as tl

from kernels.triton import _launch
from kernels.triton.buffer import empty
from kernels.triton.creation import full


# ---- forward: one program per BLOCK outputs, a loop over the window ------------------------
@triton.jit
def max_pool2d_forward_kernel(x_ptr, out_ptr, argmax_ptr, total, C, H, W, OH, OW,
                              stride_xn, stride_xc, stride_xh, stride_xw, SH, SW, PH, PW,
                              KH: tl.constexpr, KW: tl.constexpr, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < total
    ox = i % OW
    r = i // OW
    oy = r % OH
    plane = r // OH
    base = x_ptr + (plane // C) * stride_xn + (plane % C) * stride_xc
    top = oy * SH - PH
    left = ox * SW - PW
    best = tl.full([BLOCK], float("-inf"), x_ptr.dtype.element_ty)
    # torch starts from the window's first real element (padding is never chosen).
    index = tl.maximum(top, 0) * W + tl.maximum(left, 0)
    for ky in range(KH):
        row = top + ky
        row_real = mask & (row >= 0) & (row < H)
        for kx in range(KW):
            col = left + kx
            real = row_real & (col >= 0) & (col < W)
            v = tl.load(base + row * stride_xh + col * stride_xw, mask=real,
                        other=float("-inf"))
            take = real & ((v > best) | (v != v))
            best = tl.where(take, v, best)
            index = tl.where(take, row * W + col, index)
    tl.store(out_ptr + i, best, mask=mask)
    tl.store(argmax_ptr + i, index.to(tl.int32), mask=mask)


@triton.jit
def avg_pool2d_forward_kernel(x_ptr, out_ptr, total, C, H, W, OH, OW,
                              stride_xn, stride_xc, stride_xh, stride_xw, SH, SW, PH, PW,
                              KH: tl.constexpr, KW: tl.constexpr, F64: tl.constexpr,
                              BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < total
    ox = i % OW
    r = i // OW
    oy = r % OH
    plane = r // OH
    base = x_ptr + (plane // C) * stride_xn + (plane % C) * stride_xc
    top = oy * SH - PH
    left = ox * SW - PW
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    acc = tl.zeros([BLOCK], acc_dtype)
    for ky in range(KH):
        row = top + ky
        row_real = mask & (row >= 0) & (row < H)
        for kx in range(KW):
            col = left + kx
            real = row_real & (col >= 0) & (col < W)
            acc += tl.load(base + row * stride_xh + col * stride_xw, mask=real,
                           other=0.0).to(acc_dtype)
    # count_include_pad: every window divides by kH kW, padding included.
    tl.store(out_ptr + i, (acc / (KH * KW)).to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def adaptive_avg_pool2d_forward_kernel(x_ptr, out_ptr, total, C, H, W, OH, OW,
                                       stride_xn, stride_xc, stride_xh, stride_xw,
                                       MAX_KH: tl.constexpr, MAX_KW: tl.constexpr,
                                       F64: tl.constexpr, BLOCK: tl.constexpr):
    """Window (y, z): rows [y H // OH, ceil((y + 1) H / OH)), the same for columns; the
    loop covers the largest window (MAX_KH x MAX_KW), masked to each one's own size."""
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < total
    ox = i % OW
    r = i // OW
    oy = r % OH
    plane = r // OH
    base = x_ptr + (plane // C) * stride_xn + (plane % C) * stride_xc
    r0 = (oy * H) // OH
    r1 = ((oy + 1) * H + OH - 1) // OH
    c0 = (ox * W) // OW
    c1 = ((ox + 1) * W + OW - 1) // OW
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    acc = tl.zeros([BLOCK], acc_dtype)
    for ky in range(MAX_KH):
        row = r0 + ky
        row_in = mask & (row < r1)
        for kx in range(MAX_KW):
            col = c0 + kx
            acc += tl.load(base + row * stride_xh + col * stride_xw,
                           mask=row_in & (col < c1), other=0.0).to(acc_dtype)
    count = ((r1 - r0) * (c1 - c0)).to(acc_dtype)
    tl.store(out_ptr + i, (acc / count).to(out_ptr.dtype.element_ty), mask=mask)


# ---- backward ------------------------------------------------------------------------------
@triton.jit
def max_pool2d_backward_kernel(grad_ptr, argmax_ptr, dx_ptr, total, C, OH, OW, HW,
                               stride_gn, stride_gc, stride_gh, stride_gw,
                               stride_an, stride_ac, stride_ah, stride_aw,
                               BLOCK: tl.constexpr):
    """A scatter (see the module docstring): dx, zeroed, gets grad[i] at argmax[i]."""
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < total
    ox = i % OW
    r = i // OW
    oy = r % OH
    plane = r // OH
    n = plane // C
    c = plane % C
    g = tl.load(grad_ptr + n * stride_gn + c * stride_gc + oy * stride_gh + ox * stride_gw,
                mask=mask, other=0.0)
    where = tl.load(argmax_ptr + n * stride_an + c * stride_ac + oy * stride_ah
                    + ox * stride_aw, mask=mask, other=0)
    tl.atomic_add(dx_ptr + plane * HW + where, g, mask=mask)


@triton.jit
def avg_pool2d_backward_kernel(grad_ptr, dx_ptr, total, C, H, W, OH, OW,
                               stride_gn, stride_gc, stride_gh, stride_gw, SH, SW, PH, PW,
                               KH: tl.constexpr, KW: tl.constexpr, NY: tl.constexpr,
                               NX: tl.constexpr, F64: tl.constexpr, BLOCK: tl.constexpr):
    """A gather, one lane per input pixel: the sum of the gradients of the (at most
    NY = ceil(kH / sH) by NX) windows that cover it, over kH kW."""
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < total
    w = i % W
    r = i // W
    h = r % H
    plane = r // H
    base = grad_ptr + (plane // C) * stride_gn + (plane % C) * stride_gc
    hp = h + PH                                         # in padded coordinates (>= 0)
    wp = w + PW
    # The last window starting at or before the pixel; the NY - 1 before it may cover
    # it too. Ascending y, then z: the reference's order of adds.
    first_y = hp // SH - (NY - 1)
    first_x = wp // SW - (NX - 1)
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    acc = tl.zeros([BLOCK], acc_dtype)
    for dy in range(NY):
        oy = first_y + dy
        y_in = mask & (oy >= 0) & (oy < OH) & (hp - oy * SH < KH)
        for dx in range(NX):
            ox = first_x + dx
            covers = y_in & (ox >= 0) & (ox < OW) & (wp - ox * SW < KW)
            acc += tl.load(base + oy * stride_gh + ox * stride_gw, mask=covers,
                           other=0.0).to(acc_dtype)
    tl.store(dx_ptr + i, (acc / (KH * KW)).to(dx_ptr.dtype.element_ty), mask=mask)


@triton.jit
def adaptive_avg_pool2d_backward_kernel(grad_ptr, dx_ptr, total, C, H, W, OH, OW,
                                        stride_gn, stride_gc, stride_gh, stride_gw,
                                        NY: tl.constexpr, NX: tl.constexpr,
                                        F64: tl.constexpr, BLOCK: tl.constexpr):
    """A gather, one lane per input pixel: windows y in [h OH // H, ceil((h + 1) OH / H))
    cover row h (at most NY of them), each adding its gradient over its own size."""
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < total
    w = i % W
    r = i // W
    h = r % H
    plane = r // H
    base = grad_ptr + (plane // C) * stride_gn + (plane % C) * stride_gc
    y0 = (h * OH) // H
    y1 = ((h + 1) * OH + H - 1) // H                    # one past the last covering window
    x0 = (w * OW) // W
    x1 = ((w + 1) * OW + W - 1) // W
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    acc = tl.zeros([BLOCK], acc_dtype)
    for dy in range(NY):
        oy = y0 + dy
        y_in = mask & (oy < y1)
        rows = ((oy + 1) * H + OH - 1) // OH - (oy * H) // OH
        for dx in range(NX):
            ox = x0 + dx
            covers = y_in & (ox < x1)
            cols = ((ox + 1) * W + OW - 1) // OW - (ox * W) // OW
            g = tl.load(base + oy * stride_gh + ox * stride_gw, mask=covers,
                        other=0.0).to(acc_dtype)
            acc += g / (rows * cols).to(acc_dtype)
    tl.store(dx_ptr + i, acc.to(dx_ptr.dtype.element_ty), mask=mask)


# ---- the table's functions -------------------------------------------------------------------
def _out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def _grid(n):
    block = _launch.elementwise_block(n)
    return (_launch.cdiv(n, block),), block


def _adaptive_span(size, out):
    """The largest adaptive window of `size` split into `out`: the loop's trip count."""
    return builtins.max(-(-(o + 1) * size // out) - (o * size) // out for o in range(out))


def _covering(size, out):
    """The most adaptive windows (`size` split into `out`) that share one input row."""
    return builtins.max(-(-(h + 1) * out // size) - (h * out) // size for h in range(size))


def max_pool2d_forward(x, kernel, stride, padding):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    shape = (n, c, _out_size(h, kh, sh, ph), _out_size(w, kw, sw, pw))
    out = empty(shape, x.dtype)
    argmax = empty(shape, np.int32)
    if out.size:
        grid, block = _grid(out.size)
        max_pool2d_forward_kernel[grid](
            x.ptr(), out.ptr(), argmax.ptr(), out.size, c, h, w, shape[2], shape[3],
            *x.strides, sh, sw, ph, pw, KH=kh, KW=kw, BLOCK=block)
    return out, argmax


def max_pool2d_backward(grad, argmax, x_shape):
    n, c, h, w = x_shape
    dx = full(x_shape, 0, grad.dtype)
    if grad.size and dx.size:
        grid, block = _grid(grad.size)
        max_pool2d_backward_kernel[grid](
            grad.ptr(), argmax.ptr(), dx.ptr(), grad.size, c, grad.shape[2], grad.shape[3],
            h * w, *grad.strides, *argmax.strides, BLOCK=block)
    return dx


def avg_pool2d_forward(x, kernel, stride, padding):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    shape = (n, c, _out_size(h, kh, sh, ph), _out_size(w, kw, sw, pw))
    out = empty(shape, x.dtype)
    if out.size:
        grid, block = _grid(out.size)
        avg_pool2d_forward_kernel[grid](
            x.ptr(), out.ptr(), out.size, c, h, w, shape[2], shape[3], *x.strides,
            sh, sw, ph, pw, KH=kh, KW=kw, F64=x.dtype == np.float64, BLOCK=block)
    return out


def avg_pool2d_backward(grad, x_shape, kernel, stride, padding):
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    dx = empty(x_shape, grad.dtype)
    if dx.size:
        grid, block = _grid(dx.size)
        avg_pool2d_backward_kernel[grid](
            grad.ptr(), dx.ptr(), dx.size, c, h, w, grad.shape[2], grad.shape[3],
            *grad.strides, sh, sw, ph, pw, KH=kh, KW=kw, NY=_launch.cdiv(kh, sh),
            NX=_launch.cdiv(kw, sw), F64=grad.dtype == np.float64, BLOCK=block)
    return dx


def adaptive_avg_pool2d_forward(x, output_size):
    n, c, h, w = x.shape
    oh, ow = output_size
    out = empty((n, c, oh, ow), x.dtype)
    if out.size:
        grid, block = _grid(out.size)
        adaptive_avg_pool2d_forward_kernel[grid](
            x.ptr(), out.ptr(), out.size, c, h, w, oh, ow, *x.strides,
            MAX_KH=_adaptive_span(h, oh), MAX_KW=_adaptive_span(w, ow),
            F64=x.dtype == np.float64, BLOCK=block)
    return out


def adaptive_avg_pool2d_backward(grad, x_shape):
    n, c, h, w = x_shape
    oh, ow = grad.shape[2], grad.shape[3]
    dx = empty(x_shape, grad.dtype)
    if dx.size:
        grid, block = _grid(dx.size)
        adaptive_avg_pool2d_backward_kernel[grid](
            grad.ptr(), dx.ptr(), dx.size, c, h, w, oh, ow, *grad.strides,
            NY=_covering(h, oh), NX=_covering(w, ow), F64=grad.dtype == np.float64,
            BLOCK=block)
    return dx
