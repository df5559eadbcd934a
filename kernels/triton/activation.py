"""Fused GELU and its gradient on the `cuda` device. Must match
`kernels/reference/activation.py`.

gelu(x, approximate) -> y, x's shape and dtype; gelu_backward(x, grad, approximate) ->
dx, from the saved input x and the upstream gradient (x's shape). Any view in (the
strides go to the kernel, as in kernels/triton/elementwise.py's 4-d strided scheme),
a new contiguous buffer out. float16 is loaded, computed in float32, rounded once.

    "none": y = x Φ(x)              dx = g (Φ(x) + x φ(x)),  φ(x) = e^(-x²/2) / √(2π)
    "tanh": y = x σ(2u)             dx = g (σ(2u) + 2x σ(2u) σ(-2u) u')
            u = √(2/π) (x + 0.044715 x³), torch's approximation (1 + tanh(u) = 2σ(2u))

The naive version composes public ops: an erfc series of 17-28 terms makes ~50 kernels
forward and as many backward, each reading and writing the whole tensor (and, under
the interpreter, ~15 s for one registry sample). Here: one kernel each way, read x
(and g), write y (dx), so it runs at memory bandwidth.

Why a series and not tl.math.erf: Triton has erf (it runs under the interpreter too,
as math.erf per element) but no erfc, and Φ(x) = (1 + erf(x/√2)) / 2 cancels for
x < 0: already at x = -6 in float32 it is 0, where the true gelu is -6e-9. So Φ comes,
as on the CPU, from erfc(z) = t exp(-z² + P(t)), z = |x|/√2, t = 2/(2+z), P a Chebyshev
series in 4t - 2 summed by Clenshaw's recurrence (Numerical Recipes, 3rd ed., §6.2.2;
kernels/numba/activation.py has the coefficients and the accuracy): 16 steps in float32,
27 in float64, each a multiply-add; for x < 0 that erfc/2 is Φ itself, so the negative
tail keeps its relative precision. The tanh form takes σ(2u) from e = e^(-2|u|) (never
overflows), and σ(2u) σ(-2u) = e / (1 + e)² for its gradient.
"""
import numpy as np
import triton
import triton.language as tl

from kernels.triton import _launch
from kernels.triton.buffer import broadcast_to, empty
from kernels.triton.elementwise import _split4, astype


@triton.jit
def _normal_cdf(x, FP64: tl.constexpr):
    """Φ(x) = erfc(-x/√2) / 2: erfc(|x|/√2)/2 for x < 0, 1 minus it above."""
    z = tl.abs(x) * 0.7071067811865476                # 1/√2
    t = 2.0 / (2.0 + z)
    ty = 4.0 * t - 2.0
    d = tl.zeros_like(x)
    dd = tl.zeros_like(x)
    if FP64:  # c27 ... c17, below float32's resolution
        d, dd = ty * d - dd - 2.8e-17, d
        d, dd = ty * d - dd + 1.21e-16, d
        d, dd = ty * d - dd - 9.4e-17, d
        d, dd = ty * d - dd - 1.523e-15, d
        d, dd = ty * d - dd + 7.106e-15, d
        d, dd = ty * d - dd + 3.81e-16, d
        d, dd = ty * d - dd - 1.12708e-13, d
        d, dd = ty * d - dd + 3.13092e-13, d
        d, dd = ty * d - dd + 8.94487e-13, d
        d, dd = ty * d - dd - 6.886027e-12, d
        d, dd = ty * d - dd + 2.394038e-12, d
    d, dd = ty * d - dd + 9.6467911e-11, d             # c16 ... c1
    d, dd = ty * d - dd - 2.27365122e-10, d
    d, dd = ty * d - dd - 9.91364156e-10, d
    d, dd = ty * d - dd + 5.059343495e-9, d
    d, dd = ty * d - dd + 6.529054439e-9, d
    d, dd = ty * d - dd - 8.5238095915e-8, d
    d, dd = ty * d - dd + 1.5626441722e-8, d
    d, dd = ty * d - dd + 1.303655835580e-6, d
    d, dd = ty * d - dd - 1.624290004647e-6, d
    d, dd = ty * d - dd - 2.0278578112534e-5, d
    d, dd = ty * d - dd + 4.2523324806907e-5, d
    d, dd = ty * d - dd + 3.66839497852761e-4, d
    d, dd = ty * d - dd - 9.46595344482036e-4, d
    d, dd = ty * d - dd - 9.561514786808631e-3, d
    d, dd = ty * d - dd + 1.9476473204185836e-2, d
    d, dd = ty * d - dd + 6.4196979235649026e-1, d
    # z² as x·x/2: one rounding, not two. c0 = -1.3026537197817094.
    tail = 0.5 * t * tl.exp(-(0.5 * x * x) + 0.5 * (ty * d - 1.3026537197817094) - dd)
    return tl.where(x >= 0, 1.0 - tail, tail)


@triton.jit
def _tanh_form(x):
    """(σ(2u), 2 σ(2u) σ(-2u) u'), u = √(2/π) (x + 0.044715 x³)."""
    u = 0.7978845608028654 * (x + 0.044715 * x * x * x)   # √(2/π) (x + κ x³)
    e = tl.exp(-2.0 * tl.abs(u))
    r = 1.0 / (1.0 + e)
    s = tl.where(u >= 0, r, e * r)
    return s, 2.0 * (e * r * r) * (0.7978845608028654 * (1.0 + 0.134145 * x * x))


@triton.jit
def gelu_forward_kernel(x_ptr, out_ptr, n, D1, D2, D3,
                        stride_x0, stride_x1, stride_x2, stride_x3,
                        stride_o0, stride_o1, stride_o2, stride_o3,
                        TANH: tl.constexpr, UPCAST: tl.constexpr, FP64: tl.constexpr,
                        BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    i0, i1, i2, i3 = _split4(i, D1, D2, D3)
    x = tl.load(x_ptr + i0 * stride_x0 + i1 * stride_x1 + i2 * stride_x2 + i3 * stride_x3,
                mask=mask)
    if UPCAST:
        x = x.to(tl.float32)
    if TANH:
        s, _ = _tanh_form(x)
        y = x * s
    else:
        y = x * _normal_cdf(x, FP64)
    tl.store(out_ptr + i0 * stride_o0 + i1 * stride_o1 + i2 * stride_o2 + i3 * stride_o3,
             y.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def gelu_backward_kernel(x_ptr, g_ptr, out_ptr, n, D1, D2, D3,
                         stride_x0, stride_x1, stride_x2, stride_x3,
                         stride_g0, stride_g1, stride_g2, stride_g3,
                         stride_o0, stride_o1, stride_o2, stride_o3,
                         TANH: tl.constexpr, UPCAST: tl.constexpr, FP64: tl.constexpr,
                         BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    i0, i1, i2, i3 = _split4(i, D1, D2, D3)
    x = tl.load(x_ptr + i0 * stride_x0 + i1 * stride_x1 + i2 * stride_x2 + i3 * stride_x3,
                mask=mask)
    g = tl.load(g_ptr + i0 * stride_g0 + i1 * stride_g1 + i2 * stride_g2 + i3 * stride_g3,
                mask=mask)
    if UPCAST:
        x = x.to(tl.float32)
        g = g.to(tl.float32)
    if TANH:
        s, ds = _tanh_form(x)
        slope = s + x * ds
    else:
        pdf = 0.3989422804014327 * tl.exp(-(0.5 * x * x))     # 1/√(2π) e^(-x²/2)
        slope = _normal_cdf(x, FP64) + x * pdf
    tl.store(out_ptr + i0 * stride_o0 + i1 * stride_o1 + i2 * stride_o2 + i3 * stride_o3,
             (g * slope).to(out_ptr.dtype.element_ty), mask=mask)


# ---- launching ------------------------------------------------------------------------
def _launch_gelu(kernel, operands, approximate):
    """kernel over operands (viewed at operands[0]'s shape) into a new buffer of x's dtype."""
    x = operands[0]
    out = empty(x.shape, x.dtype)
    if out.size == 0:
        return out

    def launch(ptrs, sizes, strides, n):
        block = _launch.elementwise_block(n)
        kernel[(_launch.cdiv(n, block),)](
            *ptrs, n, sizes[1], sizes[2], sizes[3], *[s for st in strides for s in st],
            TANH=approximate == "tanh", UPCAST=x.dtype == np.float16,
            FP64=x.dtype == np.float64, BLOCK=block)
    _launch.strided_launch(launch, x.shape, [*operands, out])
    return out


def gelu(x, approximate):
    return _launch_gelu(gelu_forward_kernel, [x], approximate)


def gelu_backward(x, grad, approximate):
    if grad.dtype != x.dtype:
        grad = astype(grad, x.dtype)
    return _launch_gelu(gelu_backward_kernel, [x, broadcast_to(grad, x.shape)], approximate)
