"""kernels.numba against kernels.reference, function by function.

Every table function runs on the edge inputs a kernel gets wrong first: 0-d, empty,
size-1 dims, transposed, strided and negative-stride views, stride-0 broadcast views
(read-only), odd sizes, float32/float64 (and the ints, bools and float16 the reference
takes). A result must be an ndarray (never a numpy scalar) with the reference's dtype
and shape, and equal to it: exactly where the math is exact (moves, comparisons,
max/min, integer arithmetic), else within float rounding: rtol 1e-6 (float32), 1e-12
(float64), 1e-3 (float16), with an absolute floor of rtol × the result's magnitude
(sums and dot products that cancel carry the absolute error of their terms).

The first run compiles every kernel once per dtype (~1 min on 2 cores; Numba caches
them on disk, ~10 s after that: the ufunc loops around the elementwise kernels are
rebuilt in every process).
"""
import importlib
import inspect
import itertools
import pkgutil
import warnings

import numba
import numpy as np
import pytest

import kernels.numba as nb
import kernels.reference as ref

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
FLOATS = (F32, F64)
ALL_DTYPES = tuple(map(np.dtype, (np.bool_, np.int32, np.int64, np.float16, np.float32,
                                  np.float64)))
RTOL = {F16: 1e-3, F32: 1e-6, F64: 1e-12}


# ---- helpers ------------------------------------------------------------------------------
def check(ours, theirs, exact=False, scale=None):
    """ours (kernels.numba) against theirs (kernels.reference): type, dtype, shape, values.

    `scale`: the magnitude the absolute error is measured against (default: the result's).
    """
    assert type(ours) is np.ndarray, f"got {type(ours).__name__}, not an ndarray"
    theirs = np.asarray(theirs)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    if exact or theirs.dtype.kind not in "fc":
        np.testing.assert_array_equal(ours, theirs)
        return
    rtol = RTOL[theirs.dtype]
    if scale is None:
        finite = np.abs(theirs[np.isfinite(theirs)]).astype(np.float64)
        scale = max(1.0, finite.max()) if finite.size else 1.0
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale, equal_nan=True)


def both(name, *args, exact=False, scale=None, **kwargs):
    """Run `name` from both tables on the same inputs; if the reference raises, so must we."""
    try:
        expected = getattr(ref, name)(*args, **kwargs)
    except Exception as error:                       # noqa: BLE001
        with pytest.raises(type(error)):
            getattr(nb, name)(*args, **kwargs)
        return None
    got = getattr(nb, name)(*args, **kwargs)
    check(got, expected, exact=exact, scale=scale)
    return got


def rand(shape, dtype, low=-2.0, high=2.0, rng=None):
    rng = np.random.default_rng(0) if rng is None else rng
    x = rng.uniform(low, high, size=shape)
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return x > 0
    if dtype.kind in "iu":
        return np.round(x * 3).astype(dtype)
    return x.astype(dtype)


def layouts(shape, dtype, low=-2.0, high=2.0):
    """(name, array) with `shape` in every layout a kernel must read."""
    shape = tuple(shape)
    x = rand(shape, dtype, low, high)
    yield "contiguous", x
    if len(shape) >= 2:
        t = np.ascontiguousarray(np.swapaxes(x, -1, -2))
        yield "transposed", np.swapaxes(t, -1, -2)
    if len(shape) >= 1:
        big = rand(shape[:-1] + (2 * shape[-1],), dtype, low, high)
        yield "strided", big[..., ::2]
        yield "reversed", np.ascontiguousarray(x[::-1])[::-1]
        # stride 0 along the last axis where it has size > 1, read-only
        row = rand(shape[:-1] + (1,), dtype, low, high)
        yield "broadcast", np.broadcast_to(row, shape)


SHAPES = [(), (0,), (1,), (4,), (3, 5), (2, 0, 3), (2, 1, 3), (2, 3, 17)]


# ---- the table ----------------------------------------------------------------------------
def test_same_names_and_signatures():
    assert sorted(nb.__all__) == sorted(ref.__all__)
    assert len(set(nb.__all__)) == len(nb.__all__)
    for name in ref.__all__:
        fn = getattr(nb, name)
        assert callable(fn), name
        ours = inspect.signature(getattr(fn, "py_func", fn))
        assert ours == inspect.signature(getattr(ref, name)), (name, ours)


def test_every_module_lists_its_names():
    """Each kernel file beside its reference: kernels/numba/<family>.py has the names of
    kernels/reference/<family>.py (the triton files: tests/test_backends.py)."""
    families = [m.name for m in pkgutil.iter_modules(ref.__path__)]
    assert "activation" in families and "attention" in families
    for module in families:
        ours = importlib.import_module(f"kernels.numba.{module}")
        theirs = importlib.import_module(f"kernels.reference.{module}")
        for name in ref.__all__:
            if getattr(getattr(theirs, name, None), "__module__", None) == theirs.__name__:
                assert callable(getattr(ours, name, None)), \
                    f"kernels.numba.{module} lacks {name}"


# ---- elementwise ----------------------------------------------------------------------------
UNARY = {  # name: (low, high) of the inputs
    "neg": (-2, 2), "exp": (-2, 2), "log": (0.1, 4), "sqrt": (0.1, 4), "rsqrt": (0.1, 4),
    "abs": (-2, 2), "sign": (-2, 2), "sin": (-4, 4), "cos": (-4, 4), "tanh": (-3, 3),
    "sigmoid": (-8, 8), "relu": (-2, 2),
}
EXACT = {"neg", "abs", "sign", "relu", "maximum", "minimum", "where", "eq", "ne", "lt", "le",
         "gt", "ge", "clamp", "clamp_backward", "relu_backward"}


@pytest.mark.parametrize("dtype", FLOATS + (F16,), ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, dtype):
    low, high = UNARY[name]
    for shape in SHAPES:
        for _, x in layouts(shape, dtype, low, high):
            both(name, x, exact=name in EXACT)
    both(name, dtype.type(0.5), exact=name in EXACT)               # numpy scalar


def test_unary_special_values():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for dtype in FLOATS:
            x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, 1e4, -1e4, 88.0, -88.0,
                          1000.0, -1000.0], dtype=dtype)
            for name in UNARY:
                both(name, x, exact=name in EXACT)


def test_nan_inputs_warn_as_numpy_does():
    # A NaN is not an invalid operation for a comparison: numpy stays silent, and so must
    # the kernels (x86 vector compares would raise the flag numpy turns into a warning).
    for dtype in FLOATS:
        x = np.full(64, np.nan, dtype)
        x[::3], x[1::5], x[2::7], x[4::9], x[5::11] = 1, -2, -0.0, np.inf, -np.inf
        g = rand((64,), dtype)
        calls = [(name, (x,)) for name in UNARY]
        calls += [(name, (x, g)) for name in BINARY] + [(name, (g, x)) for name in BINARY]
        calls += [(name, (x, g)) for name in ("tanh_backward", "sigmoid_backward",
                                             "relu_backward", "sqrt_backward",
                                             "rsqrt_backward")]
        calls += [("where", (x > 0, x, g)), ("clamp", (x, dtype.type(-1), dtype.type(1))),
                  ("clamp", (g, dtype.type(-1), dtype.type(np.nan))),
                  ("clamp_backward", (x, g, dtype.type(-1), dtype.type(1))),
                  ("amax", (x, (0,), False)), ("argmax", (x, 0, False)),
                  ("softmax", (x, 0)), ("matmul", (x.reshape(1, 8, 8), x.reshape(1, 8, 8)))]
        for name, args in calls:
            with warnings.catch_warnings(record=True) as theirs:
                warnings.simplefilter("always")
                expected = getattr(ref, name)(*args)
            with warnings.catch_warnings(record=True) as ours:
                warnings.simplefilter("always")
                got = getattr(nb, name)(*args)
            assert len(ours) <= len(theirs), (name, [str(w.message) for w in ours])
            check(got, expected, exact=name in EXACT, scale=64 if name == "matmul" else None)


def test_sigmoid_never_overflows():
    for dtype in FLOATS:
        x = np.array([-1e4, -1000.0, -100.0, 0.0, 100.0, 1000.0, 1e4], dtype=dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")                         # no overflow warning
            y = nb.sigmoid(x)
        assert np.all(np.isfinite(y)) and y[0] == 0 and y[-1] == 1
        check(y, ref.sigmoid(x))


def test_unary_integer_and_bool_inputs():
    for dtype in ALL_DTYPES:
        x = rand((3, 4), dtype, 0.1, 3)
        for name in UNARY:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                both(name, x, exact=name in EXACT)


BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le",
          "gt", "ge"]


def _pairs(dtype):
    a = rand((3, 4), dtype, 0.5, 2)
    b = rand((3, 4), dtype, 0.5, 2, rng=np.random.default_rng(1))
    yield a, b
    yield a, b[0]                                   # (3, 4) with (4,)
    yield a[:, :1], b[:1]                           # (3, 1) with (1, 4)
    yield a.T, b.T                                  # transposed
    yield a[::-1, ::2], b[:, ::-2]                  # negative strides
    yield np.broadcast_to(a[:1], (3, 4)), b         # read-only stride 0
    yield a, dtype.type(1.5)                        # numpy scalar of the dtype
    yield dtype.type(1.5), a
    yield a, np.asarray(dtype.type(0.75))           # 0-d array
    yield np.asarray(dtype.type(2)), np.asarray(dtype.type(3))
    yield a, 2.0                                    # Python scalar: NEP 50 keeps dtype
    yield a[:0], b[:0]                              # empty
    yield a[:1, :1], b                              # size-1 dims


@pytest.mark.parametrize("dtype", FLOATS + (F16,), ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary(name, dtype):
    for a, b in _pairs(dtype):
        both(name, a, b, exact=name in EXACT)


def test_binary_special_values():
    v = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan])
    a, b = np.meshgrid(v, v)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for dtype in FLOATS:
            for name in BINARY:
                both(name, a.astype(dtype), b.astype(dtype), exact=name in EXACT)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "eq", "lt"])
def test_binary_dtype_promotion(name):
    for da, db in itertools.product(ALL_DTYPES, repeat=2):
        a = rand((2, 3), da, 0.5, 3)
        b = rand((3,), db, 0.5, 3, rng=np.random.default_rng(2))
        both(name, a, b, exact=name in EXACT)
        both(name, a, db.type(2))
    for dtype in ALL_DTYPES:                       # Python scalars are weak
        for scalar in (2, 2.5, True):
            both(name, rand((3,), dtype, 0.5, 3), scalar, exact=name in EXACT)


def test_integer_arithmetic_wraps_like_numpy():
    a = np.array([2**31 - 1, -2**31, 7], dtype=np.int32)
    for name in ("add", "sub", "mul", "neg", "abs"):
        args = (a,) if name in ("neg", "abs") else (a, np.int32(3))
        both(name, *args)


def test_where():
    for dtype in ALL_DTYPES:
        cond = rand((3, 4), np.bool_)
        a, b = rand((3, 4), dtype), rand((4,), dtype, rng=np.random.default_rng(3))
        both("where", cond, a, b)
        both("where", cond[:, :1], a, dtype.type(0))
        both("where", cond, dtype.type(1), b)
        both("where", np.asarray(True), np.asarray(dtype.type(1)), np.asarray(dtype.type(2)))
        both("where", cond.T, a.T, np.broadcast_to(b[:1], (4, 3)))
    both("where", np.arange(4) % 2, np.ones(4, np.float32), np.zeros(4, np.float32))
    both("where", np.array([0.0, np.nan, 2.0]), np.ones(3), np.zeros(3))
    both("where", rand((3,), np.bool_), np.ones(3, np.int32), np.ones(3, np.float32))
    both("where", rand((3,), np.bool_), 1.0, 0.0)


@pytest.mark.parametrize("dtype", FLOATS + (F16,), ids=str)
def test_fused_backward(dtype):
    for _, y in layouts((3, 17), dtype, 0.05, 0.95):
        g = rand((3, 17), dtype, rng=np.random.default_rng(4))
        for name in ("tanh_backward", "sigmoid_backward", "sqrt_backward",
                     "rsqrt_backward", "relu_backward"):
            both(name, y, g, exact=name in EXACT)
            both(name, y, g[:1])                                   # broadcast grad
            both(name, y[:0], g[:0])
            both(name, np.asarray(y[0, 0]), np.asarray(g[0, 0]))   # 0-d
    x = rand((5,), dtype)
    both("relu_backward", x, rand((5,), F64))                      # grad's dtype wins
    both("relu_backward", np.array([0.0, -0.0, np.nan, 1.0], dtype), np.ones(4, dtype))


@pytest.mark.parametrize("dtype", (F32, F64, F16, np.dtype(np.int32), np.dtype(np.int64)),
                         ids=str)
def test_clamp(dtype):
    x = rand((4, 5), dtype, -3, 3)
    if dtype.kind == "f":
        x[0, :3] = [np.nan, np.inf, -np.inf]
    lo, hi = dtype.type(-1), dtype.type(1)
    g = rand((4, 5), dtype, rng=np.random.default_rng(5))
    for view in (x, x.T, x[::-1, ::2], np.broadcast_to(x[:1], (4, 5)), x[:0],
                 np.asarray(x[1, 1])):
        gv = g[: view.shape[0], : view.shape[1]] if view.ndim == 2 else g[0, 0]
        if view.ndim == 2 and view.shape != gv.shape:
            gv = np.ones(view.shape, dtype)
        for bounds in ((lo, hi), (lo, None), (None, hi), (None, None), (hi, lo)):
            got = both("clamp", view, *bounds, exact=True)
            assert got is not view
            both("clamp_backward", view, gv, *bounds, exact=True)
    both("clamp", x, 0.5, None)                    # Python scalar bound
    both("clamp_backward", x, g[:1], lo, hi, exact=True)


def test_astype():
    for src, dst in itertools.product(ALL_DTYPES, repeat=2):
        x = rand((3, 4), src)
        got = both("astype", x.T, dst, exact=True)
        assert got is not None and not np.shares_memory(got, x)
    both("astype", np.asarray(np.float32(2.5)), np.int64, exact=True)
    both("astype", np.float32(2.5), np.float64, exact=True)


def test_small_elementwise_calls_are_cheap():
    """The engine's per-op overhead budget: a (4,) float32 op well under torch's ~2 µs."""
    import time
    a, b = np.ones(4, np.float32), np.full(4, 2.0, np.float32)
    for fn, args in ((nb.add, (a, b)), (nb.exp, (a,)), (nb.where, (a > 0, a, b)),
                     (nb.mul, (a, np.float32(2)))):
        fn(*args)
        best = min(_time_calls(fn, args, time.perf_counter) for _ in range(5))
        assert best < 2e-6, f"{fn.__name__}: {best * 1e6:.2f} µs per call"


def _time_calls(fn, args, clock, n=2000):
    start = clock()
    for _ in range(n):
        fn(*args)
    return (clock() - start) / n


def test_one_compiled_version_per_dtype():
    # Contiguous, transposed, strided, reversed and broadcast float32 inputs, of any
    # rank, all run the one 'A'-layout version (kernels/numba/_launch.py).
    from kernels.numba import movement, reduce
    for shape in ((3, 5), (2, 3, 4), (7,)):
        for _, x in layouts(shape, F32):
            nb.contiguous_copy(x)
            nb.sum(x, (x.ndim - 1,), False)
    copies = [sig for sig in movement.copy_forward_kernel.signatures
              if sig[0].dtype == numba.uint32]
    sums = [sig for sig in reduce.sum_forward_kernel.signatures
            if sig[0].dtype == numba.float32]
    assert len(copies) == 1 and len(sums) == 1, (copies, sums)


# ---- creation ----------------------------------------------------------------------------
def test_creation():
    for dtype in ALL_DTYPES:
        both("full", (2, 3), 1, dtype, exact=True)
        both("full", (), 0, dtype, exact=True)
        both("arange", 0, 5, 1, dtype, exact=True)
    x = np.ones(3)
    assert nb.from_host(x) is x and nb.to_host(x) is x


# ---- movement -----------------------------------------------------------------------------
def test_views_are_the_references():
    for name in ("reshape", "permute", "expand", "slice"):
        assert getattr(nb, name) is getattr(ref, name)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_contiguous_copy(dtype):
    for shape in SHAPES + [(2, 3, 4, 5), (3, 1, 2, 1, 2)]:
        for _, x in layouts(shape, dtype):
            got = both("contiguous_copy", x, exact=True)
            assert got.flags.c_contiguous and got.flags.writeable
            assert not np.shares_memory(got, x) or x.size == 0
    x = rand((4, 6, 5), dtype)
    both("contiguous_copy", x.transpose(2, 0, 1)[::-1, 1::2], exact=True)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_cat(dtype):
    a, b = rand((2, 3), dtype), rand((2, 5), dtype)
    both("cat", [a, b], 1, exact=True)
    both("cat", [a, b.T[:3].T, a[:, :0]], -1, exact=True)
    both("cat", [a, a.T.T, np.broadcast_to(a[:1], (4, 3))], 0, exact=True)
    both("cat", [a], 0, exact=True)
    both("cat", [a, b], None, exact=True)
    both("cat", (a[::-1], b[:, ::-2]), 1, exact=True)
    both("cat", [a, b], 0)                          # shapes disagree: ValueError
    both("cat", [np.asarray(dtype.type(1))], 0)    # 0-d: ValueError
    both("cat", [a, a], 2)                          # AxisError
    for other in ALL_DTYPES:                        # numpy's result dtype
        both("cat", [a, rand((1, 3), other)], 0, exact=True)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_pad(dtype):
    x = rand((3, 4), dtype)
    for pads in (((1, 2), (0, 3)), ((0, 0), (0, 0)), 1, (2, 1), ((1, 0),), ((2,), (1,))):
        for view in (x, x.T, x[::-1, ::2], np.broadcast_to(x[:1], (3, 4)), x[:0]):
            both("pad", view, pads, dtype.type(1), exact=True)
    both("pad", x, ((1, 1), (2, 0)), ((7, 8), (9, 10)), exact=True)   # per-side values
    both("pad", rand((2, 3, 4), dtype), ((0, 1), (1, 0), (2, 2)), 0, exact=True)
    both("pad", np.asarray(dtype.type(5)), 1, 0, exact=True)
    both("pad", x, ((-1, 0), (0, 0)), 0)                                # ValueError
    if dtype.kind in "iu":
        both("pad", x, 1, 2.7, exact=True)                             # truncates


GATHER_KEYS = [
    np.array([0, 2, 2, -1]),
    np.array([[1, 0], [3, -4]]),
    np.array([], dtype=np.int64),
    np.array([1, 0], dtype=np.int32),
    (np.array([0, 1, 3]), np.array([2, 0, 1])),
    (np.array([[0], [3]]), np.array([1, 2, 4])),          # broadcasting index arrays
    (np.array([0, 1]), 2),
    (1, np.array([0, 4, 4])),
    (2, 3),
    (np.s_[1:3], np.array([0, 4])),                       # mixed slice + array
    (np.array([0, 2]), np.s_[::2]),
    (np.s_[:], np.array([True, False, True, False, True])),
    np.array([True, False, True, False]),                 # row mask
    "mask",                                               # full-shape mask
    (Ellipsis, np.array([4, 0])),
    (None, np.array([1, 1])),
    np.s_[1:3],                                           # basic keys too
    (np.s_[::-1], 0),
    [0, 3, 3],                                            # list = index array
]


def _key(key, shape):
    if isinstance(key, str):
        return rand(shape, np.bool_, rng=np.random.default_rng(7))
    return key


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_gather(dtype):
    for _, x in layouts((4, 5), dtype):
        for key in GATHER_KEYS:
            both("gather", x, _key(key, x.shape), exact=True)
    x = rand((4, 5, 3), dtype)
    for key in (np.array([3, 0]), (np.array([1, 2]), np.array([0, 4])),
                (np.s_[:], np.array([0, 0]), np.s_[1:]), (np.array([1]), np.s_[:], np.array([2])),
                (Ellipsis, np.array([2, 0]))):
        both("gather", x, key, exact=True)
        both("gather", x.transpose(1, 0, 2), key if not isinstance(key, tuple) else key[:1],
             exact=True)
    both("gather", rand((0, 3), dtype), np.array([], dtype=np.int64), exact=True)
    both("gather", np.asarray(dtype.type(1)), (), exact=True)
    both("gather", np.asarray(dtype.type(1)), None, exact=True)


def test_gather_out_of_bounds_raises_index_error():
    x = rand((4, 5), F32)
    for key in (np.array([0, 4]), np.array([-5]), (np.array([0]), np.array([5])),
                (np.s_[:], np.array([7]))):
        both("gather", x, key)
        with pytest.raises(IndexError):
            nb.gather(x, key)


@pytest.mark.parametrize("dtype", (np.dtype(np.bool_), np.dtype(np.int32), F16, F32, F64),
                         ids=str)
def test_index_add(dtype):
    shape = (4, 5)
    for key in GATHER_KEYS:
        key = _key(key, shape)
        target = np.zeros(shape)[key].shape
        grads = [rand(target, dtype, rng=np.random.default_rng(8))]
        if len(target) >= 1 and target[-1] > 0:
            grads.append(rand(target[-1:], dtype))                  # broadcast grad
        grads.append(dtype.type(1))                                 # scalar grad
        for grad in grads:
            both("index_add", shape, key, grad)
    # repeated indices accumulate
    got = both("index_add", (3,), np.array([0, 0, 2, 0]), np.ones(4, dtype))
    if dtype.kind == "f":
        assert got[0] == 3
    both("index_add", (3, 2), (np.array([1, 1]),), np.ones((2, 2), dtype))
    both("index_add", (), (), dtype.type(2))
    both("index_add", (4,), np.array([4]), np.ones(1, dtype))      # IndexError


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_copy_into(dtype):
    for src_dtype in ALL_DTYPES:
        src = rand((3, 4), src_dtype)
        for dst in (np.zeros((3, 4), dtype), np.zeros((4, 3), dtype).T,
                    np.zeros((3, 8), dtype)[:, ::2], np.zeros((3, 4), dtype)[::-1]):
            for s in (src, src[:1], src[0, 0], np.asarray(src[0, 0]), src.T.T[:, ::-1]):
                d_ref, d_nb = dst.copy(), dst.copy()
                try:
                    ref.copy_into(d_ref, s)
                except Exception as error:              # noqa: BLE001
                    with pytest.raises(type(error)):
                        nb.copy_into(d_nb, s)
                    continue
                assert nb.copy_into(d_nb, s) is d_nb
                check(d_nb, d_ref, exact=True)
    x = rand((6,), dtype)
    a, b = x.copy(), x.copy()
    ref.copy_into(a[1:], a[:-1])                     # overlapping
    nb.copy_into(b[1:], b[:-1])
    check(b, a, exact=True)
    with pytest.raises(ValueError):
        nb.copy_into(np.broadcast_to(x[:1], (3,)), x[:3])
    d = np.zeros((), dtype)
    nb.copy_into(d, dtype.type(1))
    assert d == dtype.type(1)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_fill(dtype):
    for value in (0, 1, 2.7, True, -3):
        for make in (lambda: np.zeros((3, 4), dtype), lambda: np.zeros((4, 3), dtype).T,
                     lambda: np.zeros((3, 8), dtype)[:, ::-2], lambda: np.zeros((), dtype),
                     lambda: np.zeros((0, 3), dtype)):
            a, b = make(), make()
            assert nb.fill(b, value) is b
            ref.fill(a, value)
            check(b, a, exact=True)
    with pytest.raises(ValueError):
        nb.fill(np.broadcast_to(np.zeros(1, dtype), (3,)), 1)


# ---- reductions ---------------------------------------------------------------------------
REDUCE_CASES = [((), ()), ((), None), ((0,), (0,)), ((5,), (0,)), ((5,), ()),
                ((3, 4), (0,)), ((3, 4), (1,)), ((3, 4), (0, 1)), ((3, 4), (-1,)),
                ((2, 3, 4), (1,)), ((2, 3, 4), (0, 2)), ((2, 3, 4), (0, 1)),
                ((2, 3, 4), (1, 2)), ((2, 1, 4), (1,)), ((2, 0, 3), (1,)), ((2, 0, 3), (0, 2)),
                ((2, 3, 4, 5), (0, 2, 3)), ((1, 17, 1), (1,)), ((3, 4), 1)]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", ["sum", "prod", "amax", "amin", "logsumexp"])
def test_reductions(name, dtype):
    low, high = (0.5, 1.5) if name == "prod" else (-2, 2)
    for shape, axes in REDUCE_CASES:
        for _, x in layouts(shape, dtype, low, high):
            # numpy sums float16 in float16 for some layouts; ours in float64 and rounds
            # once: the reference's error grows with the terms' magnitudes.
            scale = float(np.abs(x.astype(np.float64)).sum()) if dtype == F16 else None
            for keepdim in (False, True):
                both(name, x, axes, keepdim, exact=name in ("amax", "amin"), scale=scale)


@pytest.mark.parametrize("name", ["sum", "prod", "amax", "amin", "logsumexp", "argmax",
                                  "argmin"])
def test_reductions_large(name):
    """Sizes that take the threaded paths: many rows, few long rows, middle axis."""
    for dtype in FLOATS:
        for shape, axes in (((300, 1000), (1,)), ((3, 100_000), (1,)), ((300_001,), (0,)),
                            ((1000, 300), (0,)), ((40, 300, 20), (1,))):
            x = rand(shape, dtype)
            if name == "prod":     # mostly 1, a few 2 and 0.5: exact products, no overflow
                x = np.choose(np.digitize(x, [-1.996, 1.996]), [0.5, 1.0, 2.0]).astype(dtype)
            if name.startswith("arg"):
                both(name, x, axes[0], False)
            else:
                scale = float(np.abs(x).sum(axis=axes).max()) if name == "sum" else None
                both(name, x, axes, False, exact=name in ("amax", "amin"), scale=scale)
                both(name, x.T, tuple(x.ndim - 1 - a for a in axes), True,
                     exact=name in ("amax", "amin"), scale=scale)


def test_reductions_nan_and_inf():
    x = np.array([[1.0, np.nan, 3.0], [-np.inf, -np.inf, -np.inf], [np.inf, 1.0, 2.0],
                  [2.0, 5.0, 5.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for dtype in FLOATS:
            for name in ("sum", "prod", "amax", "amin", "logsumexp"):
                both(name, x.astype(dtype), (1,), False, exact=name in ("amax", "amin"))
                both(name, x.astype(dtype).T, (0,), True, exact=name in ("amax", "amin"))
            for name in ("argmax", "argmin"):
                both(name, x.astype(dtype), 1, False)
                both(name, x.astype(dtype).T, 0, True)
    lse = nb.logsumexp(np.full((2, 3), -np.inf), (1,), False)
    assert np.all(lse == -np.inf)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_argmax_argmin(dtype):
    ties = np.array([[1, 3, 3, 0], [2, 2, 2, 2], [0, 0, 5, 5]])
    for name in ("argmax", "argmin"):
        for shape, axis in (((), None), ((5,), 0), ((5,), None), ((3, 4), 0), ((3, 4), 1),
                            ((3, 4), -1), ((3, 4), None), ((2, 3, 4), 1), ((0, 3), 1),
                            ((0, 3), 0), ((3, 0), None), ((1, 17, 1), 1)):
            for _, x in layouts(shape, dtype):
                for keepdim in (False, True):
                    both(name, x, axis, keepdim)
        for axis in (0, 1, None):
            both(name, ties.astype(dtype), axis, False)


def test_empty_reductions_raise_value_error_where_numpy_does():
    x = np.zeros((0, 3), np.float32)
    for name in ("amax", "amin", "logsumexp"):
        with pytest.raises(ValueError):
            getattr(nb, name)(x, (0,), False)
        check(getattr(nb, name)(x, (1,), False), getattr(ref, name)(x, (1,), False))
    for name in ("argmax", "argmin"):
        with pytest.raises(ValueError):
            getattr(nb, name)(x, 0, False)
        with pytest.raises(ValueError):
            getattr(nb, name)(x, None, False)
    check(nb.sum(x, (0,), False), ref.sum(x, (0,), False))
    check(nb.prod(x, (0, 1), True), ref.prod(x, (0, 1), True))


def test_logsumexp_is_shift_stable():
    rng = np.random.default_rng(9)
    for dtype in FLOATS:
        x = (rng.integers(-40, 40, size=(5, 7)) / 8).astype(dtype)   # x + 1e4 is exact
        for axes in ((1,), (0,), (0, 1)):
            shifted = nb.logsumexp(x + dtype.type(1e4), axes, False)
            check(np.asarray(shifted - dtype.type(1e4)), nb.logsumexp(x, axes, False),
                  scale=1e4)
            check(shifted, ref.logsumexp(x + dtype.type(1e4), axes, False))


def test_sum_to_shape():
    for dtype in ALL_DTYPES:
        for xs, shape in (((3, 4), (4,)), ((3, 4), (1, 4)), ((3, 4), (3, 1)), ((3, 4), ()),
                          ((2, 3, 4), (3, 1)), ((3, 4), (3, 4)), ((2, 1, 4), (1, 4)),
                          ((0, 4), (4,)), ((5,), (1,))):
            for _, x in layouts(xs, dtype):
                both("sum_to_shape", x, shape)


# ---- softmax ---------------------------------------------------------------------------------
SOFTMAX_CASES = (((4,), 0), ((3, 5), 1), ((3, 5), 0), ((3, 5), -1), ((2, 3, 17), 1),
                 ((2, 0, 3), 2), ((1, 1), 1), ((), None), ((3, 5), None), ((2, 3, 4), 0))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_softmax_family(dtype):
    for shape, axis in SOFTMAX_CASES:
        for _, x in layouts(shape, dtype, -4, 4):
            y = both("softmax", x, axis)
            ly = both("log_softmax", x, axis)
            g = rand(shape, dtype, rng=np.random.default_rng(10))
            both("softmax_backward", ref.softmax(x, axis), g, axis)
            both("softmax_backward", y, np.broadcast_to(g[..., :1], g.shape)
                 if g.ndim else g, axis)
            both("log_softmax_backward", ly, g, axis)
            both("log_softmax_backward", ly,                       # stride-0 grad
                 np.broadcast_to(rand(shape[-1:], dtype), shape), axis)
    x = rand((2, 0, 3), dtype)
    both("softmax", x, 1)                                      # empty axis: ValueError
    both("log_softmax", x, 1)
    both("softmax_backward", x, x, 1)                          # a sum: empty is fine
    both("log_softmax_backward", x, x, 1)


def test_softmax_family_float16():
    # numpy computes float16 step by step in float16 (Σ g y cancels badly); ours computes
    # in float32 and rounds once. The oracle: the reference in float32, rounded to float16.
    for shape, axis in SOFTMAX_CASES[:6]:
        for _, x in layouts(shape, F16, -4, 4):
            g = rand(shape, F16, rng=np.random.default_rng(10))
            x32, g32 = x.astype(F32), g.astype(F32)
            y32, ly32 = ref.softmax(x32, axis), ref.log_softmax(x32, axis)
            y16, ly16 = y32.astype(F16), ly32.astype(F16)
            check(nb.softmax(x, axis), y16)
            check(nb.log_softmax(x, axis), ly16)
            check(nb.softmax_backward(y16, g, axis),
                  ref.softmax_backward(y16.astype(F32), g32, axis).astype(F16))
            check(nb.log_softmax_backward(ly16, g, axis),
                  ref.log_softmax_backward(ly16.astype(F32), g32, axis).astype(F16))


def test_softmax_family_large_and_integer():
    x = rand((300, 517), F32, -5, 5)
    g = rand((300, 517), F32, rng=np.random.default_rng(11))
    for axis in (1, 0):
        y = both("softmax", x, axis)
        ly = both("log_softmax", x, axis)
        both("softmax_backward", y, g, axis)
        both("log_softmax_backward", ly, g, axis)
    both("softmax", rand((3, 4), np.int32), 1)
    both("log_softmax", rand((3, 4), np.int64), 0)
    both("softmax", rand((3, 4), np.bool_), 1)                 # TypeError


def test_softmax_is_shift_stable():
    rng = np.random.default_rng(12)
    for dtype in FLOATS:
        x = (rng.integers(-40, 40, size=(4, 9)) / 8).astype(dtype)   # x + 1e4 is exact
        big = x + dtype.type(1e4)
        for axis in (1, 0):
            check(nb.softmax(big, axis), nb.softmax(x, axis))
            check(nb.log_softmax(big, axis), nb.log_softmax(x, axis))
            check(nb.softmax(big, axis), ref.softmax(big, axis))
    rows = np.array([[-np.inf, -np.inf], [np.inf, 0.0], [np.nan, 1.0], [0.0, -np.inf]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        both("softmax", rows, 1)
        both("log_softmax", rows, 1)


# ---- matmul ----------------------------------------------------------------------------------
def _matmul_check(a, b):
    k = a.shape[-1]
    scale = max(1.0, k * float(np.abs(a).max(initial=0)) * float(np.abs(b).max(initial=0)))
    both("matmul", a, b, scale=scale)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_matmul_sizes(dtype):
    sizes = (1, 3, 17, 65, 129)
    for m, k, n in itertools.product(sizes, repeat=3):
        if m * k * n > 65 * 129 * 129:
            continue
        a = rand((2, m, k), dtype)
        b = rand((2, k, n), dtype, rng=np.random.default_rng(13))
        _matmul_check(a, b)


@pytest.mark.parametrize("dtype", FLOATS + (F16,), ids=str)
def test_matmul_layouts(dtype):
    rng = np.random.default_rng(14)
    for m, k, n in ((5, 7, 3), (70, 33, 66)):
        a = rand((3, m, k), dtype)
        b = rand((3, k, n), dtype, rng=rng)
        at = np.ascontiguousarray(a.transpose(0, 2, 1)).transpose(0, 2, 1)
        bt = np.ascontiguousarray(b.transpose(0, 2, 1)).transpose(0, 2, 1)
        for x, y in ((a, b), (at, bt), (a[::-1], b[:, ::-1, ::-1]),
                     (np.broadcast_to(a[:1], a.shape), b),          # stride-0 batch
                     (a, np.broadcast_to(b[1:2], b.shape)), (a[:1], b), (a, b[:1]),
                     (rand((3, m, 2 * k), dtype)[:, :, ::2], b)):
            _matmul_check(x, y)
    _matmul_check(rand((2, 0, 4), dtype), rand((2, 4, 3), dtype))   # M == 0
    _matmul_check(rand((2, 3, 4), dtype), rand((2, 4, 0), dtype))   # N == 0
    out = nb.matmul(rand((2, 3, 0), dtype), rand((2, 0, 5), dtype))  # K == 0: zeros
    check(out, ref.matmul(rand((2, 3, 0), dtype), rand((2, 0, 5), dtype)), exact=True)
    both("matmul", rand((2, 3, 4), dtype), rand((2, 5, 3), dtype))  # K mismatch: ValueError


def test_matmul_other_dtypes_and_ranks():
    for da, db in itertools.product(ALL_DTYPES, repeat=2):
        both("matmul", rand((2, 3, 4), da), rand((2, 4, 5), db, rng=np.random.default_rng(15)))
    x = rand((4, 5), F32)
    for a, b in ((x, x.T), (x[0], x.T), (x, x[0]), (x[0], x[0]), (rand((2, 1, 4, 5), F32),
                                                                   rand((3, 5, 2), F32))):
        _matmul_check(a, b)


def test_matmul_propagates_nan_and_inf():
    a = rand((1, 6, 8), F32)
    b = rand((1, 8, 6), F32)
    a[0, 1, 2] = np.nan
    b[0, 3, 4] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for big in (False, True):
            x, y = (np.tile(a, (1, 12, 12)), np.tile(b, (1, 12, 12))) if big else (a, b)
            both("matmul", x, y, scale=8 * 12)
