"""conv1d and conv2d: torch's cross-correlation, with bias, stride, padding, dilation
and groups (kernels/*/conv.py).

    conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1)
        x (N, C, H, W) or unbatched (C, H, W); w (C_out, C / groups, kH, kW);
        b (C_out,) or None -> (N, C_out, H_out, W_out),
        H_out = (H + 2 pH - dH (kH - 1) - 1) // sH + 1
    conv1d: the same with (N, C, L), w (C_out, C / groups, k): it runs as conv2d on
        the (N, C, 1, L) view (no copy).

stride, dilation: an int or a pair; padding: an int, a pair, 'valid' (0) or 'same'
(stride 1 only; an odd total padding puts the extra row/column after, as torch).
Backward saves x and w: dx, dw and dbias (the output gradient summed over N, H, W)
are one kernel each, skipped when their input needs no gradient.
"""
import numpy as np

from engine.autograd import Function
from engine.errors import DTypeError, ShapeError, op_error
from engine.ops import _operands as ops
from engine.ops import movement as mv


class Conv2d(Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        ctx.save_for_backward(x, w)
        ctx.params = (stride, padding, dilation, groups)
        return ctx.kernels.conv2d_forward(x, w, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        k = ctx.kernels
        dx = None if ctx.parents[0] is None else \
            k.conv2d_backward_input(grad, w, x.shape, *ctx.params)
        dw = None if ctx.parents[1] is None else \
            k.conv2d_backward_weight(grad, x, w.shape, *ctx.params)
        db = None if ctx.parents[2] is None else k.conv2d_backward_bias(grad)
        return dx, dw, db, None, None, None, None


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _tuple(op, name, value, dims, operands, low):
    """An int or a `dims`-tuple of ints, each >= low, as a tuple."""
    values = (value,) * dims if _is_int(value) else value
    if not isinstance(values, (tuple, list)) or len(values) != dims \
            or not all(_is_int(v) for v in values):
        raise op_error(TypeError, op, operands, f"{name} must be an int or a tuple of {dims} "
                       f"ints, got {value!r}", f"e.g. {name}=1 or {name}={(1,) * dims}")
    if any(v < low for v in values):
        what = "positive" if low > 0 else "non-negative"
        raise op_error(ValueError, op, operands, f"{name} must be {what}, got {value!r}",
                       f"{name} entries are {'>= 1' if low else '>= 0'}")
    return tuple(int(v) for v in values)


def _check(op, dims, x, w, b, stride, padding, dilation, groups):
    """Validate a conv call; returns (x batched, stride, padding, dilation, groups, extra,
    unbatched), `extra` the (before, after) zero padding 'same' needs beyond the
    symmetric one, per spatial dim."""
    ops.require_tensor(op, x)
    ops.require_tensor(op, w, "weight")
    if b is not None:
        ops.require_tensor(op, b, "bias")
    operands = (x, w) if b is None else (x, w, b)
    rank = dims + 2
    layout = "(N, C, L)" if dims == 1 else "(N, C, H, W)"
    if x.ndim not in (rank - 1, rank):
        raise op_error(ShapeError, op, operands, f"input must be {rank}-D {layout} or "
                       f"{rank - 1}-D unbatched", f"give the input as {layout}")
    if w.ndim != rank:
        kernel = "k" if dims == 1 else "kH, kW"
        raise op_error(ShapeError, op, operands, f"weight must be {rank}-D "
                       f"(C_out, C_in / groups, {kernel})", "use torch's weight layout")
    for t in operands:
        ops.require_kernel_float(op, t, operands, "input, weight and bias")
    if any(t.dtype != x.dtype for t in operands):
        raise op_error(DTypeError, op, operands, "input, weight and bias have different "
                       "dtypes", "convert the input with .float() or .double(), or the module "
                       "with .to(dtype)")
    if not _is_int(groups) or groups < 1:
        raise op_error(ValueError, op, operands, f"groups must be a positive int, got "
                       f"{groups!r}", "groups=1 is an ordinary convolution")
    groups = int(groups)
    c_out, c_per_group = w.shape[0], w.shape[1]
    if c_out % groups:
        raise op_error(ShapeError, op, operands, f"groups={groups} does not divide the "
                       f"{c_out} output channels (weight dim 0)", "C_out and C_in must both "
                       "be multiples of groups")
    channels = x.shape[-dims - 1]
    if channels != c_per_group * groups:
        raise op_error(ShapeError, op, operands, f"expected input with {c_per_group * groups} "
                       f"channels (weight dim 1 = {c_per_group} per group x groups={groups}), "
                       f"got {channels}", "the input's channel dim must be C_in = weight."
                       "shape[1] * groups")
    if b is not None and tuple(b.shape) != (c_out,):
        raise op_error(ShapeError, op, operands, f"bias must have shape ({c_out},)",
                       "one bias per output channel")
    stride = _tuple(op, "stride", stride, dims, operands, 1)
    dilation = _tuple(op, "dilation", dilation, dims, operands, 1)
    kernel = tuple(w.shape[2:])
    extra = ((0, 0),) * dims
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0,) * dims
        elif padding == "same":
            if stride != (1,) * dims:
                raise op_error(ValueError, op, operands, "padding='same' is not supported "
                               f"for strided convolutions (stride={stride})",
                               "use stride=1, or give the padding as ints")
            totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
            padding = tuple(t // 2 for t in totals)
            extra = tuple((0, t % 2) for t in totals)
        else:
            raise op_error(ValueError, op, operands, f"padding string must be 'valid' or "
                           f"'same', got {padding!r}", "or give the padding as ints")
    else:
        padding = _tuple(op, "padding", padding, dims, operands, 0)
    sizes = x.shape[-dims:]
    for size, k, p, d, (_, e) in zip(sizes, kernel, padding, dilation, extra):
        if size + 2 * p + e < d * (k - 1) + 1:
            raise op_error(ShapeError, op, operands, f"the (dilated) kernel {kernel} is larger "
                           f"than the padded input {tuple(sizes)} + 2 x padding {padding}",
                           "use a smaller kernel or dilation, or more padding")
    unbatched = x.ndim == rank - 1
    if unbatched:
        x = mv.unsqueeze(x, 0)
    return x, stride, padding, dilation, groups, extra, unbatched


def _pad_extra(x, extra):
    """The one extra trailing row/column of 'same' padding with an odd total."""
    if not any(e for _, e in extra):
        return x
    flat = []
    for before, after in reversed(extra):       # F.pad lists the last dim first
        flat += [before, after]
    return mv.pad(x, flat)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of NCHW input with (C_out, C_in/groups, kH, kW)
    weights; see the module docstring. Unbatched (C, H, W) input gives (C_out, H_out, W_out)."""
    x, stride, padding, dilation, groups, extra, unbatched = _check(
        "conv2d", 2, input, weight, bias, stride, padding, dilation, groups)
    out = Conv2d.apply(_pad_extra(x, extra), weight, bias, stride, padding, dilation, groups)
    return mv.squeeze(out, 0) if unbatched else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution of (N, C, L) input with (C_out, C_in/groups, k) weights, run as
    conv2d on the (N, C, 1, L) view. Unbatched (C, L) input gives (C_out, L_out)."""
    x, stride, padding, dilation, groups, extra, unbatched = _check(
        "conv1d", 1, input, weight, bias, stride, padding, dilation, groups)
    x = mv.unsqueeze(_pad_extra(x, extra), 2)
    out = Conv2d.apply(x, mv.unsqueeze(weight, 2), bias, (1,) + stride, (0,) + padding,
                       (1,) + dilation, groups)
    out = mv.squeeze(out, 2)
    return mv.squeeze(out, 0) if unbatched else out
