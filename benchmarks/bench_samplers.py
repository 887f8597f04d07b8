"""Time every under-sampler of ``SAMPLERS`` on two MNIST training sets, raw vs PCA features.

Scenarios: one-vs-all (normal digit 0, ~5.3k normals) and many-vs-many (digits 0-4 normal vs
5-9, ~27.5k normals), 60 labelled anomalies, seed 0. Each (scenario, sampler, feature space)
measurement runs in its own spawned child process, killed after ``--timeout`` seconds of
sampling (loading the data does not count). The raw and PCA measurements of a sampler run back
to back so that their ratio is taken under the same machine load. Samplers that ignore the
features (``none``, ``random``) are measured once.

Usage::

    python benchmarks/bench_samplers.py                      # full run, ~30-40 min on 2 cores
    python benchmarks/bench_samplers.py --quick --out /tmp/b # smoke check, ~1 min

Writes ``<out>/samplers.json`` (every row and the machine) and ``<out>/samplers.md`` (a
Markdown table) after every measurement, atomically; ``--quick`` writes
``samplers_quick.{json,md}`` instead so it never overwrites a full run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _common import machine_info as _machine_info
from _common import write_atomic
from tqdm import tqdm

from torch_ae_sad.dataset_loaders.sampling import SAMPLERS

SCENARIOS: dict[str, str] = {
    "ova": "one-vs-all, normal digit 0",
    "mvm": "many-vs-many, digits 0-4 normal vs 5-9",
}
SPACES = ("raw", "pca")
N_COMPONENTS = 50
SEED = 0
LOAD_TIMEOUT = 180.0  # seconds a child may take to import and build its split
QUICK_SAMPLERS = ("none", "random", "tomek", "nearmiss1", "kmeans_balanced")
QUICK_TIMEOUT = 60.0


#: Versions recorded with the results.
PACKAGES = ("torch", "imbalanced-learn", "scikit-learn", "numpy", "scipy")

def build_split(scenario: str) -> Any:
    """Return the MNIST training split of ``scenario`` (``"ova"`` or ``"mvm"``)."""
    from torch_ae_sad.dataset_loaders.splits import many_vs_many, one_vs_all

    if scenario == "ova":
        return one_vs_all("mnist", 0, seed=SEED)
    if scenario == "mvm":
        return many_vs_many("mnist", [0, 1, 2, 3, 4], [5, 6, 7, 8, 9], seed=SEED)
    raise ValueError(f"scenario: expected one of {sorted(SCENARIOS)}, found {scenario!r}")


def _child(conn: Connection, scenario: str, sampler: str, space: str | None) -> None:
    """Child process: build the split, say ``ready``, under-sample, send the report."""
    try:
        from torch_ae_sad.dataset_loaders.sampling import undersample

        split = build_split(scenario)
        conn.send(("ready", {"n_normal_before": split.n_normal_train,
                             "n_train": len(split.y_train)}))
        _, rep = undersample(split, sampler, feature_space=space or "raw",
                             n_components=N_COMPONENTS, random_state=SEED)
        keys = ("n_before", "n_after", "n_normal_before", "n_normal_after", "n_anomalies",
                "seconds", "seconds_features", "seconds_sampler")
        out = {k: rep[k] for k in keys}
        out["params"] = {k: v for k, v in rep["params"].items()
                         if v is None or isinstance(v, bool | int | float | str)}
        conn.send(("ok", out))
    except BaseException as exc:  # noqa: BLE001 - report anything to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        conn.close()


def measure(ctx: mp.context.BaseContext, scenario: str, sampler: str, space: str | None,
            timeout: float) -> dict[str, Any]:
    """Run one measurement in a child process and return its row."""
    row: dict[str, Any] = {
        "scenario": scenario, "sampler": sampler, "feature_space": space,
        "status": None, "n_normal_before": None, "n_normal_after": None, "seconds": None,
        "seconds_features": None, "seconds_sampler": None, "error": None,
        "timeout_s": timeout, "loadavg_before": list(os.getloadavg()),
    }
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, scenario, sampler, space), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    child.close()
    try:
        msg = _recv(parent, LOAD_TIMEOUT)
        if msg is None or msg[0] != "ready":
            return _failed(row, msg, proc, f"no 'ready' from the child in {LOAD_TIMEOUT:.0f} s")
        row.update(msg[1])
        t_ready = time.perf_counter()
        msg = _recv(parent, timeout)
        if msg is None and proc.is_alive():
            row["status"] = "timeout"
            row["wall_seconds_sampling"] = time.perf_counter() - t_ready
            return row
        if msg is None or msg[0] != "ok":
            return _failed(row, msg, proc, "child ended without a report")
        rep = msg[1]
        row.update({k: rep[k] for k in ("n_normal_before", "n_normal_after", "n_anomalies",
                                        "seconds", "seconds_features", "seconds_sampler")})
        row["params"] = rep["params"]
        row["status"] = "ok"
        return row
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(10)
        parent.close()
        row["wall_seconds"] = time.perf_counter() - t0
        row["loadavg_after"] = list(os.getloadavg())


def _recv(conn: Connection, timeout: float) -> tuple | None:
    """Receive one message within ``timeout`` seconds, or ``None`` (timeout or closed pipe)."""
    if not conn.poll(timeout):
        return None
    try:
        return conn.recv()
    except EOFError:
        return None


def _failed(row: dict[str, Any], msg: tuple | None, proc: Any, default: str) -> dict[str, Any]:
    """Fill ``row`` as an error from the child's message or its exit code."""
    row["status"] = "error"
    if msg is not None and msg[0] == "error":
        row["error"], row["traceback"] = msg[1], msg[2]
    else:
        proc.join(1)
        row["error"] = f"{default} (exit code {proc.exitcode})"
    return row


def plan(scenarios: list[str], samplers: list[str], spaces: list[str]) -> list[tuple]:
    """Return the (scenario, sampler, space) measurements, raw and pca of a sampler adjacent.

    Samplers that do not look at the features get one measurement with space ``None``.
    """
    todo = []
    for scenario in scenarios:
        for name in samplers:
            if SAMPLERS[name].uses_features:
                todo += [(scenario, name, space) for space in spaces]
            else:
                todo.append((scenario, name, None))
    return todo


def add_speedups(rows: list[dict[str, Any]]) -> None:
    """Set ``speedup_raw_over_pca`` on every pca row whose raw row ran in this script."""
    raw = {(r["scenario"], r["sampler"]): r for r in rows if r["feature_space"] == "raw"}
    for r in rows:
        if r["feature_space"] != "pca":
            continue
        r["speedup_raw_over_pca"], r["speedup_is_lower_bound"] = None, False
        base = raw.get((r["scenario"], r["sampler"]))
        if base is None or r["status"] != "ok" or not r["seconds"]:
            continue
        if base["status"] == "ok":
            r["speedup_raw_over_pca"] = base["seconds"] / r["seconds"]
        elif base["status"] == "timeout":
            r["speedup_raw_over_pca"] = base["timeout_s"] / r["seconds"]
            r["speedup_is_lower_bound"] = True


def _fmt_s(r: dict[str, Any]) -> str:
    if r["status"] == "ok":
        return f"{r['seconds']:.2f}"
    if r["status"] == "timeout":
        return f">{r['timeout_s']:.0f} s"
    return "error"


def _fmt_row(r: dict[str, Any]) -> list[str]:
    space = r["feature_space"] or "-"
    pca_s = (f"{r['seconds_features']:.2f}"
             if r["feature_space"] == "pca" and r["status"] == "ok" else "")
    ratio = ""
    if r.get("speedup_raw_over_pca") is not None:
        x = r["speedup_raw_over_pca"]
        ratio = (">" if r["speedup_is_lower_bound"] else "") + (f"{x:.2f}x" if x < 1 else
                                                                  f"{x:.1f}x")
    before = "" if r["n_normal_before"] is None else str(r["n_normal_before"])
    after = "" if r["n_normal_after"] is None else str(r["n_normal_after"])
    return [r["scenario"], r["sampler"], space, before, after, _fmt_s(r), pca_s, ratio]


HEADER = ["scenario", "sampler", "space", "normals before", "normals kept", "seconds",
          "PCA s", "raw/pca"]


def markdown(doc: dict[str, Any]) -> str:
    """Render the results document as Markdown."""
    m, c = doc["machine"], doc["config"]
    v = m["versions"]
    lines = [
        "# Under-sampler timings on MNIST",
        "",
        f"Date: {doc['started']} (finished: {doc['finished'] or 'not finished'}). "
        f"Budget: {c['timeout_s']:.0f} s per measurement (sampling only, one spawned child "
        "process each; `>N s` = killed after N s).",
        "",
        f"Machine: {m['cpu_count']} CPUs ({m['cpu_model']}), Python {m['python']}, "
        f"torch {v['torch']}, imbalanced-learn {v['imbalanced-learn']}, "
        f"scikit-learn {v['scikit-learn']}, numpy {v['numpy']}.",
        "",
        "Scenarios: " + "; ".join(f"`{k}` = {SCENARIOS[k]}" for k in c["scenarios"])
        + f"; {c['labelled']} labelled anomalies, seed {c['seed']}. Samplers with a target "
        "keep half the normals (ratio 0.5). Space `raw` = 784 pixels, `pca` = PCA "
        f"to {c['n_components']} components (its time is in `PCA s` and in `seconds`), `-` = "
        "the sampler ignores the features. `raw/pca` = raw seconds / pca seconds measured "
        "back to back in this run (`>` when raw hit the budget).",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join(["---"] * 3 + ["---:"] * (len(HEADER) - 3)) + "|",
    ]
    lines += ["| " + " | ".join(_fmt_row(r)) + " |" for r in doc["rows"]]
    errors = [r for r in doc["rows"] if r["status"] == "error"]
    if errors:
        lines += ["", "Errors:", ""]
        lines += [f"- {r['scenario']} / {r['sampler']} / {r['feature_space'] or '-'}: "
                  f"{r['error']}" for r in errors]
    return "\n".join(lines) + "\n"


def save(doc: dict[str, Any], out: Path, stem: str) -> None:
    """Write the JSON and Markdown results."""
    add_speedups(doc["rows"])
    write_atomic(out / f"{stem}.json", json.dumps(doc, indent=2) + "\n")
    write_atomic(out / f"{stem}.md", markdown(doc))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``--quick`` fills in what was not given)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenarios", nargs="+", choices=sorted(SCENARIOS), default=None,
                   help="training sets (default: ova mvm; --quick: ova)")
    p.add_argument("--samplers", nargs="+", choices=list(SAMPLERS), default=None,
                   help="samplers (default: all of SAMPLERS; --quick: a few)")
    p.add_argument("--spaces", nargs="+", choices=SPACES, default=list(SPACES),
                   help="feature spaces (default: raw pca)")
    p.add_argument("--timeout", type=float, default=None,
                   help=f"seconds of sampling per measurement (default: 300; --quick: "
                        f"{QUICK_TIMEOUT:.0f})")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"),
                   help="output folder (default: benchmarks/results)")
    p.add_argument("--quick", action="store_true",
                   help="smoke check: one-vs-all only, a few samplers, small timeout; writes "
                        "samplers_quick.{json,md}")
    args = p.parse_args(argv)
    if args.scenarios is None:
        args.scenarios = ["ova"] if args.quick else ["ova", "mvm"]
    if args.samplers is None:
        args.samplers = list(QUICK_SAMPLERS) if args.quick else list(SAMPLERS)
    if args.timeout is None:
        args.timeout = QUICK_TIMEOUT if args.quick else 300.0
    if args.timeout <= 0:
        p.error(f"--timeout: expected a positive number of seconds, found {args.timeout}")
    args.spaces = [s for s in SPACES if s in args.spaces]  # raw first, then pca
    return args


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    stem = "samplers_quick" if args.quick else "samplers"
    todo = plan(args.scenarios, args.samplers, args.spaces)
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    doc: dict[str, Any] = {
        "started": now, "finished": None, "complete": False, "command": sys.argv,
        "config": {"scenarios": args.scenarios, "samplers": args.samplers,
                   "spaces": args.spaces, "timeout_s": args.timeout,
                   "n_components": N_COMPONENTS, "labelled": 60, "seed": SEED,
                   "ratio": 0.5, "quick": args.quick, "n_measurements": len(todo)},
        "machine": _machine_info(PACKAGES), "rows": [],
    }
    ctx = mp.get_context("spawn")
    t0 = time.perf_counter()
    bar = tqdm(todo, desc="samplers", unit="run", dynamic_ncols=True)
    try:
        for scenario, name, space in bar:
            bar.set_postfix_str(f"{scenario} {name} {space or '-'}")
            row = measure(ctx, scenario, name, space, args.timeout)
            doc["rows"].append(row)
            save(doc, args.out, stem)
            msg = row["error"] if row["status"] == "error" else _fmt_s(row)
            tqdm.write(f"{scenario:4s} {name:18s} {space or '-':4s} {row['status']:8s} {msg}")
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted; {len(doc['rows'])} rows kept in {args.out}", file=sys.stderr)
        return 130
    bar.close()
    doc["finished"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    doc["complete"] = True
    doc["wall_seconds"] = time.perf_counter() - t0
    save(doc, args.out, stem)
    print()
    print(markdown(doc))
    print(f"wrote {args.out / (stem + '.json')} and {args.out / (stem + '.md')} "
          f"in {doc['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
