"""2-D pooling, numpy reference: the oracle.

x (N, C, H, W); kernel, stride, padding: (h, w) pairs of ints, padding <= kernel / 2
(the op checks it, as torch does), no ceil mode, no dilation:
    H_out = (H + 2 pH - kH) // sH + 1

- max_pool2d_forward(x, kernel, stride, padding) -> (out, argmax). Padding counts as
  -inf: a window only ever picks a real element. argmax (int32, out's shape) is the
  flat index ih * W + iw of the chosen element in its (n, c) plane, chosen as torch's
  CPU kernel does: scan the window row by row from its first real element, take a
  value if it is greater than the best so far or NaN (so NaN propagates). Backward
  saves only argmax (and x's shape).
- max_pool2d_backward(grad, argmax, x_shape): each output's gradient lands on its
  argmax element; overlapping windows add up.
- avg_pool2d_forward / _backward: the window mean with zero padding counted
  (count_include_pad=True, torch's default), so every divisor is kH * kW.
- adaptive_avg_pool2d_forward(x, output_size) / _backward(grad, x_shape): output
  (y, x) averages rows [floor(y H / H_out), ceil((y + 1) H / H_out)) and the same for
  columns (torch's formula; windows may overlap by one).
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def max_pool2d_forward(x, kernel, stride, padding):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = _out_size(h, kh, sh, ph), _out_size(w, kw, sw, pw)
    top = np.arange(ho) * sh - ph                        # first window row (maybe padding)
    left = np.arange(wo) * sw - pw
    best = np.full((n, c, ho, wo), -np.inf, dtype=x.dtype)
    # torch starts from the window's first real element.
    index = np.broadcast_to(np.maximum(top, 0)[:, None] * w + np.maximum(left, 0)[None, :],
                            best.shape).copy()
    for i in range(kh):
        for j in range(kw):
            rows, cols = top + i, left + j
            real = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
            value = x[:, :, np.clip(rows, 0, h - 1)[:, None], np.clip(cols, 0, w - 1)[None, :]]
            take = real & ((value > best) | np.isnan(value))
            best = np.where(take, value, best)
            index = np.where(take, rows[:, None] * w + cols[None, :], index)
    return best, index.astype(np.int32)


def max_pool2d_backward(grad, argmax, x_shape):
    n, c, h, w = x_shape
    dx = np.zeros((n * c, h * w), dtype=grad.dtype)
    planes = np.repeat(np.arange(n * c), argmax.shape[2] * argmax.shape[3])
    np.add.at(dx, (planes, argmax.reshape(-1)), grad.reshape(-1))
    return dx.reshape(x_shape)


def avg_pool2d_forward(x, kernel, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    return (win.sum(axis=(4, 5)) / (kh * kw)).astype(x.dtype)


def avg_pool2d_backward(grad, x_shape, kernel, stride, padding):
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = grad.shape[2:]
    share = grad.astype(np.float64) / (kh * kw)
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw] += share
    return dxp[:, :, ph:ph + h, pw:pw + w].astype(grad.dtype)


def _bounds(size, out):
    """torch's adaptive windows: [floor(o size / out), ceil((o + 1) size / out))."""
    o = np.arange(out)
    return (o * size) // out, -((-(o + 1) * size) // out)


def adaptive_avg_pool2d_forward(x, output_size):
    n, c, h, w = x.shape
    ho, wo = output_size
    (r0, r1), (c0, c1) = _bounds(h, ho), _bounds(w, wo)
    out = np.empty((n, c, ho, wo), dtype=np.float64)
    for y in range(ho):
        for z in range(wo):
            out[:, :, y, z] = x[:, :, r0[y]:r1[y], c0[z]:c1[z]].astype(np.float64).mean(
                axis=(2, 3))
    return out.astype(x.dtype)


def adaptive_avg_pool2d_backward(grad, x_shape):
    n, c, h, w = x_shape
    ho, wo = grad.shape[2:]
    (r0, r1), (c0, c1) = _bounds(h, ho), _bounds(w, wo)
    dx = np.zeros(x_shape)
    for y in range(ho):
        for z in range(wo):
            count = (r1[y] - r0[y]) * (c1[z] - c0[z])
            dx[:, :, r0[y]:r1[y], c0[z]:c1[z]] += grad[:, :, y, z, None, None] / count
    return dx.astype(grad.dtype)
