"""engine.train: fit, History, EarlyStopping (best weights restored), schedulers in
the loop, progress output, plot_history; and two properties of training itself:
memory stays flat over 2,000 steps, and the same seed gives bitwise the same model."""
import os

import numpy as np
import pytest

import engine as eg
import engine.nn as nn
import engine.optim as optim
from engine.data import DataLoader, TensorDataset
from engine.train import EarlyStopping, History, LambdaCallback, evaluate, fit, plot_history


def blobs(n=240, seed=0, noise=0.6, shuffle_labels=False):
    centers = np.random.default_rng(100).standard_normal((3, 4)) * 2     # shared by all splits
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (centers[y] + rng.standard_normal((n, 4)) * noise).astype(np.float32)
    if shuffle_labels:
        y = rng.permutation(y)
    return TensorDataset(x, y.astype(np.int64))


def loaders(batch_size=32, **kwargs):
    train = DataLoader(blobs(**kwargs), batch_size=batch_size, shuffle=True,
                       generator=eg.Generator(0))
    val = DataLoader(blobs(n=90, seed=1, **kwargs), batch_size=64)
    return train, val


def mlp(hidden=16, dropout=0.0):
    eg.manual_seed(0)
    return nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, 3))


def test_fit_learns_and_records_history(capsys):
    model = mlp()
    train, val = loaders()
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.02),
                  train, val, epochs=5, progress=False)
    assert isinstance(history, History) and len(history) == 5 and history.epoch == list(range(5))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_time",
                "samples_per_s"):
        assert len(history[key]) == 5, key
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.9
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5 and lines[0].startswith("epoch 1/5") and "samples/s" in lines[0]
    loss, accuracy = evaluate(model, nn.CrossEntropyLoss(), val)
    assert loss == pytest.approx(history["val_loss"][-1]) and accuracy > 0.9
    assert model.training


def test_progress_bar_goes_to_stderr(capsys):
    model = mlp()
    train, _ = loaders()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), train, epochs=1,
        progress=True)
    captured = capsys.readouterr()
    assert "epoch 1/1" in captured.err and "samples/s" in captured.err
    assert captured.out == ""


def test_schedulers_in_the_loop():
    train, val = loaders()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=4,
                  scheduler=optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
                  verbose=False)
    assert history["lr"] == [0.1, 0.1, 0.05, 0.05]             # the rate each epoch used

    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, epochs=2, steps_per_epoch=len(train))
    fit(model, nn.CrossEntropyLoss(), opt, train, epochs=2, scheduler=sched, verbose=False)
    assert sched.last_epoch == 2 * len(train)                  # stepped every batch

    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    seen = []
    fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=3, scheduler=plateau,
        callbacks=[LambdaCallback(on_epoch_end=lambda e, logs: seen.append(logs["val_loss"]))],
        verbose=False)
    assert plateau.best == min(seen)


def test_regularization_clipping_and_constraints_run():
    train, _ = loaders()
    model = mlp()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5), train, epochs=2,
        regularization=lambda m: nn.utils.l2_penalty(m, 1e-3), clip_grad_norm=1.0,
        constraints=[lambda m: nn.utils.max_norm_(m[0].weight, 0.8)], verbose=False)
    assert np.linalg.norm(model[0].weight.numpy(), axis=1).max() <= 0.8 + 1e-6


def test_early_stopping_restores_the_best_weights():
    # Random labels: the model memorizes the training set and validation loss rises.
    train = DataLoader(blobs(n=64, shuffle_labels=True), batch_size=16, shuffle=True,
                       generator=eg.Generator(0))
    val = DataLoader(blobs(n=64, seed=1, shuffle_labels=True), batch_size=64)
    model = mlp(hidden=64)
    snapshots = {}
    keep = LambdaCallback(on_epoch_end=lambda e, logs: snapshots.__setitem__(
        e, {k: v.numpy().copy() for k, v in model.state_dict().items()}))
    stopper = EarlyStopping(monitor="val_loss", patience=3)
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.05),
                  train, val, epochs=60, callbacks=[keep, stopper], verbose=False)
    assert stopper.stopped_epoch is not None and len(history) < 60
    assert stopper.stopped_epoch == stopper.best_epoch + 3
    assert history["val_loss"][stopper.best_epoch] == min(history["val_loss"])
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), snapshots[stopper.best_epoch][key])
    with pytest.raises(KeyError, match="val_accuracy"):
        fit(mlp(), nn.CrossEntropyLoss(), optim.SGD(mlp().parameters(), lr=0.1), train,
            epochs=1, callbacks=[EarlyStopping("val_accuracy")], verbose=False)
    assert EarlyStopping("val_accuracy").mode == "max"


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_diverging_loss_raises():
    train, _ = loaders()
    model = mlp()
    with pytest.raises(FloatingPointError, match="learning rate"):
        fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=1e6),
            DataLoader(TensorDataset(eg.randn(64, 4) * 100, eg.randn(64, 3)), batch_size=8),
            epochs=3, verbose=False)


def test_plot_history_writes_a_png(tmp_path):
    history = History()
    for epoch in range(4):
        history.append(epoch, {"loss": 1 / (epoch + 1), "accuracy": 0.5 + epoch / 10,
                               "val_loss": 1.2 / (epoch + 1), "val_accuracy": 0.4 + epoch / 10,
                               "lr": 0.1 * 0.5 ** epoch})
    path = plot_history(history, tmp_path / "curves.png", title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


# ---- properties of training --------------------------------------------------------------
def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_memory_is_flat_over_2000_steps():
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x, y = eg.randn(16, 20), eg.randint(0, 5, (16,))

    def steps(n):
        for _ in range(n):
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    steps(200)                      # warm-up: kernels compiled, pools and caches filled
    before = rss_bytes()
    steps(2000)
    growth = rss_bytes() - before
    assert growth <= 2 * 1024 * 1024, f"RSS grew by {growth / 1024:.0f} KiB over 2,000 steps"


def train_100_steps(seed):
    eg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))
    loader = DataLoader(blobs(n=160), batch_size=16, shuffle=True, generator=eg.Generator(seed))
    opt = optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    step = 0
    while step < 100:
        for x, y in loader:
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step == 100:
                break
    return [p.numpy().copy() for p in model.parameters()]


def test_same_seed_gives_bitwise_identical_parameters():
    first, again, other = train_100_steps(1), train_100_steps(1), train_100_steps(2)
    for a, b in zip(first, again):
        assert a.tobytes() == b.tobytes()
    assert any(a.tobytes() != c.tobytes() for a, c in zip(first, other))


# ---- the examples, run small -------------------------------------------------------------
def test_lenet_example_runs_small(tmp_path, capsys):
    from examples import lenet
    assert lenet.main(["--data", "digits", "--epochs", "1", "--train-subset", "200",
                       "--test-subset", "100", "--no-torch", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Total params: 61,706" in out and "| engine |" in out
    assert (tmp_path / "lenet_curves.png").exists()
    assert sorted(eg.load(tmp_path / "lenet.safetensors")) == sorted(lenet.lenet5(nn).state_dict())


def test_transfer_and_mc_dropout_examples_run_small(capsys):
    from examples import mc_dropout, transfer
    assert transfer.main(["--data", "digits", "--epochs-a", "1", "--epochs-b", "2",
                          "--warmup-epochs", "1"]) == 0
    assert "reuse A, frozen then fine-tuned" in capsys.readouterr().out
    assert mc_dropout.main(["--data", "digits", "--epochs", "1", "--samples", "4",
                            "--test-subset", "50"]) == 0
    assert "MC dropout (mean)" in capsys.readouterr().out
