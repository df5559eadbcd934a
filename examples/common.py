"""Shared pieces of the examples: thread pinning, the image data with a fallback, and
the results folder. Each example is a script (`python -m examples.NAME --help`)."""
import pathlib

import numpy as np

import engine.data as data


def pin_threads(n):
    """Give torch (when installed), Numba and the BLAS library the same thread count,
    so timings compare engines, not thread counts."""
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    threadpool_limits(n)
    try:
        import torch
        torch.set_num_threads(n)
    except ImportError:
        pass


def results_dir(path):
    folder = pathlib.Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stratified_split(labels, fraction, seed):
    """Index arrays (first, second) with `fraction` of each class in the second."""
    rng = np.random.default_rng(seed)
    first, second = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cut = int(round(len(idx) * fraction))
        second.append(idx[:cut])
        first.append(idx[cut:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))


def load_images(which="auto", seed=0):
    """(name, train Images, test Images): Fashion-MNIST's own split when its files are
    installed (which='auto' or 'fashion'), else scikit-learn's digits split 80/20
    stratified. Prints what it found."""
    if which in ("auto", "fashion"):
        try:
            train = data.load_fashion_mnist("train")
            test = data.load_fashion_mnist("test")
            print(f"data: Fashion-MNIST from {train.source} ({len(train.labels):,} train / "
                  f"{len(test.labels):,} test, 28x28)")
            return "fashion-mnist", train, test
        except data.DatasetNotFoundError as error:
            if which == "fashion":
                raise
            print(f"data: Fashion-MNIST not found ({error}); using the digits instead")
    digits = data.load_digits()
    train_idx, test_idx = stratified_split(digits.labels, 0.2, seed)
    pick = lambda idx: data.Images(digits.images[idx], digits.labels[idx],   # noqa: E731
                                   digits.classes, digits.source)
    print(f"data: {digits.source} ({len(train_idx):,} train / {len(test_idx):,} test, 8x8)")
    return "digits", pick(train_idx), pick(test_idx)


def subset(record, n, seed):
    """The first n of a seeded permutation of `record` (all of it when n is None)."""
    if n is None or n >= len(record.labels):
        return record
    idx = np.sort(np.random.default_rng(seed).permutation(len(record.labels))[:n])
    return data.Images(record.images[idx], record.labels[idx], record.classes, record.source)
