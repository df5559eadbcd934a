"""Parameter construction shared by the layers: torch's device=/dtype= arguments."""
from engine import creation, dtypes
from engine.nn.parameter import Parameter


def factory(device, dtype):
    """(device, dtype) with torch's defaults: cpu and the default float dtype."""
    return device or "cpu", dtypes.as_dtype(dtype) if dtype is not None else \
        dtypes.default_float


def parameter(shape, device, dtype, fill=0.0):
    """A new Parameter of `shape` filled with `fill` (layers then run their init)."""
    return Parameter(creation.full(tuple(shape), fill, dtype=dtype, device=device))
