"""Turn local files or an ir_datasets id into the tables a collection holds."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import DatasetUnavailableError, WorkbenchError
from workbench.hashing import sha256_table
from workbench.model import DOCS_SCHEMA, QRELS_SCHEMA, TOPICS_SCHEMA


@dataclass(frozen=True)
class CollectionData:
    """Everything a collection holds, with content hashes (scores are keyed by the qrels hash)."""

    qrels: pa.Table
    topics: pa.Table | None = None
    docs: pa.Table | None = None
    source: dict = field(default_factory=dict)

    @property
    def qrels_hash(self) -> str:
        return sha256_table(self.qrels, ["query_id", "doc_id"])

    @property
    def topics_hash(self) -> str | None:
        return None if self.topics is None else sha256_table(self.topics, ["query_id"])

    @property
    def docs_hash(self) -> str | None:
        return None if self.docs is None else sha256_table(self.docs, ["doc_id"])


def infer_relevance_kind(qrels: pa.Table) -> str:
    """'graded' when any grade exceeds 1 (TREC DL style), else 'binary' (BEIR style)."""
    if qrels.num_rows == 0:
        return "binary"
    return "graded" if pc.max(qrels.column("relevance")).as_py() > 1 else "binary"


def from_files(qrels: str | Path, topics: str | Path | None = None, docs: str | Path | None = None) -> CollectionData:
    """Local TREC/BEIR files; each reader checks its format and names file and line on errors."""
    from workbench.io.docs import read_docs
    from workbench.io.qrels import read_qrels
    from workbench.io.topics import read_topics

    source: dict = {"qrels": str(qrels)}
    qrels_table = read_qrels(qrels)
    topics_table = None
    docs_table = None
    if topics is not None:
        topics_table = read_topics(topics)
        source["topics"] = str(topics)
    if docs is not None:
        docs_table = read_docs(docs)
        source["docs"] = str(docs)
    return CollectionData(qrels_table, topics_table, docs_table, source)


def from_ir_datasets(dataset_id: str, *, with_docs: bool = True) -> CollectionData:
    """Load through ir_datasets' real loading code; offline downloads become DatasetUnavailableError."""
    try:
        import ir_datasets
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise DatasetUnavailableError("ir_datasets is not installed", hint="pip install ir-datasets") from exc
    try:
        dataset = ir_datasets.load(dataset_id)
    except KeyError as exc:
        raise DatasetUnavailableError(f"unknown ir_datasets id {dataset_id!r}",
                                      hint="see https://ir-datasets.com for the ids") from exc
    if not dataset.has_qrels():
        raise DatasetUnavailableError(f"ir_datasets id {dataset_id!r} has no qrels; pick a split such as '/test'")
    try:
        qrels = _qrels_table(dataset)
        topics = _topics_table(dataset) if dataset.has_queries() else None
        docs = _docs_table(dataset) if with_docs and dataset.has_docs() else None
    except WorkbenchError:
        raise
    except (OSError, ConnectionError) as exc:  # requests' ConnectionError is an OSError
        raise DatasetUnavailableError(
            f"ir_datasets id {dataset_id!r} is not available offline: its files are not in "
            f"{os.environ.get('IR_DATASETS_HOME', '~/.ir_datasets')} and downloading failed ({type(exc).__name__})",
            hint="copy the files there, or add the collection from local files with --qrels/--topics/--docs",
        ) from exc
    return CollectionData(qrels, topics, docs, {"ir_datasets": dataset_id})


def _qrels_table(dataset) -> pa.Table:
    q, d, r = [], [], []
    for qrel in dataset.qrels_iter():
        q.append(qrel.query_id)
        d.append(qrel.doc_id)
        r.append(int(qrel.relevance))
    return pa.table([q, d, r], schema=QRELS_SCHEMA)


def _topics_table(dataset) -> pa.Table:
    ids, texts = [], []
    for query in dataset.queries_iter():
        ids.append(query.query_id)
        texts.append(getattr(query, "text", None) or getattr(query, "title", "") or "")
    return pa.table([ids, texts], schema=TOPICS_SCHEMA)


def _docs_table(dataset) -> pa.Table:
    ids, titles, texts = [], [], []
    for doc in dataset.docs_iter():
        ids.append(doc.doc_id)
        titles.append(getattr(doc, "title", "") or "")
        texts.append(getattr(doc, "text", None) or getattr(doc, "body", "") or "")
    return pa.table([ids, titles, texts], schema=DOCS_SCHEMA)
