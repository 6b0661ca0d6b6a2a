"""Judged-only scoring (issue 20 item 4) equal per query to C trec_eval's -J: on trec_eval's own fixtures (with -c,
-M, -l and negative grades) and on DL 2020 runs. The expected outputs were made once by trec_eval 10.0 and copied
into tests/data/judgments (see its README); trec_eval is not run here."""

from __future__ import annotations

import pytest
from conftest import DL20, DL20_RUNS, ROOT, TREC_EVAL
from test_scoring_parity import printed, read_expected

from workbench.scoring import measure_name

J = ROOT / "tests" / "data" / "judgments"
QRELS = DL20 / "qrels.dl20-passage.txt"
DL20_J = sorted(p.stem for p in (J / "dl20").glob("*.J"))

FIXTURES = {  # case: (qrels, run, expected output, relevance level, extra eval options)
    "aqcJ": ("qrels.test", "results.test", "out.test.aqcJ", 1, []),
    "truncJ": ("qrels.test", "results.trunc", "out.trunc.aqcJ", 1, []),
    "truncJM": ("qrels.test", "results.trunc", "out.trunc.aqcJM", 1, ["-M", "100"]),
    "aqcJl": ("qrels.rel_level", "results.test", "out.test.aqcJl", 2, ["-l", "2"]),
}


def mismatches(expected: dict[str, dict[str, str]], got: dict[tuple[str, str], float]) -> list:
    return [(m, qid, want, printed(m, got[(m, qid)]) if (m, qid) in got else None)
            for m in expected for qid, want in expected[m].items()
            if (m, qid) not in got or printed(m, got[(m, qid)]) != want]


def eval_json(cli, *args) -> dict[tuple[str, str], float]:
    res = cli("eval", "-J", "-q", "--format", "json", "--allow-trailing-fields", *map(str, args))
    assert res.code == 0, res.err
    out = res.json()
    assert out["semantics"] == "trec_eval10(-c,-J,score:f64 desc,doc_id desc)"
    return {(measure_name(s["canonical"]), s["query_id"]): s["value"] for s in out["scores"]}


@pytest.mark.parametrize("case", sorted(FIXTURES))
def test_eval_J_equals_trec_eval_on_its_fixtures(cli, case):
    qrels, run, out, rel, extra = FIXTURES[case]
    expected = {measure_name(m): v for m, v in read_expected(J / out, rel).items()}
    assert len(expected) >= 60
    got = eval_json(cli, *extra, "-m", *sorted(expected), TREC_EVAL / qrels, TREC_EVAL / run)
    if case == "aqcJl":
        # trec_eval -c -l2 prints num_rel's `all` as the count of grades >= 1 (559), not the sum of its per-query
        # values (97), with or without -J (te_calc_avg_num_rel ignores -l): a quirk of -c the workbench does not copy
        assert expected["NumRel(rel=2)"].pop("all") == "559"
    if run == "results.trunc":
        # query 302 is judged but not in the run: trec_eval -c -J prints its iprec_at_recall_0.00 as -nan (and so
        # the mean), where -c without -J prints 0; the workbench keeps -c's 0 for a query a run misses
        nan = expected["IPrec@0.0"]
        assert (nan.pop("302"), nan.pop("all")) == ("-nan", "-nan")
        assert got[("IPrec@0.0", "302")] == 0.0
    assert not mismatches(expected, got)


def test_J_changes_what_it_should():
    """The fixture outputs differ from plain -c where unjudged documents were retrieved (a check on the oracle)."""
    plain = read_expected(TREC_EVAL / "out.test.aq", 1)
    judged = read_expected(J / "out.test.aqcJ", 1)
    assert plain["NumRet"]["301"] == "500" and judged["NumRet"]["301"] == "259"
    assert plain["AP"]["all"] != judged["AP"]["all"] and plain["NumRel"] == judged["NumRel"]


@pytest.mark.parametrize("run", DL20_J)
def test_eval_J_equals_trec_eval_on_dl20(cli, run):
    expected = {measure_name(m): v for m, v in read_expected(J / "dl20" / f"{run}.J", 2).items()}
    assert len(expected) == 9
    got = eval_json(cli, "-l", "2", "-m", *sorted(expected), QRELS, DL20_RUNS / f"{run}.trec")
    assert not mismatches(expected, got)
