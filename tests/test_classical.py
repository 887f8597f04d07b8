import numpy as np
import pytest
from conftest import make_images
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from torch_ae_sad.model.base import DETECTORS
from torch_ae_sad.model.detectors.classical import (
    KNN,
    LOF,
    OCSVM,
    BaseClassical,
    DBSCANDetector,
    IForest,
    RandomGuess,
)

#: class -> hyper-parameters that suit the synthetic data (DBSCAN needs a wider eps in 5-d).
TABULAR = {IForest: {}, OCSVM: {}, KNN: {}, LOF: {}, DBSCANDetector: {"eps": 1.5},
           RandomGuess: {}}
IMAGES = {**TABULAR, DBSCANDetector: {"eps": 1.0}}
ALL = list(TABULAR)
PCA_BASED = [KNN, LOF, OCSVM, DBSCANDetector]


def gaussian(n_normal=300, n_anomalies=30, d=5, shift=4.0, seed=0):
    """Standard normals and anomalies shifted by ``shift`` in every coordinate; y = 1 anomaly."""
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(size=(n_normal, d)), rng.normal(size=(n_anomalies, d)) + shift]
    y = np.r_[np.zeros(n_normal, int), np.ones(n_anomalies, int)]
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def data():
    X_train, _ = gaussian(seed=0, n_anomalies=0)
    X_test, y_test = gaussian(seed=1)
    return X_train, X_test, y_test


@pytest.mark.parametrize("cls", ALL)
def test_fit_scores_and_auroc(cls, data):
    X_train, X_test, y_test = data
    model = cls(**TABULAR[cls])
    assert model.fit(X_train) is model
    assert model.decision_scores_.shape == (len(X_train),)
    scores = model.decision_function(X_test)
    assert scores.shape == (len(X_test),) and scores.dtype == np.float64
    auc = roc_auc_score(y_test, scores)
    if cls is RandomGuess:
        assert 0.35 < auc < 0.65
    else:
        assert auc > 0.9
    assert model.n_train_ == len(X_train)


@pytest.mark.parametrize("cls", ALL)
def test_predict_and_threshold(cls, data):
    X_train, X_test, _ = data
    model = cls(**TABULAR[cls], contamination=0.2).fit(X_train)
    pred = model.predict(X_test)
    assert set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, model.decision_function(X_test) > model.threshold_)
    assert model.threshold_ == pytest.approx(np.quantile(model.decision_scores_, 0.8))
    np.testing.assert_array_equal(model.labels_, model.decision_scores_ > model.threshold_)
    assert np.mean(model.labels_) == pytest.approx(0.2, abs=0.02)


@pytest.mark.parametrize("cls", ALL)
def test_clone_and_registry(cls):
    model = cls(**TABULAR[cls], contamination=0.05)
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert type(copy)(**copy.get_params()).get_params() == model.get_params()
    assert DETECTORS[cls.__name__] is cls
    assert "contamination" in model.get_params()


def test_random_state_where_sklearn_has_one():
    assert "random_state" in IForest().get_params()
    assert "random_state" in RandomGuess().get_params()
    assert "BaseClassical" not in DETECTORS
    assert all(issubclass(c, BaseClassical) and c.train_on == "normal" for c in ALL)
    assert {c for c in ALL if c.leave_one_out} == {KNN, LOF}


@pytest.mark.parametrize("cls", ALL)
def test_training_scores_vs_decision_function(cls, data):
    X_train, _, _ = data
    model = cls(**TABULAR[cls]).fit(X_train)
    same = np.allclose(model.decision_scores_, model.decision_function(X_train), rtol=1e-5)
    assert same != cls.leave_one_out


@pytest.mark.parametrize("cls", ALL)
def test_not_fitted(cls):
    with pytest.raises(NotFittedError):
        cls().decision_function(np.zeros((3, 5), np.float32))


@pytest.mark.parametrize("cls", ALL)
def test_images(cls):
    X, y = make_images(40, n_classes=6, seed=0)  # (n, 8, 8) uint8
    X = X[:, None]  # (n, 1, 8, 8)
    normal, anomalous = X[y == 0], X[y == 5]
    model = cls(**IMAGES[cls]).fit(normal)
    assert model.n_features_in_ == 64
    X_test = np.r_[normal[:20], anomalous]
    y_test = np.r_[np.zeros(20, int), np.ones(len(anomalous), int)]
    scores = model.decision_function(X_test)
    assert scores.shape == (len(X_test),)
    # flattened input scores the same
    np.testing.assert_allclose(model.decision_function(X_test.reshape(len(X_test), -1)), scores)
    if cls is not RandomGuess:
        assert roc_auc_score(y_test, scores) > 0.9


@pytest.mark.parametrize("cls", ALL)
def test_labelled_anomalies_excluded_from_training(cls, data):
    X_train, _, _ = data
    X_anom, _ = gaussian(n_normal=0, n_anomalies=20, seed=5)
    X = np.r_[X_train, X_anom]
    y = np.r_[np.zeros(len(X_train), int), np.ones(len(X_anom), int)]
    with_labels = cls(**TABULAR[cls]).fit(X, y)
    normal_only = cls(**TABULAR[cls]).fit(X_train)
    assert with_labels.n_train_ == len(X_train)
    assert with_labels.decision_scores_.shape == (len(X),)
    if cls is not RandomGuess:
        # same model as without the anomalies: same scores of new data
        X_new, _ = gaussian(seed=9)
        np.testing.assert_allclose(with_labels.decision_function(X_new),
                                   normal_only.decision_function(X_new), rtol=1e-5)
        # the labelled anomalies get high training scores (they were not fitted on)
        assert with_labels.decision_scores_[y == 1].min() > np.median(
            with_labels.decision_scores_[y == 0])


def test_knn_training_set_and_leave_one_out(data):
    X_train, _, _ = data
    X_anom, _ = gaussian(n_normal=0, n_anomalies=20, seed=5)
    X = np.r_[X_train, X_anom]
    y = np.r_[np.zeros(len(X_train), int), np.ones(len(X_anom), int)]
    model = KNN(n_neighbors=1).fit(X, y)
    assert model.nn_.n_samples_fit_ == (y == 0).sum()
    # training samples are not their own neighbour: nonzero distance
    assert (model.decision_scores_ > 0).all()
    # their score is the distance to the nearest *other* normal sample
    d = np.linalg.norm(X_train[:, None] - X_train[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(model.decision_scores_[y == 0], d.min(axis=1), rtol=1e-4)
    # new data (and the labelled anomalies) are scored against every training sample
    np.testing.assert_allclose(model.decision_function(X_train), 0, atol=1e-3)


def test_knn_methods(data):
    X_train, X_test, _ = data
    largest = KNN(n_neighbors=5).fit(X_train).decision_function(X_test)
    mean = KNN(n_neighbors=5, aggregation="mean").fit(X_train).decision_function(X_test)
    assert (mean <= largest + 1e-6).all() and not np.allclose(mean, largest)
    with pytest.raises(ValueError, match="aggregation"):
        KNN(aggregation="median").fit(X_train)
    with pytest.raises(ValueError, match="n_neighbors"):
        KNN(n_neighbors=len(X_train)).fit(X_train)


def test_lof_training_scores_leave_one_out(data):
    X_train, _, _ = data
    model = LOF().fit(X_train)
    np.testing.assert_allclose(model.decision_scores_, -model.model_.negative_outlier_factor_)


@pytest.mark.parametrize("cls", PCA_BASED)
def test_pca_components(cls, data):
    X_train, X_test, y_test = data
    kwargs = {**TABULAR[cls], "pca_components": 2}
    if cls is DBSCANDetector:
        kwargs["eps"] = 0.5
    model = cls(**kwargs).fit(X_train)
    assert model.pca_.n_components_ == 2
    assert model._features(X_test).shape == (len(X_test), 2)
    assert roc_auc_score(y_test, model.decision_function(X_test)) > 0.9
    assert cls(**TABULAR[cls]).fit(X_train).pca_ is None
    with pytest.raises(ValueError, match="pca_components"):
        cls(**{**kwargs, "pca_components": 6}).fit(X_train)


def test_pca_on_images():
    X, y = make_images(40, n_classes=6, seed=0)
    model = KNN(pca_components=3).fit(X[y == 0][:, None])
    assert model.nn_.n_features_in_ == 3
    assert model.decision_function(X[:5]).shape == (5,)


def test_dbscan_no_core_point(data):
    X_train, _, _ = data
    with pytest.raises(ValueError, match=r"no core point.*eps=0\.01.*min_samples=5.*larger eps"):
        DBSCANDetector(eps=0.01).fit(X_train)


def test_dbscan_core_points_score_zero(data):
    X_train, _, _ = data
    model = DBSCANDetector(eps=1.5).fit(X_train)
    core = model.dbscan_.core_sample_indices_
    assert len(core) > 0
    np.testing.assert_allclose(model.decision_scores_[core], 0, atol=1e-6)


def test_random_guess_deterministic(data):
    X_train, X_test, _ = data
    a = RandomGuess(random_state=3).fit(X_train)
    b = RandomGuess(random_state=3).fit(X_train)
    c = RandomGuess(random_state=4).fit(X_train)
    np.testing.assert_array_equal(a.decision_function(X_test), b.decision_function(X_test))
    np.testing.assert_array_equal(a.decision_function(X_test), a.decision_function(X_test))
    assert not np.array_equal(a.decision_function(X_test), c.decision_function(X_test))
    assert ((a.decision_scores_ >= 0) & (a.decision_scores_ < 1)).all()


def test_iforest_seeded(data):
    X_train, X_test, _ = data
    a = IForest(random_state=1).fit(X_train).decision_function(X_test)
    b = IForest(random_state=1).fit(X_train).decision_function(X_test)
    c = IForest(random_state=2).fit(X_train).decision_function(X_test)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.slow
def test_mnist_iforest_smoke():
    from torch_ae_sad.dataset_loaders import one_vs_all

    s = one_vs_all("mnist", 1, labelled=0)
    model = IForest().fit(s.X_train, s.y_train)
    auc = roc_auc_score(s.y_test, model.decision_function(s.X_test))
    assert auc > 0.9
