"""Shared machinery of the analysis scripts: loading records, grouping, labels, saving figures.

Every script reads only the JSON records of a folder (and the ``<run_id>.scores.npz`` files
they name) and is run as ``python -m torch_ae_sad.model.analysis.<name> RECORDS_DIR
[--out DIR]``. A script's ``draw(data, out, **options)`` returns the paths it wrote and
raises :class:`Skip` (with a message naming what is missing) when it can draw nothing; a
per-run script reports each run it cannot draw and goes on with the others.

The study scripts (``toll_beta``, ``noise_robustness``, ``grid_ranking``) also share the
``ok`` records (:func:`ok_records`), configuration labels
(:func:`fields_label`, :func:`scenario_text`), the per-run test-score statistics
(:func:`score_stats`, :func:`add_score_stats`) and :func:`errorbar_line`.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from torch_ae_sad.model.experiment import (  # noqa: E402
    SCHEMA,
    SPEC_DEFAULTS,
    load_model,
    load_records,
    make_spec,
    prepare_data,
)
from torch_ae_sad.model.results import (  # noqa: E402
    _classes,
    _hashable,
    check_records,
    flatten_spec,
    mean_std,
    summarize,
)

#: Record schemas these scripts read.
KNOWN_SCHEMAS = (SCHEMA,)
#: Spec fields that describe the data of a run (its "scenario").
SCENARIO_FIELDS = ("dataset", "scenario", "normal_classes", "anomaly_classes", "labelled",
                   "known_classes", "pollution", "val_fraction", "val_labelled")
#: Formats every figure is saved in.
FORMATS = ("png", "pdf")
#: Keys a scores file must hold for the score plots.
SCORE_KEYS = ("y_test", "test_scores")
#: Per-run statistics of the test scores (see :func:`score_stats`).
STAT_KEYS = ("score_normal", "score_anomalous", "gap", "std_gap")


class Skip(Exception):
    """A plot (or one run of a per-run plot) cannot be drawn; the message says what is missing."""


@dataclass
class Records:
    """The usable records of a folder and the messages about those that were left out.

    Attributes
    ----------
    folder : Path
        The records folder (scores files are looked up there).
    records : list of dict
        Records of a known schema with a spec and an ``ok`` / ``failed`` status.
    problems : list of str
        One message per file or record left out.
    """

    folder: Path
    records: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> list[dict[str, Any]]:
        """The records with ``status == "ok"``."""
        return [r for r in self.records if r.get("status") == "ok"]


def load(folder: str | Path) -> Records:
    """Load the records of ``folder``, leaving out unreadable files and unknown schemas.

    Raises
    ------
    Skip
        When the folder is missing or holds no usable record (the message says why).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise Skip(f"no records folder {folder} (run a trainer with --out {folder} first)")
    raw, unreadable = load_records(folder)
    problems = [f"skipped {path.name}: {reason}" for path, reason in unreadable]
    known = []
    for rec in raw:
        schema = rec.get("schema")
        if schema is None:
            problems.append(f"skipped record {rec.get('run_id')}: no 'schema' field (an older "
                            f"record format); these scripts read schema {SCHEMA}")
        elif schema not in KNOWN_SCHEMAS:
            problems.append(f"skipped record {rec.get('run_id')}: schema {schema!r} is unknown; "
                            f"these scripts read schema {SCHEMA}")
        else:
            # keys added to the spec after a record was written get their default, so old and
            # new records group together (e.g. noise_std = 0.0)
            rec["spec"] = {**copy.deepcopy(SPEC_DEFAULTS), **(rec.get("spec") or {})}
            known.append(rec)
    good, bad = check_records(known)
    problems += [f"skipped record {rid}: {reason}" for rid, reason in bad]
    if not good:
        what = "no run records (*.json)" if not raw else "no usable run record"
        raise Skip(f"{what} in {folder}" + (f" ({len(problems)} left out)" if problems else ""))
    return Records(folder, good, problems)


def load_scores(record: dict[str, Any], folder: Path,
                keys: Sequence[str] = SCORE_KEYS) -> dict[str, np.ndarray]:
    """The arrays of a record's scores file.

    Raises
    ------
    Skip
        When the record names no scores file, the file is missing or unreadable, or it lacks
        one of ``keys``.
    """
    rid = record.get("run_id")
    name = record.get("scores_file")
    if not name:
        raise Skip(f"run {rid}: the record names no scores file ('scores_file')")
    path = folder / name
    if not path.is_file():
        raise Skip(f"run {rid}: scores file {path} is missing")
    try:
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise Skip(f"run {rid}: cannot read scores file {path}: {exc}") from exc
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise Skip(f"run {rid}: scores file {path.name} lacks {missing}")
    return arrays


def load_trained(record: dict[str, Any], folder: Path) -> Any:
    """The fitted detector saved beside a record (``model_file``), on the CPU.

    Raises
    ------
    Skip
        When the record names no model file (the run was not made with ``--save-models``),
        the file is missing, or it cannot be loaded.
    """
    rid = record.get("run_id")
    name = record.get("model_file")
    if not name:
        raise Skip(f"run {rid}: the record names no model file ('model_file'); run the trainer "
                   "with --save-models")
    path = folder / name
    if not path.is_file():
        raise Skip(f"run {rid}: model file {path} is missing")
    try:
        return load_model(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling error means "cannot draw"
        raise Skip(f"run {rid}: cannot load model file {path}: {type(exc).__name__}: "
                   f"{exc}") from exc


def test_part(record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(X_test, y_test)`` of a record's run, rebuilt from its spec (noise included).

    The test part does not depend on the sampler, so none is run.

    Raises
    ------
    Skip
        When the spec's data cannot be rebuilt (e.g. the dataset is not on this machine).
    """
    try:
        spec = make_spec({**record["spec"], "sampler": "none", "sampler_params": {}})
        _, split, _ = prepare_data(spec)
    except Exception as exc:  # noqa: BLE001 - missing data, old spec keys, ...
        raise Skip(f"run {record.get('run_id')}: cannot rebuild its test data: "
                   f"{type(exc).__name__}: {exc}") from exc
    return split.X_test, split.y_test


def metric(record: dict[str, Any], name: str) -> Any:
    """``record["metrics"][name]``, or :class:`Skip` naming the missing metric."""
    value = (record.get("metrics") or {}).get(name)
    if value is None:
        raise Skip(f"run {record.get('run_id')}: the record has no metrics.{name}")
    return value


# ----------------------------------------------------------------------------- grouping
def grouped(records: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """:func:`torch_ae_sad.model.results.summarize` over every field but the seed."""
    return summarize(records)


def members(row: dict[str, Any], fields: Sequence[str],
            records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of a :func:`grouped` row (same value of every grouping field)."""
    key = [_hashable(row.get(f)) for f in fields]
    return [r for r in records
            if [_hashable(flatten_spec(r["spec"]).get(f)) for f in fields] == key]


def varying(rows: Sequence[dict[str, Any]], fields: Iterable[str]) -> list[str]:
    """The fields among ``fields`` whose value differs between ``rows``."""
    return [f for f in fields if len({_hashable(r.get(f)) for r in rows}) > 1]


def is_scenario_field(name: str) -> bool:
    """Whether a flattened spec field describes the data (see :data:`SCENARIO_FIELDS`)."""
    return name in SCENARIO_FIELDS


def is_sampler_field(name: str) -> bool:
    """Whether a flattened spec field is the sampler or one of its parameters."""
    return name == "sampler" or name.startswith("sampler_params.")


def scenario_label(row: dict[str, Any]) -> str:
    """``mnist 0-4 vs 5-9`` (plus the labelled budget when it is not the default)."""
    text = (f"{row.get('dataset')} {_classes(row.get('normal_classes'))} vs "
            f"{_classes(row.get('anomaly_classes'))}")
    return text


def fields_label(row: dict[str, Any], names: Sequence[str]) -> str:
    """``name=value`` of ``names``, joined by ``, ``.

    ``sampler`` / ``method`` values are shown bare; a name is shortened to its last part
    (``method_params.lr`` -> ``lr``) unless that is ambiguous; a method or sampler parameter
    missing from the spec shows as ``default`` (the class default); floats as ``%g``.
    """
    short = [n.split(".", 1)[-1] for n in names]
    parts = []
    for name, s in zip(names, short, strict=True):
        value = row.get(name)
        if name in ("sampler", "method"):
            parts.append(str(value))
            continue
        if value is None and name.startswith(("method_params.", "sampler_params.")):
            value = "default"
        shown = name if short.count(s) > 1 or (name != s and s in SPEC_DEFAULTS) else s
        if isinstance(value, float):
            value = f"{value:g}"
        elif isinstance(value, list | dict):
            value = json.dumps(value, separators=(",", ":"))
        parts.append(f"{shown}={value}")
    return ", ".join(parts)


def sampler_label(row: dict[str, Any], sampler_fields: Sequence[str]) -> str:
    """The sampler and its parameters, compact: ``random 0.5``, ``enn pca50``, ``cnn k=3``.

    The ratio is shown bare, the feature space as ``pca<n_components>`` (``raw`` is not
    shown), other parameters as ``name=value``.
    """
    params = {f.split(".", 1)[-1]: row.get(f) for f in sampler_fields
              if f != "sampler" and row.get(f) is not None}
    parts = [str(row.get("sampler"))]
    if "ratio" in params:
        ratio = params.pop("ratio")
        parts.append(f"{ratio:g}" if isinstance(ratio, float) else str(ratio))
    space, n_comp = params.pop("feature_space", "raw"), params.pop("n_components", None)
    if space != "raw":
        parts.append(f"{space}{n_comp if n_comp is not None else ''}")
    parts += [f"{k}={v}" for k, v in params.items()]
    return " ".join(parts)


def run_label(record: dict[str, Any]) -> str:
    """One line naming a run: scenario, sampler, method, seed and run id."""
    spec = record.get("spec") or {}
    ratio = (spec.get("sampler_params") or {}).get("ratio")
    sampler = str(spec.get("sampler")) + (f" {ratio}" if ratio is not None else "")
    return (f"{scenario_label(spec)} | {sampler} | {spec.get('method')} | seed "
            f"{spec.get('seed')} | {record.get('run_id')}")


def select_runs(records: Sequence[dict[str, Any]], run: str | None) -> list[dict[str, Any]]:
    """The ``ok`` records, or those whose run id starts with ``run``.

    Raises
    ------
    Skip
        When no ``ok`` record matches.
    """
    ok = [r for r in records if r.get("status") == "ok"]
    if run:
        ok = [r for r in ok if str(r.get("run_id", "")).startswith(run)]
        if not ok:
            raise Skip(f"no ok run with an id starting with {run!r}")
    elif not ok:
        raise Skip("no run with status 'ok' (every run failed)")
    return ok


# ----------------------------------------------------------------------------- scores
def ok_records(data: Records) -> list[dict[str, Any]]:
    """The ``ok`` records; :class:`Skip` when none."""
    if not data.ok:
        raise Skip("no run with status 'ok' (every run failed)")
    return data.ok


def scenario_text(row: dict[str, Any], scenario_fields: Sequence[str]) -> str:
    """The scenario of a row plus its varying scenario fields, on one line."""
    return Layout([], list(scenario_fields), []).group_label(row).replace("\n", ", ")


def score_stats(record: dict[str, Any], folder: Path) -> dict[str, float | None]:
    """Mean test score of the normal / anomalous samples of a run and their gap.

    Returns ``score_normal``, ``score_anomalous``, ``gap`` (anomalous − normal) and
    ``std_gap`` (the gap over the std, ``ddof=1``, of the normal test scores; None when that
    std is 0). Non-finite scores are left out.

    Raises
    ------
    Skip
        When the scores file is missing or unusable (see :func:`load_scores`).
    """
    from torch_ae_sad.model.analysis.curves import test_arrays

    y, s = test_arrays(record, folder)
    finite = np.isfinite(s)
    normal, anomalous = s[finite & (y == 0)], s[finite & (y == 1)]
    if normal.size == 0 or anomalous.size == 0:
        raise Skip(f"run {record.get('run_id')}: no finite test score of the "
                   f"{'normal' if normal.size == 0 else 'anomalous'} samples")
    gap = float(anomalous.mean() - normal.mean())
    sd = float(normal.std(ddof=1)) if normal.size > 1 else 0.0
    return {"score_normal": float(normal.mean()), "score_anomalous": float(anomalous.mean()),
            "gap": gap, "std_gap": gap / sd if sd > 0 else None}


def add_score_stats(rows: Sequence[dict[str, Any]], fields: Sequence[str],
                    records: Sequence[dict[str, Any]], folder: Path, what: str) -> list[str]:
    """Add ``<stat>_mean`` / ``<stat>_std`` (over seeds) and ``n_scores`` to each row.

    ``records`` are those the rows were grouped from; the ``ok`` members of a row without a
    usable scores file are reported on stderr and left out. Returns those messages.
    """
    index: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for rec in records:
        if rec.get("status") == "ok":
            flat = flatten_spec(rec["spec"])
            index.setdefault(tuple(_hashable(flat.get(f)) for f in fields), []).append(rec)
    problems = []
    for row in rows:
        stats = []
        for rec in index.get(tuple(_hashable(row.get(f)) for f in fields), []):
            try:
                stats.append(score_stats(rec, folder))
            except Skip as exc:
                problems.append(str(exc))
                print(f"{what}: {exc} (left out of the test-score statistics)", file=sys.stderr)
        for key in STAT_KEYS:
            row[f"{key}_mean"], row[f"{key}_std"] = mean_std([s[key] for s in stats])
        row["n_scores"] = len(stats)
    return problems


# ----------------------------------------------------------------------------- figures
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


def errorbar_line(ax: Any, xs: Sequence[float], means: Sequence[float | None],
                  stds: Sequence[float | None], **kwargs: Any) -> None:
    """``ax.errorbar`` of the points with a mean (a missing std draws no bar)."""
    pts = [(x, m, s or 0.0) for x, m, s in zip(xs, means, stds, strict=True) if m is not None]
    if pts:
        x, m, s = (list(v) for v in zip(*pts, strict=True))
        ax.errorbar(x, m, yerr=s, capsize=3, marker="o", markersize=4, **kwargs)


def per_run(runs: Sequence[dict[str, Any]], draw_one: Callable[[dict[str, Any]], list[Path]],
            what: str) -> list[Path]:
    """Call ``draw_one`` for each run; report the runs it skips; :class:`Skip` if none drawn."""
    paths: list[Path] = []
    skipped = []
    for rec in runs:
        try:
            paths += draw_one(rec)
        except Skip as exc:
            skipped.append(str(exc))
            print(f"{what}: {exc}", file=sys.stderr)
    if not paths:
        raise Skip(f"{what}: no run could be drawn" + (f" ({skipped[0]})" if skipped else ""))
    return paths


DrawFn = Callable[..., list[Path]]


def script_main(name: str, description: str, draw: DrawFn, argv: Sequence[str] | None,
                add_args: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    """The command line of one analysis script.

    Parses ``RECORDS_DIR [--out DIR]`` (plus the script's own options), loads the records,
    calls ``draw(data, out, **options)`` and prints the files written. Returns 0 when at least
    one file was written, else 1 (with the reason on stderr).
    """
    parser = argparse.ArgumentParser(prog=f"python -m torch_ae_sad.model.analysis.{name}",
                                     description=description)
    parser.add_argument("records", type=Path, help="folder of run records (*.json)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: RECORDS_DIR/figures)")
    if add_args is not None:
        add_args(parser)
    args = parser.parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k not in ("records", "out")}
    out = args.out or args.records / "figures"
    try:
        data = load(args.records)
        for message in data.problems:
            print(message, file=sys.stderr)
        paths = draw(data, out, **options)
    except Skip as exc:
        print(f"{name}: nothing drawn: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0 if paths else 1


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
        extra = [f for f in self.group if f not in ("dataset", "normal_classes",
                                                     "anomaly_classes", "scenario")]
        text = scenario_label(row)
        return text + (f"\n{fields_label(row, extra)}" if extra else "")

    def bar_label(self, row: dict[str, Any]) -> str:
        """The bar's legend entry: the sampler and its varying parameters."""
        return sampler_label(row, self.bar) if "sampler" in self.bar else \
            fields_label(row, self.bar)


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


def unique(values: Iterable[str]) -> list[str]:
    """``values`` without repeats, in first-seen order."""
    return list(dict.fromkeys(values))


def grouped_bars(ax: Any, groups: Sequence[str], bars: Sequence[str],
                 mean: dict[tuple[str, str], float], std: dict[tuple[str, str], float | None],
                 fmt: str = "{:.3f}", n: dict[tuple[str, str], int] | None = None) -> None:
    """Draw bars ``mean[(group, bar)] ± std`` grouped by ``groups``, one colour per bar.

    Missing ``(group, bar)`` pairs leave a gap; each bar is annotated with its mean.
    """
    width = 0.8 / max(len(bars), 1)
    cmap = plt.get_cmap("tab10")
    x = np.arange(len(groups))
    for j, b in enumerate(bars):
        xs, ys, es = [], [], []
        for i, g in enumerate(groups):
            if (g, b) in mean and mean[(g, b)] is not None:
                xs.append(x[i] + (j - (len(bars) - 1) / 2) * width)
                ys.append(mean[(g, b)])
                es.append(std.get((g, b)) or 0.0)
        if not xs:
            continue
        ax.bar(xs, ys, width * 0.95, yerr=es, capsize=3, label=b, color=cmap(j % 10),
               edgecolor="black", linewidth=0.5)
        for xi, yi, ei in zip(xs, ys, es, strict=True):
            ax.annotate(fmt.format(yi), (xi, yi + ei), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xticks(x)
    ax.set_xticklabels(groups, fontsize=8)


def none_first(labels: Iterable[str]) -> list[str]:
    """Unique ``labels`` with the no-sampling reference (``none``) first."""
    labels = unique(labels)
    return sorted(labels, key=lambda b: b.split(" ", 1)[0] != "none")
