"""Losses, numpy reference: the oracle the Numba kernels must match.

Layouts (the op layer brings every call to these):
- class-index losses: scores x (N, C, K) — the classes on axis 1, K positions per
  sample (1 for (N, C) input, d1·d2·… for (N, C, d1, …)) — and target (N, K) integers.
  `weight` is a per-class (C,) array or None; rows whose target is `ignore_index`
  contribute nothing. Each returns the per-position loss (N, K) in x's dtype, and
  `total`, a 0-d float64: the sum of w[target] over the positions not ignored (their
  count without weights), which reduction='mean' divides by, as torch does.
- binary losses: x, y (and pos_weight) of one shape, elementwise; the loss is not
  reduced here.

Everything is computed in float64 and rounded once.
"""
import numpy as np

F64 = np.float64


def _class_weights(weight, classes):
    return np.ones(classes) if weight is None else np.asarray(weight, dtype=F64)


def _picked(x, target):
    """x[n, target[n, k], k] for every (n, k)."""
    return np.take_along_axis(x, target[:, None, :], axis=1)[:, 0, :]


def cross_entropy(x, target, weight, ignore_index, label_smoothing):
    """Softmax cross-entropy from logits. Returns (loss (N, K), lse (N, K) float64, total).

    loss = (1 - ε) w[t] (lse - x[t]) + ε/C Σ_c w[c] (lse - x[c]), lse = log Σ_c exp x[c];
    0 where target == ignore_index. `lse` is what backward needs.
    """
    xf = x.astype(F64)
    classes = x.shape[1]
    m = xf.max(axis=1, keepdims=True) if classes else np.zeros(xf.shape[:1] + (1,) + xf.shape[2:])
    lse = (m + np.log(np.exp(xf - m).sum(axis=1, keepdims=True)))[:, 0, :]
    valid = target != ignore_index
    t = np.where(valid, target, 0)
    w = _class_weights(weight, classes)
    eps = label_smoothing
    nll = w[t] * (lse - _picked(xf, t))
    smooth = (w[None, :, None] * (lse[:, None, :] - xf)).sum(axis=1)
    loss = np.where(valid, (1 - eps) * nll + eps / classes * smooth, 0.0)
    total = np.where(valid, w[t], 0.0).sum()
    return loss.astype(x.dtype), lse, np.asarray(total, dtype=F64)


def cross_entropy_backward(x, target, weight, lse, grad, ignore_index, label_smoothing):
    """d loss / d x for an upstream gradient `grad` (N, K) of the per-position loss.

    dx[c] = grad (p[c] ((1 - ε) w[t] + ε/C Σw) - (1 - ε) w[t] [c == t] - ε/C w[c]),
    p = softmax(x) = exp(x - lse); 0 for ignored positions.
    """
    classes = x.shape[1]
    p = np.exp(x.astype(F64) - lse[:, None, :])
    valid = target != ignore_index
    t = np.where(valid, target, 0)
    w = _class_weights(weight, classes)
    eps = label_smoothing
    wt = w[t] * (1 - eps)
    dx = p * (wt + eps / classes * w.sum())[:, None, :] - eps / classes * w[None, :, None]
    onehot = np.arange(classes)[None, :, None] == t[:, None, :]
    dx = dx - onehot * wt[:, None, :]
    dx = dx * np.where(valid, grad, 0.0)[:, None, :]
    return dx.astype(x.dtype)


def nll_loss(x, target, weight, ignore_index):
    """-w[t] x[t] per position (x: log-probabilities). Returns (loss (N, K), total)."""
    valid = target != ignore_index
    t = np.where(valid, target, 0)
    w = _class_weights(weight, x.shape[1])
    loss = np.where(valid, -w[t] * _picked(x.astype(F64), t), 0.0)
    total = np.where(valid, w[t], 0.0).sum()
    return loss.astype(x.dtype), np.asarray(total, dtype=F64)


def nll_loss_backward(grad, target, weight, ignore_index, classes):
    """dx (N, C, K), in grad's dtype: -w[t] grad at the target class, 0 elsewhere."""
    valid = target != ignore_index
    t = np.where(valid, target, 0)
    w = _class_weights(weight, classes)
    onehot = np.arange(classes)[None, :, None] == t[:, None, :]
    dx = np.where(onehot, -np.where(valid, w[t] * grad, 0.0)[:, None, :], 0.0)
    return dx.astype(grad.dtype)


def _clamped_logs(x):
    """log x and log(1 - x), each clamped below at -100 (torch's rule: no -inf loss)."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(x), -100.0), np.maximum(np.log1p(-x), -100.0)


def binary_cross_entropy(x, y):
    """-(y log x + (1 - y) log(1 - x)), x probabilities in [0, 1]."""
    xf, yf = x.astype(F64), y.astype(F64)
    log_x, log_1mx = _clamped_logs(xf)
    return (-(yf * log_x + (1 - yf) * log_1mx)).astype(x.dtype)


def binary_cross_entropy_backward(x, y, grad):
    """(dx, dy): grad (x - y) / max(x (1 - x), 1e-12) and grad (log(1 - x) - log x).

    dy uses the logs unclamped, as torch (-logit(x)): ±inf at x = 0 or 1.
    """
    xf, yf, g = x.astype(F64), y.astype(F64), grad.astype(F64)
    dx = g * (xf - yf) / np.maximum(xf * (1 - xf), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        dy = g * (np.log1p(-xf) - np.log(xf))
    return dx.astype(x.dtype), dy.astype(x.dtype)


def _softplus(x):
    """log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|)."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def binary_cross_entropy_with_logits(x, y, pos_weight):
    """-(p y log σ(x) + (1 - y) log(1 - σ(x))) = (1 - y) x + (1 + (p - 1) y) softplus(-x).

    pos_weight p: None (1) or an array of x's shape. Stable for any x.
    """
    xf, yf = x.astype(F64), y.astype(F64)
    p = 1.0 if pos_weight is None else pos_weight.astype(F64)
    return ((1 - yf) * xf + (1 + (p - 1) * yf) * _softplus(-xf)).astype(x.dtype)


def binary_cross_entropy_with_logits_backward(x, y, pos_weight, grad):
    """(dx, dy): grad (σ(x) (1 - y + p y) - p y) and grad (p softplus(-x) - softplus(x))."""
    xf, yf, g = x.astype(F64), y.astype(F64), grad.astype(F64)
    p = 1.0 if pos_weight is None else pos_weight.astype(F64)
    sig = np.exp(-_softplus(-xf))
    dx = g * (sig * (1 - yf + p * yf) - p * yf)
    dy = g * (p * _softplus(-xf) - _softplus(xf))
    return dx.astype(x.dtype), dy.astype(x.dtype)
