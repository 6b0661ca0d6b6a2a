"""Per-query scores, cached by (run hash, qrels hash, measure, semantics, evaluator)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from workbench.store.connection import Store

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
    with store.writer() as con:
        insert_scores(con, run_hash, qrels_hash, semantics, per_query, evaluators)


def insert_scores(
    con, run_hash: str, qrels_hash: str, semantics: str, per_query: pa.Table, evaluators: dict[str, str]
) -> None:
    """put_scores inside an open transaction (ingest --measures stores a run and its scores together)."""
    con.register("_scores", per_query)
    con.register("_evaluators", pa.table({"measure": list(evaluators), "evaluator": list(evaluators.values())}))
    try:
        for measure, evaluator in evaluators.items():
            con.execute(
                "DELETE FROM scores WHERE run_hash = ? AND qrels_hash = ? AND measure = ? AND semantics = ? "
                "AND evaluator = ?",
                [run_hash, qrels_hash, measure, semantics, evaluator],
            )
            con.execute(
                "DELETE FROM score_sets WHERE run_hash = ? AND qrels_hash = ? AND measure = ? "
                "AND semantics = ? AND evaluator = ?",
                [run_hash, qrels_hash, measure, semantics, evaluator],
            )
        con.execute(
            "INSERT INTO scores SELECT ?, ?, s.measure, ?, e.evaluator, s.query_id, s.value "
            "FROM _scores s JOIN _evaluators e USING (measure)",
            [run_hash, qrels_hash, semantics],
        )
        con.execute(
            "INSERT INTO score_sets (run_hash, qrels_hash, measure, semantics, evaluator, n_queries, mean, total) "
            "SELECT ?, ?, e.measure, ?, e.evaluator, count(s.query_id), avg(s.value), sum(s.value) "
            "FROM _evaluators e LEFT JOIN _scores s USING (measure) GROUP BY e.measure, e.evaluator",
            [run_hash, qrels_hash, semantics],
        )
    finally:
        con.unregister("_scores")
        con.unregister("_evaluators")


def scored_keys_in(con, run_hashes: list[str], qrels_hash: str, semantics: str) -> set[tuple[str, str, str]]:
    """scored_keys on an open connection."""
    rows = con.execute(
        "SELECT run_hash, measure, evaluator FROM score_sets "
        "WHERE qrels_hash = ? AND semantics = ? AND list_contains(?, run_hash)",
        [qrels_hash, semantics, run_hashes],
    ).fetchall()
    return {tuple(r) for r in rows}


def per_query_scores(
    store: Store, collection: str, measures: list[str], semantics: str, runs: list[str] | None = None
) -> pd.DataFrame:
    """Long frame run, query_id, measure, value (+ evaluator, semantics) for the collection's current qrels."""
    with store.reader() as con:
        return con.execute(
            """
            SELECT r.name AS run, s.query_id, s.measure, s.value, s.evaluator, s.semantics
            FROM runs r
            JOIN collections c ON c.name = r.collection
            JOIN scores s ON s.run_hash = r.run_hash AND s.qrels_hash = c.qrels_hash
            WHERE r.collection = ? AND list_contains(?, s.measure) AND s.semantics = ?
              AND (? IS NULL OR list_contains(?, r.name))
            ORDER BY r.name, s.measure, s.query_id
            """,
            [collection, measures, semantics, runs, runs],
        ).df()


def scored_measures(store: Store, collection: str) -> list[str]:
    """Measures scored for at least one run of the collection against its current qrels."""
    with store.reader() as con:
        rows = con.execute(
            """
            SELECT DISTINCT ss.measure FROM score_sets ss
            JOIN runs r ON r.run_hash = ss.run_hash
            JOIN collections c ON c.name = r.collection AND c.qrels_hash = ss.qrels_hash
            WHERE r.collection = ? ORDER BY 1
            """,
            [collection],
        ).fetchall()
    return [r[0] for r in rows]
