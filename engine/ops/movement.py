"""Movement ops: reshape, permute, expand and friends (views), cat/stack/split, pad.

Views share the input's storage; their gradients are the inverse view of the
gradient (reshape back, permute back, sum over expanded dims).
"""
import numpy as np

from engine import dtypes
from engine.autograd import Function
from engine.errors import DeviceError, DTypeError, ShapeError, op_error
from engine.ops import _operands as ops
from engine._runtime import core as _core


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return ctx.kernels.reshape(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return ctx.kernels.reshape(grad, ctx.in_shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.inverse = tuple(np.argsort(dims))
        return ctx.kernels.permute(x, dims)

    @staticmethod
    def backward(ctx, grad):
        return ctx.kernels.permute(grad, ctx.inverse), None


class Expand(Function):
    """Broadcast view; the walk sums the gradient back over the expanded dims."""

    @staticmethod
    def forward(ctx, x, shape):
        return ctx.kernels.expand(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class Copy(Function):
    """A contiguous copy (contiguous(), clone())."""

    @staticmethod
    def forward(ctx, x):
        return ctx.kernels.contiguous_copy(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class Cat(Function):
    @staticmethod
    def forward(ctx, axis, *arrays):
        ctx.axis = axis
        ctx.sizes = [a.shape[axis] for a in arrays]
        return ctx.kernels.cat(arrays, axis)

    @staticmethod
    def backward(ctx, grad):
        grads, start = [None], 0
        for size in ctx.sizes:
            key = (slice(None),) * ctx.axis + (slice(start, start + size),)
            grads.append(ctx.kernels.slice(grad, key))
            start += size
        return tuple(grads)


class Pad(Function):
    @staticmethod
    def forward(ctx, x, pads, value):
        ctx.key = tuple(slice(before, before + n) for (before, _), n in zip(pads, x.shape))
        return ctx.kernels.pad(x, pads, value)

    @staticmethod
    def backward(ctx, grad):
        return ctx.kernels.slice(grad, ctx.key), None, None


# ---- public functions -------------------------------------------------------------
def _infer_shape(op, x, shape):
    shape = ops.parse_shape(op, shape, x)
    numel = x.numel()
    unknown = [i for i, n in enumerate(shape) if n == -1]
    if len(unknown) > 1 or any(n < -1 for n in shape):
        raise op_error(ShapeError, op, (x,), f"invalid shape {list(shape)}",
                       "use at most one -1 and no other negative sizes")
    known = int(np.prod([n for n in shape if n != -1], dtype=np.int64))
    if unknown:
        if known == 0 or numel % known:
            raise op_error(ShapeError, op, (x,), f"shape {list(shape)} is invalid for input of "
                           f"size {numel}", "the sizes must multiply to the element count")
        shape = tuple(numel // known if n == -1 else n for n in shape)
    elif known != numel:
        raise op_error(ShapeError, op, (x,), f"shape {list(shape)} is invalid for input of size "
                       f"{numel}", "the sizes must multiply to the element count")
    return shape


def reshape(x, *shape):
    ops.require_tensor("reshape", x)
    shape = _infer_shape("reshape", x, shape)
    if shape == x.data.shape:
        return x
    return Reshape.apply(x, shape)


def view(x, *shape):
    ops.require_tensor("view", x)
    shape = _infer_shape("view", x, shape)
    if not x.data.flags.c_contiguous and shape != x.data.shape:
        raise op_error(RuntimeError, "view", (x,), "view size is not compatible with input "
                       "tensor's size and stride", "use .reshape(...) instead")
    return Reshape.apply(x, shape)


def flatten(x, start_dim=0, end_dim=-1):
    ops.require_tensor("flatten", x)
    if x.ndim == 0:
        return reshape(x, 1)
    start = ops.normalize_dim("flatten", start_dim, x.ndim, x)
    end = ops.normalize_dim("flatten", end_dim, x.ndim, x)
    if start > end:
        raise op_error(ValueError, "flatten", (x,), "start_dim cannot come after end_dim",
                       f"got start_dim={start_dim}, end_dim={end_dim}; swap them")
    shape = x.data.shape
    merged = int(np.prod(shape[start:end + 1], dtype=np.int64))
    return reshape(x, shape[:start] + (merged,) + shape[end + 1:])


def squeeze(x, dim=None):
    ops.require_tensor("squeeze", x)
    axes = ops.normalize_dims("squeeze", dim, x.ndim, x)
    shape = tuple(n for i, n in enumerate(x.data.shape) if not (i in axes and n == 1))
    return reshape(x, shape)


def unsqueeze(x, dim):
    ops.require_tensor("unsqueeze", x)
    axis = ops.normalize_dim("unsqueeze", dim, x.ndim + 1, x)
    shape = x.data.shape
    return reshape(x, shape[:axis] + (1,) + shape[axis:])


def permute(x, *dims):
    ops.require_tensor("permute", x)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    axes = tuple(ops.normalize_dim("permute", d, x.ndim, x) for d in dims)
    if sorted(axes) != list(range(x.ndim)):
        raise op_error(ShapeError, "permute", (x,), f"dims {list(dims)} are not a permutation "
                       f"of the {x.ndim} dimensions", "name every dimension exactly once")
    if axes == tuple(range(x.ndim)):
        return x
    return Permute.apply(x, axes)


def transpose(x, dim0, dim1):
    ops.require_tensor("transpose", x)
    a = ops.normalize_dim("transpose", dim0, x.ndim, x)
    b = ops.normalize_dim("transpose", dim1, x.ndim, x)
    if x.ndim == 0:
        return x
    dims = list(range(x.ndim))
    dims[a], dims[b] = dims[b], dims[a]
    return permute(x, *dims)


def expand(x, *shape):
    ops.require_tensor("expand", x)
    shape = ops.parse_shape("expand", shape, x)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise op_error(ShapeError, "expand", (x,), f"cannot expand to fewer dimensions "
                       f"{list(shape)}", "give at least as many sizes as the tensor has dims")
    out = []
    for i, n in enumerate(shape):
        have = x.data.shape[i - lead] if i >= lead else None
        if n == -1:
            if have is None:
                raise op_error(ShapeError, "expand", (x,), "-1 is not allowed in a new leading "
                               "dimension", "give its size")
            n = have
        elif have is not None and have != n and have != 1:
            raise op_error(ShapeError, "expand", (x,), f"the expanded size {n} must match the "
                           f"existing size {have} at dimension {i}", "only size-1 dims expand")
        out.append(n)
    out = tuple(out)
    if out == x.data.shape:
        return x
    return Expand.apply(x, out)


def contiguous(x):
    if x.data.flags.c_contiguous:
        return x
    return Copy.apply(x)


def clone(x):
    return Copy.apply(x)


def _common_dtype(op, tensors):
    common = dtypes.from_numpy(tensors[0].data.dtype)
    for t in tensors[1:]:
        common = dtypes.promote(common, dtypes.from_numpy(t.data.dtype))
        if common is None:
            raise op_error(DTypeError, op, tensors, "tensors have different floating dtypes",
                           "convert them with .float() or .double() first")
    return common


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors. Hint: pass at least one "
                         "tensor")
    for t in tensors:
        ops.require_tensor("cat", t, "each item")
    ref = next((t for t in tensors if t.data.shape != (0,)), tensors[0])
    if ref.ndim == 0:
        raise op_error(ShapeError, "cat", tensors, "zero-dimensional tensors cannot be "
                       "concatenated", "use stack, or unsqueeze them first")
    axis = ops.normalize_dim("cat", dim, ref.ndim, ref)
    # torch skips legacy empty (0,) tensors; the others must agree off the cat dim.
    tensors = [t for t in tensors if t.data.shape != (0,) or t is ref]
    for t in tensors:
        s, r = t.data.shape, ref.data.shape
        if len(s) != len(r) or s[:axis] + s[axis + 1:] != r[:axis] + r[axis + 1:]:
            raise op_error(ShapeError, "cat", tensors, f"sizes must match except in dimension "
                           f"{axis}", "check the shapes of the tensors being joined")
    common = _common_dtype("cat", tensors)
    tensors = [t.to(common) for t in tensors]
    if len(tensors) == 1:
        return tensors[0]
    return Cat.apply(axis, *tensors)


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors. Hint: pass at least one "
                         "tensor")
    for t in tensors:
        ops.require_tensor("stack", t, "each item")
        if t.data.shape != tensors[0].data.shape:
            raise op_error(ShapeError, "stack", tensors, "all tensors must have the same shape",
                           "pad or reshape them to one shape first")
    _common_dtype("stack", tensors)          # so that a mismatch is named stack, not cat
    axis = ops.normalize_dim("stack", dim, tensors[0].ndim + 1, tensors[0])
    return cat([unsqueeze(t, axis) for t in tensors], axis)


# ---- split, chunk, unbind: pieces with one shared gradient buffer ------------------
class _PieceGradients:
    """The gradient of a tensor cut into pieces, filled in place by the pieces."""

    def __init__(self):
        self.buffer = None


class _Cut(Function):
    """x -> a 0-d token that every piece depends on (a graph edge, no data).

    Backward runs after every reached piece's (the walk waits for all consumers): it
    returns the buffer the pieces wrote their gradients into, zeros where a piece got
    none, and forgets it, so that a retained graph's next backward starts from zeros."""

    @staticmethod
    def forward(ctx, x, grads):
        ctx.grads, ctx.meta = grads, (x.shape, x.dtype)
        return ctx.kernels.full((), 0, x.dtype)

    @staticmethod
    def backward(ctx, grad):
        shape, dtype = ctx.meta
        buffer = ctx.grads.buffer
        ctx.grads.buffer = None
        return (ctx.kernels.full(shape, 0, dtype) if buffer is None else buffer), None


class _Piece(Function):
    """x[key] (a view) for one piece; backward copies the piece's gradient into the
    shared buffer. The first piece to get a gradient creates the buffer and sends the
    token a 0-d zero (a node runs only when some gradient reaches it); the others send
    None, which costs no kernel."""

    @staticmethod
    def forward(ctx, token, x, key, grads):
        ctx.grads, ctx.key, ctx.meta = grads, key, (x.shape, x.dtype)
        return ctx.kernels.slice(x, key)

    @staticmethod
    def backward(ctx, grad):
        shape, dtype = ctx.meta
        k = ctx.kernels
        first = ctx.grads.buffer is None
        if first:
            ctx.grads.buffer = k.full(shape, 0, dtype)
        k.copy_into(k.slice(ctx.grads.buffer, ctx.key), grad)
        return (k.full((), 0, dtype) if first else None), None, None, None


def _pieces(x, keys):
    """x[key] for every key (basic indexing: views), with an O(size of x) backward.

    n separate x[key] nodes would each backpropagate a zero-filled gradient of x's
    full shape, which the walk then adds up: O(n · size) (an LSTM's 100 steps: ~0.5 s
    on a (T, B, 4H) input). Here the pieces copy their gradients into one buffer. The
    runtime has one differentiable output per Function, so the pieces are separate
    nodes tied to one upstream node through a 0-d token tensor: each piece's backward
    writes its real gradient into the shared buffer, which the upstream node returns
    as x's gradient.
    """
    grads = _PieceGradients()
    token = _Cut.apply(x, grads)
    return tuple(_Piece.apply(token, x.data, key, grads) for key in keys)


def unbind(x, dim=0):
    """x split along `dim` into its slices, x.select(dim, t) for every t, as a tuple."""
    ops.require_tensor("unbind", x)
    axis = ops.normalize_dim("unbind", dim, x.ndim, x)
    lead = (slice(None),) * axis
    return _pieces(x, [lead + (t,) for t in range(x.data.shape[axis])])


def split(x, split_size_or_sections, dim=0):
    ops.require_tensor("split", x)
    axis = ops.normalize_dim("split", dim, x.ndim, x)
    n = x.data.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise op_error(ValueError, "split", (x,), f"split_size must be positive, got {size}",
                           "pass a size >= 1, or a list of section sizes")
        sizes = [min(size, n - s) for s in range(0, n, size)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise op_error(ShapeError, "split", (x,), f"sections {sizes} do not add up to the "
                           f"size {n} of dimension {axis}", "the sections must sum to that size")
    lead, starts = (slice(None),) * axis, np.cumsum([0] + sizes)
    return _pieces(x, [lead + (slice(int(a), int(b)),) for a, b in zip(starts, starts[1:])])


def chunk(x, chunks, dim=0):
    ops.require_tensor("chunk", x)
    if chunks <= 0:
        raise op_error(ValueError, "chunk", (x,), f"chunks must be positive, got {chunks}",
                       "ask for at least one chunk")
    axis = ops.normalize_dim("chunk", dim, x.ndim, x)
    n = x.data.shape[axis]
    if n == 0:
        return split(x, [0] * chunks, axis)     # torch: `chunks` empty pieces
    return split(x, -(-n // chunks), axis)


def pad(x, pad, mode="constant", value=0.0):
    """torch.nn.functional.pad: `pad` lists (before, after) pairs from the last dim back."""
    ops.require_tensor("pad", x)
    if mode != "constant":
        raise op_error(NotImplementedError, "pad", (x,), f"mode {mode!r} is not supported",
                       "use mode='constant'")
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise op_error(ShapeError, "pad", (x,), f"padding {pad} needs pairs for at most "
                       f"{x.ndim} dims", "give (left, right, top, bottom, …) from the last dim")
    if any(p < 0 for p in pad):
        raise op_error(ValueError, "pad", (x,), f"negative padding {pad} is not supported",
                       "slice instead")
    pairs = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        pairs[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return Pad.apply(x, tuple(pairs), ops.scalar_like(value, ops.dtype_of(x)))


def copy_into(dst, src, op="copy_"):
    """dst's values become src's (broadcast), in place. No autograd: optimizers use it."""
    kernels = _core._kernels_for(dst.device)
    if ops.is_tensor(src):
        if src.device != dst.device:
            src = src.to(dst.device)
        if _core.broadcast_shapes(dst.data.shape, src.data.shape) != dst.data.shape:
            raise op_error(ShapeError, op, (dst, src), "source does not broadcast to the "
                           "destination's shape", "match the shapes first")
        src = src.data
    kernels.copy_into(dst.data, src)


class ToDevice(Function):
    """A copy to another device; the gradient is copied back.

    forward returns the values on the host (apply labels every output with its input's
    device); to_device then moves them to the target and relabels the tensor.
    """

    @staticmethod
    def forward(ctx, x, source, target):
        ctx.devices = (source, target)
        return ctx.kernels.to_host(x)

    @staticmethod
    def backward(ctx, grad):
        source, target = ctx.devices
        host = _core._kernels_for(target).to_host(grad)
        return _core._kernels_for(source).from_host(host), None, None


def to_device(x, device):
    """x on another device: a copy across (backend from_host/to_host), differentiable."""
    try:
        target = _core._kernels_for(device)
    except DeviceError as error:   # it names the devices there are
        raise DeviceError(f"to: {error}") from None
    out = ToDevice.apply(x, x.device, device)
    out.data = target.from_host(out.data)
    out.device = device
    return out
