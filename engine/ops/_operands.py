"""Checks and conversions every op does before its kernel runs.

Ops call these first, so a bad call fails here with the op's name, every operand's
shape and dtype, and a hint, never inside a kernel.
"""
import numpy as np

from engine import dtypes
from engine._runtime import core as _core
from engine.errors import DTypeError, ShapeError, op_error

TensorBase = _core.TensorBase
SCALARS = (int, float, bool, np.number, np.bool_)


def is_tensor(x):
    return isinstance(x, TensorBase)


def dtype_of(t):
    return dtypes.from_numpy(t.data.dtype)


def scalar_like(value, dtype):
    """A Python scalar as a numpy scalar of `dtype`, so kernels keep that dtype."""
    return dtype.numpy.type(value)


def require_tensor(op, x, name="input"):
    if not is_tensor(x):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__}. Hint: wrap "
                        f"it with engine.tensor(...)")


def require_kernel_float(op, x, operands, name="input"):
    """The heavy ops' dtype rule: float32 or float64 anywhere, float16 on cuda only.

    The Triton kernels load float16 and compute in float32; the Numba kernels are
    written for float32/float64 only, so a float16 tensor on the CPU gets the way out.
    """
    dtype = x.data.dtype
    if dtype == np.float16 and x.device == "cuda":
        return
    if dtype == np.float16:
        raise op_error(DTypeError, op, operands, f"{name} must be float32 or float64 on the "
                       f"CPU (float16 runs on cuda only)",
                       "convert with .float(), or move the tensors to cuda")
    if dtype.kind != "f":
        raise op_error(DTypeError, op, operands, f"{name} must be float32 or float64 (or "
                       f"float16 on cuda)", "convert with .float() or .double()")


def as_floating(x):
    """Integer and bool tensors become float32 (as torch's exp, mean, … do)."""
    if x.data.dtype.kind in "fc":
        return x
    return x.to(dtypes.default_float)


def binary(op, a, b):
    """Bring two operands (tensors or scalars) to one dtype and check they broadcast.

    Returns (a, b, out_shape); scalars come back as numpy scalars, tensors as tensors.
    """
    a_is, b_is = is_tensor(a), is_tensor(b)
    if a_is and b_is:
        da, db = a.data.dtype, b.data.dtype
        if da != db:
            common = dtypes.promote(dtypes.from_numpy(da), dtypes.from_numpy(db))
            if common is None:
                raise op_error(DTypeError, op, (a, b), "operands have different floating dtypes",
                               "convert one with .float() or .double() first")
            a = a if a.data.dtype == common.numpy else a.to(common)
            b = b if b.data.dtype == common.numpy else b.to(common)
        shape = _core.broadcast_shapes(a.data.shape, b.data.shape)
        if shape is None:
            raise op_error(ShapeError, op, (a, b), "shapes do not broadcast",
                           "trailing dimensions must be equal or 1; use reshape/unsqueeze")
        return a, b, shape
    if a_is and isinstance(b, SCALARS):
        a, b = _with_scalar(op, a, b)
        return a, b, a.data.shape
    if b_is and isinstance(a, SCALARS):
        b, a = _with_scalar(op, b, a)
        return a, b, b.data.shape
    raise TypeError(f"{op}: unsupported operand types {type(a).__name__} and "
                    f"{type(b).__name__}. Hint: use tensors or Python numbers")


def _with_scalar(op, t, value):
    """torch's rule: a Python scalar takes the tensor's dtype, unless it is of a higher
    kind (a float with an int tensor, an int with a bool tensor): then both go up."""
    kind = t.data.dtype.kind
    if kind != "f":
        if isinstance(value, (float, np.floating)):
            t = t.to(dtypes.default_float)
        elif kind == "b" and not isinstance(value, (bool, np.bool_)):
            t = t.to(dtypes.int64)
    return t, t.data.dtype.type(value)


def normalize_dim(op, dim, ndim, operand=None):
    """One dim in [-ndim, ndim) to [0, ndim); 0-d tensors accept -1 and 0."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}. Hint: pass "
                        f"an int such as 0 or -1")
    span = max(ndim, 1)
    if not -span <= dim < span:
        operands = (operand,) if operand is not None else ()
        raise op_error(IndexError, op, operands,
                       f"dimension out of range (expected to be in range of "
                       f"[{-span}, {span - 1}], but got {dim})",
                       "count dims from 0, or from -1 for the last")
    return int(dim) % span if ndim else 0


def normalize_dims(op, dim, ndim, operand=None):
    """`dim` (None, int or tuple) to a sorted tuple of distinct non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    axes = tuple(sorted({normalize_dim(op, d, ndim, operand) for d in dims}))
    if len(axes) != len(dims):
        operands = (operand,) if operand is not None else ()
        raise op_error(ValueError, op, operands, f"dim {dim} names a dimension more than once",
                       "name each dimension once (-1 and ndim-1 are the same dim)")
    return axes if ndim else ()


def parse_shape(op, shape, operand=None):
    """Accept shape(2, 3), shape((2, 3)) and shape([2, 3]); check the entries."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    out = []
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            operands = (operand,) if operand is not None else ()
            raise op_error(TypeError, op, operands, f"shape entries must be ints, got {shape!r}",
                           "convert sizes with int(...)")
        out.append(int(n))
    return tuple(out)
