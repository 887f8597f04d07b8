"""Bad input a new user gives the runner: each is stopped before any run, or recorded and named.

Also: a corrupt scores file is found and its run redone, and two drivers on one folder share a
grid (claims) instead of each running all of it.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from torch_ae_sad import PROJECT_ROOT
from torch_ae_sad.model.experiment import (
    Claims,
    RecordFileError,
    expand_grid,
    load_records,
    load_scores,
    run_id,
    run_specs,
    trainer_main,
)
from torch_ae_sad.model.results import main as results_main

DIGITS = {"dataset": "digits", "scenario": "one_vs_all", "normal_classes": [0], "labelled": 10}
SMALL = {"method": "AESAD", "hidden_dims": [16, 4], "epochs": 2, "batch_size": 64}
NONE = [{"name": "none"}]


def _main(anomaly, samplers, models, tmp_path, *extra):
    return trainer_main(anomaly, samplers, models, description="t", dataset="digits",
                        argv=["--out", str(tmp_path / "out"), "--quiet", "--threads", "1",
                              *extra])


@pytest.mark.parametrize(("entry", "list_name", "message"), [
    ({"anomaly_classes": [5]}, "ANOMALY_CONFIG",
     "anomaly_classes: one_vs_all uses every other class as anomalous"),
    ({"labelled": -1}, "ANOMALY_CONFIG", "labelled: expected a count >= 0, found -1"),
    ({"labelled": 5000}, "ANOMALY_CONFIG", "labelled: expected at most"),
    ({"normal_classes": [12]}, "ANOMALY_CONFIG", "normal_classes: expected classes among"),
    ({"scenario": "many_vs_many", "normal_classes": [0, 1], "anomaly_classes": [1, 2]},
     "ANOMALY_CONFIG", "expected disjoint lists"),
    ({"pollution": 2}, "ANOMALY_CONFIG", "pollution: expected a"),
    ({"val_fraction": 1}, "ANOMALY_CONFIG", "val_fraction: expected a"),
    ({"scenario": "many_vs_many", "normal_classes": [0], "anomaly_classes": [1, 2],
      "known_classes": [3]}, "ANOMALY_CONFIG", "known_classes: expected a subset"),
])
def test_bad_scenario_stops_before_any_run(tmp_path, capsys, entry, list_name, message):
    with pytest.raises(SystemExit) as exit_info:
        _main([{**DIGITS, **entry}], NONE, [SMALL], tmp_path)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"{list_name} entry 0" in err and message in err
    assert not list((tmp_path / "out").glob("*.json"))


@pytest.mark.parametrize(("model", "message"), [
    ({**SMALL, "epochs": "ten"}, "epochs"),
    ({**SMALL, "epochs": 0}, "epochs"),
    ({**SMALL, "lr": -1.0}, "lr"),
])
def test_bad_method_values_stop_before_any_run(tmp_path, capsys, model, message):
    with pytest.raises(SystemExit) as exit_info:
        _main([DIGITS], NONE, [SMALL, model], tmp_path)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "MODEL_CONFIG entry 1" in err and message in err


def test_bad_seed_and_flags(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _main([DIGITS], NONE, [SMALL], tmp_path, "--seeds", "0", "-1")
    assert exit_info.value.code == 2
    assert "seeds: expected ints in [0, 2**32), found -1" in capsys.readouterr().err


def test_out_not_writable_stops_before_training(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(SystemExit) as exit_info:
        trainer_main([DIGITS], NONE, [SMALL], description="t", dataset="digits",
                     argv=["--out", str(blocker / "records"), "--quiet"])
    assert exit_info.value.code == 2
    assert str(blocker / "records") in capsys.readouterr().err
    with pytest.raises(OSError, match="a_file"):
        run_specs(expand_grid([DIGITS], NONE, [SMALL]), blocker, verbose=0)


def test_every_run_failed_exits_non_zero(tmp_path, capsys):
    # nearmiss needs 3 labelled anomalies: valid spec, fails in its run
    with pytest.raises(SystemExit) as exit_info:
        _main([{**DIGITS, "labelled": 2}], [{"name": "nearmiss1", "ratio": 0.5}], [SMALL],
              tmp_path)
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert "0 ok, 1 failed" in captured.out
    assert captured.err.strip().splitlines()[-1].startswith("error: every run failed")
    records, _ = load_records(tmp_path / "out")
    assert [r["status"] for r in records] == ["failed"]  # recorded all the same


@pytest.fixture(scope="module")
def two_records(tmp_path_factory):
    folder = tmp_path_factory.mktemp("records")
    specs = expand_grid([DIGITS], NONE, [SMALL], seeds=[0, 1])
    run_specs(specs, folder, threads=1, verbose=0)
    return folder, specs


def test_results_rejects_unknown_group_by_and_names_pooled_fields(two_records, capsys):
    folder, _ = two_records
    with pytest.raises(SystemExit) as exit_info:
        results_main([str(folder), "--group-by", "nosuchfield", "--no-csv"])
    assert exit_info.value.code == 2
    assert "--group-by: no record has the field(s) ['nosuchfield']" in capsys.readouterr().err
    assert results_main([str(folder), "--group-by", "dataset", "--no-csv"]) == 0


def test_results_on_a_folder_it_cannot_write(two_records, tmp_path, capsys):
    folder, _ = two_records
    blocker = tmp_path / "f"
    blocker.write_text("x")
    assert results_main([str(folder), "--csv", str(blocker / "results.csv")]) == 0
    captured = capsys.readouterr()
    assert "roc_auc" in captured.out and "cannot write the CSV" in captured.err


def test_old_and_new_records_group_together(two_records, tmp_path, capsys):
    folder, _ = two_records
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i, path in enumerate(sorted(folder.glob("*.json"))):
        rec = json.loads(path.read_text())
        if i == 0:  # a record written before noise_std and scaling existed
            del rec["spec"]["noise_std"], rec["spec"]["scaling"]
        (mixed / path.name).write_text(json.dumps(rec))
    assert results_main([str(mixed), "--no-csv"]) == 0
    assert "1 configurations" in capsys.readouterr().out


def test_corrupt_scores_file_is_found_and_its_run_redone(tmp_path):
    specs = expand_grid([DIGITS], NONE, [SMALL], seeds=[0])
    first = run_specs(specs, tmp_path, threads=1, verbose=0)[0]
    path = tmp_path / first["scores_file"]
    load_scores(tmp_path, first)  # intact
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(RecordFileError, match=f"{first['run_id']}.scores.npz is corrupt"):
        load_scores(tmp_path, first)
    again = run_specs(specs, tmp_path, threads=1, verbose=0)[0]
    assert again["started"] is not None and again is not first
    arrays = load_scores(tmp_path, again)
    assert arrays["test_scores"].shape == np.asarray(arrays["y_test"]).shape


NO_GUARD = """
from torch_ae_sad.model.experiment import expand_grid, run_specs
specs = expand_grid([{"dataset": "digits", "normal_classes": [0], "labelled": 10}],
                    [{"name": "none"}], [{"method": "RandomGuess"}], seeds=[0, 1])
run_specs(specs, OUT, executor="local", workers=2, threads=1, verbose=0)
"""


def test_missing_main_guard_is_named(tmp_path):
    script = tmp_path / "no_guard.py"
    script.write_text(NO_GUARD.replace("OUT", repr(str(tmp_path / "out"))))
    proc = subprocess.run([sys.executable, str(script)], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert 'has no `if __name__ == "__main__":` guard' in proc.stderr
    assert "no_guard.py" in proc.stderr
    assert not list((tmp_path / "out").glob("*.json"))


def test_claims_take_release_and_stale_takeover(tmp_path):
    a, b = Claims(tmp_path, stale_after=30), Claims(tmp_path, stale_after=30)
    assert a.take("r1") and not b.take("r1")
    assert b.holder("r1")["token"] == a.owner["token"]
    a.release("r1")
    assert b.take("r1")
    # a claim whose heartbeat stopped long ago is taken over
    (tmp_path / "r2.claim").write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    os.utime(tmp_path / "r2.claim", (time.time() - 120, time.time() - 120))
    assert a.take("r2")
    # a fresh claim of a process of this host that is gone is stale at once
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "r3.claim").write_text(json.dumps({"host": a.owner["host"], "pid": dead.pid}))
    assert a.take("r3")
    # a fresh claim of another host is respected
    (tmp_path / "r4.claim").write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    assert not a.take("r4")


DRIVER = """
import json, sys
from torch_ae_sad.model.experiment import executors, run_specs

real = executors.run_one

def counted(spec, **kw):
    with open(sys.argv[3], "a") as fh:
        fh.write(executors.run_id(spec) + "\\n")
    return real(spec, **kw)

if __name__ == "__main__":
    executors.run_one = counted
    specs = json.loads(open(sys.argv[1]).read())
    records = run_specs(specs, sys.argv[2], executor="serial", threads=1, verbose=0)
    print(json.dumps([r["status"] for r in records]))
"""


def test_two_drivers_share_a_grid(tmp_path):
    specs = expand_grid([DIGITS], [{"name": "none"}, {"name": "random", "ratio": 0.5}],
                        [SMALL, {**SMALL, "alpha": 2.0}, {"method": "TOLL", "beta": 1.0,
                                                          "hidden_dims": [16, 4], "epochs": 2}],
                        seeds=[0, 1])
    assert len(specs) == 12
    (tmp_path / "specs.json").write_text(json.dumps(specs))
    (tmp_path / "driver.py").write_text(DRIVER)
    out = tmp_path / "records"
    procs = [subprocess.Popen([sys.executable, str(tmp_path / "driver.py"),
                               str(tmp_path / "specs.json"), str(out),
                               str(tmp_path / f"ran{i}.txt")],
                              cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
             for i in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (stdout, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr[-2000:]
        assert json.loads(stdout.strip().splitlines()[-1]) == ["ok"] * 12
    ran = [line for i in range(2) if (tmp_path / f"ran{i}.txt").exists()
           for line in (tmp_path / f"ran{i}.txt").read_text().split()]
    assert sorted(ran) == sorted(run_id(s) for s in specs)  # each run trained exactly once
    records, problems = load_records(out)
    assert len(records) == 12 and not problems
    assert not list(out.glob("*.claim")), "claims left behind"
    assert Path(tmp_path / "ran0.txt").exists() and Path(tmp_path / "ran1.txt").exists()
