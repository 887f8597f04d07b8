"""Saved models and records that cannot run code (issue 16).

A model file holds data only and opens with ``torch.load(..., weights_only=True)``; a crafted
pickle in its place is refused by name by ``load_model``, ``analysis.all`` and
``analysis.report`` and never runs; a record names files of its own folder only; a doctored
CIFAR-10 batch is refused; every registered detector survives fit -> save -> load with the
same scores, and saving leaves the live detector as it was.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from torch_ae_sad.dataset_loaders import load_dataset
from torch_ae_sad.model import DETECTORS, IForest
from torch_ae_sad.model.analysis import data as analysis_data
from torch_ae_sad.model.analysis import plotting, reconstructions
from torch_ae_sad.model.experiment import (
    MODEL_KEY,
    RecordFileError,
    load_model,
    load_scores,
    make_spec,
    model_files,
    model_path,
    run_grid,
    save_record,
    serialize_model,
)
from torch_ae_sad.model.experiment.store import finished_record

ROOT = Path(__file__).resolve().parent.parent
#: Small settings applied where a detector takes the parameter.
FAST = {"epochs": 2, "batch_size": 16, "hidden_dims": (16, 4), "channels": (4, 8),
        "rep_dim": 8, "pretrain_epochs": 1, "verbose": 0, "n_estimators": 10,
        "n_neighbors": 3, "eps": 50.0, "min_samples": 2, "width": 8}
#: Detectors that take images only.
IMAGE_ONLY = {"ConvAutoEncoder", "DualDiscriminatorGAN"}
#: Further settings worth a round trip of their own: (detector, data, parameters).
VARIANTS = [
    ("AESAD", "images", {"network": "conv"}),
    ("DeepSAD", "images", {}),  # the LeNet with batch-norm buffers
    ("VAE", "images", {"network": "conv"}),
    ("VAE", "tabular", {"score": "elbo", "n_samples": 3}),
    ("DualDiscriminatorGAN", "images", {"channels_last": True}),
    ("KNN", "images", {}),  # brute force: no KD tree
    ("KNN", "tabular", {"pca_components": 3, "aggregation": "mean"}),
    ("OCSVM", "tabular", {"pca_components": 3}),
    ("LOF", "tabular", {"pca_components": 3}),
    ("DBSCANDetector", "images", {"pca_components": 5}),
]


def fast(cls, **extra):
    accepted = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in {**FAST, **extra}.items() if k in accepted})


def tiny(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Tabular (60, 8) or images (40, 1, 28, 28) in [0, 1], the last ones labelled anomalies."""
    rng = np.random.default_rng(0)
    if kind == "tabular":
        return rng.random((60, 8)).astype(np.float32), np.r_[np.zeros(54, int), np.ones(6, int)]
    X = (rng.random((40, 1, 28, 28)) * 0.3).astype(np.float32)
    X[:36, 0, 10:14, :] += 0.6
    X[36:, 0, :, 10:14] += 0.6
    return X, np.r_[np.zeros(36, int), np.ones(4, int)]


class MakesMarker:
    """A pickle whose unpickling creates the file ``marker`` (``builtins.open``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def crafted(marker: Path, kind: str = "pickle") -> bytes:
    """Bytes that create ``marker`` when unpickled: a raw pickle, ``torch.save`` of the object
    (like the old model files), or a model-file dict with the object inside."""
    if kind == "pickle":
        return pickle.dumps(MakesMarker(marker))
    buffer = io.BytesIO()
    obj = MakesMarker(marker) if kind == "torch" else {
        "format": model_files.FORMAT, "format_version": 1, "detector": "AESAD",
        "params": "{}", "fitted": {"threshold_": MakesMarker(marker)}, "networks": {}}
    torch.save(obj, buffer)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- round trips
def _cases():
    base = [(name, "images" if name in IMAGE_ONLY else "tabular", {}) for name in sorted(DETECTORS)]
    return base + VARIANTS


@pytest.mark.parametrize("name, kind, params", _cases(),
                         ids=[f"{n}-{k}{'-' + '-'.join(p) if p else ''}" for n, k, p in _cases()])
def test_every_detector_survives_fit_save_load(name, kind, params, tmp_path):
    X, y = tiny(kind)
    det = fast(DETECTORS[name], **params).fit(X, y)
    before = det.decision_function(X)
    blob = serialize_model(det)
    assert isinstance(blob, bytes), blob
    # data only: the file opens with the restricted unpickler
    payload = torch.load(io.BytesIO(blob), weights_only=True)
    assert payload["format"] == "torch_ae_sad.model" and payload["format_version"] == 1
    assert payload["detector"] == name and json.loads(payload["params"])
    path = tmp_path / "run.model.pt"
    path.write_bytes(blob)
    loaded = load_model(path)
    assert type(loaded) is type(det)
    np.testing.assert_array_equal(loaded.decision_function(X), before)
    np.testing.assert_array_equal(loaded.predict(X), det.predict(X))
    assert loaded.threshold_ == det.threshold_
    np.testing.assert_array_equal(loaded.decision_scores_, det.decision_scores_)
    for attr in getattr(det, "_network_attrs", ()):
        module = getattr(loaded, attr)
        assert not module.training
        assert all(p.device.type == "cpu" for p in module.parameters())
    # the live detector is as it was
    np.testing.assert_array_equal(det.decision_function(X), before)


def test_the_round_trips_cover_the_registry():
    assert {name for name, _, _ in _cases()} == set(DETECTORS)


def test_saving_does_not_move_or_change_the_live_networks(monkeypatch):
    X, y = tiny("images")
    det = fast(DETECTORS["DualDiscriminatorGAN"]).fit(X, y)
    before = det.decision_function(X)
    weights = {k: v.clone() for k, v in det.module_.state_dict().items()}

    def no_move(self, *args, **kwargs):
        raise AssertionError("serialize_model moved a live network")

    monkeypatch.setattr(torch.nn.Module, "cpu", no_move)
    monkeypatch.setattr(torch.nn.Module, "to", no_move)
    blob = serialize_model(det)
    monkeypatch.undo()
    assert isinstance(blob, bytes)
    for key, value in det.module_.state_dict().items():
        torch.testing.assert_close(value, weights[key], rtol=0, atol=0)
    np.testing.assert_array_equal(det.decision_function(X), before)


def test_loading_leaves_torchs_generator_alone(tmp_path):
    X, y = tiny("tabular")
    path = tmp_path / "m.model.pt"
    path.write_bytes(serialize_model(fast(DETECTORS["AESAD"]).fit(X, y)))
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_model(path)
    torch.testing.assert_close(torch.rand(3), expected)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_saving_a_cuda_detector_leaves_it_on_cuda(tmp_path):
    X, y = tiny("images")
    det = fast(DETECTORS["DeepSAD"], device="cuda").fit(X, y)
    before = det.decision_function(X)
    path = tmp_path / "m.model.pt"
    path.write_bytes(serialize_model(det))
    assert next(det.module_.parameters()).is_cuda
    np.testing.assert_array_equal(det.decision_function(X), before)
    np.testing.assert_allclose(load_model(path).decision_function(X), before, rtol=1e-4,
                               atol=1e-6)


def test_a_detector_that_is_not_data_gets_a_model_note(tmp_path):
    X, _ = tiny("tabular")
    det = IForest(n_estimators=5, random_state=np.random.RandomState(0)).fit(X)
    note = serialize_model(det)
    assert isinstance(note, str) and note.startswith("no model file: IForest: its parameters "
                                                     "are not JSON")
    record = {"run_id": "abc", "schema": 3, "status": "ok"}
    save_record(tmp_path, record, {"test_scores": np.zeros(2), MODEL_KEY: note})
    on_disk = json.loads((tmp_path / "abc.json").read_text())
    assert "model_file" not in on_disk and on_disk["model_note"] == note
    assert not list(tmp_path.glob("*.model.pt"))
    with pytest.raises(RecordFileError, match="no model file"):
        model_path(tmp_path, on_disk)


# ----------------------------------------------------------------------------- crafted files
@pytest.mark.parametrize("kind", ["pickle", "torch", "inside"])
def test_load_model_refuses_a_crafted_pickle_by_name(tmp_path, kind):
    marker = tmp_path / "marker"
    # the payload is real: unpickled as before, it creates the marker
    sanity = tmp_path / "sanity"
    if kind == "pickle":
        pickle.loads(crafted(sanity, kind))
        assert sanity.exists()
    elif kind == "torch":
        torch.load(io.BytesIO(crafted(sanity, kind)), weights_only=False)
        assert sanity.exists()
    path = tmp_path / "evil.model.pt"
    path.write_bytes(crafted(marker, kind))
    with pytest.raises(RecordFileError, match=r"evil\.model\.pt: not .*--save-models") as info:
        load_model(path)
    assert not marker.exists()
    assert "pickle" in str(info.value)


def test_a_file_that_does_not_parse_is_named(tmp_path):
    path = tmp_path / "junk.model.pt"
    path.write_bytes(b"not a model at all")
    with pytest.raises(RecordFileError, match=r"junk\.model\.pt: not a model file"):
        load_model(path)


def test_trust_pickle_opens_an_old_pickled_model_with_a_warning(tmp_path):
    X, y = tiny("tabular")
    det = fast(DETECTORS["AESAD"]).fit(X, y)
    path = tmp_path / "old.model.pt"
    torch.save(det, path)  # how model files were written before format 1
    with pytest.raises(RecordFileError, match=r"old\.model\.pt: not opened"):
        load_model(path)
    with pytest.warns(UserWarning, match="runs any code"):
        old = load_model(path, trust_pickle=True)
    np.testing.assert_array_equal(old.decision_function(X), det.decision_function(X))


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A records folder with one real AE-SAD run (8x8 digits) and its model file."""
    folder = tmp_path_factory.mktemp("records")
    spec = make_spec({"dataset": "digits", "scenario": "one_vs_all", "normal_classes": [0],
                      "labelled": 10, "method": "AESAD",
                      "method_params": {"epochs": 1, "hidden_dims": [16, 4]}})
    (record,) = run_grid([spec], folder, verbose=0, save_models=True, threads=1)
    assert record["status"] == "ok"
    return folder, record


def _plant(tmp_path, saved_run, payload: bytes) -> tuple[Path, dict]:
    """A copy of ``saved_run`` whose model file is ``payload`` (sha256 updated to match)."""
    folder, record = saved_run
    out = tmp_path / "records"
    out.mkdir()
    rid = record["run_id"]
    for f in folder.glob(f"{rid}*"):
        (out / f.name).write_bytes(f.read_bytes())
    (out / record["model_file"]).write_bytes(payload)
    rec = json.loads((out / f"{rid}.json").read_text())
    rec["files"][rec["model_file"]]["sha256"] = hashlib.sha256(payload).hexdigest()
    (out / f"{rid}.json").write_text(json.dumps(rec))
    return out, rec


def _run_module(module: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=600)


def test_analysis_all_and_report_never_run_a_crafted_model(tmp_path, saved_run):
    marker = tmp_path / "marker"
    folder, rec = _plant(tmp_path, saved_run, crafted(marker, "torch"))
    done = _run_module("torch_ae_sad.model.analysis.all", str(folder), "--out",
                       str(tmp_path / "figs"))
    assert not marker.exists()
    assert done.returncode == 0, done.stderr[-2000:]
    assert rec["model_file"] in done.stderr and "--save-models" in done.stderr
    assert not (tmp_path / "figs" / "reconstructions").exists()
    done = _run_module("torch_ae_sad.model.analysis.report", str(folder), "--out",
                       str(tmp_path / "report"), "--no-dynamics")
    assert not marker.exists()
    assert rec["model_file"] in done.stdout + done.stderr


def test_trusted_old_models_draw_with_the_flag(tmp_path, saved_run, monkeypatch):
    monkeypatch.setattr(plotting, "FORMATS", ("png",))
    folder, record = saved_run
    old = load_model(folder / record["model_file"])
    buffer = io.BytesIO()
    torch.save(old, buffer)  # the old, pickled kind of model file
    planted, _ = _plant(tmp_path, saved_run, buffer.getvalue())
    out = tmp_path / "figs"
    assert reconstructions.main([str(planted), "--out", str(out)]) == 1
    with pytest.warns(UserWarning, match="runs any code"):
        assert reconstructions.main([str(planted), "--out", str(out),
                                     "--trust-pickled-models"]) == 0
    assert list((out / "reconstructions").glob("*.png"))


def test_a_record_made_with_an_old_model_is_run_again(tmp_path, saved_run):
    folder, record = _plant(tmp_path, saved_run, b"old pickled bytes")
    rec = json.loads((folder / f"{record['run_id']}.json").read_text())
    del rec["files"][rec["model_file"]]["format_version"]
    (folder / f"{rec['run_id']}.json").write_text(json.dumps(rec))
    found, why = finished_record(folder, rec["run_id"], need_model=True)
    assert found is None and "older kind" in why
    assert finished_record(folder, rec["run_id"])[0] is not None


# ----------------------------------------------------------------------------- paths
@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_a_record_naming_a_file_outside_its_folder_is_refused(tmp_path, saved_run, how):
    folder, record = _plant(tmp_path, saved_run, (saved_run[0] / saved_run[1]["model_file"])
                            .read_bytes())
    outside = tmp_path / "outside.model.pt"
    outside.write_bytes((folder / record["model_file"]).read_bytes())
    name = {"absolute": str(outside), "dotdot": "../outside.model.pt",
            "symlink": "link.model.pt"}[how]
    if how == "symlink":
        (folder / name).symlink_to(outside)
    rec = {**record, "model_file": name, "scores_file": name}
    where = str(folder / f"{record['run_id']}.json")
    for call in (lambda: model_path(folder, rec), lambda: load_scores(folder, rec)):
        with pytest.raises(RecordFileError, match="refused") as info:
            call()
        assert where in str(info.value)
    with pytest.raises(analysis_data.Skip, match="refused"):
        analysis_data.load_trained(rec, folder)


def test_a_symlink_inside_the_folder_is_fine(tmp_path, saved_run):
    folder, record = _plant(tmp_path, saved_run, (saved_run[0] / saved_run[1]["model_file"])
                            .read_bytes())
    (folder / "sub").mkdir()
    (folder / "sub" / "link.model.pt").symlink_to(folder / record["model_file"])
    rec = {**record, "model_file": "sub/link.model.pt", "files": {}}
    assert load_model(model_path(folder, rec)).threshold_ == pytest.approx(
        load_model(folder / record["model_file"]).threshold_)


# ----------------------------------------------------------------------------- CIFAR-10
def _cifar(tmp_path: Path, protocol: int = 2) -> Path:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        batch = {b"batch_label": b"training batch", b"labels": [1, 2],
                 b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8),
                 b"filenames": [b"a.png", b"b.png"]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    return folder


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_batches_pickled_by_numpy_still_load(tmp_path, protocol):
    _cifar(tmp_path, protocol)
    x_tr, y_tr, x_te, _ = load_dataset("cifar10", root=tmp_path)
    assert x_tr.shape == (10, 3, 32, 32) and x_te.shape == (2, 3, 32, 32)
    assert y_tr.tolist() == [1, 2] * 5


def test_cifar_batches_of_numpy_1_still_load(tmp_path):
    folder = _cifar(tmp_path, 2)
    for path in folder.iterdir():  # the official files name numpy.core, not numpy._core
        path.write_bytes(path.read_bytes().replace(b"numpy._core.multiarray",
                                                   b"numpy.core.multiarray"))
    assert load_dataset("cifar10", root=tmp_path)[0].shape == (10, 3, 32, 32)


@pytest.mark.parametrize("protocol", [2, 5])
def test_a_doctored_cifar_batch_is_refused_and_never_runs(tmp_path, protocol):
    folder = _cifar(tmp_path, protocol)
    marker = tmp_path / "marker"
    doctored = {b"labels": [1, 2], b"data": np.zeros((2, 3072), np.uint8),
                b"batch_label": MakesMarker(marker)}
    (folder / "data_batch_3").write_bytes(pickle.dumps(doctored, protocol=protocol))
    with pytest.raises(ValueError, match=r"data_batch_3: .*global io\.open is not allowed"):
        load_dataset("cifar10", root=tmp_path)
    assert not marker.exists()
