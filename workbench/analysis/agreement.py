"""Agreement between two sets of judgments: on the documents (Cohen's kappa) and on the system rankings they
induce (Kendall's tau, and Yilmaz, Aslam and Robertson's tau-AP, which weighs swaps near the top more), each with a
percentile bootstrap interval over queries (seeded).

Pure NumPy/SciPy over arrays the caller built: no store, no scoring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workbench.errors import AnalysisError


@dataclass(frozen=True)
class Estimate:
    """A statistic with its percentile bootstrap interval (None where undefined, e.g. kappa when every
    judgment of both sets falls in one grade)."""

    value: float | None
    ci_low: float | None
    ci_high: float | None

    def to_dict(self) -> dict:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


MEAN_DECIMALS = 12
"""Decimals the systems' means are compared at: below them, two means differ only by the order of a float sum."""


def kappa_of_tables(tables: np.ndarray) -> np.ndarray:
    """Cohen's kappa of (..., K, K) contingency tables of counts: (p_o - p_e) / (1 - p_e); NaN where p_e = 1."""
    tables = np.asarray(tables, dtype=np.float64)
    n = tables.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        p_o = np.trace(tables, axis1=-2, axis2=-1) / n
        p_e = (tables.sum(axis=-1) * tables.sum(axis=-2)).sum(axis=-1) / n**2
        return np.where(p_e < 1, (p_o - p_e) / (1 - p_e), np.nan)


def tau_ap(scores: np.ndarray, truth: np.ndarray) -> float:
    """tau-AP of the ranking by `scores` (descending) against the ranking by `truth` (Yilmaz et al., SIGIR 2008):
    2 x the mean over items i of C(i)/A(i), minus 1, where A(i) counts the items ranked above i and C(i) those of
    them `truth` also ranks above i. Not symmetric. Without ties this is Yilmaz et al.'s formula exactly (the top
    item has nothing above it and is left out: 2/(N-1) x the sum over positions 2..N of C(i)/(i-1), minus 1).

    Ties, as Kendall's tau-b treats them: a pair tied in either ranking orders nothing and is left out of A(i) and
    C(i) (an item with no pair left is left out of the mean). So two rankings that agree, ties and all, give 1, as
    tau-b does; with a plain stable sort, tied systems took their names' order and tau-AP said something about
    the names. NaN when no pair is left, as when either ranking ties every system (scipy's tau is NaN then)."""
    scores, truth = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if len(scores) < 2:
        raise AnalysisError("tau-AP needs at least two systems")
    above = scores[None, :] > scores[:, None]  # [i, j]: j ranked above i
    ordered = above & (truth[None, :] != truth[:, None])
    pairs = ordered.sum(axis=1)
    correct = (above & (truth[None, :] > truth[:, None])).sum(axis=1)
    counted = pairs > 0
    if not counted.any():
        return math.nan
    return float(2.0 * np.mean(correct[counted] / pairs[counted]) - 1.0)


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (scipy's, which accounts for ties)."""
    from scipy.stats import kendalltau

    return float(kendalltau(x, y).statistic)


def resample_counts(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n) counts of each of n queries in each bootstrap resample of size n."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    offsets = (np.arange(n_resamples) * n)[:, None]
    return np.bincount((idx + offsets).ravel(), minlength=n_resamples * n).reshape(n_resamples, n)


def _interval(value: float, boot: np.ndarray, confidence: float) -> Estimate:
    boot = boot[np.isfinite(boot)]
    if not math.isfinite(value):
        return Estimate(None, None, None)
    if boot.size == 0:
        return Estimate(float(value), None, None)
    tail = (1.0 - confidence) / 2.0
    return Estimate(float(value), float(np.quantile(boot, tail)), float(np.quantile(boot, 1 - tail)))


def kappa_estimate(tables: np.ndarray, n_resamples: int, seed: int, confidence: float = 0.95) -> Estimate:
    """Kappa of per-query (Q, K, K) contingency tables summed, with queries resampled for the interval."""
    if len(tables) == 0:
        return Estimate(None, None, None)
    counts = resample_counts(len(tables), n_resamples, seed).astype(np.float64)
    flat = tables.reshape(len(tables), -1).astype(np.float64)
    boot = kappa_of_tables((counts @ flat).reshape(n_resamples, *tables.shape[1:]))
    return _interval(float(kappa_of_tables(tables.sum(axis=0))), boot, confidence)


def ranking_estimates(a: np.ndarray, in_a: np.ndarray, b: np.ndarray, in_b: np.ndarray, n_resamples: int,
                      seed: int, confidence: float = 0.95) -> tuple[Estimate, Estimate]:
    """(Kendall's tau, tau-AP of B's ranking against A's) of the systems' means under two qrels.

    `a`, `b`: systems x queries per-query values over the union of the two sets' queries; `in_a`, `in_b`: which of
    those queries each set judges (a system's mean under a set is over that set's queries, as its leaderboard's).
    Queries of the union are resampled together for the intervals. Means are rounded to `MEAN_DECIMALS` first:
    two systems with the same mean (P@10 of 341/540 each) come out of different sums a last bit apart, and tau-b
    must see them tied, as scipy does given the exact means."""
    def means(values: np.ndarray, mask: np.ndarray, counts: np.ndarray) -> np.ndarray:
        weights = counts * mask
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.round((values * mask) @ weights.T / weights.sum(axis=1), MEAN_DECIMALS)

    n_queries = a.shape[1]
    ones = np.ones((1, n_queries))
    mean_a, mean_b = means(a, in_a, ones)[:, 0], means(b, in_b, ones)[:, 0]
    counts = resample_counts(n_queries, n_resamples, seed).astype(np.float64)
    boot_a, boot_b = means(a, in_a, counts), means(b, in_b, counts)
    taus = np.array([kendall_tau(boot_a[:, i], boot_b[:, i]) for i in range(n_resamples)])
    taps = np.array([tau_ap(boot_b[:, i], boot_a[:, i]) for i in range(n_resamples)])
    return (_interval(kendall_tau(mean_a, mean_b), taus, confidence),
            _interval(tau_ap(mean_b, mean_a), taps, confidence))
