"""Turn local files or an ir_datasets id into the tables a collection holds."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from workbench.datasets.offline import NotOffline, home, offline
from workbench.datasets.report import CollectionReport, apply_grade_map, collection_report
from workbench.errors import DatasetUnavailableError, WorkbenchError
from workbench.hashing import sha256_table
from workbench.io.docs import read_docs
from workbench.io.qrels import read_qrels
from workbench.io.topics import DEFAULT_TOPIC_FIELD, TOPIC_FIELDS, read_topics
from workbench.model import DOCS_SCHEMA, QRELS_SCHEMA, TOPIC_FIELDS_SCHEMA


def _tagged(digest: str, label: str) -> str:
    """A content hash that also says how the content was made (a grade map, a topic field)."""
    return hashlib.sha256(f"{digest}\n{label}".encode()).hexdigest()


@dataclass(frozen=True)
class CollectionData:
    """Everything a collection holds, with content hashes (scores are keyed by the qrels hash).

    `qrels` are the judgments as stored (after `grade_map`, when one was given: its mapping is part of the qrels
    hash); `topics` carry the query text made of `topic_field` (part of the topics hash when it is not the
    default title) beside the fields it was made from.
    """

    qrels: pa.Table
    topics: pa.Table | None = None
    docs: pa.Table | None = None
    source: dict = field(default_factory=dict)
    topic_field: str | None = None
    grade_map: dict[int, int] | None = None
    grades_as_written: dict[int, int] | None = None

    @property
    def qrels_hash(self) -> str:
        digest = sha256_table(self.qrels, ["query_id", "doc_id"])
        if self.grade_map is None:
            return digest
        return _tagged(digest, "grade_map=" + json.dumps(sorted(self.grade_map.items())))

    @property
    def topics_hash(self) -> str | None:
        if self.topics is None:
            return None
        extra = [c for c in ("title", "description", "narrative") if c in self.topics.column_names]
        plain = all(self.topics.column(c).null_count == self.topics.num_rows for c in extra)
        # topics without fields (TSV, JSONL) hash as they did before the fields were kept: same identity
        digest = sha256_table(self.topics.select(["query_id", "text"]) if plain else self.topics, ["query_id"])
        if self.topic_field in (None, DEFAULT_TOPIC_FIELD):
            return digest
        return _tagged(digest, f"topic_field={self.topic_field}")

    @property
    def docs_hash(self) -> str | None:
        return None if self.docs is None else sha256_table(self.docs, ["doc_id"])

    def report(self) -> CollectionReport:
        return collection_report(self.qrels, self.topics, grade_map=self.grade_map,
                                 grades_as_written=self.grades_as_written, topic_field=self.topic_field)


def infer_relevance_kind(qrels: pa.Table) -> str:
    """'graded' when any grade exceeds 1 (TREC DL style), else 'binary' (BEIR style)."""
    if qrels.num_rows == 0:
        return "binary"
    return "graded" if pc.max(qrels.column("relevance")).as_py() > 1 else "binary"


def _check_topic_field(topic_field: str) -> str:
    if topic_field not in TOPIC_FIELDS:
        raise WorkbenchError(f"unknown topic field {topic_field!r}; expected one of {', '.join(TOPIC_FIELDS)}")
    return topic_field


def _remapped(qrels: pa.Table, grade_map: dict[int, int] | None) -> tuple[pa.Table, dict[int, int] | None]:
    """(judgments after the grade map, the grade histogram as written) — the qrels unchanged without a map."""
    if grade_map is None:
        return qrels, None
    counts = pc.value_counts(qrels.column("relevance"))
    written = dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))
    return apply_grade_map(qrels, grade_map), written


def from_files(qrels: str | Path, topics: str | Path | None = None,
               docs: str | Path | Sequence[str | Path] | None = None, *, topic_field: str = DEFAULT_TOPIC_FIELD,
               grade_map: dict[int, int] | None = None) -> CollectionData:
    """Local TREC/BEIR/SMART files; each reader checks its format and names file and line on errors.

    `docs` may be one file, several, or folders of files. `grade_map` replaces every grade of the qrels (all of
    them must be covered); `topic_field` picks the query text of topics that have fields.
    """

    _check_topic_field(topic_field)
    source: dict = {"qrels": str(qrels)}
    qrels_table, written = _remapped(read_qrels(qrels), grade_map)
    topics_table = None
    docs_table = None
    if topics is not None:
        topics_table = read_topics(topics, field=topic_field)
        source["topics"] = str(topics)
    if docs is not None:
        docs_table = read_docs(docs)
        source["docs"] = str(docs) if isinstance(docs, str | Path) else [str(d) for d in docs]
    return CollectionData(qrels_table, topics_table, docs_table, source,
                          topic_field=topic_field if topics is not None else None, grade_map=grade_map,
                          grades_as_written=written)


def from_ir_datasets(dataset_id: str, *, with_docs: bool = True, topic_field: str = DEFAULT_TOPIC_FIELD,
                     grade_map: dict[int, int] | None = None) -> CollectionData:
    """Load through ir_datasets' own loading code, from files already on disk only (see datasets.offline): a
    file it would download is a DatasetUnavailableError naming where to put it."""

    _check_topic_field(topic_field)
    try:
        with offline():
            import ir_datasets

            try:
                dataset = ir_datasets.load(dataset_id)
            except KeyError as exc:
                raise DatasetUnavailableError(f"{dataset_id}: unknown ir_datasets id",
                                              hint="see https://ir-datasets.com for the ids") from exc
            if not dataset.has_qrels():
                raise DatasetUnavailableError(f"{dataset_id}: this ir_datasets id has no qrels",
                                              hint="pick a split that has them, such as '.../test'")
            qrels, written = _remapped(_qrels_table(dataset), grade_map)
            topics = _topics_table(dataset, dataset_id, topic_field) if dataset.has_queries() else None
            docs = _docs_table(dataset) if with_docs and dataset.has_docs() else None
    except NotOffline as missing:
        raise DatasetUnavailableError(f"{dataset_id}: not available offline", hint=_where(missing, home_of())) \
            from None
    except WorkbenchError:
        raise
    except OSError as exc:  # a file that is there but cannot be read
        raise DatasetUnavailableError(f"{dataset_id}: cannot read its files under {home_of()} ({exc})") from exc
    except Exception as exc:  # ir_datasets' own checks (file counts, hashes) raise RuntimeError, AssertionError...
        raise DatasetUnavailableError(f"{dataset_id}: ir_datasets could not load it ({type(exc).__name__}: {exc})",
                                      hint=f"its files are under {home_of()}") from exc
    return CollectionData(qrels, topics, docs, {"ir_datasets": dataset_id},
                          topic_field=topic_field if topics is not None else None, grade_map=grade_map,
                          grades_as_written=written)


def home_of() -> Path:
    return home()


def _where(missing, home: Path) -> str:
    """Where the user puts the file ir_datasets wanted (and where ir_datasets would have fetched it)."""
    local = "add the collection from local files with --qrels/--topics/--docs"
    if missing.path is None:
        if missing.url is None:
            return f"{missing.message or 'it needs the network'}; {local}"
        return f"ir_datasets streams it from {missing.url} on each use and keeps no copy; {local}"
    where = f"ir_datasets reads {missing.path}, which is missing (IR_DATASETS_HOME is {home}): put the file there"
    if missing.url:
        where += f" (it is downloaded from {missing.url})"
    if missing.message:
        where += f"; {' '.join(str(missing.message).split())}"
    return f"{where}; or {local}"


def _qrels_table(dataset) -> pa.Table:
    q, d, r = [], [], []
    for qrel in dataset.qrels_iter():
        q.append(qrel.query_id)
        d.append(qrel.doc_id)
        r.append(int(qrel.relevance))
    table = pa.table([q, d, r], schema=QRELS_SCHEMA)
    if table.num_rows == 0:
        raise DatasetUnavailableError("the ir_datasets id has no judgments")
    # one row per (query, doc) as read_qrels keeps them: the last judgment wins, as in ir_datasets' qrels_dict
    return table.group_by(["query_id", "doc_id"], use_threads=False).aggregate([("relevance", "last")]).rename_columns(
        ["query_id", "doc_id", "relevance"]).cast(QRELS_SCHEMA)


def _topics_table(dataset, dataset_id: str, topic_field: str) -> pa.Table:
    ids, titles, descs, narrs, texts = [], [], [], [], []
    for query in dataset.queries_iter():
        title = getattr(query, "title", None) or getattr(query, "text", None)
        desc = getattr(query, "description", None)
        named = {"title": title, "description": desc}
        parts = [p for f in topic_field.split("+") if (p := named[f]) is not None]
        if len(parts) != len(topic_field.split("+")):
            raise DatasetUnavailableError(f"{dataset_id}: its queries have no {topic_field} (fields: "
                                          f"{', '.join(query._fields)}); use --topic-field title")
        ids.append(query.query_id)
        titles.append(title)
        descs.append(desc)
        narrs.append(getattr(query, "narrative", None))
        texts.append(" ".join(" ".join(parts).split()))  # vaswani's end in a newline, TREC's span lines
    return pa.table([ids, texts, titles, descs, narrs], schema=TOPIC_FIELDS_SCHEMA)


def _docs_table(dataset) -> pa.Table:
    ids, titles, texts = [], [], []
    for doc in dataset.docs_iter():
        ids.append(doc.doc_id)
        titles.append(getattr(doc, "title", "") or "")
        texts.append(getattr(doc, "text", None) or getattr(doc, "body", "") or "")
    return pa.table([ids, titles, texts], schema=DOCS_SCHEMA)
