"""The collection report and its warnings, --grade-map, --topic-field and the schema 3 -> 4 migration (issue 16
items 1 and 4), through the real CLI on the fixtures in tests/data/trec-mini and tests/data/cranfield-mini."""

from __future__ import annotations

from pathlib import Path

import duckdb
import ir_measures
import pytest
from conftest import DL20, snapshot

DATA = Path(__file__).resolve().parent / "data"
MINI = DATA / "trec-mini"
CRAN = DATA / "cranfield-mini"
CRAN_MAP = "1:3,2:2,3:1,4:0,-1:0"


def add_mini(cli, *extra):
    return cli("collection", "add", "mini", "--qrels", MINI / "qrels.301-303.txt", "--topics",
               MINI / "topics.301-303.txt", "--docs", MINI / "docs", *extra)


def add_cran(cli, name="cran", *extra):
    return cli("collection", "add", name, "--qrels", CRAN / "cranqrel.trec", "--topics", CRAN / "cran.qry",
               "--docs", CRAN / "cran.all", *extra)


def test_report_of_a_clean_trec_collection(cli):
    res = add_mini(cli, "--json")
    assert res.code == 0, res.err
    info = res.json()
    assert (info["n_queries"], info["n_judgments"], info["n_topics"], info["n_docs"]) == (3, 10, 3, 9)
    report = info["report"]
    assert (report["n_topics"], report["n_judged"], report["both"]) == (3, 3, 3)
    assert report["only_topics"] == report["only_qrels"] == 0
    assert report["only_topics_examples"] == report["only_qrels_examples"] == []
    # judgments per query: 301 has 4, 302 and 303 have 3; grade > 0: 2 each
    assert report["judgments_per_query"] == {"min": 3, "median": 3, "max": 4}
    assert report["relevant_per_query"] == {"min": 2, "median": 2, "max": 2}
    assert report["grades"] == {"0": 4, "1": 4, "2": 2}
    assert report["warnings"] == [] and info["warnings"] == [] and report["topic_field"] == "title"
    show = cli("collection", "show", "mini")
    assert "judgments/query  min 3, median 3, max 4" in show.out and "grades           0: 4, 1: 4, 2: 2" in show.out
    assert "warning" not in show.out + show.err


def test_report_warns_on_coverage_and_grade_scale(cli):
    res = add_cran(cli)
    assert res.code == 0, res.err
    # Cranfield's query file numbers 001, 002, 004; its qrels 1, 2, 3: no topic matches a judged query
    assert "  judged, with a topic      0" in res.out
    assert "  topics without judgments  3 (e.g. 001, 002, 004)" in res.out
    assert "  judged without a topic    3 (e.g. 1, 2, 3)" in res.out
    assert "grades           -1: 1, 1: 2, 2: 3, 3: 1, 4: 2" in res.out
    warnings = [line for line in res.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 4
    assert warnings[0].startswith("warning: only 0 of 3 judged queries have a topic (0%); the other 3 (e.g. 1, 2, 3)")
    assert "2 of the unmatched ids are equal once leading zeros are dropped (e.g. topic 001, judged query 1)" \
        in warnings[0]
    assert warnings[1].startswith("warning: only 0 of 3 topics are judged (0%)")
    assert warnings[2].startswith("warning: 1 judgment has a negative grade (-1: 1)")
    assert warnings[3].startswith("warning: grades -1, 1, 2, 3, 4 are not a 0..k scale")
    shown = cli("collection", "show", "cran", "--json").json()
    assert [f"warning: {w}" for w in shown["warnings"]] == warnings
    # the warnings are repeated by every command that scores the collection
    assert cli("ingest", "-c", "cran", CRAN / "run.trec").code == 0
    ev = cli("evaluate", "-c", "cran", "-m", "P@5")
    assert ev.code == 0, ev.err
    assert [ln for ln in ev.err.splitlines() if ln.startswith("warning:")] == [
        w.replace("warning: ", "warning: collection cran: ", 1) for w in warnings]


def test_partial_coverage_counts(cli, tmp_path):
    """DL 2020: 200 topics, 54 judged (the TREC DL test set): one warning, the other direction is complete."""
    res = cli("collection", "add", "dl20", "--qrels", DL20 / "qrels.dl20-passage.txt", "--topics",
              DL20 / "topics.dl20.txt", "--json")
    report = res.json()["report"]
    assert (report["n_topics"], report["n_judged"], report["both"]) == (200, 54, 54)
    assert report["only_topics"] == 146 and report["only_qrels"] == 0
    assert report["only_topics_examples"][:3] == ["3505", "26703", "42752"]  # in numeric order
    assert len(report["only_topics_examples"]) == 20
    grades: dict[str, int] = {}
    for line in (DL20 / "qrels.dl20-passage.txt").read_text().splitlines():  # counted here, independently
        grades[line.split()[3]] = grades.get(line.split()[3], 0) + 1
    assert report["grades"] == grades and sum(grades.values()) == 11386
    assert res.json()["warnings"] == [
        "only 54 of 200 topics are judged (27%); runs on the other 146 (e.g. 3505, 26703, 42752, 48792, 50122, ...) "
        "are not scored"]


def test_grade_map_remaps_records_and_changes_identity(cli, db):
    plain = add_cran(cli, "cran", "--json").json()
    mapped = add_cran(cli, "cran-mapped", "--grade-map", CRAN_MAP, "--json").json()
    assert mapped["grade_map"] == {"-1": 0, "1": 3, "2": 2, "3": 1, "4": 0}
    assert mapped["qrels_hash"] != plain["qrels_hash"]
    report = mapped["report"]
    # as written -1: 1, 1: 2, 2: 3, 3: 1, 4: 2  ->  0: 1 + 2, 3: 2, 2: 3, 1: 1
    assert report["grades"] == {"0": 3, "1": 1, "2": 3, "3": 2}
    assert report["grades_as_written"] == {"-1": 1, "1": 2, "2": 3, "3": 1, "4": 2}
    assert not any("grade" in w for w in mapped["warnings"])  # the scale is now 0..3
    # the stored judgments are the remapped ones, and score as such: doc 1 (grade 4 = least relevant) is no longer
    # relevant for query 2, doc 2 (-1) stays not relevant for query 1
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT query_id, doc_id, relevance FROM qrels WHERE collection = 'cran-mapped' "
                       "ORDER BY ALL").fetchall()
    con.close()
    assert rows == [("1", "1", 2), ("1", "2", 0), ("1", "4", 1), ("2", "1", 0), ("2", "2", 3), ("2", "3", 2),
                    ("3", "4", 0), ("3", "5", 3), ("3", "6", 2)]


def test_grade_map_refusals_leave_the_store_unchanged(cli, db):
    add_mini(cli)
    before = snapshot(db)
    for value, message in (("1:3,2:2", "grade map does not say what grade -1, 3, 4 becomes"),
                           ("1=3", "grade map: expected grade:new-grade pairs"),
                           ("1:3,1:2", "grade map: grade 1 is mapped twice")):
        res = add_cran(cli, "cran", "--grade-map", value)
        assert res.code == 2 and message in res.err, res.err
        assert len(res.err.strip().splitlines()) == 1
        assert snapshot(db) == before


def test_topic_field_is_recorded_and_part_of_the_identity(cli, db):
    title = add_mini(cli, "--json").json()
    assert title["topic_field"] == "title"
    before = snapshot(db)
    refused = add_mini(cli, "--topic-field", "description")
    assert refused.code == 2 and "already exists with different" in refused.err and "--replace" in refused.err
    assert snapshot(db) == before
    desc = add_mini(cli, "--topic-field", "description", "--replace", "--json").json()
    assert desc["topic_field"] == "description" and desc["topics_hash"] != title["topics_hash"]
    assert desc["qrels_hash"] == title["qrels_hash"]
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT query_id, text, title, description FROM topics WHERE query_id = '302'").fetchall()
    con.close()
    assert rows == [("302", "Is the disease of Poliomyelitis (polio) under control in the world?",
                     "Poliomyelitis and Post-Polio", "Is the disease of Poliomyelitis (polio) under control in the "
                                                     "world?")]


def test_refusals_of_bad_files_leave_the_store_unchanged(cli, db, tmp_path):
    add_mini(cli)
    before = snapshot(db)
    bad_topics = tmp_path / "topics.txt"
    bad_topics.write_text("<top><num>1</num><title>a</title></top>\n<top><num>2</num>\n")
    bad_docs = tmp_path / "docs.sgml"
    bad_docs.write_text("<DOC><DOCNO>a</DOCNO><TEXT>x</DOC>\n")
    for args, message in (
        (("--qrels", CRAN / "cranqrel"), "cranqrel:1: expected 4 fields (qid iter docid rel), got 3"),
        (("--qrels", MINI / "qrels.301-303.txt", "--topics", bad_topics), "topics.txt:2: <top> without </top>"),
        (("--qrels", MINI / "qrels.301-303.txt", "--docs", bad_docs), "docs.sgml:1: <TEXT> without </TEXT>"),
        (("--qrels", MINI / "qrels.301-303.txt", "--topics", MINI / "qrels.301-303.txt", "--topic-field",
          "description"), "topic field 'description' needs a file whose topics have fields"),
    ):
        res = cli("collection", "add", "other", *args)
        assert res.code == 2 and message in res.err, res.err
        assert snapshot(db) == before


def test_negative_grades_are_judged_never_relevant_gain_0_in_trec_eval():
    """What the negative-grade warning says, checked with ir_measures (pytrec_eval, trec_eval's code)."""
    qrels = [ir_measures.Qrel("1", "d1", -1), ir_measures.Qrel("1", "d2", 1), ir_measures.Qrel("1", "d3", 0)]
    run = [ir_measures.ScoredDoc("1", "d1", 3.0), ir_measures.ScoredDoc("1", "d2", 2.0)]
    got = ir_measures.calc_aggregate([ir_measures.Judged @ 1, ir_measures.P @ 1, ir_measures.nDCG @ 2,
                                      ir_measures.Bpref], qrels, run)
    assert got[ir_measures.Judged @ 1] == 1.0  # judged
    assert got[ir_measures.P @ 1] == 0.0  # never relevant
    assert got[ir_measures.nDCG @ 2] == pytest.approx(1 / 1.584962500721156)  # gain 0 at rank 1, not -1
    assert got[ir_measures.Bpref] == 1.0  # not counted as a non-relevant document above the relevant one


def test_schema_3_store_is_migrated_and_reports_computed_on_read(cli, db):
    add_cran(cli)
    con = duckdb.connect(str(db))
    for column in ("topic_field", "grade_map", "report", "warnings"):
        con.execute(f"ALTER TABLE collections DROP COLUMN {column}")
    for column in ("title", "description", "narrative"):
        con.execute(f"ALTER TABLE topics DROP COLUMN {column}")
    con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    v3 = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in ("qrels", "topics", "documents")}
    con.close()
    shown = cli("collection", "show", "cran", "--json")
    assert shown.code == 0, shown.err
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [("6",)]
    assert con.execute("SELECT report, warnings FROM collections").fetchall() == [(None, None)]
    for table, rows in v3.items():  # every row kept; the new topic columns are NULL
        got = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        assert [r[: len(rows[0])] for r in got] == rows
    con.close()
    # computed from the stored qrels and topics, without writing
    report = shown.json()["report"]
    assert (report["both"], report["only_topics"], report["grades"]) == \
        (0, 3, {"-1": 1, "1": 2, "2": 3, "3": 1, "4": 2})
    assert len(shown.json()["warnings"]) == 4
    # adding the same content again stores the report (the collection is otherwise unchanged)
    again = add_cran(cli, "cran", "--json").json()
    assert again["changed"] is False and len(again["warnings"]) == 4
    assert again["report"] == {**report, "topic_field": "title"}  # v3 did not record the field


@pytest.mark.slow
def test_dashboard_pages_show_the_collection_warnings(cli, db, tmp_path, monkeypatch):
    """Above every page: the selected collection's warnings, as text (a query id is data, not Markdown)."""
    from streamlit.testing.v1 import AppTest

    qrels = tmp_path / "qrels"
    qrels.write_text("![q](http://127.0.0.1:9/q.png) 0 d1 1\n2 0 d1 0\n")
    topics = tmp_path / "topics.tsv"
    topics.write_text("2\tsecond\n3\tthird\n")
    assert cli("collection", "add", "odd", "--qrels", qrels, "--topics", topics).code == 0
    assert cli("ingest", "-c", "odd", CRAN / "run.trec").code == 0
    monkeypatch.setenv("WORKBENCH_DB", str(db))
    at = AppTest.from_file(Path(__file__).resolve().parents[1] / "app.py", default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [w.value for w in at.warning]
    assert len(shown) == 2
    assert shown[0].startswith(r"only 1 of 2 judged queries have a topic \(50\%\)")  # as plain() gives text
    assert "\\!\\[q\\]\\(http\u2060\\:" in shown[0] and "![q](http" not in shown[0]  # no image, no bare link
    for page in ("runs", "per_query"):
        at.switch_page(f"workbench/app/pages/{page}.py").run()
        assert [w.value for w in at.warning][:2] == shown
