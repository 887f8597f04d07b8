"""A grid on a two-node Ray cluster on this machine: kill one node mid-grid, every run ends ok.

Run::

    pip install 'torch_ae_sad[ray]'
    python benchmarks/bench_ray_cluster.py [--runs 12] [--epochs 3] [--port 6390]

What it does, in order:

1. starts a head node and a second node on this machine with ``ray start`` (one CPU each,
   their own ports), as two machines of a cluster would;
2. runs a grid of ``--runs`` small AE-SAD runs (MNIST, digit 1 vs rest; the driver ships the
   data set to the nodes once through the object store) with
   ``--executor ray --workers 2`` from a separate driver process, and SIGKILLs the second
   node's raylet once a few records exist: the runs that node held are lost with it, the
   driver submits them again (``attempts`` > 1 in their records) and the grid ends with every
   run ``ok``, without a second start;
3. runs the same grid (fresh records) on the head node alone and on both nodes, and reports
   runs per second of each (the ratio is the speed-up of the second node).

Writes ``benchmarks/results/ray_cluster.{md,json}``. Stops the cluster at the end
(``ray stop``, which stops every Ray instance of this machine). Where Ray's token
authentication is on (a ``~/.ray/auth_token`` file), every process here uses it
(``RAY_AUTH_MODE=token``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine_info, write_atomic  # noqa: E402

from torch_ae_sad import PROJECT_ROOT  # noqa: E402

#: Ports of the second node (the head takes ``--port`` and Ray's defaults).
NODE_PORTS = {"--node-manager-port": 0, "--object-manager-port": 1,
              "--metrics-export-port": 2, "--dashboard-agent-listen-port": 3,
              "--dashboard-agent-grpc-port": 4, "--runtime-env-agent-port": 5}

DRIVER = """
import json, sys
from torch_ae_sad.model.experiment import expand_grid, run_specs

if __name__ == "__main__":
    runs, epochs, address, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    model = {"method": "AESAD", "hidden_dims": [64, 16], "epochs": epochs, "batch_size": 128}
    specs = expand_grid([{"dataset": "mnist", "normal_classes": [1], "labelled": 30}],
                        [{"name": "none"}], [model], seeds=list(range(runs)))
    records = run_specs(specs, out, executor="ray", workers=2, ray_address=address,
                        threads=1, verbose=1)
    print(json.dumps([r["status"] for r in records]))
"""


def ray_env() -> dict[str, str]:
    """The environment of every Ray process here (token auth where this machine has a token)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if (Path.home() / ".ray" / "auth_token").is_file():
        env.setdefault("RAY_AUTH_MODE", "token")
    return env


def ray_cli() -> str:
    """The ``ray`` command of this interpreter's environment."""
    local = Path(sys.executable).with_name("ray")
    return str(local) if local.is_file() else "ray"


class LocalCluster:
    """A head node and optional extra nodes of one Ray cluster, all on this machine."""

    def __init__(self, port: int = 6390) -> None:
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.nodes: list[int] = []  # node-manager ports of the extra nodes

    def _start(self, args: list[str]) -> None:
        proc = subprocess.run([ray_cli(), "start", "--num-cpus", "1", "--disable-usage-stats",
                               *args], env=ray_env(), capture_output=True, text=True,
                              timeout=180)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{proc.stderr[-2000:]}")

    def start_head(self) -> None:
        """Start the head node (GCS on ``port``)."""
        self._start(["--head", "--port", str(self.port), "--include-dashboard=false"])

    def add_node(self) -> int:
        """Start one more node on its own ports; return its node-manager port."""
        base = self.port + 100 * (len(self.nodes) + 1)
        args = ["--address", self.address, "--min-worker-port", str(base + 10),
                "--max-worker-port", str(base + 90)]
        for flag, offset in NODE_PORTS.items():
            args += [flag, str(base + offset)]
        self._start(args)
        self.nodes.append(base)
        return base

    def kill_node(self, manager_port: int) -> list[int]:
        """SIGKILL the raylet of the node with ``manager_port`` (a lost machine); its pids."""
        pids = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "raylet/raylet" in text and f"--node_manager_port={manager_port}" in text:
                pid = int(cmdline.parent.name)
                os.kill(pid, signal.SIGKILL)
                pids.append(pid)
        return pids

    def stop(self) -> None:
        """Stop every Ray process of this machine."""
        subprocess.run([ray_cli(), "stop", "--force"], env=ray_env(), capture_output=True,
                       timeout=120)


def run_grid(cluster: LocalCluster, out: Path, runs: int, epochs: int,
             kill_after: int | None = None) -> dict[str, Any]:
    """Run the grid from a driver process, SIGKILLing the last extra node's raylet.

    The kill comes once ``kill_after`` records exist (never when None). Returns the statuses,
    attempts, seconds, the nodes that ran the runs and the driver's stderr lines.
    """
    script = out.parent / "driver.py"
    out.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(DRIVER)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(script), str(runs), str(epochs),
                             cluster.address, str(out)], cwd=PROJECT_ROOT, env=ray_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed: list[int] = []
    while kill_after is not None and not killed and proc.poll() is None:
        if len(list(out.glob("*.json"))) >= kill_after:
            killed = cluster.kill_node(cluster.nodes[-1])
        time.sleep(0.2)
    stdout, stderr = proc.communicate(timeout=1800)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"driver failed:\n{stderr[-3000:]}")
    records = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    return {"statuses": json.loads(stdout.strip().splitlines()[-1]), "seconds": seconds,
            "attempts": sorted(r.get("attempts", 1) for r in records),
            "nodes": sorted({r["environment"].get("ray_node", "?")[:8] for r in records}),
            "killed_raylet_pids": killed,
            "driver_stderr_lines": [line for line in stderr.splitlines() if line.strip()]}


def main(argv: list[str] | None = None) -> int:
    """Run the three grids; write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--port", type=int, default=6390)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ray_cluster_"))
    cluster = LocalCluster(args.port)
    try:
        cluster.start_head()
        cluster.add_node()
        killed = run_grid(cluster, work / "killed" / "records", args.runs, args.epochs,
                          kill_after=3)
        cluster.stop()
        cluster = LocalCluster(args.port)
        cluster.start_head()
        one = run_grid(cluster, work / "one" / "records", args.runs, args.epochs)
        cluster.add_node()
        two = run_grid(cluster, work / "two" / "records", args.runs, args.epochs)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(args, killed, one, two)
    return 0 if killed["statuses"] == ["ok"] * args.runs else 1


def report(args: argparse.Namespace, killed: dict, one: dict, two: dict) -> None:
    """Print and write the results."""
    rate1, rate2 = args.runs / one["seconds"], args.runs / two["seconds"]
    retried = sum(a > 1 for a in killed["attempts"])
    lines = [
        "# A grid on a two-node Ray cluster, one node killed mid-grid",
        "",
        f"`python benchmarks/bench_ray_cluster.py --runs {args.runs} --epochs {args.epochs}`: "
        "a head and a second node started with `ray start` on this machine (1 CPU each), "
        f"{args.runs} AE-SAD runs on MNIST 1 vs rest ({args.epochs} epochs), "
        "`--executor ray --workers 2`.",
        "",
        "| grid | runs ok | retried runs | attempts | nodes | seconds | runs / s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| two nodes, second node's raylet SIGKILLed after 3 records | "
        f"{killed['statuses'].count('ok')} / {args.runs} | {retried} | "
        f"{killed['attempts']} | {len(killed['nodes'])} | {killed['seconds']:.1f} | "
        f"{args.runs / killed['seconds']:.3f} |",
        f"| head node only | {one['statuses'].count('ok')} / {args.runs} | - | - | "
        f"{len(one['nodes'])} | {one['seconds']:.1f} | {rate1:.3f} |",
        f"| two nodes | {two['statuses'].count('ok')} / {args.runs} | - | - | "
        f"{len(two['nodes'])} | {two['seconds']:.1f} | {rate2:.3f} |",
        "",
        f"Two nodes against one: {rate2 / rate1:.2f}x the runs per second. The driver's "
        f"stderr during the killed grid ({len(killed['driver_stderr_lines'])} lines, progress "
        "bar aside):",
        "",
        *[f"    {line[-160:]}" for line in killed["driver_stderr_lines"]
          if "runs:" not in line or "already" in line][:12],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_atomic(RESULTS / "ray_cluster.md", text)
    write_atomic(RESULTS / "ray_cluster.json", json.dumps(
        {"args": vars(args), "killed": killed, "one_node": one, "two_nodes": two,
         "machine": machine_info(("torch", "ray"))}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
