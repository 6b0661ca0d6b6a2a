"""Pools: the documents stored runs rank within a depth, per query, with what the qrels already say of each.

The union runs where the rows lie, on each run's stored trec_eval positions (run_top_rows when the depth is within
it), so pooling a hundred 1,000-deep runs reads their top k and returns one row per pooled document.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from workbench.store.connection import Store, arrow
from workbench.store.reads import rows_table


def pooled_documents(store: Store, collection: str, run_hashes: Sequence[str], depth: int, *,
                     qrels: str | None = None) -> pa.Table:
    """query_id, doc_id, n_runs (how many of the runs' contents rank it at trec_eval position <= depth),
    best_position (its highest position among them), relevance (its grade in the collection's qrels, or its
    named qrels set `qrels`; null when they do not list it): one row per pooled document, by query_id then
    doc_id in byte order.

    Runs are given by content hash: two names for the same bytes are one run of the pool."""
    with store.reader() as con:
        return arrow(
            con,
            f"""
            WITH pooled AS (
                SELECT query_id, doc_id, count(DISTINCT run_hash) AS n_runs,
                       CAST(min(position) AS BIGINT) AS best_position
                FROM {rows_table(depth)}
                WHERE run_hash IN (SELECT unnest(?::VARCHAR[])) AND position <= ?
                GROUP BY query_id, doc_id)
            SELECT p.query_id, p.doc_id, p.n_runs, p.best_position, q.relevance
            FROM pooled p
            LEFT JOIN (SELECT query_id, doc_id, relevance FROM qrels WHERE collection = ? AND ?::VARCHAR IS NULL
                       UNION ALL
                       SELECT query_id, doc_id, relevance FROM qrels_set_rows WHERE collection = ? AND name = ?) q
                   ON q.query_id = p.query_id AND q.doc_id = p.doc_id
            ORDER BY p.query_id, p.doc_id
            """,
            [sorted(set(run_hashes)), int(depth), collection, qrels, collection, qrels],
        )
