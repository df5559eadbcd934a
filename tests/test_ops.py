"""Every registry sample against torch, forward and backward, in float32 and float64."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine as eg
import torch
from helpers import check_against_torch
from registry import OPS, covered_names, public_op_names, NOT_OPS

CASES = [pytest.param(op, sample, dtype, id=f"{op.name}-{sample.id}-{dtype}")
         for op in OPS for sample in op.samples for dtype in sample.dtypes]


# Some samples produce nan/inf on purpose (var of one element, 0 ** -1 inside pow's
# gradient at 0, logsumexp of -inf): numpy and torch say so, and so would a user.
@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore:.*degrees of freedom")
@pytest.mark.parametrize("op, sample, dtype", CASES)
def test_matches_torch(op, sample, dtype):
    engine_fn = sample.engine_fn or op.engine_fn
    torch_fn = sample.torch_fn or op.torch_fn
    check_against_torch(engine_fn, torch_fn, sample.inputs, grad=sample.grad,
                        dtype=np.dtype(dtype))


def test_registry_covers_every_public_op():
    missing = public_op_names() - covered_names() - NOT_OPS
    assert not missing, (f"public ops missing from tests/registry.py: {sorted(missing)}. Add an "
                         f"Op (samples and bad inputs), or list them in NOT_OPS with a reason")


def test_registry_names_only_public_ops():
    stale = (covered_names() | NOT_OPS) - public_op_names()
    assert not stale, f"the registry names ops the engine does not have: {sorted(stale)}"


def test_registry_samples_are_complete():
    for op in OPS:
        assert op.samples, op.name
        ids = [s.id for s in op.samples]
        assert len(ids) == len(set(ids)), f"{op.name}: duplicate sample ids"
        for s in op.samples:
            assert (s.engine_fn or op.engine_fn) and (s.torch_fn or op.torch_fn), \
                f"{op.name}/{s.id} has no engine or torch callable"


def test_registry_exercises_edge_shapes():
    """Each op has a 0-d or empty sample, and a non-contiguous one where it takes any."""
    contiguous_only = {"view": "view() of a non-contiguous tensor raises (see its bad inputs)",
                       "pos": "+x returns x itself: no layout to get wrong"}
    for op in OPS:
        arrays = [a for s in op.samples for a in s.inputs if isinstance(a, np.ndarray)]
        assert any(a.ndim == 0 or a.size == 0 for a in arrays), f"{op.name}: no 0-d/empty sample"
        if op.name not in contiguous_only:
            assert any(a.size > 1 and not a.flags.c_contiguous for a in arrays), \
                f"{op.name}: no non-contiguous sample"


# ---- broadcasting, drawn by hypothesis (derandomized: the same draws every run) ----------
_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0,
                                            max_side=3)
_binary = {"add": (eg.add, torch.add), "mul": (eg.mul, torch.mul),
           "sub": (eg.sub, torch.sub), "maximum": (eg.maximum, torch.maximum)}


@settings(max_examples=40, deadline=None, derandomize=True)
@given(shapes=_shapes, name=st.sampled_from(sorted(_binary)), seed=st.integers(0, 2**16))
def test_broadcasting_binary_ops(shapes, name, seed):
    rng = np.random.default_rng(seed)
    a, b = (np.asarray(rng.standard_normal(s)) for s in shapes.input_shapes)
    e, t = _binary[name]
    check_against_torch(e, t, (a, b), dtype=np.float64)


# ---- reductions over drawn shapes and dims ---------------------------------------------------
_reductions = {"sum": (eg.sum, torch.sum), "mean": (eg.mean, torch.mean),
               "logsumexp": (eg.logsumexp, torch.logsumexp), "amax": (eg.amax, torch.amax)}


@st.composite
def _reduction_case(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    ndim = max(len(shape), 1)
    dims = draw(st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim,
                         unique_by=lambda d: d % ndim))
    dim = dims[0] if len(dims) == 1 and draw(st.booleans()) else tuple(dims)
    return shape, draw(st.sampled_from(sorted(_reductions))), dim, draw(st.booleans())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=60, deadline=None, derandomize=True)
@given(case=_reduction_case(), seed=st.integers(0, 2**16))
def test_reductions_over_drawn_dims(case, seed):
    shape, name, dim, keepdim = case
    reduced = [shape[d] for d in ((dim,) if isinstance(dim, int) else dim)] if shape else []
    assume(not (name == "amax" and 0 in reduced))     # raises, as torch's does (test_errors)
    e, t = _reductions[name]
    x = np.asarray(np.random.default_rng(seed).standard_normal(shape))
    check_against_torch(lambda x: e(x, dim, keepdim), lambda x: t(x, dim, keepdim), (x,),
                        dtype=np.float64)
