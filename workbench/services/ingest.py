"""Ingest run files: read and validate outside the store lock, then store in one transaction."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench import __version__
from workbench.errors import ConflictError, InputFormatError, NotFoundError, StoreLockedError, WorkbenchError
from workbench.hashing import sha256_file
from workbench.io._text import check_file
from workbench.io.run_metadata import split_header
from workbench.io.validate import run_format_check, run_qrels_warnings
from workbench.kinds import RUN_KINDS
from workbench.model import RunInfo, RunKind
from workbench.naming import check_name, run_name_for
from workbench.scoring import SEMANTICS, aggregate, evaluate, evaluator_id, parse_measures
from workbench.services.evaluate import evaluate_runs, resolve_named
from workbench.store import (
    NewRun,
    ScoredAgainst,
    Store,
    get_run,
    ingest_context,
    put_run_metadata,
    put_runs,
    same_metadata,
    set_run_fields,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from workbench.io.runs import ParsedRun

OnDone = Callable[[Path, "IngestResult | WorkbenchError"], None]


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


# Parsed runs wait (as Arrow tables) until this many rows are pending, then go into the store under one lock, in
# one transaction: small files share the cost of opening the store and of an insert, big ones do not pile up.
FLUSH_ROWS = 2_000_000


@dataclass(frozen=True)
class _FileOptions:
    """What the command says about its files (`ingest_runs`' keyword options); --lineage sets parent and depth
    per file."""

    name: str | None = None
    kind: str | None = None
    parent: str | None = None
    depth: int | None = None
    replace: bool = False
    params: dict | None = None
    software: dict | None = None
    source_path: str | None = None
    allow_trailing_fields: bool = False


@dataclass(frozen=True)
class _Pending:
    """A file read and checked, waiting for the next flush."""

    path: Path
    run: NewRun
    scores: Future | None  # per-query values of the requested measures, computed while the rows are stored

    @property
    def info(self) -> RunInfo:
        return self.run.info


@dataclass(frozen=True)
class _Update:
    """A file already stored byte for byte whose metadata is to change (`--replace` with new kind/parent/depth)."""

    path: Path
    info: RunInfo


_Prepared = _Pending | _Update | IngestResult
"""What reading a file gives: rows to store, metadata to set, or a run stored as it is."""


class _Outcomes:
    """What the command has reported, in the order of its files: results, refusals, and the refusal that stops it
    (the first one, without `keep_going`)."""

    def __init__(self, on_done: OnDone | None, keep_going: bool, measures: bool) -> None:
        self.on_done, self.keep_going, self.measures = on_done, keep_going, measures
        self.results: list[IngestResult] = []
        self.errors: list[WorkbenchError] = []
        self.stop: WorkbenchError | None = None
        self.path_of: dict[int, Path] = {}

    def report(self, path: Path, outcome: IngestResult | WorkbenchError) -> None:
        """Record a file's outcome and tell `on_done`; a result still to be scored (`_score_stored`) is told then."""
        if isinstance(outcome, WorkbenchError):
            self.errors.append(outcome)
            if not self.keep_going and self.stop is None:
                self.stop = outcome
            if self.on_done:
                self.on_done(path, outcome)
            return
        self.results.append(outcome)
        self.path_of[id(outcome)] = path
        if self.on_done and not (self.measures and outcome.scores is None):
            self.on_done(path, outcome)

    def check(self) -> None:
        """Raise the refusal that stops the command, if one was reported."""
        if self.stop is not None:
            raise self.stop

    def raise_errors(self, n_files: int) -> None:
        if self.errors:
            raise self.errors[0] if len(self.errors) == 1 else WorkbenchError(
                f"{len(self.errors)} of {n_files} files were refused; first: {self.errors[0]}")


class _Session:
    """One ingest command's store side: the collection's qrels and runs read once, the reader threads, the runs
    waiting to be stored, and the scorer of ingest --measures."""

    def __init__(self, store: Store, collection: str, measures: Sequence[str] | None, outcomes: _Outcomes) -> None:
        self.store, self.collection, self.outcomes = store, collection, outcomes
        self.cinfo, self.qrels, self.runs = ingest_context(store, collection)
        self.pending: list[_Pending] = []
        self.readers = ThreadPoolExecutor(max_workers=READERS)  # small files are parsed READERS at a time
        self.measures: list[str] = []
        self.shown: dict[str, str] = {}  # canonical -> the name asked for
        self.scored_against: ScoredAgainst | None = None
        self.pool: ThreadPoolExecutor | None = None
        if measures:
            self._start_scoring(measures)

    def _start_scoring(self, measures: Sequence[str]) -> None:
        named = resolve_named(self.store, self.collection, measures)
        self.measures = [nm.canonical for nm in named]
        self.shown = {nm.canonical: nm.name for nm in named}
        self.scored_against = ScoredAgainst(self.cinfo.qrels_hash, SEMANTICS,
                                            {nm.canonical: evaluator_id(nm.measure) for nm in named})
        self.pool = ThreadPoolExecutor(max_workers=1)

    def close(self) -> None:
        self.readers.shutdown(wait=True, cancel_futures=True)
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def check_parent(self, parent: str | None) -> None:
        """The first stage must be stored or on its way (an earlier file of this command): a clear error now."""
        if parent is not None and parent not in self.runs and parent not in {p.info.name for p in self.pending}:
            get_run(self.store, self.collection, parent)

    def discard(self, prepared: _Prepared) -> None:
        """Forget a file read ahead of one that stopped the command."""
        if isinstance(prepared, _Pending) and prepared.scores is not None:
            prepared.scores.cancel()

    # ------------------------------------------------------------------------------ reading (reader threads)
    def prepare(self, path: Path, opts: _FileOptions, ahead: frozenset[str]) -> _Prepared:
        """Read and check one file (no store lock); an IngestResult when it is already stored as is.

        Runs on a reader thread. `ahead`: run names of the command's earlier files, which may still be on their
        way when this one is read (their parent check waits for the caller).
        """
        name = _precheck(path, opts.name, opts.kind, opts.parent, opts.depth)
        existing = self.runs.get(name)
        digest = None
        if existing is not None:  # hash first: re-ingesting the same bytes must not cost a parse
            digest = sha256_file(path)
            if existing.run_hash == digest:
                return self.same_bytes(existing, path, opts, ahead)
        if opts.parent is not None and opts.parent not in ahead:
            self.check_parent(opts.parent)
        parsed = self.parse(path, opts.allow_trailing_fields)
        if digest is not None and parsed.sha256 != digest:
            raise WorkbenchError(f"{path}: the file changed while it was being ingested; try again")
        header, opts = self.recorded(path, parsed.metadata_header, opts, ahead)
        return self.pending_run(path, name, parsed, header, opts)

    def parse(self, path: Path, allow_trailing_fields: bool) -> ParsedRun:
        """The one place a file's rows are read (where a multi-file reader would take a batch of files)."""
        from workbench.io.runs import read_run  # numpy, pyarrow and DuckDB: loaded when a file is read

        return read_run(path, allow_trailing_fields=allow_trailing_fields)

    def recorded(self, path: Path, header: str | None, opts: _FileOptions,
                 ahead: frozenset[str]) -> tuple[str | None, _FileOptions]:
        """The header without the workbench record `runs export` appends, and `opts` completed from that record
        (kind, parent, depth, params, software) where the command gave none; the parent it names must be stored
        or on its way."""
        header, recorded = _recorded(path, header)
        parent = recorded.get("parent")
        if opts.parent is None and parent is not None and parent not in ahead:
            try:
                self.check_parent(parent)
            except NotFoundError:
                raise NotFoundError(f"{path}: its ir_metadata header names parent run {parent!r}, which "
                                    f"{self.collection!r} does not hold",
                                    hint="ingest the parent first (or before it in the same command), or give "
                                         "--parent") from None
        return header, dataclasses.replace(
            opts, kind=opts.kind or recorded.get("kind"),
            depth=opts.depth if opts.depth is not None else recorded.get("depth"),
            parent=opts.parent if opts.parent is not None else parent,
            params=opts.params or recorded.get("params"),
            software={**recorded.get("software", {}), **(opts.software or {})})

    def pending_run(self, path: Path, name: str, parsed: ParsedRun, header: str | None,
                    opts: _FileOptions) -> _Pending:
        """The run's record and trec_eval positions; its scoring starts now, on the scorer thread."""

        scores = None
        if self.pool is not None:
            scores = self.pool.submit(_score, parsed.table, self.qrels, self.measures)
        format_warnings, positions, _ = run_format_check(parsed.table)
        warnings = [*parsed.warnings, *format_warnings, *run_qrels_warnings(parsed.table, self.qrels)]
        info = RunInfo(
            collection=self.collection,
            name=name,
            run_hash=parsed.sha256,
            kind=opts.kind or (RunKind.RERANK.value if opts.parent else RunKind.OTHER.value),
            parent=opts.parent,
            depth=opts.depth,
            source_path=opts.source_path or str(path),
            run_tag=",".join(parsed.run_tags) or None,
            n_queries=len(set(parsed.table.column("query_id").unique().to_pylist())),
            n_rows=parsed.table.num_rows,
            metadata_header=header,
            params=opts.params or {},
            software={"workbench": __version__, **(opts.software or {})},
            warnings=tuple(dict.fromkeys(warnings)),
        )
        run = NewRun(info, parsed.table, positions, opts.replace, scores.result if scores is not None else None)
        return _Pending(path, run, scores)

    def same_bytes(self, existing: RunInfo, path: Path, opts: _FileOptions,
                   ahead: frozenset[str]) -> _Update | IngestResult:
        """A file whose bytes are stored under its name already: nothing to parse, but maybe metadata to set.

        With `replace` the run gets the metadata this call describes (as a replace with other bytes would): an
        `_Update` when that differs from what is stored. Without it, metadata given explicitly that differs from
        the stored one is refused rather than dropped; no metadata given is a no-op.
        """
        info = dataclasses.replace(
            existing, kind=opts.kind or (RunKind.RERANK.value if opts.parent else RunKind.OTHER.value),
            parent=opts.parent, depth=opts.depth, params=opts.params or {},
            software={"workbench": __version__, **(opts.software or {})}, source_path=opts.source_path or str(path))
        if opts.replace:
            if same_metadata(existing, info):
                return IngestResult(existing, "unchanged")
            if opts.parent is not None and opts.parent not in ahead:
                self.check_parent(opts.parent)
            return _Update(path, info)
        given = {"kind": opts.kind, "parent": opts.parent, "depth": opts.depth}
        if any(v is not None and getattr(existing, k) != v for k, v in given.items()):
            raise ConflictError(
                f"run {existing.name!r} is stored from the same bytes with {describe(existing)}; "
                f"add --replace to give it {describe(info)}",
                hint="or change it with `workbench runs set`")
        return IngestResult(existing, "unchanged")

    # ------------------------------------------------------------------------------ storing (the command's thread)
    def add(self, path: Path, prepared: _Pending | IngestResult) -> None:
        """Queue a file's rows (storing the queue once it is big), or report a file that needed none, after the
        files before it."""
        if isinstance(prepared, _Pending):
            self.pending.append(prepared)
            if sum(p.info.n_rows for p in self.pending) >= FLUSH_ROWS:
                self.flush()
            return
        self.flush()  # keep the order of results
        self.outcomes.report(path, prepared)

    def update(self, prepared: _Update) -> IngestResult:
        """Give a stored run the metadata of a file with its bytes, after the files before it are stored."""
        self.flush()
        stored = put_run_metadata(self.store, prepared.info)
        self.runs[stored.name] = stored
        return IngestResult(stored, "updated")

    def flush(self) -> None:
        """Store the pending runs, all in one transaction when none is refused; else each in its own, stopping
        at the first refused one (reported) unless `keep_going`, as one file at a time would. Raises the refusal
        that stops the command."""
        pending, self.pending = self.pending, []
        if pending and not (len(pending) > 1 and self._store_together(pending)):
            self._store_each(pending)
        self.outcomes.check()

    def _store_together(self, pending: list[_Pending]) -> bool:
        """One transaction for all of `pending`; False, with nothing written, when one of them is refused."""
        try:
            outcomes = put_runs(self.store, [p.run for p in pending], scores=self.scored_against)
        except StoreLockedError as exc:  # no file can go in; waiting again for each would multiply the wait
            self._refuse(pending, exc)
            return True
        except WorkbenchError:
            return False
        self._stored(pending, outcomes)
        return True

    def _store_each(self, pending: list[_Pending]) -> None:
        """One transaction per run, each reported once committed."""
        for i, item in enumerate(pending):
            try:
                outcomes = put_runs(self.store, [item.run], scores=self.scored_against)
            except StoreLockedError as exc:  # the rest would wait as long again for the same lock
                self._refuse(pending[i:], exc)
                return
            except WorkbenchError as exc:
                self._refuse([item], exc)
                if not self.outcomes.keep_going:
                    for rest in pending[i + 1:]:
                        self.discard(rest)
                    return
                continue
            self._stored([item], outcomes)

    def _refuse(self, items: list[_Pending], exc: WorkbenchError) -> None:
        for item in items:
            self.discard(item)
            self.outcomes.report(item.path, exc)

    def _stored(self, batch: list[_Pending], outcomes: list[tuple[RunInfo, str]]) -> None:
        """Report a committed batch, with the aggregates of the values stored with it."""
        for item, (stored, status) in zip(batch, outcomes, strict=True):
            self.runs[stored.name] = stored
            per_query = item.scores.result() if item.scores is not None else None
            self.outcomes.report(item.path, IngestResult(stored, status, self.aggregate(per_query)))

    def aggregate(self, per_query: pa.Table | None) -> dict[str, float] | None:
        if per_query is None:
            return None

        agg = aggregate(per_query)
        return {self.shown[m]: agg[m] for m in self.measures if m in agg}


class _Command:
    """One ingest command over its files: the session opened with the first file that passes the checks needing
    no store, the files read ahead on the session's reader threads, each stored or refused in turn."""

    def __init__(self, store: Store, collection: str, paths: list[Path], opts: _FileOptions,
                 measures: Sequence[str] | None, outcomes: _Outcomes, lineage: bool,
                 on_lineage: Callable[[Path, Lineage], None] | None) -> None:
        self.store, self.collection, self.paths, self.opts = store, collection, paths, opts
        self.measures, self.outcomes, self.lineage, self.on_lineage = measures, outcomes, lineage, on_lineage
        self.names = [opts.name or run_name_for(p) for p in paths]
        self.options = [opts] * len(paths)  # per file: --lineage gives each its own parent and depth
        self.session: _Session | None = None
        self.reading: dict[int, Future] = {}

    def run(self) -> None:
        try:
            for i, path in enumerate(self.paths):
                self.file(i, path)
            if self.session is not None:
                self.session.flush()
        finally:
            self.close()

    def file(self, i: int, path: Path) -> None:
        """Read, check and store (or queue) file i; a refusal is reported, and stops the command unless
        keep_going, after the files before it are stored (as one file at a time would)."""
        try:
            session = self.session or self.open(path)
            prepared = self.prepared(session, i)
        except WorkbenchError as exc:
            if self.session is not None:
                self.session.flush()
            self.outcomes.report(path, exc)
            self.outcomes.check()
            return
        session.add(path, prepared)

    def open(self, path: Path) -> _Session:
        """The session, once a file passes the checks that need no store (a bad first file opens nothing)."""
        _precheck(path, self.opts.name, self.opts.kind, self.opts.parent, self.opts.depth)
        self.session = _Session(self.store, self.collection, self.measures, self.outcomes)
        if self.lineage:
            self.read_lineage(self.session)
        return self.session

    def read_lineage(self, session: _Session) -> None:
        """Each file's parent and depth from its run name (--lineage), told before anything is stored."""
        for j, path in enumerate(self.paths):
            found = infer_lineage(self.names[j], {*session.runs, *self.names[:j]})
            if found.parent is not None:
                self.options[j] = dataclasses.replace(self.opts, parent=found.parent, depth=found.depth)
            if self.on_lineage:
                self.on_lineage(path, found)

    def prepared(self, session: _Session, i: int) -> _Pending | IngestResult:
        """File i as its reader thread prepared it, its parent checked now that the files before it are known; a
        metadata change is made here (after the files before it are stored)."""
        self.read_ahead(session, i)
        prepared = self.reading.pop(i).result()
        if isinstance(prepared, _Pending | _Update):
            try:
                session.check_parent(prepared.info.parent)
            except WorkbenchError:
                session.discard(prepared)
                raise
        if isinstance(prepared, _Update):
            return session.update(prepared)
        return prepared

    def read_ahead(self, session: _Session, i: int) -> None:
        """Files i, i+1 start parsing (READERS at a time) while earlier ones are handled; big files one at a time."""
        for j in range(i, min(i + READERS, len(self.paths))):
            small = _small(self.paths[j])
            if j not in self.reading and (j == i or small):
                self.reading[j] = session.readers.submit(session.prepare, self.paths[j], self.options[j],
                                                         frozenset(self.names[:j]))
            if not small:
                break

    def close(self) -> None:
        if self.session is None:
            return
        for future in self.reading.values():  # read ahead of a file that stopped the command
            with contextlib.suppress(Exception):
                self.session.discard(future.result())
        self.session.close()


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

    check_file(path, InputFormatError)  # a directory, a FIFO or /dev/zero is named as such, never opened
    return name


def _recorded(path: Path, header: str | None) -> tuple[str | None, dict]:
    """(the header without the workbench record `runs export` appends, that record's kind/parent/depth/params/
    software, checked like the command line's options)."""
    if not header:  # most runs: no PyYAML to load
        return header, {}

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


def _score(table: pa.Table, qrels: pa.Table, measures: list[str]) -> pa.Table:
    """Per-query values of a freshly parsed run against the collection's stored qrels (one judgment per pair,
    as `collection add` stored them: no second check, which would load Arrow's Acero engine)."""

    return evaluate(table.select(["query_id", "doc_id", "score"]), qrels, measures, stored_qrels=True)


def ingest_runs(
    store: Store,
    collection: str,
    paths: Sequence[str | Path],
    *,
    on_done: OnDone | None = None,
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
    stored or come earlier in `paths`) and told to `on_lineage` before anything is stored. `options` are those
    of `ingest_run` (name, kind, parent, depth, replace, params, software, source_path, allow_trailing_fields).
    """
    opts = _FileOptions(**options)
    _check_command(len(paths), opts, measures, lineage)
    files = [Path(p) for p in paths]
    outcomes = _Outcomes(on_done, keep_going, bool(measures))
    _Command(store, collection, files, opts, measures, outcomes, lineage, on_lineage).run()
    results = outcomes.results
    if measures:
        results = _score_stored(store, collection, measures, results, on_done, outcomes.path_of)
    outcomes.raise_errors(len(files))
    return results


def _check_command(n_files: int, opts: _FileOptions, measures: Sequence[str] | None, lineage: bool) -> None:
    """The checks of the command as a whole, before any file is read."""
    if opts.name and n_files > 1:
        raise WorkbenchError("--name applies to a single file; drop it to name runs by their file stems")
    if measures:  # a bad measure (nDCG@0 would abort pytrec_eval mid-ingest) stops the command before any file

        parse_measures(list(measures))
    if lineage and (opts.parent is not None or opts.depth is not None):
        raise WorkbenchError("--lineage reads parent and depth from the run names; drop --parent and --depth")


def _score_stored(store: Store, collection: str, measures: Sequence[str], results: list[IngestResult],
                  on_done: OnDone | None, path_of: dict[int, Path]) -> list[IngestResult]:
    """Scores for the runs that were not parsed now (already stored): computed only where missing."""
    todo = [r for r in results if r.scores is None]
    if not todo:
        return results

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
