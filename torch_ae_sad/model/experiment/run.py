"""Running one spec: its data (cached per process), its detector, its record and scores.

:func:`run_one` never raises for a failure of the run itself: a run that raises becomes a
``status: "failed"`` record with the error and its traceback, so a grid goes on.
:func:`failed_record` makes the same record for a run that died outside :func:`run_one` (a
killed worker process, a lost node).
"""

from __future__ import annotations

import gc
import inspect
import json
import os
import platform
import socket
import subprocess
import time
import traceback
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

import torch_ae_sad
from torch_ae_sad.dataset_loaders import (
    Split,
    adbench_split,
    add_test_noise,
    load_tabular,
    many_vs_many,
    one_vs_all,
    scale_split,
    undersample,
)
from torch_ae_sad.model.base import DETECTORS, TorchDetector
from torch_ae_sad.model.experiment.spec import SCHEMA, SPLIT_KEYS, canon, make_spec, run_id
from torch_ae_sad.model.experiment.store import MODEL_KEY, serialize_model
from torch_ae_sad.model.metrics import evaluate
from torch_ae_sad.model.thresholds import choose_threshold

#: Texts of allocator failures that are out-of-memory errors (CUDA, cuBLAS, cuDNN, MPS, host).
OOM_MARKERS = ("out of memory", "outofmemory", "cublas_status_alloc_failed",
               "cudnn_status_alloc_failed")


@lru_cache(maxsize=1)
def _versions() -> dict[str, Any]:
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
            "git_commit": commit, "platform": platform.platform(), "cpu_count": os.cpu_count()}


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded in every record (host and torch threads included)."""
    return {**_versions(), "host": socket.gethostname(),
            "torch_threads": torch.get_num_threads()}


@lru_cache(maxsize=2)
def _split_cached(key: str) -> Split:
    s = json.loads(key)
    kwargs = {k: s[k] for k in ("labelled", "known_classes", "pollution", "val_fraction",
                                "val_labelled", "seed")}
    if s["scenario"] == "adbench":
        X, y = load_tabular(s["dataset"])
        return adbench_split(X, y, labelled=s["labelled"], val_fraction=s["val_fraction"],
                             seed=s["seed"], name=Path(s["dataset"]).stem)
    if s["scenario"] == "one_vs_all":
        return one_vs_all(s["dataset"], s["normal_classes"][0], **kwargs)
    return many_vs_many(s["dataset"], s["normal_classes"], s["anomaly_classes"], **kwargs)


@lru_cache(maxsize=4)
def _sampled_cached(split_key: str, sampler: str, params: str) -> tuple[Split, dict[str, Any]]:
    split = _split_cached(split_key)
    seed = json.loads(split_key)["seed"]
    return undersample(split, sampler, random_state=seed, **json.loads(params))


def group_key(spec: dict[str, Any]) -> str:
    """The (split, sampler) part of a spec: runs with the same key share one sampling."""
    return json.dumps({**{k: spec[k] for k in SPLIT_KEYS}, "sampler": spec["sampler"],
                       "sampler_params": spec["sampler_params"]}, sort_keys=True)


def prepare_data(spec: dict[str, Any]) -> tuple[Split, Split, dict[str, Any]]:
    """Return ``(split, sampled_split, sampler_report)`` for a spec (cached per process).

    Sampling is cached per (split, sampler, seed), so the methods of a grid that use the
    same split and sampler share it. The sampled split's test part carries the spec's
    ``noise_std`` (:func:`~torch_ae_sad.dataset_loaders.add_test_noise`); then every part is
    scaled by the spec's ``scaling`` (:func:`~torch_ae_sad.dataset_loaders.scale_split`).
    """
    split_key = json.dumps({k: spec[k] for k in SPLIT_KEYS}, sort_keys=True)
    sampled, report = _sampled_cached(split_key, spec["sampler"],
                                      json.dumps(spec["sampler_params"], sort_keys=True))
    sampled = add_test_noise(sampled, spec["noise_std"], spec["seed"])
    sampled, _ = scale_split(sampled, spec["scaling"], spec["dataset"])
    return _split_cached(split_key), sampled, report


def build_detector(method: str, params: dict[str, Any] | None = None, *, seed: int = 0,
                   verbose: int = 0, device: str | None = None) -> Any:
    """Instantiate detector ``method`` with ``params``, seeded with ``seed``.

    ``random_state``, ``verbose`` and ``device`` are passed only when the class takes them and
    ``params`` does not set them. The one place a seeded detector is built: runs, benchmarks
    and presets call it.
    """
    cls = DETECTORS[method]
    params = dict(params or {})
    accepted = inspect.signature(cls).parameters
    if "random_state" in accepted:
        params.setdefault("random_state", seed)
    if "verbose" in accepted:
        params.setdefault("verbose", verbose)
    if "device" in accepted and device is not None:
        params.setdefault("device", device)
    return cls(**params)


def spec_detector(spec: dict[str, Any], verbose: int = 0) -> Any:
    """:func:`build_detector` for a spec (its method, parameters, seed and device)."""
    return build_detector(spec["method"], spec["method_params"], seed=spec["seed"],
                          verbose=verbose, device=spec.get("device"))


def new_record(spec: dict[str, Any], status: str) -> dict[str, Any]:
    """The fields every record starts with (schema, run id, status, spec, environment)."""
    return {"schema": SCHEMA, "run_id": run_id(spec), "status": status, "spec": spec,
            "environment": environment(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def run_one(spec: dict[str, Any], *, verbose: int = 0,
            save_model: bool = False) -> tuple[dict[str, Any], dict | None]:
    """Run one spec; never raises for a failure of the run itself.

    Returns
    -------
    record : dict
        The JSON record (``status`` ``ok`` or ``failed``).
    scores : dict or None
        Arrays to save beside it: ``y_test``, ``test_scores``, ``y_val``, ``val_scores``,
        ``train_scores`` (and the fitted detector under
        :data:`~torch_ae_sad.model.experiment.store.MODEL_KEY` when ``save_model``).
    """
    spec = make_spec(spec)
    record = new_record(spec, "running")
    scores = None
    t_start = time.perf_counter()
    try:
        scores = _fit_and_score(spec, record, verbose, save_model)
        record["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the grid goes on
        record.update(_error_fields(exc))
        scores = None
    finally:
        free_memory()
    record["total_seconds"] = time.perf_counter() - t_start
    return canon(record), scores


def _fit_and_score(spec: dict[str, Any], record: dict[str, Any], verbose: int,
                   save_model: bool) -> dict[str, Any]:
    """Fit the spec's detector and fill ``record``; return the arrays saved beside it."""
    split, sampled, report = prepare_data(spec)
    record["split"] = {**split.meta, "scaling": sampled.meta.get("scaling", {"name": "unit"})}
    record["sampling"] = {k: v for k, v in report.items() if k != "kept_indices"}
    model = spec_detector(spec, verbose)
    record["method"] = {"name": spec["method"], "params": canon(model.get_params())}
    fit_kw = {}
    if isinstance(model, TorchDetector) and len(sampled.X_val):
        fit_kw = {"X_val": sampled.X_val, "y_val": sampled.y_val}
    cuda = torch.cuda.is_available() and str(getattr(model, "device", None) or "cuda") \
        .startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    model.fit(sampled.X_train, sampled.y_train, **fit_kw)
    record["train_seconds"] = time.perf_counter() - t0
    if cuda:
        record["peak_gpu_memory_bytes"] = int(torch.cuda.max_memory_allocated())
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
    record["history"] = canon(history) if history else None
    record["device"] = str(getattr(model, "device_", "cpu"))
    scores = {"y_test": sampled.y_test, "test_scores": test_scores,
              "train_scores": model.decision_scores_, "y_val": sampled.y_val,
              "val_scores": np.asarray([] if val_scores is None else val_scores)}
    if save_model:
        scores[MODEL_KEY] = serialize_model(model)
    return scores


def is_out_of_memory(exc: BaseException | str) -> bool:
    """Whether ``exc`` (or an error text) is an out-of-memory error, host or device."""
    if isinstance(exc, MemoryError | torch.cuda.OutOfMemoryError):
        return True
    text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return any(marker in text.lower() for marker in OOM_MARKERS)


def free_memory() -> None:
    """Collect garbage and release the CUDA cache (after every run, failed or not)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _error_fields(error: BaseException | str, tb: str | None = None,
                  where: str | None = None) -> dict[str, Any]:
    """``status``, ``error``, ``traceback`` (and ``error_kind``) of a failed run.

    ``where`` (e.g. ``"local worker"``) prefixes the error text.
    """
    if isinstance(error, str):
        text, trace = error, tb or ""
    else:
        text = f"{type(error).__name__}: {error}"
        trace = tb if tb is not None else "".join(
            traceback.format_exception(type(error), error, error.__traceback__))
    fields = {"status": "failed", "error": f"{where}: {text}" if where else text,
              "traceback": trace}
    if is_out_of_memory(error):
        fields["error_kind"] = "out_of_memory"
    return fields


def failed_record(spec: dict[str, Any], error: BaseException | str, tb: str | None = None,
                  where: str | None = None) -> dict[str, Any]:
    """A ``status: "failed"`` record for a run that died outside :func:`run_one`.

    Used by the executors when a worker process crashes or a task cannot return its result;
    ``error`` is the exception (or its text), ``tb`` the traceback text if any, ``where`` the
    place it happened (prefixed to the error text).
    """
    spec = make_spec(spec)
    record = {**new_record(spec, "failed"), "started": None,
              **_error_fields(error, tb, where)}
    return canon(record)
