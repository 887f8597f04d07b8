"""Executors: serial / local processes / Ray give the same records; crashes become records."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from torch_ae_sad import PROJECT_ROOT
from torch_ae_sad.model.experiment import (
    clean_stale_tmp,
    executors,
    expand_grid,
    load_records,
    run_id,
)
from torch_ae_sad.model.experiment.executors import group_key, order_by_group, run_specs

SMALL = {"method": "AESAD", "hidden_dims": [16, 4], "epochs": 2, "batch_size": 64}
DIGITS = {"dataset": "digits", "scenario": "one_vs_all", "normal_classes": [0], "labelled": 10}

_real_run_in_worker = executors._run_in_worker


def _crashy_run_in_worker(spec, verbose, save_model=False, own_gpu=False):
    """Stand-in worker function: seed 7 kills its process, seed 8 runs out of memory."""
    if spec["seed"] == 7:
        os._exit(1)
    if spec["seed"] == 8:
        raise MemoryError("simulated: cannot allocate 80 GiB")
    return _real_run_in_worker(spec, verbose, save_model, own_gpu)


def _specs(seeds=(0, 1)):
    return expand_grid([DIGITS], [{"name": "none"}, {"name": "random", "ratio": 0.5}], [SMALL],
                       seeds=list(seeds))


def test_serial_and_local_give_identical_records(tmp_path):
    specs = _specs()
    serial = run_specs(specs, tmp_path / "serial", executor="serial", threads=1, verbose=0)
    local = run_specs(specs, tmp_path / "local", executor="local", workers=2, threads=1,
                      verbose=0)
    assert [r["run_id"] for r in serial] == [r["run_id"] for r in local] == \
        [run_id(s) for s in specs]
    for a, b in zip(serial, local, strict=True):
        assert a["status"] == b["status"] == "ok", b.get("traceback")
        assert a["metrics"] == b["metrics"]
        assert a["history"]["train_loss"] == b["history"]["train_loss"]
        sa = np.load(tmp_path / "serial" / a["scores_file"])
        sb = np.load(tmp_path / "local" / b["scores_file"])
        np.testing.assert_array_equal(sa["test_scores"], sb["test_scores"])
    assert local[0]["executor"] == {"executor": "local", "workers": 2, "threads": 1}
    assert serial[0]["executor"]["executor"] == "serial"
    assert all(r["worker_pid"] != os.getpid() for r in local)
    # the records on disk are the ones returned
    on_disk = {r["run_id"]: r for r in load_records(tmp_path / "local")[0]}
    assert on_disk == {r["run_id"]: r for r in local}


def test_worker_crash_oom_and_errors_recorded_grid_goes_on(tmp_path, monkeypatch):
    fails = expand_grid([{**DIGITS, "labelled": 2}], [{"name": "nearmiss1", "ratio": 0.5}],
                        [SMALL], seeds=[0])  # nearmiss needs 3 labelled anomalies
    specs = _specs(seeds=(0, 7, 8)) + fails
    monkeypatch.setattr(executors, "_run_in_worker", _crashy_run_in_worker)
    records = run_specs(specs, tmp_path, executor="local", workers=2, threads=1, verbose=0)
    by_seed = {(r["spec"]["seed"], r["spec"]["sampler"]): r for r in records}
    assert by_seed[(0, "none")]["status"] == by_seed[(0, "random")]["status"] == "ok"
    crashed = by_seed[(7, "none")]
    assert crashed["status"] == "failed" and "worker process died" in crashed["error"]
    assert crashed["attempts"] == 2  # a lost worker is retried once, then recorded
    assert by_seed[(0, "none")]["attempts"] == 1
    assert by_seed[(7, "random")]["status"] == "failed"
    oom = by_seed[(8, "none")]
    assert oom["status"] == "failed" and oom["error_kind"] == "out_of_memory"
    assert "MemoryError" in oom["error"] and "Traceback" in oom["traceback"]
    bad = by_seed[(0, "nearmiss1")]
    assert bad["status"] == "failed" and "expected at least 3 labelled" in bad["error"]
    assert len(list(tmp_path.glob("*.json"))) == len(specs)
    # a second run retries the failed runs only (here in this process, without the crashes)
    monkeypatch.undo()
    oks = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.json")
           if json.loads(p.read_text())["status"] == "ok"}
    again = run_specs(specs, tmp_path, executor="serial", threads=1, verbose=0)
    assert sum(r["status"] == "ok" for r in again) == len(specs) - 1
    for name, mtime in oks.items():
        assert (tmp_path / name).stat().st_mtime_ns == mtime


GRID_SCRIPT = """
import json, sys
from torch_ae_sad.model.experiment.executors import run_specs

if __name__ == "__main__":
    specs = json.loads(open(sys.argv[1]).read())
    run_specs(specs, sys.argv[2], executor="local", workers=2, threads=1, verbose=0)
"""


def _kill_grid_specs():
    small = {"hidden_dims": [16, 4], "epochs": 2, "batch_size": 64}
    return expand_grid([DIGITS], [{"name": "none"}, {"name": "random", "ratio": 0.5}],
                       [{"method": "AESAD", **small}, {"method": "TOLL", "beta": 1.0, **small}],
                       seeds=[0, 1])


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find the workers")
def test_sigkill_mid_grid_then_restart_loses_and_duplicates_nothing(tmp_path):
    out = tmp_path / "records"
    specs = _kill_grid_specs()
    (tmp_path / "specs.json").write_text(json.dumps(specs))
    script = tmp_path / "grid.py"
    script.write_text(GRID_SCRIPT)
    cmd = [sys.executable, str(script), str(tmp_path / "specs.json"), str(out)]
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 120
    workers: set[int] = set()
    while time.time() < deadline and proc.poll() is None:
        workers.update(_children(proc.pid))
        if len(list(out.glob("[!.]*.json"))) >= 3:
            break
        time.sleep(0.01)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("[!.]*.json")}
    assert 3 <= len(before) < 8, "the kill should land in the middle of the grid"
    # the workers notice their driver is gone and exit by themselves
    workers = {w for w in workers if w != proc.pid}
    assert workers
    t0 = time.time()
    while any(_alive(w) for w in workers) and time.time() - t0 < 10:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "orphaned workers still running"
    # a write killed half-way leaves a hidden temporary file: ignored, then cleaned up
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stray = out / f".0123456789abcdef.json.{dead.pid}.xyz.tmp"
    stray.write_text('{"schema": 1, "run_id": "0123456789abcdef", "sta')
    records, problems = load_records(out)
    assert len(records) == len(before) and not problems

    # start the grid again (here in this process, serially: the same specs, the same folder)
    run_specs(specs, out, executor="serial", threads=1, verbose=0)

    files = sorted(out.glob("*.json"))
    records, problems = load_records(out)
    assert not problems and len(files) == len(records) == 8
    assert {r["run_id"] for r in records} == {run_id(s) for s in specs}
    assert all(r["status"] == "ok" for r in records)
    assert all((out / r["scores_file"]).exists() for r in records)
    assert not list(out.glob(".*")), "stale temporary files left behind"
    for name, mtime in before.items():  # finished runs were not run again
        assert (out / name).stat().st_mtime_ns == mtime


def test_clean_stale_tmp_keeps_live_writers(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = tmp_path / f".a.json.{os.getpid()}.k1.tmp"
    stale = tmp_path / f".b.json.{dead.pid}.k2.tmp"
    old = tmp_path / ".c.json.k3.tmp"
    for p in (live, stale, old):
        p.write_text("{")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    removed = clean_stale_tmp(tmp_path)
    assert sorted(removed) == sorted([stale, old])
    assert live.exists()


def test_group_order_and_duplicates(tmp_path):
    specs = expand_grid([DIGITS], [{"name": "none"}, {"name": "random", "ratio": 0.5}],
                        [SMALL, {**SMALL, "alpha": 2.0}], seeds=[0, 1])
    ordered = order_by_group(specs)
    keys = [group_key(s) for s in ordered]
    assert keys == sorted(keys, key=keys.index)  # each group contiguous
    assert len(set(keys)) == 4
    records = run_specs(specs[:1] * 3, tmp_path, threads=1, verbose=0)
    assert len(records) == 3 and len(list(tmp_path.glob("*.json"))) == 1


def test_bad_arguments_and_missing_ray(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="executor: expected one of"):
        run_specs(_specs()[:1], tmp_path, executor="dask")
    with pytest.raises(ValueError, match="workers: expected >= 1"):
        run_specs(_specs()[:1], tmp_path, executor="local", workers=0)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'torch_ae_sad\[ray\]'"):
        run_specs(_specs()[:1], tmp_path, executor="ray", workers=2, verbose=0)


def test_ray_local_instance_matches_serial(tmp_path):
    ray = pytest.importorskip("ray")
    specs = _specs(seeds=(0,))
    serial = run_specs(specs, tmp_path / "serial", threads=1, verbose=0)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        records = run_specs(specs, tmp_path / "ray", executor="ray", workers=2, threads=1,
                            verbose=0)
    finally:
        ray.shutdown()
    assert [r["status"] for r in records] == ["ok"] * len(specs), records[0].get("traceback")
    assert [r["metrics"] for r in records] == [r["metrics"] for r in serial]
    info = {"executor": "ray", "workers": 2, "threads": 1, "gpus_per_task": 0.0}
    assert records[0]["executor"] == info
    on_disk = load_records(tmp_path / "ray")[0]
    assert len(on_disk) == len(specs)
    assert all(r["executor"] == info and r["attempts"] == 1 for r in on_disk)
    # where each run ran: the host and the Ray node
    assert all(r["environment"]["host"] and len(r["environment"]["ray_node"]) > 8
               for r in on_disk)
