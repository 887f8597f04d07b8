"""Rank the configurations of a hyper-parameter grid by AUROC and by the anomaly-normal gap.

Run::

    python -m torch_ae_sad.model.analysis.grid_ranking RECORDS_DIR [--out DIR] [--top N]
        [--gap raw|standardized]

The "4-vs-8 report" (``autoencoder_grid_trainer``: an auto-encoder grid tuned with the digit
8 normal and tested with the digit 4 normal, one ranking per scenario), for any grid. Reads
the ``ok`` records and their ``<run_id>.scores.npz`` files (``y_test``, ``test_scores``). Per
scenario, runs are grouped by configuration (every spec field but the seed: the method and
every varying method / sampler parameter) and, over seeds, get the AUROC mean ± std, the gap
(mean test score of the anomalies − mean test score of the normals; for auto-encoders the
reconstruction error) and the standardized gap (the gap over the std of the normal test
scores). Configurations are ranked by AUROC and by the gap (``--gap standardized``: by the
standardized gap); rank 1 is the best, ties share the best rank. A run without a scores file
is reported and left out of the gap; a configuration without any gets none and no gap rank.
Scenarios with fewer than two configurations are reported and left out.

Writes ``tables/grid_ranking.md`` / ``.tex`` (configuration, AUROC, gap, standardized gap,
rank by AUROC, rank by gap; rows by AUROC rank, the best of each column in bold) and
``grid_ranking.png`` / ``.pdf``: per scenario, two horizontal bar charts of the top ``N``
(default 15) configurations by AUROC and by the gap, labelled by the configuration's varying
parameters. Prints the top 5 by each to stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from torch_ae_sad.model.analysis.cli import script_main
from torch_ae_sad.model.analysis.data import (
    Records,
    Skip,
    add_score_stats,
    grouped,
    is_scenario_field,
    ok_records,
    unique,
    varying,
)
from torch_ae_sad.model.analysis.plotting import save_figure
from torch_ae_sad.model.analysis.tables import Table, decimals, write_tables
from torch_ae_sad.model.experiment.labels import fields_label, scenario_text

#: ``--gap`` option -> (row key, short name, axis label).
GAPS = {"raw": ("gap", "gap", "gap: mean test score anomalies − normals"),
        "standardized": ("std_gap", "std gap", "standardized gap: (anomalies − normals) / "
                                               "std of the normal test scores")}


def ranks(values: Sequence[float | None]) -> list[int | None]:
    """Rank 1 for the highest value, ties share the best rank; None for missing values."""
    present = [v for v in values if v is not None]
    return [None if v is None else 1 + sum(o > v for o in present) for v in values]


def ranking(data: Records, gap: str = "raw") -> dict[str, list[dict[str, Any]]]:
    """``{scenario: configuration rows}`` ranked by AUROC (``rank_auc``) and gap (``rank_gap``).

    Each row holds the :func:`~torch_ae_sad.model.results.summarize` fields plus ``config``
    (its label), the score statistics of
    :func:`~torch_ae_sad.model.analysis.data.add_score_stats` and the ranks;
    rows are sorted by AUROC rank.

    Raises
    ------
    Skip
        When no scenario has two configurations with an AUROC.
    """
    records = ok_records(data)
    rows, fields = grouped(records)
    rows = [r for r in rows if r["roc_auc_mean"] is not None]
    if not rows:
        raise Skip("no ok run has metrics.roc_auc")
    scen = varying(rows, [f for f in fields if is_scenario_field(f)])
    for row in rows:
        row["scenario_text"] = scenario_text(row, scen)
    key = GAPS[gap][0]
    result, small = {}, []
    for scenario in unique(r["scenario_text"] for r in rows):
        mine = [r for r in rows if r["scenario_text"] == scenario]
        if len(mine) < 2:
            small.append(f"{scenario}: {len(mine)} configuration")
            continue
        conf = varying(mine, [f for f in fields if not is_scenario_field(f)])
        for row in mine:
            row["config"] = fields_label(row, conf)
        add_score_stats(mine, fields, records, data.folder, "grid_ranking")
        for row, r_auc, r_gap in zip(mine, ranks([r["roc_auc_mean"] for r in mine]),
                                     ranks([r[f"{key}_mean"] for r in mine]), strict=True):
            row["rank_auc"], row["rank_gap"] = r_auc, r_gap
        result[scenario] = sorted(mine, key=lambda r: (r["rank_auc"], r["config"]))
    if not result:
        raise Skip("fewer than 2 configurations in every scenario (" + "; ".join(small[:3]) +
                   "): a ranking needs a grid of configurations")
    for message in small:
        print(f"grid_ranking: {message}; left out (nothing to rank)", file=sys.stderr)
    return result


def build_table(ranked: dict[str, list[dict[str, Any]]], gap: str = "raw") -> Table:
    """One table of every ranked configuration (scenario-prefixed when there are several)."""
    gap_name = GAPS[gap][1]
    columns = ["AUROC", "gap", "std gap", "rank AUROC", f"rank {gap_name}"]
    sources = [("roc_auc", "AUROC"), ("gap", "gap"), ("std_gap", "std gap")]
    cells: dict[tuple[str, str], tuple[float, float | None]] = {}
    bold: set[tuple[str, str]] = set()
    names = []
    every = [r for rows in ranked.values() for r in rows]
    digits = {"AUROC": 3, "gap": decimals([r["gap_mean"] for r in every]), "std gap": 2,
              "rank AUROC": 0, f"rank {gap_name}": 0}
    for scenario, rows in ranked.items():
        mine = []
        for r in rows:
            name = f"{scenario}: {r['config']}" if len(ranked) > 1 else r["config"]
            names.append(name)
            mine.append(name)
            for src, column in sources:
                if r[f"{src}_mean"] is not None:
                    cells[(name, column)] = (r[f"{src}_mean"], r[f"{src}_std"])
            for src, column in (("rank_auc", "rank AUROC"), ("rank_gap", f"rank {gap_name}")):
                if r[src] is not None:
                    cells[(name, column)] = (float(r[src]), None)
                    if r[src] == 1:
                        bold.add((name, column))
        for column in ("AUROC", "gap", "std gap"):
            shown = {n: round(cells[(n, column)][0], digits[column]) for n in mine
                     if (n, column) in cells}
            if len(shown) > 1:  # compared as shown; ties all bold
                bold |= {(n, column) for n, v in shown.items() if v == max(shown.values())}
    caption = ("Grid ranking by AUROC and by the anomaly-normal gap of the mean test scores "
               "(gap: anomalies - normals; std gap: over the std of the normal test scores)")
    return Table("grid_ranking", caption, "configuration", names, columns, cells, 3,
                 bold, "mean ± std over seeds", column_digits=digits)


def _print_top(ranked: dict[str, list[dict[str, Any]]], gap: str, n: int = 5) -> None:
    key, name, _ = GAPS[gap]
    for scenario, rows in ranked.items():
        print(f"grid_ranking: {scenario} ({len(rows)} configurations)")
        for title, col, rank in (("AUROC", "roc_auc", "rank_auc"), (name, key, "rank_gap")):
            top = sorted((r for r in rows if r[rank] is not None), key=lambda r: r[rank])[:n]
            print(f"  top {len(top)} by {title}:" if top else f"  no {title} (no scores files)")
            d = 3 if col == "roc_auc" else decimals([r[f"{col}_mean"] for r in rows])
            for r in top:
                std = r[f"{col}_std"]
                print(f"    {r[rank]:>3}. {r['config']}  {r[f'{col}_mean']:.{d}f}"
                      + (f" ± {std:.{d}f}" if std is not None else ""))


def _barh(ax: Any, rows: Sequence[dict[str, Any]], col: str, colour: str) -> None:
    means = [r[f"{col}_mean"] for r in rows]
    stds = [r[f"{col}_std"] or 0.0 for r in rows]
    ys = list(range(len(rows)))
    ax.barh(ys, means, xerr=stds if any(stds) else None, capsize=2, color=colour,
            edgecolor="black", linewidth=0.5)
    ax.set_yticks(ys)
    ax.set_yticklabels([r["config"] for r in rows], fontsize=7)
    ax.invert_yaxis()
    for y, m, s in zip(ys, means, stds, strict=True):
        ax.annotate(f"{m:.3g}", (m + s if m >= 0 else m - s, y), xytext=(3 if m >= 0 else -3, 0),
                    textcoords="offset points", va="center", ha="left" if m >= 0 else "right",
                    fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    ax.margins(x=0.15)


def draw(data: Records, out: Path, top: int = 15, gap: str = "raw") -> list[Path]:
    """Write the ranking table and the top-``top`` bar charts; return the files written."""
    if top < 1:
        raise Skip(f"--top must be at least 1, found {top}")
    ranked = ranking(data, gap)
    key, name, label = GAPS[gap]
    _print_top(ranked, gap)
    n_max = max(min(top, len(rows)) for rows in ranked.values())
    height = max(2.6, 0.26 * n_max + 1.4)
    fig, axes = plt.subplots(len(ranked), 2, figsize=(13, height * len(ranked)), squeeze=False)
    for (ax_auc, ax_gap), (scenario, rows) in zip(axes, ranked.items(), strict=True):
        best = rows[:top]
        _barh(ax_auc, best, "roc_auc", "tab:blue")
        lo = min(r["roc_auc_mean"] - (r["roc_auc_std"] or 0.0) for r in best)
        ax_auc.set_xlim(max(0.0, lo - 0.05), 1.02)
        ax_auc.set_xlabel("AUROC (mean ± std over seeds)")
        ax_auc.set_title(f"{scenario}: top {len(best)} of {len(rows)} configurations by AUROC",
                         fontsize=9)
        by_gap = sorted((r for r in rows if r["rank_gap"] is not None),
                        key=lambda r: (r["rank_gap"], r["config"]))[:top]
        if by_gap:
            _barh(ax_gap, by_gap, key, "tab:orange")
            ax_gap.axvline(0.0, color="black", linewidth=0.8)
            ax_gap.set_xlabel(f"{label}\n(mean ± std over seeds; reconstruction error for AEs)",
                              fontsize=8)
            ax_gap.set_title(f"{scenario}: top {len(by_gap)} of {len(rows)} configurations by "
                             f"{name}", fontsize=9)
        else:
            ax_gap.text(0.5, 0.5, f"no {name}: no scores files (<run_id>.scores.npz)",
                        ha="center", va="center", transform=ax_gap.transAxes)
            ax_gap.set_axis_off()
    fig.tight_layout()
    return [*save_figure(fig, out, "grid_ranking"),
            *write_tables(out, "grid_ranking", [build_table(ranked, gap)])]


def _args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top", type=int, default=15,
                        help="configurations per bar chart (default: 15)")
    parser.add_argument("--gap", choices=sorted(GAPS), default="raw",
                        help="rank by the raw or the standardized gap (default: raw)")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns 0 when the table and figure were written."""
    return script_main("grid_ranking", __doc__.split("\n")[0], draw, argv, _args)


if __name__ == "__main__":
    sys.exit(main())
