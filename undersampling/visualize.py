"""Draw what every under-sampler of the package does to a 2D imbalanced set.

For each sampler of :data:`~torch_ae_sad.dataset_loaders.sampling.SAMPLERS` the training part
of a :func:`~undersampling.data.make_split` set goes through
:func:`~torch_ae_sad.dataset_loaders.sampling.undersample` (``feature_space="raw"``) and is
drawn with the kept normals (filled), the removed normals (hollow, faded) and the minority
points, plus what explains the method: Tomek links, NearMiss's nearest-neighbour pairs, the
neighbourhoods that made ENN / NCR remove a point, the nearest kept point of each point CNN
removed. A second view draws the decision regions of a small classifier (default: a
5-nearest-neighbour vote, which follows the local class balance, so it shows how removing
normals moves the boundary) trained on each resampled set.

Command line::

    python -m undersampling.visualize --dataset all --ratio 0.05 --keep 0.5 --out DIR

writes ``DIR/<dataset>_grid.png`` (all samplers), ``DIR/<dataset>_regions.png`` (decision
regions of all samplers) and ``DIR/<dataset>/<sampler>.png`` (one figure per sampler).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from sklearn.base import ClassifierMixin  # noqa: E402
from sklearn.cluster import MiniBatchKMeans  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import balanced_accuracy_score  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from tqdm import tqdm  # noqa: E402

from torch_ae_sad.dataset_loaders.sampling import (  # noqa: E402
    SAMPLERS,
    get_sampler,
    project,
    undersample,
)
from torch_ae_sad.dataset_loaders.splits import Split  # noqa: E402
from undersampling.data import DATASETS_2D, get_dataset, make_split  # noqa: E402

#: Where the command line writes by default.
DEFAULT_OUT = Path(__file__).resolve().parent / "figures"

COLORS = {"kept": "#1f77b4", "removed": "#9aa7b4", "minority": "#d62728",
          "tomek": "#000000", "nearmiss": "#ff7f0e", "neighbourhood": "#2ca02c",
          "cnn": "#9467bd", "region0": "#dbe8f5", "region1": "#f8d5d2"}


# --------------------------------------------------------------------------- running
@dataclass
class Overlay:
    """Segments between pairs of training points that explain a sampler.

    Attributes
    ----------
    label : str
        Legend entry.
    pairs : np.ndarray
        ``(m, 2)`` int indices into the training set; a segment joins each pair.
    color : str
        Line colour.
    linewidth, alpha : float
        Line width and opacity.
    linestyle : str
        Matplotlib line style.
    ring : bool
        Also circle both ends (for short segments such as Tomek links).
    """

    label: str
    pairs: np.ndarray
    color: str
    linewidth: float = 0.6
    alpha: float = 0.6
    linestyle: str = "-"
    ring: bool = False


@dataclass
class SamplerRun:
    """One sampler run on a split, or the error that stopped it.

    Attributes
    ----------
    name : str
        Sampler name.
    X, y : np.ndarray
        The training set the sampler saw (float32 ``(n, 2)``, labels ``1`` = minority).
    kept : np.ndarray
        Sorted indices of the kept training points (empty if ``error``).
    report : dict or None
        :func:`undersample`'s report.
    params : dict
        Parameters of the imbalanced-learn sampler that ran (``get_params()``).
    overlays : list of Overlay
        What explains the method.
    notes : list of str
        Warnings the sampler raised.
    error : str or None
        The one-line error if the sampler could not run.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    kept: np.ndarray
    report: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    overlays: list[Overlay] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def kept_mask(self) -> np.ndarray:
        """Boolean mask of the kept training points."""
        mask = np.zeros(len(self.y), bool)
        mask[self.kept] = True
        return mask

    @property
    def removed(self) -> np.ndarray:
        """Indices of the removed training points (all normals)."""
        return np.flatnonzero(~self.kept_mask)


def _nn(X: np.ndarray, k: int, fit_on: np.ndarray | None = None) -> np.ndarray:
    """Return the ``k`` nearest neighbours of ``X`` (indices into ``fit_on``, default ``X``)."""
    ref = X if fit_on is None else fit_on
    k = min(k, len(ref))
    return NearestNeighbors(n_neighbors=k).fit(ref).kneighbors(X, return_distance=False)


def tomek_pairs(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return the Tomek links: mutual nearest neighbours of opposite class.

    Parameters
    ----------
    X : np.ndarray
        ``(n, d)`` points.
    y : np.ndarray
        ``(n,)`` labels.

    Returns
    -------
    np.ndarray
        ``(m, 2)`` indices ``(normal, minority)``, one row per link.
    """
    nn1 = _nn(X, 2)[:, 1]
    i = np.arange(len(y))
    link = (nn1[nn1] == i) & (y != y[nn1]) & (y == 0)
    return np.stack([i[link], nn1[link]], axis=1).reshape(-1, 2)


def _subsample(idx: np.ndarray, cap: int | None) -> np.ndarray:
    if cap is None or len(idx) <= cap:
        return idx
    return idx[np.linspace(0, len(idx) - 1, cap).round().astype(int)]


def _int_param(params: dict[str, Any], key: str, default: int) -> int:
    value = params.get(key, default)
    return int(value) if isinstance(value, int | np.integer) else default


def _explain_tomek(run: SamplerRun, cap: int | None) -> list[Overlay]:
    return [Overlay("Tomek link", tomek_pairs(run.X, run.y), COLORS["tomek"], 1.6, 1.0,
                    ring=True)]


def _explain_neighbourhood(run: SamplerRun, cap: int | None) -> list[Overlay]:
    k = _int_param(run.params, "n_neighbors", 3)
    removed = run.removed
    if not len(removed):
        return []
    nbrs = _nn(run.X, k + 1)[removed, 1:]
    pairs = np.stack([np.repeat(removed, nbrs.shape[1]), nbrs.ravel()], axis=1)
    return [Overlay(f"{k}-NN of a removed normal", pairs, COLORS["neighbourhood"], 0.8, 0.8)]


def _explain_cnn(run: SamplerRun, cap: int | None) -> list[Overlay]:
    removed = run.removed  # short segments: all of them
    if not len(removed):
        return []
    nearest = run.kept[_nn(run.X[removed], 1, run.X[run.kept])[:, 0]]
    return [Overlay("removed normal \u2192 its nearest kept point", np.stack([removed, nearest], 1),
                    COLORS["cnn"], 0.6, 0.5)]


def _explain_nearmiss(version: int) -> Callable[[SamplerRun, int | None], list[Overlay]]:
    def explain(run: SamplerRun, cap: int | None) -> list[Overlay]:
        X, y = run.X, run.y
        minor = np.flatnonzero(y == 1)
        k = _int_param(run.params, "n_neighbors", 3)
        if version == 3:  # each anomaly -> its nearest normals, the candidates
            k3 = _int_param(run.params, "n_neighbors_ver3", 3)
            major = np.flatnonzero(y == 0)
            nbrs = major[_nn(X[minor], k3, X[major])]
            pairs = np.stack([nbrs.ravel(), np.repeat(minor, nbrs.shape[1])], axis=1)
            return [Overlay(f"anomaly \u2192 its {nbrs.shape[1]} nearest normals (candidates)",
                            pairs, COLORS["nearmiss"], 0.6, 0.5)]
        kept_norm = _subsample(run.kept[y[run.kept] == 0], cap)
        order = _nn(X[kept_norm], len(minor), X[minor])
        cols = order[:, :k] if version == 1 else order[:, -k:]
        pairs = np.stack([np.repeat(kept_norm, cols.shape[1]), minor[cols].ravel()], axis=1)
        which = "nearest" if version == 1 else "farthest"
        n_kept = int(np.sum(y[run.kept] == 0))
        shown = "" if len(kept_norm) == n_kept else f", {len(kept_norm)} of {n_kept} shown"
        return [Overlay(f"kept normal \u2192 its {k} {which} anomalies{shown}", pairs,
                        COLORS["nearmiss"], 0.5, 0.25 if version == 2 else 0.6)]
    return explain


#: Sampler name -> function drawing what explains it (samplers without one are left out).
EXPLAINERS: dict[str, Callable[[SamplerRun, int | None], list[Overlay]]] = {
    "tomek": _explain_tomek,
    "enn": _explain_neighbourhood,
    "ncr": _explain_neighbourhood,
    "cnn": _explain_cnn,
    "nearmiss1": _explain_nearmiss(1),
    "nearmiss2": _explain_nearmiss(2),
    "nearmiss3": _explain_nearmiss(3),
}


def run_sampler(split: Split, name: str, *, keep: float = 0.5, max_explained: int | None = 40,
                **params: Any) -> SamplerRun:
    """Run sampler ``name`` on ``split``'s training part and work out what explains it.

    Parameters
    ----------
    split : Split
        A 2D split (:func:`undersampling.data.make_split`).
    name : str
        A key of :data:`SAMPLERS`.
    keep : float
        Fraction of normals to keep, for samplers that take a target (ignored by the others).
    max_explained : int, optional
        Most kept normals whose NearMiss-1/2 segments are drawn (``None``: all).
    **params
        Passed to :func:`undersample` and on to the imbalanced-learn sampler.

    Returns
    -------
    SamplerRun

    Raises
    ------
    ValueError
        Unknown sampler, bad ``keep`` or too few minority points for the sampler.
    """
    entry = get_sampler(name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, report = undersample(split, name, ratio=keep if entry.takes_ratio else None,
                                feature_space="raw", **params)
    X = project(split.X_train, "raw")
    y = np.asarray(split.y_train)
    p = report["params"]
    sampler = entry(n_keep=p["n_keep"], random_state=p["random_state"],
                    n_minority=report["n_anomalies"], **params)
    notes = sorted({str(w.message).strip() for w in caught
                    if not issubclass(w.category, DeprecationWarning)})
    if p["n_keep"] is not None and report["n_normal_after"] < p["n_keep"]:
        notes = [f"kept {report['n_normal_after']} normals, fewer than the target "
                 f"{p['n_keep']}" + (f" (imbalanced-learn: {' '.join(notes)})" if notes else "")]
    run = SamplerRun(name, X, y, np.sort(report["kept_indices"]), report, sampler.get_params(),
                     notes=notes)
    if name in EXPLAINERS:
        run.overlays = EXPLAINERS[name](run, max_explained)
    return run


def try_run_sampler(split: Split, name: str, **kwargs: Any) -> SamplerRun:
    """Like :func:`run_sampler`, but a ValueError becomes ``SamplerRun.error``."""
    try:
        return run_sampler(split, name, **kwargs)
    except ValueError as exc:
        X = project(split.X_train, "raw")
        return SamplerRun(name, X, np.asarray(split.y_train), np.arange(0), error=str(exc))


# --------------------------------------------------------------------------- drawing
@dataclass
class Panel:
    """The artists one panel drew, to read back what it shows.

    Attributes
    ----------
    kept, removed, minority : PathCollection or None
        Kept normals, removed normals and minority points.
    overlays : dict
        Legend label -> :class:`LineCollection`.
    """

    kept: PathCollection | None = None
    removed: PathCollection | None = None
    minority: PathCollection | None = None
    overlays: dict[str, LineCollection] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Return the number of points (and segments) drawn per artist."""
        def n(pc: PathCollection | None) -> int:
            return 0 if pc is None else len(pc.get_offsets())
        out = {"kept": n(self.kept), "removed": n(self.removed), "minority": n(self.minority)}
        out.update({k: len(v.get_segments()) for k, v in self.overlays.items()})
        return out

    def segments(self, label: str) -> np.ndarray:
        """Return the ``(m, 2, 2)`` segments drawn for overlay ``label``."""
        return np.asarray(self.overlays[label].get_segments()).reshape(-1, 2, 2)


def _style(ax: Axes, X: np.ndarray, title: str) -> None:
    lo, hi = X.min(0), X.max(0)
    pad = 0.06 * (hi - lo + 1e-9)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def _points(ax: Axes, X: np.ndarray, y: np.ndarray, kept: np.ndarray, size: float) -> Panel:
    mask = np.zeros(len(y), bool)
    mask[kept] = True
    norm = y == 0
    panel = Panel()
    panel.removed = ax.scatter(*X[norm & ~mask].T, s=size, facecolors="none",
                               edgecolors=COLORS["removed"], linewidths=0.7, alpha=0.8,
                               label="normal, removed", zorder=2)
    n_kept = int(np.sum(norm & mask))
    panel.kept = ax.scatter(*X[norm & mask].T, s=size * (2.0 if n_kept < 60 else 1.0),
                            c=COLORS["kept"], linewidths=0, label="normal, kept", zorder=3)
    panel.minority = ax.scatter(*X[y == 1].T, s=2.2 * size, c=COLORS["minority"], marker="^",
                                edgecolors="black", linewidths=0.4, label="minority (anomaly)",
                                zorder=5)
    return panel


def sampler_title(run: SamplerRun) -> str:
    """Two-line panel title: name, seconds, normals before -> after."""
    if run.error is not None or run.report is None:
        return f"{run.name}: failed"
    r = run.report
    line = f"normals {r['n_normal_before']} \u2192 {r['n_normal_after']}"
    n_keep = r["params"].get("n_keep")
    if n_keep is not None and n_keep != r["n_normal_after"]:
        line += f" (target {n_keep})"
    return f"{run.name} \u00b7 {r['seconds'] * 1e3:.0f} ms\n{line}"


def draw_original(ax: Axes, split: Split, *, size: float = 9.0) -> Panel:
    """Draw the training set before any sampling; return what was drawn."""
    X, y = project(split.X_train, "raw"), np.asarray(split.y_train)
    panel = _points(ax, X, y, np.arange(len(y)), size)
    _style(ax, X, f"original\nnormals {int(np.sum(y == 0))}, minority {int(np.sum(y == 1))}")
    return panel


def draw_error(ax: Axes, name: str, message: str, X: np.ndarray | None = None) -> None:
    """Fill a panel with the error that stopped sampler ``name``."""
    if X is not None:
        ax.scatter(*X.T, s=4, c="#dddddd", linewidths=0, zorder=1)
        _style(ax, X, f"{name}: failed")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{name}: failed", fontsize=9)
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(message, 38)), transform=ax.transAxes,
            ha="center", va="center", fontsize=8, color="#a00000", zorder=10,
            bbox={"facecolor": "white", "edgecolor": "#a00000", "alpha": 0.9})


def draw_sampler(ax: Axes, run: SamplerRun, *, explain: bool = True,
                 size: float = 9.0) -> Panel:
    """Draw a sampler run: kept / removed normals, minority points and its overlays.

    Parameters
    ----------
    ax : Axes
        Where to draw.
    run : SamplerRun
        The run (an error run draws the error text).
    explain : bool
        Whether to draw the overlays (Tomek links, neighbour pairs, ...).
    size : float
        Marker size of the normals.

    Returns
    -------
    Panel
        The artists drawn, to read back the counts.
    """
    if run.error is not None:
        draw_error(ax, run.name, run.error, run.X)
        return Panel()
    panel = _points(ax, run.X, run.y, run.kept, size)
    if explain:
        for ov in run.overlays:
            segs = run.X[ov.pairs].reshape(-1, 2, 2)
            lc = LineCollection(segs, colors=ov.color, linewidths=ov.linewidth, alpha=ov.alpha,
                                linestyles=ov.linestyle, label=ov.label, zorder=4)
            ax.add_collection(lc)
            panel.overlays[ov.label] = lc
            if ov.ring and len(segs):
                ax.scatter(*segs.mean(axis=1).T, s=14 * size, facecolors="none",
                           edgecolors=ov.color, linewidths=0.9, zorder=6)
    _style(ax, run.X, sampler_title(run))
    return panel


# --------------------------------------------------------------------------- classifiers
#: Classifier name -> (description, factory(n_train, seed)).
CLASSIFIERS: dict[str, tuple[str, Callable[[int, int], ClassifierMixin]]] = {
    "knn": ("5-nearest-neighbour vote",
            lambda n, seed: KNeighborsClassifier(n_neighbors=min(5, n))),
    "mlp": ("MLP (32, 32)",
            lambda n, seed: MLPClassifier((32, 32), max_iter=600, random_state=seed)),
    "logreg": ("logistic regression", lambda n, seed: LogisticRegression()),
}


@dataclass
class Mesh:
    """A regular grid over the plotted area."""

    xx: np.ndarray
    yy: np.ndarray

    @classmethod
    def around(cls, X: np.ndarray, resolution: int = 150) -> Mesh:
        """Grid covering ``X`` with the same margin as the panels."""
        lo, hi = X.min(0), X.max(0)
        pad = 0.06 * (hi - lo + 1e-9)
        xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
        ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
        xx, yy = np.meshgrid(xs, ys)
        return cls(xx, yy)

    @property
    def points(self) -> np.ndarray:
        """``(resolution**2, 2)`` grid points."""
        return np.c_[self.xx.ravel(), self.yy.ravel()]


def fit_regions(X: np.ndarray, y: np.ndarray, mesh: Mesh, split: Split,
                classifier: str = "knn", seed: int = 0) -> tuple[np.ndarray, float]:
    """Fit a classifier on ``(X, y)``; return P(minority) on the mesh and test balanced acc."""
    try:
        _, factory = CLASSIFIERS[classifier]
    except KeyError:
        raise ValueError(f"classifier: expected one of {sorted(CLASSIFIERS)}, found "
                         f"{classifier!r}") from None
    clf = factory(len(y), seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    proba = clf.predict_proba(mesh.points)[:, 1].reshape(mesh.xx.shape)
    acc = balanced_accuracy_score(split.y_test, clf.predict(project(split.X_test, "raw")))
    return proba, float(acc)


def draw_regions(ax: Axes, run: SamplerRun, mesh: Mesh, proba: np.ndarray, acc: float,
                 baseline: np.ndarray | None = None, *, size: float = 7.0) -> Panel:
    """Draw decision regions (P(minority) >= 0.5 in red) and the training points kept.

    ``baseline`` (P(minority) of the classifier trained on the original set) is drawn as a
    dashed line.
    """
    ax.contourf(mesh.xx, mesh.yy, proba, levels=[-0.01, 0.5, 1.01],
                colors=[COLORS["region0"], COLORS["region1"]], zorder=0)
    if proba.min() < 0.5 < proba.max():
        ax.contour(mesh.xx, mesh.yy, proba, levels=[0.5], colors="black", linewidths=1.0,
                   zorder=1)
    if baseline is not None and baseline.min() < 0.5 < baseline.max():
        ax.contour(mesh.xx, mesh.yy, baseline, levels=[0.5], colors="black", linewidths=1.0,
                   linestyles="--", alpha=0.6, zorder=1)
    X, y = run.X, run.y
    panel = Panel()
    keep = run.kept
    panel.kept = ax.scatter(*X[keep][y[keep] == 0].T, s=size, c=COLORS["kept"], linewidths=0,
                            zorder=3)
    panel.minority = ax.scatter(*X[y == 1].T, s=2.2 * size, c=COLORS["minority"], marker="^",
                                edgecolors="black", linewidths=0.4, zorder=5)
    head = "original" if run.report is None else run.name
    _style(ax, X, f"{head}\nbalanced acc. (test) {acc:.2f}")
    return panel


# --------------------------------------------------------------------------- figures
def _legend_handles(runs: Sequence[SamplerRun]) -> list[Any]:
    handles: list[Any] = [
        Line2D([], [], ls="none", marker="o", color=COLORS["kept"], ms=5, label="normal, kept"),
        Line2D([], [], ls="none", marker="o", mfc="none", mec=COLORS["removed"], ms=5,
               label="normal, removed"),
        Line2D([], [], ls="none", marker="^", color=COLORS["minority"], mec="black", ms=6,
               label="minority (labelled anomaly)"),
    ]
    seen: set[str] = set()
    for run in runs:
        for ov in run.overlays:
            key = ov.label if len(runs) == 1 else ov.label.split(",")[0]
            if key not in seen:
                seen.add(key)
                handles.append(Line2D([], [], color=ov.color, lw=1.2, ls=ov.linestyle,
                                      marker="o" if ov.ring else "", mfc="none", ms=9,
                                      label=key if len(runs) == 1 else f"{key} ({run.name})"))
    return handles


def _grid_shape(n: int) -> tuple[int, int]:
    cols = min(4, n)
    return -(-n // cols), cols


def _suptitle(split: Split, extra: str = "") -> str:
    m = split.meta
    name = m.get("dataset", "data")
    desc = DATASETS_2D[name].description if name in DATASETS_2D else ""
    n_min = int(np.sum(split.y_train == 1))
    return (f"{name}: {desc}\nn={len(split.y_train)}, minority {m.get('ratio', 0):.1%} "
            f"({n_min} points), noise {m.get('noise')}, overlap {m.get('overlap')}, "
            f"seed {m.get('seed')}{extra}")


def grid_figure(split: Split, runs: Sequence[SamplerRun], *, keep: float = 0.5,
                panel_size: float = 3.4) -> tuple[Figure, dict[str, Panel]]:
    """All samplers in a grid, the original set first.

    Returns
    -------
    fig : Figure
    panels : dict
        ``"original"`` and each sampler name -> :class:`Panel` drawn.
    """
    rows, cols = _grid_shape(len(runs) + 1)
    fig, axes = plt.subplots(rows, cols, figsize=(panel_size * cols, panel_size * rows + 1.6),
                             squeeze=False, layout="constrained")
    flat = axes.ravel()
    panels = {"original": draw_original(flat[0], split)}
    for ax, run in zip(flat[1:], runs, strict=False):
        panels[run.name] = draw_sampler(ax, run)
    for ax in flat[len(runs) + 1:]:
        ax.set_visible(False)
    fig.suptitle(_suptitle(split, f"; samplers with a target keep {keep:g} of the normals"),
                 fontsize=11)
    handles = _legend_handles(runs)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(3, len(handles)),
               fontsize=9, frameon=False)
    return fig, panels


def regions_figure(split: Split, runs: Sequence[SamplerRun], *, classifier: str = "knn",
                   panel_size: float = 3.4,
                   resolution: int = 150) -> tuple[Figure, dict[str, float]]:
    """Decision regions of ``classifier`` trained on the original and each resampled set.

    Returns
    -------
    fig : Figure
    accuracy : dict
        ``"original"`` and each sampler that ran -> balanced accuracy on the test draw.
    """
    X, y = project(split.X_train, "raw"), np.asarray(split.y_train)
    mesh = Mesh.around(X, resolution)
    seed = int(split.meta.get("seed", 0))
    base, base_acc = fit_regions(X, y, mesh, split, classifier, seed)
    rows, cols = _grid_shape(len(runs) + 1)
    fig, axes = plt.subplots(rows, cols, figsize=(panel_size * cols, panel_size * rows + 1.2),
                             squeeze=False, layout="constrained")
    flat = axes.ravel()
    original = SamplerRun("original", X, y, np.arange(len(y)))
    draw_regions(flat[0], original, mesh, base, base_acc)
    accuracy = {"original": base_acc}
    for ax, run in zip(flat[1:], runs, strict=False):
        if run.error is not None:
            draw_error(ax, run.name, run.error, run.X)
            continue
        proba, acc = fit_regions(X[run.kept], y[run.kept], mesh, split, classifier, seed)
        draw_regions(ax, run, mesh, proba, acc, base)
        accuracy[run.name] = acc
    for ax in flat[len(runs) + 1:]:
        ax.set_visible(False)
    fig.suptitle(_suptitle(split, f"; decision regions of a {CLASSIFIERS[classifier][0]}"),
                 fontsize=11)
    handles = [
        plt.Rectangle((0, 0), 1, 1, fc=COLORS["region1"], ec="none",
                      label="predicted minority"),
        plt.Rectangle((0, 0), 1, 1, fc=COLORS["region0"], ec="none", label="predicted normal"),
        Line2D([], [], color="black", lw=1, label="boundary, resampled set"),
        Line2D([], [], color="black", lw=1, ls="--", alpha=0.6, label="boundary, original set"),
        Line2D([], [], ls="none", marker="o", color=COLORS["kept"], ms=5, label="normal, kept"),
        Line2D([], [], ls="none", marker="^", color=COLORS["minority"], mec="black", ms=6,
               label="minority"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=6, fontsize=9, frameon=False)
    return fig, accuracy


def sampler_figure(split: Split, run: SamplerRun, *, classifier: str = "knn",
                   resolution: int = 150) -> tuple[Figure, Panel]:
    """One sampler: the original set, the sampler's choice explained, the decision regions.

    Returns
    -------
    fig : Figure
    panel : Panel
        What the middle panel drew.
    """
    X, y = run.X, run.y
    mesh = Mesh.around(X, resolution)
    seed = int(split.meta.get("seed", 0))
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 5.8), layout="constrained")
    base, base_acc = fit_regions(X, y, mesh, split, classifier, seed)
    draw_regions(axes[0], SamplerRun("original", X, y, np.arange(len(y))), mesh, base,
                 base_acc, size=10)
    panel = draw_sampler(axes[1], run, size=12)
    if run.error is None:
        proba, acc = fit_regions(X[run.kept], y[run.kept], mesh, split, classifier, seed)
        draw_regions(axes[2], run, mesh, proba, acc, base, size=10)
        axes[2].set_title(f"{CLASSIFIERS[classifier][0]} on the kept points\n"
                          f"balanced acc. (test) {acc:.2f} (original {base_acc:.2f}); "
                          "dashed: original boundary", fontsize=9)
    else:
        axes[2].set_visible(False)
    axes[0].set_title(f"original set, {CLASSIFIERS[classifier][0]}\n"
                      f"balanced acc. (test) {base_acc:.2f}", fontsize=9)
    entry = SAMPLERS[run.name]
    fig.suptitle(f"{run.name}: {entry.description}\n{_suptitle(split)}", fontsize=10)
    fig.legend(handles=_legend_handles([run]), loc="outside lower center", ncol=4, fontsize=9,
               frameon=False)
    return fig, panel


# --------------------------------------------------------------------------- command line
def _warm_up() -> None:
    """Pay scikit-learn's one-off thread-pool start before any sampler is timed."""
    X = np.random.default_rng(0).normal(size=(40, 2))
    MiniBatchKMeans(n_clusters=2, n_init=1, random_state=0).fit(X)
    NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X)


def _check_keep(keep: float) -> float:
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"--keep: expected the fraction of normals to keep in (0, 1], found "
                         f"{keep:g}")
    return keep


def _cli_message(exc: Exception) -> str:
    msg = str(exc)
    for name in ("n_samples", "ratio", "noise", "overlap", "dataset", "classifier"):
        if msg.startswith(f"{name}:"):
            return "--" + name.replace("_", "-") + msg[len(name):]
    if msg.startswith("unknown sampler"):
        return "--samplers: " + msg
    return msg


def build_parser() -> argparse.ArgumentParser:
    """Return the command line's argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m undersampling.visualize",
        description="Draw every under-sampler of torch_ae_sad on 2D imbalanced data.")
    p.add_argument("--dataset", default="moons",
                   help=f"one of {sorted(DATASETS_2D)} or 'all' (default moons)")
    p.add_argument("--ratio", type=float, default=0.05,
                   help="fraction of minority points, in (0, 1) (default 0.05)")
    p.add_argument("--noise", type=float, default=None,
                   help="spread of the points (default: the data set's)")
    p.add_argument("--overlap", type=float, default=None,
                   help="how far the classes are moved onto each other, in [0, 1] "
                        "(default: the data set's)")
    p.add_argument("--n-samples", type=int, default=600, help="points per set (default 600)")
    p.add_argument("--samplers", nargs="+", default=None, metavar="NAME",
                   help=f"samplers to draw (default all: {' '.join(SAMPLERS)})")
    p.add_argument("--keep", type=float, default=0.5,
                   help="fraction of normals kept by samplers with a target (default 0.5)")
    p.add_argument("--classifier", default="knn",
                   help=f"decision-region classifier, one of {sorted(CLASSIFIERS)} "
                        "(default knn)")
    p.add_argument("--figures", nargs="+", default=["grid", "regions", "samplers"],
                   choices=["grid", "regions", "samplers"],
                   help="which figures to write (default all three kinds)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="output folder (default undersampling/figures/)")
    p.add_argument("--dpi", type=int, default=100, help="resolution of the PNGs (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of data and samplers (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 a sampler failed, 2 bad input)."""
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    try:
        names = sorted(DATASETS_2D) if args.dataset == "all" else [get_dataset(args.dataset).name]
        samplers = list(SAMPLERS) if args.samplers is None else [
            get_sampler(s).name for s in args.samplers]
        keep = _check_keep(args.keep)
        if args.classifier not in CLASSIFIERS:
            raise ValueError(f"classifier: expected one of {sorted(CLASSIFIERS)}, found "
                             f"{args.classifier!r}")
        splits = {d: make_split(d, args.n_samples, args.ratio, args.noise, args.overlap,
                                args.seed) for d in names}
    except ValueError as exc:
        print(f"error: {_cli_message(exc)}", file=sys.stderr)
        return 2

    _warm_up()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    problems: list[str] = []
    failed = False
    bar = tqdm(total=len(names) * len(samplers), desc="samplers", unit="sampler",
               disable=args.quiet)
    for d in names:
        split = splits[d]
        runs = []
        for s in samplers:
            bar.set_postfix_str(f"{d}/{s}")
            run = try_run_sampler(split, s, keep=keep)
            runs.append(run)
            if run.error is not None:
                failed = True
                problems.append(f"error: {d}: {run.error}")
            problems += [f"note: sampler {s!r} on {d}: {n}" for n in run.notes]
            if "samplers" in args.figures and run.error is None:
                fig, _ = sampler_figure(split, run, classifier=args.classifier)
                path = out / d / f"{s}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                fig.savefig(path, dpi=args.dpi)
                plt.close(fig)
                written.append(path)
            bar.update()
        if "grid" in args.figures:
            fig, _ = grid_figure(split, runs, keep=keep)
            written.append(out / f"{d}_grid.png")
            fig.savefig(written[-1], dpi=args.dpi)
            plt.close(fig)
        if "regions" in args.figures:
            fig, _ = regions_figure(split, runs, classifier=args.classifier)
            written.append(out / f"{d}_regions.png")
            fig.savefig(written[-1], dpi=args.dpi)
            plt.close(fig)
    bar.close()
    for line in problems:
        print(line, file=sys.stderr)
    print(f"wrote {len(written)} figure{'s' * (len(written) != 1)} to {out} in "
          f"{time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
