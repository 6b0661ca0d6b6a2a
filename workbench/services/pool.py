"""Depth-k pools of stored runs: what an assessor should judge next, written as a qrels-shaped file."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import WorkbenchError
from workbench.store import DEFAULT_QRELS as DEFAULT
from workbench.store import Store, get_collection, get_qrels_set, list_runs, pooled_documents


@dataclass(frozen=True)
class Pool:
    """The depth-`depth` pool of `runs` on a collection's qrels (`qrels_hash`): `documents` holds query_id,
    doc_id, n_runs, best_position, relevance (null: not in the qrels), only the unjudged ones when `unjudged_only`
    (not in the qrels, or at a grade < 0: "in the pool, unjudged" to trec_eval)."""

    collection: str
    qrels_hash: str
    depth: int
    runs: tuple[str, ...]
    unjudged_only: bool
    documents: pa.Table
    counts: pa.Table  # query_id, pooled, judged, unjudged, relevant: over the whole pool, whichever rows are kept

    def to_dict(self) -> dict:
        totals = {c: int(pc.sum(self.counts.column(c)).as_py() or 0)
                  for c in ("pooled", "judged", "unjudged", "relevant")}
        return {"collection": self.collection, "qrels_hash": self.qrels_hash, "depth": self.depth,
                "runs": list(self.runs), "unjudged_only": self.unjudged_only,
                "n_documents": self.documents.num_rows, "totals": totals, "queries": self.counts.to_pylist()}


def build_pool(store: Store, collection: str, runs: Sequence[str] | None, depth: int, *,
               unjudged_only: bool = False, qrels: str | None = None) -> Pool:
    """The documents the runs (all of the collection's by default) rank at trec_eval positions 1..depth, per query.

    Positions are trec_eval's order (score descending, doc_id descending), never the file's rank column, so the
    pool is the one trec_eval's view of the runs implies. A document counts as judged when the qrels give it a
    grade >= 0 for that query: trec_eval reads a negative grade as "in the pool, unjudged" (its -J drops it).
    `qrels`: a named qrels set of the collection to tell judged from unjudged (None or "default": its own)."""

    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 1:
        raise WorkbenchError(f"pool depth must be a whole number of at least 1, got {depth!r}")
    depth = int(depth)
    with store.reading():
        info = get_collection(store, collection)
        named = None if qrels is None or qrels == DEFAULT else qrels  # '' is a name no set has, not the default
        qrels_hash = get_qrels_set(store, collection, named)[0].qrels_hash if named is not None else info.qrels_hash
        stored = {r.name: r for r in list_runs(store, collection)}
        names = list(dict.fromkeys(runs)) if runs else sorted(stored)
        if not names:
            raise WorkbenchError(f"collection {collection!r} has no runs to pool; add some with `workbench ingest`")
        missing = [n for n in names if n not in stored]
        if missing:
            raise WorkbenchError(f"no run named {', '.join(map(repr, missing))} in collection {collection!r}")
        documents = pooled_documents(store, collection, [stored[n].run_hash for n in names], depth, qrels=named)
    counts = _counts(documents)
    if unjudged_only:
        documents = documents.filter(pc.invert(_judged(documents.column("relevance"))))
    return Pool(collection, qrels_hash, depth, tuple(names), unjudged_only, documents, counts)


def _judged(relevance: pa.ChunkedArray) -> pa.ChunkedArray:
    """Judged as trec_eval reads the qrels: listed at a grade >= 0."""
    return pc.fill_null(pc.greater_equal(relevance, 0), False)


def _counts(documents: pa.Table) -> pa.Table:
    """Per query: pooled documents, how many the qrels judge, how many not, how many at a grade >= 1."""
    relevance = documents.column("relevance")
    judged = _judged(relevance)
    flags = pa.table({
        "query_id": documents.column("query_id"),
        "judged": pc.cast(judged, pa.int64()),
        "unjudged": pc.cast(pc.invert(judged), pa.int64()),
        "relevant": pc.cast(pc.fill_null(pc.greater_equal(relevance, 1), False), pa.int64()),
    })
    grouped = flags.group_by("query_id", use_threads=False).aggregate(
        [("query_id", "count"), ("judged", "sum"), ("unjudged", "sum"), ("relevant", "sum")])
    return pa.table({"query_id": grouped["query_id"], "pooled": grouped["query_id_count"],
                     "judged": grouped["judged_sum"], "unjudged": grouped["unjudged_sum"],
                     "relevant": grouped["relevant_sum"]}).sort_by("query_id")
