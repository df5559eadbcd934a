"""engine: a small reverse-mode autograd engine on hand-written kernels.

    import engine as eg
    x = eg.randn(3, 4, requires_grad=True)
    (x.tanh() @ x.T).sum().backward()
    x.grad                      # d/dx, shape (3, 4)

The API follows PyTorch (names, argument order, layouts); see README.md.
"""
from engine._runtime import COMPILED as _COMPILED, core as _core
from engine import dispatch
from engine.tensor import Size, Tensor

_core.register(Tensor, dispatch.kernels_for)

from engine import autograd  # noqa: E402
from engine.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from engine.creation import (  # noqa: E402
    Generator, arange, as_tensor, default_generator, empty, eye, from_numpy, full, full_like,
    linspace, manual_seed, ones, ones_like, rand, randint, randn, randperm, tensor, zeros,
    zeros_like)
from engine.dtypes import (  # noqa: E402
    DType, bool, float16, float32, float64, int32, int64)
from engine.errors import DeviceError, DTypeError, ShapeError, WeightsFormatError  # noqa: E402
from engine.ops.elementwise import (  # noqa: E402
    abs, add, clamp, cos, div, eq, exp, ge, gt, le, log, lt, maximum, minimum, mul, ne, neg,
    pow, relu, rsqrt, sigmoid, sign, sin, sqrt, sub, tanh, where)
from engine.ops.indexing import getitem  # noqa: E402
from engine.ops.matmul import matmul  # noqa: E402
from engine.ops.movement import (  # noqa: E402
    cat, chunk, flatten, permute, reshape, split, squeeze, stack, transpose, unbind, unsqueeze)
from engine.ops.reduce import (  # noqa: E402
    amax, amin, argmax, argmin, logsumexp, max, mean, min, prod, std, sum, var)
from engine.ops.softmax import log_softmax, softmax  # noqa: E402
from engine.serialization import load, save  # noqa: E402

float = float32
double = float64
long = int64
half = float16


def extension_compiled():
    """True when the Cython runtime (engine/_core) is the compiled extension."""
    return _COMPILED
