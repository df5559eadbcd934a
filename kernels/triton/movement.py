"""Movement on the `cuda` device: views are stride arithmetic, the rest are kernels.

Views (no data moves): reshape (when the strides allow, as torch.view), permute,
expand (stride 0), basic slicing (ints, slices with step > 0, None) change only a
DeviceBuffer's shape, strides and offset.

Copies are the strided elementwise copy (elementwise.copy_to: reads and writes N):
contiguous_copy, copy_into (cast and broadcast included), cat (one copy per input
into a slice view of the output), pad (fill, then copy into the interior view).

Advanced indexing (`gather`, and its gradient `index_add`) follows numpy's rules
exactly by letting numpy do the index arithmetic: each dim d contributes
`arange(n_d) * stride_d`, viewed broadcast to the input's shape (no memory), and
indexing those views with the key gives, for every output element, the flat offset
of the element it reads. The offsets (one int64 per output element, computed on the
host and copied over) drive `gather_kernel` (out[i] = x[off[i]]) and
`index_add_kernel` (atomic out[off[i]] += grad[i]: repeated indices accumulate).
Cost: the host computes ndim * numel(out) offsets; an index held on the device (an
argmax result) is copied to the host first.
"""
import builtins
import math

import numpy as np
import triton
import triton.language as tl

from kernels.triton import _launch
from kernels.triton.buffer import broadcast_to, contiguous_strides, empty, is_buffer
from kernels.triton.creation import fill_buffer, from_host, full, to_host
from kernels.triton.elementwise import copy_to


# ---- views (no data moves) -------------------------------------------------------------
def _view_strides(shape, strides, new_shape):
    """Strides that show `shape`/`strides` memory as `new_shape`, or None (torch's rule)."""
    if math.prod(shape) <= 1 or not shape:
        return contiguous_strides(new_shape)
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base_stride = strides[-1]
    tensor_numel = view_numel = 1
    for tensor_d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[tensor_d]
        if tensor_d == 0 or (shape[tensor_d - 1] != 1 and
                             strides[tensor_d - 1] != tensor_numel * chunk_base_stride):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base_stride
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base_stride = strides[tensor_d - 1]
                tensor_numel = view_numel = 1
    if view_d != -1:
        return None
    return tuple(new_strides)


def reshape(x, shape):
    """A view when the strides allow it, else a copy (as torch.reshape)."""
    shape = tuple(int(n) for n in shape)
    if -1 in shape:
        known = math.prod(n for n in shape if n != -1)
        shape = tuple(x.size // known if n == -1 else n for n in shape)
    if shape == x.shape:
        return x
    strides = _view_strides(x.shape, x.strides, shape) if x.size else contiguous_strides(shape)
    if strides is None:
        x = contiguous_copy(x)
        strides = contiguous_strides(shape)
    return x.view(shape, strides)


def permute(x, dims):
    return x.view(tuple(x.shape[d] for d in dims), tuple(x.strides[d] for d in dims))


def expand(x, shape):
    """Broadcast view: stride 0 along expanded axes."""
    return broadcast_to(x, shape)


def slice(x, key):
    """Basic indexing (ints, slices, None, Ellipsis): a view."""
    if not isinstance(key, tuple):
        key = (key,)
    used = builtins.sum(1 for k in key if k is not None and k is not Ellipsis)
    shape, strides, offset, d = [], [], x.offset, 0
    for k in key:
        if k is Ellipsis:
            for _ in range(x.ndim - used):
                shape.append(x.shape[d])
                strides.append(x.strides[d])
                d += 1
        elif k is None:
            shape.append(1)
            strides.append(0)
        elif isinstance(k, builtins.slice):
            start, stop, step = k.indices(x.shape[d])
            shape.append(len(range(start, stop, step)))
            strides.append(x.strides[d] * step)
            if shape[-1]:
                offset += start * x.strides[d]
            d += 1
        else:
            i = int(k)
            offset += (i + x.shape[d] if i < 0 else i) * x.strides[d]
            d += 1
    shape.extend(x.shape[d:])
    strides.extend(x.strides[d:])
    return x.view(tuple(shape), tuple(strides), offset)


# ---- copies --------------------------------------------------------------------------
def contiguous_copy(x):
    """A fresh C-contiguous copy."""
    return copy_to(empty(x.shape, x.dtype), x)


def cat(arrays, axis):
    dtype = np.result_type(*[a.dtype for a in arrays])
    shape = list(arrays[0].shape)
    shape[axis] = builtins.sum(a.shape[axis] for a in arrays)
    out = empty(shape, dtype)
    start = 0
    for a in arrays:
        n = a.shape[axis]
        if n:
            key = (builtins.slice(None),) * axis + (builtins.slice(start, start + n),)
            copy_to(slice(out, key), a)
        start += n
    return out


def pad(x, pads, value):
    """Constant padding; `pads` is ((before, after), ...) per axis, all >= 0."""
    shape = tuple(n + before + after for n, (before, after) in zip(x.shape, pads))
    out = full(shape, value, x.dtype)
    key = tuple(builtins.slice(before, before + n) for n, (before, _) in zip(x.shape, pads))
    if x.size:
        copy_to(slice(out, key), x)
    return out


def _has_arrays(key):
    key = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, np.ndarray) or is_buffer(k) for k in key)


def _offsets(shape, strides, key):
    """The flat element offset each element of x[key] reads (numpy does the indexing)."""
    key = key if isinstance(key, tuple) else (key,)
    key = tuple(to_host(k) if is_buffer(k) else k for k in key)
    total = None
    for d, (n, s) in enumerate(zip(shape, strides)):
        along = (np.arange(n, dtype=np.int64) * s).reshape(
            [n if i == d else 1 for i in range(len(shape))])
        part = np.broadcast_to(along, shape)[key]
        total = part if total is None else total + part
    if total is None:                       # 0-d x
        total = np.zeros((), np.int64)[key]
    return np.ascontiguousarray(total, dtype=np.int64)


@triton.jit
def gather_kernel(x_ptr, offset_ptr, out_ptr, n, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    where = tl.load(offset_ptr + i, mask=mask, other=0)
    tl.store(out_ptr + i, tl.load(x_ptr + where, mask=mask), mask=mask)


@triton.jit
def index_add_kernel(grad_ptr, offset_ptr, out_ptr, n, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    where = tl.load(offset_ptr + i, mask=mask, other=0)
    tl.atomic_add(out_ptr + where, tl.load(grad_ptr + i, mask=mask), mask=mask)


def gather(x, key):
    """Advanced indexing (integer or bool arrays in `key`): a copy."""
    if not _has_arrays(key):
        return contiguous_copy(slice(x, key))
    offsets = _offsets(x.shape, x.strides, key)
    out = empty(offsets.shape, x.dtype)
    if out.size:
        block = _launch.elementwise_block(out.size)
        gather_kernel[(_launch.cdiv(out.size, block),)](
            x.ptr(), from_host(offsets).ptr(), out.ptr(), out.size, BLOCK=block)
    return out


def index_add(shape, key, grad):
    """Zeros of `shape` with `grad` added at `key`; repeated indices accumulate."""
    out = full(shape, 0, grad.dtype)
    if not _has_arrays(key):
        view = slice(out, key)
        if view.size:
            copy_to(view, grad)
        return out
    offsets = _offsets(out.shape, out.strides, key)
    if offsets.size:
        grad = broadcast_to(grad, offsets.shape)
        if not grad.is_contiguous:
            grad = contiguous_copy(grad)
        block = _launch.elementwise_block(offsets.size)
        index_add_kernel[(_launch.cdiv(offsets.size, block),)](
            grad.ptr(), from_host(offsets).ptr(), out.ptr(), offsets.size, BLOCK=block)
    return out


def copy_into(dst, src):
    """dst[...] = src (broadcasting src), in place: the kernel behind copy_()."""
    if not is_buffer(src):
        return fill_buffer(dst, src)
    if dst.size:
        if src.storage.data_ptr() == dst.storage.data_ptr() and src.size:
            # Same memory (x[1:].copy_(x[:-1]), x.copy_(x.T)): on a GPU the programs run
            # concurrently, so a program could read what another already overwrote.
            src = contiguous_copy(src)
        copy_to(dst, src)
    return dst


def fill(dst, value):
    """Set every element of dst to value, in place."""
    return fill_buffer(dst, value)
