"""The Triton backend: the reference's table of kernels for the `cuda` device.

Same names and signatures as `kernels.reference` (tests/triton/test_cuda_kernels.py),
same results (dtype, shape; floats within rounding; tests/triton/). Arrays are
`DeviceBuffer`s (kernels/triton/buffer.py): device memory from torch's CUDA caching
allocator, or host memory under the Triton interpreter (TRITON_INTERPRET=1), which
runs these same kernels on the CPU so that CI tests them without a GPU.

- activation: fused GELU and its gradient, one strided elementwise kernel each way (Φ
  from an erfc series: Triton has no erfc, and 1 + erf cancels in the negative tail).
- attention: FlashAttention-2 fused scaled dot-product attention (online softmax, causal
  tiles skipped, lse saved); backward recomputes P: dK/dV per key block, dQ per query block.
- conv: conv2d as implicit GEMM on matmul's tiles (windows gathered in the tile loads,
  no im2col buffer); d/dx a gather GEMM, d/dw a split-K GEMM, d/dbias a sum.
- creation: full/arange kernels; from_host/to_host copy across.
- dropout / embedding / loss: dropout's SplitMix64 mask bit for bit the reference's;
  embedding a row gather, backward atomic adds; cross-entropy fused (online max/sum-exp,
  smoothing, weights, ignore_index; backward one pass), nll, binary losses elementwise.
- elementwise: one strided kernel per arity (unary, binary, where), the op a constexpr;
  broadcasting by stride 0, any view without a copy.
- matmul: tiled, grouped ordering, fp32 accumulation, autotuned on a GPU.
- movement: views are stride arithmetic; copies, cat, pad, gather and index_add
  (atomic adds) are kernels.
- norm: layer norm one program per block of rows, three passes (pivot-shifted sums, float64
  statistics); backward dx per row, dweight/dbias a two-stage column sum (no atomics);
  batch norm per-channel sums split over programs (partials added in order), then an
  elementwise normalize / dx kernel.
- pool: max/avg/adaptive-avg 2-D pooling, one program per block of outputs looping over
  the window; avg/adaptive backward gather (deterministic), max backward scatters at argmax.
- reduce: one row-reduction kernel (sum, prod, max, min, logsumexp) and one for
  argmax/argmin, over the reduced axes permuted last; few long rows split into column
  chunks over many programs, then the partials reduced in order (two stages).
- rnn: the fused LSTM / RNN cell (gate GEMMs + pointwise tail, one launch a step);
  backward a pointwise kernel (dz, dc, db fused) and matmul.py GEMMs.
- softmax: one fused kernel per direction, two passes over each row (online max/sum).

`borrow(fn)` adapts a reference kernel to device arrays (copy in, run numpy, copy
out): what engine.dispatch uses under ENGINE_ALLOW_FALLBACK=1 for a kernel this table
lacks. Never used unless asked for.
"""
import numpy as np

from kernels.triton.buffer import check_device, is_buffer

check_device()

from kernels.triton.creation import arange, from_host, full, to_host  # noqa: E402
from kernels.triton.elementwise import (  # noqa: E402
    abs, add, astype, clamp, clamp_backward, cos, div, eq, exp, ge, gt, le, log, lt, maximum,
    minimum, mul, ne, neg, pow, relu, relu_backward, rsqrt, rsqrt_backward, sigmoid,
    sigmoid_backward, sign, sin, sqrt, sqrt_backward, sub, tanh, tanh_backward, where)
from kernels.triton.matmul import matmul  # noqa: E402
from kernels.triton.activation import gelu, gelu_backward  # noqa: E402
from kernels.triton.movement import (  # noqa: E402
    cat, contiguous_copy, copy_into, expand, fill, gather, index_add, pad, permute, reshape,
    slice)
from kernels.triton.reduce import (  # noqa: E402
    amax, amin, argmax, argmin, logsumexp, prod, sum, sum_to_shape)
from kernels.triton.softmax import (  # noqa: E402
    log_softmax, log_softmax_backward, softmax, softmax_backward)
from kernels.triton.rnn import (  # noqa: E402
    lstm_cell_backward, lstm_cell_forward, rnn_cell_backward, rnn_cell_forward)
from kernels.triton.conv import (  # noqa: E402
    conv2d_backward_bias, conv2d_backward_input, conv2d_backward_weight, conv2d_forward)
from kernels.triton.attention import attention_backward, attention_forward  # noqa: E402
from kernels.triton.pool import (  # noqa: E402
    adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward, avg_pool2d_backward,
    avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward)
from kernels.triton.dropout import dropout  # noqa: E402
from kernels.triton.norm import (  # noqa: E402
    batch_norm, batch_norm_backward, layer_norm, layer_norm_backward)
from kernels.triton.embedding import embedding, embedding_backward  # noqa: E402
from kernels.triton.loss import (  # noqa: E402
    binary_cross_entropy, binary_cross_entropy_backward, binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_backward, cross_entropy, cross_entropy_backward,
    nll_loss, nll_loss_backward)

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
    # recurrent cells
    "lstm_cell_backward", "lstm_cell_forward", "rnn_cell_backward", "rnn_cell_forward",
    # convolution
    "conv2d_backward_bias", "conv2d_backward_input", "conv2d_backward_weight",
    "conv2d_forward",
    # attention
    "attention_backward", "attention_forward",
    # pooling
    "adaptive_avg_pool2d_backward", "adaptive_avg_pool2d_forward", "avg_pool2d_backward",
    "avg_pool2d_forward", "max_pool2d_backward", "max_pool2d_forward",
    # losses, dropout, embedding
    "binary_cross_entropy", "binary_cross_entropy_backward", "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward", "cross_entropy", "cross_entropy_backward",
    "dropout", "embedding", "embedding_backward", "nll_loss", "nll_loss_backward",
    # normalization
    "batch_norm", "batch_norm_backward", "layer_norm", "layer_norm_backward",
]


def _to_host(value):
    if is_buffer(value):
        return to_host(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_to_host(v) for v in value)
    return value


def _to_device(value):
    if isinstance(value, np.ndarray):
        return from_host(value)
    if isinstance(value, np.generic):
        return from_host(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_to_device(v) for v in value)
    return value


def borrow(fn):
    """A reference (numpy) kernel run on copies of device arrays: the explicit fallback."""
    def borrowed(*args, **kwargs):
        out = fn(*[_to_host(a) for a in args], **{k: _to_host(v) for k, v in kwargs.items()})
        return _to_device(out)
    borrowed.__name__ = getattr(fn, "__name__", "borrowed")
    return borrowed
