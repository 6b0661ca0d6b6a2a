"""Junk in every CLI option and every environment variable (issue 15): one line, exit 2, the store unchanged.

The walker introspects `build_parser()`, so an option or command added later is walked without editing this file:
every subcommand, every option and positional, a representative handful of junk values per kind of option
(typed numbers, choices, free text), each run through the real `main()` on a copy of a small real store. It fails
on an exception escaping main (a traceback), on an exit status other than 0 or 2, on a refusal that is not one
`error:` line at the end of stderr, and on any change to the store when the command refused. A command that
accepted the junk (exit 0) may have changed the store: the next case starts from a fresh copy.

Commands that would start long work are given a context that makes them cheap: retrieve/rerank run on a
collection without documents (they refuse after parsing every option), build/demo on a two-run manifest, demo
with --no-serve; `serve` must refuse every junk value at parse time (it would start a server otherwise).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import ROOT, snapshot
from test_reliability_support import make_base_store, run_cli

from workbench.cli.main import build_parser, main

# ---- junk --------------------------------------------------------------------------------------------------------

LONG = "a" * 5000
NUMBER_JUNK = ("nan", "inf", "-1", "0", str(2**63), "", "abc", "1_000", "1e999")
CHOICE_JUNK = ("abc", "", "[red]x[/]")
TEXT_JUNK = ("", "abc", "x\ny", "[red]x[/]", LONG, "-1", "nan")
ENV_JUNK = ("nan", "inf", "-1", "abc", str(2**63), "", "x\ny", "[red]x[/]", LONG, "1_000", " 5 ")

ERROR_LINE = re.compile(r"^(error: |workbench( [\w-]+)*: error: )")


@dataclass
class Case:
    path: tuple[str, ...]
    positionals: dict[str, list[str]] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)

    def argv(self, parser: argparse.ArgumentParser) -> list[str]:
        values = [v for a in positional_actions(parser) for v in self.positionals.get(a.dest, [])]
        return [*self.path, *self.options, *(["--", *values] if values else [])]


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(path, parser) of every leaf command, e.g. (('runs', 'delete'), <parser>)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from walk(sub, (*path, name))


def positional_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]


def valued_options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.nargs != 0]


def flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.nargs == 0
            and not isinstance(a, argparse._HelpAction | argparse._VersionAction)]


def junk_for(action: argparse.Action) -> tuple[str, ...]:
    if action.choices is not None:
        return CHOICE_JUNK
    if action.type is not None:
        return NUMBER_JUNK
    return TEXT_JUNK


def long_option(action: argparse.Action) -> str:
    return max(action.option_strings, key=len)


def without_option(tokens: list[str], action: argparse.Action, parser: argparse.ArgumentParser) -> list[str]:
    """The option tokens with every occurrence of `action` (and its values) taken out."""
    out, skipping = [], False
    for t in tokens:
        if t in parser._option_string_actions:
            skipping = t in action.option_strings
        if not skipping:
            out.append(t)
    return out


# ---- the store and the commands' cheap contexts -------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The base store (collection `base`, runs bm25 and dense, scored), plus `nodocs` (topics, no documents),
    a third run file, a two-run manifest; returns the paths the cases use."""
    folder = tmp_path_factory.mktemp("junk")
    db, files = make_base_store(folder)
    assert main(["--db", str(db), "collection", "add", "nodocs", "--qrels", str(files["qrels"]),
                 "--topics", str(files["topics"])]) == 0
    third = folder / "inputs" / "third.trec"
    third.write_text(files["bm25"].read_text().replace(" bm25\n", " third\n"))
    manifest = folder / "inputs" / "manifest.yaml"
    manifest.write_text(
        "version: 1\ncollections:\n  base:\n    qrels: qrels.txt\n    topics: topics.tsv\n    docs: docs.tsv\n"
        "runs:\n  - {file: bm25.trec, collection: base, kind: sparse}\n"
        "  - {file: dense.trec.gz, collection: base, kind: sparse}\n")
    return {"db": db, "files": files, "third": third, "manifest": manifest, "snapshot": snapshot(db),
            "digest": digest(db)}


def digest(db: Path) -> tuple:
    wal = Path(f"{db}.wal")
    return hashlib.sha256(db.read_bytes()).hexdigest(), wal.exists() and wal.read_bytes()


def base_cases(world, work: Path) -> dict[tuple[str, ...], Case]:
    """A valid, cheap invocation of every command this file knows; others are synthesised (see `synthesised`)."""
    f = world["files"]
    return {c.path: c for c in [
        Case(("collection", "add"), {"name": ["newc"]}, ["--qrels", str(f["qrels"]), "--topics", str(f["topics"])]),
        Case(("collection", "list")),
        Case(("collection", "show"), {"name": ["base"]}),
        Case(("collection", "remove"), {"name": ["base"]}),
        Case(("ingest",), {"files": [str(world["third"])]}, ["-c", "base"]),
        Case(("runs", "list"), {}, ["-c", "base"]),
        Case(("runs", "show"), {"name": ["bm25"]}, ["-c", "base"]),
        Case(("runs", "delete"), {"name": ["bm25"]}, ["-c", "base"]),
        Case(("runs", "export"), {"runs": ["bm25"]}, ["-c", "base", "--out-dir", str(work / "exported")]),
        Case(("evaluate",), {}, ["-c", "base"]),
        Case(("export", "scores"), {}, ["-c", "base"]),
        Case(("leaderboard",), {}, ["-c", "base", "-b", "bm25"]),
        Case(("compare",), {"runs": ["bm25", "dense"]}, ["-c", "base"]),
        Case(("depth",), {"reranked": ["dense"]}, ["-c", "base", "-f", "bm25"]),
        Case(("retrieve", "bm25"), {}, ["-c", "nodocs", "--runs-dir", str(work / "runs")]),
        Case(("retrieve", "dense"), {}, ["-c", "nodocs", "--runs-dir", str(work / "runs")]),
        Case(("rerank",), {}, ["-c", "nodocs", "--run", "bm25", "--runs-dir", str(work / "runs")]),
        Case(("fuse",), {"runs": ["bm25", "dense"]}, ["-c", "base", "--runs-dir", str(work / "runs")]),
        Case(("build",), {}, ["--manifest", str(world["manifest"])]),
        Case(("demo",), {}, ["--manifest", str(world["manifest"]), "--no-serve", "--out", str(work / "out")]),
        Case(("serve",)),
        Case(("lake", "push"), {}, ["--to", str(work / "lake"), "-c", "base"]),
        Case(("lake", "pull"), {}, ["--from", str(work / "lake")]),  # the lake the push case made
        Case(("lake", "show"), {"uri": [str(work / "lake")]}),
    ]}


NEVER_RUN = {("serve",)}  # accepting junk would start a server: these must refuse every junk value when parsing


def synthesised(path: tuple[str, ...], parser: argparse.ArgumentParser, world) -> Case:
    """A best guess for a command this file does not know yet: required options and positionals filled by name."""
    by_collection = any("--collection" in a.option_strings for a in parser._actions)
    guess = {"collection": "base", "qrels": str(world["files"]["qrels"]), "topics": str(world["files"]["topics"]),
             "measures": "P@5", "name": "bm25"}
    run = "bm25" if by_collection else str(world["files"]["bm25"])
    options = [t for a in parser._actions if a.option_strings and a.required
               for t in (long_option(a), guess.get(a.dest, run))]
    positionals = {a.dest: [guess.get(a.dest, run)] for a in positional_actions(parser)
                   if a.nargs not in ("?", "*")}
    return Case(path, positionals, options)


# ---- running a case -------------------------------------------------------------------------------------------------


class Runner:
    """Runs cases on a private copy of the base store; collects every failure (so one run shows them all)."""

    def __init__(self, world, capsys, db: Path) -> None:
        self.world, self.capsys, self.db = world, capsys, db
        self.dirty = True
        self.failures: list[str] = []

    def run(self, argv: list[str], *, db: bool = True) -> tuple[int, str, str]:
        if self.dirty:
            shutil.copyfile(self.world["db"], self.db)
            Path(f"{self.db}.wal").unlink(missing_ok=True)
            self.dirty = False
        self.capsys.readouterr()
        full = ["--db", str(self.db), *argv] if db else argv
        try:
            code = main(full)
        except BaseException as exc:  # any escape is the failure this test looks for
            self.dirty = True
            self.capsys.readouterr()
            self.failures.append(f"workbench {shell(full)}: raised {type(exc).__name__}: {str(exc)[:300]}")
            return -1, "", ""
        out, err = self.capsys.readouterr()
        try:
            self.check(full, code, out, err)
        except AssertionError as exc:
            self.failures.append(str(exc))
        return code, out, err

    def assert_clean(self) -> None:
        assert not self.failures, f"{len(self.failures)} failures:\n" + "\n".join(self.failures[:60])

    def check(self, argv: list[str], code: int, out: str, err: str) -> None:
        where = f"workbench {shell(argv)}"
        assert code in (0, 2), f"{where}: exit {code}\n{err[-500:]}"
        assert "Traceback" not in err + out, f"{where}: traceback\n{err[-500:]}"
        if code == 0:
            self.dirty = True
            return
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines and ERROR_LINE.match(lines[-1]), f"{where}: the refusal is not an error line: {err[-300:]!r}"
        if digest(self.db) != self.world["digest"]:
            self.dirty = True
            assert snapshot(self.db) == self.world["snapshot"], f"{where}: refused but changed the store"


def shell(argv: list[str]) -> str:
    return " ".join(repr(a) if not a or any(c in a for c in " \n[]") else (a[:40] + "...") if len(a) > 40 else a
                    for a in argv)


# ---- the walkers ----------------------------------------------------------------------------------------------------


def test_every_option_of_every_command_refuses_junk_in_one_line(world, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative junk paths (abc, a newline) land here
    parser = build_parser()
    known = base_cases(world, tmp_path)
    runner = Runner(world, capsys, tmp_path / "store.duckdb")
    walked = 0
    for path, sub in walk(parser):
        base = known.get(path) or synthesised(path, sub, world)
        if path not in NEVER_RUN:
            runner.run(base.argv(sub))  # the base invocation itself: exit 0 or a clean refusal
        for action in [*positional_actions(sub), *valued_options(sub)]:
            for junk in junk_for(action):
                if action.option_strings:
                    case = Case(path, base.positionals,
                                [*without_option(base.options, action, sub), long_option(action), junk])
                else:
                    case = Case(path, {**base.positionals, action.dest: [junk]}, base.options)
                argv = case.argv(sub)
                if path in NEVER_RUN:
                    with pytest.raises(SystemExit) as exc:
                        sub.parse_args(argv[len(path):])
                    assert exc.value.code == 2, f"workbench {shell(argv)} accepted junk"
                    capsys.readouterr()
                    continue
                runner.run(argv)
                walked += 1
        for flag in flags(sub):
            if path not in NEVER_RUN:
                runner.run(Case(path, base.positionals, [*base.options, long_option(flag)]).argv(sub))
    # the global options, on a command that reads the store
    for action in valued_options(parser):
        if action.dest != "db":
            continue
        for junk in TEXT_JUNK:
            runner.run(["--db", junk, "runs", "list", "-c", "base"], db=False)
    runner.assert_clean()
    assert walked > 300  # every command was walked, not skipped


# ---- environment variables ------------------------------------------------------------------------------------------


def env_vars_read() -> set[str]:
    """Every WORKBENCH_* variable the package and the dashboard read (found in the source, so a new one needs a
    case below before this test passes)."""
    names = set()
    for source in [*(ROOT / "workbench").rglob("*.py"), ROOT / "app.py"]:
        text = source.read_text()
        names |= set(re.findall(r"""(?:env_\w+|environ(?:\.get)?|getenv)\(\s*["'](WORKBENCH_\w+)""", text))
        names |= set(re.findall(r"""environ\[["'](WORKBENCH_\w+)["']\]""", text))
    return names


NUMERIC_ENV = {  # variable -> (what reads it, a valid value)
    "WORKBENCH_LOCK_TIMEOUT": "cli",
    "WORKBENCH_APP_LOCK_TIMEOUT": "app_store",
    "WORKBENCH_APP_TEST_BUDGET": "app_budget",
    "WORKBENCH_MAX_UPLOAD_MB": "upload",
    "WORKBENCH_MAX_DECOMPRESSED_MB": "gzip",
    "WORKBENCH_MAX_COMPRESSION_RATIO": "gzip",
}
PATH_ENV = {"WORKBENCH_DB", "WORKBENCH_RUNS_DIR", "WORKBENCH_CACHE"}


def test_every_environment_variable_is_known_here():
    assert env_vars_read() == set(NUMERIC_ENV) | PATH_ENV | {"WORKBENCH_CUSTOM_MEASURES"}, \
        "add a case for each variable the package reads"  # WORKBENCH_CUSTOM_MEASURES: tests/test_scoring_plugins.py


def read_env(name: str, world, tmp_path: Path):
    """Use `name` the way the workbench does; returns what it read (raises WorkbenchError for a bad value)."""
    from workbench.app import data
    from workbench.env import env_int

    db = str(world["db"])
    if name == "WORKBENCH_APP_LOCK_TIMEOUT":
        return data.store_for(db).lock_timeout
    if name == "WORKBENCH_APP_TEST_BUDGET":
        return data.significance_budget()
    if name == "WORKBENCH_MAX_UPLOAD_MB":  # the Runs page and `serve` read it with this call (AppTest: below)
        return env_int("WORKBENCH_MAX_UPLOAD_MB", 500)
    if name in ("WORKBENCH_MAX_DECOMPRESSED_MB", "WORKBENCH_MAX_COMPRESSION_RATIO"):  # every gzip read calls it
        from workbench.io._text import decompression_limits

        return decompression_limits()
    if name == "WORKBENCH_RUNS_DIR":  # what fuse/retrieve/rerank/build and the Fusion lab write under
        from workbench.services.produce import default_runs_dir
        from workbench.store import Store

        return default_runs_dir(Store(world["db"]))
    if name == "WORKBENCH_CACHE":
        from workbench.retrieval.cache import cache_dir

        return cache_dir()
    raise AssertionError(name)


@pytest.mark.parametrize("name", sorted(NUMERIC_ENV))
def test_numeric_environment_variables_refuse_junk_naming_the_variable(name, world, tmp_path, monkeypatch,
                                                                     capsys):
    from workbench.errors import WorkbenchError

    monkeypatch.chdir(tmp_path)
    runner = Runner(world, capsys, tmp_path / "store.duckdb")
    for junk in ENV_JUNK:
        monkeypatch.setenv(name, junk)
        if NUMERIC_ENV[name] == "cli":
            code, _, err = runner.run(["runs", "list", "-c", "base"])
            assert code == (0 if junk == "" else 2), (junk, err)
            if junk:
                assert err.startswith(f"error: environment variable {name}=") and err.count("\n") == 1, err
            continue
        if junk == "":  # empty is unset: the default
            read_env(name, world, tmp_path)
            continue
        with pytest.raises(WorkbenchError, match=f"^environment variable {name}=") as exc:
            read_env(name, world, tmp_path)
        assert "\n" not in str(exc.value)
    runner.assert_clean()


@pytest.mark.parametrize("name", sorted(PATH_ENV - {"WORKBENCH_DB"}))
def test_path_environment_variables_refuse_control_characters(name, world, tmp_path, monkeypatch):
    from workbench.errors import WorkbenchError

    monkeypatch.chdir(tmp_path)
    for junk in ENV_JUNK:
        monkeypatch.setenv(name, junk)
        if "\n" in junk:
            with pytest.raises(WorkbenchError, match=f"^environment variable {name}="):
                read_env(name, world, tmp_path)
        else:
            assert isinstance(read_env(name, world, tmp_path), Path)


def test_workbench_db_junk_is_a_line_and_never_a_traceback(world, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    runner = Runner(world, capsys, tmp_path / "store.duckdb")
    for junk in ENV_JUNK:
        monkeypatch.setenv("WORKBENCH_DB", junk)
        code, _, err = runner.run(["runs", "list", "-c", "base"], db=False)
        if "\n" in junk:
            assert code == 2 and "environment variable WORKBENCH_DB=" in err, err
    monkeypatch.setenv("WORKBENCH_DB", str(world["db"]))  # and the variable works
    assert runner.run(["runs", "list", "-c", "base"], db=False)[0] == 0
    runner.assert_clean()


@pytest.mark.parametrize("env", [{"WORKBENCH_LOCK_TIMEOUT": "abc"}, {"WORKBENCH_LOCK_TIMEOUT": "nan"},
                                 {"WORKBENCH_APP_LOCK_TIMEOUT": "abc"}, {"WORKBENCH_APP_TEST_BUDGET": "x"},
                                 {"WORKBENCH_MAX_UPLOAD_MB": "-1"}, {"WORKBENCH_DB": "a\nb"}])
def test_a_bad_variable_breaks_no_import(env, monkeypatch):
    """Read at import, WORKBENCH_LOCK_TIMEOUT=abc crashed every command, --help included."""
    import os

    code = ("import workbench.store, workbench.services.depth, workbench.app.data, workbench.retrieval.cache, "
            "workbench.cli.main")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env},
                         cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr


def test_lock_timeout_junk_as_a_real_process(world, tmp_path):
    """The issue's cases through the console script: `abc` crashed at import, `nan` waited for ever."""
    db = shutil.copyfile(world["db"], tmp_path / "store.duckdb")
    for junk in ("abc", "nan"):
        res = run_cli(db, "runs", "list", "-c", "base", env={"WORKBENCH_LOCK_TIMEOUT": junk}, timeout=60)
        assert res.returncode == 2, res.stderr
        assert res.stderr == (f"error: environment variable WORKBENCH_LOCK_TIMEOUT={junk!r}: expected a number of "
                              "seconds from 0 to 604800\n")
    assert snapshot(db) == world["snapshot"]
    assert run_cli(db, "--help").returncode == 0


@pytest.mark.parametrize("name, page", [("WORKBENCH_MAX_UPLOAD_MB", "runs"), ("WORKBENCH_APP_LOCK_TIMEOUT", "depth"),
                                        ("WORKBENCH_APP_TEST_BUDGET", "leaderboard")])
def test_the_dashboard_shows_a_bad_variable_as_a_line(name, page, world, monkeypatch):
    """The real app (AppTest): the page that reads the variable shows one error naming it, no traceback."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("WORKBENCH_DB", str(world["db"]))
    monkeypatch.setenv(name, "abc")
    at = AppTest.from_file(ROOT / "app.py", default_timeout=120)
    at.run()
    at.switch_page(f"workbench/app/pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    from workbench.app.common import plain

    assert any(e.startswith(plain(f"environment variable {name}='abc': expected")) for e in errors), errors


@pytest.mark.parametrize("name", ["WORKBENCH_MAX_UPLOAD_MB", "WORKBENCH_APP_LOCK_TIMEOUT", "WORKBENCH_APP_TEST_BUDGET",
                                  "WORKBENCH_RUNS_DIR", "WORKBENCH_DB"])
def test_serve_refuses_a_bad_dashboard_variable_before_starting(name, world, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, "a\nb" if name in PATH_ENV else "abc")
    code = main(["serve"] if name == "WORKBENCH_DB" else ["--db", str(world["db"]), "serve"])
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith(f"error: environment variable {name}=") and err.count("\n") == 1, err
    assert "dashboard on" not in err + out
