"""AUROC against training seconds, one point per configuration, with the Pareto front.

Run::

    python -m torch_ae_sad.model.analysis.pareto RECORDS_DIR [--out DIR] [--with-sampling]

Writes ``pareto.png`` / ``.pdf``: one panel per scenario; each point is a configuration
(sampler, method, parameters) at its mean training seconds and mean AUROC over seeds, with
±std error bars. The front (no other configuration is at least as fast *and* at least as
good, and strictly better in one) is joined by a line and its points are ringed.
``--with-sampling`` adds the sampler's seconds to the training seconds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from torch_ae_sad.model.analysis.cli import script_main
from torch_ae_sad.model.analysis.data import Records, Skip, unique
from torch_ae_sad.model.analysis.plotting import layout, save_figure, series_styles
from torch_ae_sad.model.analysis.time_reduction import reductions


def pareto_front(seconds: Sequence[float], quality: Sequence[float]) -> np.ndarray:
    """Boolean mask of the points no other point dominates (fewer seconds, higher quality).

    A point is dominated when another one has ``seconds <=`` and ``quality >=`` its own, one of
    them strictly.
    """
    s = np.asarray(seconds, dtype=float)
    q = np.asarray(quality, dtype=float)
    keep = np.ones(len(s), dtype=bool)
    for i in range(len(s)):
        dominated = (s <= s[i]) & (q >= q[i]) & ((s < s[i]) | (q > q[i]))
        keep[i] = not dominated.any()
    return keep


def points(records: Sequence[dict[str, Any]],
           with_sampling: bool = False) -> list[dict[str, Any]]:
    """Configuration rows with ``x``, ``y``, ``panel``, ``label``, ``front``, ``base_style``.

    ``x`` is the mean training seconds, ``y`` the mean AUROC, ``base_style`` the fixed style of
    the row's sampler.
    """
    rows, fields = reductions(records)
    rows = [r for r in rows if r["roc_auc_mean"] is not None]
    if not rows:
        raise Skip("no ok run has both train_seconds and metrics.roc_auc")
    lay = layout(rows, fields)
    for r in rows:
        r["x"] = r["train_s_mean"] + ((r["sampler_s_mean"] or 0.0) if with_sampling else 0.0)
        r["y"] = r["roc_auc_mean"]
        r["panel"] = lay.group_label(r)
        other = lay.panel_label(r)
        r["label"] = lay.bar_label(r) + (f"; {other}" if other else "")
        r["base_style"] = lay.bar_style(r)
    for panel in unique(r["panel"] for r in rows):
        mine = [r for r in rows if r["panel"] == panel]
        mask = pareto_front([r["x"] for r in mine], [r["y"] for r in mine])
        for r, front in zip(mine, mask, strict=True):
            r["front"] = bool(front)
    return rows


def draw(data: Records, out: Path, with_sampling: bool = False) -> list[Path]:
    """Draw the AUROC / seconds scatter with its Pareto front; return the files written."""
    rows = points(data.records, with_sampling)
    panels = unique(r["panel"] for r in rows)
    ncol = min(len(panels), 3)
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 4.2 * nrow), squeeze=False)
    styles = series_styles({r["label"]: r["base_style"] for r in rows})
    for ax, panel in zip(axes.flat, panels, strict=False):
        mine = [r for r in rows if r["panel"] == panel]
        for k, r in enumerate(sorted(mine, key=lambda r: r["x"])):
            ax.errorbar(r["x"], r["y"], xerr=r["train_s_std"] or 0.0, yerr=r["roc_auc_std"] or 0.0,
                        fmt=styles[r["label"]]["marker"], color=styles[r["label"]]["color"],
                        capsize=2)
            ax.annotate(r["label"], (r["x"], r["y"]), xytext=(4, 4 if k % 2 == 0 else -11),
                        textcoords="offset points",
                        fontsize=7, color=styles[r["label"]]["color"])
        front = sorted((r for r in mine if r["front"]), key=lambda r: r["x"])
        ax.plot([r["x"] for r in front], [r["y"] for r in front], "k--", linewidth=1,
                label="Pareto front")
        ax.scatter([r["x"] for r in front], [r["y"] for r in front], s=160, facecolors="none",
                   edgecolors="black", linewidths=1.2)
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("training seconds" + (" + sampler seconds" if with_sampling else "")
                      + " (mean over seeds)")
        ax.set_ylabel("AUROC (mean over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        ax.margins(x=0.15, y=0.15)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, out, "pareto")


def _args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--with-sampling", action="store_true",
                        help="count the sampler's seconds with the training seconds")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns 0 when the figure was written."""
    return script_main("pareto", __doc__.split("\n")[0], draw, argv, _args)


if __name__ == "__main__":
    sys.exit(main())
