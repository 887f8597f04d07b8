r"""Every aggregated table as Markdown and LaTeX (booktabs): mean ± std over seeds.

Run::

    python -m torch_ae_sad.model.analysis.tables RECORDS_DIR [--out DIR]

Writes ``tables/<name>.md`` and ``tables/<name>.tex`` for each table, and ``tables/tables.md``
with all of them. One row per scenario (and per value of the other varying fields, e.g. the
method), one column per sampler; the best cell of a row (by its mean as shown; ties all) is
bold. Tables: ``roc_auc``, ``aupr``, ``f1`` (higher is better), ``train_s`` (training
seconds, lower is better), ``time_reduction`` (percent of training seconds saved against
``none``, higher is better) and ``normals_kept``. The LaTeX needs ``\usepackage{booktabs}``.

In the ``roc_auc``, ``aupr`` and ``f1`` tables a sampler's cell is marked with a dagger (†) when
it differs significantly from the ``none`` cell of its row: a two-sided Wilcoxon signed-rank
test of the runs paired by seed (same scenario and everything else), Holm-adjusted over the
samplers of the row, p < :data:`ALPHA` (:func:`mark_against_none`; the tests are those of
:mod:`~torch_ae_sad.model.analysis.rank_tests`). A row is tested only when each sampler has at
least :data:`~torch_ae_sad.model.analysis.rank_tests.MIN_PAIRS` seeds paired with ``none`` (with
fewer, no two-sided test can reach p < 0.05); a table with a tested row says so in a footnote
line under it, a table without one is written as before.

:class:`Table` (with digits per row or column), :func:`to_markdown`, :func:`to_latex`,
:func:`write_tables`, :func:`bold_best` and :func:`decimals` are shared with the study scripts
(``toll_beta``, ``noise_robustness``, ``grid_ranking``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch_ae_sad.model.analysis.cli import script_main
from torch_ae_sad.model.analysis.data import Records, Skip, none_first, unique
from torch_ae_sad.model.analysis.plotting import Layout, layout
from torch_ae_sad.model.analysis.rank_tests import MIN_PAIRS, paired_tests
from torch_ae_sad.model.analysis.time_reduction import reductions
from torch_ae_sad.model.results import QUANTITIES, field_key, flatten_spec

#: name -> (caption, mean column, std column, digits, best: "max" / "min" / None).
TABLES: dict[str, tuple[str, str, str | None, int, str | None]] = {
    "roc_auc": ("AUROC", "roc_auc_mean", "roc_auc_std", 3, "max"),
    "aupr": ("AUPR (average precision)", "aupr_mean", "aupr_std", 3, "max"),
    "f1": ("F1 at the recorded threshold", "f1_mean", "f1_std", 3, "max"),
    "train_s": ("Training seconds", "train_s_mean", "train_s_std", 2, "min"),
    "time_reduction": ("Training time saved against no sampling (%)", "reduction_pct", None, 1,
                       "max"),
    "normals_kept": ("Normal training samples kept by the sampler", "normals_kept_mean",
                     "normals_kept_std", 0, None),
}
#: Tables whose cells are tested against ``none`` (their per-run quantity in ``QUANTITIES``).
TESTED = ("roc_auc", "aupr", "f1")
#: Significance level of the marks.
ALPHA = 0.05
#: The mark of a cell significantly different from ``none`` (Markdown, LaTeX).
MARK = "†"
LATEX_MARK = r"$^{\dagger}$"


@dataclass
class Table:
    """A pivot table: ``cells[(row, column)] = (mean, std)``; ``bold`` holds the best cells.

    A cell is shown with the digits of its row in ``row_digits``, else of its column in
    ``column_digits``, else ``digits``. Cells in ``marked`` get :data:`MARK`; ``footnote`` is
    a line written under the table (none when empty).
    """

    name: str
    caption: str
    row_header: str
    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], tuple[float, float | None]]
    digits: int
    bold: set[tuple[str, str]]
    note: str = "mean ± std over seeds"
    row_digits: dict[str, int] = field(default_factory=dict)
    column_digits: dict[str, int] = field(default_factory=dict)
    marked: set[tuple[str, str]] = field(default_factory=set)
    footnote: str = ""

    def text(self, key: tuple[str, str], pm: str = " ± ") -> str:
        """The cell as ``mean ± std`` with the digits of its row or column (``-`` when empty)."""
        if key not in self.cells:
            return "-"
        digits = self.row_digits.get(key[0], self.column_digits.get(key[1], self.digits))
        mean, std = self.cells[key]
        text = f"{mean:.{digits}f}"
        return text + (f"{pm}{std:.{digits}f}" if std is not None else "")


def decimals(values: Sequence[float | None], significant: int = 3) -> int:
    """Decimals that show the largest ``|value|`` with ``significant`` digits (0 to 8)."""
    finite = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    if not finite:
        return significant
    return max(0, min(8, significant - 1 - math.floor(math.log10(max(finite)))))


def bold_best(cells: dict[tuple[str, str], tuple[float, float | None]], rows: Sequence[str],
              columns: Sequence[str], digits: int, best: str = "max") -> set[tuple[str, str]]:
    """The best cell(s) of each row, compared as shown (rounded to ``digits``); ties all.

    ``best`` is ``"max"`` (the highest is best) or ``"min"`` (the lowest).
    """
    pick = max if best == "max" else min
    bold: set[tuple[str, str]] = set()
    for rn in rows:
        shown = {c: round(cells[(rn, c)][0], digits) for c in columns if (rn, c) in cells}
        if len(shown) > 1:
            target = pick(shown.values())
            bold |= {(rn, c) for c, v in shown.items() if v == target}
    return bold


def build_tables(records: Sequence[dict[str, Any]]) -> list[Table]:
    """The tables of :data:`TABLES` for ``records`` (tables without any value are left out)."""
    rows, fields = reductions(records)
    rows = [r for r in rows if r["n_ok"]]
    if not rows:
        raise Skip("no ok run to tabulate")
    for r in rows:
        r["reduction_pct"] = None if r.get("reduction") is None or r.get("sampler") == "none" \
            else 100 * r["reduction"]
    lay = layout(rows, fields)
    runs = _runs_by_row(records, fields)
    tables = []
    for name, (caption, mean_col, std_col, digits, best) in TABLES.items():
        table = _pivot(name, caption, rows, lay, mean_col, std_col, digits, best)
        if name in TESTED:
            mark_against_none(table, *_per_seed(rows, lay, fields, runs, name))
        tables.append(table)
    return [t for t in tables if t.cells]


def _runs_by_row(records: Sequence[dict[str, Any]],
                 fields: Sequence[str]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """The ``ok`` records by the values of the grouping ``fields`` (a summary row's key)."""
    index: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for rec in records:
        if rec.get("status") == "ok":
            flat = flatten_spec(rec["spec"])
            index.setdefault(tuple(field_key(flat.get(f)) for f in fields), []).append(rec)
    return index


def _per_seed(rows: Sequence[dict[str, Any]], lay: Layout, fields: Sequence[str],
              runs: dict[tuple[str, ...], list[dict[str, Any]]], quantity: str
              ) -> tuple[dict[tuple[str, str], dict[Any, float]], dict[str, str]]:
    """Each cell's ``{seed: value}`` of ``quantity``, and the ``none`` column of each row."""
    get = QUANTITIES[quantity]
    values: dict[tuple[str, str], dict[Any, float]] = {}
    refs: dict[str, str] = {}
    for r in rows:
        key = (_row_label(lay, r), lay.bar_label(r))
        by_seed: dict[Any, list[float]] = {}
        for rec in runs.get(tuple(field_key(r.get(f)) for f in fields), []):
            value = get(rec)
            if value is not None and math.isfinite(value):
                by_seed.setdefault(rec["spec"].get("seed"), []).append(float(value))
        values[key] = {seed: sum(v) / len(v) for seed, v in by_seed.items()}
        if r.get("sampler") == "none":
            refs[key[0]] = key[1]
    return values, refs


def mark_against_none(table: Table, values: dict[tuple[str, str], dict[Any, float]],
                      refs: dict[str, str], alpha: float = ALPHA) -> None:
    """Mark the cells that differ significantly from the ``none`` cell of their row.

    Each sampler of a row with at least :data:`MIN_PAIRS` seeds in common with the row's
    ``none`` cell (``refs[row]``) is tested by a two-sided Wilcoxon signed-rank test of the
    values paired by seed (``values[(row, column)] = {seed: value}``), Holm-adjusted over the
    samplers tested in that row; those with p < ``alpha`` go to ``table.marked``. When some row
    was tested, ``table.footnote`` explains the mark.
    """
    tested = False
    for row in table.rows:
        ref = refs.get(row)
        base = values.get((row, ref), {}) if ref is not None else {}
        samples = []
        for col in table.columns:
            mine = values.get((row, col), {})
            seeds = sorted(set(mine) & set(base), key=str)
            if col != ref and len(seeds) >= MIN_PAIRS:
                samples.append((col, ref, [mine[s] for s in seeds], [base[s] for s in seeds]))
        tested = tested or bool(samples)
        table.marked |= {(row, t.first) for t in paired_tests(samples, alpha) if t.significant}
    if tested:
        table.footnote = (f"{MARK} significantly different from none in the same row: "
                          "two-sided Wilcoxon signed-rank test of the runs paired by seed, "
                          f"Holm-adjusted over the samplers of the row, p < {alpha:g}; "
                          f"samplers with fewer than {MIN_PAIRS} seeds paired with none are "
                          "not tested.")


def _row_label(lay: Layout, row: dict[str, Any]) -> str:
    other = lay.panel_label(row)
    return lay.group_label(row).replace("\n", ", ") + (f"; {other}" if other else "")


def _pivot(name: str, caption: str, rows: list[dict[str, Any]], lay: Layout, mean_col: str,
           std_col: str | None, digits: int, best: str | None) -> Table:
    cells = {}
    for r in rows:
        if r.get(mean_col) is not None:
            cells[(_row_label(lay, r), lay.bar_label(r))] = (
                r[mean_col], r.get(std_col) if std_col else None)
    row_names = unique(k[0] for k in cells)
    columns = none_first(k[1] for k in cells)
    bold = bold_best(cells, row_names, columns, digits, best) if best else set()
    note = "mean ± std over seeds" if std_col else "from the mean seconds over seeds"
    return Table(name, caption, "scenario", row_names, columns, cells, digits, bold, note)


def to_markdown(table: Table) -> str:
    """The table as GitHub Markdown, best cells in ``**bold**``."""
    lines = [f"**{table.caption}** ({table.note})", "",
             "| " + " | ".join([table.row_header, *table.columns]) + " |",
             "| " + " | ".join(["---"] + ["---:"] * len(table.columns)) + " |"]
    for rn in table.rows:
        cells = []
        for c in table.columns:
            text = table.text((rn, c))
            text = f"**{text}**" if (rn, c) in table.bold else text
            cells.append(text + MARK if (rn, c) in table.marked else text)
        lines.append("| " + " | ".join([rn, *cells]) + " |")
    if table.footnote:
        lines += ["", table.footnote]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(table: Table) -> str:
    r"""The table as a LaTeX ``table`` with booktabs rules, best cells in ``\textbf``."""
    spec = "l" + "r" * len(table.columns)
    note = latex_escape(table.note).replace("±", r"$\pm$")
    lines = [r"\begin{table}[htbp]", r"\centering", r"\small",
             rf"\caption{{{latex_escape(table.caption)} ({note})}}",
             rf"\label{{tab:{table.name.replace('_', '-')}}}",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(latex_escape(h) for h in [table.row_header, *table.columns]) + r" \\",
             r"\midrule"]
    for rn in table.rows:
        cells = []
        for c in table.columns:
            text = table.text((rn, c), pm=r" $\pm$ ")
            text = rf"\textbf{{{text}}}" if (rn, c) in table.bold else text
            cells.append(text + LATEX_MARK if (rn, c) in table.marked else text)
        lines.append(" & ".join([latex_escape(rn), *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.footnote:
        note = latex_escape(table.footnote).replace(MARK, LATEX_MARK).replace("±", r"$\pm$")
        lines.append(rf"\par\smallskip{{\footnotesize {note}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_tables(out: Path, name: str, tables: Sequence[Table]) -> list[Path]:
    """Write ``tables`` to ``out/tables/<name>.md`` and ``.tex`` (one after the other)."""
    folder = out / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, render in ((".md", to_markdown), (".tex", to_latex)):
        path = folder / f"{name}{suffix}"
        path.write_text("\n".join(render(t) for t in tables))
        paths.append(path)
    return paths


def draw(data: Records, out: Path) -> list[Path]:
    """Write every table as Markdown and LaTeX; return the files written."""
    tables = build_tables(data.records)
    folder = out / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [path for table in tables for path in write_tables(out, table.name, [table])]
    combined = folder / "tables.md"
    combined.write_text("\n".join(to_markdown(t) for t in tables))
    return [*paths, combined]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns 0 when the tables were written."""
    return script_main("tables", __doc__.split("\n")[0], draw, argv)


if __name__ == "__main__":
    sys.exit(main())
