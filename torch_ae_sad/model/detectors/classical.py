"""Classical (shallow, unsupervised) baselines: thin wrappers over scikit-learn.

Every detector here is fitted on the normal / unlabelled training data only (``y == 0``: the
labelled anomalies are left out) and scores flattened samples, so tabular ``(n, d)`` arrays
and images ``(n, C, H, W)`` are both accepted. Scores follow the package convention (higher =
more anomalous):

- :class:`IForest`: ``-score_samples`` of an :class:`~sklearn.ensemble.IsolationForest`;
- :class:`OCSVM`: ``-decision_function`` of a :class:`~sklearn.svm.OneClassSVM`;
- :class:`KNN`: distance to the k-th nearest training sample, or the mean over the k nearest;
- :class:`LOF`: ``-score_samples`` of a :class:`~sklearn.neighbors.LocalOutlierFactor`
  (``novelty=True``);
- :class:`DBSCANDetector`: distance to the nearest core point of a
  :class:`~sklearn.cluster.DBSCAN` clustering of the training data;
- :class:`RandomGuess`: uniform random scores, the AUROC floor.

The distance and kernel based ones (KNN, LOF, OCSVM, DBSCANDetector) take ``pca_components``:
when set, a :class:`~sklearn.decomposition.PCA` fitted on the training data projects every
sample first (raw 784-d MNIST is slow for OCSVM and LOF).

The training scores ``decision_scores_`` of KNN and LOF leave each training sample out of its
own neighbourhood (the sample is not its own nearest neighbour).
"""

from __future__ import annotations

from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
from sklearn.svm import OneClassSVM

from torch_ae_sad.model.base import BaseDetector, hyperparameters

KNN_AGGREGATIONS = ("largest", "mean")


@hyperparameters
class BaseClassical(BaseDetector):
    """Shared plumbing of the classical detectors (not registered in ``DETECTORS``).

    ``_fit`` keeps the normal / unlabelled samples (``y == 0``), flattens them, fits the
    optional PCA (when the subclass declares a ``pca_components`` hyper-parameter and it is
    set), stores ``n_train_`` and calls ``_fit_features(Z)``. Subclasses implement
    ``_fit_features(Z)`` and ``_score_features(Z)`` on 2-d feature arrays, and may implement
    ``_train_scores()`` (and set ``leave_one_out``) to give the training samples leave-one-out
    scores.
    """

    train_on: ClassVar[str] = "normal"
    #: Whether ``decision_scores_`` leave each training sample out of its own neighbourhood
    #: (``_train_scores``), so that they differ from ``decision_function`` of the training data.
    leave_one_out: ClassVar[bool] = False

    # -- hooks ------------------------------------------------------------------------------
    def _fit_features(self, Z: np.ndarray) -> None:
        raise NotImplementedError

    def _score_features(self, Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _train_scores(self) -> np.ndarray | None:
        """Scores of the training samples (in fit order), or None to score them as any other."""
        return None

    # -- plumbing ---------------------------------------------------------------------------
    def _features(self, X: np.ndarray) -> np.ndarray:
        """Flatten ``X`` to ``(n, n_features)`` and apply the fitted PCA, if any."""
        Z = X.reshape(len(X), -1)
        if self.pca_ is not None:
            Z = self.pca_.transform(Z)
        return Z

    def _fit_pca(self, Z: np.ndarray) -> PCA | None:
        n_components = getattr(self, "pca_components", None)
        if n_components is None:
            return None
        limit = min(Z.shape)
        if (not isinstance(n_components, Integral) or isinstance(n_components, bool)
                or not 1 <= n_components <= limit):
            raise ValueError(f"pca_components: expected None or an int in [1, {limit}] "
                             f"(min(n_normal_samples, n_features) = min{Z.shape}), found "
                             f"{n_components!r}")
        pca = PCA(n_components=int(n_components), random_state=0).fit(Z)
        # a C-contiguous copy of the components (scikit-learn keeps a strided view of its SVD):
        # a model file stores arrays contiguous, and the projection of the loaded detector is
        # then the same to the bit (the matrix product's rounding depends on the layout)
        pca.components_ = np.ascontiguousarray(pca.components_)
        return pca

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        normal = y == 0
        Z = X[normal].reshape(int(normal.sum()), -1)
        self.pca_ = self._fit_pca(Z)
        if self.pca_ is not None:
            Z = self.pca_.transform(Z)
        self.n_train_ = len(Z)
        self._fit_features(Z)

    def _training_scores(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        train = self._train_scores()
        if train is None:
            return self._score(X)
        # the normal training samples are not their own neighbours
        normal = y == 0
        scores = np.empty(len(X), dtype=np.float64)
        scores[normal] = train
        if not normal.all():
            scores[~normal] = self._score(X[~normal])
        return scores

    def _score(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self._score_features(self._features(X)), dtype=np.float64)


@hyperparameters
class IForest(BaseClassical):
    """Isolation Forest (:class:`sklearn.ensemble.IsolationForest`); score ``-score_samples``.

    Parameters
    ----------
    n_estimators : int
        Trees in the forest.
    max_samples : "auto", int or float
        Samples drawn to build each tree (``"auto"``: ``min(256, n)``).
    max_features : int or float
        Features drawn to build each tree.
    random_state : int, optional
        Seed of the sub-sampling and the splits.
    n_jobs : int, optional
        Parallel jobs (``None``: 1, ``-1``: all cores).
    contamination : float
        Fraction of training samples above ``threshold_``.
    """

    n_estimators: int = 100
    max_samples: int | float | str = "auto"
    max_features: int | float = 1.0
    random_state: int | None = 0
    n_jobs: int | None = None

    def _fit_features(self, Z: np.ndarray) -> None:
        self.model_ = IsolationForest(
            n_estimators=self.n_estimators, max_samples=self.max_samples,
            max_features=self.max_features, random_state=self.random_state,
            n_jobs=self.n_jobs).fit(Z)

    def _score_features(self, Z: np.ndarray) -> np.ndarray:
        return -self.model_.score_samples(Z)


@hyperparameters
class OCSVM(BaseClassical):
    """One-class SVM (:class:`sklearn.svm.OneClassSVM`); score ``-decision_function``.

    Parameters
    ----------
    kernel : {"rbf", "linear", "poly", "sigmoid"}
        The kernel.
    nu : float
        Upper bound on the fraction of training errors, lower bound on the fraction of
        support vectors, in (0, 1].
    gamma : "scale", "auto" or float
        Kernel coefficient (``"scale"``: ``1 / (n_features * X.var())``).
    pca_components : int, optional
        Project on this many principal components of the training data first.
    contamination : float
        Fraction of training samples above ``threshold_``.
    """

    kernel: str = "rbf"
    nu: float = 0.1
    gamma: str | float = "scale"
    pca_components: int | None = None

    def _fit_features(self, Z: np.ndarray) -> None:
        self.model_ = OneClassSVM(kernel=self.kernel, nu=self.nu, gamma=self.gamma).fit(Z)

    def _score_features(self, Z: np.ndarray) -> np.ndarray:
        return -self.model_.decision_function(Z)


@hyperparameters
class KNN(BaseClassical):
    """k-nearest-neighbour distance (:class:`sklearn.neighbors.NearestNeighbors`).

    Training samples are scored against the other training samples (not themselves).

    Parameters
    ----------
    n_neighbors : int
        The k; must be below the number of normal training samples.
    aggregation : {"largest", "mean"}
        Score by the distance to the k-th nearest training sample, or the mean distance to
        the k nearest.
    n_jobs : int, optional
        Parallel jobs of the neighbour queries.
    pca_components : int, optional
        Project on this many principal components of the training data first.
    contamination : float
        Fraction of training samples above ``threshold_``.
    """

    leave_one_out: ClassVar[bool] = True

    n_neighbors: int = 5
    aggregation: str = "largest"
    n_jobs: int | None = None
    pca_components: int | None = None

    def _fit_features(self, Z: np.ndarray) -> None:
        if self.aggregation not in KNN_AGGREGATIONS:
            raise ValueError(f"aggregation: expected one of {KNN_AGGREGATIONS}, found "
                             f"{self.aggregation!r}")
        if not 1 <= self.n_neighbors < len(Z):
            raise ValueError(f"n_neighbors: expected an int in [1, {len(Z) - 1}] (below the "
                             f"{len(Z)} normal training samples), found {self.n_neighbors}")
        self.nn_ = NearestNeighbors(n_neighbors=self.n_neighbors, n_jobs=self.n_jobs).fit(Z)

    def _reduce(self, dist: np.ndarray) -> np.ndarray:
        return dist[:, -1] if self.aggregation == "largest" else dist.mean(axis=1)

    def _train_scores(self) -> np.ndarray:
        dist, _ = self.nn_.kneighbors()  # no X: each training sample's neighbours exclude it
        return self._reduce(dist)

    def _score_features(self, Z: np.ndarray) -> np.ndarray:
        dist, _ = self.nn_.kneighbors(Z)
        return self._reduce(dist)


@hyperparameters
class LOF(BaseClassical):
    """Local Outlier Factor (:class:`sklearn.neighbors.LocalOutlierFactor`, ``novelty=True``).

    Score ``-score_samples`` (the LOF); training samples get ``-negative_outlier_factor_``,
    computed without themselves as neighbours.

    Parameters
    ----------
    n_neighbors : int
        Neighbourhood size (capped at the number of training samples - 1 by scikit-learn).
    n_jobs : int, optional
        Parallel jobs of the neighbour queries.
    pca_components : int, optional
        Project on this many principal components of the training data first.
    contamination : float
        Fraction of training samples above ``threshold_``.
    """

    leave_one_out: ClassVar[bool] = True

    n_neighbors: int = 20
    n_jobs: int | None = None
    pca_components: int | None = None

    def _fit_features(self, Z: np.ndarray) -> None:
        self.model_ = LocalOutlierFactor(n_neighbors=self.n_neighbors, novelty=True,
                                         n_jobs=self.n_jobs).fit(Z)

    def _train_scores(self) -> np.ndarray:
        return -self.model_.negative_outlier_factor_

    def _score_features(self, Z: np.ndarray) -> np.ndarray:
        return -self.model_.score_samples(Z)


@hyperparameters
class DBSCANDetector(BaseClassical):
    """DBSCAN (:class:`sklearn.cluster.DBSCAN`): score = distance to the nearest core point.

    The training data is clustered once; a sample's score is its Euclidean distance to the
    nearest core point (0 for the core points themselves).

    Parameters
    ----------
    eps : float
        Neighbourhood radius of DBSCAN.
    min_samples : int
        Samples within ``eps`` (the point included) that make a point a core point.
    n_jobs : int, optional
        Parallel jobs of the neighbour queries.
    pca_components : int, optional
        Project on this many principal components of the training data first.
    contamination : float
        Fraction of training samples above ``threshold_``.
    """

    eps: float = 0.5
    min_samples: int = 5
    n_jobs: int | None = None
    pca_components: int | None = None

    def _fit_features(self, Z: np.ndarray) -> None:
        self.dbscan_ = DBSCAN(eps=self.eps, min_samples=self.min_samples,
                              n_jobs=self.n_jobs).fit(Z)
        self.core_points_ = self.dbscan_.components_
        if len(self.core_points_) == 0:
            raise ValueError(f"DBSCAN found no core point in the {len(Z)} training samples with "
                             f"eps={self.eps} and min_samples={self.min_samples}: use a larger "
                             "eps (or a smaller min_samples)")
        self.nn_ = NearestNeighbors(n_neighbors=1, n_jobs=self.n_jobs).fit(self.core_points_)

    def _score_features(self, Z: np.ndarray) -> np.ndarray:
        dist, _ = self.nn_.kneighbors(Z)
        return dist[:, 0]


@hyperparameters
class RandomGuess(BaseClassical):
    """Uniform random scores in [0, 1): the AUROC floor (0.5 in expectation).

    Each call draws from a fresh :func:`numpy.random.default_rng` seeded with
    ``random_state``, so the scores of ``n`` samples are a deterministic function of the seed
    and ``n`` (and do not depend on ``X``).

    Parameters
    ----------
    random_state : int, optional
        Seed (``None``: different scores every call).
    contamination : float
        Fraction of training samples above ``threshold_``.
    """

    random_state: int | None = 0

    def _fit_features(self, Z: np.ndarray) -> None:
        pass

    def _score_features(self, Z: np.ndarray) -> np.ndarray:
        return np.random.default_rng(self.random_state).uniform(size=len(Z))
