"""Dropout: zero each input element with probability p during training, scaling the
survivors by 1/(1-p) so the expected value is unchanged; the identity in eval mode.

Srivastava et al. (2014): every step trains a random thinned network, so no unit can
rely on particular others — an ensemble of networks sharing weights. Keeping dropout
on at prediction time gives Monte-Carlo dropout (nn.utils.mc_dropout_predict).
"""
from engine.nn import functional as F
from engine.nn.module import Module


class Dropout(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
