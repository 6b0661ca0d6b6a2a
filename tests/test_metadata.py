"""Issue 17 item 3 and issue 15: run metadata can be fixed after ingest, and is never silently dropped.

`workbench runs set` (and the Runs page's form, through the same `set_run_metadata`) changes kind, parent, depth
or name without touching rows or scores; `ingest --replace` of the same bytes with new metadata updates it;
`ingest --lineage` reads `<parent>__<reranker>@<depth>` names. Uses the real DL 2020 runs for the depth study the
README promises after a plain `ingest`.
"""

from __future__ import annotations

import shutil

import pytest
from conftest import DL20, DL20_RUNS, ROOT, snapshot

from workbench.store import Store, get_run, list_runs

FIRST, R100, R20 = "bm25", "bm25__rankvicuna-7b@100", "bm25__rankvicuna-7b@20"
FILES = [DL20_RUNS / f"{name}.trec" for name in (FIRST, R100, R20)]


@pytest.fixture(scope="module")
def plain_store(tmp_path_factory):
    """The README's first steps: a collection and three runs ingested with no metadata, scored."""
    from workbench.cli.main import main

    db = tmp_path_factory.mktemp("plain") / "plain.duckdb"
    assert main(["--db", str(db), "collection", "add", "dl20", "--qrels", str(DL20 / "qrels.dl20-passage.txt")]) == 0
    assert main(["--db", str(db), "ingest", "-c", "dl20", *map(str, FILES), "--measures", "nDCG@10"]) == 0
    return db


@pytest.fixture
def store(plain_store, db):
    shutil.copyfile(plain_store, db)
    return db


def one_line_error(res) -> str:
    assert res.code == 2, res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.err, res.err
    return lines[0]


def content(db) -> dict:
    """What set_run_metadata must leave alone: every table but the runs table."""
    return {k: v for k, v in snapshot(db).items() if k != "runs"}


def test_runs_set_makes_the_readme_depth_study_work_without_touching_rows_or_scores(store, cli):
    failing = cli("depth", "-c", "dl20", "--reranked", R100, "--depths", "0,20,100")
    assert failing.code == 2 and "parent" in failing.err
    before = content(store)
    res = cli("runs", "set", R100, "-c", "dl20", "--parent", FIRST, "--depth", "100")
    assert res.code == 0, res.err
    assert res.err == (f"updated run {R100}: kind other -> rerank; parent none -> bm25; depth none -> 100 "
                       "(rows and scores untouched)\n")
    assert content(store) == before
    info = get_run(Store(store), "dl20", R100)
    assert (info.kind, info.parent, info.depth) == ("rerank", FIRST, 100)
    study = cli("depth", "-c", "dl20", "--reranked", R100, "--depths", "0,20,100")
    assert study.code == 0, study.err
    rows = [line.split("│") for line in study.out.splitlines() if line.count("│") > 4]
    means = {(r[1].strip(), r[2].strip()): r[3].strip() for r in rows}
    # the README's table: BM25 at depth 0, the derived @20, the reranked run itself at 100
    assert means[("0", "derived")] == "0.4796" and means[("20", "derived")] == "0.5773"
    assert means[("100", "derived")] == means[("100", "observed")] == "0.6648"


def test_rename_keeps_scores_and_children_and_refuses_a_taken_name(store, cli):
    assert cli("runs", "set", R100, "-c", "dl20", "--parent", FIRST, "--depth", "100").code == 0
    assert cli("runs", "set", R20, "-c", "dl20", "--parent", FIRST, "--depth", "20").code == 0
    scored = cli("evaluate", "-c", "dl20", "-m", "nDCG@10", "--json").json()
    before = content(store)
    res = cli("runs", "set", FIRST, "-c", "dl20", "--rename", "bm25-flat", "--kind", "sparse")
    assert res.code == 0, res.err
    assert content(store) == before
    runs = {r.name: r for r in list_runs(Store(store), "dl20")}
    assert set(runs) == {"bm25-flat", R100, R20}
    assert runs[R100].parent == runs[R20].parent == "bm25-flat"
    again = cli("evaluate", "-c", "dl20", "-m", "nDCG@10", "--json").json()
    assert again["computed"] == 0  # nothing to score again: the scores followed the rename
    values = {s["run"]: s["value"] for s in again["scores"]}
    assert values["bm25-flat"] == {s["run"]: s["value"] for s in scored["scores"]}[FIRST]
    snap = snapshot(store)
    line = one_line_error(cli("runs", "set", "bm25-flat", "-c", "dl20", "--rename", R20))
    assert line == (f"error: run '{R20}' already exists in collection 'dl20' (pick another name, or delete that run "
                    "first)")
    assert snapshot(store) == snap


@pytest.mark.parametrize("args, message", [
    (["--parent", "nope"], "error: no run named 'nope' in collection 'dl20'"),
    (["--parent", FIRST], f"error: run '{FIRST}' cannot be its own parent"),
    (["--depth", "0"], "error: workbench runs set: argument --depth: expected an integer from 1 to 2147483647, got '0' "
                           "(see 'workbench runs set --help')"),
    (["--depth", "-3"], "error: workbench runs set: argument --depth: expected an integer from 1 to 2147483647, "
                        "got '-3' (see 'workbench runs set --help')"),
    (["--rename", "a/b"], "error: invalid run name 'a/b'"),
    ([], "error: nothing to change: give --kind, --parent, --depth, --no-parent or --rename"),
    (["--parent", R100, "--no-parent"], "error: give either --parent or --no-parent"),
])
def test_runs_set_refusals_are_one_line_and_change_nothing(store, cli, args, message):
    before = snapshot(store)
    line = one_line_error(cli("runs", "set", FIRST, "-c", "dl20", *args))
    assert line.startswith(message), line
    assert snapshot(store) == before


def test_runs_set_refuses_a_parent_cycle_and_an_unknown_run(store, cli):
    assert cli("runs", "set", R100, "-c", "dl20", "--parent", FIRST).code == 0
    before = snapshot(store)
    line = one_line_error(cli("runs", "set", FIRST, "-c", "dl20", "--parent", R100))
    assert line == f"error: run '{R100}' cannot be the parent of '{FIRST}': it descends from it"
    line = one_line_error(cli("runs", "set", "ghost", "-c", "dl20", "--kind", "dense"))
    assert line.startswith("error: no run named 'ghost' in collection 'dl20'")
    assert snapshot(store) == before


def test_no_parent_clears_parent_and_depth(store, cli):
    assert cli("runs", "set", R100, "-c", "dl20", "--parent", FIRST, "--depth", "100").code == 0
    res = cli("runs", "set", R100, "-c", "dl20", "--no-parent")
    assert res.code == 0
    info = get_run(Store(store), "dl20", R100)
    assert (info.kind, info.parent, info.depth) == ("rerank", None, None)
    same = cli("runs", "set", R100, "-c", "dl20", "--kind", "rerank")
    assert same.code == 0 and same.err.startswith(f"unchanged run {R100}")


# -------------------------------------------------------------------------------- ingest --replace, same bytes
def test_ingest_replace_of_the_same_bytes_updates_metadata_and_says_so(store, cli):
    before = content(store)
    res = cli("ingest", "-c", "dl20", FILES[1], "--kind", "rerank", "--parent", FIRST, "--depth", "100", "--replace",
              "--json")
    assert res.code == 0, res.err
    assert res.json()[0]["status"] == "updated"
    info = get_run(Store(store), "dl20", R100)
    assert (info.kind, info.parent, info.depth) == ("rerank", FIRST, 100)
    assert content(store) == before
    text = cli("ingest", "-c", "dl20", FILES[1], "--parent", FIRST, "--depth", "20", "--replace")
    assert text.err.startswith(f"updated   {R100} (kind rerank, parent bm25, depth 20)")
    again = cli("ingest", "-c", "dl20", FILES[1], "--parent", FIRST, "--depth", "20", "--replace", "--json")
    assert again.json()[0]["status"] == "unchanged"


def test_ingest_without_replace_refuses_to_drop_new_metadata(store, cli):
    before = snapshot(store)
    line = one_line_error(cli("ingest", "-c", "dl20", FILES[1], "--parent", FIRST, "--depth", "100"))
    assert line == (f"error: run '{R100}' is stored from the same bytes with kind other, no parent; add --replace to "
                    "give it kind rerank, parent bm25, depth 100 (or change it with `workbench runs set`)")
    assert snapshot(store) == before
    plain = cli("ingest", "-c", "dl20", FILES[1], "--json")  # no metadata given: the same file again is a no-op
    assert plain.code == 0 and plain.json()[0]["status"] == "unchanged"
    assert snapshot(store) == before


# ------------------------------------------------------------------------------------------------ --lineage
def test_lineage_reads_parent_and_depth_from_names(cli, db):
    assert cli("collection", "add", "dl20", "--qrels", DL20 / "qrels.dl20-passage.txt").code == 0
    tasb_child = DL20_RUNS / "tasb__rankvicuna-7b@20.trec"  # its parent, tasb, is neither stored nor given
    res = cli("ingest", "-c", "dl20", "--lineage", *FILES, tasb_child)
    assert res.code == 0, res.err
    lines = [line for line in res.err.splitlines() if line.startswith("lineage")]
    assert lines == [
        "lineage   bm25: nothing (not a <parent>__<reranker>@<depth> name)",
        f"lineage   {R100}: parent bm25, depth 100",
        f"lineage   {R20}: parent bm25, depth 20",
        "lineage   tasb__rankvicuna-7b@20: nothing (parent 'tasb' is neither stored nor ingested earlier by this "
        "command)",
    ]
    runs = {r.name: r for r in list_runs(Store(db), "dl20")}
    assert (runs[R100].kind, runs[R100].parent, runs[R100].depth) == ("rerank", FIRST, 100)
    assert (runs[R20].parent, runs[R20].depth) == (FIRST, 20)
    assert (runs["tasb__rankvicuna-7b@20"].parent, runs[FIRST].parent) == (None, None)


def test_lineage_fixes_a_plain_ingest_with_replace(store, cli):
    res = cli("ingest", "-c", "dl20", "--lineage", "--replace", *FILES, "--json")
    assert [r["status"] for r in res.json()] == ["unchanged", "updated", "updated"]
    assert get_run(Store(store), "dl20", R20).depth == 20


def test_lineage_with_parent_or_depth_is_refused(store, cli):
    before = snapshot(store)
    line = one_line_error(cli("ingest", "-c", "dl20", "--lineage", "--parent", FIRST, FILES[1]))
    assert line == "error: --lineage reads parent and depth from the run names; drop --parent and --depth"
    assert snapshot(store) == before


def test_infer_lineage_takes_the_last_double_underscore():
    from workbench.services.ingest import infer_lineage

    found = infer_lineage("bm25__monot5@100__rankzephyr@20", {"bm25__monot5@100"})
    assert (found.parent, found.depth) == ("bm25__monot5@100", 20)
    assert infer_lineage("bm25__x@0", {"bm25"}).note == "depth 0 is not a positive integer up to 2147483647"
    assert infer_lineage("bm25__x@99999999999", {"bm25"}).parent is None
    assert infer_lineage("bm25__x@abc", {"bm25"}).parent is None


# ------------------------------------------------------------------------------------------------ the library
def test_set_run_metadata_library_function(store):
    from workbench.errors import WorkbenchError
    from workbench.services.ingest import set_run_metadata

    s = Store(store)
    info = set_run_metadata(s, "dl20", R20, parent=FIRST, depth=20)
    assert (info.kind, info.parent, info.depth) == ("rerank", FIRST, 20)
    info = set_run_metadata(s, "dl20", R20, depth=0)
    assert (info.parent, info.depth) == (FIRST, None)
    info = set_run_metadata(s, "dl20", R20, kind="dense", parent="")
    assert (info.kind, info.parent, info.depth) == ("dense", None, None)
    before = snapshot(store)
    for bad in ({"kind": "neural"}, {"depth": True}, {"depth": -1}, {"depth": 2**31}, {"rename": ""}):
        with pytest.raises(WorkbenchError):
            set_run_metadata(s, "dl20", R20, **bad)
    assert snapshot(store) == before


# ------------------------------------------------------------------------------------------------ Runs page
def runs_page(monkeypatch, db, run: str):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("WORKBENCH_DB", str(db))
    at = AppTest.from_file(ROOT / "app.py", default_timeout=180)
    at.run()
    at.query_params["run"] = run
    at.switch_page("workbench/app/pages/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def form_widgets(at, info):
    v = f"{info.name}:{info.kind}:{info.parent}:{info.depth}"
    return (at.selectbox(key=f"meta_kind:{v}"), at.selectbox(key=f"meta_parent:{v}"),
            at.number_input(key=f"meta_depth:{v}"), at.text_input(key=f"meta_name:{v}"))


def test_runs_page_edits_metadata_through_set_run_metadata(store, monkeypatch):
    s = Store(store)
    before = content(store)
    at = runs_page(monkeypatch, store, R100)
    kind, parent, depth, name = form_widgets(at, get_run(s, "dl20", R100))
    assert (kind.value, parent.value, depth.value, name.value) == ("other", "(none)", 0, R100)
    kind.set_value("rerank")
    parent.set_value(FIRST)
    depth.set_value(100)
    next(b for b in at.button if b.label == "Save metadata").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    info = get_run(s, "dl20", R100)
    assert (info.kind, info.parent, info.depth) == ("rerank", FIRST, 100)
    assert any("saved the metadata of run" in m.value for m in at.success)
    # a rename through the form: the page follows the run to its new name; its child follows too
    assert cli_set(store, R20, "--parent", R100) == 0
    kind, parent, depth, name = form_widgets(at, info)
    name.set_value("rv100")
    next(b for b in at.button if b.label == "Save metadata").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="run").value == "rv100"
    assert get_run(s, "dl20", R20).parent == "rv100"
    assert content(store) == before


def test_runs_page_shows_a_refusal_and_changes_nothing(store, monkeypatch):
    at = runs_page(monkeypatch, store, R100)
    before = snapshot(store)
    *_, name = form_widgets(at, get_run(Store(store), "dl20", R100))
    name.set_value(FIRST)  # taken
    next(b for b in at.button if b.label == "Save metadata").click().run()
    assert [e.value for e in at.error] == [f"run '{FIRST}' already exists in collection 'dl20' (pick another name, or "
                                           "delete that run first)"]
    assert snapshot(store) == before


def cli_set(db, name: str, *args: str) -> int:
    from workbench.cli.main import main

    return main(["--db", str(db), "runs", "set", name, "-c", "dl20", *args])


def test_a_parent_is_not_deleted_from_under_its_children(store, cli, monkeypatch):
    """Deleting a first stage left its reranked runs naming it; the next run stored under that name (other
    content) then became their first stage without a word, and their depth studies read it. Refused instead, in
    the CLI and on the Runs page; detached children let it go."""
    assert cli_set(store, R100, "--parent", FIRST, "--depth", "100") == 0
    before = snapshot(store)
    line = one_line_error(cli("runs", "delete", FIRST, "-c", "dl20", "--yes"))
    assert line == (f"error: run '{FIRST}' is the parent of 1 run(s) ({R100}); nothing was deleted (delete those "
                    f"runs first, or detach each with `workbench runs set NAME -c dl20 --no-parent`)")
    assert snapshot(store) == before
    at = runs_page(monkeypatch, store, FIRST)
    at.text_input(key="confirm_delete").set_value(FIRST).run()
    next(b for b in at.button if b.label == "Delete run").click().run()
    from workbench.app.common import plain

    assert not at.exception and [e.value for e in at.error] == [plain(line.removeprefix("error: "))]  # as text
    assert snapshot(store) == before
    assert cli_set(store, R100, "--no-parent") == 0
    assert cli("runs", "delete", FIRST, "-c", "dl20", "--yes").code == 0
    assert FIRST not in [r.name for r in list_runs(Store(store), "dl20")]
