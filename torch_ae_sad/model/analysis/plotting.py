"""The drawing side of the analysis scripts: layouts, fixed styles, bars, lines, saving.

Every figure colours a sampler and a method with its fixed style
(:func:`~torch_ae_sad.model.experiment.labels.sampler_style` /
:func:`~torch_ae_sad.model.experiment.labels.method_style`), so ``random`` has one colour in
every bar chart, line plot and scatter; series that share a sampler or method (``random 0.5``
and ``random 0.25``) are told apart by :func:`series_styles`' hatches, line styles and markers.

- :class:`Layout` / :func:`layout`: which varying fields make panels, x-axis groups and bars;
- :func:`series_styles`, :func:`grouped_bars`, :func:`errorbar_line`;
- :func:`save_figure`: every figure as ``name.png`` and ``name.pdf`` (:data:`FORMATS`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from torch_ae_sad.model.analysis.data import (  # noqa: E402
    is_sampler_field,
    is_scenario_field,
    varying,
)
from torch_ae_sad.model.experiment.labels import (  # noqa: E402
    fields_label,
    method_style,
    sampler_label,
    sampler_style,
    scenario_text,
)

#: Formats every figure is saved in.
FORMATS = ("png", "pdf")
#: How series sharing a base style differ: the n-th repeat gets the n-th of each.
HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--")
LINESTYLES = ("-", "--", ":", "-.")
VARIANT_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


# ----------------------------------------------------------------------------- layouts
@dataclass
class Layout:
    """How aggregated rows are laid out in a figure.

    One panel per ``panel`` value, groups on the x axis per ``group`` value (the scenario), one
    bar per ``bar`` value (the sampler).
    """

    panel: list[str]
    group: list[str]
    bar: list[str]

    def panel_label(self, row: dict[str, Any]) -> str:
        """The panel's title (empty when there is one panel)."""
        return fields_label(row, self.panel)

    def group_label(self, row: dict[str, Any]) -> str:
        """The x-axis group label: the scenario plus its other varying fields."""
        return scenario_text(row, self.group, sep="\n")

    def bar_label(self, row: dict[str, Any]) -> str:
        """The bar's legend entry: the sampler and its varying parameters."""
        return sampler_label(row, self.bar) if "sampler" in self.bar else \
            fields_label(row, self.bar)

    def bar_style(self, row: dict[str, Any]) -> dict[str, str]:
        """The fixed style of the bar's sampler (or, for method bars, of its method)."""
        if "sampler" in self.bar or "method" not in self.bar:
            return sampler_style(str(row.get("sampler")))
        return method_style(str(row.get("method")))

    def bar_styles(self, rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, str]]:
        """``{bar label: style}`` of ``rows`` (see :func:`series_styles`)."""
        return series_styles({self.bar_label(r): self.bar_style(r) for r in rows})


def layout(rows: Sequence[dict[str, Any]], fields: Sequence[str],
           bar: Callable[[str], bool] = is_sampler_field) -> Layout:
    """Split the varying grouping ``fields`` into panels, x-axis groups and bars."""
    vary = varying(rows, fields)
    bars = [f for f in vary if bar(f)] or [f for f in fields if bar(f)][:1]
    groups = [f for f in vary if is_scenario_field(f) and f not in bars]
    if not groups:
        groups = ["dataset", "normal_classes", "anomaly_classes"]
    panels = [f for f in vary if f not in bars and f not in groups]
    return Layout(panels, groups, bars)


# ----------------------------------------------------------------------------- styles
def series_styles(bases: dict[str, dict[str, str] | None]) -> dict[str, dict[str, str]]:
    """One style per series label, from the fixed style of its sampler or method.

    ``bases`` maps each label (in drawing order) to its base style (``color``, ``marker``),
    or None for a series of no sampler or method (it gets a colour of matplotlib's cycle).
    The n-th series sharing a base gets the n-th of :data:`HATCHES`, :data:`LINESTYLES` and
    (from the second on) :data:`VARIANT_MARKERS`, so each series stays apart.

    Returns
    -------
    dict
        ``{label: {"color", "marker", "hatch", "linestyle"}}``.
    """
    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["black"])
    seen: dict[tuple[str, str], int] = {}
    styles = {}
    for i, (label, base) in enumerate(bases.items()):
        base = base or {"color": cycle[i % len(cycle)], "marker": "o"}
        key = (base["color"], base["marker"])
        n = seen[key] = seen.get(key, -1) + 1
        marker = base["marker"] if n == 0 else VARIANT_MARKERS[n % len(VARIANT_MARKERS)]
        styles[label] = {"color": base["color"], "marker": marker,
                         "hatch": HATCHES[n % len(HATCHES)],
                         "linestyle": LINESTYLES[n % len(LINESTYLES)]}
    return styles


# ----------------------------------------------------------------------------- drawing
def errorbar_line(ax: Any, xs: Sequence[float], means: Sequence[float | None],
                  stds: Sequence[float | None], **kwargs: Any) -> None:
    """``ax.errorbar`` of the points with a mean (a missing std draws no bar)."""
    pts = [(x, m, s or 0.0) for x, m, s in zip(xs, means, stds, strict=True) if m is not None]
    if pts:
        x, m, s = (list(v) for v in zip(*pts, strict=True))
        kwargs = {"marker": "o", **kwargs}
        ax.errorbar(x, m, yerr=s, capsize=3, markersize=4, **kwargs)


def bar_offsets(n: int, width: float = 0.8) -> tuple[np.ndarray, float]:
    """X offsets of ``n`` bars side by side in a group of total ``width``, and a bar's width."""
    step = width / max(n, 1)
    return (np.arange(n) - (n - 1) / 2) * step, step


def grouped_bars(ax: Any, groups: Sequence[str], bars: Sequence[str],
                 mean: dict[tuple[str, str], float], std: dict[tuple[str, str], float | None],
                 fmt: str = "{:.3f}", styles: dict[str, dict[str, str]] | None = None) -> None:
    """Draw bars ``mean[(group, bar)] ± std`` grouped by ``groups``, one style per bar.

    ``styles`` maps a bar label to its style (:func:`series_styles`; default: matplotlib's
    colour cycle). Missing ``(group, bar)`` pairs leave a gap; each bar is annotated with its
    mean.
    """
    styles = styles or series_styles(dict.fromkeys(bars))
    offsets, width = bar_offsets(len(bars))
    x = np.arange(len(groups))
    for off, b in zip(offsets, bars, strict=True):
        keys = [(i, g) for i, g in enumerate(groups) if mean.get((g, b)) is not None]
        if not keys:
            continue
        xs = [x[i] + off for i, _ in keys]
        ys = [mean[(g, b)] for _, g in keys]
        es = [std.get((g, b)) or 0.0 for _, g in keys]
        style = styles[b]
        ax.bar(xs, ys, width * 0.95, yerr=es, capsize=3, label=b, color=style["color"],
               hatch=style["hatch"] or None, edgecolor="black", linewidth=0.5)
        for xi, yi, ei in zip(xs, ys, es, strict=True):
            ax.annotate(fmt.format(yi), (xi, yi + ei), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xticks(x)
    ax.set_xticklabels(groups, fontsize=8)


def save_figure(fig: Any, out: Path, name: str,
                formats: Sequence[str] | None = None) -> list[Path]:
    """Save ``fig`` as ``out/name.<fmt>`` per format (default :data:`FORMATS`), close it."""
    out.mkdir(parents=True, exist_ok=True)
    formats = FORMATS if formats is None else formats
    paths = []
    try:
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            fig.savefig(path, dpi=120, bbox_inches="tight")
            paths.append(path)
    finally:
        plt.close(fig)
    return paths
