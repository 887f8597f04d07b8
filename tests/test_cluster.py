"""Grids on a cluster: lost workers retried (errors not), where each run ran, data shipped
once, GPUs asked for from the cluster's resources."""

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from torch_ae_sad import PROJECT_ROOT
from torch_ae_sad.dataset_loaders import load_dataset, provide_dataset, sources
from torch_ae_sad.model.experiment import (
    executors,
    expand_grid,
    load_records,
    run_id,
    run_specs,
)
from torch_ae_sad.model.experiment.executors import ray_gpus_per_task, task_device
from torch_ae_sad.model.results import main as results_main

DIGITS = {"dataset": "digits", "scenario": "one_vs_all", "normal_classes": [0], "labelled": 10}
SMALL = {"method": "AESAD", "hidden_dims": [16, 4], "epochs": 2, "batch_size": 64}


def test_gpu_request_follows_the_cluster_not_the_driver():
    assert ray_gpus_per_task({"CPU": 8.0}, 2, {None}) == 0.0  # CPU-only cluster
    assert ray_gpus_per_task({"CPU": 8.0, "GPU": 2.0}, 4, {None}) == 0.5
    assert ray_gpus_per_task({"CPU": 8.0, "GPU": 4.0}, 2, {None}) == 1.0
    assert ray_gpus_per_task({"GPU": 2.0}, 2, {"cuda:1"}) == 1.0
    assert ray_gpus_per_task({"GPU": 2.0}, 2, {"cpu"}) == 0.0
    with pytest.raises(ValueError, match="'cuda' asked for, but the Ray cluster has no GPU"):
        ray_gpus_per_task({"CPU": 8.0}, 2, {"cuda", None})
    assert task_device("cuda:1") == "cuda" and task_device("cpu") == "cpu"
    assert task_device(None) is None


_real = executors._run_in_worker


def _marker(spec) -> Path:
    """A file naming the spec (workers fork from a server started before any monkeypatch)."""
    return Path(tempfile.gettempdir()) / f"torch_ae_sad_lost_once_{run_id(spec)}"


def _dies_once(spec, verbose, save_model=False, own_gpu=False):
    """Stand-in worker: the first attempt of seed 3 kills its process (a lost worker)."""
    marker = _marker(spec)
    if spec["seed"] == 3 and not marker.exists():
        marker.write_text("died")
        os._exit(1)
    if spec["seed"] == 4:
        raise ValueError("a bug in the method")  # an error: recorded at once, never retried
    return _real(spec, verbose, save_model, own_gpu)


def test_lost_local_worker_is_retried_once_errors_are_not(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(executors, "_run_in_worker", _dies_once)
    specs = expand_grid([DIGITS], [{"name": "none"}], [SMALL], seeds=[0, 3, 4])
    for spec in specs:
        _marker(spec).unlink(missing_ok=True)
    records = run_specs(specs, tmp_path / "out", executor="local", workers=2, threads=1,
                        verbose=1)
    by_seed = {r["spec"]["seed"]: r for r in records}
    assert by_seed[3]["status"] == "ok" and by_seed[3]["attempts"] == 2
    assert by_seed[0]["attempts"] == 1
    assert by_seed[4]["status"] == "failed" and by_seed[4]["attempts"] == 1
    assert "a bug in the method" in by_seed[4]["error"]
    assert "running it again (attempt 2 of 2)" in capsys.readouterr().err


def test_records_name_their_host_and_results_group_and_filter_by_it(tmp_path, capsys):
    specs = expand_grid([DIGITS], [{"name": "none"}], [SMALL], seeds=[0, 1, 2, 3])
    run_specs(specs, tmp_path, threads=1, verbose=0)
    records, _ = load_records(tmp_path)
    assert all(r["environment"]["host"] for r in records)
    for i, path in enumerate(sorted(tmp_path.glob("*.json"))):  # as if run on two machines
        rec = json.loads(path.read_text())
        rec["environment"]["host"] = "node-a" if i < 3 else "node-b"
        path.write_text(json.dumps(rec))
    assert results_main([str(tmp_path), "--group-by", "host", "--no-csv"]) == 0
    out = capsys.readouterr().out
    assert "node-a" in out and "node-b" in out and "2 configurations" in out
    assert results_main([str(tmp_path), "--filter", "host=node-b", "--no-csv"]) == 0
    assert "1 runs (1 ok" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        results_main([str(tmp_path), "--filter", "hots=node-b", "--no-csv"])


def test_provided_dataset_is_used_without_reading_files(monkeypatch):
    arrays = load_dataset("digits")
    copy = tuple(np.array(a) for a in arrays)
    monkeypatch.setattr(sources, "_PROVIDED", {})
    monkeypatch.setitem(sources.DATASETS, "digits", lambda *a: pytest.fail("files were read"))
    provide_dataset("digits", copy)
    assert load_dataset("digits") is sources._PROVIDED["digits"]
    with pytest.raises(ValueError, match="expected \\(X_train, y_train, X_test, y_test\\)"):
        provide_dataset("digits", copy[:2])


def test_ray_ships_data_once_and_names_the_node(tmp_path):
    ray = pytest.importorskip("ray")
    specs = expand_grid([DIGITS], [{"name": "none"}], [SMALL], seeds=[0, 1])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        records = run_specs(specs, tmp_path, executor="ray", workers=2, threads=1, verbose=0)
    finally:
        ray.shutdown()
    assert [r["status"] for r in records] == ["ok", "ok"], records[0].get("traceback")
    assert all(r["environment"]["data_from"] == "object_store" for r in records)
    assert all(r["environment"]["ray_node"] and r["attempts"] == 1 for r in records)


@pytest.mark.slow
def test_two_node_cluster_survives_a_lost_node(tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'torch_ae_sad[ray]'")
    sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
    from bench_ray_cluster import LocalCluster, run_grid

    cluster = LocalCluster(port=6590)
    try:
        cluster.start_head()
        cluster.add_node()
        result = run_grid(cluster, tmp_path / "records", runs=6, epochs=3, kill_after=1)
    finally:
        cluster.stop()
    assert result["killed_raylet_pids"], "the second node's raylet was not found"
    assert result["statuses"] == ["ok"] * 6
    records, _ = load_records(tmp_path / "records")
    assert len(records) == 6 and all(r["status"] == "ok" for r in records)


def test_ray_tabular_grid_ships_its_file_once(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    y = (np.arange(300) < 30).astype(np.int64)
    path = tmp_path / "driver_only.npz"
    np.savez(path, X=X, y=y)
    specs = expand_grid([{"dataset": str(path), "scenario": "adbench", "labelled": 0.1,
                          "val_fraction": 0.0}], [{"name": "none"}], [SMALL], seeds=[0, 1])
    # the file exists on the driver only: once loaded there, it is gone from the disk
    monkeypatch.setitem(sources._PROVIDED, str(path), (X, y))
    path.unlink()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        records = run_specs(specs, tmp_path / "out", executor="ray", workers=2, threads=1,
                            verbose=0)
    finally:
        ray.shutdown()
    assert [r["status"] for r in records] == ["ok", "ok"], records[0].get("traceback")
    assert all(r["environment"]["data_from"] == "object_store" for r in records)
