"""Recurrent layers: RNNCell, LSTMCell, and the multi-layer RNN and LSTM over them.

A recurrent layer reads a sequence one step at a time, carrying a hidden state h (the
LSTM also a cell state c, its long-term memory) from each step to the next:

    RNN  (Elman):  h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)
    LSTM:          i, f, g, o = split(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh, 4)
                   c_t = σ(f) c_{t-1} + σ(i) tanh(g);   h_t = σ(o) tanh(c_t)

The same weights serve every step. Backpropagating through T steps multiplies T
Jacobians of the recurrence: the gradient vanishes or explodes geometrically, which
the LSTM's additive cell path (gated by f) eases. Cells call the fused ops
F.rnn_tanh_cell, F.rnn_relu_cell and F.lstm_cell (torch's gate order i, f, g, o).

Layouts, as torch: input (L, N, H_in), or (N, L, H_in) with batch_first, or
unbatched (L, H_in); h_0 / c_0 (D * num_layers, N, H) with D = 2 when bidirectional;
output (L, N, D * H) (the last layer's h_t, both directions concatenated);
h_n / c_n like h_0. Parameters: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k},
bias_hh_l{k}, and the same with `_reverse` for the backward direction, all initialized
U(-1/√H, 1/√H).
"""
import math

from engine import creation
from engine.errors import ShapeError
from engine.nn import functional as F
from engine.nn import init
from engine.nn._factory import factory, parameter
from engine.nn.module import Module
from engine.ops.movement import cat, stack


def _rnn_cell(input, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity):
    cell = F.rnn_tanh_cell if nonlinearity == "tanh" else F.rnn_relu_cell
    return cell(input, hx, w_ih, w_hh, b_ih, b_hh)


def _check_nonlinearity(nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                         f"'relu'.")


class _CellBase(Module):
    _gates = 1

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        device, dtype = factory(device, dtype)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        rows = self._gates * hidden_size
        self.weight_ih = parameter((rows, input_size), device, dtype)
        self.weight_hh = parameter((rows, hidden_size), device, dtype)
        if bias:
            self.bias_ih = parameter((rows,), device, dtype)
            self.bias_hh = parameter((rows,), device, dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _batched(self, input, name):
        if input.ndim not in (1, 2):
            raise ShapeError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D input "
                             f"of shape {tuple(input.shape)}. Hint: a cell takes one time "
                             f"step (N, input_size); use nn.{name[:-4]} for sequences")
        if input.shape[-1] != self.input_size:
            raise ShapeError(f"{name}: input has {input.shape[-1]} features, expected "
                             f"input_size={self.input_size} (got shape {tuple(input.shape)}). "
                             f"Hint: the last dim is the feature dim")
        return input.ndim == 2

    def _zeros(self, input):
        return creation.zeros(input.shape[0], self.hidden_size, dtype=input.dtype,
                              device=input.device)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """One step of an Elman RNN: h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) (or relu).
    input (N, input_size) or (input_size,), hx like the output (N, hidden_size)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        batched = self._batched(input, "RNNCell")
        if not batched:
            input = input.unsqueeze(0)
            hx = None if hx is None else hx.unsqueeze(0)
        if hx is None:
            hx = self._zeros(input)
        h = _rnn_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                      self.nonlinearity)
        return h if batched else h.squeeze(0)

    def extra_repr(self):
        text = super().extra_repr()
        return text if self.nonlinearity == "tanh" else text + ", nonlinearity='relu'"


class LSTMCell(_CellBase):
    """One LSTM step: (h', c') from x and (h, c); weights stack the gates i, f, g, o
    (4 * hidden_size rows). input (N, input_size) or (input_size,)."""
    _gates = 4

    def forward(self, input, hx=None):
        batched = self._batched(input, "LSTMCell")
        if not batched:
            input = input.unsqueeze(0)
            hx = None if hx is None else tuple(t.unsqueeze(0) for t in hx)
        if hx is None:
            hx = (self._zeros(input), self._zeros(input))
        h, c = F.lstm_cell(input, tuple(hx), self.weight_ih, self.weight_hh, self.bias_ih,
                           self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class _RNNBase(Module):
    _gates = 1
    _lstm = False

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        device, dtype = factory(device, dtype)
        if not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if proj_size:
            raise NotImplementedError("proj_size is not supported")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        directions = 2 if bidirectional else 1
        rows = self._gates * hidden_size
        # torch's registration order (and so state_dict order): per layer, per direction,
        # w_ih, w_hh, b_ih, b_hh.
        self._flat_weights_names = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = [("weight_ih", (rows, layer_input)), ("weight_hh", (rows, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (rows,)), ("bias_hh", (rows,))]
                for name, shape in shapes:
                    setattr(self, name + suffix, parameter(shape, device, dtype))
                    self._flat_weights_names.append(name + suffix)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self, layer, direction):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return tuple(getattr(self, n + suffix) if self.bias or n.startswith("weight") else None
                     for n in names)

    def _step(self, x, state, weights):
        raise NotImplementedError

    def forward(self, input, hx=None):
        name = type(self).__name__
        if input.ndim not in (2, 3):
            raise ShapeError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D "
                             f"(shape {tuple(input.shape)}). Hint: (L, N, H_in), or "
                             f"(N, L, H_in) with batch_first=True, or unbatched (L, H_in)")
        if input.shape[-1] != self.input_size:
            raise ShapeError(f"{name}: input.size(-1) must be equal to input_size. Expected "
                             f"{self.input_size}, got {input.shape[-1]} (shape "
                             f"{tuple(input.shape)}). Hint: the last dim is the feature dim")
        batched = input.ndim == 3
        if not batched:
            input = input.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        seq_len, batch = input.shape[0], input.shape[1]
        directions = 2 if self.bidirectional else 1
        states = self._initial_states(hx, batched, batch, directions, input)

        x = input
        finals = [[] for _ in states]
        for layer in range(self.num_layers):
            outputs = []
            xs = x.unbind(0)          # x[t] per step would make the backward O(T²)
            for direction in range(directions):
                index = layer * directions + direction
                state = tuple(s[index] for s in states)
                weights = self._weights(layer, direction)
                hs = [None] * seq_len
                steps = range(seq_len) if direction == 0 else range(seq_len - 1, -1, -1)
                for t in steps:
                    state = self._step(xs[t], state, weights)
                    hs[t] = state[0]
                outputs.append(stack(hs, 0))
                for kept, value in zip(finals, state):
                    kept.append(value)
            x = outputs[0] if directions == 1 else cat(outputs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)

        finals = tuple(stack(kept, 0) for kept in finals)
        if not batched:
            x = x.squeeze(1)
            finals = tuple(f.squeeze(1) for f in finals)
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, (finals if self._lstm else finals[0])

    def _initial_states(self, hx, batched, batch, directions, input):
        shape = (self.num_layers * directions, batch, self.hidden_size)
        count = 2 if self._lstm else 1
        if hx is None:
            zeros = creation.zeros(*shape, dtype=input.dtype, device=input.device)
            return (zeros,) * count
        given = tuple(hx) if self._lstm else (hx,)
        if len(given) != count:
            raise ValueError(f"{type(self).__name__}: expected hx to be a tuple (h_0, c_0)")
        out = []
        for t in given:
            if not batched:
                t = t.unsqueeze(1)
            if tuple(t.shape) != shape:
                raise ShapeError(f"{type(self).__name__}: Expected hidden size {shape}, got "
                                 f"{tuple(t.shape)}. Hint: (num_layers * num_directions, "
                                 f"batch, hidden_size)")
            out.append(t)
        return tuple(out)

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text


class RNN(_RNNBase):
    """Elman RNN, torch's arguments: RNN(input_size, hidden_size, num_layers=1,
    nonlinearity='tanh', bias=True, batch_first=False, dropout=0.0, bidirectional=False).
    forward(input, h_0=None) -> (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def _step(self, x, state, weights):
        return (_rnn_cell(x, state[0], *weights, self.nonlinearity),)


class LSTM(_RNNBase):
    """LSTM, torch's arguments: LSTM(input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False).
    forward(input, (h_0, c_0)=None) -> (output, (h_n, c_n))."""
    _gates = 4
    _lstm = True

    def _step(self, x, state, weights):
        return F.lstm_cell(x, state, *weights)
