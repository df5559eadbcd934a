"""Registry entries for convolution and pooling (engine/ops/conv.py, engine/ops/pool.py).

Conv samples cover both Numba rungs on every path: small channel counts run the
direct kernels, >= 8 output channels per group with >= 64-long reductions the GEMM
ones; stride 1 computes d/dx as a forward convolution, larger strides scatter. Then:
odd sizes, stride/padding/dilation combinations, 'same' with an odd total (the extra
row after), groups=2, depthwise, 1x1 kernels, a kernel as large as the input, a batch
of one and of zero, unbatched input, transposed and strided inputs, bias or none.

Max-pool inputs are `distinct` (no ties, so finite differences never cross an argmax
switch); ties and NaN have their own smooth=False samples.
"""
import warnings

import numpy as np
import torch.nn.functional as TF

import engine as eg
import engine.nn.functional as F
from registry import Op, S, bad, distinct, randn, register, strided, t, transposed


def _quiet(fn):
    """fn with torch's warning that 'same' with an even kernel pads a copy silenced."""
    def call(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Using padding='same'")
            return fn(*args, **kwargs)
    return call


# ---- conv2d -----------------------------------------------------------------------------------
def _conv(fe, ft, id, x, w, b=None, flags=None, **kw):
    flags = flags or {}
    if kw.get("padding") == "same":
        ft = _quiet(ft)
    if b is None:
        return S(id, x, w, engine_fn=lambda x, w: fe(x, w, **kw),
                 torch_fn=lambda x, w: ft(x, w, **kw), **flags)
    return S(id, x, w, b, engine_fn=lambda x, w, b: fe(x, w, b, **kw),
             torch_fn=lambda x, w, b: ft(x, w, b, **kw), **flags)


def _c2(id, x, w, b=None, flags=None, **kw):
    return _conv(F.conv2d, TF.conv2d, id, x, w, b, flags, **kw)


_CHECK = {"check": True}
register(Op("conv2d", F.conv2d, TF.conv2d, [
    _c2("bias", randn(2, 3, 7, 6), randn(4, 3, 3, 3), randn(4)),
    _c2("tiny_bias", randn(1, 2, 4, 4), randn(2, 2, 2, 2), randn(2), flags=_CHECK),
    _c2("stride2_pad1", randn(2, 3, 9, 8), randn(5, 3, 3, 3), stride=2, padding=1),
    _c2("mixed_stride_pad_dilation", randn(2, 3, 11, 9), randn(4, 3, 3, 2), randn(4),
        stride=(2, 1), padding=(1, 2), dilation=(2, 1)),
    _c2("tiny_strided_dilated", randn(1, 1, 6, 5), randn(2, 1, 2, 2), stride=(2, 1),
        padding=1, dilation=(1, 2), flags=_CHECK),
    _c2("dilation2", randn(2, 2, 9, 9), randn(3, 2, 3, 3), dilation=2, padding=1),
    _c2("same_odd_kernel", randn(2, 3, 6, 7), randn(4, 3, 3, 5), randn(4), padding="same"),
    _c2("same_even_kernel", randn(2, 2, 5, 6), randn(3, 2, 2, 4), padding="same"),
    _c2("tiny_same_even", randn(1, 1, 4, 4), randn(1, 1, 2, 2), randn(1), padding="same",
        flags=_CHECK),
    _c2("same_dilated", randn(1, 2, 7, 6), randn(2, 2, 3, 2), padding="same", dilation=(2, 3)),
    _c2("valid", randn(2, 3, 5, 6), randn(2, 3, 2, 3), padding="valid"),
    _c2("groups2", randn(2, 4, 6, 6), randn(6, 2, 3, 3), randn(6), groups=2),
    _c2("depthwise", randn(2, 4, 7, 7), randn(4, 1, 3, 3), randn(4), padding=1, groups=4),
    _c2("depthwise_multiplier_stride2", randn(2, 3, 8, 7), randn(6, 1, 3, 3), stride=2,
        groups=3),
    _c2("kernel_1x1", randn(2, 3, 5, 4), randn(5, 3, 1, 1), randn(5)),
    _c2("kernel_1x1_padded", randn(2, 3, 4, 4), randn(2, 3, 1, 1), randn(2), padding=1),
    _c2("kernel_1x1_stride2", randn(2, 4, 7, 7), randn(3, 4, 1, 1), stride=2),
    _c2("kernel_is_input", randn(2, 3, 5, 5), randn(4, 3, 5, 5), randn(4)),
    _c2("kernel_is_padded_input", randn(1, 2, 3, 4), randn(3, 2, 5, 6), padding=1),
    _c2("batch_of_one", randn(1, 2, 5, 5), randn(3, 2, 3, 3), randn(3), padding=1),
    _c2("empty_batch", randn(0, 3, 5, 5), randn(4, 3, 3, 3), randn(4)),
    _c2("unbatched", randn(3, 6, 5), randn(4, 3, 3, 3), randn(4), padding=1),
    _c2("transposed_input", transposed(randn(2, 3, 6, 7)), randn(4, 3, 3, 3), randn(4)),
    _c2("strided_input_and_weight", strided(randn(2, 3, 6, 5)), strided(randn(2, 3, 2, 2)),
        padding=1),
    _c2("lenet_first_layer", randn(3, 1, 16, 16), randn(6, 1, 5, 5), randn(6)),
    _c2("odd_sizes", randn(3, 5, 13, 11), randn(7, 5, 3, 5), randn(7), padding=(2, 1)),
    # >= 8 output channels per group and reductions >= 64: the GEMM kernels
    _c2("gemm", randn(2, 8, 6, 5), randn(8, 8, 3, 3), randn(8), padding=1),
    _c2("gemm_stride2", randn(2, 8, 9, 7), randn(12, 8, 3, 3), stride=2, padding=1),
    _c2("gemm_groups2", randn(1, 16, 5, 6), randn(16, 8, 3, 3), randn(16), groups=2),
    _c2("gemm_dilated_transposed", transposed(randn(2, 9, 8, 8)), randn(10, 9, 3, 3),
        dilation=2, padding=2),
    _c2("gemm_1x1", randn(2, 64, 3, 5), randn(9, 64, 1, 1)),
], [
    bad("conv2d_channels", eg.ShapeError, "expected input with 2 channels",
        lambda: F.conv2d(t((1, 3, 5, 5)), t((4, 2, 3, 3))), t((1, 3, 5, 5)), t((4, 2, 3, 3))),
    bad("conv2d_weight_rank", eg.ShapeError, "weight must be 4-D",
        lambda: F.conv2d(t((1, 3, 5, 5)), t((4, 3, 3))), t((1, 3, 5, 5)), t((4, 3, 3))),
    bad("conv2d_input_rank", eg.ShapeError, "input must be 4-D",
        lambda: F.conv2d(t((3, 5)), t((4, 3, 3, 3))), t((3, 5)), t((4, 3, 3, 3))),
    bad("conv2d_groups_divide", eg.ShapeError, "groups=2 does not divide the 3 output",
        lambda: F.conv2d(t((1, 4, 5, 5)), t((3, 2, 3, 3)), groups=2), t((1, 4, 5, 5)),
        t((3, 2, 3, 3))),
    bad("conv2d_groups_zero", ValueError, "groups must be a positive int",
        lambda: F.conv2d(t((1, 4, 5, 5)), t((3, 4, 3, 3)), groups=0), t((1, 4, 5, 5)),
        t((3, 4, 3, 3))),
    bad("conv2d_kernel_too_large", eg.ShapeError, "larger than the padded input",
        lambda: F.conv2d(t((1, 1, 3, 3)), t((1, 1, 5, 5)), padding=(1, 0)), t((1, 1, 3, 3)),
        t((1, 1, 5, 5))),
    bad("conv2d_negative_padding", ValueError, "padding must be non-negative",
        lambda: F.conv2d(t((1, 1, 5, 5)), t((1, 1, 3, 3)), padding=-1), t((1, 1, 5, 5)),
        t((1, 1, 3, 3))),
    bad("conv2d_stride_zero", ValueError, "stride must be positive",
        lambda: F.conv2d(t((1, 1, 5, 5)), t((1, 1, 3, 3)), stride=(1, 0)), t((1, 1, 5, 5)),
        t((1, 1, 3, 3))),
    bad("conv2d_dilation_zero", ValueError, "dilation must be positive",
        lambda: F.conv2d(t((1, 1, 5, 5)), t((1, 1, 3, 3)), dilation=0), t((1, 1, 5, 5)),
        t((1, 1, 3, 3))),
    bad("conv2d_stride_type", TypeError, "stride must be an int or a tuple of 2 ints",
        lambda: F.conv2d(t((1, 1, 5, 5)), t((1, 1, 3, 3)), stride=(1, 1, 1)),
        t((1, 1, 5, 5)), t((1, 1, 3, 3))),
    bad("conv2d_dtypes", eg.DTypeError, "different dtypes",
        lambda: F.conv2d(t((1, 1, 5, 5)), t((1, 1, 3, 3), eg.float64)), t((1, 1, 5, 5)),
        t((1, 1, 3, 3), eg.float64)),
    bad("conv2d_int_input", eg.DTypeError, "must be float32 or float64",
        lambda: F.conv2d(t((1, 1, 5, 5), eg.int64), t((1, 1, 3, 3), eg.int64)),
        t((1, 1, 5, 5), eg.int64), t((1, 1, 3, 3), eg.int64)),
    bad("conv2d_bias_shape", eg.ShapeError, "bias must have shape (2,)",
        lambda: F.conv2d(t((1, 1, 5, 5)), t((2, 1, 3, 3)), t((3,))), t((1, 1, 5, 5)),
        t((2, 1, 3, 3)), t((3,))),
    bad("conv2d_same_strided", ValueError, "padding='same' is not supported for strided",
        lambda: F.conv2d(t((1, 1, 5, 5)), t((1, 1, 3, 3)), stride=2, padding="same"),
        t((1, 1, 5, 5)), t((1, 1, 3, 3))),
    bad("conv2d_padding_string", ValueError, "must be 'valid' or 'same'",
        lambda: F.conv2d(t((1, 1, 5, 5)), t((1, 1, 3, 3)), padding="full"), t((1, 1, 5, 5)),
        t((1, 1, 3, 3))),
    bad("conv2d_not_tensor", TypeError, "must be a Tensor",
        lambda: F.conv2d(np.zeros((1, 1, 5, 5)), t((1, 1, 3, 3)))),
], covers=("F.conv2d",)))


# ---- conv1d -----------------------------------------------------------------------------------
def _c1(id, x, w, b=None, flags=None, **kw):
    return _conv(F.conv1d, TF.conv1d, id, x, w, b, flags, **kw)


register(Op("conv1d", F.conv1d, TF.conv1d, [
    _c1("bias", randn(2, 3, 9), randn(4, 3, 3), randn(4)),
    _c1("tiny", randn(1, 2, 7), randn(3, 2, 3), randn(3), flags=_CHECK),
    _c1("stride_pad_dilation", randn(2, 3, 17), randn(5, 3, 3), stride=2, padding=2,
        dilation=3),
    _c1("tuple_args", randn(2, 2, 10), randn(3, 2, 4), stride=(3,), padding=(1,)),
    _c1("groups", randn(2, 4, 8), randn(6, 2, 3), randn(6), groups=2),
    _c1("depthwise", randn(2, 5, 8), randn(5, 1, 3), padding=1, groups=5),
    _c1("same_even_kernel", randn(2, 2, 7), randn(3, 2, 4), randn(3), padding="same"),
    _c1("valid", randn(1, 3, 6), randn(2, 3, 6), padding="valid"),
    _c1("unbatched", randn(3, 8), randn(2, 3, 3)),
    _c1("empty_batch", randn(0, 2, 6), randn(3, 2, 3), randn(3)),
    _c1("transposed_input", transposed(randn(2, 3, 11)), randn(4, 3, 2)),
    _c1("gemm", randn(2, 16, 21), randn(16, 16, 5), randn(16), padding=2),
], [
    bad("conv1d_channels", eg.ShapeError, "expected input with 2 channels",
        lambda: F.conv1d(t((1, 3, 5)), t((4, 2, 3))), t((1, 3, 5)), t((4, 2, 3))),
    bad("conv1d_weight_rank", eg.ShapeError, "weight must be 3-D",
        lambda: F.conv1d(t((1, 3, 5)), t((4, 3, 3, 3))), t((1, 3, 5)), t((4, 3, 3, 3))),
    bad("conv1d_kernel_too_large", eg.ShapeError, "larger than the padded input",
        lambda: F.conv1d(t((1, 1, 3)), t((1, 1, 4))), t((1, 1, 3)), t((1, 1, 4))),
    bad("conv1d_stride_pair", TypeError, "stride must be an int or a tuple of 1 ints",
        lambda: F.conv1d(t((1, 1, 5)), t((1, 1, 3)), stride=(1, 1)), t((1, 1, 5)),
        t((1, 1, 3))),
], covers=("F.conv1d",)))


# ---- pooling ----------------------------------------------------------------------------------
def _pool(fe, ft, id, x, *args, flags=None):
    return S(id, x, engine_fn=lambda x: fe(x, *args), torch_fn=lambda x: ft(x, *args),
             **(flags or {}))


def _mp(id, x, *args, flags=None):
    return _pool(F.max_pool2d, TF.max_pool2d, id, x, *args, flags=flags)


_ties = np.array([[[[1.0, 1.0, 0.5], [1.0, 0.0, 1.0], [2.0, 2.0, 2.0]]]])
_nan = np.array([[[[0.5, np.nan, 0.25, 1.0], [-1.0, 0.0, 3.0, 2.0]]]])
register(Op("max_pool2d", F.max_pool2d, TF.max_pool2d, [
    _mp("2x2", distinct(2, 3, 6, 8), 2),
    _mp("tiny", distinct(1, 2, 4, 4), 2, flags=_CHECK),
    _mp("3x3_stride2_pad1", distinct(2, 2, 7, 9), 3, 2, 1),
    _mp("tiny_overlapping", distinct(1, 1, 5, 4), (3, 2), 1, (1, 0), flags=_CHECK),
    _mp("rect_kernel_stride", distinct(2, 3, 9, 7), (2, 3), (1, 2)),
    _mp("kernel_is_input", distinct(2, 2, 5, 5), 5),
    _mp("odd_sizes_leftover", distinct(1, 3, 7, 5), 2),
    _mp("stride_larger_than_kernel", distinct(2, 2, 9, 9), 2, 3),
    _mp("batch_of_one", distinct(1, 4, 4, 6), (2, 3)),
    _mp("empty_batch", distinct(0, 3, 4, 4), 2),
    _mp("unbatched", distinct(3, 6, 6), 2),
    _mp("transposed", transposed(distinct(2, 3, 6, 5)), 2, 1),
    _mp("strided", strided(distinct(2, 2, 6, 6)), 3, 2, 1),
    _mp("ties_first_wins", _ties, 2, 1, flags={"smooth": False}),
    _mp("nan_propagates", _nan, 2, flags={"smooth": False}),
    _mp("all_negative_padded", -np.abs(distinct(1, 2, 5, 5)) - 1.0, 3, 2, 1),
], [
    bad("max_pool2d_padding_half", ValueError, "must be at most half of kernel_size",
        lambda: F.max_pool2d(t((1, 1, 6, 6)), 2, padding=2), t((1, 1, 6, 6))),
    bad("max_pool2d_kernel_too_large", eg.ShapeError, "larger than the padded input",
        lambda: F.max_pool2d(t((1, 1, 3, 3)), 4), t((1, 1, 3, 3))),
    bad("max_pool2d_rank", eg.ShapeError, "input must be 4-D",
        lambda: F.max_pool2d(t((4, 4)), 2), t((4, 4))),
    bad("max_pool2d_int", eg.DTypeError, "must be float32 or float64",
        lambda: F.max_pool2d(t((1, 1, 4, 4), eg.int64), 2), t((1, 1, 4, 4), eg.int64)),
    bad("max_pool2d_stride_zero", ValueError, "stride must be positive",
        lambda: F.max_pool2d(t((1, 1, 4, 4)), 2, 0), t((1, 1, 4, 4))),
    bad("max_pool2d_empty_plane", eg.ShapeError, "empty spatial dim",
        lambda: F.max_pool2d(t((1, 1, 0, 4)), 2), t((1, 1, 0, 4))),
], covers=("F.max_pool2d",)))


def _ap(id, x, *args, flags=None):
    return _pool(F.avg_pool2d, TF.avg_pool2d, id, x, *args, flags=flags)


register(Op("avg_pool2d", F.avg_pool2d, TF.avg_pool2d, [
    _ap("2x2", randn(2, 3, 6, 8), 2),
    _ap("tiny_padded", randn(1, 2, 4, 5), 3, 2, 1, flags=_CHECK),
    _ap("rect_kernel_stride", randn(2, 3, 9, 7), (3, 2), (2, 1)),
    _ap("padding_counts", randn(2, 2, 5, 5), (2, 4), 1, (1, 2)),
    _ap("kernel_is_input", randn(2, 2, 5, 6), (5, 6)),
    _ap("odd_sizes_leftover", randn(1, 3, 7, 5), 2),
    _ap("empty_batch", randn(0, 3, 4, 4), 2),
    _ap("unbatched", randn(3, 6, 6), 3),
    _ap("transposed", transposed(randn(2, 3, 6, 5)), 2, 1),
    _ap("strided", strided(randn(2, 2, 6, 6)), 3, 2, 1),
], [
    bad("avg_pool2d_padding_half", ValueError, "must be at most half of kernel_size",
        lambda: F.avg_pool2d(t((1, 1, 6, 6)), 3, padding=2), t((1, 1, 6, 6))),
    bad("avg_pool2d_kernel_type", TypeError, "kernel_size must be an int or a tuple of 2",
        lambda: F.avg_pool2d(t((1, 1, 6, 6)), 2.5), t((1, 1, 6, 6))),
    bad("avg_pool2d_kernel_too_large", eg.ShapeError, "larger than the padded input",
        lambda: F.avg_pool2d(t((1, 1, 2, 6)), 3), t((1, 1, 2, 6))),
], covers=("F.avg_pool2d",)))


def _aap(id, x, size, flags=None):
    return _pool(F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d, id, x, size, flags=flags)


register(Op("adaptive_avg_pool2d", F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d, [
    _aap("overlapping_windows", randn(2, 3, 7, 9), (3, 4)),
    _aap("tiny", randn(1, 2, 5, 4), (2, 3), flags=_CHECK),
    _aap("global", randn(2, 4, 6, 5), 1),
    _aap("none_keeps_size", randn(2, 2, 6, 5), (None, 2)),
    _aap("same_size", randn(1, 2, 4, 3), (4, 3)),
    _aap("larger_than_input", randn(1, 2, 3, 2), (5, 4)),
    _aap("empty_batch", randn(0, 3, 4, 4), 2),
    _aap("unbatched", randn(3, 7, 7), 3),
    _aap("transposed", transposed(randn(2, 3, 6, 5)), (2, 2)),
    _aap("strided", strided(randn(2, 2, 6, 6)), 4),
], [
    bad("adaptive_avg_pool2d_size_type", TypeError, "output_size must be an int or a pair",
        lambda: F.adaptive_avg_pool2d(t((1, 1, 6, 6)), (1, 2, 3)), t((1, 1, 6, 6))),
    bad("adaptive_avg_pool2d_size_zero", ValueError, "output_size must be positive",
        lambda: F.adaptive_avg_pool2d(t((1, 1, 6, 6)), 0), t((1, 1, 6, 6))),
    bad("adaptive_avg_pool2d_rank", eg.ShapeError, "input must be 4-D",
        lambda: F.adaptive_avg_pool2d(t((6, 6)), 2), t((6, 6))),
], covers=("F.adaptive_avg_pool2d",)))
