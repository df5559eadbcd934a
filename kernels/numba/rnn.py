"""Fused recurrent cells (LSTM, Elman RNN), one time step, Numba CPU.
Must match `kernels/reference/rnn.py` (same names, arguments and results).

Shapes (torch's layouts, gate order i, f, g, o): x (B, in), h (B, H), c (B, H),
w_ih (G·H, in), w_hh (G·H, H), b_ih, b_hh (G·H,) or None; G = 4 (LSTM) or 1 (RNN).

    lstm_cell_forward  -> hc (B, 2H) = [h', c'], acts (B, 5H) = [i, f, g, o, tanh(c')]
    lstm_cell_backward -> dx, dh, dc, dw_ih, dw_hh, db   (None where not needed)
    rnn_cell_forward   -> h' (B, H)
    rnn_cell_backward  -> dx, dh, dw_ih, dw_hh, db

The math, per step, as plain loops (reference: kernels/reference/rnn.py):

    for b, n:  z[b, n] = Σ_k x[b, k] w_ih[n, k] + Σ_k h[b, k] w_hh[n, k] + b_ih[n] + b_hh[n]
    for b, u:  i, f, g, o = σ(z[b, u]), σ(z[b, H+u]), tanh(z[b, 2H+u]), σ(z[b, 3H+u])
               c'[b, u] = f c[b, u] + i g;   h'[b, u] = o tanh(c'[b, u])

2·B·G·H·(in + H) flops forward, twice that backward (dx, dh, and dW = dzᵀ [x, h]), and
a pointwise tail of B·H elements. Memory: the weights, G·H·(in + H) elements, are read
once per step and dominate (1.5 MiB float32 at in=128, H=256), plus B·(in + 8H) of
activations in and out.

Forward, `lstm_cell_forward_kernel` / `rnn_cell_forward_kernel` — ONE parallel kernel:
the hidden units are split in panels of `_UNITS`; a task computes the G gate columns of
its units for every row with kernels/numba/matmul.py's 4×4 register-blocked dot
products (`_matmul_tile`: w rows are contiguous along k, exactly the bᵀ layout it wants,
so the weights are used as stored, never copied), then runs the pointwise tail on those
columns while they are in cache. Panels over units rather than over gate columns are
what makes the fusion possible: the four gates of a unit land in one task. The
transcendentals are kernels/numba/_fused.py's vectorizable ones (libm's tanhf costs
~13 ns an element, as much as the step's GEMM for a B·H tail).

Backward, `lstm_cell_backward_kernel` / `rnn_cell_backward_kernel`: a pointwise pass
producing dz (B, G·H) (and dc = dc_total·f), then `cell_weight_grad_kernel`: the four
products dx = dz w_ih, dh = dz w_hh, dw_ih = dzᵀ x, dw_hh = dzᵀ h as parallel
`matmul_nn_tile` calls (kernels/numba/_fused.py: b used row-major as stored, so w_ih
needs no transpose either way), and db = Σ_b dz. A product whose input needs no
gradient is skipped (`needs`).

Saved for backward (by the op, engine/ops/rnn.py): x, h, c, the weights, and acts —
the gate activations and tanh(c'), so backward evaluates no transcendental.

Measured (float32, B=64, in=128, H=256, AMD EPYC Zen 5, one thread): forward
~0.2 ms, backward ~0.6 ms per step (the GEMMs at ~140-160 GFLOP/s); see bench/ops.py
for the 100-step LSTM against torch.
"""
import numba
import numpy as np
from numba import prange

from kernels.numba._fused import matmul_nn_tile, sigmoid_, tanh_
from kernels.numba.matmul import _matmul_tile

_FAST = {"reassoc", "contract"}
_UNITS = 32        # hidden units per forward task: 4 gates x 32 = 128 weight rows, ~200 KB
_ROWS = 8          # output rows per backward GEMM task (matmul_nn_tile's row block)


def _c(a, dtype):
    """a as a C-contiguous, writable array of `dtype` (a copy only when it is not one):
    the kernels vectorize over unit-stride rows and compile once per dtype."""
    if a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable:
        return a
    return np.array(a, dtype=dtype, order="C")


def _bias(b_ih, b_hh, n, dtype):
    """b_ih + b_hh (either may be None) as one (n,) array."""
    bias = np.zeros(n, dtype)
    for b in (b_ih, b_hh):
        if b is not None:
            bias += b
    return bias


# ---- forward ----------------------------------------------------------------------------------
@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _gate_panel(x, w_ih, h, w_hh, project, G, H, u_lo, u_hi):
    """The G gates' pre-activations for the units [u_lo, u_hi), every row: (zx, zh), each
    (G, B, n), n = u_hi - u_lo, with zx = x w_ihᵀ (only if project) and zh = h w_hhᵀ.

    A gate's weight rows for these units are a contiguous (n, K) block of w: the bᵀ
    layout _matmul_tile wants. The buffers are per task and small (32 KiB at B=64), so
    they come from the allocator's free lists, not fresh pages."""
    B = h.shape[0]
    n = u_hi - u_lo
    zh = np.empty((G, B, n), h.dtype)
    zx = np.empty((G, B, n) if project else (G, 0, 0), h.dtype)
    for g in range(G):
        _matmul_tile(h, w_hh[g * H + u_lo:g * H + u_hi], zh[g], 0, B, 0, n)
        if project:
            _matmul_tile(x, w_ih[g * H + u_lo:g * H + u_hi], zx[g], 0, B, 0, n)
    return zx, zh


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy", parallel=True)
def lstm_cell_forward_kernel(x, w_ih, h, w_hh, bias, c, project, hc, acts):
    """hc = [h', c'], acts = [i, f, g, o, tanh(c')]. project: x is the input (B, in);
    else x already holds x w_ihᵀ (B, 4H) and w_ih is not read."""
    B, H = c.shape
    tasks = (H + _UNITS - 1) // _UNITS
    for t in prange(tasks):
        u_lo = t * _UNITS
        u_hi = min(u_lo + _UNITS, H)
        zx, zh = _gate_panel(x, w_ih, h, w_hh, project, 4, H, u_lo, u_hi)
        # Every row below is sliced to start at index 0 (a slice of a C row stays 'C'):
        # a loop indexed from 0 vectorizes, one from u_lo does not (wraparound checks).
        bi, bf = bias[u_lo:u_hi], bias[H + u_lo:H + u_hi]
        bg, bo = bias[2 * H + u_lo:2 * H + u_hi], bias[3 * H + u_lo:3 * H + u_hi]
        for b in range(B):
            if project:
                xi, xf, xg, xo = zx[0, b], zx[1, b], zx[2, b], zx[3, b]
            else:
                xr = x[b]
                xi, xf = xr[u_lo:u_hi], xr[H + u_lo:H + u_hi]
                xg, xo = xr[2 * H + u_lo:2 * H + u_hi], xr[3 * H + u_lo:3 * H + u_hi]
            ri, rf, rg, ro = zh[0, b], zh[1, b], zh[2, b], zh[3, b]
            cr = c[b, u_lo:u_hi]
            h_out, c_out = hc[b, u_lo:u_hi], hc[b, H + u_lo:H + u_hi]
            ar = acts[b]
            a_i, a_f = ar[u_lo:u_hi], ar[H + u_lo:H + u_hi]
            a_g, a_o = ar[2 * H + u_lo:2 * H + u_hi], ar[3 * H + u_lo:3 * H + u_hi]
            a_t = ar[4 * H + u_lo:4 * H + u_hi]
            for u in range(u_hi - u_lo):
                i = sigmoid_(xi[u] + ri[u] + bi[u])
                f = sigmoid_(xf[u] + rf[u] + bf[u])
                g = tanh_(xg[u] + rg[u] + bg[u])
                o = sigmoid_(xo[u] + ro[u] + bo[u])
                c_new = f * cr[u] + i * g
                tc = tanh_(c_new)
                h_out[u] = o * tc
                c_out[u] = c_new
                a_i[u], a_f[u], a_g[u], a_o[u], a_t[u] = i, f, g, o, tc


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy", parallel=True)
def rnn_cell_forward_kernel(x, w_ih, h, w_hh, bias, project, relu, out):
    """out = tanh(z) or relu(z) (relu: True); project as lstm_cell_forward_kernel."""
    B, H = out.shape
    zero = out.dtype.type(0)
    tasks = (H + _UNITS - 1) // _UNITS
    for t in prange(tasks):
        u_lo = t * _UNITS
        u_hi = min(u_lo + _UNITS, H)
        zx, zh = _gate_panel(x, w_ih, h, w_hh, project, 1, H, u_lo, u_hi)
        br = bias[u_lo:u_hi]
        for b in range(B):
            xr = zx[0, b] if project else x[b, u_lo:u_hi]
            hr, o = zh[0, b], out[b, u_lo:u_hi]
            if relu:
                for u in range(u_hi - u_lo):
                    z = xr[u] + hr[u] + br[u]
                    o[u] = zero if z <= 0 else z     # NaN stays NaN, as torch.relu
            else:
                for u in range(u_hi - u_lo):
                    o[u] = tanh_(xr[u] + hr[u] + br[u])


def _operands(x, h, w_ih, w_hh, dtype):
    """The kernels' arrays; w_ih None (x already projected) becomes an empty array."""
    w_ih = np.empty((0, 0), dtype) if w_ih is None else _c(w_ih, dtype)
    return _c(x, dtype), _c(h, dtype), w_ih, _c(w_hh, dtype)


def lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh):
    dtype = x.dtype
    B, H = c.shape
    project = w_ih is not None
    x, h, w_ih, w_hh = _operands(x, h, w_ih, w_hh, dtype)
    hc = np.empty((B, 2 * H), dtype)
    acts = np.empty((B, 5 * H), dtype)
    lstm_cell_forward_kernel(x, w_ih, h, w_hh, _bias(b_ih, b_hh, 4 * H, dtype), _c(c, dtype),
                             project, hc, acts)
    return hc, acts


def rnn_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity):
    dtype = x.dtype
    B, H = h.shape
    project = w_ih is not None
    x, h, w_ih, w_hh = _operands(x, h, w_ih, w_hh, dtype)
    out = np.empty((B, H), dtype)
    rnn_cell_forward_kernel(x, w_ih, h, w_hh, _bias(b_ih, b_hh, H, dtype), project,
                            nonlinearity == "relu", out)
    return out


# ---- backward -----------------------------------------------------------------------------------
@numba.njit(cache=True, fastmath=_FAST, error_model="numpy", parallel=True)
def lstm_cell_backward_kernel(grad_hc, c, acts, dz, dc):
    """dz (B, 4H): the gates' pre-activation gradients; dc (B, H): the gradient of c."""
    B, H = c.shape
    one = dz.dtype.type(1)                     # a Python 1 would compute float32 in float64
    for b in prange(B):
        gr, ar, dzr = grad_hc[b], acts[b], dz[b]
        dh_new, dc_new, cr, dcr = gr[:H], gr[H:2 * H], c[b], dc[b]
        a_i, a_f, a_g = ar[:H], ar[H:2 * H], ar[2 * H:3 * H]
        a_o, a_t = ar[3 * H:4 * H], ar[4 * H:5 * H]
        d_i, d_f, d_g, d_o = dzr[:H], dzr[H:2 * H], dzr[2 * H:3 * H], dzr[3 * H:4 * H]
        for u in range(H):
            i, f, g, o, tc = a_i[u], a_f[u], a_g[u], a_o[u], a_t[u]
            dh = dh_new[u]
            total = dc_new[u] + dh * o * (one - tc * tc)
            d_i[u] = total * g * i * (one - i)
            d_f[u] = total * cr[u] * f * (one - f)
            d_g[u] = total * i * (one - g * g)
            d_o[u] = dh * tc * o * (one - o)
            dcr[u] = total * f


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy", parallel=True)
def rnn_cell_backward_kernel(grad, h_new, dz, relu):
    B, H = grad.shape
    zero, one = dz.dtype.type(0), dz.dtype.type(1)
    for b in prange(B):
        gr, hr, dzr = grad[b], h_new[b], dz[b]
        if relu:
            for u in range(H):
                dzr[u] = gr[u] if hr[u] > 0 else zero
        else:
            for u in range(H):
                dzr[u] = gr[u] * (one - hr[u] * hr[u])


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _nn_rows(a, b, out, lo, hi):
    """out[lo:hi] = a[lo:hi] @ b."""
    rows = out[lo:hi]
    rows[:] = 0
    matmul_nn_tile(a[lo:hi], b, rows, hi - lo, a.shape[1], out.shape[1])


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy", parallel=True)
def cell_weight_grad_kernel(dz, x, h, w_ih, w_hh, dx, dh, dw_ih, dw_hh, db, needs):
    """dx = dz w_ih, dh = dz w_hh, dw_ih = dzᵀ x, dw_hh = dzᵀ h, db = Σ_b dz, each only
    if needs[k] (x, h, w_ih, w_hh, bias); the outputs not needed may be empty arrays."""
    B, N = dz.shape
    dzt = dz.T                                 # read as scalars only: no copy needed
    row_blocks = (B + _ROWS - 1) // _ROWS
    if needs[0]:
        for t in prange(row_blocks):
            _nn_rows(dz, w_ih, dx, t * _ROWS, min(t * _ROWS + _ROWS, B))
    if needs[1]:
        for t in prange(row_blocks):
            _nn_rows(dz, w_hh, dh, t * _ROWS, min(t * _ROWS + _ROWS, B))
    col_blocks = (N + _ROWS - 1) // _ROWS
    if needs[2]:
        for t in prange(col_blocks):
            _nn_rows(dzt, x, dw_ih, t * _ROWS, min(t * _ROWS + _ROWS, N))
    if needs[3]:
        for t in prange(col_blocks):
            _nn_rows(dzt, h, dw_hh, t * _ROWS, min(t * _ROWS + _ROWS, N))
    if needs[4]:
        db[:] = 0
        for b in range(B):
            zr = dz[b]
            for n in range(N):
                db[n] += zr[n]


def _weight_grads(dz, x, h, w_ih, w_hh, needs_x, needs_h, needs_w_ih, needs_w_hh, needs_b):
    """The gradients of z = x w_ihᵀ + h w_hhᵀ + b. w_ih None: x was already x w_ihᵀ,
    so its gradient is dz itself and there is no dw_ih."""
    dtype = dz.dtype
    N = dz.shape[1]
    project = w_ih is not None
    x, h, w_ih, w_hh = _operands(x, h, w_ih, w_hh, dtype)
    gemm_x, needs_w_ih = needs_x and project, needs_w_ih and project
    empty = np.empty((0, 0), dtype)

    def out(needed, shape):
        return np.empty(shape, dtype) if needed else empty

    dx = out(gemm_x, x.shape)
    dh = out(needs_h, h.shape)
    dw_ih = out(needs_w_ih, w_ih.shape)
    dw_hh = out(needs_w_hh, w_hh.shape)
    db = np.empty(N if needs_b else 0, dtype)
    flags = np.array([gemm_x, needs_h, needs_w_ih, needs_w_hh, needs_b], dtype=np.bool_)
    cell_weight_grad_kernel(dz, x, h, w_ih, w_hh, dx, dh, dw_ih, dw_hh, db, flags)
    if needs_x and not project:
        dx = dz
    return (dx if needs_x else None, dh if needs_h else None,
            dw_ih if needs_w_ih else None, dw_hh if needs_w_hh else None,
            db if needs_b else None)


def lstm_cell_backward(grad_hc, c, acts, x, h, w_ih, w_hh, needs):
    """needs: (x, h, c, w_ih, w_hh, bias) -> (dx, dh, dc, dw_ih, dw_hh, db)."""
    dtype = acts.dtype
    B, H = c.shape
    dz = np.empty((B, 4 * H), dtype)
    dc = np.empty((B, H), dtype)
    lstm_cell_backward_kernel(_c(grad_hc, dtype), _c(c, dtype), _c(acts, dtype), dz, dc)
    needs_x, needs_h, needs_c, needs_w_ih, needs_w_hh, needs_b = needs
    dx, dh, dw_ih, dw_hh, db = _weight_grads(dz, x, h, w_ih, w_hh, needs_x, needs_h,
                                             needs_w_ih, needs_w_hh, needs_b)
    return dx, dh, (dc if needs_c else None), dw_ih, dw_hh, db


def rnn_cell_backward(grad, h_new, x, h, w_ih, w_hh, nonlinearity, needs):
    """needs: (x, h, w_ih, w_hh, bias) -> (dx, dh, dw_ih, dw_hh, db)."""
    dtype = h_new.dtype
    dz = np.empty(h_new.shape, dtype)
    rnn_cell_backward_kernel(_c(grad, dtype), _c(h_new, dtype), dz, nonlinearity == "relu")
    return _weight_grads(dz, x, h, w_ih, w_hh, *needs)
