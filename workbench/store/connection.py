"""Short-lived DuckDB connections under DuckDB's single-writer rule.

DuckDB lets one process hold a database file read-write, or many processes hold it read-only, never both.
The CLI and the dashboard therefore never keep a connection open: every operation opens, works and closes.
A writer that finds the file locked waits (telling the user once) and retries; a reader retries the same way,
so neither side ever shows a lock error unless the other holds the file for longer than the timeout.
Each write is one transaction: a crash or an error leaves the store exactly as it was, and it commits through
`interrupts.commit`, so a Ctrl-C either rolls it back or waits for its COMMIT to finish.

Only an operation that adds data creates a store (`create=True`: adding a collection). Everything else refuses a
path where there is no store, and no operation writes into a file that is not a workbench store (a DuckDB file of
the user's own, a text file): it is opened read-only to find out, and refused.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from importlib import resources
from pathlib import Path
from typing import TypeVar

import duckdb

from workbench import interrupts
from workbench.env import env_seconds, env_text
from workbench.errors import StoreError, StoreLockedError

SCHEMA_VERSION = "6"
TOP_DEPTH = 100
"""run_top_rows holds each run's rows down to this trec_eval position (see schema.sql)."""
_MIGRATIONS = {  # from version: statements that bring a store to the next version, in one transaction
    "1": [
        # run_rows gains each row's trec_eval position (the table is rewritten: rows and rank untouched)
        """CREATE TABLE run_rows_v2 (run_hash VARCHAR, query_id VARCHAR,
                                     doc_id VARCHAR USING COMPRESSION uncompressed, score DOUBLE, rank BIGINT,
                                     position INTEGER)""",
        """INSERT INTO run_rows_v2 SELECT run_hash, query_id, doc_id, score, rank,
                  row_number() OVER (PARTITION BY run_hash, query_id ORDER BY score DESC, doc_id DESC)
           FROM run_rows""",
        "DROP TABLE run_rows",
        "ALTER TABLE run_rows_v2 RENAME TO run_rows",
        "ALTER TABLE score_sets ADD COLUMN mean DOUBLE",
        "ALTER TABLE score_sets ADD COLUMN total DOUBLE",
        """UPDATE score_sets SET mean = a.mean, total = a.total
           FROM (SELECT run_hash, qrels_hash, measure, semantics, evaluator, avg(value) AS mean, sum(value) AS total
                 FROM scores GROUP BY ALL) a
           WHERE score_sets.run_hash = a.run_hash AND score_sets.qrels_hash = a.qrels_hash
             AND score_sets.measure = a.measure AND score_sets.semantics = a.semantics
             AND score_sets.evaluator = a.evaluator""",
    ],
    "2": [
        # run_top_rows: each run's top TOP_DEPTH rows copied out of run_rows (which is untouched)
        """CREATE TABLE run_top_rows (run_hash VARCHAR, query_id VARCHAR,
                                      doc_id VARCHAR USING COMPRESSION uncompressed, score DOUBLE, rank BIGINT,
                                      position INTEGER)""",
        f"INSERT INTO run_top_rows SELECT * FROM run_rows WHERE position <= {TOP_DEPTH}",
    ],
    "3": [
        # collections record how their topics and grades were read and what their report found (NULL until a
        # collection is added again: its report is then computed when asked for); topics keep their TREC fields
        "ALTER TABLE collections ADD COLUMN IF NOT EXISTS topic_field VARCHAR",
        "ALTER TABLE collections ADD COLUMN IF NOT EXISTS grade_map VARCHAR",
        "ALTER TABLE collections ADD COLUMN IF NOT EXISTS report VARCHAR",
        "ALTER TABLE collections ADD COLUMN IF NOT EXISTS warnings VARCHAR",
        "ALTER TABLE topics ADD COLUMN IF NOT EXISTS title VARCHAR",
        "ALTER TABLE topics ADD COLUMN IF NOT EXISTS description VARCHAR",
        "ALTER TABLE topics ADD COLUMN IF NOT EXISTS narrative VARCHAR",
    ],
    "4": [
        # several qrels per collection: named judgment sets beside the collection's own (see schema.sql)
        """CREATE TABLE IF NOT EXISTS qrels_sets (collection VARCHAR NOT NULL, name VARCHAR NOT NULL,
                                                  qrels_hash VARCHAR NOT NULL, source VARCHAR, grade_map VARCHAR,
                                                  n_queries INTEGER, n_judgments BIGINT,
                                                  created_at TIMESTAMP DEFAULT current_timestamp,
                                                  PRIMARY KEY (collection, name))""",
        """CREATE TABLE IF NOT EXISTS qrels_set_rows (collection VARCHAR, name VARCHAR, query_id VARCHAR,
                                                      doc_id VARCHAR, relevance BIGINT)""",
    ],
    "5": [
        # benchmarks: named groups of collections (see schema.sql); nothing else changes
        """CREATE TABLE IF NOT EXISTS benchmarks (name VARCHAR PRIMARY KEY, description VARCHAR, source VARCHAR,
                                                  created_at TIMESTAMP DEFAULT current_timestamp)""",
        """CREATE TABLE IF NOT EXISTS benchmark_collections (benchmark VARCHAR NOT NULL, position INTEGER NOT NULL,
                                                             collection VARCHAR NOT NULL,
                                                             PRIMARY KEY (benchmark, position))""",
    ],
}
DEFAULT_DB = "workbench.duckdb"
DEFAULT_LOCK_TIMEOUT = 600.0
"""Seconds a command waits for a store another process holds, unless $WORKBENCH_LOCK_TIMEOUT says otherwise."""

_SHARED = threading.local()  # .cons: {resolved store path: the read-only connection of an open `reading()` block}
_CURRENT_FILES: set[tuple] = set()  # (path, device, inode, size, mtime) of store files found at SCHEMA_VERSION
WaitCallback = Callable[[str], None]
T = TypeVar("T")


def default_db_path() -> Path:
    """`$WORKBENCH_DB`, else ./workbench.duckdb."""
    return Path(env_text("WORKBENCH_DB") or DEFAULT_DB)


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def first_line(exc: BaseException) -> str:
    """DuckDB's message without its multi-line context (errors are printed as one line)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def no_store(path: Path) -> StoreError:
    return StoreError(
        f"{path}: no store here",
        hint=f"create one with `workbench --db {path} collection add NAME --qrels FILE`, or point --db or "
             "$WORKBENCH_DB at an existing store")


def not_a_store(path: Path, why: str) -> StoreError:
    return StoreError(f"{path}: not a workbench store ({why}); it was left as it is",
                      hint="give --db the path of a workbench store, or a new path to create one")


class Store:
    """A handle on one store file; cheap to create, holds no connection."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        lock_timeout: float | None = None,
        on_wait: WaitCallback | None = None,
    ) -> None:
        """`lock_timeout`: seconds to wait for a locked store (None: $WORKBENCH_LOCK_TIMEOUT, read when the store
        is first opened, else DEFAULT_LOCK_TIMEOUT)."""
        if lock_timeout is not None and not (math.isfinite(lock_timeout) and lock_timeout >= 0):
            raise StoreError(f"lock_timeout must be a finite number of seconds >= 0, got {lock_timeout!r}")
        self.path = Path(path) if path is not None else default_db_path()
        self.lock_timeout = lock_timeout
        self.on_wait = on_wait
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def version_token(self) -> tuple[float, int]:
        """Changes whenever the file changes; lets the dashboard invalidate cached reads without a connection."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return (0.0, 0)
        wal = self.path.with_name(self.path.name + ".wal")
        wal_mtime = wal.stat().st_mtime if wal.exists() else 0.0
        return (max(st.st_mtime, wal_mtime), st.st_size)

    def retry_locked(self, open_: Callable[[], T]) -> T:
        """Call `open_` until DuckDB stops refusing it for a lock held by another process.

        Waits with exponential backoff (telling the user once through `on_wait`) up to `lock_timeout`; any other
        DuckDB error is a StoreError at once. Every way of opening the store goes through here.
        """
        if self.lock_timeout is None:
            self.lock_timeout = env_seconds("WORKBENCH_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT)
        deadline = time.monotonic() + self.lock_timeout
        told = False
        delay = 0.02
        while True:
            try:
                return open_()
            except duckdb.Error as exc:
                if not _is_lock_error(exc):
                    raise StoreError(f"{self.path}: cannot open the store: {first_line(exc)}") from exc
                if time.monotonic() >= deadline:
                    raise StoreLockedError(
                        f"{self.path}: another process kept the store locked for {self.lock_timeout:.0f} s",
                        hint="close the other workbench process or raise WORKBENCH_LOCK_TIMEOUT",
                    ) from exc
                if not told and self.on_wait is not None:
                    self.on_wait(f"waiting for another process to release {self.path} ...")
                    told = True
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        con = self.retry_locked(lambda: duckdb.connect(str(self.path), read_only=read_only))
        # DuckDB draws a progress bar on stdout for statements over 2 s (a migration, a big insert), into the
        # output of `--json` commands; the setting is per connection, and cursors of it inherit it
        con.execute("SET enable_progress_bar = false")
        return con

    def _file_id(self) -> tuple | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return str(self.path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    def ensure_schema(self, *, create: bool = False) -> None:
        """Check that the file is a workbench store (migrating an older one); with `create`, make a new one.

        Without `create`, a missing path, a folder, or a file that is not a workbench store is refused with a
        StoreError and nothing is written (the check opens the file read-only). A file checked once in this
        process is not checked again by later handles on it while it is unchanged (the dashboard makes a handle
        per read, and the check is a connection of its own); any write, or another file at the path, makes the
        next handle check again.
        """
        if self._schema_ready:
            return
        file_id = self._file_id()
        if file_id is not None and file_id in _CURRENT_FILES:
            self._schema_ready = True
            return
        self._check_or_create(create)
        if (file_id := self._file_id()) is not None:
            _CURRENT_FILES.add(file_id)

    def _check_or_create(self, create: bool) -> None:
        if self.path.is_dir():
            raise not_a_store(self.path, "it is a folder")
        if self.path.exists():
            version, empty = self._stored_version()
            if version is not None:
                if version != SCHEMA_VERSION:
                    self._migrate(version)
                self._schema_ready = True
                return
            if not create:
                raise not_a_store(self.path, empty)
        elif not create:
            raise no_store(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot create the store: {exc.strerror or exc}") from exc
        con = self._connect(read_only=False)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(resources.files("workbench.store").joinpath("schema.sql").read_text())
                con.execute("INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
                            [SCHEMA_VERSION])
            except BaseException:
                interrupts.rollback(con)
                raise
            interrupts.commit(con, f"the new store {self.path}")
        except duckdb.Error as exc:
            raise write_failed(self.path, exc) from exc
        finally:
            con.close()
        self._schema_ready = True

    def _stored_version(self) -> tuple[str | None, str]:
        """(schema version, "") of the workbench store at the path; (None, what it is) for a DuckDB database without
        tables, which a new store may go into; StoreError for anything else (an empty file, a text file, a DuckDB
        database with tables of its own). Read-only: a file that is not a store is left byte for byte as it is."""
        if self.path.stat().st_size == 0:  # DuckDB cannot open it, not even to create a database in it
            raise not_a_store(self.path, "an empty file")
        try:
            con = self._connect(read_only=True)
        except StoreError as exc:
            if "not a valid DuckDB database" in str(exc.__cause__):
                raise not_a_store(self.path, "not a DuckDB file") from exc
            raise
        try:
            tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if not tables:
                return None, "a DuckDB database without tables"
            if "meta" not in tables:
                raise not_a_store(self.path, "a DuckDB database without the workbench's tables")
            try:
                row = one(con.execute("SELECT value FROM meta WHERE key = 'schema_version'"))
            except duckdb.Error:
                row = None
            if row is None or not isinstance(row[0], str):
                raise not_a_store(self.path, "a DuckDB database without the workbench's tables")
            return row[0], ""
        finally:
            con.close()

    def _migrate(self, version: str) -> None:
        """Bring an older store to SCHEMA_VERSION, one version per transaction (its data untouched)."""
        if version not in _MIGRATIONS and version != SCHEMA_VERSION:
            raise StoreError(f"{self.path}: store schema version {version} is not the supported {SCHEMA_VERSION}")
        con = self._connect(read_only=False)
        try:
            while version != SCHEMA_VERSION:
                con.execute("BEGIN TRANSACTION")
                try:
                    current = one(con.execute("SELECT value FROM meta WHERE key = 'schema_version'"))[0]  # type: ignore[index]  # always set
                    if current == version:  # not migrated meanwhile by another process
                        for statement in _MIGRATIONS[version]:
                            con.execute(statement)
                        version = str(int(version) + 1)
                        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [version])
                    else:
                        version = current
                except BaseException:
                    interrupts.rollback(con)
                    raise
                interrupts.commit(con, f"the migration of {self.path} to schema version {version}")
        except duckdb.Error as exc:
            raise write_failed(self.path, exc) from exc
        finally:
            con.close()

    def _shared(self) -> tuple[dict, str]:
        cons = getattr(_SHARED, "cons", None)
        if cons is None:
            cons = _SHARED.cons = {}
        return cons, str(self.path.resolve())

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One read-only connection for a group of reads: `reader()` calls on this file in this thread reuse it.

        A fresh connection to a big store pays 0.05-0.1 s on its first query (DuckDB loads the table's
        metadata again), so a dashboard view that makes ten reads opens one connection, not ten. The file is
        held read-only only for the block, as a single long read would hold it; no writer may open inside it.
        """
        cons, key = self._shared()
        if key in cons:  # nested: the outer block's connection serves
            yield
            return
        self.ensure_schema()
        cons[key] = self._connect(read_only=True)
        try:
            yield
        finally:
            cons.pop(key).close()

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for one query or a few; closed on exit (unless a `reading()` block lends its)."""
        cons, key = self._shared()
        if key in cons:
            yield cons[key]
            return
        self.ensure_schema()
        con = self._connect(read_only=True)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def writer(self, *, create: bool = False, what: str = "a change") -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection inside one transaction: committed on success, rolled back on any error.

        `create`: make the store when there is none (only operations that add data). `what` names the change
        for the message of a Ctrl-C that lands while it commits. A DuckDB error (a full disk, a failed write)
        becomes a one-line StoreError; the transaction is rolled back, so the store is unchanged.
        """
        cons, key = self._shared()
        if key in cons:
            raise RuntimeError(f"{self.path}: a write inside a reading() block (the file is open read-only)")
        self.ensure_schema(create=create)
        con = self._connect(read_only=False)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                interrupts.rollback(con)
                raise
            interrupts.commit(con, what)
        except duckdb.Error as exc:
            raise write_failed(self.path, exc) from exc
        finally:
            con.close()


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, **tables) -> Iterator[None]:
    """Arrow tables registered under these names for the block. After a failed statement DuckDB refuses all but
    a rollback, unregistering included: then that refusal must not hide the failure (a full disk) that caused it."""
    for name, table in tables.items():
        con.register(name, table)
    try:
        yield
    except BaseException:
        for name in tables:
            with suppress(duckdb.Error, RuntimeError):
                con.unregister(name)
        raise
    for name in tables:
        con.unregister(name)


def write_failed(path: str | Path, exc: BaseException) -> StoreError:
    """A write the store refused (a full disk, an I/O error): rolled back, so the store is as it was."""
    return StoreError(f"{path}: the write failed and was rolled back, the store is unchanged: {first_line(exc)}")


def one(cursor: duckdb.DuckDBPyConnection) -> tuple | None:  # None: no row
    """The first row of a result, draining it: DuckDB 2.0 refuses new work while a result is unfinished."""
    rows = cursor.fetchall()
    return rows[0] if rows else None


def arrow(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None):
    """A query's result as an Arrow table without the DB-API result's extra copy."""
    return con.sql(query, params=params).to_arrow_table()
