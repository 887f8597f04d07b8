"""GPU check of the CUDA path: every torch detector on CUDA against the CPU, in one table.

On a CUDA machine, for every torch detector of the registry, on a small MNIST split (digit 1
vs the rest: ``--n-train`` normals and 30 labelled anomalies to train on, ``--n-test`` test
images), it fits once on the CPU (float32: the reference) and four times on CUDA: float32,
bfloat16 autocast (``amp=True``) and ``deterministic=True`` twice (are the scores
repeatable?). The CUDA float32 fit also goes through a model file and back
(:func:`~torch_ae_sad.model.experiment.serialize_model`, written to a file,
:func:`~torch_ae_sad.model.experiment.load_model`; the loaded detector scores on the CPU).
Then a grid of four runs (AE-SAD and the VAE on digits 0 and 1, full training sets, two
epochs) on two local workers (:func:`~torch_ae_sad.model.experiment.run_specs` with
``executor="local", workers=2``, device ``cuda``).

It prints one table: AUROC, fit + score seconds, peak GPU memory (MiB allocated by torch,
fit and scores), the AUROC difference to the CPU fit, and notes (round trip, amp against
float32, repeatability, the grid's runs); then whether the fits left the global generators
(CPU and CUDA) and the deterministic settings as they found them. The table and the numbers
go to ``benchmarks/results/gpu_check.{json,md}`` (``--quick``: ``gpu_check_quick``).

Without CUDA it prints one line saying so and exits 0. ``--device cpu`` runs every step on the
CPU instead, a smoke test of the script itself (nothing written).

Needs the package's requirements (imbalanced-learn included) on the GPU machine::

    python benchmarks/bench_gpu_check.py            # about 3 minutes on one H200
"""

from __future__ import annotations

import argparse
import gc
import inspect
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, markdown_table, signed, write_results  # noqa: E402

from torch_ae_sad.dataset_loaders import one_vs_all  # noqa: E402
from torch_ae_sad.model import DETECTORS  # noqa: E402
from torch_ae_sad.model.base import TorchDetector  # noqa: E402
from torch_ae_sad.model.experiment import (  # noqa: E402
    load_model,
    make_spec,
    run_specs,
    serialize_model,
)

STEM = "gpu_check"
#: Small settings, where a detector takes them (filtered by its signature).
FAST: dict[str, Any] = {"batch_size": 64, "verbose": 0, "pretrain_epochs": 3, "width": 16,
                        "rep_dim": 16, "channels": (8, 16)}
#: Deep SAD is near chance with the others' budget: more epochs at a higher rate.
OVERRIDES: dict[str, dict[str, Any]] = {"DeepSAD": {"epochs": 10, "lr": 1e-3}}
MODES = ("cuda fp32", "cuda amp", "cuda deterministic")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda",
                   help="cuda (default; without CUDA: one line, exit 0) or cpu (smoke test)")
    p.add_argument("--n-train", type=int, default=2000, help="normals to train on")
    p.add_argument("--n-test", type=int, default=2000, help="test images")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--detectors", nargs="+", default=None, help="default: every torch one")
    p.add_argument("--threads", type=int, default=8, help="torch threads of the CPU fits")
    p.add_argument("--no-grid", action="store_true", help="skip the two-worker grid")
    p.add_argument("--quick", action="store_true",
                   help="300 normals, 300 test images, 2 epochs; writes gpu_check_quick")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.epochs = 300, 300, 2
    known = sorted(n for n, c in DETECTORS.items() if issubclass(c, TorchDetector))
    args.detectors = args.detectors or known
    bad = sorted(set(args.detectors) - set(known))
    if bad:
        p.error(f"--detectors: expected names among {known}, found {bad}")
    if min(args.n_train, args.n_test, args.epochs, args.threads) < 1:
        p.error("--n-train, --n-test, --epochs and --threads: expected values >= 1")
    return args


def load_split(n_train: int, n_test: int, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digit 1 vs the rest: ``n_train`` normals + the 30 labelled anomalies; ``n_test`` tests."""
    s = one_vs_all("mnist", 1, labelled=30, seed=seed)
    rng = np.random.default_rng(seed)
    normals = np.flatnonzero(s.y_train == 0)
    keep = np.r_[rng.choice(normals, min(n_train, len(normals)), replace=False),
                 np.flatnonzero(s.y_train == 1)]
    test = rng.choice(len(s.X_test), min(n_test, len(s.X_test)), replace=False)
    return s.X_train[keep], s.y_train[keep], s.X_test[test], s.y_test[test]


def make(name: str, device: str, epochs: int, **extra: Any) -> TorchDetector:
    """Detector ``name`` with the small settings (:data:`FAST`, :data:`OVERRIDES`)."""
    cls = DETECTORS[name]
    accepted = inspect.signature(cls).parameters
    params = {**FAST, "epochs": epochs, **OVERRIDES.get(name, {}), "device": device, **extra}
    return cls(**{k: v for k, v in params.items() if k in accepted})


def fit_and_score(det: TorchDetector, data: tuple[np.ndarray, ...]) -> dict[str, Any]:
    """Fit and score ``det``: AUROC, seconds, peak GPU MiB, the test scores, the detector."""
    X_tr, y_tr, X_te, y_te = data
    cuda = torch.cuda.is_available() and str(det.device).startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    scores = det.fit(X_tr, y_tr).decision_function(X_te)  # the scores come back: synced
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    return {"auc": float(roc_auc_score(y_te, scores)), "seconds": seconds, "peak_mib": peak,
            "scores": scores, "det": det}


def round_trip(det: TorchDetector, scores: np.ndarray, X_te: np.ndarray, folder: Path) -> str:
    """Model file and back: the largest score difference of the loaded detector (on the CPU)."""
    blob = serialize_model(det)
    if isinstance(blob, str):  # a detector whose state no model file holds
        return blob
    path = folder / f"{type(det).__name__}.model.pt"
    path.write_bytes(blob)
    loaded = load_model(path)
    diff = float(np.max(np.abs(loaded.decision_function(X_te) - scores)))
    return f"round trip: max |score diff| {diff:.2g} ({len(blob) / 2**10:.0f} KiB)"


def _release() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def check_detector(name: str, args: argparse.Namespace, data: tuple[np.ndarray, ...],
                   folder: Path) -> list[dict[str, Any]]:
    """The five fits of one detector (CPU reference, CUDA fp32 / amp / deterministic x2)."""
    X_te = data[2]
    ref = fit_and_score(make(name, "cpu", args.epochs), data)
    rows = [{"detector": name, "mode": "cpu fp32", **ref, "note": ""}]
    plain = fit_and_score(make(name, args.device, args.epochs), data)
    note = round_trip(plain["det"], plain["scores"], X_te, folder)
    rows.append({"detector": name, "mode": MODES[0], **plain, "note": note})
    amp = fit_and_score(make(name, args.device, args.epochs, amp=True), data)
    rows.append({"detector": name, "mode": MODES[1], **amp,
                 "note": f"amp - fp32 AUROC {signed(amp['auc'] - plain['auc'])}"})
    det = [fit_and_score(make(name, args.device, args.epochs, deterministic=True), data)
           for _ in range(2)]
    gap = float(np.max(np.abs(det[0]["scores"] - det[1]["scores"])))
    rows.append({"detector": name, "mode": MODES[2], **det[0], "note": "repeatable: " + (
        "identical scores" if gap == 0 else f"scores differ, max {gap:.2g}")})
    for row in rows:
        row["delta_cpu"] = row["auc"] - ref["auc"]
        row.pop("det")
        row.pop("scores")
    _release()
    return rows


def global_state() -> dict[str, Any]:
    """The global state a fit must leave as it found it."""
    state = {"cpu_rng": torch.get_rng_state(),
             "deterministic": (torch.are_deterministic_algorithms_enabled(),
                               torch.is_deterministic_algorithms_warn_only_enabled()),
             "cudnn_benchmark": torch.backends.cudnn.benchmark,
             "cublas_env": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state()
    return state


def same_state(a: dict[str, Any], b: dict[str, Any]) -> dict[str, bool]:
    """Key -> whether the two :func:`global_state` values agree."""
    return {k: bool(torch.equal(a[k], b[k])) if isinstance(a[k], torch.Tensor) else a[k] == b[k]
            for k in a}


def grid_row(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Four runs on two local workers (AE-SAD and the VAE on digits 0 and 1)."""
    specs = [make_spec({"dataset": "mnist", "normal_classes": [c], "labelled": 30,
                        "method": m, "method_params": {"epochs": 2}, "seed": 0,
                        "device": args.device})
             for m in ("AESAD", "VAE") for c in (0, 1)]
    t0 = time.perf_counter()
    records = run_specs(specs, folder / "records", executor="local", workers=2, verbose=0,
                        skip_existing=False)
    seconds = time.perf_counter() - t0
    ok = [r for r in records if r["status"] == "ok"]
    errors = sorted({r.get("error", "?")[:80] for r in records if r["status"] != "ok"})
    devices = sorted({r.get("device", "?") for r in ok})
    auc = float(np.mean([r["metrics"]["roc_auc"] for r in ok])) if ok else float("nan")
    note = f"{len(ok)}/{len(records)} ok on {devices}" + (f"; {errors}" if errors else "")
    return {"detector": "grid AESAD+VAE x 2 digits", "mode": f"local, 2 workers, {args.device}",
            "auc": auc, "seconds": seconds, "peak_mib": None, "delta_cpu": None, "note": note}


def to_markdown(rows: list[dict[str, Any]], checks: dict[str, bool], args: argparse.Namespace,
                gpu: str) -> str:
    """The one table and the state checks."""
    def num(v: float | None, fmt: str) -> str:
        return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, fmt)

    table = [[r["detector"], r["mode"], num(r["auc"], ".4f"), num(r["delta_cpu"], "+.4f"),
              num(r["seconds"], ".1f"), num(r["peak_mib"], ".0f"), r["note"]] for r in rows]
    amp = [abs(r["delta_cpu"]) for r in rows if r["mode"] == MODES[1]]
    left = ", ".join(f"{k} {'kept' if v else 'CHANGED'}" for k, v in checks.items())
    return "\n\n".join([
        "# The CUDA path, checked on a GPU",
        f"Device {gpu}; MNIST digit 1 vs the rest, {args.n_train} normals + 30 labelled "
        f"anomalies, {args.n_test} test images, {args.epochs} epochs (Deep SAD: "
        f"{OVERRIDES['DeepSAD']['epochs']} at lr 1e-3); CPU fits with {args.threads} threads.",
        markdown_table(["detector", "mode", "AUROC", "Δ vs CPU", "seconds", "peak MiB",
                        "notes"], table),
        f"Largest |amp - CPU fp32| AUROC: {max(amp) if amp else float('nan'):.4f}. "
        f"Global state after every fit: {left}.", ""])


def main(argv: list[str] | None = None) -> None:
    """Run the checks; print the table; write the results on CUDA."""
    args = parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench_gpu_check: no CUDA device here (torch.cuda.is_available() is False); "
              "nothing to check")
        return
    torch.set_num_threads(args.threads)
    data = load_split(args.n_train, args.n_test)
    before, rows = global_state(), []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.detectors:
            rows += check_detector(name, args, data, Path(tmp))
            print(f"{name}: " + ", ".join(f"{r['mode']} {r['auc']:.4f}" for r in rows[-4:]),
                  flush=True)
        checks = same_state(before, global_state())
        if not args.no_grid:
            rows.append(grid_row(args, Path(tmp)))
    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu (smoke)"
    md = to_markdown(rows, checks, args, gpu)
    print(md)
    if not args.device.startswith("cuda"):
        print("(--device cpu: a smoke test of the script, nothing written)")
        return
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_results(f"{STEM}_quick" if args.quick else STEM,
                  {"settings": settings, "machine": machine_info(), "gpu": gpu, "rows": rows,
                   "state_kept": checks, "wall_seconds": time.perf_counter() - t_all},
                  md, out=args.out)


if __name__ == "__main__":
    main()
