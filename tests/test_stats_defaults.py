"""Statistics defaults, one definition for the CLI, the dashboard and the exports (issue 17, item 5).

The legend and `can_be_significant` are checked against hand-worked numbers and against `adjust_pvalues` itself;
the DL 2020 store checks what a user sees: a run marked at 10,000 permutations that 1,000 could never mark, p-values
at full precision, `compare --json` naming baseline and run, and a depth study that names no best k when no depth
beats the first stage.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from scipy import stats as sps

from workbench.analysis.stats import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_PERMUTATIONS,
    adjust_pvalues,
    bootstrap_ci,
    can_be_significant,
    randomisation_test,
    significance_legend,
    significance_table,
)
from workbench.errors import AnalysisError


# ------------------------------------------------------------------------------------------- legend, resolution
def test_defaults():
    assert DEFAULT_PERMUTATIONS == 10_000 and DEFAULT_BOOTSTRAP == 10_000
    a = np.linspace(0, 1, 20)
    assert randomisation_test(a, a[::-1]).n_resamples == 10_000
    assert bootstrap_ci(a, a[::-1]).n_resamples == 10_000


def test_legend_states_test_samples_correction_alpha():
    assert significance_legend("t", None, "holm", 0.05, 4) == (
        "Paired t-test, Holm correction over 4 comparisons, alpha=0.05.")
    assert significance_legend("wilcoxon", 10_000, "none", 0.01, 1) == (
        "Wilcoxon signed-rank test, no correction (1 comparison), alpha=0.01.")
    assert significance_legend("randomization", 10_000, "holm", 0.05, 138) == (
        "Paired randomisation test (10,000 permutations), Holm correction over 138 comparisons, alpha=0.05.")


def test_legend_says_when_no_comparison_can_be_significant():
    # 1/1,001 > 0.05/138 = 0.000362: Holm (and Bonferroni) reject nothing, whatever the data
    assert significance_legend("randomisation", 1000, "holm", 0.05, 138) == (
        "Paired randomisation test (1,000 permutations), Holm correction over 138 comparisons, alpha=0.05. "
        "No comparison can be significant: with 1,000 permutations the smallest p-value is 1/1,001, and Holm over "
        "138 comparisons needs a p-value of at most alpha/138 = 0.000362; use at least 2,759 permutations.")
    # without correction (or BH) only the floor itself matters: 1/11 > 0.05, and 19 permutations give 1/20 = alpha
    assert significance_legend("randomisation", 10, "none", 0.05, 1).endswith(
        "No comparison can be significant: with 10 permutations the smallest p-value is 1/11, above alpha; use at "
        "least 19 permutations.")
    # Benjamini-Hochberg can reject once enough comparisons sit at the floor: 138/1,001/0.05 = 2.76, so 3 of them
    assert significance_legend("randomisation", 1000, "bh", 0.05, 138).endswith(
        "A comparison can be significant only if at least 3 of the 138 comparisons reach the smallest p-value 1,000 "
        "permutations can give (1/1,001); with 2,759 permutations one alone can.")


@pytest.mark.parametrize(("test", "resamples", "m", "alpha", "correction", "expected"), [
    ("randomisation", 1000, 138, 0.05, "holm", False),
    ("randomisation", 10_000, 138, 0.05, "holm", True),
    ("randomisation", 2759, 138, 0.05, "bonferroni", True),  # 1/2,760 = 0.05/138 exactly: rejected (p <= alpha/m)
    ("randomisation", 2758, 138, 0.05, "bonferroni", False),
    ("randomisation", 1000, 138, 0.05, "bh", True),
    ("randomisation", 18, 1, 0.05, "none", False),
    ("randomisation", 19, 1, 0.05, "none", True),
    ("randomisation", 1000, 0, 0.05, "holm", True),  # nothing to compare, nothing to warn about
    ("t", None, 10_000, 0.01, "holm", True),
    ("wilcoxon", None, 138, 0.05, "bonferroni", True),
])
def test_can_be_significant(test, resamples, m, alpha, correction, expected):
    assert can_be_significant(test, resamples, m, alpha, correction) is expected


@pytest.mark.parametrize("seed", range(30))
def test_can_be_significant_agrees_with_the_correction_itself(seed):
    """The best case of a family is every comparison at the smallest p: the correction rejects then, or never."""
    rng = np.random.default_rng(seed)
    resamples, m = int(rng.integers(1, 5000)), int(rng.integers(1, 300))
    alpha = float(rng.choice([0.01, 0.05, 0.1]))
    for correction in ("holm", "bonferroni", "bh", "none"):
        floor = adjust_pvalues(np.full(m, 1 / (resamples + 1)), correction, alpha)
        assert can_be_significant("randomisation", resamples, m, alpha, correction) is floor.reject[0]


def test_bad_arguments_are_analysis_errors():
    for args in (("z", None, "holm", 0.05, 3), ("t", None, "sidak", 0.05, 3), ("t", None, "holm", 1.5, 3),
                 ("randomisation", None, "holm", 0.05, 3), ("randomisation", 0, "holm", 0.05, 3),
                 ("t", None, "holm", 0.05, -1)):
        with pytest.raises(AnalysisError):
            significance_legend(*args)
        with pytest.raises(AnalysisError):
            can_be_significant(args[0], args[1], args[4], args[3], args[2])


def test_batched_randomisation_equals_each_test_alone():
    """A table draws one sign matrix per query count for all its rows: each row's p is the p of its pair alone."""
    rng = np.random.default_rng(3)
    rows = [(r, f"q{q}", "m", float(np.round(rng.random(), 1))) for r in "ABCDE" for q in range(30)]
    rows += [("F", f"q{q}", "m", float(rng.random())) for q in range(0, 30, 2)]  # 15 queries: a second draw
    scores = pd.DataFrame(rows, columns=["run", "query_id", "measure", "value"])
    table = significance_table(scores, ["A"], list("BCDEF"), ["m"], test="randomisation", n_resamples=3000, seed=4)
    wide = scores.pivot(index="query_id", columns="run", values="value")
    for row in table.rows:
        pair = wide[["A", row.run]].dropna()
        alone = randomisation_test(pair[row.run].to_numpy(), pair["A"].to_numpy(), n_resamples=3000, seed=4)
        assert (row.p_value, row.statistic, row.n_queries) == (alone.p_value, alone.statistic, alone.n_queries)
    assert {r.n_queries for r in table.rows} == {30, 15}


# ------------------------------------------------------------------------------------------------- DL 2020, CLI
def _tests(board: dict) -> dict[tuple[str, str], dict]:
    return {(r["run"], m): t["bm25"] for r in board["rows"] for m, c in r["measures"].items()
            for t in [c.get("tests", {})] if "bm25" in t}


def test_randomisation_marks_at_10000_permutations_that_1000_could_not(cli, dl20_store):
    """Holm over the leaderboard's 138 comparisons (23 runs x 6 measures against bm25)."""
    args = ("leaderboard", "-c", "dl20", "-b", "bm25", "--test", "randomisation", "-f", "json")
    low = cli(*args, "--permutations", "1000", store=dl20_store).json()
    high = cli(*args, store=dl20_store).json()
    assert low["significance"]["n_comparisons"] == high["significance"]["n_comparisons"] == 138
    assert not low["significance"]["can_be_significant"] and high["significance"]["can_be_significant"]
    assert not any(t["significant"] for t in _tests(low).values())
    assert "No comparison can be significant" in " ".join(low["legend"])
    tasb = _tests(high)[("tasb", "nDCG@10")]
    assert tasb["significant"] and tasb["p_value"] == 1 / 10_001 and tasb["p_adjusted"] == pytest.approx(138 / 10_001)
    assert not _tests(low)[("tasb", "nDCG@10")]["significant"]
    assert high["significance"]["permutations"] == 10_000
    assert "Paired randomisation test (10,000 permutations, seed 0), Holm correction over 138 comparisons, " \
           "alpha=0.05." in high["legend"]
    md = cli(*args[:-2], "--permutations", "1000", store=dl20_store).out
    assert "No comparison can be significant: with 1,000 permutations" in md and "†" not in md.split("\n\n")[0]


def test_leaderboard_json_p_values_at_full_precision(cli, dl20_store):
    """The t-test's p-values as scipy computes them from the exported per-query values, 1e-7 included (was 0.0)."""
    board = cli("leaderboard", "-c", "dl20", "-b", "bm25", "-f", "json", store=dl20_store).json()
    tests = _tests(board)
    assert len(tests) == 138 and not any(t["p_value"] == 0.0 for t in tests.values())
    lines = cli("export", "scores", "-c", "dl20", "--per-query", "-m", "AP(rel=2)", "-r", "bm25", "tasb", "-f", "jsonl",
                store=dl20_store).out.splitlines()
    values = pd.DataFrame([json.loads(line) for line in lines]).pivot(index="query_id", columns="run", values="value")
    want = sps.ttest_rel(values["tasb"], values["bm25"]).pvalue
    got = tests[("tasb", "AP(rel=2)")]["p_value"]
    assert got < 1e-6 and got == pytest.approx(want, rel=1e-9)
    assert round(got, 6) == 0.0  # what the 6-decimal JSON printed


def test_compare_json_names_baseline_and_run(cli, dl20_store):
    data = cli("compare", "-c", "dl20", "bm25", "tasb", "-m", "nDCG@10", "--json", store=dl20_store).json()
    assert data["baseline"] == "bm25"
    (pair,) = data["pairs"]
    assert (pair["baseline"], pair["run"]) == ("bm25", "tasb")
    assert not {"run_a", "run_b", "mean_a", "mean_b"} & set(pair)
    assert round(pair["mean_baseline"], 4) == 0.4796 and round(pair["mean_run"], 4) == 0.6854
    assert pair["mean_delta"] == pytest.approx(pair["mean_run"] - pair["mean_baseline"], abs=1e-12)
    gain = pair["top_gains"][0]
    assert gain["query_id"] == "1051399" and gain["delta"] == pytest.approx(gain["value_run"] - gain["value_baseline"])
    (row,) = data["significance"]["rows"]
    assert (row["baseline"], row["run"]) == ("bm25", "tasb")
    assert data["significance"]["legend"] == "Paired t-test, Holm correction over 1 comparison, alpha=0.05."


def test_depth_names_no_best_k_when_no_depth_beats_the_first_stage(cli, dl20_store):
    """RankVicuna over SPLADE: on nDCG@10 and AP(rel=2) (16 comparisons) no depth is significantly better."""
    args = ("depth", "-c", "dl20", "splade-pp-ed__rankvicuna-7b@100", "-m", "nDCG@10", "AP(rel=2)")
    data = cli(*args, "--json", store=dl20_store).json()
    assert data["best_depth"] == {"nDCG@10": None, "AP(rel=2)": None}
    assert data["highest_mean_depth"]["nDCG@10"] == 30
    best = data["best"]["nDCG@10"]
    assert best["shown"] == 30 and best["p_adjusted"] > 0.05 and best["ci_low"] < best["delta"] < best["ci_high"]
    assert data["bootstrap_samples"] == 10_000
    text = cli(*args, store=dl20_store).out
    assert "no depth is significantly better than splade-pp-ed (k = 0) on nDCG@10; the highest mean is at k = 30: " \
           "0.7654, +0.0457 over splade-pp-ed (95% CI [" in text
    assert "best k =" not in text
    # alone, nDCG@10 at k = 20 is (Holm over 8): the best k, though k = 30's mean is higher
    one = cli("depth", "-c", "dl20", "splade-pp-ed__rankvicuna-7b@100", "-m", "nDCG@10", store=dl20_store).out
    assert "best k = 20 for nDCG@10: 0.7644" in one
    assert "k = 30 has a higher mean but is not significantly better" in one


def test_depth_delta_cis_are_the_bootstrap_cis_of_the_differences(dl20_store):
    """Each point's CI of its difference from depth 0 comes from the curve's resamples: bootstrap_ci's own."""
    from workbench.services.depth import depth_study
    from workbench.store import Store

    study = depth_study(Store(dl20_store), "dl20", "bm25__rankvicuna-7b@100", ["nDCG@10"], n_boot=2000, seed=3)
    first = study.curve.point("nDCG@10", 0)
    for p in (*study.curve.points, *study.curve.observed):
        if p.measure != "nDCG@10" or (p.source, p.depth) == ("derived", 0):
            continue
        ci = bootstrap_ci(np.array(p.values), np.array(first.values), n_resamples=2000, seed=3)
        assert (p.delta_ci_low, p.delta_ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert study.best()["nDCG@10"].depth == 100


def test_cli_defaults_are_the_shared_ones():
    from workbench.cli.main import build_parser

    parser = build_parser()
    assert parser.parse_args(["compare", "-c", "x", "a", "b"]).permutations == DEFAULT_PERMUTATIONS
    assert parser.parse_args(["depth", "-c", "x", "a"]).bootstrap == DEFAULT_BOOTSTRAP
    assert parser.parse_args(["leaderboard", "-c", "x"]).permutations == DEFAULT_PERMUTATIONS


# ------------------------------------------------------------------------------------------------------ dashboard
@pytest.fixture
def page(dl20_store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    def run(name: str, **params):
        monkeypatch.setenv("WORKBENCH_DB", str(dl20_store))
        at = AppTest.from_file(ROOT / "app.py", default_timeout=180)
        at.run()
        at.switch_page(f"workbench/app/pages/{'leaderboard' if name == 'runs' else 'runs'}.py").run()
        for key, value in params.items():
            at.query_params[key] = value
        at.switch_page(f"workbench/app/pages/{name}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return run


@pytest.mark.slow
def test_leaderboard_page_warns_when_no_comparison_can_be_significant(page):
    at = page("leaderboard", baselines="bm25", test="randomisation", resamples="1000")
    assert at.selectbox(key="resamples").value == 1000
    (warning,) = [w.value for w in at.warning if "No comparison can be significant" in w.value]
    assert "1,000 permutations" in warning and "138 comparisons" in warning
    assert not any("†" in v for v in at.dataframe[0].value["nDCG@10"])
    default = page("leaderboard", baselines="bm25", test="randomisation")
    assert default.selectbox(key="resamples").value == DEFAULT_PERMUTATIONS
    assert not [w for w in default.warning if "No comparison" in w.value]
    board = default.dataframe[0].value.set_index("run")
    assert "†" in board.at["tasb", "nDCG@10"]
    captions = " ".join(c.value for c in default.caption)
    from workbench.app.common import plain

    assert plain("Paired randomisation test (10,000 permutations, seed 0), Holm correction over 138 comparisons") \
        in captions


@pytest.mark.slow
def test_depth_page_names_no_best_k_without_significance(page):
    at = page("depth", reranked="splade-pp-ed__rankvicuna-7b@100", depth_measures=["nDCG@10", "AP(rel=2)"])
    shown = {m.label: m.value for m in at.metric}
    assert shown["best k for nDCG@10"] == "none" and shown["best k for AP(rel=2)"] == "none"
    from workbench.app.common import plain

    assert any(plain("no depth is significantly better than splade-pp-ed") in i.value.lower() for i in at.info)
    good = page("depth", reranked="bm25__rankvicuna-7b@100", depth_measures="nDCG@10")
    assert {m.label: m.value for m in good.metric}["best k for nDCG@10"] == "100"
