"""Step parameters declared once (workbench.retrieval.steps), checked in the whole manifest before any step runs,
and the CLI options built from the same schema (issue 16 item 6)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import ROOT, snapshot

from workbench.cli.main import build_parser
from workbench.errors import ManifestError, WorkbenchError
from workbench.retrieval.steps import STEPS, ParamError
from workbench.services.manifest import load_manifest

MINI = Path(__file__).resolve().parent / "data" / "trec-mini"
HEAD = """version: 1
collections:
  mini:
    qrels: trec-mini/qrels.301-303.txt
    topics: trec-mini/topics.301-303.txt
    docs: trec-mini/docs
runs:
  - {file: first.trec, collection: mini, kind: sparse}
pipelines:
"""


@pytest.fixture
def folder(tmp_path) -> Path:
    shutil.copytree(MINI, tmp_path / "trec-mini")
    (tmp_path / "first.trec").write_text("301 Q0 FT911-3 1 2.0 x\n301 Q0 LA010189-0001 2 1.0 x\n")
    return tmp_path


def manifest(folder: Path, pipelines: str) -> Path:
    path = folder / "m.yaml"
    path.write_text(HEAD + pipelines)
    return path


@pytest.mark.parametrize(("pipelines", "line", "message"), [
    ("  - {name: b, collection: mini, retrieve: bm25, params: {k1: 0.9, bb: 0.4}}\n", 10,
     "pipeline 'b': unknown parameter 'bb' of bm25 (did you mean 'b'?); expected one of k1, b, hits, fields"),
    ("  - name: d\n    collection: mini\n    retrieve: dense\n    params:\n      encoder: minilm\n", 14,
     "unknown parameter 'encoder' of dense (the CLI's --encoder; in the manifest it is 'model')"),
    ("  - name: d\n    collection: mini\n    retrieve: dense\n    params:\n      batch-size: 8\n", 14,
     "unknown parameter 'batch-size' of dense (the CLI's --batch-size; in the manifest it is 'batch_size')"),
    ("  - name: b\n    collection: mini\n    retrieve: bm25\n    params:\n      b: 1.5\n", 14,
     "b must be a number in [0, 1], got 1.5"),
    ("  - name: b\n    collection: mini\n    retrieve: bm25\n    params:\n      k1: '0.9'\n", 14,
     "k1 must be a number in [0, 1000], got '0.9'"),
    ("  - name: b\n    collection: mini\n    retrieve: bm25\n    params:\n      hits: 100.5\n", 14,
     "hits must be an integer from 1 to 2147483647, got 100.5"),
    ("  - name: b\n    collection: mini\n    retrieve: bm25\n    params:\n      hits: true\n", 14,
     "hits must be an integer from 1 to 2147483647, got True"),
    ("  - name: b\n    collection: mini\n    retrieve: bm25\n    params:\n      hits: 99999999999999999999\n", 14,
     "hits must be an integer from 1 to 2147483647, got 99999999999999999999"),
    ("  - name: f\n    collection: mini\n    fuse: [first, first2]\n    params:\n      method: borda\n", 14,
     "method must be one of rrf, combsum, combmnz, interpolation, got 'borda'"),
    ("  - name: f\n    collection: mini\n    fuse: [first, x, y]\n    params:\n      weights: [1, 2]\n", 14,
     "weights must give one number per input run (3), got 2"),
    ("  - name: f\n    collection: mini\n    fuse: [first, x, y]\n    params:\n      method: interpolation\n", 14,
     "interpolation fuses exactly two runs, got 3"),
    ("  - name: r\n    collection: mini\n    rerank: first\n    params:\n      depth: 0\n", 14,
     "depth must be an integer from 1 to 2147483647, got 0"),
    ("  - name: r\n    collection: mini\n    rerank: first\n    params:\n      top_k: 20\n", 14,
     "unknown parameter 'top_k' of rerank"),
])
def test_bad_step_params_are_refused_at_their_line(folder, pipelines, line, message):
    path = manifest(folder, pipelines)
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    assert str(err.value).startswith(f"{path}:{line}: ") and message in str(err.value), str(err.value)


def test_good_params_are_kept_as_written(folder):
    path = manifest(folder, "  - {name: b, collection: mini, retrieve: bm25, params: {k1: 1, b: 0.75}}\n"
                            "  - {name: f, collection: mini, fuse: [first, b],\n"
                            "     params: {norm: none, weights: [1, 2]}}\n")
    pipes = {p.name: p for p in load_manifest(path).pipelines}
    # as written (the recipe hash of an existing manifest must not change): k1 stays the integer 1
    assert pipes["b"].params == {"k1": 1, "b": 0.75}
    assert pipes["f"].params == {"norm": None, "weights": [1, 2]}


def test_whole_manifest_checked_before_any_step(folder, cli, db):
    """A bad parameter in the last pipeline stops the build before the collection and run files are stored."""
    path = manifest(folder, "  - {name: b, collection: mini, retrieve: bm25}\n"
                            "  - {name: f, collection: mini, fuse: [first, b], params: {k: -1}}\n")
    res = cli("build", "--manifest", path)
    assert res.code == 2 and f"{path}:11: pipeline 'f': k must be an integer from 0 to 2147483647, got -1" in res.err
    assert len(res.err.strip().splitlines()) == 1
    assert not db.exists() or snapshot(db).get("collections", []) == []


def test_unknown_collection_in_build_is_an_error(folder, cli, db):
    path = manifest(folder, "")
    res = cli("build", "--manifest", path, "-c", "nope", "-c", "mini")
    assert res.code == 2, res.err
    assert res.err.strip() == f"error: {path}: no collection 'nope' in the manifest (it has mini)"
    assert not db.exists() or snapshot(db).get("collections", []) == []


def test_a_collection_without_runs_builds_and_is_not_scored(folder, cli, db):
    """A manifest that declares a collection before any run of it builds (exit 0, the collection stored) and says
    there is nothing to score; it used to fail with "has no runs yet" after storing the collection."""
    path = folder / "m.yaml"
    path.write_text(HEAD.split("runs:")[0])
    for _ in range(2):
        res = cli("build", "--manifest", path)
        assert res.code == 0, res.err
        assert "note: collection mini has no runs yet; nothing to score" in res.err
    assert [r[0] for r in snapshot(db)["collections"]] == ["mini"]


def test_a_missing_run_file_is_named_once(folder, cli, db):
    (folder / "first.trec").unlink()
    res = cli("build", "--manifest", manifest(folder, ""))
    assert res.code == 2 and res.err == f"error: {folder / 'm.yaml'}:8: file 'first.trec' does not exist\n"
    assert not db.exists() or snapshot(db).get("collections", []) == []


def test_manifest_collection_keys(folder):
    path = folder / "m.yaml"
    path.write_text("collections:\n  c:\n    qrels: trec-mini/qrels.301-303.txt\n    grade_map: '1:2,0:0,2:3'\n"
                    "    topic_field: title+description\n    docs: [trec-mini/docs/la, trec-mini/docs/ft]\n")
    spec = load_manifest(path).collections["c"]
    assert spec.grade_map == {1: 2, 0: 0, 2: 3} and spec.topic_field == "title+description"
    assert spec.docs == ((folder / "trec-mini/docs/la").resolve(), (folder / "trec-mini/docs/ft").resolve())
    for value, line, message in (("    grade_map: '1=2'\n", 4, "grade map: expected grade:new-grade pairs"),
                                 ("    topic_field: desc\n", 4, "topic_field must be one of title, description"),
                                 ("    docs: [trec-mini/nope]\n", 4, "docs file 'trec-mini/nope' does not exist")):
        path.write_text("collections:\n  c:\n    qrels: trec-mini/qrels.301-303.txt\n" + value)
        with pytest.raises(ManifestError) as err:
            load_manifest(path)
        assert str(err.value).startswith(f"{path}:{line}: ") and message in str(err.value)


def test_cli_options_come_from_the_same_schema():
    """Every CLI-exposed parameter is an option of its command with the schema's default, and checked by it."""
    parser = build_parser()
    commands = {"bm25": ["retrieve", "bm25", "-c", "x"], "dense": ["retrieve", "dense", "-c", "x"],
                "fuse": ["fuse", "-c", "x", "a", "b"], "rerank": ["rerank", "-c", "x", "--run", "a"]}
    for name, argv in commands.items():
        args = parser.parse_args(argv)
        for p in STEPS[name].params:
            if p.on_cli:
                assert getattr(args, p.name) == (None if p.kind == "floats" else p.default), (name, p.name)
    assert parser.parse_args(["retrieve", "dense", "-c", "x", "--encoder", "/m"]).model == "/m"
    with pytest.raises(SystemExit):
        parser.parse_args(["retrieve", "bm25", "-c", "x", "--b", "2"])
    # the CLI's recipes keep the parameters they always had (their recipe hashes do not change)
    from workbench.cli.produce_cmds import _recipe

    assert _recipe(parser.parse_args(commands["bm25"])).params == {"k1": 0.9, "b": 0.4, "hits": 1000}
    assert _recipe(parser.parse_args(commands["fuse"] + ["--norm", "none"])).params == {
        "method": "rrf", "k": 60, "norm": None, "depth": 1000}


def test_produce_refuses_what_the_manifest_refuses(tmp_path):
    from workbench.services.produce import Recipe, produce
    from workbench.store import Store

    with pytest.raises(ParamError, match="unknown parameter 'bb' of bm25"):
        produce(Store(tmp_path / "s.duckdb"), Recipe("c", "b", "retrieve", "bm25", (), {"bb": 1}), runs_dir=tmp_path)
    with pytest.raises(WorkbenchError, match="unknown retriever 'splade'"):
        produce(Store(tmp_path / "s.duckdb"), Recipe("c", "b", "retrieve", "splade", (), {}), runs_dir=tmp_path)


def test_bundled_manifest_is_valid():
    assert len(load_manifest(ROOT / "data_manifest.yaml").pipelines) == 4
