"""The statistics of a paired comparison of two runs (``evalkit.report.compare``): a percentile
bootstrap interval of the mean paired difference, a paired test, and the smallest p-value that
test can reach with n pairs (below which it cannot decide anything)."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats


def bootstrap_ci(diffs: np.ndarray, *, resamples: int = 10_000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile CI of the mean of paired differences, resampling pairs with replacement."""
    d = np.asarray(diffs, dtype=float)
    if d.size == 0:
        return math.nan, math.nan
    if np.all(d == d[0]):
        return float(d[0]), float(d[0])
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // d.size)  # bound memory: chunk × n indices at a time
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, d.size, size=(stop - start, d.size))
        means[start:stop] = d[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)


def paired_test(diffs: np.ndarray, test: str = "wilcoxon") -> float:
    """Two-sided p-value that the paired differences are centred on zero (1.0 when all are 0)."""
    d = np.asarray(diffs, dtype=float)
    if d.size < 2 or np.all(d == 0):
        return 1.0
    if test == "t":
        if np.all(d == d[0]):
            return 0.0
        return float(stats.ttest_1samp(d, 0.0).pvalue)
    return float(stats.wilcoxon(d, zero_method="wilcox").pvalue)


def smallest_p(n: int, test: str) -> float:
    """The smallest two-sided p-value the test can give with ``n`` pairs: 2/2^n for the exact
    Wilcoxon signed-rank test (every difference of one sign, no ties), 0 for a paired t-test
    with n ≥ 2 (its p goes to 0 as the spread does), 1 with fewer."""
    if n < 2:
        return 1.0
    return 2.0 / 2.0 ** n if test == "wilcoxon" else 0.0
