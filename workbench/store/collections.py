"""Collections: qrels plus optional topics and documents, stored under a name."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import ConflictError, NotFoundError
from workbench.store.connection import Store, arrow, one


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    relevance_kind: str
    qrels_hash: str
    topics_hash: str | None
    docs_hash: str | None
    source: dict
    n_queries: int
    n_judgments: int
    n_topics: int
    n_docs: int
    created_at: str
    topic_field: str | None = None
    grade_map: dict[int, int] | None = None  # grade as written -> grade stored
    report: dict | None = None  # datasets.report.CollectionReport.to_dict(); None in stores migrated from v3
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d = {**self.__dict__, "created_at": str(self.created_at), "warnings": list(self.warnings)}
        if self.grade_map is not None:
            d["grade_map"] = {str(k): v for k, v in self.grade_map.items()}
        return d


_COLUMNS = (
    "name, relevance_kind, qrels_hash, topics_hash, docs_hash, source, n_queries, n_judgments, "
    "n_topics, n_docs, created_at, topic_field, grade_map, report, warnings"
)


def _info(row: tuple) -> CollectionInfo:
    values = list(row)
    values[5] = json.loads(values[5] or "{}")
    values[10] = str(values[10])
    values[12] = None if values[12] is None else {int(k): int(v) for k, v in json.loads(values[12])}
    values[13] = None if values[13] is None else json.loads(values[13])
    values[14] = tuple(json.loads(values[14] or "[]"))
    return CollectionInfo(*values)


def put_collection(
    store: Store,
    name: str,
    *,
    relevance_kind: str,
    qrels: pa.Table,
    qrels_hash: str,
    topics: pa.Table | None,
    topics_hash: str | None,
    docs: pa.Table | None,
    docs_hash: str | None,
    source: dict,
    replace: bool = False,
    topic_field: str | None = None,
    grade_map: dict[int, int] | None = None,
    report: dict | None = None,
    warnings: Sequence[str] = (),
) -> tuple[CollectionInfo, bool]:
    """Store a collection in one transaction. Returns (info, changed); same content again is a no-op (except
    that a collection stored without a report, in a store migrated from schema 3, gets this one).

    The one operation that creates a store where there is none."""
    record = [topic_field, None if grade_map is None else json.dumps(sorted(grade_map.items())),
              None if report is None else json.dumps(report, sort_keys=True), json.dumps(list(warnings))]
    with store.writer(create=True, what=f"collection {name!r}") as con:
        row = one(con.execute("SELECT qrels_hash, topics_hash, docs_hash FROM collections WHERE name = ?", [name]))
        if row is not None:
            same = row == (qrels_hash, topics_hash, docs_hash)
            if same:
                if report is not None:
                    con.execute("UPDATE collections SET topic_field = ?, grade_map = ?, report = ?, warnings = ? "
                                "WHERE name = ? AND report IS NULL", [*record, name])
                return _get(con, name), False
            if not replace:
                raise ConflictError(
                    f"collection {name!r} already exists with different qrels/topics/documents",
                    hint="use --replace to update it; scores are keyed by qrels content, so none go stale",
                )
            for table in ("qrels", "topics", "documents", "collections"):
                con.execute(
                    f"DELETE FROM {table} WHERE {'name' if table == 'collections' else 'collection'} = ?", [name]
                )
        con.register("_qrels", qrels)
        con.execute("INSERT INTO qrels SELECT ?, query_id, doc_id, relevance FROM _qrels", [name])
        if topics is not None:
            fields = ", ".join(c if c in topics.column_names else f"NULL AS {c}"
                               for c in ("title", "description", "narrative"))
            con.register("_topics", topics)
            con.execute("INSERT INTO topics (collection, query_id, text, title, description, narrative) "
                        f"SELECT ?, query_id, text, {fields} FROM _topics", [name])
        if docs is not None:
            con.register("_docs", docs)
            con.execute("INSERT INTO documents SELECT ?, doc_id, title, text FROM _docs", [name])
        n_queries = pc.count_distinct(qrels.column("query_id")).as_py()
        con.execute(
            "INSERT INTO collections (name, relevance_kind, qrels_hash, topics_hash, docs_hash, source, "
            "n_queries, n_judgments, n_topics, n_docs, topic_field, grade_map, report, warnings) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                name,
                relevance_kind,
                qrels_hash,
                topics_hash,
                docs_hash,
                json.dumps(source, sort_keys=True),
                n_queries,
                qrels.num_rows,
                topics.num_rows if topics is not None else 0,
                docs.num_rows if docs is not None else 0,
                *record,
            ],
        )
        return _get(con, name), True


def _get(con, name: str) -> CollectionInfo:
    row = one(con.execute(f"SELECT {_COLUMNS} FROM collections WHERE name = ?", [name]))
    if row is None:
        known = [r[0] for r in con.execute("SELECT name FROM collections ORDER BY name").fetchall()]
        raise NotFoundError(
            f"no collection named {name!r}",
            hint=f"known: {', '.join(known)}" if known else "add one with `workbench collection add`",
        )
    return _info(row)


def get_collection(store: Store, name: str) -> CollectionInfo:
    with store.reader() as con:
        return _get(con, name)


def list_collections(store: Store) -> list[CollectionInfo]:
    with store.reader() as con:
        return [_info(r) for r in con.execute(f"SELECT {_COLUMNS} FROM collections ORDER BY name").fetchall()]


def get_qrels(store: Store, collection: str, *, ordered: bool = True) -> pa.Table:
    """The collection's judgments (see qrels_in: `ordered=False` for scoring, which does not care)."""
    with store.reader() as con:
        _get(con, collection)
        return qrels_in(con, collection, ordered=ordered)


def qrels_in(con: duckdb.DuckDBPyConnection, collection: str, *, ordered: bool = True) -> pa.Table:
    """The collection's judgments, one row per (query_id, doc_id), on a connection (or cursor) to the store;
    by query_id and doc_id unless not `ordered`: `evaluate_ranked` takes them in any order as fast (the sort is
    most of the read), while `evaluate` over whole runs is 0.1-0.2 s slower on a 7M-line run without it."""
    order = " ORDER BY query_id, doc_id" if ordered else ""
    return arrow(con, f"SELECT query_id, doc_id, relevance FROM qrels WHERE collection = ?{order}", [collection])


def get_topics(store: Store, collection: str, *, fields: bool = False) -> pa.Table:
    """query_id, text (what retrieval reads); with `fields`, also the title, description and narrative."""
    cols = "query_id, text, title, description, narrative" if fields else "query_id, text"
    with store.reader() as con:
        return arrow(con, f"SELECT {cols} FROM topics WHERE collection = ? ORDER BY query_id", [collection])


def get_documents(store: Store, collection: str, doc_ids: list[str] | None = None) -> pa.Table:
    """All documents, or just the given ids (the drill-down asks for a handful)."""
    with store.reader() as con:
        if doc_ids is None:
            return arrow(con, "SELECT doc_id, title, text FROM documents WHERE collection = ?", [collection])
        return arrow(
            con,
            "SELECT doc_id, title, text FROM documents WHERE collection = ? AND list_contains(?, doc_id)",
            [collection, doc_ids],
        )


def delete_collection(store: Store, name: str) -> None:
    """Remove a collection and its runs' entries (run rows shared with other collections stay)."""
    with store.writer(what=f"the removal of collection {name!r}") as con:
        _get(con, name)
        for table, col in (
            ("qrels", "collection"),
            ("qrels_set_rows", "collection"),
            ("qrels_sets", "collection"),
            ("topics", "collection"),
            ("documents", "collection"),
            ("runs", "collection"),
            ("collections", "name"),
        ):
            con.execute(f"DELETE FROM {table} WHERE {col} = ?", [name])
        _drop_orphan_rows(con)


def _drop_orphan_rows(con) -> None:
    """Rows and scores of content no run refers to any more (a hash shared by two names stays)."""
    for table in ("run_rows", "run_top_rows", "scores", "score_sets"):
        con.execute(f"DELETE FROM {table} WHERE run_hash NOT IN (SELECT run_hash FROM runs)")
