"""engine.nn.functional: the stateless side of the layers, torch's names and arguments.

Everything here is composed from public engine ops, so its backward is the graph's.
The losses check their targets first and raise with the function's name: an
out-of-range class index would otherwise surface as an indexing error deep inside.
"""
import warnings

from engine import creation
from engine.errors import DTypeError, ShapeError, op_error
from engine.ops._operands import require_tensor
from engine.ops.elementwise import relu, sigmoid, tanh
from engine.ops.movement import pad
from engine.ops.softmax import log_softmax, softmax

__all__ = ["cross_entropy", "linear", "log_softmax", "mse_loss", "nll_loss", "pad", "relu",
           "sigmoid", "softmax", "tanh"]

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


def _classes_last(op, input, target):
    """Check a class-index loss's operands; return (scores (M, C), target (M,), shape).

    input (C,), (N, C) or (N, C, d1, ...) with the classes on dim 1 (dim 0 for 1-D);
    target of input's shape without the class dim, integer class indices in [0, C).
    `shape` is that target shape, which reduction='none' gives back.
    """
    require_tensor(op, input)
    require_tensor(op, target, "target")
    if not input.dtype.is_floating_point:
        raise op_error(DTypeError, op, (input, target), "input must be floating point scores",
                       "convert it with .float()")
    if target.dtype.is_floating_point or target.dtype.name == "bool":
        raise op_error(DTypeError, op, (input, target), "target must hold integer class "
                       "indices", "pass class indices as engine.int64 (class-probability "
                       "targets are not supported)")
    if input.ndim == 0:
        raise op_error(ShapeError, op, (input, target), "input must have a class dimension",
                       "give scores of shape (C,), (N, C) or (N, C, d1, ...)")
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    want = tuple(input.shape[:class_dim]) + tuple(input.shape[class_dim + 1:])
    if tuple(target.shape) != want:
        raise op_error(ShapeError, op, (input, target), f"target must have shape {want} "
                       f"(input's shape without the class dim {class_dim})",
                       "give one class index per row; one-hot targets are not supported")
    if target.numel():
        values = target.numpy()
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= classes:
            bad = low if low < 0 else high
            raise op_error(IndexError, op, (input, target), f"target {bad} is out of bounds "
                           f"for {classes} classes", f"class indices must be in "
                           f"[0, {classes - 1}] (ignore_index is not supported)")
    if input.ndim > 2:
        # (N, C, d1, ...) -> (N, d1, ..., C) -> (M, C): every position is one row.
        input = input.permute(0, *range(2, input.ndim), 1)
    return input.reshape(-1, classes), target.reshape(-1), want


def _pick(scores, target):
    """scores[i, target[i]] for every row i: a gather whose gradient is a scatter."""
    rows = creation.arange(scores.shape[0], device=scores.device)
    return scores[rows, target]


def nll_loss(input, target, reduction="mean"):
    """Negative log-likelihood: -input[i, target[i]], reduced.

    input: log-probabilities (N, C), (C,) or (N, C, d1, ...); target: integer class
    indices of input's shape without the class dim. reduction: 'mean' | 'sum' | 'none'
    ('none' keeps target's shape).
    """
    _check_reduction("nll_loss", reduction)
    scores, target, shape = _classes_last("nll_loss", input, target)
    return _reduce((-_pick(scores, target)).reshape(shape), reduction)


def cross_entropy(input, target, reduction="mean", label_smoothing=0.0):
    """log_softmax over the class dim, then the negative log-likelihood of `target`.

    Shapes and reductions as `nll_loss`, with logits for input. With label smoothing
    ε the target distribution is (1 - ε) one-hot + ε uniform, so each element's loss
    is (1 - ε) * nll + ε * mean over classes of -log p (torch's definition).
    """
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    scores, target, shape = _classes_last("cross_entropy", input, target)
    log_probs = log_softmax(scores, dim=1)
    loss = -_pick(log_probs, target)
    if label_smoothing > 0:
        uniform = -log_probs.mean(dim=1)
        loss = loss * (1.0 - label_smoothing) + uniform * label_smoothing
    return _reduce(loss.reshape(shape), reduction)


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
