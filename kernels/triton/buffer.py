"""The `cuda` device's array: device memory plus a view (shape, strides, offset).

Why a class of our own: the ops read `.shape`, `.dtype` (a numpy dtype), `.ndim` and
`.flags.c_contiguous` from a backend array, and Triton's launcher needs a pointer
and an element type. A torch tensor would do the second job but not the first
(its dtype is torch's), and torch must not leak into the engine's API. So a
`DeviceBuffer` holds a flat torch tensor as *storage* (only for its memory: torch's
CUDA caching allocator on a GPU) and does all view arithmetic itself:

    element (i0, i1, ...) lives at storage[offset + i0*strides[0] + i1*strides[1] + ...]

Strides count elements, not bytes (numpy counts bytes). Views (reshape, permute,
expand, basic slicing) make a new DeviceBuffer on the same storage; kernels get a
pointer to element 0 (`ptr()`) plus explicit strides.

Under the Triton interpreter (TRITON_INTERPRET=1, no GPU) the storage is a CPU torch
tensor: the interpreter reads kernel arguments through torch's storage API
(`untyped_storage()`, `set_`, `data_ptr()` and the torch dtype), so a CPU tensor is
what it needs, and the same kernels, dispatch and backward run in CI.
"""
import math
import os

import numpy as np

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"

_torch = None


def torch():
    """torch, imported on first use (only the cuda device needs it)."""
    global _torch
    if _torch is None:
        import torch as module
        _torch = module
    return _torch


def device_name():
    return "cpu" if INTERPRET else "cuda"


def check_device():
    """Raise DeviceError unless kernels can run here (a GPU, or the interpreter)."""
    from engine.errors import DeviceError
    if INTERPRET:
        return
    try:
        available = torch().cuda.is_available()
    except Exception as error:  # noqa: BLE001 - a broken torch install reads as "no GPU"
        raise DeviceError(f"device 'cuda': torch cannot be used ({error}). Hint: install "
                          f"torch with CUDA, or set TRITON_INTERPRET=1 to run the Triton "
                          f"kernels on the CPU") from None
    if not available:
        raise DeviceError("device 'cuda': no GPU is visible to torch. Hint: run on a machine "
                          "with an NVIDIA GPU, or set TRITON_INTERPRET=1 before importing "
                          "engine to run the Triton kernels on the CPU")


_TORCH_DTYPES = {}


def torch_dtype(dtype):
    """The torch dtype with numpy dtype `dtype`'s layout."""
    dtype = np.dtype(dtype)
    if not _TORCH_DTYPES:
        t = torch()
        _TORCH_DTYPES.update({
            np.dtype(np.float16): t.float16, np.dtype(np.float32): t.float32,
            np.dtype(np.float64): t.float64, np.dtype(np.int8): t.int8,
            np.dtype(np.uint8): t.uint8, np.dtype(np.int16): t.int16,
            np.dtype(np.int32): t.int32, np.dtype(np.int64): t.int64,
            np.dtype(np.bool_): t.bool})
    try:
        return _TORCH_DTYPES[dtype]
    except KeyError:
        from engine.errors import DTypeError
        raise DTypeError(f"cuda: dtype {dtype} is not supported. Hint: use float16/32/64, "
                         f"int32/64 or bool") from None


def contiguous_strides(shape):
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


class _Flags:
    __slots__ = ("c_contiguous",)

    def __init__(self, c_contiguous):
        self.c_contiguous = c_contiguous


class DeviceBuffer:
    """A view of device memory: `storage` (flat torch tensor), shape, strides, offset."""

    __slots__ = ("storage", "shape", "strides", "offset", "dtype")

    def __init__(self, storage, shape, strides, offset, dtype):
        self.storage = storage
        self.shape = tuple(shape)
        self.strides = tuple(strides)
        self.offset = offset
        self.dtype = np.dtype(dtype)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def is_contiguous(self):
        """C-contiguous: strides are the packed ones (size-1 dims may have any stride)."""
        if 0 in self.shape:
            return True
        step = 1
        for n, s in zip(reversed(self.shape), reversed(self.strides)):
            if n != 1 and s != step:
                return False
            step *= n
        return True

    @property
    def flags(self):
        return _Flags(self.is_contiguous)

    def ptr(self):
        """The kernel argument: a torch tensor whose data pointer is element 0."""
        return self.storage[self.offset:] if self.offset else self.storage

    def view(self, shape, strides, offset=None):
        return DeviceBuffer(self.storage, shape, strides,
                            self.offset if offset is None else offset, self.dtype)

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return (f"DeviceBuffer(shape={self.shape}, dtype={self.dtype}, strides={self.strides}, "
                f"offset={self.offset}, on {self.storage.device})")

    def __array__(self, *args, **kwargs):
        # A silent device-to-host copy would hide a missing kernel: say so instead.
        raise TypeError("a cuda array cannot become a numpy array implicitly. Hint: use "
                        "tensor.numpy() or tensor.cpu()")


def empty(shape, dtype):
    """A new contiguous buffer (uninitialized) from torch's caching allocator."""
    shape = tuple(int(n) for n in shape)
    n = math.prod(shape)
    storage = torch().empty(max(n, 1), dtype=torch_dtype(dtype), device=device_name())
    return DeviceBuffer(storage, shape, contiguous_strides(shape), 0, dtype)


def is_buffer(x):
    return isinstance(x, DeviceBuffer)


def broadcast_to(x, shape):
    """A stride-0 view of x at `shape` (numpy's broadcasting rules; shapes checked by ops)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = len(shape) - x.ndim
    strides = [0] * lead
    for i, n in enumerate(x.shape):
        strides.append(0 if n == 1 and shape[lead + i] != 1 else x.strides[i])
    return x.view(shape, strides)
