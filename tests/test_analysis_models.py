"""Saved models, test noise, and the figures that need a trained model (small real runs)."""

import json

import numpy as np
import pytest

from torch_ae_sad.dataset_loaders import add_test_noise, one_vs_all
from torch_ae_sad.model import TOLL, AutoEncoder, DeepSAD, report_trainer
from torch_ae_sad.model.analysis import (
    data,
    latent_space,
    plotting,
    reconstructions,
    report,
    toll_dynamics,
)
from torch_ae_sad.model.analysis.data import Skip, load
from torch_ae_sad.model.experiment import load_model, make_spec, run_grid, run_id, run_one

PNG = b"\x89PNG\r\n\x1a\n"


def tiny_spec(**kw):
    """AE-SAD on scikit-learn's 8x8 digits, one epoch: a real run in well under a second."""
    base = {"dataset": "digits", "scenario": "one_vs_all", "normal_classes": [0],
            "labelled": 10, "method": "AESAD",
            "method_params": {"epochs": 1, "hidden_dims": [16, 4]}}
    return make_spec({**base, **kw})


@pytest.fixture()
def png_only(monkeypatch):
    monkeypatch.setattr(plotting, "FORMATS", ("png",))


@pytest.fixture(scope="module")
def activation_runs(tmp_path_factory):
    """Three AE-SAD runs that differ only in the decoder's last activation, models saved."""
    folder = tmp_path_factory.mktemp("records")
    specs = [tiny_spec(method_params={"epochs": 1, "hidden_dims": [16, 4],
                                      "out_activation": act})
             for act in ("tanh", "relu", "linear")]
    records = run_grid(specs, folder, verbose=0, save_models=True, threads=1)
    assert all(r["status"] == "ok" for r in records)
    return folder, records


# ----------------------------------------------------------------------------- runner
def test_saved_model_reproduces_the_recorded_scores(activation_runs):
    folder, records = activation_runs
    rec = records[0]
    assert (folder / rec["model_file"]).is_file()
    model = load_model(folder / rec["model_file"])
    X_test, _ = data.test_part(rec)
    with np.load(folder / rec["scores_file"], allow_pickle=False) as npz:
        np.testing.assert_allclose(model.decision_function(X_test), npz["test_scores"],
                                   rtol=1e-5)


def test_a_recorded_run_without_its_model_runs_again_with_save_models(tmp_path):
    spec = tiny_spec()
    (first,) = run_grid([spec], tmp_path, verbose=0, threads=1)
    assert "model_file" not in first
    (again,) = run_grid([spec], tmp_path, verbose=0, threads=1, save_models=True)
    assert again["model_file"] == f"{run_id(spec)}.model.pt"
    assert (tmp_path / again["model_file"]).is_file()


def test_models_come_back_from_local_worker_processes(tmp_path):
    (rec,) = run_grid([tiny_spec(seed=3)], tmp_path, verbose=0, threads=1, executor="local",
                      workers=1, save_models=True)
    assert rec["status"] == "ok"
    assert load_model(tmp_path / rec["model_file"]).threshold_ > 0


def test_noise_std_is_validated_and_keeps_old_run_ids():
    assert run_id(tiny_spec()) == run_id(tiny_spec(noise_std=0.0))
    assert run_id(tiny_spec()) != run_id(tiny_spec(noise_std=0.1))
    with pytest.raises(ValueError, match="noise_std: expected a number >= 0"):
        tiny_spec(noise_std=-0.1)
    with pytest.raises(ValueError, match="noise_std"):
        tiny_spec(noise_std="high")


def test_add_test_noise_touches_only_the_test_part_and_clips_images():
    split = one_vs_all("digits", 0, labelled=5)
    noisy = add_test_noise(split, 0.3, seed=1)
    assert noisy.X_train is split.X_train and noisy.X_val is split.X_val
    assert noisy.X_test.min() >= 0.0 and noisy.X_test.max() <= 1.0
    assert np.abs(noisy.X_test - split.X_test).mean() > 0.1
    np.testing.assert_array_equal(add_test_noise(split, 0.3, seed=1).X_test, noisy.X_test)
    assert add_test_noise(split, 0.0) is split
    with pytest.raises(ValueError, match="noise_std"):
        add_test_noise(split, -1.0)


def test_test_noise_lowers_the_auroc_of_a_run():
    clean, _ = run_one(tiny_spec(method_params={"epochs": 3, "hidden_dims": [16, 4]}))
    noisy, _ = run_one(tiny_spec(method_params={"epochs": 3, "hidden_dims": [16, 4]},
                                 noise_std=0.5))
    assert clean["status"] == noisy["status"] == "ok"
    assert noisy["metrics"]["roc_auc"] < clean["metrics"]["roc_auc"]


# ----------------------------------------------------------------------------- encode / reconstruct
def test_encode_and_reconstruct_shapes_and_errors():
    rng = np.random.default_rng(0)
    X = rng.random((64, 1, 8, 8), dtype=np.float32)
    ae = AutoEncoder(hidden_dims=[16, 3], epochs=1, verbose=0).fit(X)
    assert ae.encode(X).shape == (64, 3)
    X_hat = ae.reconstruct(X[:5])
    assert X_hat.shape == (5, 1, 8, 8)
    # the squared reconstruction error of reconstruct() is the plain AE's score
    np.testing.assert_allclose(((X[:5] - X_hat) ** 2).reshape(5, -1).sum(1),
                               ae.decision_function(X[:5]), rtol=1e-4)
    y = np.r_[np.zeros(60, int), np.ones(4, int)]
    sad = DeepSAD(network="dense", epochs=1, pretrain_epochs=1, verbose=0)
    sad.fit(X.reshape(64, -1), y)
    with pytest.raises(TypeError, match="DeepSAD has no auto-encoder"):
        sad.reconstruct(X.reshape(64, -1))


# ----------------------------------------------------------------------------- figures
def test_reconstructions_grid_from_a_saved_model(activation_runs, tmp_path, png_only):
    folder, records = activation_runs
    paths = reconstructions.draw(load(folder), tmp_path, run=records[0]["run_id"], n=4)
    assert [p.name for p in paths] == [f"{records[0]['run_id']}.png"]
    assert paths[0].read_bytes().startswith(PNG)


def test_reconstructions_and_latent_skip_runs_without_models(tmp_path, png_only):
    run_grid([tiny_spec()], tmp_path / "rec", verbose=0, threads=1)
    with pytest.raises(Skip, match="--save-models"):
        reconstructions.draw(load(tmp_path / "rec"), tmp_path / "out")
    with pytest.raises(Skip, match="--save-models"):
        latent_space.draw(load(tmp_path / "rec"), tmp_path / "out")
    assert reconstructions.main([str(tmp_path / "rec"), "--out", str(tmp_path / "o")]) == 1


def test_reconstructions_needs_images():
    with pytest.raises(Skip, match="needs images"):
        reconstructions.as_images(np.zeros((3, 5), np.float32))


def test_latent_space_per_run_and_activations_side_by_side(activation_runs, tmp_path,
                                                           png_only):
    folder, records = activation_runs
    groups = latent_space.activation_groups(records)
    assert len(groups) == 1
    assert [latent_space.out_activation(r) for r in groups[0]] == ["relu", "linear", "tanh"]
    paths = latent_space.draw(load(folder), tmp_path)
    names = sorted(p.relative_to(tmp_path).as_posix() for p in paths)
    assert "latent_activations.png" in names
    assert sum(n.startswith("latent_space/") for n in names) == 3


def test_project_keeps_2d_codes_and_projects_wider_ones():
    rng = np.random.default_rng(0)
    Z2 = rng.normal(size=(50, 2))
    same, prefix = latent_space.project(Z2)
    assert prefix == "z" and same is Z2
    wide = rng.normal(size=(50, 6))
    for projection, name in (("pca", "PC"), ("tsne", "t-SNE")):
        view, prefix = latent_space.project(wide, projection)
        assert view.shape == (50, 2) and prefix == name
    with pytest.raises(ValueError, match="projection"):
        latent_space.project(wide, "umap")


def test_toll_norm_term_closes_the_score_contours():
    """Without the norm, far along the principal axis looks normal; with it, anomalous."""
    X = toll_dynamics.gaussian(1000)
    far, centre = np.array([[6.0, 0.0]], np.float32), np.array([[0.0, 0.0]], np.float32)
    plain = toll_dynamics.linear_toll(0.0, 300).fit(X)
    toll = toll_dynamics.linear_toll(1.0, 300).fit(X)
    assert isinstance(toll, TOLL)
    assert plain.decision_function(far)[0] - plain.decision_function(centre)[0] < 0.5
    assert toll.decision_function(far)[0] - toll.decision_function(centre)[0] > 1.5


def test_toll_dynamics_figure_and_bad_arguments(tmp_path, png_only):
    paths = toll_dynamics.draw(tmp_path, beta=1.0, steps=(5, 20), n=300)
    assert [p.name for p in paths] == ["toll_dynamics.png"]
    with pytest.raises(ValueError, match="beta"):
        toll_dynamics.draw(tmp_path, beta=0.0)
    with pytest.raises(ValueError, match="steps"):
        toll_dynamics.draw(tmp_path, steps=(0,))


# ----------------------------------------------------------------------------- report
def test_report_draws_each_study_with_example_copies(activation_runs, tmp_path, png_only,
                                                     capsys):
    folder, _ = activation_runs
    records_dir = tmp_path / "records"
    records_dir.mkdir()
    (records_dir / "activations").symlink_to(folder, target_is_directory=True)
    (records_dir / "empty").mkdir()
    assert report.main([str(records_dir), "--out", str(tmp_path / "gen"),
                        "--no-dynamics"]) == 0
    out = tmp_path / "gen" / "activations"
    for name in ("example_reconstructions", "example_latent_space", "example_curves",
                 "latent_activations", "auroc_by_sampler"):
        assert (out / f"{name}.png").read_bytes().startswith(PNG), name
    assert (out / "tables" / "roc_auc.tex").is_file()
    assert not (tmp_path / "gen" / "empty").exists()
    assert "not drawn: activations/toll_beta" in capsys.readouterr().out


def test_report_missing_folder(tmp_path, capsys):
    assert report.main([str(tmp_path / "nope"), "--out", str(tmp_path / "g"),
                        "--no-dynamics"]) == 1
    err = capsys.readouterr().err
    assert "no records folder" in err and "report_trainer" in err
    with pytest.raises(Skip, match="no records"):
        report.study_folders(tmp_path)


def test_report_trainer_rejects_unknown_flags_and_trims_quick(tmp_path):
    with pytest.raises(SystemExit):
        report_trainer.main(["--out", str(tmp_path), "--bogus"])
    study = report_trainer.STUDIES["noise"]
    anomaly, samplers, models, argv = report_trainer.study_argv("noise", study, tmp_path,
                                                                True, ["--quiet"])
    assert len(anomaly) == 2 and len({a["noise_std"] for a in anomaly}) == 2
    assert all(m["epochs"] == 2 for m in models)
    assert argv[:4] == ["--out", str(tmp_path / "noise"), "--seeds", "0"]
    assert argv[-1] == "--quiet"
    act = report_trainer.STUDIES["activations"]
    assert "--save-models" in report_trainer.study_argv("activations", act, tmp_path, False,
                                                        [])[3]


def test_report_trainer_quick_activations_smoke_mnist(tmp_path, png_only):
    """MNIST smoke test of the study runner and the report on its records."""
    records = report_trainer.main(["--out", str(tmp_path / "rec"), "--quick", "--studies",
                                   "activations", "--quiet", "--threads", "1"])
    assert len(records) == 2 and all(r["status"] == "ok" for r in records)
    assert all((tmp_path / "rec" / "activations" / r["model_file"]).is_file() for r in records)
    assert json.loads((tmp_path / "rec" / "activations" / f"{records[0]['run_id']}.json")
                      .read_text())["spec"]["dataset"] == "mnist"
    assert report.main([str(tmp_path / "rec"), "--out", str(tmp_path / "gen"),
                        "--no-dynamics"]) == 0
    assert (tmp_path / "gen" / "activations" / "latent_activations.png").is_file()
