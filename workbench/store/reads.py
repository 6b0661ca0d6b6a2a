"""Set-shaped reads for big stores: aggregates and top-k rows computed in DuckDB, not in Python.

The dashboard calls these so a page never pulls every per-query value or every run row when a summary or a
cutoff suffices (100 runs x 7,000 queries x 1,000 documents is 700M run rows and 4.2M scores per measure set).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from workbench.store.connection import Store, arrow
from workbench.store.runs import _get_run

if TYPE_CHECKING:  # pandas costs every CLI command ~0.5 s at import; only the frames below need it
    import pandas as pd


def score_aggregates(store: Store, collection: str, evaluators: dict[str, str], semantics: str,
                     runs: Sequence[str] | None = None) -> pd.DataFrame:
    """run, measure, mean, total, n_queries over the collection's current qrels, one row per scored pair.

    Only score rows from each measure's given evaluator count (`evaluators`: measure -> evaluator id), as
    `load_evaluation` keeps them; the caller picks mean or total by the measure's aggregator.
    """
    with store.reader() as con:
        return arrow(
            con,
            """
            WITH want AS (SELECT unnest(?::VARCHAR[]) AS measure, unnest(?::VARCHAR[]) AS evaluator)
            SELECT r.name AS run, s.measure, avg(s.value) AS mean, sum(s.value) AS total,
                   count(*) AS n_queries
            FROM runs r
            JOIN collections c ON c.name = r.collection
            JOIN scores s ON s.run_hash = r.run_hash AND s.qrels_hash = c.qrels_hash
            JOIN want w ON w.measure = s.measure AND w.evaluator = s.evaluator
            WHERE r.collection = ? AND s.semantics = ? AND (? IS NULL OR list_contains(?, r.name))
            GROUP BY r.name, s.measure
            ORDER BY r.name, s.measure
            """,
            [list(evaluators), list(evaluators.values()), collection, semantics,
             list(runs) if runs is not None else None, list(runs) if runs is not None else None],
        ).to_pandas()


def top_run_rows(store: Store, collection: str, name: str, k: int) -> pa.Table:
    """The run's first `k` documents per query in trec_eval order (score desc, doc_id desc), as stored rows.

    A filter on rank when ingest found the rank column equal to trec_eval's position; else two passes in DuckDB
    instead of a sort of the whole run: each query's k-th highest score (a top-k heap of doubles), then a window
    over only the rows at or above it (ties at the threshold are cut by doc_id).
    """
    with store.reader() as con:
        info = _get_run(con, collection, name)
        if info.rank_is_position:  # checked at ingest: the rank column is the trec_eval position
            return arrow(con, "SELECT query_id, doc_id, score, rank FROM run_rows WHERE run_hash = ? AND rank <= ?",
                         [info.run_hash, int(k)])
        return arrow(
            con,
            """
            WITH t AS (SELECT query_id, list_min(max(score, ?)) AS threshold
                       FROM run_rows WHERE run_hash = ? GROUP BY query_id)
            SELECT r.query_id, r.doc_id, r.score, r.rank
            FROM run_rows r JOIN t ON r.query_id = t.query_id AND r.score >= t.threshold
            WHERE r.run_hash = ?
            QUALIFY row_number() OVER (PARTITION BY r.query_id ORDER BY r.score DESC, r.doc_id DESC) <= ?
            """,
            [int(k), info.run_hash, info.run_hash, int(k)],
        )

def query_run_rows(store: Store, collection: str, names: Sequence[str], query_id: str) -> pa.Table:
    """One query's rows of a few runs in trec_eval order with a 1-based `position` (the drill-down view).

    Filters each run by equality on its hash and the query id, so DuckDB skips other runs' row groups by their
    min/max statistics instead of scanning every run's rows.
    """
    with store.reader() as con:
        hashes = {n: _get_run(con, collection, n).run_hash for n in names}
        parts = [
            arrow(
                con,
                """
                SELECT ? AS run, query_id, doc_id, score, rank,
                       row_number() OVER (ORDER BY score DESC, doc_id DESC) AS position
                FROM run_rows WHERE run_hash = ? AND query_id = ?
                ORDER BY position
                """,
                [name, run_hash, query_id],
            )
            for name, run_hash in hashes.items()
        ]
    return pa.concat_tables(parts)
