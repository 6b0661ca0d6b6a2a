"""Short-lived DuckDB connections under DuckDB's single-writer rule.

DuckDB lets one process hold a database file read-write, or many processes hold it read-only, never both.
The CLI and the dashboard therefore never keep a connection open: every operation opens, works and closes.
A writer that finds the file locked waits (telling the user once) and retries; a reader retries the same way,
so neither side ever shows a lock error unless the other holds the file for longer than the timeout.
Each write is one transaction: a crash or an error leaves the store exactly as it was.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TypeVar

import duckdb

from workbench.env import env_seconds, env_text
from workbench.errors import StoreError, StoreLockedError

SCHEMA_VERSION = "4"
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
                    raise StoreError(f"{self.path}: cannot open the store: {exc}") from exc
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

    def ensure_schema(self) -> None:
        """Create the tables on first use (idempotent).

        A file checked once in this process is not checked again by later handles on it while it is unchanged
        (the dashboard makes a handle per read, and the check is a connection of its own); any write, or another
        file at the path, makes the next handle check again.
        """
        if self._schema_ready:
            return
        file_id = self._file_id()
        if file_id is not None and file_id in _CURRENT_FILES:
            self._schema_ready = True
            return
        self._check_or_create()
        if (file_id := self._file_id()) is not None:
            _CURRENT_FILES.add(file_id)

    def _check_or_create(self) -> None:
        if self.path.exists():
            con = self._connect(read_only=True)
            try:
                row = (
                    one(con.execute("SELECT value FROM meta WHERE key = 'schema_version'"))
                    if _has_table(con, "meta")
                    else None
                )
            finally:
                con.close()
            if row is not None:
                if row[0] != SCHEMA_VERSION:
                    self._migrate(row[0])
                self._schema_ready = True
                return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._connect(read_only=False)
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(resources.files("workbench.store").joinpath("schema.sql").read_text())
            con.execute("INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING", [SCHEMA_VERSION])
            con.execute("COMMIT")
        finally:
            con.close()
        self._schema_ready = True

    def _migrate(self, version: str) -> None:
        """Bring an older store to SCHEMA_VERSION, one version per transaction (its data untouched)."""
        if version not in _MIGRATIONS and version != SCHEMA_VERSION:
            raise StoreError(f"{self.path}: store schema version {version} is not the supported {SCHEMA_VERSION}")
        con = self._connect(read_only=False)
        try:
            while version != SCHEMA_VERSION:
                con.execute("BEGIN TRANSACTION")
                current = one(con.execute("SELECT value FROM meta WHERE key = 'schema_version'"))[0]
                if current == version:  # not migrated meanwhile by another process
                    for statement in _MIGRATIONS[version]:
                        con.execute(statement)
                    version = str(int(version) + 1)
                    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [version])
                else:
                    version = current
                con.execute("COMMIT")
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
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection inside one transaction: committed on success, rolled back on any error."""
        cons, key = self._shared()
        if key in cons:
            raise RuntimeError(f"{self.path}: a write inside a reading() block (the file is open read-only)")
        self.ensure_schema()
        con = self._connect(read_only=False)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return one(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]))[0] > 0


def one(cursor: duckdb.DuckDBPyConnection) -> tuple | None:
    """The first row of a result, draining it: DuckDB 2.0 refuses new work while a result is unfinished."""
    rows = cursor.fetchall()
    return rows[0] if rows else None


def arrow(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None):
    """A query's result as an Arrow table without the DB-API result's extra copy."""
    return con.sql(query, params=params).to_arrow_table()
