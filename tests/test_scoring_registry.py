"""Every scorer in the registry is proven equal per query to its reference, so a newly registered one is checked
without editing this file: the parametrisation reads the registry (built-in scorers, a runtime measures file,
any `workbench.scorers` plugin installed), each scorer's `examples` are its test measures.

References: ir-measures (its installed providers, fed the run in trec_eval order: the fallback path, itself
checked against ir-measures' own `iter_calc` here and against trec_eval's outputs in test_scoring_parity), its
runtime provider for runtime measures, and for IPrec (trec_eval 10's rounding, which ir-measures' trec_eval 9 lacks)
a plain-Python trec_eval 10 plus ir-measures wherever the two roundings agree.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import ir_measures
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from test_scoring_fast import read_table, run_and_qrels

from workbench.scoring import evaluate, fallback, fast, iprec
from workbench.scoring.registry import Scorers, builtin

ROOT = Path(__file__).resolve().parents[1]
TE = ROOT / "tests" / "data" / "trec_eval"
MEASURES_FILE = ROOT / "tests" / "data" / "measures" / "trec_style.py"

SCORERS: Scorers = builtin().with_measures([MEASURES_FILE])
FIXTURES = [("qrels.test", "results.test"), ("qrels.test", "results.trunc"), ("qrels.rel_level", "results.test")]


def scorer_ids(s) -> str:
    return s.name


def examples(scorer) -> list:
    """The scorer's test measures; for an installed plugin, those ir-measures also computes (the rest have no
    reference to be held to), the test skipped when there are none."""
    ms = SCORERS.parse(list(scorer.examples))
    if not scorer.trusted and scorer.name != "runtime":
        ms = [m for m in ms if fallback.supports(m)]
        if not ms:
            pytest.skip(f"plugin scorer {scorer.name} computes no measure ir-measures computes")
    if scorer.name == "runtime":  # a user's measures take a cutoff too
        ms += SCORERS.parse([f"{m}@3" for m in ms])
    return ms


# ---- references -----------------------------------------------------------------------------------------------


def trec_order(run: pa.Table, judged: set[str]) -> dict[str, list[str]]:
    """doc_ids per judged query in trec_eval order (score desc as float64, doc_id desc in byte order), in Python."""
    rows = sorted((r for r in zip(*(run[c].to_pylist() for c in ("query_id", "doc_id", "score")), strict=True)
                   if r[0] in judged), key=lambda r: (r[0], -r[2], [-b for b in r[1].encode()] + [1]))
    out: dict[str, list[str]] = defaultdict(list)
    for q, d, _ in rows:
        out[q].append(d)
    return out


def qrels_of(qrels: pa.Table) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for q, d, g in zip(*(qrels[c].to_pylist() for c in ("query_id", "doc_id", "relevance")), strict=True):
        out[q][d] = g
    return dict(out)


def runtime_reference(run: pa.Table, qrels: pa.Table, ms: list) -> dict:
    """ir-measures' runtime provider, given each ranking with strictly decreasing scores in trec_eval order."""
    qd = qrels_of(qrels)
    ranked = trec_order(run, set(qd))
    rd = {q: {d: float(len(docs) - i) for i, d in enumerate(docs)} for q, docs in ranked.items()}
    out = {}
    for metric in ir_measures.runtime.evaluator(ms, qd).iter_calc(rd):
        out[(metric.query_id, str(metric.measure))] = float(metric.value)
    return out


def iprec_reference(run: pa.Table, qrels: pa.Table, ms: list) -> dict:
    """trec_eval 10's m_iprec_at_recall.c in Python: the best precision at any rank where at least
    lround(r * num_rel) (at least 1) relevant documents have been retrieved, else 0."""
    qd = qrels_of(qrels)
    ranked = trec_order(run, set(qd))
    out = {}
    for m in ms:
        rel, level = m.params.get("rel", 1), float(m.params["recall"])
        for q, judged in qd.items():
            num_rel = sum(g >= rel for g in judged.values())
            need = max(math.floor(level * num_rel + 0.5), 1)
            hits, best = 0, 0.0
            for i, d in enumerate(ranked.get(q, []), start=1):
                if judged.get(d, -1) >= rel:
                    hits += 1
                    if hits >= need:
                        best = max(best, hits / i)
            out[(q, str(m))] = best
    return out


def independent_ir_measures(run: pa.Table, qrels: pa.Table, ms: list) -> dict:
    """ir-measures' own `iter_calc` (its default provider choice), given trec_eval order as scores; for the
    queries the run retrieves (ir-measures' providers differ on an empty ranking, which -c scores)."""
    qd = qrels_of(qrels)
    ranked = trec_order(run, set(qd))
    rd = {q: {d: float(len(docs) - i) for i, d in enumerate(docs)} for q, docs in ranked.items()}
    return {(m.query_id, str(m.measure)): float(m.value) for m in ir_measures.iter_calc(ms, qd, rd)
            if m.query_id in rd}


def reference(scorer, run: pa.Table, qrels: pa.Table, ms: list) -> dict:
    if scorer.reference == "trec_eval 10":
        return iprec_reference(run, qrels, ms)
    assert scorer.reference == "ir_measures", scorer.reference
    if scorer.name == "runtime":
        return runtime_reference(run, qrels, ms)
    table = fallback.evaluate(run, qrels, ms)
    return {(q, m): v for q, m, v in zip(*(table[c].to_pylist() for c in ("query_id", "measure", "value")),
                                         strict=True)}


def assert_equal_to_reference(scorer, run: pa.Table, qrels: pa.Table) -> None:
    ms = examples(scorer)
    got = evaluate_with(scorer, run, qrels, ms)
    want = reference(scorer, run, qrels, ms)
    assert got.keys() == want.keys()
    bad = [(k, got[k], want[k]) for k in got if not abs(got[k] - want[k]) < 1e-12]
    assert not bad, bad[:5]
    if scorer.name == "iprec":  # and ir-measures (trec_eval 9) wherever the two roundings agree, on the queries
        ir = reference(fallback.SCORER, run, qrels, ms)  # the run retrieves (pytrec_eval gives NaN for an empty one)
        qd = qrels_of(qrels)
        retrieved = set(run["query_id"].to_pylist())
        for (q, name), v in got.items():
            if q not in retrieved:
                continue
            m = next(m for m in ms if str(m) == name)
            x = float(m.params["recall"]) * sum(g >= m.params.get("rel", 1) for g in qd[q].values())
            if abs(x - round(x)) < 1e-9:
                assert abs(v - ir[(q, name)]) < 1e-12, (q, name, v, ir[(q, name)])


def evaluate_with(scorer, run: pa.Table, qrels: pa.Table, ms: list) -> dict:
    """The scorer's values through the registry (what every command uses), keyed (query_id, measure)."""
    table = SCORERS.evaluate(run, qrels, ms)
    assert {SCORERS.scorer_for(m).name for m in ms} == {scorer.name}
    return {(q, m): v for q, m, v in zip(*(table[c].to_pylist() for c in ("query_id", "measure", "value")),
                                         strict=True)}


# ---- the tests ------------------------------------------------------------------------------------------------


def test_the_registry_lists_the_built_in_scorers_in_routing_order():
    assert [s.name for s in SCORERS.scorers] == ["fast", "iprec", "runtime", "ir_measures"]
    assert [s.name for s in builtin().scorers] == ["fast", "iprec", "ir_measures"]


@pytest.mark.parametrize("scorer", SCORERS.all(), ids=scorer_ids)
def test_every_scorer_serves_its_examples(scorer):
    """A scorer's examples are routed to it (none is shadowed by an earlier scorer) and have its evaluator id."""
    ms = examples(scorer)
    assert ms, f"scorer {scorer.name} declares no examples to be checked with"
    for m in ms:
        assert SCORERS.scorer_for(m) is scorer, (str(m), SCORERS.scorer_for(m).name)
        assert SCORERS.evaluator_id(m) == scorer.evaluator_id(m)


@pytest.mark.parametrize(("qrels", "run"), FIXTURES)
@pytest.mark.parametrize("scorer", SCORERS.all(), ids=scorer_ids)
def test_every_scorer_equals_its_reference_on_trec_eval_fixtures(scorer, qrels, run):
    assert_equal_to_reference(scorer, read_table(TE / run, "run"), read_table(TE / qrels, "q"))


@pytest.mark.parametrize(("qrels", "run"), FIXTURES)
def test_the_fallback_equals_ir_measures_own_provider_choice(qrels, run):
    """The reference path itself against ir-measures' `iter_calc` (msmarco, gdeval, compat ... as ir-measures
    picks them), on the queries the run retrieves."""
    r, q = read_table(TE / run, "run"), read_table(TE / qrels, "q")
    # RR(judged_only=True)@5 is ours only (pytrec_eval on each top 5): ir-measures alone has no provider for it
    ms = [m for m in examples(fallback.SCORER) if m.NAME != "RR"]
    got = evaluate_with(fallback.SCORER, r, q, ms)
    want = independent_ir_measures(r, q, ms)
    assert want and all(abs(got[k] - v) < 1e-9 for k, v in want.items()), \
        [(k, got[k], v) for k, v in want.items() if not abs(got[k] - v) < 1e-9][:5]


@pytest.mark.parametrize("scorer", [s for s in SCORERS.all() if s is not fallback.SCORER], ids=scorer_ids)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=run_and_qrels())
def test_every_scorer_equals_its_reference_on_random_tied_runs(scorer, data):
    run, qrels = data
    assert_equal_to_reference(scorer, run, qrels)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=run_and_qrels())
def test_a_users_function_sees_trec_eval_order(data):
    """The runtime measures re-implement RR, P-like counts and NumRet in pandas: equal to the vectorised ones, so
    the user's function got each ranking in trec_eval order, cut at the cutoff in that order."""
    run, qrels = data
    ms = ["FirstRel", "FirstRel@3", "RelRet@5", "Ranked", "RR", "RR@3", "NumRet(rel=1)", "NumRet"]
    table = SCORERS.evaluate(run, qrels, ms)
    v = defaultdict(dict)
    for q, m, x in zip(*(table[c].to_pylist() for c in ("query_id", "measure", "value")), strict=True):
        v[q][m] = x
    for q, row in v.items():
        assert row["FirstRel"] == row["RR"] and row["FirstRel@3"] == row["RR@3"], q
        assert row["Ranked"] == row["NumRet"], q
    p5 = fast.evaluate(run, qrels, SCORERS.parse(["P@5"]))  # RelRet@5 = 5 x P@5
    for q, x in zip(p5["query_id"].to_pylist(), p5["value"].to_pylist(), strict=True):
        assert v[q]["RelRet@5"] == pytest.approx(5 * x, abs=1e-12)


def test_iprec_needs_its_own_reference():
    """Why IPrec is not checked against ir-measures alone: trec_eval 9 (pytrec_eval) rounds recall levels
    differently, e.g. IPrec@0.1 of query 301 in trec_eval's own test (out.test.aq: 0.2098)."""
    run, qrels = read_table(TE / "results.test", "run"), read_table(TE / "qrels.test", "q")
    m = SCORERS.parse(["IPrec@0.1"])
    ours = iprec.evaluate(run, qrels, m).to_pylist()[0]
    theirs = fallback.evaluate(run, qrels, m).to_pylist()[0]
    assert ours["query_id"] == theirs["query_id"] == "301"
    assert f"{ours['value']:.4f}" == "0.2098" != f"{theirs['value']:.4f}"


def test_the_module_functions_use_the_registry():
    run, qrels = read_table(TE / "results.test", "run"), read_table(TE / "qrels.test", "q")
    ms = ["nDCG@10", "IPrec@0.5", "Bpref"]
    assert evaluate(run, qrels, ms).equals(builtin().evaluate(run, qrels, ms))
    assert np.all(np.isfinite(evaluate(run, qrels, ms)["value"].to_numpy()))


def test_the_registry_travels_to_a_process_without_the_measures_file(tmp_path):
    """What a Ray task gets: the driver's registry, pickled, scores a batch in a process that lacks the user's file
    (its bytes travel with it) to the same values, bit for bit."""
    import pickle
    import shutil
    import subprocess
    import sys

    measures = tmp_path / "mine.py"
    shutil.copyfile(MEASURES_FILE, measures)
    scorers = builtin().with_measures([measures])
    run, qrels = read_table(TE / "results.test", "run"), read_table(TE / "qrels.test", "q")
    ms = ["FirstRel@10", "nDCG@10", "IPrec@0.1", "Bpref"]
    local = scorers.evaluate(run, qrels, ms)
    payload = pickle.dumps((scorers, run, qrels, ms))
    measures.unlink()
    code = ("import pickle, sys; s, run, qrels, ms = pickle.load(sys.stdin.buffer); "
            "sys.stdout.buffer.write(pickle.dumps(s.evaluate(run, qrels, ms)))")
    res = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr.decode()
    remote = pickle.loads(res.stdout)
    assert remote.equals(local)
    assert pickle.loads(pickle.dumps(scorers)).scorers[0] is fast.SCORER


def test_runtime_measures_score_a_group_column_like_separate_runs():
    """A depth-style group column through a user's measures, a group of unjudged rows only included (all 0)."""
    run, qrels = read_table(TE / "results.test", "run"), read_table(TE / "qrels.test", "q")
    ms = ["FirstRel@5", "RelRet"]
    single = SCORERS.evaluate(run, qrels, ms)
    stray = pa.table({"query_id": ["unjudged"], "doc_id": ["x"], "score": [1.0], "rank": [1], "g": [3]})
    both = pa.concat_tables([run.append_column("g", pa.array([g] * run.num_rows, pa.int64())) for g in (1, 2)]
                            + [stray])
    grouped = SCORERS.evaluate(both, qrels, ms, group="g")
    for g in (1, 2):
        part = grouped.filter(pc.equal(grouped["g"], g)).drop_columns(["g"])
        assert part.equals(single)
    assert grouped.filter(pc.equal(grouped["g"], 3))["value"].to_pylist() == [0.0] * 6
