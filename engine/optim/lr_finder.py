"""find_lr: the learning-rate range test (Smith 2017; Géron, "optimal learning rate").

Train for one pass (or `num_iter` batches) while the rate grows exponentially from
`start_lr` to `end_lr`, recording the loss after each step. The loss first barely
moves (rate too small), then falls quickly, then shoots up (rate too large). A good
rate sits on the steep fall, well below the minimum: the suggestion is the rate where
the smoothed loss falls fastest per decade of rate.

The model's parameters and buffers and the optimizer's state are restored afterwards,
so the test leaves no trace but the result.
"""
import copy
import math
from collections import namedtuple

import numpy as np

from engine.autograd import no_grad
from engine.tensor import Tensor


class LRFinderResult(namedtuple("LRFinderResult", ["lrs", "losses", "suggestion",
                                                    "min_loss_lr"])):
    """lrs and (smoothed) losses, one per step taken; `suggestion` is the rate of
    steepest descent, `min_loss_lr` where the smoothed loss was lowest (a safe choice
    is about ten times below it)."""

    def plot(self, path):
        """Write loss against rate (log scale) as a PNG at `path`; returns the path."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(self.lrs, self.losses)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss (smoothed)")
        if self.suggestion is not None:
            ax.axvline(self.suggestion, color="tab:red", linestyle="--",
                       label=f"suggestion {self.suggestion:.2e}")
            ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def _snapshot_optimizer(optimizer):
    state = optimizer.state_dict()
    return {"state": {i: {k: v.clone() if isinstance(v, Tensor) else copy.deepcopy(v)
                          for k, v in s.items()} for i, s in state["state"].items()},
            "param_groups": copy.deepcopy(state["param_groups"])}


def find_lr(model, loss_fn, optimizer, loader, start_lr=1e-7, end_lr=10.0, num_iter=None,
            smoothing=0.98, diverge_factor=4.0):
    """Run the range test; return an LRFinderResult.

    loader yields (inputs, targets) batches; num_iter defaults to one pass over it
    (len(loader)). Losses are smoothed by an exponential moving average (weight
    `smoothing`, bias-corrected); the test stops early once the smoothed loss exceeds
    `diverge_factor` times its best value, or becomes NaN/inf.
    """
    if not 0 < start_lr < end_lr:
        raise ValueError(f"find_lr: need 0 < start_lr < end_lr, got {start_lr}, {end_lr}")
    if num_iter is None:
        num_iter = len(loader)
    if num_iter < 2:
        raise ValueError(f"find_lr: need at least 2 iterations, got {num_iter}. Hint: use "
                         f"a smaller batch size or pass num_iter")
    saved_model = {k: v.clone() for k, v in model.state_dict().items()}
    saved_optimizer = _snapshot_optimizer(optimizer)
    was_training = model.training
    factor = (end_lr / start_lr) ** (1.0 / (num_iter - 1))
    lrs, losses = [], []
    average, best = 0.0, math.inf
    lr = start_lr
    model.train()
    try:
        batches = iter(loader)
        for i in range(num_iter):
            try:
                inputs, targets = next(batches)
            except StopIteration:
                batches = iter(loader)
                inputs, targets = next(batches)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = loss_fn(model(inputs), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            value = loss.item()
            average = smoothing * average + (1 - smoothing) * value
            smoothed = average / (1 - smoothing ** (i + 1))
            lrs.append(lr)
            losses.append(smoothed)
            if not math.isfinite(smoothed) or smoothed > diverge_factor * best:
                break
            best = min(best, smoothed)
            lr *= factor
    finally:
        with no_grad():
            model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        model.train(was_training)
    return LRFinderResult(lrs, losses, *_suggest(lrs, losses))


def _suggest(lrs, losses):
    finite = [i for i, v in enumerate(losses) if math.isfinite(v)]
    if len(finite) < 3:
        return None, (lrs[finite[0]] if finite else None)
    lr = np.log10(np.asarray([lrs[i] for i in finite]))
    loss = np.asarray([losses[i] for i in finite])
    lowest = int(np.argmin(loss))
    # The steepest fall before the minimum (after it the loss is already diverging).
    end = max(lowest, 2)
    slopes = np.gradient(loss[:end + 1], lr[:end + 1])
    steepest = int(np.argmin(slopes))
    return float(10 ** lr[steepest]), float(10 ** lr[lowest])
