"""kernels/triton/dropout.py: the mask bit for bit the reference's, on any view.

The Triton kernel hashes (seed, i) with SplitMix64 in uint64 arithmetic, as the numpy
reference and the Numba kernel do, so its outputs must be *equal* to the reference's
(not close): same kept elements, same scaled values. Blocks are forced small so the
element index runs across many programs.
"""
import numpy as np
import pytest

from kernels.reference.dropout import dropout as reference_dropout, keep_mask
from kernels.triton import dropout      # the wrapper (it shadows its module's name)
from kernels.triton import _launch
from kernels.triton.creation import to_host
from test_cuda_ops import to_cuda

pytestmark = [pytest.mark.triton, pytest.mark.filterwarnings("ignore::RuntimeWarning")]

SEEDS = [0, 1, 987654321, 2**40 + 3, 2**63 - 1]


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(_launch, "ELEMENTWISE_BLOCK", 64)


def run(x, p, seed):
    return to_host(dropout(to_cuda(x).data, p, seed))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n, p", [(1, 0.5), (17, 0.3), (1000, 0.5), (333, 0.9)])
def test_mask_equals_the_reference_bit_for_bit(small_blocks, seed, n, p):
    ones = np.ones(n)
    got = run(ones, p, seed)
    np.testing.assert_array_equal(got != 0, keep_mask(seed, n, p))
    np.testing.assert_array_equal(got, reference_dropout(ones, p, seed))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_equal_the_reference_on_views(small_blocks, dtype):
    base = np.random.default_rng(0).standard_normal((2, 3, 2, 3, 2, 3)).astype(dtype)
    views = [base, base.transpose(5, 3, 1, 0, 2, 4),     # 6 unmergeable dims: copied first
             base.reshape(12, 18).T[::2], base[:, 1:, ::2]]
    for x in views:
        got = run(x, 0.4, 12345)
        assert got.dtype == dtype and got.shape == x.shape
        np.testing.assert_array_equal(got, reference_dropout(np.ascontiguousarray(x), 0.4, 12345))


def test_p_zero_keeps_all_and_p_one_drops_all_keeping_nan():
    x = np.random.default_rng(1).standard_normal(50).astype(np.float32)
    np.testing.assert_array_equal(run(x, 0.0, 7), x)
    x[3] = np.nan
    got = run(x, 1.0, 7)
    assert np.isnan(got[3])
    np.testing.assert_array_equal(np.delete(got, 3), np.zeros(49, np.float32))
    np.testing.assert_array_equal(got, reference_dropout(x, 1.0, 7))


def test_empty_input():
    assert run(np.zeros((0, 3), np.float32), 0.5, 1).shape == (0, 3)
