"""2-D convolution (cross-correlation, as torch), numpy reference: the oracle.

Shapes (the op layer has checked them; conv1d arrives here as H = 1):
    x (N, C, H, W), w (C_out, C / groups, kH, kW), bias (C_out,) or None
    stride, padding, dilation: (h, w) pairs of ints; padding is zeros on both sides
    out (N, C_out, H_out, W_out), H_out = (H + 2 pH - dH (kH - 1) - 1) // sH + 1

    out[n, o, y, x] = bias[o] + sum over c in o's group, i, j of
                      w[o, c, i, j] * xpad[n, c, y sH + i dH, x sW + j dW]

Backward needs x and w (both saved by the op): d/dx is the transposed convolution of
the gradient with w, d/dw the correlation of the gradient with x's windows, d/dbias
the gradient summed over (N, H_out, W_out). Sums run in float64 and are rounded once.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _windows(x, kernel, stride, padding, dilation):
    """(N, C, H_out, W_out, kH, kW) view:
    [n, c, y, x, i, j] = xpad[n, c, y sH + i dH, x sW + j dW]."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    spans = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    return sliding_window_view(xp, spans, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]


def _grouped(w, groups):
    """w (C_out, C_g, kH, kW) as (groups, C_out / groups, C_g, kH, kW)."""
    return w.reshape((groups, w.shape[0] // groups) + w.shape[1:])


def conv2d_forward(x, w, bias, stride, padding, dilation, groups):
    n, c = x.shape[:2]
    win = _windows(x.astype(np.float64), w.shape[2:], stride, padding, dilation)
    win = win.reshape((n, groups, c // groups) + win.shape[2:])
    out = np.einsum("ngchwij,gocij->ngohw", win, _grouped(w.astype(np.float64), groups))
    out = out.reshape((n, w.shape[0]) + win.shape[3:5])
    if bias is not None:
        out = out + bias.astype(np.float64)[:, None, None]
    return out.astype(x.dtype)


def conv2d_backward_input(grad, w, x_shape, stride, padding, dilation, groups):
    """Every output position scatters grad * w back onto the window it read."""
    n, c, h, wd = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = w.shape[2:], stride, padding, dilation
    ho, wo = grad.shape[2:]
    g = grad.astype(np.float64).reshape(n, groups, grad.shape[1] // groups, ho, wo)
    cols = np.einsum("ngohw,gocij->ngchwij", g, _grouped(w.astype(np.float64), groups))
    cols = cols.reshape(n, c, ho, wo, kh, kw)
    dxp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                j * dw:j * dw + sw * (wo - 1) + 1:sw] += cols[..., i, j]
    return dxp[:, :, ph:ph + h, pw:pw + wd].astype(grad.dtype)


def conv2d_backward_weight(grad, x, w_shape, stride, padding, dilation, groups):
    n, c = x.shape[:2]
    ho, wo = grad.shape[2:]
    win = _windows(x.astype(np.float64), w_shape[2:], stride, padding, dilation)
    win = win.reshape((n, groups, c // groups) + win.shape[2:])
    g = grad.astype(np.float64).reshape(n, groups, grad.shape[1] // groups, ho, wo)
    return np.einsum("ngohw,ngchwij->gocij", g, win).reshape(w_shape).astype(grad.dtype)


def conv2d_backward_bias(grad):
    return grad.astype(np.float64).sum(axis=(0, 2, 3)).astype(grad.dtype)
