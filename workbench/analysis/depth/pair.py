"""F and R joined once, and what the depth analyses read from the join (kept while later requests are covered)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.analysis.depth import ranks
from workbench.analysis.depth.join import GRADES, deepest_change, join_runs, registered_grades, variants
from workbench.analysis.depth.ranks import Graded
from workbench.analysis.depth.results import RankedRows
from workbench.errors import AnalysisError


class RerankPair:
    """F and R joined once (trec_eval ranks of both) in a private DuckDB connection.

    The join and its two window sorts are most of a depth analysis at MS MARCO scale (7M + 7M rows), so the
    depth curve, phantom hits and the Judged@k summary of one pair take a RerankPair and share it. Runs read
    with their stored `position` column skip those sorts. Close it (or use it as a context manager) to free
    the connection. The connection is its own, in memory: the runs come in as Arrow tables.
    """

    def __init__(self, first: pa.Table, reranked: pa.Table, qrels: pa.Table | None = None) -> None:
        """Join `first` and `reranked` (query_id, doc_id, score[, position]: a stored run's trec_eval positions,
        as `workbench.store.top_run_rows` returns them, are taken as its order). With `qrels`, the join carries
        their grades, so the analyses given these same qrels (the same table) do not join them again."""
        self.con = duckdb.connect()
        self._graded_by = qrels  # the qrels whose grades fr carries (column relevance)
        self._last: tuple[list[int], int | None, pa.Table] | None = None
        self._graded: tuple[pa.Table, list[int], int | None, Graded] | None = None
        try:
            join_runs(self.con, first, reranked, with_rrank=True, qrels=qrels)
            self.k_max = deepest_change(self.con)
        except BaseException:
            self.con.close()
            raise

    def variants(self, depths: Sequence[int], cutoff: int | None) -> pa.Table:
        """(depth, query_id, doc_id, score = -rank, rank) of every depth variant, rank <= cutoff when given.

        The last table built answers later requests it covers (the curve's variants hold the phantom hits'
        top k at the deepest depth), filtered instead of derived again.
        """
        want = sorted(set(map(int, depths)))
        if self._last is not None:
            have, have_cut, table = self._last
            if set(want) <= set(have) and (have_cut is None or (cutoff is not None and cutoff <= have_cut)):
                keep = pc.is_in(table.column("depth"), value_set=pa.array(want, pa.int64()))
                if cutoff is not None:
                    keep = pc.and_(keep, pc.less_equal(table.column("rank"), cutoff))
                return table.filter(keep)
        table = variants(self.con, want, cutoff, ordered=False)
        self._last = (want, cutoff, table)
        return table

    def graded(self, qrels: pa.Table, depths: Sequence[int], cutoff: int | None) -> Graded:
        """F's documents with their grades in `qrels`, in R's order: all of them when `cutoff` is None, else only
        those that can rank within `cutoff` in the variant at one of `depths` (see below).

        With a cutoff, a document of F's band (d_i-1, d_i] between consecutive depths can reach the top c of a
        variant only as one of its band's c first in R's order (the c before it would precede it in every variant
        whose head holds it), or in the tail at F rank <= c. Ranks computed over those candidates are exact
        wherever they are <= c, and > c exactly where the true ones are; a query keeps >= min(its rows, c) rows.
        Finding them is a heap per band (min_by), not a sort of the whole join: at MS MARCO scale (7M rows) the
        ordered read of every row cost seconds. The result is kept while later requests (same qrels, depths
        among these, no deeper cutoff) are covered: the curve, the Judged@k summary and phantom hits share it.
        """
        want = sorted({int(d) for d in depths})
        if self._graded is not None:
            have_qrels, have_depths, have_cut, graded = self._graded
            if have_qrels is qrels and (have_cut is None or (
                    cutoff is not None and cutoff <= have_cut and set(want) <= set(have_depths))):
                return graded
        own = qrels is self._graded_by  # fr carries these grades
        if cutoff is not None and self._n_joined() <= ranks.ORDER_ALL_ROWS:
            cutoff = None  # the top-k cuts the dashboard joins: ordering them all is cheaper than finding candidates
        if cutoff is None:
            rows = "(SELECT * FROM fr WHERE frank IS NOT NULL)"
            params: dict[str, Any] = {}
        else:
            params = {f"b{i}": d for i, d in enumerate(want)} | {"c": int(cutoff)}
            band = "CASE " + " ".join(f"WHEN frank <= $b{i} THEN $b{i}" for i in range(len(want))) + " END"
            rows = f"""(WITH base AS (SELECT query_id, doc_id, frank, rrank,{" relevance," if own else ""}
                                            coalesce(rrank, 4611686018427387904 + frank) AS rkey
                                     FROM fr WHERE frank IS NOT NULL),
                        cand AS (SELECT query_id, unnest(min_by(doc_id, rkey, $c)) AS doc_id
                                 FROM base WHERE frank <= ${f"b{len(want) - 1}" if want else "c"}
                                 GROUP BY {band if want else "0"}, query_id)
                        SELECT * FROM base WHERE frank <= $c
                        UNION SELECT base.* FROM base SEMI JOIN cand USING (query_id, doc_id))"""
        grades = "r.relevance" if own else "g.relevance"
        join = "" if own else f"LEFT JOIN {GRADES} g USING (query_id, doc_id)"
        with registered_grades(self.con, qrels, not own):
            table = self.con.sql(
                f"""SELECT r.query_id, r.doc_id, r.frank, {grades} AS relevance FROM {rows} r {join}
                    ORDER BY r.query_id, r.rrank NULLS LAST, r.frank""",
                params=params,
            ).to_arrow_table()
        judged_queries = pc.unique(qrels.column("query_id"))
        qid = table.column("query_id").combine_chunks()
        n = len(qid)
        change = np.ones(n, dtype=bool)
        if n > 1:
            change[1:] = pc.not_equal(qid.slice(1), qid.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        starts = np.flatnonzero(change)
        lengths = np.diff(np.append(starts, n))
        relevance = table.column("relevance").combine_chunks()
        graded = Graded(
            query_id=qid, doc_id=table.column("doc_id").combine_chunks(),
            frank=table.column("frank").to_numpy().astype(np.int64, copy=False),
            judged=relevance.is_valid().to_numpy(zero_copy_only=False),
            grade=relevance.fill_null(0).to_numpy().astype(np.int64, copy=False),
            starts=starts, lengths=lengths, block=np.repeat(np.arange(len(starts)), lengths),
            judged_query=pc.is_in(qid.take(pa.array(starts)), value_set=judged_queries).to_numpy(
                zero_copy_only=False),
        )
        self._graded = (qrels, want, cutoff, graded)
        return graded

    def ranked_runs(self, qrels: pa.Table, max_rank: int) -> tuple[RankedRows, RankedRows]:
        """F and R as `evaluate_ranked` scores them, from the join: judged rows down to rank `max_rank`
        (trec_eval ranks) and rows per query, so neither run is read again (observed points, cutoff curves)."""
        own = qrels is self._graded_by
        with registered_grades(self.con, qrels, not own):
            rows = self.con.sql(
                f"""SELECT fr.query_id, fr.frank, fr.rrank, {"fr" if own else "g"}.relevance
                    FROM fr {"" if own else f"JOIN {GRADES} g USING (query_id, doc_id)"}
                    WHERE (fr.frank <= $k OR fr.rrank <= $k) {"AND fr.relevance IS NOT NULL" if own else ""}""",
                params={"k": int(max_rank)},
            ).to_arrow_table()
        counts = self.con.sql("""SELECT query_id, count(frank) AS nf, count(rrank) AS nr FROM fr
                                 GROUP BY query_id""").to_arrow_table()

        def ranked(column: str, n: str) -> RankedRows:
            kept = rows.filter(pc.less_equal(rows[column], int(max_rank)))
            return RankedRows(pa.table({"query_id": kept["query_id"], "rank": kept[column],
                                        "relevance": kept["relevance"]}),
                              pa.table({"query_id": counts["query_id"], "n": counts[n]}))

        return ranked("frank", "nf"), ranked("rrank", "nr")

    def _n_joined(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM fr").fetchall()[0][0])

    def ranked_variants(self, depths: Sequence[int], cutoff: int | None, qrels: pa.Table) -> tuple[pa.Table, pa.Table]:
        """Every depth variant as what `evaluate_ranked` scores: its judged rows down to `cutoff` (all when None)
        (depth, query_id, rank, relevance) and its rows per query (depth, query_id, n).

        The same ranks as `variants`, from one ordered read of the join and a cumulative count per depth in
        numpy, instead of building every variant's rows (with their doc ids) and sorting them again to score.
        """
        want = sorted(set(map(int, depths)))
        g = self.graded(qrels, want, cutoff)
        rows = np.flatnonzero(g.judged)
        parts = []
        for k in want:
            rank = g.ranks(k)[rows]
            keep = rows if cutoff is None else rows[rank <= cutoff]
            if cutoff is not None:
                rank = rank[rank <= cutoff]
            parts.append((np.full(len(keep), k, dtype=np.int64), keep, rank))
        depth = np.concatenate([d for d, _, _ in parts]) if parts else np.zeros(0, np.int64)
        at = np.concatenate([i for _, i, _ in parts]) if parts else np.zeros(0, np.int64)
        rank = np.concatenate([r for _, _, r in parts]) if parts else np.zeros(0, np.int64)
        judged = pa.table({"depth": depth, "query_id": g.query_id.take(pa.array(at)), "rank": rank,
                           "relevance": g.grade[at]})
        n_blocks = len(g.starts)
        n_ret = pa.table({"depth": np.repeat(np.array(want, dtype=np.int64), n_blocks),
                          "query_id": g.query_id.take(pa.array(np.tile(g.starts, len(want)))),
                          "n": np.tile(g.lengths, len(want))})
        return judged, n_ret

    def reranked_top(self, k: int) -> pa.Table:
        """R's first k documents per query in trec_eval order (query_id, doc_id, score)."""
        return self.con.sql("SELECT query_id, doc_id, rscore AS score FROM fr WHERE rrank <= $k",
                            params={"k": int(k)}).to_arrow_table()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> RerankPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def rerank_pair(first: pa.Table | None, reranked: pa.Table | None,
                pair: RerankPair | None = None) -> Iterator[RerankPair]:
    """`pair` itself when given (left open for its owner), else a new RerankPair closed on exit."""
    if pair is not None:
        yield pair
        return
    if first is None or reranked is None:
        raise AnalysisError("give the first-stage and reranked runs, or a RerankPair of them")
    with RerankPair(first, reranked) as own:
        yield own
