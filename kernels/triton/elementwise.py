"""Elementwise kernels on the `cuda` device: one strided kernel per arity.

Computes the same values as kernels/reference/elementwise.py (numpy broadcasting,
numpy's result dtypes). The naive version launches one kernel per op on contiguous
copies of broadcast operands: read broadcast(a) + broadcast(b), write out, plus the
copies. Here the operands are never copied: each kernel gets every operand's strides
(0 along broadcast dims, see _launch.collapse), so a binary op reads each input
element once per output element that uses it and writes N outputs.

The op is a `tl.constexpr` code, so each (op, dtype) pair compiles to its own
straight-line kernel on a GPU, and the interpreter evaluates only the branch taken.
float16 is computed in float32 (Triton's math functions take fp32/fp64) and rounded
once on store. Scalar operands become one-element buffers viewed with stride 0.

Formulas chosen for accuracy, not speed:
- sigmoid: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below, so exp never overflows;
- tanh: (1-e^-2|x|)/(1+e^-2|x|) with the sign of x, and its Taylor series near 0,
  where 1 - e^-2|x| would cancel (rel. error <= 3e-7 fp32, 1e-15 fp64);
- pow: exp(b log|a|) in float64 (fp32 and fp16 too: the product b log|a| amplifies
  rounding), the sign restored for negative bases with integer exponents, a^0 = 1;
  integer pow by repeated squaring (exact, as numpy's).
"""
import numpy as np
import triton
import triton.language as tl

from kernels.triton import _launch
from kernels.triton.buffer import broadcast_to, empty, is_buffer
from kernels.triton.creation import full

# ---- op codes (constexpr) ----------------------------------------------------------
# tl.constexpr, not plain ints: a compiled kernel may read a global only if it is one
# (the interpreter does not check; bench/compile_check.py does).
COPY, NEG, EXP, LOG, SQRT, RSQRT, ABS, SIGN, SIN, COS, TANH, SIGMOID, RELU, NONZERO = map(
    tl.constexpr, range(14))
(ADD, SUB, MUL, DIV, POW, MAXIMUM, MINIMUM, EQ, NE, LT, LE, GT, GE, TANH_BW, SIGMOID_BW,
 RELU_BW, SQRT_BW, RSQRT_BW, IPOW, AND, OR) = map(tl.constexpr, range(21))


@triton.jit
def _split4(i, D1, D2, D3):
    i3 = i % D3
    r = i // D3
    i2 = r % D2
    r = r // D2
    return r // D1, r % D1, i2, i3


@triton.jit
def _tanh(x, SMALL: tl.constexpr):
    ax = tl.abs(x)
    t = tl.exp(-2.0 * ax)
    big = (1.0 - t) / (1.0 + t)
    big = tl.where(x < 0, -big, big)
    x2 = x * x
    # x - x^3/3 + 2x^5/15 - 17x^7/315 + 62x^9/2835
    small = x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0
                                                                 + x2 * (62.0 / 2835.0)))))
    return tl.where(ax < SMALL, small, big)


@triton.jit
def _unary(x, OP: tl.constexpr, SMALL: tl.constexpr):
    if OP == COPY:
        y = x
    elif OP == NEG:
        y = -x
    elif OP == EXP:
        y = tl.exp(x)
    elif OP == LOG:
        y = tl.log(x)
    elif OP == SQRT:
        y = tl.sqrt(x)
    elif OP == RSQRT:
        y = 1.0 / tl.sqrt(x)
    elif OP == ABS:
        y = tl.abs(x)
    elif OP == SIGN:
        y = tl.where(x > 0, 1, tl.where(x < 0, -1, x)).to(x.dtype)
    elif OP == SIN:
        y = tl.sin(x)
    elif OP == COS:
        y = tl.cos(x)
    elif OP == TANH:
        y = _tanh(x, SMALL)
    elif OP == SIGMOID:
        e = tl.exp(-tl.abs(x))
        y = tl.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    elif OP == RELU:
        y = tl.where(x < 0, 0, x).to(x.dtype)
    else:  # NONZERO: a cast to bool
        y = x != 0
    return y


@triton.jit
def unary_kernel(x_ptr, out_ptr, n, D1, D2, D3, sx0, sx1, sx2, sx3, so0, so1, so2, so3,
                 OP: tl.constexpr, UPCAST: tl.constexpr, SMALL: tl.constexpr,
                 BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    i0, i1, i2, i3 = _split4(i, D1, D2, D3)
    x = tl.load(x_ptr + i0 * sx0 + i1 * sx1 + i2 * sx2 + i3 * sx3, mask=mask)
    if UPCAST:
        x = x.to(tl.float32)
    y = _unary(x, OP, SMALL)
    tl.store(out_ptr + i0 * so0 + i1 * so1 + i2 * so2 + i3 * so3,
             y.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _pow(a, b):
    a = a.to(tl.float64)
    b = b.to(tl.float64)
    mag = tl.exp(b * tl.log(tl.abs(a)))
    integral = tl.floor(b) == b
    odd = integral & (tl.floor(b * 0.5) * 2.0 != b)
    signed = tl.where(odd, -mag, mag)
    nan = float("nan")
    y = tl.where(a < 0, tl.where(integral, signed, nan), mag)
    y = tl.where(b == 2.0, a * a, y)          # the common x ** 2, exactly
    return tl.where(b == 0.0, 1.0, y)


@triton.jit
def _ipow(a, b):
    result = tl.full(a.shape, 1, a.dtype)
    base = a
    e = b
    for _ in range(63):
        result = tl.where((e & 1) != 0, result * base, result)
        base = base * base
        e = e >> 1
    return result


@triton.jit
def _binary(a, b, OP: tl.constexpr):
    if OP == ADD:
        y = a + b
    elif OP == SUB:
        y = a - b
    elif OP == MUL:
        y = a * b
    elif OP == DIV:
        y = a / b
    elif OP == POW:
        y = _pow(a, b)
    elif OP == MAXIMUM:     # NaN in either operand wins, as numpy's
        y = tl.where((a > b) | (a != a), a, b)
    elif OP == MINIMUM:
        y = tl.where((a < b) | (a != a), a, b)
    elif OP == EQ:
        y = a == b
    elif OP == NE:
        y = a != b
    elif OP == LT:
        y = a < b
    elif OP == LE:
        y = a <= b
    elif OP == GT:
        y = a > b
    elif OP == GE:
        y = a >= b
    elif OP == TANH_BW:     # a = tanh output, b = grad
        y = b * (1.0 - a * a)
    elif OP == SIGMOID_BW:  # a = sigmoid output
        y = b * a * (1.0 - a)
    elif OP == RELU_BW:     # a = relu input
        y = tl.where(a > 0, b, 0.0)
    elif OP == SQRT_BW:     # a = sqrt output
        y = b / (2.0 * a)
    elif OP == RSQRT_BW:    # a = rsqrt output: d x^-1/2 = -y^3 / 2
        y = b * (-0.5 * a * a * a)
    elif OP == IPOW:
        y = _ipow(a, b)
    elif OP == AND:
        y = (a != 0) & (b != 0)
    else:  # OR
        y = (a != 0) | (b != 0)
    return y


@triton.jit
def binary_kernel(a_ptr, b_ptr, out_ptr, n, D1, D2, D3, sa0, sa1, sa2, sa3,
                  sb0, sb1, sb2, sb3, so0, so1, so2, so3,
                  OP: tl.constexpr, UPCAST: tl.constexpr, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    i0, i1, i2, i3 = _split4(i, D1, D2, D3)
    a = tl.load(a_ptr + i0 * sa0 + i1 * sa1 + i2 * sa2 + i3 * sa3, mask=mask)
    b = tl.load(b_ptr + i0 * sb0 + i1 * sb1 + i2 * sb2 + i3 * sb3, mask=mask)
    if UPCAST:
        a = a.to(tl.float32)
        b = b.to(tl.float32)
    y = _binary(a, b, OP)
    tl.store(out_ptr + i0 * so0 + i1 * so1 + i2 * so2 + i3 * so3,
             y.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def where_kernel(c_ptr, a_ptr, b_ptr, out_ptr, n, D1, D2, D3, sc0, sc1, sc2, sc3,
                 sa0, sa1, sa2, sa3, sb0, sb1, sb2, sb3, so0, so1, so2, so3,
                 BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    i0, i1, i2, i3 = _split4(i, D1, D2, D3)
    c = tl.load(c_ptr + i0 * sc0 + i1 * sc1 + i2 * sc2 + i3 * sc3, mask=mask)
    a = tl.load(a_ptr + i0 * sa0 + i1 * sa1 + i2 * sa2 + i3 * sa3, mask=mask)
    b = tl.load(b_ptr + i0 * sb0 + i1 * sb1 + i2 * sb2 + i3 * sb3, mask=mask)
    y = tl.where(c != 0, a, b)
    tl.store(out_ptr + i0 * so0 + i1 * so1 + i2 * so2 + i3 * so3,
             y.to(out_ptr.dtype.element_ty), mask=mask)


# ---- launching ------------------------------------------------------------------------
def _shape_of(*xs):
    return np.broadcast_shapes(*[x.shape if is_buffer(x) else () for x in xs])


def _result_dtype(*xs):
    """numpy's result dtype; a Python scalar takes the other operand's dtype."""
    typed = [x.dtype if is_buffer(x) or isinstance(x, np.generic) else None for x in xs]
    known = [d for d in typed if d is not None]
    if not known:
        return np.result_type(*xs)
    return np.result_type(*known)


def _operand(x, dtype, shape):
    """x (buffer or scalar) as a `dtype` buffer viewed at `shape`."""
    if not is_buffer(x):
        x = full((), x, dtype)
    elif x.dtype != dtype:
        x = astype(x, dtype)
    return broadcast_to(x, shape)


def _launch_unary(x, out, op, small=0.25):
    if out.size == 0:
        return out

    def launch(ptrs, sizes, strides, n):
        block = _launch.elementwise_block(n)
        unary_kernel[(_launch.cdiv(n, block),)](
            ptrs[0], ptrs[1], n, sizes[1], sizes[2], sizes[3], *strides[0], *strides[1],
            OP=op, UPCAST=x.dtype == np.float16, SMALL=small, BLOCK=block)
    _launch.strided_launch(launch, out.shape, [broadcast_to(x, out.shape), out])
    return out


def unary(x, op, out_dtype=None):
    out = empty(x.shape, out_dtype or x.dtype)
    small = 0.04 if x.dtype == np.float64 else 0.25
    return _launch_unary(x, out, op, small)


def copy_to(dst, src):
    """dst[...] = src (a buffer broadcast to dst's shape, cast to dst's dtype), in place."""
    if dst.dtype.kind == "b" and src.dtype.kind != "b":
        return _launch_unary(src, dst, NONZERO)
    return _launch_unary(src, dst, COPY)


def binary(a, b, op, out_dtype=None, compute_dtype=None):
    dtype = compute_dtype or _result_dtype(a, b)
    shape = _shape_of(a, b)
    out = empty(shape, out_dtype or dtype)
    if out.size == 0:
        return out
    a, b = _operand(a, dtype, shape), _operand(b, dtype, shape)

    def launch(ptrs, sizes, strides, n):
        block = _launch.elementwise_block(n)
        binary_kernel[(_launch.cdiv(n, block),)](
            ptrs[0], ptrs[1], ptrs[2], n, sizes[1], sizes[2], sizes[3],
            *strides[0], *strides[1], *strides[2],
            OP=op, UPCAST=dtype == np.float16, BLOCK=block)
    _launch.strided_launch(launch, shape, [a, b, out])
    return out


# ---- binary, broadcasting -------------------------------------------------------------
def add(a, b):
    return binary(a, b, OR if _result_dtype(a, b).kind == "b" else ADD)   # numpy: True + True


def sub(a, b):
    return binary(a, b, SUB)


def mul(a, b):
    return binary(a, b, AND if _result_dtype(a, b).kind == "b" else MUL)


def div(a, b):
    dtype = _result_dtype(a, b)
    if dtype.kind != "f":           # numpy's true division of integers is float64
        dtype = np.dtype(np.float64)
    return binary(a, b, DIV, compute_dtype=dtype)


def pow(a, b):
    dtype = _result_dtype(a, b)
    return binary(a, b, POW if dtype.kind == "f" else IPOW)


def maximum(a, b):
    return binary(a, b, MAXIMUM)


def minimum(a, b):
    return binary(a, b, MINIMUM)


def _compare(op):
    def compare(a, b):
        return binary(a, b, op, out_dtype=np.bool_)
    return compare


eq, ne, lt, le, gt, ge = (_compare(op) for op in (EQ, NE, LT, LE, GT, GE))
for _fn, _name in zip((eq, ne, lt, le, gt, ge), ("eq", "ne", "lt", "le", "gt", "ge")):
    _fn.__name__ = _name


def where(cond, a, b):
    dtype = _result_dtype(a, b)
    shape = _shape_of(cond, a, b)
    out = empty(shape, dtype)
    if out.size == 0:
        return out
    c = broadcast_to(cond if is_buffer(cond) else full((), cond, np.bool_), shape)
    a, b = _operand(a, dtype, shape), _operand(b, dtype, shape)

    def launch(ptrs, sizes, strides, n):
        block = _launch.elementwise_block(n)
        where_kernel[(_launch.cdiv(n, block),)](
            *ptrs, n, sizes[1], sizes[2], sizes[3], *strides[0], *strides[1], *strides[2],
            *strides[3], BLOCK=block)
    _launch.strided_launch(launch, shape, [c, a, b, out])
    return out


# ---- unary ----------------------------------------------------------------------------
def neg(x):
    return unary(x, NEG)


def exp(x):
    return unary(x, EXP)


def log(x):
    return unary(x, LOG)


def sqrt(x):
    return unary(x, SQRT)


def rsqrt(x):
    return unary(x, RSQRT)


def abs(x):
    return unary(x, ABS)


def sign(x):
    return unary(x, SIGN)


def sin(x):
    return unary(x, SIN)


def cos(x):
    return unary(x, COS)


def tanh(x):
    return unary(x, TANH)


def sigmoid(x):
    return unary(x, SIGMOID)


def relu(x):
    return unary(x, RELU)


def clamp(x, lo, hi):
    """lo and hi are numpy scalars or None (no bound on that side)."""
    if lo is not None:
        x = maximum(x, lo)
    if hi is not None:
        x = minimum(x, hi)
    if lo is None and hi is None:
        x = unary(x, COPY)
    return x


# ---- fused gradients --------------------------------------------------------------------
def tanh_backward(y, grad):
    return binary(y, grad, TANH_BW)


def sigmoid_backward(y, grad):
    return binary(y, grad, SIGMOID_BW)


def relu_backward(x, grad):
    return binary(x, grad, RELU_BW, out_dtype=grad.dtype, compute_dtype=grad.dtype)


def sqrt_backward(y, grad):
    return binary(y, grad, SQRT_BW)


def rsqrt_backward(y, grad):
    return binary(y, grad, RSQRT_BW)


def clamp_backward(x, grad, lo, hi):
    """Gradient flows where x was inside [lo, hi] (torch counts the bounds inside)."""
    inside = None
    if lo is not None:
        inside = ge(x, lo)
    if hi is not None:
        upper = le(x, hi)
        inside = upper if inside is None else binary(inside, upper, AND, out_dtype=np.bool_)
    if inside is None:
        return unary(grad, COPY)
    return where(inside, grad, grad.dtype.type(0))


# ---- dtype ----------------------------------------------------------------------------
def astype(x, dtype):
    """Cast to a numpy dtype (always a new buffer)."""
    dtype = np.dtype(dtype)
    out = empty(x.shape, dtype)
    return copy_to(out, x)
