"""One test over every registered detector: a new detector is tested for free."""

import inspect

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from torch_ae_sad.model import DETECTORS

#: Small settings applied where a detector takes the parameter.
FAST = {"epochs": 2, "batch_size": 16, "hidden_dims": (16, 4), "channels": (4, 8),
        "rep_dim": 8, "pretrain_epochs": 1, "verbose": 0, "n_estimators": 20,
        "n_neighbors": 3, "eps": 50.0, "min_samples": 2}


def fast(cls, **extra):
    accepted = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in {**FAST, **extra}.items() if k in accepted})


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    X = (rng.random((48, 1, 28, 28)) * 0.2).astype(np.float32)
    X[:, 0, 10:14, :] += 0.7  # normal pattern: a horizontal bar
    anomalies = (rng.random((6, 1, 28, 28)) * 0.2).astype(np.float32)
    anomalies[:, 0, :, 10:14] += 0.7  # a vertical bar
    return np.r_[X, anomalies], np.r_[np.zeros(48, int), np.ones(6, int)]


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_fit_score_predict_clone(name, images):
    X, y = images
    det = fast(DETECTORS[name])
    with pytest.raises(NotFittedError):
        det.decision_function(X)
    twin = clone(det)
    assert twin.get_params() == det.get_params()
    assert det.fit(X, y) is det
    scores = det.decision_function(X)
    assert scores.shape == (len(X),) and np.isfinite(scores).all()
    if not getattr(det, "leave_one_out", False):  # KNN / LOF: training samples left out
        np.testing.assert_allclose(det.decision_scores_, scores, rtol=1e-4, atol=1e-6)
    pred = det.predict(X)
    assert set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, (scores > det.threshold_).astype(int))
    # flattened and (n, H, W) input give the same scores
    flat = det.decision_function(X.reshape(len(X), -1))
    np.testing.assert_allclose(flat, scores, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_common_bad_input(name, images):
    X, y = images
    det = fast(DETECTORS[name])
    bad = X.copy()
    bad[3, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="X: expected finite values"):
        det.fit(bad, y)
    with pytest.raises(ValueError, match=r"y: expected 54 labels"):
        det.fit(X, y[:10])
    with pytest.raises(ValueError, match=r"y: expected 0 .*found values \[-1\]"):
        det.fit(X, np.where(y == 1, -1, 0))
    with pytest.raises(ValueError, match="only labelled anomalies"):
        det.fit(X, np.ones(len(X), int))
