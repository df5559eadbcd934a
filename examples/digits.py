"""The digits demo (`make demo`): a perceptron and an MLP, trained with the engine.

Data: scikit-learn's bundled 8x8 digits (1,797 images, 10 classes; nothing is
downloaded), split 80/20 stratified with a fixed seed, pixels (0..16) scaled to
[0, 1] by dividing by 16.

(a) Rosenblatt's perceptron, one-vs-rest: ten binary perceptrons, one per digit,
    each with a step activation ŷ = [w·x + b >= 0] and the perceptron learning rule
    w += lr (y - ŷ) x, trained sample by sample on engine tensors. The multiclass
    prediction is the digit whose perceptron scores highest.
(b) An MLP 64-128-10 (ReLU, cross-entropy, Adam, minibatches of 32) trained with the
    engine, and the identical model in torch, started from the same weights and fed
    the same minibatches. Printed side by side: test accuracy and median time per
    epoch, and their ratio.

Both frameworks run on 1 thread (torch.set_num_threads, numba.set_num_threads and
the BLAS pool), so the timing compares the engines, not the thread counts. The exit
code is 1 if the engine's MLP test accuracy is below 95%.
"""
import statistics
import sys
import time
from collections import namedtuple

import numpy as np

import engine as eg
import engine.nn as nn
import engine.optim as optim

SEED = 0
THREADS = 1
REQUIRED_MLP_ACCURACY = 0.95

Data = namedtuple("Data", ["x_train", "y_train", "x_test", "y_test"])


def load_data(seed=SEED):
    """Digits as float32 features in [0, 1] (N, 64) and int64 labels (N,), split 80/20."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=seed)
    return Data(x_train, y_train, x_test, y_test)


# ---- (a) the perceptron ----------------------------------------------------------
def train_perceptron(data, epochs=10, lr=1.0, seed=SEED):
    """Ten one-vs-rest perceptrons trained together; returns weights (10, 64), bias (10,).

    Row k of the weights is perceptron k ("is it digit k?"). Each sample updates every
    perceptron by the rule w_k += lr (t_k - ŷ_k) x, which changes w_k only when
    perceptron k got the sample wrong. No gradients: plain tensor arithmetic.
    """
    n, features = data.x_train.shape
    classes = 10
    x = eg.from_numpy(data.x_train)
    targets = eg.from_numpy(np.eye(classes, dtype=np.float32)[data.y_train])  # one-hot
    weights = eg.zeros(classes, features)
    bias = eg.zeros(classes)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        for i in rng.permutation(n):   # a fresh sample order each epoch
            xi = x[i]
            fired = (weights @ xi + bias >= 0).float()   # step activation ŷ, (10,)
            error = targets[i] - fired                   # y - ŷ, each -1, 0 or +1
            weights.add_(error.unsqueeze(1) * xi.unsqueeze(0), alpha=lr)   # outer product
            bias.add_(error, alpha=lr)
    return weights, bias


def perceptron_accuracy(weights, bias, x, y):
    """Multiclass accuracy: the predicted digit is the perceptron with the top score."""
    scores = eg.from_numpy(x) @ weights.T + bias
    return float(np.mean(scores.argmax(dim=1).numpy() == y))


# ---- (b) the MLP, in the engine and in torch -------------------------------------------
def make_mlp(seed=SEED):
    """64-128-10 with ReLU, torch's default initialization from a seeded generator."""
    eg.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def torch_twin(model):
    """The same architecture in torch, holding a copy of `model`'s weights.

    The engine uses torch's parameter layout and names, so the state_dict keys
    ("0.weight", "0.bias", ...) and shapes match one to one.
    """
    import torch

    twin = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                               torch.nn.Linear(128, 10))
    twin.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                          for k, v in model.state_dict().items()})
    return twin


def minibatches(n, batch_size, rng):
    """Index arrays of a shuffled pass over n samples (the last batch may be short)."""
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def train_engine_mlp(model, data, epochs, batch_size=32, lr=1e-3, seed=SEED):
    """Adam on cross-entropy; returns the wall time of each epoch in seconds."""
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        for idx in minibatches(len(data.x_train), batch_size, rng):
            loss = loss_fn(model(eg.from_numpy(data.x_train[idx])),
                           eg.from_numpy(data.y_train[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def train_torch_mlp(model, data, epochs, batch_size=32, lr=1e-3, seed=SEED):
    """The same loop in torch: same batches (same seed), same optimizer settings."""
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        for idx in minibatches(len(data.x_train), batch_size, rng):
            loss = loss_fn(model(torch.from_numpy(data.x_train[idx])),
                           torch.from_numpy(data.y_train[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def engine_logits(model, x):
    with eg.no_grad():
        return model(eg.from_numpy(x)).numpy()


def torch_logits(model, x):
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def accuracy(logits, y):
    return float(np.mean(logits.argmax(axis=1) == y))


# ---- the demo ------------------------------------------------------------------
def pin_threads(n=THREADS):
    """Give torch, Numba and the BLAS library the same number of threads."""
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    threadpool_limits(n)   # numpy's BLAS (the reference matmul); lasts for the process


def main(perceptron_epochs=10, mlp_epochs=30):
    pin_threads()
    data = load_data()
    backend = eg.dispatch.kernels_for("cpu").backend
    print(f"digits: {len(data.y_train)} train / {len(data.y_test)} test images, 8x8, "
          f"10 classes, seed {SEED}; engine CPU backend: {backend}, {THREADS} thread")

    weights, bias = train_perceptron(data, epochs=perceptron_epochs)
    print(f"\n(a) Rosenblatt perceptron, one-vs-rest (10 binary perceptrons, step "
          f"activation, w += lr (y - ŷ) x), {perceptron_epochs} epochs")
    print(f"    test accuracy: "
          f"{perceptron_accuracy(weights, bias, data.x_test, data.y_test):.1%}")

    model = make_mlp()
    twin = torch_twin(model)
    engine_times = train_engine_mlp(model, data, mlp_epochs)
    torch_times = train_torch_mlp(twin, data, mlp_epochs)
    ours = engine_logits(model, data.x_test)
    theirs = torch_logits(twin, data.x_test)
    rows = [("engine", accuracy(ours, data.y_test), engine_times),
            ("torch", accuracy(theirs, data.y_test), torch_times)]

    print(f"\n(b) MLP 64-128-10, ReLU, cross-entropy, Adam(lr=1e-3), batch 32, "
          f"{mlp_epochs} epochs, float32, same initial weights and batches")
    print("| model  | test accuracy | median epoch (ms) | first epoch (ms) |")
    print("|--------|---------------|-------------------|------------------|")
    for name, acc, times in rows:
        print(f"| {name:<6} | {acc:>13.1%} | {statistics.median(times) * 1e3:>17.1f} | "
              f"{times[0] * 1e3:>16.1f} |")
    ratio = statistics.median(engine_times) / statistics.median(torch_times)
    print(f"engine / torch, median epoch time: {ratio:.2f}x")
    print(f"max |engine - torch| over the final test logits: "
          f"{np.max(np.abs(ours - theirs)):.1e}")

    if rows[0][1] < REQUIRED_MLP_ACCURACY:
        print(f"FAIL: engine MLP test accuracy {rows[0][1]:.1%} is below "
              f"{REQUIRED_MLP_ACCURACY:.0%}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
