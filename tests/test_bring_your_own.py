"""The README's "Bring your own collection" commands, end to end: a TREC collection from SGML documents (three
folders, one file gzipped), Robust04-style topics and whitespace-laden qrels; a real BM25 run; its evaluation."""

from __future__ import annotations

from pathlib import Path

import ir_measures
import pytest

pytestmark = pytest.mark.retrieval

MINI = Path(__file__).resolve().parent / "data" / "trec-mini"


def test_sgml_collection_bm25_run_and_evaluation(cli, tmp_path):
    added = cli("collection", "add", "mini", "--qrels", MINI / "qrels.301-303.txt", "--topics",
                MINI / "topics.301-303.txt", "--docs", MINI / "docs")
    assert added.code == 0, added.err
    assert "judged, with a topic      3" in added.out and "warning" not in added.err
    runs_dir = tmp_path / "runs"
    made = cli("retrieve", "bm25", "-c", "mini", "--runs-dir", runs_dir, "--json")
    assert made.code == 0, made.err
    path = runs_dir / "mini" / "bm25.trec"
    rows = [line.split() for line in path.read_text().splitlines() if not line.startswith("#")]
    by_query: dict[str, list[str]] = {}
    for qid, _, doc, _, _, _ in rows:
        by_query.setdefault(qid, []).append(doc)
    # the title queries find their documents by the words of HEADLINE/HL and TEXT/LP
    assert by_query["301"][:2] == ["FT911-3", "LA010189-0001"]  # Camorra / Mafia: "international organized crime"
    assert by_query["302"][0] == "FT911-1"  # "poliomyelitis ... post-polio"
    assert by_query["303"][0] == "WSJ880101-0001"  # "Hubble telescope achievements"
    assert set(by_query) == {"301", "302", "303"}
    res = cli("evaluate", "-c", "mini", "-m", "AP", "P@2", "nDCG@10", "--json")
    assert res.code == 0, res.err
    got = {s["measure"]: s["value"] for s in res.json()["scores"] if s["run"] == "bm25"}
    qrels = list(ir_measures.read_trec_qrels(str(MINI / "qrels.301-303.txt")))
    plain = [ir_measures.ScoredDoc(q, d, float(s)) for q, _, d, _, s, _ in rows]
    want = ir_measures.calc_aggregate([ir_measures.AP, ir_measures.P @ 2, ir_measures.nDCG @ 10], qrels, plain)
    assert got == {str(m): pytest.approx(v, abs=1e-12) for m, v in want.items()}
