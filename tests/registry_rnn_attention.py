"""Registry entries for the fused recurrent cells and attention (engine/ops/rnn.py,
engine/ops/attention.py), against torch.lstm_cell / rnn_tanh_cell / rnn_relu_cell (what
nn.LSTMCell and nn.RNNCell call, same weight layouts) and
torch.nn.functional.scaled_dot_product_attention.

Cells: a batch of 1, of 0 and odd sizes; a hidden size of 33 (more than one 32-unit
panel of the forward kernel, and not a multiple of its 4×4 blocks); transposed and
strided weights and states; no bias, one bias; saturating gates.

Attention: lengths 1, 17, 113, 127, 129 (not multiples of the 64-row tiles, and more
than one tile), head dims 16 to 128, Dv != D, causal with L = S, L < S and L > S,
bool masks (with a fully-masked row: zeros, as torch), float masks broadcast over
rows or heads (and differentiated), key/value broadcast over the batch, 3-D and 4-D
inputs, an empty batch, transposed and strided inputs.
"""
import numpy as np
import torch
import torch.nn.functional as TF

import engine as eg
import engine.nn.functional as F
from registry import Op, S, bad, randn, register, strided, t, transposed

_CHECK = {"check": True}


# ---- lstm_cell -------------------------------------------------------------------------------
def _lstm_inputs(B, I, H, scale=0.5, bias=True):
    x, h, c = randn(B, I), randn(B, H), randn(B, H)
    w_ih, w_hh = randn(4 * H, I) * scale, randn(4 * H, H) * scale
    return [x, h, c, w_ih, w_hh] + ([randn(4 * H) * scale, randn(4 * H) * scale] if bias
                                    else [])


def _lstm_e(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    return F.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)


def _lstm_t(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    return torch.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)


def _lstm(id, inputs, **kw):
    return S(id, *inputs, **kw)


_x, _h, _c, _wi, _wh, _bi, _bh = _lstm_inputs(5, 6, 7)
register(Op("lstm_cell", _lstm_e, _lstm_t, [
    _lstm("tiny", _lstm_inputs(2, 2, 2)),
    _lstm("tiny_no_bias", _lstm_inputs(1, 2, 2, bias=False), **_CHECK),
    _lstm("batch", _lstm_inputs(3, 5, 4)),
    _lstm("odd", _lstm_inputs(7, 13, 9)),
    _lstm("hidden_33_two_panels", _lstm_inputs(9, 5, 33)),
    _lstm("size1", _lstm_inputs(1, 1, 1)),
    _lstm("empty_batch", _lstm_inputs(0, 3, 4)),
    _lstm("transposed_weights", [_x, strided(_h), transposed(_c), transposed(_wi),
                                 transposed(_wh), strided(_bi), _bh]),
    _lstm("strided_input", [strided(_x), _h, _c, _wi, strided(_wh), _bi, _bh]),
    _lstm("saturating", _lstm_inputs(3, 4, 3, scale=4.0)),
    S("only_b_ih", *_lstm_inputs(3, 4, 3)[:6],
      engine_fn=lambda x, h, c, wi, wh, bi: F.lstm_cell(x, (h, c), wi, wh, bi),
      torch_fn=lambda x, h, c, wi, wh, bi: torch.lstm_cell(x, (h, c), wi, wh, bi)),
], [
    bad("lstm_cell_hx_not_tuple", TypeError, "hx must be a tuple (h, c)",
        lambda: F.lstm_cell(t((2, 3)), t((2, 4)), t((16, 3)), t((16, 4)))),
    bad("lstm_cell_w_ih_shape", eg.ShapeError, "w_ih must have shape (16, 3)",
        lambda: F.lstm_cell(t((2, 3)), (t((2, 4)), t((2, 4))), t((16, 5)), t((16, 4))),
        t((2, 3)), t((2, 4)), t((16, 5)), t((16, 4))),
    bad("lstm_cell_w_hh_shape", eg.ShapeError, "w_hh must have shape (16, 4)",
        lambda: F.lstm_cell(t((2, 3)), (t((2, 4)), t((2, 4))), t((16, 3)), t((12, 4))),
        t((2, 3)), t((2, 4)), t((16, 3)), t((12, 4))),
    bad("lstm_cell_bias_shape", eg.ShapeError, "biases must have shape (16,)",
        lambda: F.lstm_cell(t((2, 3)), (t((2, 4)), t((2, 4))), t((16, 3)), t((16, 4)),
                            t((4,))),
        t((2, 3)), t((2, 4)), t((16, 3)), t((16, 4)), t((4,))),
    bad("lstm_cell_cell_state_shape", eg.ShapeError, "cell state must have",
        lambda: F.lstm_cell(t((2, 3)), (t((2, 4)), t((2, 5))), t((16, 3)), t((16, 4))),
        t((2, 3)), t((2, 4)), t((2, 5))),
    bad("lstm_cell_batch_mismatch", eg.ShapeError, "hidden state must be 2-D (batch=2",
        lambda: F.lstm_cell(t((2, 3)), (t((3, 4)), t((3, 4))), t((16, 3)), t((16, 4))),
        t((2, 3)), t((3, 4))),
    bad("lstm_cell_1d_input", eg.ShapeError, "input must be 2-D",
        lambda: F.lstm_cell(t((3,)), (t((4,)), t((4,))), t((16, 3)), t((16, 4))),
        t((3,)), t((4,))),
    bad("lstm_cell_dtypes", eg.DTypeError, "different dtypes",
        lambda: F.lstm_cell(t((2, 3)), (t((2, 4)), t((2, 4))), t((16, 3), eg.float64),
                            t((16, 4))),
        t((2, 3)), t((16, 3), eg.float64)),
    bad("lstm_cell_int_input", eg.DTypeError, "float32 or float64",
        lambda: F.lstm_cell(t((2, 3), eg.int64), (t((2, 4)), t((2, 4))), t((16, 3)),
                            t((16, 4))),
        t((2, 3), eg.int64)),
    bad("lstm_cell_not_tensor", TypeError, "must be a Tensor",
        lambda: F.lstm_cell([[1.0]], (t((1, 1)), t((1, 1))), t((4, 1)), t((4, 1)))),
], covers=("F.lstm_cell",)))


# ---- rnn_tanh_cell, rnn_relu_cell ---------------------------------------------------------
def _rnn_inputs(B, I, H, scale=0.5, bias=True):
    return [randn(B, I), randn(B, H), randn(H, I) * scale, randn(H, H) * scale] + (
        [randn(H) * scale, randn(H) * scale] if bias else [])


def _rnn_op(name, nonlinearity):
    fe, ft = getattr(F, name), getattr(torch, name)
    _x, _h, _wi, _wh, _bi, _bh = _rnn_inputs(4, 5, 6)

    samples = [
        S("tiny", *_rnn_inputs(2, 2, 3)),
        S("no_bias", *_rnn_inputs(3, 4, 5, bias=False)),
        S("odd_two_panels", *_rnn_inputs(7, 13, 37)),
        S("size1", *_rnn_inputs(1, 1, 1)),
        S("empty_batch", *_rnn_inputs(0, 2, 3)),
        S("transposed", transposed(_x), strided(_h), transposed(_wi), _wh, _bi, strided(_bh)),
    ]
    if nonlinearity == "tanh":
        samples.append(S("saturating", *_rnn_inputs(3, 4, 3, scale=4.0), **_CHECK))
    else:
        # A pre-activation exactly 0 is relu's kink: compared with torch, not differenced.
        samples.append(S("kink_at_zero", np.zeros((2, 2)), np.zeros((2, 3)),
                         *(randn(3, 2), randn(3, 3), randn(3), randn(3)), smooth=False))
    bads = [
        bad(f"{name}_w_ih_shape", eg.ShapeError, "w_ih must have shape (4, 3)",
            lambda: fe(t((2, 3)), t((2, 4)), t((4, 5)), t((4, 4))),
            t((2, 3)), t((2, 4)), t((4, 5)), t((4, 4))),
        bad(f"{name}_dtypes", eg.DTypeError, "different dtypes",
            lambda: fe(t((2, 3)), t((2, 4), eg.float64), t((4, 3)), t((4, 4))),
            t((2, 3)), t((2, 4), eg.float64)),
        bad(f"{name}_hx_shape", eg.ShapeError, "hidden state must be 2-D",
            lambda: fe(t((2, 3)), t((4,)), t((4, 3)), t((4, 4))), t((2, 3)), t((4,))),
    ]
    register(Op(name, fe, ft, samples, bads, covers=(f"F.{name}",)))


_rnn_op("rnn_tanh_cell", "tanh")
_rnn_op("rnn_relu_cell", "relu")


# ---- scaled_dot_product_attention ----------------------------------------------------------
def _sdpa(id, q, k, v, mask=None, flags=None, **kw):
    """A sample; kw (is_causal, scale) go to both functions, mask is an input."""
    flags = flags or {}
    if mask is None:
        return S(id, q, k, v,
                 engine_fn=lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kw),
                 torch_fn=lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, **kw),
                 **flags)
    return S(id, q, k, v, mask,
             engine_fn=lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, m, **kw),
             torch_fn=lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, m, **kw),
             **flags)


def _qkv(batch, L, S_, D, Dv=None):
    return randn(*batch, L, D), randn(*batch, S_, D), randn(*batch, S_, Dv or D)


def _bool_mask(*shape, dead_row=None):
    m = np.random.default_rng(sum(shape)).random(shape) > 0.3
    m[..., 0] = True                                # every row sees a key, ...
    if dead_row is not None:
        m[..., dead_row, :] = False                 # ... but this one: every key masked
    return m


_causal = {"is_causal": True}
register(Op("scaled_dot_product_attention", F.scaled_dot_product_attention,
            TF.scaled_dot_product_attention, [
    _sdpa("tiny", *_qkv((1,), 3, 4, 2)),
    _sdpa("tiny_causal", *_qkv((1,), 3, 3, 2), flags=_CHECK, **_causal),
    _sdpa("tiny_float_mask_grad", *_qkv((1,), 2, 3, 2), randn(2, 3), flags=_CHECK),
    _sdpa("tiny_bool_mask_dead_row", *_qkv((1,), 3, 3, 2), _bool_mask(3, 3, dead_row=1),
          flags=_CHECK),
    _sdpa("heads_4d", *_qkv((2, 3), 5, 7, 8)),
    _sdpa("odd_17_by_129", *_qkv((2,), 17, 129, 16)),
    _sdpa("odd_113_by_127_causal", *_qkv((1,), 113, 127, 16), **_causal),
    _sdpa("odd_129_causal_two_tiles", *_qkv((2,), 129, 129, 16), **_causal),
    _sdpa("causal_queries_longer", *_qkv((2,), 70, 5, 4), **_causal),
    _sdpa("causal_keys_longer", *_qkv((2,), 5, 70, 4), **_causal),
    _sdpa("length_1", *_qkv((3,), 1, 1, 16)),
    _sdpa("head_dim_128_dv_differs", *_qkv((1, 2), 9, 65, 128, Dv=24)),
    _sdpa("head_dim_64_scale", *_qkv((2,), 66, 67, 64), scale=0.3),
    _sdpa("bool_mask_4d_dead_rows", *_qkv((2, 2), 67, 70, 8),
          _bool_mask(2, 2, 67, 70, dead_row=66)),
    _sdpa("key_padding_bool_mask", *_qkv((2, 3), 6, 9, 4), _bool_mask(2, 1, 1, 9)),
    _sdpa("float_mask_rows_broadcast", *_qkv((2, 2), 6, 70, 4), randn(1, 70)),
    _sdpa("float_mask_per_head", *_qkv((2, 3), 5, 7, 4), randn(3, 5, 7)),
    _sdpa("float_mask_with_minus_inf", *_qkv((2,), 4, 5, 3),
          np.where(_bool_mask(4, 5, dead_row=2), randn(4, 5), -np.inf)),
    _sdpa("kv_broadcast_over_batch", randn(3, 2, 5, 4), randn(1, 2, 6, 4), randn(1, 2, 6, 4)),
    _sdpa("empty_batch", *_qkv((0, 2), 3, 4, 4)),
    _sdpa("transposed", transposed(randn(2, 5, 8)), *_qkv((2,), 5, 6, 8)[1:]),
    _sdpa("strided", strided(randn(2, 5, 8)), strided(randn(2, 6, 8)),
          transposed(randn(2, 6, 3))),
], [
    bad("sdpa_dtypes", eg.DTypeError, "different dtypes",
        lambda: F.scaled_dot_product_attention(t((2, 3, 4)), t((2, 5, 4), eg.float64),
                                               t((2, 5, 4))),
        t((2, 3, 4)), t((2, 5, 4), eg.float64), op="scaled_dot_product_attention"),
    bad("sdpa_int", eg.DTypeError, "float32 or float64",
        lambda: F.scaled_dot_product_attention(t((2, 3), eg.int64), t((2, 3), eg.int64),
                                               t((2, 3), eg.int64)),
        t((2, 3), eg.int64), op="scaled_dot_product_attention"),
    bad("sdpa_head_dim", eg.ShapeError, "key's last dim must equal query's (4)",
        lambda: F.scaled_dot_product_attention(t((2, 3, 4)), t((2, 5, 3)), t((2, 5, 4))),
        t((2, 3, 4)), t((2, 5, 3)), op="scaled_dot_product_attention"),
    bad("sdpa_value_length", eg.ShapeError, "value must have key's length 5",
        lambda: F.scaled_dot_product_attention(t((2, 3, 4)), t((2, 5, 4)), t((2, 6, 4))),
        t((2, 5, 4)), t((2, 6, 4)), op="scaled_dot_product_attention"),
    bad("sdpa_batch", eg.ShapeError, "do not broadcast",
        lambda: F.scaled_dot_product_attention(t((2, 3, 4)), t((3, 5, 4)), t((3, 5, 4))),
        t((2, 3, 4)), t((3, 5, 4)), op="scaled_dot_product_attention"),
    bad("sdpa_1d", eg.ShapeError, "at least 2-D",
        lambda: F.scaled_dot_product_attention(t((4,)), t((5, 4)), t((5, 4))),
        t((4,)), op="scaled_dot_product_attention"),
    bad("sdpa_mask_shape", eg.ShapeError, "attn_mask does not broadcast to (2, 3, 5)",
        lambda: F.scaled_dot_product_attention(t((2, 3, 4)), t((2, 5, 4)), t((2, 5, 4)),
                                               t((3, 4))),
        t((3, 4)), op="scaled_dot_product_attention"),
    bad("sdpa_mask_dtype", eg.DTypeError, "attn_mask must be bool or of query's dtype",
        lambda: F.scaled_dot_product_attention(t((2, 3, 4)), t((2, 5, 4)), t((2, 5, 4)),
                                               t((3, 5), eg.int64)),
        t((3, 5), eg.int64), op="scaled_dot_product_attention"),
    bad("sdpa_mask_and_causal", RuntimeError, "should not be set when is_causal=True",
        lambda: F.scaled_dot_product_attention(t((2, 3, 4)), t((2, 5, 4)), t((2, 5, 4)),
                                               t((3, 5), eg.bool), is_causal=True),
        t((2, 3, 4)), op="scaled_dot_product_attention"),
    bad("sdpa_not_tensor", TypeError, "must be a Tensor",
        lambda: F.scaled_dot_product_attention([[1.0]], t((1, 1)), t((1, 1))),
        op="scaled_dot_product_attention"),
], covers=("F.scaled_dot_product_attention",)))
