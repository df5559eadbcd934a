"""Layer and batch normalization, numpy reference: the oracle the Numba kernels match.

Statistics are computed in float64 (two passes: the mean, then the mean squared
deviation) and saved in float64; outputs and gradients are rounded once to x's dtype.
`weight`/`bias` may be None (no affine transform: 1 and 0).
"""
import numpy as np

F64 = np.float64


def _affine(weight, bias, n):
    w = np.ones(n) if weight is None else weight.astype(F64)
    b = np.zeros(n) if bias is None else bias.astype(F64)
    return w, b


def layer_norm(x, weight, bias, eps):
    """x (M, D): each row normalized over its D values, then y = x̂ w + b.

    Returns (y (M, D), mean (M,), rstd (M,)), rstd = 1 / sqrt(var + eps), var biased.
    """
    xf = x.astype(F64)
    d = x.shape[1]
    mean = xf.mean(axis=1) if d else np.full(x.shape[0], np.nan)
    centered = xf - mean[:, None]
    var = (centered * centered).mean(axis=1) if d else np.full(x.shape[0], np.nan)
    rstd = 1.0 / np.sqrt(var + eps)
    w, b = _affine(weight, bias, d)
    y = centered * rstd[:, None] * w + b
    return y.astype(x.dtype), mean, rstd


def layer_norm_backward(x, weight, mean, rstd, grad):
    """(dx (M, D), dweight (D,), dbias (D,)) for upstream grad (M, D).

    dx = rstd (ĝ - mean(ĝ) - x̂ mean(ĝ x̂)) with ĝ = grad w, per row;
    dweight = Σ_rows grad x̂, dbias = Σ_rows grad.
    """
    g = grad.astype(F64)
    d = x.shape[1]
    xhat = (x.astype(F64) - mean[:, None]) * rstd[:, None]
    w, _ = _affine(weight, None, d)
    gw = g * w
    if d:
        dx = rstd[:, None] * (gw - gw.mean(axis=1, keepdims=True)
                              - xhat * (gw * xhat).mean(axis=1, keepdims=True))
    else:
        dx = gw
    return dx.astype(x.dtype), (g * xhat).sum(axis=0).astype(x.dtype), g.sum(axis=0).astype(x.dtype)


def batch_norm(x, weight, bias, mean, var, eps):
    """x (N, C, L): each channel normalized over its N·L values.

    mean, var None: the batch's statistics (training; var biased), else the running
    statistics given (C,). Returns (y (N, C, L), mean (C,), var (C,)), the statistics
    used, in float64.
    """
    xf = x.astype(F64)
    if mean is None:
        mean = xf.mean(axis=(0, 2))
        var = ((xf - mean[None, :, None]) ** 2).mean(axis=(0, 2))
    mean, var = np.asarray(mean, dtype=F64), np.asarray(var, dtype=F64)
    rstd = 1.0 / np.sqrt(var + eps)
    w, b = _affine(weight, bias, x.shape[1])
    y = (xf - mean[None, :, None]) * (rstd * w)[None, :, None] + b[None, :, None]
    return y.astype(x.dtype), mean, var


def batch_norm_backward(x, weight, mean, var, grad, eps, training):
    """(dx, dweight (C,), dbias (C,)) for upstream grad (N, C, L).

    Training (mean, var were the batch's, so they depend on x), n = N·L:
    dx = w rstd (g - Σg / n - x̂ Σ(g x̂) / n); eval: dx = w rstd g.
    """
    g = grad.astype(F64)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (x.astype(F64) - mean[None, :, None]) * rstd[None, :, None]
    w, _ = _affine(weight, None, x.shape[1])
    dbias = g.sum(axis=(0, 2))
    dweight = (g * xhat).sum(axis=(0, 2))
    scale = (w * rstd)[None, :, None]
    if training:
        n = x.shape[0] * x.shape[2]
        dx = scale * (g - dbias[None, :, None] / n - xhat * dweight[None, :, None] / n)
    else:
        dx = scale * g
    return dx.astype(x.dtype), dweight.astype(x.dtype), dbias.astype(x.dtype)
