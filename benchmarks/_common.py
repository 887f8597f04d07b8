"""Helpers shared by the benchmark scripts: machine facts and atomic result files."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from torch_ae_sad import PROJECT_ROOT
from torch_ae_sad.model.experiment import environment

RESULTS = Path(__file__).resolve().parent / "results"
#: Where the developers' shared data sits beside a checkout (tests and benchmarks only).
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "datasets"


def machine_info(packages: tuple[str, ...] = ("torch", "numpy", "scikit-learn")
                 ) -> dict[str, Any]:
    """Python, the versions of ``packages``, the CPU, and thread settings of this machine."""
    import torch

    versions = {}
    for pkg in packages:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                              "OPENBLAS_NUM_THREADS")}
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpu_model": cpu_model, "cpu_count": os.cpu_count(), "cpu_affinity": affinity,
            "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(), "thread_env": threads,
            "versions": versions}


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(stem: str, payload: dict[str, Any], markdown: str,
                  out: Path = RESULTS) -> tuple[Path, Path]:
    """Write ``<stem>.json`` (with date and environment) and ``<stem>.md`` into ``out``."""
    payload = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "environment": environment(),
               **payload}
    paths = (out / f"{stem}.json", out / f"{stem}.md")
    root = f"{PROJECT_ROOT}{os.sep}"  # results name repository paths relative to its root,
    beside = f"{PROJECT_ROOT.parent}{os.sep}"  # and the shared data beside it as ../

    def relative(text: str) -> str:
        return text.replace(root, "").replace(beside, f"..{os.sep}")

    write_atomic(paths[0], relative(json.dumps(payload, indent=1)))
    write_atomic(paths[1], relative(markdown))
    return paths


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table; floats printed with 4 decimals below 1 and 1 decimal above."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 1 else f"{v:.1f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# --- helpers of the grid benchmarks (deep_sad_protocol, toll_mnist, sampler_grid, aesad_sweep)

#: Where the grid benchmarks keep their run records (git-ignored; a re-run skips finished runs).
RECORDS = Path(__file__).resolve().parent / "records"


def add_grid_arguments(parser: Any, stem: str, records: bool = True) -> None:
    """Add ``--quick``, ``--out``, ``--records`` (if ``records``) and ``--threads`` to a parser.

    ``--records`` defaults to ``benchmarks/records/<stem>`` (``<stem>_quick`` with ``--quick``,
    filled in by :func:`finish_grid_arguments`).
    """
    parser.add_argument("--quick", action="store_true",
                        help=f"a small version (well under a minute); writes "
                             f"{stem}_quick.{{json,md}} so a full run is never overwritten")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder of the JSON and Markdown results (default: "
                             "benchmarks/results)")
    if records:
        parser.add_argument("--records", type=Path, default=None,
                            help=f"folder of the run records (default: "
                                 f"benchmarks/records/{stem}, or {stem}_quick with --quick)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: steady timings on a shared "
                             "2-core machine; 2 threads stall badly under load)")


def finish_grid_arguments(parser: Any, args: Any, stem: str) -> str:
    """Check the arguments of :func:`add_grid_arguments`; return the results stem.

    Calls ``parser.error`` (exit status 2, naming the argument) for ``--threads < 1``.
    """
    if args.threads < 1:
        parser.error(f"--threads: expected an integer >= 1, found {args.threads}")
    name = f"{stem}_quick" if args.quick else stem
    if getattr(args, "records", False) is None:
        args.records = RECORDS / name
    return name


def check_positive(parser: Any, **values: int | float | None) -> None:
    """``parser.error`` naming the first ``--name`` whose value is not > 0 (None is skipped)."""
    for name, value in values.items():
        if value is not None and not value > 0:
            parser.error(f"--{name.replace('_', '-')}: expected a value > 0, found {value}")


def check_classes(parser: Any, **values: list[int]) -> None:
    """``parser.error`` naming the first ``--name`` holding a class outside ``0..9``."""
    for name, classes in values.items():
        bad = [c for c in classes if not 0 <= c <= 9]
        if bad:
            parser.error(f"--{name.replace('_', '-')}: expected classes in 0..9, found {bad}")


def run_labelled_grids(grids: dict[str, list[dict[str, Any]]], records: Path, *,
                       threads: int = 1, verbose: int = 1) -> dict[str, dict[str, Any]]:
    """Run each labelled grid of specs with the experiment runner, one label after the other.

    Parameters
    ----------
    grids : dict
        label -> specs (:func:`torch_ae_sad.model.experiment.make_spec`).
    records : Path
        Records folder shared by every grid (finished runs are skipped, not re-run).
    threads : int
        Torch threads of every run.
    verbose : int
        Passed to :func:`~torch_ae_sad.model.experiment.run_grid`.

    Returns
    -------
    dict
        label -> ``{"ok": [records with status ok], "failed": [error texts],
        "wall_seconds": seconds of this call (runs reused from disk cost ~0),
        "run_seconds": the runs' own seconds from their records (data preparation, sampling,
        training and scoring; the same whether this call ran them or reused them)}``.
    """
    from torch_ae_sad.model.experiment import run_grid

    out: dict[str, dict[str, Any]] = {}
    for label, specs in grids.items():
        t0 = time.perf_counter()
        recs = run_grid(specs, records, verbose=verbose, threads=threads)
        out[label] = {"ok": [r for r in recs if r["status"] == "ok"],
                      "failed": [r.get("error", "?") for r in recs if r["status"] != "ok"],
                      "wall_seconds": time.perf_counter() - t0,
                      "run_seconds": float(sum(r.get("total_seconds") or 0.0 for r in recs))}
        print(f"{label}: {len(out[label]['ok'])}/{len(recs)} ok, "
              f"{out[label]['wall_seconds']:.0f} s", flush=True)
    return out


def mean_std(values: Any) -> tuple[float, float]:
    """Mean and standard deviation (ddof=1; 0 for one value; NaN for none) of ``values``."""
    import numpy as np

    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def pm(values: Any, digits: int = 4) -> str:
    """``"mean ± std"`` of ``values`` (:func:`mean_std`) with ``digits`` decimals."""
    m, s = mean_std(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def signed(value: float, digits: int = 4) -> str:
    """``value`` with a sign and ``digits`` decimals (``+0.0000`` rather than ``-0.0000``)."""
    text = f"{value:+.{digits}f}"
    return "+" + text[1:] if float(text) == 0 else text


def timing_note(results: dict[str, dict[str, Any]], wall: float, records: Path) -> str:
    """One sentence: wall seconds of this call and the runs' own seconds from the records."""
    runs = sum(r["run_seconds"] for r in results.values())
    return (f"Wall time of this call: {wall:.0f} s; the runs' own seconds from their records: "
            f"{runs:.0f} s (runs already recorded in `{records}` are reused, not re-run, so "
            f"a repeated call is fast but reports the same run seconds); load average at the "
            f"end {loadavg()}.")


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return []


def write_grid_results(args: Any, results: dict[str, dict[str, Any]], payload: Any, md: str,
                       wall: float) -> None:
    """Print and write the results of a grid benchmark (:func:`run_labelled_grids`).

    Adds :func:`timing_note` to the Markdown and the settings (``args``), machine, wall and
    run seconds and the load average to the JSON; ``args`` needs ``stem``, ``records`` and
    ``out``.
    """
    md = md.rstrip() + "\n\n" + timing_note(results, wall, args.records) + "\n"
    print(md)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_results(args.stem, {"settings": settings, "machine": machine_info(),
                              "wall_seconds": wall,
                              "run_seconds": sum(r["run_seconds"] for r in results.values()),
                              "loadavg_end": loadavg(), "results": payload}, md, out=args.out)
