"""Significance script (Friedman, Nemenyi, Wilcoxon-Holm) and the table marks, on records with
designed AUROCs."""

import json

import numpy as np
import pytest

from torch_ae_sad.model.analysis import plotting, rank_tests, significance, tables
from torch_ae_sad.model.analysis.data import Skip, load
from torch_ae_sad.model.experiment import SCHEMA, make_spec, run_id, save_record

PNG = b"\x89PNG\r\n\x1a\n"
SAMPLER_PARAMS = {"none": {}, "random": {"ratio": 0.5}, "nearmiss1": {"ratio": 0.5},
                  "enn": {"feature_space": "pca", "n_components": 5}}


@pytest.fixture(autouse=True)
def png_only(monkeypatch):
    monkeypatch.setattr(plotting, "FORMATS", ("png",))


def make_run(folder, *, auc, sampler="none", method="AESAD", normal=0, seed=0):
    """Save one ok run of AUROC ``auc`` (no scores file: these scripts need none)."""
    spec = make_spec(dataset="digits", scenario="one_vs_all", normal_classes=[normal],
                     labelled=10, sampler=sampler, sampler_params=SAMPLER_PARAMS[sampler],
                     method=method, method_params={"epochs": 2}, seed=seed)
    record = {"schema": SCHEMA, "run_id": run_id(spec), "status": "ok", "spec": spec,
              "train_seconds": 1.0,
              "metrics": {"roc_auc": auc, "average_precision": auc, "f1": 0.5}}
    return save_record(folder, record, None)


def base(normal, seed):
    """A block's level: blocks differ much more than the treatments do."""
    return 0.6 + 0.05 * normal + 0.01 * seed


#: sampler -> its AUROC minus the block's level: random better in every block, enn equal to
#: none on average (+-0.002 by seed parity), nearmiss1 worse.
EFFECTS = {"none": lambda seed: 0.0, "random": lambda seed: 0.03,
           "enn": lambda seed: 0.002 * (-1) ** seed, "nearmiss1": lambda seed: -0.04}


def write_samplers(folder, normals=(0, 1), seeds=range(5), samplers=tuple(EFFECTS), skip=()):
    """Every sampler x scenario x seed, except the ``(sampler, normal, seed)`` in ``skip``."""
    for normal in normals:
        for seed in seeds:
            for sampler in samplers:
                if (sampler, normal, seed) not in skip:
                    make_run(folder, sampler=sampler, normal=normal, seed=seed,
                             auc=base(normal, seed) + EFFECTS[sampler](seed))
    return folder


def run_main(folder, out, *extra):
    return significance.main([str(folder), "--out", str(out), *extra])


def result_json(out, name="significance_sampler"):
    return json.loads((out / f"{name}.json").read_text())


def pairs_by_name(payload):
    return {(t["first"], t["second"]): t for t in payload["wilcoxon_holm"]}


# ----------------------------------------------------------------------------- the tests
def test_wilcoxon_pair_and_holm():
    assert rank_tests.wilcoxon_pair([1, 2, 3], [1, 2, 3]) == (None, 1.0)
    _, p = rank_tests.wilcoxon_pair(np.arange(6) + 1.0, np.zeros(6))
    assert p == pytest.approx(2 / 2 ** 6)  # exact: the smallest two-sided p of 6 pairs
    adjusted, reject = rank_tests.holm([0.01, 0.04, 0.03], 0.05)
    assert adjusted == pytest.approx([0.03, 0.06, 0.06]) and reject == [True, False, False]
    assert rank_tests.friedman(np.ones((4, 2))) is None  # two treatments: Wilcoxon's job
    assert rank_tests.average_ranks([[0.9, 0.8, 0.8]]).tolist() == [1.0, 2.5, 2.5]
    # Demsar's table: q_0.05 = 2.343 for k = 3
    assert rank_tests.critical_difference(3, 6, 0.05) == pytest.approx(2.343 * np.sqrt(2 / 6),
                                                                       abs=1e-3)


def test_better_everywhere_is_significant_and_ranked_first(tmp_path):
    folder = write_samplers(tmp_path / "records")
    out = tmp_path / "figs"
    assert run_main(folder, out) == 0
    payload = result_json(out)
    assert payload["blocks_by"] == "seed" and len(payload["values"]) == 2 * 5
    assert payload["treatments"] == ["none", "enn pca5", "nearmiss1 0.5", "random 0.5"]
    ranks = payload["ranks"]
    assert min(ranks, key=ranks.get) == "random 0.5" and ranks["random 0.5"] == 1.0
    assert max(ranks, key=ranks.get) == "nearmiss1 0.5"
    assert payload["friedman"]["p"] < 1e-4
    pairs = pairs_by_name(payload)
    assert len(pairs) == 6  # every pair, Holm over the 6
    better = pairs[("random 0.5", "none")]
    assert better["significant"] and better["p_holm"] < 0.05
    assert better["first_better"] == 10 and better["mean_diff"] == pytest.approx(0.03)
    assert pairs[("nearmiss1 0.5", "none")]["significant"]
    equal = pairs[("enn pca5", "none")]
    assert not equal["significant"] and equal["p"] > 0.5
    assert payload["nemenyi_p"]["random 0.5"]["nearmiss1 0.5"] < 0.05


def test_against_a_control_and_another_metric(tmp_path):
    folder = write_samplers(tmp_path / "records")
    out = tmp_path / "figs"
    assert run_main(folder, out, "--control", "none", "--metric", "aupr") == 0
    payload = result_json(out, "significance_sampler_aupr")
    assert set(pairs_by_name(payload)) == {("enn pca5", "none"), ("nearmiss1 0.5", "none"),
                                           ("random 0.5", "none")}
    md = (out / "tables" / "significance_sampler_aupr.md").read_text()
    assert "each sampler against none" in md


def test_equal_treatments_are_not_significant(tmp_path):
    folder = tmp_path / "records"
    for normal in (0, 1):
        for seed in range(6):
            for sampler in ("none", "random", "enn"):
                make_run(folder, sampler=sampler, normal=normal, seed=seed,
                         auc=base(normal, seed))
    des = significance.design(load(folder).records)
    res = significance.analyse(des)
    assert not any(t.significant for t in res.pairs)
    assert all(t.p == 1.0 for t in res.pairs)
    assert res.friedman == (0.0, 1.0)
    assert res.ranks.tolist() == [2.0, 2.0, 2.0]
    assert (res.nemenyi.to_numpy() >= 0.05).all()


def test_missing_blocks_are_dropped_and_named(tmp_path, capsys):
    folder = write_samplers(tmp_path / "records", skip={("random", 1, 3), ("enn", 0, 0)})
    out = tmp_path / "figs"
    assert run_main(folder, out) == 0
    err = capsys.readouterr().err
    assert "dropped block digits 1 vs rest, seed 3: no ok run of random 0.5" in err
    assert "dropped block digits 0 vs rest, seed 0: no ok run of enn pca5" in err
    payload = result_json(out)
    assert payload["dropped"] == {"digits 0 vs rest, seed 0": ["enn pca5"],
                                  "digits 1 vs rest, seed 3": ["random 0.5"]}
    assert len(payload["values"]) == 8
    md = (out / "tables" / "significance_sampler.md").read_text()
    assert "over 8 complete blocks" in md
    assert "Dropped 2 block(s) lacking a sampler" in md and "(no random 0.5)" in md


def test_figure_and_tables_are_written(tmp_path, capsys):
    folder = write_samplers(tmp_path / "records")
    out = tmp_path / "figs"
    assert run_main(folder, out) == 0
    written = capsys.readouterr().out.split()
    assert {p.rsplit("/", 1)[-1] for p in written} == {
        "significance_sampler.png", "significance_sampler.md", "significance_sampler.tex",
        "significance_sampler.json"}
    png = out / "significance_sampler.png"
    assert png.read_bytes().startswith(PNG) and png.stat().st_size > 5000
    md = (out / "tables" / "significance_sampler.md").read_text()
    assert md.startswith("**Pairwise tests of the samplers** (two-sided Wilcoxon")
    assert "| random 0.5 vs none | 10 | 0.0300 | 10 | 0 |" in md
    assert "Friedman chi2 = " in md
    tex = (out / "tables" / "significance_sampler.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\label{tab:significance-sampler}" in tex
    row = next(line for line in tex.splitlines() if line.startswith("random 0.5 vs none"))
    assert r"\textbf{" in row  # significant after Holm: bold
    row = next(line for line in tex.splitlines() if line.startswith("enn pca5 vs none"))
    assert r"\textbf{" not in row


def test_cd_diagram_colours_and_order(tmp_path, monkeypatch):
    """The diagram gets each sampler's fixed colour, and random at rank 1."""
    seen = {}

    def spy(ranks, sig, *, cd=None, **kwargs):  # the installed version's keywords
        seen.update(ranks=dict(ranks), colors=kwargs["color_palette"], cd=cd)
        return real(ranks, sig, cd=cd, **kwargs)

    real = significance.scikit_posthocs.critical_difference_diagram
    monkeypatch.setattr(significance.scikit_posthocs, "critical_difference_diagram", spy)
    folder = write_samplers(tmp_path / "records")
    assert run_main(folder, tmp_path / "figs") == 0
    from torch_ae_sad.model.experiment.labels import sampler_style
    assert seen["colors"]["random 0.5"] == sampler_style("random")["color"]
    assert seen["colors"]["none"] == sampler_style("none")["color"]
    assert min(seen["ranks"], key=seen["ranks"].get) == "random 0.5"
    assert seen["cd"] == pytest.approx(rank_tests.critical_difference(4, 10, 0.05))


def test_two_treatments_have_no_friedman_but_a_diagram(tmp_path):
    folder = write_samplers(tmp_path / "records", seeds=range(3), samplers=("none", "random"))
    out = tmp_path / "figs"
    assert run_main(folder, out) == 0
    payload = result_json(out)
    assert payload["friedman"] is None and len(payload["wilcoxon_holm"]) == 1
    assert (out / "significance_sampler.png").stat().st_size > 5000
    assert "Friedman: none (2 treatments" in (out / "tables" / "significance_sampler.md").read_text()


def test_skip_on_one_treatment(tmp_path, capsys):
    folder = write_samplers(tmp_path / "records", samplers=("none",))
    out = tmp_path / "figs"
    assert run_main(folder, out) == 1
    err = capsys.readouterr().err
    assert "Friedman needs >= 2 treatments over >= 3 complete blocks" in err
    assert "found 1 sampler(s) (none) over 10 complete block(s)" in err
    assert not out.exists() or not any(out.rglob("*.*"))


def test_skip_on_too_few_blocks(tmp_path):
    folder = write_samplers(tmp_path / "records", normals=(0,), seeds=(0, 1))
    with pytest.raises(Skip, match="over 2 complete block"):
        significance.design(load(folder).records)


def test_methods_blocks_are_scenarios_with_seeds_averaged(tmp_path):
    folder = tmp_path / "records"
    for normal in range(4):
        for seed in (0, 1):
            for method, delta in (("AESAD", 0.05), ("TOLL", 0.0), ("AutoEncoder", -0.05)):
                make_run(folder, method=method, normal=normal, seed=seed,
                         auc=base(normal, seed) + delta)
    des = significance.design(load(folder).records, "method")
    assert des.blocks_by == "scenario"
    assert des.blocks == [f"digits {n} vs rest" for n in range(4)]
    assert des.treatments == ["AESAD", "AutoEncoder", "TOLL"]
    assert des.values[:, 0] == pytest.approx([base(n, 0.5) + 0.05 for n in range(4)])
    assert (des.runs == 2).all()
    res = significance.analyse(des)
    assert res.ranks.tolist() == [1.0, 3.0, 2.0]
    seeds = significance.design(load(folder).records, "method", blocks_by="seed")
    assert len(seeds.blocks) == 8 and seeds.blocks[1] == "digits 0 vs rest, seed 1"


def test_bad_options(tmp_path, capsys):
    folder = write_samplers(tmp_path / "records")
    with pytest.raises(SystemExit) as exc:
        run_main(folder, tmp_path / "figs", "--alpha", "1.5")
    assert exc.value.code == 2
    assert run_main(folder, tmp_path / "figs", "--control", "nope") == 1
    assert "--control 'nope': no such sampler" in capsys.readouterr().err


def test_filter_keeps_the_named_runs_only(tmp_path, capsys):
    folder = write_samplers(tmp_path / "records")  # normal classes 0 and 1, seeds 0-4
    out = tmp_path / "figs"
    assert run_main(folder, out, "--filter", "normal_classes=[0]") == 0
    values = result_json(out)["values"]
    assert len(values) == 5 and all(" 0 vs rest" in block for block in values)
    assert run_main(folder, out, "--filter", "nope=1") == 1
    assert "--filter: no record has the field 'nope'" in capsys.readouterr().err
    assert run_main(folder, out, "--filter", "normal_classes=[7]") == 1
    assert "no run passes --filter normal_classes=[7]" in capsys.readouterr().err


# ----------------------------------------------------------------------------- table marks
def test_tables_mark_significant_differences_from_none(tmp_path):
    folder = write_samplers(tmp_path / "records", normals=(0,), seeds=range(8),
                            samplers=("none", "random", "enn"))
    out = tmp_path / "figs"
    assert tables.main([str(folder), "--out", str(out)]) == 0
    md = (out / "tables" / "roc_auc.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| digits 0 vs rest"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1].endswith("†") is False  # none, the reference
    assert cells[2].endswith("†") is False  # enn: equal to none on average
    assert cells[3].startswith("**") and cells[3].endswith("**†")  # random: better each seed
    assert md.rstrip().splitlines()[-1].startswith("† significantly different from none")
    tex = (out / "tables" / "roc_auc.tex").read_text()
    assert r"}$^{\dagger}$ \\" in tex and r"{\footnotesize $^{\dagger}$ significantly" in tex
    assert "†" not in tex
    assert "†" not in (out / "tables" / "train_s.md").read_text()  # not a tested table


def test_tables_unmarked_with_few_seeds(tmp_path):
    """Fewer than MIN_PAIRS seeds: no test, no mark, no footnote (the tables as before)."""
    folder = write_samplers(tmp_path / "records", normals=(0,),
                            seeds=range(rank_tests.MIN_PAIRS - 1), samplers=("none", "random"))
    out = tmp_path / "figs"
    assert tables.main([str(folder), "--out", str(out)]) == 0
    md = (out / "tables" / "roc_auc.md").read_text()
    assert "†" not in md and md.endswith(" |\n")
    assert "dagger" not in (out / "tables" / "roc_auc.tex").read_text()
