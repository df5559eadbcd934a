"""kernels/triton/embedding.py: the row gather and the atomic scatter-add backward.

Tiles are forced small (64 elements: 4 rows of 16 columns), so a few dozen indices
span many programs and a repeated index is added by several programs at once. The
gradients are small integers in float32, whose sums are exact in any order, so the
atomic backward can be compared for equality; float64 values within rounding.
"""
import numpy as np
import pytest
import torch

import engine as eg
import engine.nn.functional as F
from kernels.reference.embedding import embedding as reference_embedding
from kernels.reference.embedding import embedding_backward as reference_backward
from kernels.triton import embedding, embedding_backward
from kernels.triton import _launch
from kernels.triton.creation import to_host
from test_cuda_ops import to_cuda

pytestmark = [pytest.mark.triton, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(_launch, "TILE_ELEMENTS", 64)


def dev(a):
    return to_cuda(a).data


def indices(shape, rows, seed=0):
    return np.random.default_rng(seed).integers(0, rows, shape).astype(np.int64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gather_rows_from_any_layout(small_blocks, dtype):
    w = np.random.default_rng(1).standard_normal((40, 21)).astype(dtype)
    idx = indices((5, 9), 11)
    for weight in (w[:11], np.asfortranarray(w[:11]), w[::3, ::2][:11]):
        got = to_host(embedding(dev(weight), dev(idx)))
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, reference_embedding(weight, idx))
    strided_idx = indices((9, 10), 11)[:, ::2]           # a non-contiguous index view
    np.testing.assert_array_equal(to_host(embedding(dev(w[:11]), dev(strided_idx))),
                                  w[:11][strided_idx])
    int32_idx = idx.astype(np.int32)
    np.testing.assert_array_equal(to_host(embedding(dev(w), dev(int32_idx))), w[int32_idx])


@pytest.mark.parametrize("padding_idx", [None, 0, 3])
def test_repeated_indices_accumulate_across_programs(small_blocks, padding_idx):
    idx = indices((6, 7), 5, seed=2)                     # 42 rows over 5 entries: many repeats
    grad = np.random.default_rng(3).integers(-4, 5, (6, 7, 19)).astype(np.float32)
    got = to_host(embedding_backward(dev(grad), dev(idx), 8, padding_idx))
    np.testing.assert_array_equal(got, reference_backward(grad, idx, 8, padding_idx))
    if padding_idx is not None:
        assert not got[padding_idx].any()


def test_backward_float64_and_strided_gradient(small_blocks):
    idx = indices((30,), 4, seed=4)
    base = np.random.default_rng(5).standard_normal((13, 60))
    grad = base.T[:, ::2][:30]                           # (30, 7) with strides (1, 26)
    got = to_host(embedding_backward(dev(grad), dev(idx), 4, None))
    np.testing.assert_allclose(got, reference_backward(grad, idx, 4, None), rtol=1e-13)


def test_op_with_padding_matches_torch():
    w = np.random.default_rng(6).standard_normal((7, 5)).astype(np.float32)
    idx = np.array([[1, 6, 1], [6, 6, 0]])
    we = eg.tensor(w, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    ours = F.embedding(eg.tensor(idx).cuda(), we.cuda(), padding_idx=-1)
    theirs = torch.nn.functional.embedding(torch.from_numpy(idx), wt, padding_idx=6)
    g = np.random.default_rng(7).standard_normal((2, 3, 5)).astype(np.float32)
    ours.backward(eg.tensor(g).cuda())
    theirs.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())
    np.testing.assert_allclose(we.grad.numpy(), wt.grad.numpy(), rtol=1e-6)
