"""ADBench's protocol: the split, its validation in specs, and the trainer on a folder."""

import numpy as np
import pytest

from torch_ae_sad.dataset_loaders import adbench_split
from torch_ae_sad.dataset_loaders.splits import adbench_labelled_count
from torch_ae_sad.model import adbench_trainer
from torch_ae_sad.model.experiment import make_spec, run_one


def _data(n=400, d=6, anomalies=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * 3 + 10
    y = np.zeros(n, np.int64)
    y[:anomalies] = 1
    X[:anomalies] += 6
    return X.astype(np.float32), y


@pytest.fixture
def npz_folder(tmp_path):
    X, y = _data()
    np.savez(tmp_path / "toy.npz", X=X, y=y)
    np.savez(tmp_path / "toy2.npz", X=X[::-1].copy(), y=y[::-1].copy())
    (tmp_path / "notes.txt").write_text("not data")
    return tmp_path


def test_split_follows_adbench():
    X, y = _data()
    split = adbench_split(X, y, labelled=0.1, seed=3)
    n_test = len(split.y_test)
    assert n_test == 120 and split.y_test.sum() == 12  # 30 %, stratified
    assert split.X_train.min() == 0.0 and split.X_train.max() == 1.0  # min-max on train
    train_anomalies = 40 - 12
    assert split.y_train.sum() == int(np.ceil(0.1 * train_anomalies)) == 3
    # the other training anomalies stay in the training data, unlabelled
    assert split.y_train_true.sum() == train_anomalies
    assert len(split.X_val) == 0
    again = adbench_split(X, y, labelled=0.1, seed=3)
    np.testing.assert_array_equal(again.X_train, split.X_train)
    other = adbench_split(X, y, labelled=0.1, seed=4)
    assert not np.array_equal(other.X_test, split.X_test)


def test_labelled_share_rules():
    assert adbench_labelled_count(0.01, 28) == 1  # at least one, as ADBench runs it
    assert adbench_labelled_count(0.1, 157) == 16
    assert adbench_labelled_count(5, 28) == 5
    with pytest.raises(ValueError, match=r"labelled: expected a fraction .* in \(0, 1\]"):
        adbench_labelled_count(1.5, 28)
    with pytest.raises(ValueError, match="expected at most 28 labelled"):
        adbench_labelled_count(29, 28)


def test_spec_validation_of_tabular_runs(npz_folder):
    path = str(npz_folder / "toy.npz")
    spec = make_spec(dataset=path, scenario="adbench", labelled=0.05, val_fraction=0.0)
    assert spec["normal_classes"] == [0] and spec["anomaly_classes"] == [1]
    with pytest.raises(ValueError, match="scenario: a tabular file takes scenario 'adbench'"):
        make_spec(dataset=path, scenario="one_vs_all", normal_classes=[0])
    with pytest.raises(ValueError, match="normal_classes: scenario 'adbench' fixes it"):
        make_spec(dataset=path, scenario="adbench", normal_classes=[1])
    with pytest.raises(ValueError, match="dataset: scenario 'adbench' expects a tabular file"):
        make_spec(dataset="mnist", scenario="adbench")
    with pytest.raises(ValueError, match="labelled: expected at most 28"):
        make_spec(dataset=path, scenario="adbench", labelled=100)
    with pytest.raises(ValueError, match="tabular file not found"):
        make_spec(dataset=str(npz_folder / "missing.npz"), scenario="adbench", labelled=0.1)
    record, scores = run_one({**spec, "method": "AESAD", "method_params": {"epochs": 2}})
    assert record["status"] == "ok", record.get("traceback")
    assert record["split"]["n_labelled"] == 2 and len(scores["y_test"]) == 120


def test_trainer_on_a_folder(npz_folder, tmp_path, capsys):
    records = adbench_trainer.main(["--data", str(npz_folder), "--labelled", "0.1", "0.05",
                                    "--quick", "--out", str(tmp_path / "out"), "--quiet",
                                    "--threads", "1"])
    assert len(records) == 4 and all(r["status"] == "ok" for r in records)
    assert {r["spec"]["dataset"] for r in records} == {str(npz_folder / "toy.npz")}
    assert "toy la=0.1" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        adbench_trainer.main(["--data", str(tmp_path / "nowhere")])
    assert exit_info.value.code == 2
    assert "--data: no file or folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        adbench_trainer.main(["--data", str(npz_folder), "--labelled", "2", "--quiet",
                              "--out", str(tmp_path / "o2")])
    assert "labelled: expected a fraction" in capsys.readouterr().err
