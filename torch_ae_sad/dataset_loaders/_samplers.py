"""Under-samplers imbalanced-learn does not have, written on its ``BaseUnderSampler``."""

from __future__ import annotations

import numbers

import numpy as np
from imblearn.under_sampling.base import BaseUnderSampler
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions


class KeepAllSampler(BaseUnderSampler):
    """The identity: keeps every sample (the ``none`` entry of the registry)."""

    _parameter_constraints: dict = {**BaseUnderSampler._parameter_constraints}

    def __init__(self, *, sampling_strategy: str = "auto") -> None:
        super().__init__(sampling_strategy=sampling_strategy)

    def _fit_resample(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.sample_indices_ = np.arange(len(y))
        return X, y


class KMeansBalancedUnderSampler(BaseUnderSampler):
    """Draw the same number of samples from each k-means cluster of a class.

    The GAN report's ``kmeans_sampling``: each class to under-sample is clustered into
    ``n_clusters`` groups and its target count is drawn evenly from them; a cluster smaller than
    its share gives all it has and the rest is spread over the larger clusters.

    Parameters
    ----------
    sampling_strategy : dict or str
        As in imbalanced-learn (a dict ``{class: n_keep}`` is the usual choice).
    n_clusters : int
        Number of k-means clusters per class.
    kmeans : {"minibatch", "full"}
        Use scikit-learn's ``MiniBatchKMeans`` (fast) or ``KMeans``.
    random_state : int, RandomState or None
        Seed of the clustering and of the draws.
    """

    _parameter_constraints: dict = {
        **BaseUnderSampler._parameter_constraints,
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left")],
        "kmeans": [StrOptions({"minibatch", "full"})],
        "random_state": ["random_state"],
    }

    def __init__(self, *, sampling_strategy: dict | str = "auto", n_clusters: int = 10,
                 kmeans: str = "minibatch", random_state: int | None = None) -> None:
        super().__init__(sampling_strategy=sampling_strategy)
        self.n_clusters = n_clusters
        self.kmeans = kmeans
        self.random_state = random_state

    @staticmethod
    def balanced_draw(labels: np.ndarray, n_keep: int, rng: np.random.RandomState) -> np.ndarray:
        """Return ``n_keep`` positions drawn evenly from the groups in ``labels``."""
        groups = [np.flatnonzero(labels == g) for g in np.unique(labels)]
        sizes = np.array([len(g) for g in groups])
        quota = np.zeros_like(sizes)
        left = n_keep
        while left > 0:
            open_ = np.flatnonzero(quota < sizes)
            share = np.full(len(open_), left // len(open_))
            share[: left % len(open_)] += 1
            take = np.minimum(share, sizes[open_] - quota[open_])
            quota[open_] += take
            left -= int(take.sum())
        return np.concatenate([rng.choice(g, size=q, replace=False)
                               for g, q in zip(groups, quota, strict=True) if q])

    def _fit_resample(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = check_random_state(self.random_state)
        keep = []
        for cls in np.unique(y):
            idx = np.flatnonzero(y == cls)
            if cls not in self.sampling_strategy_:
                keep.append(idx)
                continue
            n_keep = int(self.sampling_strategy_[cls])
            k = min(self.n_clusters, len(idx))
            seed = rng.randint(np.iinfo(np.int32).max)
            if self.kmeans == "minibatch":
                est = MiniBatchKMeans(n_clusters=k, n_init=3, random_state=seed,
                                      batch_size=min(2048, len(idx)))
            else:
                est = KMeans(n_clusters=k, n_init=3, random_state=seed)
            self.labels_ = est.fit_predict(X[idx])
            keep.append(idx[self.balanced_draw(self.labels_, n_keep, rng)])
        self.sample_indices_ = np.sort(np.concatenate(keep))
        return X[self.sample_indices_], y[self.sample_indices_]
