"""Reductions: sum, mean, var/std, prod, max/min (with indices), argmax/argmin, logsumexp.

`dim` is None (all), an int or a tuple; `keepdim` keeps reduced dims as size 1.
Gradients are broadcast back over the reduced dims with expand: a view, no copy.
mean, var and std are compositions of differentiable ops, so their backward is the
graph's, not a formula to get wrong.
"""
import builtins

import numpy as np

from engine.autograd import Function
from engine.ops import _operands as ops
from engine.ops import elementwise as ew
from engine.errors import ShapeError, op_error


def _keepdim_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _spread(k, grad, in_shape, axes, keepdim):
    """A reduced gradient broadcast back to the input's shape (a view)."""
    if not keepdim:
        grad = k.reshape(grad, _keepdim_shape(in_shape, axes))
    return k.expand(grad, in_shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.meta = (x.shape, axes, keepdim)
        return ctx.kernels.sum(x, axes, keepdim)

    @staticmethod
    def backward(ctx, grad):
        return _spread(ctx.kernels, grad, *ctx.meta), None, None


class Prod(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        y = ctx.kernels.prod(x, axes, keepdim)
        ctx.save_for_backward(x, y)
        ctx.meta = (x.shape, axes, keepdim)
        return y

    @staticmethod
    def backward(ctx, grad):
        # d prod / dx_i = prod of the others. Dividing y by x_i fails at zeros, so take
        # the product of everything but x_i directly: exclusive products via masking.
        x, y = ctx.saved_tensors
        k = ctx.kernels
        shape, axes, keepdim = ctx.meta
        grad_full = _spread(k, grad, shape, axes, keepdim)
        y_full = _spread(k, y, shape, axes, keepdim)
        zero = x.dtype.type(0)
        is_zero = k.eq(x, zero)
        safe = k.div(y_full, k.where(is_zero, x.dtype.type(1), x))
        # Where x_i == 0, the product of the others (zeros elsewhere make it 0 anyway).
        others = k.prod(k.where(is_zero, x.dtype.type(1), x), axes, True)
        zeros_in_slice = k.sum(k.astype(is_zero, x.dtype), axes, True)
        at_zero = k.where(k.eq(zeros_in_slice, x.dtype.type(1)), others, zero)
        local = k.where(is_zero, k.expand(at_zero, shape), safe)
        return k.mul(grad_full, local), None, None


class Extreme(Function):
    """max or min over some dims; the gradient is shared equally among ties (torch's amax)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, kernel):
        y = getattr(ctx.kernels, kernel)(x, axes, keepdim)
        ctx.save_for_backward(x, y)
        ctx.meta = (x.shape, axes, keepdim)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        k = ctx.kernels
        shape, axes, keepdim = ctx.meta
        hit = k.astype(k.eq(x, _spread(k, y, shape, axes, keepdim)), grad.dtype)
        count = k.sum(hit, axes, keepdim)
        share = _spread(k, k.div(grad, count), shape, axes, keepdim)
        return k.mul(share, hit), None, None, None


class SelectAlong(Function):
    """max(dim)/min(dim) values: the gradient goes to the index that was chosen."""

    @staticmethod
    def forward(ctx, x, axis, keepdim, kernel):
        k = ctx.kernels
        index = getattr(k, kernel)(x, axis, True)
        values = k.gather(x, _along_axis_key(x.shape, index, axis))
        ctx.save_for_backward(index)
        ctx.meta = (x.shape, axis, keepdim, x.dtype)
        if not keepdim:
            values = k.reshape(values, values.shape[:axis] + values.shape[axis + 1:])
            index = k.reshape(index, index.shape[:axis] + index.shape[axis + 1:])
        return values, index

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        k = ctx.kernels
        shape, axis, keepdim, _ = ctx.meta
        if not keepdim:
            grad = k.reshape(grad, _keepdim_shape(shape, (axis,)))
        return k.index_add(shape, _along_axis_key(shape, index, axis), grad), None, None, None


def _along_axis_key(shape, index, axis):
    """An advanced-indexing key picking index[..] along `axis` (take_along_axis)."""
    key = []
    for d in range(len(shape)):
        if d == axis:
            key.append(index)
        else:
            n = index.shape[d]
            key.append(np.arange(n).reshape([-1 if i == d else 1 for i in range(len(shape))]))
    return tuple(key)


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        y = ctx.kernels.logsumexp(x, axes, keepdim)
        ctx.save_for_backward(x, y)
        ctx.meta = (x.shape, axes, keepdim)
        return y

    @staticmethod
    def backward(ctx, grad):
        # d lse / dx = softmax(x) = exp(x - lse)
        x, y = ctx.saved_tensors
        k = ctx.kernels
        shape, axes, keepdim = ctx.meta
        weights = k.exp(k.sub(x, _spread(k, y, shape, axes, keepdim)))
        return k.mul(_spread(k, grad, shape, axes, keepdim), weights), None, None


# ---- public functions -------------------------------------------------------------
def _axes(op, x, dim):
    ops.require_tensor(op, x)
    if isinstance(dim, (tuple, list)) and not dim:
        dim = None                        # dim=() reduces every dim, as in torch
    return ops.normalize_dims(op, dim, x.ndim, x)


def sum(x, dim=None, keepdim=False):
    axes = _axes("sum", x, dim)
    if x.data.dtype.kind == "b":
        x = x.long()                      # torch sums bools as int64
    return Sum.apply(x, axes, keepdim)


def mean(x, dim=None, keepdim=False):
    axes = _axes("mean", x, dim)
    x = ops.as_floating(x)
    count = int(np.prod([x.data.shape[a] for a in axes], dtype=np.int64))
    return ew.div(Sum.apply(x, axes, keepdim), float(count) if count else float("nan"))


def var(x, dim=None, unbiased=True, keepdim=False, *, correction=None):
    return _variance("var", x, dim, unbiased, keepdim, correction)


def _variance(op, x, dim, unbiased, keepdim, correction):
    axes = _axes(op, x, dim)
    x = ops.as_floating(x)
    correction = (1 if unbiased else 0) if correction is None else correction
    count = int(np.prod([x.data.shape[a] for a in axes], dtype=np.int64))
    centered = ew.sub(x, mean(x, axes, keepdim=True))
    squares = Sum.apply(ew.mul(centered, centered), axes, keepdim)
    return ew.div(squares, float(builtins.max(count - correction, 0)))


def std(x, dim=None, unbiased=True, keepdim=False, *, correction=None):
    return ew.sqrt(_variance("std", x, dim, unbiased, keepdim, correction))


def prod(x, dim=None, keepdim=False):
    axes = _axes("prod", x, dim)
    return Prod.apply(x, axes, keepdim)


def _require_nonempty(op, x, axes):
    if any(x.data.shape[a] == 0 for a in axes) or (not axes and x.numel() == 0):
        raise op_error(ShapeError, op, (x,), "cannot reduce over an empty dimension",
                       "this op has no identity: check the input is not empty")


def _extreme(op, x, dim, keepdim, values_kernel, index_kernel):
    """max()/min(): the value over all elements, or (values, indices) along `dim`."""
    if dim is None:
        axes = _axes(op, x, None)
        _require_nonempty(op, x, axes)
        return Extreme.apply(x, axes, keepdim, values_kernel)
    ops.require_tensor(op, x)
    if isinstance(dim, ops.TensorBase):      # max(a, b): elementwise, as in torch
        return (ew.maximum if op == "max" else ew.minimum)(x, dim)
    axis = ops.normalize_dim(op, dim, x.ndim, x)
    if x.ndim == 0:
        return x, _zeros_index(x)
    _require_nonempty(op, x, (axis,))
    return SelectAlong.apply(x, axis, keepdim, index_kernel)


def _zeros_index(x):
    k = ops._core._kernels_for(x.device)
    return ops._core.wrap(k.full((), 0, np.int64), x.device)


def max(x, dim=None, keepdim=False):
    return _extreme("max", x, dim, keepdim, "amax", "argmax")


def min(x, dim=None, keepdim=False):
    return _extreme("min", x, dim, keepdim, "amin", "argmin")


def amax(x, dim=None, keepdim=False):
    axes = _axes("amax", x, dim)
    _require_nonempty("amax", x, axes)
    return Extreme.apply(x, axes, keepdim, "amax")


def amin(x, dim=None, keepdim=False):
    axes = _axes("amin", x, dim)
    _require_nonempty("amin", x, axes)
    return Extreme.apply(x, axes, keepdim, "amin")


def _arg(op, x, dim, keepdim):
    ops.require_tensor(op, x)
    axis = None if dim is None else ops.normalize_dim(op, dim, x.ndim, x)
    _require_nonempty(op, x, () if axis is None or x.ndim == 0 else (axis,))
    if x.ndim == 0:
        return _zeros_index(x)
    k = ops._core._kernels_for(x.device)
    out = getattr(k, op)(x.data, axis, keepdim if axis is not None else False)
    return ops._core.wrap(out, x.device)


def argmax(x, dim=None, keepdim=False):
    return _arg("argmax", x, dim, keepdim)


def argmin(x, dim=None, keepdim=False):
    return _arg("argmin", x, dim, keepdim)


def logsumexp(x, dim, keepdim=False):
    axes = _axes("logsumexp", x, dim)
    x = ops.as_floating(x)
    if any(x.data.shape[a] == 0 for a in axes):
        # The log of an empty sum is -inf (torch's answer); the kernel has no max to
        # shift by there. Sum keeps the graph, so the (empty) gradient still flows.
        return ew.add(Sum.apply(x, axes, keepdim), float("-inf"))
    return LogSumExp.apply(x, axes, keepdim)
