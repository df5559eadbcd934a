"""engine.nn.functional: the stateless side of the layers, torch's names and arguments.

Everything here is composed from public engine ops, so its backward is the graph's.
The losses check their targets first and raise with the function's name: an
out-of-range class index would otherwise surface as an indexing error deep inside.
"""
import math
import warnings

from engine.errors import DTypeError, ShapeError, op_error
from engine.ops._operands import require_tensor
from engine.ops.elementwise import relu, sigmoid, tanh
from engine.ops import elementwise as _ew
from engine.ops.movement import pad
from engine.ops.softmax import log_softmax, softmax
from engine.ops.dropout import dropout
from engine.ops.embedding import embedding
from engine.ops.loss import (
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, l1_loss, nll_loss)
from engine.ops.norm import batch_norm, layer_norm
from engine.ops.conv import conv1d, conv2d
from engine.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from engine.ops.attention import scaled_dot_product_attention
from engine.ops.rnn import lstm_cell, rnn_relu_cell, rnn_tanh_cell

__all__ = ["cross_entropy", "linear", "log_softmax", "mse_loss", "nll_loss", "pad", "relu",
           "sigmoid", "softmax", "tanh"]

# losses, normalization, dropout, embedding: fused kernels (engine/ops/{loss,norm,dropout,
# embedding}.py)
__all__ += ["batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits", "dropout",
            "embedding", "l1_loss", "layer_norm"]

# convolution and pooling (engine/ops/{conv,pool}.py)
__all__ += ["adaptive_avg_pool2d", "avg_pool2d", "conv1d", "conv2d", "max_pool2d"]

# recurrent cells and attention: fused kernels (engine/ops/{rnn,attention}.py)
__all__ += ["lstm_cell", "rnn_relu_cell", "rnn_tanh_cell", "scaled_dot_product_attention"]

REDUCTIONS = ("mean", "sum", "none")


# ---- linear ------------------------------------------------------------------------
def linear(input, weight, bias=None):
    """y = x Wᵀ + b, torch's layout.

    input (*, in), weight (out, in), bias (out,) or None -> (*, out). All of one
    floating dtype. Raises ShapeError / DTypeError naming `linear`.
    """
    require_tensor("linear", input)
    require_tensor("linear", weight, "weight")
    operands = (input, weight) if bias is None else (input, weight, bias)
    if weight.ndim != 2:
        raise op_error(ShapeError, "linear", operands, "weight must be 2-D (out_features, "
                       "in_features)", "use torch's layout: weight of shape (out, in)")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise op_error(ShapeError, "linear", operands, f"input's last dim must equal "
                       f"in_features={weight.shape[1]}", "reshape or flatten the input first")
    if bias is not None:
        require_tensor("linear", bias, "bias")
        if tuple(bias.shape) != (weight.shape[0],):
            raise op_error(ShapeError, "linear", operands, f"bias must have shape "
                           f"({weight.shape[0]},)", "one bias per output feature")
    if any(t.dtype != input.dtype for t in operands):
        raise op_error(DTypeError, "linear", operands, "input, weight and bias have "
                       "different dtypes", "convert the input with .float() or .double(), "
                       "or the module with .to(dtype)")
    lead = tuple(input.shape[:-1])
    if input.ndim > 2:
        # One (N, in) @ (in, out) product instead of a batched one: a batched matmul
        # would broadcast (copy) the weight once per leading index.
        input = input.reshape(-1, weight.shape[1])
    out = input @ weight.T
    if bias is not None:
        out = out + bias
    return out.reshape(*lead, weight.shape[0]) if len(lead) > 1 else out


# ---- activations -------------------------------------------------------------------
# Compositions of elementwise ops, so autograd derives their gradients. Where a branch
# can overflow (exp of a large x) its input is clamped first: `where` routes a zero
# gradient into the unused branch, and 0 * inf would still poison it with NaN.
__all__ += ["elu", "gelu", "leaky_relu", "prelu", "selu", "silu", "step"]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _activation_input(op, x):
    require_tensor(op, x)
    if not x.dtype.is_floating_point:
        raise op_error(DTypeError, op, (x,), "input must be floating point",
                       "convert it with .float()")
    return x


def leaky_relu(input, negative_slope=0.01):
    """x if x > 0 else negative_slope * x (a small slope keeps "dead" units learning)."""
    x = _activation_input("leaky_relu", input)
    return _ew.where(x > 0, x, x * negative_slope)


def prelu(input, weight):
    """leaky_relu with a learned slope: weight (1,) shared, or (C,) one per channel
    (dim 1 of input; inputs of fewer than 2 dims have one channel)."""
    x = _activation_input("prelu", input)
    require_tensor("prelu", weight, "weight")
    channels = x.shape[1] if x.ndim >= 2 else 1
    if weight.ndim != 1 or weight.shape[0] not in (1, channels):
        raise op_error(ShapeError, "prelu", (x, weight), f"weight must have shape (1,) or "
                       f"({channels},): one slope, or one per channel (dim 1)",
                       "build nn.PReLU(num_parameters=channels)")
    if weight.dtype != x.dtype:
        raise op_error(DTypeError, "prelu", (x, weight), "input and weight have different "
                       "dtypes", "convert the module with .to(dtype)")
    if x.ndim >= 2 and weight.shape[0] > 1:
        weight = weight.reshape(1, channels, *([1] * (x.ndim - 2)))
    elif weight.shape[0] == 1:
        weight = weight.reshape(())
    return _ew.where(x > 0, x, weight * x)


def elu(input, alpha=1.0):
    """x if x > 0 else alpha (e^x - 1): smooth, and negative outputs pull means to 0."""
    x = _activation_input("elu", input)
    return _ew.where(x > 0, x, (_ew.clamp(x, max=0.0).exp() - 1.0) * alpha)


def selu(input):
    """scale * elu(x, alpha) with Klambauer et al.'s constants: with lecun_normal_
    weights, activations keep mean 0 and variance 1 through a deep MLP."""
    x = _activation_input("selu", input)
    return elu(x, SELU_ALPHA) * SELU_SCALE


# erfc(z) for z >= 0 as t exp(-z² + P(t)), P a Chebyshev series in 4t - 2, t = 2/(2+z)
# (Numerical Recipes, 3rd ed., §6.2.2): relative error below 2e-15 where erfc(z) is
# a normal double, and smooth, so its derivative is accurate too. float32 needs only
# the terms above 1e-10.
_ERFC_COEFFICIENTS = (
    -1.3026537197817094, 6.4196979235649026e-1, 1.9476473204185836e-2,
    -9.561514786808631e-3, -9.46595344482036e-4, 3.66839497852761e-4, 4.2523324806907e-5,
    -2.0278578112534e-5, -1.624290004647e-6, 1.303655835580e-6, 1.5626441722e-8,
    -8.5238095915e-8, 6.529054439e-9, 5.059343495e-9, -9.91364156e-10, -2.27365122e-10,
    9.6467911e-11, 2.394038e-12, -6.886027e-12, 8.94487e-13, 3.13092e-13, -1.12708e-13,
    3.81e-16, 7.106e-15, -1.523e-15, -9.4e-17, 1.21e-16, -2.8e-17)


def _erfc_nonnegative(z):
    coefficients = _ERFC_COEFFICIENTS
    if z.dtype.name != "float64":
        coefficients = coefficients[:17]
    t = 2.0 / (z + 2.0)
    ty = t * 4.0 - 2.0
    d = dd = 0.0
    for c in reversed(coefficients[1:]):           # Clenshaw's recurrence
        d, dd = ty * d - dd + c, d
    return t * (-(z * z) + (ty * d + coefficients[0]) * 0.5 - dd).exp()


def gelu(input, approximate="none"):
    """x Φ(x), Φ the standard normal CDF (Hendrycks & Gimpel); approximate='tanh' uses
    0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³))) instead, as torch."""
    x = _activation_input("gelu", input)
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
        return x * (inner.tanh() + 1.0) * 0.5
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    # Φ(x) = erfc(-x/√2) / 2, and erfc(-z) = 2 - erfc(z): one erfc of |x|/√2 serves both
    # signs, with full relative precision in the far negative tail.
    tail = _erfc_nonnegative(x.abs() * (1.0 / math.sqrt(2.0))) * 0.5
    return x * _ew.where(x >= 0, 1.0 - tail, tail)


def silu(input):
    """x σ(x) (also called swish)."""
    x = _activation_input("silu", input)
    return x * x.sigmoid()


def step(input):
    """Heaviside step, the perceptron's activation: 1 where x >= 0, else 0, in x's
    dtype. Piecewise constant, so no gradient flows (train it with the perceptron rule)."""
    x = _activation_input("step", input)
    return (x >= 0).to(x.dtype)


# ---- losses ------------------------------------------------------------------------
def _check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, REDUCTIONS))}, "
                         f"got {reduction!r}")


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def mse_loss(input, target, reduction="mean"):
    """(input - target)², reduced. Shapes should match; broadcasting warns as in torch."""
    _check_reduction("mse_loss", reduction)
    require_tensor("mse_loss", input)
    require_tensor("mse_loss", target, "target")
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(f"mse_loss: using a target size ({tuple(target.shape)}) that is "
                      f"different to the input size ({tuple(input.shape)}). This will "
                      f"likely lead to incorrect results due to broadcasting. Please "
                      f"ensure they have the same size.", stacklevel=2)
    diff = input - target
    return _reduce(diff * diff, reduction)
