"""layer_norm and batch_norm: one fused kernel each way (kernels/*/norm.py).

layer_norm normalizes over the trailing `normalized_shape` dims: the op views x as
(M, D) rows. batch_norm normalizes each channel (dim 1) over the batch and every
spatial position: the op views x as (N, C, L). Both save x and the float64 statistics
(mean and rstd per row; mean and var per channel) for backward, which returns dx,
dweight and dbias from one kernel.

batch_norm in training uses the batch's statistics (the biased variance normalizes)
and updates running_mean / running_var in place with momentum, the variance unbiased
(× n / (n - 1)), exactly as torch; in eval it uses the running statistics.
"""
import math

import numpy as np

from engine.autograd import Function, no_grad
from engine.errors import DTypeError, ShapeError, op_error
from engine.ops import _operands as ops
from engine.ops import movement as mv


class LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        y, mean, rstd = ctx.kernels.layer_norm(x, weight, bias, eps)
        ctx.save_for_backward(x, weight, mean, rstd)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, rstd = ctx.saved_tensors
        dx, dweight, dbias = ctx.kernels.layer_norm_backward(x, weight, mean, rstd, grad)
        return dx, dweight, dbias, None


class BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, eps):
        k = ctx.kernels
        if training:
            y, mean, var = k.batch_norm(x, weight, bias, None, None, eps)
        else:
            y, mean, var = k.batch_norm(x, weight, bias, running_mean, running_var, eps)
        ctx.save_for_backward(x, weight, mean, var)
        ctx.options = (eps, training)
        return y, mean, var          # the statistics come back as tensors without grad

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, var = ctx.saved_tensors
        eps, training = ctx.options
        dx, dweight, dbias = ctx.kernels.batch_norm_backward(x, weight, mean, var, grad, eps,
                                                             training)
        return dx, dweight, dbias, None, None, None, None


def _affine_operand(op, name, t, shape, x, operands):
    if t is None:
        return
    ops.require_tensor(op, t, name)
    if tuple(t.shape) != shape:
        raise op_error(ShapeError, op, operands, f"{name} must have shape {shape}",
                       "one value per normalized element (layer_norm) or channel (batch_norm)")
    if t.dtype != x.dtype:
        raise op_error(DTypeError, op, operands, f"{name} and input have different dtypes",
                       "convert the input with .float() or .double(), or the module with "
                       ".to(dtype)")


def _require_floating(op, x, operands):
    ops.require_kernel_float(op, x, operands)


def _eps(op, eps):
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)) \
            or not eps >= 0:
        raise ValueError(f"{op}: eps must be a non-negative number, got {eps!r}. Hint: "
                         f"1e-5 is the default")
    return float(eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """(x - mean) / sqrt(var + eps) · weight + bias over the trailing dims.

    input (*, *normalized_shape); weight, bias of normalized_shape or None. The
    variance is biased (divides by D), as torch's.
    """
    op = "layer_norm"
    ops.require_tensor(op, input)
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(normalized_shape)
    shape = ops.parse_shape(op, shape, input)
    operands = tuple(t for t in (input, weight, bias) if t is not None)
    _require_floating(op, input, operands)
    if not shape or tuple(input.shape[input.ndim - len(shape):]) != shape \
            or len(shape) > input.ndim:
        raise op_error(ShapeError, op, operands, f"normalized_shape {list(shape)} must be the "
                       f"input's trailing dims", "pass the sizes of the last dims, e.g. "
                       "x.shape[-1:]")
    _affine_operand(op, "weight", weight, shape, input, operands)
    _affine_operand(op, "bias", bias, shape, input, operands)
    eps = _eps(op, eps)
    d = math.prod(shape)
    rows = math.prod(input.shape[:input.ndim - len(shape)])
    x2 = mv.reshape(input, rows, d)
    w = None if weight is None else mv.reshape(weight, d)
    b = None if bias is None else mv.reshape(bias, d)
    return mv.reshape(LayerNorm.apply(x2, w, b, eps), *input.shape)


def _update_running(running, batch_stat, momentum):
    """running = (1 - momentum) running + momentum batch_stat, in place, no graph."""
    with no_grad():
        running.mul_(1.0 - momentum)
        running.add_(batch_stat.to(running.dtype), alpha=momentum)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalize each channel (dim 1) of input (N, C) or (N, C, *) over the batch.

    training: the batch's mean and biased variance normalize, and running_mean /
    running_var (C,) (if given) move toward the batch's mean and unbiased variance by
    `momentum`, in place. eval: the running statistics normalize (required).
    """
    op = "batch_norm"
    ops.require_tensor(op, input)
    operands = tuple(t for t in (input, running_mean, running_var, weight, bias)
                     if t is not None)
    _require_floating(op, input, operands)
    if input.ndim < 2:
        raise op_error(ShapeError, op, operands, "input must have a batch and a channel "
                       "dim, (N, C) or (N, C, *)", "add a batch dim with unsqueeze(0)")
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is None:
            if not training:
                raise op_error(ValueError, op, operands, f"{name} must be defined in "
                               f"evaluation mode", "pass the running statistics, or "
                               "training=True")
            continue
        _affine_operand(op, name, t, (channels,), input, operands)
    _affine_operand(op, "weight", weight, (channels,), input, operands)
    _affine_operand(op, "bias", bias, (channels,), input, operands)
    eps = _eps(op, eps)
    n, positions = input.shape[0], math.prod(input.shape[2:])
    count = n * positions
    if training and count <= 1:
        raise op_error(ValueError, op, operands, f"expected more than 1 value per channel "
                       f"when training, got input size {tuple(input.shape)}",
                       "use a batch of 2 or more, or eval mode")
    x3 = mv.reshape(input, n, channels, positions)
    y, mean, var = BatchNorm.apply(x3, weight, bias, running_mean, running_var,
                                   bool(training), eps)
    if training:
        if running_mean is not None:
            _update_running(running_mean, mean, momentum)
        if running_var is not None:
            _update_running(running_var, var * (count / (count - 1)), momentum)
    return mv.reshape(y, *input.shape)
