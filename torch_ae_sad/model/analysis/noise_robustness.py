"""AUROC and mean test scores against the std of the Gaussian noise added to the test inputs.

Run::

    python -m torch_ae_sad.model.analysis.noise_robustness RECORDS_DIR [--out DIR]

Reads the ``ok`` records (a record without ``noise_std``, written before the key existed, has
no test noise: 0.0) and, for the right panel, their ``<run_id>.scores.npz`` files (``y_test``,
``test_scores``). Runs are grouped by every spec field but the seed; a curve joins the groups
that differ in ``noise_std`` only, and curves with a single noise level are left out
(reported). Writes ``noise_robustness.png`` / ``.pdf``: left, the AUROC (mean ± std over
seeds) against ``noise_std``, one line per method (and scenario, and other varying field);
right, the mean test score of the normal (solid) and of the anomalous (dashed) test samples
(mean ± std over seeds of the per-run means; for auto-encoders the reconstruction error).
A run without a scores file is reported on stderr and left out of the right panel only.
Also writes ``tables/noise_robustness.md`` / ``.tex``: the AUROC per curve (rows) and noise
level (columns), best of a row in bold, and the mean test scores of normal and anomalous
samples.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

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
from torch_ae_sad.model.analysis.plotting import errorbar_line, save_figure, series_styles
from torch_ae_sad.model.analysis.tables import Table, bold_best, decimals, write_tables
from torch_ae_sad.model.experiment.labels import (
    fields_label,
    method_style,
    scenario_label,
    scenario_text,
)

#: Label of the score axes.
SCORE_LABEL = "mean test score (reconstruction error for AEs)"


def noise_rows(data: Records) -> tuple[list[dict[str, Any]], str, list[str]]:
    """Grouped rows with a ``line`` label, the common scenario (or ""), and the messages.

    Raises
    ------
    Skip
        When ``noise_std`` does not vary, or no configuration has two noise levels.
    """
    records = ok_records(data)
    levels = sorted({r["spec"]["noise_std"] for r in records}, key=str)
    if len(levels) < 2:
        raise Skip(f"noise_std does not vary: every ok run has noise_std={levels[0]} (no noise "
                   f"on the test inputs); run a grid over the spec key noise_std")
    rows, fields = grouped(records)
    rows = [r for r in rows if r["roc_auc_mean"] is not None]
    rest = [f for f in fields if f != "noise_std"]
    vary = varying(rows, rest)
    scen = [f for f in vary if is_scenario_field(f)]
    # a line is named by its method plus the fields that vary between runs of that method
    other = {m: [f for f in varying([r for r in rows if r["method"] == m], rest)
                 if not is_scenario_field(f) and f != "method"]
             for m in unique(r["method"] for r in rows)}
    for row in rows:
        row["line"] = fields_label(row, ["method", *other[row["method"]]]) + \
            (f" | {scenario_text(row, scen)}" if scen else "")
    problems = []
    keep = []
    for line in unique(r["line"] for r in rows):
        mine = [r for r in rows if r["line"] == line]
        if len({r["noise_std"] for r in mine}) < 2:
            problems.append(f"{line}: one noise level only ({mine[0]['noise_std']:g}); left out")
        else:
            keep += mine
    if not keep:
        raise Skip("no configuration was run at two or more noise_std values (" +
                   "; ".join(problems[:3]) + ")")
    for message in problems:
        print(f"noise_robustness: {message}", file=sys.stderr)
    add_score_stats(keep, fields, records, data.folder, "noise_robustness")
    common = "" if scen else scenario_label(keep[0])
    return keep, common, problems


def build_tables(rows: Sequence[dict[str, Any]]) -> list[Table]:
    """The AUROC table and the mean-test-score table of the noise rows."""
    levels = sorted({r["noise_std"] for r in rows})
    columns = [f"noise {v:g}" for v in levels]
    col = {v: c for v, c in zip(levels, columns, strict=True)}
    lines = unique(r["line"] for r in rows)
    auc = {(r["line"], col[r["noise_std"]]): (r["roc_auc_mean"], r["roc_auc_std"]) for r in rows}
    auroc = Table("noise_robustness", "AUROC against the std of the Gaussian noise added to "
                  "the test inputs", "configuration", lines, columns, auc, 3,
                  bold_best(auc, lines, columns, 3))
    score_rows, cells, row_digits = [], {}, {}
    for line in lines:
        mine = [r for r in rows if r["line"] == line]
        for kind in ("normal", "anomalous"):
            name = f"{line}: {kind}"
            for r in mine:
                if r[f"score_{kind}_mean"] is not None:
                    cells[(name, col[r["noise_std"]])] = (r[f"score_{kind}_mean"],
                                                         r[f"score_{kind}_std"])
            if any(k[0] == name for k in cells):
                score_rows.append(name)
        digits = decimals([r[f"score_{k}_mean"] for r in mine for k in ("normal", "anomalous")])
        row_digits |= {f"{line}: {k}": digits for k in ("normal", "anomalous")}
    tables: list[Table] = [auroc]
    if cells:
        tables.append(Table(
            "noise_robustness_scores", "Mean test score of the normal and of the anomalous "
            "test samples against the test noise std (reconstruction error for AEs)",
            "configuration: test samples", score_rows, columns, cells, 3, set(),
            "mean ± std over seeds of the per-run means", row_digits=row_digits))
    return tables


def _curves(ax_auc: Any, ax_sc: Any, rows: Sequence[dict[str, Any]],
            styles: dict[str, dict[str, str]]) -> bool:
    """AUROC (left) and mean test scores (right) against the noise; whether any scores."""
    has_scores = False
    for line, style in styles.items():
        mine = sorted((r for r in rows if r["line"] == line), key=lambda r: r["noise_std"])
        xs = [r["noise_std"] for r in mine]
        errorbar_line(ax_auc, xs, [r["roc_auc_mean"] for r in mine],
                      [r["roc_auc_std"] for r in mine], color=style["color"],
                      marker=style["marker"], linestyle=style["linestyle"], label=line)
        for kind, dash in (("normal", "-"), ("anomalous", "--")):
            if any(r[f"score_{kind}_mean"] is not None for r in mine):
                has_scores = True
                errorbar_line(ax_sc, xs, [r[f"score_{kind}_mean"] for r in mine],
                              [r[f"score_{kind}_std"] for r in mine], color=style["color"],
                              marker=style["marker"], linestyle=dash)
    return has_scores


def _score_legend(ax_sc: Any, rows: Sequence[dict[str, Any]],
                  styles: dict[str, dict[str, str]], below: dict[str, Any]) -> None:
    """Log scale for scores spanning over two decades; the legend of the score panel."""
    means = [r[f"score_{k}_mean"] for r in rows for k in ("normal", "anomalous")
             if r[f"score_{k}_mean"] is not None]
    if min(means) > 0 and max(means) / min(means) > 100:
        ax_sc.set_yscale("log")
    handles = [Line2D([], [], color="black", linestyle="-", label="normal"),
               Line2D([], [], color="black", linestyle="--", label="anomalous")]
    handles += [Line2D([], [], color=style["color"], marker=style["marker"], label=line)
                for line, style in styles.items()]
    ax_sc.legend(handles=handles, ncols=2, **below)


def draw(data: Records, out: Path) -> list[Path]:
    """Draw AUROC and mean test scores against ``noise_std``; return the files written."""
    rows, common, _ = noise_rows(data)
    first = {r["line"]: r for r in reversed(rows)}
    styles = series_styles({line: method_style(first[line]["method"])
                            for line in unique(r["line"] for r in rows)})
    fig, (ax_auc, ax_sc) = plt.subplots(1, 2, figsize=(12, 4.6))
    has_scores = _curves(ax_auc, ax_sc, rows, styles)
    seeds = "/".join(map(str, sorted({len(r["seeds"]) for r in rows})))
    ax_auc.set_xlabel("noise_std (Gaussian noise added to the test inputs)")
    ax_auc.set_ylabel(f"AUROC (mean ± std over {seeds} seed(s))")
    ax_auc.set_title("AUROC against test noise" + (f": {common}" if common else ""), fontsize=10)
    ax_auc.grid(alpha=0.3)
    below = {"fontsize": 7, "loc": "upper center", "bbox_to_anchor": (0.5, -0.16)}
    ax_auc.legend(**below)
    ax_sc.set_xlabel("noise_std (Gaussian noise added to the test inputs)")
    ax_sc.set_ylabel(SCORE_LABEL)
    ax_sc.set_title("mean test score of normal (solid) and anomalous (dashed) samples",
                    fontsize=10)
    ax_sc.grid(alpha=0.3)
    if has_scores:
        _score_legend(ax_sc, rows, styles, below)
    else:
        ax_sc.text(0.5, 0.5, "no scores files\n(<run_id>.scores.npz) for these runs",
                   ha="center", va="center", transform=ax_sc.transAxes)
    fig.tight_layout()
    return [*save_figure(fig, out, "noise_robustness"),
            *write_tables(out, "noise_robustness", build_tables(rows))]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns 0 when the figure and tables were written."""
    return script_main("noise_robustness", __doc__.split("\n")[0], draw, argv)


if __name__ == "__main__":
    sys.exit(main())
