"""The depth study's cost-aware report, --qrels and --bounds (issue 20 items 5, 2 and 4).

A hand-made case fixes the smallest-k rule and its cost; its bootstrap interval is checked against a plain-numpy
reimplementation with the same seed; --qrels against a collection whose own qrels are that file; --bounds against
`leaderboard --bounds` (the derived run at depth 0 is the first stage, at depth K the reranked run itself).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import DL20, DL20_RUNS, snapshot

# Five queries, binary qrels (d1 relevant), F ranks d1..d6; R reranks F's top 4. P@1 of the derived run at k:
#   q1: d1 first in F                          -> 1 at every k
#   q2..q4: d1 at F position 2, 3, 4; R puts it first     -> 1 from k = 2, 3, 4
#   q5: d1 first in F, R puts d2 before it                 -> 1 at k = 0, 1; 0 from k = 2
# means:  k=0 0.4, k=1 0.4, k=2 0.4, k=3 0.6, k=4 0.8; gains 0, 0, +0.2, +0.4 (best at k = 4)
F_ORDER = {"q1": "d1 d2 d3 d4 d5 d6", "q2": "d2 d1 d3 d4 d5 d6", "q3": "d2 d3 d1 d4 d5 d6",
           "q4": "d2 d3 d4 d1 d5 d6", "q5": "d1 d2 d3 d4 d5 d6"}
R_ORDER = {"q1": "d1 d2 d3 d4", "q2": "d1 d2 d3 d4", "q3": "d1 d2 d3 d4", "q4": "d1 d2 d3 d4",
           "q5": "d2 d1 d3 d4"}
P1 = np.array([[1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], float)
DEPTHS = [0, 1, 2, 3, 4]


def write_run(path: Path, orders: dict[str, str], tag: str, header: str = "") -> Path:
    lines = [f"# ir_metadata.start\n{header}# ir_metadata.end\n"] if header else []
    for q, docs in orders.items():
        ids = docs.split()
        lines += [f"{q} Q0 {d} {i + 1} {len(ids) - i}.5 {tag}\n" for i, d in enumerate(ids)]
    path.write_text("".join(lines))
    return path


@pytest.fixture
def tiny(cli, tmp_path):
    qrels = tmp_path / "tiny.qrels"
    qrels.write_text("".join(f"{q} 0 d1 1\n{q} 0 d6 0\n" for q in F_ORDER))
    assert cli("collection", "add", "tiny", "--qrels", qrels).code == 0
    assert cli("ingest", "-c", "tiny", write_run(tmp_path / "f.trec", F_ORDER, "f"), "--name", "f").code == 0
    res = cli("ingest", "-c", "tiny", write_run(tmp_path / "r.trec", R_ORDER, "r"), "--name", "r", "--kind",
              "rerank", "--parent", "f", "--depth", "4")
    assert res.code == 0, res.err
    return cli


def study(cli, *options):
    res = cli("depth", "-c", "tiny", "r", "-m", "P@1", "--depths", "0,1,2,3,4", "--json", *options)
    assert res.code == 0, res.err
    return res.json()


def test_the_curve_is_the_hand_computed_one(tiny):
    data = study(tiny)
    got = {p["depth"]: p["value"] for p in data["points"] if p["source"] == "derived" and p["measure"] == "P@1"}
    assert got == pytest.approx(dict(zip(DEPTHS, P1.mean(axis=1), strict=True)))
    # the report is not asked for: the JSON is today's
    assert not {"gain_share", "cost", "smallest_depth"} & set(data)


@pytest.mark.parametrize(("share", "k"), [(0.9, 4), (1.0, 4), (0.75, 4), (0.51, 4), (0.5, 3), (0.3, 3),
                                          (0.01, 3)])
def test_smallest_k_reaching_a_share_of_the_max_gain(tiny, share, k):
    """Gains: k = 1 and 2 none, k = 3 +0.2, k = 4 +0.4. 50% of +0.4 is reached by k = 3 exactly (within rounding:
    0.6 - 0.4 is 0.19999999999999996 in floating point), 90% only by k = 4; k = 2 costs more than k = 1 for
    nothing."""
    s = study(tiny, "--gain-share", str(share), "--cost-per-doc", "0.5", "--cost-unit", "GPU-s")
    (m,) = s["smallest_depth"].values()
    assert s["gain_share"] == share and s["cost"] == {"per_doc": 0.5, "unit": "GPU-s", "source": "--cost-per-doc"}
    assert m["depth"] == k and m["max_gain_depth"] == 4
    assert m["max_gain"] == pytest.approx(0.4) and m["gain"] == pytest.approx(P1[k].mean() - 0.4)
    assert m["first_stage_mean"] == pytest.approx(0.4) and m["mean"] == pytest.approx(P1[k].mean())
    # k documents per query at 0.5 GPU-s each, over the 5 judged queries
    assert m["cost_per_query"] == pytest.approx(k * 0.5) and m["cost_total"] == pytest.approx(k * 0.5 * 5)
    assert m["max_gain_cost_per_query"] == pytest.approx(2.0) and m["n_queries"] == 5
    point = next(p for p in s["points"] if p["source"] == "derived" and p["depth"] == k and p["measure"] == "P@1")
    assert (m["gain_ci_low"], m["gain_ci_high"]) == (point["delta_ci_low"], point["delta_ci_high"])
    # the chosen depth's test against the first stage, as the study's table has it
    assert (m["p_adjusted"], m["significant"]) == (point["p_adjusted"], point["significant"])


def test_the_interval_of_k_equals_a_plain_numpy_bootstrap(tiny):
    """The rule applied to each resample of the queries: drawn as stats.bootstrap_means draws them (one
    Generator(seed), resamples x queries indices), the means taken directly."""
    n_boot, seed, share = 3000, 7, 0.9
    m = study(tiny, "--gain-share", str(share), "--bootstrap", str(n_boot), "--seed", str(seed))["smallest_depth"]
    (m,) = m.values()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, P1.shape[1], size=(n_boot, P1.shape[1]))
    ks = []
    for b in range(n_boot):
        means = P1[:, idx[b]].mean(axis=1)
        gains = means[1:] - means[0]
        best = gains.max()
        reach = [DEPTHS[1 + i] for i, g in enumerate(gains) if g >= share * best - 1e-9 * abs(best)]
        ks.append(reach[0] if best > 0 else 0)
    ks = np.array(ks)
    assert m["depth_ci_low"] == np.quantile(ks, 0.025, method="lower")
    assert m["depth_ci_high"] == np.quantile(ks, 0.975, method="higher")
    assert m["no_gain_resamples"] == pytest.approx(np.mean([(P1[1:, idx[b]].mean(axis=1)
                                                             - P1[0, idx[b]].mean()).max() <= 0
                                                            for b in range(n_boot)]))
    assert m["n_boot"] == n_boot and m["seed"] == seed and 0 < m["no_gain_resamples"] < 1


def test_no_gain_at_any_depth_gives_no_k(tiny, tmp_path):
    """R puts d1 last among F's top 4: every depth >= 1 loses (or ties) against the first stage."""
    worse = {q: " ".join(reversed(F_ORDER[q].split()[:4])) for q in F_ORDER}
    assert tiny("ingest", "-c", "tiny", write_run(tmp_path / "w.trec", worse, "w"), "--name", "w", "--kind",
                "rerank", "--parent", "f", "--depth", "4").code == 0
    res = tiny("depth", "-c", "tiny", "w", "-m", "P@1", "--cost-per-doc", "1", "--json")
    assert res.code == 0, res.err
    (m,) = res.json()["smallest_depth"].values()
    assert m["depth"] is None and m["max_gain_depth"] is None and m["max_gain"] <= 0
    assert m["cost_per_query"] is None and m["cost_total"] is None
    text = tiny("depth", "-c", "tiny", "w", "-m", "P@1", "--cost-per-doc", "1").out
    assert "no depth gains over f (k = 0) on P@1" in " ".join(text.split())
    assert m["p_adjusted"] is None and m["significant"] is None


def test_ties_go_to_the_smaller_depth():
    from workbench.analysis.depth.cost import smallest_depths

    means = np.array([[0.4, 0.5], [0.6, 0.5], [0.6, 0.5], [0.55, 0.5]])  # column 2: no depth gains
    chosen, best = smallest_depths(means, np.array([0, 5, 10, 20]), 1.0)
    assert chosen.tolist() == [5, -1] and best == pytest.approx([0.2, 0.0])


def test_a_cost_stated_in_the_runs_ir_metadata(tiny, tmp_path):
    header = "# cost_per_doc: 2.5e-3\n# cost_unit: GPU-s\n"
    assert tiny("ingest", "-c", "tiny", write_run(tmp_path / "rc.trec", R_ORDER, "rc", header), "--name", "rc",
                "--kind", "rerank", "--parent", "f", "--depth", "4").code == 0
    data = tiny("depth", "-c", "tiny", "rc", "-m", "P@1", "--json").json()
    assert data["gain_share"] == 0.9
    assert data["cost"] == {"per_doc": 0.0025, "unit": "GPU-s", "source": "ir_metadata of rc"}
    (m,) = data["smallest_depth"].values()
    assert m["depth"] == 4 and m["cost_per_query"] == pytest.approx(0.01) and m["cost_total"] == pytest.approx(0.05)
    # the option wins over the header, in its own unit
    data = tiny("depth", "-c", "tiny", "rc", "-m", "P@1", "--cost-per-doc", "3", "--json").json()
    assert data["cost"] == {"per_doc": 3.0, "unit": "s", "source": "--cost-per-doc"}


@pytest.mark.parametrize("value", ["-1", "abc", ".nan", "[1, 2]", "true"])
def test_a_junk_cost_in_the_header_is_one_line(tiny, tmp_path, db, value):
    assert tiny("ingest", "-c", "tiny", write_run(tmp_path / "j.trec", R_ORDER, "j", f"# cost_per_doc: {value}\n"),
                "--name", "j", "--kind", "rerank", "--parent", "f", "--depth", "4").code == 0
    res = tiny("depth", "-c", "tiny", "j", "-m", "P@1")
    assert res.code == 2 and res.out == ""
    assert res.err.count("\n") == 1 and "ir_metadata header's cost_per_doc must be a finite number >= 0" in res.err
    assert tiny("depth", "-c", "tiny", "j", "-m", "P@1", "--cost-per-doc", "1").code == 0  # the option overrides


@pytest.mark.parametrize("options", [("--cost-per-doc", "-1"), ("--cost-per-doc", "nan"), ("--cost-per-doc", "inf"),
                                     ("--cost-per-doc", "-inf"), ("--cost-per-doc", ""), ("--gain-share", "0"),
                                     ("--gain-share", "1.5"), ("--gain-share", "-0.5"), ("--gain-share", "nan"),
                                     ("--qrels", "nope"), ("--cost-unit", "s"),
                                     ("--cost-per-doc", "1", "--cost-unit", "a\nb")])
def test_junk_options_are_one_line_and_exit_2(tiny, db, options):
    before = snapshot(db)
    res = tiny("depth", "-c", "tiny", "r", "-m", "P@1", *options)
    assert res.code == 2 and res.out == "", (options, res.out)
    assert res.err.startswith("error: ") and res.err.count("\n") == 1, res.err
    assert snapshot(db) == before


def test_the_library_refuses_a_share_or_cost_out_of_range():
    from workbench.analysis.depth import RerankCost, check_gain_share
    from workbench.errors import AnalysisError

    for bad in (0, 1.5, float("nan"), float("inf"), -0.1, True, "0.9"):
        with pytest.raises(AnalysisError):
            check_gain_share(bad)  # type: ignore[arg-type]
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(AnalysisError):
            RerankCost(bad)


# ---- --qrels and --bounds on DL 2020 ------------------------------------------------------------------------------
RUNS = ["bm25", "bm25__rankvicuna-7b@100", "bm25__rankvicuna-7b@20"]


@pytest.fixture
def dl20(cli, tmp_path):
    """DL 2020 with three runs, and `strict` (grade 1 read as 0) as a named set; a second collection `dl20s` whose
    own qrels are the strict file."""
    strict = tmp_path / "strict.qrels"
    lines = [line.split() for line in (DL20 / "qrels.dl20-passage.txt").read_text().splitlines() if line.strip()]
    strict.write_text("".join(f"{q} {it} {d} {0 if g == '1' else g}\n" for q, it, d, g in lines))
    for name, qrels in (("dl20", DL20 / "qrels.dl20-passage.txt"), ("dl20s", strict)):
        assert cli("collection", "add", name, "--qrels", qrels).code == 0
        res = cli("ingest", "-c", name, "--lineage", *(DL20_RUNS / f"{r}.trec" for r in RUNS))
        assert res.code == 0, res.err
    assert cli("collection", "qrels", "add", "dl20", "strict", strict).code == 0
    return cli


def _strip(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("qrels", "qrels_hash")}


@pytest.mark.parametrize("measures", [["nDCG@10", "P(rel=2)@5"], ["AP"]])
def test_qrels_equal_scoring_with_that_file_directly(dl20, measures):
    """Cutoff measures take the store's top-k join, AP whole runs: both against the set, not the collection's own
    (AP counts grade 1 as relevant, which the set reads as 0)."""
    args = ["depth", "bm25__rankvicuna-7b@100", "-m", *measures, "--bootstrap", "500", "--json"]
    named = dl20(*args[:1], "-c", "dl20", *args[1:], "--qrels", "strict")
    direct = dl20(*args[:1], "-c", "dl20s", *args[1:])
    assert named.code == 0 and direct.code == 0, named.err + direct.err
    data = named.json()
    assert data["qrels"] == "strict" and len(data["qrels_hash"]) == 64
    assert _strip(data) == direct.json()
    own = dl20(*args[:1], "-c", "dl20", *args[1:]).json()
    assert "qrels" not in own and own["points"] != direct.json()["points"]
    # the first stage and the reranked run score what evaluate --qrels gives them
    ev = dl20("evaluate", "-c", "dl20", "-m", measures[0], "-r", "bm25", "bm25__rankvicuna-7b@100", "--qrels",
              "strict", "--json").json()
    means = {r["run"]: r["value"] for r in ev["scores"]}
    pts = {p["depth"]: p["value"] for p in data["points"] if p["source"] == "derived" and p["measure"] == measures[0]}
    assert pts[0] == pytest.approx(means["bm25"], abs=1e-12)
    assert pts[100] == pytest.approx(means["bm25__rankvicuna-7b@100"], abs=1e-12)


def test_bounds_equal_the_leaderboards(dl20):
    measures = ["nDCG@10", "P(rel=2)@10", "AP(rel=2)"]
    res = dl20("depth", "-c", "dl20", "bm25__rankvicuna-7b@100", "-m", *measures, "--bounds", "--bootstrap", "500",
               "--json")
    assert res.code == 0, res.err
    data = res.json()
    assert data["bounds_semantics"].endswith("unjudged@cutoff=top grade)")
    board = dl20("leaderboard", "-c", "dl20", "-m", *measures, "--bounds", "-r", "bm25", "bm25__rankvicuna-7b@100",
                 "-f", "json").json()
    cells = {(r["run"], m): c for r in board["rows"] for m, c in r["measures"].items()} if "rows" in board else None
    assert cells is not None, sorted(board)
    for p in data["points"]:
        if p["measure"] not in measures:
            continue
        if p["source"] == "observed":
            assert p["unjudged_relevant"] is None
            continue
        assert p["unjudged_relevant"] >= p["value"] - 1e-12 or p["measure"] == "AP(rel=2)"
        run = {0: "bm25", 100: "bm25__rankvicuna-7b@100"}.get(p["depth"])
        if run is not None:
            assert p["unjudged_relevant"] == pytest.approx(cells[(run, p["measure"])]["unjudged_relevant"], abs=1e-12)
            assert p["value"] == pytest.approx(cells[(run, p["measure"])]["value"], abs=1e-12)
    text = dl20("depth", "-c", "dl20", "bm25__rankvicuna-7b@100", "-m", "nDCG@10", "--bounds").out
    assert "nDCG@10 if unjudged relevant" in " ".join(text.split())


def test_the_pages_study_and_cutoff_curves_take_the_named_set(dl20, db):
    """What the dashboard calls with its qrels selector: depth_study_judged and stored_cutoff_curves with `qrels`,
    equal to the same calls on the collection whose own qrels are the set's file."""
    from workbench.services.depth import depth_study_judged, stored_cutoff_curves
    from workbench.store import Store

    store = Store(db)
    runs = ["bm25", "bm25__rankvicuna-7b@100", "bm25__rankvicuna-7b@20"]
    for family, rel in (("nDCG", None), ("P", 2)):
        named = stored_cutoff_curves(store, "dl20", runs, family, [1, 5, 10, 100], rel, qrels="strict")
        direct = stored_cutoff_curves(store, "dl20s", runs, family, [1, 5, 10, 100], rel)
        own = stored_cutoff_curves(store, "dl20", runs, family, [1, 5, 10, 100], rel)
        assert named == direct and (named != own) == (family == "nDCG")
    args = ("bm25__rankvicuna-7b@100", ["nDCG@10"])
    study, judged, _ = depth_study_judged(store, "dl20", *args, observed=["bm25__rankvicuna-7b@20"], n_boot=200,
                                          qrels="strict", bounds=True)
    ref, ref_judged, _ = depth_study_judged(store, "dl20s", *args, observed=["bm25__rankvicuna-7b@20"], n_boot=200,
                                            bounds=True)
    assert study.qrels == "strict" and study.curve == ref.curve and judged == ref_judged
    assert study.bounds.equals(ref.bounds)


# ---- the dashboard's depth page -----------------------------------------------------------------------------------
def open_depth_page(store: Path, monkeypatch, **params):
    """The depth page of the real app, opened with these query parameters (through another page first, so its
    bound widgets are created from them, as when a shared link is opened)."""
    from streamlit.testing.v1 import AppTest

    from workbench.app.pages import page_named

    monkeypatch.setenv("WORKBENCH_DB", str(store))
    at = AppTest.from_file(str(Path(__file__).parents[1] / "app.py"), default_timeout=180)
    at.run()
    at.switch_page(str(page_named("runs").script)).run()
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page(str(page_named("depth").script)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart_rows(chart, layer: int) -> list[dict]:
    """The rows a layer of a rendered Altair chart plots."""
    import json

    import pyarrow as pa

    spec = json.loads(chart.proto.spec)
    name = spec["layer"][layer]["data"]["name"]
    data = next(d for d in chart.proto.datasets if d.name == name)
    return pa.ipc.open_stream(data.data.data).read_all().to_pylist()


def test_depth_page_plots_quality_against_cost(dl20_store, monkeypatch, cli):
    import json

    run = "bm25__rankvicuna-7b@100"
    at = open_depth_page(dl20_store, monkeypatch, reranked=run, depth_measures="nDCG@10", depth_bounds="true",
                         gain_share="0.5")
    at.number_input(key="cost_per_doc").set_value(0.05).run()
    at.text_input(key="cost_unit").set_value("GPU-s").run()
    assert not at.exception, [e.value for e in at.exception]
    ref = cli("depth", "-c", "dl20", run, "-m", "nDCG@10", "--bounds", "--gain-share", "0.5", "--cost-per-doc",
              "0.05", "--cost-unit", "GPU-s", "--json", store=dl20_store).json()
    want = ref["smallest_depth"]["nDCG@10"]
    metrics = {m.label: m for m in at.metric}
    shown = metrics["smallest k reaching 50% of the largest gain (nDCG@10)"]
    assert int(shown.value) == want["depth"] == 20 and shown.delta == f"{want['cost_per_query']:g} GPU-s per query"
    charts = at.get("vega_lite_chart")
    assert len(charts) == 4  # the curve, quality against cost, Judged@k, metric at cutoff
    cost = charts[1]
    assert "cost per query (GPU-s): k x 0.05 GPU-s" in cost.proto.spec
    derived = {p["depth"]: p["value"] for p in ref["points"] if p["source"] == "derived" and p["measure"] == "nDCG@10"}
    line = chart_rows(cost, 1)
    assert {r["depth"]: (r["cost"], r["mean"]) for r in line} == {
        k: (pytest.approx(k * 0.05), pytest.approx(v, abs=1e-12)) for k, v in derived.items()}
    (level,) = chart_rows(cost, 2)
    assert level["level"] == pytest.approx(want["first_stage_mean"] + want["target"])
    (mark,) = chart_rows(cost, 3)
    assert (mark["depth"], mark["cost"]) == (20, pytest.approx(1.0))
    assert mark["k interval"] == f"[{want['depth_ci_low']}, {want['depth_ci_high']}]"
    # --bounds on the curve: the dotted line holds the CLI's values with unjudged documents relevant
    bounds = {p["depth"]: p["unjudged_relevant"] for p in ref["points"]
              if p["source"] == "derived" and p["measure"] == "nDCG@10"}
    dotted = next(i for i, layer in enumerate(json.loads(charts[0].proto.spec)["layer"])
                  if layer["mark"].get("strokeDash") == [2, 3])
    assert {r["depth"]: r["value"] for r in chart_rows(charts[0], dotted)} == pytest.approx(bounds, abs=1e-12)


def test_depth_page_takes_the_cost_the_runs_ir_metadata_states(dl20_store, monkeypatch, cli, tmp_path):
    import shutil

    store = tmp_path / "copy.duckdb"
    shutil.copy(dl20_store, store)
    text = (DL20_RUNS / "bm25__rankvicuna-7b@100.trec").read_text()
    run = tmp_path / "costed.trec"
    run.write_text("# ir_metadata.start\n# cost_per_doc: 0.02\n# cost_unit: GPU-s\n# ir_metadata.end\n" + text)
    res = cli("ingest", "-c", "dl20", run, "--name", "bm25__costed@100", "--kind", "rerank", "--parent", "bm25",
              "--depth", "100", store=store)
    assert res.code == 0, res.err
    at = open_depth_page(store, monkeypatch, reranked="bm25__costed@100", depth_measures="nDCG@10")
    assert at.number_input(key="cost_per_doc").value == 0.02 and at.text_input(key="cost_unit").value == "GPU-s"
    want = cli("depth", "-c", "dl20", "bm25__costed@100", "-m", "nDCG@10", "--json", store=store).json()
    (m,) = want["smallest_depth"].values()
    shown = {x.label: x for x in at.metric}["smallest k reaching 90% of the largest gain (nDCG@10)"]
    assert int(shown.value) == m["depth"] and shown.delta == f"{m['cost_per_query']:g} GPU-s per query"
    from workbench.app.common import plain

    assert any(f"comes from {plain('ir_metadata of bm25__costed@100')}" in c.value for c in at.caption)
