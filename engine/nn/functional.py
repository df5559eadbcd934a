"""engine.nn.functional: the stateless side of the layers, torch's names and arguments."""
from engine.ops.elementwise import relu, sigmoid, tanh
from engine.ops.movement import pad
from engine.ops.softmax import log_softmax, softmax

__all__ = ["log_softmax", "pad", "relu", "sigmoid", "softmax", "tanh"]
