"""Judgment holes: unjudged documents a deeper rerank pulls into the top k.

Pooled qrels (TREC DL judged the pooled top ranks of the submitted runs) know nothing about documents no
pooled run ranked highly. A deeper rerank promotes such documents, and trec_eval scores them as non-relevant,
so a depth curve can bend down for lack of judgments rather than quality (Buckley & Voorhees 2004; Sakai &
Kando 2008). These functions list the promoted unjudged documents and summarise Judged@k per depth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from workbench.analysis.compare import _jsonable
from workbench.analysis.depth import _R_ORDER_KEY, RerankPair, _evaluate, _grid, rerank_pair
from workbench.errors import AnalysisError

PHANTOM_COLUMNS = ["query_id", "doc_id", "new_rank", "old_rank"]


def _qrels_keys(pair: RerankPair, qrels: pa.Table) -> None:
    """Temp table judged(query_id, doc_id) in the pair's connection: the judged pairs, whatever their grade
    (built once per pair and qrels table: phantom hits and the Judged@k summary share it)."""
    if pair.judged_of is qrels:
        return
    con = pair.con
    con.register("_qrels_in", qrels.select(["query_id", "doc_id"]))
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE judged AS SELECT DISTINCT query_id, doc_id FROM _qrels_in")
    finally:
        con.unregister("_qrels_in")
    pair.judged_of = qrels


def phantom_hits(
    first: pa.Table,
    reranked: pa.Table,
    qrels: pa.Table,
    *,
    k: int = 10,
    depth: int | None = None,
    baseline_depth: int = 0,
    pair: RerankPair | None = None,
) -> pd.DataFrame:
    """Unjudged documents in the top k of R-at-`depth` that were below k at `baseline_depth` (0 = the first stage).

    Columns query_id, doc_id, new_rank, old_rank (1-based, trec_eval order), sorted by query and new rank; only
    judged queries (those in the qrels) are listed. `depth` defaults to the depth R reranked (derived = R).
    Only R-at-`depth`'s top k is built; the old rank is F's, or R's order inside F's top `baseline_depth`.
    """
    if k < 1:
        raise AnalysisError(f"k must be >= 1, got {k}")
    if baseline_depth < 0:
        raise AnalysisError(f"baseline_depth must be >= 0, got {baseline_depth}")
    with rerank_pair(first, reranked, pair) as p:
        depth = p.k_max if depth is None else depth
        if depth <= baseline_depth:
            raise AnalysisError(f"depth ({depth}) must be deeper than baseline_depth ({baseline_depth})")
        con = p.con
        con.register("_new_top", p.variants([depth], k))
        _qrels_keys(p, qrels)
        try:
            hits = con.execute(
                f"""WITH head AS (SELECT query_id, doc_id,
                                         row_number() OVER (PARTITION BY query_id ORDER BY {_R_ORDER_KEY} DESC) AS r
                                  FROM fr WHERE frank <= $b),
                         moved AS (SELECT n.query_id, n.doc_id, n.rank AS new_rank, coalesce(h.r, f.frank) AS old_rank
                                   FROM _new_top n JOIN fr f USING (query_id, doc_id)
                                   LEFT JOIN head h USING (query_id, doc_id))
                    SELECT query_id, doc_id, new_rank, old_rank FROM moved
                    WHERE old_rank > $k AND query_id IN (SELECT query_id FROM judged)
                      AND NOT EXISTS (SELECT 1 FROM judged j WHERE j.query_id = moved.query_id
                                      AND j.doc_id = moved.doc_id)
                    ORDER BY query_id, new_rank""",
                {"b": baseline_depth, "k": k},
            ).df()
        finally:
            con.unregister("_new_top")
    hits = hits[PHANTOM_COLUMNS].reset_index(drop=True)
    return hits.astype({"query_id": str, "doc_id": str, "new_rank": np.int64, "old_rank": np.int64})


@dataclass(frozen=True)
class JudgedPoint:
    """Judged@k of R-at-depth, and how many unjudged documents sit in its top k that F's top k lacked."""

    depth: int
    judged: float
    unjudged_in_top_k: int
    phantom_hits: int
    queries_with_phantoms: int


@dataclass(frozen=True)
class JudgedSummary:
    k: int
    k_max: int
    n_queries: int
    points: tuple[JudgedPoint, ...]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([_jsonable(p) for p in self.points])


def judged_summary(
    first: pa.Table, reranked: pa.Table, qrels: pa.Table, *, k: int = 10, depths: Sequence[int] | None = None,
    pair: RerankPair | None = None, judged: Mapping[int, float] | None = None,
) -> JudgedSummary:
    """Judged@k and phantom-hit counts (relative to the first stage) at each rerank depth (default grid).

    `judged`: Judged@k per depth when the caller has it (a depth curve of the same pair and qrels scores it),
    so it is not scored again.
    """
    if k < 1:
        raise AnalysisError(f"k must be >= 1, got {k}")
    with rerank_pair(first, reranked, pair) as p:
        ds = _grid(p.k_max, []) if depths is None else sorted(set(map(int, depths)))
        if not ds or ds[0] < 0:
            raise AnalysisError(f"depths must be non-negative and non-empty, got {ds}")
        top = p.variants(ds, k)
        if judged is None or not set(ds) <= set(judged):
            judged = dict(zip(*_group_means(_evaluate(top, qrels, [f"Judged@{k}"], group="depth")), strict=True))
        con = p.con
        con.register("_top", top)
        _qrels_keys(p, qrels)
        try:
            # F's top k is the depth-0 variant whatever the grid (derived@0 = F)
            counts = con.execute(
                """WITH marked AS (
                       SELECT t.depth, t.query_id, j.doc_id IS NULL AS unjudged,
                              j.doc_id IS NULL AND NOT coalesce(f.frank <= $k, false) AS phantom
                       FROM _top t LEFT JOIN judged j USING (query_id, doc_id) LEFT JOIN fr f USING (query_id, doc_id)
                       WHERE t.query_id IN (SELECT query_id FROM judged))
                   SELECT depth, count(*) FILTER (WHERE unjudged), count(*) FILTER (WHERE phantom),
                          count(DISTINCT query_id) FILTER (WHERE phantom)
                   FROM marked GROUP BY depth""",
                {"k": k},
            ).fetchall()
            n_queries = con.execute("SELECT count(DISTINCT query_id) FROM judged").fetchall()[0][0]
        finally:
            con.unregister("_top")
        k_max = p.k_max
    by_depth = {int(d): (int(u), int(ph), int(qp)) for d, u, ph, qp in counts}  # depths with rows in the top k
    points = tuple(
        JudgedPoint(d, judged.get(d, float("nan")), *by_depth.get(d, (0, 0, 0))) for d in ds
    )
    return JudgedSummary(k=k, k_max=k_max, n_queries=int(n_queries), points=points)


def _group_means(scores: pa.Table) -> tuple[list[int], list[float]]:
    """(depths, mean value per depth) of a one-measure evaluate(..., group="depth") table; numpy's mean over
    rows in query order, as DepthCurve computes its points, so both show the same Judged@k."""
    if scores.num_rows == 0:
        return [], []
    depth = np.concatenate([c.to_numpy() for c in scores.column("depth").chunks])
    value = np.concatenate([c.to_numpy() for c in scores.column("value").chunks])
    keys = np.unique(depth).tolist()
    return keys, [float(value[depth == d].mean()) for d in keys]
