"""The data side of the analysis scripts: records, their scores and models, grouping.

Every script reads only the JSON records of a folder (through the project's one reader,
:func:`torch_ae_sad.model.experiment.load_records`, which checks each record's schema and
upgrades its spec) and the files those records name (``<run_id>.scores.npz``, and with
``--save-models`` ``<run_id>.model.pt``, read through the record store: files of the
records' own folder only, model files as data, never unpickled unless the caller trusts old
pickled ones, ``trust_pickle``). What a script cannot use raises :class:`Skip` with a message
naming what is missing.

- loading: :func:`load` (-> :class:`Records`), :func:`load_scores`, :func:`test_arrays`,
  :func:`load_trained`, :func:`test_part`, :func:`metric`;
- choosing runs: :func:`select_runs`, :func:`ok_records`;
- grouping (over seeds, by :func:`torch_ae_sad.model.results.summarize`): :func:`grouped`,
  :func:`members`, :func:`varying`, :func:`is_scenario_field`, :func:`is_sampler_field`,
  :func:`unique`, :func:`none_first`;
- per-run test-score statistics: :func:`score_stats`, :func:`add_score_stats`.

This module draws nothing (see :mod:`~torch_ae_sad.model.analysis.plotting`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from torch_ae_sad.model.experiment import (
    RecordFileError,
    load_model,
    load_records,
    make_spec,
    model_path,
    prepare_data,
)
from torch_ae_sad.model.experiment import load_scores as read_scores
from torch_ae_sad.model.results import field_key, flatten_spec, mean_std, summarize

#: Spec fields that describe the data of a run (its "scenario").
SCENARIO_FIELDS = ("dataset", "scenario", "normal_classes", "anomaly_classes", "labelled",
                   "known_classes", "pollution", "val_fraction", "val_labelled")
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
        The records folder (scores and model files are looked up there).
    records : list of dict
        Records of a known schema, with an upgraded spec and an ``ok`` / ``failed`` status.
    problems : list of str
        One message per file left out.
    trust_pickle : bool
        Whether model files of the old pickled kind may be unpickled (``--trust-pickled-models``:
        for files you made yourself; unpickling runs any code a file holds).
    """

    folder: Path
    records: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)
    trust_pickle: bool = False

    @property
    def ok(self) -> list[dict[str, Any]]:
        """The records with ``status == "ok"``."""
        return [r for r in self.records if r.get("status") == "ok"]

    def subset(self, records: Sequence[dict[str, Any]]) -> Records:
        """The same folder with only ``records`` (and no problems: they were reported)."""
        return Records(self.folder, list(records), trust_pickle=self.trust_pickle)


# ----------------------------------------------------------------------------- loading
def load(folder: str | Path, *, trust_pickle: bool = False) -> Records:
    """Load the records of ``folder``; the files the reader cannot use become problems.

    ``trust_pickle``: see :attr:`Records.trust_pickle`.

    Raises
    ------
    Skip
        When the folder is missing or holds no usable record (the message says why).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise Skip(f"no records folder {folder} (run a trainer with --out {folder} first)")
    records, unusable = load_records(folder)
    problems = [f"skipped {path.name}: {reason}" for path, reason in unusable]
    if not records:
        what = "no run records (*.json)" if not unusable else "no usable run record"
        raise Skip(f"{what} in {folder}" + (f" ({len(problems)} left out)" if problems else ""))
    return Records(folder, records, problems, trust_pickle)


def load_scores(record: dict[str, Any], folder: Path,
                keys: Sequence[str] = SCORE_KEYS) -> dict[str, np.ndarray]:
    """The arrays of a record's scores file, read and checked by the record store.

    Raises
    ------
    Skip
        When the record names no scores file, or the file is missing, corrupt, unreadable or
        lacks one of ``keys`` (the message names the file).
    """
    try:
        return read_scores(folder, record, keys)
    except RecordFileError as exc:
        raise Skip(str(exc)) from exc


def test_arrays(record: dict[str, Any], folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The test labels (1 = anomaly) and scores of a run; :class:`Skip` when unusable."""
    arrays = load_scores(record, folder)
    y = np.asarray(arrays["y_test"]).astype(int)
    s = np.asarray(arrays["test_scores"], dtype=float)
    if len(y) != len(s):
        raise Skip(f"run {record.get('run_id')}: {len(y)} test labels but {len(s)} scores")
    if len(np.unique(y)) < 2:
        raise Skip(f"run {record.get('run_id')}: the test set has one class only")
    return y, s


def load_trained(record: dict[str, Any], folder: Path, *, trust_pickle: bool = False) -> Any:
    """The fitted detector saved beside a record (``model_file``), on the CPU.

    The model file is opened as data (no code of it runs); ``trust_pickle`` also unpickles
    one of the old pickled kind, with a warning (for files you made yourself).

    Raises
    ------
    Skip
        When the record names no model file (the run was not made with ``--save-models``),
        names one outside its folder, the file is missing, corrupt, of the old pickled kind
        (without ``trust_pickle``) or cannot be loaded; the message names the file.
    """
    try:
        path = model_path(folder, record)
    except RecordFileError as exc:
        raise Skip(str(exc)) from exc
    try:
        return load_model(path, trust_pickle=trust_pickle)
    except RecordFileError as exc:
        raise Skip(f"run {record.get('run_id')}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - a model that does not fit this code cannot draw
        raise Skip(f"run {record.get('run_id')}: cannot load model file "
                   f"{record.get('model_file')!r}: {type(exc).__name__}: {exc}") from exc


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


# ----------------------------------------------------------------------------- choosing runs
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


def ok_records(data: Records) -> list[dict[str, Any]]:
    """The ``ok`` records; :class:`Skip` when none."""
    if not data.ok:
        raise Skip("no run with status 'ok' (every run failed)")
    return data.ok


# ----------------------------------------------------------------------------- grouping
def grouped(records: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """:func:`torch_ae_sad.model.results.summarize` over every field but the seed."""
    return summarize(records)


def members(row: dict[str, Any], fields: Sequence[str],
            records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of a :func:`grouped` row (same value of every grouping field)."""
    key = [field_key(row.get(f)) for f in fields]
    return [r for r in records
            if [field_key(flatten_spec(r["spec"]).get(f)) for f in fields] == key]


def varying(rows: Sequence[dict[str, Any]], fields: Iterable[str]) -> list[str]:
    """The fields among ``fields`` whose value differs between ``rows``."""
    return [f for f in fields if len({field_key(r.get(f)) for r in rows}) > 1]


def is_scenario_field(name: str) -> bool:
    """Whether a flattened spec field describes the data (see :data:`SCENARIO_FIELDS`)."""
    return name in SCENARIO_FIELDS


def is_sampler_field(name: str) -> bool:
    """Whether a flattened spec field is the sampler or one of its parameters."""
    return name == "sampler" or name.startswith("sampler_params.")


def unique(values: Iterable[str]) -> list[str]:
    """``values`` without repeats, in first-seen order."""
    return list(dict.fromkeys(values))


def none_first(labels: Iterable[str]) -> list[str]:
    """Unique ``labels`` with the no-sampling reference (``none``) first."""
    return sorted(unique(labels), key=lambda b: b.split(" ", 1)[0] != "none")


# ----------------------------------------------------------------------------- scores
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
            index.setdefault(tuple(field_key(flat.get(f)) for f in fields), []).append(rec)
    problems = []
    for row in rows:
        stats = []
        for rec in index.get(tuple(field_key(row.get(f)) for f in fields), []):
            try:
                stats.append(score_stats(rec, folder))
            except Skip as exc:
                problems.append(str(exc))
                print(f"{what}: {exc} (left out of the test-score statistics)", file=sys.stderr)
        for key in STAT_KEYS:
            row[f"{key}_mean"], row[f"{key}_std"] = mean_std([s[key] for s in stats])
        row["n_scores"] = len(stats)
    return problems
