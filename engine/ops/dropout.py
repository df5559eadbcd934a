"""dropout: inverted dropout with the engine's seeded generator.

Each call draws a 63-bit seed from the generator (engine.manual_seed makes runs
repeatable); the kernel derives every element's keep/drop decision from (seed, index)
alone (kernels/*/dropout.py). Backward runs the same kernel with the same seed on the
upstream gradient — dx = g · mask / (1 - p) — so the mask is regenerated instead of
kept alive between forward and backward (a byte per element saved; regenerating is a
few integer operations per element, hidden behind the memory traffic).
"""
import numbers

import numpy as np

from engine import creation
from engine.autograd import Function
from engine.ops import _operands as ops


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, p, seed):
        ctx.options = (p, seed)
        return ctx.kernels.dropout(x, p, seed)

    @staticmethod
    def backward(ctx, grad):
        p, seed = ctx.options
        return ctx.kernels.dropout(grad, p, seed), None, None


def dropout(input, p=0.5, training=True, inplace=False, generator=None):
    """Zero each element with probability p, scale the survivors by 1 / (1 - p).

    Identity (the input itself) when not training or p == 0, as torch; p == 1 gives
    input · 0. `generator`: an engine.Generator (default: the global one).
    """
    ops.require_tensor("dropout", input)
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: dropout probability has to be between 0 and 1, but got "
                         f"{p}. Hint: p is the fraction of elements zeroed")
    if inplace:
        raise NotImplementedError("dropout: inplace=True is not supported. Hint: use "
                                  "x = F.dropout(x, p) instead")
    ops.require_kernel_float("dropout", input, (input,))
    if not training or p == 0 or input.numel() == 0:
        return input
    rng = (generator or creation.default_generator).rng
    seed = int(rng.integers(0, np.iinfo(np.int64).max, dtype=np.int64))
    return Dropout.apply(input, float(p), seed)
