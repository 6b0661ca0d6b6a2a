"""The Benchmark page through streamlit's AppTest, on a copy of the DL 2020 store with a second collection: its table
is the one `workbench leaderboard --benchmark` writes, it writes nothing until asked to score, and names are text."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import DL20, DL20_RUNS, ROOT, snapshot
from streamlit.testing.v1 import AppTest

from workbench.app.pages import page_named

pytestmark = pytest.mark.slow

APP = ROOT / "app.py"
SECOND = ["bm25", "tasb", "splade-pp-ed"]


@pytest.fixture
def two(dl20_store, tmp_path, cli) -> Path:
    """dl20 (24 runs, scored) and dl20b (DL 2020 without its first judged query: other qrels, so nothing of it is
    scored yet; 3 of the runs), benchmark `two`."""
    path = tmp_path / "two.duckdb"
    shutil.copy(dl20_store, path)
    lines = (DL20 / "qrels.dl20-passage.txt").read_text().splitlines()
    first = lines[0].split()[0]
    qrels = tmp_path / "dl20b.qrels"
    qrels.write_text("".join(line + "\n" for line in lines if line.split()[0] != first))
    assert cli("collection", "add", "dl20b", "--qrels", qrels, store=path).code == 0
    assert cli("ingest", "-c", "dl20b", *(DL20_RUNS / f"{r}.trec" for r in SECOND), store=path).code == 0
    assert cli("benchmark", "add", "two", "dl20", "dl20b", store=path).code == 0
    return path


def open_benchmark(store: Path, monkeypatch, **params) -> AppTest:
    monkeypatch.setenv("WORKBENCH_DB", str(store))
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page(str(page_named("runs").script)).run()
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page(str(page_named("benchmark").script)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_benchmark_page_shows_the_cli_table_and_scores_only_when_asked(two, cli, monkeypatch):
    before = snapshot(two)
    at = open_benchmark(two, monkeypatch, benchmark="two", measure="nDCG@10")
    assert [t.value for t in at.title] == ["Benchmark"]
    assert snapshot(two) == before  # opening the page wrote nothing
    # dl20b's runs have no stored nDCG@10 yet: listed, and every system is incomplete (missing there)
    assert any("dl20b: bm25, splade-pp-ed, tasb" in str(w.value).replace("\\", "") for w in at.warning)
    table = at.dataframe[0].value
    assert set(table["dl20b"]) == {"missing"} and table["rank"].eq("").all()

    at.button(key="score_missing").click().run()
    assert not at.exception
    assert snapshot(two) != before  # the one write: dl20b's scores
    table = at.dataframe[0].value.set_index("system")
    expected = cli("leaderboard", "--benchmark", "two", "-m", "nDCG@10", "-f", "json", store=two).json()
    header = ["rank", "system", "dl20", "dl20b", "mean", "mean rank", "Borda", "rank 95% CI"]
    assert list(at.dataframe[0].value.columns) == header
    assert list(table.index) == [r["system"] for r in expected["rows"]]
    for row in expected["rows"]:
        got = table.loc[row["system"]]
        assert got["rank"] == ("" if row["rank"] is None else str(row["rank"]))
        for c in ("dl20", "dl20b"):
            cell = row["collections"][c]
            assert got[c] == ("missing" if cell.get("missing") else f"{cell['value']:.4f} ({cell['rank']:g})")
        if row["rank"] is not None:
            assert got["rank 95% CI"] == f"[{row['rank_ci'][0]}, {row['rank_ci'][1]}]"
    assert table.loc["splade-pp-ed", "dl20b"].endswith(" (1)") and table.loc["splade-pp-ed", "rank"] == "1"
    assert not [w for w in at.warning if "without a stored" in str(w.value)]
    captions = " ".join(str(c.value) for c in at.caption)
    assert "Borda" in captions and "bootstrap" in captions


def test_a_store_without_benchmarks_says_how_to_define_one(dl20_store, monkeypatch):
    at = open_benchmark(dl20_store, monkeypatch)
    assert any("No benchmarks in this store yet" in str(i.value) for i in at.info)


def test_the_systems_picked_are_the_ones_ranked(two, cli, monkeypatch):
    assert cli("leaderboard", "--benchmark", "two", "-m", "nDCG@10", store=two).code == 0  # scores dl20b
    at = open_benchmark(two, monkeypatch, benchmark="two", measure="nDCG@10", systems=["bm25", "tasb"],
                        rank_by="borda")
    expected = cli("leaderboard", "--benchmark", "two", "-m", "nDCG@10", "-r", "bm25", "tasb", "--rank-by", "borda",
                   "-f", "json", store=two).json()
    table = at.dataframe[0].value.set_index("system")
    assert list(table.index) == ["tasb", "bm25"] == [r["system"] for r in expected["rows"]]
    assert table.loc["bm25", "Borda"] == "0" and table.loc["tasb", "Borda"] == "2"  # tasb beats bm25 in both
