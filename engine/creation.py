"""Making tensors: from data, filled, ranges, and random (seeded generators).

Values are made on the host with numpy, then handed to the device's backend
(`from_host`; on the CPU that is the numpy array itself).
"""
import numpy as np

from engine import dtypes
from engine._runtime import core as _core
from engine.errors import DeviceError, DTypeError, ShapeError
from engine.ops._operands import is_tensor, parse_shape


def _finish(array, device, requires_grad, op):
    try:
        kernels = _core._kernels_for(device)
    except DeviceError as error:   # it names the devices there are
        raise DeviceError(f"{op}: {error}") from None
    t = _core.wrap(kernels.from_host(array), device)
    if requires_grad:
        if array.dtype.kind != "f":
            raise DTypeError(f"{op}: only tensors of floating point dtype can require "
                             f"gradients (got {array.dtype}). Hint: pass dtype=engine.float32")
        t.requires_grad = True
    return t


def _numpy_dtype(dtype, default):
    return (dtypes.as_dtype(dtype) if dtype is not None else default).numpy


def _infer_dtype(data):
    """torch's rule: Python floats -> float32, ints -> int64, bools -> bool."""
    if isinstance(data, (np.ndarray, np.generic)):
        return dtypes.from_numpy(np.asarray(data).dtype)
    kinds = {type(v) for v in np.asarray(data, dtype=object).ravel()}
    if kinds and kinds <= {bool, np.bool_}:
        return dtypes.bool
    if kinds and all(issubclass(k, (int, np.integer, bool, np.bool_)) for k in kinds):
        return dtypes.int64
    return dtypes.default_float


def tensor(data, dtype=None, device="cpu", requires_grad=False):
    """A new tensor holding a copy of `data` (nested lists, scalars, arrays, tensors)."""
    if is_tensor(data):
        data = data.numpy()
    if isinstance(data, (list, tuple)):
        try:
            probe = np.array(data)
        except ValueError:
            raise ShapeError("tensor: ragged nested sequence (sublists of different lengths). "
                             "Hint: every row must have the same length") from None
        if probe.dtype == object:
            raise ShapeError("tensor: ragged nested sequence or non-numeric items. Hint: every "
                             "row must have the same length and hold numbers")
    elif not isinstance(data, (np.ndarray, np.generic, int, float, bool)):
        raise TypeError(f"tensor: cannot build a tensor from {type(data).__name__}. Hint: pass "
                        f"numbers, nested lists or a numpy array")
    target = dtypes.as_dtype(dtype) if dtype is not None else _infer_dtype(data)
    array = np.array(data, dtype=target.numpy, copy=True)
    return _finish(array, device, requires_grad, "tensor")


def as_tensor(data, dtype=None, device="cpu"):
    if is_tensor(data) and dtype is None and data.device == device:
        return data
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    """A tensor sharing memory with a numpy array (its dtype kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy array, got {type(array).__name__}. "
                        f"Hint: use engine.tensor(...) for lists and scalars")
    try:
        dtypes.from_numpy(array.dtype)
    except DTypeError as error:    # worded for engine.tensor: name this op instead
        raise DTypeError("from_numpy: " + str(error).split(": ", 1)[1]) from None
    return _core.wrap(array, "cpu")


def _filled(shape, value, dtype, device, requires_grad, op):
    shape = parse_shape(op, shape)
    if any(n < 0 for n in shape):
        raise ShapeError(f"{op}: negative dimension in shape {list(shape)}. Hint: sizes must "
                         f"be >= 0")
    if dtype is None:
        dtype = dtypes.default_float if isinstance(value, float) else dtypes.as_dtype(type(value))
    array = np.full(shape, value, dtype=_numpy_dtype(dtype, dtypes.default_float))
    return _finish(array, device, requires_grad, op)


def zeros(*shape, dtype=None, device="cpu", requires_grad=False):
    return _filled(shape, 0.0, dtype, device, requires_grad, "zeros")


def ones(*shape, dtype=None, device="cpu", requires_grad=False):
    return _filled(shape, 1.0, dtype, device, requires_grad, "ones")


def empty(*shape, dtype=None, device="cpu", requires_grad=False):
    return _filled(shape, 0.0, dtype, device, requires_grad, "empty")


def full(shape, fill_value, dtype=None, device="cpu", requires_grad=False):
    return _filled((shape,) if isinstance(shape, int) else tuple(shape), fill_value, dtype,
                   device, requires_grad, "full")


def _like(x, value, dtype, requires_grad, op):
    return _filled(x.data.shape, value, dtype if dtype is not None else x.dtype, x.device,
                   requires_grad, op)


def zeros_like(x, dtype=None, requires_grad=False):
    return _like(x, 0, dtype, requires_grad, "zeros_like")


def ones_like(x, dtype=None, requires_grad=False):
    return _like(x, 1, dtype, requires_grad, "ones_like")


def full_like(x, fill_value, dtype=None, requires_grad=False):
    return _like(x, fill_value, dtype, requires_grad, "full_like")


def arange(start, end=None, step=1, dtype=None, device="cpu", requires_grad=False):
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        integral = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = dtypes.int64 if integral else dtypes.default_float
    array = np.arange(start, end, step, dtype=dtypes.as_dtype(dtype).numpy)
    return _finish(array, device, requires_grad, "arange")


def linspace(start, end, steps, dtype=None, device="cpu", requires_grad=False):
    array = np.linspace(start, end, steps, dtype=_numpy_dtype(dtype, dtypes.default_float))
    return _finish(array, device, requires_grad, "linspace")


def eye(n, m=None, dtype=None, device="cpu", requires_grad=False):
    array = np.eye(n, m, dtype=_numpy_dtype(dtype, dtypes.default_float))
    return _finish(array, device, requires_grad, "eye")


# ---- random ------------------------------------------------------------------------
class Generator:
    """A seeded source of random numbers (numpy's PCG64), as torch.Generator."""

    def __init__(self, seed=0):
        self.manual_seed(seed)

    def manual_seed(self, seed):
        self.seed = int(seed)
        self.rng = np.random.Generator(np.random.PCG64(self.seed))
        return self

    def get_state(self):
        return self.rng.bit_generator.state

    def set_state(self, state):
        self.rng.bit_generator.state = state


default_generator = Generator(0)


def manual_seed(seed):
    """Seed the default generator (every random op without generator= uses it)."""
    return default_generator.manual_seed(seed)


def _random(shape, draw, dtype, generator, device, requires_grad, op):
    shape = parse_shape(op, shape)
    rng = (generator or default_generator).rng
    array = draw(rng, shape).astype(_numpy_dtype(dtype, dtypes.default_float), copy=False)
    return _finish(array, device, requires_grad, op)


def rand(*shape, generator=None, dtype=None, device="cpu", requires_grad=False):
    """Uniform on [0, 1)."""
    return _random(shape, lambda rng, s: rng.random(s), dtype, generator, device,
                   requires_grad, "rand")


def randn(*shape, generator=None, dtype=None, device="cpu", requires_grad=False):
    """Standard normal."""
    return _random(shape, lambda rng, s: rng.standard_normal(s), dtype, generator, device,
                   requires_grad, "randn")


def randint(low, high=None, size=None, generator=None, dtype=None, device="cpu"):
    """Integers in [low, high); randint(high, size) as in torch."""
    if size is None:
        low, high, size = 0, low, high
    if high is None or size is None:
        raise TypeError("randint: expected randint(low, high, size) or randint(high, size)")
    shape = parse_shape("randint", tuple(size))
    rng = (generator or default_generator).rng
    array = rng.integers(low, high, size=shape).astype(_numpy_dtype(dtype, dtypes.int64))
    return _finish(array, device, False, "randint")


def randperm(n, generator=None, device="cpu"):
    rng = (generator or default_generator).rng
    return _finish(rng.permutation(n).astype(np.int64), device, False, "randperm")
