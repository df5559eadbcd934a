"""The Numba CPU backend: the reference's table of kernels, compiled.

Same names and signatures as `kernels.reference` (tests/test_backends.py checks it),
same results (dtype, shape; floats within rounding; tests/test_numba_kernels.py).
Every jitted kernel is compiled once per dtype and layout and cached on disk
(`cache=True`); the elementwise ufuncs build their loops on an op's first call.

- creation: the reference's (CPU storage is numpy).
- elementwise: `@numba.vectorize` kernels called as numpy ufuncs (~0.2 µs per call).
- matmul: naive → 4×4 register blocks → cache tiles + threads (matmul_kernel1..3).
- movement: views are the reference's; strided copy, cat, pad, gather, index_add,
  copy_into and fill are kernels.
- reduce: rows / middle-axis kernels, float64 accumulation, threads when large.
- softmax: one kernel per row (max, exp-and-sum, scale), any axis, no transposed copy.
"""
from kernels.numba.creation import arange, from_host, full, to_host
from kernels.numba.elementwise import (
    abs, add, astype, clamp, clamp_backward, cos, div, eq, exp, ge, gt, le, log, lt, maximum,
    minimum, mul, ne, neg, pow, relu, relu_backward, rsqrt, rsqrt_backward, sigmoid,
    sigmoid_backward, sign, sin, sqrt, sqrt_backward, sub, tanh, tanh_backward, where)
from kernels.numba.matmul import matmul
from kernels.numba.movement import (
    cat, contiguous_copy, copy_into, expand, fill, gather, index_add, pad, permute, reshape,
    slice)
from kernels.numba.reduce import (
    amax, amin, argmax, argmin, logsumexp, prod, sum, sum_to_shape)
from kernels.numba.softmax import (
    log_softmax, log_softmax_backward, softmax, softmax_backward)

__all__ = [
    # creation
    "arange", "from_host", "full", "to_host",
    # elementwise
    "abs", "add", "astype", "clamp", "clamp_backward", "cos", "div", "eq", "exp", "ge", "gt",
    "le", "log", "lt", "maximum", "minimum", "mul", "ne", "neg", "pow", "relu",
    "relu_backward", "rsqrt", "rsqrt_backward", "sigmoid", "sigmoid_backward", "sign", "sin",
    "sqrt", "sqrt_backward", "sub", "tanh", "tanh_backward", "where",
    # matmul
    "matmul",
    # movement
    "cat", "contiguous_copy", "copy_into", "expand", "fill", "gather", "index_add", "pad",
    "permute", "reshape", "slice",
    # reductions
    "amax", "amin", "argmax", "argmin", "logsumexp", "prod", "sum", "sum_to_shape",
    # softmax family
    "log_softmax", "log_softmax_backward", "softmax", "softmax_backward",
]
