"""The store's SQL stays in workbench/store/: callers get Arrow tables, never SQL text, a cursor or the catalog.

Read from the source (AST and the string literals), so a new leak fails here before it ships: no SQL naming a
store table outside the store, no store function that takes or hands out a connection used outside it, no
connection opened on a file outside it, and nothing outside it asking the Store for a connection.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "workbench"
STORE = PACKAGE / "store"
TABLES = ("run_rows", "run_top_rows", "runs", "scores", "score_sets", "qrels", "collections", "topics", "documents",
          "meta", "benchmarks", "benchmark_collections")
STORE_SQL = re.compile(rf"\b(FROM|JOIN|INTO|UPDATE|TABLE)\s+({'|'.join(TABLES)})\b", re.IGNORECASE)
# a catalog of the caller's own that the store file would join (ATTACH takes the path as a quoted literal)
ATTACH = re.compile(r"\bATTACH\s+(DATABASE\s+)?(IF\s+NOT\s+EXISTS\s+)?'", re.IGNORECASE)


def _outside_store() -> list[Path]:
    files = [p for p in PACKAGE.rglob("*.py") if STORE not in p.parents]
    return [*files, ROOT / "app.py"]


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _connection_functions() -> set[str]:
    """Top-level functions of workbench/store that take a DuckDB connection or cursor (a `con`/`cur` parameter,
    or one annotated as a DuckDB connection), or hand one out (annotated to return one)."""
    out = set()
    for path in STORE.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            annotations = [ast.unparse(a.annotation) for a in args if a.annotation is not None]
            returns = ast.unparse(node.returns) if node.returns is not None else ""
            if any(a.arg in ("con", "cur", "cursor") for a in args) or any(
                    "DuckDBPyConnection" in a for a in (*annotations, returns)):
                out.add(node.name)
    return out


def test_no_sql_against_the_store_outside_the_store():
    leaks = []
    for path in _outside_store():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            for pattern in (STORE_SQL, ATTACH):
                if found := pattern.search(node.value):
                    leaks.append(f"{_name(path)}:{node.lineno}: {found.group(0)}")
    assert not leaks, leaks


def test_no_connection_level_store_function_is_used_outside_the_store():
    """What the store hands out is Arrow (or a record); a function of it that works on a connection is its own."""
    private = _connection_functions()
    assert {"arrow", "qrels_in", "insert_scores", "scored_keys_in"} <= private  # the scan finds what it should
    leaks = []
    for path in _outside_store():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("workbench.store"):
                for alias in node.names:
                    if alias.name in private or alias.name.startswith("_"):
                        leaks.append(f"{_name(path)}:{node.lineno}: {alias.name}")
    assert not leaks, leaks


def test_nothing_outside_the_store_asks_it_for_a_connection_or_opens_a_file():
    """`Store.reader()`/`writer()` lend the store's connection; `duckdb.connect(path)` would open the file itself.
    In-memory connections of an analysis's own (`duckdb.connect()`) are fine: they hold Arrow the store gave."""
    leaks = []
    for path in _outside_store():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = ast.unparse(node.func)
            lends = func.endswith((".reader", ".writer")) and not node.args  # csv.writer(file) is not the store
            if lends or func.endswith(".retry_locked"):
                leaks.append(f"{_name(path)}:{node.lineno}: {func}()")
            if func == "duckdb.connect" and (node.args or node.keywords):
                leaks.append(f"{_name(path)}:{node.lineno}: {ast.unparse(node)}")
    assert not leaks, leaks


def test_the_scan_sees_a_leak():
    """The checks above are not vacuous: the patterns they look for match the leaks they are meant to catch."""
    assert STORE_SQL.search("SELECT query_id FROM qrels WHERE collection = ?")
    assert STORE_SQL.search("x JOIN run_top_rows t USING (run_hash)")
    assert not STORE_SQL.search("SELECT * FROM fr WHERE frank IS NOT NULL")
    assert ATTACH.search("ATTACH '/tmp/store.duckdb' AS s") and ATTACH.search("attach database '")
    assert not ATTACH.search("(ATTACH + INSERT ... SELECT: half the CPU)")
    assert "judged_ranks" not in _connection_functions()  # takes the Store, gives Arrow


def test_the_store_interface_takes_the_store_and_gives_arrow_or_records():
    """Every function `workbench.store` exports takes the Store handle first (a second backend's handle in its
    place) and names no DuckDB type in its signature, nor does any record it exports in its fields (ingest hands
    `put_runs` parsed runs as `NewRun`): what crosses is Arrow tables, frames and records."""
    import dataclasses
    import inspect

    import workbench.store as store

    assert "put_runs" in store.__all__ and dataclasses.is_dataclass(store.NewRun)
    for name in store.__all__:
        obj = getattr(store, name)
        if dataclasses.is_dataclass(obj):
            for field in dataclasses.fields(obj):
                assert "duckdb" not in str(field.type).lower(), (name, field.name, field.type)
        if not inspect.isfunction(obj):
            continue
        signature = inspect.signature(obj)
        assert "duckdb" not in str(signature).lower(), (name, signature)
        params = list(signature.parameters)
        if name not in ("default_db_path", "same_metadata"):  # a path; two records compared
            assert params[0] == "store", (name, params)


def test_outside_the_store_only_the_interface_is_imported():
    """Use cases import `workbench.store` (the interface), not its modules; the lake's side of the exchange
    (`store.exchange`, Arrow in and out) is the one exception."""
    leaks = []
    for path in _outside_store():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("workbench.store."):
                continue
            if node.module == "workbench.store.exchange" and _name(path).startswith("workbench/lake/"):
                continue
            names = {a.name for a in node.names}
            leaks.append(f"{_name(path)}:{node.lineno}: from {node.module} import {', '.join(sorted(names))}")
    assert not leaks, leaks
