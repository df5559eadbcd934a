"""Loss layers: hold the options, call the functional loss.

Options are keyword-only: torch's first positional argument is a class `weight`,
which these losses do not take, so a positional call fails loudly instead of
being misread.
"""
from engine.nn import functional as F
from engine.nn.module import Module


class _Loss(Module):
    def __init__(self, *, reduction="mean"):
        super().__init__()
        F._check_reduction(type(self).__name__, reduction)
        self.reduction = reduction


class CrossEntropyLoss(_Loss):
    """F.cross_entropy(input, target): logits (N, C) and class indices (N,)."""

    def __init__(self, *, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction=reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.reduction, self.label_smoothing)


class NLLLoss(_Loss):
    """F.nll_loss(input, target): log-probabilities (N, C) and class indices (N,)."""

    def forward(self, input, target):
        return F.nll_loss(input, target, self.reduction)


class MSELoss(_Loss):
    """F.mse_loss(input, target): mean (or sum) of squared differences."""

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)
