"""Ingest run files: read and validate outside the store lock, then store in one transaction."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import re
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from workbench import __version__
from workbench.errors import ConflictError, InputFormatError, NotFoundError, WorkbenchError
from workbench.hashing import sha256_file
from workbench.kinds import RUN_KINDS
from workbench.model import RunInfo, RunKind
from workbench.naming import check_name, run_name_for
from workbench.store import Store, get_run


@dataclass(frozen=True)
class IngestResult:
    info: RunInfo
    status: str  # "added" | "replaced" | "updated" (same bytes, new metadata) | "unchanged"
    scores: dict[str, float] | None = None  # aggregates of the measures asked for (ingest --measures)

    def to_dict(self) -> dict:
        d = {"run": self.info.name, "collection": self.info.collection, "status": self.status,
             "run_hash": self.info.run_hash, "n_queries": self.info.n_queries, "n_rows": self.info.n_rows,
             "warnings": list(self.info.warnings)}
        if self.scores is not None:
            d["scores"] = self.scores
        return d


def ingest_run(
    store: Store,
    collection: str,
    path: str | Path,
    *,
    name: str | None = None,
    kind: str | None = None,
    parent: str | None = None,
    depth: int | None = None,
    replace: bool = False,
    params: dict | None = None,
    software: dict | None = None,
    source_path: str | None = None,
    measures: Sequence[str] | None = None,
    allow_trailing_fields: bool = False,
) -> IngestResult:
    """Validate one TREC run file and store it, all or nothing.

    Re-ingesting the same bytes under the same name is a no-op; different bytes under an existing name
    need `replace`. Nothing is written before the whole file has been read and checked. `source_path` records
    where the file came from when `path` is a temporary copy (a dashboard upload). With `measures`, the run
    is also scored (per-query values stored in the same transaction, see `ingest_runs`).
    `allow_trailing_fields` accepts text after the 6th field as trec_eval does (with a warning).
    """
    return ingest_runs(store, collection, [path], name=name, kind=kind, parent=parent, depth=depth,
                       replace=replace, params=params, software=software, source_path=source_path,
                       measures=measures, allow_trailing_fields=allow_trailing_fields)[0]


# Parsed runs wait (as DuckDB temp tables) until this many rows are pending, then go into the store under one
# lock, one transaction each: small files share the cost of opening the store, big ones do not pile up.
FLUSH_ROWS = 2_000_000


@dataclass
class _Pending:
    path: Path
    info: RunInfo
    table: str  # memory.main.<table> of the session's in-memory database (parsed by read_run_into)
    positions: object  # pa.Table (i, position): trec_eval positions of the table's rows i (see put_runs_from)
    every_row: bool  # positions lists every row; else only those not at their place in their query's block
    replace: bool
    scores: Future | None  # per-query values of the requested measures, computed while the rows are stored


class _Session:
    """One ingest command: a private DuckDB connection to parse into, the collection's qrels and runs read once."""

    def __init__(self, store: Store, collection: str, measures: Sequence[str] | None, keep_going: bool) -> None:
        import duckdb

        from workbench.store.runs import ingest_context

        self.store, self.collection, self.keep_going = store, collection, keep_going
        self.cinfo, self.qrels, self.runs = ingest_context(store, collection)
        self.con = duckdb.connect()
        self.con.execute("SET enable_progress_bar = false")
        self.pending: list[_Pending] = []
        self._ids = itertools.count(1)
        self.readers = ThreadPoolExecutor(max_workers=READERS)  # small files are parsed READERS at a time
        self.measures: list[str] = []
        self.evaluators: dict[str, str] = {}
        self.shown: dict[str, str] = {}  # canonical -> the name asked for
        self.pool = None
        if measures:
            from workbench.scoring import evaluator_id
            from workbench.services.evaluate import resolve_named

            named = resolve_named(store, collection, measures)
            self.measures = [nm.canonical for nm in named]
            self.shown = {nm.canonical: nm.name for nm in named}
            self.evaluators = {nm.canonical: evaluator_id(nm.measure) for nm in named}
            self.pool = ThreadPoolExecutor(max_workers=1)

    def close(self) -> None:
        self.readers.shutdown(wait=True, cancel_futures=True)
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.con.close()

    def check_parent(self, parent: str | None) -> None:
        """The first stage must be stored or on its way (an earlier file of this command): a clear error now."""
        if parent is not None and parent not in self.runs and parent not in {p.info.name for p in self.pending}:
            get_run(self.store, self.collection, parent)

    def discard(self, prepared: _Pending | IngestResult) -> None:
        """Forget a file read ahead of one that stopped the command."""
        if isinstance(prepared, _Pending):
            self.drop(prepared.table)
            if prepared.scores is not None:
                prepared.scores.cancel()

    def prepare(self, path: Path, *, name: str | None = None, kind: str | None = None, parent: str | None = None,
                depth: int | None = None, replace: bool = False, params: dict | None = None,
                software: dict | None = None, source_path: str | None = None,
                allow_trailing_fields: bool = False, ahead: frozenset[str] = frozenset()) -> _Pending | IngestResult:
        """Read and check one file (no store lock); an IngestResult when it is already stored as is.

        Runs on a reader thread, on a cursor of its own. `ahead`: run names of the command's earlier files, which
        may still be on their way when this one is read (their parent check waits for the caller).
        """
        import numpy as np
        import pyarrow as pa

        from workbench.io.runs import read_run_into
        from workbench.io.validate import run_format_check, run_qrels_warnings

        name = _precheck(path, name, kind, parent, depth)
        existing = self.runs.get(name)
        digest = None
        if existing is not None:  # hash first: re-ingesting the same bytes must not cost a parse
            digest = sha256_file(path)
            if existing.run_hash == digest:
                return self.same_bytes(existing, path, kind=kind, parent=parent, depth=depth, replace=replace,
                                       params=params, software=software, source_path=source_path, ahead=ahead)
        if parent is not None and parent not in ahead:
            self.check_parent(parent)

        table_name = f"_wb_run_{next(self._ids)}"
        con = self.con.cursor()
        try:
            # hashes the bytes while DuckDB parses them
            parsed = read_run_into(con, path, table_name, allow_trailing_fields=allow_trailing_fields)
        except BaseException:
            self.drop(table_name)  # a fast-path attempt may have left its rows behind
            raise
        finally:
            con.close()
        if digest is not None and parsed.sha256 != digest:
            self.drop(table_name)
            raise WorkbenchError(f"{path}: the file changed while it was being ingested; try again")
        try:
            header, recorded = _recorded(path, parsed.metadata_header)  # what `runs export` wrote about the run
            if parent is None and recorded.get("parent") is not None and recorded["parent"] not in ahead:
                self.check_parent(recorded["parent"])
        except NotFoundError:
            self.drop(table_name)
            raise NotFoundError(f"{path}: its ir_metadata header names parent run {recorded['parent']!r}, which "
                                f"{self.collection!r} does not hold",
                                hint="ingest the parent first (or before it in the same command), or give "
                                     "--parent") from None
        except BaseException:
            self.drop(table_name)
            raise
        kind, depth = kind or recorded.get("kind"), depth if depth is not None else recorded.get("depth")
        parent = parent if parent is not None else recorded.get("parent")
        params = params or recorded.get("params")
        software = {**recorded.get("software", {}), **(software or {})}
        scores = None
        if self.measures:
            scores = self.pool.submit(_score, parsed.table, self.qrels, self.measures)
        format_warnings, positions, moved = run_format_check(parsed.table)
        warnings = [*parsed.warnings, *format_warnings, *run_qrels_warnings(parsed.table, self.qrels)]
        info = RunInfo(
            collection=self.collection,
            name=name,
            run_hash=parsed.sha256,
            kind=kind or (RunKind.RERANK.value if parent else RunKind.OTHER.value),
            parent=parent,
            depth=depth,
            source_path=source_path or str(path),
            run_tag=",".join(parsed.run_tags) or None,
            n_queries=len(set(parsed.table.column("query_id").unique().to_pylist())),
            n_rows=parsed.table.num_rows,
            metadata_header=header,
            params=params or {},
            software={"workbench": __version__, **(software or {})},
            warnings=tuple(dict.fromkeys(warnings)),
        )
        rows = np.arange(len(positions)) if moved is None else moved
        fix = pa.table({"i": pa.array(rows, pa.int64()), "position": pa.array(positions[rows], pa.int32())})
        return _Pending(path, info, table_name, fix, moved is None, replace, scores)

    def same_bytes(self, existing: RunInfo, path: Path, *, kind: str | None, parent: str | None,
                   depth: int | None, replace: bool, params: dict | None, software: dict | None,
                   source_path: str | None, ahead: frozenset[str]) -> _Update | IngestResult:
        """A file whose bytes are stored under its name already: nothing to parse, but maybe metadata to set.

        With `replace` the run gets the metadata this call describes (as a replace with other bytes would): an
        `_Update` when that differs from what is stored. Without it, metadata given explicitly that differs from
        the stored one is refused rather than dropped; no metadata given is a no-op.
        """
        info = dataclasses.replace(
            existing, kind=kind or (RunKind.RERANK.value if parent else RunKind.OTHER.value), parent=parent,
            depth=depth, params=params or {}, software={"workbench": __version__, **(software or {})},
            source_path=source_path or str(path))
        if replace:
            from workbench.store.runs import same_metadata

            if same_metadata(existing, info):
                return IngestResult(existing, "unchanged")
            if parent is not None and parent not in ahead:
                self.check_parent(parent)
            return _Update(path, info)
        given = {"kind": kind, "parent": parent, "depth": depth}
        if any(v is not None and getattr(existing, k) != v for k, v in given.items()):
            raise ConflictError(
                f"run {existing.name!r} is stored from the same bytes with {describe(existing)}; "
                f"add --replace to give it {describe(info)}",
                hint="or change it with `workbench runs set`")
        return IngestResult(existing, "unchanged")

    def aggregate(self, per_query) -> dict[str, float] | None:
        if per_query is None:
            return None
        from workbench.scoring import aggregate

        agg = aggregate(per_query)
        return {self.shown[m]: agg[m] for m in self.measures if m in agg}

    def drop(self, table_name: str) -> None:
        con = self.con.cursor()  # safe from any thread, and whatever catalog the session connection uses now
        try:
            con.execute(f'DROP TABLE IF EXISTS memory.main."{table_name}"')
        finally:
            con.close()

    def pending_rows(self) -> int:
        return sum(p.info.n_rows for p in self.pending)

    def flush(self, report: Callable[[Path, IngestResult | WorkbenchError], None]) -> None:
        """Store the pending runs, all in one transaction when none is refused; else each in its own, stopping
        at the first refused one (reported) unless `keep_going`, as one file at a time would."""
        from workbench.store.runs import attached

        pending, self.pending = self.pending, []
        if not pending:
            return
        try:
            with attached(self.store, self.con):
                try:
                    if len(pending) > 1 and self._store(pending, report, together=True):
                        return
                    self._store(pending, report, together=False)
                finally:
                    for item in pending:
                        self.drop(item.table)
        except WorkbenchError as exc:  # the store could not be opened: every pending file is refused
            for item in pending:
                report(item.path, exc)

    def _store(self, pending: list[_Pending], report, *, together: bool) -> bool:  # noqa: C901
        """One transaction for all of `pending` (`together`: False, with nothing written, when one is refused),
        or one each. Runs are reported once committed."""
        from workbench.scoring import SEMANTICS
        from workbench.store.runs import put_runs_from

        batches = [pending] if together else [[item] for item in pending]
        for i, batch in enumerate(batches):
            scored: list[tuple[RunInfo, object]] = []

            def with_scores(con, stored: list[RunInfo], batch=batch, scored=scored) -> None:
                for item, info in zip(batch, stored, strict=True):
                    if item.scores is not None:
                        scored.append((info, item.scores.result()))
                self._insert_scores(con, scored, SEMANTICS)

            try:
                outcomes = put_runs_from(self.con, [(p.info, p.table, p.positions, p.every_row, p.replace)
                                                    for p in batch], before_commit=with_scores)
            except WorkbenchError as exc:
                if together:
                    return False
                report(batch[0].path, exc)
                if self.keep_going:
                    continue
                for rest in pending[i + 1:]:
                    if rest.scores is not None:
                        rest.scores.cancel()
                return True
            values = {info.name: per_query for info, per_query in scored}
            for item, (stored, status) in zip(batch, outcomes, strict=True):
                self.runs[stored.name] = stored
                report(item.path, IngestResult(stored, status, self.aggregate(values.get(stored.name))))
        return True

    def _insert_scores(self, con, scored: list[tuple[RunInfo, object]], semantics: str) -> None:
        """The per-query values of the freshly stored runs, for the (run, measure) pairs the store lacks."""
        from workbench.store.scores import insert_scores, scored_keys_in

        if not scored:
            return
        hashes = list(dict.fromkeys(info.run_hash for info, _ in scored))
        done = scored_keys_in(con, hashes, self.cinfo.qrels_hash, semantics)
        runs = []
        for info, per_query in scored:
            todo = {m: e for m, e in self.evaluators.items() if (info.run_hash, m, e) not in done}
            done.update((info.run_hash, m, e) for m, e in todo.items())  # a second name for the same bytes: once
            if todo:
                runs.append((info.run_hash, per_query, todo))
        if runs:
            insert_scores(con, self.cinfo.qrels_hash, semantics, runs)


@dataclass(frozen=True)
class _Update:
    """A file already stored byte for byte whose metadata is to change (`--replace` with new kind/parent/depth)."""

    path: Path
    info: RunInfo


def describe(info: RunInfo) -> str:
    """A run's metadata in words: 'kind rerank, parent bm25, depth 100'."""
    parts = [f"kind {info.kind}", f"parent {info.parent}" if info.parent else "no parent"]
    if info.depth is not None:
        parts.append(f"depth {info.depth}")
    return ", ".join(parts)


READERS = 2
"""Files parsed at once: DuckDB reads a small file on one core, so two small files use both."""
SMALL_FILE = 64 << 20
"""Files above this size are read one at a time (two 7M-line runs in memory at once would double the peak)."""


def _small(path: Path) -> bool:
    try:
        return path.stat().st_size <= SMALL_FILE
    except OSError:
        return True  # prepare reports it


def _precheck(path: Path, name: str | None, kind: str | None, parent: str | None, depth: int | None) -> str:
    """The checks that need neither the store nor the file's content; returns the run name."""
    name = check_name(name or run_name_for(path))
    _check_fields(name, kind, parent, depth)
    from workbench.io._text import check_file

    check_file(path, InputFormatError)  # a directory, a FIFO or /dev/zero is named as such, never opened
    return name


def _recorded(path: Path, header: str | None) -> tuple[str | None, dict]:
    """(the header without the workbench record `runs export` appends, that record's kind/parent/depth/params/
    software, checked like the command line's options)."""
    if not header:  # most runs: no PyYAML to load
        return header, {}
    from workbench.io.run_metadata import split_header

    header, recorded = split_header(header)
    where = f"{path}: the ir_metadata header's workbench record"
    kind, depth, parent = recorded.get("kind"), recorded.get("depth"), recorded.get("parent")
    if kind is not None and kind not in RUN_KINDS:
        raise WorkbenchError(f"{where} has kind {kind!r}; expected one of {', '.join(RUN_KINDS)}")
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 1):
        raise WorkbenchError(f"{where} has depth {depth!r}; expected a positive integer")
    if parent is not None:
        check_name(str(parent))
    for key in ("params", "software"):
        if not isinstance(recorded.get(key, {}), dict):
            raise WorkbenchError(f"{where} has {key} {recorded[key]!r}; expected a mapping")
    return header, recorded


MAX_DEPTH = 2**31 - 1
"""The store keeps depths as 32-bit integers."""


def _check_fields(name: str, kind: str | None, parent: str | None, depth: int | None) -> None:
    if kind is not None and kind not in RUN_KINDS:
        raise WorkbenchError(f"unknown run kind {kind!r}; expected one of {', '.join(RUN_KINDS)}")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH):
        raise WorkbenchError(f"rerank depth must be a positive integer up to {MAX_DEPTH}, got {depth!r}")
    if parent is not None and parent == name:
        raise WorkbenchError(f"run {name!r} cannot be its own parent")


# ------------------------------------------------------------------------------------------ lineage
LINEAGE = re.compile(r"(?P<parent>.+)__(?P<reranker>[^@]+)@(?P<depth>[0-9]+)")
"""`<parent>__<reranker>@<depth>`, the naming of rank_llm's and the bundled runs (bm25__rankvicuna-7b@100); the
parent is everything before the last `__`, so a rerank of a rerank (`bm25__monot5@100__rankzephyr@20`) works."""


@dataclass(frozen=True)
class Lineage:
    """What `ingest --lineage` read from a run name: parent and depth, or why it read nothing."""

    name: str
    parent: str | None = None
    depth: int | None = None
    note: str = ""


def infer_lineage(name: str, known: Collection[str]) -> Lineage:
    """Parent and depth from a `<parent>__<reranker>@<depth>` name when the parent is in `known`."""
    m = LINEAGE.fullmatch(name)
    if m is None:
        return Lineage(name, note="not a <parent>__<reranker>@<depth> name")
    parent, depth = m["parent"], int(m["depth"])
    if not 1 <= depth <= MAX_DEPTH:
        return Lineage(name, note=f"depth {m['depth']} is not a positive integer up to {MAX_DEPTH}")
    if parent not in known:
        return Lineage(name, note=f"parent {parent!r} is neither stored nor ingested earlier by this command")
    return Lineage(name, parent, depth)


def set_run_metadata(store: Store, collection: str, name: str, *, kind: str | None = None,
                     parent: str | None = None, depth: int | None = None, rename: str | None = None) -> RunInfo:
    """Change a stored run's kind, parent, depth or name; its rows and scores stay as they are.

    None leaves a field as it is; `parent=""` removes the parent (and the depth, unless one is given) and
    `depth=0` removes the depth. Setting a parent on a run of kind `other` without a kind makes it a `rerank`, as
    ingest does. `rename` moves the run to a free name; scores follow (they are keyed by content) and so do the
    runs that name it as their parent. Refused with nothing written: an unknown kind, a depth below 0, an invalid
    or taken name, a parent that is not stored or descends from the run. Nothing to change writes nothing.
    """
    from workbench.store.runs import set_run_fields

    stored = get_run(store, collection, name)
    new_name = check_name(rename) if rename is not None else name
    new_parent = stored.parent if parent is None else (parent or None)
    if depth is not None and not isinstance(depth, bool) and isinstance(depth, int) and depth == 0:
        new_depth = None
    elif depth is None:
        new_depth = None if parent == "" else stored.depth
    else:
        new_depth = depth
    new_kind = kind if kind is not None else (
        RunKind.RERANK.value if parent and str(stored.kind) == RunKind.OTHER.value else str(stored.kind))
    _check_fields(new_name, new_kind, new_parent, new_depth)
    if (new_kind, new_parent, new_depth, new_name) == (str(stored.kind), stored.parent, stored.depth, name):
        return stored
    return set_run_fields(store, collection, name, kind=new_kind, parent=new_parent, depth=new_depth,
                          new_name=new_name)


def _score(table, qrels, measures):
    """Per-query values of a freshly parsed run against the collection's stored qrels (one judgment per pair,
    as `collection add` stored them: no second check, which would load Arrow's Acero engine)."""
    from workbench.scoring import evaluate

    return evaluate(table.select(["query_id", "doc_id", "score"]), qrels, measures, stored_qrels=True)




def ingest_runs(  # noqa: C901
    store: Store,
    collection: str,
    paths: Sequence[str | Path],
    *,
    on_done: Callable[[Path, IngestResult | WorkbenchError], None] | None = None,
    keep_going: bool = False,
    measures: Sequence[str] | None = None,
    lineage: bool = False,
    on_lineage: Callable[[Path, Lineage], None] | None = None,
    **options,
) -> list[IngestResult]:
    """Ingest many files, each all-or-nothing. Stops at the first bad file unless `keep_going`.

    With `measures`, each new run is scored right after parsing (its Arrow table, no reload from the store) and
    its per-query values are stored in the run's own transaction; runs that were already stored are scored by
    `evaluate_runs` (which computes only what the store lacks). Either way `result.scores` holds the aggregates.
    With `lineage`, each run's parent and depth are read from its name (`infer_lineage`: the parent must be
    stored or come earlier in `paths`) and told to `on_lineage` before anything is stored.
    """
    if options.get("name") and len(paths) > 1:
        raise WorkbenchError("--name applies to a single file; drop it to name runs by their file stems")
    if measures:  # a bad measure (nDCG@0 would abort pytrec_eval mid-ingest) stops the command before any file
        from workbench.scoring import parse_measures

        parse_measures(list(measures))
    if lineage and (options.get("parent") is not None or options.get("depth") is not None):
        raise WorkbenchError("--lineage reads parent and depth from the run names; drop --parent and --depth")
    results: list[IngestResult] = []
    errors: list[WorkbenchError] = []
    stop: list[WorkbenchError] = []
    path_of: dict[int, Path] = {}

    def report(path: Path, outcome: IngestResult | WorkbenchError) -> None:
        if isinstance(outcome, WorkbenchError):
            if on_done:
                on_done(Path(path), outcome)
            if not keep_going:
                stop.append(outcome)
            errors.append(outcome)
            return
        results.append(outcome)
        path_of[id(outcome)] = Path(path)
        if on_done and not (measures and outcome.scores is None):
            on_done(Path(path), outcome)

    session: _Session | None = None
    paths = [Path(p) for p in paths]
    names = [options.get("name") or run_name_for(p) for p in paths]
    reading: dict[int, Future] = {}
    per_file: dict[int, dict] = {}  # parent and depth read from the names (--lineage)

    def read_ahead(i: int) -> None:
        """Files i, i+1 start parsing (READERS at a time) while earlier ones are handled; big files one at a time."""
        for j in range(i, min(i + READERS, len(paths))):
            small = _small(paths[j])
            if j not in reading and (j == i or small):
                reading[j] = session.readers.submit(session.prepare, paths[j], **{**options, **per_file.get(j, {})},
                                                    ahead=frozenset(names[:j]))
            if not small:
                break

    def read_lineage() -> None:
        for j, path in enumerate(paths):
            found = infer_lineage(names[j], {*session.runs, *names[:j]})
            if found.parent is not None:
                per_file[j] = {"parent": found.parent, "depth": found.depth}
            if on_lineage:
                on_lineage(path, found)

    try:
        for i, path in enumerate(paths):
            try:
                if session is None:
                    _precheck(path, options.get("name"), options.get("kind"), options.get("parent"),
                              options.get("depth"))
                    session = _Session(store, collection, measures, keep_going)
                    if lineage:
                        read_lineage()
                read_ahead(i)
                prepared = reading.pop(i).result()
                if isinstance(prepared, _Pending | _Update):
                    try:
                        session.check_parent(prepared.info.parent)
                    except WorkbenchError:
                        session.discard(prepared)
                        raise
                if isinstance(prepared, _Update):
                    session.flush(report)  # the files before this one first, as one by one would
                    if stop:
                        raise stop[0]
                    from workbench.store.runs import put_run_metadata

                    prepared = IngestResult(put_run_metadata(store, prepared.info), "updated")
                    session.runs[prepared.info.name] = prepared.info
            except WorkbenchError as exc:
                if session is not None:
                    session.flush(report)  # the files before this one are stored, as one by one would
                if stop:
                    raise stop[0] from None
                report(path, exc)
                if stop:
                    raise
                continue
            if isinstance(prepared, IngestResult):
                session.flush(report)  # keep the order of results
                if stop:
                    raise stop[0]
                report(path, prepared)
                continue
            session.pending.append(prepared)
            if session.pending_rows() >= FLUSH_ROWS:
                session.flush(report)
                if stop:
                    raise stop[0]
        if session is not None:
            session.flush(report)
            if stop:
                raise stop[0]
    finally:
        if session is not None:
            for future in reading.values():  # read ahead of a file that stopped the command
                with contextlib.suppress(Exception):
                    session.discard(future.result())
            session.close()
    if measures:
        results = _score_stored(store, collection, measures, results, on_done, path_of)
    if errors:
        raise errors[0] if len(errors) == 1 else WorkbenchError(
            f"{len(errors)} of {len(paths)} files were refused; first: {errors[0]}")
    return results


def _score_stored(store, collection, measures, results, on_done, path_of) -> list[IngestResult]:
    """Scores for the runs that were not parsed now (already stored): computed only where missing."""
    todo = [r for r in results if r.scores is None]
    if not todo:
        return results
    from workbench.services.evaluate import evaluate_runs

    ev = evaluate_runs(store, collection, measures, list(dict.fromkeys(r.info.name for r in todo)))
    agg = ev.aggregate()
    by_run = {run: dict(zip(g["measure"], g["value"], strict=True)) for run, g in agg.groupby("run")}
    out = []
    for r in results:
        if r.scores is None:
            path = path_of[id(r)]
            got = by_run.get(r.info.name, {})
            r = IngestResult(r.info, r.status, {m: float(got[m]) for m in ev.measures if m in got})
            if on_done:
                on_done(path, r)
        out.append(r)
    return out
