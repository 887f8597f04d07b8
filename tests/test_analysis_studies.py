"""Study scripts (TOLL beta curve, test-noise robustness, grid ranking) on synthetic records."""

import json
import math

import numpy as np
import pytest

from torch_ae_sad.model import TOLL
from torch_ae_sad.model.analysis import grid_ranking, noise_robustness, plotting, toll_beta
from torch_ae_sad.model.analysis.data import load
from torch_ae_sad.model.experiment import SCHEMA, make_spec, run_id, save_record

PNG = b"\x89PNG\r\n\x1a\n"
N_NORMAL, N_ANOMALOUS = 40, 10


@pytest.fixture(autouse=True)
def png_only(monkeypatch):
    monkeypatch.setattr(plotting, "FORMATS", ("png",))


def standard(n, seed):
    """``n`` values with mean exactly 0 and std (ddof=1) exactly 1."""
    z = np.random.default_rng(seed).normal(size=n)
    return (z - z.mean()) / z.std(ddof=1)


def make_run(folder, *, seed, auc, method="TOLL", params=None, normal=(0,), anomaly=None,
             noise_std=0.0, mu=(1.0, 2.0), sd=1.0, scores=True, used=None):
    """Save one ok run: its AUROC is ``auc``; normal test scores have mean ``mu[0]`` and std
    ``sd``, anomalous ones mean ``mu[1]``."""
    spec = make_spec(dataset="digits", scenario="many_vs_many" if anomaly else "one_vs_all",
                     normal_classes=list(normal), anomaly_classes=anomaly, labelled=10,
                     method=method, method_params={"epochs": 2, **(params or {})},
                     noise_std=noise_std, seed=seed)
    record = {"schema": SCHEMA, "run_id": run_id(spec), "status": "ok", "spec": spec,
              "train_seconds": 1.0,
              "metrics": {"roc_auc": auc, "average_precision": auc, "f1": 0.5, "threshold": 1.5}}
    if used is not None:  # the parameters the run used (run_one records all of them)
        record["method"] = {"name": method, "params": used}
    y = np.r_[np.zeros(N_NORMAL, int), np.ones(N_ANOMALOUS, int)]
    s = np.r_[mu[0] + sd * standard(N_NORMAL, seed), mu[1] + standard(N_ANOMALOUS, seed + 1)]
    arrays = {"y_test": y, "test_scores": s, "train_scores": s[:N_NORMAL], "y_val": y[:5],
              "val_scores": s[:5]}
    return save_record(folder, record, arrays if scores else None)


def pngs(folder):
    found = sorted(folder.rglob("*.png"))
    for path in found:
        assert path.read_bytes().startswith(PNG) and path.stat().st_size > 1000, path
    return found


def body(text):
    """The data rows of a Markdown table as lists of cells."""
    rows = [line for line in text.splitlines() if line.startswith("| ")][2:]
    return [[c.strip() for c in line.strip("|").split("|")] for line in rows]


# ----------------------------------------------------------------------------- TOLL beta
BETAS = (0, 0.1, 1, None, 100, 1000)  # None: no beta in the spec; the run used 10


def toll_auc(beta, normal):
    """AUROC falls with beta; scenario 1 is 0.1 lower."""
    return 0.95 - 0.05 * math.log10(1 + beta) - 0.1 * normal


def write_toll(folder, scenarios=(0, 1)):
    for normal in scenarios:
        for beta in BETAS:
            params = {} if beta is None else {"beta": beta}
            for seed in (0, 1):  # beta None: a run of an older default, beta 10, not in the spec
                make_run(folder, seed=seed, params=params, normal=(normal,),
                         auc=toll_auc(10 if beta is None else beta, normal) + 0.01 * seed,
                         used={"beta": 10.0} if beta is None else None)
    return folder


def test_toll_beta_curve_and_table(tmp_path, monkeypatch):
    folder = write_toll(tmp_path / "records")
    scales = []
    real_save = toll_beta.save_figure

    def save(fig, out, name):
        scales.append(fig.axes[0].get_xscale())
        return real_save(fig, out, name)

    monkeypatch.setattr(toll_beta, "save_figure", save)
    out = tmp_path / "figs"
    assert toll_beta.main([str(folder), "--out", str(out)]) == 0
    assert scales == ["symlog"]
    assert [p.name for p in pngs(out)] == ["toll_beta.png"]
    md = (out / "tables" / "toll_beta.md").read_text()
    assert "TOLL AUROC against beta" in md
    assert "| scenario | beta=0 | beta=0.1 | beta=1 | beta=10 | beta=100 | beta=1000 |" in md
    rows = body(md)
    assert [r[0] for r in rows] == ["digits 0 vs rest", "digits 1 vs rest"]
    for normal, row in enumerate(rows):
        means = [float(c.strip("*").split(" ± ")[0]) for c in row[1:]]
        expected = [toll_auc(b, normal) + 0.005 for b in (0, 0.1, 1, 10, 100, 1000)]
        assert means == pytest.approx(expected, abs=5e-4)  # the run's own beta, not today's
        assert row[1].startswith("**") and sum(c.startswith("**") for c in row) == 1
        assert row[1].endswith("± 0.007**")  # std over the two seeds: 0.01 / sqrt(2)
    tex = (out / "tables" / "toll_beta.tex").read_text()
    assert r"\toprule" in tex and r"\textbf{0.955 $\pm$ 0.007}" in tex


def test_toll_beta_other_varying_field_gets_its_own_line(tmp_path):
    folder = write_toll(tmp_path / "records", scenarios=(0,))
    for beta in (0, 1000):
        make_run(folder, seed=0, params={"beta": beta, "lr": 0.01}, auc=0.6)
    rows, common = toll_beta.curve_rows(load(folder))
    assert common == "digits 0 vs rest"
    assert {r["line"] for r in rows} == {"lr=default", "lr=0.01"}
    assert sorted({r["x"] for r in rows if r["line"] == "lr=0.01"}) == [0.0, 1000.0]
    assert len([r for r in rows if r["line"] == "lr=default"]) == 6


def test_toll_beta_skips(tmp_path, capsys):
    aesad = tmp_path / "aesad"
    for seed in (0, 1):
        make_run(aesad, seed=seed, auc=0.9, method="AESAD", params={"alpha": 1.0})
    assert toll_beta.main([str(aesad), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "no ok run with method TOLL (methods found: AESAD)" in err
    same = tmp_path / "same"
    make_run(same, seed=0, auc=0.9)  # no beta anywhere: the class default
    make_run(same, seed=1, auc=0.9, params={"beta": TOLL().beta})
    assert toll_beta.main([str(same), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "method_params.beta does not vary" in err
    assert f"beta={TOLL().beta:g} (the class default)" in err
    assert toll_beta.main([str(same), "--param", "nope", "--out", str(tmp_path / "o")]) == 1
    assert "TOLL has no parameter 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_toll_beta_any_method_parameter(tmp_path):
    folder = tmp_path / "records"
    for alpha in (0.5, 1.0, 2.0):
        make_run(folder, seed=0, auc=0.5 + alpha / 5, method="AESAD", params={"alpha": alpha})
    out = tmp_path / "figs"
    assert toll_beta.main([str(folder), "--out", str(out), "--method", "AESAD",
                           "--param", "alpha"]) == 0
    assert [p.name for p in pngs(out)] == ["aesad_alpha.png"]
    md = (out / "tables" / "aesad_alpha.md").read_text()
    assert body(md) == [["digits 0 vs rest", "0.600", "0.700", "**0.900**"]]


# ----------------------------------------------------------------------------- noise
NOISES = (0.0, 0.1, 0.5, 1.0)


def write_noise(folder):
    """AESAD and AutoEncoder; AUROC falls and the scores grow with the test noise."""
    for method, base, scale in (("AESAD", 0.95, 1.0), ("AutoEncoder", 0.85, 2.0)):
        for noise in NOISES:
            for seed in (0, 1):
                make_run(folder, seed=seed, method=method, noise_std=noise,
                         auc=base - 0.3 * noise + 0.01 * seed,
                         mu=(scale * (1.0 + noise), scale * (3.0 + 2 * noise + seed)))
    return folder


def test_noise_robustness(tmp_path, capsys):
    folder = write_noise(tmp_path / "records")
    # a record from before the noise_std key: no noise, groups with noise_std=0.0
    old = folder / f"{run_id(make_spec(dataset='digits', normal_classes=[0], labelled=10, method='AESAD', method_params={'epochs': 2}, seed=0))}.json"
    rec = json.loads(old.read_text())
    del rec["spec"]["noise_std"]
    old.write_text(json.dumps(rec))
    out = tmp_path / "figs"
    assert noise_robustness.main([str(folder), "--out", str(out)]) == 0
    assert [p.name for p in pngs(out)] == ["noise_robustness.png"]
    md = (out / "tables" / "noise_robustness.md").read_text()
    tables = md.split("**Mean test score")
    assert len(tables) == 2
    assert "| configuration | noise 0 | noise 0.1 | noise 0.5 | noise 1 |" in tables[0]
    rows = body(tables[0])
    assert [r[0] for r in rows] == ["AESAD", "AutoEncoder"]
    for row, base in zip(rows, (0.95, 0.85), strict=True):
        means = [float(c.strip("*").split(" ± ")[0]) for c in row[1:]]
        assert means == pytest.approx([base + 0.005 - 0.3 * n for n in NOISES], abs=5e-4)
        assert row[1].startswith("**") and not any(c.startswith("**") for c in row[2:])
    scores = {r[0]: r[1:] for r in body(tables[1])}
    assert scores["AESAD: normal"] == ["1.00 ± 0.00", "1.10 ± 0.00", "1.50 ± 0.00",
                                       "2.00 ± 0.00"]
    assert scores["AESAD: anomalous"][-1] == "5.50 ± 0.71"  # 3 + 2 + seed
    assert scores["AutoEncoder: normal"][-1] == "4.0 ± 0.0"  # 3 significant digits of 11
    tex = (out / "tables" / "noise_robustness.tex").read_text()
    assert tex.count("\\begin{tabular}") == 2 and r"\textbf{0.955 $\pm$ 0.007}" in tex
    assert capsys.readouterr().err == ""


def test_noise_robustness_missing_scores_only_leave_the_right_panel(tmp_path, capsys):
    folder = write_noise(tmp_path / "records")
    missing = []
    for path in sorted(folder.glob("*.json")):
        rec = json.loads(path.read_text())
        if rec["spec"]["method"] == "AESAD" and rec["spec"]["seed"] == 1:
            (folder / rec["scores_file"]).unlink()
            missing.append(rec["run_id"])
    rows, _, _ = noise_robustness.noise_rows(load(folder))
    err = capsys.readouterr().err
    assert all(f"run {rid}: scores file" in err for rid in missing) and "is missing" in err
    for row in rows:
        assert len(row["seeds"]) == 2 and row["roc_auc_std"] is not None  # AUROC: both seeds
        assert row["n_scores"] == (1 if row["method"] == "AESAD" else 2)
        if row["method"] == "AESAD":  # seed 0 only
            assert row["score_anomalous_mean"] == pytest.approx(3.0 + 2 * row["noise_std"])
            assert row["score_anomalous_std"] is None
    out = tmp_path / "figs"
    assert noise_robustness.main([str(folder), "--out", str(out)]) == 0
    assert len(pngs(out)) == 1


def test_noise_robustness_skips(tmp_path, capsys):
    folder = tmp_path / "records"
    for seed in (0, 1):
        make_run(folder, seed=seed, auc=0.9)
    assert noise_robustness.main([str(folder), "--out", str(tmp_path / "o")]) == 1
    assert "noise_std does not vary: every ok run has noise_std=0.0" in capsys.readouterr().err
    # two noise levels, but each on a different method: no curve
    make_run(folder, seed=0, auc=0.8, method="AESAD", noise_std=0.5)
    assert noise_robustness.main([str(folder), "--out", str(tmp_path / "o")]) == 1
    assert "no configuration was run at two or more noise_std values" in \
        capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- grid ranking
#: (alpha, lr) -> (AUROC, mean normal score, mean anomalous score, std of the normal scores)
GRID = {(0.5, 0.001): (0.90, 1.0, 1.5, 0.5),   # best AUROC, small gap
        (1.0, 0.001): (0.80, 1.0, 3.0, 2.0),   # largest gap, std gap 1
        (2.0, 0.001): (0.70, 1.0, 2.0, 0.25),  # middle gap, largest std gap 4
        (2.0, 0.01): (0.40, 2.0, 1.0, 1.0)}    # anomalies score lower: negative gap


def write_grid(folder, grid=GRID, scores=True):
    for (alpha, lr), (auc, mu0, mu1, sd) in grid.items():
        for seed in (0, 1):
            make_run(folder, seed=seed, method="AESAD", params={"alpha": alpha, "lr": lr},
                     normal=(4,), anomaly=[8], auc=auc + 0.02 * seed, mu=(mu0, mu1), sd=sd,
                     scores=scores)
    return folder


def test_grid_ranking(tmp_path, capsys):
    folder = write_grid(tmp_path / "records")
    out = tmp_path / "figs"
    assert grid_ranking.main([str(folder), "--out", str(out), "--top", "3"]) == 0
    stdout = capsys.readouterr().out
    assert "grid_ranking: digits 4 vs 8 (4 configurations)" in stdout
    assert "top 4 by AUROC:\n      1. alpha=0.5, lr=0.001  0.910 ± 0.014\n" in stdout
    assert "top 4 by gap:\n      1. alpha=1, lr=0.001  2.00 ± 0.00\n" in stdout
    assert "      4. alpha=2, lr=0.01  -1.00 ± 0.00\n" in stdout
    assert [p.name for p in pngs(out)] == ["grid_ranking.png"]
    md = (out / "tables" / "grid_ranking.md").read_text()
    assert "| configuration | AUROC | gap | std gap | rank AUROC | rank gap |" in md
    rows = body(md)
    assert [r[0] for r in rows] == ["alpha=0.5, lr=0.001", "alpha=1, lr=0.001",
                                    "alpha=2, lr=0.001", "alpha=2, lr=0.01"]
    assert [r[4] for r in rows] == ["**1**", "2", "3", "4"]  # rank by AUROC
    assert [r[5] for r in rows] == ["3", "**1**", "2", "4"]  # rank by gap
    assert rows[0][1] == "**0.910 ± 0.014**"
    assert rows[1][2] == "**2.00 ± 0.00**"  # the gap: anomalous - normal mean score
    assert rows[3][2] == "-1.00 ± 0.00" and rows[3][3] == "-1.00 ± 0.00"  # anomalies score lower
    assert rows[2][3] == "**4.00 ± 0.00**"  # standardized: 1 / 0.25
    tex = (out / "tables" / "grid_ranking.tex").read_text()
    assert r"\textbf{0.910 $\pm$ 0.014}" in tex and r"\bottomrule" in tex


def test_grid_ranking_by_standardized_gap(tmp_path):
    ranked = grid_ranking.ranking(load(write_grid(tmp_path / "records")), gap="standardized")
    (rows,) = ranked.values()
    by_config = {r["config"]: r for r in rows}
    assert by_config["alpha=2, lr=0.001"]["rank_gap"] == 1
    assert by_config["alpha=1, lr=0.001"]["rank_gap"] == 2
    assert by_config["alpha=2, lr=0.001"]["std_gap_mean"] == pytest.approx(4.0)
    assert by_config["alpha=2, lr=0.01"]["gap_mean"] == pytest.approx(-1.0)
    assert grid_ranking.ranks([0.5, None, 0.7, 0.5]) == [2, None, 1, 2]


def test_grid_ranking_without_scores_and_skips(tmp_path, capsys):
    folder = write_grid(tmp_path / "records", scores=False)
    out = tmp_path / "figs"
    assert grid_ranking.main([str(folder), "--out", str(out)]) == 0
    assert "names no scores file" in capsys.readouterr().err
    rows = body((out / "tables" / "grid_ranking.md").read_text())
    assert [r[1:] for r in rows][0] == ["**0.910 ± 0.014**", "-", "-", "**1**", "-"]
    assert len(pngs(out)) == 1
    single = write_grid(tmp_path / "single", grid={(0.5, 0.001): GRID[(0.5, 0.001)]})
    assert grid_ranking.main([str(single), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "fewer than 2 configurations in every scenario" in err
    assert "digits 4 vs 8: 1 configuration" in err
    assert not (tmp_path / "o").exists()
