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

from torch_ae_sad.model.analysis.cli import script_main
from torch_ae_sad.model.analysis.data import (
    Records,
    Skip,
    grouped,
    is_sampler_field,
    members,
    none_first,
    unique,
)
from torch_ae_sad.model.analysis.plotting import (
    Layout,
    bar_offsets,
    layout,
    save_figure,
)
from torch_ae_sad.model.results import field_key, mean_std


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
    refs = {tuple(field_key(r.get(f)) for f in rest): r["train_s_mean"]
            for r in rows if r.get("sampler") == "none"}
    for row in rows:
        ok = [m for m in members(row, fields, records) if m.get("status") == "ok"]
        row["sampler_s_mean"], row["sampler_s_std"] = mean_std(
            [(m.get("sampling") or {}).get("seconds") for m in ok])
        ref = refs.get(tuple(field_key(row.get(f)) for f in rest))
        row["ref_train_s"] = ref
        if ref:
            row["reduction"] = 1.0 - row["train_s_mean"] / ref
            row["reduction_total"] = 1.0 - (row["train_s_mean"]
                                            + (row["sampler_s_mean"] or 0.0)) / ref
        else:
            row["reduction"] = row["reduction_total"] = None
    return rows, fields


def _seconds_bars(ax: Any, groups: Sequence[str], bars: Sequence[str],
                  by: dict[tuple[str, str], dict[str, Any]],
                  styles: dict[str, dict[str, str]]) -> None:
    """Training seconds per group and bar, the sampler's seconds stacked on top (hatched)."""
    offsets, width = bar_offsets(len(bars))
    x = np.arange(len(groups))
    for off, b in zip(offsets, bars, strict=True):
        style = styles[b]
        first = True
        for i, g in enumerate(groups):
            r = by.get((g, b))
            if r is None:
                continue
            t, s = r["train_s_mean"], r["sampler_s_mean"] or 0.0
            ax.bar(x[i] + off, t, width * 0.95, yerr=r["train_s_std"] or 0.0, capsize=3,
                   color=style["color"], hatch=style["hatch"] or None, edgecolor="black",
                   linewidth=0.5, label=b if first else None)
            first = False
            if s > 0:
                ax.bar(x[i] + off, s, width * 0.95, bottom=t, color=style["color"], alpha=0.45,
                       hatch="//", edgecolor="black", linewidth=0.5)
            top = max(t + s, t + (r["train_s_std"] or 0.0))
            ax.annotate(f"{t + s:.2f}s", (x[i] + off, top), xytext=(0, 2),
                        textcoords="offset points", ha="center", fontsize=7)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi * 1.12)  # room for the labels above the bars
    ax.set_xticks(x, groups, fontsize=8)


def _reduction_bars(ax: Any, groups: Sequence[str], bars: Sequence[str],
                    by: dict[tuple[str, str], dict[str, Any]],
                    styles: dict[str, dict[str, str]]) -> bool:
    """Reduction against ``none`` per group and bar (x: with sampling); False when none."""
    shown = [b for b in bars if any(by.get((g, b), {}).get("reduction") is not None
                                    and by[(g, b)].get("sampler") != "none" for g in groups)]
    offsets, width = bar_offsets(len(shown))
    x = np.arange(len(groups))
    for off, b in zip(offsets, shown, strict=True):
        for i, g in enumerate(groups):
            r = by.get((g, b))
            if r is None or r["reduction"] is None:
                continue
            ax.bar(x[i] + off, 100 * r["reduction"], width * 0.95, color=styles[b]["color"],
                   hatch=styles[b]["hatch"] or None, edgecolor="black", linewidth=0.5)
            ax.plot(x[i] + off, 100 * r["reduction_total"], "kx", markersize=7)
            ax.annotate(f"{100 * r['reduction']:.0f}%", (x[i] + off, 100 * r["reduction"]),
                        xytext=(0, 2 if r["reduction"] >= 0 else -9),
                        textcoords="offset points", ha="center", fontsize=7)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo * 1.12 if lo < 0 else lo, hi * 1.12 if hi > 0 else hi)
    ax.set_xticks(x, groups, fontsize=8)
    ax.axhline(0, color="black", linewidth=0.8)
    if not shown:
        ax.text(0.5, 0.5, "no 'none' reference run", ha="center", va="center",
                transform=ax.transAxes)
    return bool(shown)


def _panel(ax_t: Any, ax_r: Any, mine: Sequence[dict[str, Any]], lay: Layout,
           panel: str) -> None:
    """The seconds (left) and reductions (right) of one panel's rows."""
    groups = unique(lay.group_label(r) for r in mine)
    bars = none_first(lay.bar_label(r) for r in mine)
    by = {(lay.group_label(r), lay.bar_label(r)): r for r in mine}
    styles = lay.bar_styles(sorted(mine, key=lambda r: bars.index(lay.bar_label(r))))
    _seconds_bars(ax_t, groups, bars, by, styles)
    _reduction_bars(ax_r, groups, bars, by, styles)
    suffix = f": {panel}" if panel else ""
    ax_t.set_ylabel("seconds (mean ± std over seeds)")
    ax_t.set_title(f"Training seconds; hatched: sampler seconds{suffix}", fontsize=10)
    ax_t.grid(axis="y", alpha=0.3)
    ax_t.legend(title="sampler", fontsize=7)
    ax_r.set_ylabel("time reduction vs none (%)")
    ax_r.set_title(f"Reduction of training time; x: incl. sampling{suffix}", fontsize=10)
    ax_r.grid(axis="y", alpha=0.3)


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
    for (ax_t, ax_r), panel in zip(axes, panels, strict=True):
        _panel(ax_t, ax_r, [r for r in rows if lay.panel_label(r) == panel], lay, panel)
    fig.tight_layout()
    return save_figure(fig, out, "time_reduction")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns 0 when the figure was written."""
    return script_main("time_reduction", __doc__.split("\n")[0], draw, argv)


if __name__ == "__main__":
    sys.exit(main())
