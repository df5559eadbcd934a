"""Losses: fused softmax cross-entropy and nll_loss, binary cross-entropy (from
probabilities and from logits), and l1_loss.

cross_entropy and nll_loss are one Function each, reduction included: the kernels see
scores (N, C, K) — classes on axis 1, K = d1·d2·… positions per sample — and targets
(N, K), and return the per-position loss plus `total`, Σ weight[target] over the
positions not ignored. reduction='mean' divides the summed loss by `total` (torch's
rule, also with label smoothing), so backward scales the upstream gradient by
1/total; 'sum' by 1; 'none' passes the per-position gradient through. Ignored
positions have loss 0 and gradient 0. The class weights get no gradient (torch's
neither).

The binary losses are elementwise kernels whose loss is then weighted and reduced with
public ops (their backward is the graph's). l1_loss is a composition.
"""
import warnings

import numpy as np

from engine.autograd import Function
from engine.errors import DeviceError, DTypeError, ShapeError, op_error
from engine.ops import _operands as ops
from engine.ops import movement as mv
from engine.ops import elementwise as ew
from engine.ops import reduce as rd

REDUCTIONS = ("mean", "sum", "none")


# ---- Functions ---------------------------------------------------------------------------
def _reduce_array(k, loss, total, reduction):
    if reduction == "none":
        return loss
    summed = k.sum(loss, (0, 1), False)
    if reduction == "sum":
        return summed
    return k.div(summed, k.astype(total, loss.dtype))


def _spread_gradient(k, grad, total, reduction, shape):
    """The upstream gradient of the reduced loss as one gradient per position (N, K)."""
    if reduction == "none":
        return grad
    if reduction == "mean":
        grad = k.div(grad, k.astype(total, grad.dtype))
    return k.expand(k.reshape(grad, (1, 1)), shape)


class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, label_smoothing, reduction):
        k = ctx.kernels
        loss, lse, total = k.cross_entropy(x, target, weight, ignore_index, label_smoothing)
        ctx.save_for_backward(x, target, weight, lse, total)
        ctx.options = (ignore_index, label_smoothing, reduction)
        return _reduce_array(k, loss, total, reduction)

    @staticmethod
    def backward(ctx, grad):
        x, target, weight, lse, total = ctx.saved_tensors
        ignore_index, label_smoothing, reduction = ctx.options
        k = ctx.kernels
        g = _spread_gradient(k, grad, total, reduction, target.shape)
        dx = k.cross_entropy_backward(x, target, weight, lse, g, ignore_index, label_smoothing)
        return dx, None, None, None, None, None


class NLLLoss(Function):
    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction):
        k = ctx.kernels
        loss, total = k.nll_loss(x, target, weight, ignore_index)
        ctx.save_for_backward(target, weight, total)
        ctx.options = (ignore_index, reduction, x.shape[1])
        return _reduce_array(k, loss, total, reduction)

    @staticmethod
    def backward(ctx, grad):
        target, weight, total = ctx.saved_tensors
        ignore_index, reduction, classes = ctx.options
        k = ctx.kernels
        g = _spread_gradient(k, grad, total, reduction, target.shape)
        return k.nll_loss_backward(g, target, weight, ignore_index, classes), None, None, None, None


class BinaryCrossEntropy(Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return ctx.kernels.binary_cross_entropy(x, y)

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return ctx.kernels.binary_cross_entropy_backward(x, y, grad)


class BinaryCrossEntropyWithLogits(Function):
    @staticmethod
    def forward(ctx, x, y, pos_weight):
        ctx.save_for_backward(x, y, pos_weight)
        return ctx.kernels.binary_cross_entropy_with_logits(x, y, pos_weight)

    @staticmethod
    def backward(ctx, grad):
        x, y, pos_weight = ctx.saved_tensors
        dx, dy = ctx.kernels.binary_cross_entropy_with_logits_backward(x, y, pos_weight, grad)
        return dx, dy, None


# ---- checks --------------------------------------------------------------------------------
def check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, REDUCTIONS))}, "
                         f"got {reduction!r}. Hint: 'mean' averages, 'sum' adds, 'none' keeps "
                         f"one loss per element")


def reduce(loss, reduction):
    if reduction == "mean":
        return rd.mean(loss)
    if reduction == "sum":
        return rd.sum(loss)
    return loss


def _class_operands(op, input, target, weight, ignore_index):
    """Check a class-index loss's operands; return (scores (N, C, K), target (N, K), shape).

    input (C,), (N, C) or (N, C, d1, ...) with the classes on dim 1 (dim 0 for 1-D);
    target of input's shape without the class dim, integer class indices in [0, C) or
    ignore_index. `shape` is that target shape, which reduction='none' gives back.
    """
    ops.require_tensor(op, input)
    ops.require_tensor(op, target, "target")
    operands = (input, target) if weight is None else (input, target, weight)
    if not input.dtype.is_floating_point:
        raise op_error(DTypeError, op, operands, "input must be floating point scores",
                       "convert it with .float()")
    ops.require_kernel_float(op, input, operands)
    if target.dtype.is_floating_point or target.dtype.name == "bool":
        raise op_error(DTypeError, op, operands, "target must hold integer class "
                       "indices", "pass class indices as engine.int64 (class-probability "
                       "targets are not supported)")
    if input.ndim == 0:
        raise op_error(ShapeError, op, operands, "input must have a class dimension",
                       "give scores of shape (C,), (N, C) or (N, C, d1, ...)")
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    want = tuple(input.shape[:class_dim]) + tuple(input.shape[class_dim + 1:])
    if tuple(target.shape) != want:
        raise op_error(ShapeError, op, operands, f"target must have shape {want} "
                       f"(input's shape without the class dim {class_dim})",
                       "give one class index per row; one-hot targets are not supported")
    if weight is not None:
        ops.require_tensor(op, weight, "weight")
        if tuple(weight.shape) != (classes,):
            raise op_error(ShapeError, op, operands, f"weight must have shape ({classes},), "
                           f"one weight per class", "pass a 1-D tensor of class weights")
        if weight.dtype != input.dtype:
            raise op_error(DTypeError, op, operands, "weight and input have different dtypes",
                           "convert the weight with .to(input.dtype)")
        if weight.device != input.device:     # it reaches the kernel as a raw array
            raise op_error(DeviceError, op, operands, f"weight is on {weight.device}, input "
                           f"on {input.device}", "move the weight with .to(input.device)")
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{op}: ignore_index must be an int, got {ignore_index!r}. Hint: "
                        f"the class index whose positions are skipped, -100 by default")
    if target.numel():
        values = target.numpy()
        values = values[values != ignore_index]
        if values.size:
            low, high = int(values.min()), int(values.max())
            if low < 0 or high >= classes:
                bad = low if low < 0 else high
                raise op_error(IndexError, op, operands, f"target {bad} is out of bounds "
                               f"for {classes} classes", f"class indices must be in "
                               f"[0, {classes - 1}], or ignore_index={ignore_index} to skip "
                               f"a position")
    n = 1 if input.ndim == 1 else input.shape[0]
    positions = int(np.prod(input.shape[2:], dtype=np.int64))
    scores = mv.reshape(input, n, classes, positions)     # a view unless it must copy
    if target.dtype.name != "int64":
        target = target.long()
    return scores, mv.reshape(target, n, positions), want


# ---- public ops --------------------------------------------------------------------------
def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Softmax cross-entropy of logits against class indices, fused (one kernel each way).

    input: logits (N, C), (C,) or (N, C, d1, ...); target: integer class indices of
    input's shape without the class dim (or ignore_index, which contributes nothing).
    weight: per-class (C,) weights or None. reduction 'mean' divides by the summed
    weight of the targets not ignored (their count without weights), as torch does;
    'none' keeps target's shape. With label smoothing ε the target distribution is
    (1 - ε) one-hot + ε uniform. Stable for any logits (everything is relative to the
    row max); the log-softmax is never materialized.
    """
    check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}. Hint: 0 is no smoothing, 0.1 is typical")
    scores, target2, shape = _class_operands("cross_entropy", input, target, weight,
                                             ignore_index)
    loss = CrossEntropy.apply(scores, target2, None if weight is None else weight.data,
                              int(ignore_index), float(label_smoothing), reduction)
    return mv.reshape(loss, shape) if reduction == "none" else loss


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood: -weight[t] input[t] per position, reduced.

    input: log-probabilities (N, C), (C,) or (N, C, d1, ...); target, weight,
    ignore_index and reduction as in cross_entropy.
    """
    check_reduction("nll_loss", reduction)
    scores, target2, shape = _class_operands("nll_loss", input, target, weight, ignore_index)
    loss = NLLLoss.apply(scores, target2, None if weight is None else weight.data,
                         int(ignore_index), reduction)
    return mv.reshape(loss, shape) if reduction == "none" else loss


def _same_shape_operands(op, input, target, extra=()):
    ops.require_tensor(op, input)
    ops.require_tensor(op, target, "target")
    operands = (input, target) + tuple(e for e in extra if e is not None)
    if not input.dtype.is_floating_point or not target.dtype.is_floating_point:
        raise op_error(DTypeError, op, operands, "input and target must be floating point",
                       "convert them with .float()")
    if input.dtype != target.dtype:
        raise op_error(DTypeError, op, operands, "input and target have different dtypes",
                       "convert one with .float() or .double()")
    ops.require_kernel_float(op, input, operands)
    if tuple(input.shape) != tuple(target.shape):
        raise op_error(ShapeError, op, operands, "target must have the same shape as input",
                       "reshape the target (a (N,) target for (N, 1) scores: unsqueeze it)")
    return operands


def _weighted(op, loss, weight, operands):
    if weight is None:
        return loss
    ops.require_tensor(op, weight, "weight")
    return ew.mul(loss, weight)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-(y log x + (1 - y) log(1 - x)) for probabilities x in [0, 1], each log clamped at
    -100 as torch does; weight (broadcast to input) rescales each element."""
    check_reduction("binary_cross_entropy", reduction)
    operands = _same_shape_operands("binary_cross_entropy", input, target, (weight,))
    if input.numel():
        values = input.numpy()
        if not (values >= 0).all() or not (values <= 1).all():
            raise op_error(RuntimeError, "binary_cross_entropy", operands,
                           "all elements of input should be between 0 and 1",
                           "pass probabilities (apply sigmoid first), or use "
                           "binary_cross_entropy_with_logits on the logits")
    loss = BinaryCrossEntropy.apply(input, target)
    return reduce(_weighted("binary_cross_entropy", loss, weight, operands), reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """Binary cross-entropy of sigmoid(input), computed from the logits without overflow:
    max(x, 0) - x y + log1p(exp(-|x|)) per element (pos_weight p weighs the positive
    term: (1 - y) x + (1 + (p - 1) y) softplus(-x)). pos_weight broadcasts to input (one
    per class on the last dim, typically) and gets no gradient (torch: neither)."""
    op = "binary_cross_entropy_with_logits"
    check_reduction(op, reduction)
    operands = _same_shape_operands(op, input, target, (weight, pos_weight))
    pw = None
    if pos_weight is not None:
        ops.require_tensor(op, pos_weight, "pos_weight")
        if pos_weight.dtype != input.dtype:
            raise op_error(DTypeError, op, operands, "pos_weight and input have different "
                           "dtypes", "convert pos_weight with .to(input.dtype)")
        from engine._runtime import core as _core
        if _core.broadcast_shapes(tuple(pos_weight.shape), tuple(input.shape)) != \
                tuple(input.shape):
            raise op_error(ShapeError, op, operands, "pos_weight does not broadcast to the "
                           "input's shape", "give one weight per class on the last dim")
        pw = mv.expand(pos_weight.detach(), *input.shape)
    loss = BinaryCrossEntropyWithLogits.apply(input, target, pw)
    return reduce(_weighted(op, loss, weight, operands), reduction)


def l1_loss(input, target, reduction="mean"):
    """|input - target|, reduced. Shapes should match; broadcasting warns as in torch."""
    check_reduction("l1_loss", reduction)
    ops.require_tensor("l1_loss", input)
    ops.require_tensor("l1_loss", target, "target")
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(f"l1_loss: using a target size ({tuple(target.shape)}) that is "
                      f"different to the input size ({tuple(input.shape)}). This will "
                      f"likely lead to incorrect results due to broadcasting. Please "
                      f"ensure they have the same size.", stacklevel=2)
    return reduce(ew.abs(ew.sub(input, target)), reduction)
