"""A pair's documents in R's order with their grades, and each one's rank in the variant at depth k (numpy)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

# up to this many joined rows `graded` orders them all (~0.15 s for the 700k of a 7,000-query top-100 pair);
# beyond, it keeps only the rows that can rank within the cutoff (whole 7M-row runs: seconds saved)
ORDER_ALL_ROWS = 2_000_000


@dataclass(frozen=True)
class Graded:
    """F's documents of a pair with their grades, in R's order within each query (numpy, one read of the join).

    Row i: query block `block[i]` (blocks in query_id order, `starts`/`lengths`), F's trec_eval rank `frank[i]`,
    `judged[i]` and `grade[i]` (0 when unjudged). Rows follow R's trec_eval rank, then F's rank for the documents
    R lacks: the variant at depth k puts F's top k in exactly this order.
    """

    query_id: pa.Array
    doc_id: pa.Array
    frank: np.ndarray
    judged: np.ndarray
    grade: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    block: np.ndarray
    judged_query: np.ndarray  # per block: the query has judgments
    memo: dict[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def ranks(self, k: int) -> np.ndarray:
        """Each row's rank in the variant at depth k: its place among F's top k in R's order, else F's rank.

        Kept for the next caller when the rows are few (the curve, Judged@k and phantom hits ask for the same k)."""
        if k in self.memo:
            return self.memo[k]
        head = self.frank <= k
        seen = np.cumsum(head, dtype=np.int64)
        before = (seen - head)[self.starts] if len(self.starts) else seen[:0]
        ranks = np.where(head, seen - before[self.block], self.frank)
        if len(ranks) <= ORDER_ALL_ROWS:
            self.memo[k] = ranks
        return ranks
