"""Tensors as API.md describes them: creation, dtype rules, shape, conversion, in-place
updates for optimizers, seeding, repr."""
import numpy as np
import pytest
import torch

import engine as eg
from engine import dispatch


# ---- creation and dtype rules -------------------------------------------------------------
@pytest.mark.parametrize("data, dtype", [
    pytest.param(1.5, eg.float32, id="python_float"),
    pytest.param(3, eg.int64, id="python_int"),
    pytest.param(True, eg.bool, id="python_bool"),
    pytest.param([[1.0, 2.0], [3.0, 4.0]], eg.float32, id="nested_floats"),
    pytest.param([1, 2, 3], eg.int64, id="ints"),
    pytest.param([1, 2.5], eg.float32, id="mixed_int_float"),
    pytest.param([True, False], eg.bool, id="bools"),
    pytest.param(np.zeros(2, np.float64), eg.float64, id="numpy_float64_kept"),
    pytest.param(np.zeros(2, np.float32), eg.float32, id="numpy_float32_kept"),
    pytest.param(np.zeros(2, np.float16), eg.float16, id="numpy_float16_kept"),
    pytest.param(np.zeros(2, np.int32), eg.int32, id="numpy_int32_kept"),
    pytest.param(np.zeros(2, np.bool_), eg.bool, id="numpy_bool_kept"),
    pytest.param(np.float64(2.0), eg.float64, id="numpy_scalar_kept"),
])
def test_tensor_dtype_rules(data, dtype):
    x = eg.tensor(data)
    assert x.dtype is dtype
    assert str(torch.tensor(data).dtype) == f"torch.{dtype.name}"    # torch agrees


@pytest.mark.parametrize("spec", [eg.float64, "float64", "double", np.float64],
                         ids=["engine", "name", "alias", "numpy"])
def test_tensor_dtype_argument(spec):
    assert eg.tensor([1, 2], dtype=spec).dtype is eg.float64


def test_dtype_aliases():
    assert eg.float is eg.float32 and eg.double is eg.float64
    assert eg.long is eg.int64 and eg.half is eg.float16


def test_tensor_copies_from_numpy_shares():
    a = np.array([1.0, 2.0])
    copied, shared = eg.tensor(a), eg.from_numpy(a)
    a[0] = 9.0
    assert copied.tolist() == [1.0, 2.0]
    assert shared.tolist() == [9.0, 2.0]


def test_tensor_from_tensor_copies():
    x = eg.tensor([1.0, 2.0])
    y = eg.tensor(x)
    assert not np.shares_memory(x.numpy(), y.numpy())
    assert eg.as_tensor(x) is x


@pytest.mark.parametrize("make, shape, dtype", [
    (lambda: eg.zeros(2, 3), (2, 3), eg.float32),
    (lambda: eg.zeros((2, 3)), (2, 3), eg.float32),
    (lambda: eg.ones([4]), (4,), eg.float32),
    (lambda: eg.empty(0, 2), (0, 2), eg.float32),
    (lambda: eg.zeros(()), (), eg.float32),
    (lambda: eg.full((2, 2), 7), (2, 2), eg.int64),
    (lambda: eg.full((2,), 0.5), (2,), eg.float32),
    (lambda: eg.full(3, True), (3,), eg.bool),
    (lambda: eg.zeros(2, dtype=eg.int32), (2,), eg.int32),
    (lambda: eg.arange(5), (5,), eg.int64),
    (lambda: eg.arange(1, 7, 2), (3,), eg.int64),
    (lambda: eg.arange(0.0, 1.0, 0.25), (4,), eg.float32),
    (lambda: eg.linspace(0, 1, 5), (5,), eg.float32),
    (lambda: eg.eye(3), (3, 3), eg.float32),
    (lambda: eg.eye(2, 3), (2, 3), eg.float32),
    (lambda: eg.rand(2, 3), (2, 3), eg.float32),
    (lambda: eg.randn(4, dtype=eg.float64), (4,), eg.float64),
    (lambda: eg.randint(0, 10, (3, 2)), (3, 2), eg.int64),
    (lambda: eg.randint(5, (4,)), (4,), eg.int64),
    (lambda: eg.randperm(6), (6,), eg.int64),
], ids=["zeros", "zeros_tuple", "ones_list", "empty", "zeros_0d", "full_int", "full_float",
        "full_bool", "zeros_int32", "arange", "arange_step", "arange_float", "linspace", "eye",
        "eye_rect", "rand", "randn_f64", "randint", "randint_high", "randperm"])
def test_creation_shapes_and_dtypes(make, shape, dtype):
    x = make()
    assert x.shape == shape and x.dtype is dtype
    assert x.device == "cpu" and not x.requires_grad


def test_creation_values_match_torch():
    pairs = [
        (eg.arange(1, 7, 2), torch.arange(1, 7, 2)),
        (eg.arange(0.0, 1.0, 0.25), torch.arange(0.0, 1.0, 0.25)),
        (eg.linspace(-1, 1, 5), torch.linspace(-1, 1, 5)),
        (eg.eye(2, 3), torch.eye(2, 3)),
        (eg.full((2,), 0.5), torch.full((2,), 0.5)),
    ]
    for e, t in pairs:
        assert e.dtype.name == str(t.dtype).replace("torch.", "")
        np.testing.assert_array_equal(e.numpy(), t.numpy())


def test_like_functions_keep_shape_and_dtype():
    x = eg.zeros(2, 3, dtype=eg.float64)
    for y, value in [(eg.zeros_like(x), 0), (eg.ones_like(x), 1), (eg.full_like(x, 4.5), 4.5)]:
        assert y.shape == (2, 3) and y.dtype is eg.float64
        assert (y.numpy() == value).all()
    assert eg.ones_like(x, dtype=eg.int64).dtype is eg.int64


def test_creation_requires_grad():
    for x in (eg.zeros(2, requires_grad=True), eg.randn(2, requires_grad=True),
              eg.tensor([1.0], requires_grad=True), eg.linspace(0, 1, 3, requires_grad=True)):
        assert x.requires_grad and x.is_leaf and x.grad is None


def test_random_ranges():
    u = eg.rand(1000).numpy()
    assert (u >= 0).all() and (u < 1).all()
    r = eg.randint(-3, 3, (1000,)).numpy()
    assert r.min() >= -3 and r.max() < 3
    assert sorted(eg.randperm(10).tolist()) == list(range(10))


def test_manual_seed_reproducibility():
    eg.manual_seed(123)
    a = (eg.randn(5), eg.rand(3), eg.randint(0, 100, (4,)), eg.randperm(5))
    eg.manual_seed(123)
    b = (eg.randn(5), eg.rand(3), eg.randint(0, 100, (4,)), eg.randperm(5))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    eg.manual_seed(124)
    assert not np.array_equal(eg.randn(5).numpy(), a[0].numpy())


def test_generator_is_independent_of_the_default():
    g1, g2 = eg.Generator(7), eg.Generator(7)
    eg.manual_seed(0)
    first = eg.randn(3, generator=g1)
    eg.randn(10)                                  # the default stream moves on alone
    np.testing.assert_array_equal(first.numpy(), eg.randn(3, generator=g2).numpy())


# ---- shape and description ---------------------------------------------------------------------
def test_shape_is_a_tuple():
    x = eg.zeros(2, 3)
    assert isinstance(x.shape, tuple)
    assert x.shape == (2, 3) and (2, 3) == x.shape and x.shape != (3, 2)
    assert x.shape == torch.zeros(2, 3).shape
    assert x.shape[1] == 3 and x.shape[-1] == 3 and x.shape.numel() == 6
    assert repr(x.shape) == "engine.Size([2, 3])"
    assert isinstance(x.shape, eg.Size)


def test_ndim_numel_size_len():
    x = eg.zeros(2, 3, 4)
    assert x.ndim == 3 and x.dim() == 3 and x.numel() == 24 and len(x) == 2
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    s = eg.tensor(1.0)
    assert s.shape == () and s.ndim == 0 and s.numel() == 1
    assert eg.zeros(0, 3).numel() == 0


def test_iteration_yields_rows():
    x = eg.tensor([[1, 2], [3, 4]])
    assert [row.tolist() for row in x] == [[1, 2], [3, 4]]


def test_tensors_hash_by_identity():
    a, b = eg.ones(2), eg.ones(2)
    assert len({a, b}) == 2 and {a: 1}[a] == 1


# ---- conversion --------------------------------------------------------------------------------
def test_numpy_shares_memory_also_with_requires_grad():
    x = eg.zeros(3, requires_grad=True)
    a = x.numpy()
    assert isinstance(a, np.ndarray) and np.shares_memory(a, x.numpy())
    with eg.no_grad():
        x.add_(1.0)
    assert a.tolist() == [1.0, 1.0, 1.0]


def test_item_tolist_and_python_numbers():
    assert eg.tensor([[2.5]]).item() == 2.5 and isinstance(eg.tensor(2.5).item(), float)
    assert eg.tensor(3).item() == 3 and isinstance(eg.tensor(3).item(), int)
    assert eg.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert eg.tensor(1.5).tolist() == 1.5
    assert float(eg.tensor([2.0])) == 2.0 and int(eg.tensor(7)) == 7
    assert bool(eg.tensor([1.0])) and not bool(eg.tensor(0))


def test_array_protocol_and_numpy_scalars():
    x = eg.tensor([1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(x), [1.0, 2.0])
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    y = np.float32(2.0) * x                     # __array_priority__: the tensor wins
    assert isinstance(y, eg.Tensor) and y.tolist() == [2.0, 4.0]


@pytest.mark.parametrize("convert, dtype", [
    (lambda x: x.float(), eg.float32), (lambda x: x.double(), eg.float64),
    (lambda x: x.half(), eg.float16), (lambda x: x.long(), eg.int64),
    (lambda x: x.int(), eg.int32), (lambda x: x.bool(), eg.bool),
    (lambda x: x.to(eg.float64), eg.float64), (lambda x: x.to(dtype=eg.int64), eg.int64),
    (lambda x: x.to("cpu", eg.float64), eg.float64), (lambda x: x.to("cpu"), eg.float32),
    (lambda x: x.to(eg.zeros(1, dtype=eg.float64)), eg.float64),
], ids=["float", "double", "half", "long", "int", "bool", "to_dtype", "to_dtype_kw",
        "to_device_dtype", "to_device", "to_like_tensor"])
def test_conversions(convert, dtype):
    x = eg.tensor([0.0, 1.5, -2.0])
    y = convert(x)
    assert y.dtype is dtype and y.shape == (3,) and y.device == "cpu"
    np.testing.assert_array_equal(y.numpy(), x.numpy().astype(dtype.numpy))


def test_to_same_dtype_returns_self():
    x = eg.ones(2)
    assert x.to(eg.float32) is x and x.cpu() is x


def test_cast_between_floats_carries_gradient():
    x = eg.tensor([1.0, 2.0], requires_grad=True)
    y = x.double()
    assert y.requires_grad and y.dtype is eg.float64
    (y * y).sum().backward()
    assert x.grad.dtype is eg.float32 and x.grad.tolist() == [2.0, 4.0]


@pytest.mark.skipif("cuda" in dispatch.DEFAULT_BACKENDS, reason="a cuda backend exists")
def test_cuda_without_a_backend_raises():
    with pytest.raises(eg.DeviceError, match="no backend here"):
        eg.ones(2).cuda()


# ---- in place, for optimizers ------------------------------------------------------------
def test_in_place_updates_under_no_grad():
    w = eg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    storage = w.numpy()
    with eg.no_grad():
        assert w.mul_(2.0) is w
        w.add_(eg.tensor([1.0, 1.0, 1.0]), alpha=-0.5)
        assert w.tolist() == [1.5, 3.5, 5.5]
        w.copy_(eg.tensor([7.0]))                  # broadcasts
        assert w.tolist() == [7.0, 7.0, 7.0]
        w.zero_()
        assert w.tolist() == [0.0, 0.0, 0.0]
        w.fill_(0.25)
    assert np.shares_memory(storage, w.numpy()) and w.tolist() == [0.25] * 3
    assert w.requires_grad and w.is_leaf


def test_in_place_on_tensors_without_grad_needs_no_no_grad():
    x = eg.zeros(2)
    x.add_(1.0)
    x.mul_(eg.tensor([2.0, 3.0]))
    assert x.tolist() == [2.0, 3.0]


def test_in_place_keeps_dtype():
    x = eg.zeros(2, dtype=eg.float64)
    x.add_(eg.ones(2, dtype=eg.float64))
    x.mul_(0.5)
    assert x.dtype is eg.float64 and x.tolist() == [0.5, 0.5]


def test_optimizer_style_step():
    w = eg.tensor([1.0, -1.0], requires_grad=True)
    (w * w).sum().backward()
    with eg.no_grad():
        w.add_(w.grad, alpha=-0.1)
    w.grad.zero_()
    assert np.allclose(w.numpy(), [0.8, -0.8]) and w.grad.tolist() == [0.0, 0.0]


# ---- repr --------------------------------------------------------------------------------------
def test_repr():
    assert repr(eg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(eg.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(eg.tensor(1.5)) == "tensor(1.5)"
    assert "dtype=engine.float64" in repr(eg.tensor([1.0], dtype=eg.float64))
    assert "requires_grad=True" in repr(eg.tensor([1.0], requires_grad=True))
    y = eg.tensor([1.0], requires_grad=True) * 2.0
    assert "grad_fn=<MulBackward>" in repr(y)
    assert "tensor(" in repr(eg.zeros(0, 3))
