"""embedding: a row gather forward, a scatter-add backward (kernels/*/embedding.py).

The indices are checked here, before any kernel: an out-of-range index would read
outside the weight. Repeated indices accumulate their gradient rows; the padding row
gets none (torch's padding_idx).
"""
import numpy as np

from engine.autograd import Function
from engine.errors import DTypeError, ShapeError, op_error
from engine.ops import _operands as ops


class Embedding(Function):
    @staticmethod
    def forward(ctx, weight, idx, padding_idx):
        ctx.save_for_backward(idx)
        ctx.options = (weight.shape[0], padding_idx)
        return ctx.kernels.embedding(weight, idx)

    @staticmethod
    def backward(ctx, grad):
        (idx,) = ctx.saved_tensors
        num_embeddings, padding_idx = ctx.options
        return ctx.kernels.embedding_backward(grad, idx, num_embeddings, padding_idx), None, None


def embedding(input, weight, padding_idx=None):
    """weight[input]: input integer indices of any shape, weight (num_embeddings, dim)
    -> input.shape + (dim,). padding_idx (may be negative): that row's gradient is 0."""
    op = "embedding"
    ops.require_tensor(op, input)
    ops.require_tensor(op, weight, "weight")
    operands = (input, weight)
    if input.dtype.is_floating_point or input.dtype.name == "bool":
        raise op_error(DTypeError, op, operands, "input must hold integer indices",
                       "convert it with .long()")
    if weight.ndim != 2:
        raise op_error(ShapeError, op, operands, "weight must be 2-D (num_embeddings, "
                       "embedding_dim)", "use torch's layout: one row per index")
    ops.require_kernel_float(op, weight, operands, "weight")
    rows = weight.shape[0]
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) \
                or not -rows <= padding_idx < rows:
            raise op_error(ValueError, op, operands, f"padding_idx must be within "
                           f"num_embeddings ({rows}), got {padding_idx}",
                           f"pass an int in [{-rows}, {rows - 1}] or None")
        padding_idx = int(padding_idx) % rows
    if input.numel():
        values = input.numpy()
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= rows:
            raise op_error(IndexError, op, operands, f"index {low if low < 0 else high} is "
                           f"out of range for {rows} embeddings", f"indices must be in "
                           f"[0, {rows - 1}]")
    if input.dtype.name != "int64":
        input = input.long()
    return Embedding.apply(weight, input, padding_idx)
