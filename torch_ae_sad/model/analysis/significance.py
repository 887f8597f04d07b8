r"""Significance of the differences between samplers or methods: Friedman, Nemenyi, Wilcoxon.

Run::

    python -m torch_ae_sad.model.analysis.significance RECORDS_DIR [--out DIR]
        [--compare sampler|method] [--metric roc_auc|aupr|f1] [--alpha 0.05]
        [--blocks seed|scenario] [--control LABEL]

The ``ok`` runs of the folder are laid out as blocks x treatments, one value of the metric per
cell (higher is better). A *treatment* is a sampler with its parameters (``--compare sampler``,
labelled as in every figure: ``random 0.5``, ``enn pca50``) or a method with those of its
parameters that vary between its runs (``--compare method``). A *block* is everything else a
run's spec holds:

- ``--blocks seed`` (the default for samplers): one block per scenario and seed (and per value
  of any other field that varies, e.g. the method or a training parameter), so the treatments
  of a block share the split, the labelled anomalies and the seed: everything else equal. The
  question is "on these scenarios, does the sampler change the metric of the same run?", and
  the seeds are its repetitions.
- ``--blocks scenario`` (the default for methods): one block per scenario, the metric of a
  cell averaged over its seeds, after Demšar (2006, JMLR 7): "method A beats method B" is a
  claim about data sets, and the seeds of one data set are not independent data sets, so
  counting them as blocks would overstate the evidence. With one scenario only, use
  ``--blocks seed`` and read the result as a statement about that scenario.

A block in which a treatment has no ``ok`` run is dropped and named (on stderr, in the table's
note and in the JSON). Fewer than 2 treatments or fewer than :data:`MIN_BLOCKS` complete
blocks draw nothing (exit code 1, with the reason).

Tests (:mod:`~torch_ae_sad.model.analysis.rank_tests`: scipy, statsmodels, scikit-posthocs):
Friedman's test over all treatments (three or more), Nemenyi's post-hoc test of every pair,
and pairwise two-sided Wilcoxon signed-rank tests over the blocks with Holm's correction over
the pairs (every pair, or each treatment against ``--control``). Writes:

- ``significance_<compare>.png`` / ``.pdf``: the critical-difference diagram: treatments at
  their average rank (1 = best), those Nemenyi's test cannot tell apart (p >= alpha) joined by
  a bar, the critical difference (CD) drawn above; each treatment in its fixed colour;
- ``tables/significance_<compare>.md`` / ``.tex`` (booktabs): the Wilcoxon tests, one row per
  pair, significant ones (Holm-adjusted p < alpha) in bold;
- ``significance_<compare>.json``: the blocks, the values, ranks, every p-value.

For a metric other than ``roc_auc`` the names end in ``_<metric>``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import scikit_posthocs

from torch_ae_sad.model.analysis.cli import script_main
from torch_ae_sad.model.analysis.data import (
    Records,
    Skip,
    grouped,
    is_sampler_field,
    is_scenario_field,
    none_first,
    varying,
)
from torch_ae_sad.model.analysis.plotting import save_figure
from torch_ae_sad.model.analysis.rank_tests import (
    PairTest,
    all_pairs,
    average_ranks,
    critical_difference,
    friedman,
    nemenyi,
    paired_tests,
)
from torch_ae_sad.model.analysis.tables import Table, to_latex, to_markdown
from torch_ae_sad.model.experiment.labels import (
    fields_label,
    method_label,
    method_style,
    sampler_label,
    sampler_style,
    scenario_text,
)
from torch_ae_sad.model.results import QUANTITIES, field_key, filter_records, flatten_spec

#: Metric option -> its name in tables and figures (every one: higher is better).
METRICS = {"roc_auc": "AUROC", "aupr": "AUPR", "f1": "F1"}
#: What is compared -> whether a flattened spec field belongs to the treatment.
TREATMENT_FIELDS: dict[str, Callable[[str], bool]] = {
    "sampler": is_sampler_field,
    "method": lambda f: f == "method" or f.startswith("method_params."),
}
#: Block designs: one block per scenario and seed, or per scenario with the seeds averaged.
BLOCKS = {"seed": "scenario x seed", "scenario": "scenario, seeds averaged"}
#: The default block design of each comparison (see the module docstring for why).
DEFAULT_BLOCKS = {"sampler": "seed", "method": "scenario"}
#: Fewest complete blocks drawn (with fewer, no rank test says anything).
MIN_BLOCKS = 3


@dataclass
class Design:
    """Blocks x treatments: one value of the metric per cell, complete blocks only.

    Attributes
    ----------
    compare, metric, blocks_by : str
        What is compared, the metric, the block design (a key of :data:`BLOCKS`).
    treatments : list of str
        Treatment labels, in column order.
    colors : dict
        Treatment -> its fixed colour (``sampler_style`` / ``method_style``).
    blocks : list of str
        Labels of the complete blocks, in row order.
    values : np.ndarray
        ``(n_blocks, n_treatments)`` values (the mean over the runs of a cell).
    runs : np.ndarray
        ``(n_blocks, n_treatments)`` number of runs averaged in each cell.
    block_fields : list of str
        The fields (besides the seed) whose values tell the blocks apart.
    dropped : dict
        Label of each dropped block -> the treatments it lacks.
    """

    compare: str
    metric: str
    blocks_by: str
    treatments: list[str]
    colors: dict[str, str]
    blocks: list[str]
    values: np.ndarray
    runs: np.ndarray
    block_fields: list[str] = field(default_factory=list)
    dropped: dict[str, list[str]] = field(default_factory=dict)

    def column(self, treatment: str) -> np.ndarray:
        """The values of one treatment over the blocks."""
        return self.values[:, self.treatments.index(treatment)]


@dataclass
class Result:
    """The tests of a :class:`Design`: ranks, Friedman, Nemenyi and the Wilcoxon pairs."""

    design: Design
    alpha: float
    ranks: np.ndarray
    friedman: tuple[float, float] | None
    nemenyi: Any
    cd: float
    pairs: list[PairTest]
    control: str | None = None


# ----------------------------------------------------------------------------- the design
def _value(record: dict[str, Any], metric: str) -> float | None:
    value = QUANTITIES[metric](record)
    return float(value) if value is not None and math.isfinite(value) else None


def _treatment_labels(flats: Sequence[dict[str, Any]], compare: str,
                      fields: Sequence[str]) -> list[str]:
    """The label of each run's treatment: its sampler / method and the parameters that vary."""
    if compare == "sampler":
        vary = varying(flats, fields)
        return [sampler_label(f, vary) for f in flats]
    labels = []
    for flat in flats:
        mine = [g for g in flats if g.get("method") == flat.get("method")]
        labels.append(method_label(flat, varying(mine, [f for f in fields if f != "method"])))
    return labels


def _block_labels(flats: Sequence[dict[str, Any]], fields: Sequence[str],
                  blocks_by: str) -> list[str]:
    """The label of each run's block: the scenario, other varying fields (and the seed)."""
    vary = varying(flats, fields)
    scen = [f for f in vary if is_scenario_field(f)]
    rest = [f for f in vary if not is_scenario_field(f)]
    labels = []
    for flat in flats:
        label = scenario_text(flat, scen)
        label += f"; {fields_label(flat, rest)}" if rest else ""
        labels.append(label + (f", seed {flat.get('seed')}" if blocks_by == "seed" else ""))
    return labels


def _cells(records: Sequence[dict[str, Any]], compare: str, metric: str, blocks_by: str
           ) -> tuple[dict[str, dict[str, list[float]]], list[str], dict[str, str], list[str]]:
    """Block -> treatment -> values, the treatments, their colours and the block fields."""
    ok = [r for r in records if r.get("status") == "ok" and _value(r, metric) is not None]
    if not ok:
        what = "average_precision" if metric == "aupr" else metric
        raise Skip(f"no ok run has metrics.{what}")
    _, fields = grouped(ok)
    treat = [f for f in fields if TREATMENT_FIELDS[compare](f)]
    rest = [f for f in fields if f not in treat]
    flats = [flatten_spec(r["spec"]) for r in ok]
    treatments = _treatment_labels(flats, compare, treat)
    blocks = _block_labels(flats, rest, blocks_by)
    style = sampler_style if compare == "sampler" else method_style
    colors = {t: style(str(f.get(compare)))["color"]
              for t, f in zip(treatments, flats, strict=True)}
    keys = [tuple(field_key(f.get(name)) for name in rest)
            + ((field_key(f.get("seed")),) if blocks_by == "seed" else ()) for f in flats]
    by_key: dict[tuple[str, ...], str] = dict(zip(keys, blocks, strict=True))
    cells: dict[str, dict[str, list[float]]] = {by_key[k]: {} for k in keys}
    for key, t, rec in zip(keys, treatments, ok, strict=True):
        cells[by_key[key]].setdefault(t, []).append(_value(rec, metric))
    order = none_first(sorted(set(treatments))) if compare == "sampler" else \
        sorted(set(treatments))
    return cells, order, colors, varying(flats, rest)


def natural_key(label: str) -> list[Any]:
    """Sort key of a label with its numbers as numbers (``seed 2`` before ``seed 10``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", label)]


def design(records: Sequence[dict[str, Any]], compare: str = "sampler",
           metric: str = "roc_auc", blocks_by: str | None = None) -> Design:
    """Lay the ``ok`` runs out as complete blocks x treatments (see the module docstring).

    Raises
    ------
    Skip
        When no run has the metric, or fewer than 2 treatments or :data:`MIN_BLOCKS` complete
        blocks remain (the message names the treatments and the dropped blocks).
    """
    if compare not in TREATMENT_FIELDS:
        raise ValueError(f"compare: expected one of {tuple(TREATMENT_FIELDS)}, found {compare!r}")
    if metric not in METRICS:
        raise ValueError(f"metric: expected one of {tuple(METRICS)}, found {metric!r}")
    blocks_by = blocks_by or DEFAULT_BLOCKS[compare]
    if blocks_by not in BLOCKS:
        raise ValueError(f"blocks_by: expected one of {tuple(BLOCKS)}, found {blocks_by!r}")
    cells, treatments, colors, block_fields = _cells(records, compare, metric, blocks_by)
    complete = [b for b, row in cells.items() if all(t in row for t in treatments)]
    dropped = {b: [t for t in treatments if t not in row] for b, row in cells.items()
               if b not in complete}
    if len(treatments) < 2 or len(complete) < MIN_BLOCKS:
        found = f"{len(treatments)} {compare}(s) ({', '.join(treatments)})"
        gone = f"; dropped {len(dropped)} block(s) lacking a {compare}: " + "; ".join(
            f"{b} (no {', '.join(m)})" for b, m in dropped.items()) if dropped else ""
        raise Skip(f"Friedman needs >= 2 treatments over >= {MIN_BLOCKS} complete blocks "
                   f"({BLOCKS[blocks_by]}), found {found} over {len(complete)} complete "
                   f"block(s){gone}")
    complete.sort(key=natural_key)
    values = np.array([[float(np.mean(cells[b][t])) for t in treatments] for b in complete])
    runs = np.array([[len(cells[b][t]) for t in treatments] for b in complete])
    return Design(compare, metric, blocks_by, treatments, colors, complete, values, runs,
                  block_fields, dropped)


def analyse(des: Design, alpha: float = 0.05, control: str | None = None) -> Result:
    """Friedman, Nemenyi and the Wilcoxon-Holm pairs (or each against ``control``)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a value in (0, 1), found {alpha}")
    if control is not None and control not in des.treatments:
        raise Skip(f"--control {control!r}: no such {des.compare}; expected one of "
                   f"{des.treatments}")
    pairs = paired_tests([(a, b, des.column(a), des.column(b))
                          for a, b in all_pairs(des.treatments, control)], alpha)
    k, n = len(des.treatments), len(des.blocks)
    return Result(des, alpha, average_ranks(des.values), friedman(des.values),
                  nemenyi(des.values, des.treatments), critical_difference(k, n, alpha),
                  pairs, control)


# ----------------------------------------------------------------------------- outputs
def stem(compare: str, metric: str) -> str:
    """The name of a comparison's files: ``significance_<compare>[_<metric>]``."""
    return f"significance_{compare}" + ("" if metric == "roc_auc" else f"_{metric}")


def friedman_text(res: Result) -> str:
    """``Friedman p = 0.0123`` (or why there is none)."""
    if res.friedman is None:
        return "Friedman: none (2 treatments; the Wilcoxon test is the test)"
    return f"Friedman chi2 = {res.friedman[0]:.2f}, p = {res.friedman[1]:.3g}"


def cd_figure(res: Result, out: Path, name: str) -> list[Path]:
    """Draw the critical-difference diagram (scikit-posthocs) and save it."""
    des = res.design
    ranks = dict(zip(des.treatments, (float(r) for r in res.ranks), strict=True))
    fig, ax = plt.subplots(figsize=(7.5, 1.6 + 0.3 * len(des.treatments)))
    kwargs: dict[str, Any] = {"ax": ax, "alpha": res.alpha, "color_palette": des.colors}
    if "cd" in inspect.signature(scikit_posthocs.critical_difference_diagram).parameters:
        kwargs["cd"] = res.cd
    scikit_posthocs.critical_difference_diagram(ranks, res.nemenyi, **kwargs)
    ax.set_title(f"{METRICS[des.metric]} of each {des.compare}: average rank over "
                 f"{len(des.blocks)} blocks ({BLOCKS[des.blocks_by]}); 1 = best\n"
                 f"{friedman_text(res)}; Nemenyi CD = {res.cd:.2f} at alpha = {res.alpha:g} "
                 "(joined: not significantly different)", fontsize=9, pad=30)
    return save_figure(fig, out, name)


def dropped_text(des: Design) -> str:
    """One sentence naming the dropped blocks (empty when none was)."""
    if not des.dropped:
        return ""
    return (f"Dropped {len(des.dropped)} block(s) lacking a {des.compare}: "
            + "; ".join(f"{b} (no {', '.join(m)})" for b, m in des.dropped.items()) + ".")


def pairs_table(res: Result, name: str) -> Table:
    """The Wilcoxon tests as a :class:`~torch_ae_sad.model.analysis.tables.Table`."""
    des = res.design
    columns = ["blocks", "mean A - B", "A better", "B better", "W", "p", "p Holm"]
    rows, cells, bold = [], {}, set()
    for t in res.pairs:
        row = f"{t.first} vs {t.second}"
        rows.append(row)
        shown = (t.n, t.mean_diff, t.first_better, t.second_better, t.statistic, t.p, t.p_holm)
        cells.update({(row, c): (v, None) for c, v in zip(columns, shown, strict=True)
                      if v is not None})
        if t.significant:
            bold.add((row, "p Holm"))
    family = f"each {des.compare} against {res.control}" if res.control else "every pair"
    note = (f"two-sided Wilcoxon signed-rank test of {METRICS[des.metric]} over "
            f"{len(des.blocks)} complete blocks ({BLOCKS[des.blocks_by]}); p Holm: adjusted "
            f"over the {len(res.pairs)} tests ({family}); bold: p Holm < {res.alpha:g}")
    footnote = f"{friedman_text(res)}. {dropped_text(des)}".strip()
    return Table(name, f"Pairwise tests of the {des.compare}s", "A vs B", rows, columns, cells,
                 4, bold, note, column_digits={"blocks": 0, "A better": 0, "B better": 0,
                                               "W": 1}, footnote=footnote)


def to_json(res: Result) -> dict[str, Any]:
    """Everything of a result as plain JSON: design, values, ranks, p-values."""
    des = res.design
    return {
        "compare": des.compare, "metric": des.metric, "alpha": res.alpha,
        "blocks_by": des.blocks_by, "block_design": BLOCKS[des.blocks_by],
        "block_fields": des.block_fields, "treatments": des.treatments, "colors": des.colors,
        "values": {b: dict(zip(des.treatments, row.tolist(), strict=True))
                   for b, row in zip(des.blocks, des.values, strict=True)},
        "runs": {b: dict(zip(des.treatments, row.tolist(), strict=True))
                 for b, row in zip(des.blocks, des.runs, strict=True)},
        "dropped": des.dropped,
        "ranks": dict(zip(des.treatments, res.ranks.tolist(), strict=True)),
        "friedman": None if res.friedman is None else
        {"statistic": res.friedman[0], "p": res.friedman[1]},
        "nemenyi_p": {a: {b: float(res.nemenyi.loc[a, b]) for b in des.treatments}
                      for a in des.treatments},
        "critical_difference": res.cd, "control": res.control,
        "wilcoxon_holm": [vars(t) | {"significant": bool(t.significant)} for t in res.pairs],
    }


def write(res: Result, out: Path) -> list[Path]:
    """Write the figure, the tables and the JSON of a result; return the files."""
    name = stem(res.design.compare, res.design.metric)
    paths = cd_figure(res, out, name)
    table = pairs_table(res, name)
    folder = out / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, render in ((".md", to_markdown), (".tex", to_latex)):
        path = folder / f"{name}{suffix}"
        path.write_text(render(table))
        paths.append(path)
    path = out / f"{name}.json"
    path.write_text(json.dumps(to_json(res), indent=1))
    return [*paths, path]


def draw(data: Records, out: Path, compare: str = "sampler", metric: str = "roc_auc",
         alpha: float = 0.05, blocks: str | None = None,
         control: str | None = None, filters: Sequence[str] | None = None) -> list[Path]:
    """Test the ``compare`` treatments of the folder; write the diagram, tables and JSON.

    ``filters``: ``FIELD=VALUE`` texts (:func:`~torch_ae_sad.model.results.filter_records`);
    only the runs that pass every one are compared.
    """
    records = data.records
    if filters:
        try:
            records = filter_records(records, filters)
        except ValueError as exc:
            raise Skip(str(exc)) from None
        if not records:
            raise Skip(f"no run passes --filter {' '.join(filters)}")
    des = design(records, compare, metric, blocks)
    for block, missing in des.dropped.items():
        print(f"significance: dropped block {block}: no ok run of {', '.join(missing)}",
              file=sys.stderr)
    return write(analyse(des, alpha, control), out)


def _alpha(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a value in (0, 1), found {text}")
    return value


def _args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--compare", choices=sorted(TREATMENT_FIELDS), default="sampler",
                        help="what the treatments are (default: sampler)")
    parser.add_argument("--metric", choices=sorted(METRICS), default="roc_auc",
                        help="the metric compared, higher is better (default: roc_auc)")
    parser.add_argument("--alpha", type=_alpha, default=0.05,
                        help="significance level (default: 0.05)")
    parser.add_argument("--blocks", choices=sorted(BLOCKS), default=None,
                        help="seed: one block per scenario and seed; scenario: one per "
                             "scenario, seeds averaged (default: seed for samplers, scenario "
                             "for methods)")
    parser.add_argument("--control", default=None, metavar="LABEL",
                        help="test each treatment against this one only (e.g. none), "
                             "instead of every pair")
    parser.add_argument("--filter", dest="filters", nargs="+", default=None,
                        metavar="FIELD=VALUE",
                        help="compare only the runs whose spec field has this value, e.g. "
                             "dataset=mnist labelled=0.01 (as in `results --filter`)")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns 0 when the diagram and the tables were written."""
    return script_main("significance", __doc__.split("\n")[0], draw, argv, _args)


if __name__ == "__main__":
    sys.exit(main())
