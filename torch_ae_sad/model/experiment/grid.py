"""Grids: the three config lists of a trainer checked, expanded into specs, and run.

A trainer module holds ``ANOMALY_CONFIG`` (split keys), ``SAMPLER_CONFIG`` (``name`` and
sampler parameters) and ``MODEL_CONFIG`` (``method`` and its parameters); every combination
with every seed is one run. The whole grid is validated before its first run
(:func:`expand_grid`): an error names the list, the entry and the key. ``--quick`` keeps a
small corner of the grid with small training budgets (:data:`QUICK`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from numbers import Integral
from pathlib import Path
from typing import Any

from torch_ae_sad.dataset_loaders import SAMPLERS
from torch_ae_sad.model.experiment.executors import run_specs
from torch_ae_sad.model.experiment.spec import (
    SPEC_DEFAULTS,
    SpecError,
    check_method_params,
    make_spec,
    method_parameters,
)
from torch_ae_sad.model.experiment.store import DEFAULT_OUT

#: Spec keys an ANOMALY_CONFIG entry may not set (they come from the other lists / seeds).
NOT_SCENARIO_KEYS = ("sampler", "sampler_params", "method", "method_params", "seed")
#: ``--quick``: how many entries of each list it keeps, and its training budgets.
QUICK = {"scenarios": 1, "samplers": 2, "models": 4, "epochs": 2, "pretrain_epochs": 2,
         "n_steps": 50}
_LISTS = ("ANOMALY_CONFIG", "SAMPLER_CONFIG", "MODEL_CONFIG")


def _entry_text(entry: Any) -> str:
    return json.dumps(entry, default=str) if isinstance(entry, dict) else repr(entry)


def _entry_error(list_name: str, i: int, entry: Any, exc: Exception | str) -> ValueError:
    reason = getattr(exc, "reason", exc)
    return ValueError(f"{list_name} entry {i} {_entry_text(entry)}: {reason}")


def check_config_lists(anomaly_config: Sequence[dict], sampler_config: Sequence[dict],
                       model_config: Sequence[dict], *, check_data: bool = True,
                       **common: Any) -> None:
    """Validate each entry of the three config lists on its own, naming a bad one.

    ``check_data=False`` skips the checks against the data set's labels (:func:`~.spec.make_spec`).

    Raises
    ------
    ValueError
        ``"<LIST> entry <i> {...}: <key>: <reason>"`` for the first bad entry (unknown key,
        class, budget, sampler, sampler parameter, method, method parameter or its value).
    """
    for name, entries in zip(_LISTS, (anomaly_config, sampler_config, model_config),
                             strict=True):
        if not entries:
            raise ValueError(f"{name}: expected at least one entry, found none")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise _entry_error(name, i, entry, f"expected a dict, found "
                                                   f"{type(entry).__name__}")
    scenario_keys = sorted(set(SPEC_DEFAULTS) - set(NOT_SCENARIO_KEYS))
    for i, entry in enumerate(anomaly_config):
        unknown = sorted(set(entry) - set(scenario_keys))
        try:
            if unknown:
                raise ValueError(f"unknown key(s) {unknown}; expected keys among "
                                 f"{scenario_keys} (seeds come from --seeds)")
            make_spec({**common, **entry, "sampler": "none", "method": "RandomGuess"},
                      check_data=check_data)
        except ValueError as exc:
            raise _entry_error("ANOMALY_CONFIG", i, entry, exc) from None
    for i, entry in enumerate(sampler_config):
        try:
            if "name" not in entry:
                raise ValueError(f"expected a 'name' key (a sampler among {sorted(SAMPLERS)})")
            make_spec({**common, **anomaly_config[0], "sampler": entry["name"],
                       "sampler_params": {k: v for k, v in entry.items() if k != "name"},
                       "method": "RandomGuess"}, check_data=False)
        except ValueError as exc:
            raise _entry_error("SAMPLER_CONFIG", i, entry, exc) from None
    for i, entry in enumerate(model_config):
        try:
            params = {k: v for k, v in entry.items() if k != "method"}
            check_method_params(entry.get("method", common.get("method", "AESAD")), params)
        except ValueError as exc:
            raise _entry_error("MODEL_CONFIG", i, entry, exc) from None


def check_seeds(seeds: Iterable[Any]) -> list[int]:
    """The seeds as a list; a ValueError naming a seed that is not an int in [0, 2**32)."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds: expected at least one seed, found none")
    for seed in seeds:
        if not isinstance(seed, Integral) or isinstance(seed, bool) or not 0 <= seed < 2**32:
            raise ValueError(f"seeds: expected ints in [0, 2**32), found {seed!r}")
    return [int(s) for s in seeds]


def expand_grid(anomaly_config: Sequence[dict], sampler_config: Sequence[dict],
                model_config: Sequence[dict], seeds: Iterable[int] = (0,), *,
                check_data: bool = True, **common: Any) -> list[dict[str, Any]]:
    """Cartesian product of the config lists and seeds -> validated specs.

    ``anomaly_config`` entries hold split keys (``scenario``, ``normal_classes``, ...);
    ``sampler_config`` entries hold ``name`` and sampler parameters; ``model_config`` entries
    hold ``method`` and its parameters; ``common`` holds spec keys shared by every run
    (``dataset``, ``device``, ...). Every entry, then every combination, is validated before
    any run starts; an error names the entries (:func:`check_config_lists`).
    ``check_data=False`` skips the checks against the data set's labels.
    """
    seeds = check_seeds(seeds)
    check_config_lists(anomaly_config, sampler_config, model_config, check_data=check_data,
                       **common)
    specs = []
    for (i, anomaly), (j, sampler), (k, model), seed in itertools.product(
            enumerate(anomaly_config), enumerate(sampler_config), enumerate(model_config),
            seeds):
        sampler, model = dict(sampler), dict(model)
        method = model.pop("method", common.get("method", "AESAD"))
        try:
            specs.append(make_spec({**common, **anomaly, "sampler": sampler.pop("name"),
                                    "sampler_params": sampler, "method": method,
                                    "method_params": model, "seed": seed},
                                   check_data=check_data))
        except SpecError as exc:
            raise ValueError(f"ANOMALY_CONFIG entry {i} x SAMPLER_CONFIG entry {j} x "
                             f"MODEL_CONFIG entry {k}, seed {seed}: {exc.reason}") from None
    return specs


def model_accepts(entry: dict[str, Any]) -> set[str]:
    """Parameter names of a MODEL_CONFIG entry's method (empty for an unknown method)."""
    try:
        return method_parameters(entry.get("method", "AESAD"))
    except ValueError:
        return set()


def quick_model(entry: dict[str, Any], epochs: int | None = None) -> dict[str, Any]:
    """A MODEL_CONFIG entry with :data:`QUICK`'s small budgets (only keys its method takes).

    ``epochs`` (default ``QUICK["epochs"]``) replaces ``epochs``; ``pretrain_epochs`` and a set
    ``n_steps`` are capped at ``QUICK``'s values.
    """
    accepted = model_accepts(entry)
    out = dict(entry)
    if "epochs" in accepted:
        out["epochs"] = QUICK["epochs"] if epochs is None else epochs
    if "pretrain_epochs" in accepted:
        out["pretrain_epochs"] = min(out.get("pretrain_epochs", QUICK["pretrain_epochs"]),
                                     QUICK["pretrain_epochs"])
    if out.get("n_steps") is not None:
        out["n_steps"] = min(out["n_steps"], QUICK["n_steps"])
    return out


def run_grid(specs: Sequence[dict[str, Any]], out_dir: str | Path = DEFAULT_OUT, *,
             skip_existing: bool = True, verbose: int = 1, executor: str | None = None,
             workers: int = 1, ray_address: str | None = None,
             threads: int | None = None, save_models: bool = False) -> list[dict[str, Any]]:
    """Run every spec, writing each record as it finishes; skip those already done.

    Parameters
    ----------
    specs : sequence of dict
        Specs (:func:`~.spec.make_spec` / :func:`expand_grid`).
    out_dir : str or Path
        Records folder (checked for writing before any run).
    skip_existing : bool
        Skip specs whose record exists with ``status: "ok"`` (failed ones run again).
    verbose : int
        0 silent, 1 progress bar, 2 also the training progress of serial runs.
    executor : {"serial", "local", "ray"}, optional
        Where runs execute (:func:`~.executors.run_specs`); default ``serial`` for one
        worker, else ``local``.
    workers : int
        Runs at once (local processes or Ray tasks).
    ray_address : str, optional
        Ray cluster address (``None``: a local Ray instance).
    threads : int, optional
        Torch threads per run (default: the idle CPUs divided among the workers).
    save_models : bool
        Save each fitted detector beside its record (``<run_id>.model.pt``).

    Returns
    -------
    list of dict
        The records of all specs, in the order of ``specs`` (loaded from disk for the skipped
        ones).
    """
    return run_specs(specs, out_dir, executor=executor, workers=workers,
                     ray_address=ray_address, skip_existing=skip_existing, verbose=verbose,
                     threads=threads, save_models=save_models)
