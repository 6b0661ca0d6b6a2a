"""The Python API for notebooks (workbench.api): the README's example runs as written, numbers equal the CLI's."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from conftest import DL20_RUNS, ROOT

import workbench as wb


def readme_example() -> str:
    """The python block of the README's "From Python" section: this test runs what a reader would paste."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### From Python (notebooks)", 1)[1].split("\n### ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return block


def trec_eval_ndcg10() -> dict[str, float]:
    rows = [line.split("\t") for line in (DL20_RUNS / "RUNS.tsv").read_text().splitlines()[1:]]
    return {r[0].removesuffix(".trec"): float(r[7]) for r in rows}


@pytest.fixture
def in_store_dir(dl20_store, tmp_path, monkeypatch):
    """A folder holding a copy of the DL 2020 store as ./workbench.duckdb, the README's path."""
    shutil.copy(dl20_store, tmp_path / "workbench.duckdb")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WORKBENCH_DB", raising=False)
    return tmp_path


def test_readme_example_runs(in_store_dir, capsys):
    ns: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), ns)
    out = capsys.readouterr().out
    ref = trec_eval_ndcg10()
    scores = ns["scores"]
    assert list(scores.index) == ["tasb", "bm25__rankvicuna-7b@100", "bm25"]  # best first (0.6854), as the CLI
    assert {r: round(v, 4) for r, v in scores["nDCG@10"].items()} == {r: ref[r] for r in scores.index}
    assert list(ns["per_query"].columns) == ["run", "query_id", "measure", "value"]
    assert len(ns["per_query"]) == 24 * 54
    cmp = ns["comparison"].to_frame()
    assert cmp.loc[0, "baseline"] == "bm25" and cmp.loc[0, "run"] == "tasb" and bool(cmp.loc[0, "significant"])
    assert cmp.loc[0, "p_value"] == 1 / 10_001  # randomisation: no permutation as extreme as observed
    assert "Paired randomisation test (10,000 permutations), Holm correction over 1 comparison" in out
    assert ns["best"].depth == 100 and "best k = 100 for nDCG@10: 0.6648, +0.1852 over bm25" in out
    assert r"\label{tab:leaderboard-dl20}" in out and r"\begin{tabular}{lr}" in out
    assert round(ns["board"].values.at["tasb", "nDCG@10"], 4) == ref["tasb"]


def test_api_equals_the_cli(in_store_dir, cli):
    store = wb.open()  # $WORKBENCH_DB unset: ./workbench.duckdb, as the CLI
    assert store.path.name == "workbench.duckdb"
    frame = store.evaluate("dl20")
    data = cli("evaluate", "-c", "dl20", "--json", store=in_store_dir / "workbench.duckdb").json()
    cli_means = {(r["run"], r["measure"]): r["value"] for r in data["scores"]}
    assert len(cli_means) == frame.size == 24 * 6
    assert all(frame.at[run, m] == v for (run, m), v in cli_means.items())
    cmp = store.compare("dl20", ["bm25", "bm25-rm3", "tasb"], ["nDCG@10"])
    cli_cmp = cli("compare", "-c", "dl20", "bm25", "bm25-rm3", "tasb", "-m", "nDCG@10", "--json",
                  store=in_store_dir / "workbench.duckdb").json()
    assert cmp.to_dict() == cli_cmp
    study = store.depth("dl20", "bm25__rankvicuna-7b@100", "nDCG@10", depths=[0, 20, 100])
    cli_study = cli("depth", "-c", "dl20", "bm25__rankvicuna-7b@100", "-m", "nDCG@10", "--depths", "0,20,100",
                    "--json", store=in_store_dir / "workbench.duckdb").json()
    assert study.to_dict()["points"] == cli_study["points"]
    board = store.leaderboard("dl20", ["nDCG@10"], baselines="bm25", test="randomisation")
    cli_board = cli("leaderboard", "-c", "dl20", "-m", "nDCG@10", "-b", "bm25", "--test", "randomisation", "-f",
                    "json", store=in_store_dir / "workbench.duckdb").json()
    assert board.to_dict() | {"versions": None} == cli_board | {"versions": None}
    assert set(store.collections()["name"]) == {"dl20"}
    runs = store.runs("dl20").set_index("name")
    assert len(runs) == 24 and runs.at["bm25__rankvicuna-7b@100", "parent"] == "bm25"
    assert runs.at["bm25__rankvicuna-7b@100", "depth"] == 100


def test_api_errors_are_workbench_errors(in_store_dir, tmp_path):
    missing = tmp_path / "nowhere" / "x.duckdb"
    with pytest.raises(wb.WorkbenchError, match="no store here"):
        wb.open(missing)
    assert not missing.exists() and not missing.parent.exists()  # nothing created
    store = wb.open("workbench.duckdb")
    for call in (lambda: store.evaluate("nope"), lambda: store.evaluate("dl20", ["nDCG@ten"]),
                 lambda: store.compare("dl20", ["bm25"]), lambda: store.compare("dl20", ["bm25", "no-such-run"]),
                 lambda: store.depth("dl20", "bm25"), lambda: store.leaderboard("dl20", baselines=["nope"]),
                 lambda: store.evaluate("dl20", runs=[1, 2])):
        with pytest.raises(wb.WorkbenchError):
            call()


def test_import_workbench_stays_cheap():
    """`import workbench` loads no pandas, numpy, DuckDB or Streamlit: the API loads them on first use."""
    code = ("import sys, workbench; heavy = {'pandas', 'numpy', 'duckdb', 'streamlit', 'pyarrow'} & set(sys.modules);"
            "assert not heavy, heavy; assert callable(workbench.open); print('ok')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
