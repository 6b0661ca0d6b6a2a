"""Add a collection to the store from local files or an ir_datasets id."""

from __future__ import annotations

from pathlib import Path

from workbench.datasets import from_files, from_ir_datasets, infer_relevance_kind
from workbench.naming import check_name
from workbench.store import CollectionInfo, Store, put_collection


def add_collection(
    store: Store,
    name: str,
    *,
    qrels: str | Path | None = None,
    topics: str | Path | None = None,
    docs: str | Path | None = None,
    ir_datasets_id: str | None = None,
    with_docs: bool = True,
    relevance_kind: str | None = None,
    replace: bool = False,
) -> tuple[CollectionInfo, bool]:
    """Read and check everything first, then store it in one transaction. Returns (info, changed)."""
    check_name(name, "collection")
    data = from_ir_datasets(ir_datasets_id, with_docs=with_docs) if ir_datasets_id else from_files(qrels, topics, docs)
    return put_collection(
        store, name,
        relevance_kind=relevance_kind or infer_relevance_kind(data.qrels),
        qrels=data.qrels, qrels_hash=data.qrels_hash,
        topics=data.topics, topics_hash=data.topics_hash,
        docs=data.docs, docs_hash=data.docs_hash,
        source=data.source, replace=replace,
    )
