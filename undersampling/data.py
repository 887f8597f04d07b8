"""Two-dimensional imbalanced data sets to look at under-samplers with.

Every generator draws ``n_samples`` points of which ``round(ratio * n_samples)`` belong to the
minority class (label ``1``, the labelled anomalies of the package) and the rest to the
majority class (label ``0``, the normals). ``noise`` is the spread of the points and
``overlap`` in ``[0, 1]`` moves the two classes onto each other (``0``: the usual separation,
``1``: on top of each other). Every random draw comes from ``seed``.

:func:`make_split` wraps a draw into the package's :class:`~torch_ae_sad.dataset_loaders.
splits.Split` so that :func:`~torch_ae_sad.dataset_loaders.sampling.undersample` runs on it.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import make_blobs, make_circles, make_moons

from torch_ae_sad.dataset_loaders.splits import Split


@dataclass(frozen=True)
class Dataset2D:
    """A named generator of a 2D imbalanced set.

    Attributes
    ----------
    name : str
        Registry name.
    draw : callable
        ``draw(n_major, n_minor, noise, overlap, seed)`` -> ``(X, y)``, majority first.
    noise : float
        Default noise (its meaning is the generator's, see ``description``).
    overlap : float
        Default overlap in ``[0, 1]``.
    description : str
        One line for listings and plots.
    """

    name: str
    draw: Callable[[int, int, float, float, int], tuple[np.ndarray, np.ndarray]]
    noise: float
    overlap: float
    description: str


def _labels(n_major: int, n_minor: int) -> np.ndarray:
    return np.concatenate([np.zeros(n_major, np.int64), np.ones(n_minor, np.int64)])


def _blobs(n_major: int, n_minor: int, noise: float, overlap: float,
           seed: int) -> tuple[np.ndarray, np.ndarray]:
    # two majority blobs left and right, a tighter minority blob between them, a little higher
    s = 3.0 * (1.0 - overlap)
    centers = np.array([[-s, 0.0], [s, 0.0], [0.0, 0.6 * s]])
    n_left = n_major // 2
    X, lab = make_blobs(n_samples=[n_left, n_major - n_left, n_minor], centers=centers,
                        cluster_std=[noise, noise, 0.6 * noise], shuffle=False,
                        random_state=seed)
    return X, (lab == 2).astype(np.int64)


def _moons(n_major: int, n_minor: int, noise: float, overlap: float,
           seed: int) -> tuple[np.ndarray, np.ndarray]:
    # make_moons: (n_out, n_in) -> upper moon label 0 (majority), lower moon label 1 (minority)
    X, y = make_moons(n_samples=(n_major, n_minor), noise=noise, shuffle=False,
                      random_state=seed)
    X[y == 1] += overlap * np.array([-1.0, 0.5])  # push the minority moon into the other
    return X, y.astype(np.int64)


def _circles(n_major: int, n_minor: int, noise: float, overlap: float,
             seed: int) -> tuple[np.ndarray, np.ndarray]:
    # make_circles: (n_out, n_in) -> outer circle label 0 (majority), inner label 1 (minority)
    X, y = make_circles(n_samples=(n_major, n_minor), noise=noise, factor=0.3 + 0.65 * overlap,
                        shuffle=False, random_state=seed)
    return X, y.astype(np.int64)


def _gaussians(n_major: int, n_minor: int, noise: float, overlap: float,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    # a wide majority Gaussian and a tighter minority Gaussian, 4 * (1 - overlap) apart
    rng = np.random.default_rng(seed)
    d = 4.0 * (1.0 - overlap)
    major = rng.normal(0.0, noise, size=(n_major, 2))
    minor = rng.normal(0.0, 0.6 * noise, size=(n_minor, 2)) + np.array([d, 0.0])
    return np.concatenate([major, minor]), _labels(n_major, n_minor)


#: Name -> 2D data-set generator.
DATASETS_2D: dict[str, Dataset2D] = {d.name: d for d in [
    Dataset2D("blobs", _blobs, 1.0, 0.2,
              "two majority blobs, a tighter minority blob between them (noise: cluster std)"),
    Dataset2D("moons", _moons, 0.25, 0.0,
              "scikit-learn's two moons, the lower one the minority (noise: std)"),
    Dataset2D("circles", _circles, 0.1, 0.3,
              "two concentric circles, the inner one the minority (noise: std)"),
    Dataset2D("gaussians", _gaussians, 1.0, 0.5,
              "an overlapping pair of Gaussians, the tighter one the minority (noise: std)"),
]}


def get_dataset(name: str) -> Dataset2D:
    """Return the registry entry ``name`` or raise a ValueError listing the known names."""
    try:
        return DATASETS_2D[name]
    except (KeyError, TypeError):
        raise ValueError(f"dataset: expected one of {sorted(DATASETS_2D)}, found "
                         f"{name!r}") from None


def _check_number(name: str, value: object, lo: float, hi: float | None, *,
                  closed_lo: bool, closed_hi: bool, what: str) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        ok = (value >= lo if closed_lo else value > lo) and (
            hi is None or (value <= hi if closed_hi else value < hi))
    if not ok:
        interval = (("[" if closed_lo else "(") + f"{lo:g}, "
                    + ("inf)" if hi is None else f"{hi:g}" + ("]" if closed_hi else ")")))
        raise ValueError(f"{name}: expected {what} in {interval}, found {value!r}")
    return float(value)


def make_imbalanced(name: str, n_samples: int = 600, ratio: float = 0.05,
                    noise: float | None = None, overlap: float | None = None,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw a 2D imbalanced set.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS_2D`.
    n_samples : int
        Number of points, minority included.
    ratio : float
        Fraction of minority points, in (0, 1); ``round(ratio * n_samples)`` of them, at least
        one, and at least one majority point.
    noise : float, optional
        Spread of the points (>= 0); default the data set's.
    overlap : float, optional
        How far the classes are moved onto each other, in [0, 1]; default the data set's.
    seed : int
        Seed of every random draw.

    Returns
    -------
    X : np.ndarray
        ``(n_samples, 2)`` float64 points, shuffled.
    y : np.ndarray
        ``(n_samples,)`` int64 labels, ``1`` for the minority.
    """
    entry = get_dataset(name)
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) \
            or n_samples < 2:
        raise ValueError(f"n_samples: expected an int >= 2, found {n_samples!r}")
    ratio = _check_number("ratio", ratio, 0.0, 1.0, closed_lo=False, closed_hi=False,
                          what="the minority fraction")
    noise = entry.noise if noise is None else _check_number(
        "noise", noise, 0.0, None, closed_lo=True, closed_hi=False, what="a spread")
    overlap = entry.overlap if overlap is None else _check_number(
        "overlap", overlap, 0.0, 1.0, closed_lo=True, closed_hi=True, what="a fraction")
    n_minor = int(round(ratio * int(n_samples)))
    n_major = int(n_samples) - n_minor
    if n_minor < 1 or n_major < 1:
        raise ValueError(f"ratio: expected at least one minority and one majority point, found "
                         f"ratio={ratio:g} * n_samples={n_samples} -> {n_minor} minority and "
                         f"{n_major} majority points")
    X, y = entry.draw(n_major, n_minor, noise, overlap, int(seed))
    order = np.random.default_rng(seed).permutation(len(y))
    return np.asarray(X, np.float64)[order], np.asarray(y, np.int64)[order]


def make_split(name: str, n_samples: int = 600, ratio: float = 0.05,
               noise: float | None = None, overlap: float | None = None,
               seed: int = 0) -> Split:
    """Wrap :func:`make_imbalanced` draws into a :class:`Split`.

    The training part is the draw with ``seed``; validation and test are independent draws
    of the same set with seeds ``seed + 1`` and ``seed + 2``. Arrays are float32, like the
    package's tabular splits.

    Parameters
    ----------
    name, n_samples, ratio, noise, overlap, seed
        As in :func:`make_imbalanced`.

    Returns
    -------
    Split
    """
    parts = [make_imbalanced(name, n_samples, ratio, noise, overlap, seed + k)
             for k in range(3)]
    (X_tr, y_tr), (X_va, y_va), (X_te, y_te) = parts
    entry = get_dataset(name)
    meta = {"dataset": name, "scenario": "2d", "n_samples": int(n_samples),
            "ratio": float(ratio), "noise": entry.noise if noise is None else float(noise),
            "overlap": entry.overlap if overlap is None else float(overlap), "seed": int(seed),
            "n_train": len(y_tr), "n_train_normal": int(np.sum(y_tr == 0)),
            "n_labelled": int(np.sum(y_tr == 1)), "input_shape": [2]}
    f32 = np.float32
    return Split(X_train=X_tr.astype(f32), y_train=y_tr, X_val=X_va.astype(f32), y_val=y_va,
                 X_test=X_te.astype(f32), y_test=y_te, meta=meta, y_train_true=y_tr.copy())
