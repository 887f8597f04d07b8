"""TOLL's defaults against the plain auto-encoder's, same budget, on MNIST one-vs-all.

"A default is a promise": ``TOLL()`` with no arguments must be a sensible detector, and must
not lose to ``AutoEncoder()`` on the same budget. This script fits both with their defaults
(same ``epochs``, ``batch_size``, ``lr``, ``hidden_dims`` where TOLL does not set its own) on
each digit of ``--classes`` (training normals only, as both are unsupervised), and TOLL at the
other betas of ``--betas`` (everything else at its default), so the choice of the default beta
is shown beside the default itself. Inputs are the package's images in [0, 1]; ``--scaling
standardize`` repeats it on the authors' scale. Seeds vary the initialisation and batches.

    python benchmarks/bench_toll_defaults.py [--classes 0 1 2 3 4 5 6 7 8 9]
        [--betas 0 0.1 1 10] [--seeds 0 1 2] [--scaling unit|standardize]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import check_classes, machine_info, markdown_table, mean_std, write_results
from sklearn.metrics import roc_auc_score

from torch_ae_sad.dataset_loaders import one_vs_all, scale_split
from torch_ae_sad.model import TOLL, AutoEncoder

STEM = "toll_defaults"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--classes", type=int, nargs="+", default=list(range(10)))
    p.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.1, 1.0, 10.0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--scaling", choices=("unit", "standardize"), default="unit")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--stem", default=STEM)
    args = p.parse_args(argv)
    check_classes(p, classes=args.classes)
    return args


def main(argv: list[str] | None = None) -> None:
    """Fit every (class, seed, model), print and write the table."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    default_beta = TOLL().beta
    models = {"AutoEncoder()": lambda s: AutoEncoder(random_state=s, verbose=0),
              f"TOLL() (beta={default_beta:g})": lambda s: TOLL(random_state=s, verbose=0)}
    for b in args.betas:
        if b != default_beta:
            models[f"TOLL(beta={b:g})"] = lambda s, b=b: TOLL(beta=b, random_state=s, verbose=0)
    auc: dict[str, dict[int, list[float]]] = {m: {c: [] for c in args.classes} for m in models}
    secs: dict[str, float] = dict.fromkeys(models, 0.0)
    resolved: dict[str, str] = {}
    t_all = time.perf_counter()
    for c in args.classes:
        for seed in args.seeds:
            split, _ = scale_split(one_vs_all("mnist", c, labelled=0, seed=seed),
                                   args.scaling, "mnist")
            X = split.X_train[split.y_train == 0]
            for name, make in models.items():
                t0 = time.perf_counter()
                model = make(seed).fit(X)
                secs[name] += time.perf_counter() - t0
                auc[name][c].append(roc_auc_score(split.y_test, model.decision_function(
                    split.X_test)))
                resolved[name] = str(getattr(model, "out_activation_", model.out_activation))
        print(f"digit {c}: " + ", ".join(f"{m} {np.mean(auc[m][c]):.4f}" for m in models),
              flush=True)
    rows, payload = [], {}
    ref = [np.mean(auc["AutoEncoder()"][c]) for c in args.classes]
    for name in models:
        per = [float(np.mean(auc[name][c])) for c in args.classes]
        seed_means = [np.mean([auc[name][c][i] for c in args.classes])
                      for i in range(len(args.seeds))]
        mean, std = mean_std(seed_means)
        wins = int(sum(p >= r for p, r in zip(per, ref, strict=True)))
        payload[name] = {"auroc": dict(zip(args.classes, per, strict=True)), "mean": mean,
                         "std_over_seeds": std, "vs_ae": mean - float(np.mean(ref)),
                         "digits_at_least_ae": wins, "train_seconds": secs[name],
                         "out_activation": resolved[name]}
        rows.append([name, *per, mean, std, f"{mean - float(np.mean(ref)):+.4f}", wins,
                     secs[name] / (len(args.classes) * len(args.seeds))])
    wall = time.perf_counter() - t_all
    d = TOLL()
    md = "\n\n".join([
        "# TOLL's defaults vs the plain auto-encoder's, MNIST one-vs-all",
        f"Both with their defaults (epochs {d.epochs}, batch {d.batch_size}, lr {d.lr:g}, "
        f"TOLL hidden_dims {tuple(d.hidden_dims)}, AutoEncoder hidden_dims "
        f"{tuple(AutoEncoder().hidden_dims)}; out_activation 'auto' resolved to "
        f"{sorted(set(resolved.values()))}), trained on each digit's training normals, "
        f"scaling `{args.scaling}`, seeds {args.seeds}, CPU ({args.threads} thread). AUROC per "
        "digit is the mean over seeds; `std` is over seeds of the mean over digits; `vs AE` "
        "is the mean minus the AutoEncoder's; `digits >= AE` counts digits where the model "
        f"is at least as good. Wall {wall:.0f} s.",
        "Command: `python benchmarks/bench_toll_defaults.py " + " ".join(argv or []) + "`",
        markdown_table(["model", *[f"digit {c}" for c in args.classes], "mean", "std",
                        "vs AE", "digits >= AE", "train s / run"], rows), ""])
    print(md)
    write_results(args.stem, {"settings": vars(args), "machine": machine_info(),
                              "results": payload, "wall_seconds": wall}, md)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
