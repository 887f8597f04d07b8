"""Under-sampling the normals before AE-SAD: AUROC and training time relative to no sampling.

The thesis's question: for each sampler of ``SAMPLERS`` (ratio 0.5 where it takes one; the
samplers that look at the samples search neighbours / clusters in a PCA-50 space, see
``benchmarks/results/samplers.md`` for why), train AE-SAD (the
:mod:`torch_ae_sad.model.deep_ae_sad_one_vs_all_trainer` model list, imported: dense 128-32,
10 epochs, batch 32) on the kept training set and compare with ``none`` on the same split and
seed: delta AUROC, training-seconds ratio, (sampler + training) seconds ratio, sampler
seconds and normals kept. MNIST one-vs-all for a few normal digits and many-vs-many (0-4
normal vs 5-9), 60 labelled anomalies, no validation part, 3 seeds.

Records: ``benchmarks/records/sampler_grid``; summary:
``benchmarks/results/sampler_grid.{json,md}``.

    python benchmarks/bench_sampler_grid.py [--quick] [--normals 0 4 8] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
from _common import (
    add_grid_arguments,
    check_classes,
    check_positive,
    finish_grid_arguments,
    markdown_table,
    mean_std,
    pm,
    run_labelled_grids,
    signed,
    write_grid_results,
)

from torch_ae_sad.dataset_loaders import SAMPLERS
from torch_ae_sad.model.deep_ae_sad_one_vs_all_trainer import MODEL_CONFIG as AESAD_MODELS
from torch_ae_sad.model.experiment import expand_grid

STEM = "sampler_grid"
MVM = ("mvm 0-4 vs 5-9", {"scenario": "many_vs_many", "normal_classes": [0, 1, 2, 3, 4],
                          "anomaly_classes": [5, 6, 7, 8, 9]})
QUICK_SAMPLERS = ("none", "random", "nearmiss1")


def sampler_entry(name: str, ratio: float, n_components: int) -> dict[str, Any]:
    """SAMPLER_CONFIG entry: ``ratio`` if the sampler takes one, PCA if it looks at samples."""
    entry = SAMPLERS[name]
    out: dict[str, Any] = {"name": name}
    if entry.takes_ratio:
        out["ratio"] = ratio
    if entry.uses_features:
        out.update(feature_space="pca", n_components=n_components)
    return out


def scenarios(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    """(label, ANOMALY_CONFIG entry) of every scenario of this call."""
    out = [(f"ova {c}", {"scenario": "one_vs_all", "normal_classes": [c]})
           for c in args.normals]
    return out + ([MVM] if args.mvm else [])


def build_grids(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Scenario label -> specs (every sampler x seed, AE-SAD)."""
    samplers = [sampler_entry(s, args.ratio, args.n_components) for s in args.samplers]
    models = [{**m, "epochs": args.epochs} for m in AESAD_MODELS]
    return {lbl: expand_grid([entry], samplers, models, args.seeds, dataset="mnist",
                             labelled=args.labelled, val_fraction=0.0)
            for lbl, entry in scenarios(args)}


def per_run(records: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, float]]:
    """(sampler, seed) -> AUROC, seconds and sizes of one scenario's records."""
    out = {}
    for r in records:
        sam = r["sampling"]
        out[(r["spec"]["sampler"], r["spec"]["seed"])] = {
            "auroc": r["metrics"]["roc_auc"], "train_s": r["train_seconds"],
            "sampler_s": sam["seconds"], "n_before": sam["n_normal_before"],
            "n_after": sam["n_normal_after"]}
    return out


def compare(args: argparse.Namespace, results: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """Scenario -> sampler -> per-seed values and their deltas / ratios against ``none``."""
    out: dict[str, dict[str, Any]] = {}
    for lbl, _ in scenarios(args):
        runs = per_run(results[lbl]["ok"])
        out[lbl] = {}
        for name in args.samplers:
            seeds = [s for s in args.seeds if (name, s) in runs and ("none", s) in runs]
            vals = [runs[(name, s)] for s in seeds]
            base = [runs[("none", s)] for s in seeds]
            out[lbl][name] = {
                "seeds": seeds,
                "auroc": [v["auroc"] for v in vals],
                "delta_auroc": [v["auroc"] - b["auroc"] for v, b in zip(vals, base, strict=True)],
                "train_seconds": [v["train_s"] for v in vals],
                "train_ratio": [v["train_s"] / b["train_s"] for v, b in zip(vals, base,
                                                                              strict=True)],
                "total_ratio": [(v["sampler_s"] + v["train_s"]) / (b["sampler_s"] + b["train_s"])
                                for v, b in zip(vals, base, strict=True)],
                "sampler_seconds": [v["sampler_s"] for v in vals],
                "normals_before": [v["n_before"] for v in vals],
                "normals_kept": [v["n_after"] for v in vals]}
    return out


def _cat(table: dict[str, dict[str, Any]], labels: list[str], name: str, key: str) -> list:
    return [v for lbl in labels for v in table[lbl][name][key]]


def summarise(args: argparse.Namespace, results: dict[str, dict]) -> tuple[dict, str]:
    """Payload and Markdown: a headline table per scenario group and a detailed one."""
    table = compare(args, results)
    ova = [lbl for lbl, _ in scenarios(args) if lbl.startswith("ova")]
    groups = [(f"one-vs-all (digits {', '.join(map(str, args.normals))})", ova)] if ova else []
    groups += [(MVM[0], [MVM[0]])] if args.mvm else []
    head_rows, summary = [], {}
    for name in args.samplers:
        row: list[Any] = [name]
        summary[name] = {}
        for gname, labels in groups:
            kept = np.mean([k / b for k, b in zip(_cat(table, labels, name, "normals_kept"),
                                                   _cat(table, labels, name, "normals_before"),
                                                   strict=True)] or [np.nan])
            d = mean_std(_cat(table, labels, name, "delta_auroc"))
            tr = mean_std(_cat(table, labels, name, "train_ratio"))
            tot = mean_std(_cat(table, labels, name, "total_ratio"))
            ss = mean_std(_cat(table, labels, name, "sampler_seconds"))
            summary[name][gname] = {"normals_kept_fraction": float(kept), "delta_auroc": d,
                                    "train_ratio": tr, "total_ratio": tot, "sampler_seconds": ss,
                                    "auroc": mean_std(_cat(table, labels, name, "auroc"))}
            row += [f"{kept:.2f}", f"{signed(d[0])} ± {d[1]:.4f}", f"{tr[0]:.2f}x",
                    f"{tot[0]:.2f}x", f"{ss[0]:.2f}"]
        head_rows.append(row)
    head = ["sampler"]
    for gname, _ in groups:
        short = "ova" if gname.startswith("one") else "mvm"
        head += [f"{short} kept", f"{short} ΔAUROC", f"{short} train s ratio",
                 f"{short} (sampler+train) ratio", f"{short} sampler s"]
    detail = []
    for lbl, _ in scenarios(args):
        for name in args.samplers:
            v = table[lbl][name]
            dm, dsd = mean_std(v["delta_auroc"])
            detail.append([lbl, name, f"{np.mean(v['normals_before'] or [np.nan]):.0f}",
                           f"{np.mean(v['normals_kept'] or [np.nan]):.0f}",
                           f"{np.mean(v['sampler_seconds'] or [np.nan]):.2f}",
                           pm(v["train_seconds"], 1), pm(v["auroc"]),
                           f"{signed(dm)} ± {dsd:.4f}" if v["delta_auroc"] else "-",
                           f"{np.mean(v['train_ratio'] or [np.nan]):.2f}x",
                           len(v["seeds"])])
    params = {**AESAD_MODELS[0], "epochs": args.epochs}
    failed = {lbl: res["failed"] for lbl, res in results.items() if res["failed"]}
    md = "\n\n".join([
        "# Under-sampling before AE-SAD: AUROC and time relative to no sampling (MNIST)",
        f"AE-SAD {params} (the model list of `deep_ae_sad_one_vs_all_trainer`) on the training "
        f"set each sampler keeps; {args.labelled} labelled anomalies (never dropped by a "
        f"sampler), no validation part, the official test set; seeds {args.seeds}. Samplers "
        f"with a target keep ratio {args.ratio} of the normals; the ones that look at the "
        f"samples work in a PCA-{args.n_components} space (`feature_space='pca'`, the PCA "
        "time is in the sampler seconds). ΔAUROC = AUROC(sampler) - AUROC(none) on the same "
        "split and seed, mean ± std (ddof=1) over seeds (and, for one-vs-all, over the "
        "digits); `train s ratio` = AE-SAD training seconds / those with `none` (same epochs, "
        "so fewer normals = fewer steps); `(sampler+train) ratio` adds the sampler's seconds; "
        "`kept` = fraction of the normals kept. CPU, "
        f"{args.threads} torch thread(s), 2 cores shared with other jobs: ratios are "
        "indicative.",
        "## Relative to no sampling", markdown_table(head, head_rows),
        "## Every scenario",
        markdown_table(["scenario", "sampler", "normals", "kept", "sampler s", "train s",
                        "AUROC", "ΔAUROC", "train ratio", "seeds"], detail),
        f"Failed runs: {failed or 'none'}.", ""])
    payload = {"params": params, "summary": summary, "per_scenario": table, "failed": failed}
    return payload, md


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line (``--quick``: digit 0, three samplers, 1 seed, 1 epoch, no mvm)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samplers", nargs="+", default=None, choices=list(SAMPLERS),
                   help="samplers (default: all of SAMPLERS; --quick: none random nearmiss1)")
    p.add_argument("--normals", nargs="+", type=int, default=None,
                   help="one-vs-all normal digits (default 0 4 8; --quick 0)")
    p.add_argument("--no-mvm", dest="mvm", action="store_false", default=None,
                   help="leave out many-vs-many 0-4 vs 5-9 (left out by --quick)")
    p.add_argument("--seeds", nargs="+", type=int, default=None,
                   help="seeds (default 0 1 2; --quick 0)")
    p.add_argument("--epochs", type=int, default=None, help="AE-SAD epochs (default 10; "
                                                            "--quick 1)")
    p.add_argument("--labelled", type=int, default=60, help="labelled anomalies (a count)")
    p.add_argument("--ratio", type=float, default=0.5,
                   help="fraction of normals kept by samplers with a target")
    p.add_argument("--n-components", type=int, default=50, help="PCA dimensions")
    add_grid_arguments(p, STEM)
    args = p.parse_args(argv)
    args.stem = finish_grid_arguments(p, args, STEM)
    q = args.quick
    args.samplers = args.samplers or list(QUICK_SAMPLERS if q else SAMPLERS)
    if "none" not in args.samplers:
        args.samplers = ["none", *args.samplers]  # the reference of every ratio
    args.normals = args.normals if args.normals is not None else ([0] if q else [0, 4, 8])
    args.mvm = (not q) if args.mvm is None else args.mvm
    args.seeds = args.seeds or ([0] if q else [0, 1, 2])  # nargs="+": never an empty list
    if args.epochs is None:
        args.epochs = 1 if q else 10
    check_positive(p, epochs=args.epochs, labelled=args.labelled, n_components=args.n_components)
    if not 0 < args.ratio <= 1:
        p.error(f"--ratio: expected a fraction in (0, 1], found {args.ratio}")
    check_classes(p, normals=args.normals)
    if not args.normals and not args.mvm:
        p.error("--normals / --no-mvm: expected at least one scenario, found none")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the grid, write the results."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    results = run_labelled_grids(build_grids(args), args.records, threads=args.threads)
    payload, md = summarise(args, results)
    write_grid_results(args, results, payload, md, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
