"""Registry entries for the activation functionals composed in engine.nn.functional
(leaky_relu, prelu, elu, selu, gelu, silu, step). Imported by tests/registry.py.

Samples keep away from the kink at 0 (`distinct`), except the `at_zero` ones, which
check torch's choice of subgradient there without finite differences.
"""
import numpy as np
import torch.nn.functional as TF

import engine as eg
import engine.nn.functional as F
from registry import NOT_OPS, Op, S, bad, distinct, register, strided, t, transposed


def _with(fn, **kw):
    return lambda *a: fn(*a, **kw)


def _unary_activation(name, torch_fn, extra=(), make=distinct, differentiable=True, **kw):
    eng = getattr(F, name)
    grad = {"grad": False} if not differentiable else {}
    samples = [
        S("2x3", make(2, 3), check=True, **grad),
        S("0d", make(), **grad),
        S("empty", make(0, 3), **grad),
        S("odd", make(5, 7), **grad),
        S("transposed", transposed(make(3, 4)), **grad),
        S("strided", strided(make(4, 3)), **grad),
        S("at_zero", np.array([-1.0, 0.0, 2.0]), smooth=False, **grad),
        *extra,
    ]
    ints = eg.tensor([1, 2])
    bads = [
        bad(f"{name}_integer_input", eg.DTypeError, "must be floating point",
            lambda: eng(ints), ints),
        bad(f"{name}_not_tensor", TypeError, "must be a Tensor", lambda: eng([1.0, 2.0])),
    ]
    register(Op(name, eng, torch_fn, samples, bads, covers=(f"F.{name}",),
                differentiable=differentiable, **kw))


_unary_activation("leaky_relu", TF.leaky_relu, extra=[
    S("slope_0.2", distinct(3, 4), engine_fn=_with(F.leaky_relu, negative_slope=0.2),
      torch_fn=_with(TF.leaky_relu, negative_slope=0.2))])
_unary_activation("elu", TF.elu, extra=[
    S("alpha_0.5", distinct(3, 4), engine_fn=_with(F.elu, alpha=0.5),
      torch_fn=_with(TF.elu, alpha=0.5)),
    S("large_magnitude", np.array([-800.0, -30.0, 30.0, 800.0]))])
_unary_activation("selu", TF.selu, extra=[
    S("large_magnitude", np.array([-800.0, -30.0, 30.0, 800.0]))])
_unary_activation("gelu", TF.gelu, extra=[
    S("tanh", distinct(3, 4), engine_fn=_with(F.gelu, approximate="tanh"),
      torch_fn=_with(TF.gelu, approximate="tanh"), check=True),
    S("tails", np.array([-38.0, -12.0, -5.5, -1e-3, 1e-3, 5.5, 12.0, 40.0])),
    S("wide", np.linspace(-9.0, 9.0, 37))])
_unary_activation("silu", TF.silu, extra=[
    S("large_magnitude", np.array([-80.0, -20.0, 20.0, 80.0]))])
# torch's twin of the step: (x >= 0) cast, which is torch.heaviside(x, 1).
_unary_activation("step", lambda x: (x >= 0).to(x.dtype), differentiable=False)


def _prelu(id, x, w, **kw):
    return S(id, x, w, **kw)


register(Op("prelu", F.prelu, TF.prelu, [
    _prelu("shared", distinct(4, 3), np.array([0.25]), check=True),
    _prelu("per_channel", distinct(2, 3, 4), np.array([0.1, -0.3, 0.5]), check=True),
    _prelu("per_channel_4d", distinct(2, 3, 2, 2), np.array([0.2, 0.4, -0.1])),
    _prelu("1d_input", distinct(5), np.array([0.3])),
    _prelu("0d", distinct(), np.array([0.3])),
    _prelu("empty", distinct(0, 3), np.array([0.2, 0.1, 0.3])),
    _prelu("transposed", transposed(distinct(3, 4)), strided(np.array([0.1, 0.2, 0.3, 0.4]))),
    _prelu("at_zero", np.array([[-1.0, 0.0, 2.0]]), np.array([0.25]), smooth=False),
], [
    bad("prelu_weight_size", eg.ShapeError, "weight must have shape (1,) or (3,)",
        lambda: F.prelu(t((2, 3)), t((2,))), t((2, 3)), t((2,))),
    bad("prelu_dtypes", eg.DTypeError, "different dtypes",
        lambda: F.prelu(t((2, 3)), t((3,), eg.float64)), t((2, 3)), t((3,), eg.float64)),
    bad("prelu_integer_input", eg.DTypeError, "must be floating point",
        lambda: F.prelu(eg.tensor([[1, 2]]), t((1,))), eg.tensor([[1, 2]])),
], covers=("F.prelu",)))



# Weights I/O is public (eg.save, eg.load) but not a tensor op: tests/test_weights.py.
NOT_OPS.update({"engine.save", "engine.load"})
