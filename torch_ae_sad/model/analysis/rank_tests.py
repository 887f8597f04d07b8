"""Rank tests of paired results: Wilcoxon signed-rank with Holm, Friedman, Nemenyi.

The statistics of :mod:`~torch_ae_sad.model.analysis.significance` and of the significance
marks of :mod:`~torch_ae_sad.model.analysis.tables`; this module reads no records and draws
nothing. Every test is a maintained library's:

- :func:`wilcoxon_pair`: :func:`scipy.stats.wilcoxon`, two-sided, zero differences dropped
  (``zero_method="wilcox"``), exact for small samples without ties;
- :func:`holm`: :func:`statsmodels.stats.multitest.multipletests` with ``method="holm"``;
- :func:`friedman`: :func:`scipy.stats.friedmanchisquare` (three or more treatments);
- :func:`nemenyi`: :func:`scikit_posthocs.posthoc_nemenyi_friedman`;
- :func:`critical_difference`: Demšar's (2006) critical difference of the Nemenyi test,
  ``q_alpha * sqrt(k (k + 1) / (6 N))``, ``q_alpha`` from
  :data:`scipy.stats.studentized_range` over ``sqrt(2)``.

Values are "higher is better" (AUROC, AUPR, F1): rank 1 is the best.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import scikit_posthocs
from scipy import stats
from statsmodels.stats.multitest import multipletests

if TYPE_CHECKING:
    import pandas as pd

#: The fewest pairs with which a two-sided exact Wilcoxon test can reach p < 0.05
#: (its smallest p-value is ``2 / 2**n``: 0.0625 for 5 pairs, 0.031 for 6).
MIN_PAIRS = 6


@dataclass(frozen=True)
class PairTest:
    """A two-sided Wilcoxon signed-rank test of ``first`` against ``second``.

    Attributes
    ----------
    first, second : str
        The two treatments; differences are ``first - second``.
    n : int
        Number of pairs (blocks).
    mean_diff : float
        Mean of the differences.
    first_better, second_better : int
        Pairs in which ``first`` (``second``) has the higher value; the rest are ties.
    statistic : float or None
        Wilcoxon's statistic (None when every difference is zero).
    p : float
        The p-value (1 when every difference is zero).
    p_holm : float
        The p-value adjusted by Holm's method over the family of tests it was run in.
    significant : bool
        Whether ``p_holm < alpha``.
    """

    first: str
    second: str
    n: int
    mean_diff: float
    first_better: int
    second_better: int
    statistic: float | None
    p: float
    p_holm: float = math.nan
    significant: bool = False


def wilcoxon_pair(first: Sequence[float], second: Sequence[float]) -> tuple[float | None, float]:
    """``(statistic, p)`` of the two-sided Wilcoxon signed-rank test of paired values.

    Every difference zero (the same values) gives ``(None, 1.0)``: nothing differs.
    """
    diff = np.asarray(first, dtype=float) - np.asarray(second, dtype=float)
    if not np.any(diff != 0):
        return None, 1.0
    result = stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def holm(pvalues: Sequence[float], alpha: float) -> tuple[list[float], list[bool]]:
    """Holm-adjusted p-values of a family of tests and whether each is below ``alpha``."""
    if not len(pvalues):
        return [], []
    reject, adjusted, _, _ = multipletests(list(pvalues), alpha=alpha, method="holm")
    return [float(p) for p in adjusted], [bool(r) for r in reject]


def paired_tests(samples: Sequence[tuple[str, str, Sequence[float], Sequence[float]]],
                 alpha: float) -> list[PairTest]:
    """Wilcoxon tests of paired samples, Holm-adjusted over all of them (one family).

    Parameters
    ----------
    samples : sequence of (str, str, values, values)
        ``(first, second, first's values, second's values)``, the values paired by position
        (one per block).
    alpha : float
        Significance level of the adjusted p-values.
    """
    tests = []
    for first, second, x, y in samples:
        a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        statistic, p = wilcoxon_pair(a, b)
        tests.append(PairTest(first, second, len(a), float(np.mean(a - b)), int(np.sum(a > b)),
                              int(np.sum(a < b)), statistic, p))
    adjusted, reject = holm([t.p for t in tests], alpha)
    return [replace(t, p_holm=p, significant=r)
            for t, p, r in zip(tests, adjusted, reject, strict=True)]


def all_pairs(treatments: Sequence[str], control: str | None = None) -> list[tuple[str, str]]:
    """Every pair of ``treatments`` (later one first), or each one against ``control``."""
    if control is not None:
        return [(t, control) for t in treatments if t != control]
    return [(b, a) for a, b in itertools.combinations(treatments, 2)]


def friedman(matrix: np.ndarray) -> tuple[float, float] | None:
    """``(statistic, p)`` of Friedman's test on a blocks x treatments matrix.

    None for fewer than three treatments (scipy's test needs three; with two, the Wilcoxon
    test of the pair is the test).
    """
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape[1] < 3:
        return None
    if np.all(matrix == matrix[:, :1]):  # every treatment equal in every block: no evidence
        return 0.0, 1.0
    result = stats.friedmanchisquare(*matrix.T)
    return float(result.statistic), float(result.pvalue)


def average_ranks(matrix: np.ndarray) -> np.ndarray:
    """Mean rank of each treatment over the blocks (1 = the highest value; ties averaged)."""
    ranks = stats.rankdata(-np.asarray(matrix, dtype=float), axis=1)
    return ranks.mean(axis=0)


def nemenyi(matrix: np.ndarray, labels: Sequence[str]) -> pd.DataFrame:
    """Nemenyi's post-hoc p-values after Friedman's test: a ``labels`` x ``labels`` DataFrame."""
    table = scikit_posthocs.posthoc_nemenyi_friedman(np.asarray(matrix, dtype=float))
    table.index = list(labels)
    table.columns = list(labels)
    return table.fillna(1.0)


def critical_difference(k: int, n: int, alpha: float) -> float:
    """Demšar's critical difference of average ranks for ``k`` treatments over ``n`` blocks."""
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6.0 * n)))


__all__ = ["MIN_PAIRS", "PairTest", "all_pairs", "average_ranks", "critical_difference",
           "friedman", "holm", "nemenyi", "paired_tests", "wilcoxon_pair"]
