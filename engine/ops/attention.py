"""scaled_dot_product_attention: softmax(Q Kᵀ·scale + mask) V as one fused op.

torch's semantics: query (..., L, D), key (..., S, D), value (..., S, Dv), the leading
dims broadcast; attn_mask broadcastable to (..., L, S), bool (True = takes part) or
floating (added to the scores, differentiable); is_causal hides key j from query i
when j > i (top-left aligned, as torch); scale defaults to 1/sqrt(D). Fully-masked
rows give zeros (torch 2.13 does too; its math backend used to give NaN).

The kernels (kernels/*/attention.py) work on (N, L, D) with N the flattened leading
dims; forward saves only q, k, v, the output and the per-row log-sum-exp (N, L), never
the L×S probabilities, which backward recomputes tile by tile.
"""
import math

from engine.autograd import Function
from engine.errors import DTypeError, ShapeError, op_error
from engine.ops import _operands as ops
from engine._runtime import core as _core


def _flat(k, x, batch, N):
    """x (..., R, C) broadcast to batch + (R, C), as (N, R, C) (a copy only if broadcast)."""
    rows, cols = x.shape[-2:]
    return k.reshape(k.expand(x, batch + (rows, cols)), (N, rows, cols))


class Attention(Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, is_causal, scale):
        kern = ctx.kernels
        batch = _core.broadcast_shapes(_core.broadcast_shapes(q.shape[:-2], k.shape[:-2]),
                                       v.shape[:-2])
        N = math.prod(batch)
        q3, k3, v3 = (_flat(kern, t, batch, N) for t in (q, k, v))
        m3 = None
        if mask is not None:
            shape = (1,) * (len(batch) + 2 - mask.ndim) + tuple(mask.shape)
            if all(n == 1 for n in shape[:-2]):       # one (Lm, Sm) mask for every n
                m3 = kern.reshape(mask, (1,) + shape[-2:])
            else:
                m3 = _flat(kern, kern.reshape(mask, shape), batch, N)
        out, lse = kern.attention_forward(q3, k3, v3, m3, is_causal, scale)
        ctx.save_for_backward(q3, k3, v3, out, lse, m3)
        ctx.meta = (batch, is_causal, scale, q.shape[-2:], k.shape[-2:], v.shape[-2:])
        return kern.reshape(out, batch + out.shape[1:])

    @staticmethod
    def backward(ctx, grad):
        q3, k3, v3, out, lse, m3 = ctx.saved_tensors
        batch, is_causal, scale, q_tail, k_tail, v_tail = ctx.meta
        kern = ctx.kernels
        needs_mask_grad = ctx.parents[3] is not None
        dq, dk, dv, dmask = kern.attention_backward(
            kern.reshape(grad, out.shape), q3, k3, v3, out, lse, m3, is_causal, scale,
            needs_mask_grad)
        # In the broadcast batch shape: the walk sums them down to each input's shape.
        dq, dk, dv = (kern.reshape(g, batch + tail) for g, tail in
                      ((dq, q_tail), (dk, k_tail), (dv, v_tail)))
        if needs_mask_grad:
            dmask = kern.reshape(dmask, batch + (q_tail[0], k_tail[0]))
        return dq, dk, dv, dmask, None, None


def scaled_dot_product_attention(query, key, value, attn_mask=None, is_causal=False,
                                 scale=None):
    """softmax(query keyᵀ·scale + attn_mask) value over the last two dims (torch's).

    query (..., L, D), key (..., S, D), value (..., S, Dv) -> (..., L, Dv), float32 or
    float64 alike. attn_mask: None, bool (True = attend) or floating of query's dtype,
    broadcastable to (..., L, S). is_causal: query i attends keys j <= i; not with a
    mask. scale: default 1/sqrt(D). Rows with every key masked give zeros.
    """
    op = "scaled_dot_product_attention"
    ops.require_tensor(op, query, "query")
    ops.require_tensor(op, key, "key")
    ops.require_tensor(op, value, "value")
    if attn_mask is not None:
        ops.require_tensor(op, attn_mask, "attn_mask")
    operands = (query, key, value) + ((attn_mask,) if attn_mask is not None else ())
    dtype = query.data.dtype
    ops.require_kernel_float(op, query, operands, "query")
    if key.data.dtype != dtype or value.data.dtype != dtype:
        raise op_error(DTypeError, op, operands, "query, key and value have different "
                       "dtypes", "convert them all with .float() or .double()")
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise op_error(ShapeError, op, operands, "query, key and value must be at least "
                       "2-D (..., length, features)", "add a length dim with unsqueeze")
    L, D = query.shape[-2:]
    S = key.shape[-2]
    if key.shape[-1] != D:
        raise op_error(ShapeError, op, operands, f"key's last dim must equal query's "
                       f"({D})", "query and key share the head dimension")
    if value.shape[-2] != S:
        raise op_error(ShapeError, op, operands, f"value must have key's length {S} in "
                       f"dim -2", "key and value come in pairs: one value row per key")
    batch = _core.broadcast_shapes(tuple(query.shape[:-2]), tuple(key.shape[:-2]))
    batch = None if batch is None else _core.broadcast_shapes(batch, tuple(value.shape[:-2]))
    if batch is None:
        raise op_error(ShapeError, op, operands, "the leading (batch, head) dims of query, "
                       "key and value do not broadcast", "give them equal leading dims")
    if attn_mask is not None:
        if is_causal:
            raise op_error(RuntimeError, op, operands, "an explicit attn_mask should not be "
                           "set when is_causal=True", "pass one of them (fold the causal "
                           "mask into attn_mask if you need both)")
        mdtype = attn_mask.data.dtype
        if mdtype.kind != "b" and mdtype != dtype:
            raise op_error(DTypeError, op, operands, "attn_mask must be bool or of query's "
                           "dtype", "pass a bool mask (True = attend), or convert it with "
                           ".to(query.dtype)")
        if _core.broadcast_shapes(tuple(attn_mask.shape), batch + (L, S)) != batch + (L, S):
            raise op_error(ShapeError, op, operands, f"attn_mask does not broadcast to "
                           f"{batch + (L, S)}", "the mask's last two dims must be "
                           f"(L, S) = {(L, S)} or 1")
    if scale is None:
        scale = 1.0 / math.sqrt(D) if D else math.inf
    return Attention.apply(query, key, value, attn_mask, bool(is_causal), float(scale))
