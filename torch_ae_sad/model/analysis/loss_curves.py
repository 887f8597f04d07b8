"""Training and validation loss curves of each run (validation AUROC on a second axis).

Run::

    python -m torch_ae_sad.model.analysis.loss_curves RECORDS_DIR [--out DIR] [--run RUN_ID]

Writes ``loss_curves/<run_id>.png`` / ``.pdf`` per ``ok`` run from its ``history`` (``step``,
``train_loss``, ``val_loss``, ``val_auc``, ``best_step``). The validation loss is measured on
the normal validation samples only; the kept checkpoint (``best_step``) is marked. Runs
without a history (classical baselines) are reported and skipped.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from torch_ae_sad.model.analysis.cli import PerRunScript
from torch_ae_sad.model.analysis.data import Skip
from torch_ae_sad.model.analysis.plotting import save_figure
from torch_ae_sad.model.experiment.labels import run_label


def history(record: dict[str, Any]) -> dict[str, Any]:
    """The loss history of a record; :class:`Skip` when there is none."""
    hist = record.get("history")
    rid = record.get("run_id")
    if not isinstance(hist, dict) or not hist.get("step") or not hist.get("train_loss"):
        raise Skip(f"run {rid}: the record has no loss history (history.step / "
                   "history.train_loss)")
    if len(hist["step"]) != len(hist["train_loss"]):
        raise Skip(f"run {rid}: history.step and history.train_loss differ in length")
    return hist


def draw_run(record: dict[str, Any], folder: Path, out: Path) -> list[Path]:
    """Draw the loss curves of one run."""
    hist = history(record)
    step = np.asarray(hist["step"], dtype=float)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(step, hist["train_loss"], "o-", markersize=3, label="train loss")
    val = hist.get("val_loss") or []
    if len(val) == len(step):
        ax.plot(step, np.asarray(val, dtype=float), "s-", markersize=3,
                label="validation loss (normals)")
    ax.set_xlabel("training step (batches)")
    ax.set_ylabel("loss")
    handles, labels = ax.get_legend_handles_labels()
    auc = hist.get("val_auc") or []
    if len(auc) == len(step):
        ax2 = ax.twinx()
        ax2.plot(step, auc, "^-", color="tab:green", markersize=3, label="validation AUROC")
        ax2.set_ylabel("validation AUROC")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    best = hist.get("best_step")
    if best is not None:
        line = ax.axvline(best, color="grey", linestyle=":",
                          label=f"kept checkpoint (step {best}, {hist.get('criterion', '?')})")
        handles, labels = handles + [line], labels + [line.get_label()]
    ax.legend(handles, labels, fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(run_label(record), fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out / "loss_curves", str(record["run_id"]))


def any_history(runs: Sequence[dict[str, Any]]) -> None:
    """:class:`Skip` when none of ``runs`` has a loss history (classical baselines)."""
    if not any(r.get("history") for r in runs):
        raise Skip("no ok run has a loss history (history.step / history.train_loss)")


SCRIPT = PerRunScript("loss_curves", __doc__, draw_run, needs=any_history)
draw, main = SCRIPT.draw, SCRIPT.main

if __name__ == "__main__":
    sys.exit(main())
