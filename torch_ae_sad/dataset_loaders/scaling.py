"""Input scalings of a split, as published protocols use them.

Splits come out with images in ``[0, 1]`` (:func:`~torch_ae_sad.dataset_loaders.to_unit_float`).
Some methods were published on other scales, and a method's hyper-parameters (TOLL's
``beta`` weighs a latent norm against ``||x - x_hat||_2``) only mean what the paper says on
the paper's scale. :func:`scale_split` applies one of :data:`SCALINGS` to every part of a split
with constants fitted on its training part or on the dataset as a whole (never on test data):

* ``unit``: nothing (images in ``[0, 1]``; the package default);
* ``standardize``: ``(x - mean) / std`` with one mean and one std over every pixel of the
  dataset's official training part, all classes (MNIST: 0.1307 / 0.3081, Fashion-MNIST:
  0.2860 / 0.3530: the constants of TOLL's authors' ``src/data.py``); for a dataset given as
  arrays, over the split's training part;
* ``gcn_minmax``: global contrast normalisation of each image with its L1 norm
  (``(x - mean(x)) / mean(|x - mean(x)|)``), then min-max scaling to ``[0, 1]`` with the
  minimum and maximum over the training normals (the Deep SVDD / Deep SAD preprocessing that
  TOLL's authors use for CIFAR-10; their constants were computed on the whole training class,
  here on the split's training normals, which leaves the validation hold-out out).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from torch_ae_sad.dataset_loaders.sources import load_dataset
from torch_ae_sad.dataset_loaders.splits import Split, to_unit_float

#: Names :func:`scale_split` accepts.
SCALINGS = ("unit", "standardize", "gcn_minmax")


def check_scaling(name: object) -> str:
    """Return ``name`` if it is one of :data:`SCALINGS`, else raise a ValueError."""
    if name not in SCALINGS:
        raise ValueError(f"scaling: expected one of {SCALINGS}, found {name!r}")
    return str(name)


@lru_cache(maxsize=4)
def dataset_mean_std(name: str) -> tuple[float, float]:
    """Mean and standard deviation of every pixel of dataset ``name``'s training part in [0, 1].

    MNIST gives (0.1307, 0.3081) and Fashion-MNIST (0.2860, 0.3530) to four decimals.
    """
    X = load_dataset(name)[0]
    n = X.size
    total = float(X.sum(dtype=np.float64))
    squares = float(np.square(X, dtype=np.float64).sum())
    mean = total / n
    std = np.sqrt(max(squares / n - mean * mean, 0.0))
    return mean / 255.0, float(std) / 255.0


def global_contrast_normalize(X: np.ndarray) -> np.ndarray:
    """Each sample minus its mean, divided by its mean absolute deviation (L1 GCN)."""
    flat = X.reshape(len(X), -1).astype(np.float32)
    flat = flat - flat.mean(axis=1, keepdims=True)
    scale = np.abs(flat).mean(axis=1, keepdims=True)
    flat = flat / np.where(scale > 0, scale, 1.0)
    return flat.reshape(X.shape)


def scale_split(split: Split, scaling: str, dataset: str | None = None) -> tuple[Split, dict]:
    """Return ``split`` with ``scaling`` applied to its train, validation and test data.

    Parameters
    ----------
    split : Split
        A split with images in ``[0, 1]`` (or tabular data, for ``standardize`` only).
    scaling : {"unit", "standardize", "gcn_minmax"}
        See the module docstring.
    dataset : str, optional
        The dataset's name for ``standardize``'s dataset-wide constants; ``None`` (or a
        dataset given as arrays, ``"custom"``) fits them on the split's training part.

    Returns
    -------
    split : Split
        The scaled split (``meta["scaling"]`` names the scaling and its constants).
    info : dict
        The scaling and its constants (also in ``meta``).
    """
    check_scaling(scaling)
    if scaling == "unit":
        return split, {"name": "unit"}
    parts = {"X_train": split.X_train, "X_val": split.X_val, "X_test": split.X_test}
    if scaling == "standardize":
        if dataset not in (None, "custom"):
            mean, std = dataset_mean_std(dataset)
            fitted_on = f"{dataset} training part, all classes"
        else:
            train = to_unit_float(split.X_train)
            mean, std = float(train.mean()), float(train.std())
            fitted_on = "split training part"
        if not std > 0:
            raise ValueError(f"scaling='standardize': the training data is constant "
                             f"(std {std}); nothing to scale by")
        info = {"name": scaling, "mean": mean, "std": std, "fitted_on": fitted_on}
        out = {k: ((to_unit_float(v) - mean) / std).astype(np.float32) for k, v in parts.items()}
    else:
        if to_unit_float(split.X_train[:1]).ndim < 3:
            raise ValueError("scaling='gcn_minmax': expected images (n, C, H, W), found "
                             f"samples of shape {split.X_train.shape[1:]}")
        gcn = {k: global_contrast_normalize(to_unit_float(v)) for k, v in parts.items()}
        normals = gcn["X_train"][split.y_train == 0]
        lo, hi = float(normals.min()), float(normals.max())
        if not hi > lo:
            raise ValueError("scaling='gcn_minmax': the training normals are constant after "
                             "contrast normalisation; nothing to scale by")
        info = {"name": scaling, "min": lo, "max": hi, "fitted_on": "split training normals"}
        out = {k: ((v - lo) / (hi - lo)).astype(np.float32) for k, v in gcn.items()}
    return split.replace(**out, meta={**split.meta, "scaling": info}), info
