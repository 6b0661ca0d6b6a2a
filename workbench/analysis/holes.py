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
import pyarrow.compute as pc

from workbench.analysis.compare import jsonable
from workbench.analysis.depth import RerankPair, depth_grid, rerank_pair
from workbench.errors import AnalysisError
from workbench.scoring import evaluate_ranked

PHANTOM_COLUMNS = ["query_id", "doc_id", "new_rank", "old_rank"]


def phantom_hits(
    first: pa.Table | None,
    reranked: pa.Table | None,
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
    Both ranks come from the pair's graded rows (RerankPair.graded): the new one is the row's place in
    R-at-`depth`, the old one F's rank, or R's order inside F's top `baseline_depth`.
    """
    if k < 1:
        raise AnalysisError(f"k must be >= 1, got {k}")
    if baseline_depth < 0:
        raise AnalysisError(f"baseline_depth must be >= 0, got {baseline_depth}")
    with rerank_pair(first, reranked, pair) as p:
        depth = p.k_max if depth is None else depth
        if depth <= baseline_depth:
            raise AnalysisError(f"depth ({depth}) must be deeper than baseline_depth ({baseline_depth})")
        # exact old ranks above k need every row unless the baseline is F itself (old rank = F's rank)
        g = p.graded(qrels, [baseline_depth, depth], k if baseline_depth == 0 else None)
        new, old = g.ranks(depth), g.ranks(baseline_depth)
    hit = np.flatnonzero((new <= k) & (old > k) & ~g.judged & g.judged_query[g.block])
    hit = hit[np.lexsort((new[hit], g.block[hit]))]  # blocks are in query_id order
    rows = pa.array(hit, pa.int64())
    return pd.DataFrame({"query_id": g.query_id.take(rows).to_numpy(zero_copy_only=False).astype(str),
                         "doc_id": g.doc_id.take(rows).to_numpy(zero_copy_only=False).astype(str),
                         "new_rank": new[hit].astype(np.int64), "old_rank": old[hit].astype(np.int64)},
                        columns=PHANTOM_COLUMNS)


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
        return jsonable(self)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([jsonable(p) for p in self.points])


def judged_summary(
    first: pa.Table | None, reranked: pa.Table | None, qrels: pa.Table, *, k: int = 10,
    depths: Sequence[int] | None = None,
    pair: RerankPair | None = None, judged: Mapping[int, float] | None = None,
) -> JudgedSummary:
    """Judged@k and phantom-hit counts (relative to the first stage) at each rerank depth (default grid).

    `judged`: Judged@k per depth when the caller has it (a depth curve of the same pair and qrels scores it),
    so it is not scored again.
    """
    if k < 1:
        raise AnalysisError(f"k must be >= 1, got {k}")
    with rerank_pair(first, reranked, pair) as p:
        ds = depth_grid(p.k_max, []) if depths is None else sorted(set(map(int, depths)))
        if not ds or ds[0] < 0:
            raise AnalysisError(f"depths must be non-negative and non-empty, got {ds}")
        g = p.graded(qrels, ds, k)
        if judged is None or not set(ds) <= set(judged):
            rows, n_ret = p.ranked_variants(ds, k, qrels)
            scored = evaluate_ranked(rows, n_ret, qrels, [f"Judged@{k}"], group="depth",
                                     groups=pa.array(ds, pa.int64()))
            judged = dict(zip(*_group_means(scored), strict=True))
        k_max = p.k_max
    in_judged_query = g.judged_query[g.block]
    points = []
    for d in ds:
        top = (g.ranks(d) <= k) & in_judged_query
        unjudged = top & ~g.judged
        phantom = unjudged & (g.frank > k)  # F's top k lacked it
        points.append(JudgedPoint(d, judged.get(d, float("nan")), int(unjudged.sum()), int(phantom.sum()),
                                  len(np.unique(g.block[phantom]))))
    n_queries = pc.count_distinct(qrels.column("query_id")).as_py()
    return JudgedSummary(k=k, k_max=k_max, n_queries=int(n_queries), points=tuple(points))


def _group_means(scores: pa.Table) -> tuple[list[int], list[float]]:
    """(depths, mean value per depth) of a one-measure evaluate(..., group="depth") table; numpy's mean over
    rows in query order, as DepthCurve computes its points, so both show the same Judged@k."""
    if scores.num_rows == 0:
        return [], []
    depth = np.concatenate([c.to_numpy() for c in scores.column("depth").chunks])
    value = np.concatenate([c.to_numpy() for c in scores.column("value").chunks])
    keys = np.unique(depth).tolist()
    return keys, [float(value[depth == d].mean()) for d in keys]
