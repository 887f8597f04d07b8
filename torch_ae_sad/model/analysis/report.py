"""Every figure and table of the thesis and slides, from a folder of study record folders.

Run::

    python -m torch_ae_sad.model.analysis.report RECORDS_DIR [--out DIR] [--no-dynamics]

``RECORDS_DIR`` holds one sub-folder of records per study (as written by
``python -m torch_ae_sad.model.report_trainer --out RECORDS_DIR``: ``samplers/``,
``grid_search/``, ``toll_beta/``, ``noise/``, ``activations/``); a folder that holds records
itself is treated as one study named after it. For each study every script of
:mod:`torch_ae_sad.model.analysis.all` draws into ``OUT/<study>/`` (per-run figures for one
example run only, copied to ``OUT/<study>/example_<script>.png`` / ``.pdf`` so documents can
include them by a stable name), and :mod:`~torch_ae_sad.model.analysis.toll_dynamics` draws
into ``OUT/toll_dynamics/``. A study or plot that cannot be drawn is reported with what is
missing; the others go on. Default ``OUT``: ``latex/generated``. Exit code 0 when at least
one file was written.
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
from torch_ae_sad.model.analysis._common import Skip, load
from torch_ae_sad.model.analysis.all import draw_all

#: Default output folder: what latex/thesys and latex/presentation include.
DEFAULT_OUT = torch_ae_sad.PROJECT_ROOT / "latex" / "generated"


def study_folders(records_dir: Path) -> list[Path]:
    """The study folders of ``records_dir``.

    ``records_dir`` itself if it holds records, else its sub-folders that do (sorted).

    Raises
    ------
    Skip
        When ``records_dir`` is missing or no folder in it holds records.
    """
    if not records_dir.is_dir():
        raise Skip(f"no records folder {records_dir} (make one with python -m "
                   f"torch_ae_sad.model.report_trainer --out {records_dir})")
    if any(records_dir.glob("*.json")):
        return [records_dir]
    found = sorted(p for p in records_dir.iterdir() if p.is_dir() and any(p.glob("*.json")))
    if not found:
        raise Skip(f"no records (*.json) in {records_dir} or its sub-folders")
    return found


def example_run(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The run whose per-run figures the documents show.

    An ``ok`` run of the lowest seed, preferring no sampling, then the first one started.
    """
    ok = [r for r in records if r.get("status") == "ok"]
    if not ok:
        raise Skip("no run with status 'ok'")
    return min(ok, key=lambda r: (r["spec"]["seed"], r["spec"]["sampler"] != "none",
                                  r.get("started", ""), r["run_id"]))


def draw_study(folder: Path, out: Path) -> tuple[list[Path], dict[str, str]]:
    """Draw every script for the records of ``folder`` into ``out`` plus the example copies."""
    data = load(folder)
    for message in data.problems:
        print(f"{folder.name}: {message}", file=sys.stderr)
    example = example_run(data.records)["run_id"]
    paths, failed = draw_all(data, out, run=example)
    for script in PER_RUN:
        for source in sorted((out / script).glob(f"{example}.*")):
            target = out / f"example_{script}{source.suffix}"
            shutil.copyfile(source, target)
            paths.append(target)
    return paths, failed


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns 0 when at least one file was written."""
    parser = argparse.ArgumentParser(prog="python -m torch_ae_sad.model.analysis.report",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("records", type=Path, help="folder of study record folders")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output folder (default: latex/generated of the project)")
    parser.add_argument("--no-dynamics", action="store_true",
                        help="skip the TOLL learning-dynamics figure (it trains six small "
                             "models, a few seconds)")
    args = parser.parse_args(argv)
    written: list[Path] = []
    problems: list[str] = []
    try:
        studies = study_folders(args.records)
    except Skip as exc:
        print(f"error: {exc}", file=sys.stderr)
        studies = []
        problems.append(str(exc))
    for folder in studies:
        print(f"== {folder.name}")
        try:
            paths, failed = draw_study(folder, args.out / folder.name)
        except Skip as exc:
            problems.append(f"{folder.name}: {exc}")
            print(f"{folder.name}: nothing drawn: {exc}", file=sys.stderr)
            continue
        written += paths
        problems += [f"{folder.name}/{name}: {why}" for name, why in failed.items()]
    if not args.no_dynamics:
        print("== toll_dynamics")
        written += toll_dynamics.draw(args.out / "toll_dynamics")
    print(f"{len(written)} file(s) in {args.out}; {len(problems)} plot(s) not drawn")
    for problem in problems:
        print(f"  not drawn: {problem.splitlines()[0]}")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
