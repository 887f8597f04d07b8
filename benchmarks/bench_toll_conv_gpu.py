"""TOLL's MNIST conv protocol on a GPU: beta = 1000 vs beta = 0, as many classes as fit a budget.

Runs the ``toll_mnist`` preset of :mod:`torch_ae_sad.model.protocols` (the authors' conv
network of appendix B, standardised inputs, latent 128, batches of 1000 without replacement,
Adam 1e-4, 2000 batches, a checkpoint every 20 chosen by validation AUROC on the authors'
validation composition; ``--selection clean`` for the normals-only rule), run by run, in this
order: for each class, beta = 1000 then beta = 0, so every finished class is a paired
comparison. It stops starting runs once ``--budget`` seconds have passed and writes what it
has: the records (``--records``) and ``toll_conv_gpu.{json,md}`` (``--results``).

The full preset is 10 classes x 2 betas x 2 selections x 10 seeds (400 runs); one run costs
about 5.4 PFLOP, so this script is meant for a lent GPU session with a budget, e.g.::

    python benchmarks/bench_toll_conv_gpu.py --device cuda --budget 480 --seeds 0

Several budgeted runs (e.g. one lease per few classes) are merged into one results file by
``--combine A.json B.json``: the rows are pooled, the commands of each run listed.

On the CPU it is only a smoke test (``--steps 2``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, markdown_table, write_results  # noqa: E402

from torch_ae_sad.model.experiment import expand_grid, run_one, save_record  # noqa: E402
from torch_ae_sad.model.protocols import get_protocol, select  # noqa: E402

STEM = "toll_conv_gpu"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default=None, help="cuda (default: auto)")
    p.add_argument("--classes", type=int, nargs="+", default=list(range(10)))
    p.add_argument("--betas", type=float, nargs="+", default=[1000.0, 0.0])
    p.add_argument("--selection", choices=("authors", "clean"), default="authors")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--steps", type=int, default=None, help="override 2000 (smoke tests)")
    p.add_argument("--budget", type=float, default=480.0,
                   help="seconds after which no new run starts")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast (not the authors')")
    p.add_argument("--records", type=Path, default=Path("benchmarks/records/toll_conv_gpu"))
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--combine", type=Path, nargs="+", default=None,
                   help="merge the JSON results of earlier runs instead of running")
    args = p.parse_args(argv)
    if args.budget <= 0 or (args.steps is not None and args.steps < 1):
        p.error("--budget and --steps: expected positive values")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the preset's runs in order until the budget is spent; write the results."""
    args = parse_args(argv)
    if args.combine:
        combine(args)
        return
    torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its kernels
    protocol = get_protocol("toll_mnist")
    scen, models = select(protocol, classes=args.classes, selections=[args.selection],
                          betas=args.betas)
    extra = {"amp": True} if args.amp else {}
    if args.steps is not None:
        extra["n_steps"] = args.steps
    specs = []
    for s in scen:  # class-major: beta 1000 then beta 0 for each class
        entry = {k: v for k, v in s.items() if k != "selection"}
        specs += expand_grid([entry], [{"name": "none"}], [{**m, **extra} for m in models],
                             args.seeds, device=args.device, **protocol.common)
    rows, t_all = [], time.perf_counter()
    for spec in specs:
        if time.perf_counter() - t_all > args.budget:
            print(f"budget of {args.budget:.0f} s spent: {len(rows)} of {len(specs)} runs done",
                  flush=True)
            break
        record, scores = run_one(spec)
        save_record(args.records, record, scores)
        if record["status"] != "ok":
            print(f"FAILED {spec['normal_classes']} beta {spec['method_params']['beta']}: "
                  f"{record['error']}", flush=True)
            continue
        hist = record.get("history") or {}
        rows.append({"class": spec["normal_classes"][0],
                     "beta": spec["method_params"]["beta"], "seed": spec["seed"],
                     "roc_auc": record["metrics"]["roc_auc"],
                     "best_step": hist.get("best_step"),
                     "train_seconds": record["train_seconds"], "device": record["device"]})
        r = rows[-1]
        print(f"class {r['class']} beta {r['beta']:g} seed {r['seed']}: AUROC "
              f"{r['roc_auc']:.4f} best step {r['best_step']} {r['train_seconds']:.1f} s",
              flush=True)
    wall = time.perf_counter() - t_all
    command = "python benchmarks/bench_toll_conv_gpu.py " + " ".join(sys.argv[1:])
    payload, md = summarise(args, rows, wall, protocol.published, [command])
    print(md)
    write_results(STEM, payload, md, out=args.results)


def combine(args: argparse.Namespace) -> None:
    """Pool the rows of earlier results files (``--combine``) and write one summary."""
    parts = []
    for path in args.combine:
        try:
            parts.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"--combine: cannot read {path} as a results file: {exc}") from None
    first = parts[0]["settings"]
    for key in ("selection", "steps", "amp", "betas"):
        args.__dict__[key] = first[key]
        if any(p["settings"][key] != first[key] for p in parts):
            raise SystemExit(f"--combine: the files differ in {key!r}; pool like with like")
    args.seeds = sorted({s for p in parts for s in p["settings"]["seeds"]})
    args.budget = sum(p["settings"]["budget"] for p in parts)
    rows = [r for p in parts for r in p["rows"]]
    commands = [p["commands"][0] if p.get("commands") else _command(p["settings"])
                for p in parts]
    payload, md = summarise(args, rows, sum(p["wall_seconds"] for p in parts),
                            get_protocol("toll_mnist").published, commands,
                            gpu=parts[0]["gpu"], machine=parts[0]["machine"])
    print(md)
    write_results(STEM, payload, md, out=args.results)


def _command(settings: dict) -> str:
    """The command line of a results file written before commands were recorded."""
    flags = [f"--device {settings['device']}", "--classes " + " ".join(map(str, settings[
        "classes"])), f"--budget {settings['budget']:g}", "--seeds " + " ".join(
        map(str, settings["seeds"]))]
    return "python benchmarks/bench_toll_conv_gpu.py " + " ".join(flags)


def summarise(args: argparse.Namespace, rows: list[dict], wall: float,
              published: dict[str, float], commands: list[str],
              gpu: str | None = None, machine: dict | None = None) -> tuple[dict, str]:
    """Payload and Markdown: per class and beta, paired means over complete classes."""
    betas = [float(b) for b in args.betas]
    by = {(r["class"], float(r["beta"])): [] for r in rows}
    for r in rows:
        by[(r["class"], float(r["beta"]))].append(r["roc_auc"])
    classes = sorted({c for c, _ in by})
    paired = [c for c in classes if all((c, b) in by for b in betas)]
    table = [[c, *[np.mean(by[(c, b)]) if (c, b) in by else "-" for b in betas]]
             for c in classes]
    means = {b: float(np.mean([np.mean(by[(c, b)]) for c in paired])) if paired else None
             for b in betas}
    if gpu is None:
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    secs = [r["train_seconds"] for r in rows]
    precision = "bf16 autocast" if args.amp else "fp32 (TF32 convolutions, PyTorch's default)"
    md = "\n\n".join([
        "# TOLL, MNIST one-vs-all, the authors' conv protocol on a GPU",
        f"Preset `toll_mnist` ({args.selection} selection), seeds {args.seeds}, "
        f"{args.steps or 2000} batches of 1000, {precision}, "
        f"device {gpu}. Runs in class order, beta {' then '.join(f'{b:g}' for b in betas)}, "
        f"until the budget ran out ({args.budget:.0f} s in all): {len(rows)} runs in "
        f"{wall:.0f} s "
        f"({np.mean(secs) if secs else float('nan'):.1f} s training per run).",
        "Command(s): " + "; ".join(f"`{c}`" for c in commands),
        markdown_table(["class", *[f"beta={b:g}" for b in betas]], table),
        f"Mean over the {len(paired)} classes with every beta: " + ", ".join(
            f"beta={b:g} {means[b]:.4f}" if means[b] is not None else f"beta={b:g} -"
            for b in betas) + f". Published (10 classes, 10 seeds): {published}.", ""])
    def plain(v: object) -> object:
        return [plain(x) for x in v] if isinstance(v, list) else (
            str(v) if isinstance(v, Path) else v)

    payload = {"settings": {k: plain(v) for k, v in vars(args).items()},
               "machine": machine or machine_info(), "gpu": gpu, "rows": rows,
               "paired_classes": paired,
               "means": {f"{b:g}": means[b] for b in betas}, "wall_seconds": wall,
               "commands": commands}
    return payload, md


if __name__ == "__main__":
    main()
