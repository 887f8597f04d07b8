"""Does under-sampling significantly improve AE-SAD's many-vs-many AUROC? Wilcoxon-Holm, Friedman.

The thesis's sampler question, asked with a test: AE-SAD (the model list of
:mod:`torch_ae_sad.model.deep_ae_sad_multi_class_trainer`: dense 128-32, 10 epochs, batch 32,
Adam 1e-3) on MNIST 0-4 normal vs 5-9 anomalous (that trainer's scenario: 60 labelled
anomalies), trained on what each sampler keeps: ``none``, ``random`` 0.5, ``ncr`` and ``enn``
(their neighbour search in a PCA-50 space), 10 seeds. The runs of one seed share the split, the
labelled anomalies and the seed, so each seed is a block (scenario x seed, everything else
equal): each sampler is compared with ``none`` by a two-sided Wilcoxon signed-rank test of the
AUROCs paired by seed, Holm-adjusted over the three samplers, and the four by Friedman's test
(:mod:`torch_ae_sad.model.analysis.significance`, which also draws the critical-difference
diagram and the tables into ``<records>/figures``).

Records: ``benchmarks/records/sampler_significance`` (a re-run skips finished runs); summary:
``benchmarks/results/sampler_significance.{json,md}``.

    python benchmarks/bench_sampler_significance.py [--quick] [--seeds 0 1 ...] [--workers 1]
        [--threads 1] [--alpha 0.05]
"""

from __future__ import annotations

import argparse
import shutil
import time
from typing import Any

import torch
from _common import (
    RESULTS,
    add_grid_arguments,
    check_positive,
    finish_grid_arguments,
    markdown_table,
    mean_std,
    signed,
    write_grid_results,
)

from torch_ae_sad.model.analysis import significance
from torch_ae_sad.model.deep_ae_sad_multi_class_trainer import ANOMALY_CONFIG, MODEL_CONFIG
from torch_ae_sad.model.experiment import expand_grid, run_grid

STEM = "sampler_significance"
LABEL = "mvm 0-4 vs 5-9"
#: The many-vs-many scenario of the multi-class trainer (0-4 vs 5-9, 60 labelled anomalies).
SCENARIO = ANOMALY_CONFIG[0]
SAMPLERS = [{"name": "none"}, {"name": "random", "ratio": 0.5},
            {"name": "ncr", "feature_space": "pca", "n_components": 50},
            {"name": "enn", "feature_space": "pca", "n_components": 50}]
REFERENCE = "none"


def build_specs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every sampler x seed of AE-SAD on MNIST 0-4 vs 5-9 (the trainer's settings)."""
    models = [{**m, "epochs": args.epochs} for m in MODEL_CONFIG]
    return expand_grid([SCENARIO], args.samplers, models, args.seeds, dataset="mnist")


def run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Run the grid; the shape of ``_common.run_labelled_grids`` (with ``--workers``)."""
    t0 = time.perf_counter()
    recs = run_grid(build_specs(args), args.records, workers=args.workers, threads=args.threads)
    result = {"ok": [r for r in recs if r["status"] == "ok"],
              "failed": [r.get("error", "?") for r in recs if r["status"] != "ok"],
              "wall_seconds": time.perf_counter() - t0,
              "run_seconds": float(sum(r.get("total_seconds") or 0.0 for r in recs))}
    print(f"{LABEL}: {len(result['ok'])}/{len(recs)} ok, {result['wall_seconds']:.0f} s",
          flush=True)
    return {LABEL: result}


def answer(res: significance.Result, n_seeds: int) -> str:
    """One paragraph answering the question from the Wilcoxon-Holm tests against ``none``."""
    alpha = res.alpha
    better = [t for t in res.pairs if t.significant and t.mean_diff > 0]
    worse = [t for t in res.pairs if t.significant and t.mean_diff < 0]
    rest = [t for t in res.pairs if not t.significant]

    def say(tests: list[Any]) -> str:
        return ", ".join(f"{t.first} (ΔAUROC {signed(t.mean_diff)}, p Holm = {t.p_holm:.3g})"
                         for t in tests)

    if better:
        head = (f"Yes for {say(better)}: AUROC higher than without sampling, "
                f"significant at alpha = {alpha:g} after Holm over {len(res.pairs)} "
                f"sampler(s) (two-sided Wilcoxon signed-rank test paired by seed, {n_seeds} "
                "seeds).")
    else:
        head = (f"No: with {n_seeds} seeds, no under-sampler improves AE-SAD's many-vs-many "
                f"AUROC significantly (two-sided Wilcoxon signed-rank test against none, "
                f"paired by seed, Holm over {len(res.pairs)} sampler(s), alpha = {alpha:g}).")
    parts = [head]
    if worse:
        parts.append(f"Significantly lower: {say(worse)}.")
    if rest:
        parts.append(f"Not significant: {say(rest)}.")
    if res.friedman is not None:
        parts.append(f"{significance.friedman_text(res)} over the "
                     f"{len(res.design.treatments)} samplers.")
    return " ".join(parts)


def per_seed(des: significance.Design, seeds: list[int]) -> list[list[Any]]:
    """Rows of the per-seed AUROC table (one per complete seed) and the mean ± std row."""
    rows = [[seed, *des.values[i].tolist()] for i, seed in enumerate(seeds)]
    stats = [mean_std(des.values[:, j]) for j in range(len(des.treatments))]
    return [*rows, ["mean ± std", *(f"{m:.4f} ± {s:.4f}" for m, s in stats)]]


def summarise(args: argparse.Namespace, results: dict[str, dict]) -> tuple[dict, str, list]:
    """Payload, Markdown and the analysis files of the records of this grid."""
    ok = results[LABEL]["ok"]
    des = significance.design(ok, "sampler", "roc_auc", "seed")
    res = significance.analyse(des, args.alpha, control=REFERENCE)
    files = significance.write(res, args.records / "figures")
    diagram = next((f for f in files if str(f).endswith(".png")), None)
    if diagram is not None:  # the critical-difference diagram, shown by the results page
        shutil.copyfile(diagram, RESULTS / f"{args.stem}_cd.png")
    seeds = [int(b.rsplit("seed ", 1)[1]) for b in des.blocks]
    tests = [[t.first, t.n, signed(t.mean_diff), f"{t.first_better}/{t.second_better}",
              "-" if t.statistic is None else f"{t.statistic:g}", f"{t.p:.4g}",
              f"{t.p_holm:.4g}", "yes" if t.significant else "no"] for t in res.pairs]
    text = answer(res, len(seeds))
    params = {**MODEL_CONFIG[0], "epochs": args.epochs}
    failed = results[LABEL]["failed"]
    md = "\n\n".join([
        "# Does under-sampling significantly improve many-vs-many AUROC? (AE-SAD, MNIST)",
        f"**Answer.** {text}",
        f"AE-SAD {params} on MNIST 0-4 (normal) vs 5-9 (anomalous), 60 labelled anomalies "
        "(the scenario and model list of `deep_ae_sad_multi_class_trainer`), trained on the "
        "normals each sampler keeps (`random` keeps half; `ncr` and `enn` clean the normals "
        "near the labelled anomalies, neighbours in a PCA-50 space); the official test set. "
        f"{len(seeds)} seeds (blocks: scenario x seed; the runs of a seed share the split, "
        "labelled anomalies and initial seed). Tests: two-sided Wilcoxon signed-rank of the "
        "AUROCs paired by seed (scipy), Holm over the samplers against `none` (statsmodels), "
        f"Friedman over all {len(des.treatments)} (scipy; it needs 3 or more), from "
        "`torch_ae_sad.model.analysis.significance` "
        "(critical-difference diagram and tables in the records folder's `figures/`).",
        f"![critical-difference diagram]({args.stem}_cd.png)",
        "## AUROC per seed",
        markdown_table(["seed", *des.treatments], per_seed(des, seeds)),
        "## Each sampler against none",
        markdown_table(["sampler", "seeds", "mean ΔAUROC", "better/worse seeds", "W", "p",
                        "p Holm", f"significant (alpha {args.alpha:g})"], tests),
        significance.friedman_text(res) + ". "
        + (significance.dropped_text(des) or "No seed dropped."),
        f"Failed runs: {failed or 'none'}. CPU, {args.threads} torch thread(s), "
        f"{args.workers} worker(s), 2 cores shared with other jobs.", ""])
    payload = {"params": params, "scenario": SCENARIO, "samplers": args.samplers,
               "seeds": seeds, "answer": text, "significance": significance.to_json(res),
               "per_seed_auroc": {str(s): dict(zip(des.treatments, des.values[i].tolist(),
                                                   strict=True))
                                  for i, s in enumerate(seeds)},
               "failed": failed}
    return payload, md, files


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line (``--quick``: none and random, seeds 0-2, 1 epoch)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", nargs="+", type=int, default=None,
                   help="seeds (default 0..9; --quick 0 1 2); at least 3")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"AE-SAD epochs (default {MODEL_CONFIG[0]['epochs']}; --quick 1)")
    p.add_argument("--workers", type=int, default=1, help="runs at once (default 1)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level")
    add_grid_arguments(p, STEM)
    args = p.parse_args(argv)
    args.stem = finish_grid_arguments(p, args, STEM)
    args.seeds = args.seeds or ([0, 1, 2] if args.quick else list(range(10)))
    if args.epochs is None:
        args.epochs = 1 if args.quick else MODEL_CONFIG[0]["epochs"]
    args.samplers = SAMPLERS[:2] if args.quick else SAMPLERS
    check_positive(p, epochs=args.epochs, workers=args.workers)
    if len(set(args.seeds)) < significance.MIN_BLOCKS:
        p.error(f"--seeds: expected at least {significance.MIN_BLOCKS} seeds, found "
                f"{args.seeds}")
    if not 0 < args.alpha < 1:
        p.error(f"--alpha: expected a value in (0, 1), found {args.alpha}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the grid, test, write the results."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    results = run(args)
    payload, md, files = summarise(args, results)
    payload["analysis_files"] = [str(f) for f in files]
    write_grid_results(args, results, payload, md, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
