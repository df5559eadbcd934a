"""Activation layers: thin Modules over the functional ops.

`inplace=True` is accepted for torch compatibility; the result is always a new
tensor (with the same values).
"""
from engine import creation, dtypes
from engine.nn import functional as F
from engine.nn import init as nn_init
from engine.nn.module import Module
from engine.nn.parameter import Parameter


class ReLU(Module):
    """max(x, 0). `inplace` is accepted for torch compatibility; the result is
    always a new tensor (the value is the same)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu(input)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    def forward(self, input):
        return F.tanh(input)


class Sigmoid(Module):
    def forward(self, input):
        return F.sigmoid(input)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace
                                                          else "")


class PReLU(Module):
    """Leaky ReLU whose negative slope is learned: `weight` of shape (num_parameters,),
    one slope shared by all channels (1, the default) or one per channel (dim 1)."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        dtype = dtypes.as_dtype(dtype) if dtype is not None else dtypes.default_float
        self.weight = Parameter(creation.full((num_parameters,), init, dtype=dtype,
                                              device=device or "cpu"))

    def reset_parameters(self):
        nn_init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class ELU(Module):
    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):
        return F.elu(input, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class SELU(Module):
    """Self-normalizing ELU; pair it with nn.init.lecun_normal_ weights."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.selu(input)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class GELU(Module):
    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.silu(input)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Step(Module):
    """The perceptron's Heaviside step: 1 where x >= 0, else 0. No gradient flows
    through it (no torch twin: torch.heaviside(x, 1) computes the same)."""

    def forward(self, input):
        return F.step(input)


class Softmax(Module):
    """softmax along `dim` (required: torch's implicit choice is deprecated)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        if self.dim is None:
            raise ValueError("Softmax: dim is required. Hint: nn.Softmax(dim=1) for (N, C) "
                             "scores")
        return F.softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, input):
        if self.dim is None:
            raise ValueError("LogSoftmax: dim is required. Hint: nn.LogSoftmax(dim=1) for "
                             "(N, C) scores")
        return F.log_softmax(input, self.dim)
