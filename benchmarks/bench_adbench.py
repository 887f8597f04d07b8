"""Our detectors on the ADBench sets, by ADBench's protocol, with a critical-difference diagram.

Run::

    python benchmarks/bench_adbench.py [--data FOLDER] [--labelled 0.1] [--seeds 0 1 2]
        [--quick] [--threads 1]

The grid of ``torch_ae_sad.model.adbench_trainer`` (each detector of its ``MODEL_CONFIG`` with
its own defaults; ADBench's 70 / 30 stratified split, min-max scaling on the training part,
``--labelled`` of the training anomalies labelled, the rest left unlabelled) on every
``.npz`` of ``--data`` (default: the developers' ADBench sets beside the checkout; they are
never copied into the repository). Records in ``benchmarks/records/adbench/`` (resumable);
results in ``benchmarks/results/adbench.{md,json}`` and the critical-difference diagram of the
methods over the data sets (Friedman, Nemenyi; blocks = data set, seeds averaged) in
``benchmarks/results/adbench_cd.png``. ``--quick``: three sets, one seed, 2 epochs.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import (
    SHARED_DATA,
    add_grid_arguments,
    finish_grid_arguments,
    markdown_table,
    write_grid_results,
)

from torch_ae_sad.model.adbench_trainer import MODEL_CONFIG, anomaly_config, data_files
from torch_ae_sad.model.analysis import significance
from torch_ae_sad.model.experiment import expand_grid, quick_model, run_grid
from torch_ae_sad.model.experiment.labels import scenario_label

STEM = "adbench"
#: ADBench's mean AUROC over 57 sets at 10 % labelled (Han et al. 2022), for context.
PUBLISHED = {"CatBoost": 0.890, "XGBOD": 0.883, "DevNet": 0.871, "PReNet": 0.870,
             "FEAWAD": 0.849, "DeepSAD": 0.828}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=SHARED_DATA / "adbench")
    p.add_argument("--labelled", type=float, default=0.1)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=1)
    add_grid_arguments(p, STEM)
    args = p.parse_args(argv)
    args.stem = finish_grid_arguments(p, args, STEM)
    try:
        args.files = [str(f) for f in data_files(args.data)]
    except ValueError as exc:
        p.error(str(exc))
    return args


def run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Run the grid; every record, by ``ok`` / failed."""
    files, seeds, models = args.files, args.seeds, MODEL_CONFIG
    if args.quick:
        files, seeds = files[:3], seeds[:1]
        models = [quick_model(m) for m in models]
    scenarios = anomaly_config([Path(f) for f in files], [args.labelled])
    specs = expand_grid(scenarios, [{"name": "none"}], models, seeds)
    t0 = time.perf_counter()
    recs = run_grid(specs, args.records, workers=args.workers, threads=args.threads)
    result = {"ok": [r for r in recs if r["status"] == "ok"],
              "failed": [r.get("error", "?") for r in recs if r["status"] != "ok"],
              "wall_seconds": time.perf_counter() - t0,
              "run_seconds": float(sum(r.get("total_seconds") or 0.0 for r in recs))}
    print(f"{len(result['ok'])}/{len(recs)} ok, {result['wall_seconds']:.0f} s", flush=True)
    return {STEM: result}


def per_set(ok: list[dict[str, Any]]) -> tuple[list[str], list[str], dict]:
    """Data sets, methods and the mean AUROC and seconds over seeds of each (set, method)."""
    cells: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in ok:
        key = (scenario_label(r["spec"]), r["spec"]["method"])
        cells.setdefault(key, []).append((r["metrics"]["roc_auc"], r["train_seconds"]))
    sets = sorted({k[0] for k in cells}, key=significance.natural_key)
    methods = [m["method"] for m in MODEL_CONFIG if any(k[1] == m["method"] for k in cells)]
    means = {k: (float(np.mean([v[0] for v in vals])), float(np.mean([v[1] for v in vals])))
             for k, vals in cells.items()}
    return sets, methods, means


def summarise(args: argparse.Namespace, results: dict) -> tuple[dict, str]:
    """Payload and Markdown: AUROC per set and method, the mean, and the rank tests."""
    ok = results[STEM]["ok"]
    sets, methods, means = per_set(ok)
    rows = [[s, *(means[(s, m)][0] if (s, m) in means else "-" for m in methods)]
            for s in sets]
    avg = [float(np.mean([means[(s, m)][0] for s in sets if (s, m) in means]))
           for m in methods]
    secs = [float(np.mean([means[(s, m)][1] for s in sets if (s, m) in means]))
            for m in methods]
    rows += [["mean AUROC", *avg], ["mean train s", *secs]]
    try:
        des = significance.design(ok, "method", "roc_auc", "scenario")
    except significance.Skip as exc:  # too few data sets for a rank test
        des, res, ranks = None, None, f"No rank test: {exc}."
    else:
        res = significance.analyse(des)
        files = significance.write(res, args.records / "figures")
        png = next((f for f in files if str(f).endswith(".png")), None)
        if png is not None:
            shutil.copyfile(png, args.out / f"{args.stem}_cd.png")
        ranks = (f"![critical-difference diagram]({args.stem}_cd.png)\n\nRanks over the data "
                 f"sets (blocks = data set, seeds averaged): {significance.friedman_text(res)}. "
                 f"{significance.dropped_text(des)}").strip()
    best = methods[int(np.argmax(avg))]
    md = "\n\n".join([
        f"# This framework's detectors on {len(sets)} ADBench sets ({args.labelled:g} of the "
        "training anomalies labelled)",
        f"`python benchmarks/bench_adbench.py --labelled {args.labelled:g} --seeds "
        f"{' '.join(map(str, args.seeds))}{' --quick' if args.quick else ''}`: ADBench's "
        "protocol (70 / 30 stratified, min-max on the training part, the other training "
        "anomalies left unlabelled), each detector with its own defaults "
        "(`adbench_trainer.MODEL_CONFIG`), AUROC on the test part, mean over "
        f"{len(args.seeds) if not args.quick else 1} seed(s).",
        markdown_table(["data set", *methods], rows),
        f"Best mean AUROC here: {best} ({max(avg):.4f}). For context, ADBench's means over "
        f"its 57 sets at 10 % labelled: {PUBLISHED} (not the same sets: no comparison "
        "of levels is implied).",
        ranks,
    ])
    payload = {"methods": methods, "sets": sets,
               "auroc": {f"{s} | {m}": v[0] for (s, m), v in means.items()},
               "train_seconds": {f"{s} | {m}": v[1] for (s, m), v in means.items()},
               "mean_auroc": dict(zip(methods, avg, strict=True)),
               "significance": None if res is None else significance.to_json(res)}
    return payload, md


def main(argv: list[str] | None = None) -> None:
    """Run the grid, rank, write the results."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    results = run(args)
    payload, md = summarise(args, results)
    write_grid_results(args, results, payload, md, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
