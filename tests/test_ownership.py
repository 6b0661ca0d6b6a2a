"""Issue 15, data loss: nothing a user stored or wrote is replaced unless they asked for it by name.

`fuse`, `retrieve`, `rerank` (everything through produce()) and `build` refuse a taken run name, and never write
over a file the workbench did not produce for that run; `--replace` (`build --replace`) asks for it by name. Each
refusal is one line, exit 2, and a store equal table by table to before (conftest.snapshot). Fusion runs in
DuckDB with no model, so these tests run the real produce() end to end; retrieve and rerank are refused before
any model or JVM starts, which is what they check.
"""

from __future__ import annotations

import shutil
import textwrap

import pytest
from conftest import ROOT, snapshot
from test_reliability_support import run_lines

from workbench.hashing import sha256_file
from workbench.store import Store, get_run, list_runs


@pytest.fixture
def files(base):
    return base[1]


def one_line_error(res) -> str:
    assert res.code == 2, res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.err, res.err
    return lines[0]


def runs_dir(db):
    return db.parent / "runs" / "base"


# ------------------------------------------------------------------------------------------ produce()
def test_fuse_onto_a_user_run_name_is_refused_and_touches_nothing(store, cli, files):
    users_file = runs_dir(store) / "bm25.trec"  # the user's own file where the fused run would be written
    users_file.parent.mkdir(parents=True)
    users_file.write_text("mine\n")
    before = snapshot(store)
    line = one_line_error(cli("fuse", "-c", "base", "bm25", "dense", "--name", "bm25"))
    assert line == (f"error: run 'bm25' already exists in collection 'base' (from {files['bm25']}) (pass --replace "
                    "to replace it, or --name to store this run under another name)")
    assert snapshot(store) == before
    assert users_file.read_text() == "mine\n"
    assert sorted(p.name for p in users_file.parent.iterdir()) == ["bm25.trec"]  # no temp file left


def test_fuse_default_name_taken_by_a_user_run_is_refused(store, cli, files, tmp_path):
    mine = tmp_path / "rrf-bm25+dense.trec"
    mine.write_text(run_lines(["101", "102"], 5, "mine", 3))
    assert cli("ingest", "-c", "base", mine).code == 0
    before = snapshot(store)
    line = one_line_error(cli("fuse", "-c", "base", "bm25", "dense"))
    assert line.startswith(f"error: run 'rrf-bm25+dense' already exists in collection 'base' (from {mine})")
    assert snapshot(store) == before


@pytest.mark.parametrize("argv", [
    ["retrieve", "bm25", "-c", "base", "--name", "dense"],
    ["retrieve", "dense", "-c", "base", "--name", "bm25", "--encoder", "/nonexistent/model"],
    ["rerank", "-c", "base", "--run", "bm25", "--name", "dense", "--model", "/nonexistent/model"],
])
def test_retrieve_and_rerank_onto_a_taken_name_are_refused_before_any_work(store, cli, argv):
    before = snapshot(store)
    line = one_line_error(cli(*argv))
    assert "already exists in collection 'base'" in line and "--replace" in line
    assert snapshot(store) == before


def test_a_produced_run_is_unchanged_on_the_same_recipe_and_refused_on_another(store, cli):
    first = cli("fuse", "-c", "base", "bm25", "dense", "--json")
    assert first.code == 0 and first.json()["status"] == "added"
    path = runs_dir(store) / "rrf-bm25+dense.trec"
    assert path.is_file()
    again = cli("fuse", "-c", "base", "bm25", "dense", "--json")
    assert again.json()["status"] == "unchanged"
    before, text = snapshot(store), path.read_text()
    line = one_line_error(cli("fuse", "-c", "base", "bm25", "dense", "--k", "10", "--name", "rrf-bm25+dense"))
    assert line.startswith("error: run 'rrf-bm25+dense' already exists in collection 'base' (made by another "
                           "fuse recipe)")
    assert snapshot(store) == before and path.read_text() == text
    replaced = cli("fuse", "-c", "base", "bm25", "dense", "--k", "10", "--name", "rrf-bm25+dense", "--replace",
                   "--json")
    assert replaced.code == 0 and replaced.json()["status"] == "replaced"
    info = get_run(Store(store), "base", "rrf-bm25+dense")
    assert info.params["k"] == 10 and info.source_path == str(path)
    assert sha256_file(path) == info.run_hash  # the file is the stored run
    assert "k: 10" in path.read_text()


def test_replacing_a_first_stage_needs_replace_and_names_its_reranked_runs(store, cli, tmp_path):
    """The issue's case: bm25 was the parent of reranked runs, whose depth studies then used the fused run."""
    for i in range(5):
        child = tmp_path / f"bm25__r{i}@5.trec"
        child.write_text(run_lines(["101", "102", "103", "104", "105"], 10, f"r{i}", 9 + i))
        assert cli("ingest", "-c", "base", child, "--parent", "bm25", "--depth", "5").code == 0
    before = snapshot(store)
    line = one_line_error(cli("fuse", "-c", "base", "bm25", "dense", "--name", "bm25"))
    assert "run 'bm25' already exists" in line
    assert snapshot(store) == before
    assert {r.parent for r in list_runs(Store(store), "base") if r.name.startswith("bm25__")} == {"bm25"}
    res = cli("fuse", "-c", "base", "bm25", "dense", "--name", "bm25", "--replace")
    assert res.code == 0, res.err
    assert ("note: bm25 is the parent of 5 run(s) made from its previous content (bm25__r0@5, bm25__r1@5, "
            "bm25__r2@5, bm25__r3@5, bm25__r4@5); re-make them, or change their parent with `workbench runs set`"
            in res.err)


def test_a_file_the_workbench_did_not_produce_is_never_written_over(store, cli):
    users_file = runs_dir(store) / "rrf-bm25+dense.trec"
    users_file.parent.mkdir(parents=True)
    users_file.write_text("# my notes, not a run\n")
    before = snapshot(store)
    line = one_line_error(cli("fuse", "-c", "base", "bm25", "dense"))
    assert line == (f"error: {users_file}: a file the workbench did not produce for run 'rrf-bm25+dense' is in the "
                    "way; it was left as it is (move it, or write the run elsewhere with --runs-dir or under another "
                    "--name)")
    assert snapshot(store) == before and users_file.read_text() == "# my notes, not a run\n"
    # --replace is about the stored run's name: it does not hand over the user's file either
    line = one_line_error(cli("fuse", "-c", "base", "bm25", "dense", "--replace"))
    assert "a file the workbench did not produce" in line
    assert snapshot(store) == before and users_file.read_text() == "# my notes, not a run\n"


def test_a_produced_file_edited_since_is_not_written_over(store, cli):
    assert cli("fuse", "-c", "base", "bm25", "dense").code == 0
    path = runs_dir(store) / "rrf-bm25+dense.trec"
    edited = path.read_text().replace(" rrf-bm25+dense\n", " edited\n", 1)
    path.write_text(edited)
    before = snapshot(store)
    line = one_line_error(cli("fuse", "-c", "base", "bm25", "dense", "--k", "5", "--name", "rrf-bm25+dense",
                              "--replace"))
    assert line.startswith(f"error: {path}: a file the workbench did not produce for run 'rrf-bm25+dense'")
    assert snapshot(store) == before and path.read_text() == edited


def test_a_produced_file_from_another_store_may_be_rebuilt(store, cli, base):
    """A file the workbench produced for this run (its ir_metadata header says so), with no stored run of its
    recipe here, is the workbench's own output: a new store beside it may write it again (a demo built afresh)."""
    assert cli("fuse", "-c", "base", "bm25", "dense").code == 0
    path = runs_dir(store) / "rrf-bm25+dense.trec"
    fresh = store.with_name("fresh.duckdb")
    shutil.copyfile(base[0], fresh)
    res = cli("fuse", "-c", "base", "bm25", "dense", "--k", "20", store=fresh)
    assert res.code == 0, res.err
    assert "k: 20" in path.read_text()
    assert sha256_file(path) == get_run(Store(fresh), "base", "rrf-bm25+dense").run_hash


# --------------------------------------------------------------------------------------------- build
def manifest(folder, *, kind="sparse", parent=None, depth=None, k=60, bm25_file="bm25.trec",
             collection_files=("qrels.txt", "topics.tsv", "docs.tsv")):
    qrels, topics, docs = collection_files
    extra = "".join(f", {key}: {value}" for key, value in (("parent", parent), ("depth", depth)) if value)
    text = textwrap.dedent(f"""\
        version: 1
        collections:
          base:
            qrels: {qrels}
            topics: {topics}
            docs: {docs}
        runs:
          - {{file: {bm25_file}, collection: base, name: bm25, kind: {kind}{extra}}}
          - {{file: dense.trec.gz, collection: base, name: dense, kind: sparse}}
        pipelines:
          - name: rrf
            collection: base
            fuse: [bm25, dense]
            params: {{method: rrf, k: {k}}}
        """)
    path = folder / "data_manifest.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def project(files, tmp_path):
    """A folder with the base inputs and a manifest naming them; the store beside it is built by `build`."""
    folder = tmp_path / "project"
    shutil.copytree(files["qrels"].parent, folder)
    return folder


def test_build_rebuilds_what_it_made_and_keeps_unchanged_what_it_did(project, cli, db):
    path = manifest(project)
    first = cli("build", "--manifest", path, "--no-score", "--json")
    assert first.code == 0, first.err
    assert first.json()["pipelines"] == {"base/rrf": "added"}
    again = cli("build", "--manifest", path, "--no-score", "--json").json()
    assert set(again["runs"].values()) == set(again["pipelines"].values()) == {"unchanged"}
    # the recipe changes: the run the pipeline made is rebuilt (the manifest names it), no --replace needed
    path = manifest(project, k=10)
    changed = cli("build", "--manifest", path, "--no-score", "--json").json()
    assert changed["pipelines"] == {"base/rrf": "replaced"}
    assert get_run(Store(db), "base", "rrf").params["k"] == 10


def test_build_updates_metadata_after_a_manifest_edit(project, cli, db):
    assert cli("build", "--manifest", manifest(project), "--no-score").code == 0
    store = Store(db)
    rows_before = {k: v for k, v in snapshot(db).items() if k in ("run_rows", "run_top_rows", "scores")}
    res = cli("build", "--manifest", manifest(project, kind="rerank", parent="dense", depth=5), "--no-score",
              "--json")
    assert res.code == 0, res.err
    assert res.json()["runs"]["base/bm25"] == "updated"
    info = get_run(store, "base", "bm25")
    assert (info.kind, info.parent, info.depth) == ("rerank", "dense", 5)
    assert {k: v for k, v in snapshot(db).items() if k in rows_before} == rows_before


def test_build_refuses_a_run_it_did_not_ingest_unless_replace(project, cli, db, tmp_path):
    assert cli("build", "--manifest", manifest(project), "--no-score").code == 0
    # the user ingests their own bm25 by hand, from another file
    mine = tmp_path / "mine" / "bm25.trec"
    mine.parent.mkdir()
    mine.write_text(run_lines(["101", "102", "103"], 8, "mine", 5))
    assert cli("ingest", "-c", "base", mine, "--replace").code == 0
    before = snapshot(db)
    path = manifest(project)
    line = one_line_error(cli("build", "--manifest", path, "--no-score"))
    assert line == (f"error: run 'bm25' in collection 'base' was not ingested from {project / 'bm25.trec'}, which "
                    "data_manifest.yaml names for it, and differs from it (build --replace replaces it; or give the "
                    "manifest's run another name)")
    assert snapshot(db) == before
    res = cli("build", "--manifest", path, "--no-score", "--replace", "--json")
    assert res.code == 0 and res.json()["runs"]["base/bm25"] == "replaced"
    assert get_run(Store(db), "base", "bm25").run_hash == sha256_file(project / "bm25.trec")


def test_build_refuses_to_make_a_pipeline_run_over_a_user_run(project, cli, db, tmp_path):
    assert cli("build", "--manifest", manifest(project), "--no-score").code == 0
    assert cli("runs", "delete", "rrf", "-c", "base", "--yes").code == 0
    mine = tmp_path / "rrf.trec"
    mine.write_text(run_lines(["101", "102"], 5, "mine", 2))
    assert cli("ingest", "-c", "base", mine).code == 0
    before = snapshot(db)
    line = one_line_error(cli("build", "--manifest", manifest(project, k=7), "--no-score"))
    assert line == (f"error: run 'rrf' in collection 'base' was not produced by a fuse step (it came from {mine}); "
                    "data_manifest.yaml would replace it (build --replace replaces it; or give the manifest's "
                    "pipeline another name)")
    assert snapshot(db) == before
    assert cli("build", "--manifest", manifest(project, k=7), "--no-score", "--replace").code == 0
    assert get_run(Store(db), "base", "rrf").params["k"] == 7


def test_build_refuses_a_collection_added_from_other_files(project, cli, db, tmp_path):
    other = tmp_path / "other-qrels.txt"
    other.write_text("101 0 d1 1\n101 0 d2 0\n")
    assert cli("collection", "add", "base", "--qrels", other).code == 0
    before = snapshot(db)
    path = manifest(project)
    line = one_line_error(cli("build", "--manifest", path, "--no-score"))
    assert line == (f"error: collection 'base' in the store was not added from the files {path} names, and holds "
                    "other content (build --replace replaces it; or give the manifest's collection another name)")
    assert snapshot(db) == before
    assert cli("build", "--manifest", path, "--no-score", "--replace").code == 0


def test_build_updates_a_collection_it_added_when_its_files_change(project, cli, db):
    path = manifest(project)
    assert cli("build", "--manifest", path, "--no-score").code == 0
    with open(project / "qrels.txt", "a") as fh:
        fh.write("101 0 d29 2\n")
    res = cli("build", "--manifest", path, "--no-score", "--json")
    assert res.code == 0 and res.json()["collections"] == {"base": "updated"}


# ------------------------------------------------------------------------------------- the Fusion lab
def fusion_page(monkeypatch, db):
    from streamlit.testing.v1 import AppTest

    from workbench.app import data

    monkeypatch.setenv("WORKBENCH_DB", str(db))
    monkeypatch.delenv("WORKBENCH_RUNS_DIR", raising=False)
    data.runs.clear()  # the catalogue of a previous test's store of the same path
    at = AppTest.from_file(ROOT / "app.py", default_timeout=180)
    at.run()
    at.switch_page("workbench/app/pages/fusion.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def save_as(at, name: str):
    at.text_input(key="save_name").set_value(name)
    next(b for b in at.button if b.label == "Save fused run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_fusion_lab_save_onto_a_taken_name_asks_first(store, monkeypatch):
    at = fusion_page(monkeypatch, store)
    before = snapshot(store)
    save_as(at, "bm25")
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("Not saved: run 'bm25' already exists in collection 'base'") for w in warnings), warnings
    assert snapshot(store) == before  # nothing replaced without the confirmation
    assert not (runs_dir(store) / "bm25.trec").exists()
    next(b for b in at.button if b.label == "Keep the stored run").click().run()
    assert snapshot(store) == before and not at.warning
    save_as(at, "bm25")
    next(b for b in at.button if b.label == "Replace bm25").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("replaced run bm25" in s.value for s in at.success), [s.value for s in at.success]
    info = get_run(Store(store), "base", "bm25")
    assert info.kind == "hybrid" and info.params["inputs"] == ["bm25", "dense"]
    # produced beside the store, never in the installation's runs/ folder
    assert info.source_path == str(runs_dir(store) / "bm25.trec")
    assert sha256_file(runs_dir(store) / "bm25.trec") == info.run_hash
    assert not (ROOT / "runs" / "base").exists()


def test_fusion_lab_saves_a_free_name_beside_the_store_or_in_workbench_runs_dir(store, monkeypatch, tmp_path):
    at = fusion_page(monkeypatch, store)
    save_as(at, "fused-here")
    assert (runs_dir(store) / "fused-here.trec").is_file()
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(elsewhere))
    save_as(at, "fused-there")
    assert (elsewhere / "base" / "fused-there.trec").is_file()
    assert {r.name for r in list_runs(Store(store), "base")} >= {"fused-here", "fused-there"}
