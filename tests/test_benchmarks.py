"""Benchmarks (issue 20 item 1): named groups of collections, and `leaderboard --benchmark`.

The aggregates are checked against values worked out by hand on a small case (below), and the rank intervals
against a plain NumPy/SciPy reimplementation of the bootstrap with the same seeds; per-query values come from
ir_measures run on the files, not from the workbench.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import duckdb
import numpy as np
import pytest
from conftest import DL20, DL20_RUNS, snapshot

# ---- a hand-checkable case: P@1 on three collections of two queries each ----------------------------------------
# query q1's relevant document is r1, q2's is r2; a run that ranks a relevant document first scores 1 on that query.
# The means (P@1 over the two queries) of each system in each collection:
MEANS = {"A": {"x": 1.0, "y": 0.5, "z": 0.5, "w": 0.0},
         "B": {"x": 0.5, "y": 1.0, "z": 0.0, "w": 1.0},
         "C": {"x": 0.0, "y": 0.5, "z": 1.0}}  # w has no run in C
# By hand, with w (4 systems present in A and B, 3 in C):
#   ranks A: x 1, y 2.5, z 2.5, w 4      Borda (n - rank): x 3, y 1.5, z 1.5, w 0
#   ranks B: y 1.5, w 1.5, x 3, z 4      Borda: y 2.5, w 2.5, x 1, z 0
#   ranks C: z 1, y 2, x 3               Borda: z 2, y 1, x 0
HAND = {  # system: (mean, mean rank, Borda, rank by Borda)
    "y": (2 / 3, 6 / 3, 5.0, 1),
    "x": (0.5, 7 / 3, 4.0, 2),
    "z": (0.5, 7.5 / 3, 3.5, 3),
    "w": (0.5, 5.5 / 2, 2.5, None),  # incomplete: aggregates over A and B, not ranked
}


def _write_collection(root: Path, name: str, means: dict[str, float]) -> tuple[Path, list[Path]]:
    qrels = root / f"{name}.qrels"
    qrels.write_text("q1 0 r1 1\nq2 0 r2 1\n")
    runs = []
    for system, mean in means.items():
        hits = {1.0: (True, True), 0.5: (True, False), 0.0: (False, False)}[mean]
        lines = []
        for q, (qid, hit) in enumerate((("q1", hits[0]), ("q2", hits[1])), start=1):
            first, second = (f"r{q}", "n1") if hit else ("n1", f"r{q}")
            lines += [f"{qid} Q0 {first} 1 2.0 {system}", f"{qid} Q0 {second} 2 1.0 {system}"]
        path = root / name / f"{system}.trec"
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        runs.append(path)
    return qrels, runs


@pytest.fixture
def hand(cli, tmp_path):
    for name, means in MEANS.items():
        qrels, runs = _write_collection(tmp_path, name, means)
        assert cli("collection", "add", name, "--qrels", qrels).code == 0
        res = cli("ingest", "-c", name, *runs)
        assert res.code == 0, res.err
    res = cli("benchmark", "add", "abc", "A", "B", "C", "--description", "three tiny collections")
    assert res.code == 0, res.err
    return cli


def rows_of(res) -> dict[str, dict]:
    assert res.code == 0, res.err
    return {r["system"]: r for r in res.json()["rows"]}


def test_borda_mean_rank_and_mean_equal_the_hand_computed_values(hand):
    rows = rows_of(hand("leaderboard", "--benchmark", "abc", "-m", "P@1", "--rank-by", "borda", "-f", "json"))
    for system, (mean, mean_rank, borda, rank) in HAND.items():
        r = rows[system]
        assert r["mean"] == pytest.approx(mean, abs=1e-12)
        assert r["mean_rank"] == pytest.approx(mean_rank, abs=1e-12)
        assert r["borda"] == borda
        assert r["rank"] == rank
        assert r["complete"] is (system != "w")
        for c, means in MEANS.items():
            cell = r["collections"][c]
            if system in means:
                assert cell["value"] == means[system] and cell["run"] == system and cell["n_queries"] == 2
            else:
                assert cell == {"missing": True}
    assert list(rows) == ["y", "x", "z", "w"]  # ranked systems first, the incomplete one after
    assert rows["x"]["collections"]["A"]["rank"] == 1 and rows["y"]["collections"]["B"]["rank"] == 1.5


def test_each_ranking_and_ties_share_the_best_rank(hand):
    by_mean = rows_of(hand("leaderboard", "--benchmark", "abc", "-m", "P@1", "-f", "json"))
    assert {s: r["rank"] for s, r in by_mean.items()} == {"y": 1, "x": 2, "z": 2, "w": None}  # x, z tie at 0.5
    by_rank = rows_of(hand("leaderboard", "--benchmark", "abc", "-m", "P@1", "--rank-by", "mean-rank", "-f", "json"))
    assert {s: r["rank"] for s, r in by_rank.items()} == {"y": 1, "x": 2, "z": 3, "w": None}


def test_only_the_systems_asked_for_take_part(hand):
    """-r x y z: w is not shown and takes no part in the per-collection ranks and Borda counts."""
    rows = rows_of(hand("leaderboard", "--benchmark", "abc", "-m", "P@1", "-r", "x", "y", "z", "--rank-by", "borda",
                        "-f", "json"))
    # by hand, three systems everywhere: Borda x 2+1+0, y 0.5+2+1, z 0.5+0+2; mean rank x 2, y 11/6, z 13/6
    assert {s: r["borda"] for s, r in rows.items()} == {"y": 3.5, "x": 3.0, "z": 2.5}
    assert rows["y"]["mean_rank"] == pytest.approx(11 / 6) and rows["z"]["mean_rank"] == pytest.approx(13 / 6)
    assert [s for s in rows] == ["y", "x", "z"]


def test_a_mapping_matches_runs_of_other_names(hand, tmp_path):
    mapping = tmp_path / "systems.tsv"
    mapping.write_text("# collection run system\nC x yy   # comment\n\nA y yy\nB y yy\n")
    rows = rows_of(hand("leaderboard", "--benchmark", "abc", "-m", "P@1", "--system", mapping, "-r", "yy", "-f",
                        "json"))
    assert rows["yy"]["collections"]["C"]["run"] == "x" and rows["yy"]["collections"]["A"]["run"] == "y"
    assert rows["yy"]["mean"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    same = rows_of(hand("leaderboard", "--benchmark", "abc", "-m", "P@1", "--system", "C:x=yy", "--system",
                        "A:y=yy", "--system", "B:y=yy", "-r", "yy", "-f", "json"))
    assert same == rows
    res = hand("leaderboard", "--benchmark", "abc", "-m", "P@1", "--system", "C:x=yy", "-f", "json")
    assert res.json()["mapping"] == {"C": {"x": "yy"}}
    assert "Systems matched by run name, except: in C, x as yy." in res.json()["legend"]


def test_every_export_format(hand):
    md = hand("leaderboard", "--benchmark", "abc", "-m", "P@1", "--rank-by", "borda")
    assert md.code == 0, md.err
    lines = md.out.splitlines()
    assert lines[0] == "| rank | system | A | B | C | mean | mean rank | Borda | rank 95% CI |"
    assert lines[2].startswith("| 1 | y | 0.5000 (2.5) | 1.0000 (1.5) | 0.5000 (2) | 0.6667 | 2.00 | 5 | [")
    assert lines[5] == "|  | w | 0.0000 (4) | 1.0000 (1.5) | missing | 0.5000 * | 2.75 * | 2.5 * |  |"
    assert any("incomplete" in line for line in lines)
    table = list(csv.DictReader(io.StringIO(hand("leaderboard", "--benchmark", "abc", "-m", "P@1", "--rank-by",
                                                 "borda", "-f", "csv").out)))
    assert [r["system"] for r in table] == ["y", "x", "z", "w"]
    assert table[3]["C"] == "" and table[3]["rank"] == "" and table[3]["complete"] == "False"
    assert float(table[0]["borda"]) == 5.0 and table[0]["A rank"] == "2.5"
    html = hand("leaderboard", "--benchmark", "abc", "-m", "P@1", "-f", "html").out
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html and "missing" in html
    assert "<script" in html and "src=" not in html
    latex = hand("leaderboard", "--benchmark", "abc", "-m", "P@1", "-f", "latex").out
    assert r"\label{tab:benchmark-abc}" in latex and r"\toprule" in latex
    body = re.sub(r"\\[{}]", "", latex)
    assert body.count("{") == body.count("}")


def test_dl20_split_in_two_collections(cli, tmp_path):
    """A benchmark of two real collections (DL 2020's queries split in halves): each half's means are the mean of
    ir_measures' per-query values over that half, and its ranks are scipy's."""
    import ir_measures
    from scipy.stats import rankdata

    qrels = [line.split() for line in (DL20 / "qrels.dl20-passage.txt").read_text().splitlines() if line.strip()]
    queries = sorted({q[0] for q in qrels})
    halves = {"even": set(queries[::2]), "odd": set(queries[1::2])}
    runs = ["bm25", "tasb", "splade-pp-ed"]
    for name, qs in halves.items():
        path = tmp_path / f"{name}.qrels"
        path.write_text("".join(" ".join(q) + "\n" for q in qrels if q[0] in qs))
        assert cli("collection", "add", name, "--qrels", path).code == 0
        for run in runs:
            lines = [line for line in (DL20_RUNS / f"{run}.trec").read_text().splitlines() if line.split()[0] in qs]
            (tmp_path / name).mkdir(exist_ok=True)
            (tmp_path / name / f"{run}.trec").write_text("\n".join(lines) + "\n")
        assert cli("ingest", "-c", name, *(tmp_path / name / f"{r}.trec" for r in runs)).code == 0
    assert cli("benchmark", "add", "dl20-halves", "even", "odd").code == 0
    rows = rows_of(cli("leaderboard", "--benchmark", "dl20-halves", "-m", "nDCG@10", "-f", "json"))
    measure = ir_measures.parse_measure("nDCG@10")
    means = {}
    for name in halves:
        q = list(ir_measures.read_trec_qrels(str(tmp_path / f"{name}.qrels")))
        means[name] = {r: np.mean([m.value for m in measure.iter_calc(
            q, list(ir_measures.read_trec_run(str(tmp_path / name / f"{r}.trec"))))]) for r in runs}
        ranks = rankdata([-means[name][r] for r in runs])
        for r, rank in zip(runs, ranks, strict=True):
            assert rows[r]["collections"][name]["value"] == pytest.approx(means[name][r], abs=1e-12)
            assert rows[r]["collections"][name]["rank"] == rank
    for r in runs:
        assert rows[r]["mean"] == pytest.approx((means["even"][r] + means["odd"][r]) / 2, abs=1e-12)


# ---- the rank intervals against a plain reimplementation ---------------------------------------------------------
def _random_collections(root: Path, rng: np.random.Generator, n_collections: int, n_queries: int,
                        systems: list[str]) -> dict[str, tuple[Path, dict[str, Path]]]:
    """Random qrels and runs; system `oracle` ranks every relevant document first everywhere."""
    out = {}
    for k in range(n_collections):
        name = f"c{k}"
        qrels = {f"q{i:02d}": {f"d{j}": int(rng.integers(0, 3)) for j in rng.choice(30, 8, replace=False)}
                 for i in range(n_queries)}
        qpath = root / f"{name}.qrels"
        qpath.write_text("".join(f"{q} 0 {d} {g}\n" for q, docs in qrels.items() for d, g in docs.items()))
        runs = {}
        for s in systems:
            lines = []
            for q, docs in qrels.items():
                order = (sorted(docs, key=lambda d: -docs[d]) + [f"x{j}" for j in range(5)] if s == "oracle"
                         else [f"d{j}" for j in rng.permutation(30)[:10]])
                lines += [f"{q} Q0 {d} {i + 1} {100 - i} {s}" for i, d in enumerate(order)]
            path = root / name / f"{s}.trec"
            path.parent.mkdir(exist_ok=True)
            path.write_text("\n".join(lines) + "\n")
            runs[s] = path
        out[name] = (qpath, runs)
    return out


def reference_rank_intervals(per_query: dict[str, np.ndarray], rank_by: str, n_resamples: int, seed: int,
                             present: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Plain NumPy/SciPy: collection k resampled with default_rng(seed + k) (queries in sorted order), per-collection
    means, scipy's average ranks among the present systems, the aggregate, scipy's min ranks among the complete
    systems, and the 2.5%/97.5% order statistics (ceil(q * B)-th smallest)."""
    from scipy.stats import rankdata

    names = list(per_query)
    n_systems = next(iter(per_query.values())).shape[0]
    means = np.full((n_systems, len(names), n_resamples), np.nan)
    for k, c in enumerate(names):
        values = per_query[c]
        idx = np.random.default_rng(seed + k).integers(0, values.shape[1], size=(n_resamples, values.shape[1]))
        for b in range(n_resamples):
            means[:, k, b] = np.where(present[c], values[:, idx[b]].mean(axis=1), np.nan)
    complete = np.all([present[c] for c in names], axis=0)
    ranks_all = np.empty((n_systems, n_resamples))
    for b in range(n_resamples):
        ranks = np.full((n_systems, len(names)), np.nan)
        for k, c in enumerate(names):
            here = present[c]
            ranks[here, k] = rankdata(-means[here, k, b], method="average")
        n_present = np.array([present[c].sum() for c in names])
        score = {"mean": np.nanmean(means[:, :, b], axis=1), "mean-rank": -np.nanmean(ranks, axis=1),
                 "borda": np.nansum(n_present[None, :] - ranks, axis=1)}[rank_by]
        ranks_all[:, b] = np.nan
        ranks_all[complete, b] = rankdata(-score[complete], method="min")
    ordered = np.sort(ranks_all, axis=1)
    low = ordered[:, math.ceil(0.025 * n_resamples) - 1]
    high = ordered[:, math.ceil(0.975 * n_resamples) - 1]
    return np.where(complete, low, np.nan), np.where(complete, high, np.nan)


@pytest.mark.parametrize("rank_by", ["mean", "borda", "mean-rank"])
def test_rank_intervals_equal_a_plain_bootstrap(cli, tmp_path, rank_by):
    import ir_measures

    systems = ["oracle", "s1", "s2", "s3", "s4"]
    made = _random_collections(tmp_path, np.random.default_rng(7), 3, 12, systems)
    for name, (qpath, runs) in made.items():
        assert cli("collection", "add", name, "--qrels", qpath).code == 0
        keep = [p for s, p in runs.items() if not (name == "c2" and s == "s4")]  # s4 is missing from c2
        assert cli("ingest", "-c", name, *keep).code == 0
    assert cli("benchmark", "add", "rand", *made).code == 0
    n, seed = 400, 11
    rows = rows_of(cli("leaderboard", "--benchmark", "rand", "-m", "nDCG@5", "--rank-by", rank_by, "--bootstrap", n,
                       "--seed", seed, "-f", "json"))
    measure = ir_measures.parse_measure("nDCG@5")
    per_query, present = {}, {}
    for name, (qpath, runs) in made.items():
        qrels = list(ir_measures.read_trec_qrels(str(qpath)))
        queries = sorted({q.query_id for q in qrels})
        values = np.zeros((len(systems), len(queries)))
        for i, s in enumerate(systems):
            got = {m.query_id: m.value for m in measure.iter_calc(qrels, list(ir_measures.read_trec_run(str(runs[s]))))}
            values[i] = [got.get(q, 0.0) for q in queries]
        per_query[name] = values
        present[name] = np.array([not (name == "c2" and s == "s4") for s in systems])
    low, high = reference_rank_intervals(per_query, rank_by, n, seed, present)
    for i, s in enumerate(systems):
        got = rows[s]["rank_ci"]
        if s == "s4":
            assert got == [None, None] and rows[s]["rank"] is None
        else:
            assert got == [int(low[i]), int(high[i])], s
    assert rows["oracle"]["rank"] == 1 and rows["oracle"]["rank_ci"] == [1, 1]  # it wins every query everywhere


def test_rank_intervals_of_hand_checkable_resamples(hand):
    """Collection A alone: x hits both queries (1.0 in every resample: rank 1 always); y and z hit q1 only (0.5),
    w neither (0). A resample draws q1 twice with probability 1/4 (y and z score 1 and tie with x at rank 1) and
    q2 twice with probability 1/4 (y, z and w score 0 and tie at rank 2, w is 4th otherwise). So y's and z's
    intervals are [1, 2], w's [2, 4]."""
    assert hand("benchmark", "add", "a-only", "A").code == 0
    rows = rows_of(hand("leaderboard", "--benchmark", "a-only", "-m", "P@1", "-f", "json"))
    assert rows["x"]["rank"] == 1 and rows["x"]["rank_ci"] == [1, 1]
    assert rows["y"]["rank"] == rows["z"]["rank"] == 2 and rows["y"]["rank_ci"] == rows["z"]["rank_ci"] == [1, 2]
    assert rows["w"]["rank"] == 4 and rows["w"]["rank_ci"] == [2, 4]


# ---- the benchmark commands --------------------------------------------------------------------------------------
def test_add_list_remove(hand, db):
    listed = hand("benchmark", "list", "--json").json()
    assert listed == [{"name": "abc", "collections": ["A", "B", "C"], "description": "three tiny collections",
                       "source": {"cli": True}, "created_at": listed[0]["created_at"], "missing_collections": []}]
    again = hand("benchmark", "add", "abc", "A", "B", "C", "--description", "three tiny collections", "--json")
    assert again.code == 0 and again.json()["changed"] is False
    assert hand("benchmark", "add", "abc", "C", "A", "--replace").code == 0
    assert hand("benchmark", "list", "--json").json()[0]["collections"] == ["C", "A"]
    before = snapshot(db)
    res = hand("benchmark", "remove", "abc")
    assert res.code == 2 and "add --yes" in res.err and snapshot(db) == before
    assert hand("benchmark", "remove", "abc", "--yes").code == 0
    assert hand("benchmark", "list", "--json").json() == []
    after = snapshot(db)
    assert after["collections"] == before["collections"] and after["runs"] == before["runs"]


def test_a_removed_collection_is_named(hand):
    assert hand("collection", "remove", "C", "--yes").code == 0
    assert hand("benchmark", "list", "--json").json()[0]["missing_collections"] == ["C"]
    res = hand("leaderboard", "--benchmark", "abc", "-m", "P@1")
    assert res.code == 2 and "names collection 'C', which the store no longer holds" in res.err


JUNK = [
    (["benchmark", "add", "x", "A", "NOPE"], "no collection named 'NOPE'"),
    (["benchmark", "add", "x", "A", "B", "A"], "names collection 'A' twice"),
    (["benchmark", "add", "it's", "A"], "invalid benchmark name"),
    (["benchmark", "add", "a\nb", "A"], "expected a non-empty value on one line"),
    (["benchmark", "add", "x"], "the following arguments are required: COLLECTION"),
    (["benchmark", "add", "x", "A", "--description", "two\nlines"], "expected a non-empty value on one line"),
    (["benchmark", "add", "abc", "A", "B"], "already exists with collections A, B, C"),
    (["benchmark", "remove", "nope", "--yes"], "no benchmark named 'nope'"),
    (["leaderboard", "--benchmark", "nope", "-m", "P@1"], "no benchmark named 'nope'"),
    (["leaderboard", "--benchmark", "abc"], "give it with -m"),
    (["leaderboard", "--benchmark", "abc", "-m", "P@1", "P@2"], "on one measure"),
    (["leaderboard", "--benchmark", "abc", "-c", "A", "-m", "P@1"], "one of them"),
    (["leaderboard", "-m", "P@1"], "one of them"),
    (["leaderboard", "--benchmark", "abc", "-m", "P@1", "-b", "x"], "--baseline is for the leaderboard of one"),
    (["leaderboard", "-c", "A", "-m", "P@1", "--system", "A:x=y"], "--system maps runs to systems of a benchmark"),
    (["leaderboard", "--benchmark", "abc", "-m", "NumRet"], "rank a benchmark by a mean measure"),
    (["leaderboard", "--benchmark", "abc", "-m", "nDCG@"], "nDCG@"),
    (["leaderboard", "--benchmark", "abc", "-m", "official"], "ranks systems on one measure, got 'official'"),
    (["leaderboard", "--benchmark", "abc", "-m", "P@1", "-r", "nope"], "no system named 'nope'"),
    (["leaderboard", "--benchmark", "abc", "-m", "P@1", "--system", "Z:x=y"], "names collection 'Z'"),
    (["leaderboard", "--benchmark", "abc", "-m", "P@1", "--system", "A:nope=y"], "maps run 'nope'"),
    (["leaderboard", "--benchmark", "abc", "-m", "P@1", "--system", "A:x=x2"], None),  # fine: x is x2 in A
    (["leaderboard", "--benchmark", "abc", "-m", "P@1", "--system", "A:x=y", "--system", "A:x=z"], "mapped twice"),
    (["leaderboard", "--benchmark", "abc", "-m", "P@1", "--system", "A:x=y'z"], "invalid system name"),
    (["leaderboard", "--benchmark", "abc", "-m", "P@1", "--system", "A:y=x"], "would both be system 'x'"),
    (["leaderboard", "--benchmark", "abc", "-m", "P@1", "--system", "bogus"], "expected COLLECTION:RUN=SYSTEM"),
    (["leaderboard", "--benchmark", "abc", "-m", "P@1", "--system", "BADMAP"], "BADMAP:2: expected `collection run"),
    (["leaderboard", "--benchmark", "abc", "-m", "P@1", "--bootstrap", "0"], "a number of samples from 1"),
    (["leaderboard", "--benchmark", "abc", "-m", "P@1", "--rank-by", "best"], "invalid choice: 'best'"),
]


@pytest.mark.parametrize(("args", "message"), JUNK, ids=[" ".join(a)[:60] for a, _ in JUNK])
def test_junk_is_one_line_exit_2_and_leaves_the_store(hand, db, tmp_path, args, message):
    bad = tmp_path / "bad.map"
    bad.write_text("A x y\nA y\n")
    args = [str(bad) if a == "BADMAP" else a for a in args]
    before = snapshot(db)
    res = hand(*args)
    if message is None:
        assert res.code == 0, res.err
        return
    assert res.code == 2, (res.code, res.out, res.err)
    err = res.err.replace(str(bad), "BADMAP")
    assert message in err, err
    assert len([line for line in res.err.splitlines() if line.strip()]) == 1, res.err
    assert snapshot(db) == before


def test_leaderboard_without_a_store_creates_none(cli, tmp_path):
    missing = tmp_path / "none.duckdb"
    res = cli("leaderboard", "--benchmark", "b", "-m", "P@1", store=missing)
    assert res.code == 2 and "no store here" in res.err and not missing.exists()
    res = cli("benchmark", "add", "b", "A", store=missing)
    assert res.code == 2 and "no store here" in res.err and not missing.exists()


# ---- schema 5 -> 6 -----------------------------------------------------------------------------------------------
def test_schema_5_store_is_migrated(hand, db):
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE benchmarks")
    con.execute("DROP TABLE benchmark_collections")
    con.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    con.close()
    before = {t: rows for t, rows in snapshot(db).items() if t != "meta"}
    res = hand("benchmark", "add", "again", "A", "B")
    assert res.code == 0, res.err
    after = snapshot(db)
    assert after["meta"] == [("schema_version", "6")]
    assert after["benchmarks"] == [("again", "", json.dumps({"cli": True}))]
    assert after["benchmark_collections"] == [("again", 0, "A"), ("again", 1, "B")]
    assert {t: rows for t, rows in after.items() if t in before} == before  # every other row as it was


# ---- the manifest's `benchmarks:` and build ----------------------------------------------------------------------
def _manifest(root: Path, benchmarks: str) -> Path:
    for name, means in MEANS.items():
        _write_collection(root, name, means)
    runs = "".join(f"  - {{file: {name}/{s}.trec, collection: {name}}}\n" for name, means in MEANS.items()
                   for s in means)
    path = root / "data_manifest.yaml"
    path.write_text("version: 1\ncollections:\n" + "".join(f"  {n}: {{qrels: {n}.qrels}}\n" for n in MEANS)
                    + "runs:\n" + runs + benchmarks)
    return path


MANIFEST_JUNK = [
    ("benchmarks:\n  b: {collections: [A, Z]}\n", 2, "names collection 'Z', which is not declared under collections"),
    ("benchmarks:\n  b: {collections: [A, A]}\n", 2, "names collection 'A' twice"),
    ("benchmarks:\n  b: {collections: []}\n", 2, "needs collections: a list of at least one name"),
    ("benchmarks:\n  b: {collections: A}\n", 2, "needs collections: a list of at least one name"),
    ("benchmarks:\n  b:\n    collections: [A]\n    members: [B]\n", 4, "unknown key 'members'"),
    ("benchmarks:\n  \"b'c\": {collections: [A]}\n", 2, "invalid benchmark name"),
    ("benchmarks: [A, B]\n", 1, "benchmarks must be a mapping"),
    ("benchmarks:\n  b: {collections: [A], description: [x]}\n", 2, "description must be one line of text"),
]


@pytest.mark.parametrize(("text", "line", "message"), MANIFEST_JUNK, ids=[m for _, _, m in MANIFEST_JUNK])
def test_manifest_benchmarks_are_checked_at_their_line(cli, db, tmp_path, text, line, message):
    path = _manifest(tmp_path, text)
    first = path.read_text().count("\n") - text.count("\n")  # the line the benchmarks section starts on, minus 1
    res = cli("build", "--manifest", path)
    assert res.code == 2 and not db.exists()
    assert res.err.strip().startswith(f"error: {path}:{first + line}: "), res.err
    assert message in res.err and len(res.err.strip().splitlines()) == 1


def test_build_defines_updates_and_respects_benchmarks(cli, db, tmp_path):
    path = _manifest(tmp_path, "benchmarks:\n  abc: {collections: [A, B, C], description: three tiny ones}\n")
    res = cli("build", "--manifest", path, "--json")
    assert res.code == 0, res.err
    assert res.json()["benchmarks"] == {"abc": "updated"}
    listed = cli("benchmark", "list", "--json").json()
    assert listed[0]["collections"] == ["A", "B", "C"] and listed[0]["source"] == {"manifest": str(path.resolve())}
    assert cli("build", "--manifest", path, "--json").json()["benchmarks"] == {"abc": "unchanged"}
    assert cli("build", "--manifest", path, "-c", "A", "--json").json()["benchmarks"] == {}  # B, C not built now
    path.write_text(path.read_text().replace("[A, B, C]", "[C, B]"))  # the manifest's own: redefined
    assert cli("build", "--manifest", path, "--json").json()["benchmarks"] == {"abc": "updated"}
    assert cli("benchmark", "list", "--json").json()[0]["collections"] == ["C", "B"]
    # one defined by hand is not replaced by build unless --replace
    assert cli("benchmark", "add", "abc", "A", "--replace").code == 0
    before = snapshot(db)
    res = cli("build", "--manifest", path)
    assert res.code == 2 and "benchmark 'abc' in the store was not defined by data_manifest.yaml" in res.err
    assert snapshot(db) == before
    assert cli("build", "--manifest", path, "--replace").code == 0
    assert cli("benchmark", "list", "--json").json()[0]["collections"] == ["C", "B"]


def test_bundled_manifest_declares_the_dl20_scifact_benchmark():
    from conftest import ROOT

    from workbench.services.manifest import load_manifest

    spec = load_manifest(ROOT / "data_manifest.yaml").benchmarks["dl20-scifact"]
    assert spec.collections == ("dl20", "scifact")


def test_build_has_no_complexity_exemption():
    from conftest import ROOT

    assert "noqa: C901" not in (ROOT / "workbench" / "services" / "build.py").read_text()


def test_python_api_returns_what_the_cli_prints(hand, db):
    import workbench as wb

    board = wb.open(db).benchmark_leaderboard("abc", "P@1", rank_by="borda", mapping="C:x=x2")
    cli_json = hand("leaderboard", "--benchmark", "abc", "-m", "P@1", "--rank-by", "borda", "--system", "C:x=x2",
                    "-f", "json").json()
    assert board.to_dict() == cli_json
    frame = board.to_frame()
    assert frame.loc["y", "borda"] == 5.0 and frame.loc["x2", "P@1 C"] == 0.0 and math.isnan(frame.loc["x", "P@1 C"])
    assert list(frame.index) == [r["system"] for r in cli_json["rows"]]


def test_rank_functions_equal_scipys_on_ties_and_missing_values():
    from scipy.stats import rankdata

    from workbench.analysis.benchmark import average_ranks, competition_ranks

    rng = np.random.default_rng(3)
    values = rng.integers(0, 4, size=(9, 300)).astype(float)  # many ties
    values[rng.random(values.shape) < 0.2] = np.nan
    got = average_ranks(values)
    eligible = rng.random(9) < 0.7
    mins = competition_ranks(values, eligible, higher_is_better=False)
    for j in range(values.shape[1]):
        here = ~np.isnan(values[:, j])
        assert np.array_equal(got[here, j], rankdata(-values[here, j], method="average"))
        assert np.isnan(got[~here, j]).all()
        both = here & eligible
        assert np.array_equal(mins[both, j], rankdata(values[both, j], method="min"))
        assert np.isnan(mins[~both, j]).all()
