"""Which section of the thesis and slides a folder of records can fill, and what fills the rest.

The documents (``latex/thesys``, ``latex/presentation``) include generated files by study:
``generated/<study>/<file>`` (see :data:`SECTIONS`). ``python -m
torch_ae_sad.model.report_trainer`` writes one records folder per study, but any trainer's
folder can feed some of them; :func:`detect` finds which from the records' specs:

- ``samplers``: runs that differ only in the sampler (or its parameters), e.g. the main job
  ``deep_ae_sad_multi_class_trainer``;
- ``grid_search``: runs that differ only in two or more method parameters (a grid);
- ``toll_beta``: TOLL runs that differ only in ``beta``;
- ``noise``: runs that differ only in ``noise_std``;
- ``activations``: runs with saved models that differ only in the decoder's
  ``out_activation``.

("Differ only": grouped by every other spec field but the seed.) :func:`section_status` says
which sections an output folder fills, and :func:`fill_command` the command that fills an empty
one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch_ae_sad.model.analysis.latent_space import out_activation
from torch_ae_sad.model.analysis.toll_beta import param_default, param_value
from torch_ae_sad.model.results import field_key, flatten_spec

#: Spec fields never part of a configuration (runs differing only in them are repeats).
NOT_CONFIG = ("seed", "device")


@dataclass(frozen=True)
class Section:
    """What the documents show of one study, and the files they include for it.

    ``files`` are relative to ``generated/<study>/``: figures without a suffix (``.pdf`` or
    ``.png``), tables with ``.tex``.
    """

    title: str
    files: tuple[str, ...]


#: Study -> its section of the documents (the order of the thesis).
SECTIONS: dict[str, Section] = {
    "samplers": Section(
        "AUROC, training time and Pareto front by sampler, and one example run",
        ("auroc_by_sampler", "tables/roc_auc.tex", "time_reduction", "tables/train_s.tex",
         "tables/time_reduction.tex", "tables/normals_kept.tex", "pareto", "example_curves",
         "example_score_histograms", "example_confusion", "example_loss_curves")),
    "grid_search": Section("the auto-encoder grid ranked by AUROC and by the error gap",
                           ("grid_ranking", "tables/grid_ranking.tex")),
    "toll_beta": Section("TOLL's AUROC against beta", ("toll_beta",)),
    "toll_dynamics": Section("TOLL on a 2-D Gaussian (needs no records)", ("toll_dynamics",)),
    "noise": Section("AUROC and test scores against test-input noise", ("noise_robustness",)),
    "activations": Section("latent space by the decoder's last activation, reconstructions",
                           ("latent_activations", "example_reconstructions")),
}
#: Studies that need no records (drawn by the report itself).
NO_RECORDS = ("toll_dynamics",)


# ----------------------------------------------------------------------------- detection
def _rest(record: dict[str, Any], *drop: str) -> str:
    """The record's configuration without the fields ``drop`` (flattened names or prefixes)."""
    flat = flatten_spec(record["spec"])
    return field_key({k: v for k, v in flat.items() if k not in NOT_CONFIG
                      and not any(k == d or k.startswith(f"{d}.") for d in drop)})


def sweep(records: Sequence[dict[str, Any]],
          part: Callable[[dict[str, Any]], tuple[Any, str]],
          enough: Callable[[list[Any]], bool] = lambda values: len(values) > 1
          ) -> list[dict[str, Any]]:
    """The records of the configuration groups over which ``part`` varies.

    ``part(record)`` returns ``(value, rest)``: the swept value and a key of everything else
    (see :func:`_rest`); a group (same ``rest``) is kept when ``enough`` of its distinct values.
    """
    groups: dict[str, dict[str, tuple[Any, list[dict[str, Any]]]]] = {}
    for rec in records:
        value, rest = part(rec)
        group = groups.setdefault(rest, {})
        group.setdefault(field_key(value), (value, []))[1].append(rec)
    return [rec for group in groups.values() if enough([v for v, _ in group.values()])
            for _, recs in group.values() for rec in recs]


def _method_params(record: dict[str, Any]) -> tuple[Any, str]:
    return record["spec"].get("method_params") or {}, _rest(record, "method_params")


def _a_grid(values: list[dict[str, Any]]) -> bool:
    """Two or more configurations that differ in two or more method parameters."""
    names = {k for v in values for k in v}
    return len(values) > 1 and sum(len({field_key(v.get(k)) for v in values}) > 1
                                   for k in names) > 1


def _toll_beta(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    toll = [r for r in records if r["spec"].get("method") == "TOLL"]
    if not toll:
        return []
    default = param_default("TOLL", "beta")
    return sweep(toll, lambda r: (param_value(r, "beta", default),
                                  _rest(r, "method_params.beta")))


def _activations(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    saved = [r for r in records if r.get("model_file")]
    return sweep(saved, lambda r: (out_activation(r),
                                   _rest(r, "method_params.out_activation")))


#: Study -> the records of a folder that feed it (none: the folder does not feed it).
DETECTORS: dict[str, Callable[[Sequence[dict[str, Any]]], list[dict[str, Any]]]] = {
    "samplers": lambda recs: sweep(recs, lambda r: (
        [r["spec"].get("sampler"), r["spec"].get("sampler_params")],
        _rest(r, "sampler", "sampler_params"))),
    "grid_search": lambda recs: sweep(recs, _method_params, _a_grid),
    "toll_beta": _toll_beta,
    "noise": lambda recs: sweep(recs, lambda r: (r["spec"].get("noise_std"),
                                                 _rest(r, "noise_std"))),
    "activations": _activations,
}


def detect(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """``{study: its records}`` for every study of :data:`DETECTORS` that ``records`` feed."""
    found = {study: pick(records) for study, pick in DETECTORS.items()}
    return {study: recs for study, recs in found.items() if recs}


# ----------------------------------------------------------------------------- sections
def generated(out: Path, study: str, name: str) -> Path | None:
    """The generated file ``out/<study>/<name>`` (a figure as ``.pdf`` or ``.png``), if any."""
    base = out / study / name
    candidates = [base] if base.suffix == ".tex" else [base.with_name(f"{base.name}.pdf"),
                                                      base.with_name(f"{base.name}.png")]
    return next((p for p in candidates if p.is_file()), None)


def section_status(out: Path) -> dict[str, list[str]]:
    """``{study: the files of its section missing from out}`` for every section."""
    return {study: [name for name in section.files if generated(out, study, name) is None]
            for study, section in SECTIONS.items()}


def fill_command(study: str, records: str = "RECORDS_DIR") -> str:
    """The command that makes the records (or, for ``toll_dynamics``, the figure) of a study."""
    if study in NO_RECORDS:
        return (f"python -m torch_ae_sad.model.analysis.report {records} (without "
                "--no-dynamics)")
    return f"python -m torch_ae_sad.model.report_trainer --out {records} --studies {study}"


def status_lines(out: Path, records: str = "RECORDS_DIR") -> list[str]:
    """One line per section of the documents: filled, partly filled, or empty and its command."""
    lines = []
    for study, missing in section_status(out).items():
        section = SECTIONS[study]
        if not missing:
            lines.append(f"  filled   {study}: {section.title}")
        elif len(missing) < len(section.files):
            lines.append(f"  partly   {study}: {section.title}; not generated: "
                         f"{', '.join(missing)} (see 'not drawn' above)")
        else:
            lines.append(f"  EMPTY    {study}: {section.title}; fill it with: "
                         f"{fill_command(study, records)}")
    return lines
