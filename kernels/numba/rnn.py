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
transcendentals are kernels/numba/_fused.py's vectorized ones (libm's tanhf costs
~13 ns an element: 0.4 ms a step for the B·H tail, as much as the GEMMs).

Backward, `lstm_cell_backward_kernel` / `rnn_cell_backward_kernel`: a pointwise pass
producing dz (B, G·H) (and dc = dc_total·f), then `cell_weight_grad_kernel`: the four
products dx = dz w_ih, dh = dz w_hh, dw_ih = dzᵀ x, dw_hh = dzᵀ h, as two passes of
`matmul_nn_tile2` (kernels/numba/_fused.py: b used row-major as stored, so no weight is
ever transposed; the two products of a pass share their left operand), row blocks
across threads, and db = Σ_b dz. A product whose input needs no gradient is skipped.

Saved for backward (by the op, engine/ops/rnn.py): x, h, c, the weights, and acts —
the gate activations and tanh(c'), so backward evaluates no transcendental.

Measured, float32, B=64, in=128, H=256, one thread (AMD EPYC Zen 5, CPU time, min of
30; the machine was shared, wall times are noisier):
                                    forward     backward
    numpy reference (OpenBLAS)      540 µs      982 µs
    these kernels                   380 µs      800 µs    (~130 GFLOP/s both ways)
Optimizations, with what each bought: vectorized sigmoid/tanh (forward 0.8 → 0.4 ms);
per-task gate buffers indexed from 0 instead of per-row slices of the (B, 4H) arrays
(a numba slice costs a reference-count update; -40 µs); the backward's products
paired by shared operand (-15%); the pointwise tail is 30 µs, the copy of each task's
panel into hc and acts 40 µs, the GEMMs the rest. See bench/ops.py for the 100-step
LSTM against torch.
"""
import numba
import numpy as np
from numba import prange

from kernels.numba._fused import matmul_nn_tile2, sigmoid_, tanh_
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


# ---- forward ---------------------------------------------------------------------------------
@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _gate_panel(x, w_ih, h, w_hh, bias, G, H, u_lo, u_hi):
    """z (G, B, n), n = u_hi - u_lo: the G gates' pre-activations x w_ihᵀ + h w_hhᵀ + b
    for the units [u_lo, u_hi), every row.

    A gate's weight rows for these units are a contiguous (n, K) block of w: the bᵀ
    layout _matmul_tile wants. The buffers are the task's own, small (32 KiB at B=64,
    from the allocator's free lists), indexed from 0 with loop indices: no per-row
    slices, whose reference counting cost ~0.1 ms a step at n = 32."""
    B = h.shape[0]
    n = u_hi - u_lo
    z = np.empty((G, B, n), h.dtype)
    zx = np.empty((B, n), h.dtype)
    for g in range(G):
        lo = g * H + u_lo
        zg = z[g]
        _matmul_tile(h, w_hh[lo:lo + n], zg, 0, B, 0, n)
        _matmul_tile(x, w_ih[lo:lo + n], zx, 0, B, 0, n)
        bg = bias[lo:lo + n]
        for b in range(B):
            for u in range(n):
                zg[b, u] += zx[b, u] + bg[u]
    return z


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy", parallel=True)
def lstm_cell_forward_kernel(x, w_ih, h, w_hh, bias, c, hc, acts):
    """hc = [h', c'], acts = [i, f, g, o, tanh(c')]."""
    B, H = c.shape
    tasks = (H + _UNITS - 1) // _UNITS
    for t in prange(tasks):
        u_lo = t * _UNITS
        u_hi = min(u_lo + _UNITS, H)
        n = u_hi - u_lo
        z = _gate_panel(x, w_ih, h, w_hh, bias, 4, H, u_lo, u_hi)
        c_in = np.empty((B, n), c.dtype)
        c_in[:, :] = c[:, u_lo:u_hi]
        out = np.empty((7, B, n), c.dtype)       # h', c', i, f, g, o, tanh(c')
        for b in range(B):
            for u in range(n):
                i = sigmoid_(z[0, b, u])
                f = sigmoid_(z[1, b, u])
                g = tanh_(z[2, b, u])
                o = sigmoid_(z[3, b, u])
                c_new = f * c_in[b, u] + i * g
                tc = tanh_(c_new)
                out[0, b, u] = o * tc
                out[1, b, u] = c_new
                out[2, b, u] = i
                out[3, b, u] = f
                out[4, b, u] = g
                out[5, b, u] = o
                out[6, b, u] = tc
        for k in range(2):
            hc[:, k * H + u_lo:k * H + u_hi] = out[k]
        for k in range(5):
            acts[:, k * H + u_lo:k * H + u_hi] = out[2 + k]


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy", parallel=True)
def rnn_cell_forward_kernel(x, w_ih, h, w_hh, bias, relu, out):
    """out = tanh(z) or relu(z) (relu: True)."""
    B, H = out.shape
    zero = out.dtype.type(0)
    tasks = (H + _UNITS - 1) // _UNITS
    for t in prange(tasks):
        u_lo = t * _UNITS
        u_hi = min(u_lo + _UNITS, H)
        z = _gate_panel(x, w_ih, h, w_hh, bias, 1, H, u_lo, u_hi)[0]
        if relu:
            for b in range(B):
                for u in range(u_hi - u_lo):
                    v = z[b, u]
                    z[b, u] = zero if v <= 0 else v      # NaN stays NaN, as torch.relu
        else:
            for b in range(B):
                for u in range(u_hi - u_lo):
                    z[b, u] = tanh_(z[b, u])
        out[:, u_lo:u_hi] = z


def _operands(x, h, w_ih, w_hh, dtype):
    return _c(x, dtype), _c(h, dtype), _c(w_ih, dtype), _c(w_hh, dtype)


def lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh):
    dtype = x.dtype
    B, H = c.shape
    x, h, w_ih, w_hh = _operands(x, h, w_ih, w_hh, dtype)
    hc = np.empty((B, 2 * H), dtype)
    acts = np.empty((B, 5 * H), dtype)
    lstm_cell_forward_kernel(x, w_ih, h, w_hh, _bias(b_ih, b_hh, 4 * H, dtype), _c(c, dtype),
                             hc, acts)
    return hc, acts


def rnn_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity):
    dtype = x.dtype
    B, H = h.shape
    x, h, w_ih, w_hh = _operands(x, h, w_ih, w_hh, dtype)
    out = np.empty((B, H), dtype)
    rnn_cell_forward_kernel(x, w_ih, h, w_hh, _bias(b_ih, b_hh, H, dtype),
                            nonlinearity == "relu", out)
    return out


# ---- backward --------------------------------------------------------------------------------
@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def lstm_cell_backward_kernel(grad_hc, c, acts, dz, dc):
    """dz (B, 4H): the gates' pre-activation gradients; dc (B, H): the gradient of c.

    One thread: ~10 µs at B=64, H=256, less than a parallel region's start and join."""
    B, H = c.shape
    one = dz.dtype.type(1)                     # a Python 1 would compute float32 in float64
    for b in range(B):
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


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def rnn_cell_backward_kernel(grad, h_new, dz, relu):
    B, H = grad.shape
    zero, one = dz.dtype.type(0), dz.dtype.type(1)
    for b in range(B):
        gr, hr, dzr = grad[b], h_new[b], dz[b]
        if relu:
            for u in range(H):
                dzr[u] = gr[u] if hr[u] > 0 else zero
        else:
            for u in range(H):
                dzr[u] = gr[u] * (one - hr[u] * hr[u])


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _nn_rows2(a, b, c, d, e, lo, hi):
    """c[lo:hi] = a[lo:hi] @ b and e[lo:hi] = a[lo:hi] @ d (a's rows read once for both)."""
    cr, er = c[lo:hi], e[lo:hi]
    cr[:] = 0
    er[:] = 0
    matmul_nn_tile2(a[lo:hi], b, cr, c.shape[1], d, er, e.shape[1], hi - lo, a.shape[1])


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy", parallel=True)
def cell_weight_grad_kernel(dz, w_ih, dx, w_hh, dh, x, dw_ih, h, dw_hh, db, needs_db):
    """dx = dz w_ih, dh = dz w_hh (row blocks of dz across threads), then dw_ih = dzᵀ x,
    dw_hh = dzᵀ h (row blocks of dzᵀ), db = Σ_b dz if needs_db. A product not wanted
    comes as a zero-width output (and operand): its loops run zero times."""
    B, N = dz.shape
    for t in prange((B + _ROWS - 1) // _ROWS):
        _nn_rows2(dz, w_ih, dx, w_hh, dh, t * _ROWS, min(t * _ROWS + _ROWS, B))
    dzt = dz.T                                 # read as scalars only: no copy needed
    for t in prange((N + _ROWS - 1) // _ROWS):
        _nn_rows2(dzt, x, dw_ih, h, dw_hh, t * _ROWS, min(t * _ROWS + _ROWS, N))
    if needs_db:
        db[:] = 0
        for b in range(B):
            zr = dz[b]
            for n in range(N):
                db[n] += zr[n]


def _weight_grads(dz, x, h, w_ih, w_hh, needs_x, needs_h, needs_w_ih, needs_w_hh, needs_b):
    """The gradients of z = x w_ihᵀ + h w_hhᵀ + b, given dz (B, G·H)."""
    dtype = dz.dtype
    B, N = dz.shape
    x, h, w_ih, w_hh = _operands(x, h, w_ih, w_hh, dtype)

    def pair(needed, operand, shape):
        """(operand, output) of one product, or zero-width stand-ins when not wanted."""
        if needed:
            return operand, np.empty(shape, dtype)
        return np.empty((operand.shape[0], 0), dtype), np.empty((shape[0], 0), dtype)

    w_ih, dx = pair(needs_x, w_ih, (B, w_ih.shape[1]))
    w_hh, dh = pair(needs_h, w_hh, h.shape)
    x, dw_ih = pair(needs_w_ih, x, (N, x.shape[1]))
    h, dw_hh = pair(needs_w_hh, h, (N, h.shape[1]))
    db = np.empty(N if needs_b else 0, dtype)
    cell_weight_grad_kernel(dz, w_ih, dx, w_hh, dh, x, dw_ih, h, dw_hh, db, needs_b)
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
