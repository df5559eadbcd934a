"""Datasets: anything with __len__ and __getitem__(i) -> one sample.

A dataset may also offer `get_batch(indices)` -> one collated batch; DataLoader uses
it when present. TensorDataset does, with one gather per tensor instead of a Python
loop over samples and a stack — the difference between a data loader that costs
nothing and one that costs more than the model on small networks.
"""
import numpy as np

from engine import creation
from engine.tensor import Tensor


class Dataset:
    """Base class: subclasses define __getitem__(index) and __len__()."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} has no __getitem__. Hint: define "
                                  f"__getitem__(self, index) and __len__(self)")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} has no __len__")


def _as_tensor(value):
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return creation.from_numpy(value)
    raise TypeError(f"TensorDataset: expected tensors or numpy arrays, got "
                    f"{type(value).__name__}")


class TensorDataset(Dataset):
    """Samples are rows of tensors that share their first dimension:
    dataset[i] == (x[i], y[i]) for TensorDataset(x, y). numpy arrays are wrapped
    (sharing memory)."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: give at least one tensor")
        self.tensors = tuple(_as_tensor(t) for t in tensors)
        sizes = [t.shape[0] if t.ndim else None for t in self.tensors]
        if None in sizes or len(set(sizes)) != 1:
            shapes = ", ".join(str(tuple(t.shape)) for t in self.tensors)
            raise ValueError(f"TensorDataset: size mismatch between tensors ({shapes}). "
                             f"Hint: every tensor needs the same first dimension")

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]

    def get_batch(self, indices):
        """The rows `indices` (an int64 array) of every tensor, as one batch."""
        indices = np.asarray(indices, dtype=np.int64)
        return tuple(creation.from_numpy(np.ascontiguousarray(t.numpy()[indices]))
                     if t.device == "cpu" else t[creation.from_numpy(indices)]
                     for t in self.tensors)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order. Offers get_batch when the
    underlying dataset does."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        inner = getattr(dataset, "get_batch", None)
        if inner is not None:
            self.get_batch = lambda rows: inner(self.indices[np.asarray(rows, dtype=np.int64)])

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=None):
    """Split into non-overlapping Subsets of the given lengths (or fractions summing to
    1, as torch: remainders go one each to the first subsets), drawn with `generator`."""
    n = len(dataset)
    if all(isinstance(x, float) for x in lengths) and abs(sum(lengths) - 1) < 1e-9:
        counts = [int(np.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths sum to {sum(lengths)}, but the dataset has "
                         f"{n} samples")
    order = (generator or creation.default_generator).rng.permutation(n)
    subsets, start = [], 0
    for length in lengths:
        subsets.append(Subset(dataset, order[start:start + length]))
        start += length
    return subsets
