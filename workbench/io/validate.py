"""Warnings about runs that parse but may not score the way their author expects.

They never block ingestion: trec_eval scores these runs fine, but the numbers depend on details (its tie
order, missing queries) that a user should know about. All checks are one DuckDB query over the Arrow
table, so they cost little next to parsing.
"""

from __future__ import annotations

import pyarrow as pa

from workbench.io import _text

CUTOFFS = (5, 10, 20, 100, 1000)
_EXAMPLES = 5


def _examples(ids: list[str]) -> str:
    shown = ", ".join(ids[:_EXAMPLES])
    return shown + (", ..." if len(ids) > _EXAMPLES else "")


def run_format_warnings(table: pa.Table) -> list[str]:
    """Rank column vs trec_eval's order (score desc, doc_id desc), and score ties straddling cutoffs."""
    if table.num_rows == 0:
        return []
    con = _text.connect()
    try:
        con.register("run", table.select(["query_id", "doc_id", "score", "rank"]))
        con.execute(
            """CREATE TEMP TABLE ordered AS
               SELECT query_id, score, rank,
                      row_number() OVER w AS pos,
                      lag(rank) OVER w AS prev_rank,
                      lead(score) OVER w AS next_score
               FROM run WINDOW w AS (PARTITION BY query_id ORDER BY score DESC, doc_id DESC)"""
        )
        disagree = con.execute(
            """SELECT query_id FROM ordered WHERE prev_rank >= rank GROUP BY query_id ORDER BY query_id"""
        ).fetchall()
        n_queries = con.execute("SELECT count(DISTINCT query_id) FROM ordered").fetchall()[0][0]
        cut_list = ", ".join(str(k) for k in CUTOFFS)
        ties = con.execute(
            f"""SELECT pos, count(*) FROM ordered
                WHERE pos IN ({cut_list}) AND next_score = score GROUP BY pos ORDER BY pos"""
        ).fetchall()
    finally:
        con.close()
    warnings = []
    if disagree:
        ids = [q for (q,) in disagree]
        warnings.append(
            f"rank column disagrees with trec_eval's order (score descending, doc_id descending) in "
            f"{len(ids)} of {n_queries} queries (e.g. {_examples(ids)}); scoring ignores the rank column"
        )
    if ties:
        parts = ", ".join(f"@{k} in {n} {'query' if n == 1 else 'queries'}" for k, n in ties)
        warnings.append(
            f"tied scores straddle cutoffs ({parts}); within a tie trec_eval orders by doc_id descending, "
            "so measures at these cutoffs depend on doc ids"
        )
    return warnings


def run_qrels_warnings(table: pa.Table, qrels: pa.Table | None) -> list[str]:
    """Queries the run and the judgments do not share: unjudged run queries are not scored; judged
    queries missing from the run score 0 and still count in the mean (trec_eval -c)."""
    if qrels is None or qrels.num_rows == 0:
        return []
    con = _text.connect()
    try:
        con.register("run", table.select(["query_id"]))
        con.register("qrels", qrels.select(["query_id"]))
        run_only = con.execute(
            "SELECT DISTINCT query_id FROM run EXCEPT SELECT DISTINCT query_id FROM qrels ORDER BY query_id"
        ).fetchall()
        qrels_only = con.execute(
            "SELECT DISTINCT query_id FROM qrels EXCEPT SELECT DISTINCT query_id FROM run ORDER BY query_id"
        ).fetchall()
    finally:
        con.close()
    warnings = []
    if run_only:
        ids = [q for (q,) in run_only]
        warnings.append(f"{len(ids)} run queries have no judgments and are not scored (e.g. {_examples(ids)})")
    if qrels_only:
        ids = [q for (q,) in qrels_only]
        warnings.append(
            f"{len(ids)} judged queries are missing from the run and score 0 in every measure (e.g. {_examples(ids)})"
        )
    return warnings
