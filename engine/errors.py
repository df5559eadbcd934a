"""The engine's error types, and the one helper that writes their messages.

Every message names the op, every operand's shape and dtype, and a hint, so that a
user can fix the call without reading a kernel.
"""


class ShapeError(ValueError, RuntimeError):
    """Operand shapes do not fit the op (broadcasting, matmul, reshape, indexing…)."""


class DTypeError(TypeError):
    """An operand's dtype is not accepted by the op, or two operands disagree."""


class DeviceError(RuntimeError):
    """Operands live on different devices, or the device is unavailable."""


class WeightsFormatError(ValueError):
    """A weights file is malformed; the message names the offending field."""


def describe(x):
    """`shape (2, 3) float32` for a tensor, the repr for anything else."""
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if shape is None or dtype is None:
        return repr(x)
    name = getattr(dtype, "name", str(dtype))
    return f"shape {tuple(shape)} {name}"


def op_error(kind, op, operands, problem, hint):
    """Build `kind` with the standard message: `op: problem (operands). Hint: hint`."""
    described = ", ".join(describe(x) for x in operands)
    return kind(f"{op}: {problem} (got {described}). Hint: {hint}")
