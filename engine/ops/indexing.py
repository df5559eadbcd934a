"""x[key] with backward: basic indexing (a view) and advanced indexing (a gather).

Keys are checked here, before any kernel: a kernel given an out-of-range index
would read outside the buffer. The gradient of either kind is a scatter-add of the
upstream gradient into zeros of x's shape (repeated indices accumulate).
"""
import numpy as np

from engine.autograd import Function
from engine.errors import ShapeError, op_error
from engine.ops import _operands as ops


class BasicIndex(Function):
    @staticmethod
    def forward(ctx, x, key):
        ctx.meta = (x.shape, key)
        return ctx.kernels.slice(x, key)

    @staticmethod
    def backward(ctx, grad):
        shape, key = ctx.meta
        return ctx.kernels.index_add(shape, key, grad), None


class Gather(Function):
    @staticmethod
    def forward(ctx, x, key):
        ctx.meta = (x.shape, key)
        return ctx.kernels.gather(x, key)

    @staticmethod
    def backward(ctx, grad):
        shape, key = ctx.meta
        return ctx.kernels.index_add(shape, key, grad), None


def _index_array(x, item, dim, size):
    """An integer or bool index (tensor, list, array) as a checked numpy array."""
    a = item.numpy() if ops.is_tensor(item) else np.asarray(item)
    if a.dtype == np.bool_:
        return a
    if a.size == 0 and a.dtype.kind == "f":
        a = a.astype(np.int64)          # [] parses as float64
    if a.dtype.kind not in "iu":
        raise op_error(IndexError, "getitem", (x,), f"tensors used as indices must be long, int "
                       f"or bool, got {a.dtype}", "convert the index with .long()")
    if a.size and (a.min() < -size or a.max() >= size):
        bad = a.max() if a.max() >= size else a.min()
        raise op_error(IndexError, "getitem", (x,), f"index {bad} is out of bounds for dimension "
                       f"{dim} with size {size}", "indices must be in [-size, size)")
    return np.where(a < 0, a + size, a).astype(np.int64)


def _normalize_key(x, key):
    """A tuple key with Ellipsis expanded and every index checked; `advanced` flag."""
    if not isinstance(key, tuple):
        key = (key,)
    def consumed(k):
        if k is None or k is Ellipsis:
            return 0
        if isinstance(k, (bool, np.bool_)):
            return 0
        if ops.is_tensor(k) or isinstance(k, (list, np.ndarray)):
            a = np.asarray(k.numpy() if ops.is_tensor(k) else k)
            return a.ndim if a.dtype == np.bool_ else 1
        return 1
    if sum(k is Ellipsis for k in key) > 1:
        raise op_error(IndexError, "getitem", (x,), "an index can only have a single ellipsis "
                       "('...')", "use ... once; spell out the other dims with :")
    used = sum(consumed(k) for k in key)
    if used > x.ndim:
        raise op_error(IndexError, "getitem", (x,), f"too many indices for tensor of dimension "
                       f"{x.ndim}", f"give at most {x.ndim} indices")
    out, dim, advanced = [], 0, False
    for k in key:
        if k is Ellipsis:
            fill = x.ndim - used
            out.extend([slice(None)] * fill)
            dim += fill
        elif k is None:
            out.append(None)
        elif isinstance(k, slice):
            if k.step is not None and k.step <= 0:
                raise op_error(ValueError, "getitem", (x,), "step must be greater than zero",
                               "negative strides are not supported; index with a reversed "
                               "arange tensor instead")
            out.append(k)
            dim += 1
        elif isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
            size = x.data.shape[dim]
            if not -size <= k < size:
                raise op_error(IndexError, "getitem", (x,), f"index {k} is out of range for "
                               f"dimension {dim} with size {size}", "indices must be in "
                               "[-size, size)")
            out.append(int(k))
            dim += 1
        elif ops.is_tensor(k) or isinstance(k, (list, np.ndarray, bool, np.bool_)):
            if isinstance(k, (bool, np.bool_)):
                k = np.array(k)
            a = _index_array(x, k, dim, x.data.shape[dim] if dim < x.ndim else 1)
            if a.dtype == np.bool_:
                want = x.data.shape[dim:dim + a.ndim]
                if a.shape != want:
                    raise op_error(IndexError, "getitem", (x,), f"the shape of the mask "
                                   f"{list(a.shape)} does not match the shape of the indexed "
                                   f"tensor {list(want)} at dimension {dim}", "a bool mask must "
                                   "have the shape of the dims it indexes")
                dim += a.ndim
            else:
                dim += 1
            out.append(a)
            advanced = True
        else:
            raise op_error(IndexError, "getitem", (x,), f"unsupported index type "
                           f"{type(k).__name__}", "use ints, slices, None, ..., or integer/bool "
                           "tensors")
    if advanced:
        try:
            np.broadcast_shapes(*[k.shape for k in out if isinstance(k, np.ndarray)
                                  and k.dtype != np.bool_])
        except ValueError:
            raise op_error(ShapeError, "getitem", (x,), "index arrays do not broadcast together",
                           "give index tensors broadcastable shapes") from None
    return tuple(out), advanced


def _selections_first(key):
    """Split an advanced key into (basic key: ints and slices, advanced key: the rest).

    torch applies integer indices first, as selections, so x[0, :, idx] keeps the
    sliced dim in front; numpy counts the 0 as an advanced index and would move
    idx's dim to the front. Selecting first, then gathering, gives torch's layout.
    """
    basic, advanced = [], []
    for k in key:
        if isinstance(k, np.ndarray):
            basic.extend([slice(None)] * (k.ndim if k.dtype == np.bool_ else 1))
            advanced.append(k)
        elif isinstance(k, int):
            basic.append(k)
        else:                                   # a slice, or None (a new dim by then)
            basic.append(k)
            advanced.append(slice(None))
    return tuple(basic), tuple(advanced)


def getitem(x, key):
    key, advanced = _normalize_key(x, key)
    if not advanced:
        return BasicIndex.apply(x, key)
    if any(isinstance(k, int) for k in key):
        basic, key = _selections_first(key)
        x = BasicIndex.apply(x, basic)
    return Gather.apply(x, key)
