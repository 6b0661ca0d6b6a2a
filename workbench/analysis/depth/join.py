"""The first stage F joined to the reranked run R, and R applied to F's top k, in SQL over Arrow.

Everything here runs in a private in-memory DuckDB connection over Arrow tables the caller hands in (a stored
run's rows come from `workbench.store`, never its connection): the join `fr` (query_id, doc_id, F's trec_eval
rank, R's score and rank[, grade]) that every depth analysis reads, and the depth variants built from it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow as pa

from workbench.errors import AnalysisError
from workbench.model import RUN_SCHEMA


def check_run(table: pa.Table, what: str) -> None:
    """Refuse a run table without the columns a depth analysis reads."""
    missing = [c for c in ("query_id", "doc_id", "score") if c not in table.column_names]
    if missing:
        raise AnalysisError(f"{what} run lacks column(s) {missing}; expected {RUN_SCHEMA.names}")


# R's trec_eval order as one sortable key (max = first): R's documents before the ones R lacks, then R's
# score, then doc_id (trec_eval breaks ties by doc_id descending); documents R lacks keep F's order.
_R_ORDER_KEY = """{'has_r': rscore IS NOT NULL, 's': coalesce(rscore, 0),
                   'd': CASE WHEN rscore IS NOT NULL THEN doc_id ELSE '' END, 'f': -frank}"""


def join_runs(con: duckdb.DuckDBPyConnection, first: pa.Table, reranked: pa.Table, *, with_rrank: bool,
              qrels: pa.Table | None = None) -> None:
    """fr(query_id, doc_id, frank, rscore, rrank[, relevance]): F's trec_eval rank joined to R (full outer).

    A view when only the variants query reads it (it materialises it once, streaming from Arrow); a temp table
    when R's rank is wanted too (rerank_depth), so the join and windows run once for both queries. A run with
    a `position` column (the store's trec_eval positions) is not sorted again. With `qrels` (only with
    `with_rrank`: the table outlives their registration), fr carries each document's grade.
    """
    check_run(first, "first-stage")
    check_run(reranked, "reranked")
    ranked = ["position" in t.column_names for t in (first, reranked)]
    f_cols, r_cols = (["query_id", "doc_id", "score", *(["position"] if flag else [])] for flag in ranked)
    con.register("first_in", first.select(f_cols))
    con.register("reranked_in", reranked.select(r_cols))
    if qrels is not None and not with_rrank:
        raise ValueError("grades are joined into the table fr, not the view")
    with registered_grades(con, qrels, qrels is not None):
        _join(con, "first_in", "reranked_in", *ranked, with_rrank=with_rrank,
              grades=GRADES if qrels is not None else None)


def _join(con: duckdb.DuckDBPyConnection, first: str, reranked: str, first_ranked: bool, reranked_ranked: bool, *,
          with_rrank: bool, grades: str | None = None) -> None:
    """join_runs's join of relations `first` and `reranked` (query_id, doc_id, score[, position]) of `con`; with
    `grades` (a relation of query_id, doc_id, relevance; one row per pair), fr carries each document's grade."""
    trec_order = "PARTITION BY query_id ORDER BY score DESC, doc_id DESC"
    frank = "position::BIGINT" if first_ranked else f"row_number() OVER ({trec_order})"
    rrank = ("position::BIGINT" if reranked_ranked else f"row_number() OVER ({trec_order})") if with_rrank \
        else "NULL::BIGINT"
    con.execute(
        f"""CREATE OR REPLACE TEMP {"TABLE" if with_rrank else "VIEW"} fr AS
            WITH f AS (SELECT query_id, doc_id, {frank} AS frank FROM {first}),
                 r AS (SELECT query_id, doc_id, score AS rscore, {rrank} AS rrank FROM {reranked})
            SELECT query_id, doc_id, f.frank, r.rscore, r.rrank{", g.relevance" if grades else ""}
            FROM f FULL OUTER JOIN r USING (query_id, doc_id)
            {f"LEFT JOIN {grades} g USING (query_id, doc_id)" if grades else ""}"""
    ).fetchall()


def deepest_change(con: duckdb.DuckDBPyConnection) -> int:
    """The deepest position of fr at which R's order differs from F's (0 if none): see rerank_depth."""
    ((k,),) = con.execute(
        """SELECT coalesce(max(greatest(rrank, coalesce(frank, 0))), 0) FROM fr
           WHERE rrank IS NOT NULL AND frank IS DISTINCT FROM rrank"""
    ).fetchall()
    return int(k)


def variants(con: duckdb.DuckDBPyConnection, depths: Sequence[int], cutoff: int | None, ordered: bool) -> pa.Table:
    """All depth variants in one query: (depth, query_id, doc_id, score = -rank, rank), rank <= cutoff.

    Head (F rank <= k) in R's order, tail in F's order (no sort needed). With a cutoff (every measure is @c)
    rows below c are never built and heads are top-c aggregates: each F document falls in one band between
    consecutive depths, each band keeps its top c by R order (max_by, a heap), and the head at depth k is the
    top c of the bands up to k -- one pass over F instead of one per depth.
    """
    depth_list = sorted(set(map(int, depths)))
    params: dict[str, Any] = {"depths": depth_list}
    if cutoff is not None:
        params.update({f"b{i}": d for i, d in enumerate(depth_list)}, c=int(cutoff))
        band = "CASE " + " ".join(f"WHEN frank <= $b{i} THEN $b{i}" for i in range(len(depth_list))) + " END"
        head = f"""
            banded AS (SELECT {band} AS band, query_id, doc_id, {_R_ORDER_KEY} AS key
                       FROM base WHERE frank <= $b{len(depth_list) - 1}),
            cand AS (SELECT band, query_id, unnest(max_by({{'doc_id': doc_id, 'key': key}}, key, $c)) AS c
                     FROM banded GROUP BY band, query_id),
            head AS (SELECT depth, query_id, unnest(docs) AS doc_id, generate_subscripts(docs, 1) AS rank
                     FROM (SELECT d.depth, cand.query_id, max_by(cand.c.doc_id, cand.c.key, $c) AS docs
                           FROM cand JOIN d ON cand.band <= d.depth GROUP BY d.depth, cand.query_id)),
            tail AS (SELECT d.depth, base.query_id, base.doc_id, base.frank AS rank
                     FROM base JOIN d ON base.frank > d.depth AND base.frank <= $c)"""
    else:
        head = f"""
            head AS (SELECT d.depth, base.query_id, base.doc_id,
                            row_number() OVER (PARTITION BY d.depth, base.query_id ORDER BY {_R_ORDER_KEY} DESC) AS rank
                     FROM base JOIN d ON base.frank <= d.depth),
            tail AS (SELECT d.depth, base.query_id, base.doc_id, base.frank AS rank
                     FROM base JOIN d ON base.frank > d.depth)"""
    return con.sql(
        f"""
        WITH base AS MATERIALIZED (SELECT query_id, doc_id, frank, rscore FROM fr WHERE frank IS NOT NULL),
        d AS (SELECT unnest($depths::BIGINT[]) AS depth),
        {head}
        SELECT CAST(depth AS BIGINT) AS depth, query_id, doc_id,
               -CAST(rank AS DOUBLE) AS score, CAST(rank AS BIGINT) AS rank
        FROM (SELECT * FROM head UNION ALL SELECT * FROM tail)
        {"ORDER BY depth, query_id, rank" if ordered else ""}
        """,
        params=params,
    ).to_arrow_table()


def derive(
    first: pa.Table, reranked: pa.Table, depths: Sequence[int], cutoff: int | None, *, ordered: bool = False
) -> pa.Table:
    """The depth variants of F and R (see `variants`), joined in a connection of their own."""
    con = duckdb.connect()
    try:
        join_runs(con, first, reranked, with_rrank=False)
        return variants(con, depths, cutoff, ordered)
    finally:
        con.close()



# a qrels table registered as _grades_in, one grade per judged pair (repeats would duplicate joined rows)
GRADES = "(SELECT query_id, doc_id, max(relevance) AS relevance FROM _grades_in GROUP BY query_id, doc_id)"


@contextmanager
def registered_grades(con: duckdb.DuckDBPyConnection, qrels: pa.Table | None, needed: bool) -> Iterator[None]:
    """`qrels` as relation _grades_in of `con` (what GRADES reads) for the block, when `needed`."""
    if not needed:
        yield
        return
    assert qrels is not None, "grades needed without qrels"  # RerankPair passes qrels whenever it needs grades
    con.register("_grades_in", qrels.select(["query_id", "doc_id", "relevance"]))
    try:
        yield
    finally:
        con.unregister("_grades_in")
