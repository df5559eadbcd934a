"""max_pool2d, avg_pool2d and adaptive_avg_pool2d over NCHW input (kernels/*/pool.py).

    max_pool2d(x, kernel_size, stride=None, padding=0)
    avg_pool2d(x, kernel_size, stride=None, padding=0)     count_include_pad=True
    adaptive_avg_pool2d(x, output_size)                     global pooling: output_size=1

x (N, C, H, W) or unbatched (C, H, W), float32 or float64. kernel_size, stride,
padding: an int or a pair; stride defaults to kernel_size; padding at most half the
kernel (as torch; max pooling pads with -inf, average pooling with zeros that count).
H_out = (H + 2 pH - kH) // sH + 1 (no ceil mode, no dilation). adaptive_avg_pool2d's
output_size is an int or a pair whose None entries keep the input's size.

Backward: max pooling saves the argmax of every window (a flat index into its plane)
and sends each gradient there; average pooling saves only shapes.
"""
from engine.autograd import Function
from engine.errors import ShapeError, op_error
from engine.ops import movement as mv
from engine.ops import _operands as ops
from engine.ops.conv import _is_int, _tuple


class MaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel, stride, padding):
        out, argmax = ctx.kernels.max_pool2d_forward(x, kernel, stride, padding)
        ctx.save_for_backward(argmax)
        ctx.x_shape = x.shape
        return out

    @staticmethod
    def backward(ctx, grad):
        (argmax,) = ctx.saved_tensors
        return ctx.kernels.max_pool2d_backward(grad, argmax, ctx.x_shape), None, None, None


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel, stride, padding):
        ctx.params = (x.shape, kernel, stride, padding)
        return ctx.kernels.avg_pool2d_forward(x, kernel, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        return ctx.kernels.avg_pool2d_backward(grad, *ctx.params), None, None, None


class AdaptiveAvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, output_size):
        ctx.x_shape = x.shape
        return ctx.kernels.adaptive_avg_pool2d_forward(x, output_size)

    @staticmethod
    def backward(ctx, grad):
        return ctx.kernels.adaptive_avg_pool2d_backward(grad, ctx.x_shape), None


def _input(op, x):
    """Check the input; return it batched, and whether it was unbatched."""
    ops.require_tensor(op, x)
    if x.ndim not in (3, 4):
        raise op_error(ShapeError, op, (x,), "input must be 4-D (N, C, H, W) or 3-D unbatched "
                       "(C, H, W)", "reshape the input to (N, C, H, W)")
    ops.require_kernel_float(op, x, (x,))
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise op_error(ShapeError, op, (x,), "input has an empty spatial dim",
                       "H and W must be at least 1")
    unbatched = x.ndim == 3
    return (mv.unsqueeze(x, 0) if unbatched else x), unbatched


def _window(op, x, kernel_size, stride, padding):
    kernel = _tuple(op, "kernel_size", kernel_size, 2, (x,), 1)
    stride = kernel if stride is None else _tuple(op, "stride", stride, 2, (x,), 1)
    padding = _tuple(op, "padding", padding, 2, (x,), 0)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise op_error(ValueError, op, (x,), f"padding {padding} must be at most half of "
                       f"kernel_size {kernel}", "use padding <= kernel_size // 2")
    for size, k, p in zip(x.shape[-2:], kernel, padding):
        if size + 2 * p < k:
            raise op_error(ShapeError, op, (x,), f"kernel_size {kernel} is larger than the "
                           f"padded input {tuple(x.shape[-2:])} + 2 x padding {padding}",
                           "use a smaller kernel_size or more padding")
    return kernel, stride, padding


def max_pool2d(input, kernel_size, stride=None, padding=0):
    """The max of every kernel_size window, NCHW; see the module docstring."""
    op = "max_pool2d"
    x, unbatched = _input(op, input)
    window = _window(op, input, kernel_size, stride, padding)
    out = MaxPool2d.apply(x, *window)
    return mv.squeeze(out, 0) if unbatched else out


def avg_pool2d(input, kernel_size, stride=None, padding=0):
    """The mean of every kernel_size window (padding counts), NCHW."""
    op = "avg_pool2d"
    x, unbatched = _input(op, input)
    window = _window(op, input, kernel_size, stride, padding)
    out = AvgPool2d.apply(x, *window)
    return mv.squeeze(out, 0) if unbatched else out


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to output_size (int, pair, None entries keep the size), with
    torch's windows [floor(i H / H_out), ceil((i + 1) H / H_out))."""
    op = "adaptive_avg_pool2d"
    x, unbatched = _input(op, input)
    sizes = (output_size,) * 2 if output_size is None or _is_int(output_size) else output_size
    if not isinstance(sizes, (tuple, list)) or len(sizes) != 2 \
            or not all(s is None or _is_int(s) for s in sizes):
        raise op_error(TypeError, op, (input,), f"output_size must be an int or a pair of ints "
                       f"(or None), got {output_size!r}", "e.g. output_size=1 for global "
                       "average pooling")
    sizes = tuple(int(x.shape[2 + i]) if s is None else int(s) for i, s in enumerate(sizes))
    if any(s < 1 for s in sizes):
        raise op_error(ValueError, op, (input,), f"output_size must be positive, got "
                       f"{output_size!r}", "each output size is >= 1")
    out = AdaptiveAvgPool2d.apply(x, sizes)
    return mv.squeeze(out, 0) if unbatched else out
