"""Issue 3 through the CLI and the store: produced SciFact runs, their files and metadata, the manifest build."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.retrieval, pytest.mark.slow]


@pytest.fixture(scope="module")
def sf(scifact_build):
    """A store with the bundled SciFact collection and the four manifest pipelines built through `workbench build`
    (conftest.scifact_build: a real CLI process, started as the session begins)."""
    return scifact_build


def scores(cli, db, *measures):
    data = cli("evaluate", "-c", "scifact", "-m", *measures, "--json", store=db).json()
    return {(s["run"], s["measure"]): s["value"] for s in data["scores"]}


def test_published_figures_through_the_store(cli, sf):
    db, _ = sf
    got = scores(cli, db, "nDCG@10", "R@100")
    assert abs(got[("bm25", "nDCG@10")] - 0.6789) <= 0.005  # Anserini flat BM25
    assert abs(got[("bm25", "R@100")] - 0.9253) <= 0.005
    assert abs(got[("dense-minilm", "nDCG@10")] - 0.645) <= 0.015  # all-MiniLM-L6-v2 (MTEB)
    assert got[("rrf", "R@100")] > max(got[("bm25", "R@100")], got[("dense-minilm", "R@100")])
    assert got[("bm25__minilm@100", "R@100")] == got[("bm25", "R@100")]  # a rerank of the top 100 keeps R@100


def test_produced_runs_record_how_they_were_made(cli, sf):
    db, manifest = sf
    runs = {r["name"]: r for r in cli("runs", "list", "-c", "scifact", "--json", store=db).json()}
    assert runs["bm25"]["kind"] == "sparse" and runs["dense-minilm"]["kind"] == "dense"
    assert runs["rrf"]["kind"] == "hybrid" and runs["rrf"]["params"]["inputs"] == ["bm25", "dense-minilm"]
    rr = runs["bm25__minilm@100"]
    assert rr["kind"] == "rerank" and rr["parent"] == "bm25" and rr["depth"] == 100
    assert "pyserini" in runs["bm25"]["software"] or "anserini" in str(runs["bm25"]["software"]).lower()
    path = manifest.parent / "runs" / "scifact" / "rrf.trec"
    head = path.read_text().splitlines()[:40]
    assert head[0] == "# ir_metadata.start" and any("recipe_hash" in line for line in head)
    shown = cli("runs", "show", "rrf", "-c", "scifact", "--json", store=db).json()
    assert "method: rrf" in shown["metadata_header"]


def test_build_is_incremental_and_cli_steps_work(cli, sf):
    db, manifest = sf
    again = cli("build", "--manifest", manifest, "-c", "scifact", "--json", store=db).json()
    assert set(again["pipelines"].values()) == {"unchanged"} and again["scored"] == {"scifact": 0}
    fused = cli("fuse", "-c", "scifact", "bm25", "dense-minilm", "--method", "combmnz", "--norm", "zscore",
                "--runs-dir", manifest.parent / "runs", "--json", store=db)
    assert fused.code == 0, fused.err
    assert fused.json()["run"] == "combmnz-bm25+dense-minilm"
    same = cli("fuse", "-c", "scifact", "bm25", "dense-minilm", "--method", "combmnz", "--norm", "zscore",
               "--runs-dir", manifest.parent / "runs", "--json", store=db)
    assert same.json()["status"] == "unchanged"
    got = scores(cli, db, "nDCG@10")
    assert abs(got[("combmnz-bm25+dense-minilm", "nDCG@10")] - 0.7421) < 0.002
    missing = cli("rerank", "-c", "scifact", "--run", "bm25", "--model", "/nonexistent/cross-encoder", store=db)
    assert missing.code == 2 and "/nonexistent/cross-encoder" in missing.err and "does not exist" in missing.err


def test_depth_study_on_a_produced_rerank(cli, sf):
    db, _ = sf
    res = cli("depth", "-c", "scifact", "bm25__minilm@100", "-m", "nDCG@10", "--depths", "0,10,100", "--json",
              store=db)
    assert res.code == 0, res.err
    pts = {(p["source"], p["depth"]): p["value"] for p in res.json()["points"] if p["measure"] == "nDCG@10"}
    got = scores(cli, db, "nDCG@10")
    assert pts[("derived", 0)] == pytest.approx(got[("bm25", "nDCG@10")], abs=1e-12)
    assert pts[("derived", 100)] == pytest.approx(got[("bm25__minilm@100", "nDCG@10")], abs=1e-12)


def test_demo_without_serving_writes_leaderboards(cli, sf, tmp_path):
    db, manifest = sf
    out = tmp_path / "out"
    res = cli("demo", "--manifest", manifest, "--out", out, "--no-serve", store=db)
    assert res.code == 0, res.err
    assert "## dl20" in res.out and "## scifact" in res.out
    for name in ("dl20", "scifact"):
        for ext in ("md", "csv", "tex", "html", "json"):
            assert (out / f"leaderboard-{name}.{ext}").stat().st_size > 0
    dl20 = (out / "leaderboard-dl20.md").read_text()
    assert dl20.splitlines()[2].startswith("| bm25 | 0.4796 |")
    assert "significantly different from bm25" in dl20
    runs = cli("runs", "list", "-c", "dl20", "--json", store=db).json()
    assert len(runs) == 24
