"""MultiheadAttention: torch's layer, parameter layout and masks.

Scaled dot-product attention lets every query position look at every key position
and take a weighted mean of the values, weights = softmax(q kᵀ / √d). Multi-head
attention runs `num_heads` of these side by side on learned projections of width
d = embed_dim / num_heads, then mixes the heads' outputs with one more projection:

    q, k, v = query W_qᵀ + b_q, key W_kᵀ + b_k, value W_vᵀ + b_v     (E -> E each)
    split each into heads: (N, L, E) -> (N, heads, L, d)
    out = softmax(q kᵀ / √d + mask) v, heads merged back -> out_proj

Parameters, as torch: in_proj_weight (3E, E) = [W_q; W_k; W_v] and in_proj_bias (3E,)
(or q_proj_weight, k_proj_weight, v_proj_weight when kdim/vdim differ from E), and
out_proj (a Linear E -> E). Masks, as torch: attn_mask (L, S) or (N * heads, L, S),
bool (True = may NOT attend) or float (added to the scores); key_padding_mask (N, S),
True marking padding keys. Without attention weights to return and without dropout,
the heads run in the fused F.scaled_dot_product_attention; otherwise the weights are
computed explicitly.
"""
import math

import numpy as np

from engine import creation
from engine.errors import ShapeError
from engine.nn import functional as F
from engine.nn import init
from engine.nn._factory import factory, parameter
from engine.nn.linear import Linear
from engine.nn.module import Module


def additive_mask(mask, dtype, name):
    """A bool mask (True = masked out) as 0 / -inf of `dtype`; a float mask as is."""
    if mask is None:
        return None
    if mask.dtype.name == "bool":
        values = np.where(mask.numpy(), -np.inf, 0.0).astype(dtype.numpy)
        return creation.tensor(values, device=mask.device)
    if not mask.dtype.is_floating_point:
        raise TypeError(f"MultiheadAttention: {name} must be bool or floating point, got "
                        f"{mask.dtype.name}")
    if mask.dtype != dtype:
        raise TypeError(f"MultiheadAttention: {name} is {mask.dtype.name} but the query is "
                        f"{dtype.name}. Hint: build the mask in the query's dtype, or as bool")
    return mask


class MultiheadAttention(Module):
    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise ValueError("embed_dim must be divisible by num_heads")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are "
                                      "not supported")
        device, dtype = factory(device, dtype)
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self._qkv_same_embed_dim:
            self.in_proj_weight = parameter((3 * embed_dim, embed_dim), device, dtype)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = parameter((embed_dim, embed_dim), device, dtype)
            self.k_proj_weight = parameter((embed_dim, self.kdim), device, dtype)
            self.v_proj_weight = parameter((embed_dim, self.vdim), device, dtype)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = parameter((3 * embed_dim,), device, dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self):
        """torch's: xavier_uniform_ projections, zero biases (out_proj's weight keeps
        Linear's default)."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _projections(self):
        """(W_q, W_k, W_v) and (b_q, b_k, b_v): views into the packed parameters."""
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            weights = (w[:E], w[E:2 * E], w[2 * E:])
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        b = self.in_proj_bias
        biases = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        return weights, biases

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        """query (L, N, E) ((N, L, E) with batch_first, or unbatched (L, E)); key and
        value (S, N, kdim / vdim) likewise. Returns (output like query, weights (N, L, S)
        averaged over heads — (N, heads, L, S) with average_attn_weights=False — or None
        when need_weights=False)."""
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: need attn_mask if specifying the "
                               "is_causal hint. Hint: pass "
                               "attn_mask=nn.Transformer.generate_square_subsequent_mask(L)")
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ShapeError(f"MultiheadAttention: query, key and value must all be 3-D "
                             f"(batched) or 2-D (unbatched), got shapes {tuple(query.shape)}, "
                             f"{tuple(key.shape)}, {tuple(value.shape)}. Hint: (L, N, E), or "
                             f"(N, L, E) with batch_first=True")
        if query.shape[-1] != self.embed_dim:
            raise ShapeError(f"MultiheadAttention: was expecting embedding dimension of "
                             f"{self.embed_dim}, but got {query.shape[-1]} (query shape "
                             f"{tuple(query.shape)}). Hint: the last dim is the embedding")
        # Work batch-first: (N, L, E).
        if not batched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), \
                value.transpose(0, 1)
        N, L, E = query.shape
        S = key.shape[1]
        H, d = self.num_heads, self.head_dim
        if key.shape[:2] != value.shape[:2]:
            raise ShapeError(f"MultiheadAttention: key and value must have the same sequence "
                             f"and batch sizes, got {tuple(key.shape)} and "
                             f"{tuple(value.shape)}. Hint: value holds one vector per key")

        (w_q, w_k, w_v), (b_q, b_k, b_v) = self._projections()
        q = F.linear(query, w_q, b_q).reshape(N, L, H, d).permute(0, 2, 1, 3)
        k = F.linear(key, w_k, b_k).reshape(N, S, H, d).permute(0, 2, 1, 3)
        v = F.linear(value, w_v, b_v).reshape(N, S, H, d).permute(0, 2, 1, 3)

        mask = self._merged_mask(attn_mask, key_padding_mask, query.dtype, N, L, S)
        dropout = self.dropout if self.training else 0.0
        if need_weights or dropout > 0:
            scores = (q * math.sqrt(1.0 / d)) @ k.transpose(-2, -1)     # (N, H, L, S)
            if mask is not None:
                scores = scores + mask
            weights = F.softmax(scores, -1)
            if dropout > 0:
                weights = F.dropout(weights, dropout, True)
            out = weights @ v
        else:
            weights = None
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = self.out_proj(out.permute(0, 2, 1, 3).reshape(N, L, E))

        if not batched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(1)
        if not batched:
            weights = weights.squeeze(0)
        return out, weights

    def _merged_mask(self, attn_mask, key_padding_mask, dtype, N, L, S):
        """attn_mask and key_padding_mask as one additive float mask broadcastable to
        (N, heads, L, S), or None."""
        H = self.num_heads
        mask = additive_mask(attn_mask, dtype, "attn_mask")
        if mask is not None:
            if mask.ndim == 2:
                if tuple(mask.shape) != (L, S):
                    raise ShapeError(f"MultiheadAttention: the shape of the 2D attn_mask is "
                                     f"{tuple(mask.shape)}, but should be {(L, S)}. Hint: "
                                     f"(target length, source length)")
            elif mask.ndim == 3:
                if tuple(mask.shape) != (N * H, L, S):
                    raise ShapeError(f"MultiheadAttention: the shape of the 3D attn_mask is "
                                     f"{tuple(mask.shape)}, but should be {(N * H, L, S)}. "
                                     f"Hint: (batch * num_heads, L, S)")
                mask = mask.reshape(N, H, L, S)
            else:
                raise ShapeError(f"MultiheadAttention: attn_mask's dimension {mask.ndim} is "
                                 f"not supported. Hint: give a 2-D or 3-D mask")
        padding = additive_mask(key_padding_mask, dtype, "key_padding_mask")
        if padding is not None:
            if tuple(padding.shape) != (N, S):
                raise ShapeError(f"MultiheadAttention: expected key_padding_mask of shape "
                                 f"{(N, S)}, got {tuple(padding.shape)}. Hint: one flag per "
                                 f"(batch item, key)")
            padding = padding.reshape(N, 1, 1, S)
            mask = padding if mask is None else mask + padding
        return mask
