"""Allocation, filling and host transfer on the `cuda` device.

- `full(shape, value, dtype)`: allocate from torch's caching allocator, then
  `fill_kernel` writes the value. The value travels as its bit pattern in an
  integer argument (Triton types a Python float argument as fp32, which would
  round a float64 value), bitcast back inside the kernel.
- `arange(start, stop, step, dtype)`: out[i] = start + i * step, computed in
  float64 (or int64) and cast once, as numpy does.
- `from_host(array)` / `to_host(x)`: one copy each way (torch's copy engine). A
  non-contiguous view is packed on the device first (`contiguous_copy`), so only
  its elements cross the bus.
Memory traffic: full writes N elements; arange writes N; transfers move N each way.
"""
import numpy as np
import triton
import triton.language as tl

from kernels.triton import _launch
from kernels.triton.buffer import (DeviceBuffer, contiguous_strides, device_name, empty,
                                   torch, torch_dtype)

_INT_FOR_WIDTH = {2: np.int16, 4: np.int32, 8: np.int64}


def value_bits(value, dtype):
    """(int argument, BITCAST width) carrying `value` exactly as a `dtype` element."""
    dtype = np.dtype(dtype)
    a = np.asarray(value).astype(dtype)
    if dtype.kind == "f":
        return int(a.view(_INT_FOR_WIDTH[dtype.itemsize])), dtype.itemsize * 8
    return int(a), 0


@triton.jit
def fill_kernel(out_ptr, bits, n, D1, D2, D3, so0, so1, so2, so3,
                BITCAST: tl.constexpr, IS_BOOL: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    i = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    i3 = i % D3
    r = i // D3
    i2 = r % D2
    r = r // D2
    i1 = r % D1
    i0 = r // D1
    # A vector first: on a GPU an integer argument equal to 1 arrives as a constexpr.
    b = tl.zeros([BLOCK], tl.int64) + bits
    if BITCAST == 16:
        vals = b.to(tl.int16).to(tl.float16, bitcast=True)
    elif BITCAST == 32:
        vals = b.to(tl.int32).to(tl.float32, bitcast=True)
    elif BITCAST == 64:
        vals = b.to(tl.float64, bitcast=True)
    elif IS_BOOL:
        vals = b != 0
    else:
        vals = b.to(out_ptr.dtype.element_ty)
    tl.store(out_ptr + i0 * so0 + i1 * so1 + i2 * so2 + i3 * so3, vals, mask=mask)


def fill_buffer(dst, value):
    """Every element of the (possibly strided) view dst becomes value, in place."""
    if dst.size == 0:
        return dst
    bits, width = value_bits(value, dst.dtype)

    def launch(ptrs, sizes, strides, n):
        block = _launch.elementwise_block(n)
        fill_kernel[(_launch.cdiv(n, block),)](
            ptrs[0], bits, n, sizes[1], sizes[2], sizes[3], *strides[0],
            BITCAST=width, IS_BOOL=dst.dtype.kind == "b", BLOCK=block)
    _launch.strided_launch(launch, dst.shape, [dst])
    return dst


def full(shape, value, dtype):
    return fill_buffer(empty(shape, dtype), value)


@triton.jit
def arange_kernel(out_ptr, start_bits, step_bits, n, FLOAT: tl.constexpr, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    start = tl.zeros([BLOCK], tl.int64) + start_bits      # vectors: see fill_kernel
    step = tl.zeros([BLOCK], tl.int64) + step_bits
    if FLOAT:
        v = start.to(tl.float64, bitcast=True) + i.to(tl.float64) * step.to(tl.float64,
                                                                          bitcast=True)
    else:
        v = start + i * step
    tl.store(out_ptr + i, v.to(out_ptr.dtype.element_ty), mask=i < n)


def arange(start, stop, step, dtype):
    dtype = np.dtype(dtype)
    n = max(int(np.ceil((stop - start) / step)), 0)
    out = empty((n,), dtype)
    if n:
        floating = dtype.kind == "f" or any(isinstance(v, (float, np.floating))
                                            for v in (start, step))
        if floating:
            start_bits, _ = value_bits(start, np.float64)
            step_bits, _ = value_bits(step, np.float64)
        else:
            start_bits, step_bits = int(start), int(step)
        block = _launch.elementwise_block(n)
        arange_kernel[(_launch.cdiv(n, block),)](out.ptr(), start_bits, step_bits, n,
                                                 FLOAT=floating, BLOCK=block)
    return out


def from_host(array):
    """A new device buffer holding a copy of the numpy array's values."""
    array = np.asarray(array)
    torch_dtype(array.dtype)                    # unsupported dtypes fail here, named
    host = np.array(array, order="C", copy=True).reshape(-1)
    if host.size == 0:
        host = np.zeros(1, dtype=array.dtype)
    storage = torch().from_numpy(host)
    if device_name() != "cpu":
        storage = storage.to(device_name())
    return DeviceBuffer(storage, array.shape, contiguous_strides(array.shape), 0, array.dtype)


def to_host(x):
    """A numpy array with x's values (always a copy: device memory is not host memory)."""
    if x.size == 0:
        return np.zeros(x.shape, dtype=x.dtype)
    if not x.is_contiguous:
        from kernels.triton.movement import contiguous_copy
        x = contiguous_copy(x)
    flat = x.storage[x.offset:x.offset + x.size]
    return flat.cpu().numpy().copy().reshape(x.shape)
