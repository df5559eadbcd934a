"""engine.train: the training loop every example needs, written once.

    history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, val_loader,
                  epochs=10, scheduler=sched, callbacks=[EarlyStopping(patience=3)])
    plot_history(history, "results/curves.png")

One epoch: model.train(); for each batch: forward, loss (+ an optional penalty),
zero_grad, backward, optional gradient clipping, optimizer.step(), optional
constraints (e.g. max-norm); then evaluate on the validation loader (model.eval(),
no_grad) and step the scheduler. The loop keeps only Python floats between batches,
so no graph outlives its step.

Progress: a tqdm bar per epoch with the running loss, accuracy and samples/s when
stderr is a terminal; otherwise (logs, CI) one printed line per epoch. History holds
every epoch's numbers (Keras' layout: history.history['val_loss'] is a list).
"""
import math
import sys
import time
from collections import defaultdict

import numpy as np

from engine.autograd import no_grad
from engine.nn.utils import clip_grad_norm_
from engine.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau

__all__ = ["Callback", "EarlyStopping", "History", "LambdaCallback", "evaluate", "fit",
           "model_device", "plot_history"]


class History:
    """Per-epoch records: `history` maps a name ('loss', 'accuracy', 'val_loss',
    'val_accuracy', 'lr', 'epoch_time', 'samples_per_s') to a list with one value per
    epoch; `epoch` lists the epoch numbers (0-based).

    'loss' and 'accuracy' are averages over the epoch's batches (the model changing as
    it goes); 'val_*' are measured after the epoch; 'lr' is the first param group's
    rate at the end of the epoch's batches (before a per-epoch scheduler steps);
    'epoch_time' covers the training batches only, not the validation."""

    def __init__(self):
        self.history = defaultdict(list)
        self.epoch = []

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history[key].append(value)

    def __getitem__(self, key):
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def keys(self):
        return self.history.keys()

    def __len__(self):
        return len(self.epoch)

    def __repr__(self):
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"History({len(self.epoch)} epochs, last: {last})"


class Callback:
    """Hooks into fit(); override the ones you need. `self.trainer` is the running
    fit's state: .model, .optimizer, .history, .stop_training (set True to stop after
    this epoch)."""

    trainer = None

    def on_train_begin(self):
        pass

    def on_epoch_begin(self, epoch):
        pass

    def on_batch_end(self, batch, logs):
        pass

    def on_epoch_end(self, epoch, logs):
        pass

    def on_train_end(self):
        pass


class LambdaCallback(Callback):
    """A callback from plain functions: LambdaCallback(on_epoch_end=lambda e, logs: ...)."""

    def __init__(self, on_train_begin=None, on_epoch_begin=None, on_batch_end=None,
                 on_epoch_end=None, on_train_end=None):
        for name, fn in dict(on_train_begin=on_train_begin, on_epoch_begin=on_epoch_begin,
                             on_batch_end=on_batch_end, on_epoch_end=on_epoch_end,
                             on_train_end=on_train_end).items():
            if fn is not None:
                setattr(self, name, fn)


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience`
    epochs; with restore_best_weights (the default) the model ends with the weights of
    its best epoch — a copy of every parameter and buffer is kept when it improves.

    mode: 'min' (losses), 'max' (accuracies) or 'auto' (max when the name contains
    'acc'). Sets `stopped_epoch` and `best_epoch`.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto",
                 restore_best_weights=True):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = None
        self.best_weights = None
        self.stopped_epoch = None
        self.wait = 0

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs):
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping: monitored value {self.monitor!r} is not among "
                           f"{sorted(logs)}. Hint: pass val_loader= to fit for 'val_*'")
        value = logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = {k: v.clone() for k, v in
                                     self.trainer.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self):
        if self.restore_best_weights and self.best_weights is not None:
            with no_grad():
                self.trainer.model.load_state_dict(self.best_weights)


class _Trainer:
    def __init__(self, model, optimizer, history):
        self.model = model
        self.optimizer = optimizer
        self.history = history
        self.stop_training = False


def _correct(output, target):
    """How many rows of class scores (N, C) pick the integer target; None when the
    batch is not a classification batch."""
    if output.ndim != 2 or output.shape[1] < 2 or target.ndim != 1 \
            or target.dtype.is_floating_point:
        return None
    return int((output.numpy().argmax(axis=1) == target.numpy()).sum())


def model_device(model):
    """Where the model's parameters live ('cpu' for a model without any): fit and
    evaluate move each batch there, so a model.cuda() trains from the same loaders."""
    for parameter in model.parameters():
        return parameter.device
    return "cpu"


def evaluate(model, loss_fn, loader):
    """(mean loss, accuracy or None) over `loader` in eval mode without gradients;
    the model's mode is restored after. Batches go to the model's device."""
    was_training = model.training
    device = model_device(model)
    model.eval()
    total, loss_sum, correct = 0, 0.0, 0
    classify = True
    try:
        with no_grad():
            for inputs, targets in loader:
                inputs, targets = inputs.to(device), targets.to(device)
                output = model(inputs)
                n = len(targets)
                loss_sum += loss_fn(output, targets).item() * n
                hits = _correct(output, targets)
                classify = classify and hits is not None
                correct += hits or 0
                total += n
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("evaluate: the loader yielded no samples")
    return loss_sum / total, (correct / total if classify else None)


def _progress_bar(total, description, progress):
    enabled = sys.stderr.isatty() if progress is None else progress
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=description, unit="batch", leave=True, dynamic_ncols=True)


def fit(model, loss_fn, optimizer, train_loader, val_loader=None, epochs=1, scheduler=None,
        callbacks=(), scheduler_interval=None, regularization=None, clip_grad_norm=None,
        constraints=(), progress=None, verbose=True):
    """Train `model` for `epochs` passes over `train_loader`; return a History.

    loss_fn(output, target) -> scalar tensor. scheduler: stepped every epoch, every
    batch for OneCycleLR (or as `scheduler_interval` = 'epoch' | 'batch' says), and
    with the monitored loss (val_loss, else loss) for ReduceLROnPlateau.
    regularization: a function model -> scalar tensor added to every batch's loss
    (e.g. nn.utils.l2_penalty). clip_grad_norm: a max total gradient norm.
    constraints: functions model -> None applied after every optimizer step (e.g.
    lambda m: nn.utils.max_norm_(m[0].weight, 3.0)). progress: True/False for the
    tqdm bar (default: when stderr is a terminal); verbose: print a line per epoch
    when there is no bar. Batches go to the model's device (see model_device).
    """
    if epochs < 0:
        raise ValueError(f"fit: epochs must be >= 0, got {epochs}")
    if scheduler_interval is None:
        scheduler_interval = "batch" if isinstance(scheduler, OneCycleLR) else "epoch"
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"fit: scheduler_interval must be 'epoch' or 'batch', got "
                         f"{scheduler_interval!r}")
    history = History()
    trainer = _Trainer(model, optimizer, history)
    callbacks = list(callbacks)
    for callback in callbacks:
        callback.trainer = trainer
        callback.on_train_begin()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    device = model_device(model)

    for epoch in range(epochs):
        for callback in callbacks:
            callback.on_epoch_begin(epoch)
        model.train()
        bar = _progress_bar(len(train_loader), f"epoch {epoch + 1}/{epochs}", progress)
        start = time.perf_counter()
        seen, loss_sum, correct, classify = 0, 0.0, 0, True
        for batch, (inputs, targets) in enumerate(train_loader):
            inputs, targets = inputs.to(device), targets.to(device)
            output = model(inputs)
            loss = loss_fn(output, targets)
            value = loss.item()
            if not math.isfinite(value):         # before the step: keep the last good weights
                if bar is not None:
                    bar.close()
                raise FloatingPointError(f"fit: the loss became {value} at epoch {epoch}, "
                                         f"batch {batch}. Hint: lower the learning rate, or "
                                         f"clip gradients with clip_grad_norm=")
            objective = loss if regularization is None else loss + regularization(model)
            optimizer.zero_grad()
            objective.backward()
            if clip_grad_norm is not None:
                clip_grad_norm_(params, clip_grad_norm)
            optimizer.step()
            for constraint in constraints:
                constraint(model)
            if scheduler is not None and scheduler_interval == "batch":
                scheduler.step()

            n = len(targets)
            seen += n
            loss_sum += value * n
            hits = _correct(output, targets)
            classify = classify and hits is not None
            correct += hits or 0
            batch_logs = {"loss": value}
            for callback in callbacks:
                callback.on_batch_end(batch, batch_logs)
            if bar is not None:
                elapsed = time.perf_counter() - start
                postfix = {"loss": f"{loss_sum / seen:.4f}"}
                if classify:
                    postfix["acc"] = f"{correct / seen:.3f}"
                postfix["samples/s"] = f"{seen / max(elapsed, 1e-9):,.0f}"
                bar.set_postfix(postfix, refresh=False)
                bar.update(1)
        elapsed = time.perf_counter() - start
        if seen == 0:
            raise ValueError("fit: the training loader yielded no samples")

        logs = {"loss": loss_sum / seen}
        if classify:
            logs["accuracy"] = correct / seen
        if val_loader is not None:
            val_loss, val_accuracy = evaluate(model, loss_fn, val_loader)
            logs["val_loss"] = val_loss
            if val_accuracy is not None:
                logs["val_accuracy"] = val_accuracy
        logs["lr"] = optimizer.param_groups[0]["lr"]
        logs["epoch_time"] = elapsed
        logs["samples_per_s"] = seen / max(elapsed, 1e-9)
        if scheduler is not None and scheduler_interval == "epoch":
            if isinstance(scheduler, ReduceLROnPlateau):
                scheduler.step(logs.get("val_loss", logs["loss"]))
            else:
                scheduler.step()
        if bar is not None:
            names = {"loss": "loss", "accuracy": "acc", "val_loss": "val_loss",
                     "val_accuracy": "val_acc"}
            summary = {short: f"{logs[key]:.4f}" for key, short in names.items() if key in logs}
            summary["samples/s"] = f"{logs['samples_per_s']:,.0f}"
            bar.set_postfix(summary, refresh=True)
            bar.close()
        elif verbose:
            print(_epoch_line(epoch, epochs, logs), flush=True)
        history.append(epoch, logs)
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs)
        if trainer.stop_training:
            break
    for callback in callbacks:
        callback.on_train_end()
    return history


def _epoch_line(epoch, epochs, logs):
    parts = [f"epoch {epoch + 1}/{epochs}", f"loss {logs['loss']:.4f}"]
    if "accuracy" in logs:
        parts.append(f"acc {logs['accuracy']:.2%}")
    if "val_loss" in logs:
        parts.append(f"val_loss {logs['val_loss']:.4f}")
    if "val_accuracy" in logs:
        parts.append(f"val_acc {logs['val_accuracy']:.2%}")
    parts.append(f"lr {logs['lr']:.3g}")
    parts.append(f"{logs['epoch_time']:.1f}s ({logs['samples_per_s']:,.0f} samples/s)")
    return "  ".join(parts)


def plot_history(history, path, title=None):
    """Draw the training curves (loss; accuracy when recorded; the learning rate when
    it changed) into a PNG at `path`, with matplotlib's Agg canvas (no display, no
    global backend change). Returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    h = history.history if isinstance(history, History) else history
    epochs = np.arange(1, len(h["loss"]) + 1)
    panels = [("loss", ["loss", "val_loss"])]
    if "accuracy" in h or "val_accuracy" in h:
        panels.append(("accuracy", ["accuracy", "val_accuracy"]))
    if "lr" in h and len(set(h["lr"])) > 1:
        panels.append(("learning rate", ["lr"]))
    figure = Figure(figsize=(4.5 * len(panels), 3.6))
    FigureCanvasAgg(figure)
    for i, (label, keys) in enumerate(panels):
        ax = figure.add_subplot(1, len(panels), i + 1)
        for key in keys:
            if key in h and len(h[key]):
                ax.plot(epochs, h[key], marker="o", markersize=3,
                        label="validation" if key.startswith("val_") else "train")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        if label == "learning rate":
            ax.set_yscale("log")
        else:
            ax.legend()
        ax.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path
