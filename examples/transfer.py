"""Transfer learning, after Géron's Fashion-MNIST demo (Hands-On ML, chapter 11).

    python -m examples.transfer                   # Fashion-MNIST if installed, else digits
    python -m examples.transfer --seeds 3         # repeat over seeds: the gain varies

Task A: classify 8 of the 10 Fashion-MNIST classes (all but sandal and shirt), with
plenty of data. Task B: sandal vs shirt, from only 200 labelled images. (On the
digits: A is the 8 digits other than 3 and 5, B is 3 vs 5 from 100 images.)

Model A is an MLP (flatten -> 3 x [Linear 100, ReLU] -> Linear 8) trained on task A.
For task B we compare, on B's test images:

  1. from scratch   — the same architecture with a 2-way output, trained on B only;
  2. frozen reuse   — A's hidden layers (copied, so A is untouched) + a new output
                      layer; the reused layers are frozen (requires_grad off) and only
                      the new layer learns;
  3. reuse + thaw   — as 2 for a few epochs (so the new layer's random gradients do not
                      wreck the reused features), then everything unfrozen and
                      fine-tuned with a smaller learning rate;
  4. reuse, no freezing — A's layers fine-tuned together with the new output from the
                      start.

Géron's caution holds: with small data the ranking can change with the seed, so
--seeds repeats the whole comparison and prints the mean.
"""
import argparse
import copy
import sys

import numpy as np

import engine as eg
import engine.nn as nn
import engine.optim as optim
from engine.data import DataLoader, Images, image_dataset
from engine.train import evaluate, fit
from examples.common import load_images, pin_threads

TASKS = {"fashion-mnist": dict(b_classes=(5, 6), b_train=200),    # sandal, shirt
         "digits": dict(b_classes=(3, 5), b_train=100)}


def split_tasks(name, train, test, seed):
    """(A train, A test, B train, B test) Images; A's labels re-numbered 0..7, B's 0/1."""
    b_classes = TASKS[name]["b_classes"]

    def task_a(record):
        keep = ~np.isin(record.labels, b_classes)
        others = [c for c in range(10) if c not in b_classes]
        relabel = np.searchsorted(others, record.labels[keep])
        return Images(record.images[keep], relabel.astype(np.int64),
                      tuple(record.classes[c] for c in others), record.source)

    def task_b(record, limit=None):
        keep = np.flatnonzero(np.isin(record.labels, b_classes))
        if limit is not None:
            keep = np.sort(np.random.default_rng(seed).permutation(keep)[:limit])
        labels = (record.labels[keep] == b_classes[1]).astype(np.int64)
        return Images(record.images[keep], labels,
                      tuple(record.classes[c] for c in b_classes), record.source)

    return (task_a(train), task_a(test), task_b(train, TASKS[name]["b_train"]), task_b(test))


def mlp(features, outputs):
    return nn.Sequential(nn.Flatten(), nn.Linear(features, 100), nn.ReLU(),
                         nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                         nn.Linear(100, outputs))


def train(model, dataset, epochs, lr, seed, batch_size=32):
    parameters = [p for p in model.parameters() if p.requires_grad]
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True,
                        generator=eg.Generator(seed))
    return fit(model, nn.CrossEntropyLoss(), optim.Adam(parameters, lr=lr), loader,
               epochs=epochs, verbose=False, progress=False)


def accuracy(model, dataset):
    return evaluate(model, nn.CrossEntropyLoss(), DataLoader(dataset, batch_size=1000))[1]


def reuse(model_a):
    """A's layers up to the last hidden activation (deep-copied: training B must not
    change A) followed by a new 2-way output layer."""
    lower = copy.deepcopy(model_a)
    return nn.Sequential(*list(lower)[:-1], nn.Linear(100, 2))


def run(seed, name, data_sets, args):
    a_train, a_test, b_train, b_test = data_sets
    features = a_train.tensors[0].shape[-1] * a_train.tensors[0].shape[-2]
    eg.manual_seed(seed)
    model_a = mlp(features, 8)
    train(model_a, a_train, args.epochs_a, 1e-3, seed)
    results = {"model A on task A": accuracy(model_a, a_test)}

    eg.manual_seed(seed + 1)
    scratch = mlp(features, 2)
    train(scratch, b_train, args.epochs_b, 1e-3, seed)
    results["1. B from scratch"] = accuracy(scratch, b_test)

    eg.manual_seed(seed + 1)
    frozen = reuse(model_a)
    for layer in list(frozen)[:-1]:
        nn.utils.freeze(layer)
    train(frozen, b_train, args.epochs_b, 1e-3, seed)
    results["2. reuse A, frozen"] = accuracy(frozen, b_test)

    eg.manual_seed(seed + 1)
    thawed = reuse(model_a)
    for layer in list(thawed)[:-1]:
        nn.utils.freeze(layer)
    train(thawed, b_train, args.warmup_epochs, 1e-3, seed)
    nn.utils.unfreeze(thawed)
    train(thawed, b_train, args.epochs_b - args.warmup_epochs, 1e-4, seed + 1)
    results["3. reuse A, frozen then fine-tuned"] = accuracy(thawed, b_test)

    eg.manual_seed(seed + 1)
    free = reuse(model_a)
    train(free, b_train, args.epochs_b, 1e-3, seed)
    results["4. reuse A, no freezing"] = accuracy(free, b_test)
    assert model_a is not free and accuracy(model_a, a_test) == results["model A on task A"]
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=["auto", "fashion", "digits"], default="auto")
    parser.add_argument("--epochs-a", type=int, default=5)
    parser.add_argument("--epochs-b", type=int, default=20)
    parser.add_argument("--warmup-epochs", type=int, default=4,
                        help="epochs with the reused layers frozen before fine-tuning (3.)")
    parser.add_argument("--a-subset", type=int, default=None,
                        help="train A on this many images only")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    pin_threads(args.threads)
    name, train_images, test_images = load_images(args.data)
    records = split_tasks(name, train_images, test_images, 0)
    if args.a_subset is not None:
        a = records[0]
        keep = np.sort(np.random.default_rng(0).permutation(len(a.labels))[:args.a_subset])
        records = (Images(a.images[keep], a.labels[keep], a.classes, a.source),) + records[1:]
    scale = 16.0 if name == "digits" else 255.0
    data_sets = [image_dataset(r, scale=scale) for r in records]
    a, _, b, b_test = records
    print(f"task A: {len(a.labels):,} images of {len(a.classes)} classes; task B: "
          f"{b.classes[0]} vs {b.classes[1]}, {len(b.labels)} training / "
          f"{len(b_test.labels):,} test images")

    table = {}
    for seed in range(args.seeds):
        for key, value in run(seed, name, data_sets, args).items():
            table.setdefault(key, []).append(value)
    print(f"\n| {f'model ({args.seeds} seed(s))':<38} | test accuracy | per seed")
    print(f"|{'-' * 40}|{'-' * 15}|{'-' * 10}")
    for key, values in table.items():
        print(f"| {key:<38} | {np.mean(values):>13.2%} | "
              + " ".join(f"{v:.1%}" for v in values))
    scratch = np.mean(table["1. B from scratch"])
    best = max((k for k in table if k.startswith(("2", "3", "4"))),
               key=lambda k: np.mean(table[k]))
    error_ratio = (1 - np.mean(table[best])) / max(1 - scratch, 1e-9)
    print(f"best reuse: '{best}': error rate {1 - np.mean(table[best]):.2%} vs "
          f"{1 - scratch:.2%} from scratch ({error_ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
