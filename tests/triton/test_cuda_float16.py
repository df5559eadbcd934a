"""float16 through the heavy ops on cuda, forward and backward, against torch in float32.

The Triton kernels load float16 and compute in float32 (tl.dot accumulates in fp32),
so each result is the float32 answer rounded to float16 once, or a few times along a
backward chain. The reference is torch in float32 on the same float16-rounded inputs
and upstream gradient; the bound is a few float16 ulps of the largest value
(FP16_BOUND). On the CPU these ops reject float16 with a hint (tests/test_errors.py).
"""
import numpy as np
import pytest
import torch

import engine as eg
import engine.nn.functional as F
from test_cuda_ops import to_cuda

pytestmark = [pytest.mark.triton, pytest.mark.filterwarnings("ignore::RuntimeWarning")]

# 8 ulps of 1.0 in float16 (2^-10 each), relative to the largest reference value.
FP16_BOUND = 8 * float(np.finfo(np.float16).eps)


def half(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float16)


def assert_fp16_close(got, want, what):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, what
    scale = max(float(np.max(np.abs(want), initial=0.0)), 1.0)
    err = float(np.max(np.abs(got - want), initial=0.0))
    assert err <= FP16_BOUND * scale, f"{what}: max error {err:.3g} > {FP16_BOUND * scale:.3g}"


def check_half(engine_fn, torch_fn, arrays, grad_inputs):
    """engine_fn on float16 cuda tensors vs torch_fn on float32 copies, output and grads."""
    e_in = [to_cuda(a) for a in arrays]
    t_in = [torch.from_numpy(a.astype(np.float32) if a.dtype == np.float16 else a)
            for a in arrays]
    for i in grad_inputs:
        e_in[i].requires_grad_()
        t_in[i].requires_grad_()
    e_out, t_out = engine_fn(*e_in), torch_fn(*t_in)
    assert e_out.dtype == eg.float16 and e_out.device == "cuda"
    assert_fp16_close(e_out.numpy(), t_out.detach().numpy(), "forward")
    g = half(*t_out.shape, seed=1)
    e_out.backward(to_cuda(g))
    t_out.backward(torch.from_numpy(g.astype(np.float32)))
    for i in grad_inputs:
        assert e_in[i].grad.dtype == eg.float16
        assert_fp16_close(e_in[i].grad.numpy(), t_in[i].grad.numpy(), f"gradient of input {i}")


CASES = {
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, padding=1, stride=2),
               lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=1, stride=2),
               [half(2, 3, 9, 9), half(4, 3, 3, 3, seed=2), half(4, seed=3)], [0, 1, 2]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), lambda x: torch.nn.functional.max_pool2d(x, 2),
                   [half(2, 3, 9, 9)], [0]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, 1),
                   lambda x: torch.nn.functional.avg_pool2d(x, 3, 2, 1), [half(2, 3, 9, 9)], [0]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
                            lambda x: torch.nn.functional.adaptive_avg_pool2d(x, (3, 2)),
                            [half(2, 3, 9, 7)], [0]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (33,), w, b),
                   lambda x, w, b: torch.nn.functional.layer_norm(x, (33,), w, b),
                   [half(5, 33), half(33, seed=2), half(33, seed=3)], [0, 1, 2]),
    "batch_norm": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                   lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b,
                                                                  training=True),
                   [half(4, 3, 5, 5), half(3, seed=2), half(3, seed=3)], [0, 1, 2]),
    "attention": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
                  lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v),
                  [half(2, 3, 17, 16), half(2, 3, 19, 16, seed=2), half(2, 3, 19, 24, seed=3)],
                  [0, 1, 2]),
    "attention_causal": (
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v,
                                                                         is_causal=True),
        [half(2, 3, 21, 16), half(2, 3, 21, 16, seed=2), half(2, 3, 21, 16, seed=3)],
        [0, 1, 2]),
    "lstm_cell": (lambda x, h, c, wi, wh, bi, bh: F.lstm_cell(x, (h, c), wi, wh, bi, bh)[0],
                  lambda x, h, c, wi, wh, bi, bh: torch.lstm_cell(x, (h, c), wi, wh, bi, bh)[0],
                  [half(3, 8), half(3, 12, seed=2), half(3, 12, seed=3), half(48, 8, seed=4),
                   half(48, 12, seed=5), half(48, seed=6), half(48, seed=7)],
                  [0, 1, 2, 3, 4, 5, 6]),
    "rnn_tanh_cell": (lambda x, h, wi, wh: F.rnn_tanh_cell(x, h, wi, wh),
                      lambda x, h, wi, wh: torch.rnn_tanh_cell(x, h, wi, wh),
                      [half(3, 8), half(3, 12, seed=2), half(12, 8, seed=4),
                       half(12, 12, seed=5)], [0, 1, 2, 3]),
    "cross_entropy": (lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1),
                      lambda x, t: torch.nn.functional.cross_entropy(x, t, label_smoothing=0.1),
                      [half(6, 11), np.array([0, 3, 10, 2, 2, 7])], [0]),
    "embedding": (lambda i, w: F.embedding(i, w), lambda i, w: torch.nn.functional.embedding(i, w),
                  [np.array([[1, 4, 1], [0, 4, 4]]), half(5, 6)], [1]),
}


@pytest.mark.parametrize("name", CASES)
def test_float16_on_cuda_matches_float32_torch(name):
    engine_fn, torch_fn, arrays, grad_inputs = CASES[name]
    check_half(engine_fn, torch_fn, arrays, grad_inputs)


def test_float16_dropout_keeps_the_float32_mask():
    x = half(37, 29)
    eg.manual_seed(5)
    got = F.dropout(to_cuda(x), 0.3).numpy()
    eg.manual_seed(5)
    want = F.dropout(eg.from_numpy(x.astype(np.float32)), 0.3).numpy()
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, want.astype(np.float16))
