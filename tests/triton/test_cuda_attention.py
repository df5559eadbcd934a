"""The fused attention kernels (kernels/triton/attention.py) at their edges.

Each case runs attention_forward and attention_backward on the device and compares
out, lse, dq, dk, dv (and dmask) with the numpy reference kernel. Tiles are forced to
16 x 16 (small_blocks), so a few dozen rows and keys already span several query and
key blocks with ragged last ones: a missing mask, a wrong causal skip or a bad online
softmax rescale shows as a wrong value. Plus the layers that call the op
(nn.MultiheadAttention, nn.TransformerEncoderLayer) on cuda against torch.
"""
import numpy as np
import pytest
import torch

import engine as eg
import engine.nn as nn
import kernels.reference.attention as reference
from kernels.triton import _launch, attention as kernel
from kernels.triton.creation import to_host
from test_cuda_ops import to_cuda

pytestmark = [pytest.mark.triton, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(_launch, "TILE_ELEMENTS", 64)      # 16 x 16 attention tiles


def rand(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def device(a):
    return to_cuda(a).data


def check(q, k, v, mask=None, is_causal=False, scale=None, mask_grad=False, rtol=1e-5,
          atol=1e-5, grad=None):
    """Device kernels vs the reference, forward and backward (q, k, v may be views)."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    dm = None if mask is None else device(mask)
    out, lse = kernel.attention_forward(device(q), device(k), device(v), dm, is_causal, scale)
    want_out, want_lse = reference.attention_forward(q, k, v, mask, is_causal, scale)
    got_out, got_lse = to_host(out), to_host(lse)
    assert got_out.dtype == want_out.dtype and got_lse.dtype == want_lse.dtype
    np.testing.assert_allclose(got_out, want_out, rtol=rtol, atol=atol, err_msg="out")
    np.testing.assert_allclose(got_lse, want_lse, rtol=rtol, atol=atol, err_msg="lse")
    g = rand(*want_out.shape, dtype=q.dtype, seed=7) if grad is None else grad
    got = kernel.attention_backward(device(g), device(q), device(k), device(v), out, lse, dm,
                                    is_causal, scale, mask_grad)
    want = reference.attention_backward(g, q, k, v, want_out, want_lse, mask, is_causal, scale,
                                        mask_grad)
    for name, e, w in zip(("dq", "dk", "dv", "dmask"), got, want):
        if w is None:
            assert e is None, name
            continue
        e = to_host(e)
        assert e.shape == w.shape and e.dtype == w.dtype, name
        np.testing.assert_allclose(e, w, rtol=rtol, atol=atol, err_msg=name)
    return got_out, got_lse


# ---- shapes and causal ---------------------------------------------------------------------
@pytest.mark.parametrize("L, S, D, Dv, causal", [
    (37, 53, 24, 24, False),          # several query and key blocks, odd D padded to 32
    (37, 53, 24, 8, True),            # causal, L < S: key tiles past the diagonal skipped
    (50, 19, 3, 5, True),             # causal, L > S; tiny odd head dims
    (1, 33, 16, 16, False),           # a single query row
    (1, 33, 16, 16, True),            # ... causal: it sees key 0 only
    (20, 1, 8, 8, False),             # a single key
])
def test_attention_shapes(small_blocks, L, S, D, Dv, causal):
    check(rand(2, L, D), rand(2, S, D, seed=1), rand(2, S, Dv, seed=2), is_causal=causal)


@pytest.mark.parametrize("block_m, block_n", [(16, 32), (32, 16)])
def test_attention_causal_non_square_tiles(monkeypatch, block_m, block_n):
    """The causal skips (forward/dQ: keys up to the block's last row; dK/dV: queries from
    the block holding the tile's first key) for tiles of unequal sides, as autotuned."""
    monkeypatch.setattr(kernel, "_interpret_blocks",
                        lambda L, S: {"BLOCK_M": block_m, "BLOCK_N": block_n})
    check(rand(2, 45, 16), rand(2, 53, 16, seed=1), rand(2, 53, 8, seed=2), is_causal=True)
    check(rand(1, 53, 16), rand(1, 37, 16, seed=1), rand(1, 37, 8, seed=2), is_causal=True)


def test_attention_strided_inputs(small_blocks):
    q = rand(2, 24, 33).transpose(0, 2, 1)                      # (2, 33, 24), d-stride 33
    k = rand(4, 40, 24, seed=1)[::2]                            # every other batch
    v = rand(2, 40, 20, seed=2)[:, :, 2:18]                     # a column slice
    check(q, k, v)


def test_attention_float64(small_blocks):
    check(rand(2, 21, 12, dtype=np.float64), rand(2, 35, 12, dtype=np.float64, seed=1),
          rand(2, 35, 6, dtype=np.float64, seed=2), is_causal=True, scale=0.3, rtol=1e-12,
          atol=1e-12)
    mask = rand(1, 21, 35, dtype=np.float64, seed=3)
    check(rand(2, 21, 12, dtype=np.float64), rand(2, 35, 12, dtype=np.float64, seed=1),
          rand(2, 35, 6, dtype=np.float64, seed=2), mask=mask, mask_grad=True, rtol=1e-12,
          atol=1e-12)


def test_attention_float16_accumulates_in_float32(small_blocks):
    """fp16 in, fp32 inside: closer to the float64 truth than fp16 rounding allows for."""
    q, k, v = rand(2, 30, 16), rand(2, 45, 16, seed=1), rand(2, 45, 16, seed=2)
    out, _ = kernel.attention_forward(*(device(a.astype(np.float16)) for a in (q, k, v)), None,
                                      True, 0.25)
    got = to_host(out)
    assert got.dtype == np.float16
    want, _ = reference.attention_forward(*(a.astype(np.float16).astype(np.float64)
                                            for a in (q, k, v)), None, True, 0.25)
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=0, atol=2e-3)


# ---- masks ---------------------------------------------------------------------------------
def test_attention_bool_mask_broadcast_and_dead_rows(small_blocks):
    rng = np.random.default_rng(3)
    per_row = rng.random((1, 37, 41)) > 0.4          # one (L, S) mask for every n
    per_row[0, :, 0] = True
    per_row[0, 17] = False                           # a fully masked row: zeros, lse = inf
    out, lse = check(rand(3, 37, 16), rand(3, 41, 16, seed=1), rand(3, 41, 16, seed=2),
                     mask=per_row)
    assert not out[:, 17].any() and np.isposinf(lse[:, 17]).all()
    padding = np.ones((3, 1, 41), dtype=bool)        # key padding, broadcast over queries
    padding[1, 0, 30:] = False
    padding[2, 0, :] = False                         # a whole batch entry masked out
    out, lse = check(rand(3, 37, 16), rand(3, 41, 16, seed=1), rand(3, 41, 16, seed=2),
                     mask=padding)
    assert not out[2].any() and np.isposinf(lse[2]).all()


def test_attention_float_mask_broadcast_with_grad(small_blocks):
    mask = rand(2, 1, 41, seed=4)                    # broadcast over queries
    mask[0, 0, 5:] = -np.inf
    check(rand(2, 37, 16), rand(2, 41, 16, seed=1), rand(2, 41, 16, seed=2), mask=mask,
          mask_grad=True)
    column = rand(1, 37, 1, seed=5)                  # broadcast over keys and batch
    check(rand(2, 37, 16), rand(2, 41, 16, seed=1), rand(2, 41, 16, seed=2), mask=column,
          mask_grad=True)


def test_attention_empty_keys_give_zeros():
    q, k, v = rand(2, 5, 8), rand(2, 0, 8), rand(2, 0, 4)
    out, lse = check(q, k, v, mask_grad=True)
    assert not out.any() and np.isposinf(lse).all()


# ---- the layers on cuda --------------------------------------------------------------------
def _module_on_cuda_matches_torch(ours, theirs, *inputs, **kwargs):
    """Copy the weights, run ours on cuda and torch's on the CPU (float32); compare the
    outputs and the gradients of the inputs and parameters."""
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in ours.state_dict().items()})
    ours.cuda()
    e_in = [to_cuda(a).requires_grad_() for a in inputs]
    t_in = [torch.from_numpy(a.copy()).requires_grad_() for a in inputs]
    e_kw = {k: to_cuda(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    t_kw = {k: torch.from_numpy(v.copy()) if isinstance(v, np.ndarray) else v
            for k, v in kwargs.items()}
    e_out, t_out = ours(*e_in, **e_kw), theirs(*t_in, **t_kw)
    e_out, t_out = (e_out[0], t_out[0]) if isinstance(t_out, tuple) else (e_out, t_out)
    assert e_out.device == "cuda"
    np.testing.assert_allclose(e_out.numpy(), t_out.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = rand(*t_out.shape, seed=9)
    (e_out * to_cuda(g)).sum().backward()
    (t_out * torch.from_numpy(g)).sum().backward()
    for e, t in zip(e_in, t_in):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), t_params[name].grad.numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=name)


def test_multihead_attention_on_cuda_matches_torch():
    eg.manual_seed(0)
    padding = np.zeros((2, 6), dtype=bool)
    padding[1, 4:] = True
    _module_on_cuda_matches_torch(nn.MultiheadAttention(8, 2, batch_first=True),
                                  torch.nn.MultiheadAttention(8, 2, batch_first=True),
                                  rand(2, 5, 8), rand(2, 6, 8, seed=1), rand(2, 6, 8, seed=2),
                                  key_padding_mask=padding, need_weights=False)


def test_transformer_encoder_layer_on_cuda_matches_torch():
    """Every kernel of the layer (attention, layer_norm, linear, relu) is Triton's."""
    eg.manual_seed(0)
    causal = np.triu(np.ones((5, 5), dtype=bool), k=1)
    _module_on_cuda_matches_torch(
        nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True),
        torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
                                         batch_first=True),
        rand(2, 5, 8), src_mask=causal)
