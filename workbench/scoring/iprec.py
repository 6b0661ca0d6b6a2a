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
    """Per-query IPrec values of every judged query (and group), 0 for queries the run misses (-c)."""
    import pandas as pd  # here, not at the top: importing the scoring package (every ingest) must not cost 0.2 s

    keys = [group] if group else []
    order = pc.sort_indices(run, sort_keys=[*[(k, "ascending") for k in keys], ("query_id", "ascending"),
                                            ("score", "descending"), ("doc_id", "descending")])
    ranked = run.take(order).select([*keys, "query_id", "doc_id"]).to_pandas()
    ranked["position"] = ranked.groupby([*keys, "query_id"], sort=False).cumcount() + 1
    judgments = qrels.to_pandas()
    ranked = ranked.merge(judgments, on=["query_id", "doc_id"], how="left")
    judged_queries = pd.Index(sorted(judgments["query_id"].unique()), name="query_id")
    groups = sorted(run[group].unique().to_pylist()) if group else [None]
    parts = []
    for rel in sorted({m.params.get("rel", 1) for m in measures}):
        num_rel = judgments[judgments["relevance"] >= rel].groupby("query_id").size().reindex(judged_queries,
                                                                                               fill_value=0)
        hits = ranked[ranked["relevance"].fillna(-(10**9)) >= rel].copy()
        hits["count"] = hits.groupby([*keys, "query_id"], sort=False).cumcount() + 1
        hits["precision"] = hits["count"] / hits["position"]
        # best precision from each relevant document on down the ranking: a reverse running max per query
        hits["best_after"] = hits.iloc[::-1].groupby([*keys, "query_id"], sort=False)["precision"].cummax()
        lookup = hits.set_index([*keys, "query_id", "count"])["best_after"]
        for m in (m for m in measures if m.params.get("rel", 1) == rel):
            need = np.maximum(_lround(float(m.params["recall"]) * num_rel.to_numpy()), 1)
            for g in groups:
                index = pd.MultiIndex.from_arrays(
                    ([np.full(len(judged_queries), g)] if group else [])
                    + [judged_queries.to_numpy(), need], names=[*keys, "query_id", "count"])
                values = lookup.reindex(index).fillna(0.0).to_numpy(dtype=np.float64)
                cols = {"query_id": judged_queries.to_numpy(dtype=object), "measure": str(m), "value": values}
                if group:
                    cols[group] = np.full(len(judged_queries), g)
                parts.append(pd.DataFrame(cols))
    frame = pd.concat(parts, ignore_index=True)
    schema = pa.schema([("query_id", pa.string()), ("measure", pa.string()), ("value", pa.float64())]
                       + ([(group, run.schema.field(group).type)] if group else []))
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
