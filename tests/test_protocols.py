"""Protocol presets and input scalings: settings against their sources, runs end to end."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from torch_ae_sad.dataset_loaders import SCALINGS, Split, one_vs_all, scale_split
from torch_ae_sad.dataset_loaders.scaling import dataset_mean_std, global_contrast_normalize
from torch_ae_sad.model import TOLL
from torch_ae_sad.model.experiment import expand_grid, make_spec, run_id
from torch_ae_sad.model.networks.toll_cifar import TollCifarNet
from torch_ae_sad.model.protocols import (
    AUTHORS_VAL_ANOMALIES,
    AUTHORS_VAL_FRACTION,
    PROTOCOLS,
    get_protocol,
    main,
    run_tabular,
    select,
)

#: The authors' README commands (Soltanilara/Toll): batch, beta, latent, lr per data set.
AUTHORS = {"toll_mnist": (1000, 1000.0, 128, 1e-4), "toll_fashion_mnist": (500, 100.0, 256, 1e-4),
           "toll_cifar10": (50, 10.0, 64, 1e-2), "toll_arrhythmia": (100, 10.0, 16, 1e-3)}


@pytest.mark.parametrize("name", sorted(AUTHORS))
def test_preset_settings_match_the_authors_and_the_docstring(name):
    p = get_protocol(name)
    batch, beta, latent, lr = AUTHORS[name]
    main_model = p.models[0]
    assert main_model["method"] == "TOLL"
    assert main_model["batch_size"] == batch and main_model["beta"] == beta
    assert main_model["hidden_dims"][-1] == latent and main_model["lr"] == lr
    assert main_model["n_steps"] == 2000 and main_model["eval_every"] == 20
    assert main_model["select"] == "best" and main_model["out_activation"] == "linear"
    assert p.seeds == tuple(range(10))
    text = " ".join(p.choices.values())
    for number in (batch, f"{beta:g}", f"{lr:g}"):  # every value is named in the choices
        assert str(number) in text, (name, number)
    # both selection variants of every scenario
    assert {s["selection"] for s in p.scenarios} == {"authors", "clean"}


def test_image_presets_validate_and_name_the_authors_validation():
    for p in PROTOCOLS.values():
        if p.kind != "images" or not p.name.startswith("toll"):
            continue
        scen, models = select(p, classes=[1], selections=["authors", "clean"])
        by_sel = {s["selection"]: s for s in scen}
        assert by_sel["authors"]["val_labelled"] == AUTHORS_VAL_ANOMALIES
        assert by_sel["clean"]["val_labelled"] == 0
        assert by_sel["authors"]["val_fraction"] == AUTHORS_VAL_FRACTION
        anomaly = [{k: v for k, v in s.items() if k != "selection"} for s in scen]
        specs = expand_grid(anomaly, [{"name": "none"}], models, [0], check_data=False,
                            **p.common)  # the data sets need not be on this machine
        assert all(s["scaling"] == p.common["scaling"] for s in specs)
        assert len({run_id(s) for s in specs}) == len(specs)  # the variants are distinct runs
    assert get_protocol("toll_mnist").published == {"TOLL beta=1000": 0.984, "TOLL beta=0": 0.947}


def test_deep_sad_preset_has_the_authors_milestone_and_no_validation():
    p = get_protocol("deep_sad_mnist")
    (model,) = p.models
    assert model["lr_milestones"] == [50] and model["epochs"] == 150
    assert model["lr"] == 1e-4 and model["pretrain_epochs"] == 150
    assert all(s["val_fraction"] == 0.0 and len(s["known_classes"]) == 1 for s in p.scenarios)
    assert len(p.scenarios) == 360
    scen, models = select(p, classes=[0])
    specs = expand_grid([{k: v for k, v in s.items() if k != "selection"} for s in scen],
                        [{"name": "none"}], models, [0], **p.common)
    assert len(specs) == 36


def test_lr_milestones_follow_the_authors_scheduler():
    from torch_ae_sad.model.training import milestone_factor, train_module

    factor = milestone_factor([3, 2], steps_per_epoch=3)
    # epoch 1 (steps 0-2) at lr, from epoch 2 at lr / 10, from epoch 3 at lr / 100
    assert [round(factor(s), 6) for s in range(9)] == [1, 1, 1, 0.1, 0.1, 0.1, .01, .01, .01]
    with pytest.raises(ValueError, match="lr_milestones"):
        milestone_factor([0], 3)
    # the loop takes them in epoch mode (3 steps per epoch here) and refuses random batches
    net = torch.nn.Linear(3, 3)
    X = torch.rand(25, 3)
    seen = []

    def loss(module, xb, yb):
        seen.append(len(xb))
        return (module(xb) - xb).pow(2).mean(1)

    train_module(net, loss, X, torch.zeros(25, dtype=torch.long), epochs=2, batch_size=10,
                 lr_milestones=[2], verbose=0)
    assert len(seen) == 6  # 3 steps per epoch
    with pytest.raises(ValueError, match="epoch mode"):
        train_module(net, loss, X, torch.zeros(25, dtype=torch.long), n_steps=3,
                     lr_milestones=[2], verbose=0)
    with pytest.raises(ValueError, match="lr_milestones"):
        TOLL(lr_milestones=[0], epochs=1, verbose=0).fit(np.random.rand(20, 4))


@pytest.mark.parametrize("name,shape", [("toll_mnist", (1, 28, 28)),
                                        ("toll_fashion_mnist", (1, 28, 28)),
                                        ("toll_cifar10", (3, 32, 32)),
                                        ("toll_mnist_dense", (1, 28, 28))])
def test_preset_networks_build_with_the_latent_size(name, shape):
    params = {k: v for k, v in get_protocol(name).models[0].items() if k != "method"}
    net = TOLL(**params)._build_module(shape)
    x = torch.randn(4, *shape)
    net.eval()
    x_hat, z = net(x)
    assert x_hat.shape == x.shape
    assert z.flatten(1).shape == (4, params["hidden_dims"][-1])


def test_toll_cifar_net_is_the_authors_architecture():
    net = TollCifarNet((3, 32, 32), latent_dim=64)
    convs = [m for m in net.modules()
             if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)]
    # bias-free everywhere except the 1x1 conv to the latent code
    assert [m.bias is not None for m in convs].count(True) == 1
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 12  # 6 + 6
    assert net.decoder[-1].bias.shape == (3, 32, 32)
    with pytest.raises(ValueError, match="TollCifarNet"):
        TollCifarNet((3, 28, 28))


def test_standardize_uses_the_authors_mnist_constants():
    mean, std = dataset_mean_std("mnist")
    assert mean == pytest.approx(0.1307, abs=1e-4) and std == pytest.approx(0.3081, abs=1e-4)
    split = one_vs_all("mnist", 3, labelled=0, seed=0)
    scaled, info = scale_split(split, "standardize", "mnist")
    assert info["mean"] == mean and scaled.meta["scaling"]["name"] == "standardize"
    np.testing.assert_allclose(scaled.X_test[:5], (split.X_test[:5] - mean) / std, rtol=1e-5)
    assert scaled.X_train.min() < -0.4 and scaled.X_train.max() > 2.7


def _image_split(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(60, 3, 32, 32)).astype(np.uint8)
    y = np.r_[np.zeros(50, np.int64), np.ones(10, np.int64)]
    return Split(X_train=X[:40], y_train=y[:40], X_val=X[40:50], y_val=y[40:50],
                 X_test=X[40:], y_test=y[40:], meta={})


def test_gcn_minmax_scales_training_normals_to_unit_range():
    split = _image_split()
    scaled, info = scale_split(split, "gcn_minmax")
    normals = scaled.X_train[split.y_train == 0]
    assert normals.min() == pytest.approx(0.0, abs=1e-6)
    assert normals.max() == pytest.approx(1.0, abs=1e-6)
    gcn = global_contrast_normalize(split.X_test.astype(np.float32) / 255)
    np.testing.assert_allclose(scaled.X_test, (gcn - info["min"]) / (info["max"] - info["min"]),
                               rtol=1e-5, atol=1e-6)
    # each GCN image has mean 0 and mean absolute value 1
    flat = gcn.reshape(len(gcn), -1)
    np.testing.assert_allclose(flat.mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(np.abs(flat).mean(1), 1, atol=1e-5)


def test_scaling_errors_and_spec_key():
    tab = Split(X_train=np.random.rand(20, 4).astype(np.float32), y_train=np.zeros(20, int),
                X_val=np.zeros((0, 4), np.float32), y_val=np.zeros(0, int),
                X_test=np.random.rand(5, 4).astype(np.float32), y_test=np.zeros(5, int))
    with pytest.raises(ValueError, match="gcn_minmax.*images"):
        scale_split(tab, "gcn_minmax")
    with pytest.raises(ValueError, match="scaling"):
        scale_split(tab, "zscore")
    custom, info = scale_split(tab, "standardize")  # arrays: fitted on the training part
    assert info["fitted_on"] == "split training part"
    assert abs(float(custom.X_train.mean())) < 1e-5
    assert SCALINGS == ("unit", "standardize", "gcn_minmax")
    base = make_spec(normal_classes=[1])
    assert run_id(base) == run_id(make_spec(normal_classes=[1], scaling="unit"))
    assert run_id(base) != run_id(make_spec(normal_classes=[1], scaling="standardize"))
    with pytest.raises(ValueError, match="scaling"):
        make_spec(normal_classes=[1], scaling="zscore")


def test_protocols_cli_runs_a_preset_on_mnist(tmp_path, capsys):
    summary = main(["run", "toll_mnist_dense", "--classes", "3", "--betas", "0", "1000",
                    "--steps", "4", "--seeds", "0", "--out", str(tmp_path / "rec"), "--quiet",
                    "--summary", str(tmp_path / "s.json")])
    assert {(r["selection"], r["model"]) for r in summary} == {
        (s, f"TOLL beta={b}") for s in ("authors", "clean") for b in ("0", "1000")}
    assert all(0.0 <= r["mean"] <= 1.0 and r["runs"] == 1 for r in summary)
    recs = [json.loads(p.read_text()) for p in (tmp_path / "rec").glob("*.json")]
    assert len(recs) == 4 and all(r["status"] == "ok" for r in recs)
    for r in recs:
        assert r["spec"]["scaling"] == "standardize"
        assert r["split"]["scaling"]["mean"] == pytest.approx(0.1307, abs=1e-4)
        n_val_n, n_val_a = r["split"]["n_val_normal"], r["split"]["n_val_anomalies"]
        assert n_val_a == (9 * n_val_n if r["spec"]["val_labelled"] else 0)
        assert r["history"]["criterion"] == ("val_auc" if n_val_a else "val_loss")
    assert json.loads((tmp_path / "s.json").read_text())["protocol"] == "toll_mnist_dense"
    main(["show", "toll_cifar10"])
    out = capsys.readouterr().out
    assert "gcn_minmax" in out and "Deviations" in out
    with pytest.raises(SystemExit):
        main(["run"])


def test_tabular_preset_runs_both_selections(tmp_path):
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (120, 6)), rng.normal(4, 1, (30, 6))]
    y = np.r_[np.zeros(120), np.ones(30)]
    path = tmp_path / "toy.npz"
    np.savez(path, X=X, y=y)
    p = get_protocol("toll_arrhythmia")
    p = type(p)(**{**p.__dict__, "models": [{**p.models[0], "hidden_dims": [8, 4, 2]}]})
    rows = run_tabular(p, data=path, seeds=[0, 1], n_steps=30)
    assert {(r["selection"], r["seed"]) for r in rows} == {
        (s, k) for s in ("authors", "clean") for k in (0, 1)}
    for r in rows:
        assert 0.0 <= r["f1"] <= 1.0 and r["roc_auc"] > 0.8  # well-separated toy anomalies
        assert r["best_step"] in range(20, 31)
    with pytest.raises(ValueError, match="tabular"):
        run_tabular(get_protocol("toll_mnist"), data=path, seeds=[0])
    assert re.search(r"14\.6", p.title)


def test_toll_trainer_lists_are_the_dense_preset():
    from torch_ae_sad.model import toll_trainer

    scen, models = select(get_protocol("toll_mnist_dense"), selections=["authors"],
                          betas=[1000.0, 0.0])
    assert toll_trainer.ANOMALY_CONFIG == [
        {k: v for k, v in s.items() if k != "selection"} for s in scen]
    for mine, theirs in zip(toll_trainer.MODEL_CONFIG, models, strict=True):
        assert {k: mine[k] for k in theirs} == theirs
