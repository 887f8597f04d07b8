"""The fit lifecycle: declared stages, the two-optimiser step, evaluator and checkpoint."""

import copy
import inspect
import math
import pickle

import numpy as np
import pytest
import torch
from torch import nn

import torch_ae_sad.model.base as base
from torch_ae_sad.model import DETECTORS, VAE, AutoEncoder, DeepSAD, DualDiscriminatorGAN
from torch_ae_sad.model.base import TorchDetector
from torch_ae_sad.model.training import (
    Checkpoint,
    Evaluator,
    Stage,
    StageResult,
    TrainConfig,
    Update,
    make_players,
    run_stage,
    run_stages,
    top_fraction_flags,
    train_step,
)

FAST = {"epochs": 2, "batch_size": 16, "hidden_dims": (16, 4), "channels": (4, 8),
        "rep_dim": 8, "pretrain_epochs": 1, "verbose": 0, "width": 8}


def fast(cls, **extra):
    accepted = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in {**FAST, **extra}.items() if k in accepted})


def bars(n_normal=30, n_anomalies=6, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.random((n_normal + n_anomalies, 1, 28, 28)) * 0.2).astype(np.float32)
    X[:n_normal, 0, 10:14, :] += 0.7
    X[n_normal:, 0, :, 10:14] += 0.7
    return X, np.r_[np.zeros(n_normal, int), np.ones(n_anomalies, int)]


@pytest.fixture
def spy(monkeypatch):
    """The stages a fit runs, with their modules' weights before training."""
    runs = []

    def recording(stage, *args, **kwargs):
        before = {u.name: copy.deepcopy(u.module.state_dict()) for u in stage.step_plan()[1]}
        result = run_stage(stage, *args, **kwargs)
        runs.append({"stage": stage, "before": before, "result": result,
                     "validated": args[2] is not None if len(args) > 2 else False})
        return result

    monkeypatch.setattr(base, "run_stage", recording)
    return runs


def changed(before, module):
    after = module.state_dict()
    return any(not torch.equal(before[k], after[k]) for k in before
               if before[k].is_floating_point())


# -- declared stages are what runs -----------------------------------------------------------
def test_deep_sad_runs_pretrain_then_sad_on_the_pretrained_encoder(spy):
    X, y = bars()
    Xv, yv = bars(8, 4, seed=1)
    model = fast(DeepSAD, pretrain_epochs=2, epochs=3).fit(X, y, X_val=Xv, y_val=yv)
    assert [r["stage"].name for r in spy] == ["pretrain", "sad"]
    pre, sad = spy
    # the sad stage trains the pre-trained auto-encoder's encoder itself (weights flow on)
    assert sad["stage"].module is pre["stage"].module.encoder is model.module_
    assert pre["stage"].config.epochs == 2 and sad["stage"].config.epochs == 3
    assert pre["stage"].config.lr == model.pretrain_lr and sad["stage"].config.lr == model.lr
    assert not pre["validated"] and sad["validated"]  # validation data: the sad stage only
    # one history per stage
    assert model.pretrain_history_ is pre["result"].history
    assert model.history_ is sad["result"].history
    assert len(model.pretrain_history_["train_loss"]) == 2
    assert len(model.history_["train_loss"]) == 3 and model.history_["criterion"] == "val_auc"
    # the centre reaches the loss and the score as an argument: scoring with it is the model's
    with torch.no_grad():
        xb = torch.as_tensor(X[:5])
        torch.testing.assert_close(sad["stage"].score_fn(model.module_.eval(), xb),
                                   model._score_batch(model.module_, xb))


def test_deep_sad_without_pretraining_runs_one_stage(spy):
    X, y = bars()
    model = fast(DeepSAD, pretrain=False).fit(X, y)
    assert [r["stage"].name for r in spy] == ["sad"]
    assert model.pretrain_history_ is None


@pytest.mark.parametrize("cls", [VAE, AutoEncoder])
def test_single_stage_detectors(spy, cls):
    X, y = bars()
    model = fast(cls, noise_std=0.1).fit(X, y)
    assert [r["stage"].name for r in spy] == ["train"]
    assert model.history_ is spy[0]["result"].history
    assert model.module_ is spy[0]["stage"].module


def test_gan_runs_one_adversarial_stage_with_two_updates(spy):
    X, y = bars()
    model = fast(DualDiscriminatorGAN, epochs=2, augment=True).fit(X, y)
    assert [r["stage"].name for r in spy] == ["adversarial"]
    (run,) = spy
    stage = run["stage"]
    assert [u.name for u in stage.updates] == ["d", "g"]
    assert stage.updates[0].module is model.discriminators_
    assert stage.updates[1].module is stage.module is model.module_
    # both networks were trained
    assert changed(run["before"]["d"], model.discriminators_)
    assert changed(run["before"]["g"], model.module_)
    # one discriminator loss per step, reported per epoch-sized period
    n_steps = run["result"].history["step"][-1]
    assert len(run["result"].step_losses["d"]) == n_steps
    assert model.history_["d_loss"] == pytest.approx(
        [np.mean(run["result"].step_losses["d"][i:i + n_steps // 2])
         for i in (0, n_steps // 2)])
    assert all(p.requires_grad for p in model.discriminators_.parameters())
    assert not model.discriminators_.training


class _NanSAD(DeepSAD):  # the sad stage fails, after pre-training succeeded
    def _loss(self, module, xb, yb, **kwargs):
        return super()._loss(module, xb, yb, **kwargs) * float("nan")


def test_fitted_attributes_are_set_only_when_every_stage_succeeded(spy):
    X, y = bars()
    model = fast(_NanSAD)
    with pytest.raises(FloatingPointError, match="training loss became nan"):
        model.fit(X, y)
    assert [r["stage"].name for r in spy] == ["pretrain"]  # completed before the failure
    for name in ("pretrain_history_", "history_", "module_", "c_"):
        assert not hasattr(model, name)


@pytest.mark.parametrize(("cls", "params", "match"), [
    (AutoEncoder, {"epochs": "ten"}, "epochs: expected an int"),
    (AutoEncoder, {"epochs": 0}, "epochs: expected >= 1"),
    (AutoEncoder, {"lr": -1.0}, "lr: expected a learning rate > 0"),
    (AutoEncoder, {"optimizer": "adagrad"}, "optimizer: expected one of"),
    (AutoEncoder, {"lr_milestones": [0]}, "lr_milestones: expected epochs >= 1"),
    (AutoEncoder, {"n_steps": 10, "lr_milestones": [2]}, "epoch mode"),
    (AutoEncoder, {"contamination": 0.7}, "contamination"),
    (DeepSAD, {"pretrain_lr": 0.0}, "pretrain_lr: expected a learning rate > 0"),
    (DeepSAD, {"pretrain_epochs": 0}, "pretrain_epochs: expected >= 1"),
    (VAE, {"beta": -1.0}, "beta: expected"),
    (DualDiscriminatorGAN, {"w_rec": -1.0}, "w_rec: expected"),
])
def test_check_params_without_data(spy, cls, params, match):
    model = cls(**params)
    with pytest.raises(ValueError, match=match):
        model.check_params()
    with pytest.raises(ValueError, match=match):
        model.fit(*bars())
    assert spy == [] and not hasattr(model, "device_")  # refused before anything ran
    cls().check_params()  # the defaults pass


@pytest.mark.parametrize("name", sorted(k for k, v in DETECTORS.items()
                                        if issubclass(v, TorchDetector)))
def test_no_transient_state_is_left_on_the_detector(name):
    X, y = bars()
    model = fast(DETECTORS[name], noise_std=0.1).fit(X, y)
    private = [k for k in vars(model) if k.startswith("_")]
    assert private == []
    assert not any(isinstance(v, torch.Generator) for v in vars(model).values())
    pickle.loads(pickle.dumps(model))  # no closures or generators held


# -- the stage plan driver -------------------------------------------------------------------
def test_run_stages_sends_each_result_back_and_returns_the_plan_value():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    seen = []

    def plan():
        first = yield Stage("first", a, lambda m, xb, yb: m(xb).sum(1))
        second = yield Stage("second", b, lambda m, xb, yb: m(xb).sum(1))
        return {"first": first, "second": second}

    def run(stage):
        seen.append(stage.name)
        return StageResult({"name": stage.name})

    out = run_stages(plan(), run)
    assert seen == ["first", "second"]
    assert out["first"].history == {"name": "first"} and out["second"].history["name"] == "second"


def test_stage_needs_exactly_a_loss_or_updates():
    m = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="exactly one"):
        Stage("none", m)
    upd = (Update("g", m, lambda out: out.sum(1)),)
    with pytest.raises(ValueError, match="exactly one"):
        Stage("both", m, lambda mod, xb, yb: xb.sum(1), updates=upd, forward=lambda *a: a)
    with pytest.raises(ValueError, match="forward"):
        Stage("no forward", m, updates=upd)
    with pytest.raises(ValueError, match="last one"):
        Stage("other module", nn.Linear(2, 2), updates=upd, forward=lambda *a: a)


# -- the two-optimiser step ------------------------------------------------------------------
def _toy_gan(seed=0):
    torch.manual_seed(seed)
    gen, disc = nn.Linear(4, 4), nn.Linear(4, 1)

    def forward(module, xb, yb):
        return module(xb)

    def d_loss(x_hat):
        return disc(x_hat.detach()).pow(2).mean()

    def g_loss(x_hat):
        return -disc(x_hat).squeeze(1)

    return gen, disc, forward, (Update("d", disc, d_loss), Update("g", gen, g_loss))


def test_two_optimiser_step_updates_both_in_order():
    gen, disc, forward, updates = _toy_gan()
    ref_gen, ref_disc = copy.deepcopy(gen), copy.deepcopy(disc)
    config = TrainConfig(optimizer="sgd", lr=0.1, optimizer_kwargs={"momentum": 0.0})
    players = make_players(updates, config)
    xb, yb = torch.rand(8, 4), torch.zeros(8, dtype=torch.long)
    loss, others = train_step(gen, forward, players, xb, yb)
    # by hand: the discriminator steps on G(x) detached, then G against the updated one
    x_hat = ref_gen(xb)
    d = ref_disc(x_hat.detach()).pow(2).mean()
    d.backward()
    with torch.no_grad():
        for p in ref_disc.parameters():
            p -= 0.1 * p.grad
    g = -ref_disc(x_hat).squeeze(1).mean()
    ref_gen.zero_grad()
    g.backward(inputs=list(ref_gen.parameters()))
    with torch.no_grad():
        for p in ref_gen.parameters():
            p -= 0.1 * p.grad
    for mine, ref in ((disc, ref_disc), (gen, ref_gen)):
        for p, q in zip(mine.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(p, q)
    assert [float(o) for o in others] == [pytest.approx(d.item())]
    assert loss.item() == pytest.approx(g.item())
    # the generator's loss put no gradient into the discriminator (frozen while it was built)
    torch.testing.assert_close(disc.weight.grad, ref_disc.weight.grad)
    assert all(p.requires_grad for p in [*gen.parameters(), *disc.parameters()])


def test_an_update_without_gradient_takes_no_step():
    gen, disc, forward, (_, g_update) = _toy_gan()
    idle = Update("d", disc, lambda x_hat: x_hat.new_zeros(()))  # nothing to learn from
    players = make_players((idle, g_update), TrainConfig(lr=0.1), lr_lambda=lambda s: 0.5)
    before = copy.deepcopy(disc.state_dict())
    _, others = train_step(gen, forward, players, torch.rand(8, 4),
                           torch.zeros(8, dtype=torch.long))
    assert [float(o) for o in others] == [0.0]
    assert all(torch.equal(v, disc.state_dict()[k]) for k, v in before.items())
    assert players[0].scheduler.last_epoch == 0 and players[1].scheduler.last_epoch == 1


def test_run_stage_with_updates_records_the_other_players_losses():
    gen, disc, forward, updates = _toy_gan()
    X, y = torch.rand(40, 4), torch.zeros(40, dtype=torch.long)
    stage = Stage("adv", gen, updates=updates, forward=forward,
                  config=TrainConfig(epochs=2, batch_size=10, verbose=0),
                  generator=torch.Generator().manual_seed(0))
    result = run_stage(stage, X, y, X[:10], y[:10])
    assert result.history["step"] == [4, 8] and len(result.history["val_loss"]) == 2
    assert list(result.step_losses) == ["d"] and len(result.step_losses["d"]) == 8


# -- the evaluator on its own ----------------------------------------------------------------
def _mse(module, xb, yb):
    return (module(xb) - xb).pow(2).mean(1)


def _err(module, xb):
    return (module(xb) - xb).pow(2).sum(1)


def test_evaluator_criteria():
    net = nn.Identity()
    assert Evaluator(_mse).criterion == "train_loss"
    assert Evaluator(_mse)(net, 0.25) == (-0.25, {})
    X = torch.rand(6, 3)
    normal = torch.zeros(6, dtype=torch.long)
    ev = Evaluator(_mse, _err, X, normal)  # no anomalies: the normals' loss
    assert ev.criterion == "val_loss" and ev(net, 1.0) == (-0.0, {"val_loss": 0.0})
    shift = nn.Linear(3, 3)
    with torch.no_grad():
        shift.weight.copy_(torch.eye(3))
        shift.bias.fill_(0.5)
    assert ev(shift, 1.0)[0] == pytest.approx(-0.25)
    # anomalies and a score: the metric; the normals' loss still recorded
    y = torch.tensor([0, 0, 0, 0, 1, 1])
    X[4:] += 10.0

    class Far(nn.Module):  # reconstructs the normals, misses the anomalies
        def forward(self, x):
            return torch.where(x[:, :1] > 5.0, x + 1.0, x)

    auc = Evaluator(_mse, _err, X, y, "auc")
    value, measured = auc(Far(), 1.0)
    assert auc.criterion == "val_auc" and value == 1.0
    assert measured == {"val_loss": 0.0, "val_auc": 1.0}
    f1 = Evaluator(_mse, _err, X, y, "f1")
    assert f1(Far(), 1.0) == (1.0, {"val_loss": 0.0, "val_f1": 1.0})
    assert top_fraction_flags(np.r_[0, 0, 0, 0, 3.0, 3.0], 2 / 6).tolist() == [0, 0, 0, 0, 1, 1]
    # only anomalies: no normals' loss (NaN), no metric
    only = Evaluator(_mse, _err, X[4:], y[4:])
    value, measured = only(Far(), 1.0)
    assert only.criterion == "val_loss" and math.isnan(measured["val_loss"])
    with pytest.raises(ValueError, match="val_metric"):
        Evaluator(_mse, metric="ap")


# -- the checkpoint on its own ---------------------------------------------------------------
def _weights(value):
    net = nn.Linear(1, 1)
    with torch.no_grad():
        net.weight.fill_(value)
    return net


def test_checkpoint_restores_the_best_evaluation():
    ckpt = Checkpoint("best")
    net = nn.Linear(1, 1)
    for step, value in enumerate([1.0, 3.0, 2.0, 2.5], 1):
        with torch.no_grad():
            net.weight.fill_(step)
        assert not ckpt.update(step, value, net)
    assert ckpt.best_step == 2 and not ckpt.stopped_early
    ckpt.restore(net)
    assert net.weight.item() == 2.0
    last = Checkpoint("last")
    for step, value in enumerate([1.0, 3.0, 2.0], 1):
        last.update(step, value, _weights(step))
    net = _weights(7.0)
    last.restore(net)
    assert last.best_step == 2 and net.weight.item() == 7.0  # last weights kept


def test_checkpoint_patience_stops():
    ckpt = Checkpoint("last", patience=2)
    net = nn.Linear(1, 1)
    assert [ckpt.update(s, v, net) for s, v in enumerate([1.0, 2.0, 1.5, 2.0], 1)] == \
        [False, False, False, True]
    assert ckpt.stopped_early and ckpt.best_step == 2
    assert not Checkpoint(patience=None).update(1, -math.inf, net)
    with pytest.raises(ValueError, match="select"):
        Checkpoint("top")
