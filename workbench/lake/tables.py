"""The lake: the store's data as Delta Lake tables (Parquet files + a transaction log) under one URI.

Every table is keyed by content, like the store: data lives in partitions named by content hash (a run's rows
under (collection, run_hash), a collection's qrels under (collection, qrels_hash), ...), and an entry in a small
table (`collections`, `runs`, `score_sets`) makes it visible. Writers commit the data first and the entry last,
each in one Delta commit, so a reader that goes through the entries never sees half of anything; a writer killed
in between leaves complete, unreferenced data that the next push of the same content reuses.

Concurrency is Delta's optimistic concurrency: appends never conflict, so every write that must happen once
conflicts on purpose. Data partitions are written with an overwrite restricted to their own partition (two
writers of the same partition conflict; the loser finds it present and stops), entries with a MERGE that inserts
only keys not yet present (two writers of the same key conflict; the loser re-reads and finds the winner's row).
A conflicting commit is retried on a fresh snapshot, with jittered backoff, up to COMMIT_ATTEMPTS times.

`deltalake` (delta-rs, no JVM) is imported here only: the local engine runs without it.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
from pyarrow import fs

from workbench.errors import ProviderUnavailableError, WorkbenchError

if TYPE_CHECKING:
    from deltalake import DeltaTable

LAKE_VERSION = "1"
INSTALL_HINT = "pip install 'workbench[scale]'"
COMMIT_ATTEMPTS = 40
"""Commits retried after a conflict (jittered backoff from 0.05 s, doubling, capped at 2 s: about a minute)."""
SCHEMES = ("file", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")
"""URI schemes the lake takes: local paths (and file://) are tested here; the object stores go through
delta-rs's object_store support (see docs/lake.md)."""

_TS = pa.timestamp("us", tz="UTC")
_KEY_TEXT = re.compile(r"[^\x00-\x1f\x7f]*")

T = TypeVar("T")

_read_through_python_filesystem: set[str] = set()
"""Lakes this process read through deltalake's Python file system (object stores; see Lake._local_filesystem)."""


def read_through_python_filesystem() -> bool:
    """Whether this process read a lake through deltalake's Python file system: Arrow threads may still free
    Python-owned buffers after the command ended, so the console script ends without finalizing the interpreter
    (workbench.cli.main)."""
    return bool(_read_through_python_filesystem)


@dataclass(frozen=True)
class TableSpec:
    """One lake table: its Arrow schema, partition columns, the columns that identify a row (entries) and what
    it holds (written into the table's Delta metadata)."""

    name: str
    schema: pa.Schema
    partition_by: tuple[str, ...]
    key: tuple[str, ...]
    description: str


def _schema(*fields: tuple[str, pa.DataType, bool]) -> pa.Schema:
    return pa.schema([pa.field(n, t, nullable=nullable) for n, t, nullable in fields])


S, I64, I32, F64 = pa.string(), pa.int64(), pa.int32(), pa.float64()
TABLES: dict[str, TableSpec] = {t.name: t for t in [
    TableSpec("collections", _schema(
        ("name", S, False), ("relevance_kind", S, False), ("qrels_hash", S, False), ("topics_hash", S, True),
        ("docs_hash", S, True), ("source", S, True), ("n_queries", I64, True), ("n_judgments", I64, True),
        ("n_topics", I64, True), ("n_docs", I64, True), ("pushed_at", _TS, True), ("topic_field", S, True),
        ("grade_map", S, True), ("report", S, True), ("warnings", S, True)),
        (), ("name",), "collections: one entry per name; its qrels/topics/documents hashes say which partitions"),
    TableSpec("qrels", _schema(
        ("collection", S, False), ("qrels_hash", S, False), ("query_id", S, False), ("doc_id", S, False),
        ("relevance", I64, False)),
        ("collection", "qrels_hash"), (), "judgments, one partition per (collection, qrels_hash)"),
    TableSpec("topics", _schema(
        ("collection", S, False), ("topics_hash", S, False), ("query_id", S, False), ("text", S, True),
        ("title", S, True), ("description", S, True), ("narrative", S, True)),
        ("collection", "topics_hash"), (), "topics, one partition per (collection, topics_hash)"),
    TableSpec("documents", _schema(
        ("collection", S, False), ("docs_hash", S, False), ("doc_id", S, False), ("title", S, True),
        ("text", S, True)),
        ("collection", "docs_hash"), (), "documents, one partition per (collection, docs_hash)"),
    TableSpec("runs", _schema(
        ("collection", S, False), ("name", S, False), ("run_hash", S, False), ("rows_hash", S, False),
        ("kind", S, True), ("parent", S, True), ("depth", I64, True), ("source_path", S, True),
        ("run_tag", S, True), ("n_queries", I64, False), ("n_rows", I64, False), ("metadata_header", S, True),
        ("params", S, True), ("software", S, True), ("warnings", S, True), ("ingested_at", S, True),
        ("pushed_at", _TS, True)),
        ("collection",), ("collection", "name"), "runs: one entry per (collection, name) pointing at its rows"),
    TableSpec("run_rows", _schema(
        ("collection", S, False), ("run_hash", S, False), ("query_id", S, False), ("doc_id", S, False),
        ("score", F64, False), ("rank", I64, False), ("position", I32, False)),
        ("collection", "run_hash"), (),
        "run rows in trec_eval order (query_id, position), one partition per (collection, run_hash)"),
    TableSpec("score_sets", _schema(
        ("collection", S, False), ("run_hash", S, False), ("qrels_hash", S, False), ("measure", S, False),
        ("semantics", S, False), ("evaluator", S, False), ("n_queries", I64, False), ("mean", F64, True),
        ("total", F64, True), ("scored_at", _TS, True), ("scored_by", S, True)),
        ("collection",), ("collection", "run_hash", "qrels_hash", "measure", "semantics", "evaluator"),
        "score sets: one entry per (run, qrels, measure, semantics, evaluator) whose per-query values are complete"),
    TableSpec("scores", _schema(
        ("collection", S, False), ("run_hash", S, False), ("qrels_hash", S, False), ("measure", S, False),
        ("semantics", S, False), ("evaluator", S, False), ("query_id", S, False), ("value", F64, False)),
        ("collection", "run_hash"),
        ("collection", "run_hash", "qrels_hash", "measure", "semantics", "evaluator", "query_id"),
        "per-query values, one partition per (collection, run_hash)"),
]}


def deltalake_module():
    """The deltalake package, or a one-line ProviderUnavailableError saying how to install it."""
    try:
        import deltalake
    except ImportError as e:
        raise ProviderUnavailableError("the lake needs the deltalake package", hint=INSTALL_HINT) from e
    return deltalake


def normalise_uri(uri: str) -> str:
    """An absolute local path (so Ray workers on this machine read the same folder), or an object-store URI as
    given. Refuses other schemes and control characters with one line."""
    if not uri or not _KEY_TEXT.fullmatch(uri):
        raise WorkbenchError(f"lake URI {uri!r}: expected a local path or a URI on one line")
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", uri)
    if scheme is None:
        return str(Path(uri).expanduser().absolute())
    name = scheme.group(1).lower()
    if name not in SCHEMES:
        raise WorkbenchError(f"lake URI {uri!r}: unsupported scheme {name!r}; expected a local path or "
                             f"{', '.join(s + '://' for s in SCHEMES)}")
    if name == "file":
        return str(Path(uri[len("file://"):]).absolute())
    return uri.rstrip("/")


def parse_storage_options(pairs: Sequence[str] | None) -> dict[str, str]:
    """KEY=VALUE pairs (the CLI's --storage-option) as deltalake's storage_options."""
    out: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise WorkbenchError(f"storage option {pair!r}: expected KEY=VALUE, e.g. AWS_REGION=eu-west-1")
        out[key.strip()] = value
    return out


def literal(value: str) -> str:
    """A SQL string literal for a delta-rs predicate (which takes no bound parameters)."""
    if not _KEY_TEXT.fullmatch(value):
        raise WorkbenchError(f"value {value!r} cannot be used in a lake predicate (control characters)")
    return "'" + value.replace("'", "''") + "'"


def now() -> datetime:
    return datetime.now(UTC)


def with_columns(table: pa.Table, spec: TableSpec, **constants: Any) -> pa.Table:
    """`table` with `constants` added as columns, cast to `spec`'s schema in its column order; nullable columns
    `table` lacks are null (a store that does not record them)."""
    n = table.num_rows
    cols = {f.name: pa.nulls(n, f.type) for f in spec.schema if f.nullable}
    cols.update({name: table[name] for name in table.column_names})
    for name, value in constants.items():
        typ = spec.schema.field(name).type
        cols[name] = value if isinstance(value, pa.Array | pa.ChunkedArray) else pa.array([value] * n, typ)
    return pa.table({f.name: cols[f.name] for f in spec.schema}).cast(spec.schema)


class Lake:
    """A handle on the lake at `uri` (no connection is held: every read loads the table's current snapshot)."""

    def __init__(self, uri: str, storage_options: dict[str, str] | None = None) -> None:
        self.uri = normalise_uri(uri)
        self.storage_options = dict(storage_options or {})
        self.is_local = "://" not in self.uri
        self._dl = deltalake_module()

    def __repr__(self) -> str:
        return f"Lake({self.uri!r})"

    def table_uri(self, name: str) -> str:
        return f"{self.uri}/{name}"

    def exists(self) -> bool:
        """Whether a workbench lake is at the URI (its `collections` table is there)."""
        try:
            return self._dl.DeltaTable.is_deltatable(self.table_uri("collections"), self.storage_options)
        except Exception as e:  # an unreachable bucket, a bad credential: one line
            raise self.error("cannot read the lake", e) from None

    def error(self, what: str, exc: BaseException) -> WorkbenchError:
        text = " ".join(str(exc).split())
        return WorkbenchError(f"lake {self.uri}: {what}: {text[:300]}")

    def check_target(self) -> None:
        """Before a first write: a local folder that holds other things is not made a lake (a typo in --to would
        otherwise scatter eight tables into a home folder)."""
        if not self.is_local or self.exists():
            return
        path = Path(self.uri)
        if path.exists() and not path.is_dir():
            raise WorkbenchError(f"lake {self.uri}: is a file; expected a folder (new or empty) or a lake")
        if path.is_dir() and any(p.name not in TABLES for p in path.iterdir()):
            raise WorkbenchError(f"lake {self.uri}: the folder holds files that are not a workbench lake; "
                                 "give a new or empty folder")

    def ensure_tables(self) -> None:
        """Create the tables that do not exist yet (concurrent creators: the loser loads the winner's table).

        A create is committed without delta-rs's retries: a creator that lost the race for version 0 would
        otherwise commit its CREATE again as version 1 (seen with six processes creating one table: the
        table's metadata, and its id, replaced under the first creator's writers)."""
        for spec in TABLES.values():
            self.table(spec.name, create=True)

    def table(self, name: str, *, create: bool = False, version: int | None = None) -> DeltaTable:
        """The table's current snapshot (or `version`); created empty when `create` and absent."""
        spec = TABLES[name]
        uri = self.table_uri(name)
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                dt = self._dl.DeltaTable(uri, version=version, storage_options=self.storage_options or None)
            except self._dl.exceptions.TableNotFoundError:
                if not create:
                    raise WorkbenchError(f"lake {self.uri}: no table {name!r}; is this a workbench lake?",
                                         hint="create one with `workbench lake push --to URI`") from None
                try:  # version 0 is written if absent; a creator that finds it written fails and loads it
                    self._dl.DeltaTable.create(uri, spec.schema, partition_by=list(spec.partition_by) or None,
                                               mode="ignore", name=name,
                                               description=f"workbench lake v{LAKE_VERSION}: {spec.description}",
                                               storage_options=self.storage_options or None,
                                               commit_properties=self._dl.CommitProperties(max_commit_retries=0))
                except Exception:  # another process created it meanwhile: load theirs
                    _backoff(attempt)
                continue
            except OSError as e:
                raise self.error(f"cannot open table {name!r}", e) from None
            except self._dl.exceptions.DeltaError as e:
                raise self.error(f"cannot open table {name!r}", e) from None
            self._check_version(dt, name)
            return dt
        raise WorkbenchError(f"lake {self.uri}: table {name!r} could not be created")

    def _check_version(self, dt: DeltaTable, name: str) -> None:
        description = dt.metadata().description or ""
        found = re.match(r"workbench lake v(\d+):", description)
        if found is None:
            raise WorkbenchError(f"lake {self.uri}: table {name!r} is not a workbench lake table")
        if found.group(1) != LAKE_VERSION:
            raise WorkbenchError(f"lake {self.uri}: table {name!r} is lake version {found.group(1)}; this "
                                 f"workbench reads version {LAKE_VERSION}", hint="upgrade the workbench")

    # ---------------------------------------------------------------------------------------------------- reads
    def read(self, name: str, *, where: list[tuple] | None = None, columns: Sequence[str] | None = None,
             dt: DeltaTable | None = None, row_filter=None) -> pa.Table:
        """Rows of a table: `where` selects partitions (tuple filters, values bound, not pasted), `row_filter`
        (a pyarrow.dataset expression) rows within them."""
        dt = dt if dt is not None else self.table(name)
        try:
            options: dict[str, Any] = {"file_pruning_predicate": where} if where else {}
            if self.is_local:
                options["filesystem"] = self._local_filesystem(name)
            else:
                _read_through_python_filesystem.add(self.uri)
            dataset = dt.to_pyarrow_dataset(**options)
            return dataset.to_table(columns=list(columns) if columns else None, filter=row_filter)
        except (OSError, self._dl.exceptions.DeltaError) as e:
            raise self.error(f"cannot read table {name!r}", e) from None

    def _local_filesystem(self, name: str):
        """Arrow's own file system rooted at a local table, for its data files.

        deltalake's default is a pyarrow PyFileSystem over delta-rs's object store, whose reads hand Arrow buffers
        owned by Python objects. Arrow frees the last of them on one of its I/O threads, sometimes just after
        `to_table` returned; if the interpreter is finalizing by then (a command that read the lake and ended, as a
        refused push does), that thread's attempt to take the GIL ends it with pthread_exit inside a C++ destructor
        and the process aborts ("terminate called without an active exception", exit -6; apache/arrow#34314,
        #45017). Arrow's local file system owns its buffers, so no Arrow thread ever needs the GIL. Object stores
        keep deltalake's file system: pyarrow's S3/GCS/Azure file systems read credentials their own way.
        """

        return fs.SubTreeFileSystem(self.table_uri(name), fs.LocalFileSystem())

    def partitions(self, name: str, where: list[tuple]) -> list[dict[str, str]]:
        """The partitions of a table that hold files (partition values of each), among those `where` selects."""
        return self.table(name).partitions(file_pruning_predicate=where)

    # --------------------------------------------------------------------------------------------------- writes
    def write_partitions(self, name: str, partition: dict[str, str | list[str]],
                         data: Callable[[], pa.Table | pa.RecordBatchReader]) -> bool:
        """Write the partitions `partition` names (a value or a list of values per partition column) with
        `data()`, unless every one of them already holds files; returns whether anything was written.

        An overwrite restricted to those partitions: two writers of the same partition conflict, and the loser
        finds them present on its retry. A partition is content-addressed, so there is nothing to merge.
        """
        spec = TABLES[name]
        where = _where(partition)
        predicate = _predicate(spec, partition)
        wanted = _combinations(partition)

        def attempt() -> bool:
            dt = self.table(name, create=True)
            present = {tuple(p[k] for k in spec.partition_by) for p in dt.partitions(file_pruning_predicate=where)}
            if wanted <= present:
                return False
            self._dl.write_deltalake(dt, data(), mode="overwrite", predicate=predicate,
                                     writer_properties=_writer_properties(self._dl))
            return True

        return self.retrying(f"writing {name}", attempt)

    def insert_new(self, name: str, rows: pa.Table, *, partition: dict[str, str | list[str]] | None = None) -> int:
        """Add the `rows` whose key the table does not hold yet; returns how many were added.

        A read-modify-write of the partitions `partition` names (the whole table when None), committed as an
        overwrite restricted to them: a concurrent writer of the same partitions makes the commit conflict, and
        the retry reads the winner's rows. The overwrite always carries a predicate, also for the whole table
        (see `_predicate`): without one, a commit after a concurrent one that only added files (the first entries
        of a new table) would not conflict, and both writers' rows would stay.

        Not a Delta MERGE: delta-rs 1.6 writes MERGE output with Arrow `string_view` columns, which pyarrow 26
        cannot filter (DuckDB and pandas readers of the lake would fail on any WHERE clause); an overwrite writes
        plain strings.
        """
        spec = TABLES[name]
        if rows.num_rows == 0:
            return 0
        rows = rows.select([f.name for f in spec.schema]).cast(spec.schema)
        where = _where(partition or {})
        predicate = _predicate(spec, partition or {})

        def attempt() -> int:
            dt = self.table(name, create=True)
            old = self.read(name, where=where or None, dt=dt).select([f.name for f in spec.schema]).cast(spec.schema)
            fresh = rows.join(old.select(list(spec.key)), keys=list(spec.key), join_type="left anti")
            fresh = fresh.select([f.name for f in spec.schema]).cast(spec.schema)
            if fresh.num_rows == 0:
                return 0
            self._dl.write_deltalake(dt, pa.concat_tables([old, fresh]), mode="overwrite", predicate=predicate,
                                     writer_properties=_writer_properties(self._dl))
            return fresh.num_rows

        return self.retrying(f"writing {name}", attempt)

    def retrying(self, what: str, attempt: Callable[[], T]) -> T:
        """Run `attempt` until it commits without a conflict (each try starts from a fresh snapshot)."""
        for i in range(COMMIT_ATTEMPTS):
            try:
                return attempt()
            except self._dl.exceptions.CommitFailedError:
                _backoff(i)
            except (OSError, self._dl.exceptions.DeltaError) as e:
                if "version" in str(e).lower() and "exist" in str(e).lower():  # lost the race for a log entry
                    _backoff(i)
                    continue
                raise self.error(what, e) from None
        raise WorkbenchError(f"lake {self.uri}: {what}: still conflicting after {COMMIT_ATTEMPTS} attempts",
                             hint="other writers keep the table busy; try again")

    def versions(self) -> dict[str, int]:
        """Each table's current version (what a reader sees now)."""
        return {name: self.table(name).version() for name in TABLES}


def _where(partition: dict[str, str | list[str]]) -> list[tuple]:
    """The partitions `partition` names as deltalake tuple filters (values bound, not pasted)."""
    return [(k, "in" if isinstance(v, list) else "=", v) for k, v in partition.items()]


def _predicate(spec: TableSpec, partition: dict[str, str | list[str]]) -> str:
    """The predicate of an overwrite of the partitions `partition` names, the whole table when it names none.

    It is also what delta-rs's conflict check takes the commit to have read: a concurrent commit that added
    files matching it makes this commit fail (CommitFailedError), and the retry starts from a fresh snapshot.
    An overwrite without a predicate declares no read: if the concurrent commit removed nothing this one read
    (both read an empty table), both commits go through and both writers' rows stay. That was the race of four
    pushers of one new collection, which left its entry two or three times in `collections` (the one table
    without partitions). So the whole table is named too: "<first key column> IS NOT NULL", true of every row
    (key columns are not nullable) and of every file a concurrent writer can add.
    """
    if not partition:
        return f"{spec.key[0]} IS NOT NULL"
    return " AND ".join(f"{k} IN ({', '.join(map(literal, v))})" if isinstance(v, list) else f"{k} = {literal(v)}"
                        for k, v in partition.items())


def _combinations(partition: dict[str, str | list[str]]) -> set[tuple[str, ...]]:
    combos: list[tuple[str, ...]] = [()]
    for v in partition.values():
        combos = [(*c, x) for c in combos for x in (v if isinstance(v, list) else [v])]
    return set(combos)


ROW_GROUP_ROWS = 262_144
"""Rows per Parquet row group. A run's rows are stored in query order, so a unit of work that reads a range of
query ids skips the row groups outside it by their min/max statistics (delta-rs's default, a million rows, would
put a whole run in one row group and make every query block read all of it). The price: on 600k random run rows,
7.3 bytes per row against 6.3 with million-row groups (8.1 at 131,072)."""


def _writer_properties(dl):
    """zstd: a third smaller than the default snappy on run rows (doc ids and scores), read as fast."""
    return dl.WriterProperties(compression="ZSTD", compression_level=3, max_row_group_size=ROW_GROUP_ROWS)


def _backoff(attempt: int) -> None:
    time.sleep(min(2.0, 0.05 * 2 ** attempt) * (0.5 + random.random()))


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def process_tag() -> str:
    """Who wrote an entry: host and process id (recorded as `scored_by`)."""
    return f"{os.uname().nodename}:{os.getpid()}"
