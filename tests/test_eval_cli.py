"""`workbench eval QRELS RUN...`: trec_eval's output without a store.

Oracles: trec_eval 10.0's own expected outputs (tests/data/trec_eval, byte for byte for every measure ir-measures
expresses), its nDCG@10 of the 24 DL 2020 runs (runs/dl20/RUNS.tsv), and the store path (ingest + evaluate) on
the same files, value for value.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas  # noqa: F401  (imported before any `eval` in this process: see eval_cmds._pyarrow_without_pandas)
import pytest
from conftest import DL20, DL20_RUNS, ROOT, TREC_EVAL

from workbench.cli.main import main

# trec_eval measures ir-measures cannot express: their lines are the only ones `eval` leaves out
UNEXPRESSIBLE = ("gm_map", "relstring", "gm_bpref", "Rprec_mult", "utility", "11pt_avg", "binG", "G", "ndcg_rel",
                 "Rndcg", "relative_P", "num_nonrel_judged_ret", "rbp", "rbp_resid", "unj")
DL20_QRELS = DL20 / "qrels.dl20-passage.txt"


def expressible(line: str) -> bool:
    name = line.split("\t")[0].rstrip()
    return not any(name == f or name.startswith(f + "_") for f in UNEXPRESSIBLE)


def run_eval(capsys, *args, cwd: Path | None = None) -> tuple[int, str, str]:
    """The real entry point, in this process; argparse's own refusals (SystemExit) give their exit code."""
    capsys.readouterr()
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        code = main(["eval", *map(str, args)])
    except SystemExit as exc:
        code = exc.code
    finally:
        os.chdir(old)
    out = capsys.readouterr()
    return code, out.out, out.err


# (arguments as trec_eval's own test suite gives them, expected output); options first, as trec_eval users type
FIXTURES = {
    "official": (["qrels.test", "results.test"], "out.test"),
    "comment": (["qrels.comment.test", "results.comment.test"], "out.comment.test"),
    "all_trec": (["-m", "all_trec", "qrels.test", "results.test"], "out.test.a"),
    "q": (["-m", "all_trec", "-q", "qrels.test", "results.test"], "out.test.aq"),
    "qc": (["-m", "all_trec", "-q", "-c", "--allow-trailing-fields", "qrels.test", "results.trunc"], "out.test.aqc"),
    "qcM": (["-m", "all_trec", "-q", "-c", "-M100", "--allow-trailing-fields", "qrels.test", "results.trunc"],
            "out.test.aqcM"),
    "ql2": (["-m", "all_trec", "-q", "-l2", "qrels.rel_level", "results.test"], "out.test.aql"),
    # row 14 of TESTS.md without the measures ir-measures cannot express (and ndcg_cut's 23.4, float gains)
    "params": (["-q", "-miprec_at_recall..10,.20,.25,.75,.50", "-m", "P.5,7,3", "-m", "recall.20,2000",
                "-mndcg_cut.10,20", "-msuccess.2,5,20", "qrels.test", "results.test"], "out.test.meas_params"),
}


@pytest.mark.parametrize("case", sorted(FIXTURES))
def test_trec_eval_fixtures_byte_for_byte(case, capsys, tmp_path):
    args, out_file = FIXTURES[case]
    expected = [line for line in (TREC_EVAL / out_file).read_text().splitlines(keepends=True) if expressible(line)]
    if case == "params":
        expected = [line for line in expected if not line.startswith(("ndcg_1=", "ndcg_cut_23"))]
    code, out, err = run_eval(capsys, *args, cwd=TREC_EVAL)
    assert code == 0, err
    assert out == "".join(expected)
    assert len({line.split("\t")[0] for line in expected}) >= (15 if case == "params" else 29)
    assert list(tmp_path.iterdir()) == []


def test_measures_print_in_trec_eval_order_whatever_the_m_order(capsys, tmp_path):
    """trec_eval prints its measure table's order (cutoffs ascending), not the order of the -m options: the
    `params` case with its -m options reversed and their cutoffs shuffled gives the same bytes."""
    expected = [line for line in (TREC_EVAL / "out.test.meas_params").read_text().splitlines(keepends=True)
                if expressible(line) and not line.startswith(("ndcg_1=", "ndcg_cut_23"))]
    args = ["-q", "-msuccess.20,5,2", "-mndcg_cut.20,10", "-m", "recall.2000,20", "-m", "P.7,3,5",
            "-miprec_at_recall..75,.50,.25,.20,.10", "qrels.test", "results.test"]
    code, out, err = run_eval(capsys, *args, cwd=TREC_EVAL)
    assert code == 0, err
    assert out == "".join(expected)
    code, out, _ = run_eval(capsys, "-m", "ndcg_cut.10", "recall.1000", "map", "num_ret", "qrels.test", "results.test",
                            cwd=TREC_EVAL)
    assert [line.split("\t")[0].rstrip() for line in out.splitlines()] == ["num_ret", "map", "recall_1000",
                                                                           "ndcg_cut_10"]
    code, out, _ = run_eval(capsys, "-m", "nDCG@10", "map", "qrels.test", "results.test", cwd=TREC_EVAL)
    assert [line.split("\t")[0].rstrip() for line in out.splitlines()] == ["nDCG@10", "map"]  # as asked


def test_all_trec_lists_what_it_leaves_out(capsys):
    code, out, err = run_eval(capsys, "-m", "all_trec", TREC_EVAL / "qrels.test", TREC_EVAL / "results.test")
    assert code == 0
    assert err == f"note: left out, ir-measures cannot express them: {', '.join(UNEXPRESSIBLE)}\n"
    assert len(out.splitlines()) == 65 + 1  # the 65 expressible all_trec measures and runid


def test_dl20_ndcg10_equals_trec_eval_for_all_24_runs(capsys):
    with open(DL20_RUNS / "RUNS.tsv", newline="") as f:
        want = {r["file"].removesuffix(".trec"): r["ndcg_cut_10_trec_eval"] for r in csv.DictReader(f, delimiter="\t")}
    code, out, err = run_eval(capsys, "-m", "ndcg_cut.10", DL20_QRELS, *sorted(DL20_RUNS.glob("*.trec")))
    assert code == 0, err
    got = {}
    for line in out.splitlines():
        run, measure, qid, value = line.split("\t")
        assert (measure.rstrip(), qid) == ("ndcg_cut_10", "all")
        got[run] = value
    assert got == want and len(got) == 24


STORE_MEASURES = ["ndcg_cut.10", "map", "recip_rank", "recall.1000", "P.10,20", "num_ret", "iprec_at_recall.0.5",
                  "nDCG@20", "AP(rel=2)", "RR(rel=2)@10", "R(rel=2)@1000", "Judged@10", "Bpref", "NumRelRet"]


def test_same_numbers_as_the_store_path_on_dl20(cli, capsys):
    """eval of the 24 DL runs == ingest + evaluate of the same files: every per-query value and mean, to the bit."""
    runs = sorted(DL20_RUNS.glob("*.trec"))
    assert cli("collection", "add", "dl20", "--qrels", DL20_QRELS).code == 0
    assert cli("ingest", "-c", "dl20", *runs, "-m", *STORE_MEASURES).code == 0
    stored = cli("evaluate", "-c", "dl20", "-m", *STORE_MEASURES, "--per-query", "--json").json()
    means = cli("evaluate", "-c", "dl20", "-m", *STORE_MEASURES, "--json").json()
    assert stored["computed"] == 0 and means["computed"] == 0  # ingest --measures stored them all
    code, out, err = run_eval(capsys, "-q", "-f", "json", "-m", *STORE_MEASURES, DL20_QRELS, *runs)
    assert code == 0, err
    quick = json.loads(out)
    key = ("run", "query_id", "measure", "canonical")
    want = {tuple(s[k] for k in key): s["value"] for s in stored["scores"] + means["scores"]}
    got = {tuple(s[k] for k in key): s["value"] for s in quick["scores"]}
    assert got == want
    assert len(got) == 24 * (54 + 1) * 15  # P.10,20 is two measures
    assert {s["measure"] for s in quick["scores"]} >= {"ndcg_cut_10", "P_20", "iprec_at_recall_0.50", "NumRelRet"}


def test_relevance_level_is_rel(capsys):
    """-l 2 gives the measures `rel=2` states: map -l2 == AP(rel=2), shown as map (as trec_eval prints it)."""
    args = ["-f", "json", DL20_QRELS, DL20_RUNS / "bm25.trec"]
    code, out, _ = run_eval(capsys, "-l", "2", "-m", "map", "recip_rank", "ndcg_cut.10", "num_rel", *args)
    leveled = {s["measure"]: (s["canonical"], s["value"]) for s in json.loads(out)["scores"]}
    code2, out2, _ = run_eval(capsys, "-m", "AP(rel=2)", "RR(rel=2)", "nDCG@10", "NumRel(rel=2)", *args)
    explicit = {s["canonical"]: s["value"] for s in json.loads(out2)["scores"]}
    assert code == code2 == 0
    assert leveled == {"map": ("AP(rel=2)", explicit["AP(rel=2)"]), "recip_rank": ("RR(rel=2)", explicit["RR(rel=2)"]),
                       "ndcg_cut_10": ("nDCG@10", explicit["nDCG@10"]),
                       "num_rel": ("NumRel(rel=2)", explicit["NumRel(rel=2)"])}


def test_layouts_and_formats(capsys):
    a, b = TREC_EVAL / "results.test", TREC_EVAL / "results.trunc"
    qrels = TREC_EVAL / "qrels.test"
    code, out, err = run_eval(capsys, "-m", "map", "num_ret", qrels, a, b, "--allow-trailing-fields")
    assert code == 0
    assert out == ("results.test\tnum_ret               \tall\t1500\n"
                   "results.test\tmap                   \tall\t0.1785\n"
                   "results.trunc\tnum_ret               \tall\t584\n"
                   "results.trunc\tmap                   \tall\t0.1016\n")  # num_ret: an integer; trec_eval's order
    assert "warning: " + str(b) + ": 1 judged queries are missing from the run and score 0" in err
    code, out, _ = run_eval(capsys, "-q", "-n", "-m", "map", qrels, a)
    assert [line.split("\t")[1] for line in out.splitlines()] == ["301", "302", "303"]
    code, out, _ = run_eval(capsys, "-q", "-f", "csv", "-m", "map", "P.5", qrels, a)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["run", "query_id", "measure", "value"] and len(rows) == 8
    code, js, _ = run_eval(capsys, "-q", "-f", "json", "-m", "map", "P.5", qrels, a)
    exact = {(s["query_id"], s["measure"]): s["value"] for s in json.loads(js)["scores"]}
    assert {(r["query_id"], r["measure"]): float(r["value"]) for r in rows} == exact  # full precision in csv
    assert exact[("all", "map")] == pytest.approx(0.1785, abs=5e-5) and len(str(exact[("all", "map")])) > 8
    data = json.loads(js)
    assert data["measures"][0]["measure"] == "map" and data["measures"][0]["canonical"] == "AP"
    assert data["runs"][0]["run_tag"] == "STANDARD" and data["semantics"].startswith("trec_eval10(-c")


def test_the_same_stem_twice_gives_paths(capsys, tmp_path):
    (tmp_path / "x").mkdir()
    copy = tmp_path / "x" / "results.test"
    copy.write_bytes((TREC_EVAL / "results.test").read_bytes())
    code, out, _ = run_eval(capsys, "-m", "map", TREC_EVAL / "qrels.test", TREC_EVAL / "results.test", copy)
    assert code == 0 and {line.split("\t")[0] for line in out.splitlines()} == {
        str(TREC_EVAL / "results.test"), str(copy)}
    code, _, err = run_eval(capsys, TREC_EVAL / "qrels.test", copy, copy)
    assert code == 2 and "the same run file is given twice" in err


@pytest.mark.parametrize("order", [
    ["-q", "-m", "map", "{q}", "{r}"],  # trec_eval's order: -m takes one value
    ["-m", "map", "-m", "P.5", "-q", "{q}", "{r}"],
    ["-m", "map", "P.5", "{q}", "{r}"],  # several values, then the files
    ["{q}", "{r}", "-q", "-m", "map", "P.5"],  # ir_measures users put the files first
    ["{q}", "{r}", "--per-query", "-m", "map", "P.5"],
])
def test_options_before_or_after_the_files(order, capsys):
    q, r = TREC_EVAL / "qrels.test", TREC_EVAL / "results.test"
    code, out, err = run_eval(capsys, *(str(a).format(q=q, r=r) for a in order))
    assert code == 0, err
    names = {line.split("\t")[0].rstrip() for line in out.splitlines()}
    assert names == ({"map", "P_5"} if "P.5" in order else {"map"})
    assert ("\t301\t" in out) == ("-q" in order or "--per-query" in order)


JUNK = {
    "unexpressible": (["-m", "gm_map", "{q}", "{r}"], "trec_eval's gm_map cannot be expressed in ir-measures"),
    "unknown": (["-m", "ndcg_cutt.10", "{q}", "{r}"], "unknown measure: 'ndcg_cutt.10'"),
    "empty": (["-m", "", "{q}", "{r}"], "expected a non-empty value on one line"),
    "cutoff 0": (["-m", "P.0", "{q}", "{r}"], "cutoff must be an integer from 1 to 2147483647, got 0"),
    "missing run": (["{q}", "{r}.missing"], "results.test.missing: no such file"),
    "directory": (["{q}", "{d}"], "trec_eval"),
    "qrels as run": (["{q}", "{q}"], "qrels.test:1: expected 6 fields"),
    "run as qrels": (["{r}", "{r}"], "results.test:1: expected 4 fields"),
    "one file": (["{q}"], "give a qrels file and at least one run file"),
    "M 0": (["-M", "0", "{q}", "{r}"], "argument -M/--max-per-query: expected an integer from 1 to "
                                       "2147483647, got '0'"),
    "l 0": (["-l", "0", "{q}", "{r}"], "argument -l/--relevance-level: expected an integer from 1 to "
                                       "2147483647, got '0'"),
    "l -5": (["-l", "-5", "{q}", "{r}"], "argument -l/--relevance-level: expected an integer from 1 to "
                                         "2147483647, got '-5'"),
    "trailing": (["{q}", str(TREC_EVAL / "results.trunc")], "results.trunc:1:"),
}


@pytest.mark.parametrize("case", sorted(JUNK))
def test_junk_is_one_line_and_writes_nothing(case, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "env.duckdb"))
    args, message = JUNK[case]
    files = {"q": TREC_EVAL / "qrels.test", "r": TREC_EVAL / "results.test", "d": TREC_EVAL}
    code, out, err = run_eval(capsys, *(a.format(**files) for a in args), cwd=tmp_path)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_argparse_refusals_exit_2(capsys):
    code, _, err = run_eval(capsys, TREC_EVAL / "qrels.test", TREC_EVAL / "results.test", "-m")
    assert code == 2 and "-m/--measures" in err
    code, _, _ = run_eval(capsys, "-f", "xml", TREC_EVAL / "qrels.test", TREC_EVAL / "results.test")
    assert code == 2


def test_no_store_is_created_or_opened(capsys, tmp_path, monkeypatch):
    """Not with --db, not with $WORKBENCH_DB, not ./workbench.duckdb: eval never touches a store."""
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "env.duckdb"))
    capsys.readouterr()
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        assert main(["--db", str(tmp_path / "flag.duckdb"), "eval", str(TREC_EVAL / "qrels.test"),
                     str(TREC_EVAL / "results.test")]) == 0
        monkeypatch.delenv("WORKBENCH_DB")
        assert main(["eval", str(TREC_EVAL / "qrels.test"), str(TREC_EVAL / "results.test")]) == 0
    finally:
        os.chdir(old)
    assert list(tmp_path.iterdir()) == []


def test_eval_imports_no_pandas_scipy_or_streamlit():
    """The quick path stays lean (issue 21's <= 0.3 s is measured in bench/, not here): `python -m
    workbench.cli.main eval ...`, then the modules that process holds."""
    args = ["eval", "-q", "-m", "all_trec", str(DL20_QRELS), str(DL20_RUNS / "bm25.trec")]
    code = ("import runpy, sys\n"
            f"sys.argv = ['workbench', *{args!r}]\n"
            "try:\n"
            "    runpy.run_module('workbench.cli.main', run_name='__main__', alter_sys=True)\n"
            "except SystemExit as exc:\n"
            "    heavy = [m for m in ('pandas', 'scipy', 'streamlit', 'statsmodels', 'torch') if m in sys.modules]\n"
            "    print(exc.code, heavy, file=sys.stderr)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert res.stderr.splitlines()[-1] == "0 []", res.stderr
    assert len(res.stdout.splitlines()) > 54 * 60


def test_pyarrow_keeps_pandas_semantics_when_eval_runs_inside_a_program():
    """Called through main() (a notebook, a test), eval leaves pyarrow's pandas handling alone."""
    code = ("import sys\n"
            "from workbench.cli.main import main\n"
            f"assert main(['eval', {str(TREC_EVAL / 'qrels.test')!r}, {str(TREC_EVAL / 'results.test')!r}]) == 0\n"
            "import pandas as pd, pyarrow as pa\n"
            "print(pa.array(pd.Series([1.5, None])).null_count, file=sys.stderr)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert res.stderr.splitlines()[-1] == "1", res.stderr


def test_usage_line_says_what_the_options_take(capsys):
    """eval's hand-written usage (trec_eval's options first) names every option as argparse parses it: it said
    `--custom-measures FILE [FILE ...]` after that option became one file per occurrence."""
    from workbench.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._subparsers._group_actions if a.dest == "command").choices["eval"]
    usage = sub.format_usage()
    assert "[--custom-measures FILE]" in usage and "FILE [FILE" not in usage
    for action in sub._actions:
        assert any(opt in usage for opt in action.option_strings) or not action.option_strings, action
