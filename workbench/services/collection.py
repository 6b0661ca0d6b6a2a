"""Add a collection to the store from local files or an ir_datasets id, and say what is off with it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow.compute as pc

from workbench.datasets import from_files, from_ir_datasets, infer_relevance_kind
from workbench.datasets.report import CollectionReport, collection_report, parse_grade_map
from workbench.errors import WorkbenchError
from workbench.io.topics import DEFAULT_TOPIC_FIELD
from workbench.naming import check_name
from workbench.store import DEFAULT_QRELS as DEFAULT
from workbench.store import (
    CollectionInfo,
    Store,
    delete_qrels_set,
    get_collection,
    get_qrels,
    get_qrels_set,
    get_topics,
    list_qrels_sets,
    put_collection,
    put_qrels_set,
)


def add_collection(
    store: Store,
    name: str,
    *,
    qrels: str | Path | None = None,
    topics: str | Path | None = None,
    docs: str | Path | Sequence[str | Path] | None = None,
    ir_datasets_id: str | None = None,
    with_docs: bool = True,
    relevance_kind: str | None = None,
    replace: bool = False,
    topic_field: str = DEFAULT_TOPIC_FIELD,
    grade_map: str | dict[int, int] | None = None,
) -> tuple[CollectionInfo, bool]:
    """Read and check everything first, then store it in one transaction with its report. Returns (info, changed).

    `grade_map` ("1:3,2:2,3:1,4:0,-1:0" or a dict) replaces the grades as they are read; `topic_field` (title,
    description, title+description) picks the query text of topics with fields. Both are recorded with the
    collection and are part of its identity (qrels and topics hashes).
    """
    check_name(name, "collection")
    mapping = parse_grade_map(grade_map) if isinstance(grade_map, str) else grade_map
    if ir_datasets_id:
        data = from_ir_datasets(ir_datasets_id, with_docs=with_docs, topic_field=topic_field, grade_map=mapping)
    elif qrels is None:
        raise WorkbenchError("a collection needs a qrels file or an ir_datasets id")
    else:
        data = from_files(qrels, topics, docs, topic_field=topic_field, grade_map=mapping)
    report = data.report()
    return put_collection(
        store, name,
        relevance_kind=relevance_kind or infer_relevance_kind(data.qrels),
        qrels=data.qrels, qrels_hash=data.qrels_hash,
        topics=data.topics, topics_hash=data.topics_hash,
        docs=data.docs, docs_hash=data.docs_hash,
        source=data.source, replace=replace,
        topic_field=data.topic_field, grade_map=data.grade_map, report=report.to_dict(), warnings=report.warnings,
    )


def report_of(store: Store, info: CollectionInfo) -> CollectionReport:
    """The stored report of a collection; computed from its stored qrels and topics for a collection added
    before reports were kept (a store migrated from schema 3), without writing."""
    if info.report is not None:
        try:
            return CollectionReport.from_dict(info.report)
        except (TypeError, KeyError, ValueError, AttributeError):  # a report of another shape: made again below
            pass
    topics = get_topics(store, info.name) if info.n_topics else None
    return collection_report(get_qrels(store, info.name, ordered=False), topics, topic_field=info.topic_field,
                             grade_map=info.grade_map)


def collection_warnings(store: Store, name: str, qrels: str | None = None) -> tuple[str, ...]:
    """What the collection's report found off (shown wherever the collection is scored); with a named qrels set,
    what the same report finds off about that set's judgments instead, since those are what was scored."""
    info = get_collection(store, name)
    if qrels is None or qrels == DEFAULT:
        return report_of(store, info).warnings
    set_info, table = get_qrels_set(store, name, qrels)
    topics = get_topics(store, name) if info.n_topics else None
    report = collection_report(table, topics, topic_field=info.topic_field, grade_map=set_info.grade_map)
    return (*qrels_set_warnings(store, name, qrels), *(f"qrels {qrels!r}: {w}" for w in report.warnings))


def add_qrels_set(store: Store, collection: str, name: str, path: str | Path, *,
                  grade_map: str | dict[int, int] | None = None, replace: bool = False):
    """Read and check a qrels file as `collection add` reads one, then store it as the collection's set `name`:
    (QrelsSetInfo, changed). "default" names the collection's own qrels and is refused."""

    check_name(name, "qrels")
    if name == DEFAULT:
        raise WorkbenchError(f"{DEFAULT!r} names the collection's own qrels; give the set another name")
    get_collection(store, collection)  # an unknown collection is said before the file is read
    mapping = parse_grade_map(grade_map) if isinstance(grade_map, str) else grade_map
    data = from_files(path, grade_map=mapping)
    return put_qrels_set(store, collection, name, data.qrels, data.qrels_hash, source=data.source,
                         grade_map=data.grade_map, replace=replace)


def qrels_set_warnings(store: Store, collection: str, name: str) -> list[str]:
    """What looks off about a named set next to the collection: queries the collection's own qrels do not judge
    (a file of another collection judges none of them)."""

    _, table = get_qrels_set(store, collection, name)
    own = pc.unique(get_qrels(store, collection, ordered=False)["query_id"])
    mine = pc.unique(table["query_id"])
    foreign = len(mine) - pc.sum(pc.is_in(mine, value_set=own)).as_py() if len(mine) else 0
    if not foreign:
        return []
    if foreign == len(mine):
        return [f"none of the {len(mine)} queries of qrels {name!r} is judged by the collection's own qrels: "
                "is it the file of another collection?"]
    return [f"{foreign} of the {len(mine)} queries of qrels {name!r} are not judged by the collection's own qrels"]


def qrels_of(store: Store, collection: str) -> list[dict]:
    """The collection's qrels, its own first (named "default"), then its named sets by name: name, qrels_hash,
    n_queries, n_judgments, source (the file read)."""

    own = get_collection(store, collection)
    rows = [{"name": DEFAULT, "qrels_hash": own.qrels_hash, "n_queries": own.n_queries,
             "n_judgments": own.n_judgments, "source": own.source.get("qrels") or own.source}]
    return rows + [{"name": s.name, "qrels_hash": s.qrels_hash, "n_queries": s.n_queries,
                    "n_judgments": s.n_judgments, "source": s.source.get("qrels")}
                   for s in list_qrels_sets(store, collection)]


def remove_qrels_set(store: Store, collection: str, name: str, *, confirmed: bool) -> None:
    """Remove a named set; "default" (the collection's own) is refused, and so is a removal not `confirmed`
    (after an unknown name has been said)."""

    if name == DEFAULT:
        raise WorkbenchError(f"{DEFAULT!r} is the collection's own qrels; `collection remove` removes the collection")
    get_qrels_set(store, collection, name)
    if not confirmed:
        raise WorkbenchError(f"removing qrels {name!r} of collection {collection!r}: add --yes to confirm")
    delete_qrels_set(store, collection, name)
