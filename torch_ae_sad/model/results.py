"""Summarise a folder of run records: mean ± std over seeds per configuration, as a table + CSV.

Run::

    python -m torch_ae_sad.model.results [DIR] [--csv FILE] [--group-by FIELD ...]

``DIR`` defaults to the trainers' ``json_metrics/staged``. Runs are grouped by their
configuration, i.e. everything in the spec but the seed (and the device); ``--group-by``
groups by the given spec fields only (``method``, ``sampler``, ``normal_classes``, or a
parameter as ``method_params.lr`` / ``sampler_params.ratio``) and pools everything else.
Each group shows the number of ``ok`` and ``failed`` runs and, over its ``ok`` runs, the mean
± sample standard deviation (``ddof=1``; blank for one run) of AUROC, AUPR, F1, the training
seconds and the number of normal training samples kept by the sampler. The table prints the
fields that differ between groups (the common ones in a header line); the CSV (default
``DIR/results.csv``) has every grouping field. Files that are not readable records are
reported (path and reason) and skipped; records written before a spec key existed get its
default (the store's one reader), so they group with newer ones. Exit code 1 when the folder
is missing or holds no record, 2 for a ``--group-by`` field that no record has; with
``--group-by`` the table names the fields each row pools over.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from torch_ae_sad.model.experiment import DEFAULT_OUT, atomic_write, load_records
from torch_ae_sad.model.experiment.labels import scenario_label

#: Spec fields never used to group runs.
NOT_GROUPED = ("seed", "device")
#: Spec fields holding parameter dicts (flattened to ``<field>.<name>``).
PARAM_FIELDS = ("sampler_params", "method_params", "threshold_params")
#: Aggregated quantities: column name -> function of a record returning a number or None.
QUANTITIES: dict[str, Any] = {
    "roc_auc": lambda r: (r.get("metrics") or {}).get("roc_auc"),
    "aupr": lambda r: (r.get("metrics") or {}).get("average_precision"),
    "f1": lambda r: (r.get("metrics") or {}).get("f1"),
    "train_s": lambda r: r.get("train_seconds"),
    "normals_kept": lambda r: (r.get("sampling") or {}).get("n_normal_after"),
}


def flatten_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as one level of fields: ``method_params.lr``, ``sampler_params.ratio``, ..."""
    flat: dict[str, Any] = {}
    for key, value in spec.items():
        if key in PARAM_FIELDS and isinstance(value, dict):
            for name, v in value.items():
                flat[f"{key}.{name}"] = v
        else:
            flat[key] = value
    return flat


def field_key(value: Any) -> str:
    """A hashable, order-independent key of a field value (its canonical JSON)."""
    return json.dumps(value, sort_keys=True, default=str)


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """``(mean, sample std with ddof=1)`` of the finite values; None where undefined."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if arr.size == 0:
        return None, None
    return float(arr.mean()), (float(arr.std(ddof=1)) if arr.size > 1 else None)


#: Fields of where a run ran (not of its spec): grouped or filtered by only when asked.
WHERE_FIELDS = ("host", "node", "ran_on")


def record_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The flattened spec of a record plus where it ran: ``host``, ``node`` (Ray), ``ran_on``."""
    env = record.get("environment") or {}
    return {**flatten_spec(record["spec"]), "host": env.get("host"), "node": env.get("ray_node"),
            "ran_on": record.get("device")}


def group_fields(records: Sequence[dict[str, Any]]) -> list[str]:
    """Every field of ``records`` that runs may be grouped or filtered by."""
    fields: list[str] = []
    for rec in records:
        fields += [k for k in record_fields(rec) if k not in fields]
    return fields


def filter_records(records: Sequence[dict[str, Any]],
                   filters: Sequence[str]) -> list[dict[str, Any]]:
    """The records whose field equals the value of each ``FIELD=VALUE`` filter (as text).

    Raises
    ------
    ValueError
        For a filter without ``=`` or naming a field that no record has.
    """
    known = group_fields(records)
    kept = list(records)
    for text in filters:
        name, sep, value = text.partition("=")
        if not sep:
            raise ValueError(f"--filter: expected FIELD=VALUE, found {text!r}")
        if name not in known:
            raise ValueError(f"--filter: no record has the field {name!r}; expected fields "
                             f"among {sorted(known)}")
        kept = [r for r in kept if _text(record_fields(r).get(name)) == value]
    return kept


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def pooled_fields(records: Sequence[dict[str, Any]], group_by: Sequence[str]) -> list[str]:
    """The fields outside ``group_by`` (seed and device aside) whose value differs between runs."""
    flats = [record_fields(r) for r in records]
    return [f for f in group_fields(records) if f not in group_by and f not in NOT_GROUPED
            and len({field_key(flat.get(f)) for flat in flats}) > 1]


def check_group_by(records: Sequence[dict[str, Any]], group_by: Sequence[str]) -> None:
    """Raise a ValueError naming a ``group_by`` field that no record has."""
    known = group_fields(records)
    unknown = [f for f in group_by if f not in known]
    if unknown:
        raise ValueError(f"--group-by: no record has the field(s) {unknown}; expected fields "
                         f"among {sorted(known)}")


def summarize(records: Sequence[dict[str, Any]],
              group_by: Sequence[str] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Aggregate records per configuration.

    Parameters
    ----------
    records : sequence of dict
        Run records (``spec``, ``status``, ``metrics``, ...).
    group_by : sequence of str, optional
        Flattened spec fields to group by; default every field but the seed and device.

    Returns
    -------
    rows : list of dict
        One per group, sorted by its fields: the grouping fields, ``n_ok``, ``n_failed``,
        ``seeds``, and ``<quantity>_mean`` / ``<quantity>_std`` for each of
        :data:`QUANTITIES`.
    fields : list of str
        The grouping fields, in order.
    """
    flats = [record_fields(r) for r in records]
    if group_by:
        fields = list(group_by)
    else:
        fields = []
        for flat in flats:
            fields += [k for k in flat if k not in NOT_GROUPED and k not in WHERE_FIELDS
                       and k not in fields]
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, flat in enumerate(flats):
        groups.setdefault(tuple(field_key(flat.get(f)) for f in fields), []).append(i)
    rows = []
    for key, members in groups.items():
        row: dict[str, Any] = {f: json.loads(v) for f, v in zip(fields, key, strict=True)}
        recs = [records[i] for i in members]
        ok = [r for r in recs if r["status"] == "ok"]
        row["n_ok"], row["n_failed"] = len(ok), len(recs) - len(ok)
        row["seeds"] = sorted({r["spec"].get("seed") for r in recs}, key=str)
        for name, get in QUANTITIES.items():
            row[f"{name}_mean"], row[f"{name}_std"] = mean_std([get(r) for r in ok])
        rows.append(row)
    rows.sort(key=lambda row: tuple(_sort_key(row[f]) for f in fields))
    return rows, fields


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool) or value is None:
        return (2, str(value))
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, list) and all(isinstance(v, int | float) for v in value):
        return (1, tuple(value))
    return (2, field_key(value))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _pm(mean: float | None, std: float | None, digits: int) -> str:
    if mean is None:
        return "-"
    text = f"{mean:.{digits}f}"
    return text + (f" ± {std:.{digits}f}" if std is not None else "")


def _short(field: str, fields: Sequence[str]) -> str:
    short = field.split(".", 1)[-1]
    clash = sum(f.split(".", 1)[-1] == short for f in fields) > 1
    return field if clash else short


def format_summary(rows: Sequence[dict[str, Any]], fields: Sequence[str],
                   default_grouping: bool = True) -> str:
    """Plain-text table of :func:`summarize` rows (varying fields as columns)."""
    if not rows:
        return "(no runs)"
    varying = [f for f in fields if len({field_key(r.get(f)) for r in rows}) > 1]
    constant = [f for f in fields if f not in varying]
    header_lines = []
    if default_grouping:
        label_fields = ("dataset", "scenario", "normal_classes", "anomaly_classes", "sampler",
                        "method")
        shown = [f for f in varying if f not in label_fields]
        columns: list[tuple[str, Any]] = [
            ("data", scenario_label), ("sampler", lambda r: r.get("sampler")),
            ("method", lambda r: r.get("method"))]
        columns += [(_short(f, fields), lambda r, f=f: _cell(r.get(f))) for f in shown]
        common = [f for f in constant if f not in label_fields]
    else:
        columns = [(f, lambda r, f=f: _cell(r.get(f))) for f in fields]
        common = []
    if common:
        header_lines.append("common: " + ", ".join(
            f"{_short(f, fields)}={_cell(rows[0].get(f))}" for f in common))
    columns += [
        ("ok", lambda r: str(r["n_ok"])), ("failed", lambda r: str(r["n_failed"])),
        ("roc_auc", lambda r: _pm(r["roc_auc_mean"], r["roc_auc_std"], 4)),
        ("aupr", lambda r: _pm(r["aupr_mean"], r["aupr_std"], 4)),
        ("f1", lambda r: _pm(r["f1_mean"], r["f1_std"], 4)),
        ("train_s", lambda r: _pm(r["train_s_mean"], r["train_s_std"],
                                  1 if (r["train_s_mean"] or 0) >= 10 else 2)),
        ("normals_kept", lambda r: _pm(r["normals_kept_mean"], r["normals_kept_std"], 0)),
    ]
    cells = [[str(get(r)) for _, get in columns] for r in rows]
    names = [name for name, _ in columns]
    widths = [max(len(n), *(len(c[i]) for c in cells)) for i, n in enumerate(names)]
    line = "  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)) for c in cells]
    return "\n".join([*header_lines, line, "-" * len(line), *body])


def write_csv(rows: Sequence[dict[str, Any]], fields: Sequence[str], path: str | Path) -> Path:
    """Write the rows of :func:`summarize` as CSV, atomically; lists are written as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [*fields, "n_ok", "n_failed", "seeds"]
    columns += [f"{q}_{s}" for q in QUANTITIES for s in ("mean", "std")]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else
                         (json.dumps(row[c]) if isinstance(row.get(c), list | dict) else row[c])
                         for c in columns])
    atomic_write(path, lambda fh: fh.write(buf.getvalue().encode()))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the summary table of a records folder and write its CSV."""
    parser = argparse.ArgumentParser(
        prog="python -m torch_ae_sad.model.results",
        description="Mean ± std over seeds of every configuration in a folder of run records.")
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_OUT,
                        help=f"records folder (default: {DEFAULT_OUT})")
    parser.add_argument("--csv", type=Path, default=None,
                        help="CSV output (default: DIR/results.csv)")
    parser.add_argument("--no-csv", action="store_true", help="print the table only")
    parser.add_argument("--group-by", nargs="+", default=None, metavar="FIELD",
                        help="spec fields to group by, e.g. method sampler "
                             "method_params.lr, or where runs ran: host, node, ran_on "
                             "(default: everything in the spec but the seed)")
    parser.add_argument("--filter", nargs="+", default=None, metavar="FIELD=VALUE",
                        help="keep only the runs whose field has this value, e.g. "
                             "host=node7 method=TOLL ran_on=cuda:0")
    args = parser.parse_args(argv)

    folder: Path = args.dir
    if not folder.is_dir():
        print(f"error: no records folder {folder} (run a trainer first, or give DIR)",
              file=sys.stderr)
        return 1
    records, problems = load_records(folder)
    for path, reason in problems:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if not records:
        print(f"error: no run records (*.json) in {folder}", file=sys.stderr)
        return 1
    try:
        records = filter_records(records, args.filter or [])
        if args.group_by:
            check_group_by(records, args.group_by)
    except ValueError as exc:
        parser.error(str(exc))
    if not records:
        print(f"error: no record in {folder} passes --filter {' '.join(args.filter)}",
              file=sys.stderr)
        return 1
    rows, fields = summarize(records, args.group_by)
    _print_summary(records, rows, fields, folder, default_grouping=args.group_by is None)
    if args.group_by:
        pooled = pooled_fields(records, args.group_by)
        if pooled:
            print(f"each row pools runs that differ in: {', '.join(pooled)}")
    if not args.no_csv:
        path = args.csv or folder / "results.csv"
        try:
            print(f"CSV: {write_csv(rows, fields, path)}")
        except OSError as exc:
            print(f"warning: cannot write the CSV {path} ({exc.strerror or exc}); give "
                  "--csv FILE in a writable folder, or --no-csv", file=sys.stderr)
    return 0


def _print_summary(records: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]],
                   fields: Sequence[str], folder: Path, default_grouping: bool) -> None:
    """The summary table, with the first errors of the failed runs."""
    n_ok = sum(r["status"] == "ok" for r in records)
    print(f"{len(records)} runs ({n_ok} ok, {len(records) - n_ok} failed) in {folder}, "
          f"{len(rows)} configurations; mean ± std (ddof=1) over seeds")
    print(format_summary(rows, fields, default_grouping=default_grouping))
    failed = [r for r in records if r["status"] != "ok"]
    for r in failed[:10]:
        error = str(r.get("error", "")).splitlines()[0] if r.get("error") else "?"
        print(f"failed {r['run_id']}: {error}")
    if len(failed) > 10:
        print(f"... and {len(failed) - 10} more failed runs")
    kinds = sorted({str(r.get("device")).split(":")[0] for r in records if r["status"] == "ok"})
    if len(kinds) > 1:
        print(f"note: these runs ran on {' and '.join(kinds)} (CPU and GPU runs of one spec "
              "may differ); --filter ran_on=... or --group-by ... ran_on separates them")


if __name__ == "__main__":
    sys.exit(main())
