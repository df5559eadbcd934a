"""BatchNorm1d/2d and LayerNorm, over F.batch_norm and F.layer_norm.

BatchNorm (Ioffe & Szegedy 2015) normalizes each channel over the batch (and the
spatial dims), then scales and shifts it by learned gamma (`weight`) and beta
(`bias`). During training it also tracks running estimates of each channel's mean and
(unbiased) variance, used instead of the batch statistics in eval mode:

    running = (1 - momentum) * running + momentum * batch_statistic

with momentum=None meaning a cumulative average (momentum = 1 / num_batches_tracked).
Buffers, as torch: running_mean (C,), running_var (C,), num_batches_tracked (int64, 0-d).

LayerNorm (Ba et al. 2016) normalizes each sample over its last dims
(`normalized_shape`): no batch statistics, the same in training and eval — the
normalization of transformers.
"""
from engine import creation, dtypes
from engine.errors import ShapeError
from engine.nn import functional as F
from engine.nn import init
from engine.nn._factory import factory, parameter
from engine.nn.module import Module


class _BatchNorm(Module):
    _dims = ()
    _expected = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None):
        super().__init__()
        device, dtype = factory(device, dtype)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = parameter((num_features,), device, dtype, 1.0)
            self.bias = parameter((num_features,), device, dtype, 0.0)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, dtype=dtype,
                                                                device=device))
            self.register_buffer("running_var", creation.ones(num_features, dtype=dtype,
                                                              device=device))
            self.register_buffer("num_batches_tracked", creation.zeros((), dtype=dtypes.int64,
                                                                       device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input):
        if input.ndim not in self._dims:
            raise ShapeError(f"{type(self).__name__}: expected {self._expected} input (got "
                             f"{input.ndim}D input of shape {tuple(input.shape)}). Hint: "
                             f"BatchNorm1d takes (N, C) or (N, C, L), BatchNorm2d (N, C, H, W)")
        if input.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}: expected {self.num_features} channels "
                             f"(dim 1), got input of shape {tuple(input.shape)}. Hint: "
                             f"num_features must equal the input's channel count")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:            # a cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        # Batch statistics in training, and in eval when there are no running ones.
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L) inputs: statistics per channel C."""
    _dims = (2, 3)
    _expected = "2D or 3D"


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W) inputs: statistics per channel C, over N, H and W."""
    _dims = (4,)
    _expected = "4D"


class LayerNorm(Module):
    """Normalize over the last len(normalized_shape) dims of each sample, then apply
    an elementwise affine map (weight, bias of shape normalized_shape)."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        device, dtype = factory(device, dtype)
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = parameter(self.normalized_shape, device, dtype, 1.0)
            if bias:
                self.bias = parameter(self.normalized_shape, device, dtype, 0.0)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
