"""Warnings about runs that parse but may not score the way their author expects.

They never block ingestion: trec_eval scores these runs fine, but the numbers depend on details (its tie
order, missing queries) that a user should know about. All checks are one DuckDB query over the Arrow
table, so they cost little next to parsing.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.io import _text

CUTOFFS = (5, 10, 20, 100, 1000)
_EXAMPLES = 5


def _examples(ids: list[str]) -> str:
    shown = ", ".join(ids[:_EXAMPLES])
    return shown + (", ..." if len(ids) > _EXAMPLES else "")


def _format_warnings_sorted(table: pa.Table) -> tuple[list[str], np.ndarray, np.ndarray | None] | None:
    """run_format_check for the usual layout, in O(n) numpy; None when the run is not laid out so.

    Usual layout: each query's rows contiguous and scores non-increasing inside a block (no NaN, no nulls).
    Then trec_eval's order is the file order except inside runs of tied scores (reordered by doc_id
    descending, which only those rows need), and the score at each cutoff is the file's.
    """

    cols = [table.column(c) for c in ("query_id", "doc_id", "score", "rank")]
    if any(c.null_count for c in cols):
        return None
    qcol = cols[0].combine_chunks()
    score = cols[2].to_numpy()
    if np.isnan(score).any():
        return None
    n = len(qcol)
    change = pc.not_equal(qcol.slice(1), qcol.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.concatenate(([True], change)))
    block_q = qcol.take(pa.array(starts))
    if len(pc.unique(block_q)) != len(starts):  # a query in several blocks
        return None
    same = ~change
    if np.any(same & (score[1:] > score[:-1])):
        return None
    rank = cols[3].to_numpy()
    tie = same & (score[1:] == score[:-1])
    if tie.any():  # put each run of tied scores in doc_id descending order
        ti = np.flatnonzero(tie)  # row ti+1 ties row ti; consecutive ti make one group (few rows: no O(n) arrays)
        brk = np.flatnonzero(np.diff(ti) != 1) + 1
        first_i, last_i = np.concatenate(([0], brk)), np.concatenate((brk, [len(ti)])) - 1
        gstart = ti[first_i]
        glen = ti[last_i] - gstart + 2
        total = int(glen.sum())
        members = np.repeat(gstart, glen) + (np.arange(total) - np.repeat(np.cumsum(glen) - glen, glen))
        gid = np.repeat(np.arange(len(gstart)), glen)
        doc = cols[1].combine_chunks().take(pa.array(members))
        order = pc.sort_indices(pa.table({"g": gid, "d": doc}),
                                sort_keys=[("g", "ascending"), ("d", "descending")]).to_numpy()
        sorted_doc = doc.take(pa.array(order))
        if len(sorted_doc) > 1 and np.any(
            pc.equal(sorted_doc.slice(1), sorted_doc.slice(0, len(sorted_doc) - 1)).to_numpy(zero_copy_only=False)
            & (gid[order][1:] == gid[order][:-1])
        ):
            return None  # a duplicate (score, doc_id): SQL's order among them is arbitrary, let it decide
        rank = rank.copy()
        rank[members] = rank[members[order]]
        trec_row = np.arange(n)  # trec_row[i]: the file row at trec_eval slot i
        trec_row[members] = members[order]
    else:
        trec_row = None
    bad = same & (rank[:-1] >= rank[1:])
    disagree = sorted(set(block_q.take(pa.array(np.unique(np.searchsorted(starts, np.flatnonzero(bad) + 1,
                                                                           side="right") - 1))).to_pylist()))
    lengths = np.diff(np.append(starts, n))
    ties = []
    for k in CUTOFFS:
        at = starts[lengths > k] + k - 1  # 0-based row of position k, which has a next row in its block
        count = int(np.count_nonzero(score[at] == score[at + 1]))
        if count:
            ties.append((k, count))
    slot = (np.arange(n) - np.repeat(starts - 1, lengths)).astype(np.int32)  # 1-based place of slot i in its query
    if trec_row is None:
        positions, moved = slot, np.zeros(0, np.int64)
    else:
        positions = np.empty(n, np.int32)
        positions[trec_row] = slot
        moved = members[positions[members] != slot[members]]
    return _format_messages(disagree, len(starts), ties), positions, moved


def _format_messages(disagree: list[str], n_queries: int, ties: list[tuple[int, int]]) -> list[str]:
    warnings = []
    if disagree:
        warnings.append(
            f"rank column disagrees with trec_eval's order (score descending, doc_id descending) in "
            f"{len(disagree)} of {n_queries} queries (e.g. {_examples(disagree)}); scoring ignores the rank column"
        )
    if ties:
        parts = ", ".join(f"@{k} in {n} {'query' if n == 1 else 'queries'}" for k, n in ties)
        warnings.append(
            f"tied scores straddle cutoffs ({parts}); within a tie trec_eval orders by doc_id descending, "
            "so measures at these cutoffs depend on doc ids"
        )
    return warnings


def run_format_check(table: pa.Table) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """(run_format_warnings, positions, moved).

    positions: each row's 1-based place in trec_eval's order within its query (int32); the store keeps them,
    so a run's top k is a filter rather than a sort. moved: when every query's rows are contiguous, the rows
    whose position is not their place in that block (tied scores reordered by doc_id), so the rest follow
    from row order alone; None when positions must be taken row by row.
    """
    if table.num_rows == 0:
        return [], np.zeros(0, np.int32), np.zeros(0, np.int64)
    fast = _format_warnings_sorted(table)
    if fast is not None:
        return fast
    return _format_warnings_sql(table)


def run_format_warnings(table: pa.Table) -> list[str]:
    """Rank column vs trec_eval's order (score desc, doc_id desc), and score ties straddling cutoffs."""
    return run_format_check(table)[0]


def _format_warnings_sql(table: pa.Table) -> tuple[list[str], np.ndarray, None]:
    con = _text.connect()
    try:
        run = table.select(["query_id", "doc_id", "score", "rank"])
        con.register("run", run.append_column("i", pa.array(np.arange(run.num_rows))))
        con.execute(
            """CREATE TEMP TABLE ordered AS
               SELECT i, query_id, score, rank,
                      row_number() OVER w AS pos,
                      lag(rank) OVER w AS prev_rank,
                      lead(score) OVER w AS next_score
               FROM run WINDOW w AS (PARTITION BY query_id ORDER BY score DESC, doc_id DESC)"""
        )
        disagree = con.execute(
            """SELECT query_id FROM ordered WHERE prev_rank >= rank GROUP BY query_id ORDER BY query_id"""
        ).fetchall()
        n_queries = con.execute("SELECT count(DISTINCT query_id) FROM ordered").fetchall()[0][0]
        positions = con.execute("SELECT pos::INTEGER AS pos FROM ordered ORDER BY i").fetchnumpy()["pos"]
        cut_list = ", ".join(str(k) for k in CUTOFFS)
        ties = con.execute(
            f"""SELECT pos, count(*) FROM ordered
                WHERE pos IN ({cut_list}) AND next_score = score GROUP BY pos ORDER BY pos"""
        ).fetchall()
    finally:
        con.close()
    messages = _format_messages([q for (q,) in disagree], n_queries, [(int(k), int(c)) for k, c in ties])
    return messages, np.asarray(positions, dtype=np.int32), None


def run_qrels_warnings(table: pa.Table, qrels: pa.Table | None) -> list[str]:
    """Queries the run and the judgments do not share: unjudged run queries are not scored; judged
    queries missing from the run score 0 and still count in the mean (trec_eval -c)."""
    if qrels is None or qrels.num_rows == 0:
        return []

    run_ids = set(pc.unique(table.column("query_id")).to_pylist())
    judged = set(pc.unique(qrels.column("query_id")).to_pylist())
    run_only = [(q,) for q in sorted(run_ids - judged - {None})]  # DuckDB's VARCHAR order is Python's str order
    qrels_only = [(q,) for q in sorted(judged - run_ids - {None})]
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
