"""The store, as the use cases see it: functions that take the `Store` handle first and give Arrow tables or records.

This package's names are the store's interface: no SQL text, cursor or catalog crosses it (tests/
test_store_boundary.py checks both sides). The DuckDB file (schema.sql, `Store`'s short-lived connections) is its
one implementation today; the Delta lake of workbench/lake, which exchanges data with it through `exchange`, is
meant as the second (docs/store.md lists what a backend provides).

- collections: put_collection, get_collection, list_collections, delete_collection, get_qrels, get_topics,
  get_documents
- runs: put_run, put_run_metadata, set_run_fields, get_run, list_runs, children, delete_run, same_metadata;
  put_runs (a batch of parsed runs, `NewRun`, with their scores) and ingest_context (what ingest checks against)
- run rows: get_run_rows (whole), top_run_rows (down to a trec_eval position), query_run_rows (one query of a few
  runs), judged_ranks / judged_ranks_of / judged_top_ranks (judged rows' positions, joined with the qrels)
- benchmarks: put_benchmark, get_benchmark, list_benchmarks, delete_benchmark
- scores: put_scores, put_scores_many, scored_keys, scored_measures, per_query_scores, score_aggregates,
  score_matrix
"""

from typing import TYPE_CHECKING

from workbench.store.benchmarks import (
    BenchmarkInfo,
    delete_benchmark,
    get_benchmark,
    list_benchmarks,
    put_benchmark,
)
from workbench.store.collections import (
    CollectionInfo,
    delete_collection,
    get_collection,
    get_documents,
    get_qrels,
    get_topics,
    list_collections,
    put_collection,
)
from workbench.store.connection import Store, default_db_path
from workbench.store.pools import pooled_documents
from workbench.store.qrels_sets import DEFAULT as DEFAULT_QRELS
from workbench.store.qrels_sets import QrelsSetInfo, delete_qrels_set, get_qrels_set, list_qrels_sets, put_qrels_set
from workbench.store.reads import (
    judged_ranks,
    judged_ranks_of,
    judged_top_ranks,
    query_run_rows,
    score_aggregates,
    score_matrix,
    top_run_rows,
)
from workbench.store.runs import (
    NewRun,
    ScoredAgainst,
    children,
    delete_run,
    get_run,
    get_run_rows,
    ingest_context,
    list_runs,
    put_run,
    put_run_metadata,
    put_runs,
    same_metadata,
    set_run_fields,
)
from workbench.store.scores import (
    per_query_scores,
    put_scores,
    put_scores_many,
    scored_keys,
    scored_measures,
)

__all__ = [
    "DEFAULT_QRELS",
    "BenchmarkInfo",
    "CollectionInfo",
    "NewRun",
    "QrelsSetInfo",
    "ScoredAgainst",
    "Store",
    "children",
    "default_db_path",
    "delete_benchmark",
    "delete_collection",
    "delete_qrels_set",
    "delete_run",
    "get_benchmark",
    "get_collection",
    "get_documents",
    "get_qrels",
    "get_qrels_set",
    "get_run",
    "get_run_rows",
    "get_topics",
    "ingest_context",
    "judged_ranks",
    "judged_ranks_of",
    "judged_top_ranks",
    "list_benchmarks",
    "list_collections",
    "list_qrels_sets",
    "list_runs",
    "per_query_scores",
    "pooled_documents",
    "put_benchmark",
    "put_collection",
    "put_qrels_set",
    "put_run",
    "put_run_metadata",
    "put_runs",
    "put_scores",
    "put_scores_many",
    "query_run_rows",
    "same_metadata",
    "score_aggregates",
    "score_matrix",
    "scored_keys",
    "scored_measures",
    "set_run_fields",
    "top_run_rows",
]

if TYPE_CHECKING:  # mypy checks that this package implements the interface, signature by signature
    import workbench.store as _this
    from workbench.store.interface import StoreInterface

    _implements: StoreInterface[Store] = _this
