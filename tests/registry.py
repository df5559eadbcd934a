"""The op registry: every public op, its torch twin, its samples and its bad inputs.

An `Op` names the public callables it covers (`engine.exp`, `Tensor.exp`,
`Tensor.__add__`, `F.pad`, …). `test_registry_covers_every_public_op` derives the
public names from the engine itself and fails when one is neither covered here nor
excluded, with a reason, in `NOT_OPS`.

Samples hold numpy inputs (float64; the tests cast them to float32 and float64) and
plain arguments. They cover 0-d tensors, size-1 dims, empty tensors, non-contiguous
inputs (`transposed`, `strided`), broadcasting pairs and odd sizes. Inputs stay
inside each op's domain, and samples meant for gradients keep away from kinks
(ties at max/min, 0 for abs/relu, clamp bounds): `distinct` draws values that are
pairwise apart and never 0. Samples at a kink say `smooth=False`; they are compared
with torch (same subgradient) but not finite-differenced.

Bad inputs are calls that must raise a given exception whose message names the op,
every tensor operand's shape and dtype, and gives a hint.
"""
import inspect
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as TF

import engine as eg
import engine.nn.functional as F
from helpers import DType

_rng = np.random.default_rng(2024)


# ---- input makers ---------------------------------------------------------------------
# Each returns an ndarray, also for shape () (numpy would give a scalar, which the
# tests would pass as a Python number instead of a 0-d tensor).
def randn(*shape):
    return np.asarray(_rng.standard_normal(shape))


def positive(*shape):
    """In [0.5, 2): the domain of log, sqrt, rsqrt, and safe denominators."""
    return np.asarray(_rng.uniform(0.5, 2.0, shape))


def nonzero(*shape):
    """Away from 0 on both sides: denominators that may be negative."""
    return np.asarray(positive(*shape) * _rng.choice([-1.0, 1.0], shape))


def distinct(*shape):
    """A permutation of a grid: no ties, no zeros, at least min(0.37, 6/numel) apart.

    Off 0 by a quarter step, so that the clamp bounds used below (multiples of 0.05 up
    to 0.6) fall between grid values.
    """
    n = math.prod(shape)
    scale = min(0.37, 6.0 / max(n, 1))
    values = (_rng.permutation(n) - n / 2 + 0.75) * scale
    return values.reshape(shape)


def integers(*shape, low=-5, high=5):
    return np.asarray(_rng.integers(low, high, shape), dtype=np.int64)


def transposed(a):
    """The same values laid out column-major: what `x.T` of a contiguous tensor is."""
    return np.asfortranarray(a)


def strided(a):
    """The same values with a gap after every element (as x[::2] of a larger tensor)."""
    out = np.empty(a.shape + (2,), dtype=a.dtype)[..., 0]
    out[...] = a
    return out


# ---- the registry's records --------------------------------------------------------------
@dataclass
class Sample:
    id: str
    inputs: tuple
    grad: bool = True              # compare gradients (False: forward only)
    smooth: bool = True            # differentiable here (finite differences apply)
    check: bool = False            # also finite-difference it (beyond the first two)
    engine_fn: object = None       # overrides the op's callables for this sample
    torch_fn: object = None
    dtypes: tuple = ("float32", "float64")


@dataclass
class Bad:
    id: str
    call: object                   # () -> must raise
    error: type
    match: tuple                   # substrings the message must contain
    operands: tuple = ()           # tensors whose shape and dtype the message must name
    op: str = None                 # the message starts with "op:" (default: Op.name; "": the
                                   # message is torch's own wording, kept verbatim)
    hint: str = "Hint:"


@dataclass
class Op:
    name: str
    engine_fn: object
    torch_fn: object
    samples: list
    bad: list = field(default_factory=list)
    covers: tuple = ()
    differentiable: bool = True

    def gradcheck_samples(self, first=2):
        """Samples for finite differences: the first `first` eligible ones and those
        marked `check`. Eligible: smooth, float64, small and not empty."""
        if not self.differentiable:
            return []
        chosen = []
        for s in self.samples:
            arrays = [a for a in s.inputs if isinstance(a, np.ndarray)]
            floats = [a for a in arrays if a.dtype.kind == "f"]
            eligible = (s.grad and s.smooth and "float64" in s.dtypes and floats
                        and all(a.size for a in floats) and sum(a.size for a in floats) <= 64)
            if eligible and (len(chosen) < first or s.check):
                chosen.append(s)
        return chosen


def t(shape=(2, 3), dtype=eg.float32, requires_grad=False):
    """A small engine tensor for bad-input calls."""
    x = eg.from_numpy(np.zeros(shape, dtype=dtype.numpy))
    return x.requires_grad_() if requires_grad else x


def bad(id, error, match, call, *operands, op=None, hint="Hint:"):
    match = (match,) if isinstance(match, str) else tuple(match)
    return Bad(id, call, error, match, operands, op, hint)


OPS = []


def register(op):
    OPS.append(op)
    return op


def S(id, *inputs, **kw):
    return Sample(id, inputs, **kw)


def _method(name):
    return lambda x, *a, **k: getattr(x, name)(*a, **k)


# ---- elementwise: binary ---------------------------------------------------------------------
def _binary_samples(make_a, make_b, op_symbol, method):
    """Shape pairs every binary op runs on, plus operator, reflected and method forms."""
    ops = {
        "+": (lambda a, b: a + b, lambda b: 1.5 + b),
        "-": (lambda a, b: a - b, lambda b: 1.5 - b),
        "*": (lambda a, b: a * b, lambda b: 1.5 * b),
        "/": (lambda a, b: a / b, lambda b: 1.5 / b),
        "**": (lambda a, b: a ** b, lambda b: 1.5 ** b),
    }
    samples = [
        S("2x3", make_a(2, 3), make_b(2, 3)),
        S("0d", make_a(), make_b()),
        S("0d_and_2x3", make_a(), make_b(2, 3)),
        S("row_col", make_a(3, 1), make_b(1, 4)),
        S("bcast_3d", make_a(2, 1, 4), make_b(3, 1), check=True),
        S("size1", make_a(1, 1), make_b(1)),
        S("empty", make_a(0, 3), make_b(1, 3)),
        S("empty_bcast", make_a(2, 0), make_b(2, 1)),
        S("transposed", transposed(make_a(3, 4)), make_b(3, 4)),
        S("strided", strided(make_a(3, 4)), transposed(make_b(3, 4))),
        S("odd", make_a(7, 13), make_b(13)),
    ]
    if op_symbol in ops:
        fn, rfn = ops[op_symbol]
        samples.append(S("operator", make_a(2, 3), make_b(3), engine_fn=fn, torch_fn=fn))
        samples.append(S("reflected_scalar", make_b(2, 3), engine_fn=rfn, torch_fn=rfn))
    if method:
        m = lambda a, b: getattr(a, method)(b)
        samples.append(S("method", make_a(2, 3), make_b(2, 3), engine_fn=m, torch_fn=m))
    return samples


def _binary_bad(name, fn):
    return [
        bad(f"{name}_shapes", eg.ShapeError, "do not broadcast",
            lambda: fn(t((2, 3)), t((4,))), t((2, 3)), t((4,)), op=name),
        bad(f"{name}_f32_f64", eg.DTypeError, "different floating dtypes",
            lambda: fn(t((2,)), t((2,), eg.float64)), t((2,)), t((2,), eg.float64), op=name),
    ]


def _binary_op(name, eng, tor, make_a, make_b, symbol=None, dunders=(), extra=(), bad_extra=()):
    covers = (f"engine.{name}", f"Tensor.{name}") + tuple(f"Tensor.{d}" for d in dunders)
    samples = _binary_samples(make_a, make_b, symbol, name) + list(extra)
    return register(Op(name, eng, tor, samples, _binary_bad(name, eng) + list(bad_extra),
                       covers))


_binary_op("add", eg.add, torch.add, randn, randn, "+", ("__add__", "__radd__"), extra=[
    S("python_scalar", randn(2, 3), 2.5),
    S("python_int", randn(2, 3), 3),
    S("int_tensor_promotes", randn(2, 3), integers(2, 3)),
    S("ints", integers(2, 3), integers(3)),
    S("bools", np.array([True, False]), np.array([True, True])),
], bad_extra=[
    bad("add_string", TypeError, "unsupported operand types", lambda: eg.add(t(), "a"),
        op="add"),
])
_binary_op("sub", eg.sub, torch.sub, randn, randn, "-", ("__sub__", "__rsub__"), extra=[
    S("python_scalar", randn(2, 3), 2.5),
    S("int_tensor_promotes", integers(3), randn(2, 3)),
])
_binary_op("mul", eg.mul, torch.mul, randn, randn, "*", ("__mul__", "__rmul__"), extra=[
    S("python_scalar", randn(2, 3), -0.75),
    S("numpy_scalar", randn(2, 3), np.float64(0.5)),
    S("int_times_float_scalar", integers(2, 3), 0.5),
])
_binary_op("div", eg.div, torch.div, randn, nonzero, "/", ("__truediv__", "__rtruediv__"),
           extra=[
    S("python_scalar", randn(2, 3), 4.0),
    S("ints_true_division", integers(2, 3), integers(3, low=1, high=4)),
    S("int_by_python_int", integers(2, 3), 2),
])
_binary_op("pow", eg.pow, torch.pow, positive, randn, "**", ("__pow__", "__rpow__"), extra=[
    S("square", randn(2, 3), 2),
    S("cube", randn(2, 3), 3),
    S("sqrt_exponent", positive(2, 3), 0.5),
    S("negative_exponent", positive(2, 3), -1.5, check=True),
    S("exponent_zero_at_zero", np.array([0.0, 1.5, -2.0]), 0, smooth=False),
    S("ints", integers(2, 3), 2),
    S("int_base_float_exponent", integers(2, 3, low=1, high=4), 0.5),
    S("scalar_base", randn(2, 3), engine_fn=lambda x: 2.0 ** x, torch_fn=lambda x: 2.0 ** x,
      check=True),
])
def _distinct_shifted(*shape):
    """distinct values 0.05 off distinct's lattice: never tied with distinct's."""
    return np.asarray(distinct(*shape) + 0.05)


_binary_op("maximum", eg.maximum, torch.maximum, distinct, _distinct_shifted, extra=[
    S("ties_split_gradient", np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0]),
      smooth=False),
])
_binary_op("minimum", eg.minimum, torch.minimum, distinct, _distinct_shifted, extra=[
    S("ties_split_gradient", np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0]),
      smooth=False),
])


# ---- comparisons (no gradient) ------------------------------------------------------------
def _comparison(name, symbol, dunder):
    fn = eval(f"lambda a, b: a {symbol} b")
    rfn = eval(f"lambda b: 0.0 {symbol} b")
    samples = [
        S("2x3", distinct(2, 3), distinct(2, 3)),
        S("bcast", distinct(3, 1), distinct(4)),
        S("0d", distinct(), distinct(2, 2)),
        S("equal_values", np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 3.0])),
        S("scalar", distinct(2, 3), 0.1),
        S("ints", integers(4), integers(4)),
        S("empty", distinct(0, 2), distinct(2)),
        S("transposed", transposed(distinct(3, 4)), strided(distinct(3, 4))),
        S("operator", distinct(2, 3), distinct(3), engine_fn=fn, torch_fn=fn),
        S("reflected_scalar", distinct(2, 3), engine_fn=rfn, torch_fn=rfn),
    ]
    register(Op(name, getattr(eg, name), getattr(torch, name), samples,
                _binary_bad(name, getattr(eg, name))[:1],
                covers=(f"engine.{name}", f"Tensor.{dunder}"), differentiable=False))


for _name, _symbol in [("eq", "=="), ("ne", "!="), ("lt", "<"), ("le", "<="), ("gt", ">"),
                       ("ge", ">=")]:
    _comparison(_name, _symbol, f"__{_name}__")


# ---- elementwise: unary ----------------------------------------------------------------
def _unary_op(name, eng, tor, make, *, dunders=(), functional=False, ints=True, extra=(),
              differentiable=True):
    covers = (f"engine.{name}", f"Tensor.{name}") + tuple(f"Tensor.{d}" for d in dunders)
    if functional:
        covers += (f"F.{name}",)
    m = _method(name)
    samples = [
        S("2x3", make(2, 3)),
        S("0d", make()),
        S("odd", make(5, 7)),
        S("size1", make(1, 3, 1)),
        S("empty", make(0, 3)),
        S("transposed", transposed(make(3, 4))),
        S("strided", strided(make(4, 3))),
        S("method", make(2, 3), engine_fn=m, torch_fn=m),
    ]
    if ints:
        samples.append(S("int64", np.abs(integers(2, 3)) + 1, dtypes=("float64",)))
    samples += list(extra)
    bads = [bad(f"{name}_not_tensor", TypeError, "must be a Tensor", lambda: eng([1.0, 2.0]),
                op=name)]
    return register(Op(name, eng, tor, samples, bads, covers, differentiable))


_unary_op("neg", eg.neg, torch.neg, randn, dunders=("__neg__",), extra=[
    S("operator", randn(2, 3), engine_fn=lambda x: -x, torch_fn=lambda x: -x)])
_unary_op("exp", eg.exp, torch.exp, randn)
_unary_op("log", eg.log, torch.log, positive)
_unary_op("sqrt", eg.sqrt, torch.sqrt, positive)
_unary_op("rsqrt", eg.rsqrt, torch.rsqrt, positive)
_unary_op("abs", eg.abs, torch.abs, distinct, dunders=("__abs__",), extra=[
    S("builtin_abs", distinct(2, 3), engine_fn=abs, torch_fn=abs),
    S("at_zero", np.array([-1.0, 0.0, 2.0]), smooth=False)])
_unary_op("sign", eg.sign, torch.sign, distinct, extra=[
    S("at_zero", np.array([-1.0, 0.0, 2.0]), smooth=False)])
_unary_op("sin", eg.sin, torch.sin, randn)
_unary_op("cos", eg.cos, torch.cos, randn)
_unary_op("tanh", eg.tanh, torch.tanh, randn, functional=True, extra=[
    S("functional", randn(2, 3), engine_fn=F.tanh, torch_fn=TF.tanh),
    S("saturated", np.array([-30.0, 30.0, 0.5]))])
_unary_op("sigmoid", eg.sigmoid, torch.sigmoid, randn, functional=True, extra=[
    S("functional", randn(2, 3), engine_fn=F.sigmoid, torch_fn=TF.sigmoid),
    S("large_magnitude", np.array([-80.0, -20.0, 0.0, 20.0, 80.0]))])
_unary_op("relu", eg.relu, torch.relu, distinct, functional=True, extra=[
    S("functional", distinct(2, 3), engine_fn=F.relu, torch_fn=TF.relu),
    S("at_zero", np.array([-1.0, 0.0, 2.0]), smooth=False)])


# ---- pos, clamp, where, casts ----------------------------------------------------------
register(Op("pos", lambda x: +x, lambda x: +x, [
    S("2x3", randn(2, 3)), S("0d", randn())], covers=("Tensor.__pos__",)))


def _clamp(lo, hi):
    return (lambda x: eg.clamp(x, lo, hi)), (lambda x: torch.clamp(x, lo, hi))


def _clamp_sample(id, x, lo=None, hi=None, **kw):
    if kw.get("smooth", True):
        assert not np.isin(x, [lo, hi]).any(), f"clamp/{id}: a value sits on a bound"
    e, tf = _clamp(lo, hi)
    return S(id, x, engine_fn=e, torch_fn=tf, **kw)


register(Op("clamp", eg.clamp, torch.clamp, [
    _clamp_sample("both", distinct(3, 4), -0.5, 0.6),
    _clamp_sample("min_only", distinct(2, 3), lo=-0.25, check=True),
    _clamp_sample("max_only", distinct(2, 3), hi=0.25),
    _clamp_sample("0d", np.array(0.9), -0.5, 0.5),
    _clamp_sample("empty", distinct(0, 3), -0.5, 0.5),
    _clamp_sample("transposed", transposed(distinct(3, 4)), -0.5, 0.5),
    _clamp_sample("min_above_max", distinct(2, 3), 0.5, -0.5, smooth=False),
    _clamp_sample("at_bounds", np.array([-1.0, -0.5, 0.0, 0.5, 1.0]), -0.5, 0.5, smooth=False),
    _clamp_sample("ints", integers(2, 3), -2, 2),
    _clamp_sample("int_float_bound", integers(2, 3), 0.5),
    S("method", distinct(2, 3), engine_fn=lambda x: x.clamp(min=-0.5, max=0.5),
      torch_fn=lambda x: x.clamp(min=-0.5, max=0.5)),
], [
    bad("clamp_no_bounds", ValueError, "at least one of min and max", lambda: eg.clamp(t()),
        t()),
], covers=("engine.clamp", "Tensor.clamp")))


def _where_sample(id, cond, a, b, **kw):
    return S(id, cond, a, b, **kw)


_cond = lambda *s: _rng.random(s) > 0.5
register(Op("where", eg.where, torch.where, [
    _where_sample("2x3", _cond(2, 3), randn(2, 3), randn(2, 3)),
    _where_sample("bcast", _cond(3, 1), randn(4), randn(3, 4), check=True),
    _where_sample("0d_cond", np.array(True), randn(2, 3), randn(2, 3)),
    _where_sample("0d_all", np.array(False), randn(), randn()),
    _where_sample("empty", _cond(0, 3), randn(0, 3), randn(3)),
    _where_sample("transposed", transposed(_cond(3, 4)), transposed(randn(3, 4)),
                  strided(randn(3, 4))),
    _where_sample("scalar_other", _cond(2, 3), randn(2, 3), 0.0),
    _where_sample("scalar_input", _cond(2, 3), -1.5, randn(2, 3)),
    _where_sample("two_scalars", _cond(2, 3), 1.0, 0.5),
    _where_sample("int_and_float", _cond(2, 3), integers(2, 3), randn(2, 3)),
], [
    bad("where_cond_not_bool", eg.DTypeError, "condition must be a bool tensor",
        lambda: eg.where(t((2,)), t((2,)), t((2,))), t((2,))),
    bad("where_shapes", eg.ShapeError, "do not broadcast",
        lambda: eg.where(t((3,), eg.bool), t((2, 1)), t((1, 4))), t((3,), eg.bool)),
], covers=("engine.where",)))


def _cast_sample(id, x, spec, **kw):
    """`spec`: a dtype name for x.to(...), or a method name such as 'double'."""
    if spec in ("float", "double", "half", "long", "int", "bool"):
        m = _method(spec)
        return S(id, x, engine_fn=m, torch_fn=m, **kw)
    return S(id, x, DType(spec), engine_fn=lambda x, d: x.to(d),
             torch_fn=lambda x, d: x.to(d), **kw)


register(Op("to", lambda x, d: x.to(d), lambda x, d: x.to(d), [
    _cast_sample("to_float64", randn(2, 3), "float64"),
    # float32 rounding is a staircase at eps 1e-6: compared with torch, not differenced.
    _cast_sample("to_float32", randn(2, 3), "float32", smooth=False),
    _cast_sample("same_dtype_0d", randn(), "float64"),
    _cast_sample("to_int64", randn(2, 3) * 3, "int64"),
    _cast_sample("int_to_float32", integers(2, 3), "float32"),
    _cast_sample("to_bool", np.array([0.0, 1.5, -2.0]), "bool"),
    _cast_sample("empty", randn(0, 2), "float64"),
    _cast_sample("transposed", transposed(randn(3, 4)), "float32"),
    _cast_sample("float", randn(2, 3), "float", smooth=False),
    _cast_sample("double", randn(2, 3), "double"),
    _cast_sample("half", randn(2, 3), "half", smooth=False),
    _cast_sample("long", randn(2, 3) * 3, "long"),
    _cast_sample("int", randn(2, 3) * 3, "int"),
    _cast_sample("bool", np.array([0.0, 1.5]), "bool"),
], [
    # dtype names are checked by one parser for every op, and its messages say "dtype:".
    bad("to_unknown_dtype", eg.DTypeError, "unknown dtype name 'float128'",
        lambda: t().to(dtype="float128"), op="dtype"),
    bad("to_unknown_device", eg.DeviceError, "device 'tpu' has no backend here",
        lambda: t().to("tpu")),
], covers=("Tensor.to", "Tensor.float", "Tensor.double", "Tensor.half", "Tensor.long",
           "Tensor.int", "Tensor.bool")))


# ---- reductions ------------------------------------------------------------------------
def _reduce_call(fn, kw):
    return lambda x: fn(x, **kw)


def _reduction_samples(eng, tor, make, *, empty_reduced=True, tuples=True, keepdim=True):
    """(shape or array, kwargs) cases every reduction runs."""
    cases = [
        ("all", make(3, 4), {}),
        ("dim1", make(3, 4), {"dim": 1}),
        ("dim_neg_keepdim", make(2, 3, 4), {"dim": -1, "keepdim": True}),
        ("0d", make(), {}),
        ("0d_dim0", make(), {"dim": 0}),
        ("size1", make(1, 3, 1), {"dim": 0}),
        ("transposed", transposed(make(3, 4)), {"dim": 0}),
        ("strided", strided(make(3, 5)), {"dim": 1}),
        ("odd", make(7, 13), {"dim": 1}),
        ("empty_kept_dim", make(0, 3), {"dim": 1}),
    ]
    if tuples:
        cases += [("dims_tuple", make(2, 3, 4), {"dim": (0, 2)}),
                  ("dims_tuple_keepdim", make(2, 3, 4), {"dim": (-1, 0), "keepdim": True})]
    if empty_reduced:
        cases += [("empty_reduced", make(0, 3), {"dim": 0}), ("empty_all", make(0, 3), {})]
    if not keepdim:
        cases = [c for c in cases if "keepdim" not in c[2]]
    return [S(id, x, engine_fn=_reduce_call(eng, kw), torch_fn=_reduce_call(tor, kw),
              check=id.startswith("dims_tuple")) for id, x, kw in cases]


def _reduce_bad(name, fn):
    return [
        bad(f"{name}_dim_out_of_range", IndexError, "dimension out of range",
            lambda: fn(t((2, 3)), dim=2), t((2, 3)), op=name),
        bad(f"{name}_dim_repeated", ValueError, "more than once",
            lambda: fn(t((2, 3)), dim=(1, -1)), t((2, 3)), op=name),
    ]


def _reduction(name, eng, tor, make, extra=(), bad_extra=(), drop=(), **kw):
    samples = [s for s in _reduction_samples(eng, tor, make, **kw) if s.id not in drop]
    samples += list(extra)
    return register(Op(name, eng, tor, samples, _reduce_bad(name, eng) + list(bad_extra),
                       covers=(f"engine.{name}", f"Tensor.{name}")))


_reduction("sum", eg.sum, torch.sum, randn, extra=[
    S("method", randn(2, 3), engine_fn=lambda x: x.sum(1), torch_fn=lambda x: x.sum(1)),
    S("ints", integers(3, 4), engine_fn=lambda x: x.sum(0), torch_fn=lambda x: x.sum(0)),
    S("bools", np.array([[True, False], [True, True]]), engine_fn=lambda x: x.sum(),
      torch_fn=lambda x: x.sum()),
    S("dim_empty_tuple_reduces_all", randn(2, 3), engine_fn=lambda x: x.sum(dim=()),
      torch_fn=lambda x: x.sum(dim=())),
])
_reduction("mean", eg.mean, torch.mean, randn, extra=[
    S("method", randn(2, 3), engine_fn=lambda x: x.mean(-1, keepdim=True),
      torch_fn=lambda x: x.mean(-1, keepdim=True)),
    S("dim_empty_tuple_reduces_all", randn(2, 3), engine_fn=lambda x: x.mean(dim=()),
      torch_fn=lambda x: x.mean(dim=())),
])


def _var_like(name, eng, tor):
    def both(**kw):
        correction = kw.pop("correction", None)
        unbiased = kw.pop("unbiased", True)
        if correction is None:
            correction = 1 if unbiased else 0
            e = lambda x: eng(x, kw.get("dim"), unbiased, kw.get("keepdim", False))
        else:
            e = lambda x: eng(x, kw.get("dim"), keepdim=kw.get("keepdim", False),
                              correction=correction)
        return e, lambda x: tor(x, kw.get("dim"), correction=correction,
                                keepdim=kw.get("keepdim", False))

    def sample(id, x, **kw):
        flags = {k: kw.pop(k) for k in ("smooth", "grad", "check") if k in kw}
        e, tf = both(**kw)
        return S(id, x, engine_fn=e, torch_fn=tf, **flags)

    m = _method(name)
    samples = [
        sample("all", randn(3, 4)),
        sample("dim1", randn(3, 4), dim=1),
        sample("biased", randn(3, 4), dim=0, unbiased=False),
        sample("keepdim", randn(2, 3, 4), dim=-1, keepdim=True),
        sample("dims_tuple", randn(2, 3, 4), dim=(0, 2), check=True),
        sample("correction_2", randn(5, 4), dim=0, correction=2, check=True),
        sample("transposed", transposed(randn(4, 3)), dim=1),
        sample("strided", strided(randn(3, 5)), dim=1),
        sample("odd", randn(7, 13), dim=1),
        sample("size1_reduced", randn(3, 1), dim=1, grad=False),
        sample("empty_kept_dim", randn(0, 3), dim=1),
        S("method", randn(2, 3), engine_fn=lambda x: m(x, 1), torch_fn=lambda x: m(x, 1)),
    ]
    register(Op(name, eng, tor, samples, _reduce_bad(name, eng),
                covers=(f"engine.{name}", f"Tensor.{name}")))


_var_like("var", eg.var, torch.var)
_var_like("std", eg.std, torch.std)


def _torch_prod(x, dim=None, keepdim=False):
    """torch.prod takes one dim: reduce a tuple one dim at a time, last first."""
    if dim is None:
        return torch.prod(x)
    dims = (dim,) if isinstance(dim, int) else dim
    for d in sorted((d % max(x.ndim, 1) for d in dims), reverse=True):
        x = torch.prod(x, d, keepdim=keepdim)
    return x


_reduction("prod", eg.prod, _torch_prod, positive, extra=[
    S("one_zero", np.array([[1.5, 0.0, -2.0], [0.5, 2.0, 3.0]]),
      engine_fn=lambda x: eg.prod(x, 1), torch_fn=lambda x: torch.prod(x, 1), check=True),
    S("two_zeros", np.array([[0.0, 0.0, -2.0], [0.5, 0.0, 3.0]]),
      engine_fn=lambda x: eg.prod(x, 1), torch_fn=lambda x: torch.prod(x, 1), check=True),
    S("zero_all", np.array([[1.5, 0.0], [0.5, 2.0]]), engine_fn=eg.prod, torch_fn=torch.prod),
    S("negative", nonzero(2, 3), engine_fn=lambda x: x.prod(0), torch_fn=lambda x: x.prod(0)),
    S("ints", integers(2, 3), engine_fn=lambda x: x.prod(1), torch_fn=lambda x: x.prod(1)),
])


def _extreme_bad(name, fn):
    return [
        bad(f"{name}_empty", eg.ShapeError, "cannot reduce over an empty dimension",
            lambda: fn(t((0, 3))), t((0, 3)), op=name),
    ]


def _no_empty_reduction(name, eng, tor, extra=(), **kw):
    op = _reduction(name, eng, tor, distinct, empty_reduced=False, extra=extra, **kw)
    op.bad += _extreme_bad(name, eng)
    return op


_ties = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
_no_empty_reduction("amax", eg.amax, torch.amax, extra=[
    S("ties_share_gradient", _ties, engine_fn=lambda x: x.amax(1), torch_fn=lambda x: x.amax(1),
      smooth=False)])
_no_empty_reduction("amin", eg.amin, torch.amin, extra=[
    S("ties_share_gradient", _ties, engine_fn=lambda x: x.amin(1), torch_fn=lambda x: x.amin(1),
      smooth=False)])
# logsumexp needs a dim (as torch's does): drop the cases that pass none.
_reduction("logsumexp", eg.logsumexp, torch.logsumexp, randn, empty_reduced=False,
           drop=("all", "0d"), extra=[
    S("minus_inf_row", np.array([[-np.inf, -np.inf], [1.0, 2.0]]),
      engine_fn=lambda x: x.logsumexp(1), torch_fn=lambda x: x.logsumexp(1), grad=False),
    S("large", np.array([[1000.0, 1001.0], [-1000.0, -999.0]]),
      engine_fn=lambda x: x.logsumexp(1), torch_fn=lambda x: x.logsumexp(1)),
    S("empty_reduced", randn(0, 3), engine_fn=lambda x: x.logsumexp(0),
      torch_fn=lambda x: x.logsumexp(0)),
    S("empty_reduced_keepdim", randn(2, 0), engine_fn=lambda x: x.logsumexp(1, keepdim=True),
      torch_fn=lambda x: x.logsumexp(1, keepdim=True)),
])


def _max_min(name):
    eng, tor = getattr(eg, name), getattr(torch, name)

    def along(id, x, dim, keepdim=False, **kw):
        return S(id, x, engine_fn=lambda x: eng(x, dim, keepdim),
                 torch_fn=lambda x: tor(x, dim, keepdim), **kw)

    samples = [
        S("all", distinct(3, 4)),
        S("all_0d", distinct()),
        S("all_ties_share_gradient", _ties, smooth=False),
        along("dim1", distinct(3, 4), 1, check=True),
        along("dim0_keepdim", distinct(3, 4), 0, True),
        along("dim_neg", distinct(2, 3, 4), -2),
        along("0d_dim0", distinct(), 0),
        along("size1", distinct(1, 3), 0),
        along("transposed", transposed(distinct(3, 4)), 1),
        along("strided", strided(distinct(4, 3)), 0, True),
        along("odd", distinct(7, 13), 1),
        along("empty_kept_dim", distinct(0, 3), 1),
        S("elementwise_pair", distinct(2, 3), distinct(2, 3) + 0.05,
          engine_fn=lambda a, b: eng(a, b), torch_fn=lambda a, b: tor(a, b)),
        S("method", distinct(2, 3), engine_fn=lambda x: getattr(x, name)(dim=1),
          torch_fn=lambda x: getattr(x, name)(dim=1)),
    ]
    bads = _extreme_bad(name, eng) + [
        bad(f"{name}_dim_empty", eg.ShapeError, "cannot reduce over an empty dimension",
            lambda: eng(t((2, 0)), 1), t((2, 0)), op=name),
        bad(f"{name}_dim_out_of_range", IndexError, "dimension out of range",
            lambda: eng(t((2, 3)), -3), t((2, 3)), op=name),
    ]
    register(Op(name, eng, tor, samples, bads, covers=(f"engine.{name}", f"Tensor.{name}")))


_max_min("max")
_max_min("min")


def _arg(name):
    eng, tor = getattr(eg, name), getattr(torch, name)

    def call(id, x, **kw):
        return S(id, x, engine_fn=lambda x: eng(x, **kw), torch_fn=lambda x: tor(x, **kw))

    samples = [
        call("all", distinct(3, 4)),
        call("dim1", distinct(3, 4), dim=1),
        call("dim0_keepdim", distinct(3, 4), dim=0, keepdim=True),
        call("0d", distinct()),
        call("0d_dim0", distinct(), dim=0),
        call("transposed", transposed(distinct(3, 4)), dim=1),
        call("odd", distinct(7, 13), dim=-1),
        call("ties_first_index", np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.5]]), dim=1),
        call("ints", integers(3, 4) * 10 + np.arange(12).reshape(3, 4), dim=1),
        S("method", distinct(2, 3), engine_fn=lambda x: getattr(x, name)(1),
          torch_fn=lambda x: getattr(x, name)(1)),
    ]
    bads = [
        bad(f"{name}_empty", eg.ShapeError, "cannot reduce over an empty dimension",
            lambda: eng(t((0, 3))), t((0, 3)), op=name),
        bad(f"{name}_dim_out_of_range", IndexError, "dimension out of range",
            lambda: eng(t((2, 3)), 2), t((2, 3)), op=name),
    ]
    register(Op(name, eng, tor, samples, bads, covers=(f"engine.{name}", f"Tensor.{name}"),
                differentiable=False))


_arg("argmax")
_arg("argmin")


# ---- softmax family ---------------------------------------------------------------------------
def _softmax(name):
    eng, tor = getattr(eg, name), getattr(torch, name)
    f_eng, f_tor = getattr(F, name), getattr(TF, name)

    def along(id, x, dim, fns=(eng, tor), **kw):
        return S(id, x, engine_fn=lambda x: fns[0](x, dim), torch_fn=lambda x: fns[1](x, dim),
                 **kw)

    samples = [
        along("dim_last", randn(3, 5), -1),
        along("dim0", randn(3, 5), 0),
        along("3d_middle", randn(2, 3, 4), 1, check=True),
        along("0d", randn(), 0),
        along("size1_dim", randn(4, 1), 1),
        along("transposed", transposed(randn(4, 5)), 1),
        along("strided", strided(randn(3, 4)), 0),
        along("odd", randn(7, 13), 1),
        along("empty_rows", randn(0, 3), 1),
        along("empty_dim", randn(3, 0), 1),
        along("large_logits", randn(2, 4) * 50 + 1000, 1),
        along("minus_inf_entries", np.array([[-np.inf, 0.5, 1.0], [2.0, -np.inf, -1.0]]), 1,
              smooth=False),
        along("functional", randn(2, 3), 1, (f_eng, f_tor)),
        S("method", randn(2, 3), engine_fn=lambda x: getattr(x, name)(0),
          torch_fn=lambda x: getattr(x, name)(0)),
    ]
    bads = [bad(f"{name}_dim_out_of_range", IndexError, "dimension out of range",
                lambda: eng(t((2, 3)), 2), t((2, 3)), op=name)]
    register(Op(name, eng, tor, samples, bads,
                covers=(f"engine.{name}", f"Tensor.{name}", f"F.{name}")))


_softmax("softmax")
_softmax("log_softmax")


# ---- movement ---------------------------------------------------------------------------------
def _call(fn, *a, **k):
    return lambda x: fn(x, *a, **k)


def _same(id, x, fn, **kw):
    """A sample whose engine and torch calls are spelled the same (methods)."""
    return S(id, x, engine_fn=fn, torch_fn=fn, **kw)


register(Op("reshape", eg.reshape, torch.reshape, [
    _same("merge", randn(2, 3, 4), lambda x: x.reshape(6, 4)),
    _same("infer", randn(2, 3, 4), lambda x: x.reshape(-1, 2)),
    _same("tuple_arg", randn(2, 3), lambda x: x.reshape((3, 2))),
    _same("to_0d", randn(1, 1), lambda x: x.reshape(())),
    _same("from_0d", randn(), lambda x: x.reshape(1, 1)),
    _same("same_shape", randn(2, 3), lambda x: x.reshape(2, 3)),
    _same("empty", randn(0, 3), lambda x: x.reshape(3, 0, 1)),
    _same("transposed_copies", transposed(randn(3, 4)), lambda x: x.reshape(12)),
    _same("strided", strided(randn(4, 3)), lambda x: x.reshape(2, 6)),
    S("function", randn(2, 3), engine_fn=lambda x: eg.reshape(x, (6,)),
      torch_fn=lambda x: torch.reshape(x, (6,))),
], [
    bad("reshape_numel", eg.ShapeError, ("shape [4] is invalid for input of size 6",),
        lambda: t((2, 3)).reshape(4), t((2, 3))),
    bad("reshape_two_unknown", eg.ShapeError, "at most one -1",
        lambda: t((2, 3)).reshape(-1, -1), t((2, 3))),
    bad("reshape_infer_impossible", eg.ShapeError, "is invalid for input of size 6",
        lambda: t((2, 3)).reshape(-1, 4), t((2, 3))),
    bad("reshape_bad_entry", TypeError, "shape entries must be ints",
        lambda: t((2, 3)).reshape(2.0, 3), t((2, 3))),
], covers=("engine.reshape", "Tensor.reshape")))

register(Op("view", None, None, [
    _same("merge", randn(2, 3, 4), lambda x: x.view(6, 4)),
    _same("infer", randn(2, 3, 4), lambda x: x.view(-1)),
    _same("0d", randn(), lambda x: x.view(1)),
    _same("empty", randn(0, 3), lambda x: x.view(3, 0)),
], [
    bad("view_non_contiguous", RuntimeError, "not compatible with input tensor's size and stride",
        lambda: t((2, 3)).T.view(6), t((3, 2))),
], covers=("Tensor.view",)))

register(Op("flatten", eg.flatten, torch.flatten, [
    _same("all", randn(2, 3, 4), lambda x: x.flatten()),
    _same("from1", randn(2, 3, 4), lambda x: x.flatten(1)),
    _same("middle", randn(2, 3, 4, 1), lambda x: x.flatten(1, 2)),
    _same("0d", randn(), lambda x: x.flatten()),
    _same("empty", randn(2, 0, 3), lambda x: x.flatten(0, 1)),
    _same("transposed", transposed(randn(3, 4)), lambda x: x.flatten()),
    S("function", randn(2, 3, 4), engine_fn=lambda x: eg.flatten(x, 0, -2),
      torch_fn=lambda x: torch.flatten(x, 0, -2)),
], [
    bad("flatten_start_after_end", ValueError, "start_dim cannot come after end_dim",
        lambda: t((2, 3, 4)).flatten(2, 1), t((2, 3, 4))),
], covers=("engine.flatten", "Tensor.flatten")))

register(Op("squeeze", eg.squeeze, torch.squeeze, [
    _same("all", randn(1, 3, 1), lambda x: x.squeeze()),
    _same("dim", randn(1, 3, 1), lambda x: x.squeeze(-1)),
    _same("dims_tuple", randn(1, 3, 1, 2), lambda x: x.squeeze((0, 2))),
    _same("not_size1_noop", randn(2, 3), lambda x: x.squeeze(0)),
    _same("0d", randn(), lambda x: x.squeeze()),
    _same("empty", randn(0, 1), lambda x: x.squeeze(1)),
    _same("transposed", transposed(randn(3, 1, 4)), lambda x: x.squeeze(1)),
    S("function", randn(1, 2), engine_fn=lambda x: eg.squeeze(x, 0),
      torch_fn=lambda x: torch.squeeze(x, 0)),
], [
    bad("squeeze_dim_out_of_range", IndexError, "dimension out of range",
        lambda: t((1, 3)).squeeze(2), t((1, 3))),
], covers=("engine.squeeze", "Tensor.squeeze")))

register(Op("unsqueeze", eg.unsqueeze, torch.unsqueeze, [
    _same("front", randn(2, 3), lambda x: x.unsqueeze(0)),
    _same("back", randn(2, 3), lambda x: x.unsqueeze(-1)),
    _same("middle", randn(2, 3), lambda x: x.unsqueeze(1)),
    _same("0d", randn(), lambda x: x.unsqueeze(0)),
    _same("empty", randn(0), lambda x: x.unsqueeze(1)),
    _same("transposed", transposed(randn(3, 4)), lambda x: x.unsqueeze(1)),
    S("function", randn(2), engine_fn=lambda x: eg.unsqueeze(x, 0),
      torch_fn=lambda x: torch.unsqueeze(x, 0)),
], [
    bad("unsqueeze_dim_out_of_range", IndexError, "dimension out of range",
        lambda: t((2, 3)).unsqueeze(4), t((2, 3))),
], covers=("engine.unsqueeze", "Tensor.unsqueeze")))

register(Op("permute", eg.permute, torch.permute, [
    _same("3d", randn(2, 3, 4), lambda x: x.permute(2, 0, 1)),
    _same("negative_dims", randn(2, 3, 4), lambda x: x.permute(-1, -3, -2)),
    _same("tuple_arg", randn(2, 3, 4), lambda x: x.permute((1, 0, 2))),
    _same("identity", randn(2, 3), lambda x: x.permute(0, 1)),
    _same("0d", randn(), lambda x: x.permute(())),
    _same("empty", randn(0, 3), lambda x: x.permute(1, 0)),
    _same("transposed", transposed(randn(3, 4)), lambda x: x.permute(1, 0)),
    S("function", randn(2, 3), engine_fn=lambda x: eg.permute(x, (1, 0)),
      torch_fn=lambda x: torch.permute(x, (1, 0))),
], [
    bad("permute_not_a_permutation", eg.ShapeError, "not a permutation",
        lambda: t((2, 3)).permute(0, 0), t((2, 3))),
    bad("permute_dim_out_of_range", IndexError, "dimension out of range",
        lambda: t((2, 3)).permute(0, 2), t((2, 3))),
], covers=("engine.permute", "Tensor.permute")))

register(Op("transpose", eg.transpose, torch.transpose, [
    _same("2d", randn(2, 3), lambda x: x.transpose(0, 1)),
    _same("3d_negative", randn(2, 3, 4), lambda x: x.transpose(-1, -3)),
    _same("same_dim", randn(2, 3), lambda x: x.transpose(1, 1)),
    _same("0d", randn(), lambda x: x.transpose(0, -1)),
    _same("empty", randn(0, 3), lambda x: x.transpose(0, 1)),
    _same("strided", strided(randn(3, 4)), lambda x: x.transpose(0, 1)),
    _same("mT", randn(2, 3, 4), lambda x: x.mT),
    S("function", randn(2, 3), engine_fn=lambda x: eg.transpose(x, 0, 1),
      torch_fn=lambda x: torch.transpose(x, 0, 1)),
], [
    bad("transpose_dim_out_of_range", IndexError, "dimension out of range",
        lambda: t((2, 3)).transpose(0, 2), t((2, 3))),
    bad("transpose_0d_dim_out_of_range", IndexError, "dimension out of range",
        lambda: t(()).transpose(0, 1), t(())),
], covers=("engine.transpose", "Tensor.transpose", "Tensor.mT")))

_reverse = lambda x: x.permute(tuple(reversed(range(x.ndim))))   # torch warns on .T of non-2-d
register(Op("T", lambda x: x.T, lambda x: x.T, [
    S("2d", randn(2, 3)),
    S("empty", randn(0, 3)),
    S("transposed", transposed(randn(3, 4))),
    S("1d", randn(3), torch_fn=_reverse),
    S("0d", randn(), torch_fn=_reverse),
    S("3d", randn(2, 3, 4), torch_fn=_reverse),
], covers=("Tensor.T",)))

register(Op("expand", None, None, [
    _same("column", randn(3, 1), lambda x: x.expand(3, 4)),
    _same("infer", randn(3, 1), lambda x: x.expand(-1, 4)),
    _same("new_leading", randn(1, 3), lambda x: x.expand(2, 4, 3)),
    _same("tuple_arg", randn(3, 1), lambda x: x.expand((3, 2))),
    _same("0d", randn(), lambda x: x.expand(2, 3)),
    _same("same_shape", randn(2, 3), lambda x: x.expand(2, 3)),
    _same("to_empty", randn(1, 3), lambda x: x.expand(0, 3)),
    _same("strided", strided(randn(3, 1)), lambda x: x.expand(3, 4)),
], [
    bad("expand_incompatible", eg.ShapeError, "must match the existing size 3",
        lambda: t((3, 1)).expand(4, 2), t((3, 1))),
    bad("expand_fewer_dims", eg.ShapeError, "cannot expand to fewer dimensions",
        lambda: t((2, 3)).expand(3), t((2, 3))),
], covers=("Tensor.expand",)))


def _cat_sample(id, arrays, dim=0, fn="cat", **kw):
    n = len(arrays)
    e = getattr(eg, fn)
    tf = getattr(torch, fn)
    return S(id, *arrays, engine_fn=lambda *xs: e(list(xs[:n]), dim),
             torch_fn=lambda *xs: tf(list(xs[:n]), dim), **kw)


register(Op("cat", eg.cat, torch.cat, [
    _cat_sample("dim0", [randn(2, 3), randn(4, 3)]),
    _cat_sample("dim_neg", [randn(2, 3), randn(2, 1), randn(2, 2)], -1, check=True),
    _cat_sample("single", [randn(2, 3)]),
    _cat_sample("empty_part", [randn(0, 3), randn(2, 3)]),
    _cat_sample("legacy_empty_1d_skipped", [randn(0), randn(2, 3)]),
    _cat_sample("1d", [randn(3), randn(5)]),
    _cat_sample("int_promotes", [integers(2, 3), randn(1, 3)]),
    _cat_sample("transposed", [transposed(randn(3, 4)), strided(randn(3, 4))], 1),
    _cat_sample("odd", [randn(7, 13), randn(7, 5)], 1),
], [
    bad("cat_shapes", eg.ShapeError, "sizes must match except in dimension 0",
        lambda: eg.cat([t((2, 3)), t((2, 4))]), t((2, 3)), t((2, 4))),
    bad("cat_0d", eg.ShapeError, "zero-dimensional tensors cannot be concatenated",
        lambda: eg.cat([t(()), t(())]), t(())),
    bad("cat_dtypes", eg.DTypeError, "different floating dtypes",
        lambda: eg.cat([t((2,)), t((2,), eg.float64)]), t((2,)), t((2,), eg.float64)),
    bad("cat_empty_list", ValueError, "non-empty list of tensors", lambda: eg.cat([])),
    bad("cat_dim_out_of_range", IndexError, "dimension out of range",
        lambda: eg.cat([t((2, 3)), t((2, 3))], 2), t((2, 3))),
], covers=("engine.cat",)))

register(Op("stack", eg.stack, torch.stack, [
    _cat_sample("dim0", [randn(2, 3), randn(2, 3)], fn="stack"),
    _cat_sample("dim_last", [randn(2, 3), randn(2, 3), randn(2, 3)], -1, fn="stack"),
    _cat_sample("0d", [randn(), randn()], fn="stack"),
    _cat_sample("empty", [randn(0, 2), randn(0, 2)], 1, fn="stack"),
    _cat_sample("transposed", [transposed(randn(3, 4)), randn(3, 4)], 1, fn="stack"),
], [
    bad("stack_shapes", eg.ShapeError, "all tensors must have the same shape",
        lambda: eg.stack([t((2, 3)), t((3, 2))]), t((2, 3)), t((3, 2))),
    bad("stack_empty_list", ValueError, "non-empty list of tensors", lambda: eg.stack([])),
    bad("stack_dtypes", eg.DTypeError, "different floating dtypes",
        lambda: eg.stack([t((2,)), t((2,), eg.float64)]), t((2,)), t((2,), eg.float64)),
    bad("stack_dim_out_of_range", IndexError, "dimension out of range",
        lambda: eg.stack([t((2,)), t((2,))], 2), t((2,))),
], covers=("engine.stack",)))

register(Op("split", eg.split, torch.split, [
    _same("size", randn(5, 2), lambda x: x.split(2)),
    _same("sections", randn(2, 6), lambda x: x.split([1, 3, 2], 1), check=True),
    _same("size_larger", randn(3), lambda x: x.split(4)),
    _same("zero_section", randn(4, 2), lambda x: x.split([0, 4])),
    _same("empty", randn(0, 2), lambda x: x.split(2)),
    _same("transposed", transposed(randn(4, 6)), lambda x: x.split(4, -1)),
    S("function", randn(4, 3), engine_fn=lambda x: eg.split(x, 3, 0),
      torch_fn=lambda x: torch.split(x, 3, 0)),
], [
    bad("split_sections", eg.ShapeError, "do not add up to the size 5",
        lambda: t((5, 2)).split([2, 2]), t((5, 2))),
    bad("split_size_zero", ValueError, "split_size must be positive",
        lambda: t((5, 2)).split(0), t((5, 2))),
], covers=("engine.split", "Tensor.split")))

register(Op("chunk", eg.chunk, torch.chunk, [
    _same("even", randn(6, 2), lambda x: x.chunk(3)),
    _same("uneven", randn(7, 2), lambda x: x.chunk(3)),
    _same("fewer_chunks", randn(5), lambda x: x.chunk(4)),
    _same("more_chunks_than_rows", randn(2, 3), lambda x: x.chunk(5)),
    _same("dim_last", strided(randn(2, 7)), lambda x: x.chunk(2, -1)),
    _same("empty", randn(0, 2), lambda x: x.chunk(2)),
    S("function", randn(4, 3), engine_fn=lambda x: eg.chunk(x, 2, 1),
      torch_fn=lambda x: torch.chunk(x, 2, 1)),
], [
    bad("chunk_zero", ValueError, "chunks must be positive", lambda: t((5, 2)).chunk(0),
        t((5, 2))),
], covers=("engine.chunk", "Tensor.chunk")))

register(Op("unbind", eg.unbind, torch.unbind, [
    _same("rows", randn(3, 4), lambda x: x.unbind(), check=True),
    _same("middle", randn(2, 3, 4), lambda x: x.unbind(1), check=True),
    _same("last_negative", transposed(randn(4, 5)), lambda x: x.unbind(-1)),
    _same("size1", randn(1, 3), lambda x: x.unbind(0)),
    _same("empty_pieces", randn(3, 0), lambda x: x.unbind(0)),
    _same("scalars", randn(4), lambda x: x.unbind(0)),
    S("function", randn(2, 3), engine_fn=lambda x: eg.unbind(x, 1),
      torch_fn=lambda x: torch.unbind(x, 1)),
], [
    bad("unbind_dim_out_of_range", IndexError, "dimension out of range",
        lambda: t((2, 3)).unbind(2), t((2, 3))),
], covers=("engine.unbind", "Tensor.unbind")))


def _mm(id, a, b, **kw):
    return S(id, a, b, **kw)


_at = lambda a, b: a @ b
register(Op("matmul", eg.matmul, torch.matmul, [
    _mm("2d", randn(3, 4), randn(4, 5)),
    _mm("vec_vec", randn(4), randn(4)),
    _mm("vec_mat", randn(4), randn(4, 3)),
    _mm("mat_vec", randn(3, 4), randn(4)),
    _mm("batched", randn(2, 3, 4), randn(2, 4, 5)),
    _mm("batch_broadcast", randn(2, 1, 2, 3), randn(3, 3, 2), check=True),
    _mm("batched_and_2d", randn(2, 3, 4), randn(4, 5)),
    _mm("vec_batched", randn(4), randn(2, 4, 3), check=True),
    _mm("batched_vec", randn(2, 3, 4), randn(4)),
    _mm("size1", randn(1, 1), randn(1, 1)),
    _mm("empty_inner", randn(3, 0), randn(0, 4)),
    _mm("empty_rows", randn(0, 4), randn(4, 2)),
    _mm("transposed", transposed(randn(3, 4)), transposed(randn(4, 5))),
    _mm("strided", strided(randn(3, 4)), strided(randn(4, 2))),
    _mm("odd", randn(7, 13), randn(13, 5)),
    _mm("operator", randn(2, 3), randn(3, 2), engine_fn=_at, torch_fn=_at),
    _mm("reflected", randn(2, 3), randn(3, 2), engine_fn=lambda a, b: b.__rmatmul__(a),
        torch_fn=lambda a, b: b.__rmatmul__(a)),
    _mm("method", randn(2, 3), randn(3), engine_fn=lambda a, b: a.matmul(b),
        torch_fn=lambda a, b: a.matmul(b)),
    _mm("ints", integers(2, 3), integers(3, 2)),
], [
    bad("matmul_inner", eg.ShapeError, "inner dimensions differ (3 vs 4)",
        lambda: eg.matmul(t((2, 3)), t((4, 5))), t((2, 3)), t((4, 5))),
    bad("matmul_0d", eg.ShapeError, "at least 1 dimension",
        lambda: eg.matmul(t(()), t((2,))), t(()), t((2,))),
    bad("matmul_dtypes", eg.DTypeError, "different dtypes",
        lambda: eg.matmul(t((2, 2)), t((2, 2), eg.float64)), t((2, 2)), t((2, 2), eg.float64)),
    bad("matmul_batch", eg.ShapeError, "batch dimensions do not broadcast",
        lambda: eg.matmul(t((2, 3, 4)), t((3, 4, 5))), t((2, 3, 4)), t((3, 4, 5))),
    bad("matmul_operator", eg.ShapeError, "inner dimensions differ",
        lambda: t((2, 3)) @ t((2, 3)), t((2, 3)), op="matmul"),
    bad("matmul_not_tensor", TypeError, "must be a Tensor",
        lambda: eg.matmul(t((2, 2)), [[1.0, 0.0], [0.0, 1.0]])),
], covers=("engine.matmul", "Tensor.matmul", "Tensor.__matmul__", "Tensor.__rmatmul__")))


def _pad(id, x, pad, value=0.0):
    return S(id, x, engine_fn=lambda x: F.pad(x, pad, value=value),
             torch_fn=lambda x: TF.pad(x, pad, value=value))


register(Op("pad", F.pad, TF.pad, [
    _pad("last_dim", randn(2, 3), (1, 2)),
    _pad("two_dims", randn(2, 3, 4), (1, 1, 2, 0)),
    _pad("value", randn(2, 3), (0, 1, 1, 0), value=1.5),
    _pad("zero_pads", randn(2, 3), (0, 0)),
    _pad("1d", randn(3), (2, 1)),
    _pad("empty", randn(0, 3), (1, 1)),
    _pad("transposed", transposed(randn(3, 4)), (1, 0, 0, 2)),
    _pad("odd", randn(5, 7), (3, 2, 1, 4)),
], [
    bad("pad_odd_length", eg.ShapeError, "needs pairs", lambda: F.pad(t((2, 3)), (1, 2, 3)),
        t((2, 3))),
    bad("pad_too_many", eg.ShapeError, "needs pairs", lambda: F.pad(t((3,)), (1, 1, 1, 1)),
        t((3,))),
    bad("pad_negative", ValueError, "negative padding", lambda: F.pad(t((3,)), (-1, 0)),
        t((3,))),
], covers=("F.pad",)))

register(Op("contiguous", None, None, [
    _same("transposed", transposed(randn(3, 4)), lambda x: x.contiguous()),
    _same("strided", strided(randn(3, 4)), lambda x: x.contiguous()),
    _same("already", randn(2, 3), lambda x: x.contiguous()),
    _same("0d", randn(), lambda x: x.contiguous()),
    _same("empty", randn(0, 3), lambda x: x.contiguous()),
], covers=("Tensor.contiguous",)))

register(Op("clone", None, None, [
    _same("2x3", randn(2, 3), lambda x: x.clone()),
    _same("transposed", transposed(randn(3, 4)), lambda x: x.clone()),
    _same("0d", randn(), lambda x: x.clone()),
    _same("empty", randn(0, 3), lambda x: x.clone()),
    _same("ints", integers(3), lambda x: x.clone()),
], covers=("Tensor.clone",)))


# ---- indexing ------------------------------------------------------------------------------
def _index(id, x, key, **kw):
    """x[key] with a fixed key (no tensors in it)."""
    f = lambda x: x[key]
    return S(id, x, engine_fn=f, torch_fn=f, **kw)


def _index_with(id, x, index, build=lambda x, i: x[i], **kw):
    """x[...] where the key holds an index array (a tensor on both sides)."""
    return S(id, x, index, engine_fn=build, torch_fn=build, **kw)


def _index_list(id, x, key):
    f = lambda x: x[key]
    return S(id, x, engine_fn=f, torch_fn=f)


_x345 = lambda: randn(3, 4, 5)
register(Op("getitem", eg.getitem, None, [
    _index("int", _x345(), 1),
    _index("negative_int", _x345(), -1),
    _index("ints", _x345(), (2, 0, -2)),
    _index("slice", _x345(), slice(1, 3)),
    _index("slice_step", _x345(), (slice(None), slice(None, None, 2))),
    _index("slice_out_of_range_clips", _x345(), slice(1, 10)),
    _index("empty_slice", _x345(), slice(2, 2)),
    _index("none", _x345(), (None, 0, None)),
    _index("ellipsis", _x345(), (Ellipsis, 1)),
    _index("ellipsis_none", _x345(), (0, Ellipsis, None)),
    _index("mixed", _x345(), (1, slice(None, 3), None, -1), check=True),
    _index("0d_ellipsis", randn(), Ellipsis),
    _index("0d_none", randn(), None),
    _index("transposed", transposed(randn(4, 5)), (slice(1, None), 2)),
    _index("strided", strided(randn(4, 5)), (slice(None, None, 3),)),
    _index_with("index_tensor", randn(5, 3), np.array([4, 0, 2])),
    _index_with("repeated_indices_accumulate", randn(4, 3), np.array([1, 1, 3, 1]), check=True),
    _index_with("negative_indices", randn(4, 3), np.array([-1, 0, -4])),
    _index_with("index_2d", randn(5, 2), np.array([[0, 1], [4, 4]])),
    _index_with("index_on_dim1", randn(3, 4), np.array([3, 0]), lambda x, i: x[:, i]),
    _index_with("two_indices_broadcast", randn(4, 5), np.array([[0], [3]]),
                lambda x, i: x[i, i.T + 1]),
    _index_with("int_and_index_apart", _x345(), np.array([1, 3]), lambda x, i: x[0, :, i],
                check=True),
    _index_with("index_then_int", _x345(), np.array([2, 0]), lambda x, i: x[i, :, 1]),
    _index_with("index_and_none", randn(4, 3), np.array([1, 2]), lambda x, i: x[None, i]),
    _index_with("empty_index", randn(4, 3), np.zeros(0, dtype=np.int64)),
    _index_with("index_0d_tensor", randn(4, 3), np.array(2)),
    _index_with("index_int32", randn(4, 3), np.array([3, 1], dtype=np.int32)),
    _index_with("bool_0d_adds_dim", randn(2, 3), np.array(True)),
    _index_with("bool_mask", randn(4, 3), np.array([True, False, True, True])),
    _index_with("bool_mask_2d", randn(3, 4), _rng.random((3, 4)) > 0.5, check=True),
    _index_with("bool_mask_all_false", randn(3, 2), np.zeros(3, dtype=bool)),
    _index_with("bool_mask_dim1", randn(2, 3), np.array([False, True, True]),
                lambda x, m: x[:, m]),
    _index_with("int_and_bool_mask", randn(3, 4), np.array([True, False, False, True]),
                lambda x, m: x[1, m]),
    _index_with("slice_index_int", randn(3, 4, 5), np.array([0, 2]),
                lambda x, i: x[:, i, 3]),
    _index_list("list", randn(5, 2), [0, 3, 3]),
    _index_with("from_transposed", transposed(randn(4, 5)), np.array([0, 3])),
], [
    bad("getitem_int_out_of_range", IndexError, "index 3 is out of range for dimension 0 with "
        "size 3", lambda: t((3, 4))[3], t((3, 4))),
    bad("getitem_index_tensor_out_of_range", IndexError,
        "index 5 is out of bounds for dimension 0 with size 3",
        lambda: t((3, 4))[eg.tensor([0, 5])], t((3, 4))),
    bad("getitem_too_many", IndexError, "too many indices for tensor of dimension 2",
        lambda: t((3, 4))[0, 1, 2], t((3, 4))),
    bad("getitem_0d", IndexError, "too many indices for tensor of dimension 0",
        lambda: t(())[0], t(())),
    bad("getitem_float_index", IndexError, "tensors used as indices must be long, int or bool",
        lambda: t((3, 4))[eg.tensor([0.0, 1.0])], t((3, 4))),
    bad("getitem_mask_shape", IndexError, "does not match the shape of the indexed tensor",
        lambda: t((3, 4))[eg.tensor([True, False])], t((3, 4))),
    bad("getitem_negative_step", ValueError, "step must be greater than zero",
        lambda: t((3, 4))[::-1], t((3, 4))),
    bad("getitem_two_ellipses", IndexError, "single ellipsis",
        lambda: t((3, 4))[..., ...], t((3, 4))),
    bad("getitem_bad_type", IndexError, "unsupported index type str",
        lambda: t((3, 4))["a"], t((3, 4))),
    bad("getitem_indices_do_not_broadcast", eg.ShapeError, "do not broadcast",
        lambda: t((3, 4))[eg.tensor([0, 1]), eg.tensor([0, 1, 2])], t((3, 4))),
], covers=("engine.getitem", "Tensor.__getitem__")))



# ---- what counts as a public op ------------------------------------------------------------------
# Public callables that are not ops, with the reason each is left out of the registry.
NOT_OPS = {
    # creation and randomness: no inputs to differentiate (tests/test_tensor.py)
    "engine.tensor", "engine.as_tensor", "engine.from_numpy", "engine.zeros", "engine.ones",
    "engine.empty", "engine.full", "engine.zeros_like", "engine.ones_like", "engine.full_like",
    "engine.arange", "engine.linspace", "engine.eye", "engine.rand", "engine.randn",
    "engine.randint", "engine.randperm", "engine.manual_seed",
    # grad mode and runtime switches (tests/test_autograd.py, tests/test_runtime.py)
    "engine.no_grad", "engine.enable_grad", "engine.set_grad_enabled",
    "engine.is_grad_enabled", "engine.extension_compiled",
    # description and conversion to Python/numpy: not tensor -> tensor (test_tensor.py)
    "Tensor.dim", "Tensor.size", "Tensor.numel", "Tensor.numpy", "Tensor.item",
    "Tensor.tolist", "Tensor.__len__", "Tensor.__iter__", "Tensor.__bool__",
    "Tensor.__float__", "Tensor.__int__", "Tensor.__array__", "Tensor.__repr__",
    "Tensor.__hash__",
    # devices: only the cpu backend exists yet (tests/test_tensor.py checks the error)
    "Tensor.cpu", "Tensor.cuda",
    # autograd plumbing (tests/test_autograd.py)
    "Tensor.backward", "Tensor.requires_grad_", "Tensor.detach",
    # in place, for optimizers under no_grad (tests/test_tensor.py)
    "Tensor.zero_", "Tensor.fill_", "Tensor.copy_", "Tensor.add_", "Tensor.mul_",
}

# Tensor attributes that are data, not callables.
_TENSOR_DATA = {"dtype", "shape", "ndim", "is_leaf", "__array_priority__", "__slots__",
                "__module__", "__doc__", "__qualname__", "__firstlineno__",
                "__static_attributes__"}


def _is_function(obj):
    """Plain or compiled functions; not classes, modules or dtypes."""
    return callable(obj) and not inspect.isclass(obj) and not inspect.ismodule(obj)


def public_op_names():
    """Every public callable the engine offers: engine.*, F.*, and Tensor methods."""
    names = set()
    for name, obj in vars(eg).items():
        if not name.startswith("_") and _is_function(obj):
            names.add(f"engine.{name}")
    for name in getattr(F, "__all__", [n for n in vars(F) if not n.startswith("_")]):
        if _is_function(getattr(F, name)):
            names.add(f"F.{name}")
    for name in vars(eg.Tensor):
        if name in _TENSOR_DATA or (name.startswith("_") and not name.startswith("__")):
            continue
        names.add(f"Tensor.{name}")
    return names


def covered_names():
    return {name for op in OPS for name in op.covers}


# ---- engine.nn.functional ---------------------------------------------------------------------
def _linear(id, x, w, b=None, **kw):
    if b is None:
        return S(id, x, w, engine_fn=lambda x, w: F.linear(x, w),
                 torch_fn=lambda x, w: TF.linear(x, w), **kw)
    return S(id, x, w, b, **kw)


register(Op("linear", F.linear, TF.linear, [
    _linear("batch", randn(4, 3), randn(5, 3), randn(5)),
    _linear("no_bias", randn(4, 3), randn(2, 3)),
    _linear("3d_input", randn(2, 3, 4), randn(5, 4), randn(5), check=True),
    _linear("1d_input", randn(3), randn(2, 3), randn(2)),
    _linear("empty_batch", randn(0, 3), randn(2, 3), randn(2)),
    _linear("transposed_weight", randn(4, 3), transposed(randn(5, 3)), strided(randn(5))),
    _linear("odd", randn(7, 13), randn(5, 13), randn(5)),
], [
    bad("linear_in_features", eg.ShapeError, "in_features=4",
        lambda: F.linear(t((2, 3)), t((5, 4))), t((2, 3)), t((5, 4))),
    bad("linear_weight_1d", eg.ShapeError, "weight must be 2-D",
        lambda: F.linear(t((2, 3)), t((3,))), t((2, 3)), t((3,))),
    bad("linear_bias_shape", eg.ShapeError, "bias must have shape (5,)",
        lambda: F.linear(t((2, 3)), t((5, 3)), t((4,))), t((2, 3)), t((5, 3)), t((4,))),
    bad("linear_dtypes", eg.DTypeError, "different dtypes",
        lambda: F.linear(t((2, 3)), t((5, 3), eg.float64)), t((2, 3)), t((5, 3), eg.float64)),
], covers=("F.linear",)))


def _loss(fn_e, fn_t, id, inputs, **kw):
    flags = {k: kw.pop(k) for k in ("smooth", "grad", "check") if k in kw}
    return S(id, *inputs, engine_fn=lambda *a: fn_e(*a, **kw),
             torch_fn=lambda *a: fn_t(*a, **kw), **flags)


def _mse(id, *inputs, **kw):
    return _loss(F.mse_loss, TF.mse_loss, id, inputs, **kw)


register(Op("mse_loss", F.mse_loss, TF.mse_loss, [
    _mse("mean", randn(4, 3), randn(4, 3)),
    _mse("sum", randn(4, 3), randn(4, 3), reduction="sum"),
    _mse("none", randn(2, 3, 2), randn(2, 3, 2), reduction="none"),
    _mse("0d", randn(), randn()),
    _mse("empty_sum", randn(0, 3), randn(0, 3), reduction="sum"),
    _mse("transposed", transposed(randn(3, 4)), strided(randn(3, 4))),
    _mse("odd", randn(7, 13), randn(7, 13)),
], [
    bad("mse_loss_shapes", eg.ShapeError, "do not broadcast",
        lambda: F.mse_loss(t((2, 3)), t((4,))), t((2, 3)), t((4,)), op="sub"),
], covers=("F.mse_loss",)))


def _targets(shape, classes):
    return np.asarray(_rng.integers(0, classes, shape), dtype=np.int64)


def _class_loss(name):
    fe, ft = getattr(F, name), getattr(TF, name)

    def make(*shape):
        """Scores: logits for cross_entropy, log-probabilities for nll_loss."""
        x = randn(*shape)
        if name == "nll_loss" and x.ndim:
            x = x - np.log(np.exp(x).sum(axis=0 if x.ndim == 1 else 1, keepdims=True))
        return x

    def sample(id, shape, target_shape, **kw):
        classes = shape[0] if len(shape) == 1 else shape[1]
        return _loss(fe, ft, id, (make(*shape), _targets(target_shape, classes)), **kw)

    samples = [
        sample("mean", (4, 5), (4,)),
        sample("sum", (4, 5), (4,), reduction="sum"),
        sample("none", (4, 5), (4,), reduction="none"),
        sample("1d", (5,), ()),
        sample("spatial", (2, 3, 4), (2, 4), check=True),
        sample("spatial_none", (2, 3, 2, 2), (2, 2, 2), reduction="none"),
        sample("empty_sum", (0, 3), (0,), reduction="sum"),
        _loss(fe, ft, "transposed", (transposed(make(5, 4)), _targets((5,), 4))),
        sample("odd", (7, 13), (7,)),
    ]
    if name == "cross_entropy":
        samples.append(sample("label_smoothing", (4, 5), (4,), label_smoothing=0.1,
                              check=True))
        samples.append(sample("label_smoothing_none", (3, 4), (3,), label_smoothing=0.25,
                              reduction="none"))
    ints = eg.tensor([0, 4])
    bads = [
        bad(f"{name}_target_out_of_range", IndexError, "target 4 is out of bounds for 3 "
            "classes", lambda: fe(t((2, 3)), ints), t((2, 3)), ints, op=name),
        bad(f"{name}_float_target", eg.DTypeError, "target must hold integer class indices",
            lambda: fe(t((2, 3)), t((2,))), t((2, 3)), t((2,)), op=name),
        bad(f"{name}_target_shape", eg.ShapeError, "target must have shape (2,)",
            lambda: fe(t((2, 3)), eg.tensor([0, 1, 2])), t((2, 3)), eg.tensor([0, 1, 2]),
            op=name),
    ]
    register(Op(name, fe, ft, samples, bads, covers=(f"F.{name}",)))


_class_loss("nll_loss")
_class_loss("cross_entropy")


import registry_activations  # noqa: E402,F401  (F.leaky_relu, F.gelu, ...: nn's activations)
import registry_norm_loss  # noqa: E402,F401  (fused losses, norms, dropout, embedding)
import registry_conv  # noqa: E402,F401  (conv1d, conv2d, max/avg/adaptive pooling)
import registry_rnn_attention  # noqa: E402,F401  (lstm/rnn cells, attention)


BY_NAME = {op.name: op for op in OPS}
