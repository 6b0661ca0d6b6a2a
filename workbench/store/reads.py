"""Set-shaped reads for big stores: aggregates and top-k rows computed in DuckDB, not in Python.

The dashboard calls these so a page never pulls every per-query value or every run row when a summary or a
cutoff suffices (100 runs x 7,000 queries x 1,000 documents is 700M run rows and 4.2M scores per measure set).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa

from workbench.store.connection import TOP_DEPTH, Store, arrow
from workbench.store.runs import _get_run

if TYPE_CHECKING:  # pandas costs every CLI command ~0.5 s at import; only the frames below need it
    import pandas as pd


def score_aggregates(store: Store, collection: str, evaluators: dict[str, str], semantics: str,
                     runs: Sequence[str] | None = None, qrels_hash: str | None = None) -> pd.DataFrame:
    """run, measure, mean, total, n_queries over the collection's current qrels (or the qrels of content
    `qrels_hash`: a named qrels set), one row per scored pair (kept with each score set when it is stored: no
    per-query value is read).

    Only score rows from each measure's given evaluator count (`evaluators`: measure -> evaluator id), as
    `load_evaluation` keeps them; the caller picks mean or total by the measure's aggregator.
    """
    with store.reader() as con:
        return arrow(
            con,
            """
            WITH want AS (SELECT unnest(?::VARCHAR[]) AS measure, unnest(?::VARCHAR[]) AS evaluator)
            SELECT r.name AS run, s.measure, s.mean, s.total, s.n_queries
            FROM runs r
            JOIN collections c ON c.name = r.collection
            JOIN score_sets s ON s.run_hash = r.run_hash AND s.qrels_hash = coalesce(?, c.qrels_hash)
            JOIN want w ON w.measure = s.measure AND w.evaluator = s.evaluator
            WHERE r.collection = ? AND s.semantics = ? AND s.n_queries > 0
              AND (? IS NULL OR list_contains(?, r.name))
            ORDER BY r.name, s.measure
            """,
            [list(evaluators), list(evaluators.values()), qrels_hash, collection, semantics,
             list(runs) if runs is not None else None, list(runs) if runs is not None else None],
        ).to_pandas()


def score_matrix(store: Store, collection: str, measure: str, evaluator: str, semantics: str,
                 runs: Sequence[str], qrels_hash: str | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """(runs, query ids, runs x queries values) of one measure, for the runs scored on it with `evaluator`
    against the collection's current qrels (or the qrels of content `qrels_hash`: a named qrels set).

    Values come out of DuckDB as one float column sorted by run and query and are reshaped, not pivoted: a
    bar chart's bootstrap over 100 runs x 7,000 queries should not build a 700k-row frame of strings. Every
    run has a value for every judged query (trec_eval -c), so the rows form a full matrix; runs with another
    query count (scored against other qrels) are refused.
    """
    with store.reader() as con:
        where = """FROM runs r JOIN collections c ON c.name = r.collection
                   JOIN scores s ON s.run_hash = r.run_hash AND s.qrels_hash = coalesce(?, c.qrels_hash)
                   WHERE r.collection = ? AND s.measure = ? AND s.evaluator = ? AND s.semantics = ?
                     AND list_contains(?, r.name)"""
        params = [qrels_hash, collection, measure, evaluator, semantics, list(runs)]
        counts = con.execute(f"SELECT r.name, count(*) {where} GROUP BY r.name ORDER BY r.name", params).fetchall()
        if not counts:
            return [], [], np.zeros((0, 0))
        if len({n for _, n in counts}) != 1:
            raise ValueError(f"runs have different query counts on {measure}: {dict(counts)}")
        names = [r for r, _ in counts]
        qids = [q for (q,) in con.execute(f"SELECT DISTINCT s.query_id {where} ORDER BY 1", params).fetchall()]
        values = con.execute(f"SELECT s.value {where} ORDER BY r.name, s.query_id", params).fetchnumpy()["value"]
    if len(qids) != counts[0][1]:
        raise ValueError(f"runs cover different queries on {measure}")
    return names, qids, np.asarray(values, dtype=np.float64).reshape(len(names), len(qids))


def rows_table(depth: int | None) -> str:
    """The table holding every stored row down to trec_eval position `depth` (None: all of them): run_top_rows,
    a tenth of a 1,000-deep run, when that is deep enough, else run_rows."""
    return "run_top_rows" if depth is not None and depth <= TOP_DEPTH else "run_rows"


def top_run_rows(store: Store, collection: str, name: str, k: int | None) -> pa.Table:
    """The run's first `k` documents per query in trec_eval order (score desc, doc_id desc), as stored rows
    (None: every row).

    A filter on the position stored at ingest, not a sort; `position` is among the columns, so the analyses
    given these rows (fusion, the depth study's F-R join) take it as the order instead of sorting again.
    """
    with store.reader() as con:
        info = _get_run(con, collection, name)
        cut = "" if k is None else " AND position <= ?"
        return arrow(con, f"SELECT query_id, doc_id, score, rank, position FROM {rows_table(k)} "
                          f"WHERE run_hash = ?{cut}", [info.run_hash, *([] if k is None else [int(k)])])


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
                SELECT ? AS run, query_id, doc_id, score, rank, CAST(position AS BIGINT) AS position
                FROM run_rows WHERE run_hash = ? AND query_id = ?
                ORDER BY position
                """,
                [name, run_hash, query_id],
            )
            for name, run_hash in hashes.items()
        ]
    return pa.concat_tables(parts)


def judged_ranks(store: Store, collection: str, run_hash: str, max_rank: int | None,
                 n_ret: bool) -> tuple[pa.Table, pa.Table | None]:
    """A stored run's judged rows as (query_id, rank, relevance) and, when `n_ret`, its rows per query (query_id, n).

    `rank` is the trec_eval position stored at ingest; rows below `max_rank` (None: none) are left out. The join
    with the collection's qrels runs in DuckDB, so rescoring a 7M-row run reads a few hundred thousand rows back.
    """
    with store.reader() as con:
        rows = f"(SELECT query_id, doc_id, position AS rank FROM {rows_table(max_rank)} WHERE run_hash = ?)"
        judged, _ = _judged_ranks_in(con, collection, rows, max_rank, False, [run_hash])
        whole = "(SELECT query_id FROM run_rows WHERE run_hash = ?)"  # every row counts, not only the top ones
        return judged, _rows_per_query(con, whole, [run_hash]) if n_ret else None


def judged_ranks_of(store: Store, collection: str, run_hashes: Sequence[str], max_rank: int) -> pa.Table:
    """judged_ranks of several stored runs in one join with the qrels: (run_hash, query_id, rank, relevance)."""
    marks = ", ".join("?" for _ in run_hashes)
    rows = (f"(SELECT run_hash, query_id, doc_id, position AS rank FROM {rows_table(max_rank)} "
            f"WHERE run_hash IN ({marks}))")
    with store.reader() as con:
        return _judged_ranks_in(con, collection, rows, max_rank, False, run_hashes, group="run_hash")[0]


def judged_top_ranks(store: Store, collection: str, run_hash: str, cut: int) -> tuple[pa.Table, pa.Table]:
    """judged_ranks of a stored run's top `cut` (by stored position), its rows per query counted within the cut
    (the depth study's observed runs, read down to the study's cut)."""
    top = (f"(SELECT query_id, doc_id, position AS rank FROM {rows_table(cut)} "
           f"WHERE run_hash = ? AND position <= {int(cut)})")
    with store.reader() as con:
        judged, n_ret = _judged_ranks_in(con, collection, top, cut, True, [run_hash])
    assert n_ret is not None  # asked for (n_ret=True)
    return judged, n_ret


def _judged_ranks_in(con: duckdb.DuckDBPyConnection, collection: str, rows: str, max_rank: int | None,
                    n_ret: bool, rows_params: Sequence = (), *, group: str | None = None,
                    ) -> tuple[pa.Table, pa.Table | None]:
    """judged_ranks of the ranked rows (query_id, doc_id, rank) of relation `rows` (a subquery of this module's
    taking `rows_params`) on a connection to the store. `group`: a column of `rows` kept first in the judged rows
    (several runs in one relation)."""
    judged = arrow(
        con,
        f"""
        SELECT {f"r.{group}, " if group else ""}r.query_id, r.rank, q.relevance
        FROM {rows} r JOIN qrels q ON q.query_id = r.query_id AND q.doc_id = r.doc_id
        WHERE q.collection = ? AND (?::INTEGER IS NULL OR r.rank <= ?::INTEGER)
        """,
        [*rows_params, collection, max_rank, max_rank],
    )
    return judged, _rows_per_query(con, rows, rows_params) if n_ret else None


def _rows_per_query(con: duckdb.DuckDBPyConnection, rows: str, rows_params: Sequence) -> pa.Table:
    """(query_id, n): how many rows relation `rows` holds per query (what Judged@k and NumRet count)."""
    return arrow(con, f"SELECT query_id, count(*) AS n FROM {rows} GROUP BY query_id", list(rows_params))
