"""Runs: metadata keyed by (collection, name), rows keyed by content hash."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import duckdb
import numpy as np
import pyarrow as pa

from workbench.errors import ConflictError, NotFoundError
from workbench.model import RUN_SCHEMA, RunInfo
from workbench.store.collections import CollectionInfo, _drop_orphan_rows, _get, qrels_in
from workbench.store.connection import TOP_DEPTH, Store, arrow, one, registered
from workbench.store.scores import insert_scores, scored_keys_in

_COLUMNS = (
    "collection, name, run_hash, kind, parent, depth, source_path, run_tag, n_queries, n_rows, "
    "metadata_header, params, software, warnings, ingested_at"
)


def _info(row: tuple) -> RunInfo:
    (
        collection,
        name,
        run_hash,
        kind,
        parent,
        depth,
        source_path,
        run_tag,
        n_queries,
        n_rows,
        header,
        params,
        software,
        warnings,
        ingested_at,
    ) = row
    return RunInfo(
        collection=collection,
        name=name,
        run_hash=run_hash,
        kind=kind,
        parent=parent,
        depth=depth,
        source_path=source_path,
        run_tag=run_tag,
        n_queries=n_queries,
        n_rows=n_rows,
        metadata_header=header,
        params=json.loads(params or "{}"),
        software=json.loads(software or "{}"),
        warnings=tuple(json.loads(warnings or "[]")),
        ingested_at=str(ingested_at),
    )


def put_run(store: Store, info: RunInfo, rows: pa.Table, *, replace: bool = False) -> tuple[RunInfo, str]:
    """Store one run in one transaction.

    Returns (stored info, status) where status is "added", "replaced", "updated" (same bytes, other metadata,
    with `replace`) or "unchanged" (same name, same bytes: a no-op). A different file under an existing name
    raises ConflictError unless `replace`.
    """
    with store.writer(what=f"run {info.name!r}") as con:
        return _put_run(con, info, lambda: insert_run_rows(con, info.run_hash, rows), replace)


def put_run_metadata(store: Store, info: RunInfo) -> RunInfo:
    """Give a stored run the metadata of `info` (kind, parent, depth, params, software, source path), whose bytes
    it already holds: `ingest --replace` of the same file with new metadata. Rows and scores are untouched."""
    with store.writer(what=f"the metadata of run {info.name!r}") as con:
        if _get_run(con, info.collection, info.name).run_hash != info.run_hash:
            raise ConflictError(f"run {info.name!r} changed in the store while its metadata was being updated",
                                hint="try again")
        stored, _ = _put_run(con, info, None, True)
        return stored


def same_metadata(stored: RunInfo, info: RunInfo) -> bool:
    """Whether `info` says about a run what the store already says (kind, parent, depth, params)."""
    def norm(params: dict) -> str:
        return json.dumps(params or {}, sort_keys=True, default=str)

    return ((str(stored.kind), stored.parent, stored.depth, norm(stored.params))
            == (str(info.kind), info.parent, info.depth, norm(info.params)))


def _put_run(con: duckdb.DuckDBPyConnection, info: RunInfo, insert_rows, replace: bool) -> tuple[RunInfo, str]:
    """put_run's body inside an open transaction; `insert_rows()` adds the rows when they are new."""
    _get(con, info.collection)
    existing = one(
        con.execute("SELECT run_hash FROM runs WHERE collection = ? AND name = ?", [info.collection, info.name])
    )
    status = "added"
    if existing is not None:
        if existing[0] == info.run_hash:
            stored = _get_run(con, info.collection, info.name)
            if not replace or same_metadata(stored, info):
                return stored, "unchanged"
            con.execute(
                "UPDATE runs SET kind = ?, parent = ?, depth = ?, params = ?, software = ?, source_path = ? "
                "WHERE collection = ? AND name = ?",
                [str(info.kind), info.parent, info.depth, json.dumps(info.params, sort_keys=True, default=str),
                 json.dumps(info.software, sort_keys=True, default=str), info.source_path, info.collection,
                 info.name])
            return _get_run(con, info.collection, info.name), "updated"
        if not replace:
            raise ConflictError(
                f"run {info.name!r} already exists in collection {info.collection!r} with different content",
                hint="use --replace to overwrite it, or --name to store it under another name",
            )
        con.execute("DELETE FROM runs WHERE collection = ? AND name = ?", [info.collection, info.name])
        status = "replaced"
    present = one(con.execute("SELECT count(*) FROM run_rows WHERE run_hash = ?", [info.run_hash]))[0]  # type: ignore[index]  # count(*): one row
    if not present:  # rows are shared by content: a second name for the same bytes stores nothing new
        insert_rows()
    con.execute(
        f"INSERT INTO runs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
        [
            info.collection,
            info.name,
            info.run_hash,
            str(info.kind),
            info.parent,
            info.depth,
            info.source_path,
            info.run_tag,
            info.n_queries,
            info.n_rows,
            info.metadata_header,
            json.dumps(info.params, sort_keys=True, default=str),
            json.dumps(info.software, sort_keys=True, default=str),
            json.dumps(list(info.warnings)),
        ],
    )
    if status == "replaced":
        _drop_orphan_rows(con)
    return _get_run(con, info.collection, info.name), status


def insert_run_rows(con: duckdb.DuckDBPyConnection, run_hash: str, rows: pa.Table) -> None:
    """Rows are shared by content: a second name for the same bytes stores nothing new."""
    present = one(con.execute("SELECT count(*) FROM run_rows WHERE run_hash = ?", [run_hash]))[0]  # type: ignore[index]  # count(*): one row
    if present:
        return
    with registered(con, _run_rows=rows):
        con.execute(
            "INSERT INTO run_rows SELECT ?, query_id, doc_id, score, rank, "
            "row_number() OVER (PARTITION BY query_id ORDER BY score DESC, doc_id DESC) FROM _run_rows",
            [run_hash],
        )
    _copy_top_rows(con, run_hash)


def _copy_top_rows(con: duckdb.DuckDBPyConnection, run_hash: str) -> None:
    """The run's rows down to TOP_DEPTH into run_top_rows, in the transaction that inserted them into run_rows."""
    con.execute(f"INSERT INTO run_top_rows SELECT * FROM run_rows WHERE run_hash = ? AND position <= {TOP_DEPTH}",
                [run_hash])


# ------------------------------------------------------------------------------- batched ingest (speed)
@dataclass(frozen=True)
class NewRun:
    """A parsed, checked run for `put_runs`: its record, its rows in file order (query_id, doc_id, score, rank) and
    each row's trec_eval position (int32, computed at ingest), so the store sorts nothing. `per_query`, when the run
    was scored as it was parsed (ingest --measures), gives its per-query values (query_id, measure, value); it is
    called inside the transaction, so scoring on another thread overlaps the insert."""

    info: RunInfo
    rows: pa.Table
    positions: np.ndarray
    replace: bool = False
    per_query: Callable[[], pa.Table] | None = None


@dataclass(frozen=True)
class ScoredAgainst:
    """What `NewRun.per_query` values were computed against: the qrels' content hash, the semantics, and each
    measure's evaluator (with the run's hash, the key of a score set)."""

    qrels_hash: str
    semantics: str
    evaluators: dict[str, str]


def put_runs(store: Store, runs: Sequence[NewRun], *, scores: ScoredAgainst | None = None,
             ) -> list[tuple[RunInfo, str]]:
    """put_run for several runs in one transaction, all or nothing, with the per-query values of `scores` for the
    (run, measure) pairs the store lacks; returns each run's (stored info, status).

    The rows of every new run hash go in with one INSERT from one Arrow table (one pipeline over all the files,
    instead of a statement, a plan and a write per file: most of a small file's insert), their top rows with one
    more; the stored positions are those of `NewRun.positions`.
    """
    names = ", ".join(repr(run.info.name) for run in runs)
    with store.writer(what=f"run {names}" if len(runs) == 1 else f"runs {names}") as con:
        new_rows: dict[str, NewRun] = {}  # run hash -> the run whose rows are stored, once per hash
        outcomes = [_put_run(con, run.info, partial(new_rows.setdefault, run.info.run_hash, run), run.replace)
                    for run in runs]
        _insert_batch_rows(con, list(new_rows.values()))
        if scores is not None:
            _insert_new_scores(con, [stored for stored, _ in outcomes], runs, scores)
    return outcomes


def _batch_rows(runs: Sequence[NewRun]) -> pa.Table:
    """The runs' rows as one table in run_rows' columns, in one chunk; the run hash is a dictionary column (an
    int32 per row), not a 64-character string repeated on every row.

    One chunk because DuckDB inserts a table of many chunks (a parser's, or one per file) on several threads and
    then merges their partial row groups to keep the order: measured on a 7M-line run, 4.9 CPU s and 1.7 GB peak
    against 2.3 CPU s and 1.1 GB for the same rows in one chunk (the copy included); on 20 DL runs, 0.29 against
    0.19 CPU s."""
    hashes = pa.array([run.info.run_hash for run in runs], pa.string())
    parts = []
    for k, run in enumerate(runs):
        n = run.rows.num_rows
        if len(run.positions) != n:
            raise ValueError(f"run {run.info.name!r}: {len(run.positions)} positions for {n} rows")
        rows = run.rows.select(list(RUN_SCHEMA.names)).cast(RUN_SCHEMA)
        parts.append(pa.table({
            "run_hash": pa.DictionaryArray.from_arrays(pa.array(np.full(n, k, np.int32)), hashes),
            **{name: rows.column(name) for name in RUN_SCHEMA.names},
            "position": pa.array(run.positions, pa.int32()),
        }))
    return pa.concat_tables(parts).combine_chunks()


def _insert_batch_rows(con: duckdb.DuckDBPyConnection, runs: list[NewRun]) -> None:
    """The rows of a batch's new run hashes in one INSERT, then their top rows (positions <= TOP_DEPTH, still in
    file order) in one more, both from the same Arrow table: nothing is read back from the store."""
    if not runs:
        return
    columns = "run_hash, query_id, doc_id, score, rank, position"
    with registered(con, _new_rows=_batch_rows(runs)):
        con.execute(f"INSERT INTO run_rows SELECT {columns} FROM _new_rows")
        con.execute(f"INSERT INTO run_top_rows SELECT {columns} FROM _new_rows WHERE position <= {TOP_DEPTH}")


def _insert_new_scores(con: duckdb.DuckDBPyConnection, stored: list[RunInfo], runs: Sequence[NewRun],
                       scores: ScoredAgainst) -> None:
    """The per-query values of the runs just stored, for the (run, measure) pairs the store lacks: bytes stored
    under another name (or twice in the batch) may be scored already."""
    scored = [(info, run.per_query()) for info, run in zip(stored, runs, strict=True) if run.per_query is not None]
    if not scored:
        return
    done = scored_keys_in(con, list(dict.fromkeys(info.run_hash for info, _ in scored)), scores.qrels_hash,
                          scores.semantics)
    todo_runs = []
    for info, per_query in scored:
        todo = {m: e for m, e in scores.evaluators.items() if (info.run_hash, m, e) not in done}
        done.update((info.run_hash, m, e) for m, e in todo.items())
        if todo:
            todo_runs.append((info.run_hash, per_query, todo))
    if todo_runs:
        insert_scores(con, scores.qrels_hash, scores.semantics, todo_runs)


def ingest_context(store: Store, collection: str) -> tuple[CollectionInfo, pa.Table, dict[str, RunInfo]]:
    """(collection info, qrels table, {name: RunInfo}) in one read: what a batch of ingests checks against."""
    with store.reader() as con:
        info = _get(con, collection)
        # ordered: ingest scores whole runs with fast.evaluate, 0.1-0.2 s slower on a 7M-line run given unordered
        # qrels (DuckDB's parallel sort costs 0.03 s)
        qrels = qrels_in(con, collection)
        rows = con.execute(f"SELECT {_COLUMNS} FROM runs WHERE collection = ? ORDER BY name", [collection]).fetchall()
    return info, qrels, {r.name: r for r in map(_info, rows)}


def _get_run(con: duckdb.DuckDBPyConnection, collection: str, name: str) -> RunInfo:
    row = one(con.execute(f"SELECT {_COLUMNS} FROM runs WHERE collection = ? AND name = ?", [collection, name]))
    if row is None:
        _get(con, collection)
        known = [
            r[0]
            for r in con.execute("SELECT name FROM runs WHERE collection = ? ORDER BY name", [collection]).fetchall()
        ]
        shown = ", ".join(known[:12]) + (" ..." if len(known) > 12 else "")
        raise NotFoundError(
            f"no run named {name!r} in collection {collection!r}",
            hint=f"known: {shown}" if known else "ingest one with `workbench ingest`",
        )
    return _info(row)


def get_run(store: Store, collection: str, name: str) -> RunInfo:
    with store.reader() as con:
        return _get_run(con, collection, name)


def list_runs(store: Store, collection: str | None = None) -> list[RunInfo]:
    with store.reader() as con:
        if collection is None:
            rows = con.execute(f"SELECT {_COLUMNS} FROM runs ORDER BY collection, name").fetchall()
        else:
            _get(con, collection)
            rows = con.execute(
                f"SELECT {_COLUMNS} FROM runs WHERE collection = ? ORDER BY name", [collection]
            ).fetchall()
        return [_info(r) for r in rows]


_ROW_COLUMNS = ("query_id", "doc_id", "score", "rank")


def get_run_rows(store: Store, collection: str, name: str, columns: tuple[str, ...] = _ROW_COLUMNS) -> pa.Table:
    """The run's rows as ingested (query_id, doc_id, score, rank, or the given subset: scoring skips rank);
    `position` (trec_eval's order within the query, computed at ingest) when asked for."""
    if not columns or any(c not in (*_ROW_COLUMNS, "position") for c in columns):
        raise ValueError(f"columns must be among {(*_ROW_COLUMNS, 'position')}, got {columns}")
    with store.reader() as con:
        info = _get_run(con, collection, name)
        return arrow(con, f"SELECT {', '.join(columns)} FROM run_rows WHERE run_hash = ?", [info.run_hash])


def set_run_fields(store: Store, collection: str, name: str, *, kind: str, parent: str | None, depth: int | None,
                   new_name: str) -> RunInfo:
    """Give a stored run this kind, parent, depth and name, in one transaction.

    Rows and scores are keyed by the run's content, not its name, so they stay reachable under a new name; runs
    that name this one as their parent follow the rename. Refused (ConflictError/NotFoundError, nothing written):
    a new name that is taken, a parent that is not stored in the collection, a parent that descends from the run.
    """
    with store.writer(what=f"the metadata of run {name!r}") as con:
        _get_run(con, collection, name)
        if new_name != name and one(con.execute("SELECT 1 FROM runs WHERE collection = ? AND name = ?",
                                                [collection, new_name])):
            raise ConflictError(f"run {new_name!r} already exists in collection {collection!r}",
                                hint="pick another name, or delete that run first")
        if parent is not None:
            _get_run(con, collection, parent)
            parents = dict(con.execute("SELECT name, parent FROM runs WHERE collection = ?", [collection]).fetchall())
            seen: set[str] = set()
            up: str | None = parent
            while up is not None and up not in seen:
                if up == name:
                    raise ConflictError(f"run {parent!r} cannot be the parent of {name!r}: "
                                        f"{'it is the run itself' if parent == name else 'it descends from it'}")
                seen.add(up)
                up = parents.get(up)
        con.execute("UPDATE runs SET kind = ?, parent = ?, depth = ? WHERE collection = ? AND name = ?",
                    [kind, parent, depth, collection, name])
        if new_name != name:
            con.execute(
                f"INSERT INTO runs ({_COLUMNS}) SELECT collection, ?, run_hash, kind, parent, depth, source_path, "
                "run_tag, n_queries, n_rows, metadata_header, params, software, warnings, ingested_at "
                "FROM runs WHERE collection = ? AND name = ?", [new_name, collection, name])
            con.execute("DELETE FROM runs WHERE collection = ? AND name = ?", [collection, name])
            con.execute("UPDATE runs SET parent = ? WHERE collection = ? AND parent = ?", [new_name, collection, name])
        return _get_run(con, collection, new_name)


def children(store: Store, collection: str, name: str) -> list[str]:
    """Runs of the collection that name `name` as their parent (their first stage)."""
    with store.reader() as con:
        return [r[0] for r in con.execute("SELECT name FROM runs WHERE collection = ? AND parent = ? ORDER BY name",
                                          [collection, name]).fetchall()]


def delete_run(store: Store, collection: str, name: str) -> None:
    """Delete a run; refused (ConflictError) while other runs name it as their parent: their parent would name a
    run that no longer exists, and the next run stored under that name would silently become their first stage."""
    with store.writer(what=f"the deletion of run {name!r}") as con:
        _get_run(con, collection, name)
        kids = [r[0] for r in con.execute("SELECT name FROM runs WHERE collection = ? AND parent = ? ORDER BY name",
                                          [collection, name]).fetchall()]
        if kids:
            shown = ", ".join(kids[:5]) + (", ..." if len(kids) > 5 else "")
            raise ConflictError(f"run {name!r} is the parent of {len(kids)} run(s) ({shown}); nothing was deleted",
                                hint="delete those runs first, or detach each with `workbench runs set NAME -c "
                                     f"{collection} --no-parent`")
        con.execute("DELETE FROM runs WHERE collection = ? AND name = ?", [collection, name])
        _drop_orphan_rows(con)
