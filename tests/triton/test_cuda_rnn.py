"""The recurrent-cell kernels (kernels/triton/rnn.py) at their edges, and the recurrent
layers on device='cuda'.

Kernel tests call the Triton wrappers on device buffers and compare with the numpy
reference (kernels/reference/rnn.py) run in float64: odd hidden sizes, a batch of 1 and
of 0, no bias or one bias, h and c as non-contiguous views, every `needs` pattern, and
blocks forced small so that a few dozen rows and units already span several programs
(forward) and several row steps (the backward's column sums) with ragged edges: a
missing mask shows as a wrong value (the interpreter does not catch out-of-bounds
loads). The layer tests run engine nn.LSTM / nn.RNN forward and backward on cuda
against torch.
"""
import numpy as np
import pytest
import torch

import engine as eg
import kernels.reference.rnn as reference
import kernels.triton.rnn as rnn
from engine import nn
from helpers import TOLERANCES
from kernels.triton import to_host
from kernels.triton.buffer import INTERPRET
from test_cuda_ops import GPU_FP32_FORWARD, to_cuda

pytestmark = [pytest.mark.triton, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(rnn, "INTERPRET_BLOCK_B", 16)       # tl.dot's minimum
    monkeypatch.setattr(rnn, "INTERPRET_BLOCK_H", 16)
    monkeypatch.setattr(rnn, "INTERPRET_BLOCK_K", 16)
    monkeypatch.setattr(rnn, "INTERPRET_POINTWISE_B", 4)


def rand(*shape, dtype=np.float32, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def device(a):
    """None stays None; a numpy array goes to the device with its layout (strides) kept."""
    return None if a is None else to_cuda(a).data


def f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def forward_tol(dtype):
    if dtype == np.float32 and not INTERPRET:
        return GPU_FP32_FORWARD
    return TOLERANCES[np.dtype(dtype)]["forward"]


def grad_tol(dtype):
    return TOLERANCES[np.dtype(dtype)]["grad"]


def check(got, want, tol, what):
    assert got.shape == want.shape, what
    np.testing.assert_allclose(to_host(got), want, rtol=tol[0], atol=tol[1], err_msg=what)


def lstm_inputs(B, I, H, dtype=np.float32, bias=(True, True), scale=0.5):
    x, h, c = rand(B, I, dtype=dtype), rand(B, H, dtype=dtype, seed=1), \
        rand(B, H, dtype=dtype, seed=2)
    w_ih = rand(4 * H, I, dtype=dtype, seed=3, scale=scale)
    w_hh = rand(4 * H, H, dtype=dtype, seed=4, scale=scale)
    b_ih = rand(4 * H, dtype=dtype, seed=5, scale=scale) if bias[0] else None
    b_hh = rand(4 * H, dtype=dtype, seed=6, scale=scale) if bias[1] else None
    return x, h, c, w_ih, w_hh, b_ih, b_hh


def run_lstm(B, I, H, dtype=np.float32, bias=(True, True), needs=(True,) * 6, views=False):
    x, h, c, w_ih, w_hh, b_ih, b_hh = lstm_inputs(B, I, H, dtype, bias)
    grad = rand(B, 2 * H, dtype=dtype, seed=7)
    if views:            # h a column slice of a wider array, c a transposed array
        h = np.concatenate([rand(B, 3, dtype=dtype, seed=8), h], axis=1)[:, 3:]
        c = np.asfortranarray(c)
        grad = np.asfortranarray(grad)
        w_hh = np.asfortranarray(w_hh)
    hc, acts = rnn.lstm_cell_forward(*[device(a) for a in (x, h, c, w_ih, w_hh, b_ih, b_hh)])
    want_hc, want_acts = reference.lstm_cell_forward(
        *[f64(a) for a in (x, h, c, w_ih, w_hh, b_ih, b_hh)])
    check(hc, want_hc, forward_tol(dtype), "hc")
    check(acts, want_acts, forward_tol(dtype), "acts")
    got = rnn.lstm_cell_backward(device(grad), device(c), acts, device(x), device(h),
                                 device(w_ih), device(w_hh), needs)
    want = reference.lstm_cell_backward(f64(grad), f64(c), want_acts, f64(x), f64(h),
                                        f64(w_ih), f64(w_hh), needs)
    for name, g, w, need in zip(("dx", "dh", "dc", "dw_ih", "dw_hh", "db"), got, want, needs):
        assert (g is None) == (not need), name
        if need:
            check(g, w, grad_tol(dtype), name)


def run_rnn(B, I, H, nonlinearity, dtype=np.float32, bias=(True, True), needs=(True,) * 5,
            views=False):
    x, h, _, w_ih, w_hh, b_ih, b_hh = lstm_inputs(B, I, H, dtype, bias)
    w_ih, w_hh = w_ih[:H], w_hh[:H]
    b_ih, b_hh = [None if b is None else b[:H] for b in (b_ih, b_hh)]
    grad = rand(B, H, dtype=dtype, seed=7)
    if views:
        h = np.asfortranarray(h)
        x = np.concatenate([x, x], axis=1)[:, ::2]
        grad = np.asfortranarray(grad)
    out = rnn.rnn_cell_forward(*[device(a) for a in (x, h, w_ih, w_hh, b_ih, b_hh)],
                               nonlinearity)
    want_out = reference.rnn_cell_forward(*[f64(a) for a in (x, h, w_ih, w_hh, b_ih, b_hh)],
                                          nonlinearity)
    check(out, want_out, forward_tol(dtype), "h'")
    got = rnn.rnn_cell_backward(device(grad), out, device(x), device(h), device(w_ih),
                                device(w_hh), nonlinearity, needs)
    want = reference.rnn_cell_backward(f64(grad), want_out, f64(x), f64(h), f64(w_ih),
                                       f64(w_hh), nonlinearity, needs)
    for name, g, w, need in zip(("dx", "dh", "dw_ih", "dw_hh", "db"), got, want, needs):
        assert (g is None) == (not need), name
        if need:
            check(g, w, grad_tol(dtype), name)


# ---- the LSTM cell kernels -------------------------------------------------------------------
@pytest.mark.parametrize("B, I, H", [(1, 1, 1), (3, 7, 13), (1, 20, 13), (5, 2, 33)])
def test_lstm_cell_odd_sizes(B, I, H):
    run_lstm(B, I, H)


def test_lstm_cell_multi_program_grid(small_blocks):
    # 3 row blocks x 3 unit blocks, K split in 2 and 3 steps, 10 backward row steps.
    run_lstm(37, 19, 33)


def test_lstm_cell_no_bias_and_one_bias(small_blocks):
    run_lstm(17, 5, 13, bias=(False, False))
    run_lstm(6, 5, 13, bias=(True, False))
    run_lstm(6, 5, 13, bias=(False, True))


def test_lstm_cell_strided_views(small_blocks):
    run_lstm(18, 6, 17, views=True)


@pytest.mark.parametrize("needs", [(False, True, False, True, False, False),
                                   (True, False, True, False, True, True),
                                   (False,) * 6])
def test_lstm_cell_needs(needs):
    run_lstm(4, 6, 13, needs=needs)


def test_lstm_cell_empty_batch():
    run_lstm(0, 3, 5)


def test_lstm_cell_float64(small_blocks):
    run_lstm(19, 9, 17, dtype=np.float64)


def test_lstm_cell_saturating_gates():
    x, h, c, w_ih, w_hh, b_ih, b_hh = lstm_inputs(3, 4, 5, scale=40.0)   # |z| up to ~200
    hc, acts = rnn.lstm_cell_forward(*[device(a) for a in (x, h, c, w_ih, w_hh, b_ih, b_hh)])
    want_hc, want_acts = reference.lstm_cell_forward(
        *[f64(a) for a in (x, h, c, w_ih, w_hh, b_ih, b_hh)])
    assert np.isfinite(to_host(acts)).all()
    check(hc, want_hc, forward_tol(np.float32), "hc")
    check(acts, want_acts, forward_tol(np.float32), "acts")


def test_lstm_cell_float16_error_like_a_float16_reference():
    """fp16 in, fp32 accumulation: the error (vs float64) is no worse than that of the
    same cell computed by numpy from the same fp16 inputs with fp32 arithmetic, rounded
    to fp16 once at the end, plus half an fp16 ulp of the result."""
    B, I, H = 9, 40, 33
    ins = lstm_inputs(B, I, H, np.float16, scale=0.2)
    hc, acts = rnn.lstm_cell_forward(*[device(a) for a in ins])
    exact_hc, exact_acts = reference.lstm_cell_forward(*[f64(a) for a in ins])
    f32_hc, f32_acts = reference.lstm_cell_forward(*[np.asarray(a, np.float32) for a in ins])
    for got, exact, naive in ((hc, exact_hc, f32_hc), (acts, exact_acts, f32_acts)):
        assert got.dtype == np.float16
        err = np.abs(to_host(got).astype(np.float64) - exact)
        naive_err = np.abs(naive.astype(np.float16).astype(np.float64) - exact)
        assert err.max() <= naive_err.max() + 2.0 ** -12


# ---- the RNN cell kernels --------------------------------------------------------------------
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_odd_sizes_and_grid(small_blocks, nonlinearity):
    run_rnn(1, 3, 13, nonlinearity)
    run_rnn(37, 19, 33, nonlinearity)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_no_bias_views_and_needs(nonlinearity):
    run_rnn(5, 6, 13, nonlinearity, bias=(False, False), views=True)
    run_rnn(5, 6, 13, nonlinearity, bias=(False, True), needs=(False, True, True, False, True))


def test_rnn_cell_float64_and_empty_batch(small_blocks):
    run_rnn(19, 9, 17, "tanh", dtype=np.float64)
    run_rnn(0, 3, 5, "relu")


def test_rnn_relu_cell_keeps_nan():
    x = np.array([[np.nan, 1.0]], np.float32)
    out = rnn.rnn_cell_forward(device(x), device(np.zeros((1, 1), np.float32)),
                               device(np.ones((1, 2), np.float32)),
                               device(np.ones((1, 1), np.float32)), None, None, "relu")
    assert np.isnan(to_host(out)).all()


# ---- the layers on cuda ----------------------------------------------------------------------
def check_layer(module, torch_module, x, state):
    """module (float32, on cuda) and torch_module with the same weights: outputs, and the
    gradients of input, initial state and every parameter for a random upstream gradient."""
    torch_module.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                                  for k, v in module.state_dict().items()})
    module.cuda()
    e_x = to_cuda(x).requires_grad_()
    t_x = torch.from_numpy(x.copy()).requires_grad_()
    e_state = tuple(to_cuda(s).requires_grad_() for s in state)
    t_state = tuple(torch.from_numpy(s.copy()).requires_grad_() for s in state)
    lstm = len(state) == 2
    e_out, e_final = module(e_x, e_state if lstm else e_state[0])
    t_out, t_final = torch_module(t_x, t_state if lstm else t_state[0])
    e_outs = [e_out, *(e_final if lstm else [e_final])]
    t_outs = [t_out, *(t_final if lstm else [t_final])]
    rng = np.random.default_rng(0)
    e_loss, t_loss = 0.0, 0.0
    for e, t in zip(e_outs, t_outs):
        assert e.device == "cuda"
        np.testing.assert_allclose(e.numpy(), t.detach().numpy(), *forward_tol(np.float32))
        g = (rng.standard_normal(tuple(t.shape)) + 0.5).astype(np.float32)
        e_loss = e_loss + (e * eg.from_numpy(g).cuda()).sum()
        t_loss = t_loss + (t * torch.from_numpy(g)).sum()
    e_loss.backward()
    t_loss.backward()
    rtol, atol = grad_tol(np.float32)
    for i, (e, t) in enumerate(zip((e_x, *e_state), (t_x, *t_state))):
        assert e.grad.device == "cuda"
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol, atol,
                                   err_msg=f"gradient of input {i}")
    t_params = dict(torch_module.named_parameters())
    for name, p in module.named_parameters():
        assert p.grad.device == "cuda", name
        np.testing.assert_allclose(p.grad.numpy(), t_params[name].grad.numpy(), rtol, atol,
                                   err_msg=f"gradient of {name}")


def test_lstm_layer_on_cuda():
    kwargs = dict(num_layers=2, bidirectional=True, batch_first=True)
    x = rand(2, 3, 5)                                   # batch 2, length 3, input 5
    state = (rand(4, 2, 13, seed=1), rand(4, 2, 13, seed=2))
    check_layer(nn.LSTM(5, 13, **kwargs), torch.nn.LSTM(5, 13, **kwargs), x, state)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_layer_on_cuda(nonlinearity):
    kwargs = dict(num_layers=2, nonlinearity=nonlinearity, bias=nonlinearity == "tanh")
    x = rand(3, 2, 5)                                   # length 3, batch 2, input 5
    state = (rand(2, 2, 13, seed=1),)
    check_layer(nn.RNN(5, 13, **kwargs), torch.nn.RNN(5, 13, **kwargs), x, state)
