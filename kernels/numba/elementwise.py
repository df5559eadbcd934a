"""Elementwise kernels, Numba CPU. Must match `kernels/reference/elementwise.py`.

What it computes: one output element per (broadcast) input element, as numpy does:
`add(a, b)`, `exp(x)`, ..., and the fused gradient formulas `*_backward(saved, grad)`
that the ops call in backward (tanh, sigmoid, sqrt, rsqrt from the saved output;
relu and clamp from the saved input). Shapes broadcast as in numpy (= torch); the
result dtype is numpy's (NEP 50: a numpy scalar or 0-d array keeps its own dtype,
a Python scalar takes the array's), and the result is always an ndarray, 0-d
included (a ufunc on 0-d inputs returns a numpy scalar; we wrap it).

The math is one line per op, written once as a scalar function:

    for i in range(n): out[i] = f(a[i], b[i])

Memory traffic: read every input element once, write the output once, so a
large op runs at memory bandwidth; a small one (the engine's chains of
shape-(4,) ops) is all call overhead, and that is what this file optimizes.

Optimizations and why:
- Each scalar function is a `@numba.vectorize` kernel, and we call the numpy ufunc
  it builds (`kernel.ufunc`) rather than the Numba object: numpy's C ufunc
  machinery then does broadcasting, strides (negative, zero) and the loop,
  at ~0.2 µs per call on shape (4,), against ~0.7 µs through the
  DUFunc's Python-level `__call__` (measured, numba 0.68, AMD EPYC).
- Each ufunc gets its loops in numpy's order (int64, float32, float64), so numpy's
  own type resolution picks the loop np.add would, or a wider one: float32 stays
  float32, int32 + float32 goes to float64, and the choice does not depend on which
  dtypes happened to be compiled first (a lazily typed DUFunc appends loops in
  first-use order, and compiles int32 + int32 as int64: Numba widens integers).
- Where numpy has a narrower loop than ours (bool, int32, float16), the result is
  cast back to numpy's dtype: exact for integers (modular arithmetic agrees), and
  bit-identical for a single float16 operation, since numpy's float16 loops also
  compute in float32 and round once. These dtypes take the slow path (~1 µs more).
- The loops are compiled on the op's first call, not at import: numba caches the
  scalar kernel on disk (`cache=True`) but rebuilds the ufunc loop around it in
  every process, ~40 ms per loop; three loops per op rather than five (bool and
  int32 too) cuts what a process pays before its first step by 40%.
- exp and sigmoid use kernels/numba/_vecmath.py's exp: for float32 a polynomial with
  no call and no branch, so the ufunc loop vectorizes (4M float32: 1.2 ms, against
  ~7 ms for the C library's expf one element at a time and 1.7 ms for np.exp); error
  <= 1.4 ulp, and results below float32's smallest normal (x < -87.3) are 0, not
  subnormal. float64 uses the C library. sigmoid is branch-free on e = exp(-|x|)
  (never overflows) and stays in float32 for float32 (4M: 1.5 ms; the reference 58 ms).
- Comparisons are written so that a NaN never reaches an x86 vector compare that
  would raise the 'invalid' flag (numpy would turn it into a RuntimeWarning that its
  own ops never give): see "quiet comparisons" below.
- The fused gradients compute their intermediates in float64 (Numba types a Python
  literal as float64), then round once to the output dtype: at least as accurate
  as the reference, which rounds after every step.
"""
import builtins
import math

import numba
import numba.np.numpy_support
import numpy as np
from numba import types
from numba.extending import overload

from kernels.numba._fused import expm1_
from kernels.numba._vecmath import exp as vexp

_ndarray = np.ndarray

# Loop signatures, in numpy's own loop order so that its type resolution agrees.
_FLOATS = ("float32", "float64")
_NUMERIC = ("int64",) + _FLOATS


def _same(types, nin):
    """One loop per type, all operands and the result of that type: 'f4(f4,f4)'."""
    return [f"{t}({','.join([t] * nin)})" for t in types]


class _Ufunc:
    """The numpy ufunc behind one vectorize kernel, built on the op's first call.

    `result_dtype(*args)` is the dtype numpy's version of the op gives (and raises as
    numpy does for operands it rejects); it is consulted only off the fast path.
    """
    __slots__ = ("kernel", "loops", "result_dtype", "call")

    def __init__(self, kernel, loops, result_dtype):
        self.kernel, self.loops, self.result_dtype = kernel, loops, result_dtype
        self.call = self._first_call

    def _first_call(self, *args):
        kernel = self.kernel
        if kernel.ufunc.ntypes:
            # Called directly before: its loops are in first-use order, not numpy's.
            kernel = numba.vectorize(self.loops, cache=True)(kernel._dispatcher.py_func)
        else:
            for signature in self.loops:
                kernel.add(signature)
        self.call = kernel.ufunc
        return self.call(*args)


def _operand_dtype(a):
    """What numpy's promotion sees: an array's dtype, or a Python scalar's type (weak)."""
    dtype = getattr(a, "dtype", None)
    if dtype is not None:
        return dtype
    if type(a) in (int, float, complex):
        return type(a)
    return np.asarray(a).dtype


def _like(ufunc):
    """Result dtype rule of a numpy ufunc, e.g. _like(np.exp)(int32 array) -> float64."""
    def result_dtype(*args):
        return ufunc.resolve_dtypes(tuple(map(_operand_dtype, args)) + (None,))[-1]
    return result_dtype


def _dtype_of_arg(i):
    """Result dtype rule 'the dtype of argument i' (relu(x) -> x.dtype, *_backward -> grad)."""
    def result_dtype(*args):
        return np.asarray(args[i]).dtype
    return result_dtype


def _settle(op, out, args):
    """Off the fast path: numpy's result dtype and an ndarray, whatever loop ran."""
    return np.asarray(out, dtype=op.result_dtype(*args))


# One helper per calling pattern. The fast path holds when every operand already has
# the result's dtype (the common case: float32 everywhere): then the loop numpy chose
# is the one numpy's own op would have chosen, and only a 0-d result needs wrapping.
def _unary(op, x):
    out = op.call(x)
    try:
        same = x.dtype is out.dtype
    except AttributeError:
        same = False
    if same:
        return out if out.__class__ is _ndarray else np.asarray(out)
    return _settle(op, out, (x,))


def _binary(op, a, b):
    out = op.call(a, b)
    try:
        same = a.dtype is b.dtype is out.dtype
    except AttributeError:             # a Python scalar operand
        same = False
    if same:
        return out if out.__class__ is _ndarray else np.asarray(out)
    return _settle(op, out, (a, b))


def _compare(op, a, b):
    # Comparisons are exact in any loop wide enough for both operands (numpy only
    # picks such loops), and the result is bool: only a 0-d result needs fixing.
    out = op.call(a, b)
    return out if out.__class__ is _ndarray else np.asarray(out)


# ---- quiet comparisons ------------------------------------------------------------
# x86 vector compares for <, <=, >, >= raise the 'invalid' flag on a NaN lane (== and !=
# do not), and numpy turns that flag into "RuntimeWarning: invalid value encountered",
# which numpy's own comparisons never give. So NaN lanes are swapped for 0 (after a
# quiet == test) before a relational compare, and a compare with the constant 0 reads
# the sign bit (copysign) instead, since LLVM folds the swap away when one side is a
# constant. tests/test_numba_kernels.py checks that NaN inputs warn as numpy does.
@numba.njit(cache=True)
def _negative(x):
    return math.copysign(1.0, x) < 0 and x != 0 and x == x


@numba.njit(cache=True)
def _positive(x):
    return math.copysign(1.0, x) > 0 and x != 0 and x == x


@numba.njit(cache=True)
def _lt(a, b):
    ok = a == a and b == b
    return ok and (a if ok else 0) < (b if ok else 0)


@numba.njit(cache=True)
def _le(a, b):
    ok = a == a and b == b
    return ok and (a if ok else 0) <= (b if ok else 0)


# ---- binary, broadcasting -------------------------------------------------------
@numba.vectorize(cache=True)
def add_forward_kernel(a, b):
    return a + b


@numba.vectorize(cache=True)
def sub_forward_kernel(a, b):
    return a - b


@numba.vectorize(cache=True)
def mul_forward_kernel(a, b):
    return a * b


@numba.vectorize(cache=True)
def div_forward_kernel(a, b):
    return a / b


@numba.vectorize(cache=True)
def pow_forward_kernel(a, b):
    return a ** b


@numba.vectorize(cache=True)
def maximum_forward_kernel(a, b):
    # numpy's rule: NaN wins from either side.
    return a if (_le(b, a) or a != a) else b


@numba.vectorize(cache=True)
def minimum_forward_kernel(a, b):
    return a if (_le(a, b) or a != a) else b


@numba.vectorize(cache=True)
def eq_forward_kernel(a, b):
    return a == b


@numba.vectorize(cache=True)
def ne_forward_kernel(a, b):
    return a != b


@numba.vectorize(cache=True)
def lt_forward_kernel(a, b):
    return _lt(a, b)


@numba.vectorize(cache=True)
def le_forward_kernel(a, b):
    return _le(a, b)


@numba.vectorize(cache=True)
def gt_forward_kernel(a, b):
    return _lt(b, a)


@numba.vectorize(cache=True)
def ge_forward_kernel(a, b):
    return _le(b, a)


@numba.vectorize(cache=True)
def where_forward_kernel(cond, a, b):
    return a if cond else b


_ADD = _Ufunc(add_forward_kernel, _same(_NUMERIC, 2), _like(np.add))
_SUB = _Ufunc(sub_forward_kernel, _same(_NUMERIC, 2), _like(np.subtract))
_MUL = _Ufunc(mul_forward_kernel, _same(_NUMERIC, 2), _like(np.multiply))
# Integers divide in the float64 loop (numpy's int loops of true_divide also give float64).
_DIV = _Ufunc(div_forward_kernel, _same(_FLOATS, 2), _like(np.true_divide))
_POW = _Ufunc(pow_forward_kernel, _same(_NUMERIC, 2), _like(np.power))
_MAXIMUM = _Ufunc(maximum_forward_kernel, _same(_NUMERIC, 2), _like(np.maximum))
_MINIMUM = _Ufunc(minimum_forward_kernel, _same(_NUMERIC, 2), _like(np.minimum))
_COMPARE_LOOPS = [f"boolean({t},{t})" for t in _NUMERIC]
_EQ = _Ufunc(eq_forward_kernel, _COMPARE_LOOPS, _like(np.equal))
_NE = _Ufunc(ne_forward_kernel, _COMPARE_LOOPS, _like(np.not_equal))
_LT = _Ufunc(lt_forward_kernel, _COMPARE_LOOPS, _like(np.less))
_LE = _Ufunc(le_forward_kernel, _COMPARE_LOOPS, _like(np.less_equal))
_GT = _Ufunc(gt_forward_kernel, _COMPARE_LOOPS, _like(np.greater))
_GE = _Ufunc(ge_forward_kernel, _COMPARE_LOOPS, _like(np.greater_equal))
_WHERE = _Ufunc(where_forward_kernel, [f"{t}(boolean,{t},{t})" for t in _NUMERIC],
                lambda cond, a, b: np.result_type(a, b))


def add(a, b):
    return _binary(_ADD, a, b)


def sub(a, b):
    return _binary(_SUB, a, b)


def mul(a, b):
    return _binary(_MUL, a, b)


def div(a, b):
    return _binary(_DIV, a, b)


def pow(a, b):
    return _binary(_POW, a, b)


def maximum(a, b):
    return _binary(_MAXIMUM, a, b)


def minimum(a, b):
    return _binary(_MINIMUM, a, b)


def eq(a, b):
    return _compare(_EQ, a, b)


def ne(a, b):
    return _compare(_NE, a, b)


def lt(a, b):
    return _compare(_LT, a, b)


def le(a, b):
    return _compare(_LE, a, b)


def gt(a, b):
    return _compare(_GT, a, b)


def ge(a, b):
    return _compare(_GE, a, b)


def where(cond, a, b):
    try:
        out = _WHERE.call(cond, a, b)
    except TypeError:
        # No loop takes a non-bool condition (int -> bool is not a safe cast);
        # np.where reads it as truthiness, NaN included.
        out = _WHERE.call(np.asarray(cond).astype(bool), a, b)
    try:
        same = a.dtype is b.dtype is out.dtype
    except AttributeError:
        same = False
    if same:
        return out if out.__class__ is _ndarray else np.asarray(out)
    return _settle(_WHERE, out, (cond, a, b))


# ---- unary ---------------------------------------------------------------------
@numba.vectorize(cache=True)
def neg_forward_kernel(x):
    return -x


def _constant(x, value):
    """`value` in x's float type (a Python literal would make float32 math float64)."""


@overload(_constant)
def _constant_overload(x, value):
    make = numba.np.numpy_support.as_dtype(x).type
    return lambda x, value: make(value)


def _nan_to_zero(x):
    """(x, False), or (0, True) for a NaN x, decided on the bits: swapping NaN for 0 with
    a float select is undone by LLVM, which folds the select into the compares after it."""


@overload(_nan_to_zero)
def _nan_to_zero_overload(x):
    if x == types.float32:
        def impl(x):
            bits = np.float32(x).view(np.int32)
            nan = (bits & np.int32(0x7FFFFFFF)) > np.int32(0x7F800000)
            return np.int32(0 if nan else bits).view(np.float32), nan
        return impl
    if x == types.float64:
        def impl(x):
            bits = np.float64(x).view(np.int64)
            nan = (bits & np.int64(0x7FFFFFFFFFFFFFFF)) > np.int64(0x7FF0000000000000)
            return np.int64(0 if nan else bits).view(np.float64), nan
        return impl
    return None


@numba.njit(cache=True)
def _exp(x):
    """e^x with the SIMD polynomial (see the module docstring). Its range checks are
    compares that a NaN lane would flag as invalid (numpy then warns): NaN skips them."""
    xs, nan = _nan_to_zero(x)
    e = vexp(xs)
    return x if nan else e


@numba.vectorize(cache=True)
def exp_forward_kernel(x):
    return _exp(x)


@numba.vectorize(cache=True)
def log_forward_kernel(x):
    return np.log(x)


@numba.vectorize(cache=True)
def sqrt_forward_kernel(x):
    return np.sqrt(x)


@numba.vectorize(cache=True)
def rsqrt_forward_kernel(x):
    return 1 / np.sqrt(x)


@numba.vectorize(cache=True)
def abs_forward_kernel(x):
    return builtins.abs(x)      # this module's `abs` is the table function


@numba.vectorize(cache=True)
def sign_forward_kernel(x):
    if _positive(x):
        return 1
    if _negative(x):
        return -1
    return x                    # 0, -0.0 and NaN are their own sign, as in numpy


@numba.vectorize(cache=True)
def sin_forward_kernel(x):
    return np.sin(x)


@numba.vectorize(cache=True)
def cos_forward_kernel(x):
    return np.cos(x)


@numba.vectorize(cache=True)
def tanh_forward_kernel(x):
    # libm's tanhf runs one element at a time (~13 ns): tanh(|x|) = -m / (2 + m) with
    # m = expm1(-2|x|) is branch-free arithmetic that vectorizes (61 -> 1 ms on 4096x1024
    # float32), within ~2 ulp and accurate near 0 (expm1_, kernels/numba/_fused.py).
    # NaN is swapped for 0 before expm1_ (whose range checks would raise numpy's
    # invalid-value warning on it) and put back by a select: no branch, no warning.
    two = _constant(x, 2)
    finite = x if x == x else _constant(x, 0)
    m = expm1_(-two * builtins.abs(finite))
    t = -m / (m + two)
    t = -t if _negative(x) else t
    return t if x == x else x


@numba.vectorize(cache=True)
def sigmoid_forward_kernel(x):
    # exp only ever sees -|x| <= 0, so it never overflows: with e = e^-|x|,
    # σ(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) below (NaN: NaN). One exp, and a
    # select rather than a branch, so the loop vectorizes; float32 stays float32.
    e = _exp(-builtins.abs(x))
    r = _constant(x, 1) / (_constant(x, 1) + e)
    return e * r if _negative(x) else r


@numba.vectorize(cache=True)
def relu_forward_kernel(x):
    return 0 if _negative(x) else x     # NaN and -0.0 pass through, as np.maximum(x, 0)


_NEG = _Ufunc(neg_forward_kernel, _same(_NUMERIC, 1), _like(np.negative))
_EXP = _Ufunc(exp_forward_kernel, _same(_FLOATS, 1), _like(np.exp))
_LOG = _Ufunc(log_forward_kernel, _same(_FLOATS, 1), _like(np.log))
_SQRT = _Ufunc(sqrt_forward_kernel, _same(_FLOATS, 1), _like(np.sqrt))
_RSQRT = _Ufunc(rsqrt_forward_kernel, _same(_FLOATS, 1), _like(np.sqrt))
_ABS = _Ufunc(abs_forward_kernel, _same(_NUMERIC, 1), _like(np.abs))
_SIGN = _Ufunc(sign_forward_kernel, _same(_NUMERIC, 1), _like(np.sign))
_SIN = _Ufunc(sin_forward_kernel, _same(_FLOATS, 1), _like(np.sin))
_COS = _Ufunc(cos_forward_kernel, _same(_FLOATS, 1), _like(np.cos))
_TANH = _Ufunc(tanh_forward_kernel, _same(_FLOATS, 1), _like(np.tanh))


def _sigmoid_dtype(x):
    _like(np.negative)(x)       # the reference negates x: bool raises TypeError, as there
    return np.asarray(x).dtype  # and casts back to the input's dtype (relu too)


_SIGMOID = _Ufunc(sigmoid_forward_kernel, _same(_FLOATS, 1), _sigmoid_dtype)
_RELU = _Ufunc(relu_forward_kernel, _same(_NUMERIC, 1), _dtype_of_arg(0))


def neg(x):
    return _unary(_NEG, x)


def exp(x):
    return _unary(_EXP, x)


def log(x):
    return _unary(_LOG, x)


def sqrt(x):
    return _unary(_SQRT, x)


def rsqrt(x):
    return _unary(_RSQRT, x)


def abs(x):
    return _unary(_ABS, x)


def sign(x):
    return _unary(_SIGN, x)


def sin(x):
    return _unary(_SIN, x)


def cos(x):
    return _unary(_COS, x)


def tanh(x):
    return _unary(_TANH, x)


def sigmoid(x):
    return _unary(_SIGMOID, x)


def relu(x):
    return _unary(_RELU, x)


# ---- clamp ----------------------------------------------------------------------
@numba.vectorize(cache=True)
def clamp_forward_kernel(x, lo, hi):
    # np.minimum(np.maximum(x, lo), hi), NaN propagating from any operand.
    if x != x or lo != lo or hi != hi:
        return x + lo + hi
    y = x if _le(lo, x) else lo
    return y if _le(y, hi) else hi


@numba.vectorize(cache=True)
def clamp_backward_kernel(x, grad, lo, hi):
    # Bounds count as inside (torch); NaN x is outside.
    return grad if (_le(lo, x) and _le(x, hi)) else 0


_CLAMP = _Ufunc(clamp_forward_kernel, _same(_NUMERIC, 3),
                lambda x, lo, hi: np.result_type(x, lo, hi))
_CLAMP_BACKWARD = _Ufunc(clamp_backward_kernel, _same(_FLOATS, 4), _dtype_of_arg(1))


def _no_bound(dtype, upper):
    """A bound that never binds, in x's dtype: ±inf, or the integer range's end.

    None cannot enter a ufunc, so a missing bound becomes one that changes nothing
    and one kernel serves all three cases; its dtype is x's, so promotion is as before.
    """
    if dtype.kind == "f":
        return dtype.type(np.inf if upper else -np.inf)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return dtype.type(info.max if upper else info.min)
    return dtype.type(upper)                               # bool


def clamp(x, lo, hi):
    """lo and hi are numpy scalars or None (no bound on that side)."""
    if lo is None and hi is None:
        return np.array(x)                     # a copy: the result never aliases x
    x = x if x.__class__ is _ndarray else np.asarray(x)
    dtype = x.dtype
    lo_ = _no_bound(dtype, False) if lo is None else lo
    hi_ = _no_bound(dtype, True) if hi is None else hi
    out = _CLAMP.call(x, lo_, hi_)
    # The reference promotes only with the bounds given.
    try:
        same = ((lo is None or lo.dtype is dtype) and (hi is None or hi.dtype is dtype)
                and out.dtype is dtype)
    except AttributeError:
        same = False
    if same:
        return out if out.__class__ is _ndarray else np.asarray(out)
    return np.asarray(out, dtype=np.result_type(x, *(b for b in (lo, hi) if b is not None)))


def clamp_backward(x, grad, lo, hi):
    """Gradient flows where x was inside [lo, hi] (torch counts the bounds inside)."""
    x = x if x.__class__ is _ndarray else np.asarray(x)
    if lo is None and hi is None:
        shape = np.broadcast_shapes(x.shape, np.shape(grad))
        return np.array(np.broadcast_to(grad, shape))
    dtype = x.dtype
    lo = _no_bound(dtype, False) if lo is None else lo
    hi = _no_bound(dtype, True) if hi is None else hi
    out = _CLAMP_BACKWARD.call(x, grad, lo, hi)
    try:
        same = dtype is grad.dtype is out.dtype
    except AttributeError:
        same = False
    if same:
        return out if out.__class__ is _ndarray else np.asarray(out)
    return _settle(_CLAMP_BACKWARD, out, (x, grad, lo, hi))


# ---- fused gradients -----------------------------------------------------------
@numba.vectorize(cache=True)
def tanh_backward_kernel(y, grad):
    return grad * (1 - y * y)


@numba.vectorize(cache=True)
def sigmoid_backward_kernel(y, grad):
    return grad * y * (1 - y)


@numba.vectorize(cache=True)
def relu_backward_kernel(x, grad):
    return grad if _positive(x) else 0


@numba.vectorize(cache=True)
def sqrt_backward_kernel(y, grad):
    return grad / (2 * y)


@numba.vectorize(cache=True)
def rsqrt_backward_kernel(y, grad):
    return grad * (-0.5 * y * y * y)


_TANH_BACKWARD = _Ufunc(tanh_backward_kernel, _same(_FLOATS, 2), _like(np.multiply))
_SIGMOID_BACKWARD = _Ufunc(sigmoid_backward_kernel, _same(_FLOATS, 2), _like(np.multiply))
_RELU_BACKWARD = _Ufunc(relu_backward_kernel, _same(_FLOATS, 2), _dtype_of_arg(1))
_SQRT_BACKWARD = _Ufunc(sqrt_backward_kernel, _same(_FLOATS, 2), _like(np.true_divide))
_RSQRT_BACKWARD = _Ufunc(rsqrt_backward_kernel, _same(_FLOATS, 2), _like(np.multiply))


def tanh_backward(y, grad):
    """d tanh = 1 - tanh², from the saved output."""
    return _binary(_TANH_BACKWARD, y, grad)


def sigmoid_backward(y, grad):
    """d σ = σ (1 - σ), from the saved output."""
    return _binary(_SIGMOID_BACKWARD, y, grad)


def relu_backward(x, grad):
    return _binary(_RELU_BACKWARD, x, grad)


def sqrt_backward(y, grad):
    return _binary(_SQRT_BACKWARD, y, grad)


def rsqrt_backward(y, grad):
    """d x^-1/2 = -1/2 x^-3/2 = -y³/2."""
    return _binary(_RSQRT_BACKWARD, y, grad)


# ---- dtype ---------------------------------------------------------------------
def astype(x, dtype):
    """Cast to a numpy dtype (always a new array). A cast is numpy's job, not a kernel's."""
    out = x.astype(dtype)
    return out if out.__class__ is _ndarray else np.asarray(out)
