"""AUROC by sampler and scenario: grouped bars, mean ± std (ddof=1) over seeds.

Run::

    python -m torch_ae_sad.model.analysis.auroc_by_sampler RECORDS_DIR [--out DIR]
        [--metric roc_auc|aupr|f1]

Writes ``auroc_by_sampler.png`` / ``.pdf`` (``<metric>_by_sampler`` for another metric): one
group of bars per scenario, one bar per sampler, one panel per value of the other fields that
vary in the folder (e.g. the method).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt

from torch_ae_sad.model.analysis.cli import script_main
from torch_ae_sad.model.analysis.data import Records, Skip, grouped, none_first, unique
from torch_ae_sad.model.analysis.plotting import grouped_bars, layout, save_figure

#: Metric option -> (column of the summary rows, axis label).
METRICS = {"roc_auc": ("roc_auc", "AUROC"), "aupr": ("aupr", "AUPR"), "f1": ("f1", "F1")}


def draw(data: Records, out: Path, metric: str = "roc_auc") -> list[Path]:
    """Draw the bars of ``metric`` per scenario and sampler; return the files written."""
    column, label = METRICS[metric]
    rows, fields = grouped(data.records)
    rows = [r for r in rows if r[f"{column}_mean"] is not None]
    if not rows:
        raise Skip(f"no ok run has metrics.{'average_precision' if metric == 'aupr' else metric}")
    lay = layout(rows, fields)
    panels = unique(lay.panel_label(r) for r in rows)
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(6.0, 1.2 * len(rows) / len(panels)
                                                          + 3), 3.6 * len(panels)),
                             squeeze=False)
    lo = min(r[f"{column}_mean"] - (r[f"{column}_std"] or 0) for r in rows)
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        mine = [r for r in rows if lay.panel_label(r) == panel]
        groups = unique(lay.group_label(r) for r in mine)
        bars = none_first(lay.bar_label(r) for r in mine)
        mean = {(lay.group_label(r), lay.bar_label(r)): r[f"{column}_mean"] for r in mine}
        std = {(lay.group_label(r), lay.bar_label(r)): r[f"{column}_std"] for r in mine}
        grouped_bars(ax, groups, bars, mean, std, styles=lay.bar_styles(mine))
        ax.set_ylabel(f"{label} (mean ± std over seeds)")
        ax.set_ylim(max(0.0, lo - 0.05), 1.08)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(title="sampler", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        seeds = sorted({len(r["seeds"]) for r in mine})
        title = f"{label} by sampler" + (f": {panel}" if panel else "")
        ax.set_title(f"{title} ({'/'.join(map(str, seeds))} seed(s) per bar)", fontsize=10)
    fig.tight_layout()
    name = "auroc_by_sampler" if metric == "roc_auc" else f"{metric}_by_sampler"
    return save_figure(fig, out, name)


def _args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metric", choices=sorted(METRICS), default="roc_auc",
                        help="metric to plot (default: roc_auc)")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns 0 when the figure was written."""
    return script_main("auroc_by_sampler", __doc__.split("\n")[0], draw, argv, _args)


if __name__ == "__main__":
    sys.exit(main())
