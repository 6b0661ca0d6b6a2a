"""The vectorised path must equal the ir-measures reference path per query (|diff| < 1e-12) everywhere."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.errors import UnknownMeasureError, WorkbenchError
from workbench.scoring import SEMANTICS, default_measures, evaluate, evaluator_id, fallback, fast, measure_name
from workbench.scoring.measures import parse_measures

ROOT = Path(__file__).resolve().parents[1]
TE = ROOT / "tests" / "data" / "trec_eval"
DL20 = ROOT / "runs" / "dl20"

FAST_MEASURES = parse_measures(
    [
        "nDCG", "nDCG@1", "nDCG@3", "nDCG@10", "AP", "AP@5", "AP(rel=2)", "RR", "RR@1", "RR@3",
        "RR(rel=2)@10", "RR(rel=3)", "P@1", "P@5", "P(rel=2)@10", "R@5", "R(rel=2)@100", "R(rel=3)@3",
        "Success@1", "Success(rel=2)@5", "Judged", "Judged@1", "Judged@10", "NumRet", "NumRel", "NumRel(rel=2)",
        "NumRelRet", "NumRet(rel=2)",
    ]
)  # fmt: skip


def read_table(path: Path, kind: str) -> pa.Table:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if kind == "run":
        return pa.table(
            {
                "query_id": [r[0] for r in rows],
                "doc_id": [r[2] for r in rows],
                "score": pa.array([float(r[4]) for r in rows], pa.float64()),
                "rank": [int(r[3]) for r in rows],
            }
        )
    return pa.table(
        {"query_id": [r[0] for r in rows], "doc_id": [r[2] for r in rows], "relevance": [int(r[3]) for r in rows]}
    )


def assert_same(run: pa.Table, qrels: pa.Table, measures=FAST_MEASURES, group: str | None = None) -> pa.Table:
    assert all(fast.supports(m) for m in measures)
    a = fast.evaluate(run, qrels, measures, group=group)
    b = fallback.evaluate(run, qrels, measures, group=group)
    assert a.column_names == b.column_names
    assert a["query_id"].to_pylist() == b["query_id"].to_pylist()
    assert a["measure"].to_pylist() == b["measure"].to_pylist()
    if group:
        assert a[group].to_pylist() == b[group].to_pylist()
    diff = np.abs(a["value"].to_numpy() - b["value"].to_numpy())
    assert diff.max(initial=0.0) < 1e-12, a.filter(pa.array(diff >= 1e-12)).to_pylist()[:5]
    return a


# --- hand-computed case --------------------------------------------------------------------------------


def small_case() -> tuple[pa.Table, pa.Table]:
    # q1 trec_eval order: d1 (0.9), then the 0.8 ties by doc_id DESC: d4, d3, d2, then d5 (0.1)
    #    grades:          2          -   1   0                                            3
    # q2 all tied: e3, e2, e1 -> the only relevant doc e2 is at rank 2 (file order/rank column ignored)
    # q3 is judged but not retrieved; q9 is retrieved but not judged (dropped)
    run = pa.table(
        {
            "query_id": ["q1"] * 5 + ["q2"] * 3 + ["q9"],
            "doc_id": ["d1", "d2", "d3", "d4", "d5", "e1", "e2", "e3", "z"],
            "score": [0.9, 0.8, 0.8, 0.8, 0.1, 0.5, 0.5, 0.5, 1.0],
            "rank": [1, 2, 3, 4, 5, 1, 2, 3, 1],
        }
    )
    qrels = pa.table(
        {
            "query_id": ["q1"] * 4 + ["q2"] * 3 + ["q3"],
            "doc_id": ["d1", "d2", "d3", "d5", "e1", "e2", "e3", "f1"],
            "relevance": [2, 0, 1, 3, 0, 1, 0, 1],
        }
    )
    return run, qrels


def test_hand_computed_small_case() -> None:
    run, qrels = small_case()
    scores = evaluate(run, qrels, ["nDCG@3", "AP", "RR", "AP(rel=2)", "RR(rel=3)"])
    got = {(r["query_id"], r["measure"]): r["value"] for r in scores.to_pylist()}
    log2 = math.log2
    expected = {
        # ranks of q1: d1=1 (g2), d4=2 (unjudged), d3=3 (g1), d2=4 (g0), d5=5 (g3)
        ("q1", "nDCG@3"): (2 / log2(2) + 1 / log2(4)) / (3 / log2(2) + 2 / log2(3) + 1 / log2(4)),
        ("q1", "AP"): (1 / 1 + 2 / 3 + 3 / 5) / 3,
        ("q1", "RR"): 1.0,
        ("q1", "AP(rel=2)"): (1 / 1 + 2 / 5) / 2,
        ("q1", "RR(rel=3)"): 1 / 5,
        ("q2", "nDCG@3"): (1 / log2(3)) / (1 / log2(2)),
        ("q2", "AP"): (1 / 2) / 1,
        ("q2", "RR"): 1 / 2,
        ("q2", "AP(rel=2)"): 0.0,
        ("q2", "RR(rel=3)"): 0.0,
    }
    expected.update({("q3", m): 0.0 for m in ["nDCG@3", "AP", "RR", "AP(rel=2)", "RR(rel=3)"]})
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        assert got[key] == pytest.approx(want, abs=1e-15), key
    assert_same(run, qrels)


def test_output_shape_and_order() -> None:
    run, qrels = small_case()
    scores = evaluate(run, qrels, ["AP", "nDCG@3", "Bpref"])  # Bpref comes from the fallback path
    assert scores.schema.names == ["query_id", "measure", "value"]
    assert scores["query_id"].to_pylist() == ["q1"] * 3 + ["q2"] * 3 + ["q3"] * 3
    assert scores["measure"].to_pylist() == ["AP", "nDCG@3", "Bpref"] * 3


def test_score_compared_as_float64_not_float32() -> None:
    """trec_eval 10 keeps scores as double; pytrec_eval (float) would tie these and put d2 first."""
    run = pa.table({"query_id": ["q", "q"], "doc_id": ["d1", "d2"], "score": [1.0000000001, 1.0]})
    qrels = pa.table({"query_id": ["q"], "doc_id": ["d1"], "relevance": [1]})
    for m in ("RR", "P@1"):
        assert evaluate(run, qrels, [m])["value"].to_pylist() == [1.0]
        assert fallback.evaluate(run, qrels, parse_measures([m]))["value"].to_pylist() == [1.0]


# --- fixtures and real runs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qrels", "run"),
    [("qrels.test", "results.test"), ("qrels.test", "results.trunc"), ("qrels.rel_level", "results.test")],
)
def test_fast_equals_fallback_on_trec_eval_fixtures(qrels: str, run: str) -> None:
    r = read_table(TE / run, "run")
    q = read_table(TE / qrels, "qrels")
    assert_same(r, q)
    # presorted input takes the no-sort path; must give the same numbers
    order = pc.sort_indices(r, sort_keys=[("query_id", "ascending"), ("score", "descending")])
    assert_same(r.take(order), q)


@pytest.mark.parametrize("file", sorted(p.name for p in DL20.glob("*.trec")))
def test_fast_equals_fallback_on_dl20(file: str) -> None:
    assert_same(read_table(DL20 / file, "run"), read_table(ROOT / "data/trec-dl-2020/qrels.dl20-passage.txt", "q"))


def test_group_scores_each_variant_like_a_separate_run() -> None:
    run = read_table(DL20 / "bm25.trec", "run")
    qrels = read_table(ROOT / "data/trec-dl-2020/qrels.dl20-passage.txt", "q")
    variants = []
    for depth in (5, 20, 100):
        part = run.filter(pc.less_equal(run["rank"], depth))
        variants.append(part.append_column("depth", pa.array([depth] * part.num_rows, pa.int64())))
    combined = pa.concat_tables(variants)
    ms = ["nDCG@10", "AP(rel=2)", "R(rel=2)@100", "Bpref"]
    together = evaluate(combined, qrels, ms, group="depth")
    assert together.column_names == ["query_id", "measure", "value", "depth"]
    for depth, part in zip((5, 20, 100), variants, strict=True):
        alone = evaluate(part.drop_columns(["depth"]), qrels, ms)
        mine = together.filter(pc.equal(together["depth"], depth))
        assert mine["query_id"].equals(alone["query_id"]) and mine["measure"].equals(alone["measure"])
        assert np.array_equal(mine["value"].to_numpy(), alone["value"].to_numpy())
    assert_same(combined, qrels, parse_measures(ms[:3]), group="depth")
    # interleaved variants (not contiguous) take the sorting path and still agree
    shuffled = combined.take(pa.array(np.random.default_rng(1).permutation(combined.num_rows)))
    assert_same(shuffled, qrels, parse_measures(ms[:3]), group="depth")


# --- random runs with heavy ties -----------------------------------------------------------------------

DOCS = ["a", "b", "B", "d1", "d10", "d2", "d9", "d10a", "x", "é", "Z9", "00", "0", "10", "9"]
SCORES = [0.0, -0.0, 1.0, 2.0, 2.5, -1.0, 1e-300, 3.0]


@st.composite
def run_and_qrels(draw: st.DrawFn) -> tuple[pa.Table, pa.Table]:
    queries = draw(st.lists(st.sampled_from(["1", "2", "10", "q", "Q"]), min_size=1, max_size=4, unique=True))
    run_rows, qrel_rows = [], []
    for q in queries:
        in_run = draw(st.booleans()) or len(queries) == 1
        in_qrels = draw(st.booleans()) or len(queries) == 1
        if in_run:
            docs = draw(st.lists(st.sampled_from(DOCS), max_size=len(DOCS), unique=True))
            for d in docs:
                s = draw(st.one_of(st.sampled_from(SCORES), st.floats(-5, 5, allow_nan=False)))
                run_rows.append((q, d, s))
        if in_qrels:
            docs = draw(st.lists(st.sampled_from(DOCS), min_size=1, max_size=len(DOCS), unique=True))
            for d in docs:
                qrel_rows.append((q, d, draw(st.integers(-2, 4))))
    if draw(st.booleans()):
        run_rows = draw(st.permutations(run_rows))
    elif draw(st.booleans()):  # grouped + score-sorted: the no-sort path, ties left in arbitrary order
        run_rows.sort(key=lambda r: (r[0], -r[2]))
    run = pa.table(
        {
            "query_id": pa.array([r[0] for r in run_rows], pa.string()),
            "doc_id": pa.array([r[1] for r in run_rows], pa.string()),
            "score": pa.array([r[2] for r in run_rows], pa.float64()),
        }
    )
    qrels = pa.table(
        {
            "query_id": pa.array([r[0] for r in qrel_rows], pa.string()),
            "doc_id": pa.array([r[1] for r in qrel_rows], pa.string()),
            "relevance": pa.array([r[2] for r in qrel_rows], pa.int64()),
        }
    )
    return run, qrels


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run_and_qrels())
def test_fast_equals_fallback_on_random_tied_runs(data: tuple[pa.Table, pa.Table]) -> None:
    run, qrels = data
    a = assert_same(run, qrels)
    assert set(a["query_id"].to_pylist()) == set(qrels["query_id"].to_pylist())


def _trec_eval_ranked(run: pa.Table, qrels: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Judged rows with their trec_eval rank (score desc, doc_id desc in byte order), as ingest stores them,
    computed here in plain Python; and the rows per query."""
    rows = sorted(zip(*(run[c].to_pylist() for c in ("query_id", "doc_id", "score")), strict=True),
                  key=lambda r: (r[0], -r[2], [-b for b in r[1].encode()] + [1]))
    grades = {(q, d): g for q, d, g in zip(*(qrels[c].to_pylist() for c in qrels.column_names), strict=True)}
    judged, seen = [], {}
    for q, d, _ in rows:
        seen[q] = seen.get(q, 0) + 1
        if (q, d) in grades:
            judged.append((q, seen[q], grades[q, d]))
    cols = list(zip(*judged, strict=True)) or [[], [], []]
    return (pa.table({"query_id": pa.array(cols[0], pa.string()), "rank": pa.array(cols[1], pa.int32()),
                      "relevance": pa.array(cols[2], pa.int64())}),
            pa.table({"query_id": pa.array(list(seen), pa.string()), "n": pa.array(list(seen.values()), pa.int64())}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run_and_qrels())
def test_scoring_from_stored_ranks_equals_the_reference(data: tuple[pa.Table, pa.Table]) -> None:
    """evaluate_ranked (what `evaluate` uses for stored runs) equals ir-measures per query, ties included; the
    rows below the deepest cutoff may be left out."""
    from workbench.scoring import evaluate_ranked, ranked_plan

    run, qrels = data
    judged, n_ret = _trec_eval_ranked(run, qrels)
    ref = fallback.evaluate(run, qrels, FAST_MEASURES)
    got = evaluate_ranked(judged, n_ret, qrels, FAST_MEASURES)
    assert got["query_id"].to_pylist() == ref["query_id"].to_pylist()
    assert got["measure"].to_pylist() == ref["measure"].to_pylist()
    assert np.abs(got["value"].to_numpy() - ref["value"].to_numpy()).max(initial=0.0) < 1e-12
    cut = parse_measures(["P@5", "nDCG@3", "RR@10", "Judged@5", "R(rel=2)@3"])
    plan = ranked_plan(cut)
    assert (plan.max_rank, plan.n_ret) == (10, True)
    top = judged.filter(pc.less_equal(judged["rank"], plan.max_rank))
    got = evaluate_ranked(top, n_ret, qrels, cut)
    ref = fallback.evaluate(run, qrels, cut)
    assert np.abs(got["value"].to_numpy() - ref["value"].to_numpy()).max(initial=0.0) < 1e-12


def test_ranked_plans() -> None:
    from workbench.scoring import ranked_plan

    assert ranked_plan(["P@20", "nDCG@10"]) == ranked_plan(["P@20"])
    assert ranked_plan(["P@20", "nDCG@10"]).max_rank == 20
    assert ranked_plan(["P@20", "AP"]).max_rank is None  # AP reads every judged row
    assert not ranked_plan(["P@20", "AP"]).n_ret and ranked_plan(["NumRet"]).n_ret
    assert ranked_plan(["P@20", "ERR@10"]) is None  # not served by the vectorised path: score all rows
    assert ranked_plan(["IPrec@0.1"]) is None


# --- API -----------------------------------------------------------------------------------------------


def test_measure_parsing_and_names() -> None:
    assert measure_name("MAP") == "AP"
    assert [str(m) for m in default_measures("graded")] == [
        "nDCG@10", "AP(rel=2)", "RR(rel=2)@10", "R(rel=2)@100", "R(rel=2)@1000", "Judged@10",
    ]  # fmt: skip
    assert [str(m) for m in default_measures("binary")] == ["nDCG@10", "R@100", "R@1000", "AP", "RR@10"]
    with pytest.raises(UnknownMeasureError) as e:
        parse_measures(["AP", "bogus", "nDCG(foo=1)@10", "P@x"])
    assert all(s in str(e.value) for s in ("'bogus'", "'nDCG(foo=1)@10'", "'P@x'"))
    with pytest.raises(WorkbenchError):
        default_measures("ternary")


def test_evaluator_ids_and_routing() -> None:
    assert SEMANTICS.startswith("trec_eval")
    assert evaluator_id("nDCG@10").startswith("workbench.fast 0.1 (ir_measures 0.4.3")
    assert evaluator_id("Bpref").startswith("ir_measures 0.4.3/pytrec_eval-terrier ")
    assert fallback.route(parse_measures(["RR@10"])[0]).truncate == 10  # never the msmarco provider
    assert not fast.supports(parse_measures(["nDCG(judged_only=True)@10"])[0])
    assert not fast.supports(parse_measures(["nDCG(gains={0:0,1:1,2:3})@10"])[0])


def test_fallback_only_measures_are_scored() -> None:
    run, qrels = small_case()
    ms = ["nDCG(judged_only=True)@3", "RR(judged_only=True)@2", "Bpref", "Rprec", "IPrec@0.2", "SetF", "NumQ"]
    scores = evaluate(run, qrels, ms)
    assert scores.num_rows == 3 * len(ms)
    got = {(r["query_id"], r["measure"]): r["value"] for r in scores.to_pylist()}
    assert got[("q1", "RR(judged_only=True)@2")] == 1.0
    assert got[("q2", "NumQ")] == 1.0


def test_bad_inputs_raise_workbench_errors() -> None:
    run, qrels = small_case()
    with pytest.raises(WorkbenchError, match="NaN"):
        evaluate(run.set_column(2, "score", pa.array([float("nan")] * run.num_rows)), qrels, ["AP"])
    with pytest.raises(WorkbenchError, match="twice"):
        evaluate(run, pa.concat_tables([qrels, qrels]), ["AP"])
    with pytest.raises(WorkbenchError, match="depth"):
        evaluate(run, qrels, ["AP"], group="depth")
    with pytest.raises(UnknownMeasureError):
        evaluate(run, qrels, ["AP", "nope"])


def test_empty_run_scores_every_judged_query() -> None:
    _, qrels = small_case()
    empty = pa.table({"query_id": pa.array([], pa.string()), "doc_id": pa.array([], pa.string()), "score": []})
    scores = evaluate(empty, qrels, ["AP", "NumRel"])
    assert scores["value"].to_pylist() == [0.0, 3.0, 0.0, 1.0, 0.0, 1.0]


def test_qrels_index_is_reused_while_the_table_lives_and_dropped_with_it():
    """One analysis scores several rankings against one qrels table: its index is built once, gives the values a
    fresh index gives (nDCG's ideal DCG at a new cutoff is added to it), and dies with the table."""
    import gc

    from workbench.scoring import evaluate_ranked

    qrels = pa.table({"query_id": ["1", "1", "1", "2", "2"], "doc_id": ["a", "b", "c", "a", "d"],
                      "relevance": pa.array([2, 1, 0, 1, 3], pa.int64())})
    judged = pa.table({"query_id": ["1", "1", "2"], "rank": pa.array([1, 3, 2], pa.int64()),
                       "relevance": pa.array([1, 2, 3], pa.int64())})
    first = evaluate_ranked(judged, None, qrels, ["nDCG@2", "P(rel=2)@3"])
    key = id(qrels)
    assert key in fast._QRELS_INDEX and set(fast._QRELS_INDEX[key].ideal) == {2}
    again = evaluate_ranked(judged, None, qrels, ["nDCG@2", "nDCG@3", "P(rel=2)@3"])
    assert set(fast._QRELS_INDEX[key].ideal) == {2, 3}
    fresh = pa.table({c: qrels[c] for c in qrels.column_names})  # a new table object: a new index
    assert again.equals(evaluate_ranked(judged, None, fresh, ["nDCG@2", "nDCG@3", "P(rel=2)@3"]))
    assert again.filter(pc.not_equal(again["measure"], "nDCG@3")).equals(first)
    # hand-computed: q1 DCG@2 = 1/log2(2) + 0 = 1, ideal 2 + 1/log2(3); q2 DCG@2 = 3/log2(3), ideal 3 + 1/log2(3)
    values = {(q, m): v for q, m, v in zip(*(again[c].to_pylist() for c in ("query_id", "measure", "value")),
                                           strict=True)}
    assert values[("1", "nDCG@2")] == pytest.approx(1 / (2 + 1 / math.log2(3)))
    assert values[("2", "nDCG@2")] == pytest.approx((3 / math.log2(3)) / (3 + 1 / math.log2(3)))
    assert values[("1", "P(rel=2)@3")] == pytest.approx(1 / 3)
    del qrels, fresh
    gc.collect()
    assert key not in fast._QRELS_INDEX
