"""Judgment holes: unjudged documents a deeper rerank pulls into the top k.

Pooled qrels (TREC DL judged the pooled top ranks of the submitted runs) know nothing about documents no
pooled run ranked highly. A deeper rerank promotes such documents, and trec_eval scores them as non-relevant,
so a depth curve can bend down for lack of judgments rather than quality (Buckley & Voorhees 2004; Sakai &
Kando 2008). These functions list the promoted unjudged documents and summarise Judged@k per depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from workbench.analysis.compare import _jsonable
from workbench.analysis.depth import _evaluate, _grid, _k_max, _prepare, _variants
from workbench.errors import AnalysisError

PHANTOM_COLUMNS = ["query_id", "doc_id", "new_rank", "old_rank"]


def _variant_frame(
    first: pa.Table, reranked: pa.Table, depths: Sequence[int] | None, cutoff: int | None
) -> tuple[pd.DataFrame, list[int], int]:
    con = duckdb.connect()
    try:
        _prepare(con, first, reranked, with_rrank=True)
        k_max = _k_max(con)
        ds = _grid(k_max, []) if depths is None else sorted(set(map(int, depths)))
        if not ds or ds[0] < 0:
            raise AnalysisError(f"depths must be non-negative and non-empty, got {ds}")
        return _variants(con, ds, cutoff, ordered=False).to_pandas(), ds, k_max
    finally:
        con.close()


def phantom_hits(
    first: pa.Table,
    reranked: pa.Table,
    qrels: pa.Table,
    *,
    k: int = 10,
    depth: int | None = None,
    baseline_depth: int = 0,
) -> pd.DataFrame:
    """Unjudged documents in the top k of R-at-`depth` that were below k at `baseline_depth` (0 = the first stage).

    Columns query_id, doc_id, new_rank, old_rank (1-based, trec_eval order), sorted by query and new rank; only
    judged queries (those in the qrels) are listed. `depth` defaults to the depth R reranked (derived = R).
    """
    if k < 1:
        raise AnalysisError(f"k must be >= 1, got {k}")
    if baseline_depth < 0:
        raise AnalysisError(f"baseline_depth must be >= 0, got {baseline_depth}")
    if depth is None:
        con = duckdb.connect()
        try:
            _prepare(con, first, reranked, with_rrank=True)
            depth = _k_max(con)
        finally:
            con.close()
    if depth <= baseline_depth:
        raise AnalysisError(f"depth ({depth}) must be deeper than baseline_depth ({baseline_depth})")
    variants, _, _ = _variant_frame(first, reranked, [baseline_depth, depth], None)
    new = variants.loc[(variants["depth"] == depth) & (variants["rank"] <= k), ["query_id", "doc_id", "rank"]]
    old = variants.loc[variants["depth"] == baseline_depth, ["query_id", "doc_id", "rank"]]
    both = new.merge(old, on=["query_id", "doc_id"], suffixes=("_new", "_old"))
    q = qrels.select(["query_id", "doc_id"]).to_pandas()
    judged_queries = set(q["query_id"])
    both = both.loc[(both["rank_old"] > k) & both["query_id"].isin(judged_queries)]
    both = both.merge(q.drop_duplicates(), on=["query_id", "doc_id"], how="left", indicator=True)
    hits = both.loc[both["_merge"] == "left_only"].rename(columns={"rank_new": "new_rank", "rank_old": "old_rank"})
    hits = hits[PHANTOM_COLUMNS].sort_values(["query_id", "new_rank"], kind="stable").reset_index(drop=True)
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
    first: pa.Table, reranked: pa.Table, qrels: pa.Table, *, k: int = 10, depths: Sequence[int] | None = None
) -> JudgedSummary:
    """Judged@k and phantom-hit counts (relative to the first stage) at each rerank depth (default grid)."""
    if k < 1:
        raise AnalysisError(f"k must be >= 1, got {k}")
    variants, ds, k_max = _variant_frame(first, reranked, depths, k)
    top = variants.loc[variants["rank"] <= k]
    scores = _evaluate(pa.Table.from_pandas(top, preserve_index=False), qrels, [f"Judged@{k}"], group="depth")
    judged = scores.to_pandas().groupby("depth")["value"].mean()
    q = qrels.select(["query_id", "doc_id"]).to_pandas().drop_duplicates()
    judged_queries = set(q["query_id"])
    top = top.loc[top["query_id"].isin(judged_queries)]
    marked = top.merge(q, on=["query_id", "doc_id"], how="left", indicator=True)
    marked["unjudged"] = marked["_merge"] == "left_only"
    # F's top k is the depth-0 variant whatever the grid (derived@0 = F).
    f_top = variants.loc[(variants["depth"] == ds[0]) & (variants["rank"] <= k)] if ds[0] == 0 else None
    if f_top is None:
        f_top = _variant_frame(first, reranked, [0], k)[0]
    f_keys = set(zip(f_top["query_id"], f_top["doc_id"], strict=True))
    marked["in_f"] = [(a, b) in f_keys for a, b in zip(marked["query_id"], marked["doc_id"], strict=True)]
    marked["phantom"] = marked["unjudged"] & ~marked["in_f"]
    points = []
    for d in ds:
        m = marked.loc[marked["depth"] == d]
        points.append(
            JudgedPoint(
                depth=d,
                judged=float(judged.get(d, np.nan)),
                unjudged_in_top_k=int(m["unjudged"].sum()),
                phantom_hits=int(m["phantom"].sum()),
                queries_with_phantoms=int(m.loc[m["phantom"], "query_id"].nunique()),
            )
        )
    return JudgedSummary(k=k, k_max=k_max, n_queries=len(judged_queries), points=tuple(points))
