"""Several qrels per collection: named judgment sets stored beside the collection's own qrels.

The collection's own judgments stay in `qrels` (every fast path joins them where they lie); a named set lives in
`qrels_set_rows` under (collection, name) and is read out whole to score against. Scores against a set are keyed
by its content hash like any score, so a set added, removed and added again rescores nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import ConflictError, NotFoundError
from workbench.store.collections import _get as _get_collection
from workbench.store.connection import Store, arrow, one, registered

DEFAULT = "default"
"""The name the collection's own qrels go by wherever a qrels set is chosen."""


@dataclass(frozen=True)
class QrelsSetInfo:
    collection: str
    name: str
    qrels_hash: str
    source: dict
    grade_map: dict[int, int] | None
    n_queries: int
    n_judgments: int
    created_at: str

    def to_dict(self) -> dict:
        d = {**self.__dict__, "created_at": str(self.created_at)}
        if self.grade_map is not None:
            d["grade_map"] = {str(k): v for k, v in self.grade_map.items()}
        return d


_COLUMNS = "collection, name, qrels_hash, source, grade_map, n_queries, n_judgments, created_at"


def _info(row: tuple) -> QrelsSetInfo:
    collection, name, qrels_hash, source, grade_map, n_queries, n_judgments, created_at = row
    return QrelsSetInfo(collection, name, qrels_hash, json.loads(source or "{}"),
                        None if grade_map is None else {int(k): int(v) for k, v in json.loads(grade_map)},
                        n_queries, n_judgments, str(created_at))


def _get(con, collection: str, name: str) -> QrelsSetInfo:
    if not isinstance(name, str):  # the Python API's caller can pass anything; DuckDB would fail to cast it
        raise NotFoundError(f"qrels are named by a string, got {name!r}")
    row = one(con.execute(f"SELECT {_COLUMNS} FROM qrels_sets WHERE collection = ? AND name = ?",
                          [collection, name]))
    if row is None:
        _get_collection(con, collection)  # no such collection: said first
        known = [r[0] for r in con.execute("SELECT name FROM qrels_sets WHERE collection = ? ORDER BY name",
                                           [collection]).fetchall()]
        raise NotFoundError(f"collection {collection!r} has no qrels named {name!r}",
                            hint=f"known: {', '.join([DEFAULT, *known])}")
    return _info(row)


def put_qrels_set(store: Store, collection: str, name: str, qrels: pa.Table, qrels_hash: str, *, source: dict,
                  grade_map: dict[int, int] | None = None, replace: bool = False) -> tuple[QrelsSetInfo, bool]:
    """Store a named qrels set in one transaction: (info, changed); the same content again is a no-op, other
    content under the name a ConflictError unless `replace`."""
    with store.writer(what=f"qrels {name!r} of collection {collection!r}") as con:
        _get_collection(con, collection)
        row = one(con.execute("SELECT qrels_hash FROM qrels_sets WHERE collection = ? AND name = ?",
                              [collection, name]))
        if row is not None:
            if row[0] == qrels_hash:
                return _get(con, collection, name), False
            if not replace:
                raise ConflictError(f"collection {collection!r} already has qrels named {name!r} with other content",
                                    hint="use --replace to replace them; scores are keyed by qrels content")
            _delete(con, collection, name)
        with registered(con, _qrels_set=qrels):
            con.execute("INSERT INTO qrels_set_rows SELECT ?, ?, query_id, doc_id, relevance FROM _qrels_set",
                        [collection, name])
        con.execute(
            f"INSERT INTO qrels_sets ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp)",
            [collection, name, qrels_hash, json.dumps(source, sort_keys=True),
             None if grade_map is None else json.dumps(sorted(grade_map.items())),
             pc.count_distinct(qrels.column("query_id")).as_py(), qrels.num_rows])
        return _get(con, collection, name), True


def get_qrels_set(store: Store, collection: str, name: str) -> tuple[QrelsSetInfo, pa.Table]:
    """A named set's info and judgments (query_id, doc_id, relevance, by query_id and doc_id)."""
    with store.reader() as con:
        info = _get(con, collection, name)
        return info, arrow(con, "SELECT query_id, doc_id, relevance FROM qrels_set_rows "
                                "WHERE collection = ? AND name = ? ORDER BY query_id, doc_id", [collection, name])


def list_qrels_sets(store: Store, collection: str) -> list[QrelsSetInfo]:
    """The collection's named sets by name (its own qrels are not among them)."""
    with store.reader() as con:
        _get_collection(con, collection)
        rows = con.execute(f"SELECT {_COLUMNS} FROM qrels_sets WHERE collection = ? ORDER BY name",
                           [collection]).fetchall()
    return [_info(r) for r in rows]


def delete_qrels_set(store: Store, collection: str, name: str) -> None:
    """Remove a named set (its scores stay, keyed by content: adding the same file again rescores nothing)."""
    with store.writer(what=f"the removal of qrels {name!r} of collection {collection!r}") as con:
        _get(con, collection, name)
        _delete(con, collection, name)


def _delete(con, collection: str, name: str) -> None:
    for table in ("qrels_set_rows", "qrels_sets"):
        con.execute(f"DELETE FROM {table} WHERE collection = ? AND name = ?", [collection, name])
