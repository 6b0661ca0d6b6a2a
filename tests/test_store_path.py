"""Issue 17 item 4 and issue 15: a mistyped --db is refused, and no command writes into a file that is not a store.

Only `collection add` (and `build`/`demo`, which add collections) create a store. Every other command refuses a
path where there is none with `error: PATH: no store here (...)`, exit 2, and creates nothing; a DuckDB file of
the user's own, a text file, an empty file or a folder is refused as "not a workbench store" and left byte for
byte as it was. The dashboard's "Store file" box goes through the same check and shows the same refusal.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import ROOT
from test_reliability_support import make_base_store

from workbench.app.common import WORD_JOINER
from workbench.app.pages import PAGES
from workbench.store.connection import SCHEMA_VERSION

QRELS = ROOT / "tests" / "data" / "trec_eval" / "qrels.test"
RUN = ROOT / "runs" / "dl20" / "bm25.trec"

COMMANDS = [  # every command that does not add a collection
    ["collection", "list"], ["collection", "show", "base"], ["collection", "remove", "base", "--yes"],
    ["runs", "list", "-c", "base"], ["runs", "show", "bm25", "-c", "base"], ["runs", "delete", "bm25", "-c", "base"],
    ["runs", "set", "bm25", "-c", "base", "--kind", "dense"], ["runs", "export", "-c", "base", "--out-dir", "OUT"],
    ["ingest", "-c", "base", str(RUN)], ["evaluate", "-c", "base"], ["export", "scores", "-c", "base"],
    ["leaderboard", "-c", "base"], ["compare", "-c", "base", "bm25", "dense"],
    ["depth", "-c", "base", "--reranked", "bm25"], ["fuse", "-c", "base", "bm25", "dense"],
    ["retrieve", "bm25", "-c", "base"], ["rerank", "-c", "base", "--run", "bm25"], ["serve", "--port", "1"],
]


def files_under(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def one_line_error(res) -> str:
    assert res.code == 2, res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.err, res.err
    return lines[0]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_missing_store_is_refused_and_nothing_is_created(cli, tmp_path, argv):
    folder = tmp_path / "here"
    folder.mkdir()
    db = folder / "mistyped.duckdb"
    argv = [str(folder / "out") if a == "OUT" else a for a in argv]
    line = one_line_error(cli(*argv, store=db))
    assert line == (f"error: {db}: no store here (create one with `workbench --db {db} collection add NAME --qrels "
                    "FILE`, or point --db or $WORKBENCH_DB at an existing store)")
    assert files_under(folder) == {}


def test_a_missing_store_in_a_missing_folder_creates_no_folder(cli, tmp_path):
    db = tmp_path / "a" / "b" / "s.duckdb"
    one_line_error(cli("runs", "list", "-c", "x", store=db))
    assert not (tmp_path / "a").exists()


def test_only_adding_a_collection_creates_a_store(cli, tmp_path):
    db = tmp_path / "new" / "deep" / "s.duckdb"
    assert cli("collection", "add", "base", "--qrels", QRELS, store=db).code == 0
    assert db.is_file()
    assert cli("collection", "list", "--json", store=db).json()[0]["name"] == "base"


def foreign_duckdb(path: Path) -> Path:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE measurements (x INTEGER)")
    con.execute("INSERT INTO measurements VALUES (1), (2)")
    con.execute("CREATE TABLE meta (k VARCHAR)")  # a table named like ours, of the user's own
    con.close()
    return path


@pytest.mark.parametrize("kind", ["duckdb", "text", "empty", "folder"])
@pytest.mark.parametrize("argv", [*COMMANDS, ["collection", "add", "base", "--qrels", str(QRELS)]],
                         ids=lambda a: " ".join(a[:2]) if isinstance(a, list) else a)
def test_a_file_that_is_not_a_store_is_refused_and_left_as_it_is(cli, tmp_path, argv, kind):
    folder = tmp_path / "here"
    folder.mkdir()
    path = folder / "data.duckdb"
    if kind == "duckdb":
        foreign_duckdb(path)
    elif kind == "text":
        path.write_text("qid\tdocid\n")
    elif kind == "empty":
        path.touch()
    else:
        path.mkdir()
    argv = [str(folder / "out") if a == "OUT" else a for a in argv]
    before = files_under(folder)
    line = one_line_error(cli(*argv, store=path))
    why = {"duckdb": "a DuckDB database without the workbench's tables", "text": "not a DuckDB file",
           "empty": "an empty file", "folder": "it is a folder"}[kind]
    assert line == (f"error: {path}: not a workbench store ({why}); it was left as it is (give --db the path of a "
                    "workbench store, or a new path to create one)")
    assert files_under(folder) == before


def test_an_empty_duckdb_database_may_become_a_store(cli, tmp_path):
    path = tmp_path / "s.duckdb"
    duckdb.connect(str(path)).close()  # a database with no tables holds nothing of the user's
    assert cli("collection", "add", "base", "--qrels", QRELS, store=path).code == 0
    assert cli("collection", "list", "--json", store=path).json()[0]["name"] == "base"


def test_an_older_workbench_store_is_still_migrated_by_a_read(cli, tmp_path):
    db, _ = make_base_store(tmp_path / "old")
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE run_top_rows")
    con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.close()
    res = cli("runs", "list", "-c", "base", "--json", store=db)
    assert res.code == 0 and sorted(r["name"] for r in res.json()) == ["bm25", "dense"]
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [(SCHEMA_VERSION,)]
    assert con.execute("SELECT count(*) FROM run_top_rows").fetchall() == [(100,)]
    con.close()


# ---------------------------------------------------------------------------------------------- dashboard
def sidebar(monkeypatch, path: Path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("WORKBENCH_DB", str(path))
    at = AppTest.from_file(ROOT / "app.py", default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def messages(at) -> list[str]:
    """The page's errors and warnings as the user reads them (the page escapes Markdown in user text)."""
    return [re.sub(r"\\(.)", r"\1", e.value).replace(WORD_JOINER, "") for e in [*at.error, *at.warning]]


def test_dashboard_refuses_a_foreign_duckdb_file_and_leaves_it(monkeypatch, tmp_path):
    path = foreign_duckdb(tmp_path / "data.duckdb")
    before = files_under(tmp_path)
    at = sidebar(monkeypatch, path)
    assert any(m.startswith(f"{path}: not a workbench store (a DuckDB database without the workbench's tables)")
               for m in messages(at)), messages(at)
    for page in PAGES:  # every page, each opening the store its own way
        at.switch_page(str(page.script)).run()
        assert not at.exception, (page.name, [e.value for e in at.exception])
    assert files_under(tmp_path) == before


def test_dashboard_store_box_with_a_missing_path_creates_nothing(monkeypatch, tmp_path):
    path = tmp_path / "nope" / "s.duckdb"
    at = sidebar(monkeypatch, path)
    assert any(m.startswith(f"{path}: no store here") for m in messages(at)), messages(at)
    at.sidebar.text_input(key="db").set_value(str(tmp_path / "typo.duckdb")).run()
    assert any(m.startswith(f"{tmp_path / 'typo.duckdb'}: no store here") for m in messages(at)), messages(at)
    at.switch_page("workbench/app/pages/runs.py").run()
    assert not at.exception
    assert list(tmp_path.iterdir()) == []


def test_dashboard_reads_a_real_store(monkeypatch, tmp_path):
    db, _ = make_base_store(tmp_path / "real")
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(db, copy)
    at = sidebar(monkeypatch, copy)
    assert not messages(at), messages(at)
    assert at.sidebar.selectbox(key="collection").value == "base"
