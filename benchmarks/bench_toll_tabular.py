"""TOLL against IsolationForest and the plain auto-encoder on the shared tabular sets (AUROC).

Unsupervised (no labelled anomalies): every method trains on the same training normals.
Split (:func:`~torch_ae_sad.dataset_loaders.tabular_split`, TOLL's tabular protocol): training
= 60 % of the normals, validation and test = 20 % of the normals and 20 % of the anomalies each,
every feature min-max scaled with the training part's range; split seed = model seed. The
validation part is not used: every network keeps its **last** weights (the package default,
``select="last"``), so no method sees a labelled anomaly before the test, and nothing is chosen
on the test set. AUROC on the test part; mean over seeds per set, then the mean over sets, and
the mean over the sets with at least 10 test anomalies (glass, lympho, vertebral and wbc have
1-6: one anomaly moves their AUROC by up to 0.5).

Models, fixed before running (every network at the package's default budget: ``epochs=10``,
``batch_size=32``, Adam lr 1e-3, so all TOLL settings and the AE get the same number of steps):

- ``IForest()``: :class:`sklearn.ensemble.IsolationForest` defaults (100 trees, 256 samples).
- ``AutoEncoder()``: defaults (dense d-128-32-128-d, ReLU, MSE, output ``"auto"``: sigmoid
  for training data in [0, 1], as here).
- ``TOLL()`` at its current defaults (read at run time: beta, hidden_dims, output, batch norm),
  and alternatives that change one thing each: beta in {0, 1, 10}; batch norm (*: trained
  with ``n_steps = epochs * ceil(n / batch_size)`` random batches of 32 distinct samples, the
  same number of steps, because an epoch's last batch of one sample, e.g. on cardio, makes
  batch norm raise in training mode; ``TOLL() random batches *`` is the default trained the
  same way, the control); linear output;
  hidden_dims (128, 32) (the AE's network) or (256, 128) (TOLL's earlier default), whichever
  the default is not.

Sets (fixed list, ``--sets``): ODDS arrhythmia, cardio, glass, ionosphere, letter, lympho,
musk, optdigits, pendigits, pima, satimage-2, vertebral, vowels, wbc and ADBench 38_thyroid.
Left out for time on a shared 2-core CPU: shuttle (49,097 rows), mnist, satellite,
annthyroid, mammography, Wilt (``--all-sets`` adds them; run separately into
``toll_tabular_all``); ADBench copies of ODDS sets.

    python benchmarks/bench_toll_tabular.py [--seeds 0 1 2] [--sets odds/cardio.mat ...]
    python benchmarks/bench_toll_tabular.py --all-sets --stem toll_tabular_all
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import SHARED_DATA, loadavg, machine_info, markdown_table, write_results
from sklearn.metrics import roc_auc_score

from torch_ae_sad.dataset_loaders import load_tabular, tabular_split
from torch_ae_sad.model import TOLL, AutoEncoder, IForest

STEM = "toll_tabular"
#: Sets with fewer test anomalies are too noisy alone (glass 2, lympho 1, vertebral 6, wbc 4):
#: the table also gives the mean over the others (rule fixed before running).
MIN_TEST_ANOMALIES = 10
#: Every other tabular set in the shared folder (ADBench copies of ODDS sets left out).
MORE_SETS = ["odds/mnist.mat", "odds/satellite.mat", "odds/shuttle.mat", "adbench/2_annthyroid.npz",
             "adbench/23_mammography.npz", "adbench/44_Wilt.npz"]
SETS = ["odds/arrhythmia.mat", "odds/cardio.mat", "odds/glass.mat", "odds/ionosphere.mat",
        "odds/letter.mat", "odds/lympho.mat", "odds/musk.mat", "odds/optdigits.mat",
        "odds/pendigits.mat", "odds/pima.mat", "odds/satimage-2.mat", "odds/vertebral.mat",
        "odds/vowels.mat", "odds/wbc.mat", "adbench/38_thyroid.npz"]


def toll_default_label() -> str:
    """``TOLL()`` with its current defaults spelled out."""
    t = TOLL()
    return (f"TOLL() [beta={t.beta:g}, {tuple(t.hidden_dims)}, {t.out_activation}, "
            f"bn={t.batch_norm}]")


def make_models() -> dict[str, Any]:
    """Label -> ``factory(seed)`` of every model in the study (see the module docstring)."""
    default = TOLL()
    models: dict[str, Any] = {
        "IForest()": lambda s, n: IForest(random_state=s),
        "AutoEncoder()": lambda s, n: AutoEncoder(random_state=s, verbose=0),
        toll_default_label(): lambda s, n: TOLL(random_state=s, verbose=0),
    }
    for beta in (0.0, 1.0, 10.0):
        if beta != default.beta:
            models[f"TOLL(beta={beta:g})"] = \
                lambda s, n, b=beta: TOLL(beta=b, random_state=s, verbose=0)
    if not default.batch_norm:
        # the last batch of an epoch can hold one sample (cardio: 993 = 31 * 32 + 1),
        # which batch norm rejects in training mode: the same number of steps as random
        # batches of 32 distinct samples instead of epochs
        models["TOLL(batch_norm=True) *"] = lambda s, n: TOLL(
            batch_norm=True, n_steps=default.epochs * math.ceil(n / default.batch_size),
            random_state=s, verbose=0)
        # control: the default with the same random batches, to separate batch norm from the
        # change of batching
        models["TOLL() random batches *"] = lambda s, n: TOLL(
            n_steps=default.epochs * math.ceil(n / default.batch_size), random_state=s,
            verbose=0)
    if default.out_activation != "linear":
        models['TOLL(out_activation="linear")'] = \
            lambda s, n: TOLL(out_activation="linear", random_state=s, verbose=0)
    for dims in ((128, 32), (256, 128)):  # the AE's network and TOLL's earlier default
        if tuple(default.hidden_dims) != dims:
            models[f"TOLL(hidden_dims={dims})"] = \
                lambda s, n, h=dims: TOLL(hidden_dims=h, random_state=s, verbose=0)
    return models


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets", nargs="+", default=SETS,
                   help="files under the shared datasets folder (odds/*.mat, adbench/*.npz)")
    p.add_argument("--all-sets", action="store_true",
                   help="the default sets and MORE_SETS (mnist, satellite, shuttle, annthyroid, "
                        "mammography, Wilt)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--data", type=Path, default=SHARED_DATA, help="the shared datasets folder")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--stem", default=STEM)
    args = p.parse_args(argv)
    if args.all_sets:
        args.sets = SETS + MORE_SETS
    return args


def write(args: argparse.Namespace, models: list[str], sets: list[str],
          auc: dict[str, dict[str, list[float]]], secs: dict[str, dict[str, float]],
          info: dict[str, dict[str, Any]], wall: float, done: bool) -> None:
    """Write (or overwrite with the sets finished so far) the JSON and Markdown results."""
    per_set = {m: {d: float(np.mean(auc[m][d])) for d in sets} for m in models}
    mean = {m: float(np.mean(list(per_set[m].values()))) for m in models}
    seed_means = {m: [float(np.mean([auc[m][d][i] for d in sets]))
                      for i in range(len(args.seeds))] for m in models}
    iforest, ae = per_set["IForest()"], per_set["AutoEncoder()"]
    ranks = {m: 0.0 for m in models}
    for d in sets:  # average rank per set (1 = best), ties share the mean rank
        vals = np.array([per_set[m][d] for m in models])
        order = (-vals).argsort().argsort() + 1.0
        for i, m in enumerate(models):
            ranks[m] += float(np.mean(order[vals == vals[i]])) / len(sets)
    summary = [[m, mean[m], f"{np.std(seed_means[m], ddof=1) if len(args.seeds) > 1 else 0:.4f}",
                f"{ranks[m]:.2f}",
                f"{sum(per_set[m][d] >= iforest[d] for d in sets)}/{len(sets)}",
                f"{sum(per_set[m][d] >= ae[d] for d in sets)}/{len(sets)}",
                f"{sum(secs[m].values()):.0f}"] for m in models]
    big = [d for d in sets if info[d]["n_test_anomalies"] >= MIN_TEST_ANOMALIES]
    for row, m in zip(summary, models, strict=True):
        row.insert(2, float(np.mean([per_set[m][d] for d in big])) if big else float("nan"))
    names = [Path(d).stem for d in sets]
    per_set_rows = [[Path(d).stem, info[d]["shape"], info[d]["n_test_anomalies"]]
                    + [per_set[m][d] for m in models] for d in sets]
    md = "\n\n".join([
        "# TOLL against IsolationForest and the auto-encoder on tabular sets (test AUROC)",
        ("" if done else "**Partial: the sets finished so far.**\n\n")
        + f"Unsupervised; `tabular_split`: train 60 % of the normals, validation / test 20 % "
          f"of the normals and of the anomalies each, min-max scaled on the training part; "
          f"seeds {args.seeds} (split and model). Networks: package default budget (10 epochs, "
          f"batch 32, Adam 1e-3), the last weights (no selection; the validation part is not "
          f"used). {len(sets)} sets: {', '.join(names)}.",
        "## Mean over the sets",
        markdown_table(["model", "mean AUROC", f"mean, {len(big)} sets with >= "
                        f"{MIN_TEST_ANOMALIES} test anomalies", "std over seeds", "mean rank",
                        ">= IForest (sets)", ">= AE (sets)", "fit seconds (all)"], summary),
        "## Per set (mean over seeds)",
        markdown_table(["set", "n x d", "test anomalies"] + models, per_set_rows),
        f"Seconds: fitting only, summed over sets and seeds, {args.threads} torch thread(s) on "
        f"a 2-core CPU shared with other jobs (load average at the end {loadavg()}); wall "
        f"time of the run {wall:.0f} s.",
        f"Command: `{shlex.join(['python', 'benchmarks/bench_toll_tabular.py', *sys.argv[1:]])}`",
        ""])
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_results(args.stem, {"settings": settings, "machine": machine_info(),
                              "complete": done, "sets": info, "models": models,
                              "auc": auc, "auc_per_set": per_set, "auc_mean": mean,
                              "auc_mean_per_seed": seed_means, "mean_rank": ranks,
                              "fit_seconds": secs, "wall_seconds": wall,
                              "loadavg_end": loadavg()}, md)
    if done:
        print(md)


def main(argv: list[str] | None = None) -> None:
    """Fit every (set, seed, model), print and write the tables."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    factories = make_models()
    models = list(factories)
    auc = {m: {} for m in models}
    secs = {m: {} for m in models}
    info: dict[str, dict[str, Any]] = {}
    t_all, done_sets = time.perf_counter(), []
    for d in args.sets:
        X, y = load_tabular(args.data / d)
        info[d] = {"shape": f"{X.shape[0]} x {X.shape[1]}", "anomalies": int(y.sum())}
        for m in models:
            auc[m][d], secs[m][d] = [], 0.0
        for seed in args.seeds:
            split = tabular_split(X, y, labelled=0, seed=seed, name=Path(d).stem)
            info[d]["n_train"] = split.meta["n_train"]
            info[d]["n_test_anomalies"] = split.meta["n_test_anomalies"]
            for m in models:
                t0 = time.perf_counter()
                model = factories[m](seed, len(split.X_train)).fit(split.X_train,
                                                                    split.y_train)
                secs[m][d] += time.perf_counter() - t0
                auc[m][d].append(float(roc_auc_score(split.y_test,
                                                     model.decision_function(split.X_test))))
        done_sets.append(d)
        print(f"{Path(d).stem}: " + ", ".join(f"{m} {np.mean(auc[m][d]):.3f}" for m in models)
              + f"  [{time.perf_counter() - t_all:.0f} s]", flush=True)
        write(args, models, done_sets, auc, secs, info, time.perf_counter() - t_all,
              done=len(done_sets) == len(args.sets))


if __name__ == "__main__":
    main()
