"""Layer and batch normalization, Numba CPU. Must match `kernels/reference/norm.py`.

layer_norm(x, weight, bias, eps) -> (y, mean, rstd)
layer_norm_backward(x, weight, mean, rstd, grad) -> (dx, dweight, dbias)
batch_norm(x, weight, bias, mean, var, eps) -> (y, mean, var)
batch_norm_backward(x, weight, mean, var, grad, eps, training) -> (dx, dweight, dbias)

Shapes: layer norm sees x (M, D), each row normalized over its D values; weight and
bias (D,) or None. Batch norm sees x (N, C, L), each channel normalized over its N·L
values; mean/var (C,) are the running statistics in eval mode, None in training
(the batch's are computed, var biased). Saved for backward: mean and rstd (layer
norm, (M,)), mean and var (batch norm, (C,)), all float64, and x itself.

The math per row (layer norm; batch norm is the same per channel):

    mean = Σ x / D;  var = Σ (x - mean)² / D;  rstd = 1 / sqrt(var + eps)
    y = (x - mean) rstd w + b
    backward, ĝ = g w, x̂ = (x - mean) rstd:
    dx = rstd (ĝ - Σ ĝ / D - x̂ Σ ĝ x̂ / D);  dw += g x̂;  db += g   (over rows)

Passes: forward reads a row three times (sum, squared deviations, output) but from
L1 — a 1024-float row is 4 KiB — so memory sees one read of x and one write of y;
backward reads x and g twice each from L1 and writes dx once. The variance is
two-pass, not E[x²] - E[x]², which cancels catastrophically when |mean| >> std.

Precision: the statistics are float64, but the per-element arithmetic runs in x's
precision (float32 SIMD lanes are twice float64's, and float64 accumulators would
cost a conversion per element). Two things keep float32 as accurate as float64 math
rounded once: the mean enters as hi + lo (float32 each) and x - mean is computed as
(x - hi) - lo, exact near the mean (a float32-rounded mean alone would put
~|mean|·2^-24 of error into every x̂: torch's float32 layer_norm of 100 + N(0, 1)
is off by ~3e-5, ours by < 1e-6; tests/test_norm_loss_kernels.py); and sums run over
blocks of 256 added in float64, of deviations from the row's first value (not of the
values: a float32 block sum of values near 100 loses ~1e-5 of the mean).

Batch norm works per channel, its N·L values (N32 × 56×56: 400 KiB of float32)
staying in L2 between the statistics and the output pass; channels are split across
threads. An (N, C) batch (L = 1) is transposed to (1, C, N) first, so that a channel's
values are contiguous rather than N rows of one element.

Layer norm's backward splits the rows into chunks of 64 (threads take chunks), each
with its own dweight/dbias accumulator row, summed in chunk order in float64 at the
end: the column reduction is deterministic whatever the thread count.

Optimizations: rows are passed to the row functions as C-typed views (contiguous, so
the loops vectorize: the 'A'-typed rows the kernels receive have an unknown stride),
sums use fastmath={"reassoc", "contract"} only (SIMD partial sums and FMAs; NaN and
inf propagate), and the (x - hi) - lo lives in a function without fastmath, so no
reassociation can fold it into x - hi. Measured (4096×1024 float32, one thread, a
shared and noisy machine, best of 25): forward ~0.95 ms (torch ~1.0-1.2), backward
~1.8 ms; the first float64-everywhere version took ~1.6 ms forward, ~3.3 backward.
"""
import numba
import numpy as np
from numba import prange

from kernels.numba._launch import kernel, launch

_F64 = np.dtype(np.float64)
_FAST = {"reassoc", "contract"}
_PARALLEL_SIZE = 1 << 15      # elements: below this a thread launch (~1 µs) does not pay
_BLOCK = 256                  # row sums: blocks in x's precision, added in float64
_CHUNK_ROWS = 64              # layer-norm backward: rows per dweight/dbias partial sum


# ---- layer norm: one contiguous row ----------------------------------------------------
@numba.njit(cache=True)
def _centered(v, hi, lo):
    """(v - hi) - lo: v minus a float64 mean held as hi + lo in v's precision. A function
    of its own, without fastmath, so that no caller's reassoc can fold it into v - hi."""
    return (v - hi) - lo


@numba.njit(cache=True)
def _split(mean, dtype_of):
    """A float64 `mean` as (hi, lo) in the dtype of `dtype_of`, hi + lo ~ mean."""
    hi = dtype_of.dtype.type(mean)
    return hi, dtype_of.dtype.type(mean - hi)


@numba.njit(cache=True, fastmath=_FAST)
def _row_sum_from(x, pivot):
    """Σ (x - pivot) in float64, from blocks summed in x's precision.

    With pivot = x[0] the terms are deviations, not values: a float32 sum of 256 values
    near 100 would carry ~1e-5 of absolute error into the mean (a float64 accumulator
    per element costs conversions; the deviations keep float32 lanes exact enough)."""
    total = 0.0
    for start in range(0, x.shape[0], _BLOCK):
        xb = x[start:start + _BLOCK]
        s = x.dtype.type(0)
        for j in range(xb.shape[0]):
            s += xb[j] - pivot
        total += s
    return total


@numba.njit(cache=True, fastmath=_FAST)
def _row_squared_deviations(x, hi, lo):
    total = 0.0
    for start in range(0, x.shape[0], _BLOCK):
        xb = x[start:start + _BLOCK]
        s = x.dtype.type(0)
        for j in range(xb.shape[0]):
            d = _centered(xb[j], hi, lo)
            s += d * d
        total += s
    return total


@numba.njit(cache=True, fastmath={"contract"})
def _normalize_row(x, hi, lo, rstd, w, b, out):
    for j in range(x.shape[0]):
        out[j] = _centered(x[j], hi, lo) * rstd * w[j] + b[j]


@numba.njit(cache=True, fastmath=_FAST)
def _layer_norm_backward_sums(x, g, w, hi, lo, rstd, acc_w, acc_b):
    """(Σ g w, Σ g w x̂) of one row in float64; g x̂ and g added into acc_w, acc_b."""
    s1 = 0.0
    s2 = 0.0
    for start in range(0, x.shape[0], _BLOCK):
        xb, gb, wb = x[start:start + _BLOCK], g[start:start + _BLOCK], w[start:start + _BLOCK]
        awb, abb = acc_w[start:start + _BLOCK], acc_b[start:start + _BLOCK]
        b1 = x.dtype.type(0)
        b2 = x.dtype.type(0)
        for j in range(xb.shape[0]):
            xhat = _centered(xb[j], hi, lo) * rstd
            gw = gb[j] * wb[j]
            b1 += gw
            b2 += gw * xhat
            awb[j] += gb[j] * xhat
            abb[j] += gb[j]
        s1 += b1
        s2 += b2
    return s1, s2


@numba.njit(cache=True)
def _layer_norm_dx_row(x, g, w, hi, lo, rstd, m1, m2, out):
    """No FMA contraction: g w - m1 must round g w as the sums did (else a width-1 row,
    where g w == m1, leaves g w's rounding error × rstd instead of 0)."""
    for j in range(x.shape[0]):
        xhat = _centered(x[j], hi, lo) * rstd
        out[j] = rstd * (g[j] * w[j] - m1 - xhat * m2)


@numba.njit(cache=True)
def _layer_norm_row(x, w, b, eps, out, stats, r):
    d = x.shape[1]
    pivot = x[r, 0]
    mean = np.float64(pivot) + _row_sum_from(x[r], pivot) / d
    hi, lo = _split(mean, x)
    var = _row_squared_deviations(x[r], hi, lo) / d
    rstd = 1.0 / np.sqrt(var + eps)
    stats[0, r] = mean
    stats[1, r] = rstd
    _normalize_row(x[r], hi, lo, x.dtype.type(rstd), w, b, out[r])


@kernel()
def layer_norm_forward_kernel(x, w, b, eps, out, dst):
    """x, out (M, D) contiguous; w, b (D,) in x's dtype; dst (2, M) float64: mean, rstd."""
    xc, wc, bc, oc = (np.ascontiguousarray(x), np.ascontiguousarray(w),
                      np.ascontiguousarray(b), np.ascontiguousarray(out))
    for r in range(x.shape[0]):
        _layer_norm_row(xc, wc, bc, eps, oc, dst, r)


@kernel(parallel=True)
def layer_norm_forward_parallel_kernel(x, w, b, eps, out, dst):
    xc, wc, bc, oc = (np.ascontiguousarray(x), np.ascontiguousarray(w),
                      np.ascontiguousarray(b), np.ascontiguousarray(out))
    for r in prange(x.shape[0]):
        _layer_norm_row(xc, wc, bc, eps, oc, dst, r)


@numba.njit(cache=True)
def _layer_norm_backward_chunk(x, g, w, mean, rstd, out, acc, chunk):
    rows, d = x.shape
    acc_w = np.ascontiguousarray(acc[chunk, 0])
    acc_b = np.ascontiguousarray(acc[chunk, 1])
    for r in range(chunk * _CHUNK_ROWS, min((chunk + 1) * _CHUNK_ROWS, rows)):
        hi, lo = _split(mean[r], x)
        rs = x.dtype.type(rstd[r])
        s1, s2 = _layer_norm_backward_sums(x[r], g[r], w, hi, lo, rs, acc_w, acc_b)
        _layer_norm_dx_row(x[r], g[r], w, hi, lo, rs, x.dtype.type(s1 / d),
                           x.dtype.type(s2 / d), out[r])


@kernel(parallel=True)
def layer_norm_backward_kernel(x, g, w, mean, rstd, out, dst):
    """x, g, out (M, D) contiguous; w (D,) in x's dtype; dst (chunks, 2, D) zeros in x's
    dtype: each chunk of _CHUNK_ROWS rows' Σ g x̂ and Σ g (summed in float64 after)."""
    xc, gc, wc, oc, acc = (np.ascontiguousarray(x), np.ascontiguousarray(g),
                           np.ascontiguousarray(w), np.ascontiguousarray(out),
                           np.ascontiguousarray(dst))
    for c in prange(dst.shape[0]):
        _layer_norm_backward_chunk(xc, gc, wc, mean, rstd, oc, acc, c)


# ---- batch norm: one channel of x (N, C, L) -------------------------------------------------
# The same recipe as the layer-norm rows: sums in x's precision over blocks of _BLOCK
# (each row x[n, c] is L contiguous values), added in float64; the mean as hi + lo.
@numba.njit(cache=True, fastmath=_FAST)
def _channel_sum_from(x, c, pivot):
    """Σ (x[:, c, :] - pivot), float64."""
    total = 0.0
    for n in range(x.shape[0]):
        row = x[n, c]
        for start in range(0, row.shape[0], _BLOCK):
            xb = row[start:start + _BLOCK]
            s = x.dtype.type(0)
            for j in range(xb.shape[0]):
                s += xb[j] - pivot
            total += s
    return total


@numba.njit(cache=True, fastmath=_FAST)
def _channel_squared_deviations(x, c, hi, lo):
    total = 0.0
    for n in range(x.shape[0]):
        row = x[n, c]
        for start in range(0, row.shape[0], _BLOCK):
            xb = row[start:start + _BLOCK]
            s = x.dtype.type(0)
            for j in range(xb.shape[0]):
                d = _centered(xb[j], hi, lo)
                s += d * d
            total += s
    return total


@numba.njit(cache=True, fastmath={"contract"})
def _channel_normalize(x, c, hi, lo, scale, shift, out):
    for n in range(x.shape[0]):
        row = x[n, c]
        o = out[n, c]
        for j in range(row.shape[0]):
            o[j] = _centered(row[j], hi, lo) * scale + shift


@numba.njit(cache=True, fastmath=_FAST)
def _channel_grad_sums(x, g, c, hi, lo, rstd):
    """(Σ g, Σ g x̂) over the channel, float64."""
    sg = 0.0
    sgx = 0.0
    for n in range(x.shape[0]):
        row = x[n, c]
        grow = g[n, c]
        for start in range(0, row.shape[0], _BLOCK):
            xb = row[start:start + _BLOCK]
            gb = grow[start:start + _BLOCK]
            b1 = x.dtype.type(0)
            b2 = x.dtype.type(0)
            for j in range(xb.shape[0]):
                b1 += gb[j]
                b2 += gb[j] * (_centered(xb[j], hi, lo) * rstd)
            sg += b1
            sgx += b2
    return sg, sgx


@numba.njit(cache=True)
def _channel_dx(x, g, c, hi, lo, rstd, scale, mg, mgx, out):
    """out = scale (g - mg - x̂ mgx) (training; mg = mgx = 0 in eval)."""
    for n in range(x.shape[0]):
        row = x[n, c]
        grow = g[n, c]
        o = out[n, c]
        for j in range(row.shape[0]):
            o[j] = scale * (grow[j] - mg - (_centered(row[j], hi, lo) * rstd) * mgx)


@numba.njit(cache=True)
def _batch_norm_channel(x, w, b, eps, training, out, stats, c):
    count = x.shape[0] * x.shape[2]
    if training:
        pivot = x[0, c, 0]
        mean = np.float64(pivot) + _channel_sum_from(x, c, pivot) / count
        hi, lo = _split(mean, x)
        stats[0, c] = mean
        stats[1, c] = _channel_squared_deviations(x, c, hi, lo) / count
    hi, lo = _split(stats[0, c], x)
    scale = w[c] / np.sqrt(stats[1, c] + eps)
    _channel_normalize(x, c, hi, lo, x.dtype.type(scale), x.dtype.type(b[c]), out)


@numba.njit(cache=True)
def _batch_norm_backward_channel(x, g, w, mean, var, eps, training, out, dst, c):
    rstd = 1.0 / np.sqrt(var[c] + eps)
    hi, lo = _split(mean[c], x)
    r = x.dtype.type(rstd)
    sg, sgx = _channel_grad_sums(x, g, c, hi, lo, r)
    dst[0, c] = sgx
    dst[1, c] = sg
    count = x.shape[0] * x.shape[2]
    scale = x.dtype.type(w[c] * rstd)
    if training:
        _channel_dx(x, g, c, hi, lo, r, scale, x.dtype.type(sg / count),
                    x.dtype.type(sgx / count), out)
    else:
        zero = x.dtype.type(0)
        _channel_dx(x, g, c, hi, lo, r, scale, zero, zero, out)


@kernel()
def batch_norm_forward_kernel(x, w, b, eps, training, out, dst):
    """x, out (N, C, L) contiguous; w, b (C,) float64; dst (2, C) float64: mean and var
    (computed when training, given otherwise)."""
    xc, oc = np.ascontiguousarray(x), np.ascontiguousarray(out)
    for c in range(x.shape[1]):
        _batch_norm_channel(xc, w, b, eps, training, oc, dst, c)


@kernel(parallel=True)
def batch_norm_forward_parallel_kernel(x, w, b, eps, training, out, dst):
    xc, oc = np.ascontiguousarray(x), np.ascontiguousarray(out)
    for c in prange(x.shape[1]):
        _batch_norm_channel(xc, w, b, eps, training, oc, dst, c)


@kernel()
def batch_norm_backward_kernel(x, g, w, mean, var, eps, training, out, dst):
    """dx into out (N, C, L); dst (2, C) float64: dweight, dbias."""
    xc, gc, oc = np.ascontiguousarray(x), np.ascontiguousarray(g), np.ascontiguousarray(out)
    for c in range(x.shape[1]):
        _batch_norm_backward_channel(xc, gc, w, mean, var, eps, training, oc, dst, c)


@kernel(parallel=True)
def batch_norm_backward_parallel_kernel(x, g, w, mean, var, eps, training, out, dst):
    xc, gc, oc = np.ascontiguousarray(x), np.ascontiguousarray(g), np.ascontiguousarray(out)
    for c in prange(x.shape[1]):
        _batch_norm_backward_channel(xc, gc, w, mean, var, eps, training, oc, dst, c)


# ---- the table ----------------------------------------------------------------------
def _vector(v, n, fill, dtype=_F64):
    """A (n,) contiguous copy of v in `dtype`, or `fill` everywhere when v is None."""
    return np.full(n, fill, dtype=dtype) if v is None else np.ascontiguousarray(v, dtype=dtype)


def layer_norm(x, weight, bias, eps):
    x = np.ascontiguousarray(x)
    rows, d = x.shape
    out = np.empty(x.shape, dtype=x.dtype)
    stats = np.empty((2, rows), dtype=_F64)
    if d == 0:
        stats[:] = np.nan
        return out, stats[0], stats[1]
    big = x.size >= _PARALLEL_SIZE
    launch(layer_norm_forward_parallel_kernel if big else layer_norm_forward_kernel,
           x, _vector(weight, d, 1.0, x.dtype), _vector(bias, d, 0.0, x.dtype), float(eps),
           out, stats)
    return out, stats[0], stats[1]


def layer_norm_backward(x, weight, mean, rstd, grad):
    x = np.ascontiguousarray(x)
    rows, d = x.shape
    grad = np.ascontiguousarray(grad, dtype=x.dtype)
    out = np.empty(x.shape, dtype=x.dtype)
    acc = np.zeros(((rows + _CHUNK_ROWS - 1) // _CHUNK_ROWS, 2, d), dtype=x.dtype)
    if x.size:
        launch(layer_norm_backward_kernel, x, grad, _vector(weight, d, 1.0, x.dtype),
               np.ascontiguousarray(mean, dtype=_F64), np.ascontiguousarray(rstd, dtype=_F64),
               out, acc)
    sums = acc.sum(axis=0, dtype=_F64)        # chunk order: the same for any thread count
    return out, sums[0].astype(x.dtype), sums[1].astype(x.dtype)


def _channels_contiguous(a):
    """(N, C, L) with L == 1 — a BatchNorm1d batch (N, C) — as (1, C, N): each channel's
    values contiguous (one transposed copy) instead of N rows of one element each."""
    return np.ascontiguousarray(a[:, :, 0].T)[None]


def batch_norm(x, weight, bias, mean, var, eps):
    if x.shape[2] == 1 and x.shape[0] > 1:
        y, mean, var = batch_norm(_channels_contiguous(x), weight, bias, mean, var, eps)
        return np.ascontiguousarray(y[0].T)[:, :, None], mean, var
    x = np.ascontiguousarray(x)
    channels = x.shape[1]
    out = np.empty(x.shape, dtype=x.dtype)
    training = mean is None
    stats = np.empty((2, channels), dtype=_F64)
    if not training:
        stats[0], stats[1] = mean, var
    elif x.shape[0] * x.shape[2] == 0:
        stats[:] = np.nan                   # the mean of nothing, as numpy's mean
    if x.size:
        big = x.size >= _PARALLEL_SIZE
        launch(batch_norm_forward_parallel_kernel if big else batch_norm_forward_kernel,
               x, _vector(weight, channels, 1.0), _vector(bias, channels, 0.0), float(eps),
               training, out, stats)
    return out, stats[0], stats[1]


def batch_norm_backward(x, weight, mean, var, grad, eps, training):
    if x.shape[2] == 1 and x.shape[0] > 1:
        dx, dweight, dbias = batch_norm_backward(
            _channels_contiguous(x), weight, mean, var,
            _channels_contiguous(np.asarray(grad, dtype=x.dtype)), eps, training)
        return np.ascontiguousarray(dx[0].T)[:, :, None], dweight, dbias
    x = np.ascontiguousarray(x)
    channels = x.shape[1]
    grad = np.ascontiguousarray(grad, dtype=x.dtype)
    out = np.empty(x.shape, dtype=x.dtype)
    sums = np.zeros((2, channels), dtype=_F64)
    if x.size:
        big = x.size >= _PARALLEL_SIZE
        launch(batch_norm_backward_parallel_kernel if big else batch_norm_backward_kernel,
               x, grad, _vector(weight, channels, 1.0), np.ascontiguousarray(mean, dtype=_F64),
               np.ascontiguousarray(var, dtype=_F64), float(eps), bool(training), out, sums)
    return out, sums[0].astype(x.dtype), sums[1].astype(x.dtype)
