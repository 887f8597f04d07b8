import json

import numpy as np
import pytest

from torch_ae_sad.model.experiment import (
    expand_grid,
    load_records,
    make_spec,
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
    with pytest.raises(ValueError, match=r"one_vs_all expects one class"):
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
    (tmp_path / "other.json").write_text(json.dumps({"run_id": "x", "status": "ok"}))
    records, problems = load_records(tmp_path)
    assert [r["run_id"] for r in records] == ["x"]
    assert problems[0][0].name == "bad.json"


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
