import json

import numpy as np
import pytest

from torch_ae_sad.model.experiment import (
    SCHEMA,
    check_config_lists,
    expand_grid,
    load_records,
    make_spec,
    quick_model,
    run_grid,
    run_id,
    run_one,
    trainer_main,
)
from torch_ae_sad.model.metrics import evaluate

SMALL = {"method": "AESAD", "hidden_dims": [16, 4], "epochs": 2, "batch_size": 64}
PARAMS = {k: v for k, v in SMALL.items() if k != "method"}
DIGITS_OVA = {"dataset": "digits", "scenario": "one_vs_all", "normal_classes": [0],
              "labelled": 10}


def test_spec_validation_names_the_entry():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['epochz'\]"):
        make_spec(DIGITS_OVA, epochz=3)
    with pytest.raises(ValueError, match=r"unknown sampler 'smote'"):
        make_spec(DIGITS_OVA, sampler="smote")
    with pytest.raises(ValueError, match=r"method: expected one of .*found 'GANomaly'"):
        make_spec(DIGITS_OVA, method="GANomaly")
    with pytest.raises(ValueError, match=r"AESAD has no parameter\(s\) \['depth'\]"):
        make_spec(DIGITS_OVA, method_params={"depth": 3})
    with pytest.raises(ValueError, match=r"unknown dataset 'svhn'"):
        make_spec(DIGITS_OVA, dataset="svhn")
    with pytest.raises(ValueError, match=r"ratio: expected the fraction"):
        make_spec(DIGITS_OVA, sampler="random", sampler_params={"ratio": 2})
    with pytest.raises(ValueError, match=r"one_vs_all takes exactly one normal class"):
        make_spec(DIGITS_OVA, normal_classes=[0, 1])


def test_grid_fails_before_any_run(tmp_path):
    with pytest.raises(ValueError, match="nearmiss9"):
        expand_grid([DIGITS_OVA], [{"name": "none"}, {"name": "nearmiss9"}], [SMALL])


def test_run_id_stable_and_device_free():
    a = make_spec(DIGITS_OVA, sampler="random", sampler_params={"ratio": 0.5})
    b = make_spec({**DIGITS_OVA, "normal_classes": 0}, sampler="random",
                  sampler_params={"ratio": 0.5}, device="cpu")
    assert run_id(a) == run_id(b)
    assert run_id(a) != run_id(make_spec(DIGITS_OVA, seed=1))


def test_run_one_record_and_scores(tmp_path):
    spec = make_spec(DIGITS_OVA, sampler="random", sampler_params={"ratio": 0.5},
                     method_params=PARAMS)
    records = run_grid([spec], tmp_path, verbose=0)
    rec = records[0]
    assert rec["status"] == "ok", rec.get("traceback")
    on_disk = json.loads((tmp_path / f"{rec['run_id']}.json").read_text())
    assert on_disk["schema"] == 1 and on_disk["spec"]["sampler"] == "random"
    assert on_disk["sampling"]["n_normal_after"] == round(0.5 * on_disk["sampling"]["n_normal_before"])
    assert on_disk["environment"]["torch"] and on_disk["device"] == "cpu"
    assert len(on_disk["history"]["train_loss"]) == 2
    scores = np.load(tmp_path / on_disk["scores_file"])
    again = evaluate(scores["y_test"], scores["test_scores"], on_disk["metrics"]["threshold"])
    assert again["roc_auc"] == pytest.approx(on_disk["metrics"]["roc_auc"])
    assert again["confusion_matrix"] == on_disk["metrics"]["confusion_matrix"]


def test_grid_skips_finished_runs_and_records_failures(tmp_path):
    specs = expand_grid([DIGITS_OVA, {**DIGITS_OVA, "labelled": 2}],
                        [{"name": "none"}, {"name": "nearmiss1", "ratio": 0.5}],
                        [SMALL], seeds=[0])
    records = run_grid(specs, tmp_path, verbose=0)
    status = {(r["spec"]["labelled"], r["spec"]["sampler"]): r["status"] for r in records}
    # nearmiss needs 3 labelled anomalies: that run fails, the others go on
    assert status == {(10, "none"): "ok", (10, "nearmiss1"): "ok", (2, "none"): "ok",
                      (2, "nearmiss1"): "failed"}
    failed = next(r for r in records if r["status"] == "failed")
    assert "expected at least 3 labelled anomalies" in failed["error"]
    assert "Traceback" in failed["traceback"]
    mtimes = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.json")}
    run_grid(specs, tmp_path, verbose=0)
    for p in tmp_path.glob("*.json"):
        rec = json.loads(p.read_text())
        if rec["status"] == "ok":
            assert p.stat().st_mtime_ns == mtimes[p.name], "a finished run was run again"
    assert len(list(tmp_path.glob("*.json"))) == 4


def test_same_seed_same_metrics():
    spec = make_spec(DIGITS_OVA, method_params=PARAMS)
    a, _ = run_one(spec)
    b, _ = run_one(spec)
    assert a["metrics"] == b["metrics"]


def test_corrupt_record_reported(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "old.json").write_text(json.dumps({"run_id": "x", "status": "ok"}))
    (tmp_path / "nospec.json").write_text(json.dumps({"run_id": "y", "status": "ok",
                                                       "schema": SCHEMA}))
    (tmp_path / "good.json").write_text(json.dumps({"run_id": "z", "status": "failed",
                                                     "schema": SCHEMA, "spec": DIGITS_OVA}))
    records, problems = load_records(tmp_path)
    assert [r["run_id"] for r in records] == ["z"]
    # the one reader upgrades the spec: keys added later get their defaults
    assert records[0]["spec"]["noise_std"] == 0.0 and records[0]["spec"]["scaling"] == "unit"
    reasons = {path.name: reason for path, reason in problems}
    assert "JSONDecodeError" in reasons["bad.json"]
    assert "no 'schema' field" in reasons["old.json"]
    assert "'spec'" in reasons["nospec.json"]


@pytest.mark.slow
def test_trainer_cli_on_mnist(tmp_path, capsys):
    anomaly = [{"scenario": "one_vs_all", "normal_classes": [1], "labelled": 30}]
    samplers = [{"name": "random", "ratio": 0.3}, {"name": "none"}]
    model = [{"method": "AESAD", "hidden_dims": [64, 16], "epochs": 5, "batch_size": 128}]
    trainer_main(anomaly, samplers, model, description="t", dataset="mnist",
                 argv=["--quick", "--out", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    records, problems = load_records(tmp_path)
    assert len(records) == 2 and not problems
    assert all(r["status"] == "ok" for r in records)
    assert all(r["spec"]["method_params"]["epochs"] == 2 for r in records)  # --quick
    assert all(r["metrics"]["roc_auc"] > 0.9 for r in records)
    assert "roc_auc" in out and "2 ok, 0 failed" in out


TRAINERS = ["deep_ae_sad_multi_class_trainer", "deep_ae_sad_one_vs_all_trainer", "toll_trainer",
            "autoencoder_grid_trainer", "deep_sad_trainer", "baselines_trainer"]


@pytest.mark.parametrize("name", TRAINERS)
def test_trainer_help_and_config_lists(name, monkeypatch, capsys):
    import importlib

    module = importlib.import_module(f"torch_ae_sad.model.{name}")
    assert module.__doc__ and "python -m torch_ae_sad.model." + name in module.__doc__
    check_config_lists(module.ANOMALY_CONFIG, module.SAMPLER_CONFIG, module.MODEL_CONFIG,
                       dataset="mnist")
    monkeypatch.setattr("sys.argv", [name, "--help"])
    with pytest.raises(SystemExit) as exit_info:
        module.main()
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--quick", "--seeds", "--device", "--epochs", "--out", "--force", "--quiet",
                 "--workers", "--executor", "--ray-address"):
        assert flag in out


def test_config_lists_name_the_bad_entry():
    ok_a, ok_s, ok_m = [DIGITS_OVA], [{"name": "none"}], [SMALL]
    with pytest.raises(ValueError, match=r"ANOMALY_CONFIG entry 1 .*unknown key\(s\) "
                                         r"\['normal_class'\]"):
        check_config_lists([DIGITS_OVA, {"normal_class": 1}], ok_s, ok_m)
    with pytest.raises(ValueError, match=r"SAMPLER_CONFIG entry 1 .*sampler 'random' has no "
                                         r"parameter\(s\) \['ratoi'\]"):
        check_config_lists(ok_a, [{"name": "none"}, {"name": "random", "ratoi": 0.5}], ok_m)
    with pytest.raises(ValueError, match=r"SAMPLER_CONFIG entry 0 .*n_neighbors"):
        check_config_lists(ok_a, [{"name": "nearmiss1", "n_neighbors": "three"}], ok_m)
    with pytest.raises(ValueError, match=r"SAMPLER_CONFIG entry 0 .*random_state comes from"):
        check_config_lists(ok_a, [{"name": "random", "random_state": 3}], ok_m)
    with pytest.raises(ValueError, match=r"MODEL_CONFIG entry 1 .*TOLL has no parameter\(s\) "
                                         r"\['betta'\]"):
        check_config_lists(ok_a, ok_s, [SMALL, {"method": "TOLL", "betta": 1.0}])
    with pytest.raises(ValueError, match=r"MODEL_CONFIG entry 0 .*found 'GANomaly'"):
        check_config_lists(ok_a, ok_s, [{"method": "GANomaly"}])
    with pytest.raises(ValueError, match=r"ANOMALY_CONFIG entry 0 .*one_vs_all takes exactly one"):
        check_config_lists([{**DIGITS_OVA, "normal_classes": [0, 1]}], ok_s, ok_m)


def test_quick_budgets_only_where_the_method_has_them():
    assert quick_model({"method": "IForest", "n_estimators": 10}) == {"method": "IForest",
                                                                    "n_estimators": 10}
    q = quick_model({"method": "TOLL", "n_steps": 2000, "epochs": 50})
    assert q["n_steps"] == 50 and q["epochs"] == 2
    q = quick_model({"method": "DeepSAD", "pretrain_epochs": 150, "epochs": 150}, epochs=3)
    assert q["pretrain_epochs"] == 2 and q["epochs"] == 3


def test_trainer_main_flags_and_duplicates(tmp_path, capsys):
    models = [SMALL, {**SMALL, "epochs": 7}, {"method": "RandomGuess"}]
    records = trainer_main([DIGITS_OVA, {**DIGITS_OVA, "normal_classes": [1]}],
                           [{"name": "none"}, {"name": "random"}, {"name": "tomek"}], models,
                           description="t", dataset="digits",
                           argv=["--quick", "--out", str(tmp_path), "--quiet",
                                 "--executor", "serial", "--threads", "1", "--seeds", "3", "4"])
    out = capsys.readouterr().out
    # the two AESAD entries are identical after --quick: x2 samplers x2 seeds dropped
    assert "4 duplicate spec(s) dropped" in out
    assert len(records) == 8 and all(r["status"] == "ok" for r in records)
    assert {r["spec"]["seed"] for r in records} == {3, 4}  # explicit --seeds are kept
    assert {r["spec"]["sampler"] for r in records} == {"none", "random"}
    assert {r["executor"]["threads"] for r in records} == {1}
    with pytest.raises(SystemExit):
        trainer_main([DIGITS_OVA], [{"name": "none"}], [SMALL], description="t",
                     argv=["--workers", "0"])
