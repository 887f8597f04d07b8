"""ROC and precision-recall curves of each run, with the recorded threshold marked.

Run::

    python -m torch_ae_sad.model.analysis.curves RECORDS_DIR [--out DIR] [--run RUN_ID]

Writes ``curves/<run_id>.png`` / ``.pdf`` per ``ok`` run (or the runs whose id starts with
``RUN_ID``), from the test labels and scores in ``<run_id>.scores.npz``. The point of each curve
reached by the recorded threshold (flag when ``score > threshold``) is marked. Runs without
scores are reported and skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from torch_ae_sad.model.analysis.cli import PerRunScript
from torch_ae_sad.model.analysis.data import metric, test_arrays
from torch_ae_sad.model.analysis.plotting import save_figure
from torch_ae_sad.model.experiment.labels import run_label


def threshold_point(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """False alarm rate, recall and precision when flagging ``score > threshold``."""
    pred = scores > threshold
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    pos, neg = float(np.sum(y == 1)), float(np.sum(y == 0))
    return {"fpr": fp / neg if neg else 0.0, "tpr": tp / pos if pos else 0.0,
            "precision": tp / (tp + fp) if tp + fp else 1.0}


def draw_run(record: dict[str, Any], folder: Path, out: Path) -> list[Path]:
    """Draw the ROC and PR curves of one run."""
    y, s = test_arrays(record, folder)
    threshold = float(metric(record, "threshold"))
    point = threshold_point(y, s, threshold)
    fpr, tpr, _ = roc_curve(y, s)
    prec, rec, _ = precision_recall_curve(y, s)
    auc, ap = roc_auc_score(y, s), average_precision_score(y, s)
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(10, 4.4))
    ax_roc.plot(fpr, tpr, label=f"ROC (AUROC {auc:.3f})")
    ax_roc.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    ax_roc.set_xlabel("false positive rate")
    ax_roc.set_ylabel("true positive rate (recall)")
    ax_pr.plot(rec, prec, label=f"PR (AP {ap:.3f})")
    ax_pr.axhline(float(np.mean(y)), linestyle=":", color="grey",
                  label=f"chance (anomaly rate {np.mean(y):.2f})")
    ax_pr.set_xlabel("recall")
    ax_pr.set_ylabel("precision")
    rule = (record.get("metrics") or {}).get("threshold_rule") or {}
    mark = f"threshold {threshold:.4g} ({rule.get('name', '?')})"
    ax_roc.plot(point["fpr"], point["tpr"], "r*", markersize=14, label=mark)
    ax_pr.plot(point["tpr"], point["precision"], "r*", markersize=14,
               label=f"{mark}, F1 {record['metrics'].get('f1', float('nan')):.3f}")
    for ax in (ax_roc, ax_pr):
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right" if ax is ax_roc else "lower left")
    fig.suptitle(run_label(record), fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out / "curves", str(record["run_id"]))



SCRIPT = PerRunScript("curves", __doc__, draw_run)
draw, main = SCRIPT.draw, SCRIPT.main

if __name__ == "__main__":
    sys.exit(main())
