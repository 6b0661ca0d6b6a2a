"""compare_pair / win_matrix on a tiny hand-made frame (every count below is worked out by hand)."""

import json

import pandas as pd
import pytest

from workbench.analysis import compare_pair, win_matrix
from workbench.errors import AnalysisError

ROWS = [
    # run, query, value           A-B:  q1 +0.2, q2 0, q3 -0.1, q4 +0.05, q5 only in A (ignored)
    ("A", "q1", 0.5), ("A", "q2", 0.3), ("A", "q3", 0.1), ("A", "q4", 0.35), ("A", "q5", 1.0),
    ("B", "q1", 0.3), ("B", "q2", 0.3), ("B", "q3", 0.2), ("B", "q4", 0.30),
    ("C", "q1", 0.5), ("C", "q2", 0.4), ("C", "q3", 0.0), ("C", "q4", 0.35),
]  # fmt: skip


@pytest.fixture
def scores() -> pd.DataFrame:
    df = pd.DataFrame(ROWS, columns=["run", "query_id", "value"])
    df.insert(2, "measure", "nDCG@10")
    return df


def test_compare_pair_counts_and_order(scores):
    before = scores.copy()
    pc = compare_pair(scores, "A", "B", "nDCG@10", top_n=1)
    pd.testing.assert_frame_equal(scores, before)  # input untouched
    assert (pc.wins, pc.ties, pc.losses, pc.n_queries) == (2, 1, 1, 4)
    assert [d.query_id for d in pc.deltas] == ["q1", "q4", "q2", "q3"]
    assert pc.deltas[0].delta == pytest.approx(0.2)
    assert pc.mean_a == pytest.approx((0.5 + 0.3 + 0.1 + 0.35) / 4)
    assert pc.mean_b == pytest.approx((0.3 + 0.3 + 0.2 + 0.3) / 4)
    assert [d.query_id for d in pc.top_gains] == ["q1"]
    assert [d.query_id for d in pc.top_losses] == ["q3"]
    json.dumps(pc.to_dict())


def test_tie_tolerance_turns_small_deltas_into_ties(scores):
    pc = compare_pair(scores, "A", "B", "nDCG@10", tie_tolerance=0.06)
    assert (pc.wins, pc.ties, pc.losses) == (1, 2, 1)


def test_win_matrix(scores):
    wm = win_matrix(scores, ["A", "B", "C"], "nDCG@10")
    # A vs C: q1 tie, q2 loss, q3 win, q4 tie; B vs C: q1 loss, q2 loss, q3 win, q4 loss
    assert wm.wins == ((0, 2, 1), (1, 0, 1), (1, 3, 0))
    assert wm.ties == ((0, 1, 2), (1, 0, 0), (2, 0, 0))
    assert wm.losses == tuple(zip(*wm.wins, strict=True))
    assert wm.n_queries[0][0] == 5 and wm.n_queries[0][1] == 4
    assert wm.to_frame("wins").loc["C", "B"] == 3
    json.dumps(wm.to_dict())


def test_errors(scores):
    with pytest.raises(AnalysisError, match="no scores for run"):
        compare_pair(scores, "A", "Z", "nDCG@10")
    with pytest.raises(AnalysisError, match="no scores for measure"):
        compare_pair(scores, "A", "B", "AP")
    dup = pd.concat([scores, scores.iloc[[0]]])
    with pytest.raises(AnalysisError, match="duplicate"):
        compare_pair(dup, "A", "B", "nDCG@10")
