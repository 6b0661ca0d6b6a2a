"""The step registry (issue 18 item 1) and the plugin test: a tiny third-party package with a custom measure (entry
point group `workbench.scorers`) and two custom steps (group `workbench.steps`: a first-stage retriever and a
reranker), installed with pip into a folder of its own and used by the real CLI in a fresh process, end to end:
`workbench build` of a manifest naming the steps, `workbench evaluate -m` the measure, `workbench step`.

Every value is computed by hand below from five documents and four queries; a broken step plugin is one line
naming it, exit 2, the store unchanged.
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

from workbench.errors import WorkbenchError
from workbench.plugins import Plugin
from workbench.retrieval import steps as registry
from workbench.retrieval.steps import STEPS, Param, Step, StepInputs, step_spec

ROOT = Path(__file__).resolve().parents[1]

# ---- the registry --------------------------------------------------------------------------------------------------


def test_each_builtin_step_is_registered_once_with_its_function_and_run_kind():
    assert [(s.name, s.kind, s.run_kind) for s in STEPS.values()] == [
        ("bm25", "retrieve", "sparse"), ("dense", "retrieve", "dense"), ("fuse", "fuse", "hybrid"),
        ("rerank", "rerank", "rerank")]
    assert all(callable(s.function) and s.origin is None for s in STEPS.values())
    assert step_spec("retrieve", "bm25") is STEPS["bm25"] and step_spec("rerank") is STEPS["rerank"]
    with pytest.raises(WorkbenchError, match=r"unknown retriever 'fuse'; expected one of bm25, dense"):
        step_spec("retrieve", "fuse")
    with pytest.raises(WorkbenchError, match=r"unknown step 'bm25'; expected one of fuse, rerank"):
        step_spec("bm25")


def test_the_services_name_no_step():
    """produce(), build, the manifest and the CLI dispatch through the registry: no condition tests a step's name
    (a step's kind, what it reads, is another matter)."""
    import re

    test = re.compile(r"(step|retriever|command|name)\)?\s*(==|!=|in)\s*\(?\"(bm25|dense|fuse|rerank)\"")
    for module in ("services/produce", "services/build", "services/manifest", "cli/produce_cmds"):
        source = (ROOT / "workbench" / f"{module}.py").read_text()
        assert not test.search(source), (module, test.search(source))


def test_default_run_names_are_the_ones_the_cli_always_gave():
    assert STEPS["bm25"].run_name((), {}) == "bm25"
    assert STEPS["dense"].run_name((), {"model": "/models/e5-base"}) == "dense-e5-base"
    assert STEPS["fuse"].run_name(("a", "b"), {"method": "combsum"}) == "combsum-a+b"
    assert STEPS["rerank"].run_name(("bm25",), {"depth": 20}) == "bm25__minilm@20"
    custom = Step("mine", "rerank", (), lambda inputs: None, "rerank")
    assert custom.run_name(("bm25",), {}) == "bm25__mine"


def test_step_inputs_load_only_what_the_step_reads():
    loaded = []

    def loader(what):
        return lambda: loaded.append(what) or what

    inputs = StepInputs("c", ("a", "b"), documents=loader("docs"), topics=loader("topics"), runs=loader("runs"))
    assert inputs.runs == "runs" and inputs.runs == "runs"
    assert loaded == ["runs"]  # once, and the documents never


def _plugin(obj, name="mine", error=None) -> Plugin:
    return Plugin("workbench.steps", name, "wb_x:obj", "wb-x", "0.1", obj=obj, error=error)


def _step(**changes) -> Step:
    base = {"name": "mine", "kind": "retrieve", "params": (Param("hits", "int", 10, "hits", minimum=1),),
            "function": lambda inputs, **p: None, "run_kind": "sparse"}
    return Step(**{**base, **changes})


@pytest.mark.parametrize(("obj", "message"), [
    (42, "failed to load: wb_x:obj is int, not a workbench.retrieval.steps.Step"),
    (_step(name="other"), "its step is named 'other'; the entry point must carry the step's name"),
    (_step(kind="generate"), "kind 'generate' must be one of retrieve, fuse, rerank"),
    (_step(run_kind="neural"), "run_kind 'neural' must be one of sparse, dense, learned-sparse, hybrid, rerank"),
    (_step(function=3), "its function is not callable"),
    (_step(params=(Param("name", "str", "", "x"),)), "parameter name 'name' is taken by the CLI's options"),
    (_step(params=(Param("k", "int", 1, "x"), Param("k", "int", 2, "y"))), "Param objects with distinct names"),
    (_step(depth_param="depth"), "depth_param 'depth' is not one of its parameters"),
    (lambda: 1 / 0, "failed to load: ZeroDivisionError: division by zero"),
])
def test_a_plugin_that_is_not_a_usable_step_says_why(obj, message):
    assert message in registry._plugin_step(_plugin(obj))


@pytest.mark.parametrize("name", ["bm25", "fuse", "retrieve", "params", "step", "Mine", "a b", "x" * 65])
def test_a_plugin_step_cannot_take_a_workbench_name(name):
    assert "failed to load: step name" in registry._plugin_step(_plugin(_step(name=name), name=name))


def test_a_usable_plugin_step_carries_its_distribution():
    step = registry._plugin_step(_plugin(lambda: _step()))
    assert isinstance(step, Step) and step.origin == "wb-x 0.1" and step.label == "step plugin 'mine' (wb-x 0.1)"


def _table(q, d, score) -> object:
    import pyarrow as pa

    return pa.table({"query_id": q, "doc_id": d, "score": score})


@pytest.mark.parametrize(("out", "message"), [
    ("a run", "returned str; expected a pyarrow Table with query_id, doc_id, score"),
    (_table(["q"], ["d"], ["high"]), "returned a run that is not text ids and numeric scores: ArrowInvalid"),
    (_table(["q", "q"], ["d", "d"], [1.0, 2.0]), ": a run lists the same doc_id twice in one query (1 repeats)"),
    (_table(["q", None], ["d", "e"], [1.0, float("inf")]), "returned 2 row(s) with a missing id or a score that is"),
    (_table(["q 1", "q"], ["d", "e\n"], [1.0, 2.0]), "returned 2 empty id(s) or id(s) with white space"),
    (_table(["q"], [""], [1.0]), "returned 1 empty id(s) or id(s) with white space"),
])
def test_what_a_plugin_step_returns_is_checked_before_anything_is_written(out, message):
    step = Step("x", "retrieve", (), lambda inputs: out, "sparse", origin="wb-x 0.1")
    with pytest.raises(WorkbenchError) as err:
        step.produce(StepInputs("c", (), documents=list, topics=list, runs=list), {})
    assert str(err.value).startswith("step plugin 'x' (wb-x 0.1)") and message in str(err.value)


def test_a_plugin_steps_table_is_put_in_trec_eval_order_and_recorded():
    out = _table(["q2", "q1", "q1", "q1"], ["a", "b", "c", "a"], [1, 0.5, 0.5, 2])
    step = Step("x", "retrieve", (Param("hits", "int", 10, "h"),), lambda inputs, **p: out, "sparse",
                origin="wb-x 0.1")
    result = step.produce(StepInputs("c", (), documents=list, topics=list, runs=list), {})
    assert [(r["query_id"], r["doc_id"], r["rank"]) for r in result.run.to_pylist()] == [
        ("q1", "a", 1), ("q1", "c", 2), ("q1", "b", 3), ("q2", "a", 1)]  # ties by doc_id descending
    assert result.kind == "sparse" and result.params == {"hits": 10} and result.software["wb-x"] == "0.1"


# ---- the plugin package, built and installed by pip ----------------------------------------------------------------

PLUGIN = '''
"""A tiny workbench plugin: the measure FirstRelRank, the retriever `overlap` and the reranker `shortest`."""

import pyarrow as pa
from ir_measures.measures import Measure, ParamInfo

from workbench.retrieval.base import doc_texts, order_run
from workbench.retrieval.steps import Param, Step
from workbench.scoring import Scorer


class _FirstRelRank(Measure):
    NAME = __name__ = "FirstRelRank"
    SUPPORTED_PARAMS = {"cutoff": ParamInfo(dtype=int, required=False)}


class FirstRelRank(Scorer):
    """The rank of the first relevant document in trec_eval order (0 when none is ranked, or below the cutoff)."""

    name, version = "firstrel", "1"

    def defined_measures(self):
        return {"FirstRelRank": _FirstRelRank()}

    def supports(self, m):
        return m.NAME == "FirstRelRank"

    def evaluate(self, run, qrels, measures, *, group=None):
        relevant = {(q, d) for q, d, r in zip(*(qrels[c].to_pylist() for c in ("query_id", "doc_id", "relevance")))
                    if r >= 1}
        queries = sorted(set(qrels["query_id"].to_pylist()))
        groups = run[group].to_pylist() if group else [None] * run.num_rows
        rows = sorted(zip(groups, run["query_id"].to_pylist(), run["doc_id"].to_pylist(), run["score"].to_pylist()),
                      key=lambda t: t[2], reverse=True)
        rows.sort(key=lambda t: t[3], reverse=True)  # stable: score descending, ties by doc_id descending
        seen, first = {}, {}
        for g, q, d, _ in rows:
            seen[g, q] = seen.get((g, q), 0) + 1
            if (g, q) not in first and (q, d) in relevant:
                first[g, q] = seen[g, q]
        out = {"query_id": [], "measure": [], "value": [], **({group: []} if group else {})}
        for g in sorted(set(groups), key=str) if group else [None]:
            for m in measures:
                k = m.params.get("cutoff")
                for q in queries:
                    rank = first.get((g, q), 0)
                    out["query_id"].append(q)
                    out["measure"].append(str(m))
                    out["value"].append(float(rank if not k or rank <= k else 0))
                    if group:
                        out[group].append(g)
        return pa.table(out)


def _words(text):
    return text.lower().split()


def _overlap(inputs, hits=1000):
    """Score: how many distinct query words the document's title and text hold; documents with none are left out."""
    docs = dict(zip(inputs.documents["doc_id"].to_pylist(), map(set, map(_words, doc_texts(inputs.documents)
                                                                          .to_pylist()))))
    rows = [(q, d, float(len(set(_words(text)) & words)))
            for q, text in zip(inputs.topics["query_id"].to_pylist(), inputs.topics["text"].to_pylist())
            for d, words in docs.items() if set(_words(text)) & words]
    run = pa.table({k: [r[i] for r in rows] for i, k in enumerate(("query_id", "doc_id", "score"))})
    return order_run(run, hits)


def _shortest(inputs, depth=100):
    """Re-score the first stage's top `depth` per query: the shorter document first (score: minus its words)."""
    (parent,) = inputs.runs
    top = parent.filter(pa.compute.less_equal(parent["rank"], depth))
    length = dict(zip(inputs.documents["doc_id"].to_pylist(),
                      (len(_words(t)) for t in doc_texts(inputs.documents).to_pylist())))
    return pa.table({"query_id": top["query_id"], "doc_id": top["doc_id"],
                     "score": [-float(length[d]) for d in top["doc_id"].to_pylist()]})


OVERLAP = Step("overlap", "retrieve", (Param("hits", "int", 1000, "documents kept per query", minimum=1),),
               _overlap, "sparse", help="query words found in the document")


def shortest():
    return Step("shortest", "rerank", (Param("depth", "int", 100, "documents re-scored per query", minimum=1),),
                _shortest, "rerank", help="shorter documents first", depth_param="depth")


def failing():
    return Step("failing", "retrieve", (), lambda inputs: 1 / 0, "sparse")


def junk():
    return Step("junk", "retrieve", (), lambda inputs: pa.table({"query_id": ["q1"], "doc_id": ["d1"],
                                                                "score": [float("nan")]}), "sparse")
'''

ENTRY_POINTS = {
    "workbench.scorers": {"firstrel": "wb_tiny:FirstRelRank"},
    "workbench.steps": {"overlap": "wb_tiny:OVERLAP", "shortest": "wb_tiny:shortest", "failing": "wb_tiny:failing",
                        "junk": "wb_tiny:junk"},
}


def write_package(folder: Path, dist: str, module: str, source: str, entry_points: dict[str, dict[str, str]]) -> Path:
    (folder / module).mkdir(parents=True)
    (folder / module / "__init__.py").write_text(source)
    groups = "".join(f'\n[project.entry-points."{group}"]\n' + "".join(f'{n} = "{t}"\n' for n, t in eps.items())
                     for group, eps in entry_points.items())
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{dist}"
        version = "0.2"
        """) + groups + f'\n[tool.setuptools]\npackages = ["{module}"]\n')
    return folder


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    """The plugin package, and one whose step cannot load, installed by pip into a folder of their own."""
    work = tmp_path_factory.mktemp("step-plugins")
    good = write_package(work / "good", "wb-tiny", "wb_tiny", PLUGIN, ENTRY_POINTS)
    broken = write_package(work / "broken", "wb-broken", "wb_broken", "import no_such_dependency_here\n",
                           {"workbench.steps": {"splade": "wb_broken:SPLADE"}})
    target = work / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                          "--quiet", "--target", str(target), str(good), str(broken)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return target


def workbench(plugin_path: Path, db: Path, *args, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """The real console script in a fresh process that finds the plugins on PYTHONPATH (entry points are read
    from the dist-info folders on sys.path)."""
    path = os.pathsep.join([str(plugin_path), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([*workbench_exe(), "--db", str(db), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path}, timeout=300, cwd=cwd)


DOCS = [("d1", "apple", "apple pie recipe"), ("d2", "", "banana bread"), ("d3", "fruit", "apple banana smoothie"),
        ("d4", "", "car engine repair"), ("d5", "", "banana")]
TOPICS = "q1\tapple banana\nq2\tbanana bread recipe\nq3\tengine\nq4\tzebra\n"
QRELS = "q1 0 d1 1\nq1 0 d2 1\nq1 0 d3 0\nq2 0 d5 2\nq2 0 d2 0\nq2 0 d1 1\nq3 0 d4 1\nq4 0 d1 1\n"
MANIFEST = """version: 1
collections:
  tiny:
    qrels: qrels.txt
    topics: topics.tsv
    docs: corpus.jsonl
pipelines:
  - {name: overlap, collection: tiny, retrieve: overlap, params: {hits: 3}}
  - {name: short, collection: tiny, shortest: overlap, params: {depth: 2}}
  - {name: both, collection: tiny, fuse: [overlap, short]}
"""

# By hand. Words per document (title + text): d1 {apple, pie, recipe} (4 words), d2 {banana, bread} (2),
# d3 {fruit, apple, banana, smoothie} (4), d4 {car, engine, repair} (3), d5 {banana} (1).
# overlap (query words found; ties by doc_id descending; 3 kept):
#   q1 "apple banana": d3 2, d1 1, d2 1, d5 1 -> d3 d5 d2;  q2 "banana bread recipe": d2 2, d1 d3 d5 1 -> d2 d5 d3
#   q3 "engine": d4;  q4 "zebra": nothing.
# short (top 2 of overlap, minus the words): q1 d3 -4, d5 -1 -> d5 d3;  q2 d2 -2, d5 -1 -> d5 d2;  q3 d4.
# both (RRF k=60): q1 d5 = d3 = 1/61 + 1/62 (tied: doc_id descending) then d2 1/63; q2 d5 = d2, then d3; q3 d4.
RUNS = {"overlap": {"q1": ["d3", "d5", "d2"], "q2": ["d2", "d5", "d3"], "q3": ["d4"]},
        "short": {"q1": ["d5", "d3"], "q2": ["d5", "d2"], "q3": ["d4"]},
        "both": {"q1": ["d5", "d3", "d2"], "q2": ["d5", "d2", "d3"], "q3": ["d4"]}}
# FirstRelRank (first document with relevance >= 1): overlap q1 d2 at 3, q2 d5 at 2, q3 d4 at 1, q4 none (judged,
# not retrieved: 0); short q1 none of d5 (unjudged) d3 (0) -> 0, q2 d5 at 1, q3 1, q4 0.
FIRST_REL = {"overlap": {"q1": 3.0, "q2": 2.0, "q3": 1.0, "q4": 0.0},
             "short": {"q1": 0.0, "q2": 1.0, "q3": 1.0, "q4": 0.0},
             "both": {"q1": 3.0, "q2": 1.0, "q3": 1.0, "q4": 0.0}}


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n"
                                                   for d, t, x in DOCS))
    (tmp_path / "topics.tsv").write_text(TOPICS)
    (tmp_path / "qrels.txt").write_text(QRELS)
    (tmp_path / "m.yaml").write_text(MANIFEST)
    return tmp_path


def trec_rows(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            q, _, d, rank, _, _ = line.split()
            out.setdefault(q, []).append(d)
            assert int(rank) == len(out[q])
    return out


@pytest.mark.slow
def test_a_plugin_measure_and_plugin_steps_end_to_end(plugin_path, folder):
    db = folder / "store.duckdb"
    res = workbench(plugin_path, db, "build", "--manifest", folder / "m.yaml", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["pipelines"] == {"tiny/overlap": "added", "tiny/short": "added",
                                                   "tiny/both": "added"}
    for name, rows in RUNS.items():
        assert trec_rows(folder / "runs" / "tiny" / f"{name}.trec") == rows, name
    listed = json.loads(workbench(plugin_path, db, "runs", "list", "-c", "tiny", "--json").stdout)
    info = {r["name"]: r for r in (listed["runs"] if isinstance(listed, dict) else listed)}
    assert (info["overlap"]["kind"], info["short"]["kind"], info["both"]["kind"]) == ("sparse", "rerank", "hybrid")
    assert (info["short"]["parent"], info["short"]["depth"]) == ("overlap", 2)

    res = workbench(plugin_path, db, "evaluate", "-c", "tiny", "-m", "FirstRelRank", "FirstRelRank@2", "P@3",
                    "--per-query", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    got = {(s["run"], s["query_id"], s["measure"]): s["value"] for s in out["scores"]}
    for run, values in FIRST_REL.items():
        assert {q: got[(run, q, "FirstRelRank")] for q in values} == values, run
        assert {q: got[(run, q, "FirstRelRank@2")] for q in values} == {q: v if v <= 2 else 0.0
                                                                        for q, v in values.items()}, run
    assert got[("overlap", "q1", "P@3")] == pytest.approx(1 / 3)  # a built-in measure beside it: d2 of d3 d5 d2
    assert out["evaluators"]["FirstRelRank"] == "firstrel 1 [wb-tiny 0.2]"
    means = json.loads(workbench(plugin_path, db, "evaluate", "-c", "tiny", "-m", "FirstRelRank", "--json").stdout)
    assert means["computed"] == 0  # stored by the first evaluate, keyed by the plugin's version
    assert {s["run"]: s["value"] for s in means["scores"]} == pytest.approx(
        {run: sum(values.values()) / 4 for run, values in FIRST_REL.items()})  # every judged query, q4 too

    again = workbench(plugin_path, db, "build", "--manifest", folder / "m.yaml", "--json", "--no-score")
    assert again.returncode == 0, again.stderr
    assert set(json.loads(again.stdout)["pipelines"].values()) == {"unchanged"}

    # the same steps from the command line: a plugin's parameters are its options
    res = workbench(plugin_path, db, "step", "overlap", "-c", "tiny", "--hits", "1")
    assert res.returncode == 2 and "error: run 'overlap' already exists in collection 'tiny'" in res.stderr
    assert trec_rows(folder / "runs" / "tiny" / "overlap.trec") == RUNS["overlap"]  # the default name was taken
    res = workbench(plugin_path, db, "step", "overlap", "-c", "tiny", "--hits", "1", "--name", "top1", "--json")
    assert res.returncode == 0, res.stderr
    assert trec_rows(folder / "runs" / "tiny" / "top1.trec") == {"q1": ["d3"], "q2": ["d2"], "q3": ["d4"]}
    res = workbench(plugin_path, db, "step", "shortest", "-c", "tiny", "--run", "top1", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["run"] == "top1__shortest"  # the default name of a plugin's rerank-kind step
    assert trec_rows(folder / "runs" / "tiny" / "top1__shortest.trec") == {"q1": ["d3"], "q2": ["d2"], "q3": ["d4"]}
    listing = workbench(plugin_path, db, "step")
    assert listing.returncode == 0
    assert any(line.split()[:4] == ["shortest", "rerank", "rerank", "wb-tiny"] for line in listing.stdout.splitlines())
    assert "step plugin 'splade' (wb-broken 0.2) failed to load: ModuleNotFoundError" in listing.stderr


BROKEN_MANIFESTS = {
    "  - {name: s, collection: tiny, retrieve: splade}\n":
        "m.yaml:8: unknown retriever 'splade'; expected one of bm25, dense, failing, junk, overlap; step plugin "
        "'splade' (wb-broken 0.2) failed to load: ModuleNotFoundError: No module named 'no_such_dependency_here'",
    "  - {name: s, collection: tiny, shorter: x}\n":
        "m.yaml:8: unknown key 'shorter'; expected one of collection, fuse, kind, name, params, rerank, retrieve, "
        "shortest; step plugin 'splade'",
    "  - {name: s, collection: tiny, retrieve: overlap, params: {hit: 3}}\n":
        "m.yaml:8: pipeline 's': unknown parameter 'hit' of overlap (did you mean 'hits'?); expected one of hits",
    "  - {name: s, collection: tiny, retrieve: failing}\n":
        "step plugin 'failing' (wb-tiny 0.2) failed: ZeroDivisionError: division by zero",
    "  - {name: s, collection: tiny, retrieve: junk}\n":
        "step plugin 'junk' (wb-tiny 0.2) returned 1 row(s) with a missing id or a score that is not a finite number",
    "  - {name: s, collection: tiny, shortest: [a, b]}\n": "m.yaml:8: shortest names one run (the first stage)",
}


@pytest.mark.slow
def test_a_broken_step_is_one_line_naming_it_and_changes_nothing(plugin_path, folder):
    db = folder / "store.duckdb"
    res = workbench(plugin_path, db, "build", "--manifest", folder / "m.yaml", "--no-score")
    assert res.returncode == 0, res.stderr
    before = snapshot(db)
    head = MANIFEST.split("pipelines:")[0] + "pipelines:\n"
    for pipeline, message in BROKEN_MANIFESTS.items():
        (folder / "bad.yaml").write_text(head + pipeline)
        res = workbench(plugin_path, db, "build", "--manifest", folder / "bad.yaml", "--no-score")
        assert res.returncode == 2, (pipeline, res.stderr)
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
        assert message.replace("m.yaml", str(folder / "bad.yaml")) in res.stderr, res.stderr
        assert snapshot(db) == before, pipeline
    res = workbench(plugin_path, db, "step", "overlap", "-c", "tiny", "--hits", "0")
    assert res.returncode == 2 and "argument --hits: expected an integer >= 1, got '0'" in res.stderr
    res = workbench(plugin_path, db, "step", "nope", "-c", "tiny")
    assert res.returncode == 2 and res.stderr.startswith("error: unknown step 'nope'; expected one of bm25, dense, "
                                                         "fuse, rerank, failing, junk, overlap, shortest; step "
                                                         "plugin 'splade' (wb-broken 0.2) failed to load")
    assert snapshot(db) == before
