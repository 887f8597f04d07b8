"""Experiment runner: one run -> one JSON record, grids of runs that resume after a crash.

A *spec* is a plain dict (see :data:`SPEC_DEFAULTS`) holding everything a run needs. Its run id
is a hash of the spec (``device`` excluded), so a re-run of a grid skips the runs whose record
already exists. Each record is written atomically the moment its run ends, with the raw test
and validation scores beside it (``<run_id>.scores.npz``) so that metrics can be recomputed.
A run that raises is recorded with ``status: "failed"``, the error and its traceback, and the
grid goes on.

Grids run serially, on local worker processes or on Ray (:mod:`torch_ae_sad.model.executors`);
in every case the driver writes the records. :mod:`torch_ae_sad.model.results` turns a folder
of records into a table of means and standard deviations over seeds.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import io
import itertools
import json
import os
import platform
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

import torch_ae_sad
from torch_ae_sad.dataset_loaders import (
    SAMPLERS,
    Split,
    add_test_noise,
    check_dataset_name,
    check_ratio,
    check_scaling,
    get_sampler,
    many_vs_many,
    one_vs_all,
    scale_split,
    undersample,
)
from torch_ae_sad.dataset_loaders.sampling import FEATURE_SPACES
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
    "noise_std": 0.0,
    "scaling": "unit",
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
#: Keys added after the first records: hashed only when not at their default, so the run ids
#: of earlier records stay valid.
_HASHED_UNLESS_DEFAULT = {"noise_std": 0.0, "scaling": "unit"}
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


class SpecError(ValueError):
    """An invalid spec; ``reason`` is the message without the spec itself."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason if reason is not None else message


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
        reason = f"unknown key(s) {unknown}; expected keys among {sorted(SPEC_DEFAULTS)}"
        raise SpecError(f"spec {given}: {reason}", reason=reason)
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
        check_sampler_params(spec["sampler"], sp)
        spec["sampler_params"] = {k: v for k, v in sp.items() if v is not None}
        if spec["method"] not in DETECTORS:
            raise ValueError(f"method: expected one of {sorted(DETECTORS)}, found "
                             f"{spec['method']!r}")
        accepted = set(inspect.signature(DETECTORS[spec["method"]]).parameters)
        bad = sorted(set(spec["method_params"]) - accepted)
        if bad:
            raise ValueError(f"method_params: {spec['method']} has no parameter(s) {bad}; "
                             f"expected among {sorted(accepted)}")
        noise = spec["noise_std"]
        if isinstance(noise, bool) or not isinstance(noise, int | float) or not noise >= 0 \
                or not np.isfinite(noise):
            raise ValueError(f"noise_std: expected a number >= 0 (std of the Gaussian noise "
                             f"added to the test inputs), found {noise!r}")
        spec["noise_std"] = float(noise)
        check_scaling(spec["scaling"])
        if spec["threshold"] not in THRESHOLD_RULES:
            raise ValueError(f"threshold: expected one of {sorted(THRESHOLD_RULES)}, found "
                             f"{spec['threshold']!r}")
    except ValueError as exc:
        raise SpecError(f"{where}: {exc}", reason=str(exc)) from None
    return spec


#: Sampler parameters :func:`~torch_ae_sad.dataset_loaders.undersample` itself takes.
_UNDERSAMPLE_KEYS = ("ratio", "feature_space", "n_components")


def check_sampler_params(name: str, params: dict[str, Any]) -> None:
    """Raise a ValueError naming any parameter sampler ``name`` does not take.

    The imbalanced-learn sampler is built (not fitted) with ``params``, so unknown keys and
    the values scikit-learn's parameter validation rejects are found before any run starts.
    """
    if "random_state" in params:
        raise ValueError("sampler_params: random_state comes from the spec's seed; remove it")
    fs = params.get("feature_space", "raw")
    if fs not in FEATURE_SPACES:
        raise ValueError(f"sampler_params: feature_space: expected one of {FEATURE_SPACES}, "
                         f"found {fs!r}")
    entry = get_sampler(name)
    extra = {k: v for k, v in params.items() if k not in _UNDERSAMPLE_KEYS}
    n_keep = 10 if entry.takes_ratio else None
    base = entry(n_keep=n_keep, random_state=0, n_minority=3)
    named = [p.name for p in list(inspect.signature(entry.build).parameters.values())[3:]
             if p.kind is not inspect.Parameter.VAR_KEYWORD]
    accepted = (set(base.get_params(deep=False)) | set(named)) - {"sampling_strategy",
                                                                   "random_state"}
    unknown = sorted(set(extra) - accepted)
    if unknown:
        raise ValueError(f"sampler_params: sampler {name!r} has no parameter(s) {unknown}; "
                         f"expected among {sorted(accepted | set(_UNDERSAMPLE_KEYS))}")
    try:
        sampler = entry(n_keep=n_keep, random_state=0, n_minority=3, **extra)
        validate = getattr(sampler, "_validate_params", None)
        if callable(validate):
            validate()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sampler_params: sampler {name!r}: {exc}") from None


def run_id(spec: dict[str, Any]) -> str:
    """Stable id of a spec: the first 16 hex digits of the sha256 of its canonical JSON."""
    keyed = {k: v for k, v in spec.items() if k not in _NOT_HASHED
             and not (k in _HASHED_UNLESS_DEFAULT and v == _HASHED_UNLESS_DEFAULT[k])}
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
    same split and sampler share it. The sampled split's test part carries the spec's
    ``noise_std`` (:func:`~torch_ae_sad.dataset_loaders.add_test_noise`); then every part is
    scaled by the spec's ``scaling`` (:func:`~torch_ae_sad.dataset_loaders.scale_split`).
    """
    split_key = json.dumps({k: spec[k] for k in _SPLIT_KEYS}, sort_keys=True)
    sampled, report = _sampled_cached(split_key, spec["sampler"],
                                      json.dumps(spec["sampler_params"], sort_keys=True))
    sampled = add_test_noise(sampled, spec["noise_std"], spec["seed"])
    sampled, _ = scale_split(sampled, spec["scaling"], spec["dataset"])
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


#: Key of the serialized fitted detector in the arrays :func:`run_one` returns with
#: ``save_model=True`` (:func:`save_record` writes it to ``<run_id>.model.pt``).
MODEL_KEY = "__model__"


def serialize_model(model: Any) -> bytes:
    """The fitted detector as ``torch.save`` bytes (its module moved to the CPU first)."""
    module = getattr(model, "module_", None)
    if isinstance(module, torch.nn.Module):
        module.cpu()
    buffer = io.BytesIO()
    torch.save(model, buffer)
    return buffer.getvalue()


def load_model(path: str | Path) -> Any:
    """Load a detector saved beside a record (``<run_id>.model.pt``) on the CPU.

    The file is a pickle: load only files you (or your runner) wrote.
    """
    model = torch.load(Path(path), map_location="cpu", weights_only=False)
    if hasattr(model, "device_"):
        model.device_ = torch.device("cpu")
    return model


def run_one(spec: dict[str, Any], *, verbose: int = 0,
            save_model: bool = False) -> tuple[dict[str, Any], dict | None]:
    """Run one spec; never raises for a failure of the run itself.

    Returns
    -------
    record : dict
        The JSON record (``status`` ``ok`` or ``failed``).
    scores : dict or None
        Arrays to save beside it: ``y_test``, ``test_scores``, ``y_val``, ``val_scores``,
        ``train_scores`` (and the fitted detector under :data:`MODEL_KEY` when
        ``save_model``).
    """
    spec = make_spec(spec)
    record: dict[str, Any] = {
        "schema": SCHEMA, "run_id": run_id(spec), "status": "running", "spec": spec,
        "environment": {**environment(), "torch_threads": torch.get_num_threads()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    scores = None
    t_start = time.perf_counter()
    try:
        split, sampled, report = prepare_data(spec)
        record["split"] = {**split.meta, "scaling": sampled.meta.get("scaling", {"name": "unit"})}
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
        if save_model:
            scores[MODEL_KEY] = serialize_model(model)
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the grid goes on
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
        if is_out_of_memory(exc):
            record["error_kind"] = "out_of_memory"
            scores = None
            _free_memory()
    record["total_seconds"] = time.perf_counter() - t_start
    return _canon(record), scores


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an out-of-memory error (host ``MemoryError`` or CUDA / MPS OOM)."""
    if isinstance(exc, MemoryError | torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _free_memory() -> None:
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def failed_record(spec: dict[str, Any], error: BaseException | str,
                  tb: str | None = None) -> dict[str, Any]:
    """A ``status: "failed"`` record for a run that died outside :func:`run_one`.

    Used by the executors when a worker process crashes or a task cannot return its result;
    ``error`` is the exception (or its text), ``tb`` the traceback text if any.
    """
    spec = make_spec(spec)
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    record: dict[str, Any] = {
        "schema": SCHEMA, "run_id": run_id(spec), "status": "failed", "spec": spec,
        "environment": environment(), "started": None, "error": text,
        "traceback": tb if tb is not None else (
            "" if isinstance(error, str) else
            "".join(traceback.format_exception(type(error), error, error.__traceback__))),
    }
    if isinstance(error, BaseException) and is_out_of_memory(error):
        record["error_kind"] = "out_of_memory"
    return _canon(record)


#: Temporary files of :func:`_atomic_write`: ``.<name>.<pid>.<random>.tmp``.
TMP_SUFFIX = ".tmp"


def _atomic_write(path: Path, write: Callable[[Any], Any]) -> None:
    """Write ``path`` through a temporary file in the same folder, then ``os.replace`` it.

    A reader never sees a partial file; a write killed half-way leaves only a hidden
    ``.<name>.<pid>.*.tmp`` file that :func:`clean_stale_tmp` removes later.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                               suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        try:
            dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def clean_stale_tmp(folder: str | Path, *, max_age: float = 3600.0) -> list[Path]:
    """Remove temporary files left in ``folder`` by killed writes; return their paths.

    A ``.<name>.<pid>.*.tmp`` file is stale when process ``pid`` is gone (or, for names
    without a pid, when it is older than ``max_age`` seconds); files of live writers are kept,
    so two grids may share a folder.
    """
    removed = []
    for tmp in Path(folder).glob(f".*{TMP_SUFFIX}"):
        parts = tmp.name.split(".")
        pid = next((int(p) for p in parts[2:-1] if p.isdigit()), None)
        try:
            stale = (not _pid_alive(pid)) if pid is not None else \
                time.time() - tmp.stat().st_mtime > max_age
            if stale:
                tmp.unlink()
                removed.append(tmp)
        except FileNotFoundError:
            continue
    return removed


def save_record(out_dir: str | Path, record: dict[str, Any], scores: dict | None) -> Path:
    """Write a run's files, each atomically, the record last.

    ``<run_id>.scores.npz`` (if any), ``<run_id>.model.pt`` (when ``scores`` holds
    :data:`MODEL_KEY`), then ``<run_id>.json``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rid = record["run_id"]
    if scores is not None and MODEL_KEY in scores:
        scores = dict(scores)
        blob = scores.pop(MODEL_KEY)
        record["model_file"] = f"{rid}.model.pt"
        _atomic_write(out / record["model_file"], lambda fh: fh.write(blob))
    if scores is not None:
        record["scores_file"] = f"{rid}.scores.npz"
        _atomic_write(out / record["scores_file"], lambda fh: np.savez_compressed(fh, **scores))
    path = out / f"{rid}.json"
    _atomic_write(path, lambda fh: fh.write(json.dumps(record, indent=1).encode()))
    return path


def load_records(folder: str | Path) -> tuple[list[dict[str, Any]], list[tuple[Path, str]]]:
    """Read every ``*.json`` record in ``folder`` (hidden temporary files are ignored).

    Returns
    -------
    records : list of dict
    problems : list of (path, reason)
        Files that could not be read as records (reported, not fatal).
    """
    records, problems = [], []
    for path in sorted(Path(folder).glob("*.json")):
        if path.name.startswith("."):  # temporary files of atomic writes are hidden
            continue
        try:
            rec = json.loads(path.read_text())
            if not isinstance(rec, dict) or "run_id" not in rec:
                raise ValueError("no run_id")
            records.append(rec)
        except (OSError, ValueError) as exc:
            problems.append((path, f"{type(exc).__name__}: {exc}"))
    return records, problems


#: Spec keys an ANOMALY_CONFIG entry may not set (they come from the other lists / seeds).
_NOT_SCENARIO_KEYS = ("sampler", "sampler_params", "method", "method_params", "seed")


def _entry_error(list_name: str, i: int, entry: Any, exc: Exception | str) -> ValueError:
    text = json.dumps(entry, default=str) if isinstance(entry, dict) else repr(entry)
    return ValueError(f"{list_name} entry {i} {text}: {exc}")


def check_config_lists(anomaly_config: Sequence[dict], sampler_config: Sequence[dict],
                       model_config: Sequence[dict], **common: Any) -> None:
    """Validate each entry of the three config lists on its own, naming a bad one.

    Raises
    ------
    ValueError
        ``"<LIST> entry <i> {...}: <reason>"`` for the first bad entry (unknown key, sampler,
        sampler parameter, method, method parameter, invalid value).
    """
    for name, entries in (("ANOMALY_CONFIG", anomaly_config), ("SAMPLER_CONFIG", sampler_config),
                          ("MODEL_CONFIG", model_config)):
        if not entries:
            raise ValueError(f"{name}: expected at least one entry, found none")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise _entry_error(name, i, entry, f"expected a dict, found "
                                                   f"{type(entry).__name__}")
    scenario_keys = sorted(set(SPEC_DEFAULTS) - set(_NOT_SCENARIO_KEYS))
    for i, entry in enumerate(anomaly_config):
        unknown = sorted(set(entry) - set(scenario_keys))
        if unknown:
            raise _entry_error("ANOMALY_CONFIG", i, entry, f"unknown key(s) {unknown}; expected "
                               f"keys among {scenario_keys} (seeds come from --seeds)")
        try:
            make_spec({**common, **entry, "sampler": "none", "method": "RandomGuess"})
        except ValueError as exc:
            raise _entry_error("ANOMALY_CONFIG", i, entry, getattr(exc, "reason", exc)) from None
    for i, entry in enumerate(sampler_config):
        if "name" not in entry:
            raise _entry_error("SAMPLER_CONFIG", i, entry, "expected a 'name' key (a sampler "
                               f"among {sorted(SAMPLERS)})")
        params = {k: v for k, v in entry.items() if k != "name"}
        try:
            get_sampler(entry["name"])
            params["ratio"] = check_ratio(entry["name"], params.get("ratio"))
            check_sampler_params(entry["name"], {k: v for k, v in params.items()
                                                 if v is not None})
        except ValueError as exc:
            raise _entry_error("SAMPLER_CONFIG", i, entry, exc) from None
    for i, entry in enumerate(model_config):
        method = entry.get("method", common.get("method", "AESAD"))
        if method not in DETECTORS:
            raise _entry_error("MODEL_CONFIG", i, entry, f"method: expected one of "
                               f"{sorted(DETECTORS)}, found {method!r}")
        accepted = set(inspect.signature(DETECTORS[method]).parameters)
        bad = sorted(set(entry) - accepted - {"method"})
        if bad:
            raise _entry_error("MODEL_CONFIG", i, entry, f"{method} has no parameter(s) {bad}; "
                               f"expected among {sorted(accepted)}")


def expand_grid(anomaly_config: Sequence[dict], sampler_config: Sequence[dict],
                model_config: Sequence[dict], seeds: Iterable[int] = (0,),
                **common: Any) -> list[dict[str, Any]]:
    """Cartesian product of the config lists -> validated specs.

    ``anomaly_config`` entries hold split keys (``scenario``, ``normal_classes``, ...);
    ``sampler_config`` entries hold ``name`` and sampler parameters; ``model_config`` entries
    hold ``method`` and its parameters; ``common`` holds spec keys shared by every run
    (``dataset``, ``device``, ...). Every entry is validated before any run starts, and an
    error names the offending entry (:func:`check_config_lists`).
    """
    check_config_lists(anomaly_config, sampler_config, model_config, **common)
    specs = []
    for anomaly, sampler, model, seed in itertools.product(anomaly_config, sampler_config,
                                                           model_config, seeds):
        sampler = dict(sampler)
        model = dict(model)
        method = model.pop("method", common.get("method", "AESAD"))
        specs.append(make_spec({**common, **anomaly, "sampler": sampler.pop("name"),
                                "sampler_params": sampler, "method": method,
                                "method_params": model, "seed": seed}))
    return specs


def run_grid(specs: Sequence[dict[str, Any]], out_dir: str | Path = DEFAULT_OUT, *,
             skip_existing: bool = True, verbose: int = 1, executor: str | None = None,
             workers: int = 1, ray_address: str | None = None,
             threads: int | None = None, save_models: bool = False) -> list[dict[str, Any]]:
    """Run every spec, writing each record as it finishes; skip those already done.

    Parameters
    ----------
    specs : sequence of dict
        Specs (:func:`make_spec` / :func:`expand_grid`).
    out_dir : str or Path
        Records folder.
    skip_existing : bool
        Skip specs whose record exists with ``status: "ok"`` (failed ones run again).
    verbose : int
        0 silent, 1 progress bar, 2 also the training progress of serial runs.
    executor : {"serial", "local", "ray"}, optional
        Where runs execute (:func:`torch_ae_sad.model.executors.run_specs`); default
        ``serial`` for one worker, else ``local``.
    workers : int
        Runs at once (local processes or Ray tasks).
    ray_address : str, optional
        Ray cluster address (``None``: a local Ray instance).
    threads : int, optional
        Torch threads per run (default: the idle CPUs divided among the workers, see
        :func:`torch_ae_sad.model.executors.threads_per_worker`).
    save_models : bool
        Save each fitted detector beside its record (``<run_id>.model.pt``).

    Returns
    -------
    list of dict
        The records of all specs, in the order of ``specs`` (loaded from disk for the skipped
        ones).
    """
    from torch_ae_sad.model.executors import run_specs

    return run_specs(specs, out_dir, executor=executor, workers=workers,
                     ray_address=ray_address, skip_existing=skip_existing, verbose=verbose,
                     threads=threads, save_models=save_models)


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

    def fmt(col: str, v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.2f}" if col.endswith("_s") else f"{v:.4f}"
        return "-" if v is None else str(v)

    cells = [[fmt(c, r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([line, "-" * len(line), *body])


#: ``--quick``: how many entries of each list it keeps, and its training budgets.
QUICK = {"scenarios": 1, "samplers": 2, "models": 4, "epochs": 2, "pretrain_epochs": 2,
         "n_steps": 50}


def _accepted(entry: dict[str, Any]) -> set[str]:
    """Parameter names of a MODEL_CONFIG entry's method (empty for an unknown method)."""
    cls = DETECTORS.get(entry.get("method", "AESAD"))
    return set(inspect.signature(cls).parameters) if cls is not None else set()


def quick_model(entry: dict[str, Any], epochs: int | None = None) -> dict[str, Any]:
    """A MODEL_CONFIG entry with :data:`QUICK`'s small budgets (only keys its method takes).

    ``epochs`` (default ``QUICK["epochs"]``) replaces ``epochs``; ``pretrain_epochs`` and a set
    ``n_steps`` are capped at ``QUICK``'s values.
    """
    accepted = _accepted(entry)
    out = dict(entry)
    if "epochs" in accepted:
        out["epochs"] = QUICK["epochs"] if epochs is None else epochs
    if "pretrain_epochs" in accepted:
        out["pretrain_epochs"] = min(out.get("pretrain_epochs", QUICK["pretrain_epochs"]),
                                     QUICK["pretrain_epochs"])
    if out.get("n_steps") is not None:
        out["n_steps"] = min(out["n_steps"], QUICK["n_steps"])
    return out


def trainer_main(anomaly_config: Sequence[dict], sampler_config: Sequence[dict],
                 model_config: Sequence[dict], *, description: str,
                 argv: Sequence[str] | None = None, **common: Any) -> list[dict[str, Any]]:
    """The command line every trainer module's ``main()`` calls.

    Every combination of the three lists and the seeds is one run. The lists are validated
    before the first run (a bad entry is named). Flags: ``--quick`` (first scenario, first
    two samplers, first four models, first seed, 2 epochs / 50 steps), ``--seeds``,
    ``--device``, ``--epochs``, ``--out``, ``--force`` (re-run finished specs), ``--quiet``,
    ``--workers``, ``--executor``, ``--ray-address``, ``--threads``; see ``--help``.

    Parameters
    ----------
    anomaly_config, sampler_config, model_config : sequence of dict
        The trainer's ``ANOMALY_CONFIG``, ``SAMPLER_CONFIG`` and ``MODEL_CONFIG``.
    description : str
        The ``--help`` text.
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).
    **common
        Spec keys shared by every run (``dataset``, ...).

    Returns
    -------
    list of dict
        The records of the grid.
    """
    import argparse

    from torch_ae_sad.model.executors import EXECUTORS

    epilog = (f"grid: {len(anomaly_config)} scenario(s) x {len(sampler_config)} sampler(s) x "
              f"{len(model_config)} model(s) x seeds; --quick keeps {QUICK['scenarios']} x "
              f"{min(QUICK['samplers'], len(sampler_config))} x "
              f"{min(QUICK['models'], len(model_config))} x 1 with epochs "
              f"{QUICK['epochs']} (n_steps <= {QUICK['n_steps']}). Summary over seeds: "
              "python -m torch_ae_sad.model.results DIR")
    parser = argparse.ArgumentParser(description=description, epilog=epilog)
    parser.add_argument("--quick", action="store_true",
                        help="small version: first scenario, first two samplers, first four "
                             "models, first seed, 2 epochs (well under a minute on 2 cores)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds (default: 0; --quick keeps only the first unless given)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: auto)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the epochs of every model that has epochs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"records folder (default: {DEFAULT_OUT})")
    parser.add_argument("--force", action="store_true", help="re-run specs already recorded")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--workers", type=int, default=1,
                        help="runs at once: local processes or Ray tasks (default: 1)")
    parser.add_argument("--executor", choices=EXECUTORS, default=None,
                        help="where runs execute (default: serial for 1 worker, local for "
                             "more; ray when --ray-address is given)")
    parser.add_argument("--ray-address", default=None,
                        help="Ray cluster address, e.g. ray://host:10001 or auto (default: a "
                             "local Ray instance); needs pip install 'torch_ae_sad[ray]'")
    parser.add_argument("--save-models", action="store_true",
                        help="also save each fitted detector beside its record "
                             "(<run_id>.model.pt) for the reconstruction and latent-space "
                             "figures of torch_ae_sad.model.analysis")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per run (default: the idle CPUs, i.e. CPUs "
                             "minus the load average, divided among the workers)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers: expected >= 1, found {args.workers}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads: expected >= 1, found {args.threads}")
    executor = args.executor
    if executor is None:
        executor = "ray" if args.ray_address else ("serial" if args.workers == 1 else "local")

    if args.device is not None:
        resolve_device(args.device)
        common["device"] = args.device
    check_config_lists(anomaly_config, sampler_config, model_config, **common)
    anomaly, samplers, models = list(anomaly_config), list(sampler_config), list(model_config)
    seeds = args.seeds if args.seeds is not None else [0]
    if args.quick:
        anomaly, samplers = anomaly[:QUICK["scenarios"]], samplers[:QUICK["samplers"]]
        models = models[:QUICK["models"]]
        seeds = seeds if args.seeds is not None else seeds[:1]
        models = [quick_model(m, args.epochs) for m in models]
    elif args.epochs is not None:
        models = [{**m, "epochs": args.epochs} if "epochs" in _accepted(m) else m
                  for m in models]
    specs = expand_grid(anomaly, samplers, models, seeds, **common)
    unique = list({run_id(s): s for s in specs}.values())
    if len(unique) < len(specs):
        print(f"{len(specs) - len(unique)} duplicate spec(s) dropped (identical entries"
              f"{' after --quick' if args.quick else ''})")
    specs = unique
    print(f"{len(specs)} runs -> {args.out}")
    t0 = time.perf_counter()
    try:
        records = run_grid(specs, args.out, skip_existing=not args.force,
                           verbose=0 if args.quiet else 1, executor=executor,
                           workers=args.workers, ray_address=args.ray_address,
                           threads=args.threads, save_models=args.save_models)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    print(format_table(summary_rows(records)))
    failed = sum(r["status"] != "ok" for r in records)
    print(f"{len(records) - failed} ok, {failed} failed, {time.perf_counter() - t0:.1f} s; "
          f"records in {args.out}")
    return records
