import numpy as np
import pytest

from torch_ae_sad.dataset_loaders import many_vs_many, one_vs_all, tabular_split


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
