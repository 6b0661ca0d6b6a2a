"""Runs: metadata keyed by (collection, name), rows keyed by content hash."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pyarrow as pa

from workbench import interrupts
from workbench.errors import ConflictError, NotFoundError, StoreError
from workbench.model import RunInfo
from workbench.store.collections import _drop_orphan_rows, _get, qrels_in
from workbench.store.connection import TOP_DEPTH, Store, arrow, first_line, one, registered, write_failed

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
_ALIAS = "wb_store"


@contextmanager
def attached(store: Store, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Attach the store file read-write to an in-memory compute connection and make it the default catalog.

    Ingest parses into `con`'s temp tables outside the store lock, then copies DuckDB's own columns into the
    store (INSERT ... SELECT: no Arrow round trip), one transaction per run, under one lock for a batch of
    files. Waits on a locked store like Store.writer does. The detach at the end runs with Ctrl-C held back,
    and a failure there (after a failed write, DuckDB may refuse everything but a rollback) does not hide the
    error that ended the block.
    """
    store.ensure_schema()
    path = str(store.path).replace("'", "''")  # ATTACH takes no bound parameters; the path is quoted as a literal
    store.retry_locked(lambda: con.execute(f"ATTACH '{path}' AS {_ALIAS}"))
    failed = True
    try:
        con.execute(f"USE {_ALIAS}")
        yield
        failed = False
    finally:
        with interrupts.held():
            try:
                con.execute("USE memory")
                con.execute(f"DETACH {_ALIAS}")
            except (duckdb.Error, RuntimeError) as exc:
                if not failed:
                    raise StoreError(f"{store.path}: could not close the store: {first_line(exc)}") from exc


def put_runs_from(
    con: duckdb.DuckDBPyConnection, runs: list[tuple[RunInfo, str, pa.Table, bool, bool]], *, before_commit=None,
) -> list[tuple[RunInfo, str]]:
    """put_run inside `attached(...)` for several runs in one transaction, with whatever
    `before_commit(con, stored infos)` writes (ingest's scores); all or nothing.

    Each run is (info, source_table, positions, every_row, replace): its rows are copied from table
    `memory.main.<source_table>` (query_id, doc_id, score, rank, in file order) with their trec_eval
    positions. `positions` (i, position) gives the position of source row i: of every row when `every_row`;
    else only of rows not at their place in their query's contiguous block of rows, the others' being that
    place (row id minus the query's first row id, plus one). Copying DuckDB's own parsed columns keeps the
    insert a direct write to the store file; a join on 7M row ids, or inserting from Arrow, costs a second or more.
    """
    names = ", ".join(repr(info.name) for info, *_ in runs)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            new_rows: dict[str, tuple[str, pa.Table, bool]] = {}  # run hash -> its rows' source, once per hash
            outcomes = [_put_run(con, info, lambda info=info, src=src, pos=pos, every=every:
                                 new_rows.setdefault(info.run_hash, (src, pos, every)), replace)
                        for info, src, pos, every, replace in runs]
            _insert_all_from(con, new_rows)
            if before_commit is not None:
                before_commit(con, [stored for stored, _ in outcomes])
        except BaseException:
            interrupts.rollback(con)
            raise
        interrupts.commit(con, f"run {names}" if len(runs) == 1 else f"runs {names}")
    except duckdb.Error as exc:
        raise write_failed(_attached_path(con), exc) from exc
    return outcomes


def _attached_path(con: duckdb.DuckDBPyConnection) -> str:
    try:
        row = one(con.execute("SELECT path FROM duckdb_databases() WHERE database_name = ?", [_ALIAS]))
    except (duckdb.Error, RuntimeError):
        row = None
    return row[0] if row and row[0] else "the store"


def _insert_all_from(con: duckdb.DuckDBPyConnection, new_rows: dict[str, tuple[str, pa.Table, bool]]) -> None:
    """The rows of every new run hash of a batch, in one INSERT (one pipeline over all the files, instead of a
    statement, a plan and a write per file: most of a small file's insert), then their top rows in one more."""
    if not new_rows:
        return
    selects, positions = [], {}
    for k, (source_table, pos, every_row) in enumerate(new_rows.values()):
        src, p = f'memory.main."{source_table}"', f"_positions_{k}"
        positions[p] = pos
        if every_row:
            selects.append(f"SELECT ?, t.query_id, t.doc_id, t.score, CAST(t.rank AS BIGINT), "
                           f"p.position FROM {src} t JOIN {p} p ON p.i = t.rowid")
        else:
            first = f"(SELECT query_id, min(rowid) AS first FROM {src} GROUP BY query_id)"
            selects.append(f"SELECT ?, t.query_id, t.doc_id, t.score, CAST(t.rank AS BIGINT), "
                           f"coalesce(p.position, CAST(t.rowid - b.first + 1 AS INTEGER)) "
                           f"FROM {src} t JOIN {first} b USING (query_id) LEFT JOIN {p} p ON p.i = t.rowid")
    with registered(con, **positions):
        hashes = list(new_rows)  # one per UNION branch, bound in order
        con.execute("INSERT INTO run_rows " + " UNION ALL ".join(selects), hashes)
    con.execute(f"INSERT INTO run_top_rows SELECT * FROM run_rows WHERE run_hash IN "
                f"({', '.join('?' * len(hashes))}) AND position <= {TOP_DEPTH}", hashes)


def ingest_context(store: Store, collection: str) -> tuple:
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
