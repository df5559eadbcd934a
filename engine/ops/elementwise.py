"""Elementwise ops: broadcasting arithmetic, comparisons, activations.

Each Function saves what its gradient formula needs (the output when the formula
is cheaper in it: tanh, sigmoid, exp, sqrt) and returns gradients in the broadcast
shape; the autograd walk sums them back to each input's shape.
"""
import numpy as np

from engine import dtypes
from engine.autograd import Function
from engine.ops import _operands as ops
from engine._runtime import core as _core


# ---- arithmetic -----------------------------------------------------------------
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return ctx.kernels.add(a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return ctx.kernels.sub(a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad, ctx.kernels.neg(grad)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.kernels.mul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        k = ctx.kernels
        return k.mul(grad, b), k.mul(grad, a)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.kernels.div(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        k = ctx.kernels
        grad_a = k.div(grad, b)
        return grad_a, k.neg(k.mul(grad_a, k.div(a, b)))


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b, exponent_needs_grad=False):
        y = ctx.kernels.pow(a, b)
        ctx.save_for_backward(a, b, y)
        ctx.exponent_needs_grad = exponent_needs_grad
        return y

    @staticmethod
    def backward(ctx, grad):
        a, b, y = ctx.saved_tensors
        k = ctx.kernels
        one, zero = b.dtype.type(1), b.dtype.type(0)
        # b a^(b-1) is 0 * inf at a == 0, b == 0; torch defines the gradient as 0
        # wherever b == 0. A scalar exponent (numpy scalar) decides that once.
        if isinstance(b, np.generic):
            local = k.full(a.shape, 0, a.dtype) if b == zero else \
                k.mul(b, k.pow(a, k.sub(b, one)))
        else:
            local = k.where(k.eq(b, zero), zero, k.mul(b, k.pow(a, k.sub(b, one))))
        grad_a = k.mul(grad, local)
        if not ctx.exponent_needs_grad:
            return grad_a, None
        # d a^b / db = a^b log a; where a == 0 torch defines it as 0.
        log_a = k.log(k.where(k.eq(a, a.dtype.type(0)), a.dtype.type(1), a))
        return grad_a, k.mul(grad, k.mul(y, log_a))


class Maximum(Function):
    """Where a == b the gradient is split equally, as in torch."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.kernels.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _select_grads(ctx.kernels, grad, ctx.kernels.gt(a, b), ctx.kernels.eq(a, b))


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.kernels.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _select_grads(ctx.kernels, grad, ctx.kernels.lt(a, b), ctx.kernels.eq(a, b))


def _select_grads(k, grad, a_wins, tie):
    zero = grad.dtype.type(0)
    half = k.mul(grad, grad.dtype.type(0.5))
    grad_a = k.where(a_wins, grad, k.where(tie, half, zero))
    grad_b = k.where(a_wins, zero, k.where(tie, half, grad))
    return grad_a, grad_b


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return ctx.kernels.where(cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        (cond,) = ctx.saved_tensors
        k = ctx.kernels
        zero = grad.dtype.type(0)
        return None, k.where(cond, grad, zero), k.where(cond, zero, grad)


# ---- unary ------------------------------------------------------------------------
class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return ctx.kernels.neg(x)

    @staticmethod
    def backward(ctx, grad):
        return ctx.kernels.neg(grad)


class Sign(Function):
    """Piecewise constant: the gradient is 0 everywhere (at 0 too, as in torch)."""

    @staticmethod
    def forward(ctx, x):
        return ctx.kernels.sign(x)

    @staticmethod
    def backward(ctx, grad):
        return ctx.kernels.full(grad.shape, 0, grad.dtype)


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = ctx.kernels.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return ctx.kernels.mul(grad, y)


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.kernels.log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.kernels.div(grad, x)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = ctx.kernels.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return ctx.kernels.sqrt_backward(y, grad)


class Rsqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = ctx.kernels.rsqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return ctx.kernels.rsqrt_backward(y, grad)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.kernels.abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.kernels.mul(grad, ctx.kernels.sign(x))


class Sin(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.kernels.sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.kernels.mul(grad, ctx.kernels.cos(x))


class Cos(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.kernels.cos(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.kernels.neg(ctx.kernels.mul(grad, ctx.kernels.sin(x)))


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = ctx.kernels.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return ctx.kernels.tanh_backward(y, grad)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        y = ctx.kernels.sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return ctx.kernels.sigmoid_backward(y, grad)


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.kernels.relu(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.kernels.relu_backward(x, grad)


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.bounds = (lo, hi)
        return ctx.kernels.clamp(x, lo, hi)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        return ctx.kernels.clamp_backward(x, grad, lo, hi), None, None


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.source = x.dtype
        return ctx.kernels.astype(x, dtype)

    @staticmethod
    def backward(ctx, grad):
        return ctx.kernels.astype(grad, ctx.source), None


# ---- public functions ----------------------------------------------------------------
def _binary(function, op):
    def run(a, b):
        a, b, _ = ops.binary(op, a, b)
        return function.apply(a, b)
    run.__name__ = op
    return run


add = _binary(Add, "add")
sub = _binary(Sub, "sub")
mul = _binary(Mul, "mul")


def div(a, b):
    """True division: integer operands divide as float32 (as in torch), never float64."""
    a, b, _ = ops.binary("div", a, b)
    if not ops.dtype_of(a if ops.is_tensor(a) else b).is_floating_point:
        a, b = (ops.as_floating(v) if ops.is_tensor(v) else
                ops.scalar_like(v, dtypes.default_float) for v in (a, b))
    return Div.apply(a, b)


maximum = _binary(Maximum, "maximum")
minimum = _binary(Minimum, "minimum")


def pow(a, b):
    a, b, _ = ops.binary("pow", a, b)
    # The exponent's gradient costs a log: compute it only when someone wants it.
    return Pow.apply(a, b, exponent_needs_grad=ops.is_tensor(b) and b.requires_grad)


def _comparison(kernel_name, op):
    def run(a, b):
        a, b, _ = ops.binary(op, a, b)
        device = a.device if ops.is_tensor(a) else b.device
        raw_a = a.data if ops.is_tensor(a) else a
        raw_b = b.data if ops.is_tensor(b) else b
        kernels = _core._kernels_for(device)
        return _core.wrap(getattr(kernels, kernel_name)(raw_a, raw_b), device)
    run.__name__ = op
    return run


eq = _comparison("eq", "eq")
ne = _comparison("ne", "ne")
lt = _comparison("lt", "lt")
le = _comparison("le", "le")
gt = _comparison("gt", "gt")
ge = _comparison("ge", "ge")


def where(cond, a, b):
    ops.require_tensor("where", cond, "condition")
    if cond.data.dtype.kind != "b":
        raise ops.op_error(ops.DTypeError, "where", (cond,), "condition must be a bool tensor",
                           "build it with a comparison such as x > 0")
    if not ops.is_tensor(a) and not ops.is_tensor(b) and isinstance(a, ops.SCALARS):
        # Two scalars: the first becomes a 0-d tensor of its own dtype, so that
        # where(c, 1.0, 0.0) is float32 and where(c, 1, 0) int64, as in torch.
        a = _scalar_tensor(ops.scalar_like(a, dtypes.as_dtype(type(a))), cond.device)
    a, b, shape = ops.binary("where", a, b)
    if _core.broadcast_shapes(cond.data.shape, shape) is None:
        raise ops.op_error(ops.ShapeError, "where", (cond, a, b), "shapes do not broadcast",
                           "condition, input and other must broadcast together")
    if not ops.is_tensor(a):
        a = _scalar_tensor(a, b.device)
    if not ops.is_tensor(b):
        b = _scalar_tensor(b, a.device)
    return Where.apply(cond, a, b)


def _scalar_tensor(value, device):
    return _core.wrap(_core._kernels_for(device).full((), value, value.dtype), device)


def _unary(function, op, floating=True):
    def run(x):
        ops.require_tensor(op, x)
        if floating:
            x = ops.as_floating(x)
        return function.apply(x)
    run.__name__ = op
    return run


neg = _unary(Neg, "neg", floating=False)
exp = _unary(Exp, "exp")
log = _unary(Log, "log")
sqrt = _unary(Sqrt, "sqrt")
rsqrt = _unary(Rsqrt, "rsqrt")
abs = _unary(Abs, "abs", floating=False)
sin = _unary(Sin, "sin")
cos = _unary(Cos, "cos")
tanh = _unary(Tanh, "tanh")
sigmoid = _unary(Sigmoid, "sigmoid")
relu = _unary(Relu, "relu", floating=False)


sign = _unary(Sign, "sign", floating=False)


def clamp(x, min=None, max=None):
    ops.require_tensor("clamp", x)
    if min is None and max is None:
        raise ops.op_error(ValueError, "clamp", (x,), "at least one of min and max must be "
                           "given", "pass min=, max= or both")
    dtype = ops.dtype_of(x)
    if any(isinstance(v, float) for v in (min, max)) and not dtype.is_floating_point:
        x = ops.as_floating(x)
        dtype = ops.dtype_of(x)
    lo = None if min is None else ops.scalar_like(min, dtype)
    hi = None if max is None else ops.scalar_like(max, dtype)
    return Clamp.apply(x, lo, hi)


def cast(x, dtype):
    """x as `dtype` (an engine dtype); differentiable between floating dtypes."""
    if x.data.dtype == dtype.numpy:
        return x
    if not dtype.is_floating_point:
        # Integer and bool results carry no gradient (as in torch).
        return _core.wrap(_core._kernels_for(x.device).astype(x.data, dtype.numpy), x.device)
    return Cast.apply(x, dtype.numpy)
