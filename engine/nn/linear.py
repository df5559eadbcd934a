"""Linear (alias Dense) and Identity."""
import math

from engine import creation, dtypes
from engine.autograd import no_grad
from engine.nn import functional as F
from engine.nn.module import Module
from engine.nn.parameter import Parameter


class Identity(Module):
    """Returns its input unchanged; any constructor arguments are ignored (as torch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x Wᵀ + b.

    weight: (out_features, in_features), bias: (out_features,) — torch's layout, so
    weights copied from torch.nn.Linear give the same outputs. Input (*, in_features)
    -> output (*, out_features).
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        device = device or "cpu"
        dtype = dtypes.as_dtype(dtype) if dtype is not None else dtypes.default_float
        self.weight = Parameter(creation.empty(out_features, in_features, dtype=dtype,
                                               device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """torch's default: kaiming_uniform_(a=√5) for the weight, which works out to
        U(-1/√in, 1/√in), and the same bound for the bias."""
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        with no_grad():
            for param in (self.weight, self.bias):
                if param is not None:
                    u = creation.rand(*param.shape, dtype=param.dtype, device=param.device)
                    param.copy_(u * (2 * bound) - bound)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


Dense = Linear
