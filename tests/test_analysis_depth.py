"""Rerank-depth curves on the real DL 2020 RankVicuna runs, plus hand-made cases for derivation and holes."""

import json
from pathlib import Path

import pyarrow as pa
import pytest

from workbench.analysis import (
    RerankPair,
    cutoff_curve,
    depth_curve,
    derive_depth_run,
    judged_summary,
    phantom_hits,
    rerank_depth,
    significance_table,
)
from workbench.analysis.depth.join import derive
from workbench.io.qrels import read_qrels
from workbench.io.runs import read_run

ROOT = Path(__file__).resolve().parents[1]
FIRST_STAGES = ["bm25", "bm25-rm3", "tasb", "ada2", "splade-pp-ed"]


def run(name: str) -> pa.Table:
    return read_run(ROOT / f"runs/dl20/{name}.trec").table


@pytest.fixture(scope="module")
def qrels() -> pa.Table:
    return read_qrels(ROOT / "data/trec-dl-2020/qrels.dl20-passage.txt")


@pytest.fixture(scope="module")
def trec_eval_ndcg10() -> dict[str, float]:
    lines = (ROOT / "runs/dl20/RUNS.tsv").read_text().splitlines()
    head = lines[0].split("\t")
    rows = [dict(zip(head, line.split("\t"), strict=True)) for line in lines[1:]]
    return {r["file"].removesuffix(".trec"): float(r["ndcg_cut_10_trec_eval"]) for r in rows}


@pytest.mark.parametrize("fs", FIRST_STAGES)
def test_must_show_depth_table(fs, qrels, trec_eval_ndcg10):
    """nDCG@10 at depth 0/20/100, derived from R@100 and observed (R@20, R@100), tested against F."""
    first, r100, r20 = run(fs), run(f"{fs}__rankvicuna-7b@100"), run(f"{fs}__rankvicuna-7b@20")
    curve = depth_curve(first, r100, qrels, "nDCG@10", observed={20: r20, 100: r100}, n_boot=200)
    assert curve.k_max == 100 and curve.depths == (0, 5, 10, 20, 30, 50, 100)
    ref = trec_eval_ndcg10
    derived = curve.curve("nDCG@10")
    assert derived[0] == pytest.approx(ref[fs], abs=5e-5)  # k = 0 is F
    assert derived[100] == pytest.approx(ref[f"{fs}__rankvicuna-7b@100"], abs=5e-5)  # k = K is R
    assert curve.point("nDCG@10", 100, observed=True).values == curve.point("nDCG@10", 100).values
    obs20 = curve.point("nDCG@10", 20, observed=True)
    assert obs20.mean == pytest.approx(ref[f"{fs}__rankvicuna-7b@20"], abs=5e-5)
    # Derived@20 from the @100 run approximates the real @20 run (listwise windows differ): within 0.025.
    assert abs(derived[20] - obs20.mean) < 0.025
    p = curve.point("nDCG@10", 20)
    assert p.ci_low <= p.mean <= p.ci_high and len(p.values) == 54
    assert 0.9 < curve.curve("Judged@10")[0] <= 1.0
    sig = significance_table(
        curve.scores_frame(), ["derived@0"], ["derived@20", "observed@20", "observed@100"], ["nDCG@10"]
    )
    if fs in ("bm25", "bm25-rm3"):  # +0.1 to +0.19 nDCG@10: significant even after Holm
        assert all(r.significant for r in sig.rows)
    json.dumps(curve.to_dict())


def test_derived_at_k_max_equals_reranked_run_exactly(qrels):
    first, r20 = run("bm25"), run("bm25__rankvicuna-7b@20")
    k = rerank_depth(first, r20)
    assert 15 <= k <= 20
    d = derive_depth_run(first, r20, k).to_pandas()
    r = r20.to_pandas().sort_values(["query_id", "score", "doc_id"], ascending=[True, False, False])
    assert list(zip(d["query_id"], d["doc_id"], strict=True)) == list(zip(r["query_id"], r["doc_id"], strict=True))


def test_truncated_variants_match_full_derivation():
    first, r100 = run("tasb"), run("tasb__rankvicuna-7b@100")
    depths = [0, 3, 10, 17, 100]
    top = derive(first, r100, depths, 10, ordered=True).to_pandas()
    full = derive(first, r100, depths, None, ordered=True).to_pandas()
    full = full[full["rank"] <= 10].reset_index(drop=True)
    assert top.equals(full)


def _table(rows: list[tuple[str, str, float]]) -> pa.Table:
    q, d, s = zip(*rows, strict=True)
    return pa.table({"query_id": list(q), "doc_id": list(d), "score": list(s), "rank": [0] * len(rows)})


def test_derive_hand_case_with_ties_and_missing_docs():
    # F order (score desc, doc_id desc): q1 d1, d3, d2, d4, d5;  q2 a, b, c
    first = _table([("q1", "d1", 3), ("q1", "d2", 2), ("q1", "d3", 2), ("q1", "d4", 1), ("q1", "d5", 0.5),
                     ("q2", "a", 2), ("q2", "b", 1), ("q2", "c", 0)])  # fmt: skip
    # R order: q1 d4, d3, d2, d1, d5 (d2/d3 tie -> d3 first);  q2 c, a (b missing from R)
    rer = _table([("q1", "d4", 9), ("q1", "d2", 5), ("q1", "d3", 5), ("q1", "d1", 1), ("q1", "d5", 0),
                  ("q2", "c", 5), ("q2", "a", 4)])  # fmt: skip

    def order(k):
        t = derive_depth_run(first, rer, k).to_pandas()
        return {q: list(g.sort_values("rank")["doc_id"]) for q, g in t.groupby("query_id")}

    assert order(0) == {"q1": ["d1", "d3", "d2", "d4", "d5"], "q2": ["a", "b", "c"]}
    assert order(3) == {"q1": ["d3", "d2", "d1", "d4", "d5"], "q2": ["c", "a", "b"]}
    assert order(5) == {"q1": ["d4", "d3", "d2", "d1", "d5"], "q2": ["c", "a", "b"]}
    assert rerank_depth(first, rer) == 4


def test_phantom_hits_hand_case():
    first = _table([("q1", f"d{i}", 7.0 - i) for i in range(1, 7)] + [("q9", "x", 2), ("q9", "y", 1)])
    rer = _table([("q1", d, 10.0 - i) for i, d in enumerate(["d5", "d1", "d6", "d2", "d3", "d4"])]
                 + [("q9", "y", 2), ("q9", "x", 1)])  # fmt: skip
    qrels = pa.table({"query_id": ["q1"] * 5, "doc_id": ["d1", "d2", "d3", "d4", "d6"], "relevance": [1, 0, 2, 0, 1]})
    hits = phantom_hits(first, rer, qrels, k=2)
    assert hits.to_dict("records") == [{"query_id": "q1", "doc_id": "d5", "new_rank": 1, "old_rank": 5}]
    assert phantom_hits(first, rer, qrels, k=2, depth=4).empty  # d5 (F rank 5) is not reranked at depth 4
    # against R-at-5 (d5 d1 d2 d3 d4 d6) d5 was already first: no hit; against R-at-4 it was fifth
    assert phantom_hits(first, rer, qrels, k=2, depth=6, baseline_depth=5).empty
    assert phantom_hits(first, rer, qrels, k=2, depth=6, baseline_depth=4).equals(hits)
    with RerankPair(first, rer) as pair:  # one join shared by the analyses of a pair gives the same answers
        assert phantom_hits(first, rer, qrels, k=2, pair=pair).equals(hits)
        assert judged_summary(first, rer, qrels, k=2, depths=[0, 4, 6], pair=pair) == judged_summary(
            first, rer, qrels, k=2, depths=[0, 4, 6])
    summary = judged_summary(first, rer, qrels, k=2, depths=[0, 4, 6])
    assert [p.phantom_hits for p in summary.points] == [0, 0, 1]
    assert [p.judged for p in summary.points] == [1.0, 1.0, 0.5]


def test_holes_on_real_run(qrels):
    first, r100 = run("bm25"), run("bm25__rankvicuna-7b@100")
    hits = phantom_hits(first, r100, qrels, k=10)
    summary = judged_summary(first, r100, qrels, k=10)
    assert summary.points[-1].depth == 100 and summary.points[-1].phantom_hits == len(hits) > 0
    assert (hits["old_rank"] > 10).all() and (hits["new_rank"] <= 10).all()
    # the dashboard hands over the curve's Judged@10 instead of scoring it again: the same summary
    with RerankPair(first, r100) as pair:
        curve = depth_curve(first, r100, qrels, "nDCG@10", pair=pair)
        assert phantom_hits(first, r100, qrels, k=10, pair=pair).equals(hits)
        given = {p.depth: p.mean for p in curve.points if p.measure == curve.judged_measure}
        assert judged_summary(first, r100, qrels, k=10, pair=pair, judged=given) == summary


def test_cutoff_curve(qrels, trec_eval_ndcg10):
    c = cutoff_curve(run("bm25"), qrels, "nDCG")
    assert c.cutoffs == (1, 5, 10, 20, 50, 100)
    assert c.mean[2] == pytest.approx(trec_eval_ndcg10["bm25"], abs=5e-5)
    r = cutoff_curve(run("bm25"), qrels, "R", [10, 100], rel=2)
    assert r.measures == ("R(rel=2)@10", "R(rel=2)@100") and r.mean[0] < r.mean[1]


def _random_pair(seed: int) -> tuple[pa.Table, pa.Table, pa.Table]:
    """A tie-heavy F, an R that reranks part of F's top (some of F's documents missing, some new ones, a query
    R lacks) and graded qrels (negative grades, judged documents nobody retrieved, a query nobody retrieved)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    f_rows, r_rows, q_rows = [], [], []
    for q in range(6):
        qid = f"q{q}"
        docs = [f"d{int(i)}" for i in rng.choice(60, size=int(rng.integers(0, 25)), replace=False)]
        f_rows += [(qid, d, float(rng.integers(0, 4))) for d in docs]
        if q != 5:
            rerank = docs[: int(rng.integers(0, len(docs) + 1))]
            rerank = [d for d in rerank if rng.random() > 0.1] + [f"n{q}"]  # one document F lacks
            r_rows += [(qid, d, float(rng.integers(0, 3))) for d in rerank]
        judged = [f"d{int(i)}" for i in rng.choice(60, size=int(rng.integers(0, 30)), replace=False)]
        q_rows += [(qid, d, int(rng.choice([-1, 0, 0, 1, 2, 3]))) for d in judged]
    q_rows.append(("q9", "d1", 2))
    q, d, g = zip(*q_rows, strict=True)
    return _table(f_rows), _table(r_rows), pa.table({"query_id": list(q), "doc_id": list(d), "relevance": list(g)})


@pytest.fixture(params=["arrow", "positions"])
def make_pair(request):
    """pair(first, rer, qrels): a RerankPair of Arrow tables, or (as the store's studies build it) one of runs
    carrying their trec_eval positions (as `top_run_rows` reads them), joined with the qrels' grades."""
    import duckdb

    def positioned(table: pa.Table) -> pa.Table:
        con = duckdb.connect()
        try:
            con.register("run_in", table)
            return con.sql("""SELECT query_id, doc_id, score, CAST(row_number() OVER (PARTITION BY query_id
                              ORDER BY score DESC, doc_id DESC) AS INTEGER) AS position FROM run_in""").to_arrow_table()
        finally:
            con.close()

    def pair(first: pa.Table, rer: pa.Table, qrels: pa.Table):
        if request.param == "arrow":
            return RerankPair(first, rer)
        return RerankPair(positioned(first), positioned(rer), qrels)

    return pair


@pytest.fixture(params=["order all rows", "candidates only"])
def graded_path(request, monkeypatch):
    """Both ways RerankPair.graded reads the join: every row ordered (small joins) or only the rows that can rank
    within the cutoff (big ones; forced here on small random pairs)."""
    from workbench.analysis.depth import ranks

    if request.param == "candidates only":
        monkeypatch.setattr(ranks, "ORDER_ALL_ROWS", 0)
    return request.param


@pytest.mark.parametrize("seed", range(25))
def test_curve_values_equal_scoring_each_derived_run(seed, graded_path, make_pair):
    """The curve scores its variants from their ranks (numpy, ranked_variants): per query exactly what scoring
    each derived run (derive_depth_run, built in SQL) with `evaluate` gives, with and without cutoffs."""
    import numpy as np

    from workbench.scoring import evaluate

    first, rer, qrels = _random_pair(seed)
    depths = [0, 1, 2, 3, 5, 8, 13, 30]
    for measures in (["nDCG@5", "P(rel=2)@3", "RR@10"], ["AP", "nDCG", "R@10", "RR", "P@20"]):
        with make_pair(first, rer, qrels) as pair:
            curve = depth_curve(None, None, qrels, measures, depths=depths, judged_k=4, n_boot=10, pair=pair)
        for k in depths:
            scores = evaluate(derive_depth_run(first, rer, k), qrels, [*curve.measures, curve.judged_measure])
            frame = scores.to_pandas().pivot(index="query_id", columns="measure", values="value")
            for m in (*curve.measures, curve.judged_measure):
                got = np.asarray(curve.point(m, k).values)
                assert np.array_equal(got, frame.loc[list(curve.query_ids), m].to_numpy()), (m, k)


@pytest.mark.parametrize("seed", range(25))
def test_holes_equal_a_count_over_each_derived_run(seed, graded_path, make_pair):
    """Phantom hits and the Judged@k summary (numpy over the pair's graded rows) against a plain count over each
    derived run (derive_depth_run) and the qrels."""
    import numpy as np

    first, rer, qrels = _random_pair(seed)
    k, depths = 3, [0, 1, 2, 4, 7, 30]
    grades = {(q, d) for q, d in zip(qrels["query_id"].to_pylist(), qrels["doc_id"].to_pylist(), strict=True)}
    judged_queries = set(qrels["query_id"].to_pylist())

    def ranks(depth: int) -> dict[tuple[str, str], int]:
        t = derive_depth_run(first, rer, depth)
        return dict(zip(zip(t["query_id"].to_pylist(), t["doc_id"].to_pylist(), strict=True),
                        t["rank"].to_pylist(), strict=True))

    f_rank = ranks(0)
    with make_pair(first, rer, qrels) as pair:
        summary = judged_summary(None, None, qrels, k=k, depths=depths, pair=pair)
    for point in summary.points:
        top = [key for key, r in ranks(point.depth).items() if r <= k and key[0] in judged_queries]
        unjudged = [key for key in top if key not in grades]
        phantoms = [key for key in unjudged if f_rank[key] > k]
        assert (point.unjudged_in_top_k, point.phantom_hits, point.queries_with_phantoms) == (
            len(unjudged), len(phantoms), len({q for q, _ in phantoms}))
        per_query = [sum(1 for key in top if key[0] == q and key in grades) / min(k, sum(
            1 for key in f_rank if key[0] == q)) if any(key[0] == q for key in f_rank) else 0.0
            for q in sorted(judged_queries)]
        assert point.judged == pytest.approx(np.mean(per_query), abs=1e-12)
    for depth, base in ((30, 0), (7, 2), (4, 1)):
        new, old = ranks(depth), ranks(base)
        expected = sorted((q, d, r, old[(q, d)]) for (q, d), r in new.items()
                          if r <= k < old[(q, d)] and q in judged_queries and (q, d) not in grades)
        with make_pair(first, rer, qrels) as pair:
            hits = phantom_hits(None, None, qrels, k=k, depth=depth, baseline_depth=base, pair=pair)
        assert sorted(map(tuple, hits.itertuples(index=False))) == expected
        assert list(hits["query_id"]) == sorted(hits["query_id"]) and hits.dtypes["new_rank"] == np.int64


def test_observed_runs_as_judged_ranks_score_as_their_rows(qrels):
    """depth_curve's observed points from RankedRows (judged rows' trec_eval ranks and rows per query, what the
    store gives without reading a run) equal those scored from the run's rows."""
    import numpy as np

    from workbench.analysis import RankedRows

    first, r100, r20 = run("bm25"), run("bm25__rankvicuna-7b@100"), run("bm25__rankvicuna-7b@20")
    frame = r20.to_pandas().sort_values(["query_id", "score", "doc_id"], ascending=[True, False, False])
    frame["rank"] = frame.groupby("query_id").cumcount() + 1
    judged = frame.merge(qrels.to_pandas()[["query_id", "doc_id", "relevance"]], on=["query_id", "doc_id"])
    counts = frame.groupby("query_id").size().rename("n").reset_index()
    ranked = RankedRows(pa.Table.from_pandas(judged[["query_id", "rank", "relevance"]], preserve_index=False),
                        pa.Table.from_pandas(counts, preserve_index=False))
    for measures in (["nDCG@10", "P(rel=2)@5"], ["AP", "R@100"]):
        by_rows = depth_curve(first, r100, qrels, measures, observed={20: r20}, n_boot=10)
        by_ranks = depth_curve(first, r100, qrels, measures, observed={20: ranked}, n_boot=10)
        for m in (*by_rows.measures, by_rows.judged_measure):
            assert np.array_equal(by_ranks.point(m, 20, observed=True).values,
                                  by_rows.point(m, 20, observed=True).values), m
