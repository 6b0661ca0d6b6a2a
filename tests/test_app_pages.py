"""Every dashboard page through streamlit's AppTest, on a real DL 2020 store (the session fixture `dl20_store`).

Expected values are computed independently of the page code: from the bundled files, from the stored per-query
values counted here with numpy, or with ir_measures. What a page hands to Streamlit's Markdown renderer is read back
as text with markdown-it-py (`shown`, `markup`), since the pages escape user text.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DL20, DL20_RUNS, ROOT, snapshot
from markdown_it import MarkdownIt
from markup_store import MarkupStore, build_markup_store
from streamlit.testing.v1 import AppTest

from workbench.app.pages import PAGES, page_named

pytestmark = pytest.mark.slow

APP = ROOT / "app.py"
A, B = "bm25__rankgpt-3.5@100", "bm25"


@pytest.fixture
def open_page(dl20_store, monkeypatch):
    """open_page(page, store=..., **query_params) -> an AppTest that has rendered that page."""

    def run(page: str, store: Path | None = None, **params) -> AppTest:
        monkeypatch.setenv("WORKBENCH_DB", str(store or dl20_store))
        at = AppTest.from_file(APP, default_timeout=180)
        at.run()
        # Bound widgets read the URL when they are created: pass through another page so the target's widgets
        # are created afresh from these query parameters (as when a shared link is opened).
        at.switch_page(str(page_named("leaderboard" if page == "runs" else "runs").script)).run()
        for key, value in params.items():
            at.query_params[key] = value
        at.switch_page(str(page_named(page).script)).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return run


@pytest.fixture
def store_copy(dl20_store, tmp_path) -> Path:
    """A private copy of the DL 2020 store for tests that write."""
    path = tmp_path / "copy.duckdb"
    shutil.copy(dl20_store, path)
    return path


def read_trec(path: Path) -> pd.DataFrame:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    frame = pd.DataFrame({"query_id": [r[0] for r in rows], "doc_id": [r[2] for r in rows],
                          "score": [float(r[4]) for r in rows]})
    frame = frame.sort_values(["query_id", "score", "doc_id"], ascending=[True, False, False])
    frame["rank"] = frame.groupby("query_id").cumcount() + 1
    return frame


def qrels_grades() -> dict[str, dict[str, int]]:
    grades: dict[str, dict[str, int]] = defaultdict(dict)
    for line in (DL20 / "qrels.dl20-passage.txt").read_text().splitlines():
        q, _, d, g = line.split()
        grades[q][d] = int(g)
    return grades


def stored_values(store: Path, measure: str, runs: list[str]) -> pd.DataFrame:
    """query_id x run matrix of the stored per-query values (what `workbench evaluate` wrote)."""
    from workbench.scoring import SEMANTICS
    from workbench.store import Store, per_query_scores

    frame = per_query_scores(Store(store), "dl20", [measure], SEMANTICS, runs)
    return frame.pivot_table(index="query_id", columns="run", values="value", aggfunc="first")


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


# ------------------------------------------------------------------------------------------------ Markdown as text
_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).disable("text_join")
_GFM_LINK = re.compile(r"(?:https?://|www(?=\.))[-.\w]+|[-.\w+]+@[-\w]+(?:\.[-\w]+)+", re.IGNORECASE)
"""Bare text GFM makes a link of after escapes are resolved (mdast-util-gfm-autolink-literal's URL and email)."""
_STREAMLIT = re.compile(r"\$[^$]*\$|:[\w+-]+(?:/[\w-]+)?:|:[\w-]+\[")
"""Streamlit's own syntax in unescaped text: $maths$, :emoji: and :material/icon: codes, :colour[text]."""
_BLOCKS = {"html_block", "code_block", "fence", "hr", "heading_open", "bullet_list_open", "ordered_list_open",
           "blockquote_open", "table_open"}


def shown(md: object) -> str:
    """The text Streamlit's Markdown shows for `md` (as markdown-it-py reads it), whitespace runs as one space and
    word joiners (invisible) dropped."""
    parts = []
    for block in _MD.parse(str(md)):
        for tok in block.children or []:
            parts.append(" " if tok.type in ("softbreak", "hardbreak") else
                         tok.content if tok.type in ("text", "text_special", "code_inline") else "")
        parts.append(" ")
    return " ".join("".join(parts).replace("\u2060", "").split())


def markup(md: object) -> list[str]:
    """What in `md` would render as more than text: links, images, HTML, block structure, maths, icons, colours,
    bare links. The pages' own bold and code spans are allowed (user text inside them is escaped)."""
    found = []
    for block in _MD.parse(str(md)):
        if block.type in _BLOCKS:
            found.append(block.type)
        kids = block.children or []
        found += [t.type for t in kids if t.type in ("image", "link_open", "html_inline")]
        found += _STREAMLIT.findall("".join(t.content for t in kids if t.type == "text"))
        found += _GFM_LINK.findall("".join(t.content for t in kids if t.type in ("text", "text_special")))
    return found


def markdown_strings(at: AppTest) -> list[str]:
    """Every string the page handed to Streamlit's Markdown renderer: markdown, captions, headings, alerts, toasts,
    progress texts, and every label and help text (widgets, metrics, expanders, page links, table columns)."""
    from google.protobuf.message import Message

    def strings(msg: Message):
        for field, value in msg.ListFields():
            repeated = hasattr(value, "__len__") and not isinstance(value, str | bytes | Message)
            values = value if repeated else [value]
            for v in values:
                if isinstance(v, Message):
                    yield from strings(v)
                elif field.name in ("body", "label", "help", "text", "delta") and isinstance(v, str):
                    yield v
                elif field.name == "columns" and isinstance(v, str) and v:  # a dataframe's column config
                    yield from (c["help"] for c in json.loads(v).values() if isinstance(c, dict) and c.get("help"))

    out: list[str] = []

    def visit(node) -> None:
        if getattr(node, "proto", None) is not None and type(node).__name__ not in ("Code", "Json", "Text"):
            out.extend(strings(node.proto))
        for child in getattr(node, "children", {}).values():
            visit(child)

    visit(at._tree)
    return out


# ------------------------------------------------------------------------------------------------ leaderboard
def test_leaderboard_shows_bm25_ndcg_marks_cis_and_every_export(open_page):
    at = open_page("leaderboard", measures=["nDCG@10", "AP(rel=2)"], baselines="bm25", delta="true", ci="true")
    board = at.dataframe[0].value.set_index("run")
    assert board.at["bm25", "nDCG@10"].strip().startswith("0.4796")
    assert list(board.index[:1]) == ["bm25"]  # the baseline leads
    assert "nDCG@10 CI" in board.columns and "AP(rel=2) CI" in board.columns
    # the best run on nDCG@10 is starred, and rankgpt beats bm25 by a delta shown to 4 decimals
    stored = stored_values(at_store(at), "nDCG@10", [A, B]).mean()
    assert board.at[A, "nDCG@10"].startswith(f"{stored[A]:.4f}")
    assert f"({stored[A] - stored[B]:+.4f})" in board.at[A, "nDCG@10"]
    assert "†" in board.at[A, "nDCG@10"]  # +0.16 nDCG@10 over 54 queries is significant under Holm
    assert any("★" in v for v in board["nDCG@10"])
    assert any("significantly different from bm25" in shown(c) for c in texts(at.caption))
    assert sorted(b.label for b in at.download_button) == sorted(
        ["markdown", "csv", "latex", "html", "json"])
    assert len(at.get("vega_lite_chart")) == 1


def at_store(at: AppTest) -> Path:
    return Path(at.session_state["db"])


def test_leaderboard_without_baseline_has_no_marks(open_page):
    at = open_page("leaderboard", measures="nDCG@10", baselines="")
    board = at.dataframe[0].value.set_index("run")
    assert list(board.columns) == ["kind", "nDCG@10"]
    assert not any("†" in v for v in board["nDCG@10"])
    assert board.at["bm25", "nDCG@10"].strip() == "0.4796"


# ------------------------------------------------------------------------------------------------ per-query
def test_per_query_win_tie_loss_counts(open_page, dl20_store):
    at = open_page("per_query", a=A, b=B, measure="nDCG@10")
    values = stored_values(dl20_store, "nDCG@10", [A, B])
    delta = (values[A] - values[B]).to_numpy()
    expected = {"A wins": int((delta > 0).sum()), "ties": int((delta == 0).sum()), "A losses": int((delta < 0).sum())}
    metrics = {shown(m.label): m.value for m in at.metric}
    assert {k: int(metrics[k]) for k in expected} == expected
    assert sum(expected.values()) == 54
    assert metrics["mean B (nDCG@10)"] == "0.4796"
    changes = at.dataframe[0].value
    top = changes.iloc[0]
    assert top["query_id"] == values.index[int(np.argmax(delta))]
    assert top["open"].startswith("drilldown?") and f"q={top['query_id']}" in top["open"]
    assert len(at.get("vega_lite_chart")) == 3  # delta bars, scatter, win matrix


def test_per_query_defaults_to_two_different_runs(open_page, tmp_path):
    """No bm25 and no reranked runs: B is the first first-stage run (by name) and A another one, not B again."""
    from workbench.services.collection import add_collection
    from workbench.services.evaluate import evaluate_runs
    from workbench.services.ingest import ingest_run
    from workbench.store import Store

    store = Store(tmp_path / "two.duckdb")
    add_collection(store, "dl20", qrels=DL20 / "qrels.dl20-passage.txt")
    for name in ("tasb", "splade-pp-ed"):
        ingest_run(store, "dl20", DL20_RUNS / f"{name}.trec", name=name)
    evaluate_runs(store, "dl20", measures=["nDCG@10"])
    at = open_page("per_query", store=store.path)
    assert {s.label: s.value for s in at.selectbox if s.label.startswith("Run")} == {"Run A": "tasb",
                                                                                    "Run B": "splade-pp-ed"}
    assert not at.info and len(at.metric) == 8  # six counts and means, the paired test's p and CI


# ------------------------------------------------------------------------------------------------ drill-down
def test_drilldown_shows_grades_unjudged_and_moves(open_page):
    query = "1051399"
    at = open_page("drilldown", q=query, a=A, b=B, n="10")
    assert "who sings monk theme song" in " ".join(texts(at.subheader))
    grades = qrels_grades()[query]
    expected = read_trec(DL20_RUNS / f"{A}.trec")
    expected = expected[(expected["query_id"] == query) & (expected["rank"] <= 10)]
    side_a = at.dataframe[1].value
    assert side_a["doc_id"].tolist() == expected["doc_id"].tolist()
    for doc, grade in zip(side_a["doc_id"], side_a["grade"], strict=True):
        assert grade == (str(grades[doc]) if doc in grades else "unjudged")
    judged_top = [d for d in side_a["doc_id"] if d in grades and grades[d] > 0]
    assert judged_top, "rankgpt finds relevant passages for this query"
    base = read_trec(DL20_RUNS / f"{B}.trec")
    base = dict(base.loc[base["query_id"] == query, ["doc_id", "rank"]].to_numpy())
    first = side_a.iloc[0]
    assert first["other"] == base.get(first["doc_id"])
    # document text on demand
    at.selectbox(key="doc").set_value(first["doc_id"]).run()
    passages = pd.read_csv(DL20 / "passages.tsv.gz", sep="\t", header=None, names=["doc_id", "text"],
                           dtype=str, quoting=3).set_index("doc_id")["text"]
    assert " ".join(passages[first["doc_id"]].split())[:40] in shown(" ".join(texts(at.markdown)))


# ------------------------------------------------------------------------------------------------ depth
def test_depth_curve_ends_at_first_stage_and_reranked_run(open_page, dl20_store):
    run = "bm25__rankvicuna-7b@100"
    at = open_page("depth", reranked=run, depth_measures="nDCG@10", observed="bm25__rankvicuna-7b@20")
    stored = stored_values(dl20_store, "nDCG@10", ["bm25", run, "bm25__rankvicuna-7b@20"]).mean()
    curve = at.dataframe[0].value.set_index(["source", "depth"])["nDCG@10"]
    assert curve[("derived", 0)] == pytest.approx(stored["bm25"], abs=1e-9)
    assert curve[("derived", 100)] == pytest.approx(stored[run], abs=1e-9)
    assert curve[("observed", 20)] == pytest.approx(stored["bm25__rankvicuna-7b@20"], abs=1e-9)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["reranked depth (k_max)"] == "100"
    best = int(metrics["best k for nDCG@10"])
    assert curve[("derived", best)] == curve.xs("derived").max()
    assert "Judged@10 at best k" in metrics
    assert len(at.get("vega_lite_chart")) == 4  # curve, quality against cost, Judged@k, metric at cutoff


def test_depth_page_from_top_k_cuts_agrees_with_the_study_of_whole_runs(open_page, dl20_store):
    """The page (like `workbench depth`) joins F and R in the store only max(K, cutoff) deep; the reference here
    reads whole runs into Python and studies them."""
    from workbench.analysis import judged_summary
    from workbench.services.depth import depth_plan, study_pair
    from workbench.store import Store, get_qrels, get_run_rows

    run, observed = "bm25__rankvicuna-7b@100", "bm25__rankvicuna-7b@20"
    at = open_page("depth", reranked=run, depth_measures="nDCG@10", observed=observed)
    store = Store(dl20_store)
    measures = at.multiselect(key="depth_measures").value  # the tests of every shown measure are corrected together
    assert "nDCG@10" in measures and at.multiselect(key="observed").value == [observed]
    first_stage, names, obs = depth_plan(store, "dl20", run, measures, observed=[observed])
    first, rer = get_run_rows(store, "dl20", first_stage), get_run_rows(store, "dl20", run)
    rows = {k: rer if n == run else get_run_rows(store, "dl20", n) for k, n in obs.items() if k > 0}
    study = study_pair(first_stage, run, first, rer, get_qrels(store, "dl20"), names, obs, rows)
    table = at.dataframe[0].value.set_index(["source", "depth"])
    expected = study.table()
    for m in ("nDCG@10", "Judged@10"):
        want = expected[expected["measure"] == m].set_index(["source", "depth"])["mean"]
        assert table[m].reindex(want.index).to_numpy() == pytest.approx(want.to_numpy(), abs=1e-12)
    p = expected[expected["measure"] == "nDCG@10"].set_index(["source", "depth"])["p_adjusted"]
    assert table["p vs k=0 (nDCG@10)"].reindex(p.index).to_numpy() == pytest.approx(p.to_numpy(), nan_ok=True)
    judged = judged_summary(get_run_rows(store, "dl20", "bm25"), get_run_rows(store, "dl20", run),
                            get_qrels(store, "dl20"), k=10, depths=list(study.curve.depths)).to_frame()
    pd.testing.assert_frame_equal(at.dataframe[1].value.reset_index(drop=True), judged, check_dtype=False)
    hits = at.dataframe[2].value
    assert hits[["query_id", "doc_id"]].values.tolist() == study.phantom_hits[["query_id", "doc_id"]].values.tolist()
    assert any(f"**{len(study.phantom_hits)} phantom hits**" in t for t in texts(at.markdown))


def test_read_only_pages_hold_their_connection_only_while_they_run(open_page, store_copy):
    """per-query, drill-down and depth make all their reads on one connection (`reads_only` in the page registry);
    once the page has rendered the file is free: a writer in this very process opens it at once."""
    from workbench.store import Store

    for page in ("per_query", "drilldown", "depth"):
        at = open_page(page, store=store_copy)
        assert not at.error
        with Store(store_copy).writer() as con:
            assert con.execute("SELECT count(*) FROM runs").fetchall()[0][0] == 24


def test_depth_page_other_cutoffs_do_not_recompute_the_study(open_page, monkeypatch):
    """The study also returns the default cutoff curves; picking other cutoffs reads those curves alone."""
    import streamlit as st

    import workbench.app.data as analyse  # the name the dashboard's data layer calls

    calls = []
    study = analyse.depth_study_judged
    monkeypatch.setattr(analyse, "depth_study_judged", lambda *a, **k: calls.append(k) or study(*a, **k))
    st.cache_data.clear()
    at = open_page("depth", reranked="bm25__rankvicuna-7b@100", depth_measures="nDCG@10")
    assert len(calls) == 1 and calls[0]["cutoff_curve"] == ("nDCG", (1, 3, 5, 10, 20, 30, 50, 100), None)
    at.multiselect(key="cutoffs").set_value([10, 1000]).run()
    assert not at.exception and len(calls) == 1
    assert len(at.get("vega_lite_chart")) == 4


def test_depth_metric_at_cutoff_matches_ir_measures(open_page):
    import ir_measures

    at = open_page("depth", reranked="bm25__rankvicuna-7b@100", depth_measures="nDCG@10", family="R", rel="2",
                   cutoffs=["10", "100"])
    chart = at.get("vega_lite_chart")[3]
    assert chart is not None
    from workbench.analysis import cutoff_curve
    from workbench.app import data

    db = str(at.session_state["db"])
    frame = data.cutoff_curves(db, data.inputs_key(db, data.token_for(db), "dl20", ("bm25",)), "dl20", "R",
                               (10, 100), 2).set_index("cutoff")["mean"]
    qrels = pd.read_csv(DL20 / "qrels.dl20-passage.txt", sep=r"\s+", header=None,
                        names=["query_id", "it", "doc_id", "relevance"], dtype={"query_id": str, "doc_id": str})
    run = read_trec(DL20_RUNS / "bm25.trec")
    for k in (10, 100):
        measure = ir_measures.parse_measure(f"R(rel=2)@{k}")
        values = {m.query_id: m.value for m in ir_measures.iter_calc([measure], qrels, run)}
        expected = sum(values.get(q, 0.0) for q in qrels["query_id"].unique()) / qrels["query_id"].nunique()
        assert frame[k] == pytest.approx(expected, abs=1e-9)
    assert cutoff_curve  # the page calls the library function; numbers are checked against ir_measures above


def test_store_reads_equal_the_python_paths(dl20_store):
    """Aggregates in DuckDB = Evaluation.aggregate(); top-k in DuckDB = the run cut at k in trec_eval order."""
    from workbench.app import data
    from workbench.services.evaluate import load_evaluation
    from workbench.store import Store, top_run_rows

    db = str(dl20_store)
    measures = ("nDCG@10", "AP(rel=2)", "R(rel=2)@1000")
    got = data.aggregates(db, data.token_for(db), "dl20", measures).set_index(["run", "measure"]).sort_index()
    want = load_evaluation(Store(db), "dl20", list(measures)).aggregate().set_index(["run", "measure"]).sort_index()
    assert got.index.equals(want.index)
    assert got["value"].to_numpy() == pytest.approx(want["value"].to_numpy(), abs=1e-12)
    assert (got["n_queries"].to_numpy() == want["n_queries"].to_numpy()).all()
    cut = top_run_rows(Store(db), "dl20", "bm25", 20).to_pandas()
    cut = cut.sort_values(["query_id", "score", "doc_id"], ascending=[True, False, False])
    expected = read_trec(DL20_RUNS / "bm25.trec")
    expected = expected[expected["rank"] <= 20]
    assert cut[["query_id", "doc_id"]].values.tolist() == expected[["query_id", "doc_id"]].values.tolist()


# ------------------------------------------------------------------------------------------------ fusion
def test_fusion_rrf_matches_an_independent_rrf(open_page):
    import ir_measures

    at = open_page("fusion", inputs=["bm25", "splade-pp-ed"], method="rrf")
    table = at.dataframe[0].value.set_index("run")
    parts = [read_trec(DL20_RUNS / f"{n}.trec") for n in ("bm25", "splade-pp-ed")]
    fused = pd.concat([p.assign(score=1.0 / (60 + p["rank"])) for p in parts])
    fused = fused.groupby(["query_id", "doc_id"], as_index=False)["score"].sum()
    qrels = pd.read_csv(DL20 / "qrels.dl20-passage.txt", sep=r"\s+", header=None,
                        names=["query_id", "it", "doc_id", "relevance"], dtype={"query_id": str, "doc_id": str})
    per_query = {m.query_id: m.value for m in ir_measures.iter_calc([ir_measures.nDCG @ 10], qrels, fused)}
    expected = sum(per_query.get(q, 0.0) for q in qrels["query_id"].unique()) / qrels["query_id"].nunique()
    assert table.at["fused", "nDCG@10"] == pytest.approx(expected, abs=5e-5)
    assert table.at["bm25", "nDCG@10"] == pytest.approx(0.4796, abs=5e-5)
    attribution = at.dataframe[1].value.set_index("against")
    assert (attribution[["wins", "ties", "losses"]].sum(axis=1) == 54).all()


def test_fusion_weight_mismatch_is_a_one_line_error(open_page):
    at = open_page("fusion", inputs=["bm25", "splade-pp-ed"], method="combsum", w="1,2,3")
    assert any("3 weight(s) given for 2 runs" in shown(e) for e in texts(at.error))


def test_fusion_save_stores_the_run(open_page, store_copy, tmp_path, monkeypatch):
    from workbench.store import Store, get_run

    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(tmp_path / "runs"))
    at = open_page("fusion", store=store_copy, inputs=["bm25", "splade-pp-ed"], method="rrf")
    fused_ndcg = at.dataframe[0].value.set_index("run").at["fused", "nDCG@10"]
    assert at.text_input(key="save_name").value == "rrf-bm25+splade-pp-ed"  # the CLI's default, a valid name
    at.text_input(key="save_name").set_value("rrf-test")
    next(b for b in at.button if b.label == "Save fused run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at.error)
    info = get_run(Store(store_copy), "dl20", "rrf-test")
    assert (info.kind, info.params["method"], info.params["inputs"]) == ("hybrid", "rrf", ["bm25", "splade-pp-ed"])
    assert (tmp_path / "runs" / "dl20" / "rrf-test.trec").is_file()
    stored = stored_values(store_copy, "nDCG@10", ["rrf-test"])["rrf-test"].mean()
    assert stored == pytest.approx(fused_ndcg, abs=1e-9)


# ------------------------------------------------------------------------------------------------ runs
def test_runs_lists_metadata_and_ingests_an_upload(open_page, store_copy):
    from workbench.store import Store, get_run

    at = open_page("runs", store=store_copy, run="bm25__rankgpt-3.5@100")
    listed = at.dataframe[0].value.set_index("run")
    assert len(listed) == 24
    assert listed.at["bm25__rankgpt-3.5@100", "parent"] == "bm25"
    assert int(listed.at["bm25__rankgpt-3.5@100", "depth"]) == 100
    lines = (DL20_RUNS / "bm25.trec").read_text().splitlines()[:300]
    at.file_uploader[0].upload("mini.trec", ("\n".join(lines) + "\n").encode(), "text/plain")
    at.button[-1].click().run()
    assert not at.error, texts(at.error)
    assert any("added run **mini**" in s for s in texts(at.success))
    info = get_run(Store(store_copy), "dl20", "mini")
    assert info.n_rows == 300
    assert "mini" in at.dataframe[0].value["run"].tolist()  # the table shows it after the rerun


def test_runs_refuses_a_bad_upload_naming_the_line(open_page, store_copy):
    before = snapshot(store_copy)
    at = open_page("runs", store=store_copy)
    lines = (DL20_RUNS / "bm25.trec").read_text().splitlines()[:5]
    lines[2] = "23849 Q0 4348282 3"  # four columns
    at.file_uploader[0].upload("bad.trec", ("\n".join(lines) + "\n").encode(), "text/plain")
    at.button[-1].click().run()
    assert any(shown(e).startswith("bad.trec:3:") for e in texts(at.error)), texts(at.error)
    assert snapshot(store_copy) == before


def test_runs_refuses_an_upload_over_the_cap(open_page, store_copy, monkeypatch):
    monkeypatch.setenv("WORKBENCH_MAX_UPLOAD_MB", "1")
    before = snapshot(store_copy)
    at = open_page("runs", store=store_copy)
    at.file_uploader[0].upload("big.trec", b"1 Q0 d 1 1.0 t\n" * 80_000, "text/plain")
    at.button[-1].click().run()
    assert any("over the 1 MB upload limit" in e for e in texts(at.error))
    assert snapshot(store_copy) == before


def test_runs_delete(open_page, store_copy):
    from workbench.store import Store, list_runs

    at = open_page("runs", store=store_copy, run="repllama")  # no run names it as parent (see the refusal test)
    at.text_input(key="confirm_delete").set_value("repllama").run()
    next(b for b in at.button if b.label == "Delete run").click().run()
    assert "repllama" not in [r.name for r in list_runs(Store(store_copy), "dl20")]
    assert "repllama" not in at.dataframe[0].value["run"].tolist()


# ------------------------------------------------------------------------------------------------ freshness
def test_pages_show_a_cli_ingest_without_restart(open_page, store_copy):
    from workbench.cli.main import main

    at = open_page("runs", store=store_copy)
    assert "bm25-again" not in at.dataframe[0].value["run"].tolist()
    assert main(["--db", str(store_copy), "ingest", "-c", "dl20", str(DL20_RUNS / "bm25.trec"),
                 "--name", "bm25-again"]) == 0
    at.run()
    assert "bm25-again" in at.dataframe[0].value["run"].tolist()


def test_depth_study_outlives_a_write_of_other_runs_not_of_its_own(open_page, store_copy, monkeypatch):
    """The study is cached by its inputs' content (F, R, observed runs, qrels), not the store's version: a CLI
    ingest of another run does not compute it again; replacing the reranked run does, and shows its numbers."""
    import streamlit as st

    import workbench.app.data as analyse  # the name the dashboard's data layer calls
    from workbench.cli.main import main

    calls = []
    study = analyse.depth_study_judged
    monkeypatch.setattr(analyse, "depth_study_judged", lambda *a, **k: calls.append(a[2]) or study(*a, **k))
    st.cache_data.clear()
    run, parent = "bm25__rankvicuna-7b@100", "bm25"
    at = open_page("depth", store=store_copy, reranked=run, depth_measures="nDCG@10", observed=[])

    def at_k_max() -> float:
        """The derived curve's nDCG@10 at k = 100 (= the reranked run itself), from the page's table."""
        wide = at.dataframe[0].value.set_index(["source", "depth"])
        return float(wide.at[("derived", 100), "nDCG@10"])

    def stored(name: str) -> float:
        return float(stored_values(store_copy, "nDCG@10", [name]).mean().iloc[0])

    before = stored(run)
    assert len(calls) == 1 and at_k_max() == pytest.approx(before, abs=1e-12)
    assert main(["--db", str(store_copy), "ingest", "-c", "dl20", str(DL20_RUNS / "tasb.trec"), "--name", "tasb-again",
                 "-m", "nDCG@10"]) == 0
    at.run()
    assert not at.exception and len(calls) == 1 and at_k_max() == pytest.approx(before, abs=1e-12)
    assert main(["--db", str(store_copy), "ingest", "-c", "dl20", str(DL20_RUNS / "bm25__rankgpt-3.5@100.trec"),
                 "--name", run, "--parent", parent, "--depth", "100", "--replace", "-m", "nDCG@10"]) == 0
    at.run()
    assert not at.exception and len(calls) == 2
    after = stored(run)
    assert abs(after - before) > 0.01 and at_k_max() == pytest.approx(after, abs=1e-12)


def test_a_view_keyed_on_inputs_the_store_no_longer_holds_is_not_computed(dl20_store, store_copy):
    """A write between a page's catalogue read and its cached view: the view refuses (the page reruns) instead of
    caching numbers of the new runs under the old runs' key."""
    from workbench.app import data
    from workbench.cli.main import main

    db = str(store_copy)
    key = data.inputs_key(db, data.token_for(db), "dl20", ("bm25", "tasb"))
    assert key[1][0][:2] == ("bm25", key[1][0][1]) and len(key[1]) == 2
    assert main(["--db", db, "ingest", "-c", "dl20", str(DL20_RUNS / "ada2.trec"), "--name", "tasb",
                 "--replace"]) == 0
    with pytest.raises(data.StoreChanged):
        data.fused(db, key, "dl20", (("depth", 100), ("k", 60), ("method", "rrf")), ("nDCG@10",))
    fresh = data.inputs_key(db, data.token_for(db), "dl20", ("bm25", "tasb"))
    assert fresh != key
    rows, queries, frame = data.fused(db, fresh, "dl20", (("depth", 100), ("k", 60), ("method", "rrf")),
                                      ("nDCG@10",))
    assert queries == 54 and rows > 0 and set(frame["measure"]) == {"nDCG@10"}


def test_page_waits_while_another_process_writes(open_page, store_copy):
    """DuckDB allows one writer process: a page opened while the CLI writes waits for it instead of failing."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from workbench.store import Store
        with Store({str(store_copy)!r}).writer():
            print("locked", flush=True)
            time.sleep(3)
    """)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        at = open_page("leaderboard", store=store_copy, measures="nDCG@10", baselines="")
        assert time.monotonic() - started >= 1.0
        assert at.dataframe[0].value.set_index("run").at["bm25", "nDCG@10"].strip() == "0.4796"
    finally:
        holder.wait(timeout=30)


# ------------------------------------------------------------------------------------------------ user text as text
HOSTILE = [
    "q![qid](http://127.0.0.1:9/qid.png)", "[a link](http://127.0.0.1:9/l)", "<img src=http://127.0.0.1:9/i.png>",
    "<script>alert(1)</script>", "$x^2$", r"$\sqrt{2}$", ":material/home:", ":smile:", ":red[red]", "**bold**",
    "_it_", "~~s~~", "`code`", "# heading", "- item", "1. item", "> quote", "    indented", "a | b\n--|--\nc | d",
    "www.example.org", "http://127.0.0.1:9/auto.png", "mail@example.org", "&amp; &lt;", "back\\slash\\*",
    "line one\nline two\n\n# heading\n", "nDCG@10 and bm25__rankgpt-3.5@100",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_plain_shows_user_text_as_that_text(text):
    from workbench.app.common import plain

    assert markup(plain(text)) == []
    assert shown(plain(text)) == " ".join(text.split())
    assert markup(plain(text, lines=True)) == []
    assert shown(plain(text, lines=True)) == " ".join(text.split())


def test_plain_puts_word_joiners_only_where_gfm_would_make_a_link():
    from workbench.app.common import WORD_JOINER, plain

    assert WORD_JOINER not in plain("nDCG@10 and bm25__rankgpt-3.5@100")
    assert plain("www.x.org a@b.co http://h") == ("www\u2060\\.x\\.org a\u2060\\@b\\.co http\u2060\\:\\/\\/h")


def test_plain_keeps_the_lines_of_document_text():
    from workbench.app.common import plain

    blocks = _MD.parse(plain("one ![x](http://h/x.png)\ntwo\n\n\n    three *x*", lines=True))
    assert [b.type for b in blocks] == ["paragraph_open", "inline", "paragraph_close"] * 2
    assert [t.type for t in blocks[1].children if t.type.endswith("break")] == ["hardbreak"]
    assert shown(blocks[4].content) == "three *x*"


@pytest.fixture(scope="session")
def markup_store(tmp_path_factory) -> MarkupStore:
    return build_markup_store(tmp_path_factory.mktemp("markup") / "markup.duckdb", "127.0.0.1:9")


def assert_text_only(at: AppTest) -> list[str]:
    """No string the page gave the Markdown renderer renders as more than text; returns what they show."""
    strings = markdown_strings(at)
    assert strings
    for s in strings:
        assert markup(s) == [], s
    return [shown(s) for s in strings]


def test_every_page_shows_markup_in_names_ids_and_texts_as_text(open_page, markup_store):
    m = markup_store
    runs = {"a": m.run_a, "b": m.run_b}
    visible = {}
    for page, params in [("leaderboard", {"baselines": m.run_b, "delta": "true", "ci": "true"}),
                         ("per_query", {**runs, "measure": "nDCG@10"}),
                         ("drilldown", {"q": m.query, **runs}), ("depth", {"reranked": m.reranked}),
                         ("fusion", {"inputs": [m.run_a, m.run_b]}), ("runs", {"run": m.run_a})]:
        at = open_page(page, store=m.path, **params)
        if page == "drilldown":
            at.selectbox(key="doc").set_value(m.doc_id).run()
        assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
        visible[page] = " | ".join(assert_text_only(at))
    assert f"Collection {m.collection} (qrels" in visible["leaderboard"]
    assert f"A = {m.run_a}, B = {m.run_b}, over the 6 queries" in visible["per_query"]
    assert f"“{m.hostile()['topic']}”" in visible["drilldown"]
    assert f"query {m.query} ·" in visible["drilldown"]
    assert f"{m.run_a} — 4 documents retrieved" in visible["drilldown"]
    assert " ".join(m.doc_title.split()) in visible["drilldown"]
    assert " ".join(m.doc_text.split()) in visible["drilldown"]
    assert f"{m.reranked} reranks the top 2 of {m.run_b}." in visible["depth"]
    assert f"not scored (e.g. {m.warned_id})" in visible["runs"]
    assert f"{m.run_a} · other · 7 queries" in visible["runs"]


def test_the_drilldown_picker_and_tables_show_user_text_unescaped(open_page, markup_store):
    """Option lists and table cells are plain text in Streamlit: they get the text itself, not escaped Markdown."""
    m = markup_store
    at = open_page("drilldown", store=m.path, q=m.query, a=m.run_a, b=m.run_b)
    picker = at.selectbox(key="query")
    assert picker.value == m.query
    label = next(o for o in picker.options if o.startswith(f"{m.query} · "))
    assert label == f"{m.query} · {m.hostile()['topic'][:159]}…"  # the text cut at 160 characters
    assert m.run_a in at.selectbox(key="a").options
    at = open_page("runs", store=m.path, run=m.run_a)
    assert m.run_a in at.dataframe[0].value["run"].tolist()
    assert at.code[0].value == m.header.rstrip("\n")  # the ir_metadata header, verbatim


def test_error_messages_quote_user_text_as_text(open_page, markup_store, tmp_path):
    m = markup_store
    typed = "![m](http://127.0.0.1:9/measure.png)<b>x</b>"
    at = open_page("leaderboard", store=m.path)
    at.text_input(key="new_measure").input(typed)
    next(b for b in at.button if b.label == "Score").click().run()
    errors = [shown(e) for e in texts(at.error)]
    assert len(errors) == 1 and typed in errors[0] and errors[0].startswith("unknown measure")
    assert_text_only(at)
    at = open_page("fusion", store=m.path, inputs=[m.run_a, m.run_b], method="combsum", w=typed)
    assert [shown(e) for e in texts(at.error)] == [f"weights must be numbers separated by commas, got {typed!r}"]
    assert_text_only(at)
    # the sidebar: a store path with markup that does not exist
    missing = tmp_path / "![s](http://127.0.0.1:9/store.png) <i>x</i>.duckdb"
    at = open_page("leaderboard", store=missing)
    assert any(shown(w).startswith(f"{missing}: no store here (create one with") for w in texts(at.warning))
    assert_text_only(at)
    assert not missing.exists()


# ------------------------------------------------------------------------------------------------ issue 17 item 7
def test_every_page_answers_at_its_own_path_and_the_root_is_the_leaderboard(dl20_store, monkeypatch):
    """st.navigation serves its default page at / only: the leaderboard is listed under /leaderboard and a hidden
    default page runs the same script at /. Every registered page is served at its path, under its title, and the
    paths in links people have shared stay."""
    monkeypatch.setenv("WORKBENCH_DB", str(dl20_store))
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert [t.value for t in at.title] == ["Leaderboard"]
    pages = {info["url_pathname"]: Path(info["script_path"]).name for info in at._registered_pages.values()}
    assert pages == {"": "leaderboard.py", **{p.url_path: p.script.name for p in PAGES}}
    assert {"leaderboard": "leaderboard.py", "per-query": "per_query.py", "drilldown": "drilldown.py",
            "depth": "depth.py", "fusion": "fusion.py", "runs": "runs.py"}.items() <= pages.items()
    for page in PAGES:
        at.switch_page(str(page.script)).run()
        assert not at.exception, (page.name, [e.value for e in at.exception])
        assert [t.value for t in at.title] == [page.title], page.name


def test_drilldown_picker_lists_query_text_and_keeps_the_id_in_the_url(open_page, dl20_store, monkeypatch):
    import streamlit as st

    import workbench.app.data as store_module  # the dashboard's data layer reads the store through this name

    reads = []
    get_topics = store_module.get_topics
    monkeypatch.setattr(store_module, "get_topics", lambda *a, **k: reads.append(a) or get_topics(*a, **k))
    st.cache_data.clear()
    at = open_page("drilldown", q="1051399", a=A, b=B)
    picker = at.selectbox(key="query")
    topics = dict(line.split("\t", 1) for line in (DL20 / "topics.dl20.txt").read_text().splitlines())
    judged = sorted(qrels_grades(), key=lambda q: (len(q), q))
    assert picker.options == [f"{q} · {topics[q]}" for q in judged]  # typing words of the text finds the query
    assert picker.value == "1051399" and at.query_params["q"] == "1051399"
    picker.set_value("23849").run()
    assert at.query_params["q"] == "23849"  # the id, not the label, as the per-query page links it
    assert "are naturalization records public information" in at.subheader[0].value
    at.run()
    assert len(reads) == 1  # the labels and topics are read once per store version, not on every rerun


def test_per_query_shows_the_paired_test_and_ci_as_workbench_compare(open_page, dl20_store):
    from scipy import stats

    from workbench.services.compare import compare_runs
    from workbench.store import Store

    values = stored_values(dl20_store, "nDCG@10", [A, B])
    for test, reference in (("t", stats.ttest_rel), ("wilcoxon", stats.wilcoxon)):
        at = open_page("per_query", a=A, b=B, measure="nDCG@10", pair_test=test)
        metrics = {shown(m.label): m.value for m in at.metric}
        cli = compare_runs(Store(dl20_store), "dl20", [B, A], ["nDCG@10"], test=test).significance.rows[0]
        assert metrics["p"] == f"{cli.p_value:.4g}"
        assert float(metrics["p"]) == pytest.approx(reference(values[A], values[B]).pvalue, rel=1e-3)
        assert metrics["95% CI of the mean Δ (A − B)"] == f"[{cli.ci_low:+.4f}, {cli.ci_high:+.4f}]"
        assert cli.ci_low < (values[A] - values[B]).mean() < cli.ci_high
        assert any(shown(c).startswith("A is significantly better than B at alpha 0.05") for c in texts(at.caption))


def test_per_query_without_two_common_queries_keeps_its_counts_and_says_why_there_is_no_test(open_page, tmp_path):
    from workbench.services.collection import add_collection
    from workbench.services.evaluate import evaluate_runs
    from workbench.services.ingest import ingest_run
    from workbench.store import Store

    (tmp_path / "qrels.txt").write_text("q1 0 d1 1\n")
    store = Store(tmp_path / "one.duckdb")
    add_collection(store, "one", qrels=tmp_path / "qrels.txt")
    for name, doc in (("x", "d1"), ("y", "d2")):
        (tmp_path / f"{name}.trec").write_text(f"q1 Q0 {doc} 1 1.0 {name}\n")
        ingest_run(store, "one", tmp_path / f"{name}.trec", name=name)
    evaluate_runs(store, "one", ["P@1"])
    at = open_page("per_query", store=store.path, a="x", b="y", measure="P@1")
    assert {shown(m.label): m.value for m in at.metric}["A wins"] == "1"
    assert "No paired test: 'x' and 'y' share 1 queries on 'P@1'; need >= 2" in [shown(c) for c in texts(at.caption)]


def test_win_matrix_colours_wins_minus_losses_among_non_ties(open_page, tmp_path):
    """The issue's case: rrf beats bm25 on 79 queries, loses 26 and ties 195. A win share of 79/300 = 0.26 coloured
    it orange; among the 105 queries that are not ties it wins 79, a balance of (79 - 26) / 105 = +0.50."""
    import pyarrow as pa

    from workbench.services.collection import add_collection
    from workbench.services.evaluate import evaluate_runs
    from workbench.services.ingest import ingest_run
    from workbench.store import Store

    queries = [f"q{i:03d}" for i in range(300)]
    (tmp_path / "qrels.txt").write_text("".join(f"{q} 0 rel 1\n" for q in queries))
    top = {"rrf": ["rel"] * 79 + ["non"] * 26 + ["rel"] * 195, "bm25": ["non"] * 79 + ["rel"] * 26 + ["rel"] * 195}
    store = Store(tmp_path / "wm.duckdb")
    add_collection(store, "wm", qrels=tmp_path / "qrels.txt")
    for name, docs in top.items():
        (tmp_path / f"{name}.trec").write_text("".join(f"{q} Q0 {d} 1 1.0 {name}\n" for q, d in zip(queries, docs,
                                                                                                     strict=True)))
        ingest_run(store, "wm", tmp_path / f"{name}.trec", name=name)
    evaluate_runs(store, "wm", ["P@1"])
    at = open_page("per_query", store=store.path, a="rrf", b="bm25", measure="P@1", runs=["rrf", "bm25"])
    assert {shown(m.label): m.value for m in at.metric}["ties"] == "195"
    chart = at.get("vega_lite_chart")[2].proto
    colour = json.loads(chart.spec)["layer"][0]["encoding"]["color"]
    assert colour["field"] == "net" and colour["scale"] == {"domain": [-1, 1], "domainMid": 0,
                                                             "scheme": "redyellowgreen"}
    cells = pa.ipc.open_stream(chart.datasets[0].data.data).read_all().to_pandas().set_index(["row", "col"])
    assert cells.at[("rrf", "bm25"), "label"] == "79/195/26"
    assert cells.at[("rrf", "bm25"), "net"] == pytest.approx(53 / 105)  # green half of the scale, not orange
    assert cells.at[("bm25", "rrf"), "net"] == pytest.approx(-53 / 105)


def test_leaderboard_fits_by_default_and_toggles_deltas_and_ci_columns(open_page):
    at = open_page("leaderboard", baselines="bm25")
    board = at.dataframe[0].value.set_index("run")
    assert not [c for c in board.columns if c.endswith(" CI")]
    assert not board[board.columns[1]].str.contains(r"\(").any()  # no deltas
    at.toggle(key="delta").set_value(True).run()
    at.toggle(key="ci").set_value(True).run()
    board = at.dataframe[0].value.set_index("run")
    assert "nDCG@10 CI" in board.columns and board.at[A, "nDCG@10"].endswith(")")


def test_leaderboard_scores_a_typed_measure_for_every_run(open_page, store_copy):
    """One action: the measure is checked, scored for every run (nothing else written) and shown as a column,
    with the numbers ir_measures gives."""
    import ir_measures

    from workbench.store import Store, list_runs

    before = snapshot(store_copy)
    at = open_page("leaderboard", store=store_copy, baselines="")
    assert snapshot(store_copy) == before  # opening the page reads only
    at.text_input(key="new_measure").input(" P@20 ")
    next(b for b in at.button if b.label == "Score").click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert "P@20" in at.multiselect(key="measures").value and at.text_input(key="new_measure").value == ""
    board = at.dataframe[0].value.set_index("run")
    assert len(board) == len(list_runs(Store(store_copy), "dl20")) == 24
    qrels = pd.read_csv(DL20 / "qrels.dl20-passage.txt", sep=r"\s+", header=None,
                        names=["query_id", "it", "doc_id", "relevance"], dtype={"query_id": str, "doc_id": str})
    for run in ("bm25", A):
        values = {m.query_id: m.value for m in ir_measures.iter_calc([ir_measures.P @ 20], qrels,
                                                                     read_trec(DL20_RUNS / f"{run}.trec"))}
        expected = sum(values.get(q, 0.0) for q in qrels["query_id"].unique()) / qrels["query_id"].nunique()
        assert board.at[run, "P@20"].strip().startswith(f"{expected:.4f}")
    after = snapshot(store_copy)
    changed = {t for t in after if after[t] != before[t]}
    assert changed and changed <= {"score_sets", "scores"}, changed  # the new scores, nothing else
    for table in changed:
        new = set(after[table]) - set(before[table])
        assert new and all("P@20" in row for row in new) and set(before[table]) <= set(after[table])


def test_leaderboard_refuses_an_invalid_measure_in_one_line_and_writes_nothing(open_page, store_copy):
    before = snapshot(store_copy)
    at = open_page("leaderboard", store=store_copy)
    selected = at.multiselect(key="measures").value
    at.text_input(key="new_measure").input("nDCG@x10")
    next(b for b in at.button if b.label == "Score").click().run()
    errors = [shown(e) for e in texts(at.error)]
    assert len(errors) == 1 and "\n" not in errors[0] and errors[0].startswith("unknown measure: 'nDCG@x10'")
    assert at.multiselect(key="measures").value == selected
    assert snapshot(store_copy) == before


def test_score_runs_reports_progress_per_run(store_copy):
    from workbench.app import data

    calls = []
    data.score_runs(str(store_copy), "dl20", ["bm25", "tasb", A], ["P@7"],
                    on_run=lambda run, done, total: calls.append((run, done, total)))
    assert calls == [("bm25", 1, 3), ("tasb", 2, 3), (A, 3, 3)]


# ------------------------------------------------------------------------------------------------ issue 20 items 2, 4
LB_MEASURES = ["nDCG@10", "AP(rel=2)", "RR(rel=2)@10"]
VALUE = re.compile(r"^\s*(-?\d+\.\d{4})")


def strict_qrels(folder: Path) -> Path:
    """DL 2020's qrels with grade 1 ("related") read as 0: docs/judgments.md's worked example, written here."""
    rows = [line.split() for line in (DL20 / "qrels.dl20-passage.txt").read_text().splitlines() if line.strip()]
    path = folder / "strict.qrels"
    path.write_text("".join(f"{q} {it} {d} {0 if g == '1' else g}\n" for q, it, d, g in rows))
    return path


@pytest.fixture
def strict_store(dl20_store, tmp_path, cli):
    """strict_store() -> a private copy of the DL 2020 store with the named qrels set `strict`, nothing scored
    against it yet (each call a new copy: one for a page, one for the CLI's reference)."""
    copies = iter(range(100))

    def make() -> Path:
        path = tmp_path / f"strict-{next(copies)}.duckdb"
        shutil.copy(dl20_store, path)
        assert cli("collection", "qrels", "add", "dl20", "strict", strict_qrels(tmp_path), store=path).code == 0
        return path

    return make


@pytest.fixture
def open_view(monkeypatch):
    """open_view(page, store, **query_params) -> an AppTest that opened the link `/<page>?<query_params>`.

    The sidebar's widgets (collection, qrels, judged only) are drawn on every page, so they read the URL only on
    the session's first run, as a browser opening a shared link does: the parameters are set before it.
    """

    def run(page: str, store: Path, **params) -> AppTest:
        monkeypatch.setenv("WORKBENCH_DB", str(store))
        at = AppTest.from_file(APP, default_timeout=180)
        for key, value in params.items():
            at.query_params[key] = value
        at.run()  # the root: the leaderboard
        if page != "leaderboard":
            at.switch_page(str(page_named(page).script)).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return run


def click(at: AppTest, key: str) -> AppTest:
    next(b for b in at.button if b.key == key).click().run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    return at


def cell_value(text: str) -> str:
    match = VALUE.match(text)
    assert match, text
    return match.group(1)


def test_qrels_selector_only_with_named_sets_else_a_caption_names_the_qrels(open_page, open_view, dl20_store,
                                                                             strict_store):
    from workbench.store import Store, get_collection

    at = open_page("leaderboard")
    assert not [s for s in at.selectbox if s.key == "qrels"]
    own = get_collection(Store(dl20_store), "dl20").qrels_hash
    assert f"qrels: the collection's own · sha256 {own[:12]}" in [shown(c.value) for c in at.sidebar.caption]
    assert at.toggle(key="judged_only").value is False
    at = open_view("leaderboard", strict_store())
    picker = at.selectbox(key="qrels")
    assert picker.options == ["default", "strict"] and picker.value == "default"
    picker.set_value("strict").run()
    assert "qrels strict: 11,386 judgments of 54 queries · sha256 3befa10e34c3" in [
        shown(c.value) for c in at.sidebar.caption]


def test_the_qrels_chosen_stay_chosen_on_every_page(open_view, strict_store):
    at = open_view("per_query", strict_store(), qrels="strict", judged_only="true")
    for page in PAGES:
        at.switch_page(str(page.script)).run()
        assert not at.exception, (page.name, [e.value for e in at.exception])
        assert at.selectbox(key="qrels").value == "strict", page.name
        assert at.toggle(key="judged_only").value is True, page.name


@pytest.mark.parametrize("judged_only", [False, True], ids=["trec_eval", "judged-only"])
def test_leaderboard_under_two_qrels_sets_equals_the_cli(open_view, strict_store, cli, judged_only):
    """Each set's values as `workbench leaderboard --qrels NAME [-J] -f json` gives them, scored on a store of its
    own: on the page to 4 decimals, through the page's data function to the last bit; and the two sets differ."""
    from workbench.app import data

    page_store, reference = strict_store(), strict_store()
    flags = ["--judged-only"] if judged_only else []
    boards = {}
    for qrels in ("default", "strict"):
        at = open_view("leaderboard", page_store, qrels=qrels, measures=LB_MEASURES, baselines="",
                       judged_only=str(judged_only).lower())
        if any(b.key == "score_missing" for b in at.button):  # strict, or -J: not scored yet
            assert qrels == "strict" or judged_only
            click(at, "score_missing")
        board = at.dataframe[0].value.set_index("run")
        expected = cli("leaderboard", "-c", "dl20", "-m", *LB_MEASURES, "--qrels", qrels, *flags, "-f", "json",
                       store=reference).json()
        assert len(board) == len(expected["rows"]) == 24
        for row in expected["rows"]:
            for m, cell in row["measures"].items():
                assert cell_value(board.at[row["run"], m]) == f"{cell['value']:.4f}", (qrels, row["run"], m)
        legend = " ".join(shown(c) for c in texts(at.caption))
        assert f"qrels sha256 {expected['qrels_hash'][:12]}" in legend and expected["semantics"] in legend
        assert ("qrels strict" in legend) == (qrels == "strict")
        db = str(page_store)
        lb = data.leaderboard(db, data.token_for(db), "dl20", tuple(LB_MEASURES), None, (), "none", "holm", 0.05,
                              1000, False, qrels=None if qrels == "default" else qrels,
                              unjudged="judged-only" if judged_only else "nonrelevant").to_dict()
        assert (lb["qrels_hash"], lb["semantics"], lb.get("qrels")) == (
            expected["qrels_hash"], expected["semantics"], expected.get("qrels"))
        got = {(r["run"], m): c["value"] for r in lb["rows"] for m, c in r["measures"].items()}
        want = {(r["run"], m): c["value"] for r in expected["rows"] for m, c in r["measures"].items()}
        assert got.keys() == want.keys() and all(got[k] == pytest.approx(want[k], abs=1e-12) for k in want)
        boards[qrels] = board
    # the docs' worked example: nDCG@10 drops under strict, AP(rel=2) (which never counted grade 1) does not
    assert cell_value(boards["default"].at["bm25", "nDCG@10"]) != cell_value(boards["strict"].at["bm25", "nDCG@10"])
    assert boards["default"].at["bm25", "AP(rel=2)"] == boards["strict"].at["bm25", "AP(rel=2)"]
    if not judged_only:
        assert (cell_value(boards["default"].at["bm25", "nDCG@10"]),
                cell_value(boards["strict"].at["bm25", "nDCG@10"])) == ("0.4796", "0.4040")


def test_leaderboard_significance_under_a_qrels_set_equals_the_cli(open_view, strict_store, cli):
    """With a baseline the page tests per-query values (not DuckDB's aggregates): under strict its marks and CIs
    are `leaderboard --qrels strict -b bm25 --ci -f json`'s."""
    store = strict_store()
    assert cli("evaluate", "-c", "dl20", "-m", *LB_MEASURES, "--qrels", "strict", store=store).code == 0
    at = open_view("leaderboard", store, qrels="strict", measures=LB_MEASURES, baselines="bm25", ci="true")
    board = at.dataframe[0].value.set_index("run")
    expected = cli("leaderboard", "-c", "dl20", "-m", *LB_MEASURES, "--qrels", "strict", "-b", "bm25", "--ci",
                   "-f", "json", store=store).json()
    marked = 0
    for row in expected["rows"]:
        for m, cell in row["measures"].items():
            text = board.at[row["run"], m]
            assert cell_value(text) == f"{cell['value']:.4f}"
            test = cell["tests"].get("bm25")
            assert ("†" in text) == bool(test and test["significant"]), (row["run"], m)
            marked += "†" in text
            if row["run"] != "bm25":
                assert board.at[row["run"], f"{m} CI"] == f"[{test['ci'][0]:+.4f}, {test['ci'][1]:+.4f}]"
    assert marked > 10  # most rerankers beat bm25 on nDCG@10 under strict too


def test_leaderboard_bounds_equal_leaderboard_bounds_json(open_view, strict_store, cli):
    """The bounds columns hold `leaderboard --bounds -f json`'s `unjudged_relevant`, under each qrels set, scored
    on request on the page's store and by the CLI on a store of its own."""
    from workbench.export.leaderboard import BOUNDS_SENTENCE

    page_store, reference = strict_store(), strict_store()
    for qrels in ("default", "strict"):
        at = open_view("leaderboard", page_store, qrels=qrels, measures=LB_MEASURES, baselines="",
                       bounds="true")
        if qrels == "strict":
            click(at, "score_missing")
        board = at.dataframe[0].value.set_index("run")
        assert not [c for c in board.columns if c.endswith("if unjudged relevant")]  # not until they are scored
        assert any("lack the values with their unjudged documents relevant" in shown(w) for w in texts(at.warning))
        board = click(at, "score_bounds").dataframe[0].value.set_index("run")
        expected = cli("leaderboard", "-c", "dl20", "-m", *LB_MEASURES, "--qrels", qrels, "--bounds", "-f", "json",
                       store=reference).json()
        assert [c for c in board.columns if c != "kind"] == [
            c for m in LB_MEASURES for c in (m, f"{m} if unjudged relevant")]
        for row in expected["rows"]:
            for m, cell in row["measures"].items():
                assert cell_value(board.at[row["run"], m]) == f"{cell['value']:.4f}"
                assert board.at[row["run"], f"{m} if unjudged relevant"] == f"{cell['unjudged_relevant']:.4f}"
        assert any(shown(c).startswith(shown(BOUNDS_SENTENCE)) for c in texts(at.caption))
    assert board.at["bm25", "nDCG@10 if unjudged relevant"] != cell_value(board.at["bm25", "nDCG@10"])
    # judged-only drops the unjudged documents the bounds are about: the toggle is off, as the CLI refuses both
    at = open_view("leaderboard", page_store, measures=LB_MEASURES, baselines="", bounds="true",
                   judged_only="true")
    assert at.toggle(key="bounds").disabled
    assert not [b for b in at.button if b.key == "score_bounds"]
    click(at, "score_missing")  # the -J values
    assert not [c for c in at.dataframe[0].value.columns if c.endswith("if unjudged relevant")]


def test_switching_back_to_a_scored_qrels_set_rescores_nothing(open_view, strict_store):
    """Scores are keyed by qrels content: once strict is scored, going to default and back, on every page, writes
    nothing (the store is equal table by table) and the service finds every score stored."""
    from workbench.app import data
    from workbench.store import Store, list_qrels_sets

    store = strict_store()
    at = open_view("leaderboard", store, qrels="strict", baselines="", bounds="true")
    measures = at.multiselect(key="measures").value
    click(at, "score_missing")
    click(at, "score_bounds")
    strict_board = at.dataframe[0].value
    at.selectbox(key="qrels").set_value("default").run()
    click(at, "score_bounds")  # the collection's own values are stored; their bounds are not yet
    at.selectbox(key="qrels").set_value("strict").run()
    before = snapshot(store)
    strict_hash = list_qrels_sets(Store(store), "dl20")[0].qrels_hash
    assert sum(strict_hash in row for row in before["score_sets"]) == 2 * 24 * len(measures)  # values and bounds
    for qrels in ("default", "strict", "default", "strict"):
        at.selectbox(key="qrels").set_value(qrels).run()
        assert not at.exception and not [w for w in texts(at.warning) if "lack" in w], qrels
        assert not [b for b in at.button if b.key in ("score_missing", "score_bounds")], qrels
    assert at.dataframe[0].value.equals(strict_board)
    for page in PAGES:
        at.switch_page(str(page.script)).run()
        assert not at.exception, page.name
    assert snapshot(store) == before
    names = [r.name for r in data.runs(str(store), data.token_for(str(store)), "dl20")]
    for unjudged in ("nonrelevant", "relevant"):
        assert data.score_runs(str(store), "dl20", names, measures, qrels="strict", unjudged=unjudged) == 0
    assert snapshot(store) == before


def test_per_query_drilldown_and_fusion_read_the_chosen_qrels(open_view, strict_store, cli):
    """Under strict: the per-query means, the drill-down's grades and the fused run's nDCG@10 are those of the
    strict qrels, computed here with ir_measures from the files."""
    import ir_measures

    store = strict_store()
    qrels = pd.read_csv(strict_qrels(store.parent), sep=r"\s+", header=None,
                        names=["query_id", "it", "doc_id", "relevance"], dtype={"query_id": str, "doc_id": str})

    def mean_ndcg(run: pd.DataFrame) -> float:
        per_query = {m.query_id: m.value for m in ir_measures.iter_calc([ir_measures.nDCG @ 10], qrels, run)}
        return sum(per_query.get(q, 0.0) for q in qrels["query_id"].unique()) / qrels["query_id"].nunique()

    at = open_view("per_query", store, qrels="strict", a=A, b=B, measure="nDCG@10")
    assert any("not scored on nDCG@10 against qrels strict yet" in shown(i) for i in texts(at.info))
    assert cli("evaluate", "-c", "dl20", "--qrels", "strict", store=store).code == 0
    at = open_view("per_query", store, qrels="strict", a=A, b=B, measure="nDCG@10")
    metrics = {shown(m.label): m.value for m in at.metric}
    assert metrics["mean B (nDCG@10)"] == f"{mean_ndcg(read_trec(DL20_RUNS / f'{B}.trec')):.4f}" == "0.4040"
    assert metrics["mean A (nDCG@10)"] == f"{mean_ndcg(read_trec(DL20_RUNS / f'{A}.trec')):.4f}"
    assert "qrels=strict" in at.dataframe[0].value["open"].iloc[0]  # the drill-down opens under strict too

    query = "1051399"
    at = open_view("drilldown", store, qrels="strict", q=query, a=A, b=B, n="10")
    strict = dict(qrels.loc[qrels["query_id"] == query, ["doc_id", "relevance"]].to_numpy())
    side_a = at.dataframe[1].value
    assert [g for g in side_a["grade"]] == [str(strict[d]) if d in strict else "unjudged" for d in side_a["doc_id"]]
    assert "1" not in set(side_a["grade"]) and "1" in {str(g) for g in qrels_grades()[query].values()}
    assert any("against qrels strict" in shown(c) for c in texts(at.caption))

    at = open_view("fusion", store, qrels="strict", inputs=["bm25", "splade-pp-ed"], method="rrf")
    table = at.dataframe[0].value.set_index("run")
    parts = [read_trec(DL20_RUNS / f"{n}.trec") for n in ("bm25", "splade-pp-ed")]
    fused = pd.concat([p.assign(score=1.0 / (60 + p["rank"])) for p in parts])
    fused = fused.groupby(["query_id", "doc_id"], as_index=False)["score"].sum()
    assert table.at["fused", "nDCG@10"] == pytest.approx(mean_ndcg(fused), abs=5e-5)
    assert table.at["bm25", "nDCG@10"] == pytest.approx(0.4040, abs=5e-5)


def test_a_link_to_a_qrels_set_the_collection_lacks_shows_its_own_and_says_so(open_view, strict_store):
    at = open_view("leaderboard", strict_store(), qrels="gone", measures="nDCG@10", baselines="")
    assert "Collection dl20 has no qrels named gone; showing its own." in [shown(w) for w in texts(at.warning)]
    assert at.selectbox(key="qrels").value == "default"
    assert at.dataframe[0].value.set_index("run").at["bm25", "nDCG@10"].strip() == "0.4796"


def test_a_qrels_set_name_with_markup_shows_as_text_on_every_page(open_view, markup_store, tmp_path):
    """Set names obey the name rules (`collection qrels add` checks them), which still allow GFM's bare links and
    emphasis; a store written otherwise may hold anything. Either way the name is text on every page."""
    from workbench.store import Store, get_collection, get_qrels, put_qrels_set

    m = markup_store
    path = tmp_path / "markup-qrels.duckdb"
    shutil.copy(m.path, path)
    store = Store(path)
    name = "__a__\"quoted\" 'q' <b>x</b>\n![i](http://127.0.0.1:9/q.png) $x$ :red[r] www.example.org x@example.org"
    own = get_collection(store, m.collection)
    put_qrels_set(store, m.collection, name, get_qrels(store, m.collection), own.qrels_hash, source={})
    for page, params in [("leaderboard", {"baselines": m.run_b, "bounds": "true"}),
                         ("per_query", {"a": m.run_a, "b": m.run_b, "measure": "nDCG@10"}),
                         ("drilldown", {"q": m.query, "a": m.run_a, "b": m.run_b}),
                         ("depth", {"reranked": m.reranked}), ("fusion", {"inputs": [m.run_a, m.run_b]}),
                         ("runs", {"run": m.run_a})]:
        at = open_view(page, path, **params)
        at.selectbox(key="qrels").set_value(name).run()
        if page == "leaderboard":
            click(at, "score_bounds")
        assert not at.exception and not at.error, (page, [e.value for e in [*at.exception, *at.error]])
        assert at.selectbox(key="qrels").value == name
        visible = " | ".join(assert_text_only(at))
        assert f"qrels {' '.join(name.split())}: " in visible, page
        if page == "leaderboard":
            assert f"Collection {m.collection}, qrels {' '.join(name.split())} (qrels sha256" in visible


def test_an_upload_is_scored_against_the_chosen_qrels(open_view, strict_store):
    """On the Runs page under strict, "Score on the default measures" scores the upload against strict: its
    scores are stored under strict's content hash, none under the collection's own qrels."""
    from workbench.scoring import SEMANTICS
    from workbench.store import Store, list_qrels_sets, per_query_scores

    store = strict_store()
    at = open_view("runs", store, qrels="strict")
    lines = (DL20_RUNS / "bm25.trec").read_text().splitlines()[:300]
    at.file_uploader[0].upload("mini.trec", ("\n".join(lines) + "\n").encode(), "text/plain")
    at.button[-1].click().run()
    assert not at.error, texts(at.error)
    assert "Scored on the collection's default measures against qrels strict." in [shown(c) for c in texts(at.caption)]
    strict_hash = list_qrels_sets(Store(store), "dl20")[0].qrels_hash
    scored = per_query_scores(Store(store), "dl20", ["nDCG@10"], SEMANTICS, ["mini"], qrels_hash=strict_hash)
    assert scored["query_id"].nunique() == 54
    assert per_query_scores(Store(store), "dl20", ["nDCG@10"], SEMANTICS, ["mini"]).empty


def test_fusion_judged_only_scores_the_condensed_fused_run(open_view, store_copy, cli):
    """Judged-only in the sidebar: the fusion lab scores its fused run as trec_eval -J does, equal to ir_measures on
    the fused run with its unjudged documents dropped here in pandas (a condensed list)."""
    import ir_measures

    assert cli("evaluate", "-c", "dl20", "--judged-only", store=store_copy).code == 0
    at = open_view("fusion", store_copy, judged_only="true", inputs=["bm25", "splade-pp-ed"], method="rrf")
    table = at.dataframe[0].value.set_index("run")
    parts = [read_trec(DL20_RUNS / f"{n}.trec") for n in ("bm25", "splade-pp-ed")]
    fused = pd.concat([p.assign(score=1.0 / (60 + p["rank"])) for p in parts])
    fused = fused.groupby(["query_id", "doc_id"], as_index=False)["score"].sum()
    qrels = pd.read_csv(DL20 / "qrels.dl20-passage.txt", sep=r"\s+", header=None,
                        names=["query_id", "it", "doc_id", "relevance"], dtype={"query_id": str, "doc_id": str})
    judged = fused.merge(qrels[qrels["relevance"] >= 0][["query_id", "doc_id"]], on=["query_id", "doc_id"])
    per_query = {m.query_id: m.value for m in ir_measures.iter_calc([ir_measures.nDCG @ 10], qrels, judged)}
    expected = sum(per_query.get(q, 0.0) for q in qrels["query_id"].unique()) / qrels["query_id"].nunique()
    assert table.at["fused", "nDCG@10"] == pytest.approx(expected, abs=5e-5)
    everything = {m.query_id: m.value for m in ir_measures.iter_calc([ir_measures.nDCG @ 10], qrels, fused)}
    assert abs(sum(everything.values()) / 54 - expected) > 1e-3  # the condensed list scores differently
