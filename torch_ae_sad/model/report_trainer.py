"""The studies the thesis and slides show, each into its own records folder (MNIST).

Edit the lists below, then run::

    python -m torch_ae_sad.model.report_trainer --out RECORDS_DIR [--quick] [--studies ...]
    latex/build.sh RECORDS_DIR      # figures, tables and both PDFs

Each study writes its records to ``RECORDS_DIR/<study>/`` (runs already recorded are
skipped, so an interrupted call resumes):

- ``samplers``: the main job (``deep_ae_sad_multi_class_trainer``'s lists), 3 seeds;
- ``grid_search``: the 4-vs-8 report's auto-encoder grid (``autoencoder_grid_trainer``: tune
  with digit 8 normal, test with digit 4), the 24 dense entries at 10 epochs, batch 128, no
  weight decay;
- ``toll_beta``: TOLL's AUROC against beta (the paper's ablation), CPU budget;
- ``noise``: AE-SAD and the plain AE on test images with Gaussian noise of growing std;
- ``activations``: AE-SAD with the decoder's last activation ReLU, linear, tanh and sigmoid,
  models saved for the latent-space and reconstruction figures.

116 runs, about 10 minutes on 2 CPU cores (9 min 18 s measured); ``--quick`` (two entries
of each list, one seed, 2 epochs / 50 steps) about one minute.

Any other trainer's records folder fills the sections its records fit (e.g. the main job's
``json_metrics/staged`` fills the sampler study: ``latex/build.sh
torch_ae_sad/model/json_metrics/staged``); the report then lists each empty section with the
command of this module that fills it, ``--out`` that same folder and ``--studies`` the study
(:mod:`torch_ae_sad.model.analysis.studies`). Other flags (``--device``,
``--threads``, ``--workers``, ``--force``, ``--quiet``) go to every study's grid (see
``experiment.trainer_main``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch_ae_sad.model import autoencoder_grid_trainer as autoencoder_grid
from torch_ae_sad.model import deep_ae_sad_multi_class_trainer as main_job
from torch_ae_sad.model import toll_trainer
from torch_ae_sad.model.experiment import DEFAULT_OUT, quick_model, trainer_main

#: AE-SAD with the authors' defaults (dense d-128-32-128-d, Adam 1e-3, batch 32, 10 epochs).
AESAD = main_job.MODEL_CONFIG[0]
#: MNIST 4 (normal) vs 8 (anomalous), 60 labelled anomalies: the thesis's grid-search scenario.
FOUR_VS_EIGHT = {"scenario": "many_vs_many", "normal_classes": [4], "anomaly_classes": [8],
                 "labelled": 60}
NO_SAMPLING = [{"name": "none"}]


@dataclass
class Study:
    """One records folder: the three config lists, the seeds, and whether to keep models."""

    anomaly: list[dict[str, Any]]
    samplers: list[dict[str, Any]]
    models: list[dict[str, Any]]
    seeds: tuple[int, ...] = (0,)
    save_models: bool = False
    common: dict[str, Any] = field(default_factory=lambda: {"dataset": "mnist"})


#: The studies, by folder name.
STUDIES: dict[str, Study] = {
    "samplers": Study(main_job.ANOMALY_CONFIG, main_job.SAMPLER_CONFIG, main_job.MODEL_CONFIG,
                      seeds=(0, 1, 2)),
    "grid_search": Study(
        autoencoder_grid.ANOMALY_CONFIG, autoencoder_grid.SAMPLER_CONFIG,
        [m for m in autoencoder_grid.MODEL_CONFIG
         if m["method"] == "AutoEncoder" and m["epochs"] == 10 and m["batch_size"] == 128
         and m["weight_decay"] == 0.0]),
    "toll_beta": Study(
        [{**toll_trainer.ANOMALY_CONFIG[4]}], NO_SAMPLING,
        [{**toll_trainer.MODEL_CONFIG[0], "beta": beta, "n_steps": 300}
         for beta in (0.0, 1.0, 10.0, 100.0, 1000.0)],
        seeds=(0, 1)),
    "noise": Study(
        [{**FOUR_VS_EIGHT, "noise_std": std} for std in (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)],
        NO_SAMPLING,
        [AESAD, {"method": "AutoEncoder", "hidden_dims": [128, 32], "epochs": 10,
                 "batch_size": 32}],
        seeds=(0, 1)),
    "activations": Study(
        [FOUR_VS_EIGHT], NO_SAMPLING,
        [{**AESAD, "out_activation": act} for act in ("relu", "linear", "tanh", "sigmoid")],
        save_models=True),
}
#: ``--quick``: entries kept of each list (and one seed, small budgets).
QUICK_ENTRIES = 2


def study_argv(name: str, study: Study, out: Path, quick: bool,
               passthrough: Sequence[str]) -> tuple[list[dict], list[dict], list[dict], list]:
    """The lists and the ``trainer_main`` arguments of one study (trimmed for ``quick``)."""
    anomaly, samplers, models = study.anomaly, study.samplers, study.models
    seeds = study.seeds
    if quick:
        anomaly, samplers = anomaly[:QUICK_ENTRIES], samplers[:QUICK_ENTRIES]
        models, seeds = [quick_model(m) for m in models[:QUICK_ENTRIES]], seeds[:1]
    argv = ["--out", str(out / name), "--seeds", *map(str, seeds), *passthrough]
    if study.save_models:
        argv.append("--save-models")
    return anomaly, samplers, models, argv


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Run the chosen studies; return all their records."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Other flags go to every study's grid: --device, --threads, --workers, "
               "--executor, --force, --quiet.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT / "report",
                        help="records folder; one sub-folder per study (default: "
                             "json_metrics/staged/report)")
    parser.add_argument("--studies", nargs="+", choices=sorted(STUDIES), default=list(STUDIES),
                        help="studies to run (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help=f"first {QUICK_ENTRIES} entries of each list, one seed, 2 epochs / "
                             "50 steps")
    args, passthrough = parser.parse_known_args(argv)
    allowed = ("--device", "--threads", "--workers", "--executor", "--ray-address", "--force",
               "--quiet")
    unknown = [a for a in passthrough if a.startswith("-") and a.split("=")[0] not in allowed]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)} (passed on: "
                     f"{', '.join(allowed)})")
    records = []
    for name in args.studies:
        study = STUDIES[name]
        anomaly, samplers, models, study_args = study_argv(name, study, args.out, args.quick,
                                                           passthrough)
        print(f"== study {name}")
        records += trainer_main(anomaly, samplers, models, argv=study_args,
                                description=f"report study {name}", **study.common)
    failed = sum(r["status"] != "ok" for r in records)
    print(f"report studies {', '.join(args.studies)}: {len(records) - failed} ok, {failed} "
          f"failed; records in {args.out}. Next: latex/build.sh {args.out}")
    return records


if __name__ == "__main__":
    main()
