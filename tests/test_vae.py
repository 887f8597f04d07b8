"""VAE networks and detector on tiny synthetic images (normals: a horizontal bar; anomalies:
a vertical bar)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from torch_ae_sad.model.detectors.vae import VAE, kl_divergence, reconstruction_loss
from torch_ae_sad.model.networks.vae import ConvVAE, DenseVAE

FAST = {"hidden_dims": (32, 4), "epochs": 30, "batch_size": 32, "lr": 3e-3, "verbose": 0,
        "device": "cpu"}


def bars(n_normal: int, n_anomaly: int, size: int = 8, seed: int = 0
         ) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 1, size, size)`` images in [0, 1]: normals a bright row, anomalies a column."""
    rng = np.random.default_rng(seed)
    n = n_normal + n_anomaly
    X = rng.uniform(0.0, 0.15, size=(n, 1, size, size)).astype(np.float32)
    X[:n_normal, 0, size // 4, :] = 0.9
    X[n_normal:, 0, :, 3 * size // 4] = 0.9
    y = np.r_[np.zeros(n_normal), np.ones(n_anomaly)].astype(np.int64)
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X_tr, y_tr = bars(200, 5, seed=1)
    X_te, y_te = bars(60, 20, seed=2)
    return X_tr, y_tr, X_te, y_te


@pytest.fixture(scope="module")
def fitted(data) -> VAE:
    X_tr, y_tr, _, _ = data
    return VAE(**FAST).fit(X_tr, y_tr)


def rescored(model: VAE, **params) -> VAE:
    """A shallow copy of a fitted ``model`` (same weights) with other scoring parameters."""
    return copy.copy(model).set_params(**params)


# -- networks -------------------------------------------------------------------------------
def test_dense_vae_shapes():
    net = DenseVAE((1, 8, 8), hidden_dims=(32, 4))
    x = torch.rand(5, 1, 8, 8)
    x_hat, mu, logvar = net(x)
    assert x_hat.shape == x.shape and mu.shape == logvar.shape == (5, 4)
    assert float(x_hat.detach().min()) >= 0 and float(x_hat.detach().max()) <= 1  # sigmoid output
    assert net.decode(torch.zeros(3, 4)).shape == (3, 1, 8, 8)
    # flattened input works too; the mean path is deterministic and decodes mu
    x_mean, mu2, _ = net(x.flatten(1), sample=False)
    torch.testing.assert_close(x_mean, net.decode(mu2))
    torch.testing.assert_close(net(x, sample=False)[0], x_mean)


@pytest.mark.parametrize(("shape", "channels"), [((1, 28, 28), (4, 8)), ((3, 32, 32), (4, 8)),
                                                 ((2, 28, 28), (4, 8, 8)),
                                                 ((5, 32, 32), (4,))])
def test_conv_vae_shapes(shape, channels):
    net = ConvVAE(shape, channels=channels, latent_dim=6)
    x = torch.rand(3, *shape)
    x_hat, mu, logvar = net(x)
    assert x_hat.shape == x.shape and mu.shape == logvar.shape == (3, 6)
    assert net.encode(x)[0].shape == (3, 6)
    assert net.decode(torch.zeros(2, 6)).shape == (2, *shape)


@pytest.mark.parametrize("shape", [(1, 20, 20), (1, 28, 32), (28, 28), (1, 784)])
def test_conv_vae_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match=r"\(C, 28, 28\) or \(C, 32, 32\)") as err:
        ConvVAE(shape)
    assert str(tuple(shape)) in str(err.value)


def test_network_bad_params():
    with pytest.raises(ValueError, match="hidden_dims"):
        DenseVAE((4,), hidden_dims=())
    with pytest.raises(ValueError, match="activation"):
        DenseVAE((4,), activation="nope")
    with pytest.raises(ValueError, match="channels"):
        ConvVAE((1, 28, 28), channels=(0,))
    with pytest.raises(ValueError, match="latent_dim"):
        ConvVAE((1, 28, 28), latent_dim=0)


# -- loss pieces ----------------------------------------------------------------------------
def test_kl_divergence():
    assert torch.equal(kl_divergence(torch.zeros(4, 3), torch.zeros(4, 3)), torch.zeros(4))
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(50, 3, generator=gen), 2 * torch.randn(50, 3, generator=gen)
    kl = kl_divergence(mu, logvar)
    assert kl.shape == (50,) and bool((kl >= 0).all())
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(kl, torch.distributions.kl_divergence(q, p).sum(1))


def test_reconstruction_loss():
    x, x_hat = torch.rand(4, 1, 3, 3), torch.rand(4, 9).clamp(0.01, 0.99)
    # bce takes the decoder's logits: the BCE of the sigmoid reconstruction
    bce = reconstruction_loss(x, torch.logit(x_hat), "bce")
    torch.testing.assert_close(bce, F.binary_cross_entropy(x_hat, x.flatten(1),
                                                           reduction="none").sum(1))
    torch.testing.assert_close(reconstruction_loss(x, x_hat, "mse"),
                               (x.flatten(1) - x_hat).pow(2).sum(1))
    with pytest.raises(ValueError, match="recon"):
        reconstruction_loss(x, x_hat, "l1")


def test_bce_on_logits_is_exact_where_the_sigmoid_saturates():
    x = torch.zeros(1, 2)
    logits = torch.tensor([[30.0, -30.0]])  # sigmoid(30) is 1.0 in float32
    torch.testing.assert_close(reconstruction_loss(x, logits, "bce"), torch.tensor([30.0]))
    # the loss of the probabilities is clamped at 100 there, with no gradient
    assert F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").sum() == 100.0


def test_loss_is_float32_under_bf16_autocast(data, fitted):
    X_tr, _, _, _ = data
    xb = torch.as_tensor(X_tr[:8])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = fitted._loss(fitted.module_, xb, torch.zeros(8), noise=torch.Generator())
        mu, logvar = fitted.module_.encode(xb)
        assert mu.dtype == torch.bfloat16  # the network runs in bfloat16 ...
        assert kl_divergence(mu, logvar).dtype == torch.float32  # ... the loss does not
    assert loss.dtype == torch.float32 and torch.isfinite(loss).all()


def test_reconstruct_applies_the_sigmoid_to_the_logits(data, fitted):
    X_tr, _, _, _ = data
    rec = fitted.reconstruct(X_tr[:5])
    assert rec.shape == X_tr[:5].shape and rec.min() >= 0 and rec.max() <= 1
    with torch.no_grad():
        mu, _ = fitted.module_.encode(torch.as_tensor(X_tr[:5]))
        logits = fitted.module_.decode_logits(mu)
    np.testing.assert_allclose(rec, torch.sigmoid(logits).numpy(), rtol=1e-6, atol=1e-7)
    assert logits.min() < 0  # logits, not probabilities


# -- detector -------------------------------------------------------------------------------
def test_fit_returns_self(data, fitted):
    X_tr, y_tr, _, _ = data
    assert isinstance(fitted, VAE)
    assert fitted.decision_scores_.shape == (len(X_tr),)
    assert np.isfinite(fitted.decision_scores_).all()
    assert fitted.module_.latent_dim == 4


@pytest.mark.parametrize("score", ["recon", "elbo"])
def test_anomalies_score_higher(data, fitted, score):
    _, _, X_te, y_te = data
    model = rescored(fitted, score=score)
    assert roc_auc_score(y_te, model.decision_function(X_te)) > 0.9


def test_elbo_score_repeatable(data, fitted):
    _, _, X_te, _ = data
    model = rescored(fitted, score="elbo", n_samples=3)
    s1, s2 = model.decision_function(X_te), model.decision_function(X_te)
    np.testing.assert_array_equal(s1, s2)
    # it is a sampled estimate: not the deterministic recon score
    assert not np.allclose(s1, fitted.decision_function(X_te))


def test_fit_repeatable(data):
    X_tr, y_tr, X_te, _ = data
    params = {**FAST, "epochs": 2}
    a = VAE(**params).fit(X_tr, y_tr).decision_function(X_te)
    b = VAE(**params).fit(X_tr, y_tr).decision_function(X_te)
    np.testing.assert_array_equal(a, b)


def test_mse_recon(data):
    X_tr, y_tr, X_te, y_te = data
    model = VAE(**{**FAST, "recon": "mse", "out_activation": "linear", "beta": 0.5})
    model.fit(X_tr, y_tr)
    assert roc_auc_score(y_te, model.decision_function(X_te)) > 0.9


def test_clone(fitted):
    c = clone(fitted)
    assert c.get_params() == fitted.get_params()
    assert not hasattr(c, "module_")


def test_conv_detector():
    X_tr, y_tr = bars(120, 0, size=28, seed=3)
    X_te, y_te = bars(30, 10, size=28, seed=4)
    model = VAE(network="conv", channels=(4, 8), **{**FAST, "epochs": 8}).fit(X_tr, y_tr)
    assert model.module_.mu.out_features == 4
    assert roc_auc_score(y_te, model.decision_function(X_te)) > 0.9


@pytest.mark.parametrize(("params", "match"), [
    ({"network": "rnn"}, "network"),
    ({"score": "nll"}, "score"),
    ({"recon": "l1"}, "recon"),
    ({"beta": -0.1}, "beta"),
    ({"n_samples": 0}, "n_samples"),
    ({"recon": "bce", "out_activation": "linear"}, "out_activation='sigmoid'"),
    ({"out_activation": "tanh", "recon": "bce"}, "out_activation='sigmoid'"),
    ({"network": "conv"}, r"\(C, 28, 28\) or \(C, 32, 32\).*\(1, 8, 8\)"),
])
def test_bad_params(data, params, match):
    X_tr, y_tr, _, _ = data
    with pytest.raises(ValueError, match=match):
        VAE(**{**FAST, "epochs": 1, **params}).fit(X_tr, y_tr)


def test_bce_rejects_inputs_outside_unit_interval(data):
    X_tr, y_tr, _, _ = data
    with pytest.raises(ValueError, match=r"recon='bce'.*\[0, 1\].*MinMaxScaler"):
        VAE(**{**FAST, "epochs": 1, "recon": "bce"}).fit(X_tr * 3 - 1, y_tr)


def test_auto_recon_and_output(data, fitted):
    X_tr, y_tr, _, _ = data
    assert (fitted.recon, fitted.out_activation) == ("auto", "auto")
    assert (fitted.recon_, fitted.out_activation_) == ("bce", "sigmoid")
    wide = VAE(**{**FAST, "epochs": 1}).fit(X_tr * 3 - 1, y_tr)
    assert (wide.recon_, wide.out_activation_) == ("mse", "linear")
    tanh = VAE(**{**FAST, "epochs": 1, "out_activation": "tanh"}).fit(X_tr, y_tr)
    assert (tanh.recon_, tanh.out_activation_) == ("mse", "tanh")


@pytest.mark.slow
def test_mnist_one_vs_all_smoke():
    from torch_ae_sad.dataset_loaders import one_vs_all

    s = one_vs_all("mnist", 1, labelled=0)
    model = VAE(epochs=2, batch_size=64, verbose=0).fit(s.X_train, s.y_train)
    assert roc_auc_score(s.y_test, model.decision_function(s.X_test)) > 0.9
