"""Per-query scores, cached by (run hash, qrels hash, measure, semantics, evaluator)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from workbench.store.connection import Store, arrow, registered

if TYPE_CHECKING:  # pandas is imported when a frame is asked for: ingest and scoring start faster without it
    import pandas as pd


def scored_keys(store: Store, run_hashes: list[str], qrels_hash: str, semantics: str) -> set[tuple[str, str, str]]:
    """The (run_hash, measure, evaluator) triples already scored against these qrels."""
    with store.reader() as con:
        return scored_keys_in(con, run_hashes, qrels_hash, semantics)


def put_scores(
    store: Store, run_hash: str, qrels_hash: str, semantics: str, per_query: pa.Table, evaluators: dict[str, str]
) -> None:
    """Store one run's per-query values (query_id, measure, value) for the given measures, atomically."""
    put_scores_many(store, qrels_hash, semantics, [(run_hash, per_query, evaluators)])


def put_scores_many(
    store: Store, qrels_hash: str, semantics: str, runs: list[tuple[str, pa.Table, dict[str, str]]]
) -> None:
    """put_scores for several runs (run_hash, per-query values, evaluators) in one transaction."""
    with store.writer(what="the new scores") as con:
        insert_scores(con, qrels_hash, semantics, runs)


def insert_scores(con, qrels_hash: str, semantics: str, runs: list[tuple[str, pa.Table, dict[str, str]]]) -> None:
    """put_scores_many inside an open transaction (ingest --measures stores runs and their scores together): the
    runs' per-query values in three statements, replacing the score sets they name (run_hash, measure,
    evaluator), so a batch of small runs pays once, not per run."""
    per_query = pa.concat_tables([
        values.select(["query_id", "measure", "value"]).append_column(
            "run_hash", pa.array([run_hash] * values.num_rows, pa.string()))
        for run_hash, values, _ in runs])
    named = [(run_hash, m, e) for run_hash, _, evaluators in runs for m, e in evaluators.items()]
    keys = pa.table({"run_hash": [k[0] for k in named], "measure": [k[1] for k in named],
                     "evaluator": [k[2] for k in named]})
    with registered(con, _scores=per_query, _keys=keys):
        for table in ("scores", "score_sets"):
            con.execute(
                f"DELETE FROM {table} t USING _keys k WHERE t.run_hash = k.run_hash AND t.measure = k.measure "
                "AND t.evaluator = k.evaluator AND t.qrels_hash = ? AND t.semantics = ?",
                [qrels_hash, semantics],
            )
        con.execute(
            "INSERT INTO scores SELECT k.run_hash, ?, k.measure, ?, k.evaluator, s.query_id, s.value "
            "FROM _scores s JOIN _keys k USING (run_hash, measure)",
            [qrels_hash, semantics],
        )
        con.execute(
            "INSERT INTO score_sets (run_hash, qrels_hash, measure, semantics, evaluator, n_queries, mean, total) "
            "SELECT k.run_hash, ?, k.measure, ?, k.evaluator, count(s.query_id), avg(s.value), sum(s.value) "
            "FROM _keys k LEFT JOIN _scores s USING (run_hash, measure) GROUP BY k.run_hash, k.measure, k.evaluator",
            [qrels_hash, semantics],
        )


def scored_keys_in(con, run_hashes: list[str], qrels_hash: str, semantics: str) -> set[tuple[str, str, str]]:
    """scored_keys on an open connection."""
    rows = con.execute(
        "SELECT run_hash, measure, evaluator FROM score_sets "
        "WHERE qrels_hash = ? AND semantics = ? AND list_contains(?, run_hash)",
        [qrels_hash, semantics, run_hashes],
    ).fetchall()
    return {tuple(r) for r in rows}


def per_query_scores(
    store: Store, collection: str, measures: list[str], semantics: str, runs: list[str] | None = None,
    qrels_hash: str | None = None,
) -> pd.DataFrame:
    """Long frame run, query_id, measure, value (+ evaluator, semantics) for the collection's current qrels (or
    the qrels of content `qrels_hash`: a named qrels set)."""
    with store.reader() as con:  # through Arrow: half the time of DuckDB's own DataFrame conversion here
        return arrow(
            con,
            """
            SELECT r.name AS run, s.query_id, s.measure, s.value, s.evaluator, s.semantics
            FROM runs r
            JOIN collections c ON c.name = r.collection
            JOIN scores s ON s.run_hash = r.run_hash AND s.qrels_hash = coalesce(?, c.qrels_hash)
            WHERE r.collection = ? AND list_contains(?, s.measure) AND s.semantics = ?
              AND (? IS NULL OR list_contains(?, r.name))
            ORDER BY r.name, s.measure, s.query_id
            """,
            [qrels_hash, collection, measures, semantics, runs, runs],
        ).to_pandas()


def scored_measures(store: Store, collection: str, qrels_hash: str | None = None) -> list[str]:
    """Measures scored for at least one run of the collection against its current qrels (or the qrels of content
    `qrels_hash`: a named qrels set)."""
    with store.reader() as con:
        rows = con.execute(
            """
            SELECT DISTINCT ss.measure FROM score_sets ss
            JOIN runs r ON r.run_hash = ss.run_hash
            JOIN collections c ON c.name = r.collection AND coalesce(?, c.qrels_hash) = ss.qrels_hash
            WHERE r.collection = ? ORDER BY 1
            """,
            [qrels_hash, collection],
        ).fetchall()
    return [r[0] for r in rows]
