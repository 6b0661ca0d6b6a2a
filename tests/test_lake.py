"""The lake (issue 19 items 1, 2, and 3 on the local engine): push/pull round trips, refusals, readers without the
workbench, concurrent writers and killed pushes as real processes. Ray is not used here (test_lake_ray.py).

Every lake is a local folder; the stores are real DuckDB files built through the real CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import snapshot
from lake_support import lake_problems, table, versions, write_random_qrels, write_random_run
from test_reliability_support import (
    cli_main,
    copy_store,
    make_base_store,
    popen_cli,
    run_cli,
    store_problems,
)

pytest.importorskip("deltalake")

QUERIES = [str(q) for q in range(1000, 1080)]


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """The base store (collection `base`, runs bm25 and dense, scored) plus collection `rand`: graded qrels with
    negative grades and four tie-heavy random runs, not scored."""
    folder = tmp_path_factory.mktemp("campaign")
    db, files = make_base_store(folder)
    inputs = folder / "inputs"
    qrels = write_random_qrels(inputs / "rand-qrels.txt", QUERIES[:70], 40, seed=1)
    runs = [write_random_run(inputs / f"r{i}.trec", QUERIES, 200, seed=10 + i) for i in range(4)]
    assert cli_main(db, "collection", "add", "rand", "--qrels", qrels) == 0
    assert cli_main(db, "ingest", "-c", "rand", *runs) == 0
    return {"db": db, "files": files, "runs": runs, "folder": folder}


@pytest.fixture
def store(campaign, tmp_path) -> Path:
    return copy_store(campaign["db"], tmp_path / "store.duckdb")


def lines(res) -> list[str]:
    return [line for line in res.stderr.splitlines() if line.strip()]


# ---- round trips ---------------------------------------------------------------------------------------------------


def test_push_then_pull_gives_the_same_store_table_by_table(campaign, store, tmp_path):
    lake = tmp_path / "lake"
    res = run_cli(store, "lake", "push", "--to", lake, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert {c["collection"]: c["status"] for c in report["collections"]} == {"base": "added", "rand": "added"}
    assert sorted(r["run"] for r in report["runs"]) == ["bm25", "dense", "r0", "r1", "r2", "r3"]
    assert report["score_sets_added"] == 12  # base's two runs x six default measures; rand is not scored
    assert lake_problems(lake) == []

    before = versions(lake)
    again = run_cli(store, "lake", "push", "--to", lake, "--json")
    assert again.returncode == 0, again.stderr
    assert {r["status"] for r in json.loads(again.stdout)["runs"]} == {"unchanged"}
    assert versions(lake) == before  # the second push commits nothing

    pulled = tmp_path / "pulled.duckdb"
    res = run_cli(pulled, "lake", "pull", "--from", lake, "--json")
    assert res.returncode == 0, res.stderr
    assert snapshot(pulled) == snapshot(store)  # every table, row for row (positions and aggregates included)
    assert store_problems(pulled) == []
    once = snapshot(pulled)
    res = run_cli(pulled, "lake", "pull", "--from", lake, "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["score_sets_added"] == 0
    assert {r["status"] for r in json.loads(res.stdout)["runs"]} == {"unchanged"}
    assert snapshot(pulled) == once


def test_push_and_pull_a_selection(store, tmp_path):
    lake = tmp_path / "lake"
    assert run_cli(store, "lake", "push", "--to", lake, "-c", "rand", "-r", "r1", "r2").returncode == 0
    runs = table(lake, "runs")
    assert sorted(runs["name"].to_pylist()) == ["r1", "r2"]
    assert table(lake, "collections")["name"].to_pylist() == ["rand"]
    pulled = tmp_path / "pulled.duckdb"
    res = run_cli(pulled, "lake", "pull", "--from", lake, "-c", "rand", "-r", "r2", "--json")
    assert res.returncode == 0, res.stderr
    assert [r["run"] for r in json.loads(res.stdout)["runs"]] == ["r2"]
    shown = run_cli(pulled, "runs", "list", "-c", "rand", "--json")
    assert [r["name"] for r in json.loads(shown.stdout)] == ["r2"]


def test_the_lake_reads_without_the_workbench(store, tmp_path):
    """deltalake + pandas, and DuckDB over the Arrow dataset, with WHERE clauses: the values a user reads there
    are the store's."""
    import duckdb
    from deltalake import DeltaTable

    lake = tmp_path / "lake"
    assert run_cli(store, "lake", "push", "--to", lake).returncode == 0
    con = duckdb.connect(str(store), read_only=True)
    want = con.execute("""SELECT s.query_id, s.value FROM scores s JOIN runs r USING (run_hash)
                          WHERE r.name = 'bm25' AND s.measure = 'nDCG@10' ORDER BY 1""").fetchall()
    n_rows = con.execute("SELECT count(*) FROM run_rows JOIN runs USING (run_hash) WHERE name = 'r3'").fetchone()[0]
    con.close()

    runs = DeltaTable(str(lake / "runs")).to_pandas()
    bm25 = runs.loc[(runs["collection"] == "base") & (runs["name"] == "bm25"), "run_hash"].item()
    scores = DeltaTable(str(lake / "scores")).to_pandas(
        filters=[("collection", "=", "base"), ("run_hash", "=", bm25), ("measure", "=", "nDCG@10")])
    assert sorted(zip(scores["query_id"], scores["value"], strict=True)) == want

    duck = duckdb.connect()
    for name, folder in (("d_runs", "runs"), ("d_rows", "run_rows"), ("d_scores", "scores")):
        duck.register(name, DeltaTable(str(lake / folder)).to_pyarrow_dataset())
    got = duck.execute("""SELECT s.query_id, s.value FROM d_scores s JOIN d_runs r USING (collection, run_hash)
                          WHERE r.name = 'bm25' AND s.measure = 'nDCG@10' ORDER BY 1""").fetchall()
    assert got == want
    assert duck.execute("""SELECT count(*) FROM d_rows JOIN d_runs USING (collection, run_hash)
                           WHERE name = 'r3' AND query_id >= '1000'""").fetchone()[0] == n_rows
    top = duck.execute("""SELECT count(*) FROM d_rows WHERE collection = 'rand' AND position <= 10""").fetchone()[0]
    assert top == 10 * len(duck.execute("SELECT DISTINCT run_hash, query_id FROM d_rows "
                                        "WHERE collection = 'rand'").fetchall())


# ---- refusals --------------------------------------------------------------------------------------------------------


def other_store(campaign, tmp_path, *, qrels: bool = False) -> Path:
    """A second store with collection `base` (the same qrels, or other ones) and a run `bm25` of other bytes."""
    files = campaign["files"]
    db = tmp_path / "other.duckdb"
    if qrels:
        q = tmp_path / "qrels-other.txt"
        q.write_text(files["qrels"].read_text().replace(" 3\n", " 2\n"))
    else:
        q = files["qrels"]
    assert cli_main(db, "collection", "add", "base", "--qrels", q, "--topics", files["topics"],
                    "--docs", files["docs"]) == 0
    other = tmp_path / "bm25.trec"
    other.write_text(files["bm25"].read_text().replace(" bm25\n", " other\n"))
    assert cli_main(db, "ingest", "-c", "base", other) == 0
    return db


def test_push_refuses_a_name_the_lake_holds_with_other_content(campaign, store, tmp_path):
    lake = tmp_path / "lake"
    assert run_cli(store, "lake", "push", "--to", lake).returncode == 0
    before = versions(lake)
    res = run_cli(other_store(campaign, tmp_path), "lake", "push", "--to", lake)
    assert res.returncode == 2
    assert lines(res)[-1].startswith("error: run 'bm25' of collection 'base' is in the lake with other bytes")
    assert versions(lake) == before
    (tmp_path / "other.duckdb").unlink()
    res = run_cli(other_store(campaign, tmp_path, qrels=True), "lake", "push", "--to", lake)
    assert res.returncode == 2
    assert lines(res)[-1].startswith("error: collection 'base' is in the lake with other qrels, topics or documents")
    assert versions(lake) == before


def test_pull_refuses_a_local_run_name_with_other_bytes_unless_named(campaign, store, tmp_path):
    lake = tmp_path / "lake"
    assert run_cli(store, "lake", "push", "--to", lake, "-c", "base").returncode == 0
    mine = other_store(campaign, tmp_path)
    before = snapshot(mine)
    res = run_cli(mine, "lake", "pull", "--from", lake)
    assert res.returncode == 2
    assert lines(res)[-1] == ("error: run 'bm25' of collection 'base' exists in the store with other bytes than the "
                              "lake's (pull the others with -r, or replace it by naming it: -c base -r bm25 --replace)")
    assert snapshot(mine) == before
    res = run_cli(mine, "lake", "pull", "--from", lake, "--replace")
    assert res.returncode == 2 and "--replace replaces only runs named with -r" in lines(res)[-1]
    assert snapshot(mine) == before
    res = run_cli(mine, "lake", "pull", "--from", lake, "-c", "base", "-r", "bm25", "dense", "--replace", "--json")
    assert res.returncode == 0, res.stderr
    assert {r["run"]: r["status"] for r in json.loads(res.stdout)["runs"]} == {"bm25": "replaced", "dense": "added"}
    assert store_problems(mine) == []
    stored = json.loads(run_cli(mine, "runs", "show", "bm25", "-c", "base", "--json").stdout)
    lake_runs = table(lake, "runs").to_pylist()
    assert stored["run_hash"] == next(r["run_hash"] for r in lake_runs if r["name"] == "bm25")


def test_pull_refuses_a_collection_with_other_content(campaign, store, tmp_path):
    lake = tmp_path / "lake"
    assert run_cli(store, "lake", "push", "--to", lake, "-c", "base").returncode == 0
    mine = other_store(campaign, tmp_path, qrels=True)
    before = snapshot(mine)
    res = run_cli(mine, "lake", "pull", "--from", lake)
    assert res.returncode == 2
    assert lines(res)[-1] == ("error: collection 'base' exists in the store with other qrels, topics or documents "
                              "than the lake's (pull into another store (--db))")
    assert snapshot(mine) == before


@pytest.mark.parametrize("argv, line", [
    (("lake", "push", "--to", "http://example.org/lake"),
     "error: lake URI 'http://example.org/lake': unsupported scheme 'http'; expected a local path or file://, "
     "s3://, s3a://, gs://, gcs://, az://, abfs://, abfss://"),
    (("lake", "push", "--to", "{file}"), "error: lake {file}: is a file; expected a folder (new or empty) or a lake"),
    (("lake", "push", "--to", "{folder}"),
     "error: lake {folder}: the folder holds files that are not a workbench lake; give a new or empty folder"),
    (("lake", "pull", "--from", "{missing}"),
     "error: no workbench lake at {missing} (push one with `workbench lake push --to URI`)"),
    (("lake", "show", "{missing}"),
     "error: no workbench lake at {missing} (push one with `workbench lake push --to URI`)"),
    (("lake", "push", "--to", "{lake}", "-r", "bm25"),
     "error: workbench lake push: -r/--runs names runs of one collection: give exactly one -c "
     "(see 'workbench lake push --help')"),
    (("lake", "push", "--to", "{lake}", "-c", "base", "-r", "nope"),
     "error: no run named 'nope' in collection 'base' (known: bm25, dense)"),
    (("lake", "push", "--to", "{lake}", "-c", "nope"), "error: no collection named 'nope' (known: base, rand)"),
    (("lake", "push", "--to", "{lake}", "--storage-option", "novalue"),
     "error: storage option 'novalue': expected KEY=VALUE, e.g. AWS_REGION=eu-west-1"),
    (("evaluate", "-c", "base", "--engine", "ray"),
     "error: workbench evaluate: --engine ray scores the runs of a lake: give --lake URI (`workbench lake push` "
     "puts the store's runs there) (see 'workbench evaluate --help')"),
    (("evaluate", "-c", "base", "--ray-address", "127.0.0.1:1"),
     "error: workbench evaluate: --ray-address needs --engine ray (see 'workbench evaluate --help')"),
    (("evaluate", "-c", "base", "--pull"),
     "error: workbench evaluate: --pull, --block-rows and --storage-option need --lake URI "
     "(see 'workbench evaluate --help')"),
    (("evaluate", "-c", "base", "--lake", "{missing}"),
     "error: no workbench lake at {missing} (push runs there with `workbench lake push`)"),
])
def test_bad_lake_commands_are_one_line_and_change_nothing(store, tmp_path, argv, line):
    places = {"file": tmp_path / "a-file", "folder": tmp_path / "a-folder", "missing": tmp_path / "no-lake",
              "lake": tmp_path / "lake"}
    places["file"].write_text("x")
    places["folder"].mkdir()
    (places["folder"] / "notes.txt").write_text("mine")
    before = snapshot(store)
    res = run_cli(store, *[a.format(**places) for a in argv])
    assert res.returncode == 2
    assert lines(res)[-1] == line.format(**places)
    assert snapshot(store) == before
    assert sorted(p.name for p in places["folder"].iterdir()) == ["notes.txt"]
    assert not places["missing"].exists() and not places["lake"].exists()


def test_a_tampered_lake_is_refused_on_pull(store, tmp_path):
    """Rows rewritten in the lake under the same run hash no longer match the entry's rows hash."""
    import pyarrow.compute as pc
    from deltalake import DeltaTable, write_deltalake

    lake = tmp_path / "lake"
    assert run_cli(store, "lake", "push", "--to", lake, "-c", "rand").returncode == 0
    r1 = table(lake, "runs").filter(pc.field("name") == "r1")["run_hash"][0].as_py()
    rows = DeltaTable(str(lake / "run_rows")).to_pyarrow_table(filters=[("run_hash", "=", r1)])
    scores = pc.if_else(pc.equal(rows["position"], 1), pc.add(rows["score"], 1e-9), rows["score"])
    write_deltalake(str(lake / "run_rows"), rows.set_column(rows.schema.get_field_index("score"), "score", scores),
                    mode="overwrite", predicate=f"collection = 'rand' AND run_hash = '{r1}'")
    pulled = tmp_path / "pulled.duckdb"
    res = run_cli(pulled, "lake", "pull", "--from", lake, "-c", "rand", "-r", "r1")
    assert res.returncode == 2
    assert lines(res)[-1].startswith(f"error: lake {lake}: run 'r1' of collection 'rand': its rows do not match")
    assert json.loads(run_cli(pulled, "runs", "list", "-c", "rand", "--json").stdout) == []


def test_lake_show(store, tmp_path):
    lake = tmp_path / "lake"
    assert run_cli(store, "lake", "push", "--to", lake).returncode == 0
    res = run_cli(store, "lake", "show", lake, "-c", "rand", "--json")
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    assert [(c["name"], c["runs"], c["score_sets"]) for c in shown["collections"]] == [("base", 2, 12),
                                                                                        ("rand", 4, 0)]
    assert [r["name"] for r in shown["runs"]] == ["r0", "r1", "r2", "r3"]


# ---- scoring on the lake, local engine -------------------------------------------------------------------------------

MEASURES = ["nDCG@10", "AP(rel=2)", "P@5", "RR@10", "R@100", "Judged@10", "ERR@20", "Bpref"]


def per_query(res) -> list[dict]:
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["scores"]


def test_evaluate_on_the_lake_equals_the_store_bit_for_bit(store, tmp_path):
    """Tie-heavy runs, negative grades, judged queries a run misses; vectorised and ir-measures measures; query
    blocks (block_rows far below a run's size) and packed runs: every per-query value equals the local
    engine's, to the last bit (JSON keeps a float's shortest repr)."""
    from workbench.engine import LocalEngine
    from workbench.lake.scoring import evaluate_lake

    lake, lake2 = tmp_path / "lake", tmp_path / "lake2"
    for folder in (lake, lake2):  # before the local engine stores its scores: nothing is scored in the lakes
        assert run_cli(store, "lake", "push", "--to", folder, "-c", "rand").returncode == 0
    local = per_query(run_cli(store, "evaluate", "-c", "rand", "-m", *MEASURES, "--json", "--per-query"))
    res = run_cli(tmp_path / "none.duckdb", "evaluate", "-c", "rand", "-m", *MEASURES, "--json", "--per-query",
                  "--lake", lake)
    on_lake = json.loads(res.stdout)
    assert per_query(res) == local
    assert on_lake["computed"] == 4 * len(MEASURES) and on_lake["engine"]["engine"] == "local"
    assert lake_problems(lake) == []
    assert not (tmp_path / "none.duckdb").exists()  # without --pull the store is not touched

    engine = LocalEngine()
    result = evaluate_lake(str(lake2), "rand", MEASURES, engine=engine, block_rows=3000)
    assert engine.units > 4  # every run split into query blocks
    frame = result.evaluation.per_query
    got = [{"run": r.run, "query_id": r.query_id, "measure": r.measure, "value": r.value}
           for r in frame.itertuples()]
    want = [{k: s[k] for k in ("run", "query_id", "measure", "value")} for s in local]
    assert sorted(got, key=lambda d: (d["run"], d["measure"], d["query_id"])) == \
        sorted(want, key=lambda d: (d["run"], d["measure"], d["query_id"]))


def test_evaluate_on_the_lake_then_pull(store, tmp_path):
    lake = tmp_path / "lake"
    assert run_cli(store, "lake", "push", "--to", lake, "-c", "rand").returncode == 0
    fresh = tmp_path / "fresh.duckdb"
    res = run_cli(fresh, "evaluate", "-c", "rand", "-m", "nDCG@10", "P@5", "--json", "--per-query", "--lake", lake,
                  "--pull")
    scored = per_query(res)
    assert json.loads(res.stdout)["pulled"]["score_sets_added"] == 8
    assert store_problems(fresh) == []
    again = json.loads(run_cli(fresh, "evaluate", "-c", "rand", "-m", "nDCG@10", "P@5", "--json",
                               "--per-query").stdout)
    assert again["computed"] == 0 and again["scores"] == scored  # the pulled scores serve the local engine
    assert per_query(run_cli(store, "evaluate", "-c", "rand", "-m", "nDCG@10", "P@5", "--json",
                             "--per-query")) == scored


# ---- concurrent writers, killed writers: real processes ------------------------------------------------------------


def test_four_processes_pushing_different_runs_all_land(store, tmp_path):
    lake = tmp_path / "lake"
    procs = [popen_cli(store, "lake", "push", "--to", lake, "-c", "rand", "-r", f"r{i}") for i in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [o[1][-500:] for o in outs]
    assert sorted(table(lake, "runs")["name"].to_pylist()) == ["r0", "r1", "r2", "r3"]
    assert table(lake, "collections")["name"].to_pylist() == ["rand"]  # all four pushed it: one entry
    assert lake_problems(lake) == []


def test_two_processes_pushing_the_same_run_leave_one_copy(store, tmp_path):
    import duckdb

    con = duckdb.connect(str(store), read_only=True)
    n_rows = con.execute("SELECT n_rows FROM runs WHERE name = 'bm25'").fetchone()[0]
    con.close()
    for round_ in range(2):
        lake = tmp_path / f"lake{round_}"
        procs = [popen_cli(store, "lake", "push", "--to", lake, "-c", "base", "-r", "bm25") for _ in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [o[1][-500:] for o in outs]
        assert table(lake, "runs").num_rows == 1
        assert table(lake, "run_rows").num_rows == n_rows
        assert table(lake, "score_sets").num_rows == 6  # bm25's default measures, once
        assert lake_problems(lake) == []


ADD_ONE_ENTRY = """
import sys, time
from pathlib import Path
import pyarrow as pa
from workbench.lake.tables import TABLES, Lake, now, with_columns
lake, ready, go = Lake(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
row = with_columns(pa.table({"name": ["rand"], "relevance_kind": ["graded"], "qrels_hash": ["q" * 64]}),
                   TABLES["collections"], pushed_at=now())
ready.touch()
while not go.exists():
    time.sleep(0.001)
lake.ensure_tables()
print(lake.insert_new("collections", row))
"""


def test_processes_adding_one_entry_to_a_new_lake_at_once_leave_one(tmp_path):
    """The race behind the duplicate collection entries of the pushes above, made likely instead of occasional:
    six processes, started together, create the tables of a new lake and add the same collection entry. Every
    round, before the fix, left it two to six times (an overwrite without a predicate did not conflict with a
    concurrent commit that only added files); now one entry, one table creation, and exactly one process adds."""
    from deltalake import DeltaTable

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    for round_ in range(3):
        lake, flags = tmp_path / f"lake{round_}", tmp_path / f"flags{round_}"
        flags.mkdir()
        go = flags / "go"
        procs = [subprocess.Popen([sys.executable, "-c", ADD_ONE_ENTRY, str(lake), str(flags / f"ready{i}"), str(go)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for i in range(6)]
        assert wait_for(lambda: len(list(flags.glob("ready*"))) == 6  # noqa: B023
                        or any(p.poll() is not None for p in procs))  # noqa: B023
        go.touch()
        outs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0] * 6, [o[1][-500:] for o in outs]
        assert sorted(int(o[0]) for o in outs) == [0, 0, 0, 0, 0, 1]
        assert table(lake, "collections")["name"].to_pylist() == ["rand"]
        for name in ("collections", "runs", "run_rows", "scores"):
            ops = [h["operation"] for h in DeltaTable(str(lake / name)).history()]
            assert ops.count("CREATE TABLE") == 1, (name, ops)


def big_store(tmp_path: Path) -> Path:
    db = tmp_path / "big.duckdb"
    qrels = write_random_qrels(tmp_path / "q.txt", QUERIES, 20, seed=3)
    run = write_random_run(tmp_path / "big.trec", QUERIES * 1, 1000, seed=5, decimals=4, corpus=50_000, skip=0)
    assert cli_main(db, "collection", "add", "big", "--qrels", qrels) == 0
    assert cli_main(db, "ingest", "-c", "big", run) == 0
    return db


def wait_for(predicate, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return False


@pytest.mark.slow
def test_a_push_killed_with_sigkill_leaves_no_partial_commit(tmp_path):
    """Killed when its first data file appears (before the commit) and when its rows commit lands (before the
    run's entry): whatever the lake shows is whole, and the next push completes it."""
    db = big_store(tmp_path)
    lake = tmp_path / "lake"
    rows_dir = lake / "run_rows"

    def data_file() -> bool:
        return rows_dir.exists() and any(rows_dir.rglob("*.parquet"))

    def rows_commit() -> bool:
        return (rows_dir / "_delta_log" / "00000000000000000001.json").exists()

    for moment in (data_file, rows_commit):
        shutil.rmtree(lake, ignore_errors=True)
        proc = popen_cli(db, "lake", "push", "--to", lake)
        assert wait_for(lambda: moment() or proc.poll() is not None)  # noqa: B023
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if (lake / "runs").exists():
            assert lake_problems(lake) == []
            assert table(lake, "runs").num_rows == 0, f"the push ended before it was killed at {moment.__name__}"
            assert table(lake, "run_rows").num_rows in (0, 80_000)  # the rows commit is whole or absent
        res = run_cli(db, "lake", "push", "--to", lake, "--json")
        assert res.returncode == 0, res.stderr
        assert [r["status"] for r in json.loads(res.stdout)["runs"]] == ["added"]
        assert lake_problems(lake) == []
        assert table(lake, "run_rows").num_rows == 80_000


def test_the_local_engine_needs_neither_ray_nor_deltalake(store, tmp_path):
    """`evaluate`, `ingest` and `--help` run in a Python where importing ray or deltalake fails."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    for name in ("ray", "deltalake"):
        (blocker / name).mkdir()
        (blocker / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])}
    exe = [sys.executable, "-m", "workbench.cli.main", "--db", str(store)]
    ok = subprocess.run([*exe, "evaluate", "-c", "base", "-m", "P@5", "--json"], env=env, capture_output=True,
                        text=True)
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run([*exe, "lake", "push", "--to", str(tmp_path / "lake")], env=env, capture_output=True,
                             text=True)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == (
        "error: the lake needs the deltalake package (pip install 'workbench[scale]')")
    lake = tmp_path / "lake"
    assert run_cli(store, "lake", "push", "--to", lake, "-c", "base").returncode == 0
    (blocker / "deltalake").rename(tmp_path / "unblocked")  # the lake readable, Ray still missing
    ray = subprocess.run([*exe, "evaluate", "-c", "base", "-m", "P@7", "--engine", "ray", "--lake", str(lake)],
                         env=env, capture_output=True, text=True)
    assert ray.returncode == 2
    assert ray.stderr.strip().splitlines()[-1] == "error: the ray engine needs Ray (pip install 'workbench[scale]')"


def test_evaluate_pull_that_would_be_refused_is_refused_before_scoring(campaign, store, tmp_path):
    lake = tmp_path / "lake"
    assert run_cli(store, "lake", "push", "--to", lake, "-c", "base").returncode == 0
    mine = other_store(campaign, tmp_path)
    before, lake_before = snapshot(mine), versions(lake)
    res = run_cli(mine, "evaluate", "-c", "base", "-m", "P@3", "--lake", lake, "--pull")
    assert res.returncode == 2
    assert lines(res)[-1].startswith("error: run 'bm25' of collection 'base' exists in the store with other bytes")
    assert snapshot(mine) == before and versions(lake) == lake_before  # nothing scored, nothing committed


def test_a_lake_entry_with_a_name_the_workbench_never_writes_is_refused(store, tmp_path):
    """What others wrote to a shared lake is input like any file: a run named `../evil` is not pulled."""
    import pyarrow.compute as pc
    from deltalake import DeltaTable, write_deltalake

    lake = tmp_path / "lake"
    assert run_cli(store, "lake", "push", "--to", lake, "-c", "base").returncode == 0
    runs = DeltaTable(str(lake / "runs")).to_pyarrow_table()
    names = pc.if_else(pc.equal(runs["name"], "bm25"), "../evil", runs["name"])
    write_deltalake(str(lake / "runs"), runs.set_column(runs.schema.get_field_index("name"), "name", names),
                    mode="overwrite", predicate="collection = 'base'")
    pulled = tmp_path / "pulled.duckdb"
    res = run_cli(pulled, "lake", "pull", "--from", lake)
    assert res.returncode == 2
    assert lines(res)[-1].startswith(f"error: lake {lake}: table 'runs': invalid run name '../evil'")
    res = run_cli(pulled, "evaluate", "-c", "base", "--lake", lake)
    assert res.returncode == 2 and "invalid run name '../evil'" in lines(res)[-1]
