"""One entry point for scoring: each measure goes to the scorer the registry routes it to (scoring/registry.py).

Every scorer implements the same semantics (`SEMANTICS`, stored with every score) and is tested to agree per
query with ir-measures where both compute a measure, so which one served a measure only shows up in
`evaluator_id`. These functions use `registry.current()`: the built-in scorers, the user's measures files and the
`workbench.scorers` plugins; a Ray task calls the same methods on the `Scorers` value it was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import fsum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ir_measures.measures import Measure

from workbench.scoring.base import RankedPlan
from workbench.scoring.measures import is_summed, parse_measures
from workbench.scoring.registry import current

__all__ = ["SEMANTICS", "RankedPlan", "aggregate", "evaluate", "evaluate_ranked", "evaluator_id", "ranked_plan"]

SEMANTICS = "trec_eval10(-c,score:f64 desc,doc_id desc)"
"""Ranking and query-set semantics: trec_eval 10.0 with -c (see docs/design.md, Semantics)."""


def evaluator_id(measure: Measure | str) -> str:
    """Implementation and versions that serve `measure`, e.g. `workbench.fast 0.1 (ir_measures 0.4.3 parity)`."""
    return current().evaluator_id(measure)


def evaluate(
    run: pa.Table,
    qrels: pa.Table,
    measures: Sequence[Measure | str],
    *,
    group: str | None = None,
    stored_qrels: bool = False,
) -> pa.Table:
    """Per-query scores of `run` (query_id, measure, value[, group]) with trec_eval -c semantics.

    Every judged query (in `qrels`) gets a row per measure, 0 when the run misses it (NumRel keeps its
    count); run queries without judgments are dropped. `group` names a run column whose values are scored
    as separate runs in one pass (e.g. `depth` for a depth sweep); it is carried into the output.
    Rows are ordered by group, query_id, then the order of `measures`. `stored_qrels`: as `evaluate_ranked`'s.
    """
    return current().evaluate(run, qrels, measures, group=group, stored_qrels=stored_qrels)


def ranked_plan(measures: Sequence[Measure | str]) -> RankedPlan | None:
    """How to score `measures` from stored trec_eval positions; None when one of them needs the whole run."""
    return current().ranked_plan(measures)


def evaluate_ranked(
    judged: pa.Table, n_ret: pa.Table | None, qrels: pa.Table, measures: Sequence[Measure | str], *,
    stored_qrels: bool = False, group: str | None = None, groups: pa.Array | None = None,
) -> pa.Table:
    """`evaluate` of a stored run from its judged rows' trec_eval positions (query_id, rank, relevance).

    Only for measures `ranked_plan` accepts; same values and output as `evaluate` (see Scorers.evaluate_ranked).
    """
    return current().evaluate_ranked(judged, n_ret, qrels, measures, stored_qrels=stored_qrels, group=group,
                                     groups=groups)


def aggregate(scores: pa.Table, *, group: str | None = None) -> dict:
    """Across-query summary as trec_eval prints it in its `all` rows: mean, but sum for NumRel/NumRet/NumQ.

    Sums are exact (math.fsum, then one division for a mean), so every path that aggregates the same per-query
    values (`ingest --measures`, `evaluate`, `eval`) gives the same float, whatever the order of the rows.
    Returns {measure: value}, or {group value: {measure: value}} when `group` is given.
    """

    if scores.num_rows == 0:
        return {}
    measure = pc.dictionary_encode(scores["measure"]).combine_chunks()
    names = measure.dictionary.to_pylist()
    key = measure.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    gnames: list = [None]
    if group:
        gcol = pc.dictionary_encode(scores[group]).combine_chunks()
        gnames = gcol.dictionary.to_pylist()
        key = gcol.indices.to_numpy(zero_copy_only=False).astype(np.int64) * len(names) + key
    values = scores["value"].combine_chunks().to_numpy(zero_copy_only=False)
    order = np.argsort(key, kind="stable")
    key, values = key[order], values[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    summed = [is_summed(m) for m in parse_measures(names)]
    out: dict = {}
    for start, end in zip(starts, np.r_[starts[1:], len(key)], strict=True):
        g, j = divmod(int(key[start]), len(names))
        total = fsum(values[start:end])
        value = total if summed[j] else total / int(end - start)
        if group:
            out.setdefault(gnames[g], {})[names[j]] = value
        else:
            out[names[j]] = value
    return out
