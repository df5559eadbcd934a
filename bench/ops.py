"""The op benchmark cases: one line per case, engine op next to its torch twin.

A case names the op and shape, makes its numpy inputs, and gives two functions with
the same signature: `engine_fn(*tensors)` and `torch_fn(*tensors)`, each returning one
tensor. With `backward=True` the runner times forward plus `.backward(g)` with a
fixed random upstream gradient `g`, for every floating input (integer inputs such
as gather indices never get a gradient).

`work` is the ideal count the throughput column divides by: FLOPs for compute-bound
ops (unit "GFLOP/s"), bytes for memory-bound ones (unit "GB/s"). Bytes are the
minimum traffic — every array read once and written once per pass, saved tensors
re-read in backward — so a kernel that makes extra passes shows a lower GB/s.

To add a case, append one line to CASES, e.g.

    Case("conv2d", (32, 64, 56, 56), inputs(...), lambda x, w: eg.conv2d(x, w),
         lambda x, w: F.conv2d(x, w), flops=..., backward=True),
"""
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

import engine as eg

F32 = 4   # bytes per float32 element


@dataclass
class Case:
    op: str
    shape: object                   # the headline shape: a tuple, or text as printed
    make: Callable                  # rng -> list of numpy arrays (the inputs)
    engine_fn: Callable             # engine tensors -> engine tensor
    torch_fn: Callable              # torch tensors -> torch tensor
    flops: Optional[float] = None   # give exactly one of flops / bytes
    bytes: Optional[float] = None
    backward: bool = False
    max_repeats: Optional[int] = None   # cap for the slow, big cases
    dtype: str = "float32"

    @property
    def direction(self):
        return "fwd+bwd" if self.backward else "fwd"

    @property
    def shape_text(self):
        if isinstance(self.shape, str):
            return self.shape
        return "x".join(str(d) for d in self.shape)

    @property
    def name(self):
        """What --filter matches: op, shape, dtype and direction in one line."""
        return f"{self.op} {self.shape_text} {self.dtype} {self.direction}"

    @property
    def unit(self):
        return "GFLOP/s" if self.flops is not None else "GB/s"

    @property
    def work(self):
        return self.flops if self.flops is not None else self.bytes


def randn(*shape, dtype=np.float32, scale=1.0):
    """An input maker: normal values of `shape` (standard deviation `scale`)."""
    return lambda rng: (scale * rng.standard_normal(shape)).astype(dtype)


def inputs(*makers):
    """Combine input makers into a case's `make`."""
    return lambda rng: [m(rng) for m in makers]


def row_indices(n_rows, n_picks):
    """An input maker: int64 row indices in [0, n_rows), repeats allowed (as in embeddings)."""
    return lambda rng: rng.integers(0, n_rows, n_picks).astype(np.int64)


# ---- sizes ---------------------------------------------------------------------------
M, N = 4096, 1024          # the "activation" shape most cases use
MN = M * N


def matmul_case(n, backward=False, dtype="float32", max_repeats=None):
    np_dtype = np.dtype(dtype).type
    flops = 2 * n ** 3 * (3 if backward else 1)     # backward: two more matmuls
    return Case("matmul", f"{n}x{n} @ {n}x{n}",
                inputs(randn(n, n, dtype=np_dtype), randn(n, n, dtype=np_dtype)),
                lambda a, b: a @ b, lambda a, b: a @ b, flops=flops, backward=backward,
                max_repeats=max_repeats, dtype=dtype)


# A small MLP: 784 -> 512 -> 512 -> 10 on a batch of 256, bias + relu between layers.
MLP = (256, 784, 512, 512, 10)


def _mlp(x, w1, b1, w2, b2, w3, b3, relu):
    h = relu(x @ w1 + b1)
    h = relu(h @ w2 + b2)
    return h @ w3 + b3


def mlp_case():
    batch, *widths = MLP
    makers = [randn(batch, widths[0])]
    for fan_in, fan_out in zip(widths, widths[1:]):
        # Weights scaled as in nn.Linear's init, so activations and errors stay O(1).
        makers += [randn(fan_in, fan_out, scale=fan_in ** -0.5), randn(fan_out, scale=0.1)]
    flops = 3 * sum(2 * batch * i * o for i, o in zip(widths, widths[1:]))
    return Case("mlp 3x(linear)+relu", "-".join(map(str, MLP)), inputs(*makers),
                lambda *a: _mlp(*a, relu=eg.relu), lambda *a: _mlp(*a, relu=torch.relu),
                flops=flops, backward=True)


CASES = [
    # elementwise: bytes = inputs read + output written; backward re-reads saved tensors
    Case("add (broadcast row)", (M, N), inputs(randn(M, N), randn(N)),
         lambda a, b: a + b, lambda a, b: a + b, bytes=(2 * MN + N) * F32),
    Case("add (broadcast row)", (M, N), inputs(randn(M, N), randn(N)),
         lambda a, b: a + b, lambda a, b: a + b, bytes=(2 * MN + N + 2 * MN + N) * F32,
         backward=True),
    Case("mul", (M, N), inputs(randn(M, N), randn(M, N)),
         lambda a, b: a * b, lambda a, b: a * b, bytes=3 * MN * F32),
    Case("tanh", (M, N), inputs(randn(M, N)), eg.tanh, torch.tanh, bytes=2 * MN * F32),
    Case("tanh", (M, N), inputs(randn(M, N)), eg.tanh, torch.tanh, bytes=5 * MN * F32,
         backward=True),
    Case("sigmoid", (M, N), inputs(randn(M, N)), eg.sigmoid, torch.sigmoid, bytes=2 * MN * F32),
    Case("relu", (M, N), inputs(randn(M, N)), eg.relu, torch.relu, bytes=2 * MN * F32),
    Case("exp", (M, N), inputs(randn(M, N)), eg.exp, torch.exp, bytes=2 * MN * F32),
    # reductions over the last dim: read MN, write M (backward: read M, write MN)
    Case("sum(dim=1)", (M, N), inputs(randn(M, N)),
         lambda x: x.sum(1), lambda x: x.sum(1), bytes=(MN + M) * F32),
    Case("sum (all)", (M, N), inputs(randn(M, N)),
         lambda x: x.sum(), lambda x: x.sum(), bytes=MN * F32),
    Case("mean(dim=1)", (M, N), inputs(randn(M, N)),
         lambda x: x.mean(1), lambda x: x.mean(1), bytes=(MN + M) * F32),
    Case("max(dim=1)", (M, N), inputs(randn(M, N)),
         lambda x: x.max(1)[0], lambda x: x.max(1)[0], bytes=(MN + M) * F32),
    Case("logsumexp(dim=1)", (M, N), inputs(randn(M, N)),
         lambda x: x.logsumexp(1), lambda x: x.logsumexp(1), bytes=(MN + M) * F32),
    Case("logsumexp(dim=1)", (M, N), inputs(randn(M, N)),
         lambda x: x.logsumexp(1), lambda x: x.logsumexp(1),
         bytes=(MN + M + 2 * MN + 2 * M) * F32, backward=True),
    # softmax: forward reads x, writes y; backward reads y and g, writes dx
    Case("softmax(dim=1)", (M, N), inputs(randn(M, N)),
         lambda x: x.softmax(1), lambda x: x.softmax(1), bytes=2 * MN * F32),
    Case("softmax(dim=1)", (M, N), inputs(randn(M, N)),
         lambda x: x.softmax(1), lambda x: x.softmax(1), bytes=5 * MN * F32, backward=True),
    Case("log_softmax(dim=1)", (M, N), inputs(randn(M, N)),
         lambda x: x.log_softmax(1), lambda x: x.log_softmax(1), bytes=5 * MN * F32,
         backward=True),
    # matmul: 2n^3 FLOPs forward; the 2048 one is ~17 GFLOP per call, so few repeats
    matmul_case(256),
    matmul_case(256, dtype="float64"),
    matmul_case(1024, max_repeats=9),
    matmul_case(1024, backward=True, max_repeats=7),
    matmul_case(2048, max_repeats=5),
    mlp_case(),
    # movement: a copy reads and writes every element once
    Case("cat(dim=0) of 2", f"2 x {M // 2}x{N}", inputs(randn(M // 2, N), randn(M // 2, N)),
         lambda a, b: eg.cat([a, b], 0), lambda a, b: torch.cat([a, b], 0), bytes=2 * MN * F32),
    Case("cat(dim=1) of 2", f"2 x {M}x{N // 2}", inputs(randn(M, N // 2), randn(M, N // 2)),
         lambda a, b: eg.cat([a, b], 1), lambda a, b: torch.cat([a, b], 1), bytes=2 * MN * F32),
    Case("permute(1,0).contiguous", (M, N), inputs(randn(M, N)),
         lambda x: x.permute(1, 0).contiguous(), lambda x: x.permute(1, 0).contiguous(),
         bytes=2 * MN * F32),
    Case("permute(0,2,1).contiguous", (64, 256, 256), inputs(randn(64, 256, 256)),
         lambda x: x.permute(0, 2, 1).contiguous(), lambda x: x.permute(0, 2, 1).contiguous(),
         bytes=2 * 64 * 256 * 256 * F32),
    # gather rows x[idx] (an embedding lookup); backward scatter-adds rows into zeros
    Case("getitem x[idx] rows", (M, N), inputs(randn(M, N), row_indices(M, M)),
         lambda x, i: x[i], lambda x, i: x[i], bytes=(2 * MN * F32 + M * 8)),
    Case("getitem x[idx] rows", (M, N), inputs(randn(M, N), row_indices(M, M)),
         lambda x, i: x[i], lambda x, i: x[i], bytes=(5 * MN * F32 + 2 * M * 8), backward=True),
]

# ---- fused losses, normalization, dropout, embedding (engine/ops/{loss,norm,dropout,embedding})
# Bytes: every array read and written once per pass (statistics and per-row values are
# negligible). Dropout's "error vs torch" is not a bug: the two draw different masks.
import engine.nn.functional as _EF          # noqa: E402
import torch.nn.functional as _TF           # noqa: E402

_CE_N, _CE_C = 4096, 1000                   # a 1000-class classifier head, batch 4096
_BN = (32, 64, 56, 56)                      # a ResNet stage-1 activation
_BN_SIZE = 32 * 64 * 56 * 56
_V, _D = 10000, 512                         # an embedding table, 4096 lookups
CASES += [
    Case("log_softmax(dim=1)", (M, N), inputs(randn(M, N)),
         lambda x: x.log_softmax(1), lambda x: x.log_softmax(1), bytes=2 * MN * F32),
    Case("layer_norm", (M, N), inputs(randn(M, N), randn(N), randn(N)),
         lambda x, w, b: _EF.layer_norm(x, (N,), w, b),
         lambda x, w, b: _TF.layer_norm(x, (N,), w, b),
         bytes=2 * MN * F32),
    Case("layer_norm", (M, N), inputs(randn(M, N), randn(N), randn(N)),
         lambda x, w, b: _EF.layer_norm(x, (N,), w, b),
         lambda x, w, b: _TF.layer_norm(x, (N,), w, b),
         bytes=5 * MN * F32, backward=True),
    Case("cross_entropy", (_CE_N, _CE_C), inputs(randn(_CE_N, _CE_C), row_indices(_CE_C, _CE_N)),
         lambda x, t: _EF.cross_entropy(x, t), lambda x, t: _TF.cross_entropy(x, t),
         bytes=_CE_N * _CE_C * F32),
    Case("cross_entropy", (_CE_N, _CE_C), inputs(randn(_CE_N, _CE_C), row_indices(_CE_C, _CE_N)),
         lambda x, t: _EF.cross_entropy(x, t), lambda x, t: _TF.cross_entropy(x, t),
         bytes=3 * _CE_N * _CE_C * F32, backward=True),
    Case("cross_entropy (smoothing 0.1)", (_CE_N, _CE_C),
         inputs(randn(_CE_N, _CE_C), row_indices(_CE_C, _CE_N)),
         lambda x, t: _EF.cross_entropy(x, t, label_smoothing=0.1),
         lambda x, t: _TF.cross_entropy(x, t, label_smoothing=0.1),
         bytes=3 * _CE_N * _CE_C * F32, backward=True),
    Case("batch_norm (training)", _BN, inputs(randn(*_BN), randn(_BN[1]), randn(_BN[1])),
         lambda x, w, b: _EF.batch_norm(x, None, None, w, b, training=True),
         lambda x, w, b: _TF.batch_norm(x, None, None, w, b, training=True),
         bytes=2 * _BN_SIZE * F32, max_repeats=9),
    Case("batch_norm (training)", _BN, inputs(randn(*_BN), randn(_BN[1]), randn(_BN[1])),
         lambda x, w, b: _EF.batch_norm(x, None, None, w, b, training=True),
         lambda x, w, b: _TF.batch_norm(x, None, None, w, b, training=True),
         bytes=5 * _BN_SIZE * F32, backward=True, max_repeats=9),
    Case("dropout(p=0.5)", (M, N), inputs(randn(M, N)),
         lambda x: _EF.dropout(x, 0.5), lambda x: _TF.dropout(x, 0.5), bytes=2 * MN * F32),
    Case("dropout(p=0.5)", (M, N), inputs(randn(M, N)),
         lambda x: _EF.dropout(x, 0.5), lambda x: _TF.dropout(x, 0.5), bytes=4 * MN * F32,
         backward=True),
    Case("embedding", f"{M} of {_V}x{_D}", inputs(row_indices(_V, M), randn(_V, _D)),
         lambda i, w: _EF.embedding(i, w), lambda i, w: _TF.embedding(i, w),
         bytes=(3 * M * _D + _V * _D) * F32 + 2 * M * 8, backward=True),
    # gelu: forward reads x, writes y; backward reads the saved x and g, writes dx
    Case("gelu", (M, N), inputs(randn(M, N)), _EF.gelu, _TF.gelu, bytes=2 * MN * F32),
    Case("gelu", (M, N), inputs(randn(M, N)), _EF.gelu, _TF.gelu, bytes=5 * MN * F32,
         backward=True),
]


# ---- recurrent cells and attention (engine/ops/rnn.py, engine/ops/attention.py) -------------
# An LSTM over T steps as a Python loop of F.lstm_cell (how nn.LSTM is built on this engine)
# next to torch's nn.LSTM (torch.lstm, what nn.LSTM calls: one fused op) and a loop of
# torch.lstm_cell (what nn.LSTMCell calls). Both loops split x with an unbind (torch's
# x.unbind(0), the engine's too): x[t] per step would cost O(T²) in either.
# All return every step's h.
LSTM_SIZES = (100, 64, 128, 256)            # T, B, input size, hidden size


def _lstm_loop(lib, cell, steps, w_ih, w_hh, b_ih, b_hh):
    B, H = steps[0].shape[0], w_hh.shape[1]
    h = lib.zeros(B, H, dtype=steps[0].dtype)
    c = lib.zeros(B, H, dtype=steps[0].dtype)     # no grad: as nn.LSTM's zero state
    outs = []
    for x in steps:
        h, c = cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)
        outs.append(h)
    return lib.stack(outs)


def _engine_lstm(x, w_ih, w_hh, b_ih, b_hh):
    import engine.nn.functional as F
    return _lstm_loop(eg, F.lstm_cell, x.unbind(0), w_ih, w_hh, b_ih, b_hh)


def _torch_lstm(x, w_ih, w_hh, b_ih, b_hh):
    zeros = torch.zeros(1, x.shape[1], w_hh.shape[1], dtype=x.dtype)
    return torch.lstm(x, (zeros, zeros), [w_ih, w_hh, b_ih, b_hh], True, 1, 0.0, True, False,
                      False)[0]


def _torch_lstm_cells(x, w_ih, w_hh, b_ih, b_hh):
    return _lstm_loop(torch, torch.lstm_cell, x.unbind(0), w_ih, w_hh, b_ih, b_hh)


def lstm_cases():
    T, B, I, H = LSTM_SIZES
    s = H ** -0.5                               # nn.LSTM's init range, as a normal's scale
    make = inputs(randn(T, B, I), randn(4 * H, I, scale=s), randn(4 * H, H, scale=s),
                  randn(4 * H, scale=s), randn(4 * H, scale=s))
    flops = 3 * 2 * T * B * 4 * H * (I + H)    # gate GEMMs; backward: dx, dh, dW
    shape = f"T{T} B{B} I{I} H{H}"
    return [
        Case("lstm: cell loop vs nn.LSTM", shape, make, _engine_lstm, _torch_lstm,
             flops=flops, backward=True, max_repeats=5),
        Case("lstm: cell loop vs LSTMCell loop", shape, make, _engine_lstm, _torch_lstm_cells,
             flops=flops, backward=True, max_repeats=5),
    ]


def attention_case(batch, heads, length, dim, causal):
    import engine.nn.functional as F
    import torch.nn.functional as TF
    shape = (batch, heads, length, dim)
    # 4·N·L·S·D forward (Q Kᵀ, P V), 8·N·L·S·D backward (dV, dP, dQ, dK), halved when causal
    flops = 12 * batch * heads * length * length * dim // (2 if causal else 1)
    return Case(f"scaled_dot_product_attention{' causal' if causal else ''}", shape,
                inputs(randn(*shape), randn(*shape), randn(*shape)),
                lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=causal),
                flops=flops, backward=True, max_repeats=5)


CASES += lstm_cases() + [attention_case(8, 8, 512, 64, False),
                         attention_case(8, 8, 512, 64, True)]


# ---- convolution and pooling (engine/ops/conv.py, engine/ops/pool.py) ------------------------
# Two layers: LeNet-5's first (N64, 1x32x32 -> 6x28x28, 5x5, with bias) and a ResNet-34 3x3
# conv (N32, 64x56x56, padding 1, no bias: batch norm follows). FLOPs 2·N·C_out·H_out·W_out·
# C_in·kH·kW per convolution; fwd+bwd adds d/dx and d/dw (3 convolutions). The pools run
# on those convs' outputs, 2x2 stride 2; bytes: read x, write out (max: and an int32 argmax),
# backward reads the gradient (and the argmax) and writes dx.
def conv2d_case(x_shape, w_shape, padding, bias, backward, max_repeats=None):
    import engine.nn.functional as EF
    import torch.nn.functional as TF
    n, c, h, w = x_shape
    co, _, kh, kw = w_shape
    ho, wo = h + 2 * padding - kh + 1, w + 2 * padding - kw + 1
    flops = 2 * n * co * ho * wo * c * kh * kw * (3 if backward else 1)
    scale = (c * kh * kw) ** -0.5                     # kaiming-like, activations O(1)
    makers = [randn(*x_shape), randn(*w_shape, scale=scale)] + ([randn(co)] if bias else [])
    shape = f"{n}x{c}x{h}x{w} * {co}x{c}x{kh}x{kw} pad {padding}"
    return Case("conv2d", shape, inputs(*makers),
                lambda *a: EF.conv2d(*a, padding=padding),
                lambda *a: TF.conv2d(*a, padding=padding),
                flops=flops, backward=backward, max_repeats=max_repeats)


def pool_case(name, x_shape, backward):
    import engine.nn.functional as EF
    import torch.nn.functional as TF
    size = int(np.prod(x_shape))
    out = size // 4
    index = 4 if name == "max_pool2d" else 0           # int32 argmax per output
    traffic = (size + out) * F32 + out * index
    if backward:
        traffic += (out + size) * F32 + out * index
    return Case(f"{name} 2x2", x_shape, inputs(randn(*x_shape)),
                lambda x: getattr(EF, name)(x, 2), lambda x: getattr(TF, name)(x, 2),
                bytes=traffic, backward=backward, max_repeats=9)


LENET_CONV = ((64, 1, 32, 32), (6, 1, 5, 5), 0)        # x, w, padding
RESNET_CONV = ((32, 64, 56, 56), (64, 64, 3, 3), 1)
CASES += [
    conv2d_case(*LENET_CONV, bias=True, backward=False),
    conv2d_case(*LENET_CONV, bias=True, backward=True),
    conv2d_case(*RESNET_CONV, bias=False, backward=False, max_repeats=3),
    conv2d_case(*RESNET_CONV, bias=False, backward=True, max_repeats=3),
    pool_case("max_pool2d", (64, 6, 28, 28), backward=True),
    pool_case("max_pool2d", (32, 64, 56, 56), backward=True),
    pool_case("avg_pool2d", (64, 6, 28, 28), backward=True),
    pool_case("avg_pool2d", (32, 64, 56, 56), backward=True),
]
