"""Confusion matrix of each run at its recorded threshold.

Run::

    python -m torch_ae_sad.model.analysis.confusion RECORDS_DIR [--out DIR] [--run RUN_ID]

Writes ``confusion/<run_id>.png`` / ``.pdf`` per ``ok`` run from ``metrics.confusion_matrix``
(``[[tn, fp], [fn, tp]]``, rows = true class, columns = predicted): the counts and, in
brackets, the share of the true class. Needs the record only, not the scores.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from torch_ae_sad.model.analysis.cli import PerRunScript
from torch_ae_sad.model.analysis.data import Skip, metric
from torch_ae_sad.model.analysis.plotting import save_figure
from torch_ae_sad.model.experiment.labels import run_label

CLASSES = ("normal", "anomaly")


def matrix(record: dict[str, Any]) -> np.ndarray:
    """The 2x2 confusion matrix of a record; :class:`Skip` when missing or malformed."""
    cm = np.asarray(metric(record, "confusion_matrix"))
    if cm.shape != (2, 2):
        raise Skip(f"run {record.get('run_id')}: metrics.confusion_matrix has shape "
                   f"{cm.shape}, expected (2, 2)")
    return cm.astype(int)


def draw_run(record: dict[str, Any], folder: Path, out: Path) -> list[Path]:
    """Draw the confusion matrix of one run."""
    cm = matrix(record)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    m = record["metrics"]
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(2):
        for j in range(2):
            ax.text(j, i, f"{cm[i, j]}\n({100 * share[i, j]:.1f}%)", ha="center", va="center",
                    color="white" if share[i, j] > 0.5 else "black", fontsize=11)
    ax.set_xticks([0, 1], [f"predicted {c}" for c in CLASSES])
    ax.set_yticks([0, 1], [f"true {c}" for c in CLASSES])
    rule = (m.get("threshold_rule") or {}).get("name", "?")
    ax.set_xlabel(f"threshold {m.get('threshold', float('nan')):.4g} ({rule}); "
                  f"F1 {m.get('f1', float('nan')):.3f}, FAR {m.get('far', float('nan')):.3f}",
                  fontsize=8)
    ax.set_title(run_label(record).replace(" | ", "\n", 2), fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out / "confusion", str(record["run_id"]))


SCRIPT = PerRunScript("confusion", __doc__, draw_run)
draw, main = SCRIPT.draw, SCRIPT.main

if __name__ == "__main__":
    sys.exit(main())
