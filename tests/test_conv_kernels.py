"""kernels/numba/conv.py and pool.py against kernels/reference, rung by rung.

Every rung (direct, im2col + GEMM, implicit GEMM) runs on every configuration it
accepts, not only where the table would choose it, and the table functions (which
pick a rung, and compute d/dx at stride 1 as a forward convolution) run too.

Tolerance: a float sum of K terms is off by at most ~K eps sum|terms|, typically
sqrt(K) eps sum|terms|. So the absolute tolerance is RTOL x the largest sum|terms| of
the result (the same convolution on |x| and |w|): 2e-6 in float32 (reductions here
are <= ~600 long), 1e-12 in float64. Pooling moves values (max) or sums a few:
max pooling and argmax must be exact.
"""
import numpy as np
import pytest

import kernels.numba as nb
import kernels.numba.conv as nconv
import kernels.reference as ref
from kernels.numba._launch import launch

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
RTOL = {F32: 2e-6, F64: 1e-12}


def close(got, want, scale):
    assert type(got) is np.ndarray
    assert got.dtype == want.dtype and got.shape == want.shape, \
        (got.dtype, want.dtype, got.shape, want.shape)
    rtol = RTOL[want.dtype]
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, scale))


def rand(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# (x shape, w shape, stride, padding, dilation, groups)
CONVS = {
    "lenet": ((2, 1, 12, 11), (6, 1, 5, 5), (1, 1), (0, 0), (1, 1), 1),
    "pad_stride_dilation": ((2, 3, 11, 9), (4, 3, 3, 2), (2, 1), (1, 2), (2, 1), 1),
    "stride3_wide_pad": ((1, 2, 10, 13), (3, 2, 3, 4), (3, 2), (1, 2), (1, 3), 1),
    "crop_flip": ((2, 2, 6, 6), (3, 2, 2, 2), (1, 1), (2, 1), (1, 1), 1),   # p > d (k - 1)
    "groups2": ((2, 4, 6, 7), (6, 2, 3, 3), (1, 1), (1, 0), (1, 1), 2),
    "depthwise_stride2": ((2, 3, 8, 7), (6, 1, 3, 3), (2, 2), (1, 1), (1, 1), 3),
    "kernel_1x1": ((2, 5, 4, 3), (7, 5, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    "kernel_is_input": ((2, 3, 5, 4), (4, 3, 5, 4), (1, 1), (0, 0), (1, 1), 1),
    "empty_batch": ((0, 3, 5, 5), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "one_row": ((2, 4, 1, 17), (5, 4, 1, 3), (1, 2), (0, 1), (1, 2), 1),    # conv1d
    # GEMM-sized: several pixel tiles with a partial last one (K = 576 -> 56 pixels a
    # tile), a span of several implicit-GEMM chunks, GEMM rows/cols not multiples of 4
    "gemm_tiles": ((2, 64, 10, 10), (10, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "gemm_stride2": ((2, 16, 11, 9), (9, 16, 3, 3), (2, 2), (1, 1), (1, 1), 1),
    "long_span": ((1, 2, 30, 29), (5, 2, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "gemm_groups": ((1, 32, 7, 6), (24, 8, 3, 3), (1, 1), (2, 1), (2, 1), 4),
}


@pytest.fixture(scope="module", params=sorted(CONVS), ids=sorted(CONVS))
def conv_case(request):
    return CONVS[request.param]


def _operands(case, dtype):
    xs, ws, stride, padding, dilation, groups = case
    x, w, b = rand(xs, dtype, 1), rand(ws, dtype, 2), rand(ws[:1], dtype, 3)
    params = (stride, padding, dilation, groups)
    out = ref.conv2d_forward(x, w, b, *params)
    grad = rand(out.shape, dtype, 4)
    return x, w, b, grad, params


def _scales(x, w, grad, params):
    """The largest sum|terms| of each result: the reference on absolute values."""
    ax, aw, ag = np.abs(x), np.abs(w), np.abs(grad)
    return (ref.conv2d_forward(ax, aw, None, *params).max(initial=0.0),
            ref.conv2d_backward_input(ag, aw, x.shape, *params).max(initial=0.0),
            ref.conv2d_backward_weight(ag, ax, w.shape, *params).max(initial=0.0))


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_conv_rungs_match_reference(conv_case, dtype):
    x, w, b, grad, params = _operands(conv_case, dtype)
    (sh, sw), (ph, pw), (dh, dw), groups = params
    flat = (sh, sw, ph, pw, dh, dw, groups)
    s_out, s_dx, s_dw = _scales(x, w, grad, params)
    want = ref.conv2d_forward(x, w, b, *params)
    for fn in (nconv.conv2d_forward_kernel1, nconv.conv2d_forward_kernel2):
        out = np.empty_like(want)
        launch(fn, x, w, b, *flat, out)
        close(out, want, s_out)
    want = ref.conv2d_backward_input(grad, w, x.shape, *params)
    for fn in (nconv.conv2d_backward_input_kernel1, nconv.conv2d_backward_input_kernel2):
        out = np.empty_like(want)
        launch(fn, grad, w, *flat, out)
        close(out, want, s_dx)
    want = ref.conv2d_backward_weight(grad, x, w.shape, *params)
    out = np.empty_like(want)
    launch(nconv.conv2d_backward_weight_kernel1, grad, x, *flat, out)
    close(out, want, s_dw)
    for fn in (nconv.conv2d_backward_weight_kernel2, nconv.conv2d_backward_weight_kernel3):
        for chunks in (1, 3):              # batch chunks summed in private copies
            out = np.empty_like(want)
            launch(fn, grad, x, *flat, chunks, out)
            close(out, want, s_dw)


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_conv_table_matches_reference(conv_case, dtype):
    x, w, b, grad, params = _operands(conv_case, dtype)
    s_out, s_dx, s_dw = _scales(x, w, grad, params)
    close(nb.conv2d_forward(x, w, b, *params), ref.conv2d_forward(x, w, b, *params), s_out)
    close(nb.conv2d_forward(x, w, None, *params), ref.conv2d_forward(x, w, None, *params),
          s_out)
    close(nb.conv2d_backward_input(grad, w, x.shape, *params),
          ref.conv2d_backward_input(grad, w, x.shape, *params), s_dx)
    close(nb.conv2d_backward_weight(grad, x, w.shape, *params),
          ref.conv2d_backward_weight(grad, x, w.shape, *params), s_dw)
    close(nb.conv2d_backward_bias(grad), ref.conv2d_backward_bias(grad),
          np.abs(grad).sum(axis=(0, 2, 3)).max(initial=0.0))


def test_conv_table_takes_any_layout():
    """Transposed, strided and read-only inputs give the contiguous inputs' results."""
    x, w, b, grad, params = _operands(CONVS["gemm_stride2"], F32)
    want = (nb.conv2d_forward(x, w, b, *params),
            nb.conv2d_backward_input(grad, w, x.shape, *params),
            nb.conv2d_backward_weight(grad, x, w.shape, *params))
    xt = np.asfortranarray(x)
    gs = np.empty(grad.shape + (2,), grad.dtype)[..., 0]
    gs[...] = grad
    wr = w.copy()
    wr.flags.writeable = False
    got = (nb.conv2d_forward(xt, wr, b, *params),
           nb.conv2d_backward_input(gs, wr, x.shape, *params),
           nb.conv2d_backward_weight(gs, xt, w.shape, *params))
    for g, e in zip(got, want):
        np.testing.assert_array_equal(g, e)


def test_conv_nan_and_inf_propagate():
    x = rand((1, 2, 6, 6), F64, 5)
    x[0, 1, 2, 3] = np.nan
    x[0, 0, 4, 4] = np.inf
    w = rand((3, 2, 3, 3), F64, 6)
    want = ref.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)
    got = nb.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))


# ---- pooling -------------------------------------------------------------------------------------
# (x shape, kernel, stride, padding)
POOLS = {
    "2x2": ((2, 3, 6, 8), (2, 2), (2, 2), (0, 0)),
    "3x3_s2_p1": ((2, 2, 7, 9), (3, 3), (2, 2), (1, 1)),
    "overlap_rect": ((1, 3, 9, 7), (2, 3), (1, 2), (1, 1)),
    "leftover": ((2, 2, 7, 5), (2, 2), (2, 2), (0, 0)),
    "kernel_is_input": ((2, 2, 5, 6), (5, 6), (1, 1), (0, 0)),
    "stride_gt_kernel": ((1, 2, 9, 9), (2, 2), (3, 3), (1, 0)),
    "empty_batch": ((0, 3, 4, 4), (2, 2), (2, 2), (0, 0)),
}


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", sorted(POOLS))
def test_pools_match_reference(case, dtype):
    shape, kernel, stride, padding = POOLS[case]
    x = rand(shape, dtype, 7)
    out, argmax = nb.max_pool2d_forward(x, kernel, stride, padding)
    want, want_argmax = ref.max_pool2d_forward(x, kernel, stride, padding)
    assert out.dtype == want.dtype and argmax.dtype == want_argmax.dtype == np.int32
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(argmax, want_argmax)
    grad = rand(out.shape, dtype, 8)
    scale = np.abs(grad).max(initial=0.0) * kernel[0] * kernel[1]
    close(nb.max_pool2d_backward(grad, argmax, x.shape),
          ref.max_pool2d_backward(grad, want_argmax, x.shape), scale)
    close(nb.avg_pool2d_forward(x, kernel, stride, padding),
          ref.avg_pool2d_forward(x, kernel, stride, padding), np.abs(x).max(initial=0.0))
    close(nb.avg_pool2d_backward(grad, x.shape, kernel, stride, padding),
          ref.avg_pool2d_backward(grad, x.shape, kernel, stride, padding), scale)


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
@pytest.mark.parametrize("size", [(3, 4), (1, 1), (5, 2), (9, 11)])
def test_adaptive_avg_pool_matches_reference(size, dtype):
    x = rand((2, 3, 7, 9), dtype, 9)
    out = nb.adaptive_avg_pool2d_forward(x, size)
    close(out, ref.adaptive_avg_pool2d_forward(x, size), np.abs(x).max())
    grad = rand(out.shape, dtype, 10)
    close(nb.adaptive_avg_pool2d_backward(grad, x.shape),
          ref.adaptive_avg_pool2d_backward(grad, x.shape), 4 * np.abs(grad).max())


def test_max_pool_nan_inf_ties_follow_torch_rule():
    """Strictly greater or NaN wins (so the last NaN), a tie keeps the first, and a
    window of -inf keeps its first real element, never a padding position."""
    x = np.array([[[[1.0, np.nan, 2.0, 2.0],
                    [np.nan, 0.0, 2.0, 1.0],
                    [-np.inf, -np.inf, 5.0, 5.0],
                    [-np.inf, -np.inf, 5.0, 4.0]]]], dtype=np.float32)
    for kernel, stride, padding in (((2, 2), (2, 2), (0, 0)), ((3, 3), (1, 1), (1, 1))):
        out, argmax = nb.max_pool2d_forward(x, kernel, stride, padding)
        want, want_argmax = ref.max_pool2d_forward(x, kernel, stride, padding)
        np.testing.assert_array_equal(out, want)
        np.testing.assert_array_equal(argmax, want_argmax)
    _, argmax = nb.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    assert argmax.tolist() == [[[[4, 2], [8, 10]]]]


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(2, 3, 6, 8), (1, 2, 7, 5), (0, 2, 4, 4), (1, 1, 2, 2)])
def test_pool_rungs_agree_bit_for_bit(shape, dtype):
    """2x2 stride 2 (rung 2) gives rung 1's results exactly, NaN and -inf included."""
    import kernels.numba.pool as npool
    x = rand(shape, dtype, 11)
    if x.size:
        x.flat[::7] = -np.inf
        x.flat[3::11] = np.nan
    n, c, h, w = shape
    out_shape = (n, c, h // 2, w // 2)
    results = []
    for max_fn, avg_fn, extra in (
            (npool.max_pool2d_forward_kernel1, npool.avg_pool2d_forward_kernel1,
             (2, 2, 2, 2, 0, 0)),
            (npool.max_pool2d_forward_kernel2, npool.avg_pool2d_forward_kernel2, ())):
        out, argmax, avg = (np.empty(out_shape, dtype), np.empty(out_shape, np.int32),
                            np.empty(out_shape, dtype))
        launch(max_fn, x, *extra, out, argmax)
        launch(avg_fn, x, *extra, avg)
        results.append((out, argmax, avg))
    grad = rand(out_shape, dtype, 12)
    for fn, extra in ((npool.avg_pool2d_backward_kernel1, (2, 2, 2, 2, 0, 0)),
                      (npool.avg_pool2d_backward_kernel2, ())):
        dx = np.full(shape, 7.0, dtype)          # every element must be written
        launch(fn, grad, *extra, dx)
        results.append((dx,))
    for a, b in zip(results[0], results[1]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(results[2][0], results[3][0])
