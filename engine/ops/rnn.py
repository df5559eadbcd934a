"""Fused recurrent cells, one time step: lstm_cell, rnn_tanh_cell, rnn_relu_cell.

torch's math, gate order (i, f, g, o) and weight layouts (w_ih (G·H, in), w_hh (G·H, H),
biases (G·H,)), so the weights of a torch nn.LSTMCell / nn.RNNCell load unchanged.
Each step is one forward kernel (the gate GEMM and the pointwise tail fused) and one
backward kernel family (kernels/*/rnn.py), instead of the ~15 ops and graph nodes of
the same cell written with public ops.

Two outputs, one differentiable output per Function. The LSTM cell returns h' and c',
and both carry gradient (h' feeds the next layer and the next step, c' the next step).
The runtime's Function has a single differentiable output (a tuple return is "first
differentiable + extras without grad"), so `LSTMCell` returns them packed, one (B, 2H)
array [h', c'], and h', c' are its two column halves, `split` views (no copy) whose
backward copies dh' and dc' into one shared (B, 2H) buffer (engine/ops/movement.py's
pieces): one zero fill and two copies per step, which LSTMCell's backward reads as
its two halves. The alternatives were worse: two Functions computing the cell twice,
or c' as a gradient-less extra (wrong for anything that backpropagates through time).

The layers (nn.LSTM, nn.RNN) split a sequence into its steps with `x.unbind(0)`
(engine/ops/movement.py), whose backward is O(T). Indexing x[t] in the time loop costs
O(T²): every x[t]'s gradient is a zero-filled array of x's full shape, added up by the
walk — measured 177 vs 145 ms (CPU) for a 100-step LSTM fwd+bwd at B=64, in=128,
H=256, and ~0.5 s more for a (T, B, 4H) input.
"""
from engine.autograd import Function
from engine.errors import DTypeError, ShapeError, op_error
from engine.ops import _operands as ops
from engine.ops import movement as mv


class LSTMCell(Function):
    """(x, h, c, w_ih, w_hh, b_ih, b_hh) -> [h', c'] (B, 2H); saves the activations."""

    @staticmethod
    def forward(ctx, x, h, c, w_ih, w_hh, b_ih, b_hh):
        hc, acts = ctx.kernels.lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh)
        ctx.save_for_backward(x, h, c, w_ih, w_hh, acts)
        return hc

    @staticmethod
    def backward(ctx, grad):
        x, h, c, w_ih, w_hh, acts = ctx.saved_tensors
        p = ctx.parents           # None where an input needs no gradient: skip its GEMM
        needs = (p[0] is not None, p[1] is not None, p[2] is not None, p[3] is not None,
                 p[4] is not None, p[5] is not None or p[6] is not None)
        dx, dh, dc, dw_ih, dw_hh, db = ctx.kernels.lstm_cell_backward(
            grad, c, acts, x, h, w_ih, w_hh, needs)
        return dx, dh, dc, dw_ih, dw_hh, db, db


class RNNCell(Function):
    """(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity) -> h' (B, H); saves h'."""

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity):
        out = ctx.kernels.rnn_cell_forward(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity)
        ctx.save_for_backward(out, x, h, w_ih, w_hh)
        ctx.nonlinearity = nonlinearity
        return out

    @staticmethod
    def backward(ctx, grad):
        out, x, h, w_ih, w_hh = ctx.saved_tensors
        p = ctx.parents
        needs = (p[0] is not None, p[1] is not None, p[2] is not None, p[3] is not None,
                 p[4] is not None or p[5] is not None)
        dx, dh, dw_ih, dw_hh, db = ctx.kernels.rnn_cell_backward(
            grad, out, x, h, w_ih, w_hh, ctx.nonlinearity, needs)
        return dx, dh, dw_ih, dw_hh, db, db, None


# ---- checks ----------------------------------------------------------------------------------
def _check(op, gates, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """Shapes and dtypes of one cell step; c is None for the RNN cells."""
    ops.require_tensor(op, x)
    ops.require_tensor(op, h, "hx")
    if c is not None:
        ops.require_tensor(op, c, "cx")
    ops.require_tensor(op, w_ih, "w_ih")
    ops.require_tensor(op, w_hh, "w_hh")
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None:
            ops.require_tensor(op, b, name)
    states = (h,) if c is None else (h, c)
    operands = (x,) + states + tuple(t for t in (w_ih, w_hh, b_ih, b_hh) if t is not None)
    dtype = x.data.dtype
    ops.require_kernel_float(op, x, operands)
    if any(t.data.dtype != dtype for t in operands):
        raise op_error(DTypeError, op, operands, "input, states, weights and biases have "
                       "different dtypes", "convert them all with .float() or .double()")
    if x.ndim != 2:
        raise op_error(ShapeError, op, operands, "input must be 2-D (batch, input_size)",
                       "add a batch dim with x.unsqueeze(0)")
    B, n_in = x.shape
    if h.ndim != 2 or h.shape[0] != B:
        raise op_error(ShapeError, op, operands, f"hidden state must be 2-D (batch={B}, "
                       f"hidden_size)", "give one state row per input row")
    H = h.shape[1]
    if c is not None and tuple(c.shape) != (B, H):
        raise op_error(ShapeError, op, operands, f"cell state must have the hidden state's "
                       f"shape {(B, H)}", "pass (h, c) from the previous step or zeros")
    if tuple(w_ih.shape) != (gates * H, n_in):
        raise op_error(ShapeError, op, operands, f"w_ih must have shape {(gates * H, n_in)} "
                       f"({gates}·hidden_size, input_size)", "use torch's layout: "
                       "weight_ih of shape (gates·hidden_size, input_size)")
    if tuple(w_hh.shape) != (gates * H, H):
        raise op_error(ShapeError, op, operands, f"w_hh must have shape {(gates * H, H)} "
                       f"({gates}·hidden_size, hidden_size)", "use torch's layout: "
                       "weight_hh of shape (gates·hidden_size, hidden_size)")
    for b in (b_ih, b_hh):
        if b is not None and tuple(b.shape) != (gates * H,):
            raise op_error(ShapeError, op, operands, f"biases must have shape "
                           f"({gates * H},)", "one bias per gate row of the weights")
    return H


# ---- public functions ------------------------------------------------------------------------
def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step: (h', c') from input (B, in) and hx = (h, c), both (B, H).

    torch.lstm_cell's arguments and math: gates (i, f, g, o) = split(x w_ihᵀ + b_ih +
    h w_hhᵀ + b_hh), c' = σ(f) c + σ(i) tanh(g), h' = σ(o) tanh(c'). Both outputs are
    differentiable (see the module docstring for how).
    """
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise TypeError(f"lstm_cell: hx must be a tuple (h, c) of two tensors, got "
                        f"{type(hx).__name__}. Hint: pass (h, c), e.g. zeros of shape "
                        f"(batch, hidden_size) for the first step")
    h, c = hx
    H = _check("lstm_cell", 4, input, h, c, w_ih, w_hh, b_ih, b_hh)
    hc = LSTMCell.apply(input, h, c, w_ih, w_hh, b_ih, b_hh)
    return mv.split(hc, [H, H], 1)


def _rnn_cell(op, nonlinearity, input, hx, w_ih, w_hh, b_ih, b_hh):
    _check(op, 1, input, hx, None, w_ih, w_hh, b_ih, b_hh)
    return RNNCell.apply(input, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity)


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman RNN step, h' = tanh(x w_ihᵀ + b_ih + h w_hhᵀ + b_hh) (torch.rnn_tanh_cell).

    input (B, in), hx (B, H), w_ih (H, in), w_hh (H, H), biases (H,) or None.
    """
    return _rnn_cell("rnn_tanh_cell", "tanh", input, hx, w_ih, w_hh, b_ih, b_hh)


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman RNN step, h' = relu(x w_ihᵀ + b_ih + h w_hhᵀ + b_hh) (torch.rnn_relu_cell);
    arguments as rnn_tanh_cell."""
    return _rnn_cell("rnn_relu_cell", "relu", input, hx, w_ih, w_hh, b_ih, b_hh)

