"""The one place that names runs, scenarios, samplers and methods, and styles them in figures.

The trainers' tables (:mod:`~torch_ae_sad.model.experiment`), the summary of
:mod:`torch_ae_sad.model.results` and every script of :mod:`torch_ae_sad.model.analysis` label
with these functions, so a configuration reads the same everywhere. Each label function takes
either a *spec* (``sampler_params`` / ``method_params`` dicts) or a *flattened row*
(``sampler_params.ratio`` keys, as :func:`torch_ae_sad.model.results.flatten_spec` and
``summarize`` make them):

- :func:`classes_text`: ``0-4`` (a run of more than two consecutive classes), ``1,3``, ``rest``;
- :func:`scenario_label`: ``mnist 0-4 vs 5-9``, ``mnist 3 vs rest``;
- :func:`sampler_label`: ``random 0.5``, ``enn pca50``, ``cnn k=3``, ``none``;
- :func:`method_label`: ``AESAD``, ``TOLL beta=1000`` (with the chosen parameters);
- :func:`fields_label`: ``name=value`` of chosen fields (``lr=0.001, alpha=1``);
- :func:`run_label`: ``<scenario> | <sampler> | <method> | seed <s> | <run_id>``.

:func:`sampler_style` and :func:`method_style` give each sampler of
:data:`torch_ae_sad.dataset_loaders.SAMPLERS` and each method of
:data:`torch_ae_sad.model.base.DETECTORS` one fixed colour and marker (in registry order), so
``random`` has the same colour in every bar chart, line plot and scatter. Colours are
matplotlib colour strings; this module imports no plotting library.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from functools import cache
from typing import Any

from torch_ae_sad.dataset_loaders import SAMPLERS
from torch_ae_sad.model.base import DETECTORS
from torch_ae_sad.model.experiment.spec import SPEC_DEFAULTS

#: Spec fields holding parameter dicts (flattened rows name them ``<field>.<name>``).
PARAM_FIELDS = ("sampler_params", "method_params", "threshold_params")
#: Spec fields that name the data of a run (the others are shown by :func:`scenario_label`).
SCENARIO_NAME_FIELDS = ("dataset", "scenario", "normal_classes", "anomaly_classes")
#: Short names of sampler parameters in :func:`sampler_label`.
SHORT_PARAMS = {"n_neighbors": "k"}
#: Colours, in the order the registries are styled (``none``, the first sampler, is grey).
PALETTE = ("#7f7f7f", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
           "#e377c2", "#bcbd22", "#17becf", "#393b79", "#843c39", "#637939", "#7b4173",
           "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363", "#8c6d31")
#: Markers, in the same order.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p", "d", "H", "8", "1",
           "2", "3", "4", "+")


# ----------------------------------------------------------------------------- fields
def field_value(obj: dict[str, Any], name: str) -> Any:
    """Field ``name`` (``sampler_params.ratio`` or ``seed``) of a spec or a flattened row."""
    if name in obj:
        return obj[name]
    group, _, key = name.partition(".")
    nested = obj.get(group) if key else None
    return nested.get(key) if isinstance(nested, dict) else None


def params_of(obj: dict[str, Any], group: str) -> dict[str, Any]:
    """The ``group`` parameters (``sampler_params``, ...) of a spec or a flattened row."""
    nested = obj.get(group)
    if isinstance(nested, dict):
        return dict(nested)
    prefix = f"{group}."
    return {k[len(prefix):]: v for k, v in obj.items() if k.startswith(prefix)}


def value_text(value: Any) -> str:
    """A field value as shown in labels: floats ``%g``, lists and dicts compact JSON."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


# ----------------------------------------------------------------------------- labels
def classes_text(c: Any) -> str:
    """``rest`` for no classes, ``0-4`` for more than two consecutive ones, else ``1,3``."""
    if c is None or (isinstance(c, list | tuple) and not c):
        return "rest"
    if isinstance(c, list | tuple):
        c = list(c)
        if len(c) > 2 and all(isinstance(v, int) for v in c) and \
                c == list(range(c[0], c[-1] + 1)):
            return f"{c[0]}-{c[-1]}"
        return ",".join(map(str, c))
    return str(c)


def scenario_label(obj: dict[str, Any]) -> str:
    """``mnist 0-4 vs 5-9``: the dataset, the normal classes and the anomalous ones.

    A tabular file under ADBench's protocol reads ``6_cardio la=0.1`` (its stem and the
    labelled share of the training anomalies).
    """
    if obj.get("scenario") == "adbench":
        stem = str(obj.get("dataset")).replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
        return f"{stem} la={value_text(obj.get('labelled'))}"
    return (f"{obj.get('dataset')} {classes_text(obj.get('normal_classes'))} vs "
            f"{classes_text(obj.get('anomaly_classes'))}")


def _selected(obj: dict[str, Any], group: str, fields: Sequence[str] | None) -> dict[str, Any]:
    """The ``group`` parameters named in ``fields`` (all when None), without None values."""
    params = params_of(obj, group)
    if fields is not None:
        keep = {f.split(".", 1)[-1] for f in fields if f.startswith(f"{group}.") or "." not in f}
        params = {k: v for k, v in params.items() if k in keep}
    return {k: v for k, v in params.items() if v is not None}


def sampler_label(obj: dict[str, Any], fields: Sequence[str] | None = None) -> str:
    """The sampler and its parameters, compact: ``random 0.5``, ``enn pca50``, ``cnn k=3``.

    The ratio is shown bare, the feature space as ``pca<n_components>`` (``raw`` is not shown),
    ``n_neighbors`` as ``k``, other parameters as ``name=value``. ``fields`` (flattened names,
    e.g. ``sampler_params.ratio``) limits the parameters shown; default all.
    """
    params = _selected(obj, "sampler_params", fields)
    parts = [str(obj.get("sampler"))]
    if "ratio" in params:
        parts.append(value_text(params.pop("ratio")))
    space, n_comp = params.pop("feature_space", "raw"), params.pop("n_components", None)
    if space != "raw":
        parts.append(f"{space}{n_comp if n_comp is not None else ''}")
    parts += [f"{SHORT_PARAMS.get(k, k)}={value_text(v)}" for k, v in params.items()]
    return " ".join(parts)


def method_label(obj: dict[str, Any], fields: Sequence[str] | None = None) -> str:
    """The method, plus ``name=value`` of the method parameters named in ``fields``.

    ``fields`` are flattened names (``method_params.beta``) or bare parameter names; by
    default only the method is named (its parameters are many).
    """
    params = _selected(obj, "method_params", fields) if fields else {}
    return " ".join([str(obj.get("method")), *(f"{k}={value_text(v)}"
                                               for k, v in params.items())])


def fields_label(obj: dict[str, Any], names: Sequence[str]) -> str:
    """``name=value`` of the fields ``names``, joined by ``, ``.

    ``sampler`` / ``method`` values are shown bare; a name is shortened to its last part
    (``method_params.lr`` -> ``lr``) unless that is ambiguous (two names share it, or it is a
    spec key itself); a method or sampler parameter missing from the spec shows as
    ``default`` (the class default).
    """
    short = [n.split(".", 1)[-1] for n in names]
    parts = []
    for name, s in zip(names, short, strict=True):
        value = field_value(obj, name)
        if name in ("sampler", "method"):
            parts.append(str(value))
            continue
        if value is None and name.startswith(("method_params.", "sampler_params.")):
            value = "default"
        shown = name if short.count(s) > 1 or (name != s and s in SPEC_DEFAULTS) else s
        parts.append(f"{shown}={value_text(value)}")
    return ", ".join(parts)


def scenario_text(obj: dict[str, Any], fields: Sequence[str] = (), sep: str = ", ") -> str:
    """:func:`scenario_label` plus ``name=value`` of the other data fields among ``fields``.

    E.g. ``digits 0 vs rest, labelled=20`` when ``labelled`` varies between the runs shown.
    """
    extra = [f for f in fields if f not in SCENARIO_NAME_FIELDS]
    return scenario_label(obj) + (f"{sep}{fields_label(obj, extra)}" if extra else "")


def run_label(record: dict[str, Any]) -> str:
    """One line naming a run: ``<scenario> | <sampler> | <method> | seed <s> | <run_id>``."""
    spec = record.get("spec") or {}
    return (f"{scenario_label(spec)} | {sampler_label(spec)} | {method_label(spec)} | seed "
            f"{spec.get('seed')} | {record.get('run_id')}")


# ----------------------------------------------------------------------------- styles
def _style(names: Sequence[str], name: str, offset: int = 0) -> dict[str, str]:
    """The style of ``name``: by its place in ``names``, else by a stable hash of it."""
    if name in names:
        i = names.index(name) + offset
    else:  # a name no registry knows (an old record): stable across runs, unlike hash()
        i = len(names) + offset + zlib.crc32(str(name).encode())
    return {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)]}


@cache
def _sampler_names() -> tuple[str, ...]:
    return tuple(SAMPLERS)


#: Methods in the order their styles were first given; methods added later follow in registry
#: order, so adding a detector never changes another one's colour.
METHOD_ORDER = ("AESAD", "AutoEncoder", "ConvAutoEncoder", "IForest", "OCSVM", "KNN", "LOF",
                "DBSCANDetector", "RandomGuess", "DeepSAD", "DualDiscriminatorGAN", "TOLL",
                "VAE", "DevNet", "PReNet", "FEAWAD")


@cache
def _method_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys([*METHOD_ORDER, *DETECTORS]))


def sampler_style(name: str) -> dict[str, str]:
    """``{"color": ..., "marker": ...}`` of a sampler, the same in every figure.

    One per name of :data:`~torch_ae_sad.dataset_loaders.SAMPLERS`, in registry order
    (``none``, the reference, is grey).
    """
    return _style(_sampler_names(), name)


def method_style(name: str) -> dict[str, str]:
    """``{"color": ..., "marker": ...}`` of a method, the same in every figure.

    One per class name of :data:`~torch_ae_sad.model.base.DETECTORS`, in the order of
    :data:`METHOD_ORDER` then the registry's (grey is left to the ``none`` sampler).
    """
    return _style(_method_names(), name, offset=1)


__all__ = [
    "classes_text",
    "field_value",
    "fields_label",
    "method_label",
    "method_style",
    "params_of",
    "run_label",
    "sampler_label",
    "sampler_style",
    "scenario_label",
    "scenario_text",
    "value_text",
]
