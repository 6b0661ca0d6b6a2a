"""The speed paths give the answers of the paths they shortcut (issue 6)."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pytest

from workbench.io import validate
from workbench.model import RUN_SCHEMA

ROOT_RUNS = Path(__file__).resolve().parents[1] / "runs" / "dl20"


def _random_run(rng: random.Random) -> pa.Table:
    rows = []
    for q in range(rng.randint(1, 6)):
        n = rng.randint(1, 30)
        docs = rng.sample(range(100), n)
        scores = sorted((rng.choice([1.0, 2.0, 2.5, 3.0, rng.random()]) for _ in range(n)), reverse=True)
        ranks = list(range(1, n + 1))
        if rng.random() < 0.3:
            rng.shuffle(ranks)
        if rng.random() < 0.2:
            ranks = [1] * n
        rows += [(f"q{q}", f"d{d}", s, r) for d, s, r in zip(docs, scores, ranks, strict=True)]
    if rng.random() < 0.2:
        rng.shuffle(rows)  # not grouped/sorted: the numpy path must step aside
    cols = list(zip(*rows, strict=True))
    return pa.table(dict(zip(RUN_SCHEMA.names, cols, strict=True)), schema=RUN_SCHEMA)


def test_sorted_run_warnings_equal_the_sql_ones(monkeypatch):
    monkeypatch.setattr(validate, "CUTOFFS", (1, 2, 5, 10, 20))  # small runs reach these cutoffs
    rng = random.Random(6)
    fast_used = 0
    for _ in range(400):
        table = _random_run(rng)
        fast = validate._format_warnings_sorted(table)
        if fast is not None:
            fast_used += 1
            warnings, positions, _ = validate._format_warnings_sql(table)
            assert fast[0] == warnings
            assert fast[1].tolist() == positions.tolist()
            slot = [0] * table.num_rows  # rows outside `moved` sit at their place in their query's block
            qids = table.column("query_id").to_pylist()
            for i in range(table.num_rows):
                slot[i] = 1 if i == 0 or qids[i] != qids[i - 1] else slot[i - 1] + 1
            moved = set(fast[2].tolist())
            assert all(fast[1][i] == slot[i] for i in range(table.num_rows) if i not in moved)
    assert fast_used > 100


def test_ingest_with_measures_stores_what_evaluate_computes(cli, tmp_path):
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("".join(f"{q} 0 d{d} {(d * q) % 3}\n" for q in (1, 2, 3) for d in range(8)))
    runs = []
    for i in range(3):
        path = tmp_path / f"r{i}.trec"
        rng = random.Random(i)
        lines = []
        for q in (1, 2, 4):
            docs = rng.sample(range(12), 10)
            lines += [f"{q} Q0 d{d} {k + 1} {round(10 - k * 0.5 - (k % 3 == 0) * 0.5, 1)} t{i}\n"
                      for k, d in enumerate(docs)]
        path.write_text("".join(lines))
        runs.append(path)
    assert cli("collection", "add", "c", "--qrels", qrels).code == 0
    got = cli("ingest", "-c", "c", *runs, "-m", "nDCG@10", "AP", "P@5", "--json").json()
    assert [r["status"] for r in got] == ["added"] * 3
    ev = cli("evaluate", "-c", "c", "-m", "nDCG@10", "AP", "P@5", "--json").json()
    assert ev["computed"] == 0  # ingest stored every per-query value evaluate needs
    agg = {(s["run"], s["measure"]): s["value"] for s in ev["scores"]}
    for r in got:
        for m, v in r["scores"].items():
            assert abs(agg[(r["run"], m)] - v) < 1e-12
    # the same files again: unchanged, scores read back (nothing parsed, nothing recomputed)
    again = cli("ingest", "-c", "c", *runs, "-m", "nDCG@10", "P@10", "--json").json()
    assert [r["status"] for r in again] == ["unchanged"] * 3
    assert all(set(r["scores"]) == {"nDCG@10", "P@10"} for r in again)


def test_stored_positions_are_trec_eval_order(dl20_store):
    """Every stored row's position is its place in (score desc, doc_id desc) within its query, on all 24 runs
    (ties, disagreeing rank columns and all); top-k reads by position give each run's trec_eval top k."""
    from workbench.analysis.depth import RerankPair
    from workbench.io.runs import read_run
    from workbench.retrieval.base import trec_ranks
    from workbench.store import Store, get_run_rows, list_runs, top_run_rows

    store = Store(dl20_store)
    key = [("query_id", "ascending"), ("score", "descending"), ("doc_id", "descending")]
    for info in list_runs(store, "dl20"):
        rows = get_run_rows(store, "dl20", info.name, ("query_id", "doc_id", "score", "rank", "position"))
        ordered, ranks = trec_ranks(rows.select(["query_id", "doc_id", "score"]))
        got = rows.sort_by(key).column("position").to_pylist()
        assert got == ranks.tolist(), info.name
        top = top_run_rows(store, "dl20", info.name, 10).sort_by(key)
        assert top.select(["query_id", "doc_id"]).equals(
            ordered.filter(pa.array(ranks <= 10)).select(["query_id", "doc_id"])), info.name
    # the depth join from stored positions equals the one that sorts
    first = get_run_rows(store, "dl20", "bm25", ("query_id", "doc_id", "score", "rank", "position"))
    rer = get_run_rows(store, "dl20", "bm25__rankvicuna-7b@100", ("query_id", "doc_id", "score", "rank", "position"))
    plain = [t.select(["query_id", "doc_id", "score", "rank"]) for t in (first, rer)]
    with RerankPair(first, rer) as fast, RerankPair(*plain) as slow:
        assert fast.k_max == slow.k_max == 100
        assert fast.variants([0, 20, 100], 10).sort_by([("depth", "ascending"), *key]).equals(
            slow.variants([0, 20, 100], 10).sort_by([("depth", "ascending"), *key]))
    assert read_run(ROOT_RUNS / "bm25.trec").table.num_rows == first.num_rows


def test_schema_1_store_is_migrated_in_place(dl20_store, tmp_path):
    """A schema-1 store (no positions, no score-set means, no run_top_rows) opens migrated, every row and score
    kept; version 2's step copies each run's top 100 into run_top_rows."""
    import shutil

    import duckdb

    from workbench.store import Store, get_run_rows, list_runs, top_run_rows

    old = tmp_path / "old.duckdb"
    shutil.copy(dl20_store, old)
    con = duckdb.connect(str(old))
    rows_before = con.execute("SELECT * FROM run_rows ORDER BY ALL").fetchall()
    sets_before = con.execute("SELECT * EXCLUDE (scored_at) FROM score_sets ORDER BY ALL").fetchall()
    con.execute("ALTER TABLE run_rows DROP COLUMN position")
    con.execute("ALTER TABLE score_sets DROP COLUMN mean")
    con.execute("ALTER TABLE score_sets DROP COLUMN total")
    con.execute("DROP TABLE run_top_rows")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    store = Store(old)
    runs = list_runs(store, "dl20")
    assert len(runs) == 24
    con = duckdb.connect(str(old), read_only=True)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [("6",)]
    # every row kept as it was; the migration's window gives the positions ingest computed
    assert con.execute("SELECT * FROM run_rows ORDER BY ALL").fetchall() == rows_before
    tops = con.execute("SELECT * FROM run_top_rows ORDER BY ALL").fetchall()
    assert tops == [r for r in rows_before if r[5] <= 100] and len(tops) > 24 * 54 * 20
    sets_after = con.execute("SELECT * EXCLUDE (scored_at) FROM score_sets ORDER BY ALL").fetchall()
    con.close()
    # the per-set means are computed back from the scores (the session's store has the default six measures per
    # run, and whatever tests that ran before scored on it)
    assert len(sets_after) == len(sets_before) >= 24 * 6
    for got, want in zip(sets_after, sets_before, strict=True):
        assert got[:6] == want[:6] and got[6:] == pytest.approx(want[6:], rel=1e-12)
    top = top_run_rows(store, "dl20", "bm25", 10)
    assert top.num_rows == 54 * 10
    assert get_run_rows(store, "dl20", "bm25").num_rows == 54 * 100  # the bundled bm25 run is 100 deep


def test_store_connections_draw_no_progress_bar(dl20_store):
    """DuckDB draws a progress bar on stdout for statements over 2 s (a migration of a big store, a big insert):
    every store connection turns it off, cursors included, so it never lands in a `--json` command's output."""
    from workbench.store import Store

    store = Store(dl20_store)
    setting = "SELECT current_setting('enable_progress_bar')"
    with store.reader() as con:
        assert con.execute(setting).fetchall() == [(False,)]
        assert con.cursor().execute(setting).fetchall() == [(False,)]
    with store.reading(), store.reader() as con:
        assert con.cursor().execute(setting).fetchall() == [(False,)]


def test_positions_of_runs_in_any_layout(cli, db, tmp_path):
    """Shuffled lines, tabs (the careful parser) and heavy ties: stored positions are trec_eval's order."""
    from workbench.retrieval.base import trec_ranks
    from workbench.store import Store, get_run_rows

    qrels = tmp_path / "qrels.txt"
    qrels.write_text("".join(f"q{q} 0 d{d} {d % 3}\n" for q in range(4) for d in range(30)))
    rng = random.Random(3)
    lines = [f"q{q} Q0 d{d} {d + 1} {rng.choice([1.0, 2.0, 2.5, rng.random()])} t\n"
             for q in range(4) for d in rng.sample(range(60), 40)]
    variants = {"sorted_ties": sorted(lines, key=lambda s: (s.split()[0], -float(s.split()[4]))),
                "shuffled": rng.sample(lines, len(lines)),
                "tabs": [s.replace(" ", "\t") for s in rng.sample(lines, len(lines))]}
    assert cli("collection", "add", "c", "--qrels", qrels).code == 0
    for name, body in variants.items():
        path = tmp_path / f"{name}.trec"
        path.write_text("".join(body))
        assert cli("ingest", "-c", "c", path, "--name", name).code == 0
        rows = get_run_rows(Store(db), "c", name, ("query_id", "doc_id", "score", "rank", "position"))
        key = [("query_id", "ascending"), ("score", "descending"), ("doc_id", "descending")]
        _, ranks = trec_ranks(rows.select(["query_id", "doc_id", "score"]))
        assert rows.sort_by(key).column("position").to_pylist() == ranks.tolist(), name


def test_stored_runs_score_from_their_positions_as_from_their_rows(dl20_store):
    """`evaluate` scores a stored run from its judged rows' stored positions (joined in SQL, cut at the deepest
    cutoff): the same per-query values as scoring all its rows, on every DL 2020 run."""
    import numpy as np

    from workbench.scoring import evaluate, evaluate_ranked, ranked_plan
    from workbench.store import Store, get_qrels, get_run_rows, list_runs
    from workbench.store.reads import judged_ranks

    store = Store(dl20_store)
    qrels = get_qrels(store, "dl20")
    whole = ["nDCG@10", "AP", "AP(rel=2)", "RR(rel=2)@10", "R@1000", "nDCG", "Judged@10", "NumRet", "NumRelRet"]
    cut = ["P@20", "nDCG@5", "R(rel=2)@100", "Success@3", "Judged@10"]
    for info in list_runs(store, "dl20"):
        rows = get_run_rows(store, "dl20", info.name, ("query_id", "doc_id", "score"))
        for measures in (whole, cut):
            plan = ranked_plan(measures)
            judged, n_ret = judged_ranks(store, "dl20", info.run_hash, plan.max_rank, plan.n_ret)
            if plan.max_rank is not None:
                assert judged["rank"].to_numpy().max() <= plan.max_rank
            got = evaluate_ranked(judged, n_ret, qrels, measures)
            ref = evaluate(rows, qrels, measures)
            assert got["query_id"].equals(ref["query_id"]) and got["measure"].equals(ref["measure"])
            assert np.abs(got["value"].to_numpy() - ref["value"].to_numpy()).max() < 1e-12, (info.name, measures)


def test_stored_cutoff_curves_equal_the_curves_of_the_whole_runs(dl20_store):
    """The depth page's metric-at-cutoff curves come from stored positions (several runs in one join): the same
    means as cutoff_curve over each run's rows, for every family and a relevance threshold."""
    from workbench.analysis import cutoff_curve
    from workbench.services.depth import stored_cutoff_curves
    from workbench.store import Store, get_qrels, get_run_rows

    store = Store(dl20_store)
    qrels = get_qrels(store, "dl20")
    runs = ("bm25", "bm25__rankvicuna-7b@100", "tasb")
    for family, rel in (("nDCG", None), ("R", 2), ("P", 1)):
        curves = stored_cutoff_curves(store, "dl20", runs, family, [1, 3, 10, 100, 1000], rel)
        assert list(curves) == list(runs)
        for run in runs:
            got = curves[run]
            ref = cutoff_curve(get_run_rows(store, "dl20", run), qrels, family, [1, 3, 10, 100, 1000], rel=rel)
            assert got.measures == ref.measures and got.cutoffs == ref.cutoffs == (1, 3, 10, 100, 1000)
            assert got.n_queries == ref.n_queries == 54
            assert got.mean == pytest.approx(ref.mean, abs=1e-12)


def test_depth_study_cutoff_curves_from_its_join_equal_the_stored_curves(dl20_store):
    """The depth page's cutoff curves of F and R come from the study's F-R join (the observed run's from the
    store): the same curves as stored_cutoff_curves reads run by run; deeper than the join, none are offered."""
    from workbench.services.depth import depth_study_judged, stored_cutoff_curves
    from workbench.store import Store

    store = Store(dl20_store)
    run, observed = "bm25__rankvicuna-7b@100", "bm25__rankvicuna-7b@20"
    for family, cutoffs, rel in (("nDCG", (1, 5, 10, 100), None), ("R", (10, 50), 2), ("P", (3, 20), 1)):
        _, _, curves = depth_study_judged(store, "dl20", run, ["nDCG@10"], observed=[observed], n_boot=10,
                                          cutoff_curve=(family, cutoffs, rel))
        assert list(curves) == ["bm25", run, observed]
        ref = stored_cutoff_curves(store, "dl20", list(curves), family, cutoffs, rel)
        for name, curve in curves.items():
            assert curve.measures == ref[name].measures and curve.n_queries == ref[name].n_queries == 54
            assert curve.mean == pytest.approx(ref[name].mean, abs=1e-12)
    _, _, deeper = depth_study_judged(store, "dl20", run, ["nDCG@10"], observed=[observed], n_boot=10,
                                      cutoff_curve=("nDCG", (10, 1000), None))
    assert deeper is None  # the join holds each run's top 100 only


def test_depth_study_with_a_measure_ranked_scoring_does_not_serve(dl20_store):
    """A cutoff measure outside the ranked scoring (nDCG with custom gains) keeps the join of F and R cut at the
    declared depth but reads the observed run's top rows: its observed point is that run scored whole, per query, and
    the study equals the one over whole runs read into Python."""
    from workbench.analysis import depth_curve
    from workbench.scoring import evaluate, parse_measure
    from workbench.services.depth import depth_study
    from workbench.store import Store, get_qrels, get_run_rows

    store = Store(dl20_store)
    run, observed, measure = "bm25__rankvicuna-7b@100", "bm25__rankvicuna-7b@20", "nDCG(gains={0:0,1:1,2:3,3:7})@10"
    study = depth_study(store, "dl20", run, [measure], observed=[observed], n_boot=10)
    measure = study.curve.measures[0]  # as ir_measures names it
    got = study.curve.point(measure, 20, observed=True)
    qrels = get_qrels(store, "dl20")
    ref = evaluate(get_run_rows(store, "dl20", observed, ("query_id", "doc_id", "score")), qrels,
                   [parse_measure(measure)]).to_pandas().set_index("query_id")["value"]
    assert dict(zip(study.curve.query_ids, got.values, strict=True)) == pytest.approx(ref.to_dict(), abs=1e-12)
    cols = ("query_id", "doc_id", "score", "rank", "position")
    whole = depth_curve(get_run_rows(store, "dl20", "bm25", cols), get_run_rows(store, "dl20", run, cols), qrels,
                        [measure], n_boot=10, observed={20: get_run_rows(store, "dl20", observed)})
    for depth in whole.depths:
        assert study.curve.point(measure, depth).mean == pytest.approx(whole.point(measure, depth).mean, abs=1e-12)
    assert got.mean == pytest.approx(whole.point(measure, 20, observed=True).mean, abs=1e-12)


def test_stored_runs_fuse_where_they_lie_as_read_into_python(dl20_store):
    """fuse_stored (the fusion lab's path: the stored rows read down to `depth` by stored position, fused in order
    of it) gives the run fuse() gives on the same runs read whole, for each method."""
    import numpy as np

    from workbench.retrieval.fuse import fuse
    from workbench.scoring import evaluate
    from workbench.services.fusion import fuse_stored, score_fused_stored
    from workbench.store import Store, get_qrels, get_run_rows

    store = Store(dl20_store)
    names = ["bm25", "bm25__rankvicuna-7b@100", "bm25__rankvicuna-7b@20"]
    rows = [get_run_rows(store, "dl20", n) for n in names]
    for options in ({"method": "rrf", "k": 60, "depth": 100}, {"method": "combmnz", "norm": "minmax", "depth": 50},
                    {"method": "combsum", "norm": "zscore", "weights": [1.0, 0.5, 0.25], "depth": None, "hits": 30}):
        got = fuse_stored(store, "dl20", names, **options)
        want = fuse(rows, names=names, **options)
        assert got.run.equals(want.run), options
        assert got.params == want.params
        # the fusion lab scores it from its judged ranks: the values of scoring the fused run itself
        measures = ["nDCG@10", "AP(rel=2)", "Judged@10", "R(rel=2)@1000"]
        n_rows, n_queries, scores = score_fused_stored(store, "dl20", names, measures, **options)
        ref = evaluate(want.run, get_qrels(store, "dl20"), measures).to_pandas()
        assert (n_rows, n_queries) == (want.run.num_rows, len(set(want.run.column("query_id").to_pylist())))
        assert scores[["query_id", "measure"]].equals(ref[["query_id", "measure"]])
        assert np.abs(scores["value"].to_numpy() - ref["value"].to_numpy()).max() < 1e-12
