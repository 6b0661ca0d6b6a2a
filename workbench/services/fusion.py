"""Fusing stored runs where they lie (the fusion lab's view of a fusion before anyone saves it)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from workbench.store import Store, get_qrels

_AT_DEPTH = re.compile(r"@\d+$")



def fuse_stored(store: Store, collection: str, names: Sequence[str], **options):
    """`retrieval.fuse` of stored runs, computed in DuckDB where their rows lie (each cut at `depth` by its stored
    positions): the same fused run, without reading the inputs into Python."""
    from workbench.retrieval.fuse import fuse_views, result
    from workbench.store.reads import run_views

    with run_views(store, collection, names, options.get("depth")) as (con, views):  # no depth: fuse's default
        run = fuse_views(con, views, **options)
    return result(run, list(names), **options)


def score_fused_stored(store: Store, collection: str, names: Sequence[str], measures: Sequence[str],
                       **options) -> tuple[int, int, pd.DataFrame]:
    """The fusion of stored runs scored without leaving DuckDB: (rows, queries, per-query values query_id,
    measure, value), for views that show a fusion's scores before anyone saves it (the fusion lab).

    The fused rows stay in DuckDB: its judged rows' ranks are joined with the qrels there and scored with
    `evaluate_ranked` when the measures allow (else the fused run is read and scored whole).
    """
    import pyarrow.compute as pc

    from workbench.retrieval.fuse import fuse_views
    from workbench.scoring import evaluate, evaluate_ranked, ranked_plan
    from workbench.store.reads import judged_ranks_in, run_views

    plan = ranked_plan(measures)
    with store.reading():
        qrels = get_qrels(store, collection, ordered=False)
        with run_views(store, collection, names, options.get("depth")) as (con, views):
            fuse_views(con, views, into="_fused", **options)
            if plan is not None:
                judged, n_ret = judged_ranks_in(con, collection, "_fused", plan.max_rank, n_ret=True)
                assert n_ret is not None  # asked for
                scores = evaluate_ranked(judged, n_ret, qrels, measures, stored_qrels=True)
                n_rows, n_queries = pc.sum(n_ret.column("n")).as_py() or 0, n_ret.num_rows
            else:
                ((n_rows, n_queries),) = con.execute("SELECT count(*), count(DISTINCT query_id) FROM _fused").fetchall()
                scores = evaluate(con.sql("SELECT query_id, doc_id, score FROM _fused").to_arrow_table(), qrels,
                                  list(measures))
    return int(n_rows), int(n_queries), scores.to_pandas()
