"""Conv1d and Conv2d over F.conv1d / F.conv2d, torch's arguments and layouts.

A convolution slides `out_channels` filters over the input; each filter spans every
input channel of its group and a `kernel_size` window, and each position's dot
product is one element of that filter's feature map:

    input (N, C_in, H, W), weight (C_out, C_in / groups, kH, kW), bias (C_out,)
    output (N, C_out, H_out, W_out),
    H_out = floor((H + 2 padding - dilation (kH - 1) - 1) / stride) + 1

Weights follow torch's default initialization: kaiming_uniform_(a=√5), i.e.
U(-1/√fan_in, 1/√fan_in) with fan_in = C_in / groups * kH * kW, the bias likewise.
padding may be an int, a tuple, 'valid' (none) or 'same' (output size = input size;
stride 1 only, an odd total padding puts the extra zero at the end, as torch).
"""
import math

from engine.nn import functional as F
from engine.nn import init
from engine.nn._factory import factory, parameter
from engine.nn.module import Module


def _tuple(value, n, name):
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) != n or not all(isinstance(v, int) for v in value):
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    return value


class _ConvNd(Module):
    _n = 0
    _functional = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros", device=None,
                 dtype=None):
        super().__init__()
        device, dtype = factory(device, dtype)
        n = self._n
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{type(self).__name__}: in_channels ({in_channels}) and "
                             f"out_channels ({out_channels}) must be divisible by groups "
                             f"({groups})")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{type(self).__name__}: padding_mode={padding_mode!r} "
                                      f"is not supported. Hint: use 'zeros', or F.pad first")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(kernel_size, n, "kernel_size")
        self.stride = _tuple(stride, n, "stride")
        self.dilation = _tuple(dilation, n, "dilation")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of "
                                 f"{{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _tuple(padding, n, "padding")
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = parameter((out_channels, in_channels // groups, *self.kernel_size),
                                device, dtype)
        if bias:
            self.bias = parameter((out_channels,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def _padding_for_call(self, input):
        """(input, padding): 'valid' is 0; 'same' is symmetric padding, plus one extra
        zero at the end of a dim whose total padding is odd (applied with F.pad)."""
        if self.padding == "valid":
            return input, (0,) * self._n
        if self.padding != "same":
            return input, self.padding
        totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
        extra = [t % 2 for t in totals]
        if any(extra):
            pads = []
            for e in reversed(extra):               # F.pad lists the last dim first
                pads += [0, e]
            input = F.pad(input, tuple(pads))
        return input, tuple(t // 2 for t in totals)

    def forward(self, input):
        input, padding = self._padding_for_call(input)
        convolve = getattr(F, self._functional)
        return convolve(input, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)

    def extra_repr(self):
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0,) * self._n:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self._n:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv1d(_ConvNd):
    """Input (N, C_in, L) or unbatched (C_in, L); weight (C_out, C_in/groups, k)."""
    _n = 1
    _functional = "conv1d"


class Conv2d(_ConvNd):
    """Input (N, C_in, H, W) or unbatched (C_in, H, W); weight (C_out, C_in/groups, kH, kW)."""
    _n = 2
    _functional = "conv2d"
