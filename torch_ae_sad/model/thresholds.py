"""Threshold rules: how a score threshold is chosen, each recorded by name in the JSON record.

Every rule is ``rule(train_scores, val_scores, val_labels, **params) -> float``; a sample is
flagged anomalous when its score is ``> threshold``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import precision_recall_curve


def _need_val(val_scores: np.ndarray | None, val_labels: np.ndarray | None, rule: str,
              anomalies: bool = False) -> tuple[np.ndarray, np.ndarray]:
    if val_scores is None or val_labels is None or len(val_scores) == 0:
        raise ValueError(f"threshold rule {rule!r}: expected validation scores, found none "
                         "(use a split with val_fraction > 0)")
    if anomalies and not (np.any(val_labels == 1) and np.any(val_labels == 0)):
        raise ValueError(f"threshold rule {rule!r}: expected normal and anomalous validation "
                         "samples, found one class only (set val_labelled > 0 in the split)")
    return np.asarray(val_scores), np.asarray(val_labels)


def contamination(train_scores: np.ndarray, val_scores=None, val_labels=None, *,
                  contamination: float = 0.1) -> float:
    """The ``1 - contamination`` quantile of the training scores."""
    return float(np.quantile(train_scores, 1.0 - contamination))


def val_max_gap(train_scores, val_scores, val_labels, **_: float) -> float:
    """``max + (max - mean)`` of the normal validation scores."""
    s, y = _need_val(val_scores, val_labels, "val_max_gap")
    normal = s[y == 0]
    return float(normal.max() + (normal.max() - normal.mean()))


def _pr_points(val_scores, val_labels, rule: str):
    s, y = _need_val(val_scores, val_labels, rule, anomalies=True)
    precision, recall, thresholds = precision_recall_curve(y, s)
    return precision[:-1], recall[:-1], thresholds


def best_f1(train_scores, val_scores, val_labels, **_: float) -> float:
    """The validation threshold with the best F1 (flagging scores ``>= t``, so just below t)."""
    p, r, t = _pr_points(val_scores, val_labels, "best_f1")
    f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)
    return float(np.nextafter(t[int(np.argmax(f1))], -np.inf))


def pr_closest(train_scores, val_scores, val_labels, **_: float) -> float:
    """The validation threshold whose (precision, recall) is closest to (1, 1)."""
    p, r, t = _pr_points(val_scores, val_labels, "pr_closest")
    return float(np.nextafter(t[int(np.argmin((1 - p) ** 2 + (1 - r) ** 2))], -np.inf))


def target_far(train_scores, val_scores, val_labels, *, far: float = 0.05) -> float:
    """The threshold giving a false alarm rate ``far`` on the normal validation scores."""
    s, y = _need_val(val_scores, val_labels, "target_far")
    if not 0 < far < 1:
        raise ValueError(f"far: expected a rate in (0, 1), found {far}")
    return float(np.quantile(s[y == 0], 1.0 - far))


THRESHOLD_RULES: dict[str, Callable[..., float]] = {
    "contamination": contamination,
    "val_max_gap": val_max_gap,
    "best_f1": best_f1,
    "pr_closest": pr_closest,
    "target_far": target_far,
}


def choose_threshold(rule: str, train_scores: np.ndarray, val_scores: np.ndarray | None = None,
                     val_labels: np.ndarray | None = None, **params: float) -> float:
    """Apply threshold rule ``rule`` (a key of :data:`THRESHOLD_RULES`)."""
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"threshold rule: expected one of {sorted(THRESHOLD_RULES)}, found "
                         f"{rule!r}")
    return THRESHOLD_RULES[rule](train_scores, val_scores, val_labels, **params)
