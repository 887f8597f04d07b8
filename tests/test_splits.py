import math
import re

import numpy as np
import pytest

from torch_ae_sad.dataset_loaders import (
    check_split_request,
    many_vs_many,
    one_vs_all,
    tabular_split,
    write_idx,
)
from torch_ae_sad.dataset_loaders import sources as src
from torch_ae_sad.dataset_loaders.splits import _build


def test_one_vs_all_counts_and_labels(tiny_data):
    s = one_vs_all(tiny_data, 3, labelled=7, val_fraction=0.25, seed=0)
    assert s.meta["n_train_normal"] == 30 and s.meta["n_val_normal"] == 10
    assert s.y_train.sum() == 7 and len(s.y_train) == 37
    assert set(s.classes_train[s.y_train == 0]) == {3}
    assert 3 not in set(s.classes_train[s.y_train == 1])
    # official test part: every class, anomaly = not 3
    np.testing.assert_array_equal(s.y_test, (s.classes_test != 3).astype(int))
    assert s.X_train.dtype == np.float32 and s.X_train.shape[1:] == (1, 8, 8)
    assert 0.0 <= s.X_train.min() and s.X_train.max() <= 1.0


def test_labelled_fraction_follows_deep_sad(tiny_data):
    s = one_vs_all(tiny_data, 0, labelled=0.2, val_fraction=0.0)
    # gamma_l = n_l / (n_u + n_l)
    assert s.meta["n_labelled"] == round(0.2 * 40 / 0.8)
    assert s.y_train.mean() == pytest.approx(0.2)


def test_known_classes_and_pollution(tiny_data):
    s = many_vs_many(tiny_data, [0, 1], [5, 6, 7], labelled=10, known_classes=[6],
                     pollution=0.2, val_fraction=0.0, seed=3)
    assert set(s.classes_train[s.y_train == 1]) == {6}
    polluted = (s.y_train == 0) & (s.y_train_true == 1)
    assert polluted.sum() == s.meta["n_polluted"] == 20  # 0.2 = 20 / (80 + 20)
    assert set(s.classes_train[polluted]) <= {5, 6, 7}
    assert set(s.classes_test) == {0, 1, 5, 6, 7}
    assert s.y_test.sum() == 60


def test_deterministic_per_seed(tiny_data):
    a = one_vs_all(tiny_data, 2, labelled=5, seed=11)
    b = one_vs_all(tiny_data, 2, labelled=5, seed=11)
    c = one_vs_all(tiny_data, 2, labelled=5, seed=12)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.X_train, c.X_train)


def test_no_global_random_state(tiny_data):
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    one_vs_all(tiny_data, 2, labelled=5, pollution=0.1)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("kwargs, match", [
    ({"normal_classes": [1, 2], "anomaly_classes": [2, 3]}, r"disjoint.*\[2\]"),
    ({"normal_classes": [], "anomaly_classes": [2]}, "normal_classes: expected at least one"),
    ({"normal_classes": [1], "anomaly_classes": []}, "anomaly_classes: expected at least one"),
    ({"normal_classes": [1], "anomaly_classes": [2], "labelled": 41},
     r"labelled: expected at most 40 .*found a request for 41"),
    ({"normal_classes": [1], "anomaly_classes": [12]}, r"anomaly_classes: expected classes.*\[12\]"),
    ({"normal_classes": [1], "anomaly_classes": [2, 3], "known_classes": [4]},
     r"known_classes: expected a subset"),
    ({"normal_classes": [1], "anomaly_classes": [2], "labelled": 1.5}, r"labelled: expected a fraction"),
])
def test_bad_input(tiny_data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        many_vs_many(tiny_data, **kwargs)


def test_tabular_split_protocol():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) * 10 + 5
    y = np.r_[np.zeros(150, int), np.ones(50, int)]
    s = tabular_split(X, y, labelled=5, seed=0)
    assert s.meta["n_train_normal"] == 90 and s.y_train.sum() == 5
    assert len(s.y_val) == 30 + 10 and s.y_val.sum() == 10 and s.y_test.sum() == 10
    assert s.X_train.min() == pytest.approx(0) and s.X_train.max() == pytest.approx(1)


@pytest.mark.slow
def test_mnist_one_vs_all_smoke():
    s = one_vs_all("mnist", 7, labelled=60, seed=0)
    assert s.X_train.shape[1:] == (1, 28, 28) and s.y_train.sum() == 60
    assert s.meta["n_train_normal"] + s.meta["n_val_normal"] == 6265
    assert len(s.y_test) == 10000 and s.y_test.sum() == 10000 - 1028


def test_tabular_split_fixed_orders():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = np.r_[np.zeros(50, int), np.ones(10, int)]
    rng.shuffle(y)
    normals, anomalies = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    n_order, a_order = rng.permutation(50), rng.permutation(10)
    s = tabular_split(X, y, scale=False, seed=3, orders=(n_order, a_order))
    # normals: train, val, test in the given order; anomalies: val, test, pool
    assert sorted(map(tuple, s.X_train)) == sorted(map(tuple, X[normals[n_order[:30]]]))
    np.testing.assert_array_equal(s.X_val, X[np.r_[normals[n_order[30:40]],
                                                   anomalies[a_order[:2]]]])
    np.testing.assert_array_equal(s.X_test, X[np.r_[normals[n_order[40:50]],
                                                    anomalies[a_order[2:4]]]])
    assert s.meta["fixed_orders"] and s.y_val.sum() == 2 and s.y_test.sum() == 2
    # the seed only reorders the training part
    other = tabular_split(X, y, scale=False, seed=4, orders=(n_order, a_order))
    np.testing.assert_array_equal(other.X_test, s.X_test)
    assert sorted(map(tuple, other.X_train)) == sorted(map(tuple, s.X_train))
    # without orders, the default split is unchanged by the new keyword
    np.testing.assert_array_equal(tabular_split(X, y, seed=3).X_test,
                                  tabular_split(X, y, seed=3, orders=None).X_test)


@pytest.mark.parametrize("orders", [
    (np.arange(49), np.arange(10)),
    (np.arange(50), np.r_[np.arange(9), 0]),
    (np.arange(50.0), np.arange(10)),
    (np.arange(50),),
])
def test_tabular_split_bad_orders(orders):
    y = np.r_[np.zeros(50, int), np.ones(10, int)]
    with pytest.raises(ValueError, match="orders: expected"):
        tabular_split(np.zeros((60, 2)), y, orders=orders)


# --- check_split_request: the same rules as building, without building -------------------

#: (scenario, normal_classes, anomaly_classes, overrides of REQUEST, expected message or None)
REQUEST = {"labelled": 5, "known_classes": None, "pollution": 0.0, "val_fraction": 0.1,
           "val_labelled": 0}
GRID = [
    ("one_vs_all", [3], None, {"labelled": 7, "val_fraction": 0.25}, None),
    ("one_vs_all", [0], None, {"labelled": 0.2, "pollution": 0.1, "val_labelled": 3}, None),
    ("many_vs_many", [0, 1], [5, 6, 7], {"labelled": 10, "known_classes": [6],
                                         "pollution": 0.2, "val_labelled": 0.2}, None),
    ("many_vs_many", [1], [2], {"labelled": 40}, None),
    ("many_vs_many", [1], [2], {"labelled": 30, "val_labelled": 10}, None),
    # 36 training normals; pollution 0.36 -> 20 of the 20 anomalies left, 0.37 -> 21
    ("many_vs_many", [1], [2], {"labelled": 20, "pollution": 0.36}, None),
    ("many_vs_many", (2, 1), np.array([4, 3]), {"known_classes": (4,)}, None),
    ("many_vs_many", [1], [2], {"labelled": 20, "pollution": 0.37},
     r"pollution: expected at most 20 unlabelled anomalies left in classes \[2\], found a "
     r"request for 21 \(pollution=0.37\)"),
    ("many_vs_many", [1], [2], {"labelled": 41},
     r"labelled: expected at most 40 labelled anomalies from classes \[2\], found a request "
     r"for 41$"),
    ("many_vs_many", [1], [2], {"labelled": 0, "val_labelled": 41},
     r"val_labelled: expected at most 40 validation anomalies .*request for 41$"),
    ("many_vs_many", [1], [2], {"labelled": 30, "val_labelled": 11},
     r"labelled and val_labelled: expected at most 40 .*request for 30 \+ 11$"),
    ("many_vs_many", [1], [2], {"labelled": 0.6},
     r"labelled: expected at most 40 .*request for 54 \(labelled=0.6\)"),
    ("one_vs_all", [3], None, {"labelled": -1}, r"labelled: expected a count >= 0, found -1"),
    ("one_vs_all", [3], None, {"labelled": "ten"},
     r"labelled: expected an int count or a float fraction, found 'ten'"),
    ("one_vs_all", [3], None, {"labelled": True}, r"labelled: expected an int count"),
    ("one_vs_all", [3], None, {"labelled": None}, r"labelled: expected an int count"),
    ("one_vs_all", [3], None, {"labelled": 1.5}, r"labelled: expected a fraction in \[0, 1\)"),
    ("one_vs_all", [3], None, {"labelled": 60.0},
     r"labelled: expected a fraction in \[0, 1\), found 60.0 \(give an int for a count\)"),
    ("one_vs_all", [3], None, {"val_labelled": -2}, r"val_labelled: expected a count >= 0"),
    ("one_vs_all", [3], None, {"val_labelled": "x"}, r"val_labelled: expected an int count"),
    ("one_vs_all", [3], None, {"pollution": 1}, r"pollution: expected a fraction in \[0, 1\), "
     r"found 1$"),
    ("one_vs_all", [3], None, {"pollution": -0.1}, r"pollution: expected a fraction"),
    ("one_vs_all", [3], None, {"pollution": math.nan}, r"pollution: expected a fraction.*nan"),
    ("one_vs_all", [3], None, {"pollution": "a"}, r"pollution: expected a float fraction"),
    ("one_vs_all", [3], None, {"val_fraction": 1},
     r"val_fraction: expected a fraction in \[0, 1\), found 1$"),
    ("one_vs_all", [3], None, {"val_fraction": "0.1"},
     r"val_fraction: expected a float fraction in \[0, 1\), found '0.1'"),
    ("one_vs_all", [3], None, {"val_fraction": None}, r"val_fraction: expected a float"),
    ("one_vs_all", [12], None, {}, r"normal_classes: expected classes among \[0, 1, 2, 3, 4, "
     r"5, 6, 7, 8, 9\], found \[12\]"),
    ("one_vs_all", [], None, {}, r"normal_classes: one_vs_all takes exactly one normal class"),
    ("one_vs_all", [1, 2], None, {}, r"normal_classes: one_vs_all takes exactly one normal "
     r"class, found \[1, 2\]"),
    ("one_vs_all", [3], [5], {}, r"anomaly_classes: one_vs_all uses every other class as "
     r"anomalous; give None, or use scenario many_vs_many for anomaly classes \[5\]"),
    ("one_vs_all", ["3"], None, {}, r"normal_classes: expected a list of int classes"),
    ("one_vs_all", [1.5], None, {}, r"normal_classes: expected a list of int classes"),
    ("one_vs_all", [True], None, {}, r"normal_classes: expected a list of int classes"),
    ("one_vs_all", [3], None, {"known_classes": [3]},
     r"known_classes: expected a subset of anomaly_classes \[0, 1, 2, 4, .*found \[3\]"),
    ("many_vs_many", "3", [4], {}, r"normal_classes: expected a list of int classes, found '3'"),
    ("many_vs_many", 3, [4], {}, r"normal_classes: expected a list of int classes, found 3"),
    ("many_vs_many", [1, 1], [4], {}, r"normal_classes: expected distinct classes, found \[1\]"),
    ("many_vs_many", [], [2], {}, r"normal_classes: expected at least one class"),
    ("many_vs_many", [1], [], {}, r"anomaly_classes: expected at least one class"),
    ("many_vs_many", [1], None, {}, r"anomaly_classes: many_vs_many expects a non-empty list"),
    ("many_vs_many", [1, 2], [2, 3], {}, r"normal_classes and anomaly_classes: expected "
     r"disjoint lists, found \[2\] in both"),
    ("many_vs_many", [1], [12], {}, r"anomaly_classes: expected classes among .*\[12\]"),
    ("many_vs_many", [1], [2, 3], {"known_classes": [4]},
     r"known_classes: expected a subset of anomaly_classes \[2, 3\], found \[4\]"),
    ("many_vs_many", [1], [2, 3], {"known_classes": [12]}, r"known_classes: expected classes"),
    ("many_vs_many", [1], [2, 3], {"known_classes": []},
     r"known_classes: expected None \(all anomaly classes\) or a non-empty list"),
    ("many_vs_many", [1], [2, 3], {"known_classes": "2"}, r"known_classes: expected a list"),
    ("bogus", [1], [2], {}, r"scenario: expected one of \('one_vs_all', 'many_vs_many'\), "
     r"found 'bogus'"),
]


def _build_error(data, scenario, normal, anomaly, kwargs) -> str | None:
    """The message building the split raises (None: it builds), through the public builders
    when the request maps onto them, else through their common ``_build``."""
    try:
        if scenario == "one_vs_all" and anomaly is None and isinstance(normal, list) \
                and len(normal) == 1:
            one_vs_all(data, normal[0], seed=0, **kwargs)
        elif scenario == "many_vs_many":
            many_vs_many(data, normal, anomaly, seed=1, **kwargs)
        else:
            _build(data, normal, anomaly, scenario, seed=2, **kwargs)
    except ValueError as exc:
        return str(exc)
    return None


def _check_error(data, scenario, normal, anomaly, kwargs) -> str | None:
    try:
        check_split_request(data, scenario, normal, anomaly, **kwargs)
    except ValueError as exc:
        return str(exc)
    return None


@pytest.fixture()
def tiny_idx_name(tmp_path, monkeypatch, tiny_data):
    """``tiny_data`` registered as an IDX dataset ``tiny_idx`` (labels readable alone)."""
    folder = tmp_path / "tiny_idx"
    folder.mkdir()
    x_tr, y_tr, x_te, y_te = tiny_data
    write_idx(folder / "train-images-idx3-ubyte.gz", x_tr)
    write_idx(folder / "train-labels-idx1-ubyte.gz", y_tr.astype(np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", x_te)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", y_te.astype(np.uint8))
    monkeypatch.setenv(src.DATA_ENV, str(tmp_path))
    monkeypatch.setitem(src.DATASETS, "tiny_idx",
                        lambda root, verify: src._load_idx_dataset("tiny_idx", root, verify))
    monkeypatch.setitem(src.TRAIN_LABELS, "tiny_idx",
                        lambda root: src._load_idx_labels("tiny_idx", root))
    src._load_cached.cache_clear()
    src._labels_cached.cache_clear()
    yield "tiny_idx"
    src._load_cached.cache_clear()
    src._labels_cached.cache_clear()


@pytest.mark.parametrize("scenario, normal, anomaly, overrides, expected", GRID)
def test_check_split_request_agrees_with_building(tiny_data, tiny_idx_name, scenario, normal,
                                                  anomaly, overrides, expected):
    kwargs = {**REQUEST, **overrides}
    for data in (tiny_data, tiny_idx_name):
        checked = _check_error(data, scenario, normal, anomaly, kwargs)
        built = _build_error(data, scenario, normal, anomaly, kwargs)
        assert checked == built
        if expected is None:
            assert checked is None
        else:
            assert checked is not None and re.search(expected, checked), checked
            assert checked.split(":")[0] in {"scenario", "normal_classes", "anomaly_classes",
                                             "known_classes", "labelled", "val_labelled",
                                             "pollution", "val_fraction",
                                             "normal_classes and anomaly_classes",
                                             "labelled and val_labelled"}


def test_check_split_request_reads_only_the_labels(tiny_idx_name, tmp_path):
    images = tmp_path / "tiny_idx" / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:20])  # building would now fail on the images
    check_split_request(tiny_idx_name, "one_vs_all", [3], None, **REQUEST)
    with pytest.raises(ValueError, match=r"labelled: expected at most 40 "):
        check_split_request(tiny_idx_name, "many_vs_many", [1], [2],
                            **{**REQUEST, "labelled": 41})
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        one_vs_all(tiny_idx_name, 3)


def test_check_split_request_loads_the_labels_once(tiny_data, monkeypatch):
    calls = []

    def loader(root, verify):
        calls.append(root)
        return tiny_data

    monkeypatch.setitem(src.DATASETS, "tiny_counted", loader)
    src._labels_cached.cache_clear()
    src._load_cached.cache_clear()
    try:
        for normal in range(10):
            check_split_request("tiny_counted", "one_vs_all", [normal], None, **REQUEST)
        one_vs_all("tiny_counted", 4)  # built from the same cached load
    finally:
        src._labels_cached.cache_clear()
        src._load_cached.cache_clear()
    assert calls == [None]


def test_check_split_request_unknown_dataset_and_data_type(tiny_data):
    for data in ("svhn", ["not", "four"]):
        checked = _check_error(data, "one_vs_all", [1], None, REQUEST)
        assert checked is not None and checked.startswith("dataset: ")
        assert checked == _build_error(data, "one_vs_all", [1], None, REQUEST)
    # parameters are checked before the data is looked at, by both
    bad = {**REQUEST, "labelled": -1}
    assert _check_error("svhn", "one_vs_all", [1], None, bad) == \
        _build_error("svhn", "one_vs_all", [1], None, bad) == \
        "labelled: expected a count >= 0, found -1"


def test_check_split_request_on_embedded_mnist():
    """Labels only (the 60000 training labels of datasets/mnist), against the real counts."""
    request = {**REQUEST, "labelled": 60}
    check_split_request("mnist", "one_vs_all", [7], None, **request)
    with pytest.raises(ValueError) as err:
        check_split_request("mnist", "many_vs_many", [0], [5], **{**request, "labelled": 6000})
    assert str(err.value) == ("labelled: expected at most 5421 labelled anomalies from classes "
                              "[5], found a request for 6000")
