"""What the lake exchanges with the store: whole collections, runs with their rows, and score sets, as Arrow.

The lake (workbench/lake) never sees SQL or a connection: it reads what a push sends through these functions and
writes what a pull brings through them, each write one transaction, so a pulled run lands whole or not at all and
nothing stored locally is replaced unless the caller asks for it (`replace`, which the CLI gives only for runs
named with -r).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import ConflictError
from workbench.model import RunInfo
from workbench.store.collections import CollectionInfo, _get, put_collection, qrels_in
from workbench.store.connection import Store, arrow
from workbench.store.runs import _put_run, insert_run_rows
from workbench.store.scores import insert_scores, scored_keys_in

SCORE_KEY = ("run_hash", "qrels_hash", "measure", "semantics", "evaluator")
"""What identifies a score set, here and in the lake."""


def collection_tables(store: Store, name: str, *, docs: bool = True) -> tuple[CollectionInfo, pa.Table, pa.Table,
                                                                              pa.Table | None]:
    """(info, qrels, topics, documents) of a stored collection, read in one connection; documents only when
    `docs` (the biggest part: a push reads them only when the lake lacks them)."""
    with store.reader() as con:
        info = _get(con, name)
        qrels = qrels_in(con, name)
        # every column the store keeps for a topic (the query text, and the TREC fields where it has them)
        topics = arrow(con, "SELECT * EXCLUDE (collection) FROM topics WHERE collection = ? ORDER BY query_id", [name])
        documents = (arrow(con, "SELECT doc_id, title, text FROM documents WHERE collection = ? ORDER BY doc_id",
                           [name]) if docs else None)
    return info, qrels, topics, documents


@contextmanager
def run_rows_reader(store: Store, collection: str, run_hashes: Sequence[str]) -> Iterator[pa.RecordBatchReader]:
    """The rows of stored runs as one stream (collection, run_hash, query_id, doc_id, score, rank, position), each
    run in trec_eval order (query_id, then position): a push writes them to the lake without holding every run in
    memory, and a query range of a run is a contiguous slice of its files there. The store stays open read-only
    while the stream is read."""
    with store.reader() as con:
        rel = con.sql(
            "SELECT ?::VARCHAR AS collection, run_hash, query_id, doc_id, score, rank, position FROM run_rows "
            "WHERE list_contains(?, run_hash) ORDER BY run_hash, query_id, position",
            params=[collection, list(run_hashes)])
        yield rel.fetch_arrow_reader(batch_size=1_000_000)


def score_sets(store: Store, run_hashes: Sequence[str], qrels_hash: str) -> tuple[pa.Table, pa.Table]:
    """(score sets, their per-query values) of these runs against `qrels_hash`: the sets as SCORE_KEY + n_queries,
    mean, total; the values as SCORE_KEY + query_id, value."""
    keys = ", ".join(SCORE_KEY)
    with store.reader() as con:
        sets = arrow(con, f"SELECT {keys}, n_queries, mean, total FROM score_sets "
                          "WHERE qrels_hash = ? AND list_contains(?, run_hash) ORDER BY ALL",
                     [qrels_hash, list(run_hashes)])
        values = arrow(con, f"SELECT {keys}, query_id, value FROM scores "
                            "WHERE qrels_hash = ? AND list_contains(?, run_hash) ORDER BY ALL",
                       [qrels_hash, list(run_hashes)])
    return sets, values


COLLECTION_RECORD = ("topic_field", "grade_map", "report", "warnings")
"""What the store may record about a collection beyond its content and counts; the lake carries those of them
CollectionInfo has (`collection_record`)."""


def collection_record(info: CollectionInfo) -> dict:
    """The fields of COLLECTION_RECORD this store's CollectionInfo has, with their values."""
    return {f.name: getattr(info, f.name) for f in dataclasses.fields(info) if f.name in COLLECTION_RECORD}


def put_pulled_collection(store: Store, info: CollectionInfo, qrels: pa.Table, topics: pa.Table | None,
                          docs: pa.Table | None) -> tuple[CollectionInfo, bool]:
    """Store a collection brought from the lake under its own hashes (with what the store records about it:
    `collection_record`); the same content again is a no-op, other content under its name a ConflictError (a
    pull never replaces a collection)."""
    try:
        return put_collection(store, info.name, relevance_kind=info.relevance_kind, qrels=qrels,
                              qrels_hash=info.qrels_hash, topics=topics, topics_hash=info.topics_hash, docs=docs,
                              docs_hash=info.docs_hash, source=info.source, replace=False,
                              **collection_record(info))
    except ConflictError:
        raise ConflictError(f"collection {info.name!r} exists in the store with other qrels, topics or documents "
                            "than the lake's", hint="pull into another store (--db)") from None


def put_pulled_run(store: Store, info: RunInfo, rows: pa.Table, scores: pa.Table, *,
                   replace: bool = False) -> tuple[RunInfo, str, int]:
    """Store a run brought from the lake with its per-query values, in one transaction.

    `rows`: query_id, doc_id, score, rank (positions are computed here, as at ingest). `scores`: SCORE_KEY +
    query_id, value of its score sets; only the sets the store does not have yet are added (none is replaced).
    Returns (stored info, "added" | "unchanged" | "replaced", score sets added). A name taken by other bytes is a
    ConflictError unless `replace`.
    """
    with store.writer() as con:
        stored, status = _put_run(con, info, lambda: insert_run_rows(con, info.run_hash, rows), replace)
        added = _insert_new_scores(con, scores)
    return stored, status, added


def put_pulled_scores(store: Store, scores: pa.Table) -> int:
    """Add the score sets of `scores` (SCORE_KEY + query_id, value) the store does not have yet, in one
    transaction; returns how many sets were added."""
    with store.writer() as con:
        return _insert_new_scores(con, scores)


def _insert_new_scores(con, scores: pa.Table) -> int:
    """insert_scores for the score sets of `scores` absent from the store (read in the writing transaction)."""
    if scores.num_rows == 0:
        return 0
    added = 0
    for g in scores.group_by(["qrels_hash", "semantics", "evaluator"]).aggregate([]).to_pylist():
        # one evaluator at a time: insert_scores keys each run's values by measure alone
        part = scores.filter((pc.field("qrels_hash") == g["qrels_hash"]) & (pc.field("semantics") == g["semantics"])
                             & (pc.field("evaluator") == g["evaluator"]))
        have = scored_keys_in(con, pc.unique(part["run_hash"]).to_pylist(), g["qrels_hash"], g["semantics"])
        batch = []
        for s in part.group_by(["run_hash"]).aggregate([("measure", "distinct")]).to_pylist():
            new = [m for m in s["measure_distinct"] if (s["run_hash"], m, g["evaluator"]) not in have]
            if new:
                values = part.filter((pc.field("run_hash") == s["run_hash"]) & pc.field("measure").isin(new))
                batch.append((s["run_hash"], values.select(["query_id", "measure", "value"]),
                              dict.fromkeys(new, g["evaluator"])))
        if batch:
            insert_scores(con, g["qrels_hash"], g["semantics"], batch)
            added += sum(len(e) for _, _, e in batch)
    return added
