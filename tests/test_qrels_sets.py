"""Several qrels per collection (issue 20 item 2): named sets stored beside the collection's own qrels, scored
against with --qrels NAME, keyed by content (switching back and forth rescores nothing); schema 4 -> 5."""

from __future__ import annotations

import duckdb
import ir_measures
import pytest
from conftest import DL20, DL20_RUNS, snapshot

QRELS = DL20 / "qrels.dl20-passage.txt"
RUNS = ["bm25", "tasb"]
MEASURES = ["nDCG@10", "AP(rel=2)", "P(rel=2)@10"]


@pytest.fixture
def strict(tmp_path):
    """DL 2020's qrels with grade 1 ("related") made 0: another assessor's stricter reading."""
    path = tmp_path / "strict.qrels"
    lines = []
    for line in QRELS.read_text().splitlines():
        qid, it, doc, grade = line.split()
        lines.append(f"{qid} {it} {doc} {0 if grade == '1' else grade}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def dl20(cli):
    assert cli("collection", "add", "dl20", "--qrels", QRELS).code == 0
    assert cli("ingest", "-c", "dl20", *(DL20_RUNS / f"{r}.trec" for r in RUNS)).code == 0
    return cli


def reference(qrels_path, run_name: str) -> dict[tuple[str, str], float]:
    """ir_measures on the files themselves (no workbench code): {(measure, query): value}."""
    qrels = list(ir_measures.read_trec_qrels(str(qrels_path)))
    run = list(ir_measures.read_trec_run(str(DL20_RUNS / f"{run_name}.trec")))
    return {(str(m.measure), m.query_id): m.value
            for m in ir_measures.iter_calc([ir_measures.parse_measure(x) for x in MEASURES], qrels, run)}


def per_query(res) -> dict[tuple[str, str, str], float]:
    return {(s["run"], s["measure"], s["query_id"]): s["value"] for s in res.json()["scores"]}


def test_add_list_remove(dl20, strict):
    added = dl20("collection", "qrels", "add", "dl20", "strict", strict, "--json")
    assert added.code == 0, added.err
    info = added.json()
    assert info["changed"] and info["n_judgments"] == 11386 and info["n_queries"] == 54 and info["warnings"] == []
    assert not dl20("collection", "qrels", "add", "dl20", "strict", strict, "--json").json()["changed"]
    listed = dl20("collection", "qrels", "list", "dl20", "--json").json()
    assert [r["name"] for r in listed] == ["default", "strict"]
    assert listed[1]["qrels_hash"] == info["qrels_hash"] != listed[0]["qrels_hash"]
    assert dl20("collection", "qrels", "remove", "dl20", "strict").code == 2  # asks for --yes
    assert dl20("collection", "qrels", "remove", "dl20", "strict", "--yes").code == 0
    assert [r["name"] for r in dl20("collection", "qrels", "list", "dl20", "--json").json()] == ["default"]


def test_scores_against_a_set_equal_ir_measures_and_switching_rescores_nothing(dl20, strict):
    assert dl20("collection", "qrels", "add", "dl20", "strict", strict).code == 0
    own = dl20("evaluate", "-c", "dl20", "-m", *MEASURES, "--per-query", "--json")
    first = dl20("evaluate", "-c", "dl20", "-m", *MEASURES, "--qrels", "strict", "--per-query", "--json")
    assert first.code == 0, first.err
    body = first.json()
    assert body["qrels"] == "strict" and body["computed"] == len(RUNS) * len(MEASURES)
    got = per_query(first)
    for run in RUNS:
        for (measure, qid), value in reference(strict, run).items():
            assert got[(run, measure, qid)] == pytest.approx(value, abs=1e-12)
        for (measure, qid), value in reference(QRELS, run).items():
            assert per_query(own)[(run, measure, qid)] == pytest.approx(value, abs=1e-12)
    assert per_query(own) != got
    # back and forth: everything is read, nothing scored again
    again_own = dl20("evaluate", "-c", "dl20", "-m", *MEASURES, "--per-query", "--json")
    assert again_own.json()["computed"] == 0 and per_query(again_own) == per_query(own)
    assert "qrels" not in again_own.json()
    again = dl20("evaluate", "-c", "dl20", "-m", *MEASURES, "--qrels", "strict", "--per-query", "--json")
    assert again.json()["computed"] == 0 and per_query(again) == got
    # removed and added again under another name: same content, same scores, still nothing to score
    assert dl20("collection", "qrels", "remove", "dl20", "strict", "--yes").code == 0
    assert dl20("collection", "qrels", "add", "dl20", "second", strict).code == 0
    back = dl20("evaluate", "-c", "dl20", "-m", *MEASURES, "--qrels", "second", "--per-query", "--json")
    assert back.json()["computed"] == 0 and per_query(back) == got


def test_leaderboard_pool_and_judged_only_take_the_set(dl20, strict, tmp_path):
    info = dl20("collection", "qrels", "add", "dl20", "strict", strict, "--json").json()
    board = dl20("leaderboard", "-c", "dl20", "-m", "P(rel=2)@10", "--qrels", "strict", "--bounds", "-f", "json")
    assert board.code == 0, board.err
    assert board.json()["qrels_hash"] == info["qrels_hash"]
    out = tmp_path / "pool.qrels"
    pooled = dl20("pool", "-c", "dl20", "--depth", "10", "--qrels", "strict", "-o", out, "--json").json()
    assert pooled["qrels_hash"] == info["qrels_hash"]
    strict_grades = {tuple(line.split()[::2][:2]): line.split()[3] for line in strict.read_text().splitlines()}
    for line in out.read_text().splitlines():
        qid, _, doc, grade = line.split()
        assert grade == strict_grades.get((qid, doc), "?")
    judged = dl20("evaluate", "-c", "dl20", "-m", "P(rel=2)@10", "--qrels", "strict", "-J", "--json")
    assert judged.code == 0 and judged.json()["semantics"].startswith("trec_eval10(-c,-J")


@pytest.mark.parametrize("args, message", [
    (["collection", "qrels", "add", "dl20", "default", "QRELS"], "the collection's own qrels"),
    (["collection", "qrels", "add", "nope", "x", "QRELS"], "no collection named 'nope'"),
    (["collection", "qrels", "add", "dl20", "a/b", "QRELS"], "invalid qrels name"),
    (["collection", "qrels", "add", "dl20", "x", "BAD"], "BAD:2:"),
    (["collection", "qrels", "add", "dl20", "strict", "QRELS"], "already has qrels named 'strict'"),
    (["collection", "qrels", "remove", "dl20", "nope", "--yes"], "has no qrels named 'nope'"),
    (["collection", "qrels", "remove", "dl20", "default", "--yes"], "the collection's own qrels"),
    (["evaluate", "-c", "dl20", "--qrels", "nope"], "has no qrels named 'nope'"),
    (["leaderboard", "-c", "dl20", "--qrels", "nope"], "has no qrels named 'nope'"),
    (["pool", "-c", "dl20", "--depth", "5", "--qrels", "nope", "-o", "OUT"], "has no qrels named 'nope'"),
])
def test_bad_input_is_one_line_and_changes_nothing(dl20, db, strict, tmp_path, args, message):
    assert dl20("collection", "qrels", "add", "dl20", "strict", strict).code == 0
    bad = tmp_path / "BAD"
    bad.write_text("1 0 d 1\n1 0 e x\n")
    swap = {"QRELS": str(QRELS), "BAD": str(bad), "OUT": str(tmp_path / "out")}
    before = snapshot(db)
    res = dl20(*[swap.get(a, a) for a in args])
    assert res.code == 2 and message in res.err.replace(str(bad), "BAD"), res.err
    assert len([line for line in res.err.splitlines() if line.startswith("error")]) == 1
    assert snapshot(db) == before


def test_collection_remove_takes_its_sets(dl20, db, strict):
    assert dl20("collection", "qrels", "add", "dl20", "strict", strict).code == 0
    assert dl20("collection", "remove", "dl20", "--yes").code == 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM qrels_sets").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM qrels_set_rows").fetchone() == (0,)
    finally:
        con.close()


def test_schema_4_store_is_migrated(dl20, db, strict):
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE qrels_sets")
    con.execute("DROP TABLE qrels_set_rows")
    con.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    before = {t: con.execute(f"SELECT * EXCLUDE (ingested_at) FROM {t} ORDER BY ALL").fetchall()
              for t in ("runs",)} | {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                                      for t in ("qrels", "run_rows", "scores")}
    con.close()
    assert dl20("collection", "qrels", "add", "dl20", "strict", strict).code == 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [("6",)]
        assert con.execute("SELECT name FROM qrels_sets").fetchall() == [("strict",)]
        for table, rows in before.items():
            query = f"SELECT * {'EXCLUDE (ingested_at) ' if table == 'runs' else ''}FROM {table} ORDER BY ALL"
            assert con.execute(query).fetchall() == rows
    finally:
        con.close()


# ---- collection qrels agree ------------------------------------------------------------------------------------


def plain_tau_ap(order: list[str], truth: dict[str, float]) -> float:
    """Yilmaz, Aslam and Robertson's formula, item by item: `order` is the ranking judged, `truth` the scores of
    the true one."""
    n = len(order)
    total = 0.0
    for i in range(1, n):
        correct = sum(truth[order[j]] > truth[order[i]] for j in range(i))
        total += correct / i
    return 2 / (n - 1) * total - 1


def test_tau_ap_by_hand():
    from workbench.analysis.agreement import tau_ap

    # one swap at the top costs tau-AP twice what a swap at the bottom costs; Kendall's tau sees both as 2/3
    assert tau_ap([3, 4, 2, 1], [4, 3, 2, 1]) == pytest.approx(1 / 3)
    assert tau_ap([4, 3, 1, 2], [4, 3, 2, 1]) == pytest.approx(2 / 3 * (1 + 1 + 2 / 3) - 1)
    assert tau_ap([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0) and tau_ap([3, 2, 1], [1, 2, 3]) == pytest.approx(-1)


def test_kappa_by_hand(cli, tmp_path):
    qa, qb, run = tmp_path / "a", tmp_path / "b", tmp_path / "r.trec"
    qa.write_text("q 0 d1 1\nq 0 d2 1\nq 0 d3 0\nq 0 d4 0\nq 0 d5 1\n")
    qb.write_text("q 0 d1 1\nq 0 d2 0\nq 0 d3 0\nq 0 d4 0\nq 0 d6 1\n")  # d5, d6: judged by one set only
    run.write_text("q Q0 d1 1 3 t\nq Q0 d2 2 2 t\n")
    assert cli("collection", "add", "c", "--qrels", qa).code == 0
    assert cli("ingest", "-c", "c", run).code == 0
    assert cli("collection", "qrels", "add", "c", "b", qb).code == 0
    res = cli("collection", "qrels", "agree", "c", "default", "b", "--bootstrap", "50", "--json")
    assert res.code == 0, res.err
    out = res.json()
    # p_o = 3/4, p_e = 2/4 * 1/4 + 2/4 * 3/4 = 1/2: kappa = 1/2
    assert out["n_pairs"] == 4 and out["kappa"]["value"] == pytest.approx(0.5)
    assert out["kappa_binary"]["value"] == pytest.approx(0.5) and out["tau"]["value"] is None  # one run


def test_agree_equals_scipy_sklearn_and_plain_python(dl20, strict):
    from scipy.stats import kendalltau
    from sklearn.metrics import cohen_kappa_score

    more = ["splade-pp-ed", "ada2", "bm25__rankvicuna-7b@100", "repllama", "bm25-rm3"]
    assert dl20("ingest", "-c", "dl20", *(DL20_RUNS / f"{r}.trec" for r in more)).code == 0
    assert dl20("collection", "qrels", "add", "dl20", "strict", strict).code == 0
    res = dl20("collection", "qrels", "agree", "dl20", "default", "strict", "-m", "nDCG@10", "--bootstrap", "200",
               "--seed", "7", "--json")
    assert res.code == 0, res.err
    out = res.json()
    grades_a = {tuple(x.split()[::2][:2]): int(x.split()[3]) for x in QRELS.read_text().splitlines()}
    grades_b = {tuple(x.split()[::2][:2]): int(x.split()[3]) for x in strict.read_text().splitlines()}
    both = sorted(set(grades_a) & set(grades_b))
    a, b = [grades_a[k] for k in both], [grades_b[k] for k in both]
    assert out["n_pairs"] == len(both)
    assert out["kappa"]["value"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert out["kappa_binary"]["value"] == pytest.approx(
        cohen_kappa_score([g >= 1 for g in a], [g >= 1 for g in b]), abs=1e-12)
    means = {}
    for qrels in ("default", "strict"):
        body = dl20("evaluate", "-c", "dl20", "-m", "nDCG@10", "--qrels", qrels, "--json").json()
        assert body["computed"] == 0  # agree scored and stored them
        means[qrels] = {s["run"]: s["value"] for s in body["scores"]}
    runs = sorted(means["default"])
    assert out["runs"] == runs and len(runs) == 7
    assert out["tau"]["value"] == pytest.approx(
        kendalltau([means["default"][r] for r in runs], [means["strict"][r] for r in runs]).statistic, abs=1e-12)
    order = sorted(runs, key=lambda r: -means["strict"][r])
    assert out["tau_ap"]["value"] == pytest.approx(plain_tau_ap(order, means["default"]), abs=1e-12)
    for key in ("kappa", "kappa_binary", "tau", "tau_ap"):
        assert out[key]["ci_low"] <= out[key]["ci_high"]
    again = dl20("collection", "qrels", "agree", "dl20", "default", "strict", "-m", "nDCG@10", "--bootstrap", "200",
                 "--seed", "7", "--json").json()
    assert again == out  # seeded
    other = dl20("collection", "qrels", "agree", "dl20", "default", "strict", "-m", "nDCG@10", "--bootstrap",
                 "200", "--seed", "8", "--json").json()
    assert other["tau"]["ci_low"] != out["tau"]["ci_low"] or other["kappa"]["ci_low"] != out["kappa"]["ci_low"]


@pytest.mark.parametrize("args, message", [
    (["default", "default"], "two different qrels"),
    (["default", "nope"], "has no qrels named 'nope'"),
    (["default", "strict", "-m", "nDCG@"], "nDCG@"),
    (["default", "strict", "--bootstrap", "0"], "expected a number of samples"),
    (["default", "strict", "-m", "P@5", "P@10"], "by one measure"),
])
def test_agree_bad_input(dl20, db, strict, args, message):
    assert dl20("collection", "qrels", "add", "dl20", "strict", strict).code == 0
    before = snapshot(db)
    res = dl20("collection", "qrels", "agree", "dl20", *args)
    assert res.code == 2 and message in res.err, res.err
    assert snapshot(db) == before


def test_a_file_of_another_collection_is_said(dl20):
    from conftest import SCIFACT

    res = dl20("collection", "qrels", "add", "dl20", "sci", SCIFACT / "qrels" / "test.tsv")
    assert res.code == 0 and "none of the 300 queries of qrels 'sci'" in res.err and "another collection" in res.err


def test_compare_takes_the_set_and_judged_only(dl20, strict):
    assert dl20("collection", "qrels", "add", "dl20", "strict", strict).code == 0
    for extra in ([], ["--qrels", "strict"], ["--judged-only"], ["--qrels", "strict", "-J"]):
        res = dl20("compare", "-c", "dl20", "bm25", "tasb", "-m", "nDCG@10", "--json", *extra)
        assert res.code == 0, res.err
        pair = res.json()["pairs"][0]
        means = dl20("evaluate", "-c", "dl20", "-m", "nDCG@10", "--json", *extra).json()
        value = {s["run"]: s["value"] for s in means["scores"]}
        assert (pair["mean_baseline"], pair["mean_run"]) == pytest.approx((value["bm25"], value["tasb"]), abs=1e-12)
        assert res.json().get("qrels") == ("strict" if "strict" in extra else None)
        assert ("semantics" in res.json()) == ("-J" in extra or "--judged-only" in extra)
