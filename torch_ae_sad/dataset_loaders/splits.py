"""Anomaly-detection splits of labelled datasets: one-vs-all, many-vs-many, tabular.

Every builder returns a :class:`Split` whose training labels follow the package convention:
``y_train == 1`` marks a *labelled* anomaly, ``0`` a normal or unlabelled sample (which may be a
polluting anomaly, see ``y_train_true``). Validation and test labels are ``1`` for anomalies.
Images come out as ``float32`` in ``[0, 1]``, channel-first ``(n, C, H, W)``; tabular data as
``(n, d)``. Every random draw comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np

from torch_ae_sad.dataset_loaders.sources import load_dataset, load_train_labels

Data = str | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass
class Split:
    """Train / validation / test arrays of one anomaly-detection task.

    Attributes
    ----------
    X_train, y_train : np.ndarray
        Training data; ``y_train`` is 1 for a labelled anomaly, 0 otherwise.
    X_val, y_val : np.ndarray
        Validation data; ``y_val`` is 1 for an anomaly.
    X_test, y_test : np.ndarray
        Test data (the dataset's official test part); ``y_test`` is 1 for an anomaly.
    meta : dict
        Classes, counts, seed and options that built the split (JSON-serialisable).
    y_train_true : np.ndarray
        1 for every anomaly in the training data, polluting (unlabelled) ones included.
    classes_train, classes_test : np.ndarray
        The original class label of each training and test sample.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    y_train_true: np.ndarray | None = None
    classes_train: np.ndarray | None = None
    classes_test: np.ndarray | None = None

    def replace(self, **changes: Any) -> Split:
        """Return a copy with some fields replaced (arrays are not copied)."""
        return dataclasses.replace(self, **changes)

    @property
    def n_normal_train(self) -> int:
        """Number of training samples labelled 0 (normal or unlabelled)."""
        return int(np.sum(self.y_train == 0))

    @property
    def n_labelled_train(self) -> int:
        """Number of labelled anomalies in the training data."""
        return int(np.sum(self.y_train == 1))


def to_unit_float(X: np.ndarray) -> np.ndarray:
    """Return images as ``float32`` in ``[0, 1]`` with a channel axis; tabular data as float32.

    ``uint8`` input is divided by 255; ``(n, H, W)`` gets a channel axis ``(n, 1, H, W)``.
    """
    X = np.asarray(X)
    out = X.astype(np.float32) / 255.0 if X.dtype == np.uint8 else X.astype(np.float32)
    if out.ndim == 3:
        out = out[:, None]
    return out


def add_test_noise(split: Split, std: float, seed: int = 0) -> Split:
    """Return ``split`` with Gaussian noise of standard deviation ``std`` added to ``X_test``.

    Images (``ndim >= 3``, values in ``[0, 1]``) are clipped back to ``[0, 1]``; tabular data
    is not clipped. The training and validation parts are untouched, so a detector trained on
    clean data is scored on noisy test data (the noise-robustness protocol).

    Raises
    ------
    ValueError
        When ``std`` is negative or not finite.
    """
    std = float(std)
    if not np.isfinite(std) or std < 0:
        raise ValueError(f"noise_std: expected a finite std >= 0, found {std}")
    if std == 0:
        return split
    rng = np.random.default_rng([seed, 7919])
    X = split.X_test.astype(np.float32, copy=True)
    X += rng.normal(0.0, std, size=X.shape).astype(np.float32)
    if X.ndim >= 3:
        np.clip(X, 0.0, 1.0, out=X)
    return split.replace(X_test=X, meta={**split.meta, "test_noise_std": std})


#: The split scenarios: the name of the builder that makes each.
SCENARIOS = ("one_vs_all", "many_vs_many")


def _resolve_data(data: Data) -> tuple[str, tuple[np.ndarray, ...]]:
    if isinstance(data, str):
        return data, load_dataset(data)
    return "custom", _check_arrays(data)


def _check_arrays(data: Any) -> tuple[np.ndarray, ...]:
    """``data`` as four arrays after checking it is ``(X_train, y_train, X_test, y_test)``."""
    if not (isinstance(data, tuple | list) and len(data) == 4):
        raise ValueError("dataset: expected a dataset name or a tuple (X_train, y_train, "
                         f"X_test, y_test), found {type(data).__name__}")
    arrays = tuple(np.asarray(a) for a in data)
    for x, y, part in ((arrays[0], arrays[1], "train"), (arrays[2], arrays[3], "test")):
        if len(x) != len(y):
            raise ValueError(f"dataset: expected as many {part} labels as {part} samples, "
                             f"found {len(y)} labels for {len(x)} samples")
    return arrays


def _train_labels(data: Data) -> np.ndarray:
    """The training labels of ``data``; of a named dataset read alone (and cached) if possible."""
    if isinstance(data, str):
        return load_train_labels(data)
    return _check_arrays(data)[1]


def _check_count(value: Any, name: str) -> None:
    """Raise a ValueError unless ``value`` is an int count >= 0 or a float fraction in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name}: expected an int count or a float fraction, found {value!r}")
    if isinstance(value, Integral):
        if value < 0:
            raise ValueError(f"{name}: expected a count >= 0, found {value}")
        return
    if not 0.0 <= value < 1.0:
        hint = " (give an int for a count)" if value >= 1.0 and float(value).is_integer() else ""
        raise ValueError(f"{name}: expected a fraction in [0, 1), found {value}{hint}")


def _to_count(value: int | float, reference: int) -> int:
    """A checked count as is, or a fraction ``f = n / (reference + n)`` as the count ``n``."""
    if isinstance(value, Integral):
        return int(value)
    return int(round(value * reference / (1.0 - value)))


def _count(value: int | float, reference: int, name: str) -> int:
    """Check a count or a fraction ``f = n / (reference + n)`` and turn it into a count."""
    _check_count(value, name)
    return _to_count(value, reference)


def _check_fraction(value: Any, name: str) -> None:
    """Raise a ValueError unless ``value`` is a real number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name}: expected a float fraction in [0, 1), found {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: expected a fraction in [0, 1), found {value}")


def _class_list(value: Any, name: str) -> list[int]:
    """``value`` as a sorted list of distinct ints (possibly empty: the caller decides)."""
    if isinstance(value, np.ndarray):
        ok = value.ndim == 1
    else:
        ok = isinstance(value, Sequence) and not isinstance(value, str | bytes)
    if not ok or any(isinstance(c, bool) or not isinstance(c, Integral) for c in value):
        raise ValueError(f"{name}: expected a list of int classes, found {value!r}")
    classes = [int(c) for c in value]
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise ValueError(f"{name}: expected distinct classes, found {repeated} more than once")
    return sorted(classes)


def _check_request(scenario: Any, normal: Any, anomaly: Any, known: Any, *, labelled: Any,
                   pollution: Any, val_fraction: Any, val_labelled: Any
                   ) -> tuple[list[int], list[int] | None, list[int] | None]:
    """Check every rule of a split request that needs no data (those that do: :func:`_plan`).

    Returns
    -------
    normal, anomaly, known : list of int, list of int or None, list of int or None
        The class lists, sorted (``anomaly`` None: every class but the normal ones).
    """
    if not isinstance(scenario, str) or scenario not in SCENARIOS:
        raise ValueError(f"scenario: expected one of {SCENARIOS}, found {scenario!r}")
    normal = _class_list(normal, "normal_classes")
    anomaly = None if anomaly is None else _class_list(anomaly, "anomaly_classes")
    known = None if known is None else _class_list(known, "known_classes")
    if scenario == "one_vs_all":
        if len(normal) != 1:
            raise ValueError(f"normal_classes: one_vs_all takes exactly one normal class, found "
                             f"{normal}")
        if anomaly is not None:
            raise ValueError("anomaly_classes: one_vs_all uses every other class as anomalous; "
                             "give None, or use scenario many_vs_many for anomaly classes "
                             f"{anomaly}")
    elif anomaly is None:
        raise ValueError("anomaly_classes: many_vs_many expects a non-empty list of classes, "
                         "found None")
    if not normal:
        raise ValueError("normal_classes: expected at least one class, found an empty list")
    if anomaly is not None and not anomaly:
        raise ValueError("anomaly_classes: expected at least one class, found an empty list")
    overlap = sorted(set(normal) & set(anomaly or []))
    if overlap:
        raise ValueError(f"normal_classes and anomaly_classes: expected disjoint lists, found "
                         f"{overlap} in both")
    if known is not None and not known:
        raise ValueError("known_classes: expected None (all anomaly classes) or a non-empty "
                         "list, found an empty list")
    _check_fraction(val_fraction, "val_fraction")
    _check_fraction(pollution, "pollution")
    _check_count(labelled, "labelled")
    _check_count(val_labelled, "val_labelled")
    return normal, anomaly, known


@dataclass(frozen=True)
class _Plan:
    """The classes and sample counts of a checked split request."""

    normal: list[int]
    anomaly: list[int]
    known: list[int] | None
    n_val: int
    n_poll: int
    n_lab: int
    n_val_lab: int

    @property
    def source(self) -> list[int]:
        """The classes labelled anomalies are drawn from."""
        return self.known if self.known is not None else self.anomaly


def _request(n: int, value: int | float, name: str) -> str:
    """``n``, with the fraction it came from."""
    return str(n) if isinstance(value, Integral) else f"{n} ({name}={value})"


def _plan(y_train: np.ndarray, normal: list[int], anomaly: list[int] | None,
          known: list[int] | None, *, labelled: int | float, pollution: float,
          val_fraction: float, val_labelled: int | float) -> _Plan:
    """Check a request that passed :func:`_check_request` against the training labels.

    The classes must be among the dataset's, ``known`` a subset of the anomaly classes, and
    the counts (which depend only on the labels, not on the seed) within what the data holds.
    """
    y = np.asarray(y_train)
    avail = sorted(np.unique(y).tolist())
    for name, classes in (("normal_classes", normal), ("anomaly_classes", anomaly or []),
                          ("known_classes", known or [])):
        missing = sorted(set(classes) - set(avail))
        if missing:
            raise ValueError(f"{name}: expected classes among {avail}, found {missing}")
    if anomaly is None:
        anomaly = [int(c) for c in avail if c not in normal]
        if not anomaly:
            raise ValueError(f"anomaly_classes: expected at least one class besides the normal "
                             f"classes {normal} among the dataset's classes {avail}, found none")
    if known is not None:
        extra = sorted(set(known) - set(anomaly))
        if extra:
            raise ValueError(f"known_classes: expected a subset of anomaly_classes {anomaly}, "
                             f"found {extra}")
    n_normal = int(np.isin(y, normal).sum())
    n_val = int(round(val_fraction * n_normal))
    n_train = n_normal - n_val
    n_poll = _to_count(pollution, n_train)
    n_lab = _to_count(labelled, n_train + n_poll)
    n_val_lab = _to_count(val_labelled, n_val)
    source = known if known is not None else anomaly
    n_pool = int(np.isin(y, source).sum())
    if n_lab + n_val_lab > n_pool:
        lab = _request(n_lab, labelled, "labelled")
        val_lab = _request(n_val_lab, val_labelled, "val_labelled")
        if n_val_lab == 0:
            raise ValueError(f"labelled: expected at most {n_pool} labelled anomalies from "
                             f"classes {source}, found a request for {lab}")
        if n_lab == 0:
            raise ValueError(f"val_labelled: expected at most {n_pool} validation anomalies "
                             f"from classes {source}, found a request for {val_lab}")
        raise ValueError(f"labelled and val_labelled: expected at most {n_pool} labelled "
                         f"anomalies (training + validation) from classes {source}, found a "
                         f"request for {lab} + {val_lab}")
    n_rest = int(np.isin(y, anomaly).sum()) - n_lab - n_val_lab
    if n_poll > n_rest:
        raise ValueError(f"pollution: expected at most {n_rest} unlabelled anomalies left in "
                         f"classes {anomaly}, found a request for "
                         f"{_request(n_poll, pollution, 'pollution')}")
    return _Plan(normal=normal, anomaly=anomaly, known=known, n_val=n_val, n_poll=n_poll,
                 n_lab=n_lab, n_val_lab=n_val_lab)


def check_split_request(dataset: Data, scenario: str, normal_classes: Sequence[int],
                        anomaly_classes: Sequence[int] | None, *, labelled: int | float,
                        known_classes: Sequence[int] | None, pollution: float,
                        val_fraction: float, val_labelled: int | float) -> None:
    """Check a split request without building the split (for validating a grid up front).

    Applies the very checks :func:`one_vs_all` and :func:`many_vs_many` apply, in the same
    order, so this raises exactly when building the split would, with the same message
    (whatever the seed: the counts do not depend on it). Only the training labels are read:
    for the IDX datasets (MNIST, Fashion-MNIST) the labels file alone, cached per dataset.

    Parameters
    ----------
    dataset : str or tuple
        A dataset name for :func:`~torch_ae_sad.dataset_loaders.load_dataset` or
        ``(X_train, y_train, X_test, y_test)``.
    scenario : {"one_vs_all", "many_vs_many"}
        ``one_vs_all`` takes one normal class and ``anomaly_classes=None`` (every other class
        is anomalous); ``many_vs_many`` takes a list of anomaly classes.
    normal_classes, anomaly_classes : list of int
        Disjoint, non-empty lists of distinct classes of the dataset.
    labelled, known_classes, pollution, val_fraction, val_labelled
        As in :func:`one_vs_all`.

    Raises
    ------
    ValueError
        The message starts with the offending parameter's name and says what was expected and
        what was found: a wrong type or range, an unknown scenario or dataset, classes that are
        empty, repeated, overlapping, not in the dataset or not in ``anomaly_classes``, or more
        labelled, validation or polluting anomalies than the classes hold.
    DatasetNotFoundError
        When a named dataset's files are not found (building the split would fail too).
    """
    normal, anomaly, known = _check_request(
        scenario, normal_classes, anomaly_classes, known_classes, labelled=labelled,
        pollution=pollution, val_fraction=val_fraction, val_labelled=val_labelled)
    _plan(_train_labels(dataset), normal, anomaly, known, labelled=labelled,
          pollution=pollution, val_fraction=val_fraction, val_labelled=val_labelled)


def _build(data: Data, normal: Sequence[int], anomaly: Sequence[int] | None, scenario: str, *,
           labelled: int | float, known_classes: Sequence[int] | None, pollution: float,
           val_fraction: float, val_labelled: int | float, seed: int) -> Split:
    # the checks of check_split_request, in its order: one place for each rule
    normal, anomaly, known = _check_request(
        scenario, normal, anomaly, known_classes, labelled=labelled, pollution=pollution,
        val_fraction=val_fraction, val_labelled=val_labelled)
    name, (x_tr, y_tr, x_te, y_te) = _resolve_data(data)
    plan = _plan(y_tr, normal, anomaly, known, labelled=labelled, pollution=pollution,
                 val_fraction=val_fraction, val_labelled=val_labelled)
    anomaly = plan.anomaly
    n_lab, n_val_lab, n_poll = plan.n_lab, plan.n_val_lab, plan.n_poll

    rng = np.random.default_rng(seed)
    normal_idx = rng.permutation(np.flatnonzero(np.isin(y_tr, normal)))
    val_norm, train_norm = normal_idx[:plan.n_val], normal_idx[plan.n_val:]
    pool = rng.permutation(np.flatnonzero(np.isin(y_tr, plan.source)))
    lab_idx, val_anom = pool[:n_lab], pool[n_lab:n_lab + n_val_lab]
    used = np.concatenate([lab_idx, val_anom])
    rest = np.setdiff1d(np.flatnonzero(np.isin(y_tr, anomaly)), used)
    poll_idx = rng.choice(rest, size=n_poll, replace=False) if n_poll else rest[:0]

    train_idx = np.concatenate([train_norm, poll_idx, lab_idx])
    y_train = np.concatenate([np.zeros(len(train_norm) + n_poll, np.int64),
                              np.ones(n_lab, np.int64)])
    y_true = np.concatenate([np.zeros(len(train_norm), np.int64), np.ones(n_poll + n_lab,
                                                                           np.int64)])
    order = rng.permutation(len(train_idx))
    train_idx, y_train, y_true = train_idx[order], y_train[order], y_true[order]
    val_idx = np.concatenate([val_norm, val_anom])
    y_val = np.concatenate([np.zeros(len(val_norm), np.int64), np.ones(len(val_anom), np.int64)])
    test_mask = np.isin(y_te, normal + anomaly)
    y_test = np.isin(y_te[test_mask], anomaly).astype(np.int64)

    meta = {
        "dataset": name, "scenario": scenario, "normal_classes": normal,
        "anomaly_classes": anomaly, "known_classes": known, "labelled": labelled,
        "n_labelled": n_lab, "pollution": pollution, "n_polluted": n_poll,
        "val_fraction": val_fraction, "val_labelled": val_labelled,
        "n_val_normal": len(val_norm), "n_val_anomalies": len(val_anom),
        "n_train": len(train_idx), "n_train_normal": len(train_norm),
        "n_test": int(test_mask.sum()), "n_test_anomalies": int(y_test.sum()),
        "input_shape": list(to_unit_float(x_tr[:1]).shape[1:]), "seed": seed,
    }
    return Split(X_train=to_unit_float(x_tr[train_idx]), y_train=y_train,
                 X_val=to_unit_float(x_tr[val_idx]), y_val=y_val,
                 X_test=to_unit_float(x_te[test_mask]), y_test=y_test, meta=meta,
                 y_train_true=y_true, classes_train=np.asarray(y_tr[train_idx], np.int64),
                 classes_test=np.asarray(y_te[test_mask], np.int64))


def one_vs_all(data: Data, normal_class: int, *, labelled: int | float = 60,
               known_classes: Sequence[int] | None = None, pollution: float = 0.0,
               val_fraction: float = 0.1, val_labelled: int | float = 0, seed: int = 0) -> Split:
    """One class is normal, every other class is anomalous.

    Parameters
    ----------
    data : str or tuple
        A dataset name for :func:`load_dataset` or ``(X_train, y_train, X_test, y_test)``.
    normal_class : int
        The normal class.
    labelled : int or float
        Labelled anomalies in the training data: a count, or a fraction ``gamma_l`` of the
        training set (``n_l / (n_unlabelled + n_l)``, the Deep SAD convention).
    known_classes : list of int, optional
        Classes the labelled anomalies are drawn from (Deep SAD protocol); default all.
    pollution : float
        Fraction ``gamma_p`` of the unlabelled training data that are anomalies (from any
        anomaly class), labelled 0.
    val_fraction : float
        Fraction of the normal training pool held out for validation.
    val_labelled : int or float
        Anomalies in the validation part (from the known classes, disjoint from the labelled
        training anomalies), as a count or a fraction of the validation part.
    seed : int
        Seed of every random draw.

    Returns
    -------
    Split

    Raises
    ------
    ValueError
        Naming the parameter first, on a request :func:`check_split_request` rejects (the same
        checks, in the same order, so a grid can check its requests before building any).
    """
    return _build(data, [normal_class], None, "one_vs_all", labelled=labelled,
                  known_classes=known_classes, pollution=pollution, val_fraction=val_fraction,
                  val_labelled=val_labelled, seed=seed)


def many_vs_many(data: Data, normal_classes: Sequence[int], anomaly_classes: Sequence[int], *,
                 labelled: int | float = 60, known_classes: Sequence[int] | None = None,
                 pollution: float = 0.0, val_fraction: float = 0.1,
                 val_labelled: int | float = 0, seed: int = 0) -> Split:
    """Several classes are normal, several others anomalous; other classes are left out.

    Parameters are those of :func:`one_vs_all`, with ``normal_classes`` and
    ``anomaly_classes`` disjoint, non-empty lists.

    Returns
    -------
    Split

    Raises
    ------
    ValueError
        On a request :func:`check_split_request` rejects, with the same message.
    """
    return _build(data, normal_classes, anomaly_classes, "many_vs_many", labelled=labelled,
                  known_classes=known_classes, pollution=pollution, val_fraction=val_fraction,
                  val_labelled=val_labelled, seed=seed)


def _tabular_orders(y: np.ndarray, orders: tuple[Sequence[int], Sequence[int]] | None,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the normals and of the anomalies in split order (``orders`` or random)."""
    normals, anomalies = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    if orders is None:
        return rng.permutation(normals), rng.permutation(anomalies)
    if len(orders) != 2:
        raise ValueError(f"orders: expected (normal_order, anomaly_order), found "
                         f"{len(orders)} arrays")
    return (normals[_check_order(orders[0], len(normals), "normal_order")],
            anomalies[_check_order(orders[1], len(anomalies), "anomaly_order")])


def _tabular_arrays(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as float32 ``(n, d)`` and ``y`` as int64 ``(n,)``; a ValueError if they are not."""
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y).astype(np.int64)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"X, y: expected (n, d) and (n,), found {X.shape} and {y.shape}")
    return X, y


def tabular_split(X: np.ndarray, y: np.ndarray, *, labelled: int | float = 0,
                  train_fraction: float = 0.6, val_fraction: float = 0.2, scale: bool = True,
                  seed: int = 0, name: str = "tabular",
                  orders: tuple[Sequence[int], Sequence[int]] | None = None) -> Split:
    """Split a tabular anomaly set (``y == 1`` outlier) by TOLL's protocol.

    Training gets ``train_fraction`` of the normals; validation and test each get
    ``val_fraction`` of the normals and of the anomalies; labelled training anomalies are drawn
    from the anomalies left over. With ``scale`` every feature is min-max scaled with the
    training part's range.

    Parameters
    ----------
    X, y : np.ndarray
        Data ``(n, d)`` and labels (1 = outlier).
    labelled : int or float
        Labelled training anomalies: a count or a fraction of the training set.
    train_fraction, val_fraction : float
        Shares of the normals for training, and of normals and anomalies for validation (and
        as many for the test).
    scale : bool
        Min-max scale every feature with the training part's range.
    seed : int
        Seed of every random draw.
    name : str
        Dataset name recorded in ``meta``.
    orders : (normal_order, anomaly_order), optional
        Fixed orders to use instead of the seeded random permutations: ``normal_order`` a
        permutation of ``range(n_normal)`` (positions among the normals, in data order), cut
        into training, validation and test parts in that order; ``anomaly_order`` one of
        ``range(n_anomaly)``, cut into validation, test and the labelled pool. ``seed`` then
        only shuffles the training part's order. For a published split (e.g. TOLL's authors'
        Arrhythmia index files, rearranged to this layout).

    Returns
    -------
    Split
    """
    X, y = _tabular_arrays(X, y)
    if not (0 < train_fraction and 0 < val_fraction
            and train_fraction + 2 * val_fraction <= 1 + 1e-9):
        raise ValueError(f"train_fraction + 2 * val_fraction: expected <= 1, found "
                         f"{train_fraction} + 2 * {val_fraction}")
    rng = np.random.default_rng(seed)
    norm, anom = _tabular_orders(y, orders, rng)
    n_tr, n_va = int(round(train_fraction * len(norm))), int(round(val_fraction * len(norm)))
    a_va = int(round(val_fraction * len(anom)))
    tr_n, va_n, te_n = norm[:n_tr], norm[n_tr:n_tr + n_va], norm[n_tr + n_va:n_tr + 2 * n_va]
    va_a, te_a, pool = anom[:a_va], anom[a_va:2 * a_va], anom[2 * a_va:]
    n_lab = _count(labelled, len(tr_n), "labelled")
    if n_lab > len(pool):
        raise ValueError(f"labelled: expected at most {len(pool)} labelled anomalies, found a "
                         f"request for {n_lab}")
    train_idx = rng.permutation(np.concatenate([tr_n, pool[:n_lab]]))
    val_idx, test_idx = np.concatenate([va_n, va_a]), np.concatenate([te_n, te_a])
    X_tr = X[train_idx]
    if scale:
        lo, hi = X_tr.min(axis=0), X_tr.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0).astype(np.float32)
        X = (X - lo) / span
        X_tr = X[train_idx]
    meta = {"dataset": name, "scenario": "tabular", "labelled": labelled, "n_labelled": n_lab,
            "train_fraction": train_fraction, "val_fraction": val_fraction, "scaled": scale,
            "fixed_orders": orders is not None,
            "n_train": len(train_idx), "n_train_normal": len(tr_n), "n_val_normal": len(va_n),
            "n_val_anomalies": len(va_a), "n_test": len(test_idx),
            "n_test_anomalies": len(te_a), "input_shape": [X.shape[1]], "seed": seed}
    y_train = y[train_idx]
    return Split(X_train=X_tr, y_train=y_train, X_val=X[val_idx], y_val=y[val_idx],
                 X_test=X[test_idx], y_test=y[test_idx], meta=meta, y_train_true=y_train.copy())


def _check_order(order: Sequence[int], n: int, name: str) -> np.ndarray:
    """``order`` as an int array after checking it is a permutation of ``range(n)``."""
    arr = np.asarray(order)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer) or len(arr) != n \
            or not np.array_equal(np.sort(arr), np.arange(n)):
        raise ValueError(f"orders: expected {name} to be a permutation of range({n}), found "
                         f"an array of shape {arr.shape} and dtype {arr.dtype}"
                         + ("" if arr.ndim != 1 or len(arr) != n else " that is not one"))
    return arr.astype(np.int64)


#: ADBench's share of the test part, and its cap on the samples of a data set.
ADBENCH_TEST_FRACTION = 0.3
ADBENCH_MAX_SAMPLES = 10_000


def adbench_labelled_count(labelled: int | float, n_train_anomalies: int) -> int:
    """Labelled training anomalies of ADBench's protocol.

    A fraction ``la`` labels ``ceil(la * n)`` of the ``n`` training anomalies (ADBench's
    ``at_least_one_labeled=True``, the setting of its experiments); an int is a count.

    Raises
    ------
    ValueError
        For a fraction outside (0, 1], a negative count, or more than ``n``.
    """
    if isinstance(labelled, bool) or not isinstance(labelled, Integral | Real):
        raise ValueError(f"labelled: expected a fraction of the training anomalies in (0, 1] or "
                         f"an int count, found {labelled!r}")
    if isinstance(labelled, Integral):
        count = int(labelled)
        if count < 0:
            raise ValueError(f"labelled: expected a count >= 0, found {count}")
    else:
        if not 0.0 < labelled <= 1.0:
            raise ValueError(f"labelled: expected a fraction of the training anomalies in "
                             f"(0, 1], found {labelled}")
        count = int(np.ceil(labelled * n_train_anomalies))
    if count > n_train_anomalies:
        raise ValueError(f"labelled: expected at most {n_train_anomalies} labelled anomalies "
                         f"(the training anomalies), found a request for {count}")
    return count


def adbench_split(X: np.ndarray, y: np.ndarray, *, labelled: int | float = 0.1,
                  val_fraction: float = 0.0, seed: int = 0, name: str = "tabular") -> Split:
    """Split a tabular anomaly set (``y == 1`` anomaly) by ADBench's protocol (Han et al. 2022).

    As ADBench's ``DataGenerator``: a set larger than 10,000 samples is subsampled to 10,000;
    70 / 30 stratified train / test split; min-max scaling fitted on the training part; a
    share of the *training anomalies* labelled (:func:`adbench_labelled_count`), the other
    training anomalies left in the training data unlabelled (``y_train == 0``, their truth in
    ``y_train_true``). Deviation: ``val_fraction`` > 0 holds out that share of the training
    normals as validation data (ADBench has none; 0 by default).

    Parameters
    ----------
    X, y : np.ndarray
        Data ``(n, d)`` and labels (1 = anomaly).
    labelled : int or float
        A fraction of the training anomalies (1 %, 5 %, 10 % in ADBench) or a count.
    val_fraction : float
        Share of the training normals held out for validation, in [0, 1).
    seed : int
        Seed of every random draw.
    name : str
        Data set name recorded in ``meta``.

    Returns
    -------
    Split
    """
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler

    X, y = _tabular_arrays(X, y)
    _check_fraction(val_fraction, "val_fraction")
    rng = np.random.default_rng(seed)
    if len(y) > ADBENCH_MAX_SAMPLES:
        keep = np.sort(rng.choice(len(y), ADBENCH_MAX_SAMPLES, replace=False))
        X, y = X[keep], y[keep]
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=ADBENCH_TEST_FRACTION,
                                              stratify=y, random_state=seed)
    scaler = MinMaxScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr).astype(np.float32), scaler.transform(X_te).astype(
        np.float32)
    anomalies, normals = np.flatnonzero(y_tr == 1), rng.permutation(np.flatnonzero(y_tr == 0))
    n_lab = adbench_labelled_count(labelled, len(anomalies))
    lab = rng.choice(anomalies, n_lab, replace=False)
    n_val = int(round(val_fraction * len(normals)))
    val, train = normals[:n_val], np.setdiff1d(np.arange(len(y_tr)), normals[:n_val])
    y_train = np.zeros(len(y_tr), np.int64)
    y_train[lab] = 1
    meta = {"dataset": name, "scenario": "adbench", "normal_classes": [0],
            "anomaly_classes": [1], "labelled": labelled, "n_labelled": n_lab,
            "n_unlabelled_anomalies": int(len(anomalies) - n_lab), "val_fraction": val_fraction,
            "n_val_normal": int(n_val), "n_train": int(len(train)),
            "n_test": int(len(y_te)), "n_test_anomalies": int(y_te.sum()),
            "input_shape": [int(X.shape[1])], "seed": seed,
            "protocol": "ADBench: 70/30 stratified, min-max on train, ceil(la * n) labelled"}
    return Split(X_train=X_tr[train], y_train=y_train[train], X_val=X_tr[val],
                 y_val=np.zeros(len(val), np.int64), X_test=X_te, y_test=y_te, meta=meta,
                 y_train_true=y_tr[train])
