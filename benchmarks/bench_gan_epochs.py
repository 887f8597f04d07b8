"""Dual-discriminator GAN on the CPU: speed-up ratios, whether AUROC holds, AUROC vs epochs.

Everything runs in one process on ``--threads`` torch threads (default 1), Fashion-MNIST
one-vs-all with 600 labelled anomalies from the nine other classes (``one_vs_all(...,
labelled=600, seed=0)``: 5,400 normals and 600 anomalies in training, k-means balanced to
5,400 + 5,400 = 10,800 samples per epoch, augmented), the GAN at ``--width`` 32 (the CPU
width of ``gan_fashion_trainer``'s CPU preset), Adam with betas (0.5, 0.999).

1. Speed, side by side: the variants below train one epoch on the same 1,024 real images
   (512 normals, 512 labelled anomalies; balancing off), interleaved over ``--rounds``
   rounds after a warm-up fit of each, median per variant. Reference: fp32, contiguous
   memory, batch 64, lr 1e-4. Printed per variant: seconds per step, milliseconds per
   sample, the per-step time ratio (variant / reference) and the speed-up per sample seen
   (reference / variant: what shortens a fixed budget of epochs).

   * ``channels_last``: networks and batches in the channels-last memory format;
   * ``amp``: bfloat16 autocast of the forward passes on the CPU (fast where the processor
     has bfloat16 instructions: the script prints torch's CPU capability and the
     ``avx512_bf16`` / ``amx_bf16`` flags);
   * ``channels_last + amp``;
   * ``batch 256``: four times the batch with the learning rate scaled by the square root
     of the batch ratio, 1e-4 * sqrt(256 / 64) = 2e-4 (square-root scaling, the usual
     rule for Adam; linear scaling would give 4e-4);
   * ``amp + batch 256`` (lr 2e-4).

2. Does AUROC hold: each variant trains ``--check-epochs`` (1) epoch(s) on the first class
   of ``--classes`` (the same 10,800 samples seen by every variant, whatever its batch), and
   the reference also with seed 1 to show the seed-to-seed spread; test AUROC on the full
   test set (one epoch is early and steep in the trend: compare the differences with the
   two seeds' spread). Rule, fixed before running: a variant keeps AUROC if its AUROC is
   at least the reference's (seed 0) minus 0.02. The epoch trend uses the variant with the largest
   speed-up per sample among those that keep AUROC and are at least 5 % faster (else the
   reference).

3. AUROC vs epochs: the classes of ``--classes`` (0, 1, 2: the classes of
   ``bench_gan_fashion.py``'s default, fixed before running), one training run per class of
   ``--epochs`` (10) epochs with the chosen variant. The test AUROC is recorded after every
   epoch of that one run: the test set is passed as the training loop's monitoring data
   (``X_val``/``y_val``, ``eval_every`` = one epoch) with ``select="last"`` and no patience,
   so it only observes (nothing is chosen by it; the weights are always the last ones; the
   monitoring draws no random numbers, so training is the same as without it). The final
   AUROC is re-computed with ``decision_function`` as a check. Seconds are cumulative wall
   seconds of the fit, monitoring included.

Run (39 minutes on one thread of the recorded, shared machine; ``--quick``: about 1 minute)::

    python benchmarks/bench_gan_epochs.py [--classes 0 1 2] [--epochs 10] [--quick]

Writes ``benchmarks/results/gan_epochs.{json,md}`` (``gan_epochs_quick`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _common import (
    RESULTS,
    check_classes,
    check_positive,
    loadavg,
    machine_info,
    markdown_table,
    write_results,
)
from sklearn.metrics import roc_auc_score

from torch_ae_sad.dataset_loaders import load_dataset, one_vs_all
from torch_ae_sad.model.detectors.gan import DualDiscriminatorGAN

REF_BATCH, REF_LR = 64, 1e-4
BIG_BATCH = 256
BIG_LR = REF_LR * math.sqrt(BIG_BATCH / REF_BATCH)  # square-root scaling: 2e-4
#: name -> detector settings (the reference first).
VARIANTS: dict[str, dict] = {
    "reference (fp32, contiguous, batch 64)": {},
    "channels_last": {"channels_last": True},
    "amp (bf16 autocast)": {"amp": True},
    "channels_last + amp": {"channels_last": True, "amp": True},
    f"batch {BIG_BATCH}, lr {BIG_LR:g}": {"batch_size": BIG_BATCH, "lr": BIG_LR},
    f"amp + batch {BIG_BATCH}, lr {BIG_LR:g}": {"amp": True, "batch_size": BIG_BATCH,
                                                 "lr": BIG_LR},
}
REFERENCE = next(iter(VARIANTS))
#: A variant keeps AUROC if it is at least the reference's minus this.
AUROC_SLACK = 0.02
#: ... and is chosen only if at least this much faster per sample.
MIN_SPEEDUP = 1.05


def make(width: int, settings: dict, **kw) -> DualDiscriminatorGAN:
    """The GAN with the reference settings, then ``settings`` and ``kw`` on top."""
    return DualDiscriminatorGAN(**{"width": width, "batch_size": REF_BATCH, "lr": REF_LR,
                                   "verbose": 0, "device": "cpu", **settings, **kw})


def bf16_info() -> dict:
    """The CPU capability torch reports and the processor's bfloat16 flags."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    try:
        mkldnn_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        mkldnn_bf16 = None
    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags,
            "mkldnn_bf16_supported": mkldnn_bf16}


def speed(split, width: int, rounds: int, n_each: int) -> list[dict]:
    """Median seconds of one epoch on ``2 * n_each`` images per variant, interleaved."""
    normals = split.X_train[split.y_train == 0][:n_each]
    anomalies = split.X_train[split.y_train == 1][:n_each]
    X = np.concatenate([normals, anomalies])
    y = np.r_[np.zeros(len(normals), int), np.ones(len(anomalies), int)]
    for settings in VARIANTS.values():  # warm-up: oneDNN kernels, allocator
        make(width, settings, epochs=1, balance_anomalies=False).fit(X[::4], y[::4])
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for r in range(rounds):
        for name, settings in VARIANTS.items():
            det = make(width, settings, epochs=1, balance_anomalies=False).fit(X, y)
            seconds[name].append(det.history_["seconds"][-1])
        print(f"speed round {r + 1}/{rounds}: " + ", ".join(
            f"{v[-1]:.1f}" for v in seconds.values()) + " s", flush=True)
    out = []
    for name, settings in VARIANTS.items():
        batch = settings.get("batch_size", REF_BATCH)
        sec = float(np.median(seconds[name]))
        out.append({"variant": name, "settings": settings, "batch_size": batch,
                    "lr": settings.get("lr", REF_LR), "samples": len(X),
                    "steps": math.ceil(len(X) / batch), "epoch_seconds": seconds[name],
                    "median_seconds": sec, "s_per_step": sec / math.ceil(len(X) / batch),
                    "ms_per_sample": sec / len(X) * 1000})
    ref = out[0]
    for row in out:
        row["step_time_ratio"] = row["s_per_step"] / ref["s_per_step"]
        row["speedup_per_sample"] = ref["ms_per_sample"] / row["ms_per_sample"]
    return out


def auroc(det: DualDiscriminatorGAN, split) -> float:
    return float(roc_auc_score(split.y_test, det.decision_function(split.X_test)))


def check(split, width: int, epochs: int) -> list[dict]:
    """Test AUROC of each variant (and the reference with seed 1) after ``epochs`` epochs."""
    runs = [(name, settings, 0) for name, settings in VARIANTS.items()]
    runs.insert(1, (REFERENCE, VARIANTS[REFERENCE], 1))
    out = []
    for name, settings, seed in runs:
        t0 = time.perf_counter()
        det = make(width, settings, epochs=epochs, random_state=seed).fit(split.X_train,
                                                                         split.y_train)
        fit_s = time.perf_counter() - t0
        auc = auroc(det, split)
        out.append({"variant": name, "seed": seed, "roc_auc": auc, "fit_seconds": fit_s,
                    "samples_seen": epochs * sum(det.n_train_.values()),
                    "steps": det.history_["step"][-1]})
        print(f"check {name} seed {seed}: AUROC {auc:.4f}  fit {fit_s:.0f} s", flush=True)
    return out


def choose(speeds: list[dict], checks: list[dict]) -> tuple[str, dict[str, bool]]:
    """The fastest variant that keeps AUROC (see the module docstring), and who keeps it."""
    ref_auc = next(c["roc_auc"] for c in checks if c["variant"] == REFERENCE and c["seed"] == 0)
    keeps = {c["variant"]: c["roc_auc"] >= ref_auc - AUROC_SLACK for c in checks
             if c["seed"] == 0}
    fast = [s for s in speeds if keeps[s["variant"]] and s["speedup_per_sample"] >= MIN_SPEEDUP]
    best = max(fast, key=lambda s: s["speedup_per_sample"])["variant"] if fast else REFERENCE
    return best, keeps


def trend(data, classes: list[int], width: int, epochs: int, settings: dict,
          labelled: int = 600) -> list[dict]:
    """Test AUROC after every epoch of one run per class (the test set only monitors)."""
    out = []
    for c in classes:
        split = one_vs_all(data, c, labelled=labelled, seed=0)
        t0 = time.perf_counter()
        det = make(width, settings, epochs=epochs, select="last", patience=None)
        det.fit(split.X_train, split.y_train, X_val=split.X_test, y_val=split.y_test)
        fit_s = time.perf_counter() - t0
        final = auroc(det, split)
        h = det.history_
        out.append({"class": c, "roc_auc_by_epoch": h["val_auc"], "seconds_by_epoch":
                    h["seconds"], "steps_by_epoch": h["step"], "train_loss": h["train_loss"],
                    "d_loss": h["d_loss"], "fit_seconds": fit_s, "final_roc_auc": final,
                    "n_train": det.n_train_})
        print(f"class {c}: AUROC by epoch " + " ".join(f"{a:.4f}" for a in h["val_auc"])
              + f"; decision_function {final:.4f}; fit {fit_s:.0f} s", flush=True)
    return out


def parse_args() -> argparse.Namespace:
    """The command line, checked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the trend (10)")
    parser.add_argument("--check-epochs", type=int, default=1,
                        help="epochs of each variant's AUROC check (1)")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (3)")
    parser.add_argument("--variant", choices=list(VARIANTS), default=None,
                        help="variant of the trend (default: the rule of the docstring)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="the first class only, one timing round on 188 images, checks of "
                             "--check-epochs and a trend of 2 epochs, all on a tenth of the "
                             "data (60 labelled anomalies)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    check_classes(parser, classes=args.classes)
    check_positive(parser, epochs=args.epochs, check_epochs=args.check_epochs,
                   width=args.width, rounds=args.rounds, threads=args.threads)
    return args


def main() -> None:
    """Time the variants, check their AUROC, run the trend, write the results."""
    args = parse_args()
    torch.set_num_threads(args.threads)
    n_each = 512
    if args.quick:
        args.classes, args.epochs, args.rounds, n_each = args.classes[:1], 2, 1, 128
    t_start = time.perf_counter()
    load_start = loadavg()
    info = bf16_info()
    print(f"CPU capability {info['cpu_capability']}, avx512_bf16 {info['avx512_bf16']}, "
          f"amx_bf16 {info['amx_bf16']}, oneDNN bf16 {info['mkldnn_bf16_supported']}; "
          f"{args.threads} thread(s); load {load_start}", flush=True)
    data = load_dataset("fashion_mnist")
    labelled = 600
    if args.quick:  # a tenth of each class of both parts, 60 labelled anomalies
        data, labelled = _subsample(data, np.random.default_rng(0)), 60
    first = one_vs_all(data, args.classes[0], labelled=labelled, seed=0)

    t0 = time.perf_counter()
    speeds = speed(first, args.width, args.rounds, n_each)
    speed_s = time.perf_counter() - t0
    speed_table = markdown_table(
        ["variant", "batch", "lr", "s / step", "ms / sample", "step time ratio (var / ref)",
         "speed-up per sample (ref / var)"],
        [[s["variant"], s["batch_size"], f"{s['lr']:g}", s["s_per_step"], s["ms_per_sample"],
          f"{s['step_time_ratio']:.2f}", f"{s['speedup_per_sample']:.2f}"] for s in speeds])
    print(speed_table, flush=True)

    t0 = time.perf_counter()
    checks = check(first, args.width, args.check_epochs)
    check_s = time.perf_counter() - t0
    chosen, keeps = choose(speeds, checks)
    if args.variant is not None:
        chosen = args.variant
    check_table = markdown_table(
        ["variant", "seed", "steps", "samples seen", "AUROC", "keeps AUROC", "fit s"],
        [[c["variant"], c["seed"], c["steps"], c["samples_seen"], c["roc_auc"],
          ("yes" if keeps[c["variant"]] else "no") if c["seed"] == 0 else "(spread)",
          c["fit_seconds"]] for c in checks])
    print(check_table, flush=True)
    print(f"trend variant: {chosen}", flush=True)

    t0 = time.perf_counter()
    trend_runs = trend(data, args.classes, args.width, args.epochs, VARIANTS[chosen],
                       labelled)
    trend_s = time.perf_counter() - t0
    shown = [e for e in (1, 2, 3, 5, 7, 10, 15, 20, 30) if e <= args.epochs]
    if args.epochs not in shown:
        shown.append(args.epochs)
    rows = [[f"class {r['class']}", *[r["roc_auc_by_epoch"][e - 1] for e in shown],
             r["fit_seconds"]] for r in trend_runs]
    means = [float(np.mean([r["roc_auc_by_epoch"][e - 1] for r in trend_runs]))
             for e in shown]
    rows.append(["mean", *means, float(sum(r["fit_seconds"] for r in trend_runs))])
    trend_table = markdown_table(["", *[f"epoch {e}" for e in shown], "fit s"], rows)
    print(trend_table, flush=True)
    total = time.perf_counter() - t_start
    seconds = {"speed": speed_s, "check": check_s, "trend": trend_s, "total": total}
    report(args, info, load_start, speeds, checks, keeps, chosen, trend_runs, seconds,
           (speed_table, check_table, trend_table))
    print(f"seconds: {seconds}")


def report(args: argparse.Namespace, info: dict, load_start: list[float], speeds: list,
           checks: list, keeps: dict, chosen: str, trend_runs: list, seconds: dict,
           tables: tuple[str, str, str]) -> None:
    """Write ``gan_epochs{,_quick}.{json,md}``."""
    speed_table, check_table, trend_table = tables
    speed_s, check_s, trend_s, total = (seconds[k] for k in ("speed", "check", "trend",
                                                             "total"))
    command = "python " + " ".join([f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    md = (f"# Dual-discriminator GAN on the CPU: speed-ups and AUROC vs epochs\n\n"
          f"{__doc__}\n\nCommand: `{command}`\n\n"
          f"Machine: {machine_info()['cpu_model']}, torch CPU capability "
          f"{info['cpu_capability']} (avx512_bf16: {info['avx512_bf16']}, amx_bf16: "
          f"{info['amx_bf16']}), {args.threads} torch thread(s); load average "
          f"{load_start} at the start, {loadavg()} at the end (the machine is shared).\n\n"
          f"## 1. Speed ratios (width {args.width}, {speeds[0]['samples']} images, median of "
          f"{args.rounds} interleaved rounds; {speed_s:.0f} s)\n\n{speed_table}\n\n"
          f"## 2. Does AUROC hold (class {args.classes[0]}, {args.check_epochs} epoch(s); "
          f"{check_s:.0f} s)\n\n{check_table}\n\nChosen for the trend: **{chosen}**"
          f"{' (set by --variant)' if args.variant else ''}.\n\n"
          f"## 3. Test AUROC vs epochs ({chosen}; one run per class; {trend_s:.0f} s)\n\n"
          f"{trend_table}\n\nSeconds: speed {speed_s:.0f}, check {check_s:.0f}, trend "
          f"{trend_s:.0f}, total {total:.0f} (CPU budget of this run: {total / 60:.0f} "
          f"minutes on {args.threads} thread(s)).\n")
    stem = "gan_epochs_quick" if args.quick else "gan_epochs"
    write_results(stem, {"command": command, "machine": machine_info(
        ("torch", "torchvision", "numpy")), "bf16": info, "loadavg_start": load_start,
        "loadavg_end": loadavg(), "settings": {k: str(v) if isinstance(v, Path) else v
                                               for k, v in vars(args).items()},
        "rules": {"auroc_slack": AUROC_SLACK, "min_speedup": MIN_SPEEDUP,
                  "lr_scaling": "sqrt", "big_lr": BIG_LR},
        "speed": speeds, "check": checks, "keeps_auroc": keeps, "chosen": chosen,
        "trend": trend_runs, "seconds": seconds}, md, out=args.out)


def _subsample(data: tuple, rng: np.random.Generator) -> tuple:
    """A tenth of every class of the training and test parts (``--quick`` only)."""
    out = []
    for X, y in (data[:2], data[2:]):
        keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:(y == c).sum()
                                                                               // 10]
                                       for c in np.unique(y)]))
        out += [X[keep], y[keep]]
    return tuple(out)


if __name__ == "__main__":
    main()
