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

One definition of the defaults serves the CLI, the dashboard and the exports: DEFAULT_PERMUTATIONS and
DEFAULT_BOOTSTRAP, and `significance_legend` for the sentence that states test, samples, correction and alpha
(and says so when the test's resolution makes every comparison non-significant, see `can_be_significant`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from workbench.analysis.compare import aligned_matrix, jsonable
from workbench.errors import AnalysisError
from workbench.export.formats import DEFAULT_BOOTSTRAP, DEFAULT_PERMUTATIONS

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

TEST_TITLES = {"t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test",
               "randomisation": "paired randomisation test"}
CORRECTION_TITLES = {"holm": "Holm", "bonferroni": "Bonferroni", "fdr_bh": "Benjamini-Hochberg"}


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
        return jsonable(self)


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
    n_resamples: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
) -> TestResult:
    """Paired randomisation test: flip the sign of each query's difference at random (Fisher 1935).

    Two-sided on |mean(d)|; p = (hits + 1) / (n_resamples + 1) where hits counts resamples at least as
    extreme as observed (with scipy's 1e-14 relative slack so float round-off does not drop exact ties).
    """
    d = _diffs(a, b)
    (p,) = _randomisation_pvalues([d], n_resamples, seed)
    return TestResult("randomisation", float(d.mean()), p, d.size, float(d.mean()), seed, n_resamples)


def _by_length(vectors: Sequence[np.ndarray]) -> dict[int, list[int]]:
    """Indices of `vectors` grouped by length: vectors of one length share one draw of resamples."""
    out: dict[int, list[int]] = {}
    for i, v in enumerate(vectors):
        out.setdefault(v.size, []).append(i)
    return out


def _randomisation_pvalues(diffs: Sequence[np.ndarray], n_resamples: int, seed: int) -> list[float]:
    """randomisation_test's p for each difference vector, one draw of sign matrices per vector length.

    A fresh Generator(seed) draws the same signs for every vector of one length, so stacking those vectors as
    columns gives each the p it would get alone, at the cost of one draw: at 7,000 queries x 10,000
    permutations the draws are the work (0.1 s a vector alone), the product with the stacked columns is not.
    """
    if n_resamples < 1:
        raise AnalysisError(f"n_resamples must be >= 1, got {n_resamples}")
    out = [float("nan")] * len(diffs)
    for n, idx in _by_length(diffs).items():
        cols = np.column_stack([diffs[i] for i in idx])  # queries x vectors
        observed = np.abs([diffs[i].mean() for i in idx])
        threshold = observed - np.abs(1e-14 * observed)
        hits = np.zeros(len(idx), dtype=np.int64)
        rng = np.random.default_rng(seed)
        batch = max(1, _BATCH_CELLS // n)
        for start in range(0, n_resamples, batch):
            m = min(batch, n_resamples - start)
            signs = rng.integers(0, 2, size=(m, n), dtype=np.int8) * 2 - 1
            # as float64: numpy multiplies int8 by float64 without BLAS
            hits += (np.abs(signs.astype(np.float64) @ cols) / n >= threshold).sum(axis=0)
        for j, i in enumerate(idx):
            out[i] = float((hits[j] + 1) / (n_resamples + 1))
    return out


def bootstrap_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Bootstrap distribution of row means of a (rows x queries) matrix, resampling queries (columns).

    All rows share the same resamples (paired), so curves and differences stay comparable. Returns a
    (rows x n_resamples) array. Resamples are drawn as per-query count vectors so the means are one matmul.
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    n = values.shape[1]
    if n == 0:
        raise AnalysisError("cannot bootstrap over zero queries")
    if n_resamples < 1:
        raise AnalysisError(f"n_resamples must be >= 1, got {n_resamples}")
    out = np.empty((values.shape[0], n_resamples))
    batches = (_stored_counts(n, n_resamples, seed) if n * n_resamples <= _STORED_CELLS
               else _count_batches(n, n_resamples, seed))
    for start, counts in batches:
        # as float64: numpy multiplies float64 by integers without BLAS, 10x slower for a few rows
        out[:, start : start + counts.shape[0]] = values @ counts.T.astype(np.float64) / n
    return out


# The draws, not the means, are most of a bootstrap's cost (0.25 s of 7,000 queries x 10,000 samples here), and
# they depend on (queries, samples, seed) alone: a process keeps the last two draws' counts (uint8, at most
# 100 MB each), so a dashboard's later views over the same queries (leaderboard bars, depth curve, deltas)
# pay only their products.
_STORED_CELLS = 100_000_000


def _count_batches(n: int, n_resamples: int, seed: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first resample, resamples x queries counts) in batches of ~_BATCH_CELLS, from one Generator(seed)."""
    rng = np.random.default_rng(seed)
    batch = max(1, _BATCH_CELLS // n)
    for start in range(0, n_resamples, batch):
        m = min(batch, n_resamples - start)
        idx = rng.integers(0, n, size=(m, n))
        yield start, np.bincount((idx + (np.arange(m) * n)[:, None]).ravel(), minlength=m * n).reshape(m, n)


@functools.lru_cache(maxsize=2)
def _stored_counts(n: int, n_resamples: int, seed: int) -> tuple[tuple[int, np.ndarray], ...]:
    """_count_batches, kept (read-only; uint8 unless a query is drawn 256 times in one resample)."""
    out = []
    for start, counts in _count_batches(n, n_resamples, seed):
        counts = counts.astype(np.uint8) if counts.max() < 256 else counts
        counts.flags.writeable = False
        out.append((start, counts))
    return tuple(out)


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
        return jsonable(self)


def bootstrap_ci(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_BOOTSTRAP,
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
        return jsonable(self)


def effect_size(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_BOOTSTRAP,
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
    test: TestName | str = "t",  # str: a user's choice, checked below
    *,
    n_resamples: int = DEFAULT_PERMUTATIONS,
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
        return jsonable(self)


def adjust_pvalues(
    p_values: Sequence[float] | np.ndarray, method: CorrectionName | str = "holm", alpha: float = 0.05
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
        return jsonable(self)

    def to_frame(self) -> pd.DataFrame:
        cols = list(SignificanceRow.__dataclass_fields__)
        return pd.DataFrame([jsonable(r) for r in self.rows], columns=cols).astype(
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
    for idx in _by_length(diffs).values():
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
    test: TestName | str = "t",  # str: a user's choice, checked below
    correction: CorrectionName | str = "holm",
    alpha: float = 0.05,
    seed: int = 0,
    n_resamples: int = DEFAULT_PERMUTATIONS,
    confidence: float = 0.95,
    delta_ci: bool = True,
    matrices: Sequence[np.ndarray] | None = None,
) -> SignificanceTable:
    """Every run against every baseline on every measure, one family for the multiple-comparison correction.

    Each comparison uses the queries both runs have, a fresh Generator(seed) (so a row's p-value and CI do
    not depend on which other rows are in the table; `n_resamples` permutations and bootstrap samples, drawn
    once per query count for all rows), and a `confidence` percentile bootstrap CI of the mean
    delta (not adjusted for multiplicity; `delta_ci=False` leaves it NaN for callers that show only p-values,
    as it is most of the cost at thousands of queries). A run is never compared with itself.
    `matrices`: the values already aligned instead of `scores` (then None), for callers that hold per-query values
    as arrays (a depth curve): per measure, queries x runs in the order of dict.fromkeys([*baselines, *runs]),
    NaN where a run has no value.
    """
    _check_table_args(baselines, runs, measures, test, correction, confidence)
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
                row, d = _paired_row(measure, base, run, mat[:, col[base]], mat[:, col[run]], test)
                diffs.append(d)
                pending.append(row)
    if _TESTS[test] == "randomisation":
        for r, p in zip(pending, _randomisation_pvalues(diffs, n_resamples, seed), strict=True):
            r["p_value"] = p
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


def _check_table_args(baselines: Sequence[str], runs: Sequence[str], measures: Sequence[str], test: str,
                      correction: str, confidence: float) -> None:
    if isinstance(measures, str) or isinstance(runs, str) or isinstance(baselines, str):
        raise AnalysisError("baselines, runs and measures must be lists of names, not a single string")
    if _TESTS.get(test) is None:
        raise AnalysisError(f"unknown test {test!r}; choose one of t, wilcoxon, randomisation")
    if _CORRECTIONS.get(correction) is None:
        raise AnalysisError(f"unknown correction {correction!r}; choose one of holm, bonferroni, bh, none")
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence must be in (0, 1), got {confidence}")


def _paired_row(measure: str, base: str, run: str, vb: np.ndarray, va: np.ndarray,
                test: str) -> tuple[dict[str, Any], np.ndarray]:
    """One comparison's row (without its CI and corrected p) and its per-query differences, on the queries both
    runs have."""
    keep = ~(np.isnan(va) | np.isnan(vb))
    if keep.sum() < 2:
        raise AnalysisError(
            f"{run!r} and {base!r} share {int(keep.sum())} queries on {measure!r}; need >= 2"
        )
    a, b = va[keep], vb[keep]
    d = _diffs(a, b)
    # the randomisation test's p-values are drawn by the caller, for all rows at once
    res = paired_test(a, b, test) if _TESTS[test] != "randomisation" else None
    row = dict(
        baseline=base,
        run=run,
        measure=measure,
        n_queries=int(keep.sum()),
        mean_baseline=float(b.mean()),
        mean_run=float(a.mean()),
        mean_delta=float(d.mean()),
        standardised_effect=_standardised(d)[1],
        statistic=float(d.mean()) if res is None else res.statistic,
        p_value=float("nan") if res is None else res.p_value,
    )
    return row, d


def _smallest_p(test: str, n_resamples: int | None) -> float:
    """The smallest p-value `test` can give: 1/(n_resamples + 1) for the randomisation test, else 0 (the t-test's
    and Wilcoxon's p have no floor worth a warning at the query counts of IR test collections)."""
    name = _TESTS.get(test)
    if name is None:
        raise AnalysisError(f"unknown test {test!r}; choose one of t, wilcoxon, randomisation")
    if name != "randomisation":
        return 0.0
    if n_resamples is None or isinstance(n_resamples, bool) or int(n_resamples) != n_resamples or n_resamples < 1:
        raise AnalysisError(f"the randomisation test needs a number of permutations >= 1, got {n_resamples!r}")
    return 1.0 / (int(n_resamples) + 1)


def _rejects_at(p: float, n_comparisons: int, alpha: float, correction: str) -> bool:
    """Whether the correction rejects a comparison at p when all `n_comparisons` are at p (its best case: Holm
    and Bonferroni then need p <= alpha/m, Benjamini-Hochberg and no correction p <= alpha)."""
    key = _CORRECTIONS[correction]
    if key in ("holm", "bonferroni"):
        return p <= alpha / float(n_comparisons)  # the comparison adjust_pvalues makes for the smallest p
    return p <= alpha


def _check_family(correction: str, alpha: float, n_comparisons: int) -> None:
    if _CORRECTIONS.get(correction) is None:
        raise AnalysisError(f"unknown correction {correction!r}; choose one of holm, bonferroni, bh, none")
    if not 0 < alpha < 1:
        raise AnalysisError(f"alpha must be in (0, 1), got {alpha}")
    if isinstance(n_comparisons, bool) or int(n_comparisons) != n_comparisons or n_comparisons < 0:
        raise AnalysisError(f"n_comparisons must be a whole number >= 0, got {n_comparisons!r}")


def can_be_significant(test: str, n_resamples: int | None, n_comparisons: int, alpha: float,
                       correction: str) -> bool:
    """False when the test's resolution alone makes every comparison of the family non-significant.

    The randomisation test's smallest p is 1/(n_resamples + 1). Holm and Bonferroni reject nothing unless that
    is <= alpha / n_comparisons (1,000 permutations over 138 comparisons: 0.000999 > 0.000362). Benjamini-
    Hochberg can reject when enough comparisons reach the smallest p, so it is impossible only when that p
    exceeds alpha itself, as without correction. A family of 0 comparisons has nothing to warn about (True).
    """
    p = _smallest_p(test, n_resamples)
    _check_family(correction, alpha, n_comparisons)
    return p == 0.0 or n_comparisons == 0 or _rejects_at(p, int(n_comparisons), alpha, correction)


def _least_resamples(n_comparisons: int, alpha: float, correction: str) -> int:
    """The fewest permutations with which a comparison can be significant on its own (p at the floor)."""
    need = alpha / n_comparisons if _CORRECTIONS[correction] in ("holm", "bonferroni") else alpha
    r = max(1, int(np.ceil(1.0 / need)) - 1)
    while not _rejects_at(1.0 / (r + 1), n_comparisons, alpha, correction):
        r += 1
    while r > 1 and _rejects_at(1.0 / r, n_comparisons, alpha, correction):
        r -= 1
    return r


def significance_legend(test: str, n_resamples: int | None, correction: str, alpha: float,
                        n_comparisons: int) -> str:
    """The sentence every table and page shows under its marks: test, samples, correction, alpha, family size.

    `n_resamples` is the randomisation test's number of permutations (ignored by the other tests). Where the
    test cannot reach significance with that many permutations (`can_be_significant`), the sentence says so and
    how many it would take; with Benjamini-Hochberg it says how many comparisons must reach the smallest p.
    """
    p_min = _smallest_p(test, n_resamples)
    _check_family(correction, alpha, n_comparisons)
    name = TEST_TITLES[_TESTS[test]]
    if p_min > 0:
        name += f" ({n_resamples:,} permutations)"
    key, m = _CORRECTIONS[correction], int(n_comparisons)
    family = f"{m:,} comparison{'s' if m != 1 else ''}"
    corrected = f"no correction ({family})" if key == "none" else f"{CORRECTION_TITLES[key]} correction over {family}"
    text = f"{name[0].upper()}{name[1:]}, {corrected}, alpha={alpha:g}."
    if p_min == 0 or m == 0:
        return text
    assert n_resamples is not None  # p_min > 0: the randomisation test, whose count _smallest_p checked
    floor = f"with {n_resamples:,} permutations the smallest p-value is 1/{n_resamples + 1:,}"
    least = _least_resamples(m, alpha, correction)
    if not _rejects_at(p_min, m, alpha, correction):
        if key in ("holm", "bonferroni"):
            return (f"{text} No comparison can be significant: {floor}, and {CORRECTION_TITLES[key]} over {family} "
                    f"needs a p-value of at most alpha/{m:,} = {alpha / m:.3g}; use at least {least:,} permutations.")
        return (f"{text} No comparison can be significant: {floor}, above alpha; use at least {least:,} "
                "permutations.")
    if key == "fdr_bh" and p_min * m > alpha:
        k = int(np.ceil(p_min * m / alpha))
        while not p_min <= alpha * k / m:  # the step-up's own comparison at rank k
            k += 1
        return (f"{text} A comparison can be significant only if at least {k:,} of the {family} reach the "
                f"smallest p-value {n_resamples:,} permutations can give (1/{n_resamples + 1:,}); with "
                f"{_least_resamples(m, alpha, 'bonferroni'):,} permutations one alone can.")
    return text
