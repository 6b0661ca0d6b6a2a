"""`workbench pool` (issue 20 item 3): depth-k pools equal to a plain-Python pool read straight from the run files."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from conftest import DL20, DL20_RUNS, snapshot

QRELS = DL20 / "qrels.dl20-passage.txt"
RUNS = ["bm25", "tasb", "bm25__rankvicuna-7b@20", "splade-pp-ed"]


def reference_pool(run_paths: list[Path], qrels_path: Path, depth: int) -> dict[str, dict[str, int | None]]:
    """query -> {doc: grade or None}: each run's top `depth` per query in trec_eval's order (score descending as a
    C double, then doc_id descending by strcmp), whatever the rank column says; plain Python, no workbench code."""
    qrels: dict[tuple[str, str], int] = {}
    for line in qrels_path.read_text().splitlines():
        if line.strip():
            qid, _, doc, grade = line.split()
            qrels[(qid, doc)] = int(grade)
    pool: dict[str, dict[str, int | None]] = defaultdict(dict)
    for path in run_paths:
        per_query: dict[str, list[tuple[float, bytes, str]]] = defaultdict(list)
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                qid, _, doc, _, score, _ = line.split()
                per_query[qid].append((float(score), doc.encode(), doc))
        for qid, rows in per_query.items():
            for _, _, doc in sorted(rows, reverse=True)[:depth]:
                pool[qid][doc] = qrels.get((qid, doc))
    return pool


def reference_lines(pool, unjudged_only: bool = False) -> list[str]:
    return [f"{q} 0 {d} {'?' if g is None else g}"
            for q in sorted(pool, key=str.encode) for d, g in sorted(pool[q].items(), key=lambda kv: kv[0].encode())
            if not (unjudged_only and g is not None and g >= 0)]


@pytest.fixture
def dl20(cli):
    assert cli("collection", "add", "dl20", "--qrels", QRELS).code == 0
    res = cli("ingest", "-c", "dl20", *(DL20_RUNS / f"{r}.trec" for r in RUNS))
    assert res.code == 0, res.err
    return cli


@pytest.mark.parametrize("depth", [1, 10, 100, 250])
def test_pool_equals_plain_python(dl20, tmp_path, depth):
    out = tmp_path / "pool.qrels"
    res = dl20("pool", "-c", "dl20", "--depth", depth, "-o", out, "--json")
    assert res.code == 0, res.err
    ref = reference_pool([DL20_RUNS / f"{r}.trec" for r in RUNS], QRELS, depth)
    assert out.read_text().splitlines() == reference_lines(ref)
    summary = res.json()
    assert summary["runs"] == sorted(RUNS) and summary["depth"] == depth
    by_query = {r["query_id"]: r for r in summary["queries"]}
    assert set(by_query) == set(ref)
    for qid, docs in ref.items():
        grades = list(docs.values())
        assert by_query[qid] == {"query_id": qid, "pooled": len(docs),
                                 "judged": sum(g is not None and g >= 0 for g in grades),
                                 "unjudged": sum(g is None or g < 0 for g in grades),
                                 "relevant": sum(g is not None and g >= 1 for g in grades)}
    assert summary["totals"]["pooled"] == sum(len(d) for d in ref.values()) == summary["n_documents"]


def test_unjudged_only_and_chosen_runs(dl20, tmp_path):
    out = tmp_path / "pool.qrels"
    res = dl20("pool", "-c", "dl20", "-k", "20", "-r", "tasb", "bm25", "--unjudged-only", "-o", out, "--json")
    assert res.code == 0, res.err
    ref = reference_pool([DL20_RUNS / "tasb.trec", DL20_RUNS / "bm25.trec"], QRELS, 20)
    lines = out.read_text().splitlines()
    assert lines == reference_lines(ref, unjudged_only=True)
    assert lines and all(line.endswith(" ?") for line in lines)
    assert res.json()["totals"]["unjudged"] == len(lines)  # the counts cover the whole pool
    assert res.json()["totals"]["judged"] > 0


def test_trec_eval_order_not_the_rank_column(cli, tmp_path):
    """Tied scores are broken by doc_id descending and the rank column is ignored, as trec_eval does."""
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 a 1\nq1 0 b 0\nq2 0 x -1\n")
    run = tmp_path / "tied.trec"
    run.write_text("q1 Q0 a 1 5.0 t\nq1 Q0 c 2 5.0 t\nq1 Q0 b 3 5.0 t\nq1 Q0 z 4 1.0 t\n"
                   "q2 Q0 x 9 0.5 t\nq2 Q0 y 1 0.25 t\nq3 Q0 n 1 1 t\n")
    assert cli("collection", "add", "c", "--qrels", qrels).code == 0
    assert cli("ingest", "-c", "c", run).code == 0
    out = tmp_path / "pool.qrels"
    assert cli("pool", "-c", "c", "--depth", "2", "-o", out).code == 0
    # q1's top 2 in trec_eval order: c, b (5.0 ties, doc_id descending); q2: x (-1: in the pool, unjudged, to
    # trec_eval) then y; q3 unjudged
    assert out.read_text() == "q1 0 b 0\nq1 0 c ?\nq2 0 x -1\nq2 0 y ?\nq3 0 n ?\n"
    counts = cli("pool", "-c", "c", "--depth", "2", "-o", out, "--json").json()["queries"]
    assert [(r["judged"], r["unjudged"]) for r in counts] == [(1, 1), (0, 2), (0, 1)]
    assert cli("pool", "-c", "c", "--depth", "2", "-o", out, "--unjudged-only").code == 0
    assert out.read_text() == "q1 0 c ?\nq2 0 x -1\nq2 0 y ?\nq3 0 n ?\n"
    res = cli("pool", "-c", "c", "--depth", "2", "-o", "-")
    assert res.code == 0 and res.out == "q1 0 b 0\nq1 0 c ?\nq2 0 x -1\nq2 0 y ?\nq3 0 n ?\n"
    assert "pooled" in res.err  # the counts go to stderr when the pool goes to stdout


def test_same_content_under_two_names_is_one_run(cli, tmp_path):
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 a 1\n")
    run = tmp_path / "r.trec"
    run.write_text("q1 Q0 a 1 2 t\nq1 Q0 b 2 1 t\n")
    assert cli("collection", "add", "c", "--qrels", qrels).code == 0
    assert cli("ingest", "-c", "c", run).code == 0
    assert cli("ingest", "-c", "c", run, "--name", "copy").code == 0
    res = cli("pool", "-c", "c", "--depth", "5", "-o", tmp_path / "p", "--json")
    assert [r["pooled"] for r in res.json()["queries"]] == [2]
    assert (tmp_path / "p").read_text() == "q1 0 a 1\nq1 0 b ?\n"


def test_pool_file_is_refused_as_qrels_until_judged(dl20, tmp_path):
    out = tmp_path / "pool.qrels"
    assert dl20("pool", "-c", "dl20", "--depth", "5", "-r", "tasb", "-o", out).code == 0
    res = dl20("collection", "add", "judged", "--qrels", out)
    assert res.code == 2
    first_unjudged = next(i for i, line in enumerate(out.read_text().splitlines(), 1) if line.endswith("?"))
    assert f"{out}:{first_unjudged}:" in res.err


@pytest.mark.parametrize("args, message", [
    (["-c", "dl20", "--depth", "10", "-r", "nope"], "no run named 'nope'"),
    (["-c", "nope", "--depth", "10"], "no collection named 'nope'"),
    (["-c", "dl20", "--depth", "0"], "expected an integer from 1"),
    (["-c", "dl20", "--depth", "nan"], "expected an integer from 1"),
    (["-c", "dl20", "--depth", "10", "--json", "-o", "-"], "give -o a file"),
])
def test_bad_input_is_one_line_and_changes_nothing(dl20, db, tmp_path, args, message):
    before = snapshot(db)
    out = tmp_path / "pool.qrels"
    res = dl20("pool", *args, *([] if "-o" in args else ["-o", out]))
    assert res.code == 2 and message in res.err and len(res.err.strip().splitlines()) == 1
    assert not out.exists()
    assert snapshot(db) == before


def test_unwritable_output_leaves_what_was_there(dl20, db, tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    res = dl20("pool", "-c", "dl20", "--depth", "5", "-o", folder)
    assert res.code == 2 and "folder" in res.err
    existing = tmp_path / "keep.txt"
    existing.write_text("mine\n")
    res = dl20("pool", "-c", "nope", "--depth", "5", "-o", existing)
    assert res.code == 2 and existing.read_text() == "mine\n"


def test_the_store_is_never_the_output(dl20, db):
    before = snapshot(db)
    res = dl20("pool", "-c", "dl20", "--depth", "5", "-o", db)
    assert res.code == 2 and "is a DuckDB database (a store?)" in res.err
    assert snapshot(db) == before


def test_no_runs(cli, tmp_path):
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 a 1\n")
    assert cli("collection", "add", "c", "--qrels", qrels).code == 0
    res = cli("pool", "-c", "c", "--depth", "5", "-o", tmp_path / "p")
    assert res.code == 2 and "has no runs" in res.err
