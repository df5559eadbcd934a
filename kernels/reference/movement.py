"""Movement kernels, numpy reference: copies, joins, gathers and scatters.

Views (reshape of contiguous data, permute, expand, basic slicing) are stride
arithmetic, not kernels: numpy's views do it on the CPU, so every CPU backend shares
these few lines.
"""
import numpy as np


# ---- views (no data moves) -------------------------------------------------------
def reshape(x, shape):
    """A view when the strides allow it, else a copy (as torch.reshape)."""
    return np.reshape(x, shape)


def permute(x, dims):
    return np.transpose(x, dims)


def expand(x, shape):
    """Broadcast view: stride 0 along expanded axes (read-only)."""
    return np.broadcast_to(x, shape)


def slice(x, key):
    """Basic indexing (ints, slices, None, Ellipsis): a view, also when every dim gets an
    int (numpy's x[i, j] is a scalar copy; x[i, j, ...] is the 0-d view)."""
    key = key if isinstance(key, tuple) else (key,)
    if not any(k is Ellipsis for k in key):
        key = key + (Ellipsis,)
    return x[key]


# ---- copies -----------------------------------------------------------------
def contiguous_copy(x):
    """A fresh C-contiguous, writable copy."""
    return np.array(x, order="C", copy=True)


def cat(arrays, axis):
    return np.concatenate(arrays, axis=axis)


def pad(x, pads, value):
    """Constant padding; `pads` is ((before, after), …) per axis, all >= 0."""
    return np.pad(x, pads, mode="constant", constant_values=value)


def gather(x, key):
    """Advanced indexing (integer or bool arrays in `key`): a copy."""
    return x[key]


def index_add(shape, key, grad):
    """Zeros of `shape` with `grad` added at `key`; repeated indices accumulate.

    The gradient of x[key] for any key, basic or advanced.
    """
    out = np.zeros(shape, dtype=grad.dtype)
    np.add.at(out, key, grad)
    return out


def copy_into(dst, src):
    """dst[...] = src (broadcasting src), in place: the kernel behind copy_()."""
    np.copyto(dst, src)
    return dst


def fill(dst, value):
    """Set every element of dst to value, in place."""
    dst.fill(value)
    return dst
