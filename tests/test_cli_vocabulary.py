"""One vocabulary on every command (issue 17 item 2) and the refusals issue 15 listed, each asserted exactly.

The help and vocabulary checks walk `build_parser()`, so a command or option added later is held to them too.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
from pathlib import Path

import pytest
from conftest import snapshot
from test_cli_junk import flags, long_option, walk
from test_reliability_support import make_base_store, run_cli

from workbench.cli.main import build_parser

# ---- help text and defaults --------------------------------------------------------------------------------------


def documented_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions
            if not isinstance(a, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction)]


def help_block(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """What `--help` prints for one option, whitespace normalised (the formatter wraps lines)."""
    formatter = parser._get_formatter()
    formatter.add_argument(action)
    return " ".join(formatter.format_help().split())


def shown_default(default) -> str | None:
    if default is None or default is False or default == [] or default == argparse.SUPPRESS:
        return None
    return " ".join(map(str, default)) if isinstance(default, list | tuple) else str(default)


def test_every_option_of_every_command_has_help_and_shows_its_default():
    problems = []
    parser = build_parser()
    for path, sub in [((), parser), *walk(parser)]:
        for action in documented_actions(sub):
            name = "/".join(action.option_strings) or action.dest
            where = f"workbench {' '.join(path)} {name}"
            if not (action.help or "").strip():
                problems.append(f"{where}: no help text")
                continue
            default = shown_default(action.default)
            block = help_block(sub, action)
            if default is not None and ("default" not in block or default not in block):
                problems.append(f"{where}: default {default!r} not shown in {block!r}")
    for action in parser._actions:  # the command lists: every command says what it does
        if isinstance(action, argparse._SubParsersAction):
            problems += [f"command {c.dest}: no help" for c in action._choices_actions if not c.help]
    for path, sub in walk(parser):
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                problems += [f"{path} {c.dest}: no help" for c in action._choices_actions if not c.help]
    assert not problems, "\n".join(problems)


def test_every_help_page_prints(cli, capsys):
    for path, _ in walk(build_parser()):
        res = cli(*path, "--help")
        assert res.code == 0 and res.out.startswith(f"usage: workbench {' '.join(path)}"), (path, res.err)


def test_shown_defaults_are_the_defaults(cli):
    out = cli("compare", "--help").out
    assert re.search(r"--top TOP\s+how many biggest gains and losses to list \(default: 5\)", out)
    assert re.search(r"--alpha ALPHA\s+significance level, in \(0, 1\) \(default: 0.05\)", out)
    depth = " ".join(cli("depth", "--help").out.split())
    assert "--bootstrap BOOTSTRAP bootstrap samples for the CIs (default: 10000)" in depth
    assert "measures (default: nDCG@10)" in depth
    serve = " ".join(cli("serve", "--help").out.split())
    assert "--port PORT TCP port (default: 8501)" in serve


# ---- one vocabulary ----------------------------------------------------------------------------------------------


def test_short_options_mean_the_same_on_every_command():
    """-m is --measures and -r is --runs (--run where a command takes one run); no command spells --measure."""
    problems = []
    for path, sub in walk(build_parser()):
        for action in sub._actions:
            opts = set(action.option_strings)
            if "-m" in opts and "--measures" not in opts:
                problems.append(f"{path}: -m is {opts}")
            if "-r" in opts and not opts & {"--runs", "--run"}:
                problems.append(f"{path}: -r is {opts}")
            if "--measure" in opts:
                problems.append(f"{path}: --measure instead of --measures")
            if action.dest == "measures" and action.option_strings and "-m" not in opts:
                problems.append(f"{path}: measures without -m")
    assert not problems, "\n".join(problems)


NUMBER_DESTS = {"depth", "depths", "k", "k1", "b", "hits", "threads", "port", "seed", "alpha", "top", "bootstrap",
                "batch_size", "phantom_k", "tie_tolerance", "weights", "cutoff", "permutations", "resamples",
                "judged_k"}


def test_every_numeric_option_is_checked_by_a_type_from_cli_common():
    """A number parsed with int()/float() takes nan, inf, 1_000 and out-of-range values: each numeric option uses
    one of the checked types in workbench/cli/common.py (an option added later included)."""
    from workbench.cli import common

    checked = {v for v in vars(common).values()
               if getattr(v, "__qualname__", "").startswith(("_int_type.", "_float_type."))} | {common.depth_list}
    # a retrieval step's parameters are checked by its schema (workbench/retrieval/steps.py), the manifest's rule too
    step_checked = "Param._cli_value.<locals>.parse"
    assert common.positive_int in checked and common.probability in checked
    problems = []
    for path, sub in walk(build_parser()):
        for action in sub._actions:
            numeric_default = isinstance(action.default, int | float) and not isinstance(action.default, bool)
            if (numeric_default or action.dest in NUMBER_DESTS) and action.type not in checked \
                    and getattr(action.type, "__qualname__", "") != step_checked:
                problems.append(f"{path} {action.dest}: type {action.type}")
    assert not problems, "\n".join(problems)


def test_commands_that_take_several_runs_take_dash_r():
    parser = build_parser()
    leaves = dict(walk(parser))
    for path in [("compare",), ("fuse",), ("runs", "export"), ("evaluate",), ("export", "scores"), ("leaderboard",)]:
        assert "--runs" in leaves[path]._option_string_actions and "-r" in leaves[path]._option_string_actions, path


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vocab")
    db, files = make_base_store(folder)
    return db, files


@pytest.fixture
def db(base, tmp_path) -> Path:
    """A private copy of the base store (collection `base`, runs bm25 and dense, scored)."""
    return Path(shutil.copyfile(base[0], tmp_path / "store.duckdb"))


def test_runs_as_arguments_or_with_dash_r_give_the_same_answer(cli, db):
    by_args = cli("compare", "-c", "base", "bm25", "dense", "-m", "P@5", "--json")
    assert by_args.code == 0, by_args.err
    for spelling in (("-r", "bm25", "dense"), ("--runs", "bm25", "dense")):
        res = cli("compare", "-c", "base", *spelling, "-m", "P@5", "--json")
        assert res.code == 0 and res.json() == by_args.json(), res.err
    old = cli("compare", "-c", "base", "bm25", "dense", "--measure", "P@5", "--json")  # the old spelling still works
    assert old.code == 0 and old.json() == by_args.json()
    both = cli("compare", "-c", "base", "bm25", "-r", "dense")
    assert both.code == 2 and both.err.splitlines()[-1] == (
        "error: workbench compare: give the runs as arguments or with -r/--runs, not both"
        " (see 'workbench compare --help')")
    one = cli("compare", "-c", "base", "bm25")
    assert one.code == 2 and one.err.splitlines()[-1] == (
        "error: workbench compare: give at least 2 runs (as arguments or with -r/--runs)"
        " (see 'workbench compare --help')")


def test_repeated_list_options_add_up_as_trec_eval_users_write_them(cli, db):
    """`-m P@5 -m AP -r bm25 -r dense` is `-m P@5 AP -r bm25 dense`: argparse alone kept only the last occurrence,
    without a word (wave-4 review); evaluate counts a run or a measure given twice once."""
    def values(res):
        assert res.code == 0, res.err
        return {k: v for k, v in res.json().items() if k != "computed"}

    together = values(cli("evaluate", "-c", "base", "-r", "bm25", "dense", "-m", "P@5", "AP", "--json"))
    for argv in (("-r", "bm25", "-r", "dense", "-m", "P@5", "-m", "AP"),
                 ("-r", "bm25", "dense", "-r", "dense", "-m", "P@5", "AP", "-m", "P@5")):
        assert values(cli("evaluate", "-c", "base", *argv, "--json")) == together, argv
    same = cli("compare", "-c", "base", "-r", "bm25", "-r", "bm25", "-m", "P@5")
    assert same.code == 2 and same.err.strip() == "error: run 'bm25' is listed twice; compare runs that differ"
    baselines = cli("leaderboard", "-c", "base", "-m", "P@5", "-b", "bm25", "-b", "dense", "-f", "json")
    assert baselines.code == 0, baselines.err
    assert baselines.json() == cli("leaderboard", "-c", "base", "-m", "P@5", "-b", "bm25", "dense", "-f",
                                   "json").json()


def test_depth_takes_the_reranked_run_as_an_argument_and_keeps_reranked(cli, db):
    new = cli("depth", "-c", "base", "dense", "-f", "bm25", "-m", "P@5", "--json")
    old = cli("depth", "-c", "base", "--reranked", "dense", "-f", "bm25", "-m", "P@5", "--json")
    assert new.code == old.code == 0, new.err + old.err
    assert new.json() == old.json()
    missing = cli("depth", "-c", "base", "-f", "bm25")
    assert missing.code == 2 and missing.err.splitlines()[-1] == (
        "error: workbench depth: the reranked run is required: workbench depth -c COLLECTION RERANKED"
        " (see 'workbench depth --help')")


def test_runs_export_takes_dash_r(cli, db, tmp_path):
    res = cli("runs", "export", "-c", "base", "-r", "dense", "-o", tmp_path / "out")
    assert res.code == 0, res.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dense.trec"]


# ---- destructive commands ask for --yes --------------------------------------------------------------------------


def test_every_deleting_command_asks_for_yes():
    for path, sub in walk(build_parser()):
        if path[-1] in {"delete", "remove", "drop", "purge", "clear", "prune"}:
            assert "--yes" in [long_option(f) for f in flags(sub)], path


@pytest.mark.parametrize("argv, message", [
    (("runs", "delete", "dense", "-c", "base"),
     "error: deleting run 'dense' deletes its rows and scores; add --yes to confirm"),
    (("collection", "remove", "base"),
     "error: removing collection 'base' deletes its runs and scores; add --yes to confirm"),
])
def test_delete_without_yes_changes_nothing(cli, db, argv, message):
    before = snapshot(db)
    res = cli(*argv)
    assert (res.code, res.err) == (2, message + "\n")
    assert snapshot(db) == before
    res = cli(*argv, "--yes")
    assert res.code == 0, res.err
    assert snapshot(db) != before


def test_deleting_what_is_not_there_says_so_first(cli, db):
    before = snapshot(db)
    res = cli("runs", "delete", "nosuch", "-c", "base")
    assert res.code == 2 and res.err.startswith("error: no run named 'nosuch' in collection 'base'"), res.err
    assert snapshot(db) == before


# ---- issue 15: each case, its line, exit 2 and the store unchanged -----------------------------------------------

USAGE = "error: workbench {cmd}: argument {opt}: expected {what}, got {got} (see 'workbench {cmd} --help')"
CASES = [  # (argv, the last line of stderr)
    (("compare", "-c", "base", "bm25", "dense", "--tie-tolerance", "nan"),
     USAGE.format(cmd="compare", opt="--tie-tolerance", what="a finite number >= 0", got="'nan'")),
    (("compare", "-c", "base", "bm25", "bm25"), "error: run 'bm25' is listed twice; compare runs that differ"),
    (("compare", "-c", "base", "bm25", "dense", "--seed", "-1"),
     USAGE.format(cmd="compare", opt="--seed", what="a seed from 0 to 2**63-1", got="'-1'")),
    (("compare", "-c", "base", "bm25", "dense", "--top", "-1"),
     USAGE.format(cmd="compare", opt="--top", what="an integer from 0 to 2147483647", got="'-1'")),
    (("compare", "-c", "base", "bm25", "dense", "--alpha", "1"),
     USAGE.format(cmd="compare", opt="--alpha", what="a probability strictly between 0 and 1", got="'1'")),
    (("leaderboard", "-c", "base", "--alpha", "0"),
     USAGE.format(cmd="leaderboard", opt="--alpha", what="a probability strictly between 0 and 1", got="'0'")),
    (("depth", "-c", "base", "dense", "-f", "bm25", "--bootstrap", "0"),
     USAGE.format(cmd="depth", opt="--bootstrap", what="a number of samples from 1 to 1,000,000", got="'0'")),
    (("depth", "-c", "base", "dense", "-f", "bm25", "--phantom-k", "-3"),
     USAGE.format(cmd="depth", opt="--phantom-k", what="an integer from 1 to 2147483647", got="'-3'")),
    (("depth", "-c", "base", "dense", "-f", "bm25", "--depths", "5,x"),
     USAGE.format(cmd="depth", opt="--depths",
                  what="comma-separated integers from 0 to 2147483647, e.g. 0,10,20", got="'5,x'")),
    (("retrieve", "bm25", "-c", "base", "--threads", "0"),
     USAGE.format(cmd="retrieve bm25", opt="--threads", what="a number of threads from 1 to 1024", got="'0'")),
    (("retrieve", "bm25", "-c", "base", "--hits", str(2**63)),
     USAGE.format(cmd="retrieve bm25", opt="--hits", what="an integer from 1 to 2147483647", got=repr(str(2**63)))),
    (("retrieve", "bm25", "-c", "base", "--k1", "inf"),
     USAGE.format(cmd="retrieve bm25", opt="--k1", what="a number in [0, 1000]", got="'inf'")),
    (("retrieve", "bm25", "-c", "base", "--b", "1.5"),
     USAGE.format(cmd="retrieve bm25", opt="--b", what="a number in [0, 1]", got="'1.5'")),
    (("retrieve", "dense", "-c", "base", "--batch-size", "0"),
     USAGE.format(cmd="retrieve dense", opt="--batch-size", what="an integer from 1 to 4096", got="'0'")),
    (("fuse", "-c", "base", "bm25", "dense", "--k", "-1"),
     USAGE.format(cmd="fuse", opt="--k", what="an integer from 0 to 2147483647", got="'-1'")),
    (("fuse", "-c", "base", "bm25", "dense", "--weights", "1", "nan"),
     USAGE.format(cmd="fuse", opt="--weights", what="a number in [-1e+06, 1e+06]", got="'nan'")),
    (("fuse", "-c", "base", "bm25", "dense", "--weights", "1"),
     "error: workbench fuse: --weights: 1 weight(s) for 2 runs; give one per run (see 'workbench fuse --help')"),
    (("fuse", "-c", "base", "bm25", "dense", "--depth", "0"),
     USAGE.format(cmd="fuse", opt="--depth", what="an integer from 1 to 2147483647", got="'0'")),
    (("rerank", "-c", "base", "-r", "bm25", "--depth", "-5"),
     USAGE.format(cmd="rerank", opt="--depth", what="an integer from 1 to 2147483647", got="'-5'")),
    (("ingest", "-c", "base", "x.trec", "--depth", "1_000"),
     USAGE.format(cmd="ingest", opt="--depth", what="an integer from 1 to 2147483647", got="'1_000'")),
    (("serve", "--port", "0"), USAGE.format(cmd="serve", opt="--port", what="a TCP port from 1 to 65535", got="'0'")),
    (("serve", "--port", "65536"),
     USAGE.format(cmd="serve", opt="--port", what="a TCP port from 1 to 65535", got="'65536'")),
    (("serve", "--address", "example"),
     USAGE.format(cmd="serve", opt="--address", what="an IP address such as 127.0.0.1 or 0.0.0.0", got="'example'")),
    (("demo", "--no-serve", "--port", "abc"),
     USAGE.format(cmd="demo", opt="--port", what="a TCP port from 1 to 65535", got="'abc'")),
    (("ingest", "-c", "base", "x.trec", "--name", "bad\nname"),
     USAGE.format(cmd="ingest", opt="--name", what="a non-empty value on one line", got="'bad\\nname'")),
    (("ingest", "-c", "base", "x.trec", "--name", ""),
     USAGE.format(cmd="ingest", opt="--name", what="a non-empty value on one line", got="''")),
]


@pytest.mark.parametrize("argv, line", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_issue_15_cases_are_one_line_exit_2_store_unchanged(cli, db, argv, line):
    before = snapshot(db)
    res = cli(*argv)
    assert res.code == 2, res.err
    assert res.err.splitlines()[-1] == line
    assert res.out == "" and "Traceback" not in res.err
    assert snapshot(db) == before


def test_a_manifest_that_is_a_folder_or_missing(cli, db, tmp_path):
    """The manifest is a file like a run file: its errors are the library's `error: <path>: ...` line."""
    before = snapshot(db)
    for cmd in ("build", "demo"):
        for path in (tmp_path, tmp_path / "nope.yaml", ""):
            res = cli(cmd, "--manifest", path, *(["--no-serve"] if cmd == "demo" else []))
            assert res.code == 2 and res.err.count("\n") == 1, res.err
            assert res.err.splitlines()[-1].startswith(f"error: {path}: " if path else f"error: workbench {cmd}: ")
    assert snapshot(db) == before


def test_build_of_a_collection_the_manifest_lacks_is_refused(cli, db, base, tmp_path):
    files = base[1]
    manifest = files["qrels"].parent / "manifest.yaml"
    manifest.write_text("version: 1\ncollections:\n  base:\n    qrels: qrels.txt\n    topics: topics.tsv\n"
                        "    docs: docs.tsv\n")
    before = snapshot(db)
    res = cli("build", "--manifest", manifest, "-c", "bsae")
    assert (res.code, res.err) == (2, f"error: {manifest}: no collection 'bsae' in the manifest (it has base)\n")
    assert snapshot(db) == before


def test_an_error_message_stays_on_one_line():
    """Control characters a library message carries in (a newline in a name read from a file) are escaped."""
    from workbench.cli.common import one_line

    assert one_line("no run named 'a\nb'\r\t\x1b[31m") == "no run named 'a\\nb'\\r\\t\\x1b[31m"
    assert one_line("état ✓") == "état ✓"


def test_issue_15_cases_through_the_console_script(db):
    before = snapshot(db)
    res = run_cli(db, "compare", "-c", "base", "bm25", "dense", "--tie-tolerance", "nan")
    assert res.returncode == 2 and res.stderr.splitlines()[-1] == CASES[0][1]
    res = run_cli(db, "depth", "-c", "base", "dense", "-f", "bm25", "--depths", "5,10", "-m", "P@5", "--json")
    assert res.returncode == 0, res.stderr
    assert sorted({p["depth"] for p in json.loads(res.stdout)["points"] if p["source"] == "derived"}) == [0, 5, 10]
    assert snapshot(db) == before


# ---- depth grids without 0 (the KeyError 'derived@0') ------------------------------------------------------------


def test_a_depth_grid_without_0_gets_0_added(cli, db):
    """Depth 0 is the first stage, the reference every depth is tested against: `--depths 5,10` is 0,5,10."""
    without = cli("depth", "-c", "base", "dense", "-f", "bm25", "--depths", "10,5", "-m", "P@5", "--json")
    with_0 = cli("depth", "-c", "base", "dense", "-f", "bm25", "--depths", "0,5,10", "-m", "P@5", "--json")
    assert without.code == with_0.code == 0, without.err
    assert without.json() == with_0.json()
    points = {(p["measure"], p["depth"]): p for p in without.json()["points"] if p["source"] == "derived"}
    assert sorted(d for m, d in points if m == "P@5") == [0, 5, 10]
    # depth 0 is the first stage itself: its P@5 is bm25's stored P@5
    bm25 = cli("evaluate", "-c", "base", "-m", "P@5", "-r", "bm25", "--json").json()["scores"]
    assert math.isclose(points[("P@5", 0)]["value"], bm25[0]["value"])


def test_the_library_adds_depth_0_too(db):
    from workbench.services.depth import depth_study
    from workbench.store import Store

    study = depth_study(Store(db), "base", "dense", ["P@5"], first_stage="bm25", depths=[5])
    assert study.curve.depths == (0, 5)
    assert {r.run for r in study.significance.rows} == {"derived@5"}


# ---- the library refuses the same values (the dashboard and the Python API call it directly) ---------------------


def test_compare_and_depth_refuse_bad_options_in_the_library(db):
    from workbench.analysis import compare_pair, depth_curve, win_matrix
    from workbench.errors import AnalysisError
    from workbench.services.compare import compare_runs
    from workbench.services.depth import depth_study
    from workbench.store import Store

    store = Store(db)
    before = snapshot(db)
    bad_compare = [({"runs": ["bm25", "bm25"]}, "run 'bm25' is listed twice"),
                   ({"tie_tolerance": math.nan}, "tie_tolerance must be a finite number >= 0, got nan"),
                   ({"tie_tolerance": -0.1}, "tie_tolerance must be a finite number >= 0"),
                   ({"top_n": -1}, "top_n must be an integer >= 0, got -1"),
                   ({"seed": -1}, r"seed must be an integer from 0 to 2\*\*63-1, got -1"),
                   ({"seed": 2**64}, "seed must be"), ({"seed": 1.5}, "seed must be"),
                   ({"alpha": math.nan}, r"alpha must be in \(0, 1\), got nan"), ({"alpha": 1.0}, "alpha must be"),
                   ({"n_resamples": 0}, "n_resamples must be an integer >= 1, got 0")]
    for kwargs, message in bad_compare:
        runs = kwargs.pop("runs", ["bm25", "dense"])
        with pytest.raises(AnalysisError, match=message):
            compare_runs(store, "base", runs, ["P@5"], **kwargs)
    for kwargs, message in [({"n_boot": 0}, "n_boot must be an integer >= 1, got 0"),
                            ({"phantom_k": -3}, "phantom_k must be an integer >= 1, got -3"),
                            ({"seed": -1}, "seed must be"), ({"alpha": 0.0}, "alpha must be")]:
        with pytest.raises(AnalysisError, match=message):
            depth_study(store, "base", "dense", ["P@5"], first_stage="bm25", **kwargs)
    with pytest.raises(AnalysisError, match="depths must be non-negative"):
        depth_study(store, "base", "dense", ["P@5"], first_stage="bm25", depths=[-5, 10])
    import pandas as pd

    scores = pd.DataFrame({"run": ["a", "a", "b", "b"], "query_id": ["1", "2", "1", "2"], "measure": "m",
                           "value": [0.1, 0.2, 0.3, 0.4]})
    with pytest.raises(AnalysisError, match="tie_tolerance"):
        compare_pair(scores, "a", "b", "m", tie_tolerance=math.nan)
    with pytest.raises(AnalysisError, match="tie_tolerance"):
        win_matrix(scores, ["a", "b"], "m", tie_tolerance=math.inf)
    with pytest.raises(AnalysisError, match="n_boot"):
        depth_curve(None, None, None, ["P@5"], n_boot=0)  # refused before any input is looked at
    assert snapshot(db) == before


def test_stores_fusion_and_bm25_refuse_bad_numbers_in_the_library(tmp_path):
    import pyarrow as pa

    from workbench.errors import StoreError, WorkbenchError
    from workbench.retrieval.bm25 import bm25_search
    from workbench.retrieval.fuse import fuse
    from workbench.store import Store

    for bad in (math.nan, math.inf, -1.0):
        with pytest.raises(StoreError, match="lock_timeout must be a finite number of seconds >= 0"):
            Store(tmp_path / "s.duckdb", lock_timeout=bad)
    run = pa.table({"query_id": ["1", "1"], "doc_id": ["a", "b"], "score": [2.0, 1.0]})
    with pytest.raises(WorkbenchError, match=re.escape("weights must be numbers from -1e+06 to 1e+06, got [1.0, nan]")):
        fuse([run, run], method="combsum", weights=[1.0, math.nan])
    with pytest.raises(WorkbenchError, match="RRF k must be a finite number >= 0, got nan"):
        fuse([run, run], method="rrf", k=math.nan)
    docs = pa.table({"doc_id": ["a"], "title": [""], "text": ["x"]})
    topics = pa.table({"query_id": ["1"], "text": ["x"]})
    for k1, b in ((math.nan, 0.4), (0.9, math.nan), (1e300, 0.4), (0.9, 1.5)):
        with pytest.raises(WorkbenchError, match="BM25 needs 0 <= k1 <= 1000 and 0 <= b <= 1"):
            bm25_search(docs, topics, k1=k1, b=b, cache_dir=tmp_path)
