"""softmax and log_softmax along one dim, each a single fused kernel per direction.

Both are stable for any logits: the kernels subtract the row max first. The
gradients use only the saved output: softmax' = y (g - Σ g y), log_softmax' =
g - exp(y) Σ g.
"""
from engine.autograd import Function
from engine.ops import _operands as ops


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        y = ctx.kernels.softmax(x, axis)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return ctx.kernels.softmax_backward(y, grad, ctx.axis), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        y = ctx.kernels.log_softmax(x, axis)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return ctx.kernels.log_softmax_backward(y, grad, ctx.axis), None


def _prepare(op, x, dim):
    ops.require_tensor(op, x)
    x = ops.as_floating(x)
    return x, ops.normalize_dim(op, dim, x.ndim, x)


def softmax(x, dim):
    x, axis = _prepare("softmax", x, dim)
    if x.numel() == 0:
        return x.clone()          # nothing to normalize; the kernels' row max needs a row
    if x.ndim == 0:
        x = x.reshape(1)
        return Softmax.apply(x, 0).reshape(())
    return Softmax.apply(x, axis)


def log_softmax(x, dim):
    x, axis = _prepare("log_softmax", x, dim)
    if x.numel() == 0:
        return x.clone()
    if x.ndim == 0:
        x = x.reshape(1)
        return LogSoftmax.apply(x, 0).reshape(())
    return LogSoftmax.apply(x, axis)
