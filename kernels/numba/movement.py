"""Movement kernels, Numba CPU: copies, joins, gathers and scatters.
Must match `kernels/reference/movement.py`.

Views (reshape of contiguous data, permute, expand, basic slicing) are stride
arithmetic, not kernels: they are the reference's numpy views, re-exported.

The kernels, as plain loops (shapes in the docstrings below):
- `copy_forward_kernel(dst, src)`: dst[i] = src[i] over one shape, any strides (src may
  be a stride-0 broadcast view). It is the whole of contiguous_copy and copy_into, and
  writes each piece of cat and the interior of pad. Traffic: read n, write n.
  `transpose_copy_forward_kernel` is the same copy in 16×16 tiles, for a src whose
  unit stride is not along the last axis (x.T.contiguous(), matmul's packing of B^T).
- `fill_forward_kernel(dst, value)`: dst[i] = value (fill, the border of pad). Write n.
- `gather_rows_forward_kernel(src, rows, out)`: out[i, :] = src[rows[i], :], the
  embedding lookup / `x[idx]` shape of advanced indexing. Read and write m rows.
- `gather_forward_kernel(src, flat, out)`: out[i] = src[flat[i]], any other key.
- `index_add_rows_forward_kernel(out, rows, grad)`: out[rows[i], :] += grad[i, :], and
  `index_add_forward_kernel(out, flat, grad)`: out[flat[i]] += grad[i]. Sequential, so
  repeated indices accumulate (np.add.at); not parallel, since two threads could add
  to the same row.

Layout: adjacent axes that every operand can merge are merged, size-1 axes dropped,
and what is left (at most 3 axes for nearly any view; more are walked here, 3 at a
time) is viewed as (a, b, n): the kernels loop over a and b, then along n. So one
compiled version per element width serves every rank and stride pattern (negative,
zero); a C-contiguous copy is a single row of n elements.

Advanced indexing has many rules (bool masks, mixed slices and arrays, where the
broadcast index dimensions go); rather than re-implement them, the general path lets
numpy apply the key to one small index grid per axis (`arange(n_k)` broadcast to the
input's shape, O(n_k) memory), which yields exactly the reference's result shape and
errors; `np.ravel_multi_index` turns those into flat indices, and the kernel gathers.
Integer-array keys on leading axes (embeddings, `x[arange(B), labels]`) skip the grids.

Moves are bitwise (float16, which Numba cannot load, moves as uint16); a copy between
dtypes (cat of float32 and int32, copy_into with a cast) is numpy's astype first.
index_add accumulates float16 in float32 and rounds once at the end.
"""
import math

import numba
import numpy as np

from kernels.numba._launch import kernel, launch
from kernels.reference.movement import expand, permute, reshape, slice  # noqa: F401  (views)

_ndarray = np.ndarray
_F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)
_UINTS = {1: np.dtype(np.uint8), 2: np.dtype(np.uint16), 4: np.dtype(np.uint32),
          8: np.dtype(np.uint64)}


# ---- kernels ------------------------------------------------------------------------
# Moves are bitwise, so they run on unsigned integers of the element's width: one
# compiled version serves float32, int32 and uint32 alike (and float16, which Numba
# cannot load, moves as uint16). Each is compiled once per width (see _launch.py);
# where a loop vectorizes only at unit stride, the stride is checked at run time.
@numba.njit(cache=True)
def _copy_row(d, s):
    for j in range(d.shape[0]):
        d[j] = s[j]


@kernel()
def copy_forward_kernel(dst, src):
    """dst[...] = src; dst, src (a, b, n) of one shape, any strides (src may be stride 0)."""
    for i in range(dst.shape[0]):
        for k in range(dst.shape[1]):
            d = dst[i, k]
            s = src[i, k]
            if d.strides[0] == d.itemsize and s.strides[0] == s.itemsize:
                _copy_row(np.ascontiguousarray(d), np.ascontiguousarray(s))
            else:
                _copy_row(d, s)


_TILE = 16


@kernel()
def transpose_copy_forward_kernel(dst, src):
    """copy_forward_kernel for a src read along its middle axis (a transposed view).

    Row by row, every dst row would read a strided column of src, one cache line per
    element; in 16×16 tiles each line read is used 16 times while both tiles sit in L1
    (1024² float32: ~1.1 ms, np.ascontiguousarray of the transposed view ~4.3 ms).
    """
    for i in range(dst.shape[0]):
        d2 = dst[i]
        s2 = src[i]
        for k0 in range(0, d2.shape[0], _TILE):
            k1 = min(k0 + _TILE, d2.shape[0])
            for j0 in range(0, d2.shape[1], _TILE):
                j1 = min(j0 + _TILE, d2.shape[1])
                for k in range(k1 - k0):
                    d = d2[k0 + k, j0:j1]
                    s = s2[k0 + k, j0:j1]
                    for j in range(j1 - j0):
                        d[j] = s[j]


@kernel()
def fill_forward_kernel(dst, value):
    """dst[...] = value; dst (a, b, n), any strides."""
    for i in range(dst.shape[0]):
        for k in range(dst.shape[1]):
            d = dst[i, k]
            if d.strides[0] == d.itemsize:
                np.ascontiguousarray(d)[:] = value
            else:
                d[:] = value


@kernel()
def gather_rows_forward_kernel(src, rows, out):
    """out[i, :] = src[rows[i], :]; src (n, d), rows (m,), out (m, d).

    Negative rows count from the end. Returns the position of the first row out of
    range (nothing after it is written), or -1.
    """
    n = src.shape[0]
    for i in range(rows.shape[0]):
        r = rows[i]
        if r < 0:
            r += n
        if r < 0 or r >= n:
            return i
        s = src[r]
        o = out[i]
        if s.strides[0] == s.itemsize and o.strides[0] == o.itemsize:
            _copy_row(np.ascontiguousarray(o), np.ascontiguousarray(s))
        else:
            _copy_row(o, s)
    return -1


@kernel()
def gather_forward_kernel(src, flat, out):
    """out[i] = src[flat[i]]; src, flat, out 1-D, flat already checked and in range."""
    for i in range(flat.shape[0]):
        out[i] = src[flat[i]]


@numba.njit(cache=True)
def _add_row(o, g):
    for j in range(o.shape[0]):
        o[j] += g[j]


@kernel()
def index_add_rows_forward_kernel(out, rows, grad):
    """out[rows[i], :] += grad[i, :]; out (n, d), rows (m,), grad (m, d).

    Returns the position of the first row out of range (rows before it are added), or -1.
    """
    n = out.shape[0]
    for i in range(rows.shape[0]):
        r = rows[i]
        if r < 0:
            r += n
        if r < 0 or r >= n:
            return i
        o = out[r]
        g = grad[i]
        if o.strides[0] == o.itemsize and g.strides[0] == g.itemsize:
            _add_row(np.ascontiguousarray(o), np.ascontiguousarray(g))
        else:
            _add_row(o, g)
    return -1


@kernel()
def index_add_forward_kernel(out, flat, grad):
    """out[flat[i]] += grad[i]; all 1-D, flat already checked and in range."""
    for i in range(flat.shape[0]):
        out[flat[i]] += grad[i]


# ---- helpers ------------------------------------------------------------------------
def _bits(a):
    """The same memory as unsigned integers of the element's width (what moves are)."""
    return a.view(_UINTS[a.itemsize]) if a.itemsize in _UINTS else a


def _merged(shape, *strides):
    """shape with adjacent axes merged wherever every array's strides allow it, and
    size-1 axes dropped: the fewest axes that walk all the arrays in the same order."""
    out_shape, out_strides = [], [[] for _ in strides]
    for k, n in enumerate(shape):
        if n == 1:
            continue
        if out_shape and all(st[-1] == s[k] * n for st, s in zip(out_strides, strides)):
            out_shape[-1] *= n
            for st, s in zip(out_strides, strides):
                st[-1] = s[k]
        else:
            out_shape.append(n)
            for st, s in zip(out_strides, strides):
                st.append(s[k])
    return out_shape


def _layout3(arrays):
    """Views of `arrays` (all of one shape, at least one element) as (a, b, n), the
    kernels' one ndim; None when more than 3 axes remain after merging."""
    first = arrays[0]
    if first.flags.c_contiguous and arrays[-1].flags.c_contiguous:   # 0-d included
        shape = (1, 1, first.size)
    elif first.ndim <= 3:
        shape = (1,) * (3 - first.ndim) + first.shape      # new size-1 axes: a view
    else:
        merged = _merged(first.shape, *(a.strides for a in arrays))
        if len(merged) > 3:
            return None
        shape = (1,) * (3 - len(merged)) + tuple(merged)
        # copy=False: a write through a copy would be lost (_merged only merges what
        # reshape can view, so this never raises).
        return [a.reshape(shape, copy=False) for a in arrays]
    return [a.reshape(shape) for a in arrays]


def _copy(dst, src):
    """dst[...] = src for arrays of one shape (src may be a broadcast view), any strides."""
    if dst.size == 0:
        return
    if src.dtype != dst.dtype:
        src = src.astype(dst.dtype)            # numpy's cast, then a bitwise move
    views = _layout3((dst, src))
    if views is None:                          # rare: walk the leading axes here
        for index in np.ndindex(dst.shape[:dst.ndim - 3]):
            _copy(dst[index], src[index])
        return
    dst3, src3 = views
    itemsize = src.itemsize
    transposed = src3.strides[2] != itemsize and abs(src3.strides[1]) == itemsize
    launch(transpose_copy_forward_kernel if transposed else copy_forward_kernel,
           _bits(dst3), _bits(src3))


def _fill(dst, value):
    """dst[...] = value, value converted as ndarray.fill does."""
    if dst.size == 0:
        return
    value = dst.dtype.type(value)
    views = _layout3((dst,))
    if views is None:
        for index in np.ndindex(dst.shape[:dst.ndim - 3]):
            _fill(dst[index], value)
        return
    (dst3,) = views
    if dst.itemsize in _UINTS:
        value = value.view(_UINTS[dst.itemsize])
    launch(fill_forward_kernel, _bits(dst3), value)


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
        bad = launch(gather_rows_forward_kernel, _bits(src), rows, _bits(out))
        if bad >= 0:
            _raise_row_error(rows, bad, src.shape[0])
        return out.reshape(index_shape + inner)
    grids = _index_grids(x.shape, key)
    shape = grids[0].shape
    flat = np.ravel_multi_index(grids, x.shape).reshape(-1)
    src = x.reshape(-1)                    # a view when x is contiguous, else a copy
    out = np.empty(flat.shape[0], dtype=x.dtype)
    launch(gather_forward_kernel, _bits(src), flat, _bits(out))
    return out.reshape(shape)


def index_add(shape, key, grad):
    """Zeros of `shape` with `grad` added at `key`; repeated indices accumulate.

    The gradient of x[key] for any key, basic or advanced.
    """
    shape = tuple(shape)
    dtype = grad.dtype
    # float16 accumulates in float32; bools and narrower ints in int64, cast back at the
    # end (for bool: "any", np.add.at's logical or), one compiled version fewer each.
    work = _F32 if dtype == _F16 else np.dtype(np.int64) if dtype.kind in "bi" else dtype
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
        bad = launch(index_add_rows_forward_kernel, out2, rows, grad2)
        if bad >= 0:
            _raise_row_error(rows, bad, out2.shape[0])
    else:
        grids = _index_grids(shape, key)
        flat = np.ravel_multi_index(grids, shape).reshape(-1)
        values = np.broadcast_to(grad, grids[0].shape).reshape(-1)
        launch(index_add_forward_kernel, out.reshape(-1), flat, values)
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
