"""Experiment runner: one run -> one JSON record, grids of runs that resume after a crash.

A *spec* is a plain dict (see :data:`SPEC_DEFAULTS`) holding everything a run needs. Its run id
is a hash of the spec (``device`` excluded), so a re-run of a grid skips the runs whose record
already exists. Each record is written atomically the moment its run ends, with the raw test
and validation scores beside it (``<run_id>.scores.npz``) so that metrics can be recomputed.
A run that raises is recorded with ``status: "failed"``, the error and its traceback, and the
grid goes on.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

import torch_ae_sad
from torch_ae_sad.dataset_loaders import (
    Split,
    check_dataset_name,
    check_ratio,
    get_sampler,
    many_vs_many,
    one_vs_all,
    undersample,
)
from torch_ae_sad.model.base import DETECTORS, TorchDetector
from torch_ae_sad.model.metrics import evaluate
from torch_ae_sad.model.thresholds import THRESHOLD_RULES, choose_threshold
from torch_ae_sad.utils.device import resolve_device

SCHEMA = 1
#: Where trainer modules write by default.
DEFAULT_OUT = Path(__file__).resolve().parent / "json_metrics" / "staged"

#: Every key a spec may hold, with its default.
SPEC_DEFAULTS: dict[str, Any] = {
    "dataset": "mnist",
    "scenario": "one_vs_all",
    "normal_classes": None,
    "anomaly_classes": None,
    "labelled": 60,
    "known_classes": None,
    "pollution": 0.0,
    "val_fraction": 0.1,
    "val_labelled": 0,
    "sampler": "none",
    "sampler_params": {},
    "method": "AESAD",
    "method_params": {},
    "threshold": "contamination",
    "threshold_params": {},
    "seed": 0,
    "device": None,
}
SCENARIOS = ("one_vs_all", "many_vs_many")
_NOT_HASHED = ("device",)
_SPLIT_KEYS = ("dataset", "scenario", "normal_classes", "anomaly_classes", "labelled",
               "known_classes", "pollution", "val_fraction", "val_labelled", "seed")


def _canon(obj: Any) -> Any:
    """JSON-friendly copy (tuples -> lists, numpy scalars -> Python)."""
    if isinstance(obj, dict):
        return {str(k): _canon(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_canon(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def make_spec(entry: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """Return a complete, validated spec from ``entry`` and ``overrides``.

    Raises
    ------
    ValueError
        Naming the offending key and value: an unknown key, dataset, scenario, sampler,
        method, method parameter, threshold rule, or an invalid ratio.
    """
    given = {**(entry or {}), **overrides}
    unknown = sorted(set(given) - set(SPEC_DEFAULTS))
    if unknown:
        raise ValueError(f"spec {given}: unknown key(s) {unknown}; expected keys among "
                         f"{sorted(SPEC_DEFAULTS)}")
    spec = _canon({**copy.deepcopy(SPEC_DEFAULTS), **given})
    where = f"spec {json.dumps({k: v for k, v in given.items()}, default=str)}"
    try:
        check_dataset_name(spec["dataset"])
        if spec["scenario"] not in SCENARIOS:
            raise ValueError(f"scenario: expected one of {SCENARIOS}, found {spec['scenario']!r}")
        normal = spec["normal_classes"]
        if isinstance(normal, int):
            spec["normal_classes"] = normal = [normal]
        if not normal:
            raise ValueError("normal_classes: expected a non-empty list, found "
                             f"{spec['normal_classes']!r}")
        if spec["scenario"] == "one_vs_all" and len(normal) != 1:
            raise ValueError(f"normal_classes: one_vs_all expects one class, found {normal}")
        if spec["scenario"] == "many_vs_many" and not spec["anomaly_classes"]:
            raise ValueError("anomaly_classes: many_vs_many expects a non-empty list, found "
                             f"{spec['anomaly_classes']!r}")
        sp = dict(spec["sampler_params"])
        get_sampler(spec["sampler"])
        sp["ratio"] = check_ratio(spec["sampler"], sp.get("ratio"))
        spec["sampler_params"] = {k: v for k, v in sp.items() if v is not None}
        if spec["method"] not in DETECTORS:
            raise ValueError(f"method: expected one of {sorted(DETECTORS)}, found "
                             f"{spec['method']!r}")
        accepted = set(inspect.signature(DETECTORS[spec["method"]]).parameters)
        bad = sorted(set(spec["method_params"]) - accepted)
        if bad:
            raise ValueError(f"method_params: {spec['method']} has no parameter(s) {bad}; "
                             f"expected among {sorted(accepted)}")
        if spec["threshold"] not in THRESHOLD_RULES:
            raise ValueError(f"threshold: expected one of {sorted(THRESHOLD_RULES)}, found "
                             f"{spec['threshold']!r}")
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return spec


def run_id(spec: dict[str, Any]) -> str:
    """Stable id of a spec: the first 16 hex digits of the sha256 of its canonical JSON."""
    keyed = {k: v for k, v in spec.items() if k not in _NOT_HASHED}
    text = json.dumps(_canon(keyed), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Versions and machine facts recorded in every record."""
    import imblearn
    import sklearn

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=torch_ae_sad.PROJECT_ROOT,
                                capture_output=True, text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "sklearn": sklearn.__version__,
            "imblearn": imblearn.__version__, "torch_ae_sad": torch_ae_sad.__version__,
            "git_commit": commit, "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads()}


@lru_cache(maxsize=2)
def _split_cached(key: str) -> Split:
    s = json.loads(key)
    kwargs = {k: s[k] for k in ("labelled", "known_classes", "pollution", "val_fraction",
                                "val_labelled", "seed")}
    if s["scenario"] == "one_vs_all":
        return one_vs_all(s["dataset"], s["normal_classes"][0], **kwargs)
    return many_vs_many(s["dataset"], s["normal_classes"], s["anomaly_classes"], **kwargs)


@lru_cache(maxsize=4)
def _sampled_cached(split_key: str, sampler: str, params: str) -> tuple[Split, dict[str, Any]]:
    split = _split_cached(split_key)
    seed = json.loads(split_key)["seed"]
    return undersample(split, sampler, random_state=seed, **json.loads(params))


def prepare_data(spec: dict[str, Any]) -> tuple[Split, Split, dict[str, Any]]:
    """Return ``(split, sampled_split, sampler_report)`` for a spec (cached per process).

    Sampling is cached per (split, sampler, seed), so the methods of a grid that use the
    same split and sampler share it.
    """
    split_key = json.dumps({k: spec[k] for k in _SPLIT_KEYS}, sort_keys=True)
    sampled, report = _sampled_cached(split_key, spec["sampler"],
                                      json.dumps(spec["sampler_params"], sort_keys=True))
    return _split_cached(split_key), sampled, report


def build_detector(spec: dict[str, Any], verbose: int = 0) -> Any:
    """Instantiate the spec's detector, seeded with the spec's seed."""
    cls = DETECTORS[spec["method"]]
    params = dict(spec["method_params"])
    accepted = inspect.signature(cls).parameters
    if "random_state" in accepted:
        params.setdefault("random_state", spec["seed"])
    if "verbose" in accepted:
        params.setdefault("verbose", verbose)
    if "device" in accepted and spec.get("device") is not None:
        params.setdefault("device", spec["device"])
    return cls(**params)


def run_one(spec: dict[str, Any], *, verbose: int = 0) -> tuple[dict[str, Any], dict | None]:
    """Run one spec; never raises for a failure of the run itself.

    Returns
    -------
    record : dict
        The JSON record (``status`` ``ok`` or ``failed``).
    scores : dict or None
        Arrays to save beside it: ``y_test``, ``test_scores``, ``y_val``, ``val_scores``,
        ``train_scores``.
    """
    spec = make_spec(spec)
    record: dict[str, Any] = {
        "schema": SCHEMA, "run_id": run_id(spec), "status": "running", "spec": spec,
        "environment": environment(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    scores = None
    t_start = time.perf_counter()
    try:
        split, sampled, report = prepare_data(spec)
        record["split"] = split.meta
        record["sampling"] = {k: v for k, v in report.items() if k != "kept_indices"}
        model = build_detector(spec, verbose)
        record["method"] = {"name": spec["method"], "params": _canon(model.get_params())}
        fit_kw = {}
        if isinstance(model, TorchDetector) and len(sampled.X_val):
            fit_kw = {"X_val": sampled.X_val, "y_val": sampled.y_val}
        t0 = time.perf_counter()
        model.fit(sampled.X_train, sampled.y_train, **fit_kw)
        record["train_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        test_scores = model.decision_function(sampled.X_test)
        record["score_seconds"] = time.perf_counter() - t0
        val_scores = model.decision_function(sampled.X_val) if len(sampled.X_val) else None
        params = dict(spec["threshold_params"])
        if spec["threshold"] == "contamination":
            params.setdefault("contamination", getattr(model, "contamination", 0.1))
        threshold = choose_threshold(spec["threshold"], model.decision_scores_, val_scores,
                                     sampled.y_val, **params)
        record["metrics"] = evaluate(sampled.y_test, test_scores, threshold)
        record["metrics"]["threshold_rule"] = {"name": spec["threshold"], **params}
        history = getattr(model, "history_", None)
        record["history"] = _canon(history) if history else None
        record["device"] = str(getattr(model, "device_", "cpu"))
        record["status"] = "ok"
        scores = {"y_test": sampled.y_test, "test_scores": test_scores,
                  "train_scores": model.decision_scores_, "y_val": sampled.y_val,
                  "val_scores": np.asarray([] if val_scores is None else val_scores)}
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the grid goes on
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
    record["total_seconds"] = time.perf_counter() - t_start
    return _canon(record), scores


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_record(out_dir: str | Path, record: dict[str, Any], scores: dict | None) -> Path:
    """Write ``<run_id>.scores.npz`` (if any) then ``<run_id>.json``, each atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rid = record["run_id"]
    if scores is not None:
        record["scores_file"] = f"{rid}.scores.npz"
        _atomic_write(out / record["scores_file"], lambda fh: np.savez_compressed(fh, **scores))
    path = out / f"{rid}.json"
    _atomic_write(path, lambda fh: fh.write(json.dumps(record, indent=1).encode()))
    return path


def load_records(folder: str | Path) -> tuple[list[dict[str, Any]], list[tuple[Path, str]]]:
    """Read every ``*.json`` record in ``folder``.

    Returns
    -------
    records : list of dict
    problems : list of (path, reason)
        Files that could not be read as records (reported, not fatal).
    """
    records, problems = [], []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            rec = json.loads(path.read_text())
            if not isinstance(rec, dict) or "run_id" not in rec:
                raise ValueError("no run_id")
            records.append(rec)
        except (OSError, ValueError) as exc:
            problems.append((path, f"{type(exc).__name__}: {exc}"))
    return records, problems


def expand_grid(anomaly_config: Sequence[dict], sampler_config: Sequence[dict],
                model_config: Sequence[dict], seeds: Iterable[int] = (0,),
                **common: Any) -> list[dict[str, Any]]:
    """Cartesian product of the config lists -> validated specs.

    ``anomaly_config`` entries hold split keys (``scenario``, ``normal_classes``, ...);
    ``sampler_config`` entries hold ``name`` and sampler parameters; ``model_config`` entries
    hold ``method`` and its parameters. Every entry is validated before any run starts.
    """
    specs = []
    for anomaly, sampler, model, seed in itertools.product(anomaly_config, sampler_config,
                                                           model_config, seeds):
        sampler = dict(sampler)
        if "name" not in sampler:
            raise ValueError(f"SAMPLER_CONFIG entry {sampler}: expected a 'name' key")
        model = dict(model)
        method = model.pop("method", common.get("method", "AESAD"))
        specs.append(make_spec({**common, **anomaly, "sampler": sampler.pop("name"),
                                "sampler_params": sampler, "method": method,
                                "method_params": model, "seed": seed}))
    return specs


def run_grid(specs: Sequence[dict[str, Any]], out_dir: str | Path = DEFAULT_OUT, *,
             skip_existing: bool = True, verbose: int = 1) -> list[dict[str, Any]]:
    """Run every spec, writing each record as it finishes; skip those already done.

    Returns
    -------
    list of dict
        The records of all specs (loaded from disk for the skipped ones).
    """
    from tqdm.auto import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    bar = tqdm(specs, desc="runs", unit="run", disable=verbose < 1)
    for spec in bar:
        rid = run_id(spec)
        path = out / f"{rid}.json"
        if skip_existing and path.exists():
            try:
                old = json.loads(path.read_text())
                if old.get("status") == "ok":
                    records.append(old)
                    continue
            except ValueError:
                print(f"warning: {path} is not valid JSON; running that spec again",
                      file=sys.stderr)
        bar.set_postfix_str(f"{spec['method']} {spec['sampler']} {spec['normal_classes']}")
        record, scores = run_one(spec, verbose=verbose - 1)
        save_record(out, record, scores)
        if record["status"] != "ok":
            tqdm.write(f"run {rid} failed: {record['error']}", file=sys.stderr)
        records.append(record)
    return records


def _classes(c: list[int] | None) -> str:
    if not c:
        return "rest"
    if len(c) > 2 and c == list(range(c[0], c[-1] + 1)):
        return f"{c[0]}-{c[-1]}"
    return ",".join(map(str, c))


def summary_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per record for tables: scenario, sampler, sizes, seconds, metrics."""
    rows = []
    for r in records:
        s, m = r["spec"], r.get("metrics") or {}
        sam = r.get("sampling") or {}
        sp = s["sampler_params"]
        label = s["sampler"] + (f" {sp['ratio']:g}" if "ratio" in sp else "") + \
            (" pca" if sp.get("feature_space") == "pca" else "")
        rows.append({
            "scenario": f"{s['dataset']} {_classes(s['normal_classes'])} vs "
                        f"{_classes(s['anomaly_classes'])}",
            "method": s["method"], "sampler": label, "seed": s["seed"],
            "normals": f"{sam.get('n_normal_before', '?')}->{sam.get('n_normal_after', '?')}",
            "sampler_s": sam.get("seconds"), "train_s": r.get("train_seconds"),
            "roc_auc": m.get("roc_auc"), "aupr": m.get("average_precision"),
            "status": r["status"],
        })
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Plain-text table of :func:`summary_rows` output."""
    if not rows:
        return "(no runs)"
    cols = list(rows[0])

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4f}" if v <= 1.0 else f"{v:.1f}"
        return "-" if v is None else str(v)

    cells = [[fmt(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([line, "-" * len(line), *body])


def trainer_main(anomaly_config: Sequence[dict], sampler_config: Sequence[dict],
                 model_config: Sequence[dict], *, description: str,
                 argv: Sequence[str] | None = None, **common: Any) -> list[dict[str, Any]]:
    """The command line every trainer module's ``main()`` calls.

    Flags: ``--quick`` (first scenario, first two samplers, 2 epochs, seed 0), ``--seeds``,
    ``--device``, ``--epochs``, ``--out``, ``--force`` (re-run finished specs), ``--quiet``.
    """
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="small version: first scenario, first two samplers, 2 epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default: 0)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: auto)")
    parser.add_argument("--epochs", type=int, default=None, help="override every epochs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"records folder (default: {DEFAULT_OUT})")
    parser.add_argument("--force", action="store_true", help="re-run specs already recorded")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    anomaly, samplers, models = list(anomaly_config), list(sampler_config), list(model_config)
    seeds = args.seeds
    epochs = args.epochs
    if args.quick:
        anomaly, samplers, seeds = anomaly[:1], samplers[:2], seeds[:1]
        epochs = epochs or 2
    if epochs is not None:
        models = [{**m, "epochs": epochs} for m in models]
    if args.device is not None:
        resolve_device(args.device)
        common["device"] = args.device
    specs = expand_grid(anomaly, samplers, models, seeds, **common)
    print(f"{len(specs)} runs -> {args.out}")
    t0 = time.perf_counter()
    records = run_grid(specs, args.out, skip_existing=not args.force,
                       verbose=0 if args.quiet else 1)
    print(format_table(summary_rows(records)))
    failed = sum(r["status"] != "ok" for r in records)
    print(f"{len(records) - failed} ok, {failed} failed, {time.perf_counter() - t0:.1f} s; "
          f"records in {args.out}")
    return records
