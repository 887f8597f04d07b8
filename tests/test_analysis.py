"""Analysis scripts: every plot and table from synthetic records written by save_record."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from torch_ae_sad.model.analysis import (
    SCRIPTS,
    auroc_by_sampler,
    confusion,
    curves,
    loss_curves,
    pareto,
    plotting,
    report,
    score_histograms,
    studies,
    tables,
    time_reduction,
)
from torch_ae_sad.model.analysis import (
    all as all_script,
)
from torch_ae_sad.model.analysis.data import load
from torch_ae_sad.model.experiment import SCHEMA, make_spec, run_id, save_record
from torch_ae_sad.model.metrics import evaluate

PNG = b"\x89PNG\r\n\x1a\n"
#: sampler -> (sampler params, training seconds, separation of the anomaly scores)
SAMPLERS = {"none": ({}, 10.0, 2.0), "random": ({"ratio": 0.5}, 4.0, 1.5),
            "nearmiss1": ({"ratio": 0.5}, 6.0, 1.0)}
SCENARIOS = ([0], [1])


def make_record(normal, sampler, seed, *, history=True):
    params, seconds, sep = SAMPLERS[sampler]
    spec = make_spec(dataset="digits", scenario="one_vs_all", normal_classes=normal,
                     labelled=10, sampler=sampler, sampler_params=params, method="AESAD",
                     method_params={"epochs": 2}, seed=seed)
    rng = np.random.default_rng(seed + 10 * normal[0])
    y = np.r_[np.zeros(80, int), np.ones(20, int)]
    s = rng.normal(size=100) + sep * y
    threshold = float(np.quantile(s, 0.8))
    metrics = evaluate(y, s, threshold)
    metrics["threshold_rule"] = {"name": "contamination", "contamination": 0.2}
    record = {"schema": SCHEMA, "run_id": run_id(spec), "status": "ok", "spec": spec,
              "sampling": {"n_normal_before": 160, "n_normal_after": 80 if params else 160,
                           "seconds": 0.5 if params else 0.0},
              "method": {"name": "AESAD", "params": {}},
              "train_seconds": seconds + 0.2 * seed, "metrics": metrics,
              "history": {"step": [1, 2, 3], "train_loss": [1.0, 0.5, 0.3],
                          "val_loss": [1.1, 0.7, 0.6], "val_auc": [], "seconds": [0.1, 0.2, 0.3],
                          "criterion": "val_loss", "best_step": 3, "stopped_early": False}
              if history else None}
    scores = {"y_test": y, "test_scores": s, "train_scores": s[:80], "y_val": y[:10],
              "val_scores": s[:10]}
    return record, scores


def write_records(folder, scenarios=SCENARIOS):
    for normal in scenarios:
        for sampler in SAMPLERS:
            for seed in (0, 1):
                save_record(folder, *make_record(normal, sampler, seed))
    return folder


@pytest.fixture()
def records(tmp_path):
    """Two scenarios x three samplers x two seeds."""
    return write_records(tmp_path / "records")


@pytest.fixture()
def small(tmp_path, monkeypatch):
    """One scenario x three samplers x two seeds, figures as PNG only (fast)."""
    monkeypatch.setattr(plotting, "FORMATS", ("png",))
    return write_records(tmp_path / "records", SCENARIOS[:1])


def pngs(folder):
    found = sorted(folder.rglob("*.png"))
    for path in found:
        assert path.read_bytes().startswith(PNG) and path.stat().st_size > 1000, path
    return found


@pytest.mark.parametrize("module,expected", [
    (auroc_by_sampler, ["auroc_by_sampler.png"]),
    (time_reduction, ["time_reduction.png"]),
    (pareto, ["pareto.png"]),
    (curves, ["curves/"] * 6),
    (score_histograms, ["score_histograms/"] * 6),
    (confusion, ["confusion/"] * 6),
    (loss_curves, ["loss_curves/"] * 6),
])
def test_each_script_draws(small, tmp_path, module, expected):
    out = tmp_path / "figs"
    assert module.main([str(small), "--out", str(out)]) == 0
    found = pngs(out)
    assert len(found) == len(expected)
    for path, prefix in zip(found, expected, strict=True):
        assert str(path.relative_to(out)).startswith(prefix)


def test_figures_also_as_pdf(records, tmp_path):
    out = tmp_path / "figs"
    assert auroc_by_sampler.main([str(records), "--out", str(out)]) == 0
    assert (out / "auroc_by_sampler.pdf").read_bytes().startswith(b"%PDF")
    assert len(pngs(out)) == 1


def test_per_run_script_draws_a_chosen_run(records, tmp_path):
    rid = sorted(p.stem for p in records.glob("*.json"))[0]
    out = tmp_path / "figs"
    assert curves.main([str(records), "--out", str(out), "--run", rid[:6]]) == 0
    assert [p.stem for p in pngs(out)] == [rid]
    assert curves.main([str(records), "--out", str(out), "--run", "zzz"]) == 1


def test_time_reduction_values(records):
    rows, _ = time_reduction.reductions(load(records).records)
    assert len(rows) == 6
    for row in rows:
        seconds = SAMPLERS[row["sampler"]][1] + 0.1  # mean of seeds 0 and 1
        assert row["train_s_mean"] == pytest.approx(seconds)
        assert row["ref_train_s"] == pytest.approx(10.1)
        assert row["reduction"] == pytest.approx(1 - seconds / 10.1)
        sampling = 0.5 if row["sampler"] != "none" else 0.0
        assert row["reduction_total"] == pytest.approx(1 - (seconds + sampling) / 10.1)


def test_pareto_front():
    mask = pareto.pareto_front([1, 2, 3, 2, 1], [0.5, 0.9, 0.95, 0.8, 0.5])
    assert mask.tolist() == [True, True, True, False, True]


def test_pareto_front_of_records(records):
    rows = pareto.points(load(records).records)
    for row in rows:
        # nearmiss1 is slower than random and (by construction) worse
        assert row["front"] == (row["sampler"] != "nearmiss1"), row["label"]


def test_tables_bold_best(records, tmp_path):
    out = tmp_path / "figs"
    assert tables.main([str(records), "--out", str(out)]) == 0
    tex = (out / "tables" / "train_s.tex").read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    body = [line for line in tex.splitlines() if line.startswith("digits")]
    assert len(body) == 2
    for line in body:  # columns: none, nearmiss1, random; random (4.1 s) is the fastest
        cells = line.rstrip(" \\").split(" & ")
        assert cells[1:] == ["10.10 $\\pm$ 0.14", "6.10 $\\pm$ 0.14",
                             "\\textbf{4.10 $\\pm$ 0.14}"]
    md = (out / "tables" / "time_reduction.md").read_text()
    assert f"**{100 * (1 - 4.1 / 10.1):.1f}**" in md
    for name in ("roc_auc", "aupr", "f1", "normals_kept"):
        assert (out / "tables" / f"{name}.md").stat().st_size > 0
    auc = (out / "tables" / "roc_auc.md").read_text()
    assert auc.count("**") >= 2 * 2 + 2  # caption + one bold best per row


def test_all_draws_everything(small, tmp_path, capsys):
    out = tmp_path / "figs"
    assert all_script.main([str(small), "--out", str(out)]) == 0
    # 3 aggregate figures, 4 per-run figures x 6 runs, the grid ranking (of the samplers)
    assert len(pngs(out)) == 3 + 4 * 6 + 1
    # the studies these records are not made for say so, the others are drawn
    assert capsys.readouterr().out.strip().endswith(
        "not drawn: significance, toll_beta, noise_robustness, reconstructions, latent_space")
    assert len(SCRIPTS) == 14


def test_missing_or_empty_folder(tmp_path, capsys):
    assert all_script.main([str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 1
    assert "no records folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert auroc_by_sampler.main([str(tmp_path / "empty")]) == 1
    assert "no run records" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_unknown_schema_and_missing_scores(small, tmp_path, capsys):
    records = small
    paths = sorted(records.glob("*.json"))
    old = json.loads(paths[0].read_text())
    del old["schema"]
    paths[0].write_text(json.dumps(old))
    future = json.loads(paths[1].read_text())
    future["schema"] = 99
    paths[1].write_text(json.dumps(future))
    for path in paths[2:]:  # every other run loses its scores
        rec = json.loads(path.read_text())
        (records / rec["scores_file"]).unlink()
    (records / "garbage.json").write_text("{")
    out = tmp_path / "figs"
    assert all_script.main([str(records), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "no 'schema' field" in err and "schema 99; this version reads schema 1" in err
    assert "garbage.json" in err
    assert "scores file" in err and "is missing" in err
    assert "curves: nothing drawn" in err and "score_histograms: nothing drawn" in err
    found = [str(p.relative_to(out)) for p in pngs(out)]
    assert "auroc_by_sampler.png" in found and "pareto.png" in found
    assert sum(p.startswith("confusion/") for p in found) == 4
    assert not any(p.startswith("curves/") for p in found)


def test_records_without_history_or_scores_files(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(plotting, "FORMATS", ("png",))
    folder = tmp_path / "records"
    for sampler in SAMPLERS:
        rec, _ = make_record([0], sampler, 0, history=False)
        save_record(folder, rec, None)
    assert loss_curves.main([str(folder), "--out", str(tmp_path / "o")]) == 1
    assert "no ok run has a loss history" in capsys.readouterr().err
    assert curves.main([str(folder), "--out", str(tmp_path / "o")]) == 1
    assert "names no scores file" in capsys.readouterr().err
    assert all_script.main([str(folder), "--out", str(tmp_path / "o")]) == 0


# ----------------------------------------------------------------------------- report
LATEX = Path(__file__).resolve().parents[1] / "latex"
INCLUDE = re.compile(r"\\gen(?:image|figure|table)(?:\[[^\]]*\])?\{([^}#]+)\}")


def latex_includes():
    """Every generated path the thesis and the slides include."""
    sources = [*(LATEX / "thesys").rglob("*.tex"), LATEX / "presentation" / "main.tex"]
    return {m for path in sources for m in INCLUDE.findall(path.read_text())}


def test_report_on_the_main_jobs_folder_fills_the_sampler_section(tmp_path, monkeypatch,
                                                                  capsys):
    """A sampler grid in json_metrics/staged (the main job's output) fills the sampler study."""
    monkeypatch.setattr(plotting, "FORMATS", ("png",))
    records = write_records(tmp_path / "json_metrics" / "staged")
    gen = tmp_path / "generated"
    assert report.main([str(records), "--out", str(gen), "--no-dynamics"]) == 0
    out = capsys.readouterr().out
    assert f"{records}: feeds samplers (12 of 12 records)" in out
    wanted = sorted(p for p in latex_includes() if p.startswith("samplers/"))
    assert len(wanted) == 11
    for path in wanted:  # under the names the documents include
        assert studies.generated(gen, *path.split("/", 1)) is not None, path
    assert (gen / "samplers" / "example_curves.png").read_bytes().startswith(PNG)
    assert not (gen / "staged").exists()
    assert "  filled   samplers:" in out
    for study in ("grid_search", "toll_beta", "noise", "activations"):
        assert (f"  EMPTY    {study}: " in out and f"fill it with: python -m "
                f"torch_ae_sad.model.report_trainer --out {records} --studies {study}" in out)
    assert "EMPTY    toll_dynamics" in out and "without --no-dynamics" in out
    assert report.main(["--status", "--out", str(gen)]) == 0
    status = capsys.readouterr().out
    assert "filled   samplers" in status and "--out RECORDS_DIR --studies noise" in status


def test_report_detects_each_study_in_one_mixed_folder(tmp_path):
    records = load(write_records(tmp_path / "records")).records
    assert set(studies.detect(records)) == {"samplers"}
    one_sampler = [r for r in records if r["spec"]["sampler"] == "none"]
    assert studies.detect(one_sampler) == {}
    noisy = [{**r, "spec": {**r["spec"], "noise_std": 0.1 * r["spec"]["seed"]}}
             for r in one_sampler]
    assert set(studies.detect(noisy)) == {"noise"}
    grid = [{**r, "spec": {**r["spec"], "method_params": {"lr": 0.1 * k, "alpha": k}}}
            for k, r in enumerate(one_sampler)]
    assert set(studies.detect(grid)) == {"grid_search"}
    one_param = [{**r, "spec": {**r["spec"], "method_params": {"lr": 0.1 * k}}}
                 for k, r in enumerate(one_sampler)]
    assert studies.detect(one_param) == {}  # a one-parameter sweep is no grid


# ----------------------------------------------------------------------------- --out checks
def test_out_that_is_a_file_is_one_clear_error(small, tmp_path, capsys):
    out = tmp_path / "figures.png"
    out.write_text("not a folder")
    assert all_script.main([str(small), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (f"error: --out {out}: expected a folder, found a file "
                                    "(give another --out DIR)")
    assert "Traceback" not in captured.err and captured.out == ""
    assert out.read_text() == "not a folder"
    assert curves.main([str(small), "--out", str(out / "sub")]) == 2
    assert f"cannot make this folder, {out} is a file" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to read-only folders")
def test_read_only_records_folder_for_the_default_out(small, capsys):
    small.chmod(0o555)
    try:
        assert all_script.main([str(small)]) == 2
    finally:
        small.chmod(0o755)
    err = capsys.readouterr().err.strip()
    assert err == (f"error: --out {small / 'figures'}: cannot write there ({small} is not "
                   "writable); give a writable --out DIR")
    assert not (small / "figures").exists()


def test_a_folder_named_after_a_study_feeds_it_first(tmp_path, capsys):
    root = write_records(tmp_path / "staged", SCENARIOS[:1])  # a sampler grid ...
    write_records(root / "samplers", SCENARIOS[1:])  # ... and report_trainer's sampler study
    plan, problems = report.plan_studies(root)
    assert list(plan) == ["samplers"] and plan["samplers"].folder == root / "samplers"
    assert problems == [f"samplers: also fed by {root}, left out (drawn from "
                        f"{root / 'samplers'})"]
