"""Pooling layers over F.max_pool2d / F.avg_pool2d / F.adaptive_avg_pool2d.

A pooling layer has no weights: it summarizes each window of each feature map by its
maximum or mean, shrinking the map (and the next layer's cost) and making the output
tolerant of small shifts. Shapes: (N, C, H, W) -> (N, C, H_out, W_out), with
H_out = floor((H + 2 padding - kernel) / stride) + 1 and stride defaulting to the
kernel size (non-overlapping windows). Adaptive pooling picks the windows that give
a requested output size.
"""
from engine import creation
from engine.nn import functional as F
from engine.nn.module import Module


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        if return_indices or ceil_mode or dilation != 1:
            raise NotImplementedError("MaxPool2d: dilation, return_indices and ceil_mode are "
                                      "not supported")
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over each window. With padding, count_include_pad=True (torch's default)
    divides by the full window size, zeros included; False divides by the number of
    real elements — computed here as avg_pool2d(x) / avg_pool2d(ones), the fraction of
    each window that is real. divisor_override replaces the window size."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        if ceil_mode:
            raise NotImplementedError("AvgPool2d: ceil_mode is not supported")
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        out = F.avg_pool2d(input, self.kernel_size, self.stride, self.padding)
        if self.divisor_override is not None:
            kh, kw = _pair(self.kernel_size)
            return out * (kh * kw / self.divisor_override)
        if not self.count_include_pad and any(_pair(self.padding)):
            ones = creation.ones(1, 1, *input.shape[-2:], dtype=input.dtype,
                                 device=input.device)
            out = out / F.avg_pool2d(ones, self.kernel_size, self.stride, self.padding)
        return out

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average-pool to a fixed output_size (int or (H, W); None keeps that dim)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
