"""engine.nn.functional: the stateless side of the layers, torch's names and arguments.

Everything here is composed from public engine ops, so its backward is the graph's.
The losses check their targets first and raise with the function's name: an
out-of-range class index would otherwise surface as an indexing error deep inside.
"""
import warnings

from engine.errors import DTypeError, ShapeError, op_error
from engine.ops._operands import require_tensor
from engine.ops.elementwise import relu, sigmoid, tanh
from engine.ops import elementwise as _ew
from engine.ops.activation import gelu as _gelu
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
# Compositions of elementwise ops, so autograd derives their gradients (gelu, whose
# erfc series would be ~50 ops, is a fused op: engine/ops/activation.py). Where a branch
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


def gelu(input, approximate="none"):
    """x Φ(x), Φ the standard normal CDF (Hendrycks & Gimpel); approximate='tanh' uses
    0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³))) instead, as torch. One fused kernel
    each way (engine/ops/activation.py), accurate far into the negative tail."""
    return _gelu(_activation_input("gelu", input), approximate)


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
