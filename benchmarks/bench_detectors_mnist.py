"""Every detector on MNIST one-vs-all (each digit normal in turn), on a CPU budget.

Each (variant, normal digit, seed) is one run of the experiment runner, so an interrupted
benchmark resumes where it stopped (records in ``benchmarks/records/detectors_mnist``). The
summary (AUROC per digit, mean, seconds) goes to ``benchmarks/results/detectors_mnist.{json,md}``.

    python benchmarks/bench_detectors_mnist.py [--variants AESAD TOLL ...] [--classes 0 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _common import markdown_table, write_results

from torch_ae_sad.model.experiment import make_spec, run_grid

#: label -> (method, parameters). The budgets are stated in the results table.
VARIANTS: dict[str, tuple[str, dict]] = {
    "AESAD": ("AESAD", {"hidden_dims": [128, 32], "epochs": 10, "batch_size": 32}),
    "AutoEncoder": ("AutoEncoder", {"hidden_dims": [128, 32], "epochs": 10, "batch_size": 32}),
    "ConvAutoEncoder": ("ConvAutoEncoder", {"hidden_dims": [32], "channels": [16, 32],
                                            "epochs": 3, "batch_size": 64}),
    "TOLL beta=1": ("TOLL", {"beta": 1.0, "hidden_dims": [256, 128], "batch_norm": True,
                             "out_activation": "linear", "epochs": 10, "batch_size": 64}),
    "TOLL beta=0": ("TOLL", {"beta": 0.0, "hidden_dims": [256, 128], "batch_norm": True,
                             "out_activation": "linear", "epochs": 10, "batch_size": 64}),
    "VAE": ("VAE", {"hidden_dims": [128, 32], "epochs": 10, "batch_size": 64}),
    "DeepSAD": ("DeepSAD", {"pretrain_epochs": 3, "epochs": 5, "batch_size": 128}),
    "IForest": ("IForest", {}),
    "OCSVM": ("OCSVM", {"pca_components": 50}),
    "KNN": ("KNN", {"pca_components": 50}),
    "LOF": ("LOF", {"pca_components": 50}),
    "DBSCANDetector": ("DBSCANDetector", {"pca_components": 50, "eps": 3.0}),
    "RandomGuess": ("RandomGuess", {}),
}
RECORDS = Path(__file__).resolve().parent / "records" / "detectors_mnist"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--classes", nargs="+", type=int, default=list(range(10)))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--labelled", type=int, default=60)
    parser.add_argument("--records", type=Path, default=RECORDS)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (1: steady timings on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    specs = {label: [make_spec(dataset="mnist", scenario="one_vs_all", normal_classes=[c],
                               labelled=args.labelled, val_fraction=0.0, method=method,
                               method_params=params, seed=seed)
                     for c in args.classes for seed in args.seeds]
             for label, (method, params) in VARIANTS.items() if label in args.variants}
    rows, payload = [], {}
    t_all = time.perf_counter()
    for label, grid in specs.items():
        t0 = time.perf_counter()
        records = run_grid(grid, args.records, verbose=1)
        wall = time.perf_counter() - t0
        ok = [r for r in records if r["status"] == "ok"]
        auc = {c: np.mean([r["metrics"]["roc_auc"] for r in ok
                           if r["spec"]["normal_classes"] == [c]]) for c in args.classes}
        train_s = sum(r["train_seconds"] for r in ok)
        failed = [r["error"] for r in records if r["status"] != "ok"]
        mean = float(np.mean(list(auc.values())))
        print(f"{label:18s} mean AUROC {mean:.4f}  train {train_s:.0f} s  "
              f"({len(failed)} failed)", flush=True)
        rows.append([label, *[auc[c] for c in args.classes], mean, train_s, len(failed)])
        payload[label] = {"method": VARIANTS[label][0], "params": VARIANTS[label][1],
                          "auroc": auc, "mean_auroc": mean, "train_seconds": train_s,
                          "wall_seconds_this_call": wall, "failed": failed}
    header = ["detector", *[str(c) for c in args.classes], "mean", "train s (sum)", "failed"]
    md = "\n\n".join([
        "# Every detector, MNIST one-vs-all",
        f"Each digit normal in turn, all others anomalous; {args.labelled} labelled anomalies "
        f"(used by AESAD and DeepSAD only), no validation part, seeds {args.seeds}, CPU "
        f"(2 cores, {args.threads} torch thread(s), machine shared with other jobs), official "
        "test split. Budgets: "
        + "; ".join(f"{k}: {v[1] or 'defaults'}" for k, v in VARIANTS.items()
                    if k in args.variants) + ".",
        markdown_table(header, rows),
        f"Total wall time of this call: {time.perf_counter() - t_all:.0f} s (records reused "
        "from earlier calls are not re-run).", ""])
    print(md)
    write_results("detectors_mnist", {"settings": {k: str(v) for k, v in vars(args).items()},
                                      "results": payload}, md)


if __name__ == "__main__":
    main()
