"""Issue 4 through the CLI on the real DL 2020 runs: compare (wins, tests, matrix) and depth scaling."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DL20_RUNS

FIRST_STAGES = ["bm25", "bm25-rm3", "tasb", "ada2", "splade-pp-ed"]


def trec_eval_ndcg10() -> dict[str, float]:
    """nDCG@10 of every bundled run as trec_eval printed it (runs/dl20/RUNS.tsv)."""
    rows = [line.split("\t") for line in (DL20_RUNS / "RUNS.tsv").read_text().splitlines()[1:]]
    return {r[0].removesuffix(".trec"): float(r[7]) for r in rows}


def test_compare_counts_match_per_query_scores(cli, dl20_store):
    res = cli("compare", "-c", "dl20", "bm25", "tasb", "-m", "nDCG@10", "--json", store=dl20_store)
    assert res.code == 0, res.err
    data = res.json()
    (pair,) = data["pairs"]
    exported = cli("export", "scores", "-c", "dl20", "-m", "nDCG@10", "--per-query", "-r", "bm25", "tasb",
                   "-f", "jsonl", store=dl20_store).out.splitlines()
    import json

    vals: dict = {}
    for line in exported:
        rec = json.loads(line)
        vals.setdefault(rec["run"], {})[rec["query_id"]] = rec["value"]
    d = np.array([vals["tasb"][q] - vals["bm25"][q] for q in vals["bm25"]])
    assert (pair["wins"], pair["ties"], pair["losses"]) == ((d > 0).sum(), (d == 0).sum(), (d < 0).sum())
    assert (pair["wins"], pair["ties"], pair["losses"]) == (44, 0, 10)
    assert pair["top_gains"][0]["query_id"] == "1051399"
    sig = data["significance"]["rows"][0]
    assert sig["significant"] and sig["p_value"] < 1e-4
    text = cli("compare", "-c", "dl20", "bm25", "bm25-rm3", "tasb", "-m", "nDCG@10", store=dl20_store).out
    assert "win matrix on nDCG@10" in text and "44/0/10" in text


@pytest.mark.parametrize("first", FIRST_STAGES)
def test_depth_scaling_rankvicuna(cli, dl20_store, first):
    """The must-show table: nDCG@10 at depth 0, 20, 100 (derived curve and observed runs) vs the first stage."""
    ref = trec_eval_ndcg10()
    res = cli("depth", "-c", "dl20", f"{first}__rankvicuna-7b@100", "-m", "nDCG@10", "--depths", "0,20,100",
              "--json", store=dl20_store)
    assert res.code == 0, res.err
    data = res.json()
    pts = {(p["source"], p["depth"]): p for p in data["points"] if p["measure"] == "nDCG@10"}
    # the derived curve at k=0 is the first stage, at k=K the reranked run itself (trec_eval's numbers)
    assert round(pts[("derived", 0)]["value"], 4) == ref[first]
    assert round(pts[("derived", 100)]["value"], 4) == ref[f"{first}__rankvicuna-7b@100"]
    assert round(pts[("observed", 100)]["value"], 4) == ref[f"{first}__rankvicuna-7b@100"]
    assert round(pts[("observed", 20)]["value"], 4) == ref[f"{first}__rankvicuna-7b@20"]
    assert data["observed_runs"] == {"20": f"{first}__rankvicuna-7b@20", "100": f"{first}__rankvicuna-7b@100"}
    # every deeper rerank is significantly better than its first stage, except on SPLADE (already strong)
    assert pts[("derived", 0)]["p_adjusted"] is None
    # Judged@10 beside every depth: derived at K is R itself
    assert pts[("derived", 100)]["judged"] == pts[("observed", 100)]["judged"]
    assert 0.9 < pts[("derived", 0)]["judged"] <= 1.0
    if first in ("bm25", "bm25-rm3"):
        assert pts[("derived", 100)]["significant"] and pts[("observed", 20)]["significant"]
    assert [p["depth"] for p in data["points"] if p["source"] == "derived" and p["measure"] == "nDCG@10"] == [0, 20,
                                                                                                               100]


def test_depth_text_output_and_phantoms(cli, dl20_store):
    res = cli("depth", "-c", "dl20", "bm25__rankvicuna-7b@100", store=dl20_store)
    assert res.code == 0, res.err
    assert "best k = 100 for nDCG@10: 0.6648, +0.1852 over bm25 (95% CI [" in res.out and "Judged@10" in res.out
    assert "phantom hits: 24 unjudged documents promoted into the top 10 at depth 100" in res.out
    missing = cli("depth", "-c", "dl20", "bm25", store=dl20_store)
    assert missing.code == 2 and "no stored parent" in missing.err


def test_leaderboard_significance_marks_and_legend(cli, dl20_store):
    """Marks agree with the analysis library's Holm-corrected t-tests; the legend states test, correction, alpha."""
    args = ("leaderboard", "-c", "dl20", "-m", "nDCG@10", "AP(rel=2)", "-b", "bm25", "-r", "bm25", "bm25-rm3",
            "tasb", "--ci")
    md = cli(*args, store=dl20_store).out
    rows = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert "†" in rows["tasb"] and "†" not in rows["bm25-rm3"]  # bm25-rm3 vs bm25: p_adj 0.60 (not significant)
    assert "† significantly different from bm25.\nPaired t-test, Holm correction over 4 comparisons, alpha=0.05.\n" \
        in md
    assert "[+0.1344, +0.2793]" in rows["tasb"]  # bootstrap CI of the nDCG@10 delta, seed 0
    data = cli(*args, "-f", "json", store=dl20_store).json()
    assert data["significance"]["test"] == "t" and data["significance"]["correction"] == "holm"
    tasb = next(r for r in data["rows"] if r["run"] == "tasb")["measures"]["nDCG@10"]
    assert tasb["tests"]["bm25"]["significant"] and tasb["tests"]["bm25"]["p_adjusted"] < 0.001
    assert round(tasb["value"], 4) == 0.6854 and round(tasb["delta"]["bm25"], 4) == 0.2057
    tex = cli(*args, "-f", "latex", store=dl20_store).out
    assert r"$^{\dagger}$" in tex and r"\textbackslash" not in tex
