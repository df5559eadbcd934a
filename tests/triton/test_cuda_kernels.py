"""The Triton kernels at their edges: masks, multi-program grids, layouts, transfers.

Block sizes are forced small here (a few elements per program), so shapes of a few
dozen elements already span several programs and several loop steps, with ragged
last blocks: a missing or wrong mask shows as a wrong value at the edge (the
interpreter does not catch out-of-bounds loads, so only values can tell).
"""
import inspect

import numpy as np
import pytest
import torch

import engine as eg
import kernels.reference as reference
import kernels.triton as triton_backend
from engine import dispatch
from kernels.triton import _launch
from test_cuda_ops import to_cuda

pytestmark = [pytest.mark.triton, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(_launch, "ELEMENTWISE_BLOCK", 16)
    monkeypatch.setattr(_launch, "TILE_ELEMENTS", 64)


def rand(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---- the table ----------------------------------------------------------------------
def test_triton_kernels_have_the_reference_signatures():
    for name in triton_backend.__all__:
        assert name in reference.__all__, f"{name} is not a reference kernel"
        assert inspect.signature(getattr(triton_backend, name)) == \
            inspect.signature(getattr(reference, name)), name


def test_triton_table_is_the_whole_reference_table():
    """Every op runs on cuda with Triton kernels: none is missing, none is borrowed."""
    assert sorted(triton_backend.__all__) == sorted(reference.__all__)


def test_a_kernel_the_table_lacks_raises_not_implemented(monkeypatch):
    """A kernel added to the reference but not to Triton fails loudly, never silently."""
    monkeypatch.delattr(triton_backend, "embedding")
    monkeypatch.setattr(triton_backend, "__all__",
                        [n for n in triton_backend.__all__ if n != "embedding"])
    dispatch._rebuild()
    try:
        with pytest.raises(NotImplementedError, match="triton backend has no kernel"):
            dispatch.kernels_for("cuda").embedding()
    finally:
        monkeypatch.undo()
        dispatch._rebuild()


def test_cuda_table_is_the_triton_backend():
    assert dispatch.kernels_for("cuda").backend == "triton"


def test_borrow_runs_a_reference_kernel_on_device_arrays():
    a = to_cuda(rand(3, 4)).data
    out = triton_backend.borrow(reference.exp)(a)
    np.testing.assert_allclose(triton_backend.to_host(out), np.exp(rand(3, 4)), rtol=1e-6)


# ---- elementwise: odd sizes, broadcasting, layouts -----------------------------------------
@pytest.mark.parametrize("n", [1, 15, 16, 17, 33, 100])
def test_elementwise_odd_sizes(small_blocks, n):
    a, b = rand(n), rand(n, seed=1)
    got = (eg.tensor(a).cuda() * eg.tensor(b).cuda() + 1.0).exp().numpy()
    np.testing.assert_allclose(got, np.exp(a * b + 1), rtol=1e-6)


def test_elementwise_broadcast_and_transposed(small_blocks):
    a, b = rand(7, 13), rand(13, 1, seed=1)
    x = to_cuda(np.asfortranarray(a))                   # a transposed view on the device
    y = to_cuda(b)
    got = eg.maximum(x, y.T).numpy()
    np.testing.assert_array_equal(got, np.maximum(a, b.T))


def test_elementwise_beyond_four_unmergeable_dims(small_blocks):
    base = rand(2, 3, 2, 3, 2, 3)
    x = to_cuda(base.transpose(5, 3, 1, 0, 2, 4))       # no two dims merge: 6-d launch loop
    np.testing.assert_allclose((x * 2.0).numpy(), base.transpose(5, 3, 1, 0, 2, 4) * 2,
                               rtol=1e-7)


def test_casts_and_comparisons():
    a = np.array([-1.5, 0.0, 2.7, 3.0], np.float32)
    x = eg.tensor(a).cuda()
    assert x.int().numpy().tolist() == a.astype(np.int32).tolist()
    assert x.bool().numpy().tolist() == a.astype(bool).tolist()
    assert (x > 0).numpy().tolist() == (a > 0).tolist()
    assert x.half().numpy().dtype == np.float16
    ints = eg.tensor([2, -3, 0, 5]).cuda()
    assert (ints ** 3).numpy().tolist() == [8, -27, 0, 125]
    assert ints.to(eg.bool).numpy().tolist() == [True, True, False, True]


def test_float16_math_is_computed_in_float32():
    a = rand(37).astype(np.float16)
    got = eg.tensor(a).cuda().sigmoid().numpy()
    want = (1 / (1 + np.exp(-a.astype(np.float32)))).astype(np.float16)
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), atol=1e-3)


# ---- reductions ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape, dim", [((7, 37), 1), ((37, 7), 0), ((3, 5, 19), (0, 2)),
                                        ((130,), 0)])
def test_reductions_over_many_programs(small_blocks, shape, dim):
    a = rand(*shape)
    x = eg.tensor(a).cuda()
    axis = dim if isinstance(dim, int) else tuple(dim)
    np.testing.assert_allclose(x.sum(dim).numpy(), a.sum(axis), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(x.amax(dim).numpy(), a.max(axis))
    np.testing.assert_allclose(x.logsumexp(dim).numpy(),
                               torch.logsumexp(torch.from_numpy(a), dim).numpy(), rtol=1e-5)
    np.testing.assert_allclose((x * 0.1 + 1).prod(dim).numpy(), (a * 0.1 + 1).prod(axis),
                               rtol=1e-4)
    if isinstance(dim, int):
        np.testing.assert_array_equal(x.argmax(dim).numpy(), a.argmax(dim))
        np.testing.assert_array_equal(x.argmin(dim).numpy(), a.argmin(dim))


def test_argmax_first_of_ties_across_blocks(small_blocks):
    a = np.zeros(100, np.float32)
    a[[40, 70, 90]] = 5.0                               # ties in different loop steps
    assert eg.tensor(a).cuda().argmax().item() == 40
    assert eg.tensor(-a).cuda().argmin().item() == 40


@pytest.mark.parametrize("nans", [[70], [5, 90], [99]])
def test_argmax_and_argmin_pick_the_first_nan_as_numpy(small_blocks, nans):
    a = np.random.default_rng(0).standard_normal((3, 100)).astype(np.float32)
    a[0, 60] = 50.0                                     # a max before, between, after NaNs
    a[1, nans] = np.nan
    a[2, nans] = np.nan
    for fn in ("argmax", "argmin"):
        got = getattr(eg.tensor(a).cuda(), fn)(dim=1).numpy()
        np.testing.assert_array_equal(got, getattr(np, fn)(a, axis=1), err_msg=fn)
        got = getattr(eg.tensor(a[1:]).cuda(), fn)().item()
        assert got == getattr(np, fn)(a[1:]), fn


def test_integer_and_bool_sums_are_int64():
    x = eg.tensor([[1, 2], [3, 4]], dtype=eg.int32).cuda()
    assert x.sum().numpy().dtype == np.int64 and x.sum().item() == 10
    assert (x > 1).sum().item() == 3


# ---- softmax -------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_rows_across_programs(small_blocks, dim):
    a = rand(5, 37, 3) * 30
    x = eg.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    g = rand(5, 37, 3, seed=2)
    for e_fn, t_fn in ((eg.softmax, torch.softmax), (eg.log_softmax, torch.log_softmax)):
        y = e_fn(x.cuda(), dim)
        ty = t_fn(t, dim)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
        (gx,) = eg.autograd.grad(y, x, eg.tensor(g).cuda())
        (gt,) = torch.autograd.grad(ty, t, torch.from_numpy(g))
        assert gx.device == "cpu"                       # back through .cuda()
        np.testing.assert_allclose(gx.numpy(), gt.numpy(), rtol=1e-4, atol=1e-5)


# ---- matmul --------------------------------------------------------------------------------
@pytest.mark.parametrize("m, k, n", [(113, 203, 67), (1, 17, 1), (65, 1, 130)])
def test_matmul_odd_shapes(m, k, n):
    a, b = rand(m, k), rand(k, n, seed=1)
    got = (eg.tensor(a).cuda() @ eg.tensor(b).cuda()).numpy()
    np.testing.assert_allclose(got, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


def test_matmul_layouts_and_dtypes():
    a, b = rand(3, 20, 30), rand(30, 40, seed=1)
    x = to_cuda(np.asfortranarray(a[0])).T              # a transposed operand, no copy
    np.testing.assert_allclose((x.T @ eg.tensor(b).cuda()).numpy(), a[0] @ b, rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose((eg.tensor(a).cuda() @ eg.tensor(b).cuda()).numpy(), a @ b,
                               rtol=1e-4, atol=1e-4)          # broadcast batch
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    np.testing.assert_allclose((eg.tensor(a64).cuda() @ eg.tensor(b64).cuda()).numpy(),
                               a64 @ b64, rtol=1e-12)
    ia, ib = (a * 4).astype(np.int64), (b * 4).astype(np.int64)
    np.testing.assert_array_equal((eg.tensor(ia).cuda() @ eg.tensor(ib).cuda()).numpy(), ia @ ib)
    ha, hb = a.astype(np.float16), b.astype(np.float16)
    got = (eg.tensor(ha).cuda() @ eg.tensor(hb).cuda()).numpy()
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float32), ha.astype(np.float32) @ hb, rtol=1e-2,
                               atol=1e-2)


# ---- movement ------------------------------------------------------------------------------
def test_gather_and_index_add_accumulate_repeats():
    a = rand(6, 4)
    x = eg.tensor(a, requires_grad=True)
    idx = eg.tensor([0, 5, 0, 0, 2])
    y = x.cuda()[idx, 1:3]
    np.testing.assert_array_equal(y.numpy(), a[[0, 5, 0, 0, 2], 1:3])
    y.sum().backward()
    want = np.zeros_like(a)
    np.add.at(want, ([0, 5, 0, 0, 2], slice(1, 3)), 1.0)
    np.testing.assert_array_equal(x.grad.numpy(), want)


def test_bool_mask_and_cat_pad():
    a = rand(4, 5)
    x = eg.tensor(a).cuda()
    np.testing.assert_array_equal(x[x > 0].numpy(), a[a > 0])
    np.testing.assert_array_equal(eg.cat([x, x[:, :2]], 1).numpy(),
                                  np.concatenate([a, a[:, :2]], 1))
    import engine.nn.functional as F
    np.testing.assert_array_equal(F.pad(x, (1, 2), value=-1.0).numpy(),
                                  np.pad(a, ((0, 0), (1, 2)), constant_values=-1.0))


def test_in_place_updates_on_device():
    p = eg.tensor(rand(3, 4)).cuda()
    before = p.numpy()
    with eg.no_grad():
        p.add_(eg.ones(3, 4).cuda(), alpha=0.5)
        np.testing.assert_allclose(p.numpy(), before + 0.5, rtol=1e-6)
        p[1].fill_(7.0)                                  # a view: writes into p
        assert (p.numpy()[1] == 7.0).all()
        p.zero_()
        assert not p.numpy().any()
        p.copy_(eg.arange(4.0).cuda())                   # broadcast source
        assert p.numpy().tolist() == [[0.0, 1.0, 2.0, 3.0]] * 3


def test_full_and_arange_kernels_are_exact():
    got = triton_backend.to_host(triton_backend.arange(0.5, 7.25, 0.25, np.float64))
    np.testing.assert_array_equal(got, np.arange(0.5, 7.25, 0.25))
    got = triton_backend.to_host(triton_backend.full((3, 2), 0.1, np.float64))
    assert (got == 0.1).all()                           # not 0.1 rounded through fp32
    got = triton_backend.to_host(triton_backend.arange(-3, 10, 4, np.int64))
    assert got.tolist() == [-3, 1, 5, 9]


# ---- devices -------------------------------------------------------------------------------
def test_mixing_devices_raises_naming_both():
    with pytest.raises(eg.DeviceError, match="cpu and cuda|cuda and cpu"):
        eg.ones(2) + eg.ones(2).cuda()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32, np.int64,
                                   np.bool_])
def test_round_trips(dtype):
    for shape in [(), (0, 3), (2, 3, 4)]:
        a = np.asarray((rand(*shape) * 3).astype(dtype))
        x = eg.from_numpy(a).to("cuda")
        assert x.device == "cuda" and x.dtype == eg.from_numpy(a).dtype
        back = x.cpu()
        assert back.device == "cpu"
        np.testing.assert_array_equal(back.numpy(), a)
        host = x.numpy()
        np.testing.assert_array_equal(host, a)
        if a.size:
            host.flat[0] = 1                             # a copy: the device is untouched
            np.testing.assert_array_equal(x.numpy(), a)
    assert eg.zeros(2, 3, device="cuda").device == "cuda"
    assert eg.tensor([1.0, 2.0], device="cuda").tolist() == [1.0, 2.0]


def test_repr_and_item():
    x = eg.tensor([1.5, 2.5], device="cuda")
    assert "device='cuda'" in repr(x)
    assert x.sum().item() == 4.0
