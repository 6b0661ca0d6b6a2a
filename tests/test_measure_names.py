"""Measure spellings: ir-measures and trec_eval names parse to the same measures, keep the name asked for, and
refuse what pytrec_eval cannot compute (cutoff 0 aborts its C code) before any scorer runs."""

from __future__ import annotations

from math import fsum

import ir_measures
import numpy as np
import pyarrow as pa
import pytest

from workbench.errors import UnknownMeasureError
from workbench.scoring import (
    aggregate,
    display_name,
    evaluate,
    measure_name,
    named_measures,
    parse_measure,
    parse_measures,
    parse_request,
)

SPELLINGS = [
    # (typed, rel, [(name shown, canonical)])
    ("map", None, [("map", "AP")]),
    ("map", 2, [("map", "AP(rel=2)")]),
    ("MAP", None, [("MAP", "AP")]),
    ("AP", 2, [("AP", "AP(rel=2)")]),  # -l applies to ir-measures spellings without rel=
    ("AP(rel=3)", 2, [("AP(rel=3)", "AP(rel=3)")]),  # ... and a stated rel= wins
    ("ndcg_cut.10", None, [("ndcg_cut_10", "nDCG@10")]),
    ("ndcg_cut.10", 2, [("ndcg_cut_10", "nDCG@10")]),  # nDCG uses grades as gains, -l or not (trec_eval)
    ("ndcg_cut_10", None, [("ndcg_cut_10", "nDCG@10")]),
    ("P.5", None, [("P_5", "P@5")]),
    ("P.10,5,10", None, [("P_5", "P@5"), ("P_10", "P@10")]),  # trec_eval sorts and deduplicates
    ("recall.1000", 2, [("recall_1000", "R(rel=2)@1000")]),
    ("recip_rank", None, [("recip_rank", "RR")]),
    ("num_rel_ret", None, [("num_rel_ret", "NumRet(rel=1)")]),
    ("num_rel_ret", 2, [("num_rel_ret", "NumRet(rel=2)")]),
    ("num_ret", 2, [("num_ret", "NumRet")]),
    ("num_rel", 2, [("num_rel", "NumRel(rel=2)")]),
    ("NumRelRet", None, [("NumRelRet", "NumRet(rel=1)")]),
    ("num_q", None, [("num_q", "NumQ")]),
    ("Rprec", None, [("Rprec", "Rprec")]),
    ("bpref", None, [("bpref", "Bpref")]),
    ("infAP", 2, [("infAP", "infAP(rel=2)")]),
    ("ndcg", None, [("ndcg", "nDCG")]),
    ("ndcg.1=3,2=9", None, [("ndcg_1=3,2=9", "nDCG(gains={1:3,2:9})")]),
    ("map_cut.100", None, [("map_cut_100", "AP@100")]),
    ("success.1,5", None, [("success_1", "Success@1"), ("success_5", "Success@5")]),
    ("iprec_at_recall.0.1", None, [("iprec_at_recall_0.10", "IPrec@0.1")]),
    ("iprec_at_recall..10,.50", None, [("iprec_at_recall_0.10", "IPrec@0.1"), ("iprec_at_recall_0.50", "IPrec@0.5")]),
    ("set_P", 2, [("set_P", "SetP(rel=2)")]),
    ("set_relative_P", None, [("set_relative_P", "SetP(relative=True)")]),
    ("set_recall", None, [("set_recall", "SetR")]),
    ("set_map", None, [("set_map", "SetAP")]),
    ("set_F", None, [("set_F", "SetF")]),
    ("set_F.0.5", None, [("set_F_0.5", "SetF(beta=0.5)")]),
    ("P_IA@10", None, [("P_IA@10", "P_IA@10")]),  # an ir-measures name that starts like trec_eval's P_
    ("  nDCG@10 ", None, [("nDCG@10", "nDCG@10")]),
    ("AP( rel = 2 )", None, [("AP(rel=2)", "AP(rel=2)")]),  # whitespace is not part of a name
]


@pytest.mark.parametrize(("typed", "rel", "want"), SPELLINGS)
def test_spellings(typed: str, rel: int | None, want: list[tuple[str, str]]) -> None:
    assert [(nm.name, nm.canonical) for nm in named_measures([typed], rel=rel)] == want


def test_trec_eval_defaults_and_nicknames() -> None:
    assert [nm.name for nm in named_measures(["P"])] == [f"P_{k}" for k in (5, 10, 15, 20, 30, 100, 200, 500, 1000)]
    assert [nm.name for nm in named_measures(["success"])] == ["success_1", "success_5", "success_10"]
    assert [nm.name for nm in named_measures(["iprec_at_recall"])][::5] == [
        "iprec_at_recall_0.00", "iprec_at_recall_0.50", "iprec_at_recall_1.00"]
    every = parse_request(["all_trec"])
    assert len(every.measures) == 65 and every.runid
    assert every.skipped == ("gm_map", "relstring", "gm_bpref", "Rprec_mult", "utility", "11pt_avg", "binG", "G",
                             "ndcg_rel", "Rndcg", "relative_P", "num_nonrel_judged_ret", "rbp", "rbp_resid", "unj")
    official = parse_request(["official"])
    assert [nm.name for nm in official.measures][:8] == [
        "num_q", "num_ret", "num_rel", "num_rel_ret", "map", "Rprec", "bpref", "recip_rank"]
    assert len(official.measures) == 28 and official.skipped == ("gm_map",) and official.runid
    assert parse_request(["set"]).skipped == ("utility",)


def test_names_shown_parse_back_to_the_same_measure() -> None:
    """A script may feed back the names it was given (`P_5`, `iprec_at_recall_0.10`): they mean the same."""
    for nm in named_measures(["all_trec", "ndcg.1=3,2=9", "set_F.0.5", "NumRelRet", "MAP", "AP(rel=2)"]):
        assert measure_name(nm.name) == nm.canonical, nm
        assert display_name(nm.name) == nm.name


def test_one_measure_per_spelling_first_name_wins() -> None:
    got = named_measures(["map", "AP", "MAP", "P.5", "P@5", "ndcg_cut.10", "nDCG@10"])
    assert [(nm.name, nm.canonical) for nm in got] == [("map", "AP"), ("P_5", "P@5"), ("ndcg_cut_10", "nDCG@10")]
    assert parse_measures(["map", "AP"]) == [ir_measures.AP]


@pytest.mark.parametrize("bad", ["nDCG@0", "P@0", "R@0", "Success@0", "Judged@0", "RR@0", "AP@0", "ERR@0",
                                 "P(cutoff=0)", "P@2147483648", "P(rel=2)@9999999999", "P.0", "ndcg_cut.0",
                                 "recall.5,0", "success.2147483648"])
def test_cutoffs_outside_1_to_2_31_are_refused(bad: str) -> None:
    with pytest.raises(UnknownMeasureError, match="cutoff must be an integer from 1 to 2147483647"):
        parse_measures([bad])


def test_cutoff_limits_and_objects() -> None:
    assert str(parse_measure("P@2147483647")) == "P@2147483647"
    with pytest.raises(UnknownMeasureError, match="cutoff"):
        parse_measures([ir_measures.nDCG @ 0])  # a Measure object is checked as a string is
    with pytest.raises(UnknownMeasureError, match="rel must be a number"):
        parse_measures(["P(rel=True)@5"])  # True == 1 would be stored as P@5


@pytest.mark.parametrize(("bad", "message"), [
    ("gm_map", "trec_eval's gm_map cannot be expressed in ir-measures"),
    ("utility.2,-1,0,0", "trec_eval's utility cannot be expressed"),
    ("runid.x", "trec_eval's runid cannot be expressed"),
    ("map.5", "trec_eval's map takes no parameters"),
    ("P.5,x", "P takes cutoffs that are positive integers"),
    ("ndcg_cut.23.4", "ndcg_cut takes cutoffs that are positive integers"),
    ("ndcg.1=4.5", "ndcg takes integer gains"),
    ("iprec_at_recall.1.5", "recall levels from 0 to 1"),
    ("set_F.0", "set_F takes one beta, a positive number"),
    ("", "empty measure name"),
    ("   ", "empty measure name"),
    ("bogus", "unknown measure: 'bogus'"),
    ("nDCG(foo=1)@10", "unknown measure"),
])
def test_refusals_say_why(bad: str, message: str) -> None:
    with pytest.raises(UnknownMeasureError, match=message.replace("(", r"\(")) as e:
        parse_measures([bad])
    assert "\n" not in str(e.value)


def test_every_bad_measure_in_one_line() -> None:
    with pytest.raises(UnknownMeasureError) as e:
        parse_measures(["AP", "bogus", "nDCG@0", "gm_map", "nope"])
    text = str(e.value)
    assert "unknown measures: 'bogus', 'nope'" in text and "'nDCG@0': cutoff" in text and "'gm_map'" in text
    assert "\n" not in text


def test_single_measure_apis_refuse_several() -> None:
    with pytest.raises(UnknownMeasureError, match="names 2 measures"):
        parse_measure("P.5,10")
    with pytest.raises(UnknownMeasureError, match="names 28 measures"):
        display_name("official")
    assert display_name("P.5") == "P_5" and display_name("NumRelRet") == "NumRelRet"


def _small() -> tuple[pa.Table, pa.Table]:
    run = pa.table({"query_id": ["1", "1", "2"], "doc_id": ["a", "b", "a"], "score": [2.0, 1.0, 1.0]})
    qrels = pa.table({"query_id": ["1", "2"], "doc_id": ["a", "b"], "relevance": pa.array([1, 1], pa.int64())})
    return run, qrels


def test_scorer_refuses_cutoff_zero_before_scoring() -> None:
    run, qrels = _small()
    with pytest.raises(UnknownMeasureError, match="cutoff"):
        evaluate(run, qrels, ["AP", "nDCG@0"])
    assert evaluate(run, qrels, ["map", "P.1"])["measure"].to_pylist() == ["AP", "P@1", "AP", "P@1"]


def test_aggregates_are_exact_sums() -> None:
    rng = np.random.default_rng(7)
    values = rng.random(1000) * 10.0 ** rng.integers(-8, 8, 1000)
    scores = pa.table({"query_id": [str(i) for i in range(1000)], "measure": ["AP"] * 1000, "value": values})
    assert aggregate(scores) == {"AP": fsum(values) / 1000}
    counts = scores.set_column(1, "measure", pa.array(["NumRet"] * 1000))
    assert aggregate(counts) == {"NumRet": fsum(values)}
    shuffled = scores.take(pa.array(rng.permutation(1000)))
    assert aggregate(shuffled) == aggregate(scores)  # row order cannot change a bit


def _iprec_reference(run: pa.Table, qrels: pa.Table, recall: float, rel: int) -> dict[str, float]:
    """trec_eval 10's iprec_at_recall, written out per query: best precision at or below the rank where
    max(lround(recall * R), 1) relevant documents have been retrieved."""
    grades = {(q, d): g for q, d, g in zip(*(qrels[c].to_pylist() for c in ("query_id", "doc_id", "relevance")),
                                          strict=True)}
    ranked: dict[str, list[tuple[float, str]]] = {}
    for q, d, s in zip(*(run[c].to_pylist() for c in ("query_id", "doc_id", "score")), strict=True):
        ranked.setdefault(q, []).append((s, d))
    out = {}
    for q in set(qrels["query_id"].to_pylist()):
        n_rel = sum(1 for (qq, _), g in grades.items() if qq == q and g >= rel)
        need = max(int(np.floor(recall * n_rel + 0.5)), 1)
        docs = [d for _, d in sorted(ranked.get(q, []), reverse=True)]  # score desc, doc_id desc
        precisions, hits = [], 0
        for i, d in enumerate(docs, start=1):
            if grades.get((q, d), -(10**9)) >= rel:
                hits += 1
                precisions.append((hits, hits / i))
        out[q] = max((p for h, p in precisions if h >= need), default=0.0)
    return out


def test_iprec_matches_a_reference_on_tie_heavy_runs() -> None:
    rng = np.random.default_rng(3)
    for _ in range(25):
        n = int(rng.integers(0, 120))
        run = pa.table({"query_id": [str(x) for x in rng.integers(0, 4, n)],
                        "doc_id": [f"d{x:03d}" for x in rng.permutation(300)[:n]],
                        "score": rng.integers(0, 3, n).astype(float)})
        pairs = {(str(q), f"d{d:03d}"): int(g) for q, d, g in zip(rng.integers(0, 5, 80), rng.integers(0, 300, 80),
                                                                   rng.integers(-1, 4, 80), strict=True)}
        qrels = pa.table({"query_id": [q for q, _ in pairs], "doc_id": [d for _, d in pairs],
                          "relevance": pa.array(list(pairs.values()), pa.int64())})
        for recall, rel in ((0.0, 1), (0.3, 1), (0.5, 2), (1.0, 1)):
            m = f"IPrec(rel={rel})@{recall}"
            got = {r["query_id"]: r["value"] for r in evaluate(run, qrels, [m]).to_pylist()}
            assert got == _iprec_reference(run, qrels, recall, rel), (m, n)
