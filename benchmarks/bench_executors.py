"""Executors on a small MNIST grid: SIGKILL + restart, determinism, and wall time per executor.

The grid: 2 scenarios (digit 8 vs rest; digits 0-4 vs 5-9; 60 labelled anomalies) x 3
samplers (none, random 0.5, NearMiss-1 0.5 on 50 PCA dimensions) x 2 methods (AESAD and a plain
AutoEncoder, dense 784-64-16-64-784, 2 epochs, batch 64) x 2 seeds = 24 runs, CPU.

1. **Crash safety**: the grid runs in a child process with 2 local workers; the driver gets
   ``SIGKILL`` once half the records exist; its workers must exit by themselves; a stale
   temporary file (a write killed half-way) is planted; the same command runs again. Then: 24
   records, each run id once, none corrupt, no temporary file left, the records written
   before the kill untouched.
2. **Determinism**: the same spec run twice in one process (CPU), and the 24 records of every
   executor below compared with those of step 1.
3. **Wall time**: the grid in a fresh folder and a fresh process with ``serial`` (1 worker),
   ``local`` (2 workers) and ``ray`` (2 tasks at once, a local Ray instance), side by side.
4. The results CLI's table for the grid.

Usage::

    python benchmarks/bench_executors.py [--records DIR] [--no-ray]

Writes ``benchmarks/results/executors.{md,json}``; the records go to
``benchmarks/records/executors/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import machine_info, markdown_table, write_results

from torch_ae_sad import PROJECT_ROOT
from torch_ae_sad.model.experiment import expand_grid, load_records, make_spec, run_id, run_one

RECORDS = Path(__file__).resolve().parent / "records" / "executors"

ANOMALY_CONFIG = [
    {"scenario": "one_vs_all", "normal_classes": [8], "labelled": 60},
    {"scenario": "many_vs_many", "normal_classes": [0, 1, 2, 3, 4],
     "anomaly_classes": [5, 6, 7, 8, 9], "labelled": 60},
]
SAMPLER_CONFIG = [
    {"name": "none"},
    {"name": "random", "ratio": 0.5},
    {"name": "nearmiss1", "ratio": 0.5, "feature_space": "pca", "n_components": 50},
]
MODEL_CONFIG = [
    {"method": method, "hidden_dims": [64, 16], "epochs": 2, "batch_size": 64}
    for method in ("AESAD", "AutoEncoder")
]
SEEDS = [0, 1]


def grid() -> list[dict[str, Any]]:
    return expand_grid(ANOMALY_CONFIG, SAMPLER_CONFIG, MODEL_CONFIG, SEEDS, dataset="mnist",
                       device="cpu")


def _grid_cmd(out: Path, executor: str, workers: int) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--run-grid", str(out),
            "--executor", executor, "--workers", str(workers)]


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        for kid in _children(todo.pop()):
            if kid not in out:
                out.add(kid)
                todo.append(kid)
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _n_records(out: Path) -> int:
    return len(list(out.glob("[!.]*.json")))


def crash_and_restart(out: Path) -> dict[str, Any]:
    """Step 1: SIGKILL the driver half-way, restart, check the folder."""
    specs = grid()
    if out.exists():
        for p in out.iterdir():
            p.unlink()
    cmd = _grid_cmd(out, "local", 2)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    seen: set[int] = set()
    while proc.poll() is None and _n_records(out) < len(specs) // 2:
        seen |= _descendants(proc.pid)
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_after = time.perf_counter() - t0
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("[!.]*.json")}
    t1 = time.perf_counter()
    while any(_alive(p) for p in seen) and time.perf_counter() - t1 < 30:
        time.sleep(0.1)
    orphans = sorted(p for p in seen if _alive(p))
    exit_s = time.perf_counter() - t1
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / f".{'f' * 16}.json.{dead.pid}.killed.tmp").write_text('{"schema": 1, "run_')
    t2 = time.perf_counter()
    subprocess.run(cmd, cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    restart_s = time.perf_counter() - t2
    records, problems = load_records(out)
    ids = [r["run_id"] for r in records]
    result = {
        "records_at_kill": len(before), "killed_after_s": killed_after,
        "driver_descendants_seen": len(seen), "orphans_after_kill": orphans,
        "workers_exit_s": exit_s, "restart_s": restart_s, "records": len(records),
        "json_files": _n_records(out), "unique_run_ids": len(set(ids)),
        "expected_run_ids_present": set(ids) == {run_id(s) for s in specs},
        "corrupt": [f"{p.name}: {why}" for p, why in problems],
        "tmp_files_left": sorted(p.name for p in out.glob(".*")),
        "status_ok": sum(r["status"] == "ok" for r in records),
        "pre_kill_records_untouched": all((out / n).stat().st_mtime_ns == m
                                          for n, m in before.items()),
    }
    return result


def determinism() -> dict[str, Any]:
    """Step 2a: one spec twice in this process."""
    import torch

    torch.set_num_threads(1)
    spec = make_spec(grid()[0])
    a, _ = run_one(spec)
    b, _ = run_one(spec)
    return {"spec": {k: spec[k] for k in ("scenario", "normal_classes", "sampler", "method",
                                          "seed")},
            "identical_metrics": a["metrics"] == b["metrics"],
            "roc_auc": [a["metrics"]["roc_auc"], b["metrics"]["roc_auc"]]}


def timed(out: Path, executor: str, workers: int) -> dict[str, Any]:
    """Step 3: the grid in a fresh folder and process; wall seconds."""
    if out.exists():
        for p in out.iterdir():
            p.unlink()
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(_grid_cmd(out, executor, workers), cwd=PROJECT_ROOT,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    records, problems = load_records(out)
    return {"executor": executor, "workers": workers, "wall_s": wall, "rc": proc.returncode,
            "load_before": load, "records": len(records), "problems": len(problems),
            "ok": sum(r["status"] == "ok" for r in records),
            "threads": sorted({(r.get("executor") or {}).get("threads") for r in records},
                              key=str),
            "train_s_sum": sum(r.get("train_seconds") or 0 for r in records),
            "stderr_tail": proc.stderr[-600:] if proc.returncode else ""}


def compare(dirs: dict[str, Path]) -> dict[str, Any]:
    """Step 2b: metrics of the same run ids across folders."""
    by_dir = {name: {r["run_id"]: r for r in load_records(d)[0]} for name, d in dirs.items()}
    ref_name = next(iter(by_dir))
    ref = by_dir[ref_name]
    out = {}
    for name, recs in by_dir.items():
        common = set(ref) & set(recs)
        same = sum(ref[i].get("metrics") == recs[i].get("metrics") for i in common)
        diff = max((abs(ref[i]["metrics"]["roc_auc"] - recs[i]["metrics"]["roc_auc"])
                    for i in common if ref[i].get("metrics") and recs[i].get("metrics")),
                   default=None)
        out[name] = {"compared": len(common), "identical_metrics": same,
                     "max_abs_roc_auc_diff": diff}
    return {"reference": ref_name, "folders": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=Path, default=RECORDS)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--run-grid", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--executor", default="serial", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_grid is not None:  # child mode: run the grid and exit
        from torch_ae_sad.model.experiment import run_grid

        run_grid(grid(), args.run_grid, executor=args.executor, workers=args.workers,
                 verbose=0)
        return

    t_all = time.perf_counter()
    crash = crash_and_restart(args.records / "crash")
    print(json.dumps(crash, indent=1), flush=True)
    det = determinism()
    print(json.dumps(det, indent=1), flush=True)
    runs = [("serial", 1), ("local", 2)] + ([] if args.no_ray else [("ray", 2)])
    timings = []
    for executor, workers in runs:
        timings.append(timed(args.records / executor, executor, workers))
        print(json.dumps(timings[-1], indent=1), flush=True)
    same = compare({"crash+restart": args.records / "crash",
                    **{t["executor"]: args.records / t["executor"] for t in timings}})
    print(json.dumps(same, indent=1), flush=True)
    table = subprocess.run([sys.executable, "-m", "torch_ae_sad.model.results",
                            str(args.records / "crash")], cwd=PROJECT_ROOT,
                           capture_output=True, text=True).stdout

    md = "\n\n".join([
        "# Executors: crash safety, determinism, wall time",
        f"Grid: {len(grid())} runs on MNIST (2 scenarios x 3 samplers x 2 methods x 2 seeds; "
        "AESAD and AutoEncoder 784-64-16, 2 epochs, batch 64; CPU). Machine: "
        f"{os.cpu_count()} CPUs shared with other jobs (load average "
        f"{os.getloadavg()[0]:.1f} at the end), so wall times are indicative. Script: "
        "`benchmarks/bench_executors.py`.",
        "## 1. SIGKILL of the driver half-way, then the same command again",
        markdown_table(["check", "value"],
                       [[k, f"{v:.1f}" if isinstance(v, float) else json.dumps(v)]
                        for k, v in crash.items()]),
        "## 2. Determinism",
        f"Same spec twice in one process: identical metrics = {det['identical_metrics']} "
        f"(AUROC {det['roc_auc'][0]!r} and {det['roc_auc'][1]!r}).",
        markdown_table(["records of", "compared with crash+restart", "identical metrics",
                        "max |AUROC diff|"],
                       [[n, v["compared"], v["identical_metrics"], v["max_abs_roc_auc_diff"]]
                        for n, v in same["folders"].items()]),
        "## 3. Wall time of the grid (fresh folder, fresh process)",
        markdown_table(["executor", "workers", "torch threads per run", "wall s",
                        "sum of train s", "ok", "load before"],
                       [[t["executor"], t["workers"], ",".join(map(str, t["threads"])),
                         round(t["wall_s"], 1), round(t["train_s_sum"], 1),
                         f"{t['ok']}/{t['records']}", round(t["load_before"], 1)]
                        for t in timings]),
        "Speed-up over serial: " + ", ".join(
            f"{t['executor']} {timings[0]['wall_s'] / t['wall_s']:.2f}x" for t in timings[1:])
        + ". Every wall time includes starting Python, importing torch and loading MNIST in "
        "each process (and starting Ray); the first run in each process also pays torch's "
        "one-off warm-up inside its train seconds.",
        "## 4. `python -m torch_ae_sad.model.results` on the crash+restart folder",
        "```\n" + table.rstrip() + "\n```",
        f"Total: {time.perf_counter() - t_all:.0f} s.", ""])
    print(md)
    write_results("executors", {"machine": machine_info(("torch", "numpy", "scikit-learn",
                                                         "ray")),
                                "grid_runs": len(grid()), "crash_restart": crash,
                                "determinism": det, "timings": timings,
                                "cross_executor": same, "results_table": table}, md)


if __name__ == "__main__":
    main()
