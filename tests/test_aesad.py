import numpy as np
import pytest
import torch
from conftest import make_images
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from torch_ae_sad.model import AESAD, DETECTORS
from torch_ae_sad.model.detectors.ae_sad import TRANSFORMS

FAST = {"epochs": 15, "batch_size": 16, "hidden_dims": (32, 8), "verbose": 0}


def test_transforms():
    x = torch.tensor([0.0, 0.2, 0.5, 0.7, 1.0])
    torch.testing.assert_close(TRANSFORMS["F0"](x), torch.tensor([1.0, 0.8, 0.5, 0.3, 0.0]))
    torch.testing.assert_close(TRANSFORMS["F1"](x), torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0]))
    torch.testing.assert_close(TRANSFORMS["F2"](x), torch.tensor([0.5, 0.7, 1.0, 0.2, 0.5]))


def test_loss_weights_and_targets():
    model = AESAD(alpha=2.0)
    X = np.full((10, 4), 0.25, np.float32)
    y = np.array([0] * 8 + [1] * 2)
    model._prepare(X, y)
    assert model.rho_ == pytest.approx(2 / 8)
    assert model.anomaly_weight_ == pytest.approx(8.0)

    class Echo(torch.nn.Module):  # reconstructs perfectly
        def forward(self, x):
            return x, x

    losses = model._loss(Echo(), torch.as_tensor(X), torch.as_tensor(y))
    # normal: 0 error; anomaly target 1 - 0.25 = 0.75 vs 0.25 -> mse 0.25, times weight 8
    torch.testing.assert_close(losses, torch.tensor([0.0] * 8 + [2.0] * 2))


def test_learns_to_separate_labelled_anomaly_class(tiny_data):
    x_tr, y_tr, x_te, y_te = tiny_data
    normal = x_tr[y_tr == 0]
    anomalies = x_tr[y_tr == 5][:8]
    X = np.r_[normal, anomalies]
    y = np.r_[np.zeros(len(normal), int), np.ones(len(anomalies), int)]
    model = AESAD(**FAST, random_state=0).fit(X, y)
    mask = np.isin(y_te, [0, 5])
    auc = roc_auc_score(y_te[mask] == 5, model.decision_function(x_te[mask]))
    assert auc > 0.95
    assert len(model.history_["train_loss"]) == 15
    assert model.history_["train_loss"][-1] < model.history_["train_loss"][0]


def test_sklearn_contract(tiny_data):
    x_tr, y_tr, _, _ = tiny_data
    y = (y_tr == 3).astype(int)
    model = AESAD(**FAST, contamination=0.2)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    fitted = model.fit(x_tr, y)
    assert fitted is model
    assert model.decision_scores_.shape == (len(x_tr),)
    assert np.mean(model.decision_scores_ > model.threshold_) == pytest.approx(0.2, abs=0.01)
    pred = model.predict(x_tr)
    assert set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, model.labels_)
    # shapes: (n, H, W), (n, 1, H, W) and flattened give the same scores
    s1 = model.decision_function(x_tr[:5])
    np.testing.assert_allclose(model.decision_function(x_tr[:5, None]), s1, rtol=1e-5)
    np.testing.assert_allclose(model.decision_function(x_tr[:5].reshape(5, -1)), s1, rtol=1e-5)
    assert "AESAD" in DETECTORS


def test_same_seed_same_scores(tiny_data):
    x_tr, y_tr, _, _ = tiny_data
    y = (y_tr == 3).astype(int)
    a = AESAD(**FAST, random_state=3).fit(x_tr, y).decision_scores_
    b = AESAD(**FAST, random_state=3).fit(x_tr, y).decision_scores_
    c = AESAD(**FAST, random_state=4).fit(x_tr, y).decision_scores_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_validation_loss_recorded(tiny_data):
    x_tr, y_tr, _, _ = tiny_data
    model = AESAD(**{**FAST, "epochs": 3}).fit(x_tr, (y_tr == 1).astype(int),
                                                 X_val=x_tr[:20], y_val=np.zeros(20, int))
    assert len(model.history_["val_loss"]) == 3


@pytest.mark.parametrize("out", ["sigmoid", "relu", "tanh", "linear"])
def test_decoder_last_activation(tiny_data, out):
    x_tr, y_tr, _, _ = tiny_data
    model = AESAD(**{**FAST, "epochs": 1}, out_activation=out).fit(x_tr, (y_tr == 1).astype(int))
    assert np.isfinite(model.decision_scores_).all()


def test_bad_input(tiny_data):
    x_tr, y_tr, _, _ = tiny_data
    X = x_tr.astype(np.float32) / 255
    y = (y_tr == 1).astype(int)
    with pytest.raises(NotFittedError):
        AESAD().decision_function(X)
    bad = X.copy()
    bad[7, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"X: expected finite values.*1 samples.*index 7"):
        AESAD(**FAST).fit(bad, y)
    with pytest.raises(ValueError, match=r"y: expected 400 labels.*found 399"):
        AESAD(**FAST).fit(X, y[:-1])
    with pytest.raises(ValueError, match=r"y: expected 0 .* or 1 .*found values \[2\]"):
        AESAD(**FAST).fit(X, np.where(y == 1, 2, 0))
    with pytest.raises(ValueError, match="only labelled anomalies"):
        AESAD(**FAST).fit(X, np.ones(len(X), int))
    with pytest.warns(UserWarning, match="no labelled anomalies"):
        AESAD(**{**FAST, "epochs": 1}).fit(X, np.zeros(len(X), int))
    with pytest.raises(ValueError, match=r"transform: expected one of"):
        AESAD(**FAST, transform="F9").fit(X, y)
    with pytest.raises(ValueError, match=r"optimizer: expected one of"):
        AESAD(**FAST, optimizer="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match=r"out_activation: expected one of"):
        AESAD(**FAST, out_activation="softplus2").fit(X, y)
    fitted = AESAD(**{**FAST, "epochs": 1}).fit(X, y)
    with pytest.raises(ValueError, match=r"expected 64 features per sample"):
        fitted.decision_function(np.zeros((3, 10), np.float32))


def test_nan_loss_stops_with_clear_error(tiny_data):
    class Exploding(AESAD):
        def _loss(self, module, xb, yb):
            return super()._loss(module, xb, yb) * float("nan")

    x_tr, y_tr, _, _ = tiny_data
    with pytest.raises(FloatingPointError, match=r"training loss became nan by step \d+ \(epoch 1\)"):
        Exploding(**FAST).fit(x_tr, (y_tr == 1).astype(int))


def test_rejects_data_outside_unit_range():
    X, y = make_images(10, n_classes=2)
    model = AESAD(**{**FAST, "epochs": 1})
    with pytest.raises(ValueError, match=r"needs training data in \[0, 1\].*found values in "
                                         r"\[\d+, 220\].*MinMaxScaler"):
        model.fit(X.astype(np.float32), y)
    assert not hasattr(model, "history_")
    assert model.fit(X, y).out_activation_ == "sigmoid"  # uint8: divided by 255


@pytest.mark.slow
def test_mnist_one_vs_all_smoke():
    from torch_ae_sad.dataset_loaders import one_vs_all

    s = one_vs_all("mnist", 1, labelled=60)
    model = AESAD(epochs=1, batch_size=64, verbose=0).fit(s.X_train, s.y_train)
    auc = roc_auc_score(s.y_test, model.decision_function(s.X_test))
    assert auc > 0.9
