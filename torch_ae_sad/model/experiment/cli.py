"""The command line every trainer module's ``main()`` calls, and its end-of-grid table.

Bad input stops before any run: the flags, the output folder (checked for writing) and every
entry and combination of the config lists (:func:`~.grid.expand_grid`) are checked first, and
an error names what is wrong (exit code 2). The last line says how many runs ended ``ok`` and
``failed``; when every run failed the exit code is 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch_ae_sad.model.experiment.executors import EXECUTORS
from torch_ae_sad.model.experiment.grid import (
    QUICK,
    check_seeds,
    expand_grid,
    model_accepts,
    quick_model,
    run_grid,
)
from torch_ae_sad.model.experiment.labels import sampler_label, scenario_label
from torch_ae_sad.model.experiment.spec import run_id
from torch_ae_sad.model.experiment.store import DEFAULT_OUT, check_writable
from torch_ae_sad.utils.device import resolve_device


def summary_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per record for tables: scenario, sampler, sizes, seconds, metrics."""
    rows = []
    for r in records:
        s, m = r["spec"], r.get("metrics") or {}
        sam = r.get("sampling") or {}
        rows.append({
            "scenario": scenario_label(s), "method": s["method"], "sampler": sampler_label(s),
            "seed": s["seed"],
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


def _parser(description: str, n_lists: tuple[int, int, int]) -> argparse.ArgumentParser:
    """The trainers' argument parser (``n_lists``: the lengths of the three lists)."""
    epilog = (f"grid: {n_lists[0]} scenario(s) x {n_lists[1]} sampler(s) x {n_lists[2]} "
              f"model(s) x seeds; --quick keeps {QUICK['scenarios']} x "
              f"{min(QUICK['samplers'], n_lists[1])} x {min(QUICK['models'], n_lists[2])} x 1 "
              f"with epochs {QUICK['epochs']} (n_steps <= {QUICK['n_steps']}). Summary over "
              "seeds: python -m torch_ae_sad.model.results DIR")
    parser = argparse.ArgumentParser(description=description, epilog=epilog)
    add = parser.add_argument
    add("--quick", action="store_true", help="small version: first scenario, first two "
        "samplers, first four models, first seed, 2 epochs (well under a minute on 2 cores)")
    add("--seeds", type=int, nargs="+", default=None,
        help="seeds (default: 0; --quick keeps only the first unless given)")
    add("--device", default=None, help="cpu, cuda, cuda:1 (default: auto)")
    add("--epochs", type=int, default=None,
        help="override the epochs of every model that has epochs")
    add("--out", type=Path, default=DEFAULT_OUT, help=f"records folder (default: {DEFAULT_OUT})")
    add("--force", action="store_true", help="re-run specs already recorded")
    add("--quiet", action="store_true", help="no progress bars")
    add("--workers", type=int, default=1,
        help="runs at once: local processes or Ray tasks (default: 1)")
    add("--executor", choices=EXECUTORS, default=None, help="where runs execute (default: "
        "serial for 1 worker, local for more; ray when --ray-address is given)")
    add("--ray-address", default=None, help="Ray cluster address, e.g. ray://host:10001 or "
        "auto (default: a local Ray instance); needs pip install 'torch_ae_sad[ray]'")
    add("--save-models", action="store_true", help="also save each fitted detector beside its "
        "record (<run_id>.model.pt) for the reconstruction and latent-space figures of "
        "torch_ae_sad.model.analysis")
    add("--threads", type=int, default=None, help="torch threads per run (default: the idle "
        "CPUs, i.e. CPUs minus the load average, divided among the workers)")
    return parser


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Flag values, the device and the output folder, before any list is expanded."""
    for flag, value in (("--workers", args.workers), ("--threads", args.threads),
                        ("--epochs", args.epochs)):
        if value is not None and value < 1:
            parser.error(f"{flag}: expected >= 1, found {value}")
    try:
        if args.seeds is not None:
            check_seeds(args.seeds)
        if args.device is not None:
            resolve_device(args.device)
        check_writable(args.out)
    except (ValueError, RuntimeError, OSError) as exc:
        parser.error(str(exc))


def _grid_specs(args: argparse.Namespace, anomaly: list[dict], samplers: list[dict],
                models: list[dict], common: dict[str, Any]) -> list[dict[str, Any]]:
    """The validated, de-duplicated specs the flags select from the three lists."""
    seeds = args.seeds if args.seeds is not None else [0]
    if args.quick:
        anomaly, samplers = anomaly[:QUICK["scenarios"]], samplers[:QUICK["samplers"]]
        models = [quick_model(m, args.epochs) for m in models[:QUICK["models"]]]
    elif args.epochs is not None:
        models = [{**m, "epochs": args.epochs} if "epochs" in model_accepts(m) else m
                  for m in models]
    specs = expand_grid(anomaly, samplers, models, seeds, **common)
    unique = list({run_id(s): s for s in specs}.values())
    if len(unique) < len(specs):
        print(f"{len(specs) - len(unique)} duplicate spec(s) dropped (identical entries"
              f"{' after --quick' if args.quick else ''})")
    return unique


def trainer_main(anomaly_config: Sequence[dict], sampler_config: Sequence[dict],
                 model_config: Sequence[dict], *, description: str,
                 argv: Sequence[str] | None = None, **common: Any) -> list[dict[str, Any]]:
    """The command line every trainer module's ``main()`` calls.

    Every combination of the three lists and the seeds is one run. The flags, the output
    folder and the whole grid are validated before the first run; a bad entry is named and
    the command exits with code 2. Flags: ``--quick``, ``--seeds``, ``--device``,
    ``--epochs``, ``--out``, ``--force``, ``--quiet``, ``--workers``, ``--executor``,
    ``--ray-address``, ``--threads``, ``--save-models``; see ``--help``.

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

    Raises
    ------
    SystemExit
        Code 2 for bad flags or config lists, 1 when every run failed, 130 on Ctrl-C.
    """
    parser = _parser(description, (len(anomaly_config), len(sampler_config), len(model_config)))
    args = parser.parse_args(argv)
    _check_args(parser, args)
    if args.device is not None:
        common["device"] = args.device
    try:
        specs = _grid_specs(args, list(anomaly_config), list(sampler_config),
                            list(model_config), common)
    except ValueError as exc:
        parser.error(str(exc))
    executor = args.executor or ("ray" if args.ray_address else
                                 "serial" if args.workers == 1 else "local")
    print(f"{len(specs)} runs -> {args.out}")
    t0 = time.perf_counter()
    try:
        records = run_grid(specs, args.out, skip_existing=not args.force,
                           verbose=0 if args.quiet else 1, executor=executor,
                           workers=args.workers, ray_address=args.ray_address,
                           threads=args.threads, save_models=args.save_models)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except RuntimeError as exc:  # e.g. a script without its __main__ guard
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(format_table(summary_rows(records)))
    failed = sum(r["status"] != "ok" for r in records)
    print(f"{len(records) - failed} ok, {failed} failed, {time.perf_counter() - t0:.1f} s; "
          f"records in {args.out}")
    if records and failed == len(records):
        print(f"error: every run failed (first error: {records[0].get('error')}); the records "
              f"in {args.out} hold each traceback", file=sys.stderr)
        raise SystemExit(1)
    return records
