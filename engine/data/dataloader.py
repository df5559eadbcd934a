"""DataLoader: minibatches over a dataset, optionally shuffled, reproducibly.

    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True,
                        generator=eg.Generator(0))
    for xb, yb in loader:         # one pass = one epoch; each pass draws a new order
        ...

Shuffling draws a permutation from `generator` (default: the engine's default
generator, which eg.manual_seed seeds) at the start of every pass, so the same seed
gives the same sequence of epochs. Batches come from the dataset's `get_batch`
when it has one (TensorDataset: one gather per tensor), otherwise from
`collate_fn([dataset[i] for i in batch])`.
"""
import math

import numpy as np

from engine import creation
from engine.tensor import Tensor


def default_collate(samples):
    """A list of samples -> one batch, as torch's default_collate: tensors and numpy
    arrays are stacked along a new first dim; Python ints become an int64 tensor,
    floats a float64 one, bools a bool one; tuples/lists and dicts are collated field
    by field; strings stay a list."""
    first = samples[0]
    if isinstance(first, Tensor):
        return creation.from_numpy(np.stack([s.numpy() for s in samples]))
    if isinstance(first, np.ndarray):
        return creation.from_numpy(np.stack(samples))
    if isinstance(first, (bool, np.bool_)):
        return creation.tensor(np.asarray(samples, dtype=np.bool_))
    if isinstance(first, (int, np.integer)):
        return creation.tensor(np.asarray(samples, dtype=np.int64))
    if isinstance(first, (float, np.floating)):
        return creation.tensor(np.asarray(samples, dtype=np.float64))
    if isinstance(first, str):
        return list(samples)
    if isinstance(first, dict):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise ValueError("default_collate: each element in the batch should be of equal "
                             "size")
        return type(first)(default_collate(list(field)) for field in zip(*samples)) \
            if isinstance(first, tuple) else [default_collate(list(f)) for f in zip(*samples)]
    raise TypeError(f"default_collate: don't know how to batch {type(first).__name__}. Hint: "
                    f"pass collate_fn=")


class DataLoader:
    """Iterate over `dataset` in batches of `batch_size`.

    shuffle: a new random order every pass, drawn from `generator`; drop_last: skip a
    final batch smaller than batch_size; collate_fn: how to merge a list of samples
    (default_collate). len(loader) is the number of batches per pass.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False,
                 generator=None, collate_fn=None):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size should be a positive integer, got "
                             f"{batch_size!r}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator
        self.collate_fn = collate_fn

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self):
        n = len(self.dataset)
        if self.shuffle:
            return (self.generator or creation.default_generator).rng.permutation(n)
        return np.arange(n)

    def __iter__(self):
        order = self._order()
        get_batch = getattr(self.dataset, "get_batch", None) if self.collate_fn is None \
            else None
        collate = self.collate_fn or default_collate
        for b in range(len(self)):
            indices = order[b * self.batch_size:(b + 1) * self.batch_size]
            if get_batch is not None:
                yield get_batch(indices)
            else:
                yield collate([self.dataset[int(i)] for i in indices])

    def __repr__(self):
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last})")
