"""Run files out (issue 16 item 7): export keeps the metadata through ingest, --plain is what other tools read;
and depth studies clip depths above the rerank depth (item 8)."""

from __future__ import annotations

import ir_measures
import pytest
from conftest import DL20, DL20_RUNS

from workbench.store import Store, get_run, get_run_rows

QRELS = DL20 / "qrels.dl20-passage.txt"
R20 = "bm25__rankvicuna-7b@20"
HEADER = """# ir_metadata.start
# tag: bm25-mine
# platform:
#   software:
#     libraries: [pyserini]
# method:
#   retrieval:
#     - name: bm25
#       params: {k1: 0.82, b: 0.68}
# ir_metadata.end
"""


@pytest.fixture
def store(cli, tmp_path):
    assert cli("collection", "add", "dl20", "--qrels", QRELS).code == 0
    first = tmp_path / "bm25.trec"
    first.write_text(HEADER + (DL20_RUNS / "bm25.trec").read_text())
    assert cli("ingest", "-c", "dl20", first, "--kind", "sparse").code == 0
    res = cli("ingest", "-c", "dl20", DL20_RUNS / f"{R20}.trec", "--kind", "rerank", "--parent", "bm25",
              "--depth", "20")
    assert res.code == 0, res.err
    return cli


def rows_of(store: Store, name: str) -> set:
    t = get_run_rows(store, "dl20", name)
    return set(zip(*(t.column(c).to_pylist() for c in ("query_id", "doc_id", "score")), strict=True))


METADATA = ("kind", "parent", "depth", "params", "software", "metadata_header", "run_tag", "n_rows", "n_queries")


def test_export_then_ingest_keeps_the_metadata(store, db, tmp_path):
    out = tmp_path / "out"
    assert store("runs", "export", "-c", "dl20", "-o", out).code == 0
    text = (out / "bm25.trec").read_text()
    assert text.startswith(HEADER.split("# ir_metadata.end")[0])  # the stored header, verbatim
    assert "# workbench:\n#   run: bm25\n#   collection: dl20\n#   kind: sparse\n" in text
    other = tmp_path / "other.duckdb"
    assert store("collection", "add", "dl20", "--qrels", QRELS, store=other).code == 0
    # the reranked run alone: its header names a parent the new store lacks
    alone = store("ingest", "-c", "dl20", out / f"{R20}.trec", store=other)
    assert alone.code == 2 and "its ir_metadata header names parent run 'bm25'" in alone.err
    res = store("ingest", "-c", "dl20", out / "bm25.trec", out / f"{R20}.trec", store=other)
    assert res.code == 0, res.err
    for name in ("bm25", R20):
        before, after = get_run(Store(db), "dl20", name), get_run(Store(other), "dl20", name)
        assert {k: getattr(after, k) for k in METADATA} == {k: getattr(before, k) for k in METADATA}, name
        assert rows_of(Store(other), name) == rows_of(Store(db), name)
    assert get_run(Store(other), "dl20", R20).depth == 20
    assert get_run(Store(other), "dl20", "bm25").metadata_header.startswith("tag: bm25-mine\n")
    # the command line still wins over the file's record
    assert store("ingest", "-c", "dl20", out / f"{R20}.trec", "--name", "again", "--depth", "10",
                 store=other).code == 0
    assert get_run(Store(other), "dl20", "again").depth == 10


def test_plain_export_is_read_by_ir_measures(store, db, tmp_path):
    out = tmp_path / "plain"
    assert store("runs", "export", "-c", "dl20", "bm25", "-o", out, "--plain").code == 0
    text = (out / "bm25.trec").read_text()
    assert "#" not in text and all(len(line.split()) == 6 for line in text.splitlines())
    theirs = {(d.query_id, d.doc_id): d.score for d in ir_measures.read_trec_run(str(out / "bm25.trec"))}
    rows = get_run_rows(Store(db), "dl20", "bm25")
    ours = dict(zip(zip(rows.column("query_id").to_pylist(), rows.column("doc_id").to_pylist(), strict=True),
                    rows.column("score").to_pylist(), strict=True))
    assert theirs == ours and len(theirs) == 5400
    qrels = list(ir_measures.read_trec_qrels(str(QRELS)))
    got = ir_measures.calc_aggregate([ir_measures.nDCG @ 10], qrels, ir_measures.read_trec_run(str(out / "bm25.trec")))
    assert round(got[ir_measures.nDCG @ 10], 4) == 0.4796  # trec_eval's value for this run (runs/dl20/RUNS.tsv)


def test_depths_above_the_rerank_depth_are_clipped(store):
    res = store("depth", "-c", "dl20", R20, "--depths", "0,5,20,30,50,100", "--json")
    assert res.code == 0, res.err
    study = res.json()
    assert study["depth_limit"] == 20 and study["clipped_depths"] == [30, 50, 100]
    assert sorted({p["depth"] for p in study["points"] if p["source"] == "derived"}) == [0, 5, 20]
    assert "depths 30, 50, 100 are above" in study["note"] and "not counted in the multiple-testing" in study["note"]
    assert "note: depths 30, 50, 100 are above bm25__rankvicuna-7b@20's rerank depth 20" in res.err
    # the correction counts the scored comparisons only: derived 5, 20 and observed 20 against depth 0 (Holm's
    # smallest adjusted p is 3 times its raw p)
    tested = [p for p in study["points"] if p["p_value"] is not None]
    assert len(tested) == 3
    smallest = min(tested, key=lambda p: p["p_value"])
    assert smallest["p_adjusted"] == pytest.approx(min(1.0, 3 * smallest["p_value"]))
    # the same study asked without the clipped depths gives the same numbers
    plain = store("depth", "-c", "dl20", R20, "--depths", "0,5,20", "--json").json()
    assert plain["points"] == study["points"] and plain["clipped_depths"] == [] and plain["note"] is None
    refused = store("depth", "-c", "dl20", R20, "--depths", "30,50")
    assert refused.code == 2 and "every depth asked for is above bm25__rankvicuna-7b@20's rerank depth 20" in \
        refused.err


@pytest.mark.parametrize(("record", "message"), [
    ("#   kind: banana\n", "the ir_metadata header's workbench record has kind 'banana'; expected one of"),
    ("#   depth: -3\n", "has depth -3; expected a positive integer"),
    ("#   params: [1, 2]\n", "has params [1, 2]; expected a mapping"),
])
def test_a_bad_workbench_record_is_refused(store, db, tmp_path, record, message):
    from conftest import snapshot

    path = tmp_path / "edited.trec"
    path.write_text("# ir_metadata.start\n# workbench:\n" + record + "# ir_metadata.end\n1030303 Q0 d1 1 1.0 x\n")
    before = snapshot(db)
    res = store("ingest", "-c", "dl20", path)
    assert res.code == 2 and message in res.err and len(res.err.strip().splitlines()) == 1, res.err
    assert snapshot(db) == before


def test_export_does_not_write_over_a_users_file(store, db, tmp_path):
    """A <run>.trec already in --out-dir is refused, before any file is written, unless --replace says so."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / f"{R20}.trec").write_text("my notes\n")
    res = store("runs", "export", "-c", "dl20", "-o", out)
    assert res.code == 2
    assert res.err == (f"error: {out / f'{R20}.trec'}: already exists; nothing was written (add --replace to "
                       "write over the files of the runs exported, or choose another --out-dir)\n")
    assert sorted(p.name for p in out.iterdir()) == [f"{R20}.trec"]
    assert (out / f"{R20}.trec").read_text() == "my notes\n"
    assert store("runs", "export", "-c", "dl20", "-o", out, "--replace").code == 0
    assert (out / f"{R20}.trec").read_text().startswith("# ir_metadata.start\n")
    assert store("runs", "export", "-c", "dl20", "bm25", "-o", out, "--plain").code == 2  # its own file too
