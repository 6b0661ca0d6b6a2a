"""Make runs with the retrieval stages and land them in the store like any other run.

Each produced run is written as a TREC file with an ir_metadata header (how it was made) and ingested with its
kind, parent, depth, parameters and software versions. A run is rebuilt only when its recipe changes: the step,
its parameters, the content of its inputs (documents, topics, input runs) — all hashed into `recipe_hash`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import NotFoundError, WorkbenchError
from workbench.ingest import IngestResult, ingest_run
from workbench.naming import check_name
from workbench.runs_export import safe_child
from workbench.store import Store, get_collection, get_documents, get_qrels, get_run, get_run_rows, get_topics

STEPS = ("retrieve", "fuse", "rerank")


@dataclass(frozen=True)
class Recipe:
    """What a produced run is a function of."""

    collection: str
    name: str
    step: str
    retriever: str | None
    inputs: tuple[str, ...]
    params: dict

    def kind(self) -> str:
        if self.step == "fuse":
            return "hybrid"
        if self.step == "rerank":
            return "rerank"
        return "sparse" if self.retriever == "bm25" else "dense"


def fused_run_name(method: str, inputs: Sequence[str]) -> str:
    """The default name of a fused run, e.g. rrf-bm25+dense-minilm (a valid run name, unlike rrf(a,b))."""
    return f"{method}-{'+'.join(inputs)}"


def _recipe_hash(store: Store, r: Recipe) -> str:
    info = get_collection(store, r.collection)
    inputs = {name: get_run(store, r.collection, name).run_hash for name in r.inputs}
    payload = {
        "step": r.step, "retriever": r.retriever, "inputs": inputs, "params": r.params,
        "docs": info.docs_hash, "topics": info.topics_hash, "qrels": info.qrels_hash,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def is_current(store: Store, r: Recipe, recipe_hash: str | None = None) -> bool:
    """Whether the stored run was made by this recipe (pass `recipe_hash` when it is already computed)."""
    try:
        run = get_run(store, r.collection, r.name)
    except NotFoundError:
        return False
    return run.params.get("recipe_hash") == (recipe_hash or _recipe_hash(store, r))


def judged_topics(store: Store, collection: str) -> pa.Table:
    """Topics of the judged queries only: runs on other queries would never be scored."""
    topics = get_topics(store, collection)
    if topics.num_rows == 0:
        raise WorkbenchError(f"collection {collection!r} has no topics; add it with --topics to retrieve")
    judged = pc.unique(get_qrels(store, collection).column("query_id"))
    return topics.filter(pc.is_in(topics.column("query_id"), value_set=judged))


def _documents(store: Store, collection: str) -> pa.Table:
    docs = get_documents(store, collection)
    if docs.num_rows == 0:
        raise WorkbenchError(f"collection {collection!r} has no documents; add it with --docs to retrieve")
    return docs


def produce(store: Store, r: Recipe, *, runs_dir: str | Path, threads: int = 1, force: bool = False,
            progress=None, engine=None) -> IngestResult:
    """Run one step (unless its recipe is unchanged), write runs_dir/<collection>/<name>.trec, ingest it.
    `engine` (workbench.engine) encodes a dense retrieval's corpus on its workers; the run is the same."""
    from workbench import retrieval
    from workbench.io.trec_writer import write_run

    check_name(r.name)
    if r.step not in STEPS:
        raise WorkbenchError(f"unknown step {r.step!r}; expected one of {', '.join(STEPS)}")
    recipe_hash = _recipe_hash(store, r)
    if not force and is_current(store, r, recipe_hash):
        return IngestResult(get_run(store, r.collection, r.name), "unchanged")
    params = dict(r.params)
    if r.step == "retrieve":
        docs, topics = _documents(store, r.collection), judged_topics(store, r.collection)
        if r.retriever == "bm25":
            result = retrieval.bm25_search(docs, topics, threads=threads, **params)
        elif r.retriever == "dense":
            result = retrieval.dense_search(docs, topics, threads=threads, progress=progress, engine=engine,
                                            **params)
        else:
            raise WorkbenchError(f"unknown retriever {r.retriever!r}; expected bm25 or dense")
        parent, depth = None, None
    elif r.step == "fuse":
        runs = [get_run_rows(store, r.collection, name) for name in r.inputs]
        result = retrieval.fuse(runs, **params)
        parent, depth = None, None
    else:
        (parent,) = r.inputs
        docs, topics = _documents(store, r.collection), judged_topics(store, r.collection)
        result = retrieval.rerank(get_run_rows(store, r.collection, parent), docs, topics, threads=threads,
                                  progress=progress, **params)
        depth = int(params.get("depth", 100))
    meta = {
        "run": r.name, "collection": r.collection, "step": r.step, "retriever": r.retriever,
        "inputs": list(r.inputs), "parent": parent, "depth": depth, "params": result.params,
        "software": result.software, "recipe_hash": recipe_hash,
    }
    out_dir = Path(runs_dir) / check_name(r.collection, "collection")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = safe_child(out_dir, f"{r.name}.trec")
    write_run(path, result.run, tag=r.name, metadata={k: v for k, v in meta.items() if v not in (None, [], {})})
    return ingest_run(
        store, r.collection, path, name=r.name, kind=r.kind(), parent=parent, depth=depth, replace=True,
        params={**result.params, "step": r.step, "inputs": list(r.inputs), "recipe_hash": recipe_hash},
        software=result.software,
    )


def produce_many(store: Store, recipes: Sequence[Recipe], **kwargs) -> list[IngestResult]:
    return [produce(store, r, **kwargs) for r in recipes]
