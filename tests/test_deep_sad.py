"""Deep SAD: pre-training, centre, loss, labelled-anomaly term, networks, sklearn behaviour."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from torch_ae_sad.model.detectors.deep_sad import DeepSAD
from torch_ae_sad.model.networks.lenet import DenseBiasFreeEncoder, LeNetEncoder

#: Small tabular settings (dense bias-free network, inputs not in [0, 1]).
TAB = {"network": "dense", "hidden_dims": (32, 16), "rep_dim": 8, "out_activation": "linear",
       "epochs": 10, "pretrain_epochs": 5, "batch_size": 32, "lr": 1e-3, "verbose": 0}
#: Small image settings (LeNet).
IMG = {"epochs": 2, "pretrain_epochs": 2, "batch_size": 32, "lr": 1e-3, "verbose": 0}


def gaussian(n_normal, n_anomalies, shift, seed, d=8):
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(size=(n_normal, d)), rng.normal(size=(n_anomalies, d)) + shift]
    return X.astype(np.float32), np.r_[np.zeros(n_normal, int), np.ones(n_anomalies, int)]


def bars(n_normal, n_anomalies, seed, size=28):
    """Noise images: normals have a horizontal bar, anomalies a vertical one."""
    rng = np.random.default_rng(seed)
    X = (rng.random((n_normal + n_anomalies, 1, size, size)) * 0.2).astype(np.float32)
    X[:n_normal, 0, 10:14, :] += 0.7
    X[n_normal:, 0, :, 10:14] += 0.7
    return X, np.r_[np.zeros(n_normal, int), np.ones(n_anomalies, int)]


@pytest.fixture(scope="module")
def tabular():
    X, y = gaussian(300, 15, 3.0, seed=0)
    X_test, y_test = gaussian(200, 50, 3.0, seed=1)
    return X, y, X_test, y_test


@pytest.fixture(scope="module")
def fitted_tabular(tabular):
    X, y, _, _ = tabular
    return DeepSAD(**TAB).fit(X, y)


def test_tabular_auroc_center_and_histories(tabular, fitted_tabular):
    X, y, X_test, y_test = tabular
    model = fitted_tabular
    assert roc_auc_score(y_test, model.decision_function(X_test)) > 0.9
    assert isinstance(model.module_, DenseBiasFreeEncoder)
    assert model.c_.shape == (8,) and (np.abs(model.c_) >= 0.1).all()
    assert len(model.pretrain_history_["train_loss"]) == 5
    assert len(model.history_["train_loss"]) == 10
    # the score is the squared distance of phi(x) to c
    with torch.no_grad():
        z = model.module_.eval()(torch.as_tensor(X[:5])).numpy()
    np.testing.assert_allclose(model.decision_scores_[:5], ((z - model.c_) ** 2).sum(1),
                               rtol=1e-4, atol=1e-6)


def test_fit_returns_self_and_is_repeatable(tabular, fitted_tabular):
    X, y, X_test, _ = tabular
    twin = DeepSAD(**TAB)
    assert twin.fit(X, y) is twin
    np.testing.assert_allclose(twin.decision_function(X_test),
                               fitted_tabular.decision_function(X_test), rtol=1e-5)


def test_labelled_term_pushes_anomalies_away():
    # anomalies close to the normals: without the labels they sit near c
    X, y = gaussian(300, 15, 1.0, seed=0)
    far = DeepSAD(**TAB, eta=1.0).fit(X, y)
    blind = DeepSAD(**TAB, eta=0.0).fit(X, y)
    d_far = far.decision_scores_[y == 1].mean()
    d_blind = blind.decision_scores_[y == 1].mean()
    assert d_far > 2 * d_blind
    # relative to the normals too
    assert d_far / far.decision_scores_[y == 0].mean() > \
        d_blind / blind.decision_scores_[y == 0].mean()


def test_loss_terms():
    model = DeepSAD(eta=2.0, eps=1e-6)
    model.c_ = np.array([0.5, -0.5], np.float32)
    identity = torch.nn.Identity()
    xb = torch.tensor([[0.5, -0.5], [1.5, -0.5], [1.5, 0.5]])
    yb = torch.tensor([0, 0, 1])
    loss = model._loss(identity, xb, yb)
    torch.testing.assert_close(loss, torch.tensor([0.0, 1.0, 2.0 / (2.0 + 1e-6)]))
    torch.testing.assert_close(model._score_batch(identity, xb), torch.tensor([0.0, 1.0, 2.0]))


def test_center_moves_small_entries():
    model = DeepSAD()
    phi = torch.nn.Identity()
    X = torch.tensor([[0.05, -0.02, 0.0, 0.3], [0.05, -0.04, 0.0, -0.9]])
    np.testing.assert_allclose(model._center(phi, X), [0.1, -0.1, 0.1, -0.3], rtol=1e-6)


def test_images_lenet_auroc():
    X, y = bars(64, 8, seed=0)
    X_test, y_test = bars(40, 40, seed=1)
    model = DeepSAD(**IMG).fit(X, y)
    assert isinstance(model.module_, LeNetEncoder) and model.module_.variant == "mnist"
    assert roc_auc_score(y_test, model.decision_function(X_test)) > 0.9
    assert (np.abs(model.c_) >= 0.1).all() and model.c_.shape == (32,)
    # (n, H, W) and flattened input give the same scores
    np.testing.assert_allclose(model.decision_function(X_test[:, 0]),
                               model.decision_function(X_test.reshape(80, -1)), rtol=1e-5)


def test_auto_network_and_no_pretraining():
    X, y = bars(24, 4, seed=0)
    model = DeepSAD(**{**IMG, "epochs": 1}, network="auto", pretrain=False).fit(X, y)
    assert isinstance(model.module_, LeNetEncoder)
    assert model.pretrain_history_ is None
    assert (model.network_, model.out_activation_) == ("lenet", "sigmoid")
    Xf, yf = gaussian(40, 4, 3.0, seed=0)
    model = DeepSAD(**{**TAB, "network": "auto", "epochs": 1, "pretrain_epochs": 1}).fit(Xf, yf)
    assert isinstance(model.module_, DenseBiasFreeEncoder)
    assert (model.network_, model.out_activation_) == ("dense", "linear")


def test_clone_and_defaults(fitted_tabular):
    twin = clone(fitted_tabular)
    assert twin.get_params() == fitted_tabular.get_params()
    assert not hasattr(twin, "c_")
    d = DeepSAD()
    assert (d.network, d.out_activation, d.rep_dim, d.eta, d.eps, d.batch_size, d.lr,
            d.weight_decay) == ("auto", "auto", 32, 1.0, 1e-6, 128, 1e-4, 0.5e-6)
    assert DeepSAD.uses_labels


def test_warns_without_labelled_anomalies():
    X, _ = gaussian(40, 0, 0.0, seed=0)
    with pytest.warns(UserWarning, match="DeepSAD got no labelled anomalies"):
        model = DeepSAD(**{**TAB, "epochs": 1, "pretrain_epochs": 1}).fit(X)
    assert np.isfinite(model.decision_scores_).all()


def test_single_sample_last_batch():
    X, y = gaussian(32, 1, 3.0, seed=0)  # 33 samples, batches of 32: a last batch of one
    model = DeepSAD(**{**TAB, "epochs": 1, "pretrain_epochs": 1}).fit(X, y)
    assert np.isfinite(model.decision_scores_).all()


@pytest.mark.parametrize("params, match", [
    ({"network": "unet"}, r"network: expected one of \('lenet', 'dense', 'auto'\), found 'unet'"),
    ({"eta": -1.0}, "eta: expected >= 0"),
    ({"eps": 0.0}, "eps: expected > 0"),
    ({"pretrain_epochs": 0}, "pretrain_epochs: expected >= 1"),
    ({"batches": "stratified"}, r"batches: expected one of \('shuffled', 'balanced'\), "
                                "found 'stratified'"),
])
def test_bad_params(params, match):
    X, y = gaussian(20, 2, 3.0, seed=0)
    with pytest.raises(ValueError, match=match):
        DeepSAD(**{**TAB, **params}).fit(X, y)


def test_balanced_batches_are_half_labelled_anomalies_in_the_sad_stage_only(monkeypatch):
    X, y = gaussian(300, 6, 3.0, seed=0)  # 2 % labelled anomalies
    seen = []
    real = DeepSAD._loss

    def spy(self, module, xb, yb, **kw):
        seen.append((len(yb), int((yb == 1).sum())))
        return real(self, module, xb, yb, **kw)

    monkeypatch.setattr(DeepSAD, "_loss", spy)
    params = {**TAB, "epochs": 2, "pretrain_epochs": 1, "batch_size": 32}
    DeepSAD(**params, batches="balanced").fit(X, y)
    assert len(seen) == 2 * 10  # ceil(306 / 32) balanced batches per epoch
    assert all(n == 32 and a == 16 for n, a in seen)
    seen.clear()
    DeepSAD(**params).fit(X, y)  # shuffled: each epoch a permutation, 6 anomalies in all
    assert sum(a for _, a in seen) == 2 * 6 and sum(n for n, _ in seen) == 2 * 306


@pytest.mark.filterwarnings("ignore:DeepSAD got no labelled anomalies")
def test_balanced_batches_without_labelled_anomalies_stop_before_any_stage(monkeypatch):
    import torch_ae_sad.model.base as base_module

    monkeypatch.setattr(base_module, "run_stage", lambda *a, **k: pytest.fail("a stage ran"))
    X, _ = gaussian(40, 0, 0.0, seed=0)
    with pytest.raises(ValueError, match=r"batches='balanced' expects labelled anomalies"):
        DeepSAD(**TAB, batches="balanced").fit(X, np.zeros(40, int))


def test_lenet_on_tabular_names_the_fix():
    X, y = gaussian(20, 2, 3.0, seed=0)
    with pytest.raises(ValueError, match=r"network='lenet': expected images of shape "
                                         r"\(C, 28, 28\) or \(C, 32, 32\), found \(8,\).*"
                                         r"network='dense'"):
        DeepSAD(network="lenet", verbose=0).fit(X, y)


@pytest.mark.slow
def test_mnist_one_vs_all_smoke():
    from torch_ae_sad.dataset_loaders import one_vs_all

    s = one_vs_all("mnist", 1, labelled=60)
    model = DeepSAD(epochs=1, pretrain_epochs=1, verbose=0).fit(s.X_train, s.y_train)
    assert roc_auc_score(s.y_test, model.decision_function(s.X_test)) > 0.8
