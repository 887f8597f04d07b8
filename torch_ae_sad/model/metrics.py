"""Metrics of a run from its test labels (1 = anomaly) and scores (higher = more anomalous)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score


def evaluate(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Return ranking metrics and the metrics at ``threshold`` (flag when ``score > t``).

    Returns
    -------
    dict
        ``roc_auc``, ``average_precision``, ``f1``, ``precision``, ``recall``, ``far`` (false
        alarm rate), ``threshold`` and ``confusion_matrix`` ``[[tn, fp], [fn, tp]]``.
    """
    y_true = np.asarray(y_true).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if len(y_true) != len(scores):
        raise ValueError(f"scores: expected {len(y_true)} scores, found {len(scores)}")
    both = len(np.unique(y_true)) == 2
    pred = (scores > threshold).astype(np.int64)
    tn, fp, fn, tp = confusion_matrix(y_true, pred, labels=[0, 1]).ravel().tolist()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "roc_auc": float(roc_auc_score(y_true, scores)) if both else None,
        "average_precision": float(average_precision_score(y_true, scores)) if both else None,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "precision": precision,
        "recall": recall,
        "far": fp / (fp + tn) if fp + tn else 0.0,
        "threshold": float(threshold),
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }
