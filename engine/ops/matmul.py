"""Batched matrix multiply with torch's broadcasting rules.

The op turns every case into (B, M, K) @ (B, K, N) for the kernel: vectors become
matrices (and the added dim is squeezed away after), batch dims broadcast and
flatten into B. Backward: dA = dC Bᵀ, dB = Aᵀ dC, summed back over broadcast batch
dims by the autograd walk.
"""
import math

from engine.autograd import Function
from engine.errors import DTypeError, ShapeError, op_error
from engine.ops import _operands as ops
from engine.ops import movement as mv
from engine._runtime import core as _core


def _as_batched(k, x, batch):
    """x (..., R, C) broadcast to batch + (R, C), as a (B, R, C) array."""
    rows, cols = x.shape[-2:]
    # B spelled out: -1 cannot be inferred when rows or cols is 0.
    return k.reshape(k.expand(x, batch + (rows, cols)), (math.prod(batch), rows, cols))


def _batched_matmul(k, a, b, batch):
    out = k.matmul(_as_batched(k, a, batch), _as_batched(k, b, batch))
    return k.reshape(out, batch + out.shape[1:])


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.batch = _core.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        return _batched_matmul(ctx.kernels, a, b, ctx.batch)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        k = ctx.kernels
        swap = lambda x: k.permute(x, tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))
        # parents[i] is None when input i needs no gradient (a network's input, frozen
        # weights): skip that product, the most expensive kernel of the step.
        grad_a = None if ctx.parents[0] is None else _batched_matmul(k, grad, swap(b), ctx.batch)
        grad_b = None if ctx.parents[1] is None else _batched_matmul(k, swap(a), grad, ctx.batch)
        return grad_a, grad_b


def matmul(a, b):
    ops.require_tensor("matmul", a)
    ops.require_tensor("matmul", b, "other")
    if a.ndim == 0 or b.ndim == 0:
        raise op_error(ShapeError, "matmul", (a, b), "both arguments need at least 1 dimension",
                       "use * for scaling by a 0-d tensor")
    if a.data.dtype != b.data.dtype:
        raise op_error(DTypeError, "matmul", (a, b), "operands have different dtypes",
                       "convert one with .float() or .double() first")
    a2 = mv.unsqueeze(a, 0) if a.ndim == 1 else a
    b2 = mv.unsqueeze(b, -1) if b.ndim == 1 else b
    if a2.data.shape[-1] != b2.data.shape[-2]:
        raise op_error(ShapeError, "matmul", (a, b), f"inner dimensions differ "
                       f"({a2.data.shape[-1]} vs {b2.data.shape[-2]})", "the last dim of the "
                       "first operand must equal the second-to-last of the other")
    if _core.broadcast_shapes(a2.data.shape[:-2], b2.data.shape[:-2]) is None:
        raise op_error(ShapeError, "matmul", (a, b), "batch dimensions do not broadcast",
                       "leading dims must be equal or 1")
    out = MatMul.apply(a2, b2)
    if a.ndim == 1:
        out = mv.squeeze(out, -2)
    if b.ndim == 1:
        out = mv.squeeze(out, -1)
    return out
