"""The Triton conv2d kernels (kernels/triton/conv.py) at their edges, vs the reference.

Tiles are forced to 16 x 16 x 16 and d/dw to 3 K chunks (`small_tiles`), so these
small shapes span several programs, several K steps and several partial sums, with
ragged last tiles in M, N and K: a wrong mask or index decode shows as a wrong value
(the interpreter does not catch out-of-bounds loads). Each case runs all four kernels
on the same geometry with a random upstream gradient. The registry's conv2d / conv1d
samples (tests/triton/test_cuda_ops.py) add the op layer and autograd vs torch.
"""
import numpy as np
import pytest
import torch

import engine as eg
import engine.nn.functional as F
import kernels.reference.conv as reference
from kernels.triton import conv
from kernels.triton.creation import from_host, to_host
from test_cuda_ops import to_cuda

pytestmark = [pytest.mark.triton, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


@pytest.fixture
def small_tiles(monkeypatch):
    monkeypatch.setattr(conv, "INTERPRET_CAPS", {name: (16, 16, 16)
                                                 for name in conv.INTERPRET_CAPS})
    monkeypatch.setattr(conv, "SPLIT_K", 3)


def rand(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def device(a, layout=None):
    """a on the device, as a transposed ('T': W and H swapped in memory) or strided
    ('S': every other element) view when asked, else contiguous."""
    if layout == "T":
        host = np.ascontiguousarray(a.swapaxes(-1, -2)).swapaxes(-1, -2)
    elif layout == "S":
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        wide[..., ::2] = a
        host = wide[..., ::2]
    else:
        return from_host(np.ascontiguousarray(a))
    buffer = to_cuda(host).data
    assert not buffer.is_contiguous
    return buffer


def check_all(x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
              layout=None, rtol=1e-5, atol=1e-5):
    """All four kernels vs the reference on one geometry (inputs in `layout`)."""
    params = (stride, padding, dilation, groups)
    want = reference.conv2d_forward(x, w, b, *params)
    got = to_host(conv.conv2d_forward(device(x, layout), device(w, layout),
                                      None if b is None else device(b), *params))
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg="forward")
    g = rand(*want.shape, dtype=x.dtype, seed=7)
    dx = to_host(conv.conv2d_backward_input(device(g, layout), device(w, layout), x.shape,
                                            *params))
    np.testing.assert_allclose(dx, reference.conv2d_backward_input(g, w, x.shape, *params),
                               rtol=rtol, atol=atol, err_msg="d/dx")
    dw = to_host(conv.conv2d_backward_weight(device(g, layout), device(x, layout), w.shape,
                                             *params))
    assert dw.dtype == w.dtype and dw.shape == w.shape
    np.testing.assert_allclose(dw, reference.conv2d_backward_weight(g, x, w.shape, *params),
                               rtol=rtol, atol=atol, err_msg="d/dw")
    db = to_host(conv.conv2d_backward_bias(device(g, layout)))
    np.testing.assert_allclose(db, reference.conv2d_backward_bias(g), rtol=rtol, atol=atol,
                               err_msg="d/dbias")


# (x shape, w shape, stride, padding, dilation, groups)
GEOMETRIES = {
    "odd_sizes": ((2, 3, 9, 7), (5, 3, 3, 2), (1, 1), (1, 0), (1, 1), 1),
    "stride2_pad_dilation": ((2, 3, 11, 10), (4, 3, 3, 3), (2, 2), (2, 1), (2, 1), 1),
    "stride_3x2_no_pad": ((1, 2, 10, 9), (3, 2, 2, 3), (3, 2), (0, 0), (1, 2), 1),
    "groups2": ((2, 4, 6, 7), (6, 2, 3, 3), (1, 1), (1, 1), (1, 1), 2),
    "depthwise": ((2, 5, 7, 6), (5, 1, 3, 3), (1, 1), (1, 1), (1, 1), 5),
    "depthwise_multiplier_stride2": ((1, 3, 9, 8), (6, 1, 3, 3), (2, 2), (1, 1), (1, 1), 3),
    "1x1": ((2, 20, 5, 3), (18, 20, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    "1x1_stride2_padded": ((1, 4, 7, 6), (3, 4, 1, 1), (2, 2), (1, 1), (1, 1), 1),
    "batch_1_many_channels": ((1, 17, 5, 6), (19, 17, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "kernel_larger_than_stride_gap": ((2, 2, 8, 8), (3, 2, 5, 5), (3, 3), (2, 2), (1, 1), 1),
}


@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_conv2d_kernels_small_tiles(small_tiles, name):
    xs, ws, stride, padding, dilation, groups = GEOMETRIES[name]
    check_all(rand(*xs), rand(*ws, seed=1), rand(ws[0], seed=2), stride, padding, dilation,
              groups)


@pytest.mark.parametrize("layout", ["T", "S"])
def test_conv2d_kernels_strided_operands(small_tiles, layout):
    """Transposed and sliced x, w and grad: their strides reach the kernels, no copy."""
    check_all(rand(2, 3, 7, 9), rand(4, 3, 3, 2, seed=1), rand(4, seed=2), stride=(2, 1),
              padding=(1, 1), dilation=(1, 2), layout=layout)


def test_conv2d_kernels_without_bias_default_tiles():
    """The interpreter's own (large) tiles and one K chunk: one program per kernel."""
    check_all(rand(2, 3, 8, 7), rand(4, 3, 3, 3, seed=1), None, stride=(1, 2),
              padding=(1, 1))


def test_conv2d_kernels_float64(small_tiles):
    """The no-dot path (broadcast multiply and sum), exact to float64 rounding."""
    check_all(rand(2, 3, 7, 6, dtype=np.float64), rand(4, 3, 3, 2, dtype=np.float64, seed=1),
              rand(4, dtype=np.float64, seed=2), stride=(2, 1), padding=(1, 1),
              rtol=1e-12, atol=1e-12)


def test_conv2d_kernels_float16(small_tiles):
    """fp16 in, fp32 accumulation, one rounding: within fp16 resolution of the float64
    reference rounded to fp16 (a ~20-term sum of products of size ~1)."""
    check_all(rand(2, 3, 7, 6, dtype=np.float16), rand(4, 3, 3, 2, dtype=np.float16, seed=1),
              rand(4, dtype=np.float16, seed=2), padding=(1, 0), rtol=1e-2, atol=1e-2)


def test_conv2d_split_k_chunks_sum_in_order(monkeypatch):
    """More K chunks than 128-aligned chunks exist: the chunk count is re-derived, and the
    partial sums (fp32 buffer) add up to the single-chunk result."""
    x, w = rand(3, 2, 12, 12), rand(4, 2, 3, 3, seed=1)
    g = rand(3, 4, 10, 10, seed=2)
    params = ((1, 1), (0, 0), (1, 1), 1)
    want = reference.conv2d_backward_weight(g, x, w.shape, *params)
    for split in (1, 2, 50):
        monkeypatch.setattr(conv, "SPLIT_K", split)
        got = to_host(conv.conv2d_backward_weight(from_host(g), from_host(x), w.shape, *params))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"split {split}")


def test_conv2d_autograd_on_cuda_vs_torch(small_tiles):
    """The op layer on cuda: a strided input, stride + padding + groups, forward and all
    three gradients vs torch with a random upstream gradient."""
    a, wa, ba = rand(2, 4, 9, 8), rand(6, 2, 3, 3, seed=1), rand(6, seed=2)
    up = rand(2, 6, 5, 4, seed=3)
    x = eg.tensor(a, requires_grad=True)
    w = eg.tensor(wa, requires_grad=True)
    b = eg.tensor(ba, requires_grad=True)
    y = F.conv2d(x.cuda(), w.cuda(), b.cuda(), stride=2, padding=1, groups=2)
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (a, wa, ba))
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride=2, padding=1, groups=2)
    assert y.device == "cuda"
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    grads = eg.autograd.grad(y, [x, w, b], eg.tensor(up).cuda())
    want = torch.autograd.grad(ty, [tx, tw, tb], torch.from_numpy(up))
    for got, t in zip(grads, want):
        np.testing.assert_allclose(got.numpy(), t.numpy(), rtol=1e-4, atol=1e-5)
