"""Softmax and log-softmax along one axis, numpy reference, with their gradients.

Both subtract the row max first, so logits of ±1e4 give the same result as logits
near 0 (exp never overflows).
"""
import numpy as np


def softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax_backward(y, grad, axis):
    """dx = y (g - Σ g y), from the saved output y."""
    return y * (grad - np.sum(grad * y, axis=axis, keepdims=True))


def log_softmax_backward(y, grad, axis):
    """dx = g - softmax Σ g, from the saved output y = log_softmax(x)."""
    return grad - np.exp(y) * np.sum(grad, axis=axis, keepdims=True)
