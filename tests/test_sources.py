import pickle

import numpy as np
import pytest
from conftest import MNIST_TEST_COUNTS, MNIST_TRAIN_COUNTS
from scipy.io import savemat

from torch_ae_sad.dataset_loaders import (
    ChecksumError,
    DatasetNotFoundError,
    load_dataset,
    load_tabular,
    write_idx,
)
from torch_ae_sad.dataset_loaders.sources import SYSTEM_DIRS


def test_idx_dataset_from_root(idx_folder, tiny_data):
    x_tr, y_tr, x_te, y_te = load_dataset("mnist", root=idx_folder)
    np.testing.assert_array_equal(x_tr, tiny_data[0])
    np.testing.assert_array_equal(y_te, tiny_data[3])
    assert y_tr.dtype == np.int64 and x_tr.dtype == np.uint8


def test_label_count_mismatch_named(idx_folder, tiny_data):
    write_idx(idx_folder / "t10k-labels-idx1-ubyte.gz", tiny_data[3][:-3].astype(np.uint8))
    with pytest.raises(ValueError, match=r"t10k-labels.*expected 200 labels.*found 197"):
        load_dataset("fashion_mnist", root=idx_folder)


def test_verify_detects_wrong_content(idx_folder):
    with pytest.raises(ChecksumError, match="expected sha256"):
        load_dataset("mnist", root=idx_folder, verify=True)


def test_missing_folder_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setitem(SYSTEM_DIRS, "fashion_mnist", [tmp_path / "system"])
    monkeypatch.setattr("torch_ae_sad.dataset_loaders.sources.PROJECT_ROOT", tmp_path)
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("fashion_mnist", root=tmp_path / "mine")
    msg = str(err.value)
    assert str(tmp_path / "mine") in msg and str(tmp_path / "system") in msg
    assert "dataset-fashion-mnist" in msg


def test_unknown_dataset_lists_known():
    with pytest.raises(ValueError, match=r"unknown dataset 'svhn'.*cifar10.*mnist"):
        load_dataset("svhn")


def test_cifar10_pickles(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    expected = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data = rng.integers(0, 256, size=(4, 3072), dtype=np.uint8)
        labels = [(i + j) % 10 for j in range(4)]
        expected[name] = (data, labels)
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x"}, fh)
    x_tr, y_tr, x_te, y_te = load_dataset("cifar10", root=tmp_path)
    assert x_tr.shape == (20, 3, 32, 32) and x_te.shape == (4, 3, 32, 32)
    # channel-first: the first 1024 values of a row are the red plane
    np.testing.assert_array_equal(x_tr[0, 0].ravel(), expected["data_batch_1"][0][0, :1024])
    np.testing.assert_array_equal(y_te, expected["test_batch"][1])


def test_digits():
    x_tr, y_tr, x_te, y_te = load_dataset("digits")
    assert x_tr.shape[1:] == (8, 8) and len(x_tr) + len(x_te) == 1797
    assert x_tr.max() == 255 and set(np.unique(y_te)) == set(range(10))


def test_tabular_formats(tmp_path):
    X = np.arange(20, dtype=float).reshape(10, 2)
    y = np.array([0] * 8 + [1] * 2)
    savemat(tmp_path / "a.mat", {"X": X, "y": y[:, None]})
    np.savez(tmp_path / "a.npz", X=X, y=y)
    np.savetxt(tmp_path / "a.csv", np.c_[X, y], delimiter=",", header="f1,f2,label",
               comments="")
    np.savetxt(tmp_path / "b.csv", np.c_[y, X], delimiter=",")
    for path, kw in [("a.mat", {}), ("a.npz", {}), ("a.csv", {"label_column": "label"}),
                     ("a.csv", {}), ("b.csv", {"label_column": 0})]:
        Xr, yr = load_tabular(tmp_path / path, **kw)
        np.testing.assert_allclose(Xr, X)
        np.testing.assert_array_equal(yr, y)


def test_tabular_bad_labels(tmp_path):
    np.savez(tmp_path / "bad.npz", X=np.zeros((3, 2)), y=np.array([0, 2, 1]))
    with pytest.raises(ValueError, match=r"bad\.npz: expected labels in \{0, 1\}, found \[0, 1, 2\]"):
        load_tabular(tmp_path / "bad.npz")


@pytest.mark.slow
def test_embedded_mnist_counts_and_checksums():
    x_tr, y_tr, x_te, y_te = load_dataset("mnist", verify=True)
    assert x_tr.shape == (60000, 28, 28) and x_te.shape == (10000, 28, 28)
    assert np.bincount(y_tr).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y_te).tolist() == MNIST_TEST_COUNTS


@pytest.mark.slow
def test_fashion_mnist_if_installed():
    try:
        x_tr, y_tr, x_te, y_te = load_dataset("fashion_mnist", verify=True)
    except DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    assert np.bincount(y_tr).tolist() == [6000] * 10
    assert np.bincount(y_te).tolist() == [1000] * 10
