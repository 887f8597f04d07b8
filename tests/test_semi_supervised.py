"""The weakly-supervised baselines: DevNet, PReNet, FEAWAD, and the loop's balanced batches."""

import math
import time

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import torch_ae_sad.model.base as base_module
from torch_ae_sad.model import DETECTORS
from torch_ae_sad.model.batch_samplers import (
    PAIR_KINDS,
    PAIR_SHARES,
    BalancedSampler,
    split_counts,
)
from torch_ae_sad.model.detectors.devnet import DevNet, deviation_loss, reference_stats
from torch_ae_sad.model.detectors.feawad import FEAWAD, feawad_loss
from torch_ae_sad.model.detectors.prenet import PReNet, pair_targets, relation_scores
from torch_ae_sad.model.networks.lenet import LeNetEncoder
from torch_ae_sad.model.networks.scoring import FeawadNet, PairNet, ScoreNet
from torch_ae_sad.model.training import Stage, TrainConfig, run_stage

#: Budgets that keep each fit of the AUROC test to a few seconds on one thread.
SMALL = {
    "DevNet": {"epochs": 10},
    "PReNet": {"epochs": 10},
    "FEAWAD": {"pretrain_epochs": 10, "epochs": 10, "batch_size": 256},
}


def shifted(n_normal, n_anomalies, rng, d=10, shift=3.0):
    """Gaussian normals; anomalies shifted in the first 3 of ``d`` features."""
    X = rng.normal(size=(n_normal + n_anomalies, d)).astype(np.float32)
    X[n_normal:, :3] += shift
    return X, np.r_[np.zeros(n_normal, int), np.ones(n_anomalies, int)]


@pytest.fixture(scope="module")
def tabular():
    """1000 normals + 10 unlabelled anomalies + 20 labelled ones; a test set of 500 + 50."""
    rng = np.random.default_rng(0)
    X_norm, _ = shifted(1000, 10, rng)
    X_lab, _ = shifted(0, 20, rng)
    X = np.r_[X_norm, X_lab]
    y = np.r_[np.zeros(1010, int), np.ones(20, int)]
    X_test, y_test = shifted(500, 50, rng)
    return X, y, X_test, y_test


# -- the deviation loss ----------------------------------------------------------------------
def test_deviation_loss_matches_a_hand_computation():
    scores = torch.tensor([0.5, -2.0, 1.0, 7.0, 4.0])
    y = torch.tensor([0, 0, 1, 1, 1])
    mean, std, a = 0.1, 2.0, 5.0
    dev = [(s - mean) / std for s in (0.5, -2.0, 1.0, 7.0, 4.0)]  # 0.2, -1.05, 0.45, 3.45, 1.95
    expected = [abs(dev[0]), abs(dev[1]), a - dev[2], a - dev[3], a - dev[4]]
    torch.testing.assert_close(deviation_loss(scores, y, mean, std, a),
                               torch.tensor(expected))
    # an anomaly beyond the margin costs nothing
    assert deviation_loss(torch.tensor([12.0]), torch.tensor([1]), 0.0, 1.0, 5.0).item() == 0


def test_reference_draws_are_standard_normal_and_seeded():
    gen = torch.Generator().manual_seed(0)
    mean, std = reference_stats(5000, gen)
    assert abs(mean) < 0.05 and abs(std - 1) < 0.05
    ref = torch.randn(5000, generator=torch.Generator().manual_seed(0))
    assert (mean, std) == (float(ref.mean()), float(ref.std(unbiased=False)))


def test_devnet_loss_is_the_deviation_loss_plus_the_l2_penalty(tabular):
    X, y, _, _ = tabular
    det = DevNet(epochs=1, verbose=0).fit(X, y)
    xb, yb = torch.as_tensor(X[1000:1030]), torch.as_tensor(y[1000:1030])
    with torch.no_grad():
        scores = det.module_(xb)
        hidden = det.module_.features[1][0].weight  # Flatten, then the dense stack
        expected = deviation_loss(scores, yb, det.ref_mean_, det.ref_std_, 5.0) \
            + 0.01 * hidden.pow(2).sum()
        torch.testing.assert_close(det._loss(det.module_, xb, yb), expected)
    np.testing.assert_allclose(det.decision_function(X[1000:1005]), scores[:5].numpy(),
                               rtol=1e-5)


# -- balanced batches: a feature of the loop -------------------------------------------------
def test_split_counts():
    assert split_counts((0.5, 0.5), 512) == [256, 256]
    assert split_counts((0.5, 0.5), 7) == [4, 3]
    assert split_counts(PAIR_SHARES, 512) == [256, 128, 128]
    assert split_counts(PAIR_SHARES, 6) == [3, 2, 1]
    assert sum(split_counts((0.2, 0.3, 0.5), 13)) == 13


def test_balanced_batches_are_half_labelled_anomalies_drawn_with_replacement():
    y = torch.tensor([0] * 97 + [1] * 3)
    sampler = BalancedSampler(steps_per_epoch=20)
    assert sampler.epoch_steps(100, 32) == 20
    assert BalancedSampler().epoch_steps(100, 32) == math.ceil(100 / 32)
    batches = list(sampler.batches(y, 32, 50, torch.Generator().manual_seed(0)))
    assert len(batches) == 50
    for idx in batches:
        assert idx.shape == (32,)
        assert int(y[idx].sum()) == 16  # exactly half labelled anomalies
    anomalies = torch.cat([b[y[b] == 1] for b in batches])
    assert set(anomalies.tolist()) == {97, 98, 99}  # 3 anomalies fill 16 slots: repeats


def test_pair_batches_hold_the_pair_kinds_in_their_shares():
    y = torch.tensor([0] * 50 + [1] * 4)
    sampler = BalancedSampler(PAIR_KINDS, PAIR_SHARES)
    pairs = sampler.draw(sampler.pools(y), 16, torch.Generator().manual_seed(1))
    assert pairs.shape == (16, 2)
    labels = y[pairs]
    kinds = [tuple(row) for row in labels.tolist()]
    assert kinds == [(0, 0)] * 8 + [(0, 1)] * 4 + [(1, 1)] * 4
    same = pairs[:, 0] == pairs[:, 1]
    assert not same.any()  # two different samples when a label has several


def test_a_label_without_samples_is_a_value_error():
    with pytest.raises(ValueError, match=r"found no labelled anomalies \(y == 1\)"):
        next(BalancedSampler().batches(torch.zeros(10, dtype=torch.long), 4, 1))
    with pytest.raises(ValueError, match="one share per kind"):
        BalancedSampler(PAIR_KINDS, (0.5, 0.5))
    with pytest.raises(ValueError, match="summing to 1"):
        BalancedSampler(shares=(0.5, 0.6))


def test_run_stage_draws_the_batches_from_the_stage_sampler():
    X = torch.randn(40, 3)
    y = torch.tensor([0] * 38 + [1] * 2)
    seen = []

    def loss(module, xb, yb):
        seen.append(yb.clone())
        return module(xb).pow(2).sum(dim=1)

    config = TrainConfig(epochs=3, batch_size=10, verbose=0)
    stage = Stage("train", torch.nn.Linear(3, 1), loss, config,
                  generator=torch.Generator().manual_seed(0),
                  sampler=BalancedSampler(steps_per_epoch=4))
    result = run_stage(stage, X, y)
    assert len(seen) == 12 and result.history["step"] == [4, 8, 12]  # epochs of 4 batches
    assert all(int(yb.sum()) == 5 for yb in seen)
    # without a sampler: the loop's permutations, as before
    seen.clear()
    run_stage(Stage("train", torch.nn.Linear(3, 1), loss, config,
                    generator=torch.Generator().manual_seed(0)), X, y)
    assert len(seen) == 12 and int(torch.cat(seen[:4]).sum()) == 2


def test_devnet_trains_on_balanced_batches(tabular, monkeypatch):
    X, y, _, _ = tabular
    shares = []
    real = DevNet._loss

    def spy(self, module, xb, yb, **kwargs):
        shares.append(float(yb.float().mean()))
        return real(self, module, xb, yb, **kwargs)

    monkeypatch.setattr(DevNet, "_loss", spy)
    det = DevNet(epochs=2, batch_size=64, verbose=0).fit(X, y)
    assert len(shares) == 40 and set(shares) == {0.5}  # 2 epochs of 20 batches
    assert det.history_["step"] == [20, 40]


# -- PReNet ----------------------------------------------------------------------------------
def test_pair_targets_per_pair_type():
    yb = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
    torch.testing.assert_close(pair_targets(yb), torch.tensor([0.0, 4.0, 4.0, 8.0]))
    torch.testing.assert_close(pair_targets(yb, (1.0, 2.0, 3.0)),
                               torch.tensor([1.0, 2.0, 2.0, 3.0]))


def test_prenet_trains_on_pairs_with_their_targets(tabular, monkeypatch):
    X, y, _, _ = tabular
    batches = []
    real = PReNet._loss

    def spy(self, module, xb, yb):
        batches.append((xb.shape, pair_targets(yb, self.targets)))
        return real(self, module, xb, yb)

    monkeypatch.setattr(PReNet, "_loss", spy)
    PReNet(epochs=1, batch_size=16, verbose=0).fit(X, y)
    assert len(batches) == 20
    for shape, targets in batches:
        assert shape == (16, 2, 10)
        assert targets.tolist() == [0.0] * 8 + [4.0] * 4 + [8.0] * 4


def test_prenet_score_is_the_mean_relation_with_the_references(tabular):
    X, y, _, _ = tabular
    det = PReNet(epochs=1, n_references=5, verbose=0).fit(X, y)
    assert det.unlabelled_refs_.shape == (5, 10) and det.anomaly_refs_.shape == (5, 10)
    anomalies = {tuple(r) for r in X[y == 1]}
    assert all(tuple(r) in anomalies for r in det.anomaly_refs_)
    assert not any(tuple(r) in anomalies for r in det.unlabelled_refs_)
    x = torch.as_tensor(X[:3])
    u, a = (torch.as_tensor(r) for r in (det.unlabelled_refs_, det.anomaly_refs_))
    with torch.no_grad():
        by_hand = torch.stack([
            (torch.stack([det.module_(torch.stack([uj, xi])[None]) for uj in u]).mean()
             + torch.stack([det.module_(torch.stack([xi, aj])[None]) for aj in a]).mean()) / 2
            for xi in x]).flatten()
        torch.testing.assert_close(relation_scores(det.module_, x, u, a), by_hand)
    np.testing.assert_allclose(det.decision_function(X[:3]), by_hand.numpy(), rtol=1e-5)


# -- FEAWAD ----------------------------------------------------------------------------------
def test_feawad_loss_by_hand():
    scores = torch.tensor([0.5, -1.0, 2.0, 6.0])
    errors = torch.tensor([0.3, 0.1, 1.0, 7.0])
    y = torch.tensor([0, 0, 1, 1])
    expected = torch.tensor([0.5 + 0.3, 1.0 + 0.1, 3.0 + 4.0, 0.0 + 0.0])
    torch.testing.assert_close(feawad_loss(scores, errors, y, 5.0), expected)


def test_feawad_network_encodes_code_residual_and_error():
    net = FeawadNet((6,), hidden_dims=(8, 4), score_dims=(16, 4))
    assert net.hidden[0].in_features == 6 + 4 + 1  # [r / e, code, e]
    assert [m.in_features for m in net.hidden[1:]] + [net.score.in_features] == [17, 5]
    x = torch.randn(5, 6)
    scores, errors = net(x)
    x_hat, _ = net.autoencoder(x)
    torch.testing.assert_close(errors, (x - x_hat).norm(dim=1))
    assert scores.shape == (5,)


def test_feawad_runs_pretrain_then_joint(tabular, monkeypatch):
    X, y, _, _ = tabular
    stages = []
    real = base_module.run_stage

    def spy(stage, X_dev, y_dev, *args):
        stages.append(stage)
        return real(stage, X_dev, y_dev, *args)

    monkeypatch.setattr(base_module, "run_stage", spy)
    det = FEAWAD(pretrain_epochs=1, epochs=1, batch_size=32, verbose=0).fit(X, y)
    assert [s.name for s in stages] == ["pretrain", "joint"]
    pretrain, joint = stages
    assert pretrain.module is det.module_.autoencoder and joint.module is det.module_
    assert pretrain.sampler.kinds == ((0,),) and joint.sampler.kinds == ((0,), (1,))
    assert pretrain.config.lr == 1e-4 and not pretrain.validate
    assert len(det.pretrain_history_["step"]) == 1 and det.history_["step"] == [20]


# -- each beats random where labelled anomalies share the test anomalies' structure ----------
@pytest.mark.parametrize("name", ["DevNet", "PReNet", "FEAWAD"])
def test_beats_random_on_shifted_gaussians(name, tabular):
    X, y, X_test, y_test = tabular
    start = time.perf_counter()
    det = DETECTORS[name](**SMALL[name], verbose=0).fit(X, y)
    auc = roc_auc_score(y_test, det.decision_function(X_test))
    assert time.perf_counter() - start < 10
    assert auc > 0.8, auc


def test_defaults_are_the_authors():
    dev, pre, fea = DevNet(), PReNet(), FEAWAD()
    for det in (dev, pre):
        assert (det.optimizer, det.lr, det.batch_size, det.epochs) == ("rmsprop", 1e-3, 512, 50)
        assert (tuple(det.hidden_dims), det.l2, det.steps_per_epoch) == ((20,), 0.01, 20)
    assert (dev.margin, dev.n_ref) == (5.0, 5000)
    assert (tuple(pre.targets), pre.n_references) == ((0.0, 4.0, 8.0), 30)
    assert (fea.optimizer, fea.lr, fea.pretrain_lr, fea.epochs, fea.pretrain_epochs) == \
        ("adam", 1e-4, 1e-4, 30, 100)
    assert (tuple(fea.hidden_dims), tuple(fea.score_dims), fea.margin) == ((128, 64),
                                                                           (256, 32), 5.0)


def test_rmsprop_takes_keras_settings(tabular, monkeypatch):
    X, y, _, _ = tabular
    configs = []
    real = base_module.run_stage

    def spy(stage, *args):
        configs.append(stage.config)
        return real(stage, *args)

    monkeypatch.setattr(base_module, "run_stage", spy)
    DevNet(epochs=1, verbose=0).fit(X, y)
    DevNet(epochs=1, optimizer="adam", verbose=0).fit(X, y)
    assert configs[0].optimizer_kwargs == {"alpha": 0.9, "eps": 1e-7}
    assert configs[1].optimizer_kwargs is None


# -- images ----------------------------------------------------------------------------------
def test_devnet_scores_tiny_images_with_the_conv_encoder():
    rng = np.random.default_rng(0)
    X = (rng.random((60, 1, 28, 28)) * 0.2).astype(np.float32)
    X[:50, 0, 10:14, :] += 0.7  # normal: a horizontal bar
    X[50:, 0, :, 10:14] += 0.7  # labelled anomalies: a vertical bar
    y = np.r_[np.zeros(50, int), np.ones(10, int)]
    det = DevNet(epochs=2, batch_size=32, rep_dim=8, verbose=0).fit(X, y)
    assert det.network_ == "lenet"
    assert isinstance(det.module_, ScoreNet) and isinstance(det.module_.features[0], LeNetEncoder)
    scores = det.decision_function(X[:, 0])  # (n, 28, 28) as well
    assert scores.shape == (60,) and np.isfinite(scores).all()
    assert scores[50:].mean() > scores[:50].mean()
    pre = PReNet(epochs=1, batch_size=16, rep_dim=8, n_references=3, verbose=0).fit(X, y)
    assert pre.network_ == "lenet" and isinstance(pre.module_, PairNet)
    assert np.isfinite(pre.decision_function(X)).all()


def test_lenet_on_tabular_data_is_a_value_error(tabular):
    X, y, _, _ = tabular
    with pytest.raises(ValueError, match=r"network='lenet': expected images"):
        DevNet(network="lenet", verbose=0).fit(X, y)


@pytest.mark.parametrize("params, match", [
    ({"margin": 0}, "margin: expected > 0"), ({"n_ref": 1}, "n_ref: expected an int >= 2"),
    ({"steps_per_epoch": 0}, "steps_per_epoch: expected an int >= 1"),
    ({"l2": -1.0}, "l2: expected >= 0"), ({"network": "conv"}, "network: expected one of")])
def test_devnet_rejects_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        DevNet(**params).check_params()


def test_prenet_and_feawad_reject_bad_parameters():
    with pytest.raises(ValueError, match="targets: expected 3 values"):
        PReNet(targets=(0, 8)).check_params()
    with pytest.raises(ValueError, match="n_references: expected an int >= 1"):
        PReNet(n_references=0).check_params()
    with pytest.raises(ValueError, match="pretrain_epochs: expected an int >= 1"):
        FEAWAD(pretrain_epochs=0).check_params()
    with pytest.raises(ValueError, match="pretrain_lr: expected a learning rate > 0"):
        FEAWAD(pretrain_lr=0.0).check_params()


@pytest.mark.parametrize("cls", [DevNet, PReNet, FEAWAD])
def test_no_labelled_anomalies_is_a_value_error_before_training(cls, tabular, monkeypatch):
    X, _, _, _ = tabular

    def no_stage(*args, **kwargs):
        raise AssertionError("a stage ran")

    monkeypatch.setattr(base_module, "run_stage", no_stage)
    det = cls(epochs=1, pretrain_epochs=1, verbose=0) if cls is FEAWAD else \
        cls(epochs=1, verbose=0)
    with pytest.warns(UserWarning, match="got no labelled anomalies"), \
            pytest.raises(ValueError, match=rf"{cls.__name__}: expected labelled anomalies"):
        det.fit(X)
    assert not hasattr(det, "module_")


@pytest.mark.parametrize("name", ["DevNet", "PReNet", "FEAWAD"])
def test_random_state_fixes_the_fit(name, tabular):
    X, y, X_test, _ = tabular
    params = {"epochs": 1, "batch_size": 32, "verbose": 0}
    if name == "FEAWAD":
        params["pretrain_epochs"] = 1

    def scores(seed):
        return DETECTORS[name](**params, random_state=seed).fit(X, y).decision_function(X_test)

    a = scores(0)
    np.testing.assert_array_equal(a, scores(0))
    assert not np.allclose(a, scores(1))
