"""The fused recurrent-cell and attention kernels: kernels.numba against kernels.reference,
the attention kernels' accuracy in the FlashAttention manner, and what the ops promise
beyond the registry (backpropagation through several steps, fully-masked rows, NaN).

Registry entries (tests/registry_rnn_attention.py) compare the public ops with torch
forward and backward and finite-difference them; this file checks the kernels one by
one, on the shapes and layouts where tiled kernels go wrong first: sizes that are not
multiples of the tiles (1, 17, 113, 127, 129), more than one tile, empty batches, and
inputs that reach the kernels non-contiguous.
"""
import zlib

import numpy as np
import numba
import pytest
import torch
import torch.nn.functional as TF

import engine as eg
import engine.nn.functional as F
import kernels.numba as nb
import kernels.reference as ref
from kernels.numba import _fused, attention as nb_attention, rnn as nb_rnn

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
RTOL = {F32: 2e-6, F64: 1e-12}


def check(ours, theirs, scale=None):
    """Same type, dtype, shape; values within rounding of the result's magnitude."""
    if theirs is None:
        assert ours is None
        return
    assert type(ours) is np.ndarray, type(ours)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, (
        ours.dtype, ours.shape, theirs.dtype, theirs.shape)
    finite = np.abs(theirs[np.isfinite(theirs)])
    scale = scale or max(1.0, float(finite.max(initial=0.0)))
    rtol = RTOL[theirs.dtype]
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale, equal_nan=True)


def rng_for(*key):
    """A generator seeded by the test's key: the same draws in every process (hash() of
    a str changes from one process to the next)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def cell_scale(x, h, w_ih, w_hh):
    """The magnitude of the gate sums' terms, Σ_k |x_k w_k|: what their float32 rounding
    error is relative to (the outputs themselves are sigmoids and tanhs, <= 1)."""
    return float((np.abs(x) @ np.abs(w_ih).T + np.abs(h) @ np.abs(w_hh).T).max(initial=1.0))


# ---- recurrent cells -------------------------------------------------------------------------
def cell_inputs(B, I, H, gates, dtype, rng, scale=0.5):
    x = rng.standard_normal((B, I)).astype(dtype)
    h = rng.standard_normal((B, H)).astype(dtype)
    c = rng.standard_normal((B, H)).astype(dtype)
    w_ih = (rng.standard_normal((gates * H, I)) * scale).astype(dtype)
    w_hh = (rng.standard_normal((gates * H, H)) * scale).astype(dtype)
    b_ih = rng.standard_normal(gates * H).astype(dtype)
    b_hh = rng.standard_normal(gates * H).astype(dtype)
    return x, h, c, w_ih, w_hh, b_ih, b_hh


CELL_SHAPES = [(1, 1, 1), (0, 3, 4), (3, 5, 7), (9, 17, 33), (8, 16, 32), (13, 7, 65)]


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("B, I, H", CELL_SHAPES)
def test_lstm_cell_kernels(B, I, H, dtype):
    rng = rng_for("lstm", B, I, H, str(dtype))
    x, h, c, w_ih, w_hh, b_ih, b_hh = cell_inputs(B, I, H, 4, dtype, rng)
    grad = rng.standard_normal((B, 2 * H)).astype(dtype)
    scale = cell_scale(x, h, w_ih, w_hh)
    for biases in ((b_ih, b_hh), (None, b_hh), (None, None)):
        ours = nb.lstm_cell_forward(x, h, c, w_ih, w_hh, *biases)
        theirs = ref.lstm_cell_forward(x, h, c, w_ih, w_hh, *biases)
        for a, b in zip(ours, theirs):
            check(a, b, scale)
        for needs in ((True,) * 6, (False, True, False, True, False, True),
                      (True, False, True, False, True, False)):
            # Both from the reference's activations: compare the backward alone.
            got = nb.lstm_cell_backward(grad, c, theirs[1], x, h, w_ih, w_hh, needs)
            want = ref.lstm_cell_backward(grad, c, theirs[1], x, h, w_ih, w_hh, needs)
            for a, b in zip(got, want):
                check(a, b)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_lstm_cell_kernels_layouts(dtype):
    """Transposed weights, strided states (as the h and c views of the previous step's
    packed [h, c])."""
    rng = rng_for("lstm-layouts", str(dtype))
    B, I, H = 7, 6, 9
    x, h, c, w_ih, w_hh, b_ih, b_hh = cell_inputs(B, I, H, 4, dtype, rng)
    packed = np.concatenate([h, c], axis=1)
    h_view, c_view = packed[:, :H], packed[:, H:]
    w_t = np.asfortranarray(w_hh)
    grad = rng.standard_normal((B, 2 * H)).astype(dtype)
    ours = nb.lstm_cell_forward(x[::1], h_view, c_view, w_ih, w_t, b_ih, b_hh)
    theirs = ref.lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh)
    for a, b in zip(ours, theirs):
        check(a, b, cell_scale(x, h, w_ih, w_hh))
    got = nb.lstm_cell_backward(grad, c_view, theirs[1], x, h_view, w_ih, w_t, (True,) * 6)
    want = ref.lstm_cell_backward(grad, c, theirs[1], x, h, w_ih, w_hh, (True,) * 6)
    for a, b in zip(got, want):
        check(a, b)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_rnn_cell_kernels(nonlinearity, dtype):
    for B, I, H in CELL_SHAPES:
        rng = rng_for("rnn", B, I, H, nonlinearity, str(dtype))
        x, h, _, w_ih, w_hh, b_ih, b_hh = cell_inputs(B, I, H, 1, dtype, rng)
        grad = rng.standard_normal((B, H)).astype(dtype)
        ours = nb.rnn_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity)
        theirs = ref.rnn_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity)
        check(ours, theirs, cell_scale(x, h, w_ih, w_hh))
        for needs in ((True,) * 5, (False, True, False, True, False)):
            got = nb.rnn_cell_backward(grad, theirs, x, h, w_ih, w_hh, nonlinearity, needs)
            want = ref.rnn_cell_backward(grad, theirs, x, h, w_ih, w_hh, nonlinearity, needs)
            for a, b in zip(got, want):
                check(a, b)


def test_cell_kernels_compile_once_per_dtype():
    """Strided, transposed and read-only inputs reach one compiled version per dtype."""
    rng = rng_for("compile-once")
    for dtype in (F32, F64):
        x, h, c, w_ih, w_hh, b_ih, b_hh = cell_inputs(4, 3, 5, 4, dtype, rng)
        readonly = np.broadcast_to(c[:1], c.shape)
        nb.lstm_cell_forward(x[:, :], h, c, w_ih, w_hh, b_ih, b_hh)
        nb.lstm_cell_forward(np.asfortranarray(x), h[::1], readonly, np.asfortranarray(w_ih),
                             w_hh, None, None)
    for kernel in (nb_rnn.lstm_cell_forward_kernel,):
        dtypes = [sig[0].dtype for sig in kernel.signatures]
        assert sorted(map(str, dtypes)) == ["float32", "float64"], kernel.signatures


def test_lstm_cell_backpropagates_through_steps_like_torch():
    """Three steps, loss on every h and the last c: dc' and dh' both flow back through
    the packed [h', c'] output and its two views, step after step."""
    rng = rng_for("bptt")
    T, B, I, H = 3, 4, 5, 6
    arrays = [rng.standard_normal(s) for s in ((T, B, I), (4 * H, I), (4 * H, H), (4 * H,),
                                               (4 * H,), (B, H), (B, H))]
    weights = [rng.standard_normal((T, B, H)), rng.standard_normal((B, H))]

    def run(lib, cell, arrays):
        x, w_ih, w_hh, b_ih, b_hh, h, c = arrays
        loss = 0
        for step in range(T):
            h, c = cell(x[step], (h, c), w_ih, w_hh, b_ih, b_hh)
            loss = loss + (h * lib.from_numpy(weights[0][step])).sum()
        return loss + (c * lib.from_numpy(weights[1])).sum()

    e_in = [eg.from_numpy(a.copy()).requires_grad_() for a in arrays]
    t_in = [torch.from_numpy(a.copy()).requires_grad_() for a in arrays]
    run(eg, F.lstm_cell, e_in).backward()
    run(torch, torch.lstm_cell, t_in).backward()
    for e, t in zip(e_in, t_in):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-7, atol=1e-7)


def test_lstm_cell_outputs_are_views_of_one_packed_result():
    x, h, c, w_ih, w_hh, b_ih, b_hh = (eg.from_numpy(a) for a in
                                       cell_inputs(2, 3, 4, 4, F32, rng_for("views")))
    h2, c2 = F.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)
    assert h2.shape == (2, 4) and c2.shape == (2, 4)
    assert np.may_share_memory(h2.numpy(), c2.numpy())        # two views, no copies


def test_cells_propagate_nan():
    """The vectorized sigmoid/tanh must not turn NaN into 0 or 1 (a NaN input stays
    visible in the output, as in torch)."""
    for dtype in (F32, F64):
        x, h, c, w_ih, w_hh, b_ih, b_hh = cell_inputs(2, 3, 4, 4, dtype, rng_for("nan"))
        x[0, 0] = np.nan
        hc, _ = nb.lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh)
        assert np.isnan(hc[0]).all() and not np.isnan(hc[1]).any()
        for nl in ("tanh", "relu"):
            out = nb.rnn_cell_forward(x, h, w_ih[:4], w_hh[:4], b_ih[:4], b_hh[:4], nl)
            assert np.isnan(out[0]).all() and not np.isnan(out[1]).any()


# ---- the building blocks ---------------------------------------------------------------------
@numba.njit(error_model="numpy")
def _transcendentals(x, out):
    for i in range(x.shape[0]):
        v = x[i]
        out[0, i] = _fused.exp_(-abs(v))
        out[1, i] = _fused.expm1_(-abs(v))
        out[2, i] = _fused.sigmoid_(v)
        out[3, i] = _fused.tanh_(v)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_vectorized_transcendentals(dtype):
    rng = rng_for("transcendentals", str(dtype))
    special = [0.0, -0.0, 1e-30, -1e-30, 1e-4, -1e-4, 0.34, 0.35, 20.0, -20.0, 86.9, -86.9,
               87.5, -87.5, 700.0, -700.0, 750.0, -750.0, np.inf, -np.inf]
    x = np.concatenate([rng.standard_normal(4000) * 10, rng.standard_normal(1000) * 1e-3,
                        special]).astype(dtype)
    out = np.empty((4,) + x.shape, dtype)
    _transcendentals(x, out)
    xd = x.astype(np.float64)
    with np.errstate(over="ignore"):
        expected = [np.exp(-np.abs(xd)), np.expm1(-np.abs(xd)), 1 / (1 + np.exp(-xd)),
                    np.tanh(xd)]
    tiny = np.finfo(dtype).tiny
    rtol = 3e-7 if dtype == F32 else 2e-15
    for got, want in zip(out, expected):
        # Results below the smallest normal may flush to 0: an absolute error of `tiny`.
        np.testing.assert_allclose(got, want, rtol=rtol, atol=tiny)
    nan = np.full(3, np.nan, dtype)
    out = np.empty((4, 3), dtype)
    _transcendentals(nan, out)
    assert np.isnan(out).all()


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_matmul_nn_tile(dtype):
    """c += a @ b on every remainder path (M % 8, K % 4), a in any layout."""
    rng = rng_for("nn-tile", str(dtype))
    for M, K, N in [(0, 3, 4), (1, 1, 1), (8, 4, 16), (13, 7, 5), (17, 9, 33), (3, 0, 2)]:
        a = rng.standard_normal((M, K)).astype(dtype)
        b = rng.standard_normal((K, N)).astype(dtype)
        c0 = rng.standard_normal((M, N)).astype(dtype)
        for layout in (a, np.asfortranarray(a)):
            c = c0.copy()
            _fused.matmul_nn_tile(layout, b, c, M, K, N)
            check(c, c0 + a @ b, scale=max(1.0, K))


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_matmul_nn_tile2(dtype):
    """Both products of the shared-operand tile, on every remainder path; one may be
    zero-width."""
    rng = rng_for("nn-tile2", str(dtype))
    for M, K, N, N2 in [(1, 1, 1, 2), (8, 4, 16, 3), (13, 7, 5, 0), (17, 9, 0, 33),
                        (3, 0, 2, 2), (16, 12, 128, 256)]:
        a = rng.standard_normal((M, K)).astype(dtype)
        b, d = (rng.standard_normal((K, n)).astype(dtype) for n in (N, N2))
        c0, e0 = (rng.standard_normal((M, n)).astype(dtype) for n in (N, N2))
        for layout in (a, np.asfortranarray(a)):
            c, e = c0.copy(), e0.copy()
            _fused.matmul_nn_tile2(layout, b, c, N, d, e, N2, M, K)
            check(c, c0 + a @ b, scale=max(1.0, K))
            check(e, e0 + a @ d, scale=max(1.0, K))


# ---- attention -------------------------------------------------------------------------------
def qkv(N, L, S, D, Dv, dtype, rng):
    return (rng.standard_normal((N, L, D)).astype(dtype),
            rng.standard_normal((N, S, D)).astype(dtype),
            rng.standard_normal((N, S, Dv)).astype(dtype))


def masks(N, L, S, dtype, rng):
    """None, bool (a dead row when L > 1), float (Nm, Lm, Sm) broadcast in each way."""
    dead = rng.random((N, L, S)) > 0.3
    if L > 1:
        dead[:, 1] = False
    return [("none", None, False), ("causal", None, True), ("bool", dead, False),
            ("float_shared", rng.standard_normal((1, L, S)).astype(dtype), False),
            ("float_key_padding", np.where(rng.random((N, 1, S)) > 0.4, 0, -np.inf)
             .astype(dtype), False),
            ("float_column", rng.standard_normal((N, L, 1)).astype(dtype), False)]


ATTENTION_SHAPES = [(2, 5, 7, 4, 3), (3, 113, 129, 16, 16), (1, 1, 1, 8, 8),
                    (2, 127, 17, 32, 24), (1, 129, 65, 64, 64), (0, 3, 4, 8, 8),
                    (2, 3, 0, 4, 4), (2, 0, 5, 4, 4)]


def _run_attention(kernel_fwd, kernel_bwd, q, k, v, mask, causal, scale, grad, mask_grad):
    """Call one rung's kernels directly (the table function only runs rung 2)."""
    dtype = q.dtype
    N, L, _ = q.shape
    S, Dv = k.shape[1], v.shape[2]
    has_mask, madd = nb_attention._additive_mask(mask, N, L, S, dtype)
    out = np.empty((N, L, Dv), dtype)
    lse = np.empty((N, L), dtype)
    kernel_fwd(q, k, v, madd, has_mask, causal, dtype.type(scale), out, lse)
    dq, dk, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    dmask = np.zeros((N, L, S) if mask_grad else (0, 0, 0), dtype)
    kernel_bwd(grad, q, k, v, out, lse, madd, has_mask, causal, dtype.type(scale), dq, dk, dv,
               dmask, mask_grad)
    return out, lse, dq, dk, dv, (dmask if mask_grad else None)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("N, L, S, D, Dv", ATTENTION_SHAPES)
def test_attention_kernels(N, L, S, D, Dv, dtype):
    rng = rng_for("attention", N, L, S, D, Dv, str(dtype))
    q, k, v = qkv(N, L, S, D, Dv, dtype, rng)
    grad = rng.standard_normal((N, L, Dv)).astype(dtype)
    scale = 1 / np.sqrt(max(D, 1))
    for name, mask, causal in masks(N, L, S, dtype, rng):
        mask_grad = mask is not None and mask.dtype != np.bool_
        out, lse = nb.attention_forward(q, k, v, mask, causal, scale)
        want_out, want_lse = ref.attention_forward(q, k, v, mask, causal, scale)
        check(out, want_out)
        check(lse, want_lse)
        got = nb.attention_backward(grad, q, k, v, out, lse, mask, causal, scale, mask_grad)
        want = ref.attention_backward(grad, q, k, v, want_out, want_lse, mask, causal, scale,
                                      mask_grad)
        for a, b in zip(got, want):
            check(a, b)
        if N * L * S <= 20_000:           # rung 1 (naive, slow) on the small shapes only
            rung1 = _run_attention(nb_attention.attention_forward_kernel1,
                                   nb_attention.attention_backward_kernel1, q, k, v, mask,
                                   causal, scale, grad, mask_grad)
            for a, b in zip(rung1, (want_out, want_lse) + want):
                check(a, b)


def test_attention_kernels_noncontiguous_inputs():
    rng = rng_for("attention-layouts")
    q, k, v = qkv(2, 70, 66, 16, 8, F32, rng)
    grad = rng.standard_normal((2, 70, 8)).astype(F32)
    views = [np.asfortranarray(q), k[:, ::1], np.broadcast_to(v[:1], v.shape)]
    out, lse = nb.attention_forward(*views, None, True, 0.25)
    want_out, want_lse = ref.attention_forward(q, k, np.broadcast_to(v[:1], v.shape), None,
                                               True, 0.25)
    check(out, want_out)
    got = nb.attention_backward(grad, *views, out, lse, None, True, 0.25, False)
    want = ref.attention_backward(grad, q, k, views[2], want_out, want_lse, None, True,
                                  0.25, False)
    for a, b in zip(got, want):
        check(a, b)


@pytest.mark.parametrize("causal", [False, True])
def test_flash_attention_error_vs_naive_float32(causal):
    """FlashAttention's criterion: against a float64 reference, the fused float32
    kernel's error is at most 2× (forward) / 3× (backward) the error of the naive
    float32 implementation (softmax(Q Kᵀ·scale) V materialized in float32)."""
    rng = rng_for("flash-error", causal)
    N, L, S, D = 4, 257, 300, 64
    q, k, v = (a * 2 for a in qkv(N, L, S, D, D, F64, rng))    # sharper softmax rows
    grad = rng.standard_normal((N, L, D))
    scale = D ** -0.5
    exact_out, exact_lse = ref.attention_forward(q, k, v, None, causal, scale)
    exact = (exact_out,) + ref.attention_backward(grad, q, k, v, exact_out, exact_lse, None,
                                                  causal, scale, False)[:3]
    f32 = [a.astype(F32) for a in (q, k, v, grad)]
    naive_out, naive_lse = ref.attention_forward(*f32[:3], None, causal, scale)
    naive = (naive_out,) + ref.attention_backward(f32[3], *f32[:3], naive_out, naive_lse, None,
                                                  causal, scale, False)[:3]
    fused_out, fused_lse = nb.attention_forward(*f32[:3], None, causal, scale)
    fused = (fused_out,) + nb.attention_backward(f32[3], *f32[:3], fused_out, fused_lse, None,
                                                 causal, scale, False)[:3]
    for name, e, n, f, factor in zip(("out", "dq", "dk", "dv"), exact, naive, fused,
                                     (2, 3, 3, 3)):
        naive_err = np.abs(n - e).max()
        fused_err = np.abs(f - e).max()
        assert fused_err <= factor * naive_err, (name, fused_err, naive_err)


def test_fully_masked_rows_give_zeros_forward_and_backward():
    """Documented choice (torch 2.13 does the same): a query row that sees no key at
    all outputs zeros, and gets zero gradients; no NaN anywhere."""
    rng = rng_for("dead-rows")
    q, k, v = (eg.from_numpy(a).requires_grad_() for a in qkv(2, 4, 5, 3, 3, F32, rng))
    mask = np.ones((4, 5), dtype=bool)
    mask[2] = False
    out = F.scaled_dot_product_attention(q, k, v, eg.from_numpy(mask))
    assert (out.numpy()[:, 2] == 0).all() and not np.isnan(out.numpy()).any()
    out.backward(eg.ones(*out.shape))
    assert (q.grad.numpy()[:, 2] == 0).all()
    for t in (q, k, v):
        assert np.isfinite(t.grad.numpy()).all()
    # No key at all (S = 0): every row is fully masked.
    empty = F.scaled_dot_product_attention(eg.ones(2, 3, 4), eg.ones(2, 0, 4), eg.ones(2, 0, 5))
    assert empty.shape == (2, 3, 5) and (empty.numpy() == 0).all()


def test_attention_propagates_nan():
    rng = rng_for("attention-nan")
    q, k, v = qkv(1, 70, 70, 8, 8, F32, rng)
    q[0, 3, 0] = np.nan
    out, _ = nb.attention_forward(q, k, v, None, False, 0.5)
    assert np.isnan(out[0, 3]).all() and not np.isnan(np.delete(out[0], 3, axis=0)).any()


def test_attention_op_matches_torch_at_a_multi_tile_size():
    """One case as large as the bench's head dim, through the public op (the registry
    keeps its samples small): 4-D, causal, float32 tolerances of the project."""
    from helpers import check_against_torch
    rng = rng_for("attention-op")
    q, k, v = (rng.standard_normal((1, 2, 130, 64)) for _ in range(3))
    check_against_torch(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True),
        (q, k, v), dtype=np.float32)


# ---- unbind (engine/ops/movement.py), the layers' time loop --------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_unbind_matches_torch_unbind(dim):
    """Values and gradients of torch's unbind, with steps used unevenly (one unused),
    and f64 finite differences with a reentrant second backward."""
    from helpers import check_against_torch, gradcheck

    def loss(steps):
        return sum(((s * (i + 1.5)) ** 2).sum() for i, s in enumerate(steps[:-1]))

    x = rng_for("unbind", dim).standard_normal((4, 3, 2))
    check_against_torch(lambda x: loss(x.unbind(dim)), lambda x: loss(x.unbind(dim)),
                        (x,), dtype=np.float64)
    gradcheck(lambda x: loss(x.unbind(dim)), (x,))


def test_unbind_feeds_an_lstm_like_torch():
    """The bench's loop: unbind the input, one cell per step, stack the h."""
    rng = rng_for("unbind-lstm")
    T, B, I, H = 5, 3, 4, 6
    arrays = [rng.standard_normal(s) * 0.5 for s in ((T, B, I), (4 * H, I), (4 * H, H),
                                                     (4 * H,), (4 * H,))]
    upstream = rng.standard_normal((T, B, H))

    def run(lib, steps, w_ih, w_hh, b_ih, b_hh, cell):
        h = c = lib.zeros(B, H, dtype=lib.float64)
        outs = []
        for x in steps:
            h, c = cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)
            outs.append(h)
        return lib.stack(outs)

    t_in = [torch.from_numpy(a.copy()).requires_grad_() for a in arrays]
    run(torch, t_in[0].unbind(0), *t_in[1:], torch.lstm_cell).backward(
        torch.from_numpy(upstream))
    e_in = [eg.from_numpy(a.copy()).requires_grad_() for a in arrays]
    run(eg, e_in[0].unbind(0), *e_in[1:], F.lstm_cell).backward(eg.from_numpy(upstream))
    for e, t in zip(e_in, t_in):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-7, atol=1e-7)


def test_unbind_checks_its_input():
    with pytest.raises(TypeError, match="unbind: input must be a Tensor"):
        eg.unbind([1.0, 2.0])
    with pytest.raises(IndexError, match="unbind: dimension out of range"):
        eg.unbind(eg.ones(2, 3), 2)
