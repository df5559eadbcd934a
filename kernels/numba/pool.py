"""2-D pooling, Numba CPU. Must match `kernels/reference/pool.py`.

    max_pool2d_forward(x, kernel, stride, padding) -> (out, argmax)
    max_pool2d_backward(grad, argmax, x_shape) -> dx
    avg_pool2d_forward(x, kernel, stride, padding) -> out
    avg_pool2d_backward(grad, x_shape, kernel, stride, padding) -> dx
    adaptive_avg_pool2d_forward(x, output_size) -> out
    adaptive_avg_pool2d_backward(grad, x_shape) -> dx

x (N, C, H, W) float32/float64, any layout (copied to C order); kernel, stride,
padding (h, w) pairs with padding <= kernel / 2 (the op checks);
H_out = (H + 2 pH - kH) // sH + 1. Max pooling saves argmax (int32, out's shape: the
flat index h W + w of each window's maximum in its plane; a plane never holds 2^31
elements, and int32 halves the traffic of torch's int64) for backward; the average
pools save only shapes. The reference documents each value exactly; in short:

    max: out[y, z] = max over the window's real elements, scanned row by row from the
         first, a value taken if greater or NaN (torch's CPU rule: ties keep the
         first, the last NaN wins); padding is never chosen
    avg: out[y, z] = sum of the window's real elements / (kH kW)   (count_include_pad)
    adaptive: window rows [floor(y H / H_out), ceil((y + 1) H / H_out)), same for columns

Every kernel takes one (n, c) plane per task (prange over N C): planes are independent,
so backward's scatter-adds (overlapping windows) never race, and N C is in the
hundreds or more. Below 2^20 input elements a call runs on one thread (_run).
Traffic is one read of x and one write of out (and argmax) forward; one read of grad
(and argmax) and one write of dx backward: these kernels are memory-bound, and a
plane (<= 12.5 KiB here) stays in L1 while its windows are read.

Rungs (1 thread, float32, ms; the machine was shared, load ~3 on 2 cores):

                                    64x6x28x28     32x64x56x56
    max forward   kernel1 any window    0.67          14.7
                  kernel2 2x2 stride 2  0.09           1.52
    avg forward   kernel1               0.33           7.1
                  kernel2               0.04           0.95
    avg backward  kernel1               0.33           7.3
                  kernel2               0.05           1.15
    max backward  (one kernel: zero the plane, add each gradient at its argmax)
                                        0.06           1.9

Rung 1's window bounds are run-time values, so its loops stay scalar (a few ns per
element). Rung 2 is the common 2x2, stride 2, no-padding window: with constant
offsets (2 z, 2 z + 1) in two row views, the loop over z vectorizes (strided loads
become shuffles, the NaN-aware max a select), 8-10x faster; it gives rung 1's
results bit for bit. No fastmath anywhere: the max needs its NaN checks. Average
sums run in float64 (exact for a few float32 terms), divided once.
"""
import numba
import numpy as np
from numba import prange

from kernels.numba._launch import kernel, launch


_PARALLEL_SIZE = 1 << 20        # input elements; below, one thread (see _run)


# ---- rung 1: any window --------------------------------------------------------------------
@kernel(parallel=True)
def max_pool2d_forward_kernel1(x, kh, kw, sh, sw, ph, pw, out, dst):
    """Rung 1: any window. out: the window maxima; dst: their argmax (the flat index
    h W + w in the (n, c) plane). Scans the window's real elements row by row from the
    first, taking a value that is greater or NaN (torch's rule), one plane per task."""
    x = np.ascontiguousarray(x)
    out = np.ascontiguousarray(out)
    dst = np.ascontiguousarray(dst)
    N, C, H, W = x.shape
    Ho, Wo = out.shape[2], out.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        plane = x[n, c]
        for y in range(Ho):
            h0 = y * sh - ph
            h_lo, h_hi = max(h0, 0), min(h0 + kh, H)
            orow = out[n, c, y]
            arow = dst[n, c, y]
            for z in range(Wo):
                w0 = z * sw - pw
                w_lo, w_hi = max(w0, 0), min(w0 + kw, W)
                best = -np.inf
                index = h_lo * W + w_lo
                for h in range(h_lo, h_hi):
                    row = plane[h]
                    for q in range(w_lo, w_hi):
                        v = row[q]
                        take = (v > best) | (v != v)
                        best = v if take else best
                        index = h * W + q if take else index
                orow[z] = best
                arow[z] = index


@kernel(parallel=True)
def avg_pool2d_forward_kernel1(x, kh, kw, sh, sw, ph, pw, out):
    """Rung 1: any window; the sum of its real elements (float64) over kH kW."""
    x = np.ascontiguousarray(x)
    out = np.ascontiguousarray(out)
    N, C, H, W = x.shape
    Ho, Wo = out.shape[2], out.shape[3]
    count = kh * kw
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        plane = x[n, c]
        for y in range(Ho):
            h0 = y * sh - ph
            h_lo, h_hi = max(h0, 0), min(h0 + kh, H)
            orow = out[n, c, y]
            for z in range(Wo):
                w0 = z * sw - pw
                w_lo, w_hi = max(w0, 0), min(w0 + kw, W)
                s = 0.0
                for h in range(h_lo, h_hi):
                    row = plane[h]
                    for q in range(w_lo, w_hi):
                        s += row[q]
                orow[z] = s / count


@kernel(parallel=True)
def avg_pool2d_backward_kernel1(grad, kh, kw, sh, sw, ph, pw, out):
    """Rung 1: any window; each output's gradient / kH kW added onto its real elements."""
    grad = np.ascontiguousarray(grad)
    out = np.ascontiguousarray(out)
    N, C, H, W = out.shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    count = kh * kw
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        plane = out[n, c]
        flat = plane.reshape(H * W)
        for q in range(H * W):
            flat[q] = 0
        g = grad[n, c]
        for y in range(Ho):
            h0 = y * sh - ph
            h_lo, h_hi = max(h0, 0), min(h0 + kh, H)
            for z in range(Wo):
                w0 = z * sw - pw
                w_lo, w_hi = max(w0, 0), min(w0 + kw, W)
                share = g[y, z] / count
                for h in range(h_lo, h_hi):
                    row = plane[h]
                    for q in range(w_lo, w_hi):
                        row[q] += share


# ---- rung 2: 2x2 windows at stride 2 ----------------------------------------------------------
# The common case (LeNet, VGG, U-Net): an output's window is two adjacent pairs in two
# input rows, read at constant offsets so that the loop over z vectorizes (see above).
@kernel(parallel=True)
def max_pool2d_forward_kernel2(x, out, dst):
    """Rung 2: 2x2 windows, stride 2, no padding; rung 1's results, bit for bit."""
    x = np.ascontiguousarray(x)
    out = np.ascontiguousarray(out)
    dst = np.ascontiguousarray(dst)
    N, C, H, W = x.shape
    Ho, Wo = out.shape[2], out.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        plane = x[n, c]
        for y in range(Ho):
            r0 = plane[2 * y]
            r1 = plane[2 * y + 1]
            orow = out[n, c, y]
            arow = dst[n, c, y]
            first = 2 * y * W
            for z in range(Wo):
                best = r0[2 * z]                # the first element: taken in any case
                index = first + 2 * z
                v = r0[2 * z + 1]
                take = (v > best) | (v != v)
                best = v if take else best
                index = first + 2 * z + 1 if take else index
                v = r1[2 * z]
                take = (v > best) | (v != v)
                best = v if take else best
                index = first + W + 2 * z if take else index
                v = r1[2 * z + 1]
                take = (v > best) | (v != v)
                best = v if take else best
                index = first + W + 2 * z + 1 if take else index
                orow[z] = best
                arow[z] = index


@kernel(parallel=True)
def avg_pool2d_forward_kernel2(x, out):
    """Rung 2: 2x2 windows, stride 2, no padding."""
    x = np.ascontiguousarray(x)
    out = np.ascontiguousarray(out)
    N, C, H, W = x.shape
    Ho, Wo = out.shape[2], out.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        plane = x[n, c]
        for y in range(Ho):
            r0 = plane[2 * y]
            r1 = plane[2 * y + 1]
            orow = out[n, c, y]
            for z in range(Wo):
                s = np.float64(r0[2 * z]) + r0[2 * z + 1] + r1[2 * z] + r1[2 * z + 1]
                orow[z] = s / 4


@kernel(parallel=True)
def avg_pool2d_backward_kernel2(grad, out):
    """Rung 2: 2x2 windows, stride 2, no padding: each input element gets g / 4 of its
    one window (0 in a leftover last row or column), written once, no zeroing pass."""
    grad = np.ascontiguousarray(grad)
    out = np.ascontiguousarray(out)
    N, C, H, W = out.shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        plane = out[n, c]
        for y in range(Ho):
            g = grad[n, c, y]
            r0 = plane[2 * y]
            r1 = plane[2 * y + 1]
            for z in range(Wo):
                share = g[z] / 4
                r0[2 * z] = share
                r0[2 * z + 1] = share
                r1[2 * z] = share
                r1[2 * z + 1] = share
            for q in range(2 * Wo, W):
                r0[q] = 0
                r1[q] = 0
        for h in range(2 * Ho, H):
            row = plane[h]
            for q in range(W):
                row[q] = 0


@kernel(parallel=True)
def max_pool2d_backward_kernel(grad, argmax, out):
    """Each output's gradient added at its argmax; one plane per task, so the adds of
    overlapping windows never race."""
    grad = np.ascontiguousarray(grad)
    argmax = np.ascontiguousarray(argmax)
    out = np.ascontiguousarray(out)
    N, C, H, W = out.shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        plane = out[n, c].reshape(H * W)
        for q in range(H * W):
            plane[q] = 0
        g = grad[n, c].reshape(Ho * Wo)
        a = argmax[n, c].reshape(Ho * Wo)
        for q in range(Ho * Wo):
            plane[a[q]] += g[q]


# ---- adaptive average -------------------------------------------------------------------------
@kernel(parallel=True)
def adaptive_avg_pool2d_forward_kernel(x, out):
    x = np.ascontiguousarray(x)
    out = np.ascontiguousarray(out)
    N, C, H, W = x.shape
    Ho, Wo = out.shape[2], out.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        plane = x[n, c]
        for y in range(Ho):
            h_lo, h_hi = (y * H) // Ho, ((y + 1) * H + Ho - 1) // Ho
            orow = out[n, c, y]
            for z in range(Wo):
                w_lo, w_hi = (z * W) // Wo, ((z + 1) * W + Wo - 1) // Wo
                s = 0.0
                for h in range(h_lo, h_hi):
                    row = plane[h]
                    for q in range(w_lo, w_hi):
                        s += row[q]
                orow[z] = s / ((h_hi - h_lo) * (w_hi - w_lo))


@kernel(parallel=True)
def adaptive_avg_pool2d_backward_kernel(grad, out):
    grad = np.ascontiguousarray(grad)
    out = np.ascontiguousarray(out)
    N, C, H, W = out.shape
    Ho, Wo = grad.shape[2], grad.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        plane = out[n, c]
        flat = plane.reshape(H * W)
        for q in range(H * W):
            flat[q] = 0
        g = grad[n, c]
        for y in range(Ho):
            h_lo, h_hi = (y * H) // Ho, ((y + 1) * H + Ho - 1) // Ho
            for z in range(Wo):
                w_lo, w_hi = (z * W) // Wo, ((z + 1) * W + Wo - 1) // Wo
                share = g[y, z] / ((h_hi - h_lo) * (w_hi - w_lo))
                for h in range(h_lo, h_hi):
                    row = plane[h]
                    for q in range(w_lo, w_hi):
                        row[q] += share


# ---- the table's functions --------------------------------------------------------------------
def _out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def _pooled_shape(x_shape, kernel, stride, padding):
    n, c, h, w = x_shape
    return (n, c, _out_size(h, kernel[0], stride[0], padding[0]),
            _out_size(w, kernel[1], stride[1], padding[1]))


def _run(fn, size, *args):
    """launch(fn, *args), on one thread below _PARALLEL_SIZE elements (~0.25 ms of
    rung 2): waking the thread team costs a scheduler time slice when the cores are
    busy, more than such a call takes (see kernels/numba/conv.py:_run)."""
    if size >= _PARALLEL_SIZE:
        launch(fn, *args)
        return
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        launch(fn, *args)
    finally:
        numba.set_num_threads(threads)


def _two_by_two(kernel, stride, padding):
    return kernel == (2, 2) and stride == (2, 2) and padding == (0, 0)


def max_pool2d_forward(x, kernel, stride, padding):
    x = np.ascontiguousarray(x)
    shape = _pooled_shape(x.shape, kernel, stride, padding)
    out = np.empty(shape, dtype=x.dtype)
    argmax = np.empty(shape, dtype=np.int32)
    if _two_by_two(kernel, stride, padding):
        _run(max_pool2d_forward_kernel2, x.size, x, out, argmax)
    else:
        _run(max_pool2d_forward_kernel1, x.size, x, *kernel, *stride, *padding, out, argmax)
    return out, argmax


def max_pool2d_backward(grad, argmax, x_shape):
    grad = np.ascontiguousarray(grad)
    out = np.empty(x_shape, dtype=grad.dtype)
    _run(max_pool2d_backward_kernel, out.size, grad, np.ascontiguousarray(argmax), out)
    return out


def avg_pool2d_forward(x, kernel, stride, padding):
    x = np.ascontiguousarray(x)
    out = np.empty(_pooled_shape(x.shape, kernel, stride, padding), dtype=x.dtype)
    if _two_by_two(kernel, stride, padding):
        _run(avg_pool2d_forward_kernel2, x.size, x, out)
    else:
        _run(avg_pool2d_forward_kernel1, x.size, x, *kernel, *stride, *padding, out)
    return out


def avg_pool2d_backward(grad, x_shape, kernel, stride, padding):
    grad = np.ascontiguousarray(grad)
    out = np.empty(x_shape, dtype=grad.dtype)
    if _two_by_two(kernel, stride, padding):
        _run(avg_pool2d_backward_kernel2, out.size, grad, out)
    else:
        _run(avg_pool2d_backward_kernel1, out.size, grad, *kernel, *stride, *padding, out)
    return out


def adaptive_avg_pool2d_forward(x, output_size):
    x = np.ascontiguousarray(x)
    out = np.empty(x.shape[:2] + tuple(output_size), dtype=x.dtype)
    _run(adaptive_avg_pool2d_forward_kernel, x.size, x, out)
    return out


def adaptive_avg_pool2d_backward(grad, x_shape):
    grad = np.ascontiguousarray(grad)
    out = np.empty(x_shape, dtype=grad.dtype)
    _run(adaptive_avg_pool2d_backward_kernel, out.size, grad, out)
    return out
