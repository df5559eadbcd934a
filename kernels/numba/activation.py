"""Fused GELU and its gradient, Numba CPU. Must match `kernels/reference/activation.py`.

gelu(x, approximate) -> y = x Φ(x) ("none") or x σ(2u), u = √(2/π) (x + 0.044715 x³)
("tanh", torch's approximation; 1 + tanh(u) = 2σ(2u)). gelu_backward(x, grad,
approximate) -> grad · (Φ(x) + x φ(x)) or grad · (σ(2u) + 2x σ(2u) σ(-2u) u'), from the
saved input. Any shape and layout in, C-contiguous out, x's dtype (float16 computed in
float32 and rounded once, as on cuda).

The naive version is what engine.nn.functional.gelu used to be: Φ from public ops, an
erfc series of 17-28 terms, so ~50 ops (and graph nodes) forward and as many backward,
each reading and writing the whole tensor: ~100 passes over memory. Here it is one
loop: read x, write y (backward: read x and grad, write dx).

Φ(x) = erfc(-x/√2) / 2, and erfc(-z) = 2 - erfc(z): one erfc of z = |x|/√2 >= 0 serves
both signs, and for x < 0 it is the small tail itself, so gelu keeps its relative
precision far into the negative tail (gelu(-37) ≈ -6e-298 in float64, relative error
~x²/2 ulp: the conditioning of e^(-x²/2) itself), where 1 + erf(x/√2) would have
cancelled to 0. z² enters as x·x/2 (one rounding, not two). Everything is branch-free
arithmetic and exp_ (kernels/numba/_fused.py, which vectorizes), where math.erfc would
be a libm call per element. exp_ gives 0 below the smallest normal number, so gelu is 0
below about x = -37.6 (float64) / -13.19 (float32); its true value is subnormal from
about -37.6 / -13.14 down (float32 gives a subnormal or 0 in between).

Version 1 (float64 still): erfc(z) = t exp(-z² + P(t)), t = 2/(2+z), P a Chebyshev
series in 4t - 2 (Numerical Recipes, 3rd ed., §6.2.2) of 27 terms, summed by Clenshaw's
recurrence: relative error below 2e-15 for every z >= 0. Float32 took the first 17
terms. The gradient's φ is a second exp_. 4096×1024 float32, one thread: 5.7 ms
forward, 6.5 ms backward (~1.4 ns an element; torch's vectorized erf: ~0.5 ns).

Version 2 (float32): erfc(z) = e^(-z²) Q(t), Q(t) = erfcx(z) written in t = 2/(2+z),
a polynomial of degree 10 (ERFCX32_COEFFICIENTS, Horner). What made it cheaper:
- float32 only needs z <= 9.3 (below x ≈ -13.2, e^(-x²/2) is under the smallest normal
  float and exp_ gives 0), i.e. t in [0.177, 1], not all of [0, 1]. Fitted on
  [0.17, 1] (least squares weighted by 1/Q, reweighted toward minimax, against scipy's
  erfcx), Q's relative error is 5e-9 (degree 9: 3e-8, a third of an ulp). Outside that
  range Q stays finite and e^(-z²) is 0.
- e^(-x²/2) is the factor φ needs too, so backward computes one exp_, not two (LLVM
  sees the same inlined expression twice and keeps one).
- The loops are compiled with fastmath={"contract"}: a·b + c becomes one FMA (one
  rounding instead of two: nothing lost; nothing is reassociated), so the polynomial is
  10 instructions. Float64's Clenshaw steps get FMAs too: 24.4 -> 20.2 ms forward,
  30.8 -> 24.9 ms backward (the tanh form: unchanged within noise).
Measured (4096×1024 float32, one thread, medians of the block loops): forward 5.7 ->
1.8 ms without contract -> 1.25 ms with it; backward 6.5 -> 1.4 ms. Still one packed
(zmm) loop. Accuracy over every 16th float32 in [-14, 10] (137M points) against the
float64 reference, where gelu is a normal float32: forward within 7.2 ulp for |x| < 3
(version 1: 13.4), 1 ulp above; backward within 6.6 ulp (version 1: 6.0) of the larger of
Φ and xφ (their sum cancels near x = -0.75), 1.5 ulp above 3; in the tail, relative
error within 0.25 of the x² ulp bound of tests/test_activation_kernels.py (forward and
backward) down to x = -13.14, where version 1 already returned 0 (from -13.1; it was
within 0.65 of the bound down to -13). The dense-grid test there asserts these bounds.
Measured and not taken (same loop, medians, version 2 at 1.27 ms):
- version 1 cut to 14 terms (c14 and beyond are below 1e-9): 5.7 -> 4.9 ms;
- Φ = 1/2 + x R(x²) for |x| < c, R a polynomial fitted like Q (no division, no exp),
  version 2 elsewhere. A select in the loop computes both: 1.68 ms (c = 2, R of degree
  8), 1.55 ms (c = 1, degree 5). Blocks of 16 that take R when all their |x| < c, else
  version 2: 3.7 ms (c = 2), 2.0 ms (c = 1); the branch costs more than it saves on
  randn data. For x < 0 the 1/2 + ... also cancels: 41 ulp of Φ near x = -2 (c = 2).

The helpers are inlined into the loops at Numba's level (`inline="always"`): left to
LLVM, the series stayed a call and the loop scalar (4096×1024 float32, one thread:
184 ms -> 5.7 ms forward, version 1). The tanh form is one exp_ an element (1.3 ms).

Threads: the flat array is cut into blocks of _BLOCK elements, one prange task each,
when it holds at least _PARALLEL_SIZE elements (below that, waking the thread team
costs more than the loop).
"""
import math

import numba
import numpy as np
from numba import prange, types
from numba.extending import overload

from kernels.numba._fused import exp_
from kernels.numba._launch import kernel, launch

_OPTIONS = {"cache": True, "error_model": "numpy"}   # numpy: no ZeroDivisionError branch
_LOOP_OPTIONS = {**_OPTIONS, "fastmath": {"contract"}}  # FMAs: 1.8 -> 1.25 ms (docstring)
_PARALLEL_SIZE = 1 << 15      # elements: below this a thread launch (~1 µs) does not pay
_BLOCK = 1 << 13              # elements per parallel task

# Version 1, float64: erfc(z) = t exp(-z² + P(t)): P's Chebyshev coefficients, c0 first.
ERFC_COEFFICIENTS = (
    -1.3026537197817094, 6.4196979235649026e-1, 1.9476473204185836e-2,
    -9.561514786808631e-3, -9.46595344482036e-4, 3.66839497852761e-4, 4.2523324806907e-5,
    -2.0278578112534e-5, -1.624290004647e-6, 1.303655835580e-6, 1.5626441722e-8,
    -8.5238095915e-8, 6.529054439e-9, 5.059343495e-9, -9.91364156e-10, -2.27365122e-10,
    9.6467911e-11, 2.394038e-12, -6.886027e-12, 8.94487e-13, 3.13092e-13, -1.12708e-13,
    3.81e-16, 7.106e-15, -1.523e-15, -9.4e-17, 1.21e-16, -2.8e-17)

# Version 2, float32: erfc(z) = e^(-z²) Q(t), Q(t) = Σ q_k t^k ≈ erfcx(z) for t in
# [0.17, 1] (z <= 9.76), relative error 5e-9; q0 first. q0 ≈ 0 and q1 ≈ 1/(2√π): for
# large z, erfcx(z) ≈ 1/(√π z) ≈ t/(2√π).
ERFCX32_COEFFICIENTS = (
    9.11050574e-06, 0.281830996, 0.285428673, 0.222618252, 0.288190633, -0.259092748,
    0.696189404, -0.980076194, 0.650236726, -0.213766918, 0.0284320936)


def cdf_(x):
    """Φ(x), the standard normal CDF, for one float32/float64 element; vectorizable."""
    raise NotImplementedError("only callable from a numba kernel")


def pdf_(x):
    """φ(x) = e^(-x²/2) / √(2π); vectorizable."""
    raise NotImplementedError("only callable from a numba kernel")


def tanh_parts_(x):
    """(σ(2u), 2 σ(2u) σ(-2u) u') of the tanh form; vectorizable."""
    raise NotImplementedError("only callable from a numba kernel")


def _dtype(x):
    """x's float type: constants made with it keep float32 math in float32 (a Python
    float would promote it to float64)."""
    return np.float32 if x == types.float32 else np.float64


# In the order the loops read them: q10 ... q0 (Horner), c27 ... c1 (Clenshaw).
_ERFCX32 = np.array(ERFCX32_COEFFICIENTS[::-1], dtype=np.float32)
_SERIES64 = np.array(ERFC_COEFFICIENTS[:0:-1], dtype=np.float64)


@overload(cdf_, jit_options=_OPTIONS, inline="always")
def _cdf_overload(x):
    dtype = _dtype(x)
    zero, half, one, two, four = dtype(0), dtype(0.5), dtype(1), dtype(2), dtype(4)
    c0, rsqrt2 = dtype(ERFC_COEFFICIENTS[0]), dtype(1 / math.sqrt(2))
    if dtype is np.float32:
        q, m = _ERFCX32, _ERFCX32.shape[0]

        def impl32(x):
            # erfc(z) = e^(-z²) Q(t), z = |x|/√2; e^(-z²) = e^(-x·x/2), as in pdf_. Then
            # Φ = 1 - erfc(z)/2 for x >= 0, erfc(z)/2 below (NaN stays NaN).
            t = two / (two + abs(x) * rsqrt2)
            p = q[0]
            for k in range(1, m):              # Horner, q10 down to q0
                p = p * t + q[k]
            tail = half * p * exp_(-(half * x * x))
            return one - tail if x >= zero else tail
        return impl32
    series = _SERIES64
    n = series.shape[0]

    def impl(x):
        # erfc(z), z = |x|/√2, by the series; z² = x·x/2. Then Φ = 1 - erfc(z)/2 for
        # x >= 0, erfc(z)/2 below (NaN compares false and stays NaN).
        z = abs(x) * rsqrt2
        t = two / (two + z)
        ty = four * t - two
        d = zero
        dd = zero
        for k in range(n):                     # Clenshaw's recurrence, c_n down to c1
            d, dd = ty * d - dd + series[k], d
        tail = half * t * exp_(-(half * x * x) + half * (ty * d + c0) - dd)
        return one - tail if x >= zero else tail
    return impl


@overload(pdf_, jit_options=_OPTIONS, inline="always")
def _pdf_overload(x):
    dtype = _dtype(x)
    half, rsqrt_2pi = dtype(0.5), dtype(1 / math.sqrt(2 * math.pi))
    return lambda x: rsqrt_2pi * exp_(-(half * x * x))


@overload(tanh_parts_, jit_options=_OPTIONS, inline="always")
def _tanh_parts_overload(x):
    dtype = _dtype(x)
    zero, one, two = dtype(0), dtype(1), dtype(2)
    beta, kappa, kappa3 = dtype(math.sqrt(2 / math.pi)), dtype(0.044715), dtype(3 * 0.044715)

    def impl(x):
        # σ(2u) and σ(2u) σ(-2u) = e / (1 + e)² from e = e^-2|u| <= 1: nothing overflows.
        u = beta * (x + kappa * x * x * x)
        e = exp_(-two * abs(u))
        r = one / (one + e)
        s = r if u >= zero else e * r
        return s, two * (e * r * r) * (beta * (one + kappa3 * x * x))
    return impl


# ---- the kernels ------------------------------------------------------------------------
# Each loop runs over 1-d C-contiguous slices indexed from 0: a known unit stride and an
# index with no wraparound check are what let LLVM vectorize it (kernels/numba/dropout.py).
@numba.njit(**_LOOP_OPTIONS)
def _forward_block(x, tanh_form, out):
    if tanh_form:
        for i in range(x.shape[0]):
            out[i] = x[i] * tanh_parts_(x[i])[0]
    else:
        for i in range(x.shape[0]):
            out[i] = x[i] * cdf_(x[i])


@numba.njit(**_LOOP_OPTIONS)
def _backward_block(x, grad, tanh_form, out):
    if tanh_form:
        for i in range(x.shape[0]):
            s, ds = tanh_parts_(x[i])
            out[i] = grad[i] * (s + x[i] * ds)
    else:
        for i in range(x.shape[0]):
            out[i] = grad[i] * (cdf_(x[i]) + x[i] * pdf_(x[i]))


@kernel(error_model="numpy")
def gelu_forward_kernel(x, tanh_form, out):
    """out = gelu(x); x, out flat and contiguous (typed 'A': the views below are 'C')."""
    _forward_block(np.ascontiguousarray(x), tanh_form, np.ascontiguousarray(out))


@kernel(parallel=True, error_model="numpy")
def gelu_forward_parallel_kernel(x, tanh_form, out):
    xc = np.ascontiguousarray(x)
    oc = np.ascontiguousarray(out)
    for blk in prange((x.shape[0] + _BLOCK - 1) // _BLOCK):
        start = blk * _BLOCK
        _forward_block(xc[start:start + _BLOCK], tanh_form, oc[start:start + _BLOCK])


@kernel(error_model="numpy")
def gelu_backward_kernel(x, grad, tanh_form, out):
    _backward_block(np.ascontiguousarray(x), np.ascontiguousarray(grad), tanh_form,
                    np.ascontiguousarray(out))


@kernel(parallel=True, error_model="numpy")
def gelu_backward_parallel_kernel(x, grad, tanh_form, out):
    xc = np.ascontiguousarray(x)
    gc = np.ascontiguousarray(grad)
    oc = np.ascontiguousarray(out)
    for blk in prange((x.shape[0] + _BLOCK - 1) // _BLOCK):
        start = blk * _BLOCK
        _backward_block(xc[start:start + _BLOCK], gc[start:start + _BLOCK], tanh_form,
                        oc[start:start + _BLOCK])


def _flat(a, dtype, shape):
    """a broadcast to `shape`, as a C-contiguous 1-d array of `dtype` (a copy only when
    a is not already one: a transposed or strided view, a broadcast grad, float16)."""
    return np.ascontiguousarray(np.broadcast_to(a, shape), dtype=dtype).reshape(-1)


def _compute_dtype(x):
    return np.dtype(np.float32) if x.dtype == np.float16 else x.dtype


def gelu(x, approximate):
    out = np.empty(x.shape, dtype=_compute_dtype(x))
    if out.size:
        fn = gelu_forward_parallel_kernel if out.size >= _PARALLEL_SIZE else gelu_forward_kernel
        launch(fn, _flat(x, out.dtype, x.shape), approximate == "tanh", out.reshape(-1))
    return out.astype(x.dtype, copy=False)


def gelu_backward(x, grad, approximate):
    out = np.empty(x.shape, dtype=_compute_dtype(x))
    if out.size:
        fn = (gelu_backward_parallel_kernel if out.size >= _PARALLEL_SIZE
              else gelu_backward_kernel)
        launch(fn, _flat(x, out.dtype, x.shape), _flat(grad, out.dtype, x.shape),
               approximate == "tanh", out.reshape(-1))
    return out.astype(x.dtype, copy=False)
