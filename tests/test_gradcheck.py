"""float64 finite differences on representative samples of every differentiable op."""
import pytest

from helpers import gradcheck
from registry import OPS

CASES = [pytest.param(op, sample, id=f"{op.name}-{sample.id}")
         for op in OPS for sample in op.gradcheck_samples()]


def test_every_differentiable_op_has_a_gradcheck_sample():
    lacking = [op.name for op in OPS if op.differentiable and not op.gradcheck_samples()]
    assert not lacking, f"no smooth, small, non-empty float64 sample for {lacking}"


@pytest.mark.parametrize("op, sample", CASES)
def test_gradcheck(op, sample):
    gradcheck(sample.engine_fn or op.engine_fn, sample.inputs)
