"""Recurrent cells (LSTM, Elman RNN) on the `cuda` device: one time step, both directions.

Same names, arguments and results as kernels/reference/rnn.py (torch's layouts and gate
order i, f, g, o; G = 4 gates for the LSTM, 1 for the RNN):

    x (B, in), h (B, H), c (B, H), w_ih (G·H, in), w_hh (G·H, H), b_ih, b_hh (G·H,) or None
    lstm_cell_forward  -> hc (B, 2H) = [h', c'], acts (B, 5H) = [i, f, g, o, tanh(c')]
    lstm_cell_backward -> dx, dh, dc, dw_ih, dw_hh, db    (None where `needs` says so)
    rnn_cell_forward   -> h' (B, H)                     (the backward reads h' itself)
    rnn_cell_backward  -> dx, dh, dw_ih, dw_hh, db

The math as plain loops:

    for b, n:  z[b, n] = Σ_k x[b, k] w_ih[n, k] + Σ_k h[b, k] w_hh[n, k] + b_ih[n] + b_hh[n]
    for b, u:  i, f, g, o = σ(z[b, u]), σ(z[b, H+u]), tanh(z[b, 2H+u]), σ(z[b, 3H+u])
               c'[b, u] = f c[b, u] + i g;   h'[b, u] = o tanh(c'[b, u])

The naive GPU step is the cell written with public ops: two GEMMs, three adds (the
GEMMs and the two biases), a (B, 4H) gates array split in four, four activations, three
products and a sum, a tanh: ~14 launches, and z makes a round trip through memory
(write 4BH, read 4BH) several times over. At the sizes an RNN runs at (B = 64,
in = H = 256: 2·64·1024·512 = 67 MFLOP a step, about a microsecond of an H100's fp32
throughput) each launch's few-µs overhead costs more than the arithmetic, so the
launch count per step is the number to minimize; T = 100 steps multiply it.

Forward: ONE kernel per step, `lstm_cell_forward_kernel` (`rnn_cell_forward_kernel`).
A program owns a (BLOCK_B rows × BLOCK_H hidden units) tile of the *output* and keeps G
accumulators, one per gate: for the LSTM, gate q of unit u is column q·H + u of z, so
the program reads the weight rows {q·H + u} (four strided panels of w_ih and w_hh, used
as stored: w[n, k] addressed as a (k, n) tile, no transpose copy) and gets all four
gates of its units. Tiling by unit rather than by gate column is what makes the fusion
possible: the pointwise tail (σ, tanh, c', h') runs on the accumulators in registers,
and only h', c' and the five saved activations are written. Memory per step: the
weights G·H·(in + H) once per row block (one row block when B ≤ BLOCK_B), x and h once
per unit block, c once; write 7BH (LSTM) or BH (RNN). No (B, 4H) z ever exists.
- K is walked in BLOCK_K steps, x·w_ihᵀ first, then h·w_hhᵀ, into the same accumulators.
- `tl.dot` for float16/float32 (fp32 accumulators; fp32 with input_precision="ieee":
  exact fp32 products, as numpy, not TF32); float64 takes a broadcast multiply and a
  sum over K (no fp64 tensor-core path on every GPU), with smaller tiles.
- σ(x) = 1/(1+e^-x) for x ≥ 0, e^x/(1+e^x) below (exp never overflows); tanh is
  elementwise.py's (sign-symmetric exp form, Taylor series near 0).
- Every load is masked: B, H, in need not divide the blocks (H = 13, 33).
- On a GPU `@triton.autotune` picks (BLOCK_B, BLOCK_H, BLOCK_K) per (B, in, H); the
  interpreter runs one large config (it costs ~1-4 ms per program and loop step).

Backward: `lstm_cell_backward_kernel` (`rnn_cell_backward_kernel`), one pointwise pass
from (dh', dc', acts, c) to the pre-activation gradient dz (B, G·H) and dc = dc_total·f,
then GEMMs through kernels/triton/matmul.py on strided views (no copies):
dx = dz w_ih, dh = dz w_hh, dw_ih = dzᵀ x, dw_hh = dzᵀ h — each skipped when `needs`
says so. The bias gradient db = Σ_b dz is fused into the pointwise kernel rather than a
reduce.py launch: a program owns a block of units and walks *all* B rows in BLOCK_B
steps, so it holds whole columns of dz and sums them as it writes them (no atomics, one
launch and one read of dz saved).

Launches per time step, at full `needs` (the cell alone):
    LSTM / RNN forward    1   (the fused cell; the op's h', c' column slices are views)
    LSTM / RNN backward   5   (pointwise + db, then dx, dh, dw_ih, dw_hh)
Counted through nn.LSTM (ENGINE_LOG_KERNELS, the difference between 6 and 3 steps, with
biases): forward 2 launches a step (the cell, and the 0-d token of the h'/c' split);
backward 15 (it was 19): the cell's 5; the h'/c' split's shared gradient buffer (a
zero fill, two copies, and the token's 0-d zero: engine/ops/movement.py's pieces);
the input step's copy into x's gradient (x.unbind); and 5 adds of the walk: each
weight's per-step gradient into its total (w_ih, w_hh, b_ih, b_hh) and h's two uses
(the output and the next step). The adds are the autograd runtime's, which has no
in-place accumulation: the next thing to remove.
"""
import numpy as np
import triton
import triton.language as tl

from kernels.triton import _launch
from kernels.triton.buffer import INTERPRET, empty
from kernels.triton.elementwise import _tanh
from kernels.triton.matmul import matmul

TANH, RELU = tl.constexpr(0), tl.constexpr(1)    # constexpr: read by the kernels

# Interpreter block caps (few, large programs). Tests shrink them to force multi-program
# grids with ragged edges.
INTERPRET_BLOCK_B = 64
INTERPRET_BLOCK_H = 64
INTERPRET_BLOCK_K = 64
INTERPRET_POINTWISE_B = 64


# ---- shared pieces ---------------------------------------------------------------------------
@triton.jit
def _sigmoid(x):
    e = tl.exp(-tl.abs(x))
    return tl.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@triton.jit
def _mac(acc, a, w, USE_DOT: tl.constexpr, IEEE: tl.constexpr):
    """acc + a @ w: a (BLOCK_B, BLOCK_K), w (BLOCK_K, BLOCK_H)."""
    if USE_DOT:
        if IEEE:
            acc += tl.dot(a, w, input_precision="ieee")
        else:
            acc += tl.dot(a, w)
    else:
        acc += tl.sum(a[:, :, None].to(acc.dtype) * w[None, :, :].to(acc.dtype), axis=1)
    return acc


@triton.jit
def _weight_tile(w_ptr, n, n_mask, k, K, stride_wn, stride_wk):
    """w[n, k] as a (BLOCK_K, BLOCK_H) tile: weight rows n as columns (wᵀ, no copy)."""
    mask = (k < K)[:, None] & n_mask[None, :]
    return tl.load(w_ptr + k[:, None] * stride_wk + n[None, :] * stride_wn, mask=mask, other=0)


@triton.jit
def _bias(b_ptr, n, n_mask, stride_b, acc_dtype: tl.constexpr):
    return tl.load(b_ptr + n * stride_b, mask=n_mask, other=0).to(acc_dtype)


@triton.jit
def _gates_mac(acc_i, acc_f, acc_g, acc_o, a, w_ptr, units, unit_mask, k, K, H, stride_wn,
               stride_wk, USE_DOT: tl.constexpr, IEEE: tl.constexpr):
    """One K step of the four gates: the same `a` tile times each gate's weight panel
    (rows units, H + units, 2H + units, 3H + units: torch's i, f, g, o order)."""
    acc_i = _mac(acc_i, a, _weight_tile(w_ptr, units, unit_mask, k, K, stride_wn, stride_wk),
                 USE_DOT, IEEE)
    acc_f = _mac(acc_f, a, _weight_tile(w_ptr, units + H, unit_mask, k, K, stride_wn,
                                        stride_wk), USE_DOT, IEEE)
    acc_g = _mac(acc_g, a, _weight_tile(w_ptr, units + 2 * H, unit_mask, k, K, stride_wn,
                                        stride_wk), USE_DOT, IEEE)
    acc_o = _mac(acc_o, a, _weight_tile(w_ptr, units + 3 * H, unit_mask, k, K, stride_wn,
                                        stride_wk), USE_DOT, IEEE)
    return acc_i, acc_f, acc_g, acc_o


@triton.jit
def _gates_bias(acc_i, acc_f, acc_g, acc_o, b_ptr, units, unit_mask, H, stride_b):
    """The four gates' slices of one bias vector, added to the accumulators."""
    acc_i += _bias(b_ptr, units, unit_mask, stride_b, acc_i.dtype)[None, :]
    acc_f += _bias(b_ptr, units + H, unit_mask, stride_b, acc_i.dtype)[None, :]
    acc_g += _bias(b_ptr, units + 2 * H, unit_mask, stride_b, acc_i.dtype)[None, :]
    acc_o += _bias(b_ptr, units + 3 * H, unit_mask, stride_b, acc_i.dtype)[None, :]
    return acc_i, acc_f, acc_g, acc_o


# ---- forward ---------------------------------------------------------------------------------
@triton.jit
def lstm_cell_forward_kernel(
        x_ptr, h_ptr, c_ptr, w_ih_ptr, w_hh_ptr, b_ih_ptr, b_hh_ptr, hc_ptr, acts_ptr,
        B, I, H,
        stride_xb, stride_xk, stride_hb, stride_hk, stride_cb, stride_cu,
        stride_wih_n, stride_wih_k, stride_whh_n, stride_whh_k, stride_bih, stride_bhh,
        HAS_B_IH: tl.constexpr, HAS_B_HH: tl.constexpr, USE_DOT: tl.constexpr,
        IEEE: tl.constexpr, F64: tl.constexpr, SMALL: tl.constexpr,
        BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr):
    rows = tl.program_id(1).to(tl.int64) * BLOCK_B + tl.arange(0, BLOCK_B)
    units = tl.program_id(0).to(tl.int64) * BLOCK_H + tl.arange(0, BLOCK_H)
    row_mask = rows < B
    unit_mask = units < H
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    acc_i = tl.zeros([BLOCK_B, BLOCK_H], acc_dtype)
    acc_f = tl.zeros([BLOCK_B, BLOCK_H], acc_dtype)
    acc_g = tl.zeros([BLOCK_B, BLOCK_H], acc_dtype)
    acc_o = tl.zeros([BLOCK_B, BLOCK_H], acc_dtype)
    ks = tl.arange(0, BLOCK_K)
    # z += x w_ihᵀ: one x tile serves the four gates' weight panels.
    for k0 in range(0, I, BLOCK_K):
        k = k0 + ks
        a = tl.load(x_ptr + rows[:, None] * stride_xb + k[None, :] * stride_xk,
                    mask=row_mask[:, None] & (k < I)[None, :], other=0)
        acc_i, acc_f, acc_g, acc_o = _gates_mac(acc_i, acc_f, acc_g, acc_o, a, w_ih_ptr,
                                                units, unit_mask, k, I, H, stride_wih_n,
                                                stride_wih_k, USE_DOT, IEEE)
    # z += h w_hhᵀ, into the same accumulators.
    for k0 in range(0, H, BLOCK_K):
        k = k0 + ks
        a = tl.load(h_ptr + rows[:, None] * stride_hb + k[None, :] * stride_hk,
                    mask=row_mask[:, None] & (k < H)[None, :], other=0)
        acc_i, acc_f, acc_g, acc_o = _gates_mac(acc_i, acc_f, acc_g, acc_o, a, w_hh_ptr,
                                                units, unit_mask, k, H, H, stride_whh_n,
                                                stride_whh_k, USE_DOT, IEEE)
    if HAS_B_IH:
        acc_i, acc_f, acc_g, acc_o = _gates_bias(acc_i, acc_f, acc_g, acc_o, b_ih_ptr, units,
                                                 unit_mask, H, stride_bih)
    if HAS_B_HH:
        acc_i, acc_f, acc_g, acc_o = _gates_bias(acc_i, acc_f, acc_g, acc_o, b_hh_ptr, units,
                                                 unit_mask, H, stride_bhh)

    # The pointwise tail, on the accumulators in registers.
    mask = row_mask[:, None] & unit_mask[None, :]
    c = tl.load(c_ptr + rows[:, None] * stride_cb + units[None, :] * stride_cu, mask=mask,
                other=0).to(acc_dtype)
    i = _sigmoid(acc_i)
    f = _sigmoid(acc_f)
    g = _tanh(acc_g, SMALL)
    o = _sigmoid(acc_o)
    c_new = f * c + i * g
    tanh_c = _tanh(c_new, SMALL)
    out_ty = hc_ptr.dtype.element_ty
    hc = hc_ptr + rows[:, None] * (2 * H) + units[None, :]
    tl.store(hc, (o * tanh_c).to(out_ty), mask=mask)
    tl.store(hc + H, c_new.to(out_ty), mask=mask)
    acts = acts_ptr + rows[:, None] * (5 * H) + units[None, :]
    tl.store(acts, i.to(out_ty), mask=mask)
    tl.store(acts + H, f.to(out_ty), mask=mask)
    tl.store(acts + 2 * H, g.to(out_ty), mask=mask)
    tl.store(acts + 3 * H, o.to(out_ty), mask=mask)
    tl.store(acts + 4 * H, tanh_c.to(out_ty), mask=mask)


@triton.jit
def rnn_cell_forward_kernel(
        x_ptr, h_ptr, w_ih_ptr, w_hh_ptr, b_ih_ptr, b_hh_ptr, out_ptr,
        B, I, H,
        stride_xb, stride_xk, stride_hb, stride_hk,
        stride_wih_n, stride_wih_k, stride_whh_n, stride_whh_k, stride_bih, stride_bhh,
        HAS_B_IH: tl.constexpr, HAS_B_HH: tl.constexpr, NONLIN: tl.constexpr,
        USE_DOT: tl.constexpr, IEEE: tl.constexpr, F64: tl.constexpr, SMALL: tl.constexpr,
        BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr):
    rows = tl.program_id(1).to(tl.int64) * BLOCK_B + tl.arange(0, BLOCK_B)
    units = tl.program_id(0).to(tl.int64) * BLOCK_H + tl.arange(0, BLOCK_H)
    row_mask = rows < B
    unit_mask = units < H
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    acc = tl.zeros([BLOCK_B, BLOCK_H], acc_dtype)
    ks = tl.arange(0, BLOCK_K)
    for k0 in range(0, I, BLOCK_K):
        k = k0 + ks
        a = tl.load(x_ptr + rows[:, None] * stride_xb + k[None, :] * stride_xk,
                    mask=row_mask[:, None] & (k < I)[None, :], other=0)
        acc = _mac(acc, a, _weight_tile(w_ih_ptr, units, unit_mask, k, I,
                                        stride_wih_n, stride_wih_k), USE_DOT, IEEE)
    for k0 in range(0, H, BLOCK_K):
        k = k0 + ks
        a = tl.load(h_ptr + rows[:, None] * stride_hb + k[None, :] * stride_hk,
                    mask=row_mask[:, None] & (k < H)[None, :], other=0)
        acc = _mac(acc, a, _weight_tile(w_hh_ptr, units, unit_mask, k, H,
                                        stride_whh_n, stride_whh_k), USE_DOT, IEEE)
    if HAS_B_IH:
        acc += _bias(b_ih_ptr, units, unit_mask, stride_bih, acc_dtype)[None, :]
    if HAS_B_HH:
        acc += _bias(b_hh_ptr, units, unit_mask, stride_bhh, acc_dtype)[None, :]
    if NONLIN == TANH:
        y = _tanh(acc, SMALL)
    else:
        y = tl.where(acc <= 0, 0.0, acc)          # NaN stays NaN, as np.maximum(z, 0)
    mask = row_mask[:, None] & unit_mask[None, :]
    tl.store(out_ptr + rows[:, None] * H + units[None, :], y.to(out_ptr.dtype.element_ty),
             mask=mask)


# ---- backward --------------------------------------------------------------------------------
@triton.jit
def lstm_cell_backward_kernel(
        grad_ptr, c_ptr, acts_ptr, dz_ptr, dc_ptr, db_ptr, B, H,
        stride_gb, stride_gu, stride_cb, stride_cu, stride_ab, stride_au,
        NEEDS_DC: tl.constexpr, NEEDS_DB: tl.constexpr, F64: tl.constexpr,
        BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr):
    """dz = [dc_total g i(1-i), dc_total c f(1-f), dc_total i (1-g²), dh' tanh(c') o(1-o)],
    dc_total = dc' + dh' o (1 - tanh²(c')); dc = dc_total f; db = Σ_b dz.
    A program owns BLOCK_H units and walks every row, so it sums whole columns of dz."""
    units = tl.program_id(0).to(tl.int64) * BLOCK_H + tl.arange(0, BLOCK_H)
    unit_mask = units < H
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    db_i = tl.zeros([BLOCK_H], acc_dtype)
    db_f = tl.zeros([BLOCK_H], acc_dtype)
    db_g = tl.zeros([BLOCK_H], acc_dtype)
    db_o = tl.zeros([BLOCK_H], acc_dtype)
    out_ty = dz_ptr.dtype.element_ty
    for b0 in range(0, B, BLOCK_B):
        rows = b0 + tl.arange(0, BLOCK_B).to(tl.int64)
        mask = (rows < B)[:, None] & unit_mask[None, :]
        # Masked lanes load zeros, which make every dz below exactly 0: the sums need no where.
        g_ptrs = grad_ptr + rows[:, None] * stride_gb + units[None, :] * stride_gu
        dh = tl.load(g_ptrs, mask=mask, other=0).to(acc_dtype)
        dc_new = tl.load(g_ptrs + H * stride_gu, mask=mask, other=0).to(acc_dtype)
        a_ptrs = acts_ptr + rows[:, None] * stride_ab + units[None, :] * stride_au
        i = tl.load(a_ptrs, mask=mask, other=0).to(acc_dtype)
        f = tl.load(a_ptrs + H * stride_au, mask=mask, other=0).to(acc_dtype)
        g = tl.load(a_ptrs + 2 * H * stride_au, mask=mask, other=0).to(acc_dtype)
        o = tl.load(a_ptrs + 3 * H * stride_au, mask=mask, other=0).to(acc_dtype)
        tanh_c = tl.load(a_ptrs + 4 * H * stride_au, mask=mask, other=0).to(acc_dtype)
        c = tl.load(c_ptr + rows[:, None] * stride_cb + units[None, :] * stride_cu,
                    mask=mask, other=0).to(acc_dtype)
        total = dc_new + dh * o * (1 - tanh_c * tanh_c)
        d_i = total * g * i * (1 - i)
        d_f = total * c * f * (1 - f)
        d_g = total * i * (1 - g * g)
        d_o = dh * tanh_c * o * (1 - o)
        dz = dz_ptr + rows[:, None] * (4 * H) + units[None, :]
        tl.store(dz, d_i.to(out_ty), mask=mask)
        tl.store(dz + H, d_f.to(out_ty), mask=mask)
        tl.store(dz + 2 * H, d_g.to(out_ty), mask=mask)
        tl.store(dz + 3 * H, d_o.to(out_ty), mask=mask)
        if NEEDS_DC:
            tl.store(dc_ptr + rows[:, None] * H + units[None, :], (total * f).to(out_ty),
                     mask=mask)
        if NEEDS_DB:
            db_i += tl.sum(d_i, axis=0)
            db_f += tl.sum(d_f, axis=0)
            db_g += tl.sum(d_g, axis=0)
            db_o += tl.sum(d_o, axis=0)
    if NEEDS_DB:
        tl.store(db_ptr + units, db_i.to(out_ty), mask=unit_mask)
        tl.store(db_ptr + H + units, db_f.to(out_ty), mask=unit_mask)
        tl.store(db_ptr + 2 * H + units, db_g.to(out_ty), mask=unit_mask)
        tl.store(db_ptr + 3 * H + units, db_o.to(out_ty), mask=unit_mask)


@triton.jit
def rnn_cell_backward_kernel(
        grad_ptr, out_ptr, dz_ptr, db_ptr, B, H,
        stride_gb, stride_gu, stride_ob, stride_ou,
        NONLIN: tl.constexpr, NEEDS_DB: tl.constexpr, F64: tl.constexpr,
        BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr):
    """dz = grad (1 - h'²) (tanh) or grad [h' > 0] (relu), from the saved output h';
    db = Σ_b dz."""
    units = tl.program_id(0).to(tl.int64) * BLOCK_H + tl.arange(0, BLOCK_H)
    unit_mask = units < H
    acc_dtype = tl.float32
    if F64:
        acc_dtype = tl.float64
    db = tl.zeros([BLOCK_H], acc_dtype)
    for b0 in range(0, B, BLOCK_B):
        rows = b0 + tl.arange(0, BLOCK_B).to(tl.int64)
        mask = (rows < B)[:, None] & unit_mask[None, :]
        g = tl.load(grad_ptr + rows[:, None] * stride_gb + units[None, :] * stride_gu,
                    mask=mask, other=0).to(acc_dtype)
        y = tl.load(out_ptr + rows[:, None] * stride_ob + units[None, :] * stride_ou,
                    mask=mask, other=0).to(acc_dtype)
        if NONLIN == TANH:
            dz = g * (1 - y * y)
        else:
            dz = tl.where(y > 0, g, 0.0)
        tl.store(dz_ptr + rows[:, None] * H + units[None, :], dz.to(dz_ptr.dtype.element_ty),
                 mask=mask)
        if NEEDS_DB:
            db += tl.sum(dz, axis=0)
    if NEEDS_DB:
        tl.store(db_ptr + units, db.to(db_ptr.dtype.element_ty), mask=unit_mask)


# ---- launch configuration --------------------------------------------------------------------
def _config(bb, bh, bk, warps, stages):
    return triton.Config({"BLOCK_B": bb, "BLOCK_H": bh, "BLOCK_K": bk},
                         num_warps=warps, num_stages=stages)


_KEY = ["B", "I", "H", "USE_DOT", "IEEE"]
if INTERPRET:
    _lstm_tuned = _rnn_tuned = None
else:
    # Small batches are the common case (B = 1 ... 64): narrow row blocks, and unit blocks
    # small enough that H = 256 still spreads over several SMs. The LSTM keeps four
    # accumulators, so its largest tile is half the RNN's.
    _lstm_tuned = triton.autotune(configs=[
        _config(16, 32, 32, 4, 3), _config(16, 64, 32, 4, 3), _config(32, 32, 32, 4, 3),
        _config(32, 64, 32, 4, 3), _config(64, 32, 32, 4, 3), _config(64, 64, 32, 8, 3),
        _config(16, 32, 64, 4, 3), _config(32, 32, 64, 4, 2),
    ], key=_KEY)(lstm_cell_forward_kernel)
    _rnn_tuned = triton.autotune(configs=[
        _config(16, 32, 32, 4, 3), _config(16, 64, 32, 4, 3), _config(32, 64, 32, 4, 3),
        _config(64, 64, 32, 4, 3), _config(64, 128, 32, 8, 3), _config(128, 64, 32, 8, 3),
        _config(16, 32, 64, 4, 3), _config(32, 32, 64, 4, 2),
    ], key=_KEY)(rnn_cell_forward_kernel)

# float64 (no tl.dot) holds a BLOCK_B x BLOCK_K x BLOCK_H product in registers: small tiles.
_F64_BLOCKS = {"BLOCK_B": 16, "BLOCK_H": 16, "BLOCK_K": 8}
_POINTWISE_GPU = (32, 32)          # (BLOCK_B, BLOCK_H) of the backward pointwise kernels


def _clamp(n, lo, hi):
    return max(lo, min(_launch.next_pow2(n), hi))


def _dtype_flags(dtype):
    use_dot = dtype in (np.float16, np.float32)
    return dict(USE_DOT=use_dot, IEEE=dtype == np.float32, F64=dtype == np.float64,
                SMALL=0.04 if dtype == np.float64 else 0.25)


def _launch_forward(kernel, tuned, args, B, I, H, flags):
    if INTERPRET or not flags["USE_DOT"]:
        if INTERPRET:
            bk_cap = INTERPRET_BLOCK_K if flags["USE_DOT"] else 16
            blocks = {"BLOCK_B": _clamp(B, 16, INTERPRET_BLOCK_B),
                      "BLOCK_H": _clamp(H, 16, INTERPRET_BLOCK_H),
                      "BLOCK_K": _clamp(max(I, H), 16, bk_cap)}
        else:
            blocks = _F64_BLOCKS
        grid = (_launch.cdiv(H, blocks["BLOCK_H"]), _launch.cdiv(B, blocks["BLOCK_B"]))
        kernel[grid](*args, **flags, **blocks)
    else:
        grid = lambda meta: (_launch.cdiv(H, meta["BLOCK_H"]), _launch.cdiv(B, meta["BLOCK_B"]))
        tuned[grid](*args, **flags)


def _pointwise_blocks(B, H):
    if INTERPRET:
        return (_clamp(B, 1, INTERPRET_POINTWISE_B), _clamp(H, 16, INTERPRET_BLOCK_H))
    return _POINTWISE_GPU


def _or(buffer, fallback):
    """buffer, or `fallback` as a dummy pointer for an output the kernel will not write
    (a buffer's truth value is its length, so not `buffer or fallback`)."""
    return fallback if buffer is None else buffer


def _bias_args(b_ih, b_hh, fallback):
    """Pointer and stride of each bias (a dummy pointer when absent: never read)."""
    out = []
    for b in (b_ih, b_hh):
        out += [fallback.ptr(), 0] if b is None else [b.ptr(), b.strides[0]]
    return out


# ---- wrappers --------------------------------------------------------------------------------
def lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh):
    dtype = x.dtype
    B, I = x.shape
    H = c.shape[1]
    hc = empty((B, 2 * H), dtype)
    acts = empty((B, 5 * H), dtype)
    if B == 0 or H == 0:
        return hc, acts
    bias = _bias_args(b_ih, b_hh, w_ih)
    args = (x.ptr(), h.ptr(), c.ptr(), w_ih.ptr(), w_hh.ptr(), bias[0], bias[2], hc.ptr(),
            acts.ptr(), B, I, H, *x.strides, *h.strides, *c.strides, *w_ih.strides,
            *w_hh.strides, bias[1], bias[3])
    flags = dict(HAS_B_IH=b_ih is not None, HAS_B_HH=b_hh is not None, **_dtype_flags(dtype))
    _launch_forward(lstm_cell_forward_kernel, _lstm_tuned, args, B, I, H, flags)
    return hc, acts


def rnn_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity):
    dtype = x.dtype
    B, I = x.shape
    H = h.shape[1]
    out = empty((B, H), dtype)
    if B == 0 or H == 0:
        return out
    bias = _bias_args(b_ih, b_hh, w_ih)
    args = (x.ptr(), h.ptr(), w_ih.ptr(), w_hh.ptr(), bias[0], bias[2], out.ptr(),
            B, I, H, *x.strides, *h.strides, *w_ih.strides, *w_hh.strides, bias[1], bias[3])
    flags = dict(HAS_B_IH=b_ih is not None, HAS_B_HH=b_hh is not None,
                 NONLIN=RELU if nonlinearity == "relu" else TANH, **_dtype_flags(dtype))
    _launch_forward(rnn_cell_forward_kernel, _rnn_tuned, args, B, I, H, flags)
    return out


def _as3d(a, transpose=False):
    """A 2-D buffer as a (1, m, k) view for matmul, optionally transposed: no copy."""
    (m, k), (sm, sk) = a.shape, a.strides
    if transpose:
        (m, k), (sm, sk) = (k, m), (sk, sm)
    return a.view((1, m, k), (0, sm, sk))


def _as2d(a):
    return a.view(a.shape[1:], a.strides[1:])


def _input_grads(dz, x, h, w_ih, w_hh, needs_x, needs_h, needs_w_ih, needs_w_hh):
    """The GEMMs of z = x w_ihᵀ + h w_hhᵀ + b's backward, given dz (B, G·H): each a
    matmul launch on strided views, skipped when not needed."""
    dz3, dzt = _as3d(dz), _as3d(dz, transpose=True)
    return (_as2d(matmul(dz3, _as3d(w_ih))) if needs_x else None,
            _as2d(matmul(dz3, _as3d(w_hh))) if needs_h else None,
            _as2d(matmul(dzt, _as3d(x))) if needs_w_ih else None,
            _as2d(matmul(dzt, _as3d(h))) if needs_w_hh else None)


def lstm_cell_backward(grad_hc, c, acts, x, h, w_ih, w_hh, needs):
    """needs: (x, h, c, w_ih, w_hh, bias) -> (dx, dh, dc, dw_ih, dw_hh, db)."""
    needs_x, needs_h, needs_c, needs_w_ih, needs_w_hh, needs_b = needs
    dtype = acts.dtype
    B, H = c.shape
    dz = empty((B, 4 * H), dtype)
    dc = empty((B, H), dtype) if needs_c else None
    db = empty((4 * H,), dtype) if needs_b else None
    if H:
        block_b, block_h = _pointwise_blocks(B, H)
        lstm_cell_backward_kernel[(_launch.cdiv(H, block_h),)](
            grad_hc.ptr(), c.ptr(), acts.ptr(), dz.ptr(), _or(dc, dz).ptr(), _or(db, dz).ptr(),
            B, H, *grad_hc.strides, *c.strides, *acts.strides,
            NEEDS_DC=needs_c, NEEDS_DB=needs_b, F64=dtype == np.float64,
            BLOCK_B=block_b, BLOCK_H=block_h)
    dx, dh, dw_ih, dw_hh = _input_grads(dz, x, h, w_ih, w_hh, needs_x, needs_h, needs_w_ih,
                                        needs_w_hh)
    return dx, dh, dc, dw_ih, dw_hh, db


def rnn_cell_backward(grad, h_new, x, h, w_ih, w_hh, nonlinearity, needs):
    """needs: (x, h, w_ih, w_hh, bias) -> (dx, dh, dw_ih, dw_hh, db)."""
    needs_x, needs_h, needs_w_ih, needs_w_hh, needs_b = needs
    dtype = h_new.dtype
    B, H = h_new.shape
    dz = empty((B, H), dtype)
    db = empty((H,), dtype) if needs_b else None
    if H:
        block_b, block_h = _pointwise_blocks(B, H)
        rnn_cell_backward_kernel[(_launch.cdiv(H, block_h),)](
            grad.ptr(), h_new.ptr(), dz.ptr(), _or(db, dz).ptr(), B, H,
            *grad.strides, *h_new.strides,
            NONLIN=RELU if nonlinearity == "relu" else TANH, NEEDS_DB=needs_b,
            F64=dtype == np.float64, BLOCK_B=block_b, BLOCK_H=block_h)
    return _input_grads(dz, x, h, w_ih, w_hh, needs_x, needs_h, needs_w_ih,
                        needs_w_hh) + (db,)
