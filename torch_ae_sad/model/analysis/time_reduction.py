"""Training seconds per sampler, and the time saved against no sampling (``none``).

Run::

    python -m torch_ae_sad.model.analysis.time_reduction RECORDS_DIR [--out DIR]

Writes ``time_reduction.png`` / ``.pdf``: left, the mean training seconds over seeds (± std)
per scenario and sampler with the sampler's own seconds stacked on top (hatched); right, the
reduction ``1 - t_sampler / t_none`` in percent against the ``none`` run of the same scenario,
method and parameters, as bars for the training time alone and as black markers for training
plus sampling. Configurations without a ``none`` reference get no reduction.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from torch_ae_sad.model.analysis._common import (
    Records,
    Skip,
    _hashable,
    grouped,
    is_sampler_field,
    layout,
    members,
    none_first,
    save_figure,
    script_main,
    unique,
)
from torch_ae_sad.model.results import mean_std


def reductions(records: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Per configuration: seconds and the time reduction against its ``none`` configuration.

    Returns
    -------
    rows : list of dict
        The :func:`~torch_ae_sad.model.results.summarize` rows with ``train_s_mean`` and
        added ``sampler_s_mean`` / ``sampler_s_std`` (the sampler's seconds), ``ref_train_s``
        (mean training seconds of the ``none`` configuration, None when absent),
        ``reduction`` (``1 - train_s / ref_train_s``) and ``reduction_total``
        (``1 - (train_s + sampler_s) / ref_train_s``), both fractions.
    fields : list of str
        The grouping fields.
    """
    rows, fields = grouped(records)
    rows = [r for r in rows if r["train_s_mean"] is not None]
    rest = [f for f in fields if not is_sampler_field(f)]
    refs = {tuple(_hashable(r.get(f)) for f in rest): r["train_s_mean"]
            for r in rows if r.get("sampler") == "none"}
    for row in rows:
        ok = [m for m in members(row, fields, records) if m.get("status") == "ok"]
        row["sampler_s_mean"], row["sampler_s_std"] = mean_std(
            [(m.get("sampling") or {}).get("seconds") for m in ok])
        ref = refs.get(tuple(_hashable(row.get(f)) for f in rest))
        row["ref_train_s"] = ref
        if ref:
            row["reduction"] = 1.0 - row["train_s_mean"] / ref
            row["reduction_total"] = 1.0 - (row["train_s_mean"]
                                            + (row["sampler_s_mean"] or 0.0)) / ref
        else:
            row["reduction"] = row["reduction_total"] = None
    return rows, fields


def draw(data: Records, out: Path) -> list[Path]:
    """Draw seconds and reductions per scenario and sampler; return the files written."""
    rows, fields = reductions(data.records)
    if not rows:
        raise Skip("no ok run has train_seconds")
    lay = layout(rows, fields)
    panels = unique(lay.panel_label(r) for r in rows)
    if not any(r["ref_train_s"] for r in rows):
        print("time_reduction: no configuration has a 'none' (no sampling) reference; only "
              "the seconds are drawn", file=sys.stderr)
    fig, axes = plt.subplots(len(panels), 2, figsize=(12, 3.8 * len(panels)), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for (ax_t, ax_r), panel in zip(axes, panels, strict=True):
        mine = [r for r in rows if lay.panel_label(r) == panel]
        groups = unique(lay.group_label(r) for r in mine)
        bars = none_first(lay.bar_label(r) for r in mine)
        by = {(lay.group_label(r), lay.bar_label(r)): r for r in mine}
        width = 0.8 / len(bars)
        x = np.arange(len(groups))
        red_bars = [b for b in bars if any(by.get((g, b), {}).get("reduction") is not None
                                           and by[(g, b)].get("sampler") != "none"
                                           for g in groups)]
        for j, b in enumerate(bars):
            colour = cmap(j % 10)
            off = (j - (len(bars) - 1) / 2) * width
            for i, g in enumerate(groups):
                r = by.get((g, b))
                if r is None:
                    continue
                t, s = r["train_s_mean"], r["sampler_s_mean"] or 0.0
                ax_t.bar(x[i] + off, t, width * 0.95, yerr=r["train_s_std"] or 0.0, capsize=3,
                         color=colour, edgecolor="black", linewidth=0.5,
                         label=b if i == 0 or (g, b) not in by else None)
                if s > 0:
                    ax_t.bar(x[i] + off, s, width * 0.95, bottom=t, color=colour, alpha=0.45,
                             hatch="//", edgecolor="black", linewidth=0.5)
                top = max(t + s, t + (r["train_s_std"] or 0.0))
                ax_t.annotate(f"{t + s:.2f}s", (x[i] + off, top), xytext=(0, 2),
                              textcoords="offset points", ha="center", fontsize=7)
            if b not in red_bars:
                continue
            k = red_bars.index(b)
            roff = (k - (len(red_bars) - 1) / 2) * (0.8 / len(red_bars))
            for i, g in enumerate(groups):
                r = by.get((g, b))
                if r is None or r["reduction"] is None:
                    continue
                ax_r.bar(x[i] + roff, 100 * r["reduction"], 0.8 / len(red_bars) * 0.95,
                         color=colour, edgecolor="black", linewidth=0.5)
                ax_r.plot(x[i] + roff, 100 * r["reduction_total"], "kx", markersize=7)
                ax_r.annotate(f"{100 * r['reduction']:.0f}%", (x[i] + roff, 100 * r["reduction"]),
                              xytext=(0, 2 if r["reduction"] >= 0 else -9),
                              textcoords="offset points", ha="center", fontsize=7)
        suffix = f": {panel}" if panel else ""
        lo, hi = ax_t.get_ylim()
        ax_t.set_ylim(lo, hi * 1.12)  # room for the labels above the bars
        lo, hi = ax_r.get_ylim()
        ax_r.set_ylim(lo * 1.12 if lo < 0 else lo, hi * 1.12 if hi > 0 else hi)
        ax_t.set_xticks(x, groups, fontsize=8)
        ax_t.set_ylabel("seconds (mean ± std over seeds)")
        ax_t.set_title(f"Training seconds; hatched: sampler seconds{suffix}", fontsize=10)
        ax_t.grid(axis="y", alpha=0.3)
        ax_t.legend(title="sampler", fontsize=7)
        ax_r.set_xticks(x, groups, fontsize=8)
        ax_r.axhline(0, color="black", linewidth=0.8)
        ax_r.set_ylabel("time reduction vs none (%)")
        ax_r.set_title(f"Reduction of training time; x: incl. sampling{suffix}", fontsize=10)
        ax_r.grid(axis="y", alpha=0.3)
        if not red_bars:
            ax_r.text(0.5, 0.5, "no 'none' reference run", ha="center", va="center",
                      transform=ax_r.transAxes)
    fig.tight_layout()
    return save_figure(fig, out, "time_reduction")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns 0 when the figure was written."""
    return script_main("time_reduction", __doc__.split("\n")[0], draw, argv)


if __name__ == "__main__":
    sys.exit(main())
