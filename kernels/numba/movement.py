"""Movement kernels, Numba CPU: copies, joins, gathers and scatters.
Must match `kernels/reference/movement.py`.

Views (reshape of contiguous data, permute, expand, basic slicing) are stride
arithmetic, not kernels: they are the reference's numpy views, re-exported.

The kernels, as plain loops (shapes in the docstrings below):
- `copy_forward_kernel(dst, src)`: dst[i] = src[i] over one shape, any strides (src may
  be a stride-0 broadcast view). It is the whole of contiguous_copy and copy_into, and
  writes each piece of cat and the interior of pad. Traffic: read n, write n.
- `fill_forward_kernel(dst, value)`: dst[i] = value (fill, the border of pad). Write n.
- `gather_rows_forward_kernel(src, rows, out)`: out[i, :] = src[rows[i], :], the
  embedding lookup / `x[idx]` shape of advanced indexing. Read and write m rows.
- `gather_forward_kernel(src, flat, out)`: out[i] = src[flat[i]], any other key.
- `index_add_rows_forward_kernel(out, rows, grad)`: out[rows[i], :] += grad[i, :], and
  `index_add_forward_kernel(out, flat, grad)`: out[flat[i]] += grad[i]. Sequential, so
  repeated indices accumulate (np.add.at); not parallel, since two threads could add
  to the same row.

N-d arrays are walked as rows: `np.ndindex` over all axes but the last, then a plain
loop along the last axis. Numba compiles one version per (dtype, ndim, layout), so
any rank, any strides (negative, zero) work; when both arrays are C-contiguous they
are flattened first, for one long inner loop and fewer compiled versions.

Advanced indexing has many rules (bool masks, mixed slices and arrays, where the
broadcast index dimensions go); rather than re-implement them, the general path lets
numpy apply the key to one small index grid per axis (`arange(n_k)` broadcast to the
input's shape, O(n_k) memory), which yields exactly the reference's result shape and
errors; `np.ravel_multi_index` turns those into flat indices, and the kernel gathers.
Integer-array keys on leading axes (embeddings, `x[arange(B), labels]`) skip the grids.

float16, which Numba cannot load, moves as its uint16 bit pattern (copies are exact);
index_add accumulates float16 in float32 and rounds once at the end.
"""
import math

import numba
import numpy as np

from kernels.reference.movement import expand, permute, reshape, slice  # noqa: F401  (views)

_ndarray = np.ndarray
_F16 = np.dtype(np.float16)
_U16 = np.dtype(np.uint16)
_F32 = np.dtype(np.float32)


# ---- kernels ------------------------------------------------------------------------
@numba.njit(cache=True)
def copy_forward_kernel(dst, src):
    """dst[...] = src; same shape, ndim >= 1, any strides; casts as numpy's unsafe cast."""
    n = dst.shape[-1]
    for index in np.ndindex(dst.shape[:-1]):
        d = dst[index]
        s = src[index]
        for j in range(n):
            d[j] = s[j]


@numba.njit(cache=True)
def fill_forward_kernel(dst, value):
    """dst[...] = value; ndim >= 1, any strides."""
    n = dst.shape[-1]
    for index in np.ndindex(dst.shape[:-1]):
        d = dst[index]
        for j in range(n):
            d[j] = value


@numba.njit(cache=True)
def gather_rows_forward_kernel(src, rows, out):
    """out[i, :] = src[rows[i], :]; src (n, d), rows (m,), out (m, d).

    Negative rows count from the end. Returns the position of the first row out of
    range (nothing after it is written), or -1.
    """
    n = src.shape[0]
    d = src.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        if r < 0:
            r += n
        if r < 0 or r >= n:
            return i
        s = src[r]
        o = out[i]
        for j in range(d):
            o[j] = s[j]
    return -1


@numba.njit(cache=True)
def gather_forward_kernel(src, flat, out):
    """out[i] = src[flat[i]]; src, flat, out 1-D, flat already checked and in range."""
    for i in range(flat.shape[0]):
        out[i] = src[flat[i]]


@numba.njit(cache=True)
def index_add_rows_forward_kernel(out, rows, grad):
    """out[rows[i], :] += grad[i, :]; out (n, d), rows (m,), grad (m, d).

    Returns the position of the first row out of range (rows before it are added), or -1.
    """
    n = out.shape[0]
    d = out.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        if r < 0:
            r += n
        if r < 0 or r >= n:
            return i
        o = out[r]
        g = grad[i]
        for j in range(d):
            o[j] += g[j]
    return -1


@numba.njit(cache=True)
def index_add_forward_kernel(out, flat, grad):
    """out[flat[i]] += grad[i]; all 1-D, flat already checked and in range."""
    for i in range(flat.shape[0]):
        out[flat[i]] += grad[i]


# ---- helpers ------------------------------------------------------------------------
def _bits(a):
    """float16 as its uint16 bit pattern (Numba has no float16); other dtypes as they are."""
    return a.view(_U16) if a.dtype == _F16 else a


def _copy(dst, src):
    """dst[...] = src for arrays of one shape (src may be a broadcast view), any strides."""
    if dst.size == 0:
        return
    if src.dtype != dst.dtype and (src.dtype == _F16 or dst.dtype == _F16):
        src = src.astype(dst.dtype)            # numpy converts to and from half
    if dst.flags.c_contiguous and src.flags.c_contiguous:   # 0-d included
        dst, src = dst.reshape(-1), src.reshape(-1)
    copy_forward_kernel(_bits(dst), _bits(src))


def _fill(dst, value):
    """dst[...] = value, value converted as ndarray.fill does."""
    if dst.size == 0:
        return
    value = dst.dtype.type(value)
    if dst.flags.c_contiguous:
        dst = dst.reshape(-1)
    if dst.dtype == _F16:
        dst, value = dst.view(_U16), value.view(_U16)
    fill_forward_kernel(dst, value)


def _writable(dst, op):
    if not dst.flags.writeable:
        raise ValueError(f"{op}: assignment destination is read-only")


def _index_grids(shape, key):
    """For each axis k, the index along k of every element `key` selects from `shape`.

    numpy applies the key to `arange(shape[k])` broadcast over `shape` (stride 0 on the
    other axes), so shapes, bool masks, broadcasting and IndexError are numpy's own.
    """
    grids = []
    for k, n in enumerate(shape):
        axis = np.arange(n, dtype=np.intp).reshape((-1,) + (1,) * (len(shape) - k - 1))
        grids.append(np.broadcast_to(axis, shape)[key])
    return grids


def _leading_int_rows(shape, key):
    """Flat row indices into shape[:len(key)] when key is an integer array, or a tuple of
    integer arrays and ints (no slices, masks, None or Ellipsis); None for other keys.

    Returns (rows, index_shape, lead): rows raveled (negatives still negative only for a
    single array, which the kernel wraps and checks), the broadcast shape of the index
    arrays, and the number of leading axes indexed.
    """
    if key.__class__ is _ndarray:
        if key.dtype.kind not in "iu" or not shape:
            return None
        return key.reshape(-1).astype(np.intp, copy=False), key.shape, 1
    if key.__class__ is not tuple or not 0 < len(key) <= len(shape):
        return None
    parts = []
    for part in key:
        if part.__class__ is int or isinstance(part, np.integer):
            parts.append(np.intp(part))
        elif part.__class__ is _ndarray and part.dtype.kind in "iu":
            parts.append(part)
        else:
            return None
    parts = np.broadcast_arrays(*parts)
    rows = np.zeros(parts[0].shape, dtype=np.intp)
    for k, part in enumerate(parts):
        n = shape[k]
        bad = (part < -n) | (part >= n)
        if bad.any():
            raise IndexError(f"index {part[bad].flat[0]} is out of bounds for axis {k} "
                             f"with size {n}")
        rows *= n
        rows += np.where(part < 0, part + n, part)
    return rows.reshape(-1), parts[0].shape, len(key)


def _raise_row_error(rows, bad, n):
    raise IndexError(f"index {rows[bad]} is out of bounds for axis 0 with size {n}")


# ---- copies -----------------------------------------------------------------------------
def contiguous_copy(x):
    """A fresh C-contiguous, writable copy."""
    x = x if x.__class__ is _ndarray else np.asarray(x)
    out = np.empty(x.shape, dtype=x.dtype)
    _copy(out, x)
    return out


def cat(arrays, axis):
    arrays = [a if a.__class__ is _ndarray else np.asarray(a) for a in arrays]
    if not arrays:
        raise ValueError("cat: need at least one array to concatenate")
    if axis is None:                       # np.concatenate flattens first
        arrays = [a.reshape(-1) for a in arrays]
        axis = 0
    first = arrays[0]
    ndim = first.ndim
    if ndim == 0:
        raise ValueError("cat: zero-dimensional arrays cannot be concatenated")
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    axis %= ndim
    total = 0
    for i, a in enumerate(arrays):
        if a.ndim != ndim or a.shape[:axis] != first.shape[:axis] or \
                a.shape[axis + 1:] != first.shape[axis + 1:]:
            raise ValueError(f"cat: all the input array dimensions except for the "
                             f"concatenation axis must match exactly, but array 0 has shape "
                             f"{first.shape} and array {i} has shape {a.shape}")
        total += a.shape[axis]
    shape = first.shape[:axis] + (total,) + first.shape[axis + 1:]
    out = np.empty(shape, dtype=np.result_type(*arrays))
    lead = (np.s_[:],) * axis
    start = 0
    for a in arrays:
        stop = start + a.shape[axis]
        _copy(out[lead + (np.s_[start:stop],)], a)
        start = stop
    return out


def pad(x, pads, value):
    """Constant padding; `pads` is ((before, after), …) per axis, all >= 0.

    Written as numpy does it: the interior is a copy of x, then axis by axis the two
    border slabs are filled (over the full extent of the axes already padded, and the
    interior of the later ones, so later axes own the corners); every element is
    written once. `value` may also be per-axis pairs, as np.pad's constant_values.
    """
    x = x if x.__class__ is _ndarray else np.asarray(x)
    pairs = np.asarray(pads)
    if pairs.dtype.kind not in "iu":
        raise TypeError("pad: `pads` must be of integral type.")
    pairs = np.broadcast_to(pairs, (x.ndim, 2)).tolist()
    if any(p < 0 for pair in pairs for p in pair):
        raise ValueError("pad: index can't contain negative values")
    values = np.broadcast_to(np.asarray(value), (x.ndim, 2))
    shape = tuple(n + before + after for n, (before, after) in zip(x.shape, pairs))
    out = np.empty(shape, dtype=x.dtype)
    inside = tuple(np.s_[before:before + n] for n, (before, _) in zip(x.shape, pairs))
    _copy(out[inside + (Ellipsis,)], x)        # Ellipsis: a view even when x is 0-d
    for k, (before, after) in enumerate(pairs):
        region = (np.s_[:],) * k
        rest = inside[k + 1:]
        _fill(out[region + (np.s_[:before],) + rest], values[k, 0])
        _fill(out[region + (np.s_[before + x.shape[k]:],) + rest], values[k, 1])
    return out


def gather(x, key):
    """Advanced indexing (integer or bool arrays in `key`): a copy."""
    x = x if x.__class__ is _ndarray else np.asarray(x)
    if x.ndim == 0:
        return np.array(x[key])           # (), None, Ellipsis or a bool: nothing to gather
    found = _leading_int_rows(x.shape, key)
    if found is not None:
        rows, index_shape, lead = found
        inner = x.shape[lead:]
        d = math.prod(inner)
        src = x.reshape(math.prod(x.shape[:lead]), d)    # a copy only if x is not viewable
        out = np.empty((rows.shape[0], d), dtype=x.dtype)
        bad = gather_rows_forward_kernel(_bits(src), rows, _bits(out))
        if bad >= 0:
            _raise_row_error(rows, bad, src.shape[0])
        return out.reshape(index_shape + inner)
    grids = _index_grids(x.shape, key)
    shape = grids[0].shape
    flat = np.ravel_multi_index(grids, x.shape).reshape(-1)
    src = x.reshape(-1)                    # a view when x is contiguous, else a copy
    out = np.empty(flat.shape[0], dtype=x.dtype)
    gather_forward_kernel(_bits(src), flat, _bits(out))
    return out.reshape(shape)


def index_add(shape, key, grad):
    """Zeros of `shape` with `grad` added at `key`; repeated indices accumulate.

    The gradient of x[key] for any key, basic or advanced.
    """
    shape = tuple(shape)
    dtype = grad.dtype
    work = _F32 if dtype == _F16 else dtype    # float16 accumulates in float32
    grad = np.asarray(grad, dtype=work)
    out = np.zeros(shape, dtype=work)
    if not shape:                              # 0-d: () / Ellipsis / None / bool keys
        np.add.at(out, key, grad)
        return out.astype(dtype, copy=False)
    found = _leading_int_rows(shape, key)
    if found is not None:
        rows, index_shape, lead = found
        inner = shape[lead:]
        d = math.prod(inner)
        grad2 = np.broadcast_to(grad, index_shape + inner).reshape(rows.shape[0], d)
        out2 = out.reshape(math.prod(shape[:lead]), d)
        bad = index_add_rows_forward_kernel(out2, rows, grad2)
        if bad >= 0:
            _raise_row_error(rows, bad, out2.shape[0])
    else:
        grids = _index_grids(shape, key)
        flat = np.ravel_multi_index(grids, shape).reshape(-1)
        values = np.broadcast_to(grad, grids[0].shape).reshape(-1)
        index_add_forward_kernel(out.reshape(-1), flat, values)
    return out.astype(dtype, copy=False)


def copy_into(dst, src):
    """dst[...] = src (broadcasting src), in place: the kernel behind copy_()."""
    _writable(dst, "copy_into")
    src = src if src.__class__ is _ndarray else np.asarray(src)
    if src.dtype != dst.dtype and not np.can_cast(src.dtype, dst.dtype, "same_kind"):
        raise TypeError(f"copy_into: cannot cast array data from {src.dtype} to "
                        f"{dst.dtype} according to the rule 'same_kind'")
    if src.shape != dst.shape:
        while src.ndim > dst.ndim and src.shape[0] == 1:   # numpy drops leading 1s
            src = src[0]
        src = np.broadcast_to(src, dst.shape)
    if np.may_share_memory(dst, src):
        src = src.copy()                       # e.g. x[1:] = x[:-1]: read before writing
    _copy(dst, src)
    return dst


def fill(dst, value):
    """Set every element of dst to value, in place."""
    _writable(dst, "fill")
    _fill(dst, value)
    return dst
