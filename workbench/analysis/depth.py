"""Rerank-depth scaling: how a measure changes as a reranker is applied to the first stage's top-k, k = 0..K.

Given a first stage F and a reranked run R (R reordered F's top-K), the run "R at depth k" is derivable
without calling the reranker again: F's top-k documents reordered by R's order, then F's tail in F's order.
This assumes the reranker scores documents independently of the pool (pointwise) -- for listwise LLM
rerankers (sliding windows) it is an approximation, which is why `depth_curve` also plots *observed* runs
reranked at other depths beside the derived curve.

All orders are trec_eval's (score desc, doc_id desc), not the rank column. All depth variants are built in one
DuckDB query over Arrow (a `depth` column) and scored with one evaluate(..., group="depth") call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.analysis.checks import check_count, check_seed
from workbench.analysis.compare import _jsonable
from workbench.analysis.stats import DEFAULT_BOOTSTRAP, bootstrap_means, percentile_interval
from workbench.errors import AnalysisError, UnknownMeasureError
from workbench.model import RUN_SCHEMA

DEFAULT_GRID = (0, 5, 10, 20, 30, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


# --------------------------------------------------------------------------------------------- scoring shim
def _canonical_measures(measures: str | Sequence[str]) -> list[str]:
    """Measures as ir-measures spells them (str(parse_measure(m))), order kept, duplicates dropped."""
    names = [measures] if isinstance(measures, str) else list(measures)
    out: list[str] = []
    for m in names:
        try:
            from workbench.scoring import parse_measure
        except ImportError:
            import ir_measures

            try:
                canon = str(ir_measures.parse_measure(m))
            except Exception as exc:  # ir_measures raises bare ValueError/NameError/SyntaxError
                raise UnknownMeasureError(f"unknown measure {m!r}: {exc}") from exc
        else:
            canon = str(parse_measure(m))
        if canon not in out:
            out.append(canon)
    return out


def _evaluate(run: pa.Table, qrels: pa.Table, measures: Sequence[str], *, group: str | None = None,
              stored_qrels: bool = False) -> pa.Table:
    """workbench.scoring.evaluate when it exists; until then ir-measures with trec_eval semantics.

    The fallback breaks score ties by doc_id desc itself (scores become -position) so every ir-measures
    provider sees trec_eval's order, and adds -c zeros for judged queries a group's run lacks.
    """
    try:
        from workbench.scoring import evaluate
    except ImportError:
        return _ir_measures_evaluate(run, qrels, measures, group=group)
    return evaluate(run, qrels, list(measures), group=group, stored_qrels=stored_qrels)


def _ir_measures_evaluate(run: pa.Table, qrels: pa.Table, measures: Sequence[str], *, group: str | None) -> pa.Table:
    import ir_measures

    parsed = [ir_measures.parse_measure(m) for m in measures]
    gcol = group if group is not None else "__group"
    con = duckdb.connect()
    try:
        con.register("run_in", run)
        gexpr = f'"{group}"' if group is not None else "0"
        ordered = con.execute(
            f"""SELECT {gexpr} AS __g, query_id, doc_id,
                   -CAST(row_number() OVER (PARTITION BY {gexpr}, query_id
                                            ORDER BY score DESC, doc_id DESC) AS DOUBLE) AS score
                FROM run_in"""
        ).df()
    finally:
        con.close()
    qrels_df = qrels.select(["query_id", "doc_id", "relevance"]).to_pandas()
    judged = sorted(set(qrels_df["query_id"]))
    frames = []
    groups = ordered["__g"].unique() if len(ordered) else []
    for g in groups:
        sub = ordered.loc[ordered["__g"] == g, ["query_id", "doc_id", "score"]]
        rows = [(m.query_id, str(m.measure), float(m.value)) for m in ir_measures.iter_calc(parsed, qrels_df, sub)]
        got = pd.DataFrame(rows, columns=["query_id", "measure", "value"])
        missing = sorted(set(judged) - set(sub["query_id"]))
        if missing:
            zeros = pd.DataFrame(
                [(q, str(m), 0.0) for q in missing for m in parsed], columns=["query_id", "measure", "value"]
            )
            got = pd.concat([got, zeros], ignore_index=True)
        got[gcol] = g
        frames.append(got)
    out = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({"query_id": [], "measure": [], "value": [], gcol: []})
    )
    if group is None:
        out = out.drop(columns=[gcol])
    return pa.Table.from_pandas(out, preserve_index=False)


# --------------------------------------------------------------------------------------------- derivation
def _check_run(table: pa.Table, what: str) -> None:
    missing = [c for c in ("query_id", "doc_id", "score") if c not in table.column_names]
    if missing:
        raise AnalysisError(f"{what} run lacks column(s) {missing}; expected {RUN_SCHEMA.names}")


# R's trec_eval order as one sortable key (max = first): R's documents before the ones R lacks, then R's
# score, then doc_id (trec_eval breaks ties by doc_id descending); documents R lacks keep F's order.
_R_ORDER_KEY = """{'has_r': rscore IS NOT NULL, 's': coalesce(rscore, 0),
                   'd': CASE WHEN rscore IS NOT NULL THEN doc_id ELSE '' END, 'f': -frank}"""


def _prepare(con: duckdb.DuckDBPyConnection, first: pa.Table, reranked: pa.Table, *, with_rrank: bool) -> None:
    """fr(query_id, doc_id, frank, rscore, rrank): F's trec_eval rank joined to R (full outer).

    A view when only the variants query reads it (it materialises it once, streaming from Arrow); a temp table
    when R's rank is wanted too (rerank_depth), so the join and windows run once for both queries. A run with
    a `position` column (the store's trec_eval positions) is not sorted again.
    """
    _check_run(first, "first-stage")
    _check_run(reranked, "reranked")
    ranked = ["position" in t.column_names for t in (first, reranked)]
    f_cols, r_cols = (["query_id", "doc_id", "score", *(["position"] if flag else [])] for flag in ranked)
    con.register("first_in", first.select(f_cols))
    con.register("reranked_in", reranked.select(r_cols))
    _join(con, "first_in", "reranked_in", *ranked, with_rrank=with_rrank)


def _join(con: duckdb.DuckDBPyConnection, first: str, reranked: str, first_ranked: bool, reranked_ranked: bool, *,
          with_rrank: bool, grades: str | None = None) -> None:
    """_prepare's join of relations `first` and `reranked` (query_id, doc_id, score[, position]) of `con`; with
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


def _k_max(con: duckdb.DuckDBPyConnection) -> int:
    ((k,),) = con.execute(
        """SELECT coalesce(max(greatest(rrank, coalesce(frank, 0))), 0) FROM fr
           WHERE rrank IS NOT NULL AND frank IS DISTINCT FROM rrank"""
    ).fetchall()
    return int(k)


def _variants(con: duckdb.DuckDBPyConnection, depths: Sequence[int], cutoff: int | None, ordered: bool) -> pa.Table:
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


def _derive(
    first: pa.Table, reranked: pa.Table, depths: Sequence[int], cutoff: int | None, *, ordered: bool = False
) -> pa.Table:
    con = duckdb.connect()
    try:
        _prepare(con, first, reranked, with_rrank=False)
        return _variants(con, depths, cutoff, ordered)
    finally:
        con.close()


def rerank_depth(first: pa.Table, reranked: pa.Table) -> int:
    """The deepest trec_eval position at which R's order differs from F's, over all queries (0 if never).

    Only positions R has count, so an R that lists just its reranked top-K (and not F's tail) gives K.
    At this depth the derived run equals R.
    """
    with RerankPair(first, reranked) as pair:
        return pair.k_max


def derive_depth_run(first: pa.Table, reranked: pa.Table, k: int) -> pa.Table:
    """The run "R applied to F's top-k": F's top-k in R's order, then F's tail in F's order (RUN_SCHEMA).

    Scores are -rank so trec_eval's order is the derived order. Documents of R that F lacks are ignored;
    F's top-k documents R lacks follow R's ordered ones, in F's order.
    """
    if k < 0:
        raise AnalysisError(f"depth must be >= 0, got {k}")
    out = _derive(first, reranked, [k], None, ordered=True)
    return out.select(["query_id", "doc_id", "score", "rank"]).cast(RUN_SCHEMA)


# a qrels table registered as _grades_in, one grade per judged pair (repeats would duplicate joined rows)
_GRADES = "(SELECT query_id, doc_id, max(relevance) AS relevance FROM _grades_in GROUP BY query_id, doc_id)"


@contextmanager
def _registered_grades(con: duckdb.DuckDBPyConnection, qrels: pa.Table | None, needed: bool) -> Iterator[None]:
    """`qrels` as relation _grades_in of `con` (what _GRADES reads) for the block, when `needed`."""
    if not needed:
        yield
        return
    assert qrels is not None  # needed: the caller has the qrels
    con.register("_grades_in", qrels.select(["query_id", "doc_id", "relevance"]))
    try:
        yield
    finally:
        con.unregister("_grades_in")


# up to this many joined rows `graded` orders them all (~0.15 s for the 700k of a 7,000-query top-100 pair);
# beyond, it keeps only the rows that can rank within the cutoff (whole 7M-row runs: seconds saved)
_ORDER_ALL_ROWS = 2_000_000


@dataclass(frozen=True)
class _Graded:
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
        if len(ranks) <= _ORDER_ALL_ROWS:
            self.memo[k] = ranks
        return ranks


class RerankPair:
    """F and R joined once (trec_eval ranks of both) in a private DuckDB connection.

    The join and its two window sorts are most of a depth analysis at MS MARCO scale (7M + 7M rows), so the
    depth curve, phantom hits and the Judged@k summary of one pair take a RerankPair and share it. Runs read
    with their stored `position` column skip those sorts. Close it (or use it as a context manager) to free
    the connection.
    """

    _graded_by: pa.Table | None  # set by _start, then carries_grades_of

    def __init__(self, first: pa.Table, reranked: pa.Table) -> None:
        con = duckdb.connect()
        try:
            _prepare(con, first, reranked, with_rrank=True)
        except BaseException:
            con.close()
            raise
        self._start(con, owned=True)

    @classmethod
    def from_views(cls, con: duckdb.DuckDBPyConnection, first: str, reranked: str, cut: int | None,
                   qrels: pa.Table | None = None, *, grades: str | None = None) -> RerankPair:
        """F and R as views of `con` with trec_eval positions (query_id, doc_id, score, position: the store's
        `run_views`), joined there down to position `cut` (all when None): the rows never travel to Python.
        `con` stays the caller's; the join is its temp table `fr`. The analyses given such a pair (depth_curve,
        phantom_hits, judged_summary) take None for `first` and `reranked`: they read the pair only. With
        `qrels`, the join carries their grades, so the analyses given these qrels do not join them again.
        `grades` instead: a relation of `con` with one row per (query_id, doc_id) (the store's qrels, see
        `qrels_relation`), joined where it lies; `carries_grades_of` then names the Arrow qrels it holds."""
        where = "" if cut is None else f" WHERE position <= {int(cut)}"
        if grades is None and qrels is not None:
            grades = _GRADES
        with _registered_grades(con, qrels, grades == _GRADES):
            _join(con, f"(SELECT * FROM {first}{where})", f"(SELECT * FROM {reranked}{where})", True, True,
                  with_rrank=True, grades=grades)
        pair = cls.__new__(cls)
        pair._start(con, owned=False)
        pair._graded_by = qrels
        return pair

    def carries_grades_of(self, qrels: pa.Table) -> None:
        """Say that the join's grades are those of `qrels` (read apart from the `grades` relation from_views
        joined): the analyses given these qrels take the grades from the join instead of joining them again."""
        self._graded_by = qrels

    def _start(self, con: duckdb.DuckDBPyConnection, *, owned: bool) -> None:
        self.con, self._owned = con, owned
        self._graded_by = None  # the qrels whose grades fr carries (column relevance)
        self._last: tuple[list[int], int | None, pa.Table] | None = None
        self._graded: tuple[pa.Table, list[int], int | None, _Graded] | None = None
        try:
            self.k_max = _k_max(con)
        except BaseException:
            self.close()
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
        table = _variants(self.con, want, cutoff, ordered=False)
        self._last = (want, cutoff, table)
        return table

    def graded(self, qrels: pa.Table, depths: Sequence[int], cutoff: int | None) -> _Graded:
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
        if cutoff is not None and self._n_joined() <= _ORDER_ALL_ROWS:
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
        join = "" if own else f"LEFT JOIN {_GRADES} g USING (query_id, doc_id)"
        with _registered_grades(self.con, qrels, not own):
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
        graded = _Graded(
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
        with _registered_grades(self.con, qrels, not own):
            rows = self.con.sql(
                f"""SELECT fr.query_id, fr.frank, fr.rrank, {"fr" if own else "g"}.relevance
                    FROM fr {"" if own else f"JOIN {_GRADES} g USING (query_id, doc_id)"}
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
        if self._owned:
            self.con.close()
        else:
            self.con.execute("DROP TABLE IF EXISTS fr")

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


# --------------------------------------------------------------------------------------------- curve
def _max_cutoff(measures: Sequence[str]) -> int | None:
    """The largest @cutoff if every measure has one (then deeper ranks cannot matter), else None."""
    import ir_measures

    cuts = []
    for m in measures:
        cutoff = ir_measures.parse_measure(m).params.get("cutoff")
        if not isinstance(cutoff, int):
            return None
        cuts.append(cutoff)
    return max(cuts) if cuts else None


def _grid(k_max: int, extra: Sequence[int]) -> list[int]:
    return sorted({*(d for d in DEFAULT_GRID if d < k_max), k_max, *(d for d in extra if 0 <= d <= k_max)})


@dataclass(frozen=True)
class CurvePoint:
    """One measure at one depth: mean over queries, bootstrap CI, per-query values aligned to query_ids."""

    measure: str
    depth: int
    source: str  # "derived" or "observed"
    mean: float
    ci_low: float
    ci_high: float
    values: tuple[float, ...]
    delta_ci_low: float = float("nan")
    """Percentile bootstrap CI of the mean difference from the first stage (derived depth 0), from the same
    resamples as the points' CIs (paired); NaN when the grid lacks depth 0."""
    delta_ci_high: float = float("nan")


@dataclass(frozen=True)
class DepthCurve:
    """Derived points for every (measure, depth), observed points for the real runs, best depth per measure.

    `judged_measure` (Judged@10 by default) is always among the measures: a depth whose gain rests on
    unjudged documents shows as a drop in it (the "holes" problem, Sakai & Kando 2008).
    """

    measures: tuple[str, ...]
    judged_measure: str
    depths: tuple[int, ...]
    k_max: int
    query_ids: tuple[str, ...]
    points: tuple[CurvePoint, ...]
    observed: tuple[CurvePoint, ...]
    best_depth: tuple[tuple[str, int], ...]
    """(measure, depth with the highest mean; smallest such depth on ties) for each measure."""
    n_boot: int
    seed: int
    confidence: float

    def to_dict(self, *, per_query: bool = True) -> dict[str, Any]:
        d = _jsonable(self)
        if not per_query:
            for p in (*d["points"], *d["observed"]):
                p.pop("values")
        return d

    def point(self, measure: str, depth: int, *, observed: bool = False) -> CurvePoint:
        for p in self.observed if observed else self.points:
            if p.measure == measure and p.depth == depth:
                return p
        raise AnalysisError(f"no {'observed' if observed else 'derived'} point for {measure!r} at depth {depth}")

    def curve(self, measure: str) -> dict[int, float]:
        """depth -> mean of the derived curve."""
        return {p.depth: p.mean for p in self.points if p.measure == measure}

    def to_frame(self) -> pd.DataFrame:
        """Long form: measure, depth, source, mean, ci_low, ci_high, delta_ci_low, delta_ci_high (one row per
        point)."""
        cols = ["measure", "depth", "source", "mean", "ci_low", "ci_high", "delta_ci_low", "delta_ci_high"]
        return pd.DataFrame([[getattr(p, c) for c in cols] for p in (*self.points, *self.observed)], columns=cols)

    def matrix(self, measure: str, runs: Sequence[str]) -> np.ndarray:
        """query_ids x `runs` values of `measure`, runs named as in scores_frame (derived@k, observed@k)."""
        values = {f"{p.source}@{p.depth}": p.values for p in (*self.points, *self.observed) if p.measure == measure}
        return np.array([values[r] for r in runs], dtype=np.float64).T.reshape(len(self.query_ids), len(runs))

    def scores_frame(self, prefix: str = "") -> pd.DataFrame:
        """Per-query scores as a `run, query_id, measure, value` frame for compare/stats.

        Runs are named f"{prefix}derived@{k}" and f"{prefix}observed@{k}"; derived@0 is the first stage.
        """
        parts = [
            pd.DataFrame(
                {
                    "run": f"{prefix}{p.source}@{p.depth}",
                    "query_id": list(self.query_ids),
                    "measure": p.measure,
                    "value": np.asarray(p.values, dtype=np.float64),
                }
            )
            for p in (*self.points, *self.observed)
        ]
        return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class RankedRows:
    """A run given by what `evaluate_ranked` scores: its judged rows' trec_eval ranks (query_id, rank, relevance)
    and its rows per query (query_id, n). A stored run's come from the store without reading its other rows;
    depth_curve takes them for observed runs."""

    judged: pa.Table
    n_ret: pa.Table


def _stack_ranked(runs: Sequence[tuple[int, RankedRows]]) -> tuple[pa.Table, pa.Table]:
    """Several RankedRows as one (judged, n_ret) pair with a `depth` column each."""
    def tag(table: pa.Table, columns: Sequence[str], k: int) -> pa.Table:
        cols = {c: table[c].cast(pa.int64()) if c != "query_id" else table[c] for c in columns}
        return pa.table({**cols, "depth": pa.array(np.full(table.num_rows, k, np.int64))})

    judged = pa.concat_tables([tag(r.judged, ("query_id", "rank", "relevance"), k) for k, r in runs])
    n_ret = pa.concat_tables([tag(r.n_ret, ("query_id", "n"), k) for k, r in runs])
    return judged, n_ret


def _per_query_matrix(
    scores: pa.Table, group: str, keys: Sequence[int], measures: Sequence[str], qids: Sequence[str]
) -> dict[str, np.ndarray]:
    """{measure: len(keys) x len(qids) values of `scores` (group, query_id, measure, value)}, NaN where it has
    none (a variant that lacks a judged query); placed by each row's keys, whatever the rows' order."""
    from workbench.scoring.fast import value_codes

    at = [value_codes(scores[group], pa.array(list(keys), scores.schema.field(group).type)),
          value_codes(scores["query_id"], pa.array(list(qids), pa.string())),
          value_codes(scores["measure"], pa.array(list(measures), pa.string()))]
    ok = (at[0] >= 0) & (at[1] >= 0) & (at[2] >= 0)
    out = np.full((len(measures), len(keys), len(qids)), np.nan)
    out[at[2][ok], at[0][ok], at[1][ok]] = np.concatenate(
        [c.to_numpy() for c in scores.column("value").chunks] or [np.zeros(0)])[ok]
    return {m: out[j] for j, m in enumerate(measures)}


def depth_curve(  # noqa: C901
    first: pa.Table | None,
    reranked: pa.Table | None,
    qrels: pa.Table,
    measures: str | Sequence[str],
    *,
    depths: Sequence[int] | None = None,
    k_max: int | None = None,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    confidence: float = 0.95,
    observed: Mapping[int, pa.Table | RankedRows] | None = None,
    judged_k: int = 10,
    pair: RerankPair | None = None,
    stored_qrels: bool = False,
) -> DepthCurve:
    """The measure(s) of R applied to F's top-k for each k, with percentile bootstrap CIs over queries.

    k_max defaults to `rerank_depth(first, reranked)`; the default grid is 0, 5, 10, 20, 30, 50, 100, 200,
    500, 1000, ... below k_max, plus k_max and any observed depth <= k_max. `observed` maps a depth to a
    real run reranked at that depth (scored as is, e.g. R@20 beside a curve derived from R@100), as its rows
    or as RankedRows (then every measure must be one `evaluate_ranked` serves). Queries are
    the judged ones (trec_eval -c); CIs share resamples across depths (paired). `pair`: F and R already
    joined (a RerankPair of these two tables), shared with phantom_hits/judged_summary. `stored_qrels`: the
    qrels come from the store, which refused repeated judgments, so scoring does not check them again.
    """
    from workbench.scoring import evaluate_ranked, ranked_plan

    check_count("n_boot", n_boot, 1)
    check_seed(seed)
    meas = _canonical_measures(measures)
    judged = _canonical_measures(f"Judged@{judged_k}")[0]
    all_meas = [*meas, judged] if judged not in meas else meas
    cutoff = _max_cutoff(all_meas)
    with rerank_pair(first, reranked, pair) as p:
        if k_max is None:
            k_max = p.k_max
        if depths is None:
            depths = _grid(k_max, list(observed or {}))
        depths = sorted(set(map(int, depths)))
        if not depths or depths[0] < 0:
            raise AnalysisError(f"depths must be non-negative and non-empty, got {depths}")
        depths = sorted({0, *depths})  # depth 0, the first stage, is the reference every depth is tested against
        plan = ranked_plan(all_meas)
        if plan is not None:
            judged_rows, n_ret = p.ranked_variants(depths, plan.max_rank, qrels)
            scored = evaluate_ranked(judged_rows, n_ret, qrels, all_meas, group="depth",
                                     groups=pa.array(depths, pa.int64()), stored_qrels=stored_qrels)
        else:
            scored = _evaluate(p.variants(depths, cutoff), qrels, all_meas, group="depth", stored_qrels=stored_qrels)
        obs_keys = sorted(observed or {})
        obs_tables, obs_ranked = [], []
        for k in obs_keys:
            t = observed[k]  # type: ignore[index]
            if isinstance(t, RankedRows):
                obs_ranked.append((k, t))
                continue
            _check_run(t, f"observed@{k}")
            # R observed at its own depth: with cutoff measures its top `cutoff` (already ranked in the join)
            # scores the same as all of it
            t = p.reranked_top(cutoff) if t is reranked and cutoff is not None else t
            t = t.select(["query_id", "doc_id", "score"])
            obs_tables.append(t.append_column("depth", pa.array(np.full(t.num_rows, k, np.int64))))
    qids = sorted(pc.unique(qrels.column("query_id")).to_pylist())
    mats = _per_query_matrix(scored, "depth", depths, all_meas, qids)

    obs_mats: dict[str, np.ndarray] = {}
    parts = []
    if obs_tables:
        parts.append(_evaluate(pa.concat_tables(obs_tables), qrels, all_meas, group="depth", stored_qrels=stored_qrels))
    if obs_ranked:
        if plan is None:
            raise AnalysisError(f"observed runs given by their judged ranks cannot be scored on {all_meas}")
        parts.append(evaluate_ranked(*_stack_ranked(obs_ranked), qrels, all_meas, group="depth",
                                     groups=pa.array([k for k, _ in obs_ranked], pa.int64()),
                                     stored_qrels=stored_qrels))
    if parts:
        obs_mats = _per_query_matrix(pa.concat_tables(parts), "depth", obs_keys, all_meas, qids)

    points: list[CurvePoint] = []
    obs_points: list[CurvePoint] = []
    blocks = [(src, keys, sink, m, np.nan_to_num(store[m], nan=0.0))  # a judged query a variant lacks scores 0 (-c)
              for src, keys, store, sink in (("derived", depths, mats, points), ("observed", obs_keys, obs_mats,
                                                                                   obs_points))
              if keys for m in all_meas]
    # one draw of resamples for every point (the same ones each call with this seed would draw): paired CIs
    stacked = np.vstack([mat for *_, mat in blocks])
    boot = bootstrap_means(stacked, n_boot, seed)
    lo, hi = percentile_interval(boot, confidence)
    # each point's difference from depth 0 of its measure: a difference of means of the same resamples
    starts = np.cumsum([0, *(len(keys) for _, keys, *_ in blocks)])
    first = {m: start + depths.index(0) for (src, _, _, m, _), start in zip(blocks, starts, strict=False)
             if src == "derived" and 0 in depths}
    base = np.array([first.get(m, -1) for _, keys, _, m, _ in blocks for _ in keys])
    d_lo, d_hi = percentile_interval(boot - boot[np.maximum(base, 0)], confidence)
    d_lo, d_hi = np.where(base >= 0, d_lo, np.nan), np.where(base >= 0, d_hi, np.nan)
    for (src, keys, sink, m, mat), row in zip(blocks, starts, strict=False):
        sink.extend(
            CurvePoint(m, int(k), src, float(mat[i].mean()), float(lo[row + i]), float(hi[row + i]),
                       tuple(mat[i].tolist()), float(d_lo[row + i]), float(d_hi[row + i]))
            for i, k in enumerate(keys)
        )
    best = []
    for m in meas:
        means = [p.mean for p in points if p.measure == m]
        best.append((m, depths[int(np.argmax(means))]))
    return DepthCurve(
        measures=tuple(meas),
        judged_measure=judged,
        depths=tuple(depths),
        k_max=int(k_max),
        query_ids=tuple(qids),
        points=tuple(points),
        observed=tuple(obs_points),
        best_depth=tuple(best),
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
    )
