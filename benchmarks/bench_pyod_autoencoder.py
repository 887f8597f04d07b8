"""Time our dense ``AutoEncoder`` against PyOD's ``AutoEncoder`` on MNIST one-vs-all.

Both get the same flattened ``(n, 784)`` float32 training set in ``[0, 1]`` (the normal digit's
training images, no labelled anomalies, no validation part), the same architecture widths
784-128-32-128-784 with ReLU, Adam with the same learning rate and no weight decay, the same
epochs and batch size, the CPU and torch's default thread count. PyOD runs with batch norm,
dropout and its standardisation (``preprocessing``) off. The two run in one process,
alternating which goes first in each repeat; a small untimed warm-up fit of each precedes the
repeats (first-call costs such as PyOD's numba JIT of its scoring function). Measured: wall
seconds of ``fit`` (training plus the training-set scores both compute in ``fit``), seconds of
scoring the test part, and the test AUROC.

Differences that cannot be matched with PyOD's public parameters (listed in the results too):
PyOD puts the hidden activation on the 32-unit code as well (ours: linear code), its output
layer is linear (ours: sigmoid), its hidden layers use ``kaiming_uniform_`` with ``a=0``
(ours: torch's default ``Linear`` init), its loader drops the last incomplete batch, and it
scores with the Euclidean distance (ours: its square; same AUROC).

Usage::

    .venv/bin/pip install -r benchmarks/requirements-bench.txt
    python benchmarks/bench_pyod_autoencoder.py              # 10 epochs, 3 repeats
    python benchmarks/bench_pyod_autoencoder.py --quick      # 1 epoch, 1 repeat

Writes ``<out>/pyod_autoencoder.{json,md}`` (``pyod_autoencoder_quick.{json,md}`` with
``--quick``) atomically after every repeat.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import machine_info as _machine_info
from _common import write_atomic
from sklearn.metrics import roc_auc_score

MODELS = ("ours", "pyod")
HIDDEN = [128, 32]
DEVICE = "cpu"
GOAL_RATIO = 3.0
WARMUP_SAMPLES = 512

DIFFERENCES = [
    "Code layer: PyOD applies the hidden activation (ReLU) to the 32-unit code; ours leaves "
    "it linear.",
    "Output layer: PyOD's is linear (no output activation); ours ends with a sigmoid.",
    "Initialisation: PyOD's hidden layers use kaiming_uniform_ (a=0), its output layer and all "
    "of ours torch's default Linear init (kaiming_uniform_, a=sqrt(5)).",
    "Batches: PyOD's DataLoader drops the last incomplete batch (drop_last=True) and builds "
    "every batch sample by sample through a Dataset; ours uses every sample with whole-tensor "
    "index batches.",
    "Loss: both the mean squared error over the batch's pixels (PyOD nn.MSELoss; ours the "
    "batch mean of per-sample MSE, the same value).",
    "Score: PyOD the Euclidean reconstruction distance, ours its square (same ranking, same "
    "AUROC).",
    "Weight decay: PyOD's default optimizer_params={'weight_decay': 1e-5} is overridden with "
    "0.0 to match ours.",
]


#: Versions recorded with the results.
PACKAGES = ("torch", "pyod", "numpy", "scikit-learn", "numba")

def load_data(normal_class: int) -> dict[str, np.ndarray]:
    """Return the flattened one-vs-all MNIST training and test arrays of ``normal_class``."""
    from torch_ae_sad.dataset_loaders.splits import one_vs_all

    split = one_vs_all("mnist", normal_class, labelled=0, val_fraction=0.0, seed=0)
    flat = {k: np.ascontiguousarray(getattr(split, k).reshape(len(getattr(split, k)), -1),
                                    dtype=np.float32) for k in ("X_train", "X_test")}
    return {**flat, "y_train": split.y_train, "y_test": split.y_test}


def make_model(name: str, args: argparse.Namespace, seed: int, epochs: int) -> Any:
    """Return an unfitted detector ``name`` (``ours`` or ``pyod``) with the shared budget."""
    if name == "ours":
        from torch_ae_sad.model import AutoEncoder

        return AutoEncoder(hidden_dims=list(HIDDEN), activation="relu",
                           out_activation="sigmoid", epochs=epochs,
                           batch_size=args.batch_size, lr=args.lr, optimizer="adam",
                           verbose=0, random_state=seed, device=DEVICE)
    if name == "pyod":
        from pyod.models.auto_encoder import AutoEncoder as PyODAutoEncoder

        return PyODAutoEncoder(hidden_neuron_list=list(HIDDEN), hidden_activation_name="relu",
                               batch_norm=False, dropout_rate=0.0, preprocessing=False,
                               epoch_num=epochs, batch_size=args.batch_size, lr=args.lr,
                               optimizer_name="adam", optimizer_params={"weight_decay": 0.0},
                               random_state=seed, verbose=0, device=DEVICE)
    raise ValueError(f"model: expected one of {MODELS}, found {name!r}")


def fit_args(name: str, data: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Positional ``fit`` arguments: ours gets ``y`` (all 0 here), PyOD ignores labels."""
    return (data["X_train"], data["y_train"]) if name == "ours" else (data["X_train"],)


def module_of(model: Any) -> torch.nn.Module:
    """The fitted torch module of either detector."""
    return model.module_ if hasattr(model, "module_") else model.model


def run_one(name: str, args: argparse.Namespace, data: dict[str, np.ndarray], seed: int,
            repeat: int, position: int) -> tuple[dict[str, Any], Any]:
    """Fit and score one detector; return its row and the fitted model."""
    model = make_model(name, args, seed, args.epochs)
    gc.collect()
    load_before = list(os.getloadavg())
    t0 = time.perf_counter()
    model.fit(*fit_args(name, data))
    fit_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    scores = np.asarray(model.decision_function(data["X_test"]), dtype=np.float64)
    score_s = time.perf_counter() - t1
    auroc = float(roc_auc_score(data["y_test"], scores))
    n = len(data["X_train"])
    steps = (n // args.batch_size if name == "pyod" else -(-n // args.batch_size)) * args.epochs
    row = {"repeat": repeat, "position": position, "model": name, "seed": seed,
           "fit_seconds": fit_s, "score_seconds": score_s, "auroc": auroc,
           "train_steps": steps, "ms_per_step": 1000.0 * fit_s / steps,
           "torch_threads": torch.get_num_threads(), "loadavg_before": load_before,
           "loadavg_after": list(os.getloadavg())}
    return row, model


def warm_up(args: argparse.Namespace, data: dict[str, np.ndarray]) -> dict[str, float]:
    """Untimed 1-epoch fits of both on a few samples (JIT, allocator and import costs)."""
    small = {"X_train": data["X_train"][:WARMUP_SAMPLES],
             "y_train": data["y_train"][:WARMUP_SAMPLES]}
    out = {}
    for name in MODELS:
        t0 = time.perf_counter()
        model = make_model(name, args, 0, 1)
        model.fit(*fit_args(name, small))
        model.decision_function(data["X_test"][:WARMUP_SAMPLES])
        out[name] = time.perf_counter() - t0
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians, AUROC means, the ratio of medians and the per-repeat ratios pyod/ours."""
    by = {m: [r for r in rows if r["model"] == m] for m in MODELS}
    out: dict[str, Any] = {}
    for m, rs in by.items():
        if not rs:
            return {}
        aucs = [r["auroc"] for r in rs]
        out[m] = {"median_fit_seconds": statistics.median(r["fit_seconds"] for r in rs),
                  "min_fit_seconds": min(r["fit_seconds"] for r in rs),
                  "median_ms_per_step": statistics.median(r["ms_per_step"] for r in rs),
                  "mean_auroc": statistics.fmean(aucs),
                  "std_auroc": statistics.stdev(aucs) if len(aucs) > 1 else 0.0,
                  "n": len(rs)}
    per_repeat = {}
    for r in by["ours"]:
        p = [q for q in by["pyod"] if q["repeat"] == r["repeat"]]
        if p:
            per_repeat[r["repeat"]] = p[0]["fit_seconds"] / r["fit_seconds"]
    ratio = out["pyod"]["median_fit_seconds"] / out["ours"]["median_fit_seconds"]
    out["ratio_of_medians"] = ratio
    out["per_repeat_ratios"] = [per_repeat[k] for k in sorted(per_repeat)]
    out["median_per_repeat_ratio"] = (statistics.median(per_repeat.values())
                                      if per_repeat else None)
    out["goal_ratio"] = GOAL_RATIO
    out["goal_speed_met"] = ratio >= GOAL_RATIO
    out["goal_auroc_met"] = out["ours"]["mean_auroc"] >= out["pyod"]["mean_auroc"]
    return out


def repeat_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of one repeat's rows with its pyod/ours ratio."""
    lines = [f"{'repeat':>6} {'pos':>3} {'model':<5} {'fit s':>8} {'ms/step':>8} "
             f"{'score s':>8} {'AUROC':>7}"]
    lines += [f"{r['repeat']:>6} {r['position']:>3} {r['model']:<5} {r['fit_seconds']:>8.2f} "
              f"{r['ms_per_step']:>8.2f} {r['score_seconds']:>8.3f} {r['auroc']:>7.4f}"
              for r in rows]
    fit = {r["model"]: r["fit_seconds"] for r in rows}
    if len(fit) == 2:
        lines.append(f"  ratio pyod/ours: {fit['pyod'] / fit['ours']:.2f}x")
    return "\n".join(lines)


def summary_text(s: dict[str, Any]) -> str:
    """Plain-text summary."""
    if not s:
        return "no complete summary"
    per = ", ".join(f"{x:.2f}x" for x in s["per_repeat_ratios"])
    return "\n".join([
        f"ours: median fit {s['ours']['median_fit_seconds']:.2f} s "
        f"({s['ours']['median_ms_per_step']:.2f} ms/step), mean AUROC "
        f"{s['ours']['mean_auroc']:.4f} +- {s['ours']['std_auroc']:.4f}",
        f"pyod: median fit {s['pyod']['median_fit_seconds']:.2f} s "
        f"({s['pyod']['median_ms_per_step']:.2f} ms/step), mean AUROC "
        f"{s['pyod']['mean_auroc']:.4f} +- {s['pyod']['std_auroc']:.4f}",
        f"ratio pyod/ours of the medians: {s['ratio_of_medians']:.2f}x; per repeat: {per}",
        f"goal (>= {s['goal_ratio']:.0f}x faster, AUROC >= PyOD's): speed "
        f"{'met' if s['goal_speed_met'] else 'NOT met'}, AUROC "
        f"{'met' if s['goal_auroc_met'] else 'NOT met'}",
    ])


def markdown(doc: dict[str, Any]) -> str:
    """Render the results document as Markdown."""
    c, m, s = doc["config"], doc["machine"], doc["summary"]
    v = m["versions"]
    lines = [
        "# Our AutoEncoder vs PyOD's AutoEncoder (MNIST one-vs-all)",
        "",
        f"Date: {doc['started']} (finished: {doc['finished'] or 'not finished'}).",
        "",
        f"Budget: {c['epochs']} epochs, batch size {c['batch_size']}, Adam lr {c['lr']}, "
        f"no weight decay, device `{c['device']}`, {c['repeats']} repeats (order alternated: "
        "even repeats ours first, odd repeats PyOD first), seed of repeat r = r, one untimed "
        f"warm-up fit of each on {WARMUP_SAMPLES} samples first.",
        "",
        f"Data: MNIST, normal digit {c['normal_class']}, {c['n_train']} training normals "
        f"(flattened to 784 float32 in [0, 1]), test {c['n_test']} images "
        f"({c['n_test_anomalies']} anomalies).",
        "",
        f"Architecture: 784-{HIDDEN[0]}-{HIDDEN[1]}-{HIDDEN[0]}-784 dense, ReLU; ours "
        "`AutoEncoder(hidden_dims=[128, 32], activation='relu', out_activation='sigmoid')`; "
        "PyOD `AutoEncoder(hidden_neuron_list=[128, 32], hidden_activation_name='relu', "
        "batch_norm=False, dropout_rate=0.0, preprocessing=False, "
        "optimizer_params={'weight_decay': 0.0})`.",
        "",
        f"Machine: {m['cpu_count']} CPUs ({m['cpu_model']}), torch threads "
        f"{m['torch_threads']}, Python {m['python']}, torch {v['torch']}, pyod {v['pyod']}, "
        f"numpy {v['numpy']}, scikit-learn {v['scikit-learn']}. Shared, noisy machine: compare "
        "the per-repeat ratios as well as the medians.",
        "",
        "`fit s` = wall seconds of `fit` (training + training-set scores), `score s` = scoring "
        "the test part.",
        "",
        "| repeat | position | model | fit s | ms/step | score s | AUROC | pyod/ours |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    ratios = dict(zip(sorted({r["repeat"] for r in doc["rows"] if r["model"] == "ours"}),
                      s.get("per_repeat_ratios", []), strict=False))
    for r in doc["rows"]:
        ratio = f"{ratios[r['repeat']]:.2f}x" if r["model"] == "pyod" and r["repeat"] in ratios \
            else ""
        lines.append(f"| {r['repeat']} | {r['position']} | {r['model']} | "
                     f"{r['fit_seconds']:.2f} | {r['ms_per_step']:.2f} | "
                     f"{r['score_seconds']:.3f} | {r['auroc']:.4f} | {ratio} |")
    if s:
        lines += [
            "",
            "## Summary",
            "",
            "| model | median fit s | median ms/step | mean AUROC | std AUROC |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [f"| {k} | {s[k]['median_fit_seconds']:.2f} | "
                  f"{s[k]['median_ms_per_step']:.2f} | {s[k]['mean_auroc']:.4f} | "
                  f"{s[k]['std_auroc']:.4f} |" for k in MODELS]
        lines += ["", "```", summary_text(s), "```"]
    lines += ["", "## Differences PyOD's parameters cannot remove", ""]
    lines += [f"- {d}" for d in DIFFERENCES]
    return "\n".join(lines) + "\n"


def save(doc: dict[str, Any], out: Path, stem: str) -> None:
    """Write the JSON and Markdown results."""
    doc["summary"] = summarise(doc["rows"])
    write_atomic(out / f"{stem}.json", json.dumps(doc, indent=2) + "\n")
    write_atomic(out / f"{stem}.md", markdown(doc))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``--quick``: 1 epoch, 1 repeat)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--normal-class", type=int, default=0, help="normal digit (default 0)")
    p.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--repeats", type=int, default=3, help="repeats (default 3)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads for both (default: torch's default)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"),
                   help="output folder (default benchmarks/results)")
    p.add_argument("--quick", action="store_true",
                   help="1 epoch, 1 repeat; writes pyod_autoencoder_quick.{json,md}")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.repeats = 1, 1
    for name in ("epochs", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')}: expected >= 1, found {getattr(args, name)}")
    if not args.lr > 0:
        p.error(f"--lr: expected > 0, found {args.lr}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads: expected >= 1, found {args.threads}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    args = parse_args(argv)
    try:
        import pyod  # noqa: F401
    except ImportError:
        print("pyod is not installed: pip install -r benchmarks/requirements-bench.txt",
              file=sys.stderr)
        return 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    stem = "pyod_autoencoder_quick" if args.quick else "pyod_autoencoder"
    data = load_data(args.normal_class)
    doc: dict[str, Any] = {
        "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "finished": None, "complete": False, "command": sys.argv,
        "config": {"normal_class": args.normal_class, "epochs": args.epochs,
                   "batch_size": args.batch_size, "lr": args.lr, "optimizer": "adam",
                   "weight_decay": 0.0, "repeats": args.repeats, "device": DEVICE,
                   "hidden": HIDDEN, "threads_arg": args.threads, "quick": args.quick,
                   "n_train": len(data["X_train"]), "n_test": len(data["X_test"]),
                   "n_test_anomalies": int(data["y_test"].sum()),
                   "warmup_samples": WARMUP_SAMPLES},
        "machine": _machine_info(PACKAGES), "differences": DIFFERENCES, "rows": [], "modules": {},
    }
    print(f"normal digit {args.normal_class}: {len(data['X_train'])} training normals, "
          f"{len(data['X_test'])} test; {args.epochs} epochs, batch {args.batch_size}, "
          f"lr {args.lr}, {args.repeats} repeats, torch threads {torch.get_num_threads()}")
    doc["warmup_seconds"] = warm_up(args, data)
    t0 = time.perf_counter()
    try:
        for rep in range(args.repeats):
            order = MODELS if rep % 2 == 0 else MODELS[::-1]
            rows = []
            for pos, name in enumerate(order):
                row, model = run_one(name, args, data, rep, rep, pos)
                rows.append(row)
                doc["rows"].append(row)
                if name not in doc["modules"]:
                    mod = module_of(model)
                    doc["modules"][name] = {
                        "repr": str(mod),
                        "n_parameters": sum(p.numel() for p in mod.parameters())}
                save(doc, args.out, stem)
            print(repeat_table(rows), flush=True)
    except KeyboardInterrupt:
        print(f"interrupted; {len(doc['rows'])} rows kept in {args.out}", file=sys.stderr)
        return 130
    doc["finished"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    doc["complete"] = True
    doc["wall_seconds"] = time.perf_counter() - t0
    save(doc, args.out, stem)
    print()
    print(summary_text(doc["summary"]))
    print(f"wrote {args.out / (stem + '.json')} and {args.out / (stem + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
