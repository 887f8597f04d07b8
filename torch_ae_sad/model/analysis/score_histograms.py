"""Histograms of the test scores of normal and anomalous samples, with the threshold.

Run::

    python -m torch_ae_sad.model.analysis.score_histograms RECORDS_DIR [--out DIR] [--run ID]

Writes ``score_histograms/<run_id>.png`` / ``.pdf`` per ``ok`` run: the densities of the test
scores of normal (label 0) and anomalous (label 1) samples on shared bins (logarithmic when
the positive scores span more than three decades) and the recorded threshold as a vertical
line. Runs without scores are reported and skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from torch_ae_sad.model.analysis.cli import PerRunScript
from torch_ae_sad.model.analysis.data import metric, test_arrays
from torch_ae_sad.model.analysis.plotting import save_figure
from torch_ae_sad.model.experiment.labels import run_label


def bins(scores: np.ndarray, n: int = 50) -> tuple[np.ndarray, bool]:
    """Shared bin edges for ``scores`` and whether they are logarithmic."""
    finite = scores[np.isfinite(scores)]
    lo, hi = float(finite.min()), float(finite.max())
    if lo > 0 and hi / lo > 1e3:
        return np.geomspace(lo, hi, n + 1), True
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, n + 1), False


def draw_run(record: dict[str, Any], folder: Path, out: Path) -> list[Path]:
    """Draw the score histograms of one run."""
    y, s = test_arrays(record, folder)
    threshold = float(metric(record, "threshold"))
    edges, log = bins(s)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, name, colour in ((0, "normal", "tab:blue"), (1, "anomalous", "tab:red")):
        ax.hist(s[y == label], bins=edges, density=True, alpha=0.5, color=colour,
                label=f"{name} (n={int(np.sum(y == label))})")
    rule = ((record.get("metrics") or {}).get("threshold_rule") or {}).get("name", "?")
    ax.axvline(threshold, color="black", linestyle="--",
               label=f"threshold {threshold:.4g} ({rule})")
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("anomaly score (test set; higher = more anomalous)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(run_label(record), fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out / "score_histograms", str(record["run_id"]))


SCRIPT = PerRunScript("score_histograms", __doc__, draw_run)
draw, main = SCRIPT.draw, SCRIPT.main

if __name__ == "__main__":
    sys.exit(main())
