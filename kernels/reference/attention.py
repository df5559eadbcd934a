"""Scaled dot-product attention, numpy reference: the plain softmax(Q Kᵀ·scale + mask) V.

Shapes: q (N, L, D), k (N, S, D), v (N, S, Dv) -> out (N, L, Dv), with N the flattened
batch·head dims. `mask`: None, or a bool (True = takes part) or floating (added to the
scores) array broadcastable to (N, L, S). `is_causal`: row i sees keys j <= i (torch's
top-left alignment; the op never passes both a mask and is_causal). `scale`: a float.

Fully-masked rows (every key masked out, or S = 0) give zeros, forward and backward, as
torch 2.13's scaled_dot_product_attention does.

Forward also returns lse (N, L), the log-sum-exp of each row's scores, the one thing
backward needs besides the inputs and the output: p = exp(s - lse) recomputes the
probabilities. A fully-masked row stores lse = +inf, so that its p is exp(-inf) = 0.
Backward: dv = pᵀ dO, dp = dO vᵀ, ds = p (dp - rowsum(dO ∘ O)), dq = ds k·scale,
dk = dsᵀ q·scale; dmask = ds, only when asked (a floating mask that requires grad).
"""
import numpy as np


def _scores(q, k, mask, is_causal, scale):
    s = (q @ k.transpose(0, 2, 1)) * q.dtype.type(scale)      # in q's dtype, as the kernels
    if is_causal:
        L, S = s.shape[-2:]
        s = np.where(np.tril(np.ones((L, S), dtype=bool)), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == np.bool_ else s + mask
    return s.astype(q.dtype, copy=False)


def attention_forward(q, k, v, mask, is_causal, scale):
    N, L, S, Dv = q.shape[0], q.shape[1], k.shape[1], v.shape[2]
    if S == 0:
        return np.zeros((N, L, Dv), q.dtype), np.full((N, L), np.inf, q.dtype)
    s = _scores(q, k, mask, is_causal, scale)
    m = s.max(axis=-1, keepdims=True)
    dead = np.isneginf(m)                         # fully-masked rows
    m = np.where(dead, 0, m)
    e = np.exp(s - m)
    total = e.sum(axis=-1, keepdims=True)
    out = (e / np.where(dead, 1, total)) @ v
    with np.errstate(divide="ignore"):
        lse = np.where(dead, np.inf, m + np.log(total))[..., 0]
    return out.astype(q.dtype, copy=False), lse.astype(q.dtype, copy=False)


def attention_backward(grad, q, k, v, out, lse, mask, is_causal, scale, needs_mask_grad):
    """-> (dq, dk, dv, dmask or None)."""
    N, L, S = q.shape[0], q.shape[1], k.shape[1]
    if S == 0:
        return (np.zeros_like(q), np.zeros_like(k), np.zeros_like(v),
                np.zeros((N, L, S), q.dtype) if needs_mask_grad else None)
    p = np.exp(_scores(q, k, mask, is_causal, scale) - lse[..., None])
    dv = p.transpose(0, 2, 1) @ grad
    dp = grad @ v.transpose(0, 2, 1)
    ds = p * (dp - (grad * out).sum(axis=-1, keepdims=True))
    scale = q.dtype.type(scale)
    dq = (ds @ k) * scale
    dk = (ds.transpose(0, 2, 1) @ q) * scale
    return dq, dk, dv, (ds if needs_mask_grad else None)
