"""Scores come back under the measure name the user asked for, at full precision, and bad cutoffs are refused
by every command that takes measures, with the store unchanged (issue 16 item 9, issue 15, issue 17 item 1)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from conftest import DL20, DL20_RUNS, ROOT, snapshot

QRELS = DL20 / "qrels.dl20-passage.txt"
ASKED = ["map", "NumRelRet", "ndcg_cut.10", "P.5,10", "AP(rel=2)", "recip_rank"]
SHOWN = {"map": "AP", "NumRelRet": "NumRet(rel=1)", "ndcg_cut_10": "nDCG@10", "P_5": "P@5", "P_10": "P@10",
         "AP(rel=2)": "AP(rel=2)", "recip_rank": "RR"}


@pytest.fixture
def two_runs(cli, db):
    assert cli("collection", "add", "dl20", "--qrels", QRELS).code == 0
    assert cli("ingest", "-c", "dl20", DL20_RUNS / "bm25.trec", DL20_RUNS / "tasb.trec").code == 0
    res = cli("ingest", "-c", "dl20", DL20_RUNS / "bm25__rankvicuna-7b@20.trec", "--parent", "bm25", "--depth", "20")
    assert res.code == 0, res.err
    return db


def test_names_round_trip_through_evaluate_and_exports(cli, two_runs, tmp_path):
    res = cli("evaluate", "-c", "dl20", "-m", *ASKED, "-r", "bm25", "tasb", "--per-query", "--json")
    assert res.code == 0, res.err
    per_query = res.json()
    assert {s["measure"]: s["canonical"] for s in per_query["scores"]} == SHOWN
    assert set(per_query["evaluators"]) == set(SHOWN)
    means = cli("evaluate", "-c", "dl20", "-m", *ASKED, "-r", "bm25", "tasb", "--json").json()
    assert means["computed"] == 0
    exact = {(s["run"], s["query_id"], s["measure"]): s["value"] for s in per_query["scores"] + means["scores"]}
    assert exact[("bm25", "all", "NumRelRet")] == 1277 and round(exact[("bm25", "all", "ndcg_cut_10")], 4) == 0.4796

    # csv: the names asked for, values that read back as the same floats (not 6 significant digits)
    for flag in ([], ["--per-query"]):
        text = cli("export", "scores", "-c", "dl20", "-m", *ASKED, "-r", "bm25", "tasb", *flag, "-f", "csv").out
        rows = list(csv.DictReader(io.StringIO(text)))
        assert list(rows[0]) == ["run", "query_id", "measure", "value"]
        assert {(r["run"], r["query_id"], r["measure"]): float(r["value"]) for r in rows} == {
            k: v for k, v in exact.items() if (k[1] == "all") != bool(flag)}
        assert max(len(r["value"]) for r in rows) > 10
    lines = cli("export", "scores", "-c", "dl20", "-m", *ASKED, "-r", "bm25", "-f", "jsonl").out.splitlines()
    records = [json.loads(line) for line in lines]
    assert {r["measure"]: r["canonical"] for r in records} == SHOWN
    assert all(r["value"] == exact[(r["run"], "all", r["measure"])] for r in records)
    out = tmp_path / "s.parquet"
    assert cli("export", "scores", "-c", "dl20", "-m", *ASKED, "-r", "bm25", "-f", "parquet", "-o", out).code == 0
    import pyarrow.parquet as pq

    assert set(pq.read_table(out)["measure"].to_pylist()) == set(SHOWN)

    # the text table and trec_eval's -q layout use the same names; counts print as integers
    table = cli("evaluate", "-c", "dl20", "-m", *ASKED, "-r", "bm25").out
    assert "ndcg_cut_10" in table and "NumRelRet" in table and "│ 1277 " in table
    lines = cli("evaluate", "-c", "dl20", "-m", "map", "NumRelRet", "-r", "bm25", "--per-query").out.splitlines()
    assert lines[-2:] == ["bm25\tmap                   \tall\t0.3027", "bm25\tNumRelRet             \tall\t1277"]
    assert len(lines) == 2 * 54 + 2


def test_the_store_keys_by_the_canonical_name(cli, two_runs):
    """Two spellings of one measure share its cached scores; no score row is keyed by a spelling."""
    assert cli("evaluate", "-c", "dl20", "-m", "map", "P.5", "-r", "bm25").code == 0
    stored = snapshot(two_runs)
    assert {row[2] for row in stored["score_sets"]} >= {"AP", "P@5"}
    assert not {row[2] for row in stored["score_sets"]} & {"map", "P_5", "P.5"}
    again = cli("evaluate", "-c", "dl20", "-m", "AP", "P@5", "MAP", "-r", "bm25", "--json").json()
    assert again["computed"] == 0
    assert {s["measure"] for s in again["scores"]} == {"AP", "P@5"}  # MAP is AP again: shown once, first name


def test_trec_eval_spellings_in_every_command(cli, two_runs):
    ingest = cli("ingest", "-c", "dl20", DL20_RUNS / "splade-pp-ed.trec", "-m", "ndcg_cut.10", "map", "--json")
    assert ingest.code == 0, ingest.err
    assert set(ingest.json()[0]["scores"]) == {"ndcg_cut_10", "map"}
    lb = cli("leaderboard", "-c", "dl20", "-m", "ndcg_cut.10", "map", "-r", "bm25", "tasb", "--test", "none")
    assert lb.code == 0 and lb.out.splitlines()[0] == "| run | ndcg_cut_10 | map |"
    cmp = cli("compare", "-c", "dl20", "bm25", "tasb", "-m", "ndcg_cut.10", "--json")
    assert cmp.code == 0 and cmp.json()["measures"] == ["ndcg_cut_10"]
    depth = cli("depth", "-c", "dl20", "--reranked", "bm25__rankvicuna-7b@20", "-m", "ndcg_cut.10", "--depths",
                "0,10,20", "--bootstrap", "100", "--json")
    assert depth.code == 0, depth.err
    official = cli("evaluate", "-c", "dl20", "-m", "official", "-r", "bm25", "--json")
    assert official.code == 0 and "note: left out, ir-measures cannot express them: gm_map" in official.err
    assert len({s["measure"] for s in official.json()["scores"]}) == 28


BAD = ["nDCG@0", "P@0", "R@0", "Success@0", "Judged@0", "ndcg_cut.0", "P@2147483648"]
COMMANDS = {
    "evaluate": ["evaluate", "-c", "dl20", "-m", "map", "{m}"],
    "leaderboard": ["leaderboard", "-c", "dl20", "-m", "{m}"],
    "export scores": ["export", "scores", "-c", "dl20", "-m", "{m}", "-f", "csv"],
    "compare": ["compare", "-c", "dl20", "bm25", "tasb", "-m", "{m}"],
    "depth": ["depth", "-c", "dl20", "--reranked", "bm25__rankvicuna-7b@20", "-m", "{m}"],
    "ingest": ["ingest", "-c", "dl20", str(DL20_RUNS / "splade-pp-ed.trec"), str(DL20_RUNS / "ada2.trec"),
               "-m", "map", "{m}"],
    "ingest --keep-going": ["ingest", "-c", "dl20", str(DL20_RUNS / "splade-pp-ed.trec"), "--keep-going",
                            "-m", "{m}"],
    "eval": ["eval", str(QRELS), str(DL20_RUNS / "bm25.trec"), "-m", "{m}"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_cutoffs_refused_by_every_command_store_unchanged(command, cli, two_runs):
    before = snapshot(two_runs)
    for bad in BAD:
        res = cli(*(a.format(m=bad) for a in COMMANDS[command]))
        assert res.code == 2, (bad, res.err)
        assert res.err.startswith("error: ") and res.err.count("\n") == 1, res.err
        assert f"'{bad}': cutoff must be an integer from 1 to 2147483647" in res.err
    assert snapshot(two_runs) == before


def test_cutoff_zero_mid_ingest_is_a_line_not_an_abort(tmp_path):
    """Before: pytrec_eval's C code aborted the process (exit 134) while ingest scored the parsed run."""
    db = tmp_path / "s.duckdb"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def wb(*args):
        return subprocess.run([sys.executable, "-m", "workbench.cli.main", "--db", str(db), *map(str, args)],
                              capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)

    assert wb("collection", "add", "dl20", "--qrels", QRELS).returncode == 0
    before = snapshot(db)
    res = wb("ingest", "-c", "dl20", DL20_RUNS / "bm25.trec", "-m", "nDCG@0")
    assert res.returncode == 2 and res.stderr.startswith("error: ") and "cutoff" in res.stderr, res.stderr
    assert snapshot(db) == before


def _without_canonical(obj, rename: dict[str, str]):
    """A JSON value with every `canonical` key dropped and the names asked for put back to the canonical ones."""
    if isinstance(obj, dict):
        return {rename.get(k, k): _without_canonical(v, rename) for k, v in obj.items() if k != "canonical"}
    if isinstance(obj, list):
        return [_without_canonical(v, rename) for v in obj]
    return rename.get(obj, obj) if isinstance(obj, str) else obj


def _canonical_beside_measure(obj) -> dict[str, str]:
    """{measure: canonical} of every JSON object carrying both, checking `canonical` comes right after `measure`."""
    found: dict[str, str] = {}
    if isinstance(obj, dict):
        keys = list(obj)
        if "canonical" in obj and "measure" in obj:
            assert keys.index("canonical") == keys.index("measure") + 1, keys
            found[obj["measure"]] = obj["canonical"]
        for v in obj.values():
            found |= _canonical_beside_measure(v)
    elif isinstance(obj, list):
        for v in obj:
            found |= _canonical_beside_measure(v)
    return found


DEPTH = ["depth", "-c", "dl20", "bm25__rankvicuna-7b@20", "--depths", "0,10,20", "--bootstrap", "200"]


def test_depth_shows_the_names_asked_for(cli, two_runs):
    """`depth -m ndcg_cut.10 P.5` titles, keys and sentences by ndcg_cut_10 and P_5 (canonical beside them in JSON);
    the numbers are those of `-m nDCG@10 P@5`, whose JSON has no `canonical` (as before names were kept)."""
    asked = cli(*DEPTH, "-m", "ndcg_cut.10", "P.5", "--json")
    assert asked.code == 0, asked.err
    got = asked.json()
    plain = cli(*DEPTH, "-m", "nDCG@10", "P@5", "--json").json()
    assert "canonical" not in json.dumps(plain)
    assert "nDCG@10" not in json.dumps(got).replace('"canonical": "nDCG@10"', "")
    assert list(got["best"]) == list(got["best_depth"]) == list(got["highest_mean_depth"]) == ["ndcg_cut_10", "P_5"]
    assert [b["measure"] for b in got["best"].values()] == ["ndcg_cut_10", "P_5"]
    assert _canonical_beside_measure(got) == {"ndcg_cut_10": "nDCG@10", "P_5": "P@5"}
    assert {p["measure"] for p in got["points"]} == {"ndcg_cut_10", "P_5", "Judged@10"}
    assert all("canonical" not in p for p in got["points"] if p["measure"] == "Judged@10")
    # bm25's nDCG@10 on DL 2020 is trec_eval's 0.4796 (depth 0 is the first stage)
    assert round(got["best"]["ndcg_cut_10"]["first_stage_mean"], 4) == 0.4796
    renamed = _without_canonical(got, {"ndcg_cut_10": "nDCG@10", "P_5": "P@5"})
    key = lambda p: (p["measure"], p["source"], p["depth"])  # noqa: E731 -- rows sort by the name shown
    assert sorted(renamed.pop("points"), key=key) == sorted(plain.pop("points"), key=key)
    assert renamed == plain

    text = cli(*DEPTH, "-m", "ndcg_cut.10", "P.5")
    assert text.code == 0, text.err
    assert "nDCG@10" not in text.out and "P@5" not in text.out
    assert "bm25__rankvicuna-7b@20 over bm25: ndcg_cut_10 by rerank depth" in text.out
    assert "bm25__rankvicuna-7b@20 over bm25: P_5 by rerank depth" in text.out
    sentences = [line for line in text.out.splitlines() if line.startswith(("best k = ", "no depth is"))]
    assert len(sentences) == 2 and "ndcg_cut_10" in sentences[0] and "P_5" in sentences[1], sentences


def test_compare_and_leaderboard_json_carry_the_canonical_name(cli, two_runs):
    """Every pair, win matrix and test row of `compare --json`, and every leaderboard cell, has the name asked for
    and ir-measures' name beside it, as `evaluate --json` has them; an ir-measures spelling is its own canonical."""
    runs = ["bm25", "tasb", "bm25__rankvicuna-7b@20"]
    cmp = cli("compare", "-c", "dl20", *runs, "-m", "ndcg_cut.10", "map", "nDCG@20", "--json")
    assert cmp.code == 0, cmp.err
    got = cmp.json()
    assert got["measures"] == ["ndcg_cut_10", "map", "nDCG@20"]
    assert _canonical_beside_measure(got) == {"ndcg_cut_10": "nDCG@10", "map": "AP", "nDCG@20": "nDCG@20"}
    for part in (got["pairs"], got["win_matrices"], got["significance"]["rows"]):
        assert part and all("canonical" in r for r in part)
    assert {(p["run"], p["measure"]): round(p["mean_baseline"], 4) for p in got["pairs"]}[("tasb", "map")] == 0.3027
    plain = cli("compare", "-c", "dl20", *runs, "-m", "nDCG@10", "AP", "nDCG@20", "--json").json()
    assert _without_canonical(got, {"ndcg_cut_10": "nDCG@10", "map": "AP"}) == _without_canonical(plain, {})

    lb = cli("leaderboard", "-c", "dl20", "-m", "ndcg_cut.10", "map", "-r", "bm25", "tasb", "-b", "bm25",
             "--format", "json")
    assert lb.code == 0, lb.err
    board = lb.json()
    assert board["measures"] == ["ndcg_cut_10", "map"]
    for row in board["rows"]:
        assert list(row["measures"]) == ["ndcg_cut_10", "map"]
        assert {m: c["canonical"] for m, c in row["measures"].items()} == {"ndcg_cut_10": "nDCG@10", "map": "AP"}
    assert round(board["rows"][0]["measures"]["map"]["value"], 4) == 0.3027  # bm25, the baseline, first
