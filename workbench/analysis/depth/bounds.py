"""The depth curve's other end: each derived depth scored with its unjudged documents relevant at the top grade.

The same definition as `leaderboard --bounds` (workbench.scoring.judgments.evaluate_unjudged_relevant): each
variant's own unjudged documents within a measure's cutoff (all of them for a measure without one) count as
relevant at the qrels' top grade. Beside the curve (unjudged as non-relevant, trec_eval's default) it shows how far
the holes in the judgments could move each depth: a deeper rerank that promotes unjudged documents widens it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.analysis.depth.curve import max_cutoff, per_query_matrix
from workbench.analysis.depth.pair import RerankPair
from workbench.scoring.judgments import evaluate_unjudged_relevant


def unjudged_relevant_curve(pair: RerankPair, depths: Sequence[int], qrels: pa.Table, measures: Sequence[str],
                            query_ids: Sequence[str]) -> pd.DataFrame:
    """measure, depth, value: the mean over `query_ids` (the curve's judged queries; a query a variant lacks
    scores 0, as trec_eval -c) of each measure of each derived depth with its unjudged documents relevant."""

    depths = sorted({int(d) for d in depths})
    variants = pair.variants(depths, max_cutoff(list(measures)))  # a cutoff the measures share reads no deeper
    parts = []
    for k in depths:  # each variant's holes are its own: one scoring per depth
        rows = variants.filter(pc.equal(variants["depth"], k)).select(["query_id", "doc_id", "score"])
        scored = evaluate_unjudged_relevant(rows, qrels, list(measures))
        parts.append(scored.append_column("depth", pa.array(np.full(scored.num_rows, k, np.int64))))
    mats = per_query_matrix(pa.concat_tables(parts), "depth", depths, list(measures), list(query_ids))
    return pd.DataFrame([(m, k, float(np.nan_to_num(mats[m][i], nan=0.0).mean()))
                         for m in measures for i, k in enumerate(depths)], columns=["measure", "depth", "value"])
