"""The run spec: its keys and defaults, validation of every key, the run id, old-record upgrade.

A *spec* is a plain dict typed by :class:`Spec` holding everything a run needs. This module is
the one place where defaults are filled (:func:`with_defaults`, used by :func:`make_spec` for
new specs and by :func:`upgrade_spec` for records written before a key existed) and where a
spec is validated: every key, its type and its value, the split against the data set's
labels, the sampler's and the method's parameters (:func:`make_spec`). The run id is a hash
of the spec (:func:`run_id`), so a re-run of a grid skips the runs already recorded.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import math
from functools import lru_cache
from numbers import Integral, Real
from typing import Any, TypedDict

import numpy as np

from torch_ae_sad.dataset_loaders import (
    adbench_split,
    check_dataset_name,
    check_ratio,
    check_scaling,
    check_split_request,
    get_sampler,
    is_tabular_path,
    load_tabular,
)
from torch_ae_sad.dataset_loaders.sampling import FEATURE_SPACES
from torch_ae_sad.model.base import DETECTORS
from torch_ae_sad.model.thresholds import THRESHOLD_RULES

#: Version of the record format.
SCHEMA = 1


class Spec(TypedDict):
    """Every key of a run spec (see :data:`SPEC_DEFAULTS` for the defaults)."""

    dataset: str
    scenario: str
    normal_classes: list[int]
    anomaly_classes: list[int] | None
    labelled: int | float
    known_classes: list[int] | None
    pollution: float
    val_fraction: float
    val_labelled: int | float
    noise_std: float
    scaling: str
    sampler: str
    sampler_params: dict[str, Any]
    method: str
    method_params: dict[str, Any]
    threshold: str
    threshold_params: dict[str, Any]
    seed: int
    device: str | None


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
SCENARIOS = ("one_vs_all", "many_vs_many", "adbench")
#: Keys left out of the run id (the same run on another device is the same run).
NOT_HASHED = ("device",)
#: Keys added after the first records: hashed only when not at their default, so the run ids
#: of earlier records stay valid.
HASHED_UNLESS_DEFAULT = {"noise_std": 0.0, "scaling": "unit"}
#: The keys that define a run's split (data, classes, budgets, seed).
SPLIT_KEYS = ("dataset", "scenario", "normal_classes", "anomaly_classes", "labelled",
              "known_classes", "pollution", "val_fraction", "val_labelled", "seed")
#: Sampler parameters :func:`~torch_ae_sad.dataset_loaders.undersample` itself takes.
UNDERSAMPLE_KEYS = ("ratio", "feature_space", "n_components")
#: Threshold rules that need labelled validation anomalies and normals.
_NEEDS_VALIDATION = ("val_max_gap", "best_f1", "pr_closest")


def canon(obj: Any) -> Any:
    """JSON-friendly copy (tuples -> lists, numpy scalars and arrays -> Python)."""
    if isinstance(obj, dict):
        return {str(k): canon(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [canon(v) for v in obj]
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


def with_defaults(given: dict[str, Any]) -> dict[str, Any]:
    """``given`` with every missing key of :data:`SPEC_DEFAULTS` filled (a JSON-friendly copy)."""
    return canon({**copy.deepcopy(SPEC_DEFAULTS), **given})


def upgrade_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A spec read from a record, with the keys added after it was written at their defaults.

    Old and new records of the same configuration then group together (``noise_std`` 0,
    ``scaling`` unit) and keep their run ids (:data:`HASHED_UNLESS_DEFAULT`).
    """
    return with_defaults(dict(spec))


def make_spec(entry: dict[str, Any] | None = None, *, check_data: bool = True,
              **overrides: Any) -> dict[str, Any]:
    """Return a complete, validated spec from ``entry`` and ``overrides``.

    Every key is checked, its type and value: the data set, scenario and classes against the
    data set's labels (counts included: :func:`~torch_ae_sad.dataset_loaders.check_split_request`;
    with ``check_data=False`` only what needs no data, e.g. to show a preset whose data set
    is not on this machine),
    the noise and scaling, the sampler and its parameters, the method and the values of its
    parameters, the threshold rule (and that it has the validation data it needs), the seed
    and the device.

    Raises
    ------
    SpecError
        A ValueError naming the spec, the offending key, what was expected and what was found.
    """
    given = {**(entry or {}), **overrides}
    unknown = sorted(set(given) - set(SPEC_DEFAULTS))
    if unknown:
        reason = f"unknown key(s) {unknown}; expected keys among {sorted(SPEC_DEFAULTS)}"
        raise SpecError(f"spec {given}: {reason}", reason=reason)
    spec = with_defaults(given)
    try:
        _check_data(spec, check_data)
        for check in (_check_sampler, _check_method, _check_threshold, _check_run):
            check(spec)
    except (TypeError, ValueError) as exc:
        where = f"spec {json.dumps(given, default=str)}"
        raise SpecError(f"{where}: {exc}", reason=str(exc)) from None
    return spec


def _classes(spec: dict[str, Any], key: str, *, optional: bool) -> list[int] | None:
    value = spec[key]
    if isinstance(value, Integral) and not isinstance(value, bool):
        value = [int(value)]
    if value is None and optional:
        return None
    if not isinstance(value, list) or not value or not all(
            isinstance(c, Integral) and not isinstance(c, bool) for c in value):
        raise ValueError(f"{key}: expected a non-empty list of class ints"
                         f"{' or None' if optional else ''}, found {spec[key]!r}")
    return [int(c) for c in value]


def _check_data(spec: dict[str, Any], against_labels: bool = True) -> None:
    """Data set, scenario, classes, budgets (against the labels), noise and scaling."""
    if is_tabular_path(spec["dataset"]) or spec["scenario"] == "adbench":
        _check_tabular(spec, against_labels)
        return
    check_dataset_name(spec["dataset"])
    if spec["scenario"] not in SCENARIOS:
        raise ValueError(f"scenario: expected one of {SCENARIOS}, found {spec['scenario']!r}")
    spec["normal_classes"] = _classes(spec, "normal_classes", optional=False)
    spec["anomaly_classes"] = _classes(spec, "anomaly_classes", optional=True)
    spec["known_classes"] = _classes(spec, "known_classes", optional=True)
    noise = spec["noise_std"]
    if not isinstance(noise, Real) or isinstance(noise, bool) or not noise >= 0 \
            or not math.isfinite(noise):
        raise ValueError(f"noise_std: expected a number >= 0 (std of the Gaussian noise added "
                         f"to the test inputs), found {noise!r}")
    spec["noise_std"] = float(noise)
    check_scaling(spec["scaling"])
    if against_labels:
        _split_checked(json.dumps({k: spec[k] for k in SPLIT_KEYS if k != "seed"},
                                  sort_keys=True))


#: What the ADBench scenario fixes: its classes and no other anomaly budget.
_TABULAR_FIXED = {"normal_classes": ([0], None), "anomaly_classes": ([1], None),
                  "known_classes": (None,), "pollution": (0, 0.0), "val_labelled": (0,),
                  "scaling": ("unit",)}


def _check_tabular(spec: dict[str, Any], against_data: bool) -> None:
    """A tabular file under ADBench's protocol (``adbench_split`` of the data loaders)."""
    if not is_tabular_path(spec["dataset"]):
        raise ValueError(f"dataset: scenario 'adbench' expects a tabular file (.npz, .mat, "
                         f".csv), found {spec['dataset']!r}")
    if spec["scenario"] != "adbench":
        raise ValueError(f"scenario: a tabular file takes scenario 'adbench', found "
                         f"{spec['scenario']!r}")
    for key, allowed in _TABULAR_FIXED.items():
        if spec[key] not in allowed:
            raise ValueError(f"{key}: scenario 'adbench' fixes it to {allowed[0]!r} (y == 1 "
                             f"is the anomaly class; unlabelled training anomalies stay in "
                             f"the training data), found {spec[key]!r}")
    spec["normal_classes"], spec["anomaly_classes"] = [0], [1]
    spec["pollution"] = 0.0
    noise = spec["noise_std"]
    if not isinstance(noise, Real) or isinstance(noise, bool) or not noise >= 0:
        raise ValueError(f"noise_std: expected a number >= 0, found {noise!r}")
    spec["noise_std"] = float(noise)
    if against_data:
        _tabular_checked(spec["dataset"], json.dumps(spec["labelled"]),
                         json.dumps(spec["val_fraction"]), int(spec["seed"]))


@lru_cache(maxsize=64)
def _tabular_checked(path: str, labelled: str, val_fraction: str, seed: int) -> None:
    """The ADBench split of a tabular file, built once to check the request against it."""
    try:
        X, y = load_tabular(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"dataset: {exc}") from None
    adbench_split(X, y, labelled=json.loads(labelled), val_fraction=json.loads(val_fraction),
                  seed=seed)


@lru_cache(maxsize=256)
def _split_checked(key: str) -> None:
    """:func:`~torch_ae_sad.dataset_loaders.check_split_request` once per distinct split."""
    s = json.loads(key)
    check_split_request(s.pop("dataset"), s.pop("scenario"), s.pop("normal_classes"),
                        s.pop("anomaly_classes"), **s)


def _check_sampler(spec: dict[str, Any]) -> None:
    if not isinstance(spec["sampler_params"], dict):
        raise ValueError(f"sampler_params: expected a dict, found {spec['sampler_params']!r}")
    params = dict(spec["sampler_params"])
    get_sampler(spec["sampler"])
    params["ratio"] = check_ratio(spec["sampler"], params.get("ratio"))
    check_sampler_params(spec["sampler"], params)
    spec["sampler_params"] = {k: v for k, v in params.items() if v is not None}


def check_sampler_params(name: str, params: dict[str, Any]) -> None:
    """Raise a ValueError naming any parameter sampler ``name`` does not take.

    The imbalanced-learn sampler is built (not fitted) with ``params``, so unknown keys and
    the values scikit-learn's parameter validation rejects are found before any run starts.
    """
    params = {k: v for k, v in params.items() if v is not None}
    if "random_state" in params:
        raise ValueError("sampler_params: random_state comes from the spec's seed; remove it")
    fs = params.get("feature_space", "raw")
    if fs not in FEATURE_SPACES:
        raise ValueError(f"sampler_params: feature_space: expected one of {FEATURE_SPACES}, "
                         f"found {fs!r}")
    entry = get_sampler(name)
    extra = {k: v for k, v in params.items() if k not in UNDERSAMPLE_KEYS}
    n_keep = 10 if entry.takes_ratio else None
    base = entry(n_keep=n_keep, random_state=0, n_minority=3)
    named = [p.name for p in list(inspect.signature(entry.build).parameters.values())[3:]
             if p.kind is not inspect.Parameter.VAR_KEYWORD]
    accepted = (set(base.get_params(deep=False)) | set(named)) - {"sampling_strategy",
                                                                   "random_state"}
    unknown = sorted(set(extra) - accepted)
    if unknown:
        raise ValueError(f"sampler_params: sampler {name!r} has no parameter(s) {unknown}; "
                         f"expected among {sorted(accepted | set(UNDERSAMPLE_KEYS))}")
    try:
        sampler = entry(n_keep=n_keep, random_state=0, n_minority=3, **extra)
        validate = getattr(sampler, "_validate_params", None)
        if callable(validate):
            validate()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sampler_params: sampler {name!r}: {exc}") from None


def method_parameters(method: str) -> set[str]:
    """Constructor parameter names of detector ``method`` (a ValueError if it is unknown)."""
    if method not in DETECTORS:
        raise ValueError(f"method: expected one of {sorted(DETECTORS)}, found {method!r}")
    return set(inspect.signature(DETECTORS[method]).parameters)


def check_method_params(method: str, params: dict[str, Any]) -> None:
    """Raise a ValueError naming a parameter ``method`` does not take or a value it rejects.

    The detector is built (not fitted) with ``params`` and asked to check them
    (``check_params``), so ``epochs="ten"`` or ``epochs=0`` is found before any run.
    """
    if not isinstance(params, dict):
        raise ValueError(f"method_params: expected a dict, found {params!r}")
    accepted = method_parameters(method)
    bad = sorted(set(params) - accepted)
    if bad:
        raise ValueError(f"method_params: {method} has no parameter(s) {bad}; expected among "
                         f"{sorted(accepted)}")
    try:
        model = DETECTORS[method](**params)
        check = getattr(model, "check_params", None)
        if callable(check):
            check()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"method_params: {method}: {exc}") from None


def _check_method(spec: dict[str, Any]) -> None:
    check_method_params(spec["method"], spec["method_params"])


def _check_threshold(spec: dict[str, Any]) -> None:
    rule = spec["threshold"]
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"threshold: expected one of {sorted(THRESHOLD_RULES)}, found {rule!r}")
    if not isinstance(spec["threshold_params"], dict):
        raise ValueError(f"threshold_params: expected a dict, found {spec['threshold_params']!r}")
    accepted = {p.name for p in inspect.signature(THRESHOLD_RULES[rule]).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}
    bad = sorted(set(spec["threshold_params"]) - accepted)
    if bad:
        raise ValueError(f"threshold_params: rule {rule!r} has no parameter(s) {bad}; expected "
                         f"among {sorted(accepted)}")
    if rule in _NEEDS_VALIDATION and (not spec["val_fraction"] or not spec["val_labelled"]):
        raise ValueError(f"threshold: rule {rule!r} needs validation normals and anomalies, "
                         f"found val_fraction={spec['val_fraction']!r}, val_labelled="
                         f"{spec['val_labelled']!r} (set both > 0, or use 'contamination')")


def _check_run(spec: dict[str, Any]) -> None:
    seed = spec["seed"]
    if not isinstance(seed, Integral) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError(f"seed: expected an int in [0, 2**32), found {seed!r}")
    device = spec["device"]
    if device is not None and not isinstance(device, str):
        raise ValueError(f"device: expected None or a device string ('cpu', 'cuda', "
                         f"'cuda:1'), found {device!r}")


def run_id(spec: dict[str, Any]) -> str:
    """Stable id of a spec: the first 16 hex digits of the sha256 of its canonical JSON."""
    keyed = {k: v for k, v in spec.items() if k not in NOT_HASHED
             and not (k in HASHED_UNLESS_DEFAULT and v == HASHED_UNLESS_DEFAULT[k])}
    text = json.dumps(canon(keyed), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
