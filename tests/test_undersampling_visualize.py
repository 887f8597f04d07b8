"""Tests of undersampling/: 2D imbalanced sets and the drawings of every under-sampler."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from imblearn.under_sampling import (  # noqa: E402
    EditedNearestNeighbours,
    NearMiss,
    RandomUnderSampler,
    TomekLinks,
)
from sklearn.neighbors import NearestNeighbors  # noqa: E402

from torch_ae_sad.dataset_loaders.sampling import SAMPLERS, undersample  # noqa: E402
from undersampling.data import DATASETS_2D, make_imbalanced, make_split  # noqa: E402
from undersampling.visualize import (  # noqa: E402
    draw_sampler,
    grid_figure,
    main,
    run_sampler,
    tomek_pairs,
    try_run_sampler,
)

SEED = 3


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def split():
    return make_split("gaussians", n_samples=160, ratio=0.1, seed=SEED)


def _rows(a: np.ndarray) -> np.ndarray:
    """Rows of a 2D array sorted lexicographically (to compare point sets)."""
    a = np.asarray(a, np.float64).reshape(len(a), -1)
    return a[np.lexsort(a.T[::-1])] if len(a) else a


def _same_points(drawn: np.ndarray, expected: np.ndarray) -> bool:
    drawn, expected = _rows(drawn), _rows(expected)
    return drawn.shape == expected.shape and np.allclose(drawn, expected)


# ------------------------------------------------------------------ generators
@pytest.mark.parametrize("name", sorted(DATASETS_2D))
def test_generator_size_ratio_and_determinism(name):
    X, y = make_imbalanced(name, n_samples=200, ratio=0.1, seed=SEED)
    assert X.shape == (200, 2) and X.dtype == np.float64 and y.dtype == np.int64
    assert int(y.sum()) == 20 and set(np.unique(y)) == {0, 1}
    X2, y2 = make_imbalanced(name, n_samples=200, ratio=0.1, seed=SEED)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    X3, _ = make_imbalanced(name, n_samples=200, ratio=0.1, seed=SEED + 1)
    assert not np.allclose(X, X3)


def test_overlap_moves_the_classes_together():
    far = make_imbalanced("gaussians", 400, 0.25, overlap=0.0, seed=0)
    near = make_imbalanced("gaussians", 400, 0.25, overlap=1.0, seed=0)

    def gap(X, y):
        return np.linalg.norm(X[y == 1].mean(0) - X[y == 0].mean(0))
    assert gap(*near) < 0.5 < 3.0 < gap(*far)


def test_make_split_wraps_three_draws(split):
    assert split.X_train.shape == (160, 2) and split.X_train.dtype == np.float32
    assert split.n_labelled_train == 16 and split.n_normal_train == 144
    assert len(split.y_val) == len(split.y_test) == 160
    assert not np.allclose(split.X_train, split.X_test)
    assert split.meta["dataset"] == "gaussians" and split.meta["seed"] == SEED


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "spirals"}, r"dataset: expected one of \['blobs', 'circles', 'gaussians', "
                          r"'moons'\], found 'spirals'"),
    ({"ratio": 0.0}, r"ratio: expected the minority fraction in \(0, 1\), found 0.0"),
    ({"ratio": 1.0}, r"ratio: expected the minority fraction in \(0, 1\), found 1.0"),
    ({"ratio": -0.2}, r"ratio: expected the minority fraction in \(0, 1\), found -0.2"),
    ({"ratio": 0.001}, r"ratio: expected at least one minority and one majority point, "
                       r"found ratio=0.001 \* n_samples=100 -> 0 minority"),
    ({"noise": -1.0}, r"noise: expected a spread in \[0, inf\), found -1.0"),
    ({"overlap": 1.5}, r"overlap: expected a fraction in \[0, 1\], found 1.5"),
    ({"n_samples": 1}, r"n_samples: expected an int >= 2, found 1"),
])
def test_generator_bad_input(kwargs, message):
    args = {"name": "moons", "n_samples": 100, **kwargs}
    with pytest.raises(ValueError, match=message):
        make_imbalanced(**args)


# ------------------------------------------------------------------ panels
@pytest.mark.filterwarnings("ignore:The number of the samples to be selected:UserWarning")
@pytest.mark.parametrize("name", list(SAMPLERS))
def test_drawn_counts_equal_the_sampler_output(split, name):
    run = run_sampler(split, name, keep=0.5)
    _, report = undersample(split, name, ratio=0.5 if SAMPLERS[name].takes_ratio else None,
                            feature_space="raw")
    _, ax = plt.subplots()
    counts = draw_sampler(ax, run).counts()
    assert counts["kept"] == report["n_normal_after"]
    assert counts["removed"] == report["n_normal_before"] - report["n_normal_after"]
    assert counts["minority"] == report["n_anomalies"] == 16
    assert np.array_equal(run.kept, report["kept_indices"])


def _direct(sampler, split):
    """Kept and removed normals of an imbalanced-learn sampler run directly."""
    X, y = split.X_train, split.y_train
    sampler.fit_resample(X, y)
    keep = np.zeros(len(y), bool)
    keep[sampler.sample_indices_] = True
    return X[keep & (y == 0)], X[~keep & (y == 0)]


@pytest.mark.parametrize(("name", "direct"), [
    ("random", lambda: RandomUnderSampler(sampling_strategy={0: 72}, random_state=SEED)),
    ("nearmiss1", lambda: NearMiss(sampling_strategy={0: 72}, version=1, n_neighbors=3)),
    ("enn", lambda: EditedNearestNeighbours(sampling_strategy=[0])),
    ("tomek", lambda: TomekLinks(sampling_strategy=[0])),
])
def test_drawn_points_equal_imblearn_run_directly(split, name, direct):
    _, ax = plt.subplots()
    panel = draw_sampler(ax, run_sampler(split, name, keep=0.5))
    kept, removed = _direct(direct(), split)
    assert len(kept) + len(removed) == 144
    assert _same_points(panel.kept.get_offsets(), kept)
    assert _same_points(panel.removed.get_offsets(), removed)
    assert _same_points(panel.minority.get_offsets(), split.X_train[split.y_train == 1])


def test_tomek_links_drawn_equal_imblearn_is_tomek(split):
    X, y = split.X_train, split.y_train
    nns = NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X, return_distance=False)[:, 1]
    majority_in_link = np.flatnonzero(TomekLinks.is_tomek(y, nns, [0]))
    assert len(majority_in_link) >= 2  # the test set has links to compare
    expected = np.concatenate([X[majority_in_link], X[nns[majority_in_link]]], axis=1)

    run = run_sampler(split, "tomek")
    _, ax = plt.subplots()
    panel = draw_sampler(ax, run)
    drawn = panel.segments("Tomek link").reshape(-1, 4)
    assert _same_points(drawn, expected)
    assert np.array_equal(np.sort(tomek_pairs(X, y)[:, 0]), majority_in_link)
    assert panel.counts()["removed"] == len(majority_in_link)  # Tomek removes exactly those


def test_nearmiss1_segments_join_kept_normals_to_their_nearest_anomalies(split):
    run = run_sampler(split, "nearmiss1", max_explained=None)
    _, ax = plt.subplots()
    segs = draw_sampler(ax, run).segments(run.overlays[0].label)
    X, y = split.X_train, split.y_train
    minor = X[y == 1]
    idx = NearestNeighbors(n_neighbors=3).fit(minor).kneighbors(X[run.kept][y[run.kept] == 0],
                                                                return_distance=False)
    expected = np.concatenate([np.repeat(X[run.kept][y[run.kept] == 0], 3, axis=0),
                               minor[idx.ravel()]], axis=1)
    assert len(segs) == 3 * 72
    assert _same_points(segs.reshape(-1, 4), expected)


def test_enn_neighbourhoods_show_why_points_were_removed(split):
    run = run_sampler(split, "enn")
    _, ax = plt.subplots()
    segs = draw_sampler(ax, run).segments(run.overlays[0].label)
    X, y = split.X_train, split.y_train
    assert len(segs) == 3 * len(run.removed) > 0
    is_minor = {tuple(p) for p in X[y == 1].astype(np.float64)}
    for k in range(len(run.removed)):  # each removed normal has a minority point nearby
        ends = segs[3 * k:3 * k + 3, 1]
        assert any(tuple(e) in is_minor for e in ends)


def test_failed_sampler_is_drawn_as_an_error_panel():
    small = make_split("moons", n_samples=100, ratio=0.02, seed=0)  # 2 minority points
    runs = [try_run_sampler(small, n) for n in ("random", "nearmiss1")]
    assert runs[0].error is None
    assert "expected at least 3 labelled anomalies" in runs[1].error
    assert "found 2" in runs[1].error
    fig, panels = grid_figure(small, runs)
    assert panels["random"].counts()["kept"] == 49
    assert panels["nearmiss1"].counts() == {"kept": 0, "removed": 0, "minority": 0}
    texts = [t.get_text().replace("\n", " ") for t in fig.axes[2].texts]
    assert any("expected at least 3 labelled anomalies" in t for t in texts)
    assert fig.axes[2].get_title() == "nearmiss1: failed"


# ------------------------------------------------------------------ command line
def _cli(tmp_path, *args):
    return main(["--n-samples", "120", "--ratio", "0.1", "--out", str(tmp_path), "--quiet",
                 "--dpi", "30", *args])


def test_cli_writes_the_figures(tmp_path, capsys):
    assert _cli(tmp_path, "--dataset", "moons", "--samplers", "random", "tomek") == 0
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert written == ["moons/random.png", "moons/tomek.png", "moons_grid.png",
                       "moons_regions.png"]
    for p in tmp_path.rglob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert f"wrote 4 figures to {tmp_path} in " in out and out.strip().endswith(" s")


@pytest.mark.parametrize(("args", "message"), [
    (["--dataset", "spirals"], "error: --dataset: expected one of ['blobs', 'circles', "
                               "'gaussians', 'moons'], found 'spirals'"),
    (["--samplers", "smote"], "error: --samplers: unknown sampler 'smote'; expected one of"),
    (["--ratio", "1.5"], "error: --ratio: expected the minority fraction in (0, 1), found 1.5"),
    (["--keep", "0"], "error: --keep: expected the fraction of normals to keep in (0, 1], "
                      "found 0"),
    (["--classifier", "svm"], "error: --classifier: expected one of ['knn', 'logreg', 'mlp'], "
                              "found 'svm'"),
])
def test_cli_bad_input_is_one_clear_line(tmp_path, capsys, args, message):
    assert _cli(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err
    assert not list(tmp_path.rglob("*.png"))


def test_cli_reports_too_few_minority_points_and_goes_on(tmp_path, capsys):
    rc = main(["--dataset", "moons", "--n-samples", "100", "--ratio", "0.02", "--samplers",
               "random", "nearmiss1", "--out", str(tmp_path), "--quiet", "--dpi", "30",
               "--figures", "grid", "samplers"])
    assert rc == 1
    err = capsys.readouterr().err
    assert ("error: moons: sampler 'nearmiss1': expected at least 3 "
            "labelled anomalies (y_train == 1) for its neighbour search, found 2") in err
    assert "Traceback" not in err
    assert (tmp_path / "moons_grid.png").exists() and (tmp_path / "moons/random.png").exists()
    assert not (tmp_path / "moons/nearmiss1.png").exists()
