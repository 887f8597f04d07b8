"""The one labelling module: the same label from a spec and from its flattened row; styles."""

import ast
from pathlib import Path

import pytest

from torch_ae_sad.dataset_loaders import SAMPLERS
from torch_ae_sad.model.base import DETECTORS
from torch_ae_sad.model.experiment import labels, make_spec
from torch_ae_sad.model.experiment.labels import (
    classes_text,
    fields_label,
    method_label,
    method_style,
    run_label,
    sampler_label,
    sampler_style,
    scenario_label,
    scenario_text,
)
from torch_ae_sad.model.results import flatten_spec, summarize


def spec(**kw):
    base = {"dataset": "digits", "scenario": "many_vs_many", "normal_classes": [0, 1, 2, 3, 4],
            "anomaly_classes": [5, 6, 7, 8, 9], "labelled": 10}
    return make_spec({**base, **kw})


def both(s):
    """A spec and its flattened row (as results.flatten_spec and summarize make them)."""
    return [s, flatten_spec(s)]


@pytest.mark.parametrize("classes,text", [
    (None, "rest"), ([], "rest"), ([3], "3"), ([1, 3], "1,3"), ([0, 1], "0,1"),
    ([0, 1, 2, 3, 4], "0-4"), ([5, 6, 7, 8, 9], "5-9"), ([0, 1, 3], "0,1,3"), (7, "7")])
def test_classes_text(classes, text):
    assert classes_text(classes) == text


def test_scenario_label_from_spec_and_row():
    for obj in both(spec()):
        assert scenario_label(obj) == "digits 0-4 vs 5-9"
    for obj in both(make_spec(dataset="digits", normal_classes=[3], labelled=10)):
        assert scenario_label(obj) == "digits 3 vs rest"


@pytest.mark.parametrize("sampler,params,text", [
    ("none", {}, "none"),
    ("random", {"ratio": 0.5}, "random 0.5"),
    ("enn", {"feature_space": "pca", "n_components": 50}, "enn pca50"),
    ("cnn", {"n_neighbors": 3}, "cnn k=3"),
    ("nearmiss1", {"ratio": 0.25, "feature_space": "pca", "n_components": 20},
     "nearmiss1 0.25 pca20"),
    ("random", {"ratio": 0.5, "feature_space": "raw"}, "random 0.5"),
])
def test_sampler_label_from_spec_and_row(sampler, params, text):
    for obj in both(spec(sampler=sampler, sampler_params=params)):
        assert sampler_label(obj) == text


def test_sampler_label_shows_only_the_chosen_fields():
    s = spec(sampler="nearmiss1", sampler_params={"ratio": 0.5, "feature_space": "pca",
                                                  "n_components": 50})
    for obj in both(s):
        assert sampler_label(obj, ["sampler", "sampler_params.ratio"]) == "nearmiss1 0.5"
        assert sampler_label(obj, ["sampler"]) == "nearmiss1"


def test_method_label_from_spec_and_row():
    s = spec(method="TOLL", method_params={"beta": 1000.0, "lr": 1e-4})
    for obj in both(s):
        assert method_label(obj) == "TOLL"
        assert method_label(obj, ["method_params.beta"]) == "TOLL beta=1000"
        assert method_label(obj, ["beta", "lr"]) == "TOLL beta=1000 lr=0.0001"


def test_fields_label_and_scenario_text():
    s = spec(method="AESAD", method_params={"lr": 0.001, "hidden_dims": [16, 4]},
             sampler="random", sampler_params={"ratio": 0.5})
    for obj in both(s):
        assert fields_label(obj, ["method", "method_params.lr", "method_params.hidden_dims",
                                  "method_params.alpha"]) == \
            "AESAD, lr=0.001, hidden_dims=[16,4], alpha=default"
        assert fields_label(obj, ["sampler", "sampler_params.ratio"]) == "random, ratio=0.5"
        # a short name that is a spec key itself keeps its prefix
        assert fields_label(obj, ["labelled", "method_params.labelled"]) == \
            "labelled=10, method_params.labelled=default"
        assert scenario_text(obj, ["dataset", "labelled"]) == "digits 0-4 vs 5-9, labelled=10"
        assert scenario_text(obj, ["labelled"], sep="\n") == "digits 0-4 vs 5-9\nlabelled=10"


def test_run_label_and_summary_rows():
    s = spec(sampler="enn", sampler_params={"feature_space": "pca", "n_components": 50},
             seed=3)
    record = {"run_id": "abc123", "spec": s, "status": "ok"}
    assert run_label(record) == "digits 0-4 vs 5-9 | enn pca50 | AESAD | seed 3 | abc123"
    rows, _ = summarize([record])
    assert sampler_label(rows[0]) == "enn pca50" and scenario_label(rows[0]) == \
        "digits 0-4 vs 5-9"


def test_styles_are_unique_and_stable():
    samplers = [sampler_style(name) for name in SAMPLERS]
    methods = [method_style(name) for name in DETECTORS]
    for styles in (samplers, methods):
        assert len({s["color"] for s in styles}) == len(styles)
        assert len({s["marker"] for s in styles}) == len(styles)
        assert all(set(s) == {"color", "marker"} for s in styles)
    assert sampler_style("none")["color"] == "#7f7f7f"  # the reference is grey
    assert sampler_style("random") == sampler_style("random")
    assert sampler_style("random") == labels.sampler_style("random")
    # a name no registry knows still gets one fixed style (a stable hash, not hash())
    assert sampler_style("some_old_sampler") == sampler_style("some_old_sampler")
    assert method_style("OldMethod")["color"] in labels.PALETTE


def test_labels_module_imports_no_runner_module_and_no_plotting():
    tree = ast.parse(Path(labels.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for a in node.names}
    runner = {m for m in imported if m and m.startswith("torch_ae_sad.model.experiment")}
    assert runner <= {"torch_ae_sad.model.experiment.spec"}
    assert not any(m and m.startswith("matplotlib") for m in imported)
