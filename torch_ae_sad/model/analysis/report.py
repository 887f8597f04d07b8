"""Every figure and table of the thesis and slides, from a folder of records.

Run::

    python -m torch_ae_sad.model.analysis.report RECORDS_DIR [--out DIR] [--no-dynamics]
        [--trust-pickled-models]
    python -m torch_ae_sad.model.analysis.report --status [--out DIR]

``RECORDS_DIR`` holds records itself (any trainer's ``--out`` folder, e.g. the main job's
``json_metrics/staged``) and/or one sub-folder of records per study (as
``python -m torch_ae_sad.model.report_trainer --out RECORDS_DIR`` writes them: ``samplers/``,
``grid_search/``, ``toll_beta/``, ``noise/``, ``activations/``). A folder named after a study
feeds that study; any other folder feeds the studies its records fit
(:func:`~torch_ae_sad.model.analysis.studies.detect`: varying samplers -> ``samplers``, TOLL
betas -> ``toll_beta``, ``noise_std`` -> ``noise``, ...), and one that fits none is drawn
under its own name. For each study every script of :mod:`torch_ae_sad.model.analysis.all`
draws into ``OUT/<study>/`` (per-run figures for one example run only, copied to
``OUT/<study>/example_<script>.png`` / ``.pdf`` so documents can include them by a stable
name), and :mod:`~torch_ae_sad.model.analysis.toll_dynamics` draws into
``OUT/toll_dynamics/``. A study or plot that cannot be drawn is reported with what is missing;
the others go on. At the end the report lists each section of the documents as filled, partly
filled or empty, with the command that fills an empty one (``--status``: only that list, for
what ``OUT`` holds). Default ``OUT``: ``latex/generated``. Exit code 0 when at least one file
was written (``--status``: always), 2 when ``OUT`` cannot be written. Saved models are
opened as data, never unpickled (``--trust-pickled-models``: model files of the old pickled
kind too, for records you made yourself).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch_ae_sad
from torch_ae_sad.model.analysis import PER_RUN, toll_dynamics
from torch_ae_sad.model.analysis.all import draw_all
from torch_ae_sad.model.analysis.cli import (
    USAGE_ERROR,
    add_trust_flag,
    out_error,
    trust_warning,
)
from torch_ae_sad.model.analysis.data import Records, Skip, load
from torch_ae_sad.model.analysis.studies import SECTIONS, detect, status_lines

#: Default output folder: what latex/thesys and latex/presentation include.
DEFAULT_OUT = torch_ae_sad.PROJECT_ROOT / "latex" / "generated"


def study_folders(records_dir: Path) -> list[Path]:
    """The folders of ``records_dir`` that hold records.

    ``records_dir`` itself if it holds records, then its sub-folders that do (sorted).

    Raises
    ------
    Skip
        When ``records_dir`` is missing or no folder in it holds records.
    """
    if not records_dir.is_dir():
        raise Skip(f"no records folder {records_dir} (make one with python -m "
                   f"torch_ae_sad.model.report_trainer --out {records_dir})")
    found = [records_dir] if any(records_dir.glob("*.json")) else []
    found += sorted(p for p in records_dir.iterdir() if p.is_dir() and any(p.glob("*.json")))
    if not found:
        raise Skip(f"no records (*.json) in {records_dir} or its sub-folders")
    return found


def folder_studies(data: Records) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """``{study: records}`` a loaded folder feeds, and how that was decided (one line).

    A folder named after a study feeds it with all its records; another feeds the studies
    :func:`~torch_ae_sad.model.analysis.studies.detect` finds, or, when none, is drawn under
    its own name (a folder the documents do not include).
    """
    name = data.folder.name
    if name in SECTIONS:
        return {name: data.records}, f"{name} (the folder's name)"
    found = detect(data.records)
    if not found:
        return {name: data.records}, (f"no section of the documents (its records fit no "
                                      f"study; drawn into {name}/)")
    return found, ", ".join(f"{study} ({len(recs)} of {len(data.records)} records)"
                            for study, recs in found.items())


def plan_studies(records_dir: Path, trust_pickle: bool = False
                 ) -> tuple[dict[str, Records], list[str]]:
    """``{study: its records}`` of every folder of ``records_dir``, and the problems met.

    A folder named after a study comes first; a study fed by two folders keeps the first
    (the other is reported). ``trust_pickle``: see
    :attr:`~torch_ae_sad.model.analysis.data.Records.trust_pickle`.

    Raises
    ------
    Skip
        When ``records_dir`` is missing or holds no records (see :func:`study_folders`).
    """
    plan: dict[str, Records] = {}
    problems: list[str] = []
    for folder in sorted(study_folders(records_dir), key=lambda f: f.name not in SECTIONS):
        try:
            data = load(folder, trust_pickle=trust_pickle)
        except Skip as exc:
            problems.append(f"{folder.name}: {exc}")
            print(f"{folder.name}: nothing drawn: {exc}", file=sys.stderr)
            continue
        for message in data.problems:
            print(f"{folder.name}: {message}", file=sys.stderr)
        studies, why = folder_studies(data)
        print(f"{folder}: feeds {why}")
        for study, records in studies.items():
            if study in plan:
                problems.append(f"{study}: also fed by {folder}, left out (drawn from "
                                f"{plan[study].folder})")
                continue
            plan[study] = data.subset(records)
    return plan, problems


def example_run(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The run whose per-run figures the documents show.

    An ``ok`` run of the lowest seed, preferring no sampling, then the first one started.
    """
    ok = [r for r in records if r.get("status") == "ok"]
    if not ok:
        raise Skip("no run with status 'ok'")
    return min(ok, key=lambda r: (r["spec"]["seed"], r["spec"]["sampler"] != "none",
                                  r.get("started", ""), r["run_id"]))


def draw_study(data: Records, out: Path) -> tuple[list[Path], dict[str, str]]:
    """Draw every script for ``data`` into ``out`` plus the example copies."""
    example = example_run(data.records)["run_id"]
    paths, failed = draw_all(data, out, run=example)
    for script in PER_RUN:
        for source in sorted((out / script).glob(f"{example}.*")):
            target = out / f"example_{script}{source.suffix}"
            shutil.copyfile(source, target)
            paths.append(target)
    return paths, failed


def report(records_dir: Path, out: Path, dynamics: bool = True, *,
           trust_pickle: bool = False) -> tuple[list[Path], list[str]]:
    """Draw every study of ``records_dir`` into ``out``; the files written and the problems.

    ``trust_pickle``: also unpickle model files of the old pickled kind (see
    :attr:`~torch_ae_sad.model.analysis.data.Records.trust_pickle`).
    """
    written: list[Path] = []
    try:
        plan, problems = plan_studies(records_dir, trust_pickle)
    except Skip as exc:
        print(f"error: {exc}", file=sys.stderr)
        plan, problems = {}, [str(exc)]
    for study, data in plan.items():
        print(f"== {study} ({len(data.records)} records of {data.folder})")
        try:
            paths, failed = draw_study(data, out / study)
        except Skip as exc:
            problems.append(f"{study}: {exc}")
            print(f"{study}: nothing drawn: {exc}", file=sys.stderr)
            continue
        written += paths
        problems += [f"{study}/{name}: {why}" for name, why in failed.items()]
    if dynamics:
        print("== toll_dynamics")
        written += toll_dynamics.draw(out / "toll_dynamics")
    return written, problems


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns 0 when at least one file was written."""
    parser = argparse.ArgumentParser(prog="python -m torch_ae_sad.model.analysis.report",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("records", type=Path, nargs="?",
                        help="folder of records and/or of study record folders")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output folder (default: latex/generated of the project)")
    parser.add_argument("--no-dynamics", action="store_true",
                        help="skip the TOLL learning-dynamics figure (it trains six small "
                             "models, a few seconds)")
    parser.add_argument("--status", action="store_true",
                        help="only list the sections of the documents OUT fills, and the "
                             "command that fills each empty one")
    add_trust_flag(parser)
    args = parser.parse_args(argv)
    if args.status:
        print(f"sections of the documents in {args.out}:")
        print("\n".join(status_lines(args.out, str(args.records or "RECORDS_DIR"))))
        return 0
    if args.records is None:
        parser.error("RECORDS_DIR is required (unless --status)")
    error = out_error(args.out)
    if error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    trust_warning("report", args.trust_pickled_models)
    written, problems = report(args.records, args.out, dynamics=not args.no_dynamics,
                               trust_pickle=args.trust_pickled_models)
    print(f"{len(written)} file(s) in {args.out}; {len(problems)} plot(s) not drawn")
    for problem in problems:
        print(f"  not drawn: {problem.splitlines()[0]}")
    print(f"sections of the documents (latex/thesys, latex/presentation) in {args.out}:")
    print("\n".join(status_lines(args.out, str(args.records))))
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
