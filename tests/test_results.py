"""The results CLI: mean ± std over seeds per configuration, CSV, corrupt files reported."""

import csv
import json

import numpy as np
import pytest

from torch_ae_sad.model.experiment import expand_grid
from torch_ae_sad.model.experiment.executors import run_specs
from torch_ae_sad.model.results import main, summarize

SMALL = {"hidden_dims": [16, 4], "epochs": 2, "batch_size": 64}
DIGITS = {"dataset": "digits", "scenario": "one_vs_all", "normal_classes": [0], "labelled": 10}


@pytest.fixture(scope="module")
def records_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("records")
    specs = expand_grid([DIGITS], [{"name": "none"}],
                        [{"method": "AESAD", **SMALL}, {"method": "TOLL", "beta": 1.0, **SMALL}],
                        seeds=[0, 1])
    specs += expand_grid([{**DIGITS, "labelled": 2}], [{"name": "nearmiss1", "ratio": 0.5}],
                         [{"method": "AESAD", **SMALL}], seeds=[0])  # fails: 2 < 3 anomalies
    records = run_specs(specs, out, threads=1, verbose=0)
    assert [r["status"] for r in records] == ["ok"] * 4 + ["failed"]
    return out


def _expected(out, method):
    recs = [json.loads(p.read_text()) for p in out.glob("*.json")]
    recs = [r for r in recs if r["spec"]["method"] == method and r["status"] == "ok"]
    assert sorted(r["spec"]["seed"] for r in recs) == [0, 1]
    auc = [r["metrics"]["roc_auc"] for r in recs]
    f1 = [r["metrics"]["f1"] for r in recs]
    secs = [r["train_seconds"] for r in recs]
    return {"roc_auc_mean": np.mean(auc), "roc_auc_std": np.std(auc, ddof=1),
            "f1_mean": np.mean(f1), "f1_std": np.std(f1, ddof=1),
            "train_s_mean": np.mean(secs),
            "normals_kept_mean": recs[0]["sampling"]["n_normal_after"]}


def test_table_and_csv_mean_std_over_seeds(records_dir, tmp_path, capsys):
    (records_dir / "broken.json").write_text('{"run_id": "x", "spec": ')
    csv_path = tmp_path / "out.csv"
    try:
        assert main([str(records_dir), "--csv", str(csv_path)]) == 0
    finally:
        (records_dir / "broken.json").unlink()
    captured = capsys.readouterr()
    assert "broken.json" in captured.err and "JSONDecodeError" in captured.err
    out = captured.out
    assert "5 runs (4 ok, 1 failed)" in out and "3 configurations" in out
    assert "±" in out and "expected at least 3 labelled anomalies" in out
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 3
    for method in ("AESAD", "TOLL"):
        exp = _expected(records_dir, method)
        row = next(r for r in rows if r["method"] == method and r["sampler"] == "none")
        assert row["n_ok"] == "2" and row["n_failed"] == "0" and row["seeds"] == "[0, 1]"
        for key, value in exp.items():
            assert float(row[key]) == pytest.approx(value, rel=1e-9, abs=1e-12), key
        line = next(ln for ln in out.splitlines() if f" {method} " in ln and " none " in ln)
        assert f"{exp['roc_auc_mean']:.4f} ± {exp['roc_auc_std']:.4f}" in line
    failed = next(r for r in rows if r["sampler"] == "nearmiss1")
    assert failed["n_ok"] == "0" and failed["n_failed"] == "1" and failed["roc_auc_mean"] == ""


def test_group_by_pools_configurations(records_dir, capsys):
    assert main([str(records_dir), "--group-by", "sampler", "--no-csv"]) == 0
    out = capsys.readouterr().out
    assert "2 configurations" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("none"))
    assert line.split()[1:3] == ["4", "0"]  # ok, failed


def test_default_csv_next_to_records(records_dir, capsys):
    assert main([str(records_dir)]) == 0
    assert (records_dir / "results.csv").exists()
    assert f"CSV: {records_dir / 'results.csv'}" in capsys.readouterr().out


def test_missing_or_empty_folder_exit_1(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 1
    assert "no records folder" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 1
    assert "no run records" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text("[1, 2")
    assert main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "junk.json" in err and "no run records" in err


def test_summarize_std_single_seed_is_none():
    rec = {"run_id": "a", "status": "ok", "spec": {"method": "X", "seed": 0},
           "metrics": {"roc_auc": 0.5, "average_precision": 0.4, "f1": 0.3},
           "train_seconds": 1.0, "sampling": {"n_normal_after": 10}}
    rows, fields = summarize([rec])
    assert fields == ["method"]
    assert rows[0]["roc_auc_mean"] == 0.5 and rows[0]["roc_auc_std"] is None
