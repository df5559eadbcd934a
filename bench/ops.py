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
