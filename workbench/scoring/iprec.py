"""Interpolated precision at recall levels (IPrec@r), as trec_eval 10 computes it.

trec_eval 10 (commit 2a9e214, 2023) turns a recall level r into a number of relevant documents with
`lround(r * num_rel)`; trec_eval 9, and so pytrec_eval-terrier, used a different rounding, so their IPrec@0.1
and @0.6 differ from trec_eval 10's on its own test suite. IPrec@r is the best precision at any rank where at
least that many relevant documents have been retrieved (0 when the run never gets there). Verified against
`out.test.aq`, `.aqc` and `.aql` (tests/test_scoring_parity.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ir_measures.measures import Measure

from workbench.scoring.base import Scorer
from workbench.scoring.fast import value_codes

VERSION = "workbench.iprec 0.1 (trec_eval 10 lround recall cutoffs)"


def supports(m: Measure) -> bool:
    rel = m.params.get("rel", 1)
    return m.NAME == "IPrec" and isinstance(rel, int) and not isinstance(rel, bool) and rel >= 1


class IPrecScorer(Scorer):
    """IPrec@r with trec_eval 10's lround recall cutoffs; ir-measures (pytrec_eval: trec_eval 9) rounds
    differently, so its reference is trec_eval 10's own output (tests/test_scoring_parity.py)."""

    name = "iprec"
    version = "0.1"
    trusted = True
    reference = "trec_eval 10"
    examples = ("IPrec@0.0", "IPrec@0.1", "IPrec@0.2", "IPrec@0.5", "IPrec@0.6", "IPrec@1.0", "IPrec(rel=2)@0.3")

    def __reduce__(self) -> str:
        return "SCORER"  # unpickled (a Ray worker) as this module's one instance

    def supports(self, m: Measure) -> bool:
        return supports(m)

    def evaluator_id(self, m: Measure) -> str:
        return VERSION

    def evaluate(self, run: pa.Table, qrels: pa.Table, measures: Sequence[Measure], *,
                 group: str | None = None) -> pa.Table:
        return evaluate(run, qrels, measures, group=group)


SCORER = IPrecScorer()


def _lround(x: np.ndarray) -> np.ndarray:
    """C's lround for the non-negative products we have: halves round away from zero."""
    return np.floor(x + 0.5).astype(np.int64)


def evaluate(run: pa.Table, qrels: pa.Table, measures: Sequence[Measure], *, group: str | None = None) -> pa.Table:
    """Per-query IPrec values of every judged query (and group), 0 for queries the run misses (-c).

    NumPy over the run in trec_eval order (no pandas: `workbench eval` prints IPrec in trec_eval's default set).
    """

    keys = [group] if group else []
    order = pc.sort_indices(run, sort_keys=[*[(k, "ascending") for k in keys], ("query_id", "ascending"),
                                            ("score", "descending"), ("doc_id", "descending")])
    ranked = run.take(order)
    n = ranked.num_rows
    qid = ranked["query_id"].combine_chunks()
    gcol = ranked[group].combine_chunks() if group else None
    new = np.ones(n, dtype=bool)  # first row of a (group, query) segment
    if n > 1:
        new[1:] = _np(pc.not_equal(qid[1:], qid[:-1]))
        if gcol is not None:
            new[1:] |= _np(pc.not_equal(gcol[1:], gcol[:-1]))
    seg = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    position = np.arange(n) - starts[seg] + 1
    # each row's grade (judged rows only), by a join on (query_id, doc_id)
    rows = pa.table({"query_id": qid, "doc_id": ranked["doc_id"].combine_chunks(),
                     "i": pa.array(np.arange(n, dtype=np.int64))})
    joined = rows.join(qrels.select(["query_id", "doc_id", "relevance"]), keys=["query_id", "doc_id"],
                       join_type="inner")
    judged = np.zeros(n, dtype=bool)
    grade = np.zeros(n, dtype=np.int64)
    at = _np(joined["i"]).astype(np.int64)
    judged[at], grade[at] = True, _np(joined["relevance"])

    queries = qrels["query_id"].unique()
    queries = (queries.combine_chunks() if isinstance(queries, pa.ChunkedArray) else queries)
    queries = queries.take(pc.sort_indices(queries))
    seg_query = value_codes(qid.take(pa.array(starts)), queries)  # -1: a query without judgments
    groups = pc.unique(gcol).sort().to_pylist() if gcol is not None else [None]
    seg_group = (value_codes(gcol.take(pa.array(starts)), pa.array(groups, gcol.type)) if gcol is not None
                 else np.zeros(len(starts), dtype=np.int64))
    q_codes = value_codes(qrels["query_id"], queries)
    q_grade = _np(qrels["relevance"])
    n_q, n_g = len(queries), len(groups)
    parts = []
    for rel in sorted({m.params.get("rel", 1) for m in measures}):
        num_rel = np.bincount(q_codes[q_grade >= rel], minlength=n_q)
        hit = judged & (grade >= rel)
        hseg, hpos = seg[hit], position[hit]
        hstart = np.searchsorted(hseg, hseg, side="left")  # first hit of each hit's segment
        count = np.arange(len(hseg)) - hstart + 1
        precision = np.append(count / hpos, 0.0)  # a sentinel: reduceat's indices may point one past the end
        first_hit = np.searchsorted(hseg, np.arange(len(starts)), side="left")
        hits_in = np.searchsorted(hseg, np.arange(len(starts)), side="right") - first_hit
        for m in (m for m in measures if m.params.get("rel", 1) == rel):
            need = np.maximum(_lround(float(m.params["recall"]) * num_rel), 1)
            values = np.zeros(n_g * n_q)
            ok = seg_query >= 0
            need_seg = need[np.where(ok, seg_query, 0)] if n_q else np.zeros(len(starts), dtype=np.int64)
            ok &= hits_in >= need_seg
            if ok.any():  # the best precision from the need-th relevant document on down its segment's ranking
                bounds = np.column_stack([first_hit[ok] + need_seg[ok] - 1, first_hit[ok] + hits_in[ok]]).ravel()
                values[seg_group[ok] * n_q + seg_query[ok]] = np.maximum.reduceat(precision, bounds)[::2]
            cols = {"query_id": pa.array(np.tile(queries.to_numpy(zero_copy_only=False), n_g), pa.string()),
                    "measure": pa.array([str(m)] * (n_g * n_q), pa.string()), "value": pa.array(values)}
            if gcol is not None and group is not None:
                cols[group] = pa.array(groups, gcol.type).take(pa.array(np.repeat(np.arange(n_g), n_q)))
            parts.append(pa.table(cols))
    return pa.concat_tables(parts)


def _np(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """NumPy values without ChunkedArray.to_numpy (which imports pandas)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    return col.to_numpy(zero_copy_only=False)
