"""Bad inputs raise the documented exception with a message a user can act on.

Every message names the op, every tensor operand's shape and dtype (`shape (2, 3)
float32`), and gives a hint. The registry's bad inputs run first, then the cases
that belong to no single op (creation, autograd, in-place updates, devices).
"""
import numpy as np
import pytest

import engine as eg
import engine.nn.functional as F
from engine.errors import describe
from registry import OPS, bad, t

REGISTRY_CASES = [pytest.param(b, b.op or op.name, id=b.id) for op in OPS for b in op.bad]


def check_message(case, op_name):
    with pytest.raises(case.error) as info:
        case.call()
    message = str(info.value)
    if op_name:
        assert message.startswith(f"{op_name}:"), f"message does not name the op: {message!r}"
    for text in case.match:
        assert text in message, f"{text!r} not in {message!r}"
    for operand in case.operands:
        assert describe(operand) in message, \
            f"operand {describe(operand)!r} not named in {message!r}"
    assert case.hint in message, f"no hint ({case.hint!r}) in {message!r}"


@pytest.mark.filterwarnings("ignore:mse_loss. using a target size")
@pytest.mark.parametrize("case, op_name", REGISTRY_CASES)
def test_registry_bad_input(case, op_name):
    check_message(case, op_name)


# ---- errors that belong to no single op -------------------------------------------------
def _backward_twice():
    x = eg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()


def _no_grad_output():
    x = eg.tensor([1.0, 2.0], requires_grad=True)
    with eg.no_grad():
        y = (x * 2).sum()
    y.backward()


def _non_scalar_backward():
    x = eg.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).backward()


def _wrong_gradient_shape():
    x = eg.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).backward(eg.ones(3))


def _in_place(method, *args):
    def run():
        x = eg.tensor([1.0, 2.0], requires_grad=True)
        getattr(x, method)(*args)
    return run


def _in_place_on_graph():
    x = eg.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).add_(1.0)


def _grad_unused():
    x = eg.tensor([1.0], requires_grad=True)
    z = eg.tensor([1.0], requires_grad=True)
    eg.autograd.grad((x * 2).sum(), [x, z])


def _grad_of_constant_input():
    x = eg.tensor([1.0], requires_grad=True)
    eg.autograd.grad((x * 2).sum(), [eg.tensor([1.0])])


def _copy_shape():
    x = eg.zeros(2, 3)
    with eg.no_grad():
        x.copy_(eg.ones(4))


_x23 = t((2, 3))
OTHER_CASES = [
    bad("tensor_ragged", eg.ShapeError, "ragged nested sequence",
        lambda: eg.tensor([[1.0, 2.0], [3.0]]), op="tensor"),
    bad("tensor_not_numbers", TypeError, "cannot build a tensor from dict",
        lambda: eg.tensor({"a": 1}), op="tensor"),
    bad("tensor_int_requires_grad", eg.DTypeError, "only tensors of floating point dtype",
        lambda: eg.tensor([1, 2], requires_grad=True), op="tensor"),
    bad("requires_grad_int", eg.DTypeError, "only tensors of floating point dtype",
        lambda: eg.tensor([1, 2]).requires_grad_(), eg.tensor([1, 2]), op="requires_grad_"),
    bad("requires_grad_off_on_non_leaf", RuntimeError, "only change requires_grad flags of "
        "leaf variables", lambda: (t(requires_grad=True) * 2.0).requires_grad_(False),
        op="requires_grad_"),
    bad("zeros_negative", eg.ShapeError, "negative dimension",
        lambda: eg.zeros(2, -1), op="zeros"),
    bad("zeros_float_shape", TypeError, "shape entries must be ints",
        lambda: eg.zeros(2.5), op="zeros"),
    bad("from_numpy_unsupported_dtype", eg.DTypeError, "numpy dtype complex128 is not supported",
        lambda: eg.from_numpy(np.zeros(2, np.complex128)), op="from_numpy"),
    bad("from_numpy_not_array", TypeError, "expected a numpy array",
        lambda: eg.from_numpy([1.0]), op="from_numpy"),
    bad("backward_twice", RuntimeError, "Trying to backward through the graph a second time",
        _backward_twice, op="", hint="Specify retain_graph=True"),   # torch's wording
    bad("backward_no_grad_output", RuntimeError, "does not require grad",
        _no_grad_output, op="backward"),
    bad("backward_non_scalar", RuntimeError, "grad can be implicitly created only for scalar "
        "outputs (got shape (2,))", _non_scalar_backward, op="backward"),
    bad("backward_gradient_shape", eg.ShapeError, "gradient has shape (3,) but the output has "
        "shape (2,)", _wrong_gradient_shape, op="backward"),
    bad("in_place_add_on_leaf", RuntimeError, "a leaf Variable that requires grad is being used "
        "in an in-place operation", _in_place("add_", 1.0), op="add_"),
    bad("in_place_mul_on_leaf", RuntimeError, "in-place operation", _in_place("mul_", 2.0),
        op="mul_"),
    bad("in_place_zero_on_leaf", RuntimeError, "in-place operation", _in_place("zero_"),
        op="fill_"),
    bad("in_place_copy_on_leaf", RuntimeError, "in-place operation",
        _in_place("copy_", eg.ones(2)), op="copy_"),
    bad("in_place_on_graph_tensor", RuntimeError, "part of an autograd graph",
        _in_place_on_graph, op="add_"),
    bad("copy_shape", eg.ShapeError, "does not broadcast to the destination's shape",
        _copy_shape, eg.zeros(2, 3), eg.ones(4), op="copy_"),
    bad("grad_unused_input", RuntimeError, "appears to not have been used in the graph",
        _grad_unused, op="grad"),
    bad("grad_input_without_grad", RuntimeError, "does not require grad",
        _grad_of_constant_input, op="grad"),
    bad("item_many", RuntimeError, "a Tensor with 6 elements cannot be converted to Scalar",
        lambda: _x23.item(), _x23, op="item"),
    bad("bool_ambiguous", RuntimeError, "ambiguous", lambda: bool(_x23), _x23, op="bool"),
    bad("len_0d", TypeError, "len() of a 0-d tensor", lambda: len(t(())), t(()), op="len"),
    bad("size_dim_out_of_range", IndexError, "dimension out of range",
        lambda: _x23.size(2), _x23, op="size"),
    bad("size_of_0d", IndexError, "dimension specified as 0 but the tensor has no dimensions",
        lambda: t(()).size(0), t(()), op="size"),
    bad("unknown_device", eg.DeviceError, "device 'tpu' has no backend here",
        lambda: eg.zeros(2, device="tpu"), op="zeros"),
    bad("unknown_dtype", eg.DTypeError, "unknown dtype name 'float8'",   # see to_unknown_dtype
        lambda: eg.zeros(2, dtype="float8"), op="dtype"),
]


@pytest.mark.parametrize("case", OTHER_CASES, ids=[c.id for c in OTHER_CASES])
def test_bad_input(case):
    check_message(case, case.op)


def test_enough_bad_inputs():
    assert len(REGISTRY_CASES) + len(OTHER_CASES) >= 40


def test_error_types_follow_api():
    """ShapeError is a ValueError and a RuntimeError; DTypeError a TypeError."""
    assert issubclass(eg.ShapeError, ValueError) and issubclass(eg.ShapeError, RuntimeError)
    assert issubclass(eg.DTypeError, TypeError)
    assert issubclass(eg.DeviceError, RuntimeError)


def test_errors_raise_before_any_kernel():
    """A failing op leaves no graph behind and runs no kernel (kernel log stays empty)."""
    import io
    import contextlib

    from engine import dispatch
    stderr = io.StringIO()
    with dispatch.log_kernels(), contextlib.redirect_stderr(stderr):
        with pytest.raises(eg.ShapeError):
            eg.matmul(t((2, 3)), t((4, 5)))
        with pytest.raises(eg.DTypeError):
            eg.add(t((2,)), t((2,), eg.float64))
    assert "[kernel]" not in stderr.getvalue()


@pytest.mark.parametrize("call", [
    lambda x: F.max_pool2d(x, 2),
    lambda x: F.conv2d(x, x[:1]),
    lambda x: F.layer_norm(x, x.shape[-1:]),
    lambda x: F.scaled_dot_product_attention(x, x, x),
    lambda x: F.dropout(x, 0.5),
], ids=["max_pool2d", "conv2d", "layer_norm", "attention", "dropout"])
def test_heavy_ops_reject_float16_on_the_cpu_with_a_hint(call):
    """The Triton kernels take float16; the Numba kernels do not (float32/float64)."""
    x = eg.from_numpy(np.ones((1, 2, 4, 4), np.float16))
    with pytest.raises(eg.DTypeError, match="float16 runs on cuda only.*move the tensors to "
                                            "cuda"):
        call(x)
