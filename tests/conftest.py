"""Shared fixtures: small synthetic datasets built by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from torch_ae_sad.dataset_loaders.idx import write_idx

# One intra-op thread: tiny models gain nothing from two, and on a loaded 2-core machine two
# spinning OpenMP threads per process make training tens of times slower.
torch.set_num_threads(1)

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def make_images(n_per_class: int, n_classes: int = 10, size: int = 8, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is a bright horizontal bar at row ``class % size`` plus noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    X = rng.integers(0, 40, size=(len(y), size, size)).astype(np.uint8)
    for c in range(n_classes):
        X[y == c, c % size, :] = 220
        X[y == c, :, (c * 3) % size] = 180
    order = rng.permutation(len(y))
    return X[order], y[order]


@pytest.fixture(scope="session")
def tiny_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test): 10 classes of 8x8 uint8 images, 40 / 20 per class."""
    x_tr, y_tr = make_images(40, seed=1)
    x_te, y_te = make_images(20, seed=2)
    return x_tr, y_tr, x_te, y_te


@pytest.fixture()
def idx_folder(tmp_path: Path, tiny_data) -> Path:
    """A folder with the four MNIST-named IDX files (gzip) of ``tiny_data``."""
    x_tr, y_tr, x_te, y_te = tiny_data
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", x_tr)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y_tr.astype(np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", x_te)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", y_te.astype(np.uint8))
    return tmp_path
