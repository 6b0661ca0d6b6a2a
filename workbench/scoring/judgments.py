"""Scoring with the holes in the qrels in view: judged-only (trec_eval -J) and "unjudged as relevant".

trec_eval's -J (form_res_rels.c) sorts a query's ranking in its usual order, cuts it at -M, then drops every
document the qrels do not judge at a grade >= 0 (a negative grade is "in the pool, unjudged" to trec_eval) and
scores the condensed list; the number of relevant documents still comes from the whole qrels. Dropping rows keeps
the others' relative order (score, then doc_id), so the condensed list is the run with those rows removed.

"Unjudged as relevant" scores each run against its own qrels: every document it ranks that the qrels do not
judge (for a query the qrels judge) counts as relevant at the qrels' top grade. Only documents within a
measure's cutoff are made relevant (nDCG@10 looks at the top 10: a relevant document at rank 500 would only raise
its ideal), the whole ranking for a measure without one. With the default semantics (unjudged as non-relevant)
this gives the two ends a reader weighs: how far the holes could move a result.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ir_measures.measures import Measure

from workbench.scoring.evaluator import evaluate
from workbench.scoring.measures import parse_measures

JUDGED_ONLY = "trec_eval10(-c,-J,score:f64 desc,doc_id desc)"
"""The semantics of judged-only scores (SEMANTICS plus trec_eval's -J)."""
UNJUDGED_RELEVANT = "trec_eval10(-c,score:f64 desc,doc_id desc,unjudged@cutoff=top grade)"
"""The semantics of scores with each run's unjudged documents (within the measure's cutoff) at the top grade."""

_PAIR = ["query_id", "doc_id"]


def judged_pairs(qrels: pa.Table) -> pa.Table:
    """(query_id, doc_id) of the judgments trec_eval's -J keeps: grade >= 0."""
    return qrels.filter(pc.greater_equal(qrels["relevance"], 0)).select(_PAIR)


def judged_only(run: pa.Table, qrels: pa.Table) -> pa.Table:
    """The run's rows the qrels judge (grade >= 0), in no particular order: trec_eval -J's condensed list."""
    return run.join(judged_pairs(qrels), keys=_PAIR, join_type="left semi", use_threads=False)


def evaluate_judged_only(run: pa.Table, qrels: pa.Table, measures: Sequence[Measure | str]) -> pa.Table:
    """`evaluate` of the condensed run (per query as trec_eval -c -J)."""
    return evaluate(judged_only(run, qrels), qrels, measures)


def top_grade(qrels: pa.Table) -> int:
    """The highest grade the qrels give (at least 1: an all-non-relevant qrels still has a 'relevant')."""
    top = pc.max(qrels["relevance"]).as_py() if qrels.num_rows else None
    return max(int(top), 1) if top is not None else 1


def positions(run: pa.Table) -> pa.Table:
    """query_id, doc_id and each row's 1-based position in trec_eval's order (score desc, doc_id desc)."""
    order = pc.sort_indices(run, sort_keys=[("query_id", "ascending"), ("score", "descending"),
                                            ("doc_id", "descending")])
    ranked = run.select(_PAIR).take(order)
    qids = ranked["query_id"].combine_chunks()
    n = ranked.num_rows
    if n == 0:
        return ranked.append_column("position", pa.array([], pa.int64()))
    starts = np.flatnonzero(np.r_[True, pc.not_equal(qids[1:], qids[:-1]).to_numpy(zero_copy_only=False)])
    pos = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n])) + 1
    return ranked.append_column("position", pa.array(pos, pa.int64()))


def unjudged_relevant_qrels(ranked: pa.Table, qrels: pa.Table, cutoff: int | None, grade: int) -> pa.Table:
    """`qrels` with the run's unjudged documents at positions <= `cutoff` (None: all) judged at `grade`, for the
    queries the qrels judge. `ranked`: `positions(run)`."""
    rows = ranked if cutoff is None else ranked.filter(pc.less_equal(ranked["position"], cutoff))
    queries = pa.table({"query_id": pc.unique(qrels["query_id"])})
    holes = (rows.select(_PAIR)
             .join(queries, keys="query_id", join_type="left semi", use_threads=False)
             .join(judged_pairs(qrels), keys=_PAIR, join_type="left anti", use_threads=False))
    kept = qrels.join(holes, keys=_PAIR, join_type="left anti", use_threads=False)  # negative grades become holes
    added = holes.append_column("relevance", pa.array(np.full(holes.num_rows, grade), pa.int64()))
    return pa.concat_tables([kept.select(["query_id", "doc_id", "relevance"]),
                             added.cast(kept.select(["query_id", "doc_id", "relevance"]).schema)])


def evaluate_unjudged_relevant(run: pa.Table, qrels: pa.Table, measures: Sequence[Measure | str],
                               *, grade: int | None = None) -> pa.Table:
    """`evaluate` with the run's unjudged documents (within each measure's cutoff) relevant at `grade` (None: the
    qrels' top grade); rows ordered by query_id, then the order of `measures`, as `evaluate`'s."""
    grade = top_grade(qrels) if grade is None else grade
    parsed = parse_measures(list(measures))
    by_cutoff: dict[int | None, list[Measure]] = {}
    for m in parsed:
        by_cutoff.setdefault(m.params.get("cutoff"), []).append(m)
    ranked = positions(run)
    parts = [evaluate(run, unjudged_relevant_qrels(ranked, qrels, cutoff, grade), ms)
             for cutoff, ms in by_cutoff.items()]
    table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    order = {str(m): i for i, m in enumerate(parsed)}
    rank = pa.array([order[m] for m in table["measure"].to_pylist()], pa.int64())
    keyed = table.append_column("_m", rank)
    return keyed.sort_by([("query_id", "ascending"), ("_m", "ascending")]).drop_columns(["_m"])
