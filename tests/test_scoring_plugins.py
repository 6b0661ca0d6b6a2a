"""A user's own measures, end to end: runtime measures from a file (`--custom-measures`, $WORKBENCH_CUSTOM_MEASURES,
`workbench.open(custom_measures=)`) and third-party scorers through the `workbench.scorers` entry points (a real
plugin package built and installed with pip into a temporary folder, used by the real CLI in a subprocess).

Values are hand-computed on a small collection; a broken measure file or plugin is one `error:` line, exit 2,
the store unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import snapshot
from test_reliability_support import workbench_exe

from workbench.scoring import registry

ROOT = Path(__file__).resolve().parents[1]

QRELS = """q1 0 d1 2
q1 0 d2 0
q1 0 d3 1
q1 0 d5 3
q2 0 e1 0
q2 0 e2 1
q2 0 e3 0
q3 0 f1 1
"""
# q1 in trec_eval order: d1 (0.9), the 0.8 ties by doc_id descending d4 d3 d2, then d5; q2: all tied, e3 e2 e1;
# q3 is judged but not retrieved (-c: scored on an empty ranking); q9 is not judged (not scored).
RUN = """q1 Q0 d1 1 0.9 r
q1 Q0 d2 2 0.8 r
q1 Q0 d3 3 0.8 r
q1 Q0 d4 4 0.8 r
q1 Q0 d5 5 0.1 r
q2 Q0 e1 1 0.5 r
q2 Q0 e2 2 0.5 r
q2 Q0 e3 3 0.5 r
q9 Q0 z 1 1.0 r
"""
OTHER_RUN = """q1 Q0 d5 1 0.9 s
q1 Q0 d2 2 0.8 s
q2 Q0 e1 1 0.5 s
q3 Q0 f1 1 0.7 s
"""

MEASURES = '''
import ir_measures


def _first_relevant(qrels, run):
    relevant = set(qrels.loc[qrels["relevance"] >= 1, "doc_id"])
    for rank, doc in enumerate(run["doc_id"], start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


FirstRel = ir_measures.define_byquery(_first_relevant, name="FirstRel")
Ranked = ir_measures.define_byquery(lambda qrels, run: len(run), name="Ranked")
'''


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """`--custom-measures` adds to the process's registry (one command per process); tests run in one process."""
    monkeypatch.setattr(registry, "_PROCESS", None)
    monkeypatch.delenv("WORKBENCH_CUSTOM_MEASURES", raising=False)


@pytest.fixture
def store(cli, tmp_path, db) -> Path:
    (tmp_path / "qrels.txt").write_text(QRELS)
    (tmp_path / "r.trec").write_text(RUN)
    (tmp_path / "s.trec").write_text(OTHER_RUN)
    assert cli("collection", "add", "c", "--qrels", tmp_path / "qrels.txt").code == 0
    assert cli("ingest", "-c", "c", tmp_path / "r.trec", "--name", "r").code == 0
    return db


def measures_file(tmp_path: Path, text: str = MEASURES, name: str = "mymeasures.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def per_query(res) -> dict:
    return {(s["run"], s["query_id"], s["measure"]): s["value"] for s in res.json()["scores"]}


# ---- runtime measures ---------------------------------------------------------------------------------------------


def test_runtime_measures_through_evaluate(cli, store, tmp_path):
    path = measures_file(tmp_path)
    res = cli("evaluate", "-c", "c", "--custom-measures", path, "-m", "FirstRel", "Ranked@2", "RR",
              "--per-query", "--json")
    assert res.code == 0, res.err
    got = per_query(res)
    # FirstRel: q1's first relevant document d1 is at rank 1; q2's e2 at rank 2 (e3 e2 e1); q3 retrieves nothing
    assert [got[("r", q, "FirstRel")] for q in ("q1", "q2", "q3")] == [1.0, 0.5, 0.0]
    assert [got[("r", q, "FirstRel")] for q in ("q1", "q2", "q3")] == [got[("r", q, "RR")] for q in ("q1", "q2", "q3")]
    assert [got[("r", q, "Ranked@2")] for q in ("q1", "q2", "q3")] == [2.0, 2.0, 0.0]
    assert ("r", "q9", "FirstRel") not in got
    evaluators = res.json()["evaluators"]
    assert evaluators["FirstRel"].startswith("workbench.runtime 0.1 (mymeasures.py sha256:")
    means = cli("evaluate", "-c", "c", "--custom-measures", path, "-m", "FirstRel", "Ranked@2", "--json").json()
    assert means["computed"] == 0  # stored, keyed by the file's content
    assert per_query(type(res)(0, json.dumps(means), ""))[("r", "all", "FirstRel")] == 0.5


def test_runtime_measures_through_eval_match_trec_eval(cli, db, tmp_path):
    """`workbench eval` (no store) takes --custom-measures: tests/data/measures/trec_style.py re-implements
    recip_rank and num_rel_ret, so on trec_eval's own fixtures each equals trec_eval's value per query."""
    data = ROOT / "tests" / "data"
    res = cli("eval", "--custom-measures", data / "measures" / "trec_style.py", "-m", "FirstRel", "recip_rank",
              "RelRet", "num_rel_ret", "-q", "--format", "json", data / "trec_eval" / "qrels.test",
              data / "trec_eval" / "results.test")
    assert res.code == 0, res.err
    got: dict = {}
    for s in res.json()["scores"]:
        got.setdefault(s["query_id"], {})[s["measure"]] = s["value"]
    assert len(got) > 1 and all(len(v) == 4 for v in got.values())
    assert all(v["FirstRel"] == pytest.approx(v["recip_rank"], abs=1e-12) for v in got.values())
    assert all(v["RelRet"] == v["num_rel_ret"] for q, v in got.items() if q != "all")  # `all`: a mean, a sum
    expected = dict(line.split()[::2] for line in (data / "trec_eval" / "out.test").read_text().splitlines()
                    if line.split()[1] == "all")
    assert f"{got['all']['FirstRel']:.4f}" == expected["recip_rank"]
    assert not db.exists()  # eval writes nothing


def test_editing_the_file_recomputes_and_an_unchanged_file_does_not(cli, store, tmp_path):
    path = measures_file(tmp_path)
    first = cli("evaluate", "-c", "c", "--custom-measures", path, "-m", "FirstRel", "Ranked", "--json").json()
    assert first["computed"] == 2
    path.write_text(path.read_text().replace("len(run)", "2 * len(run)"))  # the user changes Ranked
    second = cli("evaluate", "-c", "c", "--custom-measures", path, "-m", "FirstRel", "Ranked", "--json").json()
    assert second["computed"] == 2  # every measure of the edited file: its bytes are the identity
    assert second["evaluators"]["Ranked"] != first["evaluators"]["Ranked"]
    assert per_query(type("R", (), {"json": lambda self: second})())[("r", "all", "Ranked")] == 2 * (5 + 3 + 0) / 3
    path.write_text(path.read_text().replace("2 * len(run)", "len(run)"))  # back as it was: stored scores again
    third = cli("evaluate", "-c", "c", "--custom-measures", path, "-m", "FirstRel", "Ranked", "--json").json()
    assert third["computed"] == 0 and third["scores"] == first["scores"]


def test_runtime_measures_in_ingest_compare_and_the_api(cli, store, tmp_path):
    import workbench

    path = measures_file(tmp_path)
    res = cli("ingest", "-c", "c", tmp_path / "s.trec", "--name", "s", "--custom-measures", path,
              "-m", "FirstRel", "--json")
    assert res.code == 0, res.err
    again = cli("evaluate", "-c", "c", "-r", "s", "--custom-measures", path, "-m", "FirstRel", "--json").json()
    assert again["computed"] == 0  # ingest stored it
    # s: q1 d5 (grade 3) first -> 1; q2 e1 (grade 0) only -> 0; q3 f1 (grade 1) -> 1
    assert per_query(type("R", (), {"json": lambda self: again})())[("s", "all", "FirstRel")] == pytest.approx(2 / 3)
    res = cli("compare", "-c", "c", "r", "s", "--custom-measures", path, "-m", "FirstRel", "--json")
    assert res.code == 0, res.err
    assert "FirstRel" in res.out
    registry._PROCESS = None  # a fresh notebook
    wb = workbench.open(store, custom_measures=path)
    frame = wb.evaluate("c", ["FirstRel"], per_query=True)
    values = {(r.run, r.query_id): r.value for r in frame.itertuples()}
    assert values[("r", "q2")] == 0.5 and values[("s", "q2")] == 0.0
    # the notebook user edits the file and evaluates again: the edited function's values, not the stored ones
    path.write_text(path.read_text().replace("return 1.0 / rank", "return 10.0 / rank"))
    frame = wb.evaluate("c", ["FirstRel"], per_query=True)
    assert {(r.run, r.query_id): r.value for r in frame.itertuples()}[("r", "q2")] == 5.0


def test_the_environment_variable_is_read_only_when_needed(cli, store, tmp_path, monkeypatch):
    path = measures_file(tmp_path)
    monkeypatch.setenv("WORKBENCH_CUSTOM_MEASURES", os.pathsep.join([str(tmp_path / "missing.py"), str(path)]))
    res = cli("evaluate", "-c", "c", "-m", "nDCG@10", "--json")  # a bad entry stops only who needs it
    assert res.code == 0, res.err
    before = snapshot(store)
    monkeypatch.setattr(registry, "_PROCESS", None)
    res = cli("evaluate", "-c", "c", "-m", "nDCG@10", "FirstRel")
    assert res.code == 2 and res.err.startswith(f"error: {tmp_path / 'missing.py'}: no such file")
    assert "WORKBENCH_CUSTOM_MEASURES" in res.err and res.err.count("\n") == 1
    assert snapshot(store) == before
    monkeypatch.setenv("WORKBENCH_CUSTOM_MEASURES", str(path))
    monkeypatch.setattr(registry, "_PROCESS", None)
    res = cli("evaluate", "-c", "c", "-m", "FirstRel", "--json")
    assert res.code == 0, res.err


BROKEN_FILES = {
    "syntax": ("import ir_measures\nMyM = ir_measures.define_byquery(lambda q, r: 1.0, name='MyM'\n",
               "{path}:2: not valid Python: SyntaxError: "),
    "import": ("import ir_measures\nimport no_such_module_here\n", "{path}:2: ModuleNotFoundError: No module named"),
    "raises": ("x = 1\n\nraise RuntimeError('stop')\n", "{path}:3: RuntimeError: stop"),
    "empty": ("import ir_measures\n", "{path}: defines no measures"),
    "clash": ("import ir_measures\nAP = ir_measures.define_byquery(lambda q, r: 1.0, name='AP')\n",
              "{path}: measure name 'AP' is taken: it already means AP; choose another"),
    "trec_name": ("import ir_measures\nmap = ir_measures.define_byquery(lambda q, r: 1.0, name='map')\n",
                  "{path}: measure name 'map' is taken: it already means AP; choose another"),
    "lambda": ("import ir_measures\nM = ir_measures.define_byquery(lambda q, r: 1.0)\n",
               "{path}: measure M has no name a measure string can use ('<lambda>')"),
    "folder": (None, "{path}: not a file"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
def test_a_broken_measures_file_is_one_line_and_changes_nothing(cli, store, tmp_path, case):
    text, message = BROKEN_FILES[case]
    path = tmp_path / "broken.py"
    if text is None:
        path.mkdir()
    else:
        path.write_text(text)
    before = snapshot(store)
    for argv in (["evaluate", "-c", "c", "-m", "nDCG@10"], ["ingest", "-c", "c", tmp_path / "s.trec", "-m", "P@5"]):
        res = cli(*argv, "--custom-measures", path)
        assert res.code == 2, res.err
        assert res.err.startswith("error: " + message.format(path=path)), res.err
        assert res.err.count("\n") == 1 and "Traceback" not in res.err
    assert snapshot(store) == before


SCORING_FAILURES = {
    "raises": ("lambda q, r: 1 / 0", "failed: ZeroDivisionError: division by zero"),
    "nan": ("lambda q, r: float('nan')", "gave nan for query 'q1' on Bad"),
    "none": ("lambda q, r: None", "gave NoneType None for query 'q1'; expected a number"),
    "text": ("lambda q, r: '0.5'", "gave str '0.5' for query 'q1'; expected a number"),
}


@pytest.mark.parametrize("case", sorted(SCORING_FAILURES))
def test_a_measure_that_fails_while_scoring_is_one_line_naming_it(cli, store, tmp_path, case):
    impl, message = SCORING_FAILURES[case]
    path = measures_file(tmp_path, f"import ir_measures\nBad = ir_measures.define_byquery({impl}, name='Bad')\n")
    before = snapshot(store)
    for argv in (["evaluate", "-c", "c"], ["ingest", "-c", "c", tmp_path / "s.trec"]):
        res = cli(*argv, "--custom-measures", path, "-m", "Bad", "nDCG@10")
        assert res.code == 2, res.err
        assert res.err.startswith(f"error: runtime measure Bad ({path})"), res.err
        assert message in res.err and res.err.count("\n") == 1
        assert snapshot(store) == before


def test_a_measure_defined_outside_a_file_is_refused_with_the_way_to_do_it():
    import ir_measures
    import pyarrow as pa

    from workbench.errors import WorkbenchError
    from workbench.scoring import evaluate

    m = ir_measures.define_byquery(lambda qrels, run: 1.0, name="InCell")
    run = pa.table({"query_id": ["q"], "doc_id": ["d"], "score": [1.0]})
    qrels = pa.table({"query_id": ["q"], "doc_id": ["d"], "relevance": [1]})
    with pytest.raises(WorkbenchError, match=r"no measures file given defines.*--custom-measures"):
        evaluate(run, qrels, [m])


def test_junk_custom_measures_values_are_one_line(cli, store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = snapshot(store)
    for junk in ("", "x\ny", "abc", "-1", "[red]x[/]", "a" * 5000):
        res = cli("evaluate", "-c", "c", "-m", "nDCG@10", "--custom-measures", junk)
        assert res.code == 2 and res.err.strip().splitlines()[-1].startswith(("error:", "workbench evaluate: error:"))
        assert "Traceback" not in res.err
    assert snapshot(store) == before


# ---- third-party scorers through entry points ------------------------------------------------------------------------

PLUGIN = '''
import math

import pyarrow as pa
import pyarrow.compute as pc
from ir_measures.measures import Measure, ParamInfo

from workbench.scoring import Scorer


def _measure(name):
    """A measure family of this plugin, in ir-measures' style: a class with its parameters, one instance."""
    cls = type(f"_{name}", (Measure,), {"NAME": name, "__name__": name,
                                       "SUPPORTED_PARAMS": {"cutoff": ParamInfo(dtype=int, required=False)}})
    return cls()


class _Base(Scorer):
    version = "1"
    measure = None

    def defined_measures(self):
        return {self.measure.NAME: self.measure}

    def supports(self, m):
        return m.NAME == self.measure.NAME

    def rows(self, run, qrels, measures):
        """Rows retrieved per judged query, cut at the measure's cutoff (a count needs no ranking)."""
        queries = sorted(pc.unique(qrels["query_id"]).to_pylist())
        counts = {}
        for q in run["query_id"].to_pylist():
            counts[q] = counts.get(q, 0) + 1
        out = {"query_id": [], "measure": [], "value": []}
        for m in measures:
            k = m.params.get("cutoff")
            for q in queries:
                n = counts.get(q, 0)
                out["query_id"].append(q)
                out["measure"].append(str(m))
                out["value"].append(float(min(n, k) if k else n))
        return out

    def evaluate(self, run, qrels, measures, *, group=None):
        return pa.table(self.rows(run, qrels, measures))


class Retrieved(_Base):
    name = "retrieved"
    measure = _measure("Retrieved")


class Raises(_Base):
    name = "raises"
    measure = _measure("Raises")

    def evaluate(self, run, qrels, measures, *, group=None):
        raise RuntimeError("boom")


class GivesNaN(_Base):
    name = "nan"
    measure = _measure("GivesNaN")

    def evaluate(self, run, qrels, measures, *, group=None):
        rows = self.rows(run, qrels, measures)
        rows["value"][0] = math.nan
        return pa.table(rows)


class WrongColumns(_Base):
    name = "columns"
    measure = _measure("WrongColumns")

    def evaluate(self, run, qrels, measures, *, group=None):
        rows = self.rows(run, qrels, measures)
        rows["score"] = rows.pop("value")
        return pa.table(rows)


class MissesQueries(_Base):
    name = "missing"
    measure = _measure("MissesQueries")

    def evaluate(self, run, qrels, measures, *, group=None):
        return pa.table(self.rows(run, qrels, measures)).slice(1)


NOT_A_SCORER = 42
'''


def write_package(folder: Path, dist: str, module: str, source: str, entry_points: dict[str, str]) -> Path:
    (folder / module).mkdir(parents=True)
    (folder / module / "__init__.py").write_text(source)
    eps = "\n".join(f'{name} = "{target}"' for name, target in entry_points.items())
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{dist}"
        version = "0.3"

        [project.entry-points."workbench.scorers"]
        """) + eps + f'\n\n[tool.setuptools]\npackages = ["{module}"]\n')
    return folder


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    """Two plugin packages installed with pip into a folder of their own (the shared venv is left alone): one
    with a good scorer and four that break their contract, one whose import fails."""
    work = tmp_path_factory.mktemp("plugins")
    good = write_package(work / "good", "wb-plugin-demo", "wb_plugin_demo", PLUGIN, {
        "retrieved": "wb_plugin_demo:Retrieved", "raises": "wb_plugin_demo:Raises", "nan": "wb_plugin_demo:GivesNaN",
        "columns": "wb_plugin_demo:WrongColumns", "missing": "wb_plugin_demo:MissesQueries",
        "number": "wb_plugin_demo:NOT_A_SCORER"})
    broken = write_package(work / "broken", "wb-plugin-broken", "wb_plugin_broken",
                           "import no_such_dependency_here\n", {"broken": "wb_plugin_broken:Scorer"})
    target = work / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                          "--quiet", "--target", str(target), str(good), str(broken)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return target


def run_with_plugins(plugin_path: Path, db: Path, *args) -> subprocess.CompletedProcess:
    """The real console script in a fresh process that finds the plugins on PYTHONPATH."""
    path = os.pathsep.join([str(plugin_path), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([*workbench_exe(), "--db", str(db), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path}, timeout=300, cwd=ROOT)


@pytest.mark.slow
def test_a_plugin_scorer_end_to_end(plugin_path, store, tmp_path):
    res = run_with_plugins(plugin_path, store, "evaluate", "-c", "c", "-m", "Retrieved@4", "Retrieved", "nDCG@3",
                           "--per-query", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    got = {(s["query_id"], s["measure"]): s["value"] for s in out["scores"]}
    # rows retrieved: q1 5, q2 3, q3 none (judged, not retrieved); q9 is not judged
    assert [got[(q, "Retrieved")] for q in ("q1", "q2", "q3")] == [5.0, 3.0, 0.0]
    assert [got[(q, "Retrieved@4")] for q in ("q1", "q2", "q3")] == [4.0, 3.0, 0.0]
    assert ("q9", "Retrieved") not in got
    assert out["evaluators"]["Retrieved@4"] == "retrieved 1 [wb-plugin-demo 0.3]"  # an upgrade recomputes
    assert out["evaluators"]["nDCG@3"].startswith("workbench.fast ")
    again = json.loads(run_with_plugins(plugin_path, store, "evaluate", "-c", "c", "-m", "Retrieved@4",
                                        "--json").stdout)
    assert again["computed"] == 0 and again["scores"][0]["value"] == pytest.approx((4 + 3 + 0) / 3)
    # ingest --measures with the plugin's measure: scored and stored with the new run
    res = run_with_plugins(plugin_path, store, "ingest", "-c", "c", tmp_path / "s.trec", "--name", "s",
                           "-m", "Retrieved")
    assert res.returncode == 0, res.stderr
    got = json.loads(run_with_plugins(plugin_path, store, "evaluate", "-c", "c", "-r", "s", "-m", "Retrieved",
                                      "--per-query", "--json").stdout)
    assert got["computed"] == 0
    assert {s["query_id"]: s["value"] for s in got["scores"]} == {"q1": 2.0, "q2": 1.0, "q3": 1.0}


PLUGIN_FAILURES = {
    "Raises": "error: scorer plugin 'raises' (wb-plugin-demo 0.3) failed: RuntimeError: boom",
    "GivesNaN": "error: scorer plugin 'nan' (wb-plugin-demo 0.3) gave nan for query 'q1' on GivesNaN; expected a "
                "finite number",
    "WrongColumns@2": "error: scorer plugin 'columns' (wb-plugin-demo 0.3) returned columns query_id, measure, "
                      "score; expected query_id, measure, value",
    "MissesQueries": "error: scorer plugin 'missing' (wb-plugin-demo 0.3) gave 2 values where 3 were due: one per "
                     "judged query and measure (e.g. 'q1')",
    "Broken": "error: unknown measure 'Broken'; scorer plugin 'broken' (wb-plugin-broken 0.3) failed to load: "
              "ModuleNotFoundError: No module named 'no_such_dependency_here'; scorer plugin 'number' "
              "(wb-plugin-demo 0.3) failed to load: wb_plugin_demo:NOT_A_SCORER is int, not a "
              "workbench.scoring.Scorer",
}


@pytest.mark.slow
def test_a_broken_plugin_is_one_line_naming_it_and_changes_nothing(plugin_path, store, tmp_path):
    before = snapshot(store)
    for measure, message in PLUGIN_FAILURES.items():
        for argv in (["evaluate", "-c", "c"], ["ingest", "-c", "c", tmp_path / "s.trec"]):
            res = run_with_plugins(plugin_path, store, *argv, "-m", "nDCG@10", measure)
            assert res.returncode == 2, (measure, res.stderr)
            assert res.stderr == message + "\n", (measure, res.stderr)
            assert snapshot(store) == before, measure


def test_junk_in_the_environment_variable_is_one_line_naming_it(cli, store, tmp_path, monkeypatch):
    from test_cli_junk import ENV_JUNK

    monkeypatch.chdir(tmp_path)
    cli("evaluate", "-c", "c", "-m", "nDCG@10")
    before = snapshot(store)
    for junk in ENV_JUNK:
        monkeypatch.setenv("WORKBENCH_CUSTOM_MEASURES", junk)
        for measures, fine in ((["nDCG@10"], "\n" not in junk), (["nDCG@10", "FirstRel"], False)):
            monkeypatch.setattr(registry, "_PROCESS", None)
            res = cli("evaluate", "-c", "c", "-m", *measures)
            assert res.code == (0 if fine else 2), (junk, res.err)
            if not fine:
                assert res.err.startswith("error: ") and res.err.count("\n") == 1, (junk, res.err)
                assert "WORKBENCH_CUSTOM_MEASURES" in res.err or junk == "", (junk, res.err)
            assert snapshot(store) == before


def test_an_edit_is_read_between_operations_never_during_one(tmp_path):
    """Scores are stored under the evaluator id computed when an operation starts: the registry in use never
    changes under it; `refresh()` (each API call) picks the edit up."""
    path = measures_file(tmp_path)
    before = registry.use_measures([path])
    old_id = before.evaluator_id("FirstRel")
    path.write_text(path.read_text() + "\n# edited\n")
    assert registry.current() is before and registry.current().evaluator_id("FirstRel") == old_id
    after = registry.refresh()
    assert after is not before and after.evaluator_id("FirstRel") != old_id
    assert registry.refresh() is after  # nothing changed since
