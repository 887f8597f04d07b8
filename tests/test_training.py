import numpy as np
import pytest
import torch
from torch import nn

from torch_ae_sad.model import TOLL, AutoEncoder
from torch_ae_sad.model.losses import ssim
from torch_ae_sad.model.training import train_module


def _toy(n=200, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g)
    return X, torch.zeros(n, dtype=torch.long)


def _mse_loss(module, xb, yb):
    return (module(xb) - xb).pow(2).mean(dim=1)


def test_epochs_mode_counts_steps():
    X, y = _toy()
    net = nn.Linear(6, 6)
    hist = train_module(net, _mse_loss, X, y, epochs=3, batch_size=64, verbose=0)
    assert hist["step"] == [4, 8, 12]  # ceil(200 / 64) = 4 steps per epoch
    assert hist["train_loss"][-1] < hist["train_loss"][0]


def test_random_batches_mode_and_eval_every():
    X, y = _toy()
    net = nn.Linear(6, 6)
    hist = train_module(net, _mse_loss, X, y, n_steps=50, batch_size=16, eval_every=20,
                        verbose=0, X_val=X[:30], y_val=y[:30])
    assert hist["step"] == [20, 40, 50]
    assert len(hist["val_loss"]) == 3 and hist["criterion"] == "val_loss"


def test_best_checkpoint_restored_and_early_stopping():
    X, y = _toy()
    Xv, yv = _toy(60, seed=1)
    torch.manual_seed(0)
    net = nn.Linear(6, 6)
    # a huge learning rate makes the validation loss blow up after the first evaluation
    hist = train_module(net, _mse_loss, X, y, n_steps=40, batch_size=32, eval_every=5,
                        lr=5.0, optimizer="sgd", select="best", patience=3, X_val=Xv,
                        y_val=yv, verbose=0)
    assert hist["stopped_early"]
    assert len(hist["step"]) == hist["step"].index(hist["best_step"]) + 1 + 3
    with torch.no_grad():
        restored = _mse_loss(net, Xv, yv).mean().item()
    best = min(hist["val_loss"])
    assert restored == pytest.approx(best, rel=1e-5)


def test_val_auc_criterion_when_validation_has_anomalies():
    X, y = _toy()
    Xv = torch.cat([X[:20], X[:20] + 3.0])
    yv = torch.cat([torch.zeros(20, dtype=torch.long), torch.ones(20, dtype=torch.long)])
    net = nn.Linear(6, 6)

    def score(module, xb):
        return (module(xb) - xb).pow(2).sum(dim=1)

    hist = train_module(net, _mse_loss, X, y, epochs=2, batch_size=50, X_val=Xv, y_val=yv,
                        score_fn=score, verbose=0)
    assert hist["criterion"] == "val_auc" and len(hist["val_auc"]) == 2
    assert 0.0 <= hist["val_auc"][-1] <= 1.0


def test_bad_training_parameters():
    X, y = _toy()
    with pytest.raises(ValueError, match="select: expected 'last' or 'best'"):
        train_module(nn.Linear(6, 6), _mse_loss, X, y, epochs=1, select="top", verbose=0)
    with pytest.raises(ValueError, match="epochs: expected >= 1"):
        train_module(nn.Linear(6, 6), _mse_loss, X, y, epochs=0, verbose=0)
    with pytest.raises(ValueError, match="lr: expected a learning rate > 0"):
        train_module(nn.Linear(6, 6), _mse_loss, X, y, epochs=1, lr=0, verbose=0)


def test_ssim_identity_and_decrease():
    x = torch.rand(3, 1, 16, 16)
    torch.testing.assert_close(ssim(x, x), torch.ones(3))
    noisy = (x + 0.3 * torch.randn_like(x)).clamp(0, 1)
    assert (ssim(x, noisy) < 0.9).all()


def test_toll_loss_is_the_score_and_beta_zero_is_plain_ae():
    rng = np.random.default_rng(0)
    X = rng.random((120, 10)).astype(np.float32)
    m = TOLL(beta=5.0, hidden_dims=(8, 4), epochs=2, batch_size=32, verbose=0).fit(X)
    xb = torch.as_tensor(X[:7])
    with torch.no_grad():
        x_hat, z = m.module_(xb)
        expected = (xb - x_hat).norm(dim=1) + 5.0 * z.norm(dim=1)
    np.testing.assert_allclose(m.decision_function(X[:7]), expected.numpy(), rtol=1e-5)
    m0 = TOLL(beta=0.0, hidden_dims=(8, 4), epochs=2, batch_size=32, verbose=0).fit(X)
    with torch.no_grad():
        x_hat, _ = m0.module_(xb)
    np.testing.assert_allclose(m0.decision_function(X[:7]), (xb - x_hat).norm(dim=1).numpy(),
                               rtol=1e-5)


def test_toll_shrinks_latent_norm_of_normals():
    rng = np.random.default_rng(1)
    X = rng.random((300, 10)).astype(np.float32)
    kw = {"hidden_dims": (16, 4), "epochs": 15, "batch_size": 32, "verbose": 0}
    norm = {}
    for beta in (0.0, 10.0):
        m = TOLL(beta=beta, **kw).fit(X)
        with torch.no_grad():
            norm[beta] = m.module_.encode(torch.as_tensor(X)).norm(dim=1).mean().item()
    assert norm[10.0] < 0.2 * norm[0.0]


def test_autoencoder_trains_on_normals_only_and_denoises():
    rng = np.random.default_rng(0)
    X = rng.random((100, 1, 8, 8)).astype(np.float32)
    y = np.r_[np.zeros(90, int), np.ones(10, int)]
    for kw in ({}, {"noise_std": 0.1}, {"loss": "ssim"}, {"loss": "mse+ssim"}):
        m = AutoEncoder(hidden_dims=(16, 4), epochs=1, batch_size=30, verbose=0, **kw).fit(X, y)
        assert m.history_["step"] == [3]  # 90 normals / 30 per batch: anomalies left out
    with pytest.raises(ValueError, match="loss='ssim': expected images"):
        AutoEncoder(loss="ssim", epochs=1, verbose=0).fit(X.reshape(100, -1))
    with pytest.raises(ValueError, match="noise_std: expected >= 0"):
        AutoEncoder(noise_std=-1, epochs=1, verbose=0).fit(X)


def test_random_batches_hold_distinct_samples():
    from torch_ae_sad.model.training import _batches

    gen = torch.Generator().manual_seed(0)
    batches = list(_batches(50, 40, None, 30, gen, torch.device("cpu")))
    assert len(batches) == 30
    for b in batches:
        assert len(b) == 40 and len(torch.unique(b)) == 40  # no repeats within a batch
        assert int(b.min()) >= 0 and int(b.max()) < 50
    # batches are independent draws: they differ from each other
    assert len({tuple(sorted(b.tolist())) for b in batches}) > 1
    # a batch larger than the data holds every sample once
    (whole,) = _batches(7, 100, None, 1, gen, torch.device("cpu"))
    assert sorted(whole.tolist()) == list(range(7))


def test_top_fraction_flags_follows_the_authors_rule():
    from torch_ae_sad.model.training import top_fraction_flags

    scores = np.array([0.1, 5.0, 0.3, 4.0, 0.2, 0.4, 3.0, 0.5, 0.6, 0.7])
    flags = top_fraction_flags(scores, 0.3)
    assert flags.tolist() == [0, 1, 0, 1, 0, 0, 1, 0, 0, 0]
    assert top_fraction_flags(scores, 0.146).sum() == 10 - round(0.854 * 10)


def test_val_metric_f1_selects_by_validation_f1():
    X, y = _toy(300)
    Xv = torch.cat([_toy(80, seed=2)[0], _toy(20, seed=3)[0] + 3.0])
    yv = torch.cat([torch.zeros(80, dtype=torch.long), torch.ones(20, dtype=torch.long)])
    net = nn.Linear(6, 6)

    def score(module, xb):
        return (module(xb) - xb).pow(2).mean(dim=1)

    hist = train_module(net, _mse_loss, X, y, n_steps=40, batch_size=32, eval_every=10,
                        verbose=0, X_val=Xv, y_val=yv, score_fn=score, val_metric="f1",
                        select="best")
    assert hist["criterion"] == "val_f1"
    assert len(hist["val_f1"]) == 4 and hist["val_auc"] == []
    assert all(0.0 <= v <= 1.0 for v in hist["val_f1"])
    assert hist["best_step"] == hist["step"][int(np.argmax(hist["val_f1"]))]
    with pytest.raises(ValueError, match="val_metric"):
        train_module(net, _mse_loss, X, y, n_steps=2, verbose=0, val_metric="ap")


def test_batch_norm_never_trains_on_a_single_sample():
    X, y = _toy(65)  # 65 = 2 * 32 + 1
    net = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4), nn.Linear(4, 6))
    hist = train_module(net, _mse_loss, X, y, epochs=2, batch_size=32, verbose=0)
    assert hist["step"] == [2, 4]  # two batches per epoch: 32 and 33
    from torch_ae_sad.model.training import _batches

    sizes = [len(b) for b in _batches(65, 32, 1, None, None, torch.device("cpu"), True)]
    assert sizes == [32, 33]
    plain = [len(b) for b in _batches(65, 32, 1, None, None, torch.device("cpu"))]
    assert plain == [32, 32, 1]  # networks without batch norm keep every batch as it was
