"""Semi-supervised detectors on tabular sets under ADBench's protocol, from a folder you name.

ADBench (Han et al. 2022): 70 / 30 stratified train / test split, min-max scaling fitted on the
training part, a share of the *training anomalies* labelled (1 %, 5 % or 10 %; at least one)
and the other training anomalies left in the training data unlabelled, several seeds; sets
larger than 10,000 samples subsampled to 10,000 (see
:func:`torch_ae_sad.dataset_loaders.adbench_split`). Every ``.npz`` (ADBench: ``X``, ``y``),
``.mat`` (ODDS) and ``.csv`` (label last) file of ``--data`` is one data set; nothing is
shipped with the repository. Each (file, labelled share, method, seed) is one run with its
record, as with every trainer.

Run::

    python -m torch_ae_sad.model.adbench_trainer --data FOLDER [--labelled 0.01 0.05 0.1]
        [--seeds 0 1 2] [--quick] [--workers 2] [other runner flags]

``--quick`` keeps the first file, the first labelled share and the first four methods, 2
epochs, seed 0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch_ae_sad.dataset_loaders.sources import TABULAR_SUFFIXES
from torch_ae_sad.model.experiment import trainer_main

#: ADBench's labelled shares of the training anomalies.
LABELLED = [0.01, 0.05, 0.1]
#: No under-sampling: ADBench's protocol.
SAMPLER_CONFIG = [{"name": "none"}]
#: Each detector with its own defaults (a default is a promise: these are the detectors a user
#: gets with no arguments); validation off, as ADBench has none.
MODEL_CONFIG = [
    {"method": "AESAD"},
    {"method": "DeepSAD"},
    {"method": "TOLL"},
    {"method": "AutoEncoder"},
    {"method": "IForest"},
    # the weakly-supervised baselines of ADBench (Han et al. 2022), their authors' defaults
    {"method": "DevNet"},
    {"method": "PReNet"},
    {"method": "FEAWAD"},
]


def data_files(folder: Path) -> list[Path]:
    """The tabular files of ``folder`` (or ``folder`` itself when it is one), sorted.

    Raises
    ------
    ValueError
        When the path does not exist or holds no ``.npz`` / ``.mat`` / ``.csv`` file.
    """
    if folder.is_file():
        files = [folder]
    elif folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in TABULAR_SUFFIXES)
    else:
        raise ValueError(f"--data: no file or folder {folder}")
    if not files or files[0].suffix.lower() not in TABULAR_SUFFIXES:
        raise ValueError(f"--data: expected tabular files ({', '.join(TABULAR_SUFFIXES)}) in "
                         f"{folder}, found none")
    return files


def anomaly_config(files: Sequence[Path], labelled: Sequence[float]) -> list[dict[str, Any]]:
    """One ADBench scenario per (file, labelled share); no validation hold-out."""
    return [{"dataset": str(f), "scenario": "adbench", "labelled": la, "val_fraction": 0.0}
            for f in files for la in labelled]


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Run the grid: the files of ``--data`` x ``--labelled`` x the methods x the seeds."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--labelled", type=float, nargs="+", default=LABELLED)
    args, rest = parser.parse_known_args(argv)
    description = __doc__.split("\n")[0]
    if args.data is None:
        if any(a in ("-h", "--help") for a in rest):
            return trainer_main([{}], SAMPLER_CONFIG, MODEL_CONFIG, description=description
                                + " Flags of this trainer: --data FOLDER (required), "
                                "--labelled SHARE ...", argv=rest)
        print("error: --data FOLDER is required (a folder of ADBench .npz / ODDS .mat / CSV "
              "files, or one such file)", file=sys.stderr)
        raise SystemExit(2)
    try:
        files = data_files(args.data)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return trainer_main(anomaly_config(files, args.labelled), SAMPLER_CONFIG, MODEL_CONFIG,
                        description=description, argv=rest)


if __name__ == "__main__":
    main()
