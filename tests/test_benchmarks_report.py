"""benchmarks/reproduction.py: collation of fake results payloads (no training, no torch)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def rep() -> ModuleType:
    """``benchmarks/reproduction.py`` loaded as a module."""
    spec = importlib.util.spec_from_file_location("reproduction", BENCHMARKS / "reproduction.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(folder: Path, stem: str, payload: dict | str) -> None:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    (folder / f"{stem}.json").write_text(text)


@pytest.fixture()
def results_dir(tmp_path: Path) -> Path:
    """A results folder with a few fake payloads, one corrupt file and the rest missing."""
    _write(tmp_path, "deep_sad_protocol", {
        "date": "d0", "settings": {"seeds": [0]}, "machine": {"torch_threads": 1},
        "results": {"mnist": {"rows": [
            {"label": "DeepSAD gamma_l=0.01", "method": "DeepSAD", "gamma_l": 0.01,
             "budget": "5+10 epochs", "mean_auroc": 0.95, "n_pairs": 10,
             "published_deep_sad": 0.964},
            {"label": "AESAD gamma_l=0.05", "method": "AESAD", "gamma_l": 0.05,
             "budget": "10 epoch(s)", "mean_auroc": 0.97, "n_pairs": 10,
             "published_deep_sad": None}]}}})
    _write(tmp_path, "toll_mnist", {
        "date": "d1", "settings": {"seeds": [0], "steps": 2000, "classes": [3]},
        "results": {"authors beta=1000": {"mean_auroc": 0.93, "auroc": {"3": 0.93}},
                    "authors beta=0": {"mean_auroc": 0.95, "auroc": {"3": 0.95}}}})
    _write(tmp_path, "toll_conv_gpu", {
        "date": "d3", "settings": {"seeds": [0], "selection": "authors", "steps": None},
        "gpu": "NVIDIA H200", "paired_classes": [0, 1], "means": {"1000": 0.99, "0": 0.95}})
    _write(tmp_path, "aesad_sweep", {
        "date": "d2", "results": {"threads": 1, "params": {"epochs": 10, "batch_size": 32},
                                  "runs": {"cli": {"wall_seconds": 50.0, "auroc": {"0": 0.99},
                                                   "mean_auroc": 0.99}}}})
    _write(tmp_path, "samplers", "{not json")
    return tmp_path


def test_missing_and_corrupt_files_give_not_run_rows(rep: ModuleType, results_dir: Path) -> None:
    results = rep.load_results(results_dir)
    assert results["gan_fashion"] is None and "_error" in results["samplers"]
    rows = rep.collate(results)
    by_section = {}
    for r in rows:
        by_section.setdefault(r["section"], []).append(r)
    for section in ("TOLL Arrhythmia", "GAN Fashion-MNIST", "AE-SAD MNIST", "Samplers vs none"):
        assert all(r["ours"] == rep.NOT_RUN for r in by_section[section]), section
        assert all("python benchmarks/" in r["note"] for r in by_section[section]), section
    corrupt = [r for r in by_section["Speed"] if "unreadable" in r["note"]]
    assert len(corrupt) == 1 and corrupt[0]["ours"] == rep.NOT_RUN


def test_gaps_and_causes(rep: ModuleType, results_dir: Path) -> None:
    rows = rep.collate(rep.load_results(results_dir))
    deep = [r for r in rows if r["section"] == "Deep SAD protocol"]
    own = next(r for r in deep if "gamma_l=0.01" in r["protocol"])
    assert own["gap"] == pytest.approx(0.95 - 0.964)
    assert "below by 1.4 points" in own["note"] and "1 of 90" not in own["note"]
    assert "10 of 90 pairs" in own["note"] and own["pairs"] == 10
    other = next(r for r in deep if "gamma_l=0.05" in r["protocol"])
    assert other["gap"] is None and other["published"] == "-"
    conv = {r["protocol"].rsplit("=", 1)[1]: r for r in rows
            if r["section"] == "TOLL MNIST (conv, GPU)"}
    assert conv["1000"]["published"] == 0.984 and conv["1000"]["gap"] == pytest.approx(0.006)
    assert "above by 0.6 points" in conv["1000"]["note"] and conv["1000"]["pairs"] == 2
    assert conv["0"]["device"] == "NVIDIA H200"
    dense = {r["protocol"].rsplit("=", 1)[1]: r for r in rows
             if r["section"] == "TOLL MNIST (dense, CPU)"}
    assert "-0.0200 against beta = 0" in dense["1000"]["note"]
    assert "reference" in dense["1000"]["paper"]  # not counted as a reproduction gap
    sweep = next(r for r in rows if r["section"] == "Speed" and r["metric"] == "wall s")
    assert sweep["gap"] == pytest.approx(45.0 - 50.0) and "NOT met" in sweep["note"]


def test_render_lists_every_row_and_source(rep: ModuleType, results_dir: Path) -> None:
    results = rep.load_results(results_dir)
    rows = rep.collate(results)
    md = rep.render(rows, results)
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table) == len(rows) + 1  # header + one line per row
    assert "| not run |" in md and "`toll_mnist.json` (d1)" in md
    assert "| [TOLL MNIST (dense, CPU)](toll_mnist.md) |" in md
    assert "| [TOLL MNIST (conv, GPU)](toll_conv_gpu.md) |" in md and "[Speed](aesad_sweep.md)" in md
    assert "`gan_fashion.json`" in md.split("Missing:")[1]


def test_esad_deepod_and_full_budget_rows(rep: ModuleType, tmp_path: Path) -> None:
    def entry(method: str, auc: float, params: dict) -> dict:
        return {"label": f"{method} gamma_l=0.01", "method": method, "gamma_l": 0.01,
                "params": params, "budget": "b", "mean_auroc": auc, "n_pairs": 10,
                "published_deep_sad": 0.964}

    _write(tmp_path, "deep_sad_protocol_esad", {
        "settings": {"seeds": [0, 1, 2]}, "results": {"mnist": {"rows": [
            entry("DeepSAD", 0.95, {}), entry("AESAD", 0.97, {}), entry("DevNet", 0.90, {})]}}})
    _write(tmp_path, "deep_sad_protocol_esad_full", {
        "settings": {"seeds": [0]}, "results": {"mnist": {"devices": "cuda", "rows": [
            entry("DeepSAD", 0.96, {"epochs": 150, "pretrain_epochs": 150}),
            entry("DevNet", 0.83, {"epochs": 50})]}}})
    _write(tmp_path, "deepod_side_by_side", {
        "protocol": {"seeds": [0, 1, 2], "settings": {"DeepSAD": {"epochs": 10}}},
        "models": {"DeepSAD": {"sets": 10, "auroc_ours": 0.89, "auroc_deepod": 0.91,
                               "seconds_ratio": 1.4, "within_0.01": False,
                               "not_slower": False}}})
    rows = rep.collate(rep.load_results(tmp_path))
    esad = next(r for r in rows if r["section"] == "Gap to ESAD" and r["ours"] != rep.NOT_RUN)
    assert esad["ours"] == 0.97 and "(AESAD)" in esad["protocol"]
    assert esad["gap"] == pytest.approx(0.97 - 0.992) and esad["seeds"] == 3
    assert "reference" in esad["paper"]  # a different method's figure, not a reproduction
    full = [r for r in rows if r["source"] == "deep_sad_protocol_esad_full"]
    own = next(r for r in full if "DevNet" not in r["paper"])
    assert own["device"].startswith("GPU") and "fewer epochs" not in own["note"]
    devnet = next(r for r in full if "DevNet" in r["paper"])
    assert "nine unseen at test" in devnet["note"]
    deepod = next(r for r in rows if r["section"] == "Ours vs DeepOD")
    assert deepod["gap"] == pytest.approx(0.89 - 0.91) and "within 0.01: no" in deepod["note"]
    assert deepod["budget"] == "epochs 10" and deepod["pairs"] == 10
