"""Paired significance tests, bootstrap CIs, effect sizes and multiple-comparison correction.

Everything works on aligned per-query vectors `a` (the run) and `b` (the baseline); the difference is
`d = a - b`, so a positive mean delta means the run beats the baseline. The tests are the ones IR papers use
(Smucker, Allan & Carterette, CIKM 2007; Sakai, *Statistical Reform in IR*, SIGIR Forum 2014):

* Student's paired t-test (scipy.stats.ttest_rel),
* Wilcoxon signed-rank (scipy.stats.wilcoxon, zeros discarded as in Wilcoxon 1945),
* the paired randomisation (sign-flip permutation) test on the mean difference, Monte Carlo with
  p = (hits + 1) / (n + 1) (Phipson & Smyth 2010, so p is never 0),
* the percentile bootstrap CI of the mean difference (Efron & Tibshirani 1993),
* Cohen's d_z = mean(d) / sd(d) as standardised effect.

Families of comparisons are corrected with Holm (default), Bonferroni or Benjamini-Hochberg. The t-test and
the corrections are computed here with scipy's and statsmodels' formulas (the tests hold them to those
libraries): importing scipy.stats and statsmodels costs about a second per command, so only the Wilcoxon test
imports scipy.stats. Resampling is seeded (numpy Generator) and each result records seed and n_resamples, so
a table can be reproduced exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from workbench.analysis.compare import _jsonable, aligned_matrix
from workbench.errors import AnalysisError

TestName = Literal["t", "wilcoxon", "randomisation"]
CorrectionName = Literal["holm", "bonferroni", "bh", "none"]

_TESTS = {
    "t": "t",
    "wilcoxon": "wilcoxon",
    "randomisation": "randomisation",
    "randomization": "randomisation",
}
_CORRECTIONS = {
    "holm": "holm",
    "bonferroni": "bonferroni",
    "bh": "fdr_bh",
    "fdr_bh": "fdr_bh",
    "none": "none",
}
# Resampling matrices are built in batches of ~64K cells: memory stays bounded and each batch's arrays stay in
# cache. For 7,000 queries x 1,000 resamples, 4M-cell batches took 0.08-0.34 s (the most inside a depth study)
# against 0.05 s. The draws are the same either way (one stream, consumed in order).
_BATCH_CELLS = 1 << 16


def _diffs(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> np.ndarray:
    va = np.asarray(a, dtype=np.float64)
    vb = np.asarray(b, dtype=np.float64)
    if va.ndim != 1 or va.shape != vb.shape:
        raise AnalysisError(f"paired vectors must be 1-d and equally long, got {va.shape} and {vb.shape}")
    if va.size < 2:
        raise AnalysisError(f"a paired test needs at least 2 queries, got {va.size}")
    if np.isnan(va).any() or np.isnan(vb).any():
        raise AnalysisError("paired vectors contain NaN; align them on common queries first")
    return va - vb


@dataclass(frozen=True)
class TestResult:
    """One paired test of a against b; seed/n_resamples are None for the deterministic tests."""

    __test__ = False  # not a pytest class

    test: str
    statistic: float
    p_value: float
    n_queries: int
    mean_delta: float
    seed: int | None = None
    n_resamples: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


def t_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> TestResult:
    """Two-sided paired Student's t-test. Identical vectors give p = 1 (scipy would return NaN)."""
    d = _diffs(a, b)
    if not d.any():
        return TestResult("t", 0.0, 1.0, d.size, 0.0)
    from scipy.special import stdtr  # Student's t CDF: what scipy.stats.ttest_rel evaluates

    n = d.size
    sd = d.std(ddof=1)
    if sd == 0:  # every query moved by the same amount: scipy reports an infinite statistic
        return TestResult("t", float(np.copysign(np.inf, d.mean())), 0.0, n, float(d.mean()))
    t = d.mean() / (sd / np.sqrt(n))
    return TestResult("t", float(t), float(2.0 * stdtr(n - 1, -abs(t))), n, float(d.mean()))


def wilcoxon_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> TestResult:
    """Two-sided Wilcoxon signed-rank test, zero differences discarded; all-zero differences give p = 1."""
    d = _diffs(a, b)
    if not d.any():
        return TestResult("wilcoxon", 0.0, 1.0, d.size, 0.0)
    from scipy import stats as sps

    res = sps.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return TestResult("wilcoxon", float(res.statistic), float(res.pvalue), d.size, float(d.mean()))


def randomisation_test(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> TestResult:
    """Paired randomisation test: flip the sign of each query's difference at random (Fisher 1935).

    Two-sided on |mean(d)|; p = (hits + 1) / (n_resamples + 1) where hits counts resamples at least as
    extreme as observed (with scipy's 1e-14 relative slack so float round-off does not drop exact ties).
    Vectorised: sign matrices of (batch x queries) times d.
    """
    d = _diffs(a, b)
    if n_resamples < 1:
        raise AnalysisError(f"n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    n = d.size
    observed = abs(d.mean())
    threshold = observed - abs(1e-14 * observed)
    hits = 0
    batch = max(1, _BATCH_CELLS // n)
    for start in range(0, n_resamples, batch):
        m = min(batch, n_resamples - start)
        signs = rng.integers(0, 2, size=(m, n), dtype=np.int8) * 2 - 1
        hits += int((np.abs(signs @ d) / n >= threshold).sum())
    p = (hits + 1) / (n_resamples + 1)
    return TestResult("randomisation", float(d.mean()), p, n, float(d.mean()), seed, n_resamples)


def bootstrap_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Bootstrap distribution of row means of a (rows x queries) matrix, resampling queries (columns).

    All rows share the same resamples (paired), so curves and differences stay comparable. Returns a
    (rows x n_resamples) array. Resamples are drawn as per-query count vectors so the means are one matmul.
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    n = values.shape[1]
    if n == 0:
        raise AnalysisError("cannot bootstrap over zero queries")
    rng = np.random.default_rng(seed)
    out = np.empty((values.shape[0], n_resamples))
    batch = max(1, _BATCH_CELLS // n)
    for start in range(0, n_resamples, batch):
        m = min(batch, n_resamples - start)
        idx = rng.integers(0, n, size=(m, n))
        counts = np.bincount((idx + (np.arange(m) * n)[:, None]).ravel(), minlength=m * n).reshape(m, n)
        # as float64: numpy multiplies float64 by int64 without BLAS, 10x slower for a few rows
        out[:, start : start + m] = values @ counts.T.astype(np.float64) / n
    return out


def percentile_interval(boot: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile CI bounds along the last axis."""
    tail = (1.0 - confidence) / 2.0
    return np.quantile(boot, tail, axis=-1), np.quantile(boot, 1.0 - tail, axis=-1)


@dataclass(frozen=True)
class ConfidenceInterval:
    """Percentile bootstrap CI of the mean of d = a - b."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    seed: int
    method: str = "percentile bootstrap"

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


def bootstrap_ci(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> ConfidenceInterval:
    """Percentile bootstrap CI of the mean per-query difference, resampling queries with replacement."""
    d = _diffs(a, b)
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence must be in (0, 1), got {confidence}")
    lo, hi = percentile_interval(bootstrap_means(d[None, :], n_resamples, seed)[0], confidence)
    return ConfidenceInterval(float(d.mean()), float(lo), float(hi), confidence, n_resamples, seed)


@dataclass(frozen=True)
class EffectSize:
    """Mean delta with its bootstrap CI, sd of the deltas and Cohen's d_z = mean / sd (NaN if sd = 0)."""

    mean_delta: float
    ci: ConfidenceInterval
    sd_delta: float
    standardised: float

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


def effect_size(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> EffectSize:
    """Effect of a over b: raw mean delta (with CI) and the standardised d_z (Cohen 1988; Sakai 2014)."""
    d = _diffs(a, b)
    sd, std = _standardised(d)
    ci = bootstrap_ci(a, b, confidence=confidence, n_resamples=n_resamples, seed=seed)
    return EffectSize(float(d.mean()), ci, sd, std)


def _standardised(d: np.ndarray) -> tuple[float, float]:
    """(sd of the deltas, Cohen's d_z = mean / sd; NaN when sd = 0)."""
    sd = float(d.std(ddof=1))
    return sd, float(d.mean() / sd) if sd > 0 else float("nan")


def paired_test(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    test: TestName = "t",
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> TestResult:
    """Dispatch to t_test / wilcoxon_test / randomisation_test by name."""
    name = _TESTS.get(test)
    if name is None:
        raise AnalysisError(f"unknown test {test!r}; choose one of t, wilcoxon, randomisation")
    if name == "t":
        return t_test(a, b)
    if name == "wilcoxon":
        return wilcoxon_test(a, b)
    return randomisation_test(a, b, n_resamples=n_resamples, seed=seed)


@dataclass(frozen=True)
class Adjustment:
    """p-values of one family of comparisons, adjusted together."""

    method: str
    alpha: float
    p_values: tuple[float, ...]
    p_adjusted: tuple[float, ...]
    reject: tuple[bool, ...]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


def adjust_pvalues(
    p_values: Sequence[float] | np.ndarray, method: CorrectionName = "holm", alpha: float = 0.05
) -> Adjustment:
    """Holm (1979) step-down, Bonferroni, or Benjamini-Hochberg (1995) FDR (statsmodels' multipletests' formulas)."""
    key = _CORRECTIONS.get(method)
    if key is None:
        raise AnalysisError(f"unknown correction {method!r}; choose one of holm, bonferroni, bh, none")
    if not 0 < alpha < 1:
        raise AnalysisError(f"alpha must be in (0, 1), got {alpha}")
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return Adjustment(method, alpha, (), (), ())
    if np.isnan(p).any():
        raise AnalysisError("cannot correct NaN p-values")
    if key == "none":
        adj, rej = p, p <= alpha
    else:
        adj, rej = _multipletests(p, alpha, key)
    return Adjustment(
        method, alpha, tuple(float(x) for x in p), tuple(float(x) for x in adj), tuple(bool(x) for x in rej)
    )


def _multipletests(p: np.ndarray, alpha: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(adjusted p, reject) for holm, bonferroni or fdr_bh, in the input order."""
    n = p.size
    order = np.argsort(p)
    ps = p[order]
    if method == "bonferroni":
        adj, rej = ps * float(n), ps <= alpha / float(n)
    elif method == "holm":  # step-down: reject until the first p above alpha / (n - i)
        steps = np.arange(n, 0, -1)
        above = np.flatnonzero(ps > alpha / steps)
        rej = np.arange(n) < (above[0] if above.size else n)
        adj = np.maximum.accumulate(ps * steps)
    else:  # fdr_bh, step-up: reject up to the last p below alpha * i / n
        ecdf = np.arange(1, n + 1) / float(n)
        below = np.flatnonzero(ps <= ecdf * alpha)
        rej = np.arange(n) <= (below[-1] if below.size else -1)
        adj = np.minimum.accumulate((ps / ecdf)[::-1])[::-1]
    adj = np.minimum(adj, 1.0)
    out_adj, out_rej = np.empty_like(adj), np.empty_like(rej)
    out_adj[order], out_rej[order] = adj, rej
    return out_adj, out_rej


@dataclass(frozen=True)
class SignificanceRow:
    """run vs baseline on one measure; delta = run - baseline over their common queries."""

    baseline: str
    run: str
    measure: str
    n_queries: int
    mean_baseline: float
    mean_run: float
    mean_delta: float
    ci_low: float
    ci_high: float
    standardised_effect: float
    statistic: float
    p_value: float
    p_adjusted: float
    significant: bool


@dataclass(frozen=True)
class SignificanceTable:
    """All (baseline, run, measure) comparisons of one table, corrected together as one family."""

    rows: tuple[SignificanceRow, ...]
    test: str
    correction: str
    alpha: float
    confidence: float
    seed: int
    n_resamples: int

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)

    def to_frame(self) -> pd.DataFrame:
        cols = list(SignificanceRow.__dataclass_fields__)
        return pd.DataFrame([_jsonable(r) for r in self.rows], columns=cols).astype(
            {"p_value": float, "p_adjusted": float, "ci_low": float, "ci_high": float}
        )

    def row(self, baseline: str, run: str, measure: str) -> SignificanceRow:
        for r in self.rows:
            if (r.baseline, r.run, r.measure) == (baseline, run, measure):
                return r
        raise AnalysisError(f"no comparison of {run!r} against {baseline!r} on {measure!r} in this table")


def _bootstrap_cis(diffs: list[np.ndarray], confidence: float, n_resamples: int,
                   seed: int) -> list[tuple[float, float]]:
    """bootstrap_ci's (low, high) for each difference vector, one resampling pass per vector length.

    A fresh Generator(seed) draws the same resamples for every vector of one length, so stacking those
    vectors gives each the CI it would get alone, at the cost of one: at 7,000 queries x 10,000 resamples the
    draws, not the means, are the work.
    """
    out: list[tuple[float, float]] = [(float("nan"), float("nan"))] * len(diffs)
    by_n: dict[int, list[int]] = {}
    for i, d in enumerate(diffs):
        by_n.setdefault(d.size, []).append(i)
    for idx in by_n.values():
        lo, hi = percentile_interval(bootstrap_means(np.vstack([diffs[i] for i in idx]), n_resamples, seed),
                                     confidence)
        for j, i in enumerate(idx):
            out[i] = (float(lo[j]), float(hi[j]))
    return out


def significance_table(
    scores: pd.DataFrame | None,
    baselines: Sequence[str],
    runs: Sequence[str],
    measures: Sequence[str],
    *,
    test: TestName = "t",
    correction: CorrectionName = "holm",
    alpha: float = 0.05,
    seed: int = 0,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    delta_ci: bool = True,
    matrices: Sequence[np.ndarray] | None = None,
) -> SignificanceTable:
    """Every run against every baseline on every measure, one family for the multiple-comparison correction.

    Each comparison uses the queries both runs have, a fresh Generator(seed) (so a row's p-value and CI do
    not depend on which other rows are in the table), and a `confidence` percentile bootstrap CI of the mean
    delta (not adjusted for multiplicity; `delta_ci=False` leaves it NaN for callers that show only p-values,
    as it is most of the cost at thousands of queries). A run is never compared with itself.
    `matrices`: the values already aligned instead of `scores` (then None), for callers that hold per-query values
    as arrays (a depth curve): per measure, queries x runs in the order of dict.fromkeys([*baselines, *runs]),
    NaN where a run has no value.
    """
    if isinstance(measures, str) or isinstance(runs, str) or isinstance(baselines, str):
        raise AnalysisError("baselines, runs and measures must be lists of names, not a single string")
    if _TESTS.get(test) is None:
        raise AnalysisError(f"unknown test {test!r}; choose one of t, wilcoxon, randomisation")
    if _CORRECTIONS.get(correction) is None:
        raise AnalysisError(f"unknown correction {correction!r}; choose one of holm, bonferroni, bh, none")
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence must be in (0, 1), got {confidence}")
    names = list(dict.fromkeys([*baselines, *runs]))
    if matrices is None:
        matrices = [aligned_matrix(scores, names, measure)[1] for measure in measures]
    elif len(matrices) != len(measures) or any(m.shape[1:] != (len(names),) for m in matrices):
        raise AnalysisError(f"need one queries x {len(names)} matrix per measure ({len(measures)})")
    pending: list[dict[str, Any]] = []
    diffs: list[np.ndarray] = []
    col = {name: i for i, name in enumerate(names)}
    for measure, mat in zip(measures, matrices, strict=True):
        for base in baselines:
            for run in runs:
                if run == base:
                    continue
                vb, va = mat[:, col[base]], mat[:, col[run]]
                keep = ~(np.isnan(va) | np.isnan(vb))
                if keep.sum() < 2:
                    raise AnalysisError(
                        f"{run!r} and {base!r} share {int(keep.sum())} queries on {measure!r}; need >= 2"
                    )
                a, b = va[keep], vb[keep]
                res = paired_test(a, b, test, n_resamples=n_resamples, seed=seed)
                d = _diffs(a, b)
                diffs.append(d)
                pending.append(
                    dict(
                        baseline=base,
                        run=run,
                        measure=measure,
                        n_queries=int(keep.sum()),
                        mean_baseline=float(b.mean()),
                        mean_run=float(a.mean()),
                        mean_delta=float(d.mean()),
                        standardised_effect=_standardised(d)[1],
                        statistic=res.statistic,
                        p_value=res.p_value,
                    )
                )
    nan = (float("nan"), float("nan"))
    cis = _bootstrap_cis(diffs, confidence, n_resamples, seed) if delta_ci else [nan] * len(diffs)
    for r, (lo, hi) in zip(pending, cis, strict=True):
        r.update(ci_low=lo, ci_high=hi)
    adj = adjust_pvalues([r["p_value"] for r in pending], correction, alpha)
    rows = tuple(
        SignificanceRow(**r, p_adjusted=pa_, significant=rej)
        for r, pa_, rej in zip(pending, adj.p_adjusted, adj.reject, strict=True)
    )
    return SignificanceTable(rows, _TESTS[test], correction, alpha, confidence, seed, n_resamples)
