"""Embedding: a lookup table from token ids to learned vectors, over F.embedding.

weight (num_embeddings, embedding_dim) ~ N(0, 1) (torch's default); input: integer
ids of any shape -> output of that shape plus (embedding_dim,). With padding_idx,
that row starts at zero and receives no gradient (a "no token" id).
"""
import numpy as np

from engine import creation
from engine.autograd import no_grad
from engine.nn import functional as F
from engine.nn import init
from engine.nn._factory import factory, parameter
from engine.nn.module import Module
from engine.nn.parameter import Parameter


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None,
                 _freeze=False, device=None, dtype=None):
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: max_norm, scale_grad_by_freq and sparse are "
                                      "not supported")
        device, dtype = factory(device, dtype)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError("Padding_idx must be within num_embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = parameter((num_embeddings, embedding_dim), device, dtype)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError("Shape of weight does not match num_embeddings and "
                                 "embedding_dim")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            keep = np.ones((self.num_embeddings, 1))
            keep[self.padding_idx] = 0
            with no_grad():
                self.weight.mul_(creation.tensor(keep, dtype=self.weight.dtype,
                                                 device=self.weight.device))

    def forward(self, input):
        if self.padding_idx is None:
            return F.embedding(input, self.weight)
        return F.embedding(input, self.weight, padding_idx=self.padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        """An Embedding holding `embeddings` (2-D); frozen (no gradient) by default."""
        if embeddings.ndim != 2:
            raise ValueError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, _weight=embeddings, _freeze=freeze)

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        return text
