"""TOLL's AUROC against beta (beta = 0 is the plain auto-encoder), or any method parameter.

Run::

    python -m torch_ae_sad.model.analysis.toll_beta RECORDS_DIR [--out DIR]
        [--method NAME --param NAME]

Reads the ``ok`` records with ``spec.method == NAME`` (default ``TOLL``); a record without
``method_params.<param>`` (default ``beta``) ran with the value in its ``method.params`` (every
parameter the run used), or, where the record has none, with today's class default. Runs are
grouped by every spec field but the seed. Writes ``toll_beta.png`` / ``.pdf``
(``<method>_<param>`` in lower case for another method or parameter): the AUROC (mean ± std
over seeds, error bars) against the parameter on a symmetric-log x axis when its values span
a decade or more, one line per scenario and per value of any other varying field; and
``tables/toll_beta.md`` / ``.tex``: one row per line, one column per parameter value, the
best of a row in bold.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from torch_ae_sad.model.analysis.cli import script_main
from torch_ae_sad.model.analysis.data import (
    Records,
    Skip,
    grouped,
    is_scenario_field,
    ok_records,
    unique,
    varying,
)
from torch_ae_sad.model.analysis.plotting import errorbar_line, save_figure, series_styles
from torch_ae_sad.model.analysis.tables import Table, bold_best, write_tables
from torch_ae_sad.model.base import DETECTORS
from torch_ae_sad.model.experiment.labels import (
    fields_label,
    method_style,
    scenario_label,
    scenario_text,
)

DEFAULT_METHOD, DEFAULT_PARAM = "TOLL", "beta"


def param_default(method: str, param: str) -> Any:
    """The default of ``param`` in the class of ``method`` (None when it has none).

    Raises
    ------
    Skip
        When ``method`` is unknown or its class has no parameter ``param``.
    """
    if method not in DETECTORS:
        raise Skip(f"unknown method {method!r}; expected one of {sorted(DETECTORS)}")
    params = inspect.signature(DETECTORS[method]).parameters
    if param not in params:
        raise Skip(f"{method} has no parameter {param!r}; its parameters: {sorted(params)}")
    default = params[param].default
    return None if default is inspect.Parameter.empty else default


def param_value(record: dict[str, Any], param: str, default: Any = None) -> Any:
    """The value of method parameter ``param`` a run used.

    The spec's ``method_params``, else the record's ``method.params`` (every parameter the run
    used), else ``default`` (the class default, for records that hold neither).
    """
    value = (record["spec"].get("method_params") or {}).get(param)
    if value is None:
        value = ((record.get("method") or {}).get("params") or {}).get(param)
    return default if value is None else value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def curve_rows(data: Records, method: str = DEFAULT_METHOD,
               param: str = DEFAULT_PARAM) -> tuple[list[dict[str, Any]], str]:
    """Grouped rows of ``method`` with ``x`` (the parameter) and ``line``; the common scenario.

    Raises
    ------
    Skip
        When no ``ok`` run has ``method``, the parameter is not a number or does not vary.
    """
    records = ok_records(data)
    mine = [r for r in records if r["spec"].get("method") == method]
    if not mine:
        found = sorted({str(r["spec"].get("method")) for r in records})
        raise Skip(f"no ok run with method {method} (methods found: {', '.join(found)})")
    default = param_default(method, param)
    filled, bad = [], []
    for rec in mine:
        params = dict(rec["spec"].get("method_params") or {})
        value = param_value(rec, param, default)
        if not _number(value):
            bad.append(f"run {rec.get('run_id')}: method_params.{param}={value!r}")
            continue
        params[param] = float(value)
        filled.append({**rec, "spec": {**rec["spec"], "method_params": params}})
    if bad:
        raise Skip(f"method_params.{param} is not a number in {len(bad)} {method} run(s) "
                   f"({bad[0]}); this plot needs numbers")
    values = sorted({r["spec"]["method_params"][param] for r in filled})
    if len(values) < 2:
        where = " (the class default)" if values[0] == default else ""
        raise Skip(f"method_params.{param} does not vary: every ok {method} run ({len(filled)}) "
                   f"has {param}={values[0]:g}{where}; run a grid over {param}")
    rows, fields = grouped(filled)
    rows = [r for r in rows if r["roc_auc_mean"] is not None]
    pfield = f"method_params.{param}"
    vary = varying(rows, [f for f in fields if f != pfield])
    scen = [f for f in vary if is_scenario_field(f)]
    other = [f for f in vary if not is_scenario_field(f)]
    for row in rows:
        row["x"] = row[pfield]
        parts = [scenario_text(row, scen) if scen else "", fields_label(row, other)]
        row["line"] = "; ".join(p for p in parts if p) or scenario_label(row)
    common = "" if scen else scenario_label(rows[0])
    return rows, common


def _tick(value: float, method: str, param: str) -> str:
    text = f"{value:g}"
    return text + "\n(plain AE)" if (method, param, value) == ("TOLL", "beta", 0.0) else text


def build_table(rows: Sequence[dict[str, Any]], method: str, param: str) -> Table:
    """AUROC per line (rows) and parameter value (columns), best of a row in bold."""
    values = sorted({r["x"] for r in rows})
    columns = [f"{param}={v:g}" for v in values]
    col = dict(zip(values, columns, strict=True))
    lines = unique(r["line"] for r in rows)
    cells = {(r["line"], col[r["x"]]): (r["roc_auc_mean"], r["roc_auc_std"]) for r in rows}
    caption = f"{method} AUROC against {param}"
    if (method, param) == ("TOLL", "beta"):
        caption += " (beta = 0: the plain auto-encoder)"
    return Table(f"{method.lower()}_{param}", caption, "scenario", lines, columns, cells, 3,
                 bold_best(cells, lines, columns, 3))


def draw(data: Records, out: Path, method: str = DEFAULT_METHOD,
         param: str = DEFAULT_PARAM) -> list[Path]:
    """Draw ``method``'s AUROC against ``param``; return the files written."""
    rows, common = curve_rows(data, method, param)
    lines = unique(r["line"] for r in rows)
    values = sorted({r["x"] for r in rows})
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    styles = series_styles({line: method_style(method) for line in lines})
    for line in lines:
        mine = sorted((r for r in rows if r["line"] == line), key=lambda r: r["x"])
        style = styles[line]
        errorbar_line(ax, [r["x"] for r in mine], [r["roc_auc_mean"] for r in mine],
                      [r["roc_auc_std"] for r in mine], color=style["color"],
                      marker=style["marker"], linestyle=style["linestyle"], label=line)
    nonzero = [abs(v) for v in values if v != 0]
    if nonzero and max(nonzero) / min(nonzero) >= 10:
        ax.set_xscale("symlog", linthresh=min(nonzero))
        ax.minorticks_off()
        scale = "symmetric-log scale"
    else:
        scale = "linear scale"
    ax.set_xticks(values)
    ax.set_xticklabels([_tick(v, method, param) for v in values], fontsize=8,
                       rotation=45 if len(values) > 8 else 0)
    seeds = "/".join(map(str, sorted({len(r["seeds"]) for r in rows})))
    ax.set_xlabel(f"{param} ({scale})")
    ax.set_ylabel(f"AUROC (mean ± std over {seeds} seed(s))")
    ax.set_title(f"{method}: AUROC against {param}" + (f" ({common})" if common else ""),
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    table = build_table(rows, method, param)
    return [*save_figure(fig, out, table.name), *write_tables(out, table.name, [table])]


def _args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", default=DEFAULT_METHOD,
                        help=f"method whose runs to plot (default: {DEFAULT_METHOD})")
    parser.add_argument("--param", default=DEFAULT_PARAM,
                        help=f"numeric method parameter on the x axis (default: {DEFAULT_PARAM})")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns 0 when the figure and table were written."""
    return script_main("toll_beta", __doc__.split("\n")[0], draw, argv, _args)


if __name__ == "__main__":
    sys.exit(main())
