"""Draw every plot and table of :mod:`torch_ae_sad.model.analysis` for a records folder.

Run::

    python -m torch_ae_sad.model.analysis.all RECORDS_DIR [--out DIR] [--run RUN_ID]
        [--trust-pickled-models]

Runs each script of :data:`~torch_ae_sad.model.analysis.SCRIPTS` in turn; one that cannot draw
(records without scores, without a loss history, ...) is reported with what is missing and the
others go on. Exit code 0 when at least one file was written, 1 when none was, 2 when the
output folder cannot be written (checked before anything is drawn). Saved models are opened
as data, never unpickled (``--trust-pickled-models`` unpickles model files of the old pickled
kind too: only for files you made yourself), so a records folder from others is safe to draw.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from torch_ae_sad.model.analysis import PER_RUN, SCRIPTS
from torch_ae_sad.model.analysis.cli import (
    USAGE_ERROR,
    add_trust_flag,
    out_error,
    records_parser,
    trust_warning,
)
from torch_ae_sad.model.analysis.data import Records, Skip, load


def draw_all(data: Records, out: Path, run: str | None = None,
             scripts: Sequence[str] = SCRIPTS) -> tuple[list[Path], dict[str, str]]:
    """Run every script's ``draw``; return the files written and ``{script: why not}``."""
    paths: list[Path] = []
    failed: dict[str, str] = {}
    for name in scripts:
        kwargs = {"run": run} if name in PER_RUN else {}
        try:
            module = importlib.import_module(f"torch_ae_sad.model.analysis.{name}")
            written = module.draw(data, out, **kwargs)
        except Skip as exc:
            failed[name] = str(exc)
            print(f"{name}: nothing drawn: {exc}", file=sys.stderr)
            continue
        except Exception as exc:  # noqa: BLE001 - one broken plot must not stop the others
            failed[name] = f"{type(exc).__name__}: {exc}"
            print(f"{name}: failed with {type(exc).__name__}: {exc}\n"
                  f"{traceback.format_exc()}", file=sys.stderr)
            continue
        paths += written
        print(f"{name}: {len(written)} file(s)")
    return paths, failed


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns 0 when at least one file was written."""
    parser = records_parser("all", __doc__.split("\n")[0])
    parser.add_argument("--run", default=None, metavar="RUN_ID",
                        help="per-run plots only for runs whose id starts with RUN_ID")
    add_trust_flag(parser)
    args = parser.parse_args(argv)
    out = args.out or args.records / "figures"
    error = out_error(out)
    if error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    trust_warning("all", args.trust_pickled_models)
    try:
        data = load(args.records, trust_pickle=args.trust_pickled_models)
    except Skip as exc:
        print(f"error: nothing drawn: {exc}", file=sys.stderr)
        return 1
    for message in data.problems:
        print(message, file=sys.stderr)
    paths, failed = draw_all(data, out, args.run)
    print(f"{len(paths)} file(s) in {out}" + (f"; not drawn: {', '.join(failed)}"
                                              if failed else ""))
    return 0 if paths else 1


if __name__ == "__main__":
    sys.exit(main())
