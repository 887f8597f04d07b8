"""The command line of the analysis scripts.

Every script is run as ``python -m torch_ae_sad.model.analysis.<name> RECORDS_DIR
[--out DIR] [options]``: :func:`script_main` parses that, checks that ``DIR`` (default
``RECORDS_DIR/figures``) can be written before anything is drawn (:func:`out_error`), loads
the records and calls the script's ``draw(data, out, **options)``, which returns the files it
wrote or raises :class:`~torch_ae_sad.model.analysis.data.Skip`.

The per-run scripts (one figure per run: ``curves``, ``score_histograms``, ``confusion``,
``loss_curves``, ``reconstructions``, ``latent_space``) are each one :class:`PerRunScript`:
the script defines ``draw_one(record, folder, out, **options)`` for one run and its
description; the factory adds ``--run RUN_ID``, the script's :class:`Option` s, the loop over
the chosen runs (a run that cannot be drawn is reported and the others go on) and ``main``;
for a script that loads saved models (``loads_models``) also ``--trust-pickled-models``
(:func:`add_trust_flag`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch_ae_sad.model.analysis.data import Records, Skip, load, select_runs

#: ``draw(data, out, **options) -> files written`` of a script.
DrawFn = Callable[..., list[Path]]
#: ``draw_one(record, folder, out, **options) -> files written`` of a per-run script.
DrawOne = Callable[..., list[Path]]
#: Exit code of a bad command line (as argparse's).
USAGE_ERROR = 2


def out_error(out: Path) -> str | None:
    """Why figures cannot be written under ``out`` (None when they can); creates nothing.

    ``out`` must be a folder, or not exist yet below a writable folder.
    """
    if out.exists() and not out.is_dir():
        return f"--out {out}: expected a folder, found a file (give another --out DIR)"
    parent = out
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"--out {out}: cannot make this folder, {parent} is a file (give another --out DIR)"
    if not os.access(parent, os.W_OK | os.X_OK):
        where = "" if parent == out else f" ({parent} is not writable)"
        return f"--out {out}: cannot write there{where}; give a writable --out DIR"
    return None


def records_parser(name: str, description: str) -> argparse.ArgumentParser:
    """The parser every analysis command starts from: ``RECORDS_DIR [--out DIR]``."""
    parser = argparse.ArgumentParser(prog=f"python -m torch_ae_sad.model.analysis.{name}",
                                     description=description)
    parser.add_argument("records", type=Path, help="folder of run records (*.json)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: RECORDS_DIR/figures)")
    return parser


def add_trust_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--trust-pickled-models``: also unpickle model files of the old pickled kind."""
    parser.add_argument("--trust-pickled-models", action="store_true",
                        help="also open model files of the old pickled kind (written before "
                             "model files held data only) by unpickling them, which runs any "
                             "code they hold: only for files you made yourself (default: such "
                             "files are refused and named)")


def trust_warning(name: str, trust: bool) -> None:
    """Warn on stderr that ``--trust-pickled-models`` is on (nothing when ``trust`` is off)."""
    if trust:
        print(f"{name}: warning: --trust-pickled-models: model files of the old pickled kind "
              "are unpickled, which runs any code they hold; use it only on records you made",
              file=sys.stderr)


def script_main(name: str, description: str, draw: DrawFn, argv: Sequence[str] | None,
                add_args: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    """The command line of one analysis script.

    Parses ``RECORDS_DIR [--out DIR]`` (plus the script's own options), checks ``DIR``, loads
    the records, calls ``draw(data, out, **options)`` and prints the files written.

    Returns
    -------
    int
        0 when at least one file was written, 1 when nothing was drawn (the reason on
        stderr), 2 when ``DIR`` cannot be written.
    """
    parser = records_parser(name, description)
    if add_args is not None:
        add_args(parser)
    args = parser.parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k not in ("records", "out")}
    trust = bool(options.pop("trust_pickled_models", False))
    trust_warning(name, trust)
    out = args.out or args.records / "figures"
    error = out_error(out)
    if error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    try:
        data = load(args.records, trust_pickle=trust)
        for message in data.problems:
            print(message, file=sys.stderr)
        paths = draw(data, out, **options)
    except Skip as exc:
        print(f"{name}: nothing drawn: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0 if paths else 1


# ----------------------------------------------------------------------------- per-run scripts
def per_run(runs: Sequence[dict[str, Any]], draw_one: Callable[[dict[str, Any]], list[Path]],
            what: str) -> list[Path]:
    """Call ``draw_one`` for each run; report the runs it skips; :class:`Skip` if none drawn."""
    paths: list[Path] = []
    skipped = []
    for rec in runs:
        try:
            paths += draw_one(rec)
        except Skip as exc:
            skipped.append(str(exc))
            print(f"{what}: {exc}", file=sys.stderr)
    if not paths:
        raise Skip(f"{what}: no run could be drawn" + (f" ({skipped[0]})" if skipped else ""))
    return paths


@dataclass(frozen=True)
class Option:
    """An option of a per-run script, passed to its ``draw_one`` by name.

    ``--max-points`` reaches ``draw_one`` as ``max_points``; its type is its default's.
    """

    flag: str
    default: Any
    help: str
    choices: Sequence[Any] | None = None
    minimum: float | None = None

    @property
    def dest(self) -> str:
        """The keyword ``draw_one`` receives."""
        return self.flag.lstrip("-").replace("-", "_")

    def check(self, value: Any) -> Any:
        """``value``, or a ValueError naming the option when it is not allowed."""
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{self.dest}: expected one of {tuple(self.choices)}, found "
                             f"{value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{self.dest}: expected >= {self.minimum:g}, found {value}")
        return value

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Add the option to a script's parser (its type is its default's)."""
        parser.add_argument(self.flag, type=type(self.default), default=self.default,
                            choices=self.choices, help=f"{self.help} (default: {self.default})")


@dataclass(frozen=True)
class PerRunScript:
    """A script that draws one figure per run; its module keeps ``draw`` and ``main``.

    Parameters
    ----------
    name : str
        The module name (``python -m torch_ae_sad.model.analysis.<name>``), also the prefix
        of its messages.
    doc : str
        The module docstring; its first line is the ``--help`` description.
    draw_one : callable
        ``draw_one(record, folder, out, **options) -> files written`` for one run; raises
        :class:`Skip` when that run cannot be drawn.
    options : tuple of Option
        The script's own options (besides ``--run``).
    needs : callable, optional
        ``needs(runs)`` raises :class:`Skip` when none of the chosen runs can be drawn, with
        one message for all (e.g. "no ok run has a loss history").
    also : callable, optional
        ``also(data, out, **options) -> files``: a figure of the whole folder drawn after the
        per-run ones; the script has nothing drawn only when both draw nothing.
    loads_models : bool
        Whether the script loads saved models: its command line then takes
        ``--trust-pickled-models``, and ``draw_one`` gets ``trust_pickle`` (the records'
        :attr:`~torch_ae_sad.model.analysis.data.Records.trust_pickle`).
    """

    name: str
    doc: str
    draw_one: DrawOne
    options: tuple[Option, ...] = ()
    needs: Callable[[Sequence[dict[str, Any]]], None] | None = None
    also: DrawFn | None = None
    loads_models: bool = False

    def draw(self, data: Records, out: Path, run: str | None = None,
             **options: Any) -> list[Path]:
        """Draw every ``ok`` run (or those whose id starts with ``run``); the files written."""
        unknown = set(options) - {o.dest for o in self.options}
        if unknown:
            raise TypeError(f"{self.name}.draw: unexpected option(s) {sorted(unknown)}")
        opts = {o.dest: o.check(options.get(o.dest, o.default)) for o in self.options}
        runs = select_runs(data.records, run)
        if self.needs is not None:
            self.needs(runs)
        one = {**opts, "trust_pickle": data.trust_pickle} if self.loads_models else opts
        parts = [lambda: per_run(runs, lambda rec: self.draw_one(rec, data.folder, out, **one),
                                 self.name)]
        if self.also is not None:
            parts.append(lambda: self.also(data, out, **opts))
        paths: list[Path] = []
        reasons = []
        for part in parts:
            try:
                paths += part()
            except Skip as exc:
                reasons.append(str(exc))
        if not paths:
            raise Skip("; ".join(reasons))
        for reason in reasons:
            prefix = "" if reason.startswith(f"{self.name}: ") else f"{self.name}: "
            print(f"{prefix}{reason}", file=sys.stderr)
        return paths

    def add_args(self, parser: argparse.ArgumentParser) -> None:
        """Add ``--run RUN_ID`` and the script's options to its parser."""
        parser.add_argument("--run", default=None, metavar="RUN_ID",
                            help="draw only the runs whose id starts with RUN_ID "
                                 "(default: every ok run)")
        for option in self.options:
            option.add_to(parser)
        if self.loads_models:
            add_trust_flag(parser)

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Command line; returns 0 when at least one figure was written."""
        return script_main(self.name, self.doc.strip().split("\n")[0], self.draw, argv,
                           self.add_args)
