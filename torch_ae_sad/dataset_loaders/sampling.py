"""Under-sampling of the normal (majority) class with imbalanced-learn.

``SAMPLERS`` maps a name to a :class:`SamplerEntry`, a factory of an imbalanced-learn sampler.
:func:`undersample` flattens the training images, optionally projects them into a cheaper
feature space (PCA) for the neighbour search, runs the sampler with the normals (``y == 0``)
as the class to reduce, never drops a labelled anomaly, and indexes the original arrays with
the kept indices.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from imblearn.base import BaseSampler
from imblearn.under_sampling import (
    ClusterCentroids,
    CondensedNearestNeighbour,
    EditedNearestNeighbours,
    NearMiss,
    NeighbourhoodCleaningRule,
    RandomUnderSampler,
    TomekLinks,
)
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier

from torch_ae_sad.dataset_loaders._samplers import KeepAllSampler, KMeansBalancedUnderSampler
from torch_ae_sad.dataset_loaders.splits import Split

FEATURE_SPACES = ("raw", "pca")


@dataclass(frozen=True)
class SamplerEntry:
    """A named under-sampler.

    Attributes
    ----------
    name : str
        Registry name.
    build : callable
        ``build(n_keep, random_state, n_minority, **params)`` -> imbalanced-learn sampler.
        ``n_keep`` is ``None`` for samplers without a target count.
    takes_ratio : bool
        Whether the sampler takes a target (``ratio`` of the normals to keep).
    min_minority : callable
        ``min_minority(params)`` -> the fewest labelled anomalies it can work with.
    description : str
        One line for listings and plots.
    uses_features : bool
        Whether the sampler looks at the samples (``random`` and ``none`` only count them, so
        no feature space is computed for them).
    """

    name: str
    build: Callable[..., BaseSampler]
    takes_ratio: bool
    min_minority: Callable[[dict], int]
    description: str
    uses_features: bool = True

    def __call__(self, *, n_keep: int | None = None, random_state: int | None = 0,
                 n_minority: int = 1, **params: Any) -> BaseSampler:
        """Return a configured imbalanced-learn sampler."""
        return self.build(n_keep, random_state, n_minority, **params)


def _target(n_keep: int | None) -> dict[int, int] | str:
    return {0: int(n_keep)} if n_keep is not None else "auto"


def _cluster_centroids(n_keep, random_state, n_minority, kmeans="minibatch", max_iter=20,
                       **kw):
    if kw.get("voting", "hard") != "hard":
        raise ValueError("cluster_centroids: voting must be 'hard' (centroids are replaced by "
                         "their nearest real sample, so kept indices exist); found "
                         f"{kw['voting']!r}")
    kw.pop("voting", None)
    if kmeans == "minibatch":
        est = MiniBatchKMeans(n_init=1, init="random", max_iter=max_iter, batch_size=4096,
                              random_state=random_state)
    elif kmeans == "full":
        est = KMeans(n_init=1, max_iter=max_iter, random_state=random_state)
    else:
        raise ValueError(f"cluster_centroids: kmeans must be 'minibatch' or 'full', found "
                         f"{kmeans!r}")
    return ClusterCentroids(sampling_strategy=_target(n_keep), estimator=est, voting="hard",
                            random_state=random_state, **kw)


def _nearmiss(version: int) -> Callable[..., BaseSampler]:
    def build(n_keep, random_state, n_minority, n_neighbors=3, n_neighbors_ver3=None, **kw):
        if n_neighbors_ver3 is None:  # enough candidates per anomaly to reach the target
            n_neighbors_ver3 = max(3, math.ceil((n_keep or 0) / max(n_minority, 1)))
        return NearMiss(sampling_strategy=_target(n_keep), version=version,
                        n_neighbors=n_neighbors, n_neighbors_ver3=n_neighbors_ver3, **kw)
    return build


def _cleaning(cls: type, **defaults: Any) -> Callable[..., BaseSampler]:
    def build(n_keep, random_state, n_minority, **kw):
        return cls(sampling_strategy=[0], **{**defaults, **kw})
    return build


def _cnn(n_keep, random_state, n_minority, n_neighbors=1, **kw):
    # brute-force 1-NN: CNN predicts one sample at a time, where tree queries cost more
    knn = KNeighborsClassifier(n_neighbors=n_neighbors, algorithm="brute")
    return CondensedNearestNeighbour(sampling_strategy=[0], n_neighbors=knn,
                                     random_state=random_state, **kw)


def _at_least(key: str, default: int) -> Callable[[dict], int]:
    return lambda params: int(params.get(key, default))


_ONE = _at_least("_", 1)

#: Sampler name -> factory. Every name in the design card.
SAMPLERS: dict[str, SamplerEntry] = {e.name: e for e in [
    SamplerEntry("none", lambda n, rs, m, **kw: KeepAllSampler(**kw), False, lambda p: 0,
                 "no sampling", uses_features=False),
    SamplerEntry("random",
                 lambda n, rs, m, **kw: RandomUnderSampler(sampling_strategy=_target(n),
                                                           random_state=rs, **kw),
                 True, lambda p: 0, "random under-sampling", uses_features=False),
    SamplerEntry("cluster_centroids", _cluster_centroids, True, _ONE,
                 "k-means centroids replaced by their nearest normal sample (two centroids "
                 "may share one, so it can keep a little fewer than the target)"),
    SamplerEntry("cnn", _cnn, False, _ONE,
                 "condensed nearest neighbour"),
    SamplerEntry("enn", _cleaning(EditedNearestNeighbours), False, _ONE,
                 "edited nearest neighbours"),
    SamplerEntry("ncr", _cleaning(NeighbourhoodCleaningRule), False, _ONE,
                 "neighbourhood cleaning rule"),
    SamplerEntry("tomek", _cleaning(TomekLinks), False, _ONE, "Tomek links removal"),
    SamplerEntry("nearmiss1", _nearmiss(1), True, _at_least("n_neighbors", 3),
                 "NearMiss-1: closest mean distance to the nearest anomalies"),
    SamplerEntry("nearmiss2", _nearmiss(2), True, _at_least("n_neighbors", 3),
                 "NearMiss-2: closest mean distance to the farthest anomalies"),
    SamplerEntry("nearmiss3", _nearmiss(3), True, _at_least("n_neighbors", 3),
                 "NearMiss-3: normals nearest to each anomaly (the neighbourhoods overlap, so "
                 "it usually keeps fewer than the target)"),
    SamplerEntry("kmeans_balanced",
                 lambda n, rs, m, **kw: KMeansBalancedUnderSampler(
                     sampling_strategy=_target(n), random_state=rs, **kw),
                 True, lambda p: 0, "the same number of normals from each k-means cluster"),
]}


def get_sampler(name: str) -> SamplerEntry:
    """Return the registry entry ``name`` or raise a ValueError listing the known names."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}; expected one of {sorted(SAMPLERS)}") from None


def check_ratio(name: str, ratio: float | None) -> float | None:
    """Validate ``ratio`` for sampler ``name``; return the ratio to use (0.5 by default)."""
    entry = get_sampler(name)
    if not entry.takes_ratio:
        if ratio is not None:
            raise ValueError(f"ratio: sampler {name!r} takes no target count, found "
                             f"ratio={ratio}; samplers that take one: "
                             f"{sorted(n for n, e in SAMPLERS.items() if e.takes_ratio)}")
        return None
    if ratio is None:
        return 0.5
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio <= 1:
        raise ValueError(f"ratio: expected the fraction of normals to keep in (0, 1], found "
                         f"{ratio!r}")
    return float(ratio)


def project(X: np.ndarray, feature_space: str = "raw", n_components: int = 50,
            random_state: int | None = 0) -> np.ndarray:
    """Flatten ``X`` and map it into the feature space the neighbour search runs in.

    Parameters
    ----------
    X : np.ndarray
        Samples, any shape ``(n, ...)``.
    feature_space : {"raw", "pca"}
        Raw flattened values, or a PCA to ``n_components`` dimensions (covariance
        eigendecomposition when there are more samples than features, else randomized SVD).
    n_components : int
        PCA dimensions (capped by the data's size).
    random_state : int or None
        Seed of the PCA solver.
    """
    flat = np.ascontiguousarray(X.reshape(len(X), -1), dtype=np.float32)
    if feature_space == "raw":
        return flat
    if feature_space == "pca":
        k = min(int(n_components), flat.shape[1], len(flat))
        # the covariance eigendecomposition is fastest for n >> d (e.g. 30k x 784)
        d = flat.shape[1]
        solver = "covariance_eigh" if d <= 2048 and len(flat) >= d else "randomized"
        return PCA(n_components=k, svd_solver=solver,
                   random_state=random_state).fit_transform(flat).astype(np.float32)
    raise ValueError(f"feature_space: expected one of {FEATURE_SPACES}, found {feature_space!r}")


def _kept_rows(X_res: np.ndarray, feats: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``X_res`` (exact copies of rows of ``feats``) in ``feats``."""
    lookup: dict[bytes, int] = {}
    for i in np.flatnonzero(y == 0)[::-1]:
        lookup[feats[i].tobytes()] = int(i)
    for i in np.flatnonzero(y == 1):
        lookup[feats[i].tobytes()] = int(i)
    return np.unique([lookup[row.tobytes()] for row in X_res])


def undersample(split: Split, name: str, *, ratio: float | None = None,
                feature_space: str = "raw", n_components: int = 50,
                random_state: int | None = None, **params: Any) -> tuple[Split, dict[str, Any]]:
    """Under-sample the normal training samples of ``split`` with sampler ``name``.

    Parameters
    ----------
    split : Split
        The split; only its training part changes.
    name : str
        A key of :data:`SAMPLERS`.
    ratio : float, optional
        For samplers with a target: the fraction of normals to keep, in (0, 1] (default 0.5).
        Samplers without a target (cleaning rules) refuse it.
    feature_space : {"raw", "pca"}
        Space the sampler's neighbour search or clustering runs in.
    n_components : int
        PCA dimensions when ``feature_space="pca"``.
    random_state : int, optional
        Seed of the sampler (default: the split's seed).
    **params
        Passed to the imbalanced-learn sampler (e.g. ``n_neighbors``).

    Returns
    -------
    split : Split
        The split with the kept training samples (original order).
    report : dict
        ``sampler``, ``params``, ``n_before``, ``n_after``, ``n_normal_before``,
        ``n_normal_after``, ``n_anomalies``, ``target_reached`` (whether a sampler with a
        target kept exactly ``ratio`` of the normals), ``seconds`` (features + sampler),
        ``seconds_features``, ``seconds_sampler`` and ``kept_indices`` (into the old training
        set).
    """
    entry = get_sampler(name)
    ratio = check_ratio(name, ratio)
    if feature_space not in FEATURE_SPACES:
        raise ValueError(f"feature_space: expected one of {FEATURE_SPACES}, found "
                         f"{feature_space!r}")
    if random_state is None:
        random_state = int(split.meta.get("seed", 0))
    y = np.asarray(split.y_train)
    n_norm, n_anom = int(np.sum(y == 0)), int(np.sum(y == 1))
    if n_norm == 0:
        raise ValueError(f"sampler {name!r}: expected normal samples (y_train == 0) to "
                         "under-sample, found none")
    need = entry.min_minority(params)
    if need and n_anom < need:
        raise ValueError(f"sampler {name!r}: expected at least {need} labelled anomalies "
                         f"(y_train == 1) for its neighbour search, found {n_anom}")
    n_keep = None if ratio is None else max(1, int(round(ratio * n_norm)))
    if not entry.uses_features:
        feature_space = None
    resolved = {"ratio": ratio, "n_keep": n_keep, "feature_space": feature_space,
                "n_components": n_components if feature_space == "pca" else None,
                "random_state": random_state, **params}

    t0 = time.perf_counter()
    if name == "none":
        kept = np.arange(len(y))
        t1 = t0
    else:
        if entry.uses_features:
            feats = project(split.X_train, feature_space, n_components, random_state)
        else:
            feats = np.zeros((len(y), 1), dtype=np.float32)
        t1 = time.perf_counter()
        sampler = entry(n_keep=n_keep, random_state=random_state, n_minority=n_anom, **params)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            # NearMiss-3 warns when it cannot reach the target: target_reached records that
            warnings.filterwarnings("ignore", message="The number of the samples to be selected")
            X_res, _ = sampler.fit_resample(feats, y)
        resolved["sampler_params"] = {
            k: v for k, v in sampler.get_params(deep=False).items()
            if isinstance(v, int | float | str | bool | type(None))}
        kept = getattr(sampler, "sample_indices_", None)
        kept = np.unique(kept) if kept is not None else _kept_rows(X_res, feats, y)
    t2 = time.perf_counter()

    anomalies = np.flatnonzero(y == 1)
    if not np.isin(anomalies, kept).all():
        raise RuntimeError(f"sampler {name!r} dropped labelled anomalies; this is a bug")
    meta = dict(split.meta)
    meta["sampler"] = {"name": name, **{k: v for k, v in resolved.items() if v is not None}}
    new = split.replace(
        X_train=split.X_train[kept], y_train=y[kept],
        y_train_true=None if split.y_train_true is None else split.y_train_true[kept],
        classes_train=None if split.classes_train is None else split.classes_train[kept],
        meta=meta)
    report = {
        "sampler": name, "params": resolved, "n_before": len(y), "n_after": len(kept),
        "n_normal_before": n_norm, "n_normal_after": int(np.sum(y[kept] == 0)),
        "target_reached": None if n_keep is None else bool(np.sum(y[kept] == 0) == n_keep),
        "n_anomalies": n_anom, "seconds": t2 - t0, "seconds_features": t1 - t0,
        "seconds_sampler": t2 - t1, "kept_indices": kept,
    }
    return new, report
