"""Fusing stored runs (the fusion lab's view of a fusion before anyone saves it)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.retrieval.fuse import fuse
from workbench.scoring import evaluate, evaluate_ranked, ranked_plan
from workbench.scoring.judgments import evaluate_judged_only, evaluate_unjudged_relevant
from workbench.services.evaluate import semantics_for
from workbench.store import DEFAULT_QRELS, Store, get_qrels, get_qrels_set, top_run_rows


def fuse_stored(store: Store, collection: str, names: Sequence[str], **options):
    """`retrieval.fuse` of stored runs, each read only down to `depth` (all of it when not given: fuse's default
    cut applies) by its stored trec_eval positions, which fuse takes as the order instead of sorting again."""
    with store.reading():
        runs = [top_run_rows(store, collection, name, options.get("depth")) for name in names]
    return fuse(runs, names=list(names), **options)


def score_fused_stored(store: Store, collection: str, names: Sequence[str], measures: Sequence[str], *,
                       qrels: str | None = None, unjudged: str = "nonrelevant",
                       **options) -> tuple[int, int, pd.DataFrame]:
    """The fusion of stored runs scored before anyone saves it: (rows, queries, per-query values query_id,
    measure, value), for the fusion lab. Scored from its judged rows' ranks with `evaluate_ranked` when the
    measures allow (else the fused run is scored whole). `qrels` (a named set; None: the collection's own) and
    `unjudged` as `evaluate_runs` takes them."""

    semantics_for(unjudged)  # an unknown treatment is refused before anything is read
    plan = ranked_plan(measures)
    with store.reading():
        judgments = (get_qrels(store, collection, ordered=False) if qrels in (None, DEFAULT_QRELS)
                     else get_qrels_set(store, collection, qrels)[1])
        run = fuse_stored(store, collection, names, **options).run
    n_rows, n_queries = run.num_rows, pc.count_distinct(run.column("query_id")).as_py()
    if unjudged != "nonrelevant":  # the ranking changes (condensed) or the qrels do (holes made relevant)
        score = evaluate_judged_only if unjudged == "judged-only" else evaluate_unjudged_relevant
        return int(n_rows), int(n_queries), score(run.select(["query_id", "doc_id", "score"]), judgments,
                                                  list(measures)).to_pandas()
    if plan is not None:
        judged, n_ret = _judged_ranks(run, judgments, plan.max_rank)
        scores = evaluate_ranked(judged, n_ret, judgments, measures, stored_qrels=True)
    else:
        scores = evaluate(run.select(["query_id", "doc_id", "score"]), judgments, list(measures))
    return int(n_rows), int(n_queries), scores.to_pandas()


def _judged_ranks(run: pa.Table, qrels: pa.Table, max_rank: int | None) -> tuple[pa.Table, pa.Table]:
    """What `evaluate_ranked` scores of a run in trec_eval order (its `rank` column): its judged rows down to
    `max_rank` (query_id, rank, relevance) and its rows per query (query_id, n)."""
    top = run if max_rank is None else run.filter(pc.less_equal(run.column("rank"), int(max_rank)))
    judged = top.select(["query_id", "doc_id", "rank"]).join(
        qrels.select(["query_id", "doc_id", "relevance"]), keys=["query_id", "doc_id"], join_type="inner")
    counts = run.group_by("query_id").aggregate([("doc_id", "count")])
    return (judged.select(["query_id", "rank", "relevance"]),
            pa.table({"query_id": counts.column("query_id"), "n": counts.column("doc_id_count")}))
