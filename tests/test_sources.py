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
    load_train_labels,
    write_idx,
)
from torch_ae_sad.dataset_loaders.sources import SYSTEM_DIRS, sha256_of, verify_file


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
    with pytest.raises(ValueError, match=r"^dataset: unknown dataset 'svhn'.*cifar10.*mnist"):
        load_dataset("svhn")
    with pytest.raises(ValueError, match=r"^dataset: unknown dataset \['mnist'\]"):
        load_train_labels(["mnist"])


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


def test_train_labels_alone_from_the_folder_load_dataset_uses(idx_folder, tiny_data):
    labels = load_train_labels("mnist", root=idx_folder)
    np.testing.assert_array_equal(labels, tiny_data[1])
    assert labels.dtype == np.int64 and not labels.flags.writeable
    assert load_train_labels("mnist", root=idx_folder) is labels  # cached
    # the images are not read: a broken images file does not matter to the labels
    broken = idx_folder / "train-images-idx3-ubyte.gz"
    broken.write_bytes(broken.read_bytes()[:30])
    np.testing.assert_array_equal(load_train_labels("fashion_mnist", root=idx_folder),
                                  tiny_data[1])


def test_train_labels_of_a_folder_without_the_files(tmp_path, monkeypatch):
    monkeypatch.setitem(SYSTEM_DIRS, "fashion_mnist", [])
    monkeypatch.setattr("torch_ae_sad.dataset_loaders.sources.PROJECT_ROOT", tmp_path)
    monkeypatch.delenv("TORCH_AE_SAD_DATA", raising=False)
    with pytest.raises(DatasetNotFoundError, match="fashion_mnist"):
        load_train_labels("fashion_mnist", root=tmp_path / "empty")


def test_verify_names_a_corrupted_gzip_file(idx_folder):
    path = idx_folder / "train-labels-idx1-ubyte.gz"
    blob = bytearray(path.read_bytes())
    blob[12:20] = bytes(b ^ 0xFF for b in blob[12:20])
    path.write_bytes(bytes(blob))
    with pytest.raises(OSError, match=r"train-labels-idx1-ubyte\.gz: expected a complete gzip"):
        sha256_of(path)
    with pytest.raises(ChecksumError, match=r"train-labels-idx1-ubyte\.gz: expected sha256 "
                                            r"abc, found a broken gzip stream"):
        verify_file(path, "abc")


def _cifar_folder(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, fh)
    return folder


@pytest.mark.parametrize("content, match", [
    (pickle.dumps({b"data": 1})[:-5], r"data_batch_3: expected a CIFAR-10 python pickle, found "
                                      r"unreadable content"),
    (b"not a pickle at all", r"data_batch_3: expected a CIFAR-10 python pickle"),
    (pickle.dumps([1, 2]), r"data_batch_3: expected a CIFAR-10 batch dict, found a pickled list"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": ["a", "b"]}),
     r"data_batch_3: expected uint8 data and int labels"),
    (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}),
     r"data_batch_3: expected data of shape \(n, 3072\)"),
])
def test_cifar10_broken_batch_names_the_file(tmp_path, content, match):
    folder = _cifar_folder(tmp_path)
    (folder / "data_batch_3").write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load_dataset("cifar10", root=tmp_path)


@pytest.mark.parametrize("name, content, kw, match", [
    ("words.csv", "a,b,label\n1,2,0\n1,x,1\n", {},
     r"words\.csv: expected numbers in every data row"),
    ("ragged.csv", "1,2,0\n1,2\n", {}, r"ragged\.csv: expected rows of equal length, found "
                                       r"lengths \[2, 3\]"),
    ("header.csv", "a,b,label\n", {}, r"header\.csv: expected data rows after the header"),
    ("index.csv", "1,2,0\n", {"label_column": 5}, r"index\.csv: expected a label column index "
                                                   r"below 3, found 5"),
    ("binary.csv", b"\xff\xfe\x00\x81\x9c", {}, r"binary\.csv: expected"),
    ("broken.npz", b"PK\x03\x04 not really a zip", {}, r"broken\.npz: expected an \.npz archive"),
    ("pickled.npz", None, {}, r"pickled\.npz: expected an \.npz archive"),
    ("single.npz", None, {}, r"single\.npz: expected an \.npz archive .*single \.npy array"),
    ("broken.mat", b"MATLAB 5.0 MAT-file" + bytes(200), {}, r"broken\.mat: expected"),
])
def test_tabular_read_errors_name_the_file(tmp_path, name, content, kw, match):
    path = tmp_path / name
    if name == "pickled.npz":
        np.savez(path, X=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    elif name == "single.npz":
        with open(path, "wb") as fh:
            np.save(fh, np.zeros(3))
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load_tabular(path, **kw)


def test_tabular_csv_skips_blank_lines_and_takes_negative_index(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("1,2,0\n\n3,4,1\n\n")
    X, y = load_tabular(path, label_column=-1)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(y, [0, 1])
