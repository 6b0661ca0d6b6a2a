"""The DuckDB store: schema, short-lived connections, and typed access to collections, runs and scores."""

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
from workbench.store.runs import (
    delete_run,
    get_run,
    get_run_rows,
    list_runs,
    put_run,
)
from workbench.store.scores import per_query_scores, put_scores, scored_keys, scored_measures

__all__ = [
    "CollectionInfo",
    "Store",
    "default_db_path",
    "delete_collection",
    "delete_run",
    "get_collection",
    "get_documents",
    "get_qrels",
    "get_run",
    "get_run_rows",
    "get_topics",
    "list_collections",
    "list_runs",
    "per_query_scores",
    "put_collection",
    "put_run",
    "put_scores",
    "scored_keys",
    "scored_measures",
]
from workbench.store.reads import query_run_rows, score_aggregates, score_matrix, top_run_rows

__all__ += ["query_run_rows", "score_aggregates", "score_matrix", "top_run_rows"]
