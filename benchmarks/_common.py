"""Helpers shared by the benchmark scripts: machine facts and atomic result files."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from torch_ae_sad import PROJECT_ROOT
from torch_ae_sad.model.experiment import environment

RESULTS = Path(__file__).resolve().parent / "results"
#: Where the developers' shared data sits beside a checkout (tests and benchmarks only).
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "datasets"


def write_results(stem: str, payload: dict[str, Any], markdown: str,
                  out: Path = RESULTS) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` atomically into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    payload = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "environment": environment(),
               **payload}
    paths = []
    for suffix, text in ((".json", json.dumps(payload, indent=1)), (".md", markdown)):
        path = out / f"{stem}{suffix}"
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        paths.append(path)
    return paths[0], paths[1]


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table; floats printed with 4 decimals below 1 and 1 decimal above."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 1 else f"{v:.1f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
