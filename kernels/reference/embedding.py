"""Embedding lookup and its gradient, numpy reference (the oracle).

weight (V, D), idx integers in [0, V) of any shape. The gradient of a gather is a
scatter-add: an index that appears twice receives both rows of the gradient.
"""
import numpy as np


def embedding(weight, idx):
    """weight[idx]: shape idx.shape + (D,)."""
    return weight[idx]


def embedding_backward(grad, idx, num_embeddings, padding_idx):
    """dweight (num_embeddings, D): Σ of grad's rows per index; row padding_idx (an int
    in [0, V), or None) stays 0."""
    d = grad.shape[-1]
    out = np.zeros((num_embeddings, d), dtype=grad.dtype)
    np.add.at(out, idx.reshape(-1), grad.reshape(-1, d))
    if padding_idx is not None:
        out[padding_idx] = 0
    return out
