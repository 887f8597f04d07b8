"""Wall time of the MNIST one-vs-all AE-SAD sweep (ten digits, 10 epochs) against a 45 s goal.

The sweep is the grid of :mod:`torch_ae_sad.model.deep_ae_sad_one_vs_all_trainer` (its config
lists, imported): each digit normal in turn, 60 labelled anomalies, AE-SAD dense 128-32, 10
epochs, batch 32. It is timed end to end into a fresh temporary records folder (so no run is
skipped), two ways:

* ``inprocess``: ``expand_grid`` + ``run_grid`` in this process, from before the data are
  loaded to the last record written (torch already imported);
* ``cli``: ``python -m torch_ae_sad.model.deep_ae_sad_one_vs_all_trainer --out TMP`` as a
  child process, interpreter start and imports included (what a user waits for).

Goal: all ten classes in 45 s on 2 cores. ``--auto-threads`` picks 2 torch threads when the
1-minute load average is below 0.5, else 1; the threads and load averages are recorded beside
the figures. Summary: ``benchmarks/results/aesad_sweep.{json,md}``.

    python benchmarks/bench_aesad_sweep.py [--quick] [--auto-threads | --threads 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import (
    add_grid_arguments,
    finish_grid_arguments,
    loadavg,
    machine_info,
    markdown_table,
    write_results,
)

from torch_ae_sad import PROJECT_ROOT
from torch_ae_sad.model.deep_ae_sad_one_vs_all_trainer import (
    ANOMALY_CONFIG,
    MODEL_CONFIG,
    SAMPLER_CONFIG,
)
from torch_ae_sad.model.experiment import expand_grid, load_records, run_grid

STEM = "aesad_sweep"
GOAL_SECONDS = 45.0
TRAINER = "torch_ae_sad.model.deep_ae_sad_one_vs_all_trainer"
MODES = ("inprocess", "cli")


def auroc_by_class(records: list[dict[str, Any]]) -> dict[int, float]:
    """Normal digit -> test AUROC of the ``ok`` records (mean over seeds)."""
    out: dict[int, list[float]] = {}
    for r in records:
        if r["status"] == "ok":
            out.setdefault(r["spec"]["normal_classes"][0], []).append(r["metrics"]["roc_auc"])
    return {c: float(np.mean(v)) for c, v in sorted(out.items())}


def time_inprocess(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Run the trainer's grid in this process into ``folder``; return wall time and results."""
    anomaly = ANOMALY_CONFIG[:2] if args.quick else ANOMALY_CONFIG
    models = [{**m, "epochs": 1} for m in MODEL_CONFIG] if args.quick else MODEL_CONFIG
    load0 = loadavg()
    t0 = time.perf_counter()
    specs = expand_grid(anomaly, SAMPLER_CONFIG, models, [0], dataset="mnist")
    records = run_grid(specs, folder, verbose=0, threads=args.threads)
    wall = time.perf_counter() - t0
    return {"wall_seconds": wall, "loadavg_before": load0, "loadavg_after": loadavg(),
            "n_runs": len(records), "failed": sum(r["status"] != "ok" for r in records),
            "train_seconds": float(sum(r.get("train_seconds", 0.0) for r in records)),
            "auroc": auroc_by_class(records)}


def time_cli(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Run the trainer's command line into ``folder``; return wall time and results."""
    cmd = [sys.executable, "-m", TRAINER, "--out", str(folder), "--threads", str(args.threads),
           "--quiet", *(["--quick"] if args.quick else [])]
    load0 = loadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stderr}")
    records, _ = load_records(folder)
    return {"wall_seconds": wall, "loadavg_before": load0, "loadavg_after": loadavg(),
            "command": " ".join(["python", *cmd[1:3], "--out", "TMP", *cmd[5:]]),
            "n_runs": len(records), "failed": sum(r["status"] != "ok" for r in records),
            "train_seconds": float(sum(r.get("train_seconds", 0.0) for r in records)),
            "auroc": auroc_by_class(records)}


def summarise(args: argparse.Namespace, runs: dict[str, dict[str, Any]]) -> tuple[dict, str]:
    """Payload and Markdown of the timings."""
    classes = sorted({c for r in runs.values() for c in r["auroc"]})
    rows = []
    for mode, r in runs.items():
        r["mean_auroc"] = float(np.mean(list(r["auroc"].values()))) if r["auroc"] else None
        r["goal_met"] = bool(r["wall_seconds"] <= GOAL_SECONDS) if not args.quick else None
        rows.append([mode, f"{r['wall_seconds']:.1f}", f"{r['train_seconds']:.1f}",
                     args.threads, str(r["loadavg_before"]), str(r["loadavg_after"]),
                     *[r["auroc"].get(c, "-") for c in classes],
                     r["mean_auroc"], f"{r['n_runs'] - r['failed']}/{r['n_runs']}",
                     "-" if r["goal_met"] is None else ("yes" if r["goal_met"] else "no")])
    head = ["mode", "wall s", "train s (sum)", "torch threads", "load before", "load after",
            *[str(c) for c in classes], "mean AUROC", "ok", f"<= {GOAL_SECONDS:.0f} s"]
    params = MODEL_CONFIG[0] if not args.quick else {**MODEL_CONFIG[0], "epochs": 1}
    md = "\n\n".join([
        "# AE-SAD MNIST one-vs-all sweep: wall time against the 45 s goal",
        f"The grid of `{TRAINER}` (its lists, imported): {len(classes)} digits each normal in "
        f"turn, 60 labelled anomalies, validation 10 % of the normals, AE-SAD {params}, seed 0; "
        "a fresh temporary records folder for each mode, so nothing is skipped. `inprocess` = "
        "`expand_grid` + `run_grid` in the benchmark's process (data loading included, torch "
        "already imported); `cli` = `python -m "
        f"{TRAINER} --out TMP --threads {args.threads} --quiet` as a child process (interpreter "
        "start and imports included). Goal: all ten classes in "
        f"{GOAL_SECONDS:.0f} s on 2 cores. CPU: {os.cpu_count()} cores shared with other jobs "
        "(load averages recorded beside each figure); threads chosen "
        + ("automatically (2 when the 1-minute load average is below 0.5, else 1)."
           if args.auto_threads else "by `--threads`."),
        markdown_table(head, rows), ""])
    return {"goal_seconds": GOAL_SECONDS, "params": params, "threads": args.threads,
            "runs": runs}, md


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line (``--quick``: two digits, 1 epoch in-process; the trainer's ``--quick``)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES,
                   help="how the sweep is run and timed (default both)")
    p.add_argument("--auto-threads", action="store_true",
                   help="2 torch threads if the 1-minute load average is below 0.5, else 1 "
                        "(overrides --threads)")
    add_grid_arguments(p, STEM, records=False)  # fresh temporary records folders
    args = p.parse_args(argv)
    args.stem = finish_grid_arguments(p, args, STEM)
    if args.auto_threads:
        load = loadavg()
        args.threads = 2 if load and load[0] < 0.5 else 1
    return args


def main(argv: list[str] | None = None) -> None:
    """Time the sweep, write the results."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    runs = {}
    for mode in args.modes:
        with tempfile.TemporaryDirectory(prefix=f"{STEM}_{mode}_") as tmp:
            runs[mode] = (time_inprocess if mode == "inprocess" else time_cli)(args, Path(tmp))
        print(f"{mode}: {runs[mode]['wall_seconds']:.1f} s, threads {args.threads}, load "
              f"{runs[mode]['loadavg_before']} -> {runs[mode]['loadavg_after']}", flush=True)
    payload, md = summarise(args, runs)
    print(md)
    write_results(args.stem, {"settings": {k: str(v) if hasattr(v, "as_posix") else v
                                           for k, v in vars(args).items()},
                              "machine": machine_info(), "results": payload}, md, out=args.out)


if __name__ == "__main__":
    main()
