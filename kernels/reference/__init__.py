"""The numpy reference backend: the oracle. Short, obviously correct, not fast."""
from kernels.reference.creation import arange, from_host, full, to_host
from kernels.reference.elementwise import (
    abs, add, astype, clamp, clamp_backward, cos, div, eq, exp, ge, gt, le, log, lt, maximum,
    minimum, mul, ne, neg, pow, relu, relu_backward, rsqrt, rsqrt_backward, sigmoid,
    sigmoid_backward, sign, sin, sqrt, sqrt_backward, sub, tanh, tanh_backward, where)
from kernels.reference.matmul import matmul
from kernels.reference.movement import (
    cat, contiguous_copy, copy_into, expand, fill, gather, index_add, pad, permute, reshape,
    slice)
from kernels.reference.reduce import (
    amax, amin, argmax, argmin, logsumexp, prod, sum, sum_to_shape)
from kernels.reference.softmax import (
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
