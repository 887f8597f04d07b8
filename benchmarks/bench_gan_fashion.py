"""Dual-discriminator GAN on the CPU: seconds per epoch, and a short Fashion-MNIST run.

1. Speed: one training epoch of the GAN at batch 64 on one CPU thread, measured on 1,280
   random 28x28 images (640 normal + 640 anomalous, augmentation on) and given per 1,000
   samples and per Fashion-MNIST class epoch (5,400 normals + 5,400 balanced anomalies), for
   ``width`` 64 (pix2pix) and 32.
2. Quality on a CPU budget: the Fashion-MNIST classes of --classes (default 0, 1, 2; the
   recorded run: all ten) each normal in turn (one-vs-all,
   600 labelled anomalies from the nine others, k-means balanced to the normals, augmented),
   the GAN at ``width=32`` for ONE epoch (~170 batches of 64) against ``ConvAutoEncoder``
   (5 epochs on the normals) and ``RandomGuess``; test AUROC on the full test set. The paper
   trains far longer (AUROC 98.6 averaged over ten classes); this run only checks that the
   method learns, not the paper's number.

    python benchmarks/bench_gan_fashion.py [--classes 0 1 2] [--epochs 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import machine_info, markdown_table, write_results
from sklearn.metrics import roc_auc_score

from torch_ae_sad.dataset_loaders import load_dataset, one_vs_all
from torch_ae_sad.model import ConvAutoEncoder, RandomGuess
from torch_ae_sad.model.detectors.gan import DualDiscriminatorGAN

CLASS_EPOCH = 10_800  # samples of one Fashion-MNIST class epoch after balancing


def speed(width: int) -> dict:
    rng = np.random.default_rng(0)
    X = rng.random((1280, 28, 28), dtype=np.float32)
    y = np.r_[np.zeros(640, int), np.ones(640, int)]
    det = DualDiscriminatorGAN(width=width, epochs=1, batch_size=64, verbose=0, device="cpu",
                               balance_anomalies=False)
    det.fit(X, y)
    sec = det.history_["seconds"][-1]
    return {"width": width, "samples": len(X), "epoch_s": sec,
            "s_per_1000": sec / len(X) * 1000, "class_epoch_s": sec / len(X) * CLASS_EPOCH}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=1, help="GAN epochs (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    speeds = [speed(w) for w in (64, 32)]
    for s in speeds:
        print(f"width {s['width']}: {s['epoch_s']:.1f} s / epoch of {s['samples']} "
              f"({s['s_per_1000']:.2f} s per 1000 samples, ~{s['class_epoch_s']:.0f} s per "
              "class epoch)")
    data = load_dataset("fashion_mnist")
    models = {
        "DualDiscriminatorGAN": lambda: DualDiscriminatorGAN(
            width=32, epochs=args.epochs, batch_size=64, verbose=0, device="cpu"),
        "ConvAutoEncoder": lambda: ConvAutoEncoder(epochs=5, batch_size=64, verbose=0,
                                                   device="cpu"),
        "RandomGuess": lambda: RandomGuess(),
    }
    runs = []
    for c in args.classes:
        split = one_vs_all(data, c, labelled=600, seed=0)
        for name, make in models.items():
            t0 = time.perf_counter()
            det = make().fit(split.X_train, split.y_train)
            fit_s = time.perf_counter() - t0
            auc = float(roc_auc_score(split.y_test, det.decision_function(split.X_test)))
            runs.append({"class": c, "method": name, "roc_auc": auc, "fit_s": fit_s,
                         "seconds_total": time.perf_counter() - t0})
            print(f"class {c} {name:22s} AUROC {auc:.4f}  fit {fit_s:.1f} s")
    rows = []
    for name in models:
        mine = [r for r in runs if r["method"] == name]
        rows.append([name, *[r["roc_auc"] for r in mine],
                     float(np.mean([r["roc_auc"] for r in mine])),
                     float(np.sum([r["fit_s"] for r in mine]))])
    header = ["method", *[f"class {c}" for c in args.classes], "mean AUROC", "fit s (sum)"]
    table = markdown_table(header, rows)
    speed_table = markdown_table(
        ["width", "epoch s (1280 samples)", "s / 1000 samples", "s / class epoch (10,800)"],
        [[s["width"], s["epoch_s"], s["s_per_1000"], s["class_epoch_s"]] for s in speeds])
    print(speed_table)
    print(table)
    md = (f"# Dual-discriminator GAN, CPU (1 thread, batch 64)\n\n{__doc__}\n\n## Speed\n\n"
          f"{speed_table}\n\n## Fashion-MNIST, {len(args.classes)} classes, GAN "
          f"{args.epochs} epoch(s) at width 32\n\n{table}\n")
    write_results("gan_fashion", {"machine": machine_info(("torch", "torchvision", "numpy")),
                                  "speed": speeds, "runs": runs,
                                  "settings": {"classes": args.classes,
                                               "gan_epochs": args.epochs, "labelled": 600}}, md)


if __name__ == "__main__":
    main()
