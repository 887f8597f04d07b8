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
    root = f"{PROJECT_ROOT}{os.sep}"  # results name repository paths relative to its root
    write_atomic(paths[0], json.dumps(payload, indent=1).replace(root, ""))
    write_atomic(paths[1], markdown.replace(root, ""))
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
