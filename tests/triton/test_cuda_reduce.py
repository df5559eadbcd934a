"""The split-column (two-stage) reductions of kernels/triton/reduce.py.

A GPU takes that path for few long rows (a full reduction, `x.sum(0)` of a tall
tensor); here its knobs are shrunk, with the blocks, so that rows of a few hundred
columns split into several chunks of several loop steps each, and the fixture
checks that every case below did split. The results must be those of the one-stage
path: numpy's dtypes, exact where exact (max/min, arg*, integer sums), NaN and ties
across chunks as numpy and torch treat them.
"""
import numpy as np
import pytest
import torch

import engine as eg
from kernels.triton import _launch
from kernels.triton import reduce as triton_reduce

pytestmark = [pytest.mark.triton, pytest.mark.filterwarnings("ignore::RuntimeWarning")]

DTYPES = [np.float32, np.float64, np.float16, np.int32, np.bool_]
# (shape, dim): 3 rows of 1000 columns (3 chunks of 384: 3 steps, the last ragged); the
# same as the columns of a tall tensor (a strided view); the full reduction of an odd
# 2-d shape (one row of 1961: 8 chunks of 256)
CASES = [((3, 1000), 1), ((1000, 3), 0), ((37, 53), None)]


@pytest.fixture
def split_columns(monkeypatch):
    """Small reduction blocks and a split rule that fires at these sizes; yields the splits used."""
    monkeypatch.setattr(_launch, "TILE_ELEMENTS", 128)       # 128-column steps
    monkeypatch.setattr(triton_reduce, "SPLIT_SMS", 2)        # split below 8 row programs
    monkeypatch.setattr(triton_reduce, "SPLIT_MIN_COLS", 32)
    monkeypatch.setattr(triton_reduce, "SPLIT_MIN_CHUNK", 16)
    used = []
    split = triton_reduce._split

    def recording_split(*args):
        result = split(*args)
        used.append(result[0])
        return result

    monkeypatch.setattr(triton_reduce, "_split", recording_split)
    yield used
    assert used and all(s > 1 for s in used), f"not every reduction split: {used}"


def values(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind == "i":
        return rng.integers(-50, 50, shape).astype(dtype)
    return (rng.standard_normal(shape) * 3).astype(dtype)


def cuda(a):
    return eg.tensor(a).cuda()


def check_sum(got, want, dtype):
    if np.dtype(dtype).kind in "biu":
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)
    else:
        assert got.dtype == dtype
        rtol = {np.float16: 1e-3, np.float32: 1e-5, np.float64: 1e-12}[dtype]
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, dim", CASES)
def test_split_sum_prod_max_min(split_columns, shape, dim, dtype):
    a = values(shape, dtype)
    x = cuda(a)
    args = () if dim is None else (dim,)
    # fp16 sums in fp32 (as the one-stage path does), then rounds once
    wide = a.astype(np.float64) if a.dtype.kind == "f" else a
    check_sum(x.sum(*args).numpy(), wide.sum(axis=dim), dtype)
    if a.dtype.kind == "f":
        p = 1 + a / 64                                      # a product that stays finite
        check_sum(cuda(p).prod(*args).numpy(), p.astype(np.float64).prod(axis=dim), dtype)
    else:                                                   # int64, wrapping as numpy's
        p = np.where(a.astype(np.int64) % 3 == 0, 2, 1).astype(dtype)
        got = cuda(p).prod(*args).numpy()
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, p.prod(axis=dim, dtype=np.int64))
    for fn, ref in (("amax", np.max), ("amin", np.min)):
        got = getattr(x, fn)(*args).numpy()
        assert got.dtype == a.dtype, fn
        np.testing.assert_array_equal(got, ref(a, axis=dim), err_msg=fn)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, dim", CASES)
def test_split_argmax_argmin(split_columns, shape, dim, dtype):
    a = values(shape, dtype)
    if a.dtype.kind != "b":                     # a few small values: ties across chunks
        a = (a // 8).astype(dtype) if a.dtype.kind == "i" else np.round(a / 3).astype(dtype)
    x = cuda(a)
    args = () if dim is None else (dim,)
    for fn in ("argmax", "argmin"):
        got = getattr(x, fn)(*args).numpy()
        np.testing.assert_array_equal(got, getattr(np, fn)(a, axis=dim), err_msg=fn)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("shape, dim", CASES)
def test_split_logsumexp(split_columns, shape, dim, dtype):
    a = values(shape, dtype) * 10
    dims = (0, 1) if dim is None else dim
    got = cuda(a).logsumexp(dims).numpy()
    assert got.dtype == dtype
    want = torch.logsumexp(torch.from_numpy(a.astype(np.float64)), dims).numpy()
    rtol = {np.float16: 1e-3, np.float32: 1e-6, np.float64: 1e-13}[dtype]
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=rtol)


def test_split_logsumexp_infinities(split_columns):
    a = values((4, 1000), np.float32)
    a[0, :300] = -np.inf                        # whole chunks of -inf in a finite row
    a[1] = -np.inf                              # an all -inf row: -inf, not NaN
    a[2, 500] = np.nan                          # NaN in one chunk: the row is NaN
    a[3, 999] = 80.0                            # the max in the last, ragged chunk
    got = cuda(a).logsumexp(1).numpy()
    want = torch.logsumexp(torch.from_numpy(a), 1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got[1] == -np.inf and np.isnan(got[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_split_max_min_propagate_nan(split_columns, dtype):
    a = values((3, 1000), dtype)
    a[0, 10] = np.nan                           # first chunk
    a[1, [450, 999]] = np.nan                   # a middle and the last, ragged chunk
    x = cuda(a)
    for fn, ref in (("amax", np.max), ("amin", np.min)):
        np.testing.assert_array_equal(getattr(x, fn)(1).numpy(), ref(a, axis=1), err_msg=fn)
        assert np.isnan(getattr(x, fn)().item()), fn
    assert np.isnan(x.sum(1).numpy()[:2]).all() and not np.isnan(x.sum(1).numpy()[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("nans", [[250], [100, 700], [0, 1, 999]])
def test_split_arg_first_nan_and_first_tie(split_columns, dtype, nans):
    a = values((3, 1000), dtype)
    a[:, [150, 400, 960]] = 50.0                # ties for the max in three chunks
    a[:, [170, 420, 980]] = -50.0               # and for the min
    a[1, nans] = np.nan
    a[2, nans] = np.nan
    a[2, :] = np.where(np.isnan(a[2]), np.nan, 50.0)   # every non-NaN value ties
    x = cuda(a)
    for fn in ("argmax", "argmin"):
        np.testing.assert_array_equal(getattr(x, fn)(1).numpy(), getattr(np, fn)(a, axis=1),
                                      err_msg=fn)
        assert getattr(x, fn)().item() == getattr(np, fn)(a), fn
        assert getattr(cuda(a[:1]), fn)().item() == getattr(np, fn)(a[:1]), fn


def test_split_partials_over_several_steps(split_columns, monkeypatch):
    """79 chunks: stage 2 walks its partials in two 64-wide steps, in chunk order."""
    monkeypatch.setattr(_launch, "TILE_ELEMENTS", 64)
    monkeypatch.setattr(triton_reduce, "SPLIT_SMS", 64)
    a = np.zeros(5000, np.float32)
    a[[100, 4200, 4900]] = 7.0                  # chunks 1, 65 (chunk 1's lane, a step later), 76
    a[[70, 4170]] = -7.0
    x = cuda(a)
    assert x.argmax().item() == 100 and x.argmin().item() == 70
    b = a.copy()
    b[[4400, 4999]] = np.nan
    assert cuda(b).argmax().item() == 4400 and cuda(b).argmin().item() == 4400
    assert split_columns[0] == 79


def test_one_stage_when_rows_fill_the_gpu(monkeypatch):
    """The rule: enough row programs, or short rows, keep the one-stage path."""
    monkeypatch.setattr(triton_reduce, "SPLIT_SMS", 132)
    monkeypatch.setattr(triton_reduce, "SPLIT_MIN_COLS", 1 << 15)
    monkeypatch.setattr(triton_reduce, "SPLIT_MIN_CHUNK", 1 << 13)
    split = triton_reduce._split
    assert split(528, 1 << 20, 1, 4096) == (1, 1 << 20)          # 4 programs per SM
    assert split(8, 1 << 14, 1, 4096) == (1, 1 << 14)            # short rows
    s, chunk = split(1, 4096 * 32000, 1, 4096)                   # x.sum() of 4096x32000
    assert chunk % 4096 == 0 and s * chunk >= 4096 * 32000 > (s - 1) * chunk
    assert 500 <= s <= 528
    s, chunk = split(8, 100_000, 1, 4096)                         # each chunk >= 8192
    assert s == 9 and chunk == 12288
