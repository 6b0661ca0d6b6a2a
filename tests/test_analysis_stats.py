"""Paired tests, CIs and correction checked against scipy/statsmodels on real DL 2020 per-query nDCG@10."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from workbench.analysis import (
    adjust_pvalues,
    bootstrap_ci,
    effect_size,
    randomisation_test,
    significance_table,
    t_test,
    wilcoxon_test,
)
from workbench.errors import AnalysisError
from workbench.io.qrels import read_qrels
from workbench.io.runs import read_run
from workbench.scoring import evaluate

ROOT = Path(__file__).resolve().parents[1]
RUNS = ["bm25", "bm25__rankvicuna-7b@20", "bm25__rankvicuna-7b@100", "tasb", "tasb__rankvicuna-7b@20"]


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    qrels = read_qrels(ROOT / "data/trec-dl-2020/qrels.dl20-passage.txt")
    frames = []
    for name in RUNS:
        run = read_run(ROOT / f"runs/dl20/{name}.trec").table
        s = evaluate(run.select(["query_id", "doc_id", "score"]), qrels, ["nDCG@10", "AP(rel=2)"]).to_pandas()
        frames.append(s.assign(run=name))
    return pd.concat(frames, ignore_index=True)[["run", "query_id", "measure", "value"]]


def _pair(scores, a, b, measure="nDCG@10"):
    w = scores[scores["measure"] == measure].pivot(index="query_id", columns="run", values="value")
    return w[a].to_numpy(), w[b].to_numpy()


def test_t_test_equals_scipy(scores):
    a, b = _pair(scores, "bm25__rankvicuna-7b@20", "bm25")
    res = t_test(a, b)
    ref = sps.ttest_rel(a, b)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12) and res.statistic == pytest.approx(ref.statistic,
                                                                                                  rel=1e-12)
    assert res.n_queries == 54 and res.p_value < 1e-3


def test_randomisation_agrees_with_scipy_permutation_test(scores):
    a, b = _pair(scores, "bm25__rankvicuna-7b@100", "tasb")  # close systems: p well inside (0, 1)
    res = randomisation_test(a, b, n_resamples=20_000, seed=1)
    ref = sps.permutation_test(
        (a, b), lambda x, y, axis: np.mean(x - y, axis=axis), permutation_type="samples",
        n_resamples=20_000, vectorized=True, alternative="two-sided", random_state=2,
    )  # fmt: skip
    assert 0.02 < ref.pvalue < 0.98
    se = np.sqrt(ref.pvalue * (1 - ref.pvalue) / 20_000)
    assert abs(res.p_value - ref.pvalue) < 5 * se + 1e-3
    assert (res.seed, res.n_resamples) == (1, 20_000)
    assert randomisation_test(a, b, seed=7).p_value == randomisation_test(a, b, seed=7).p_value  # seeded


def test_randomisation_p_floor_and_identical_runs():
    a = np.linspace(0.5, 1.0, 30)
    assert randomisation_test(a, a - 0.2, n_resamples=999).p_value == pytest.approx(1 / 1000)
    assert randomisation_test(a, a).p_value == 1.0


def test_wilcoxon(scores):
    a, b = _pair(scores, "bm25__rankvicuna-7b@100", "bm25")
    assert wilcoxon_test(a, b).p_value == sps.wilcoxon(a - b).pvalue
    same = wilcoxon_test(a, a)
    assert same.p_value == 1.0 and same.statistic == 0.0


def test_bootstrap_ci_close_to_scipy(scores):
    a, b = _pair(scores, "bm25__rankvicuna-7b@100", "bm25")
    ci = bootstrap_ci(a, b, n_resamples=10_000, seed=3)
    ref = sps.bootstrap((a - b,), np.mean, n_resamples=10_000, method="percentile", random_state=4)
    assert ci.low == pytest.approx(ref.confidence_interval.low, abs=0.01)
    assert ci.high == pytest.approx(ref.confidence_interval.high, abs=0.01)
    assert ci.low < ci.estimate < ci.high and ci.estimate == pytest.approx((a - b).mean())
    eff = effect_size(a, b)
    assert eff.standardised == pytest.approx((a - b).mean() / (a - b).std(ddof=1))


def test_holm_equals_statsmodels():
    p = [0.01, 0.04, 0.03, 0.2, 0.001]
    adj = adjust_pvalues(p, "holm", 0.05)
    rej, ref, _, _ = multipletests(p, alpha=0.05, method="holm")
    assert adj.p_adjusted == tuple(ref) and adj.reject == tuple(rej)
    assert adjust_pvalues(p, "bh").p_adjusted == tuple(multipletests(p, method="fdr_bh")[1])
    with pytest.raises(AnalysisError):
        adjust_pvalues(p, "sidak-ish")


@pytest.mark.parametrize("seed", range(20))
def test_corrections_equal_statsmodels_on_random_families(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    p = rng.uniform(0, 0.2, n) ** rng.uniform(0.5, 3)  # many small p, some ties below
    p[rng.integers(0, n, n // 4)] = p[0]
    for ours, theirs in (("holm", "holm"), ("bonferroni", "bonferroni"), ("bh", "fdr_bh")):
        adj = adjust_pvalues(p, ours, 0.05)
        rej, ref, _, _ = multipletests(p, alpha=0.05, method=theirs)
        assert adj.p_adjusted == tuple(ref) and adj.reject == tuple(rej), (ours, p)


def test_t_test_with_constant_difference_matches_scipy():
    a, b = np.array([0.5, 0.7, 0.9]), np.array([0.4, 0.6, 0.8])
    ref = sps.ttest_rel(a + 1, a)
    res = t_test(a + 1, a)
    assert (res.statistic, res.p_value) == (ref.statistic, ref.pvalue)
    assert t_test(a, b).p_value == pytest.approx(sps.ttest_rel(a, b).pvalue, rel=1e-12)


def test_significance_table(scores):
    before = scores.copy()
    runs = ["bm25__rankvicuna-7b@20", "bm25__rankvicuna-7b@100", "tasb"]
    tab = significance_table(scores, ["bm25"], runs, ["nDCG@10", "AP(rel=2)"], test="t", correction="holm")
    pd.testing.assert_frame_equal(scores, before)
    assert len(tab.rows) == 6 and (tab.test, tab.correction, tab.alpha, tab.seed) == ("t", "holm", 0.05, 0)
    raw = [r.p_value for r in tab.rows]
    assert [r.p_adjusted for r in tab.rows] == list(multipletests(raw, method="holm")[1])
    r = tab.row("bm25", "bm25__rankvicuna-7b@100", "nDCG@10")
    assert r.mean_baseline == pytest.approx(0.4796, abs=5e-5) and r.mean_run == pytest.approx(0.6648, abs=5e-5)
    assert r.significant and r.ci_low < r.mean_delta < r.ci_high
    assert r.p_value == pytest.approx(sps.ttest_rel(*_pair(scores, "bm25__rankvicuna-7b@100", "bm25")).pvalue,
                                      rel=1e-12)
    for row in tab.rows:  # CIs are drawn in one batch per query count: each equals its own bootstrap_ci
        eff = effect_size(*_pair(scores, row.run, row.baseline, row.measure), n_resamples=10_000, seed=0)
        assert (row.ci_low, row.ci_high) == pytest.approx((eff.ci.low, eff.ci.high), abs=1e-12)
        assert row.standardised_effect == pytest.approx(eff.standardised, rel=1e-12)
    rnd = significance_table(scores, ["bm25"], runs, ["nDCG@10"], test="randomisation", n_resamples=2000, seed=5)
    assert rnd.n_resamples == 2000 and rnd.to_frame().shape[0] == 3
    json.dumps(tab.to_dict())


def test_significance_table_of_aligned_matrices_equals_that_of_the_score_frame(scores):
    """The depth study hands its per-query arrays straight to the tests: the same rows as from a score frame."""
    runs = ["bm25__rankvicuna-7b@20", "bm25__rankvicuna-7b@100", "tasb"]
    names = ["bm25", *runs]
    measures = ["nDCG@10", "AP(rel=2)"]
    matrices = [scores[scores["measure"] == m].pivot(index="query_id", columns="run", values="value")
                .sort_index()[names].to_numpy() for m in measures]
    for test in ("t", "wilcoxon"):
        got = significance_table(None, ["bm25"], runs, measures, test=test, correction="bh", delta_ci=False,
                                 matrices=matrices)
        want = significance_table(scores, ["bm25"], runs, measures, test=test, correction="bh", delta_ci=False)
        assert got.to_dict() == want.to_dict() and len(got.rows) == 6
    with pytest.raises(AnalysisError, match="one queries x 4 matrix per measure"):
        significance_table(None, ["bm25"], runs, measures, matrices=matrices[:1])
