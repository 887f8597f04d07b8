import numpy as np
import pytest
from imblearn.under_sampling import TomekLinks

from torch_ae_sad.dataset_loaders import SAMPLERS, Split, undersample
from torch_ae_sad.dataset_loaders._samplers import KMeansBalancedUnderSampler


def blob_split(n_normal: int = 300, n_anom: int = 20, d: int = 6, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(0, 1, (n_normal, d)), rng.normal(2.5, 1, (n_anom, d))].astype(np.float32)
    y = np.r_[np.zeros(n_normal, int), np.ones(n_anom, int)]
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    return Split(X_train=X, y_train=y, X_val=X[:0], y_val=y[:0], X_test=X, y_test=y,
                 meta={"seed": seed}, y_train_true=y.copy(), classes_train=y.copy())


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("space", ["raw", "pca"])
def test_every_sampler_keeps_anomalies_and_rows(name, space):
    split = blob_split()
    new, rep = undersample(split, name, feature_space=space, n_components=3)
    kept = rep["kept_indices"]
    assert (new.y_train == 1).sum() == 20, "a labelled anomaly was dropped"
    np.testing.assert_array_equal(new.X_train, split.X_train[kept])
    np.testing.assert_array_equal(new.y_train, split.y_train[kept])
    assert rep["n_normal_before"] == 300 and rep["n_normal_after"] == (new.y_train == 0).sum()
    assert rep["n_normal_after"] <= 300 and rep["seconds"] >= 0
    assert new.meta["sampler"]["name"] == name
    assert len(np.unique(kept)) == len(kept)


@pytest.mark.parametrize("name", ["random", "nearmiss1", "nearmiss2", "kmeans_balanced"])
def test_ratio_is_exact_for_target_samplers(name):
    new, rep = undersample(blob_split(), name, ratio=0.3)
    assert rep["n_normal_after"] == 90


def test_cluster_centroids_keeps_real_samples():
    split = blob_split()
    new, rep = undersample(split, "cluster_centroids", ratio=0.2)
    assert 0 < rep["n_normal_after"] <= 60
    assert rep["params"]["feature_space"] == "raw"


def test_tomek_removes_exactly_the_majority_links():
    split = blob_split(seed=4)
    _, rep = undersample(split, "tomek")
    links = TomekLinks.is_tomek(split.y_train, _nn_of(split.X_train), class_type=[0])
    removed = np.setdiff1d(np.arange(len(split.y_train)), rep["kept_indices"])
    np.testing.assert_array_equal(removed, np.flatnonzero(links))


def _nn_of(X):
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X, return_distance=False)[:, 1]


def test_pca_space_is_recorded():
    _, rep = undersample(blob_split(), "enn", feature_space="pca", n_components=2)
    assert rep["params"]["feature_space"] == "pca" and rep["params"]["n_components"] == 2
    _, rep = undersample(blob_split(), "random", feature_space="pca")
    assert rep["params"]["feature_space"] is None  # random never looks at the samples


def test_deterministic_for_seed():
    a = undersample(blob_split(), "random", random_state=5)[1]["kept_indices"]
    b = undersample(blob_split(), "random", random_state=5)[1]["kept_indices"]
    c = undersample(blob_split(), "random", random_state=6)[1]["kept_indices"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_kmeans_balanced_draws_evenly():
    labels = np.r_[np.zeros(100, int), np.ones(5, int), np.full(50, 2)]
    pick = KMeansBalancedUnderSampler.balanced_draw(labels, 60, np.random.RandomState(0))
    counts = np.bincount(labels[pick], minlength=3)
    assert counts.tolist() == [28, 5, 27] or counts.tolist() == [27, 5, 28]
    assert len(np.unique(pick)) == 60


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "smote"}, r"unknown sampler 'smote'.*cluster_centroids"),
    ({"name": "random", "ratio": 1.5}, r"ratio: expected the fraction.*\(0, 1\], found 1.5"),
    ({"name": "random", "ratio": 0}, r"ratio: expected"),
    ({"name": "enn", "ratio": 0.5}, r"ratio: sampler 'enn' takes no target"),
    ({"name": "random", "feature_space": "umap"}, r"feature_space: expected one of"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        undersample(blob_split(), **kwargs)


def test_too_few_anomalies_for_nearmiss():
    with pytest.raises(ValueError, match=r"'nearmiss1': expected at least 3 labelled anomalies.*found 2"):
        undersample(blob_split(n_anom=2), "nearmiss1")


def test_no_normals():
    split = blob_split()
    split = split.replace(y_train=np.ones_like(split.y_train))
    with pytest.raises(ValueError, match="expected normal samples"):
        undersample(split, "random")


@pytest.mark.slow
def test_mnist_sampler_smoke():
    from torch_ae_sad.dataset_loaders import one_vs_all

    split = one_vs_all("mnist", 1, labelled=30)
    new, rep = undersample(split, "nearmiss1", ratio=0.25, feature_space="pca", n_components=20)
    assert rep["n_normal_after"] == round(0.25 * rep["n_normal_before"])
    assert new.y_train.sum() == 30
