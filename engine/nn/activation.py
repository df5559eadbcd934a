"""Activation layers: thin Modules over the functional ops."""
from engine.nn import functional as F
from engine.nn.module import Module


class ReLU(Module):
    """max(x, 0). `inplace` is accepted for torch compatibility; the result is
    always a new tensor (the value is the same)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu(input)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    def forward(self, input):
        return F.tanh(input)


class Sigmoid(Module):
    def forward(self, input):
        return F.sigmoid(input)
