"""Loss layers: hold the options, call the functional loss.

torch's signatures, with every option after `weight` keyword-only (torch's second
and third positional slots are the deprecated size_average/reduce, which these
losses do not take — a positional call fails loudly instead of being misread).
`weight` (a per-class rescaling) and `pos_weight` are buffers, as in torch, so they
follow `.to()` and appear in state_dict. Options left at their defaults are not
passed on, so the functional's own defaults apply.
"""
from engine.nn import functional as F
from engine.nn.module import Module


class _Loss(Module):
    def __init__(self, *, reduction="mean"):
        super().__init__()
        F._check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, *, reduction="mean"):
        super().__init__(reduction=reduction)
        self.register_buffer("weight", weight)

    def _options(self, **extra):
        options = {k: v for k, v in extra.items() if v is not None}
        if self.weight is not None:
            options["weight"] = self.weight
        return options


class CrossEntropyLoss(_WeightedLoss):
    """F.cross_entropy(input, target): logits (N, C) (or (N, C, d1, ...)) and class
    indices (N,). label_smoothing ε mixes the one-hot target with the uniform
    distribution: (1 - ε) one-hot + ε / C. Targets equal to ignore_index contribute
    nothing (and are left out of the mean)."""

    def __init__(self, weight=None, *, ignore_index=-100, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(weight, reduction=reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        options = self._options(ignore_index=None if self.ignore_index == -100
                                else self.ignore_index)
        if self.label_smoothing:
            options["label_smoothing"] = self.label_smoothing
        return F.cross_entropy(input, target, reduction=self.reduction, **options)


class NLLLoss(_WeightedLoss):
    """F.nll_loss(input, target): log-probabilities (N, C) and class indices (N,)."""

    def __init__(self, weight=None, *, ignore_index=-100, reduction="mean"):
        super().__init__(weight, reduction=reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        options = self._options(ignore_index=None if self.ignore_index == -100
                                else self.ignore_index)
        return F.nll_loss(input, target, reduction=self.reduction, **options)


class MSELoss(_Loss):
    """F.mse_loss(input, target): mean (or sum) of squared differences (regression)."""

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """F.l1_loss(input, target): mean (or sum) of absolute differences (robust to
    outliers)."""

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """F.binary_cross_entropy(input, target): probabilities in [0, 1] (after a
    sigmoid) against targets in [0, 1]. Prefer BCEWithLogitsLoss: it is stable for
    saturated logits."""

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, reduction=self.reduction,
                                      **self._options())


class BCEWithLogitsLoss(_WeightedLoss):
    """sigmoid + binary cross-entropy in one stable op, on logits. pos_weight (one
    per class) weighs the positive examples (> 1 raises recall)."""

    def __init__(self, weight=None, *, reduction="mean", pos_weight=None):
        super().__init__(weight, reduction=reduction)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        options = self._options()
        if self.pos_weight is not None:
            options["pos_weight"] = self.pos_weight
        return F.binary_cross_entropy_with_logits(input, target, reduction=self.reduction,
                                                  **options)
