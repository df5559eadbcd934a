"""Engine dtypes: thin named wrappers around numpy dtypes, printed the torch way."""
import builtins

import numpy as np

from engine.errors import DTypeError


class DType:
    __slots__ = ("name", "numpy", "is_floating_point", "itemsize")

    def __init__(self, name, numpy_dtype, is_floating_point):
        self.name = name
        self.numpy = np.dtype(numpy_dtype)
        self.is_floating_point = is_floating_point
        self.itemsize = self.numpy.itemsize

    def __repr__(self):
        return f"engine.{self.name}"

    def __reduce__(self):  # dtypes are singletons; copies resolve to the same object
        return (as_dtype, (self.name,))


float16 = DType("float16", np.float16, True)
float32 = DType("float32", np.float32, True)
float64 = DType("float64", np.float64, True)
int32 = DType("int32", np.int32, False)
int64 = DType("int64", np.int64, False)
bool = DType("bool", np.bool_, False)

ALL = (float16, float32, float64, int32, int64, bool)
_BY_NUMPY = {d.numpy: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update(half=float16, float=float32, double=float64, int=int32, long=int64)
_BY_PYTHON = {builtins.float: float32, builtins.int: int64, builtins.bool: bool}

default_float = float32


def from_numpy(numpy_dtype):
    """The engine dtype of a numpy dtype; DTypeError if the engine has none."""
    try:
        return _BY_NUMPY[np.dtype(numpy_dtype)]
    except KeyError:
        supported = ", ".join(d.name for d in ALL)
        raise DTypeError(f"tensor: numpy dtype {np.dtype(numpy_dtype)} is not supported. "
                         f"Hint: convert to one of {supported}") from None


def as_dtype(spec):
    """Accept an engine dtype, a numpy dtype, a Python type (float, int, bool) or a name."""
    if isinstance(spec, DType):
        return spec
    if spec in _BY_PYTHON:
        return _BY_PYTHON[spec]
    if isinstance(spec, str):
        if spec in _BY_NAME:
            return _BY_NAME[spec]
        raise DTypeError(f"dtype: unknown dtype name {spec!r}. Hint: use engine.float32, "
                         f"engine.float64, engine.int64, …")
    return from_numpy(spec)


def promote(a, b):
    """The result dtype of a binary op on two tensors, or None if they must not mix.

    Like torch, a floating operand wins over an integer or bool one, and int64 over
    int32. Unlike torch, two different floating dtypes do not mix silently (API.md).
    """
    if a is b:
        return a
    if a.is_floating_point and b.is_floating_point:
        return None
    if a.is_floating_point:
        return a
    if b.is_floating_point:
        return b
    order = (bool, int32, int64)
    return order[max(order.index(a), order.index(b))]
