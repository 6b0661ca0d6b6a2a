"""A hostile user against the judgments features (issue 20: qrels sets, agree, pool): each test is a defect the
review of wave 4 found, pinned so it stays fixed. Hand-made collections in temp folders, the real CLI and store."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import snapshot

QRELS = """\
q1 0 a 1
q1 0 b 0
q1 0 c 2
q2 0 a 0
q2 0 d 1
q3 0 e 1
q3 0 f 0
"""
# three queries, tied scores broken by doc_id descending (trec_eval's order): r1 ranks c, b, a on q1
RUNS = {
    "r1": "q1 Q0 a 1 1.0 r1\nq1 Q0 b 2 1.0 r1\nq1 Q0 c 3 1.0 r1\nq2 Q0 x 1 2 r1\nq2 Q0 d 2 1 r1\nq3 Q0 e 1 5 r1\n",
    "r2": "q1 Q0 z 1 9 r2\nq1 Q0 a 2 8 r2\nq2 Q0 d 1 3 r2\nq2 Q0 y 2 2 r2\nq3 Q0 f 1 1 r2\nq3 Q0 e 2 0 r2\n",
}
FOREIGN = "q9 0 a 1\nq9 0 b 0\n"  # judges no query the runs rank


@pytest.fixture
def hand(cli, tmp_path):
    """A store with the hand-made collection `hc`, runs r1 and r2, and the named set `foreign`."""
    (tmp_path / "q.qrels").write_text(QRELS)
    (tmp_path / "foreign.qrels").write_text(FOREIGN)
    for name, text in RUNS.items():
        (tmp_path / f"{name}.trec").write_text(text)
    assert cli("collection", "add", "hc", "--qrels", tmp_path / "q.qrels").code == 0
    assert cli("ingest", "-c", "hc", tmp_path / "r1.trec", tmp_path / "r2.trec").code == 0
    assert cli("collection", "qrels", "add", "hc", "foreign", tmp_path / "foreign.qrels").code == 0
    return tmp_path


# --- agreement: tau-AP and ties ---------------------------------------------------------------------------------

def test_tau_ap_is_undefined_when_a_ranking_ties_every_system():
    """All systems tied under one set: scipy's tau is NaN; tau-AP was a number about the names' order
    (-0.2439 for the 24 DL 2020 runs against a set judging none of their queries)."""
    from scipy.stats import kendalltau

    from workbench.analysis.agreement import tau_ap

    assert np.isnan(kendalltau([0, 0, 0], [3, 2, 1]).statistic)
    assert np.isnan(tau_ap([0, 0, 0], [3, 2, 1])) and np.isnan(tau_ap([3, 2, 1], [5, 5, 5]))
    assert tau_ap([3, 2, 1], [3, 2, 1]) == pytest.approx(1.0)  # defined cases unchanged


def test_equal_means_from_different_sums_are_ties_for_tau():
    """P@10 of (0, 0, 0.3) and of (0, 0.1, 0.2) have the same mean, 0.1, but the float sums differ in the last bit:
    tau-b (and tau-AP) must see a tie, as scipy does on the exact means (the review found tau 0.8958 where scipy
    on trec_eval's means gives 0.8946 on DL 2020, P@10, qrels with negative grades vs the strict reading)."""
    from scipy.stats import kendalltau

    from workbench.analysis.agreement import ranking_estimates

    a = np.array([[0.0, 0.0, 0.3], [0.0, 0.1, 0.2], [0.2, 0.2, 0.2], [0.0, 0.0, 0.0]])
    b = np.array([[0.1, 0.2, 0.3], [0.3, 0.3, 0.3], [0.0, 0.1, 0.0], [0.5, 0.5, 0.5]])
    assert (a @ np.ones(3) / 3)[0] != (a @ np.ones(3) / 3)[1]  # the trap: the two sums differ
    ones = np.ones(3)
    tau, _ = ranking_estimates(a, ones, b, ones, n_resamples=50, seed=0)
    exact_a = [sum(Fraction(str(x)) for x in row) / 3 for row in a]
    exact_b = [sum(Fraction(str(x)) for x in row) / 3 for row in b]
    expected = kendalltau([float(x) for x in exact_a], [float(x) for x in exact_b]).statistic
    assert tau.value == pytest.approx(expected, abs=1e-12)


def test_agree_with_a_set_judging_none_of_the_queries(cli, hand):
    out = cli("collection", "qrels", "agree", "hc", "default", "foreign", "-m", "P@2", "--bootstrap", "50",
              "--json")
    assert out.code == 0, out.err
    body = out.json()
    assert body["n_pairs"] == 0 and body["kappa"]["value"] is None
    assert body["tau"]["value"] is None and body["tau_ap"] == {"value": None, "ci_low": None, "ci_high": None}


def test_agree_counts_a_run_named_twice_once(cli, hand):
    """`-r r1 r1` was two systems: 'rankings of 2 runs' and tau-AP -1 of a run against itself."""
    body = cli("collection", "qrels", "agree", "hc", "default", "foreign", "-r", "r1", "r1", "-m", "P@2",
               "--bootstrap", "50", "--json").json()
    assert body["runs"] == ["r1"] and body["tau"]["value"] is None and body["tau_ap"]["value"] is None


# --- pool: the Python API's junk, repeated -r -------------------------------------------------------------------

@pytest.mark.parametrize("depth", [1.5, 10.0, True, "10", float("nan"), float("inf"), None, 0, -3])
def test_pool_depth_must_be_a_whole_number(db, hand, depth):
    import workbench as wb

    before = snapshot(db)
    with pytest.raises(wb.WorkbenchError, match="pool depth must be a whole number"):
        wb.open(db).pool("hc", depth)
    assert snapshot(db) == before


def test_pool_with_an_empty_qrels_name_is_refused_not_all_unjudged(db, hand):
    """qrels='' was taken for the default qrels' hash while no document was judged: 6 of 6 'unjudged'."""
    import workbench as wb

    store = wb.open(db)
    with pytest.raises(wb.WorkbenchError, match="no qrels named ''"):
        store.pool("hc", 1, qrels="")
    default = store.pool("hc", 1).to_dict()["totals"]
    assert default == store.pool("hc", 1, qrels="default").to_dict()["totals"]
    assert (default["pooled"], default["judged"]) == (6, 4)  # r1: c, x, e; r2: z, d, f


@pytest.mark.parametrize("name", [1, 2.5, b"foreign", ["foreign"]])
def test_a_qrels_name_not_a_string_is_one_error(db, hand, name):
    """qrels=1 was DuckDB's ConversionException (a traceback), through pool and through evaluate."""
    import workbench as wb

    store = wb.open(db)
    with pytest.raises(wb.WorkbenchError, match="qrels are named by a string"):
        store.pool("hc", 2, qrels=name)
    with pytest.raises(wb.WorkbenchError, match="qrels are named by a string"):
        store.evaluate("hc", "P@2", qrels=name)


def test_pool_takes_every_repeated_runs_option(cli, hand, tmp_path):
    """`-r r1 -r r2` pooled r2 alone (argparse kept the last -r): assessors would never see r1's documents."""
    both = cli("pool", "-c", "hc", "--depth", "2", "-r", "r1", "r2", "-o", tmp_path / "a.qrels", "--json").json()
    repeated = cli("pool", "-c", "hc", "--depth", "2", "-r", "r1", "-r", "r2", "-o", tmp_path / "b.qrels", "--json")
    assert repeated.code == 0, repeated.err
    assert repeated.json()["runs"] == ["r1", "r2"] == both["runs"]
    assert (tmp_path / "a.qrels").read_text() == (tmp_path / "b.qrels").read_text()
    # trec_eval's order: r1's q1 ties (1.0) give c, b first; r2's q1 gives z, a
    assert (tmp_path / "a.qrels").read_text().splitlines()[:4] == ["q1 0 a 1", "q1 0 b 0", "q1 0 c 2", "q1 0 z ?"]


def test_pool_refusals_leave_the_store_and_the_output_alone(cli, db, hand, tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("precious\n")
    before = snapshot(db)
    for args in (["--depth", "0"], ["--depth", "2", "-r", "nosuch"], ["--depth", "2", "--qrels", "nosuch"],
                 ["--depth", "2", "--qrels", ""], ["--depth", "nan"]):
        res = cli("pool", "-c", "hc", *args, "-o", target)
        assert res.code == 2 and res.out == ""
        assert res.err.startswith("error: ") and res.err.count("\n") == 1 and "Traceback" not in res.err
    assert snapshot(db) == before and target.read_text() == "precious\n"


def test_docs_synopsis_grade_map_is_accepted(cli, hand):
    """docs/judgments.md's synopsis showed `--grade-map "1:0"`, which `qrels add` refuses (every grade must be
    mapped); the synopsis now shows a map it takes."""
    docs = (Path(__file__).resolve().parents[1] / "docs" / "judgments.md").read_text()
    assert '--grade-map "1:0"]' not in docs
    res = cli("collection", "qrels", "add", "hc", "strict", hand / "q.qrels", "--grade-map", "0:0,1:0,2:2")
    assert res.code == 0, res.err


@pytest.mark.parametrize("measure", ["P.1,2", "all_trec"])
def test_agree_refuses_a_measure_name_that_names_several(cli, db, hand, measure):
    """`-m P.5,10` ranked by P_5 alone and `-m all_trec` by num_q, silently: one measure name, several measures."""
    before = snapshot(db)
    res = cli("collection", "qrels", "agree", "hc", "default", "foreign", "-m", measure, "--bootstrap", "20")
    assert res.code == 2 and res.err.startswith("error: agreement ranks the runs by one measure")
    assert res.err.count("\n") == 1 and snapshot(db) == before


def test_the_warning_after_scoring_describes_the_qrels_scored(cli, hand):
    """`evaluate --qrels foreign` repeated the collection's own report (its judged topics), not the set's: the
    warning now names the set and what is off about it (wave-4 review)."""
    own = cli("evaluate", "-c", "hc", "-m", "P@1")
    assert own.code == 0 and "foreign" not in own.err
    res = cli("evaluate", "-c", "hc", "-m", "P@1", "--qrels", "foreign")
    assert res.code == 0, res.err
    assert ("warning: collection hc: none of the 1 queries of qrels 'foreign' is judged by the collection's own "
            "qrels: is it the file of another collection?") in res.err.splitlines()


def _yilmaz(scores: list[float], truth: list[float]) -> float:
    """tau-AP as Yilmaz et al. write it, for rankings without ties, in plain Python."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    n = len(order)
    total = 0.0
    for pos in range(1, n):
        i = order[pos]
        total += sum(truth[j] > truth[i] for j in order[:pos]) / pos
    return 2.0 / (n - 1) * total - 1.0


def test_tau_ap_with_partial_ties_leaves_tied_pairs_out():
    """Runs tied in part of a ranking took their names' order: agree default strict -m NumRet gave tau 1 and
    tau-AP -0.6753 (wave-4 review). Tied pairs are now left out, as tau-b leaves them out."""
    from workbench.analysis.agreement import tau_ap

    rng = np.random.default_rng(7)
    for _ in range(200):  # without ties: the paper's formula
        n = int(rng.integers(2, 12))
        s, t = rng.permutation(n).tolist(), rng.permutation(n).tolist()
        assert tau_ap(s, t) == pytest.approx(_yilmaz(s, t), abs=1e-12)
    same = [5, 3, 3, 3, 1]
    assert tau_ap(same, same) == pytest.approx(1.0)  # agree, ties and all
    assert tau_ap(same[::-1], same) == pytest.approx(-1.0)
    # by hand: B ranks a > {b = c} > d, A ranks a > c > b > d. Pairs above b: a (correct); above c: a (correct);
    # above d: a, b, c (all correct); b-c is tied in B and left out: mean(1, 1, 1) -> 1
    assert tau_ap([4, 2, 2, 1], [4, 2, 3, 1]) == pytest.approx(1.0)
    # A ties b and c: B's b > c orders nothing; above c: a (correct), above d: a, b, c (correct): 1; above b: a: 1
    assert tau_ap([4, 3, 2, 1], [4, 2, 2, 1]) == pytest.approx(1.0)
    # B: d > a > b > c with A: a > b > c > d; above a: d (wrong): 0; above b: d (wrong), a (right): 1/2;
    # above c: d wrong, a, b right: 2/3 -> 2 x mean(0, 1/2, 2/3) - 1 = 2 x 7/18 - 1 = -2/9
    assert tau_ap([3, 2, 1, 4], [4, 3, 2, 1]) == pytest.approx(-2 / 9)
