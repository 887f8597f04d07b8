"""Reconstruction grid: normal and anomalous test images, their reconstructions and scores.

Run::

    python -m torch_ae_sad.model.analysis.reconstructions RECORDS_DIR [--out DIR]
        [--run RUN_ID] [--n N] [--trust-pickled-models]

Needs runs made with ``--save-models`` (the record's ``model_file``) of an auto-encoder
detector on images (opened as data; ``--trust-pickled-models`` also unpickles model files of
the old pickled kind you made yourself). The test data is rebuilt from the record's spec.
Writes ``reconstructions/<run_id>.png`` / ``.pdf``: four rows, ``N`` random normal test images and
their reconstructions, then ``N`` random anomalous ones and theirs; each reconstruction is
titled with the sample's anomaly score (for AE-SAD the squared reconstruction error). For
AE-SAD the anomalies should come back as their "negatives" ``F(x)``, the normals as themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from torch_ae_sad.model.analysis.cli import Option, PerRunScript
from torch_ae_sad.model.analysis.data import Skip, load_trained, test_part
from torch_ae_sad.model.analysis.plotting import save_figure
from torch_ae_sad.model.experiment.labels import run_label


def as_images(X: np.ndarray) -> np.ndarray:
    """``(n, H, W)`` grey or ``(n, H, W, C)`` colour images from ``(n, C, H, W)`` arrays.

    Raises
    ------
    Skip
        When ``X`` is not image data (tabular ``(n, d)``).
    """
    if X.ndim != 4 or X.shape[1] not in (1, 3):
        raise Skip(f"the reconstruction grid needs images (n, 1|3, H, W), found data of shape "
                   f"{tuple(X.shape)}")
    return X[:, 0] if X.shape[1] == 1 else np.moveaxis(X, 1, -1)


def pick(y: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random indices of normal (``y == 0``) and of anomalous (``y == 1``) samples."""
    rng = np.random.default_rng(seed)
    normal, anomalous = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    if not len(normal) or not len(anomalous):
        raise Skip("the test part needs normal and anomalous samples")
    return (rng.choice(normal, min(n, len(normal)), replace=False),
            rng.choice(anomalous, min(n, len(anomalous)), replace=False))


def _show(ax: Any, image: np.ndarray, title: str | None = None) -> None:
    ax.imshow(np.clip(image, 0.0, 1.0), cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)


def draw_run(record: dict[str, Any], folder: Path, out: Path, n: int = 8, *,
             trust_pickle: bool = False) -> list[Path]:
    """Draw the reconstruction grid of one run; return the files written."""
    model = load_trained(record, folder, trust_pickle=trust_pickle)
    if not callable(getattr(model, "reconstruct", None)):
        raise Skip(f"run {record.get('run_id')}: {type(model).__name__} has no reconstruct()")
    X, y = test_part(record)
    as_images(X[:1])
    normal, anomalous = pick(y, n)
    idx = np.concatenate([normal, anomalous])
    try:
        X_hat = model.reconstruct(X[idx])
    except TypeError as exc:
        raise Skip(f"run {record.get('run_id')}: {exc}") from exc
    scores = model.decision_function(X[idx])
    originals, recons = as_images(X[idx]), as_images(X_hat)
    cols = max(len(normal), len(anomalous))
    fig, axes = plt.subplots(4, cols, figsize=(1.1 * cols + 1.2, 5.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for block, (name, rows) in enumerate((("normal", range(len(normal))),
                                          ("anomalous", range(len(normal), len(idx))))):
        for j, i in enumerate(rows):
            _show(axes[2 * block, j], originals[i])
            _show(axes[2 * block + 1, j], recons[i], f"score {scores[i]:.3g}")
            axes[2 * block, j].axis("on")
            axes[2 * block + 1, j].axis("on")
        axes[2 * block, 0].set_ylabel(f"{name}\ninput", fontsize=8)
        axes[2 * block + 1, 0].set_ylabel(f"{name}\nreconstruction", fontsize=8)
    auc = (record.get("metrics") or {}).get("roc_auc")
    fig.suptitle(run_label(record) + (f"\ntest AUROC {auc:.4f}" if auc is not None else ""),
                 fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out / "reconstructions", str(record["run_id"]))


SCRIPT = PerRunScript("reconstructions", __doc__, draw_run,
                      options=(Option("--n", 8, "images per row", minimum=1),),
                      loads_models=True)
draw, main = SCRIPT.draw, SCRIPT.main

if __name__ == "__main__":
    sys.exit(main())
