"""The numpy reference backend: the oracle. Short, obviously correct, not fast."""
from kernels.reference.creation import arange, from_host, full, to_host
from kernels.reference.elementwise import (
    abs, add, astype, clamp, clamp_backward, cos, div, eq, exp, ge, gt, le, log, lt, maximum,
    minimum, mul, ne, neg, pow, relu, relu_backward, rsqrt, rsqrt_backward, sigmoid,
    sigmoid_backward, sign, sin, sqrt, sqrt_backward, sub, tanh, tanh_backward, where)
from kernels.reference.matmul import matmul
# fused activations
from kernels.reference.activation import gelu, gelu_backward
from kernels.reference.movement import (
    cat, contiguous_copy, copy_into, expand, fill, gather, index_add, pad, permute, reshape,
    slice)
from kernels.reference.reduce import (
    amax, amin, argmax, argmin, logsumexp, prod, sum, sum_to_shape)
from kernels.reference.softmax import (
    log_softmax, log_softmax_backward, softmax, softmax_backward)
# convolution and pooling
from kernels.reference.conv import (
    conv2d_backward_bias, conv2d_backward_input, conv2d_backward_weight, conv2d_forward)
from kernels.reference.pool import (
    adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward, avg_pool2d_backward,
    avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward)
# losses, normalization, dropout, embedding
from kernels.reference.dropout import dropout
from kernels.reference.embedding import embedding, embedding_backward
from kernels.reference.loss import (
    binary_cross_entropy, binary_cross_entropy_backward, binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_backward, cross_entropy, cross_entropy_backward,
    nll_loss, nll_loss_backward)
from kernels.reference.norm import (
    batch_norm, batch_norm_backward, layer_norm, layer_norm_backward)
# recurrent cells and attention
from kernels.reference.attention import attention_backward, attention_forward
from kernels.reference.rnn import (
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
