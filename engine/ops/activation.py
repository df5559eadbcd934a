"""Fused activations: one kernel forward, one backward (kernels/*/activation.py).

gelu is x Φ(x) (or torch's tanh approximation); composed from public ops it would take
an erfc series of ~20 terms, ~50 kernels and graph nodes each way. The Function saves
the input x (the gradient Φ(x) + x φ(x) needs x, not y) and the form.
"""
from engine.autograd import Function
from engine.ops import _operands as ops

GELU_FORMS = ("none", "tanh")


class Gelu(Function):
    @staticmethod
    def forward(ctx, x, approximate):
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        return ctx.kernels.gelu(x, approximate)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.kernels.gelu_backward(x, grad, ctx.approximate), None


def gelu(x, approximate="none"):
    """x Φ(x), Φ the standard normal CDF; approximate='tanh': 0.5 x (1 + tanh(√(2/π)
    (x + 0.044715 x³))), as torch. x: a floating tensor (float16 too); same shape and
    dtype out. Raises ValueError for another `approximate`."""
    ops.require_tensor("gelu", x)
    if approximate not in GELU_FORMS:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(x, approximate)
