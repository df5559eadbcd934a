"""The Numba CPU backend: the reference's table of kernels, compiled.

Same names and signatures as `kernels.reference` (tests/test_backends.py checks it),
same results (dtype, shape; floats within rounding; tests/test_numba_kernels.py).
Every jitted kernel is compiled once per dtype, for any strides (_launch.py), and
cached on disk (`cache=True`); the elementwise ufuncs build their loops on an op's
first call (~40 ms a loop, in every process: Numba does not cache those).

- creation: the reference's (CPU storage is numpy).
- activation: fused GELU (erfc series or tanh form) and its gradient, one vectorized
  loop each way, threads when large.
- elementwise: `@numba.vectorize` kernels called as numpy ufuncs (~0.2 µs per call).
- matmul: naive → 4×4 register blocks → cache tiles + threads (matmul_kernel1..3).
- movement: views are the reference's; strided copy, cat, pad, gather, index_add,
  copy_into and fill are kernels.
- reduce: rows / middle-axis kernels, float64 accumulation, threads when large.
- softmax: one kernel per row (max, exp-and-sum, scale), any axis, no transposed copy.
- loss, norm, dropout, embedding: fused cross-entropy (logits -> loss, one pass each
  way), nll and binary losses; layer/batch norm (statistics and output in one kernel,
  dx/dweight/dbias in one); counter-based dropout; embedding gather / scatter-add.
  `_vecmath` holds the vectorizable exp and max their row loops (and softmax's) use.
"""
from kernels.numba.creation import arange, from_host, full, to_host
from kernels.numba.elementwise import (
    abs, add, astype, clamp, clamp_backward, cos, div, eq, exp, ge, gt, le, log, lt, maximum,
    minimum, mul, ne, neg, pow, relu, relu_backward, rsqrt, rsqrt_backward, sigmoid,
    sigmoid_backward, sign, sin, sqrt, sqrt_backward, sub, tanh, tanh_backward, where)
from kernels.numba.matmul import matmul
# fused activations
from kernels.numba.activation import gelu, gelu_backward
from kernels.numba.movement import (
    cat, contiguous_copy, copy_into, expand, fill, gather, index_add, pad, permute, reshape,
    slice)
from kernels.numba.reduce import (
    amax, amin, argmax, argmin, logsumexp, prod, sum, sum_to_shape)
from kernels.numba.softmax import (
    log_softmax, log_softmax_backward, softmax, softmax_backward)
# convolution and pooling
from kernels.numba.conv import (
    conv2d_backward_bias, conv2d_backward_input, conv2d_backward_weight, conv2d_forward)
from kernels.numba.pool import (
    adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward, avg_pool2d_backward,
    avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward)
# losses, normalization, dropout, embedding
from kernels.numba.dropout import dropout
from kernels.numba.embedding import embedding, embedding_backward
from kernels.numba.loss import (
    binary_cross_entropy, binary_cross_entropy_backward, binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_backward, cross_entropy, cross_entropy_backward,
    nll_loss, nll_loss_backward)
from kernels.numba.norm import (
    batch_norm, batch_norm_backward, layer_norm, layer_norm_backward)
# recurrent cells and attention
from kernels.numba.attention import attention_backward, attention_forward
from kernels.numba.rnn import (
    lstm_cell_backward, lstm_cell_forward, rnn_cell_backward, rnn_cell_forward)

__all__ = [
    # creation
    "arange", "from_host", "full", "to_host",
    # elementwise
    "abs", "add", "astype", "clamp", "clamp_backward", "cos", "div", "eq", "exp", "ge", "gt",
    "le", "log", "lt", "maximum", "minimum", "mul", "ne", "neg", "pow", "relu",
    "relu_backward", "rsqrt", "rsqrt_backward", "sigmoid", "sigmoid_backward", "sign", "sin",
    "sqrt", "sqrt_backward", "sub", "tanh", "tanh_backward", "where",
    # fused activations
    "gelu", "gelu_backward",
    # matmul
    "matmul",
    # movement
    "cat", "contiguous_copy", "copy_into", "expand", "fill", "gather", "index_add", "pad",
    "permute", "reshape", "slice",
    # reductions
    "amax", "amin", "argmax", "argmin", "logsumexp", "prod", "sum", "sum_to_shape",
    # softmax family
    "log_softmax", "log_softmax_backward", "softmax", "softmax_backward",
    # convolution and pooling
    "conv2d_backward_bias", "conv2d_backward_input", "conv2d_backward_weight", "conv2d_forward",
    "adaptive_avg_pool2d_backward", "adaptive_avg_pool2d_forward", "avg_pool2d_backward",
    "avg_pool2d_forward", "max_pool2d_backward", "max_pool2d_forward",
    # losses, normalization, dropout, embedding
    "binary_cross_entropy", "binary_cross_entropy_backward", "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward", "cross_entropy", "cross_entropy_backward",
    "nll_loss", "nll_loss_backward", "batch_norm", "batch_norm_backward", "layer_norm",
    "layer_norm_backward", "dropout", "embedding", "embedding_backward",
    # recurrent cells and attention
    "attention_backward", "attention_forward", "lstm_cell_backward", "lstm_cell_forward",
    "rnn_cell_backward", "rnn_cell_forward",
]
