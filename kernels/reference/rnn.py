"""Recurrent cells (LSTM, Elman RNN), numpy reference: one time step, forward and backward.

torch's layouts and gate order, so torch weights load unchanged:
    x (B, in), h (B, H), c (B, H), w_ih (G·H, in), w_hh (G·H, H), b_ih, b_hh (G·H,) or None
with G = 4 gates (i, f, g, o) for the LSTM, G = 1 for the RNN.

    LSTM                                         RNN (nonlinearity tanh or relu)
    z = x w_ihᵀ + b_ih + h w_hhᵀ + b_hh          z = x w_ihᵀ + b_ih + h w_hhᵀ + b_hh
    i, f, o = σ(z_i), σ(z_f), σ(z_o)             h' = tanh(z) | relu(z)
    g = tanh(z_g)
    c' = f c + i g,   h' = o tanh(c')

What the forward returns, and the backward reads:
- lstm_cell_forward -> (hc, acts): hc (B, 2H) = [h', c'] (the op's one differentiable
  output, see engine/ops/rnn.py), acts (B, 5H) = [i, f, g, o, tanh(c')] saved for backward.
- rnn_cell_forward -> h' (B, H); the backward reads h' itself (tanh' = 1 - h'², relu' = h' > 0).
- *_backward(..., needs) -> one gradient per input, None where `needs` (bools, in the
  order of the returned gradients) says it is not wanted. The bias gradient db (G·H,)
  serves both b_ih and b_hh.
"""
import numpy as np


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))       # no overflow warning for large |z|


def _preactivation(x, h, w_ih, w_hh, b_ih, b_hh):
    z = x @ w_ih.T + h @ w_hh.T
    for b in (b_ih, b_hh):
        if b is not None:
            z = z + b
    return z


def _input_grads(dz, x, h, w_ih, w_hh, needs_x, needs_h, needs_w_ih, needs_w_hh, needs_b):
    """The gradients of z = x w_ihᵀ + h w_hhᵀ + b, given dz (B, G·H)."""
    return (dz @ w_ih if needs_x else None,
            dz @ w_hh if needs_h else None,
            dz.T @ x if needs_w_ih else None,
            dz.T @ h if needs_w_hh else None,
            dz.sum(axis=0) if needs_b else None)


def lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh):
    z = _preactivation(x, h, w_ih, w_hh, b_ih, b_hh)
    zi, zf, zg, zo = np.split(z, 4, axis=1)
    i, f, g, o = _sigmoid(zi), _sigmoid(zf), np.tanh(zg), _sigmoid(zo)
    c_new = f * c + i * g
    tanh_c = np.tanh(c_new)
    return (np.concatenate([o * tanh_c, c_new], axis=1),
            np.concatenate([i, f, g, o, tanh_c], axis=1))


def lstm_cell_backward(grad_hc, c, acts, x, h, w_ih, w_hh, needs):
    """needs: (x, h, c, w_ih, w_hh, bias) -> (dx, dh, dc, dw_ih, dw_hh, db)."""
    H = c.shape[1]
    dh_new, dc_new = grad_hc[:, :H], grad_hc[:, H:]
    i, f, g, o, tanh_c = np.split(acts, 5, axis=1)
    dc_total = dc_new + dh_new * o * (1 - tanh_c ** 2)
    dz = np.concatenate([dc_total * g * i * (1 - i),
                         dc_total * c * f * (1 - f),
                         dc_total * i * (1 - g ** 2),
                         dh_new * tanh_c * o * (1 - o)], axis=1)
    needs_x, needs_h, needs_c, needs_w_ih, needs_w_hh, needs_b = needs
    dx, dh, dw_ih, dw_hh, db = _input_grads(dz, x, h, w_ih, w_hh, needs_x, needs_h,
                                            needs_w_ih, needs_w_hh, needs_b)
    return dx, dh, (dc_total * f if needs_c else None), dw_ih, dw_hh, db


def rnn_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity):
    z = _preactivation(x, h, w_ih, w_hh, b_ih, b_hh)
    return np.tanh(z) if nonlinearity == "tanh" else np.maximum(z, 0)


def rnn_cell_backward(grad, h_new, x, h, w_ih, w_hh, nonlinearity, needs):
    """needs: (x, h, w_ih, w_hh, bias) -> (dx, dh, dw_ih, dw_hh, db)."""
    if nonlinearity == "tanh":
        dz = grad * (1 - h_new ** 2)
    else:
        dz = np.where(h_new > 0, grad, 0).astype(grad.dtype)
    return _input_grads(dz, x, h, w_ih, w_hh, *needs)
