"""Deep SAD's protocol (Ruff et al. 2020) on MNIST and Fashion-MNIST, on a CPU budget.

One class normal, labelled anomalies from ONE known anomaly class at ``gamma_l`` = 0.01 and
0.05 of the training set, the official test set with every class (the nine others anomalous).
Methods side by side: AE-SAD (authors' defaults), Deep SAD (short budget), TOLL (dense, the
paper's beta per dataset, limited steps) and a plain auto-encoder. TOLL and the auto-encoder
train on the normals only (they drop the labelled anomalies), so ``gamma_l`` does not change
them: they run once per pair. On request (``--methods``) also the weakly-supervised
baselines DevNet, PReNet (LeNet feature learner) and FEAWAD (dense) with the authors' batches
of 512 and 20 batches per epoch, on fewer epochs (``--weak-epochs``, ``--feawad-epochs``).
Published: Deep SAD mean AUROC 96.4 (MNIST) and 90.0 (Fashion-MNIST) at ``gamma_l = 0.01``,
ESAD (Huang et al. 2020) 99.2 and 95.3, each averaged over all 90 (normal, known) pairs and
10 seeds; here a documented subset of pairs, ``(c, (c + 1) % 10)`` for each class ``c``, and
the seeds given (default 1).

Each run is one record of the experiment runner in ``benchmarks/records/deep_sad_protocol``
(a re-run skips finished runs); the summary goes to
``benchmarks/results/deep_sad_protocol.{json,md}`` (``deep_sad_protocol_<tag>`` with
``--tag``, so a subset never overwrites the full file; the records are shared).

    python benchmarks/bench_deep_sad_protocol.py [--quick] [--datasets mnist]
    python benchmarks/bench_deep_sad_protocol.py --gammas 0.01 --seeds 0 1 2 --tag esad \
        --methods AESAD DeepSAD TOLL AutoEncoder DevNet PReNet FEAWAD

The authors' full budgets (on a GPU; several copies of the command may share one records
folder, each run claimed by the copy that starts it)::

    python benchmarks/bench_deep_sad_protocol.py --datasets mnist --gammas 0.01 \
        --methods DeepSAD DevNet PReNet FEAWAD --deepsad-epochs 150 150 --weak-epochs 50 \
        --feawad-epochs 100 30 --tag esad_full --records benchmarks/records/deep_sad_protocol_full
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
from _common import (
    add_grid_arguments,
    check_classes,
    check_positive,
    finish_grid_arguments,
    markdown_table,
    mean_std,
    run_labelled_grids,
    signed,
    write_grid_results,
)

from torch_ae_sad.model.deep_sad_trainer import MODEL_CONFIG as DEEP_SAD_TRAINER_MODELS
from torch_ae_sad.model.experiment import make_spec

STEM = "deep_sad_protocol"
#: Published Deep SAD mean AUROC at gamma_l = 0.01 (Ruff et al. 2020, 90 pairs, 10 seeds).
PUBLISHED = {"mnist": 0.964, "fashion_mnist": 0.900}
#: Published ESAD mean AUROC at gamma_l = 0.01 (Huang et al. 2020, "ESAD: End-to-end deep
#: semi-supervised anomaly detection", arXiv 2012.04905; the figures quoted in issue 14).
PUBLISHED_ESAD = {"mnist": 0.992, "fashion_mnist": 0.953}
#: TOLL per dataset (paper): beta, batch size, dense widths (the last is the latent size).
TOLL_DATA = {"mnist": {"beta": 1000.0, "batch_size": 1000, "hidden_dims": [256, 128]},
             "fashion_mnist": {"beta": 100.0, "batch_size": 500, "hidden_dims": [512, 256]}}
GAMMAS = (0.01, 0.05)
METHODS = ("AESAD", "DeepSAD", "TOLL", "AutoEncoder", "DevNet", "PReNet", "FEAWAD")
#: The methods run when ``--methods`` is not given (the weakly-supervised baselines are opt-in).
DEFAULT_METHODS = ("AESAD", "DeepSAD", "TOLL", "AutoEncoder")
#: The methods that use the labelled anomalies (the others run once per pair).
USES_LABELS = ("AESAD", "DeepSAD", "DevNet", "PReNet", "FEAWAD")
#: The weakly-supervised baselines (authors' batches of 512, 20 batches per "epoch").
WEAK = ("DevNet", "PReNet", "FEAWAD")
#: Their authors' epochs: DevNet / PReNet 50; FEAWAD 100 pre-training + 30 joint.
WEAK_AUTHORS = {"DevNet": "50", "PReNet": "50", "FEAWAD": "100+30"}


def _trainer_entry(method: str, **changes: Any) -> dict[str, Any]:
    """The deep_sad_trainer MODEL_CONFIG entry of ``method`` (eta > 0), without ``method``."""
    entry = next(m for m in DEEP_SAD_TRAINER_MODELS
                 if m["method"] == method and m.get("eta", 1.0) > 0)
    return {k: v for k, v in {**entry, **changes}.items() if k != "method"}


def method_params(method: str, dataset: str, args: argparse.Namespace) -> dict[str, Any]:
    """Parameters of ``method`` on ``dataset`` under this call's budget."""
    if method == "AESAD":  # the authors' defaults: dense 128-32, 10 epochs, batch 32
        return _trainer_entry("AESAD", epochs=args.aesad_epochs)
    if method == "DeepSAD":  # authors' LeNet, short budget; pre-training lr 1e-3 (--ae_lr)
        return _trainer_entry("DeepSAD", pretrain_epochs=args.deepsad_epochs[0],
                              epochs=args.deepsad_epochs[1], pretrain_lr=1e-3)
    if method == "TOLL":
        return {"network": "dense", "activation": "relu", "out_activation": "sigmoid",
                "lr": 1e-4, "n_steps": args.toll_steps, **TOLL_DATA[dataset]}
    if method == "AutoEncoder":
        return {"hidden_dims": [128, 32], "epochs": args.aesad_epochs, "batch_size": 32}
    if method in ("DevNet", "PReNet"):  # LeNet feature learner (as deep_sad_trainer), short
        return {"network": "lenet", "rep_dim": 32, "epochs": args.weak_epochs,
                "steps_per_epoch": 20, "batch_size": 512}
    if method == "FEAWAD":  # dense (images flattened), short pre-training and joint stages
        return {"pretrain_epochs": args.feawad_epochs[0], "epochs": args.feawad_epochs[1],
                "steps_per_epoch": 20, "batch_size": 512}
    raise ValueError(f"method: expected one of {METHODS}, found {method!r}")


def budget(method: str, params: dict[str, Any]) -> str:
    """The training budget of a run in words (printed beside every figure)."""
    if method == "TOLL":
        return (f"{params['n_steps']} steps x batch {params['batch_size']}, beta "
                f"{params['beta']:g}, dense {params['hidden_dims']}")
    if method == "DeepSAD":
        return (f"{params['pretrain_epochs']}+{params['epochs']} epochs (pretrain+train), "
                f"batch {params['batch_size']}, {params['network']}")
    if method in ("DevNet", "PReNet"):
        return (f"{params['epochs']} epochs x {params['steps_per_epoch']} batches of "
                f"{params['batch_size']}, {params['network']} (authors: "
                f"{WEAK_AUTHORS[method]} epochs)")
    if method == "FEAWAD":
        return (f"{params['pretrain_epochs']}+{params['epochs']} epochs (pretrain+joint) x "
                f"{params['steps_per_epoch']} batches of {params['batch_size']}, dense "
                f"(authors: {WEAK_AUTHORS[method]})")
    return (f"{params['epochs']} epoch(s), batch {params['batch_size']}, dense "
            f"{params['hidden_dims']}")


def row_label(method: str, gamma: float | None) -> str:
    """Table label of a method (with its gamma_l when it uses the labels)."""
    return f"{method} gamma_l={gamma:g}" if gamma is not None else f"{method} (normals only)"


def build_grids(args: argparse.Namespace) -> dict[str, tuple[str, str, float | None, dict,
                                                             list[dict]]]:
    """Row key -> (dataset, method, gamma or None, params, specs) for every table row."""
    grids = {}
    for ds in args.datasets:
        for method in args.methods:
            params = method_params(method, ds, args)
            gammas: list[float | None] = list(args.gammas) if method in USES_LABELS else [None]
            for gamma in gammas:
                # Label-free methods use the split of the first gamma: the same normals.
                labelled = gamma if gamma is not None else args.gammas[0]
                specs = [make_spec(dataset=ds, scenario="one_vs_all", normal_classes=[c],
                                   known_classes=[(c + 1) % 10], labelled=float(labelled),
                                   val_fraction=0.0, method=method, method_params=params,
                                   seed=seed)
                         for c in args.normals for seed in args.seeds]
                grids[f"{ds} {row_label(method, gamma)}"] = (ds, method, gamma, params, specs)
    return grids


def _grid_row(ds: str, method: str, gamma: float | None, params: dict[str, Any],
              res: dict[str, Any], pairs: list[tuple[int, int]]
              ) -> tuple[dict[str, Any], list[Any]]:
    """The JSON entry and the table row of one (method, gamma) grid on data set ``ds``."""
    auc, n_seeds = {}, {}
    for n, k in pairs:
        vals = [r["metrics"]["roc_auc"] for r in res["ok"]
                if r["spec"]["normal_classes"] == [n] and r["spec"]["known_classes"] == [k]]
        auc[f"{n},{k}"] = float(np.mean(vals)) if vals else None
        n_seeds[f"{n},{k}"] = len(vals)
    n_pairs = sum(v is not None for v in auc.values())
    seeds_run = sorted(set(n_seeds.values()) - {0})
    cover = (f"{n_pairs} x {seeds_run[0] if len(seeds_run) == 1 else seeds_run}"
             if n_pairs else "0")
    mean, std = mean_std(auc.values())
    train_s = float(sum(r["train_seconds"] for r in res["ok"]))
    pub = PUBLISHED[ds] if gamma in (None, 0.01) else None
    esad = PUBLISHED_ESAD[ds] if gamma in (None, 0.01) else None
    label = row_label(method, gamma)
    entry = {"label": label, "method": method, "gamma_l": gamma, "params": params,
             "budget": budget(method, params), "auroc_per_pair": auc, "mean_auroc": mean,
             "std_auroc": std, "n_pairs": n_pairs, "n_seeds_per_pair": n_seeds,
             "published_deep_sad": pub, "gap": None if pub is None else mean - pub,
             "published_esad": esad, "gap_esad": None if esad is None else mean - esad,
             "train_seconds": train_s,
             "n_labelled": sorted({r["split"]["n_labelled"] for r in res["ok"]}),
             "failed": res["failed"], "wall_seconds": res["wall_seconds"]}
    row = [label, cover, mean, std, "-" if pub is None else pub,
           "-" if pub is None else signed(mean - pub), "-" if esad is None else esad,
           "-" if esad is None else signed(mean - esad), train_s, budget(method, params),
           f"{len(res['failed'])}"]
    return entry, row


def summarise(args: argparse.Namespace, grids: dict, results: dict[str, dict]
              ) -> tuple[dict[str, Any], str]:
    """The payload and the Markdown of the run grids."""
    pairs = [(c, (c + 1) % 10) for c in args.normals]
    devices = ", ".join(sorted({str(r.get("device", "?")) for res in results.values()
                                for r in res["ok"]})) or "none"
    payload: dict[str, Any] = {}
    sections = []
    head = ["method", "classes x seeds", "mean AUROC", "std over pairs",
            "Deep SAD published (gamma_l=0.01)", "gap", "ESAD published (gamma_l=0.01)",
            "gap to ESAD", "train s (sum)", "budget per run", "failed"]
    for ds in args.datasets:
        made = [_grid_row(ds, method, gamma, params, results[key], pairs)
                for key, (d, method, gamma, params, _) in grids.items() if d == ds]
        entries = [e for e, _ in made]
        per_pair = {e["label"]: e["auroc_per_pair"] for e in entries}
        payload[ds] = {"published_deep_sad_gamma_0.01": PUBLISHED[ds],
                       "published_esad_gamma_0.01": PUBLISHED_ESAD[ds], "devices": devices,
                       "rows": entries}
        pair_rows = [[f"{n} vs all, known {k}", *[per_pair[lbl][f"{n},{k}"] for lbl in per_pair]]
                     for n, k in pairs]
        sections += [f"## {ds}", markdown_table(head, [row for _, row in made]),
                     f"### {ds}: AUROC per (normal, known) pair",
                     markdown_table(["pair", *per_pair], pair_rows)]
    md = "\n\n".join([
        "# Deep SAD protocol: MNIST and Fashion-MNIST, one known anomaly class",
        "Protocol (Ruff et al. 2020, scenario (i)): class `c` normal, every other class "
        "anomalous; the labelled training anomalies come from ONE known class `k = (c + 1) % "
        "10` (spec `known_classes=[k]`); `gamma_l` (spec `labelled`, a float) is the fraction "
        "of the training set that is labelled anomalies, `n_l / (n_normal + n_l)` "
        "(`torch_ae_sad.dataset_loaders.splits`), drawn at random from class `k`; no "
        "pollution (`gamma_p = 0`), no validation part (all ~6,000 training images of `c` are "
        "training normals); test = the official test set, every class (9 anomalous, ~90 % "
        "anomalies). Labelled anomalies per run: "
        + "; ".join(f"{ds} {e['label']}: {e['n_labelled']}" for ds in args.datasets
                    for e in payload[ds]["rows"] if e["gamma_l"] is not None) + ".",
        f"Pairs: {', '.join(f'({n}, {k})' for n, k in pairs)} (a subset of the paper's 90: "
        f"each normal class once, with the next class as the known anomaly); seeds "
        f"{args.seeds} (the paper: 10). TOLL and the auto-encoder train on the normals only "
        "(they drop labelled anomalies), so `gamma_l` does not change them: one run per pair, "
        f"on the `gamma_l = {args.gammas[0]:g}` split. TOLL: dense network (the paper's is "
        "convolutional), beta 1000 / batch 1000 / latent 128 on MNIST, beta 100 / batch 500 "
        "/ latent 256 on Fashion-MNIST, Adam 1e-4, the last step kept (no validation "
        "checkpointing). Deep SAD: the authors' bias-free LeNet, rep_dim 32, eta 1, Adam 1e-4, "
        "pre-training lr 1e-3, epochs per row below (the authors': 150 + 150). DevNet and "
        "PReNet: the LeNet feature learner (rep_dim 32) with the authors' head, RMSprop 1e-3, "
        "batches of 512 (half labelled anomalies), 20 batches per epoch (the authors' 50 "
        "epochs); FEAWAD: dense, Adam 1e-4, batches of 512, 20 per epoch (the authors' 100 "
        "pre-training + 30 joint epochs); the budget of every row is in its last column. "
        f"Devices of the runs (from their records): {devices}; {args.threads} torch "
        "thread(s) per run; seconds are indicative (the CPU runs shared 2 cores with other "
        "jobs).",
        "`gap` = our mean minus the published Deep SAD figure (negative: ours is lower); "
        "`gap to ESAD` = our mean minus ESAD's published figure (Huang et al. 2020, \"ESAD: "
        "End-to-end deep semi-supervised anomaly detection\", arXiv 2012.04905: MNIST 0.992, "
        "Fashion-MNIST 0.953 at `gamma_l = 0.01`, as quoted in issue 14). Both published "
        "figures are at `gamma_l = 0.01` and are printed beside every method as the "
        "references it is compared against, not as its own published figure (except Deep "
        "SAD's own row). The published figures average 90 pairs x 10 seeds; `classes x "
        "seeds` says what each of our means covers (normal classes run x seeds per class; "
        "the mean is over classes of the per-class mean over seeds).",
        *sections,
        "Significance of the differences between the methods (Friedman, Nemenyi, Wilcoxon with "
        "Holm's correction, classes as blocks, seeds averaged): `python -m "
        "torch_ae_sad.model.analysis.significance " + str(args.records)
        + " --compare method --filter dataset=DATASET labelled=GAMMA` (committed for the "
        "ESAD comparison: `benchmarks/results/deep_sad_protocol_esad_significance/`).", ""])
    return payload, md



def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line (``--quick`` shrinks the budgets and the pairs)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(PUBLISHED), choices=list(PUBLISHED))
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                   choices=list(METHODS),
                   help=f"default {' '.join(DEFAULT_METHODS)} (DevNet, PReNet, FEAWAD on request)")
    p.add_argument("--tag", default=None,
                   help="results stem deep_sad_protocol_<tag>.{json,md} (the records folder is "
                        "unchanged, so runs are shared), e.g. for a subset of methods that "
                        "must not overwrite the full results file")
    p.add_argument("--normals", nargs="+", type=int, default=None,
                   help="normal classes c (known anomaly class (c + 1) %% 10; default all ten, "
                        "--quick: 0)")
    p.add_argument("--gammas", nargs="+", type=float, default=list(GAMMAS),
                   help="gamma_l values, fractions in (0, 1) (default 0.01 0.05)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--aesad-epochs", type=int, default=None,
                   help="epochs of AE-SAD and the auto-encoder (default 10; --quick 1)")
    p.add_argument("--deepsad-epochs", nargs=2, type=int, default=None,
                   metavar=("PRETRAIN", "TRAIN"), help="Deep SAD epochs (default 5 10; "
                                                       "--quick 1 1)")
    p.add_argument("--toll-steps", type=int, default=None,
                   help="TOLL training steps (default 500; --quick 20)")
    p.add_argument("--weak-epochs", type=int, default=None,
                   help="DevNet and PReNet epochs of 20 batches of 512 (default 10, authors 50; "
                        "--quick 1)")
    p.add_argument("--feawad-epochs", nargs=2, type=int, default=None,
                   metavar=("PRETRAIN", "TRAIN"),
                   help="FEAWAD pre-training and joint epochs of 20 batches of 512 (default "
                        "40 12, authors 100 30; --quick 1 1)")
    add_grid_arguments(p, STEM)
    args = p.parse_args(argv)
    args.stem = finish_grid_arguments(p, args, STEM)
    if args.tag:
        if not args.tag.replace("_", "").replace("-", "").isalnum():
            p.error(f"--tag: expected letters, digits, '_' or '-', found {args.tag!r}")
        args.stem = f"{args.stem}_{args.tag}"
    q = args.quick
    args.normals = args.normals if args.normals is not None else ([0] if q else list(range(10)))
    if args.aesad_epochs is None:
        args.aesad_epochs = 1 if q else 10
    if args.deepsad_epochs is None:
        args.deepsad_epochs = [1, 1] if q else [5, 10]
    if args.toll_steps is None:
        args.toll_steps = 20 if q else 500
    if args.weak_epochs is None:
        args.weak_epochs = 1 if q else 10
    if args.feawad_epochs is None:
        args.feawad_epochs = [1, 1] if q else [40, 12]
    check_positive(p, aesad_epochs=args.aesad_epochs, toll_steps=args.toll_steps,
                   deepsad_epochs=min(args.deepsad_epochs), weak_epochs=args.weak_epochs,
                   feawad_epochs=min(args.feawad_epochs))
    check_classes(p, normals=args.normals)
    bad = [g for g in args.gammas if not 0 < g < 1]
    if bad:
        p.error(f"--gammas: expected fractions in (0, 1), found {bad}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the grid, write the results."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    grids = build_grids(args)
    print(f"{sum(len(g[4]) for g in grids.values())} runs -> {args.records}", flush=True)
    results = run_labelled_grids({k: g[4] for k, g in grids.items()}, args.records,
                                 threads=args.threads)
    payload, md = summarise(args, grids, results)
    write_grid_results(args, results, payload, md, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
